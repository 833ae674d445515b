//! The `deep-shopping` binary: the CLI natively, the page's entry point in the browser.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    deep_shopping::cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {
    deep_shopping::web::start();
}
