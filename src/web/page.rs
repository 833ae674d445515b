//! The page's side, the start of the `deep-shopping-page` bundle: installs the JS API,
//! builds the widget and loads the model's manifest, the weights and the catalogue; the
//! model itself runs in the `deep-shopping` bundle (a worker, or on this thread).

use std::rc::Rc;

use super::{api, app, controls, entry, js, view, widget};

/// How long after loading the page waits for a photo before the worker warms up.
const WARM_UP_AFTER_MS: u32 = 100;

/// Entry point of the page's bundle: installs the JS API, builds the widget and starts
/// loading.
pub fn start() {
    console_error_panic_hook::set_once();
    if js::in_worker() {
        web_sys::console::error_1(
            &"Deep Shopping: the page's bundle cannot describe photos; a worker runs deep-shopping.js"
                .into(),
        );
        return;
    }
    let ready = api::install();
    if let Err(err) = widget::mount() {
        web_sys::console::error_2(&"Deep Shopping: cannot build the widget".into(), &err);
    }
    entry::wire();
    wasm_bindgen_futures::spawn_local(async move {
        let config = widget::config();
        controls::loading();
        match app::load(&config, Rc::new(controls::progress)).await {
            Ok(app) => {
                let target = app.link_target.clone();
                app.session
                    .listen(move |results| view::show(results, target.as_deref()));
                app.session.listen(api::announce);
                let app = app::install(app);
                controls::loaded(&app);
                ready.resolve();
                entry::search_pending();
                // A photo chosen while the page loaded has come by now; if none, the worker
                // warms up while the shopper chooses one.
                gloo::timers::callback::Timeout::new(WARM_UP_AFTER_MS, move || {
                    app.engine.warm_up();
                })
                .forget();
            }
            Err(err) => {
                controls::failed(&js::error_message(&err));
                ready.reject(err);
            }
        }
    });
}
