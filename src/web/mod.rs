//! The browser side: builds the `<deep-shopping-search>` widget, loads the model and the
//! catalogue, starts the worker that describes photos (WebGPU or the CPU backend), exposes
//! `window.deepShopping` and drives the widget. In the worker, the same bundle serves
//! description requests.
//!
//! Who uses whom, one way: `session` (the shopper's state, the library only) <- `app` (the
//! loaded model, engine and session) <- `api` (the JS API) and `controls` (the widget's
//! controls) <- `entry` (the entry point, wired before loading); `view` renders what the
//! session publishes; `engine` talks to the worker in `protocol`'s messages; `widget`,
//! `camera`, `crop`, `fetch`, `backend` and `js` are leaves. This file only starts them.

mod api;
mod app;
mod backend;
mod camera;
mod controls;
mod crop;
mod engine;
mod entry;
mod fetch;
mod js;
mod protocol;
mod session;
mod view;
mod widget;

use std::rc::Rc;

/// Entry point of the wasm build: in a worker, serves description requests; on a page,
/// installs the JS API, builds the widget and starts loading.
pub fn start() {
    console_error_panic_hook::set_once();
    if engine::in_worker() {
        engine::serve();
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
            }
            Err(err) => {
                controls::failed(&js::error_message(&err));
                ready.reject(err);
            }
        }
    });
}
