//! The live camera: where `navigator.mediaDevices.getUserMedia` exists, "Use camera" opens a
//! preview of the back camera, "Take photo" grabs the current frame (canvas to JPEG blob) and
//! searches it, and the stream is stopped as soon as the photo is taken or the camera closed.
//! A refused permission or a missing camera is said plainly; the file input (with
//! `capture="environment"`) stays for every other case.

use std::cell::RefCell;

use gloo::events::EventListener;
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, Element};

use super::js;
use super::page::set_status;
use super::widget::by_id;

thread_local! {
    static STREAM: RefCell<Option<JsValue>> = const { RefCell::new(None) };
}

/// JPEG quality of a taken photo.
const QUALITY: f64 = 0.92;

fn media_devices() -> Option<JsValue> {
    let navigator: JsValue = gloo::utils::window().navigator().into();
    js::get(&navigator, "mediaDevices")
        .ok()
        .filter(|m| m.is_object() && js::has_method(m, "getUserMedia"))
}

/// Whether this browser can open a camera stream.
pub(crate) fn available() -> bool {
    media_devices().is_some()
}

/// A sentence for a failed `getUserMedia`, by the error's name.
fn explain(err: &JsValue) -> String {
    match js::string(err, "name").as_deref() {
        Some("NotAllowedError" | "SecurityError") => {
            "Camera permission was denied. Allow the camera for this site in the browser's \
             settings, or choose a photo instead."
                .into()
        }
        Some("NotFoundError" | "OverconstrainedError") => {
            "No camera was found. Choose a photo instead.".into()
        }
        Some("NotReadableError" | "AbortError") => {
            "The camera is in use by another app. Close it and try again, or choose a photo.".into()
        }
        _ => format!("Could not open the camera: {}", super::error_message(err)),
    }
}

fn show_panel(visible: bool) {
    if let Some(panel) = by_id("camera-panel") {
        if visible {
            panel.remove_attribute("hidden").ok();
        } else {
            panel.set_attribute("hidden", "").ok();
        }
    }
}

/// Stops every track of the open stream and hides the preview.
pub(crate) fn stop() {
    if let Some(stream) = STREAM.with(|s| s.borrow_mut().take())
        && let Ok(tracks) = js::call(&stream, "getTracks", &[])
    {
        for track in js_sys::Array::from(&tracks).iter() {
            js::call(&track, "stop", &[]).ok();
        }
    }
    if let Some(video) = by_id("camera-video") {
        js::set(&video, "srcObject", &JsValue::NULL).ok();
    }
    show_panel(false);
}

async fn open() -> Result<(), JsValue> {
    let devices = media_devices().ok_or_else(|| super::to_js("this browser has no camera API"))?;
    let constraints =
        js_sys::JSON::parse(r#"{"video":{"facingMode":"environment"},"audio":false}"#)?;
    let stream = js::call_async(&devices, "getUserMedia", &[constraints]).await?;
    stop();
    let video = by_id("camera-video").ok_or_else(|| super::to_js("the widget has no video"))?;
    js::set(&video, "srcObject", &stream)?;
    STREAM.with(|s| *s.borrow_mut() = Some(stream));
    show_panel(true);
    js::call_async(&video, "play", &[]).await?;
    focus("shutter");
    Ok(())
}

/// Moves the keyboard focus to the widget element `id`.
fn focus(id: &str) {
    if let Some(el) = by_id(id).and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
        el.focus().ok();
    }
}

/// The video's current frame as a JPEG blob.
async fn snap(video: &Element) -> Result<Blob, JsValue> {
    let width = js::number(video, "videoWidth").unwrap_or(0.0);
    let height = js::number(video, "videoHeight").unwrap_or(0.0);
    if width < 1.0 || height < 1.0 {
        return Err(super::to_js("the camera has no picture yet; try again"));
    }
    let canvas = gloo::utils::document().create_element("canvas")?;
    js::set(&canvas, "width", &width.into())?;
    js::set(&canvas, "height", &height.into())?;
    let context = js::call(&canvas, "getContext", &["2d".into()])?;
    if !context.is_object() {
        return Err(super::to_js("this browser cannot draw the camera picture"));
    }
    js::call(
        &context,
        "drawImage",
        &[
            video.into(),
            0.into(),
            0.into(),
            width.into(),
            height.into(),
        ],
    )?;
    let blob = JsFuture::from(Promise::new(&mut |resolve, _reject| {
        if let Err(err) = js::call(
            &canvas,
            "toBlob",
            &[resolve.into(), "image/jpeg".into(), QUALITY.into()],
        ) {
            web_sys::console::error_1(&err);
        }
    }))
    .await?;
    blob.dyn_into::<Blob>()
        .map_err(|_| super::to_js("the camera picture could not be encoded"))
}

/// Wires "Use camera", "Take photo" and "Close camera"; shows the camera button only where
/// the browser has a camera API.
pub(crate) fn wire() {
    let Some(button) = by_id("camera") else {
        return;
    };
    if !available() {
        return;
    }
    button.remove_attribute("hidden").ok();
    button.remove_attribute("disabled").ok();
    EventListener::new(&button, "click", |_| {
        wasm_bindgen_futures::spawn_local(async {
            set_status("Opening the camera…");
            match open().await {
                Ok(()) => set_status("Point the camera at the garment, then take the photo."),
                Err(err) => {
                    stop();
                    set_status(&explain(&err));
                }
            }
        });
    })
    .forget();
    if let Some(shutter) = by_id("shutter") {
        EventListener::new(&shutter, "click", |_| {
            wasm_bindgen_futures::spawn_local(async {
                let Some(video) = by_id("camera-video") else {
                    return;
                };
                match snap(&video).await {
                    Ok(photo) => {
                        stop();
                        super::page::search_blobs(vec![photo], false);
                        // The shutter is gone with the camera: the crop box is the next step.
                        focus("crop-box");
                    }
                    Err(err) => set_status(&format!(
                        "Could not take the photo: {}",
                        super::error_message(&err)
                    )),
                }
            });
        })
        .forget();
    }
    if let Some(close) = by_id("camera-close") {
        EventListener::new(&close, "click", |_| {
            stop();
            focus("camera");
        })
        .forget();
    }
}
