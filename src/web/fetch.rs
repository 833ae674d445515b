//! Fetching asset files with download progress, kept in the browser's Cache API under keys
//! versioned by their sha256, so a reload downloads nothing and a new version replaces the old.
//! Every body is read as a stream within the size expected of it, and every request is
//! aborted by a [`Watchdog`] when its host stalls.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo::timers::callback::Timeout;
use js_sys::{Function, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

use super::js::to_js;
use crate::assets::FileEntry;

/// Told the size of each chunk of a download as it arrives.
pub(crate) type OnBytes<'a> = &'a dyn Fn(u64);

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

/// Seconds a download or a round of range requests may go without any answer or byte
/// arriving before it is aborted: a host that hangs gives an error, not a search that never
/// ends, and a slow one that keeps sending is not cut off.
pub(super) const STALL_SECONDS: u32 = 15;

/// Aborts its requests when dropped (once they are read, or as soon as one fails, so that the
/// others' answers do not hold the browser's few connections to a host), or once
/// [`STALL_SECONDS`] pass without [`Self::kick`].
pub(super) struct Watchdog {
    controller: web_sys::AbortController,
    timer: RefCell<Option<Timeout>>,
    fired: Rc<Cell<bool>>,
}

impl Watchdog {
    /// Armed from now.
    pub(super) fn new() -> Result<Self, JsValue> {
        let dog = Self {
            controller: web_sys::AbortController::new()?,
            timer: RefCell::new(None),
            fired: Rc::new(Cell::new(false)),
        };
        dog.kick();
        Ok(dog)
    }

    /// The signal to give each request.
    pub(super) fn signal(&self) -> web_sys::AbortSignal {
        self.controller.signal()
    }

    /// Progress: the stall timer starts again.
    pub(super) fn kick(&self) {
        let (controller, fired) = (self.controller.clone(), self.fired.clone());
        let timer = Timeout::new(STALL_SECONDS * 1000, move || {
            fired.set(true);
            controller.abort();
        });
        // The timer replaced is cancelled as it drops.
        *self.timer.borrow_mut() = Some(timer);
    }

    /// What a request that failed (`err`) failed of: the stall, when the timer fired.
    pub(super) fn failure(&self, err: &JsValue) -> String {
        if self.fired.get() {
            format!("the host did not answer for {STALL_SECONDS} s")
        } else {
            super::js::error_message(err)
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.timer.borrow_mut().take();
        self.controller.abort();
    }
}

/// How much of a body is expected.
#[derive(Debug, Clone, Copy)]
pub(super) enum Size {
    /// At most this many bytes (a manifest).
    AtMost(u64),
    /// Exactly this many, as a manifest gives a file's size or a range its length: room for
    /// them is made at once, where a body sent without its length (chunked, as hosts that
    /// compress on the fly send it) would otherwise grow by doubling, to twice its size.
    Exactly(u64),
}

impl Size {
    fn limit(self) -> u64 {
        match self {
            Self::AtMost(n) | Self::Exactly(n) => n,
        }
    }
}

/// Downloads `url`, of `size`, reporting bytes to `progress` as they arrive.
pub(super) async fn bytes(
    url: &str,
    size: Size,
    progress: Option<OnBytes<'_>>,
) -> Result<Vec<u8>, JsValue> {
    let dog = Watchdog::new()?;
    let failed = |e: JsValue| to_js(format!("cannot download {url}: {}", dog.failure(&e)));
    // Revalidate with the server: manifests must never be stale; large files are kept in the
    // Cache API instead (see `cached`).
    let init = web_sys::RequestInit::new();
    Reflect::set(&init, &"cache".into(), &"no-cache".into())?;
    init.set_signal(Some(&dog.signal()));
    let response: Response =
        JsFuture::from(gloo::utils::window().fetch_with_str_and_init(url, &init))
            .await
            .map_err(failed)?
            .dyn_into()?;
    if !response.ok() {
        return Err(to_js(format!(
            "cannot download {url}: HTTP {}",
            response.status()
        )));
    }
    read_body(&response, size, Some(&dog), progress)
        .await
        .map_err(|e| match e {
            BodyError::Failed(e) => failed(e),
            BodyError::Longer(detail) => to_js(format!("cannot download {url}: {detail}")),
        })
}

/// Why a body was not read.
pub(super) enum BodyError {
    /// The stream failed (the network, an abort).
    Failed(JsValue),
    /// It is longer than was allowed (what it declared or sent, in words); the rest is not
    /// read.
    Longer(String),
}

impl From<JsValue> for BodyError {
    fn from(e: JsValue) -> Self {
        Self::Failed(e)
    }
}

/// Bytes an answer's declared length may exceed the body allowed (a compressed answer of a
/// few incompressible bytes is a little longer).
const SLACK: u64 = 1024;

/// The body of `response`, read as a stream, at most `size`'s bytes: refused before it is
/// read where it declares far more, and as soon as it sends more (the rest is cancelled),
/// so a host that sends without end costs no more than that. Each chunk kicks `dog` and
/// its size goes to `progress`.
pub(super) async fn read_body(
    response: &Response,
    size: Size,
    dog: Option<&Watchdog>,
    progress: Option<OnBytes<'_>>,
) -> Result<Vec<u8>, BodyError> {
    let limit = size.limit();
    let declared = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = declared.filter(|&n| n > limit.saturating_add(SLACK)) {
        return Err(BodyError::Longer(format!(
            "the host sends {n} bytes where {limit} were asked for"
        )));
    }
    let Some(body) = response.body() else {
        return Ok(Vec::new());
    };
    let get_reader: Function = Reflect::get(&body, &"getReader".into())?.dyn_into()?;
    let reader = get_reader.call0(&body)?;
    let read: Function = Reflect::get(&reader, &"read".into())?.dyn_into()?;
    let room = match size {
        Size::Exactly(n) => n,
        Size::AtMost(n) => declared.unwrap_or(0).min(n),
    };
    let mut out = Vec::with_capacity(room as usize);
    loop {
        let chunk = JsFuture::from(read.call0(&reader)?.dyn_into::<js_sys::Promise>()?).await?;
        if Reflect::get(&chunk, &"done".into())?.is_truthy() {
            break;
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into())?.dyn_into()?;
        let start = out.len();
        if (start as u64).saturating_add(u64::from(value.length())) > limit {
            // Dropped, not read: the stream's rejection has nothing left to report.
            if let Ok(cancel) = method(&reader, "cancel") {
                let _ = cancel.call0(&reader);
            }
            return Err(BodyError::Longer(format!(
                "the host sends more than the {limit} bytes asked for"
            )));
        }
        out.resize(start + value.length() as usize, 0);
        value.copy_to(&mut out[start..]);
        if let Some(dog) = dog {
            dog.kick();
        }
        if let Some(p) = progress {
            p(u64::from(value.length()));
        }
    }
    Ok(out)
}

/// Largest file the page downloads (its memory tops out at 4 GB).
const MAX_FILE_BYTES: u64 = 1 << 30;

/// Name of the Cache API cache holding model weights and index data.
const CACHE: &str = "deep-shopping-assets";

fn method(target: &JsValue, name: &str) -> Result<Function, JsValue> {
    Reflect::get(target, &name.into())?.dyn_into()
}

async fn call(target: &JsValue, name: &str, args: &[&JsValue]) -> Result<JsValue, JsValue> {
    let f = method(target, name)?;
    let promise = match args {
        [] => f.call0(target)?,
        [a] => f.call1(target, a)?,
        [a, b] => f.call2(target, a, b)?,
        _ => return Err(to_js("too many arguments")),
    };
    JsFuture::from(promise.dyn_into::<js_sys::Promise>()?).await
}

/// Downloads `entry`'s file at `url` (at most its `bytes`) unless the Cache API already
/// holds the version whose sha256 is its `sha256`; stores a fresh download and removes other
/// versions of the same URL. Falls back to a plain download where the Cache API is
/// unavailable (insecure origins). The caller checks the bytes against `entry`.
pub(super) async fn cached(
    url: &str,
    entry: &FileEntry,
    progress: Option<OnBytes<'_>>,
) -> Result<Vec<u8>, JsValue> {
    if entry.bytes > MAX_FILE_BYTES {
        return Err(to_js(format!(
            "cannot download {url}: its manifest says {} bytes, more than the page reads ({MAX_FILE_BYTES})",
            entry.bytes
        )));
    }
    let sha256 = entry.sha256.as_str();
    let caches = Reflect::get(&gloo::utils::window(), &"caches".into())?;
    if caches.is_undefined() || caches.is_null() {
        return bytes(url, Size::Exactly(entry.bytes), progress).await;
    }
    let cache = call(&caches, "open", &[&CACHE.into()]).await?;
    let prefix = format!("{url}?sha256=");
    let key = format!("{prefix}{sha256}");
    let hit = call(&cache, "match", &[&key.clone().into()]).await?;
    if let Ok(response) = hit.dyn_into::<Response>() {
        let buffer = JsFuture::from(response.array_buffer()?).await?;
        let data = Uint8Array::new(&buffer).to_vec();
        if crate::assets::sha256_hex(&data) == sha256 {
            if let Some(p) = progress {
                p(data.len() as u64);
            }
            return Ok(data);
        }
        call(&cache, "delete", &[&key.clone().into()]).await?;
    }
    let mut data = bytes(url, Size::Exactly(entry.bytes), progress).await?;
    let response = Response::new_with_opt_u8_array(Some(&mut data))?;
    if let Err(err) = call(&cache, "put", &[&key.clone().into(), &response]).await {
        web_sys::console::warn_2(&"could not cache".into(), &err);
    }
    let keys = js_sys::Array::from(&call(&cache, "keys", &[]).await?);
    for request in keys.iter() {
        let old = Reflect::get(&request, &"url".into())?
            .as_string()
            .unwrap_or_default();
        if old.starts_with(&prefix) && old != key {
            call(&cache, "delete", &[&request]).await?;
        }
    }
    Ok(data)
}
