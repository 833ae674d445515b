//! The crop box over the shopper's photo: dragged and resized with pointer events (mouse,
//! pen and touch; a handle on every corner) or the keyboard (arrow keys move it, Shift +
//! arrow keys resize it). Each change is handed to the widget's search (given to [`wire`]),
//! which describes the photo again with the crop, the one preprocessing path; a change made
//! while a search runs is searched right after it, the latest box winning. On a narrow screen
//! the photo shrinks to a strip once searched, so the results come first; a tap on it or
//! "Adjust the box" shows it large again.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use gloo::events::{EventListener, EventListenerOptions};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Blob, Element};

use super::js;
use super::widget::{by_id, flag, focus, set_flag, set_style, set_visible};
use crate::preprocess::Crop;

/// Smallest side of the box, as a fraction of the photo.
const MIN_SIDE: f32 = 0.05;
/// How far one arrow key press moves or resizes the box, as a fraction of the photo.
const KEY_STEP: f32 = 0.02;

const WHOLE: Crop = Crop::WHOLE;

/// What a pointer drag changes.
#[derive(Debug, Clone, Copy)]
enum Grip {
    /// The whole box moves.
    Move,
    /// One corner moves; the opposite corner stays.
    Corner { left: bool, top: bool },
}

/// A drag in progress.
#[derive(Debug, Clone, Copy)]
struct Drag {
    grip: Grip,
    pointer: f64,
    start_x: f64,
    start_y: f64,
    /// Size of the photo on screen, in CSS pixels.
    width: f64,
    height: f64,
    start: Crop,
}

/// Searches the photo again with a crop (`None`: the whole photo).
pub(crate) type OnCrop = Rc<dyn Fn(Blob, Option<Crop>) -> Pin<Box<dyn Future<Output = ()>>>>;

thread_local! {
    static ON_CROP: RefCell<Option<OnCrop>> = const { RefCell::new(None) };
    static BOX: Cell<Crop> = const { Cell::new(WHOLE) };
    static PHOTO: RefCell<Option<Blob>> = const { RefCell::new(None) };
    static PHOTO_URL: RefCell<Option<String>> = const { RefCell::new(None) };
    static DRAG: Cell<Option<Drag>> = const { Cell::new(None) };
    static BUSY: Cell<bool> = const { Cell::new(false) };
    static PENDING: Cell<bool> = const { Cell::new(false) };
}

/// The crop to search with: `None` for the whole photo.
pub(crate) fn current() -> Option<Crop> {
    let c = BOX.with(Cell::get);
    (c != WHOLE).then_some(c)
}

fn percent(v: f32) -> f32 {
    (v * 100.0).round()
}

/// Shows the box where it is and says so in words.
fn render() {
    let c = BOX.with(Cell::get);
    if let Some(el) = by_id("crop-box") {
        for (property, value) in [
            ("left", c.x),
            ("top", c.y),
            ("width", c.width),
            ("height", c.height),
        ] {
            set_style(&el, property, &format!("{}%", value * 100.0));
        }
        let words = describe(c);
        el.set_attribute("aria-label", &format!("Crop box: {words}"))
            .ok();
        if let Some(readout) = by_id("crop-readout") {
            readout.set_text_content(Some(&words));
        }
        // "Use the whole photo" only where there is a box to undo.
        set_visible("crop-reset", c != WHOLE);
    }
}

fn describe(c: Crop) -> String {
    if c == WHOLE {
        "Whole photo".into()
    } else {
        format!(
            "Crop: {}% × {}% of the photo, from {}% left, {}% top",
            percent(c.width),
            percent(c.height),
            percent(c.x),
            percent(c.y)
        )
    }
}

/// Shows `photo` with the box around all of it; it becomes the photo crops apply to.
pub(crate) fn show(photo: &Blob) {
    BOX.with(|b| b.set(WHOLE));
    PHOTO.with(|p| *p.borrow_mut() = Some(photo.clone()));
    if let Ok(url) = web_sys::Url::create_object_url_with_blob(photo) {
        if let Some(old) = PHOTO_URL.with(|u| u.borrow_mut().replace(url.clone())) {
            web_sys::Url::revoke_object_url(&old).ok();
        }
        if let Some(img) = by_id("crop-image") {
            img.set_attribute("src", &url).ok();
        }
    }
    set_visible("crop-panel", true);
    set_flag("photo", true);
    expand(false);
    render();
}

/// Hides the photo (one that could not be searched): the entry point is whole again.
pub(crate) fn hide() {
    PHOTO.with(|p| p.borrow_mut().take());
    if let Some(old) = PHOTO_URL.with(|u| u.borrow_mut().take()) {
        web_sys::Url::revoke_object_url(&old).ok();
    }
    if let Some(img) = by_id("crop-image") {
        img.remove_attribute("src").ok();
    }
    set_visible("crop-panel", false);
    set_flag("photo", false);
}

/// Shows the photo large (`true`) or as a strip on a narrow screen (the wide layout always
/// shows it large).
fn expand(large: bool) {
    set_flag("expanded", large);
    if let Some(toggle) = by_id("crop-toggle") {
        toggle
            .set_attribute("aria-expanded", if large { "true" } else { "false" })
            .ok();
        toggle.set_text_content(Some(if large { "Done" } else { "Adjust the box" }));
    }
}

/// Sets the box and searches the photo again with it.
fn change(c: Crop) {
    let c = c.clamped(MIN_SIDE);
    let before = BOX.with(|b| b.replace(c));
    render();
    if before != c {
        search_again();
    }
}

