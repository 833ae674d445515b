//! Small helpers for browser APIs whose web-sys bindings this crate does not enable (media
//! devices, video, canvas, pointer and keyboard events, shadow roots): property reads and
//! method calls through `js_sys::Reflect`, awaiting the promises they return, errors and
//! values across the JS boundary, and the clock.

// The model's bundle alone (no `page`) uses only some of these.
#![cfg_attr(not(feature = "page"), allow(dead_code))]

use js_sys::{Array, Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// `target[name]`.
pub(crate) fn get(target: &JsValue, name: &str) -> Result<JsValue, JsValue> {
    Reflect::get(target, &name.into())
}

/// `target[name]` as a number, when it is one.
pub(crate) fn number(target: &JsValue, name: &str) -> Option<f64> {
    get(target, name).ok().and_then(|v| v.as_f64())
}

/// `target[name]` as a string, when it is one.
pub(crate) fn string(target: &JsValue, name: &str) -> Option<String> {
    get(target, name).ok().and_then(|v| v.as_string())
}

/// `target[name] = value`.
pub(crate) fn set(target: &JsValue, name: &str, value: &JsValue) -> Result<(), JsValue> {
    Reflect::set(target, &name.into(), value).map(|_| ())
}

/// Whether `target[name]` is a function.
pub(crate) fn has_method(target: &JsValue, name: &str) -> bool {
    get(target, name).is_ok_and(|f| f.is_function())
}

/// `target[name](...args)`.
pub(crate) fn call(target: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = get(target, name)?
        .dyn_into()
        .map_err(|_| to_js(format!("{name} is not a function")))?;
    f.apply(target, &args.iter().collect::<Array>())
}

/// `await target[name](...args)`.
pub(crate) async fn call_async(
    target: &JsValue,
    name: &str,
    args: &[JsValue],
) -> Result<JsValue, JsValue> {
    let promise: js_sys::Promise = call(target, name, args)?
        .dyn_into()
        .map_err(|_| to_js(format!("{name} did not return a promise")))?;
    JsFuture::from(promise).await
}

/// `err` as a JS `Error` value.
pub(crate) fn to_js(err: impl std::fmt::Display) -> JsValue {
    wasm_bindgen::JsError::new(&err.to_string()).into()
}

/// The text of a JS error value: a string, an `Error`'s message, or its debug form.
pub(crate) fn error_message(err: &JsValue) -> String {
    err.as_string()
        .or_else(|| string(err, "message"))
        .unwrap_or_else(|| format!("{err:?}"))
}

/// `value` as a plain JS object (maps as objects, bytes as arrays), as JSON would give it.
pub(crate) fn to_value<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| to_js(e.to_string()))
}

/// Whether this code runs in a worker (no `document`).
pub(crate) fn in_worker() -> bool {
    get(&js_sys::global(), "document").is_ok_and(|d| d.is_undefined())
}

/// Milliseconds since the Unix epoch, precise to fractions of a millisecond, on the page or
/// in a worker.
pub(crate) fn epoch_ms() -> f64 {
    let performance = get(&js_sys::global(), "performance").unwrap_or(JsValue::UNDEFINED);
    match (
        number(&performance, "timeOrigin"),
        call(&performance, "now", &[]).ok().and_then(|n| n.as_f64()),
    ) {
        (Some(origin), Some(now)) => origin + now,
        _ => js_sys::Date::now(),
    }
}

/// Bytes of this bundle's wasm memory.
pub(crate) fn memory_bytes() -> f64 {
    get(&wasm_bindgen::memory(), "buffer")
        .ok()
        .and_then(|buffer| number(&buffer, "byteLength"))
        .unwrap_or(0.0)
}
