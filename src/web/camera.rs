//! The live camera: where `navigator.mediaDevices.getUserMedia` exists, "Take a photo" opens a
//! preview of the back camera, "Take photo" grabs the current frame (canvas to JPEG blob) and
//! searches it, and the stream is stopped as soon as the photo is taken or the camera closed.
//! A refused permission or a missing camera is said plainly; elsewhere the button opens the
//! file input with `capture="environment"`. The widget hands [`wire`] what to do
//! with a photo taken and where to say how the camera is doing.

use std::cell::RefCell;
use std::rc::Rc;

use gloo::events::EventListener;
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, Element};

use super::js;
use super::widget::{by_id, focus, set_visible};

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
        _ => format!("Could not open the camera: {}", js::error_message(err)),
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
    set_visible("camera-panel", false);
}

async fn open() -> Result<(), JsValue> {
    let devices = media_devices().ok_or_else(|| js::to_js("this browser has no camera API"))?;
    let constraints =
        js_sys::JSON::parse(r#"{"video":{"facingMode":"environment"},"audio":false}"#)?;
    let stream = js::call_async(&devices, "getUserMedia", &[constraints]).await?;
    stop();
    let video = by_id("camera-video").ok_or_else(|| js::to_js("the widget has no video"))?;
    js::set(&video, "srcObject", &stream)?;
    STREAM.with(|s| *s.borrow_mut() = Some(stream));
    set_visible("camera-panel", true);
    js::call_async(&video, "play", &[]).await?;
    focus("shutter");
    Ok(())
}

/// The video's current frame as a JPEG blob.
async fn snap(video: &Element) -> Result<Blob, JsValue> {
    let width = js::number(video, "videoWidth").unwrap_or(0.0);
    let height = js::number(video, "videoHeight").unwrap_or(0.0);
    if width < 1.0 || height < 1.0 {
        return Err(js::to_js("the camera has no picture yet; try again"));
    }
    let canvas = gloo::utils::document().create_element("canvas")?;
    js::set(&canvas, "width", &width.into())?;
    js::set(&canvas, "height", &height.into())?;
    let context = js::call(&canvas, "getContext", &["2d".into()])?;
    if !context.is_object() {
        return Err(js::to_js("this browser cannot draw the camera picture"));
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
        .map_err(|_| js::to_js("the camera picture could not be encoded"))
}

/// Wires "Take a photo", the shutter and "Close camera". Where the browser has a camera API,
/// "Take a photo" opens the live preview; elsewhere it calls `fallback` (the file picker's
/// camera). A photo taken goes to `on_photo`; what the shopper should know goes to
/// `on_status`.
pub(crate) fn wire(
    on_photo: Rc<dyn Fn(Blob)>,
    fallback: Rc<dyn Fn()>,
    on_status: Rc<dyn Fn(&str)>,
) {
    let Some(button) = by_id("camera") else {
        return;
    };
    let status = on_status.clone();
    EventListener::new(&button, "click", move |_| {
        if !available() {
            fallback();
            return;
        }
        let status = status.clone();
        wasm_bindgen_futures::spawn_local(async move {
            status("Opening the camera…");
            match open().await {
                Ok(()) => status("Point the camera at the garment, then take the photo."),
                Err(err) => {
                    stop();
                    status(&explain(&err));
                }
            }
        });
    })
    .forget();
    if let Some(shutter) = by_id("shutter") {
        EventListener::new(&shutter, "click", move |_| {
            let (on_photo, status) = (on_photo.clone(), on_status.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let Some(video) = by_id("camera-video") else {
                    return;
                };
                match snap(&video).await {
                    Ok(photo) => {
                        stop();
                        on_photo(photo);
                        // The shutter is gone with the camera: the crop box is the next step.
                        focus("crop-box");
                    }
                    Err(err) => status(&format!(
                        "Could not take the photo: {}",
                        js::error_message(&err)
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