/// Searches the cropped photo now, or right after the search in progress.
fn search_again() {
    if BUSY.with(|b| b.replace(true)) {
        PENDING.with(|p| p.set(true));
        return;
    }
    wasm_bindgen_futures::spawn_local(async {
        loop {
            PENDING.with(|p| p.set(false));
            let photo = PHOTO.with(|p| p.borrow().clone());
            let search = ON_CROP.with(|s| s.borrow().clone());
            if let (Some(photo), Some(search)) = (photo, search) {
                search(photo, current()).await;
            }
            if !PENDING.with(Cell::get) {
                break;
            }
        }
        BUSY.with(|b| b.set(false));
    });
}

fn pointer_xy(event: &JsValue) -> Option<(f64, f64, f64)> {
    Some((
        js::number(event, "clientX")?,
        js::number(event, "clientY")?,
        js::number(event, "pointerId")?,
    ))
}

fn on_pointer_down(event: &web_sys::Event, crop_box: &Element) {
    let Some((x, y, pointer)) = pointer_xy(event) else {
        return;
    };
    let Some(stage) = by_id("crop-stage") else {
        return;
    };
    let Ok(rect) = js::call(&stage, "getBoundingClientRect", &[]) else {
        return;
    };
    let (Some(width), Some(height)) = (js::number(&rect, "width"), js::number(&rect, "height"))
    else {
        return;
    };
    if width < 1.0 || height < 1.0 {
        return;
    }
    let corner = event
        .target()
        .and_then(|t| t.dyn_into::<Element>().ok())
        .and_then(|e| e.get_attribute("data-corner"));
    let grip = match corner.as_deref() {
        Some(c) if c.len() == 2 => Grip::Corner {
            top: c.starts_with('n'),
            left: c.ends_with('w'),
        },
        _ => Grip::Move,
    };
    event.prevent_default();
    js::call(crop_box, "setPointerCapture", &[pointer.into()]).ok();
    if let Some(el) = crop_box.dyn_ref::<web_sys::HtmlElement>() {
        el.focus().ok();
    }
    DRAG.with(|d| {
        d.set(Some(Drag {
            grip,
            pointer,
            start_x: x,
            start_y: y,
            width,
            height,
            start: BOX.with(Cell::get),
        }))
    });
}

/// The box for the drag's pointer now at `(x, y)`.
fn dragged(drag: &Drag, x: f64, y: f64) -> Crop {
    let dx = ((x - drag.start_x) / drag.width) as f32;
    let dy = ((y - drag.start_y) / drag.height) as f32;
    match drag.grip {
        Grip::Move => Crop {
            x: drag.start.x + dx,
            y: drag.start.y + dy,
            ..drag.start
        }
        .clamped(MIN_SIDE),
        Grip::Corner { left, top } => drag.start.corner_moved(left, top, dx, dy, MIN_SIDE),
    }
}

fn on_pointer_move(event: &web_sys::Event) {
    let (Some(drag), Some((x, y, pointer))) = (DRAG.with(Cell::get), pointer_xy(event)) else {
        return;
    };
    if pointer != drag.pointer {
        return;
    }
    BOX.with(|b| b.set(dragged(&drag, x, y)));
    render();
}

fn on_pointer_up(event: &web_sys::Event) {
    let (Some(drag), Some((x, y, pointer))) = (DRAG.with(Cell::get), pointer_xy(event)) else {
        return;
    };
    if pointer != drag.pointer {
        return;
    }
    DRAG.with(|d| d.set(None));
    let end = dragged(&drag, x, y);
    BOX.with(|b| b.set(drag.start));
    change(end);
}

fn on_key(event: &web_sys::Event) {
    let Some(key) = js::string(event, "key") else {
        return;
    };
    let resize = js::get(event, "shiftKey").is_ok_and(|s| s.is_truthy());
    let (dx, dy) = match key.as_str() {
        "ArrowLeft" => (-KEY_STEP, 0.0),
        "ArrowRight" => (KEY_STEP, 0.0),
        "ArrowUp" => (0.0, -KEY_STEP),
        "ArrowDown" => (0.0, KEY_STEP),
        _ => return,
    };
    event.prevent_default();
    let c = BOX.with(Cell::get);
    change(if resize {
        Crop {
            width: c.width + dx,
            height: c.height + dy,
            ..c
        }
    } else {
        Crop {
            x: c.x + dx,
            y: c.y + dy,
            ..c
        }
    });
}

/// Wires the box's pointer, keyboard and reset controls; each new box goes to `on_crop`.
pub(crate) fn wire(on_crop: OnCrop) {
    ON_CROP.with(|s| *s.borrow_mut() = Some(on_crop));
    let Some(crop_box) = by_id("crop-box") else {
        return;
    };
    let target = crop_box.clone();
    let prevent = EventListenerOptions::enable_prevent_default();
    EventListener::new_with_options(&crop_box, "pointerdown", prevent, move |e| {
        on_pointer_down(e, &target)
    })
    .forget();
    EventListener::new(&crop_box, "pointermove", on_pointer_move).forget();
    for name in ["pointerup", "pointercancel"] {
        EventListener::new(&crop_box, name, on_pointer_up).forget();
    }
    EventListener::new_with_options(&crop_box, "keydown", prevent, on_key).forget();
    if let Some(toggle) = by_id("crop-toggle") {
        EventListener::new(&toggle, "click", |_| expand(!flag("expanded"))).forget();
    }
    // On a narrow screen the strip is a button of sorts: a tap enlarges it.
    if let Some(stage) = by_id("crop-stage") {
        EventListener::new(&stage, "click", |_| {
            if !flag("expanded") {
                expand(true);
                focus("crop-box");
            }
        })
        .forget();
    }
    if let Some(reset) = by_id("crop-reset") {
        EventListener::new(&reset, "click", |_| change(WHOLE)).forget();
    }
}
