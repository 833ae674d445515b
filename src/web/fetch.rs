//! Fetching asset files with download progress.

use js_sys::{Function, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

use super::page::Progress;

/// Resolves `url` against the page's address.
pub(super) fn absolute(url: &str) -> String {
    let base = gloo::utils::document()
        .base_uri()
        .ok()
        .flatten()
        .unwrap_or_default();
    web_sys::Url::new_with_base(url, &base)
        .map(|u| u.href())
        .unwrap_or_else(|_| url.to_string())
}

/// Resolves `relative` against the folder of `base_url`.
pub(super) fn join(base_url: &str, relative: &str) -> Result<String, JsValue> {
    Ok(web_sys::Url::new_with_base(relative, base_url)?.href())
}

/// Downloads `url`, reporting bytes to `progress` as they arrive.
pub(super) async fn bytes(url: &str, progress: Option<&Progress>) -> Result<Vec<u8>, JsValue> {
    let response: Response = JsFuture::from(gloo::utils::window().fetch_with_str(url))
        .await
        .map_err(|e| super::to_js(format!("cannot download {url}: {e:?}")))?
        .dyn_into()?;
    if !response.ok() {
        return Err(super::to_js(format!(
            "cannot download {url}: HTTP {}",
            response.status()
        )));
    }
    let Some(body) = response.body() else {
        return Ok(Vec::new());
    };
    let get_reader: Function = Reflect::get(&body, &"getReader".into())?.dyn_into()?;
    let reader = get_reader.call0(&body)?;
    let read: Function = Reflect::get(&reader, &"read".into())?.dyn_into()?;
    let mut out = Vec::new();
    loop {
        let chunk = JsFuture::from(read.call0(&reader)?.dyn_into::<js_sys::Promise>()?).await?;
        if Reflect::get(&chunk, &"done".into())?.is_truthy() {
            break;
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into())?.dyn_into()?;
        let start = out.len();
        out.resize(start + value.length() as usize, 0);
        value.copy_to(&mut out[start..]);
        if let Some(p) = progress {
            p.add(value.length() as u64);
        }
    }
    Ok(out)
}
