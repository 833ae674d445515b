//! Small helpers for browser APIs whose web-sys bindings this crate does not enable (media
//! devices, video, canvas, pointer and keyboard events, shadow roots): property reads and
//! method calls through `js_sys::Reflect`, and awaiting the promises they return.

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
        .map_err(|_| super::to_js(format!("{name} is not a function")))?;
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
        .map_err(|_| super::to_js(format!("{name} did not return a promise")))?;
    JsFuture::from(promise).await
}
