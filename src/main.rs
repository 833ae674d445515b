//! The `deep-shopping` binary: the CLI natively; in the browser, the model's bundle (the
//! worker's, see `web::host`).

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    keep_freed_memory();
    deep_shopping::cli::main()
}

/// Makes glibc's malloc keep freed memory for reuse. By default it serves large allocations
/// with fresh mappings and hands freed memory back to the kernel; a training step's tensors are
/// mostly that large, and faulting their pages in again and again cost about a seventh of a
/// CPU training step. Other C libraries are left as they are.
#[cfg(not(target_arch = "wasm32"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes malloc's thresholds; it runs before any thread is started.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {
    deep_shopping::web::host::start();
}
