//! The entry point: "Take a photo" (the live camera where the browser has one, else the
//! picker's camera), "Upload a photo", "Add another photo", and a photo dragged and dropped
//! anywhere on the page or pasted from the clipboard. Wired at start, before anything has
//! downloaded: a photo given while the model and the catalogue still load is kept and searched
//! once they have (and a dropped one is not opened by the browser in place of the page).

use std::cell::RefCell;
use std::rc::Rc;

use gloo::events::{EventListener, EventListenerOptions};
use wasm_bindgen::JsCast;
use web_sys::Blob;

use super::app::current;
use super::camera;
use super::controls::{input, on, search_blobs, set_status};

thread_local! {
    /// Photos given while the page was still loading, searched once it is ready.
    static PENDING: RefCell<Vec<Blob>> = const { RefCell::new(Vec::new()) };
}

/// The files in `list`, in order.
fn files_in(list: &web_sys::FileList) -> impl Iterator<Item = web_sys::File> + '_ {
    (0..list.length()).filter_map(|i| list.get(i))
}

/// The photos chosen in the file input `id`.
fn chosen(id: &str) -> Vec<Blob> {
    input(id)
        .and_then(|i| i.files())
        .map(|l| files_in(&l).map(Blob::from).collect())
        .unwrap_or_default()
}

/// Searches `photos` (`add`: adds them to the query), or keeps them for [`search_pending`]
/// while the search is still loading.
fn take(photos: Vec<Blob>, add: bool) {
    if photos.is_empty() {
        return;
    }
    if current().is_ok() {
        search_blobs(photos, add);
    } else {
        PENDING.with(|p| *p.borrow_mut() = photos);
        set_status("Your photo will be searched as soon as the search is ready.");
    }
}

/// Opens the file picker of the hidden input `id` (from the shopper's tap or key).
fn pick(id: &str) {
    if let Some(i) = input(id) {
        i.click();
    }
}

/// Wires the entry point's buttons and inputs, and drops and pastes on the whole page.
pub(crate) fn wire() {
    on("upload", "click", |_| pick("photo"));
    on("add", "click", |_| pick("add-photo"));
    for (id, add) in [
        ("photo", false),
        ("photo-camera", false),
        ("add-photo", true),
    ] {
        on(id, "change", move |_| take(chosen(id), add));
    }
    camera::wire(
        Rc::new(|photo| take(vec![photo], false)),
        Rc::new(|| pick("photo-camera")),
        Rc::new(set_status),
    );
    let document = gloo::utils::document();
    EventListener::new_with_options(
        &document,
        "dragover",
        EventListenerOptions::enable_prevent_default(),
        |event| event.prevent_default(),
    )
    .forget();
    for (event, field) in [("drop", "dataTransfer"), ("paste", "clipboardData")] {
        EventListener::new_with_options(
            &document,
            event,
            EventListenerOptions::enable_prevent_default(),
            move |event| {
                let files = files_of(event, field);
                if files.is_empty() {
                    return;
                }
                event.prevent_default();
                take(files.into_iter().map(Blob::from).collect(), false);
            },
        )
        .forget();
    }
}

/// Searches the photos given while the page was loading, if any.
pub(crate) fn search_pending() {
    let photos = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
    search_blobs(photos, false);
}

/// Image files carried by a drop or paste event (`event[field].files`).
fn files_of(event: &web_sys::Event, field: &str) -> Vec<web_sys::File> {
    let list = js_sys::Reflect::get(event, &field.into())
        .and_then(|t| js_sys::Reflect::get(&t, &"files".into()))
        .ok()
        .and_then(|f| f.dyn_into::<web_sys::FileList>().ok());
    let Some(list) = list else { return Vec::new() };
    files_in(&list)
        .filter(|f| f.type_().starts_with("image/"))
        .collect()
}
