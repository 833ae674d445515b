//! The `deep-shopping-page` binary: the page's wasm bundle (the widget, its JS API and the
//! ranking, without the model), built by trunk with `--no-default-features --features page`.

#[cfg(target_arch = "wasm32")]
fn main() {
    deep_shopping::web::page::start();
}

/// Natively there is no page: the bundle is for the browser.
#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    eprintln!(
        "error: deep-shopping-page is the browser page's bundle; build it with trunk (README)"
    );
    std::process::ExitCode::from(2)
}
