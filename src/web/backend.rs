//! Chooses the compute backend: WebGPU when the browser offers an adapter and burn's wgpu
//! runtime starts on it, otherwise burn's flex CPU backend, or the CPU when the page asks for it
//! (`?backend=cpu`). Works on the page and in a worker.

use burn::tensor::Device;
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Whether `navigator.gpu.requestAdapter()` yields an adapter.
async fn adapter_available() -> Result<bool, JsValue> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into())?;
    let gpu = Reflect::get(&navigator, &"gpu".into())?;
    if gpu.is_undefined() || gpu.is_null() {
        return Ok(false);
    }
    let request: Function = Reflect::get(&gpu, &"requestAdapter".into())?.dyn_into()?;
    let promise: Promise = request.call0(&gpu)?.dyn_into()?;
    let adapter = JsFuture::from(promise).await?;
    Ok(!adapter.is_null() && !adapter.is_undefined())
}

/// The device to run on, its name for the page, and why WebGPU was not used; `force_cpu`
/// skips WebGPU.
pub(super) async fn pick(force_cpu: bool) -> (Device, &'static str, Option<String>) {
    let cpu = |why: String| (Device::flex(), "cpu", Some(why));
    if force_cpu {
        return cpu("CPU backend requested by ?backend=cpu".into());
    }
    match adapter_available().await {
        Ok(true) => {}
        Ok(false) => return cpu("this browser offers no WebGPU adapter".into()),
        Err(err) => return cpu(format!("WebGPU adapter request failed: {err:?}")),
    }
    match Device::wgpu_options().init_async().await {
        Ok(device) => (device, "webgpu", None),
        Err(err) => cpu(format!("WebGPU initialisation failed: {err}")),
    }
}
