//! A partitioned catalogue read in part over HTTP (issue 23): its top file loads with the
//! model; a query then reads only the probed cells' codes, the best candidates' records and
//! the shown items' metadata, by range requests on the files named by the manifest the page
//! started with. Those files are immutable and named by their hash, so an index republished
//! while the page is open never mixes in: the page keeps reading its own generation until it
//! reloads. Probed cells are kept in a bounded cache.

use std::cell::{Cell, RefCell};
use std::ops::Range;

use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

use super::fetch::{self, BodyError, OnBytes, Size, Watchdog};
use super::js::to_js;
use crate::error::AssetError;
use crate::index::ivf::{
    CellCache, Found, PartitionedManifest, Probe, Published, ReadRanges, Request, Trace,
    search_async,
};
use crate::index::{Blend, Item, Query, Variants};

/// Bytes of cells' codes the page keeps between queries.
const CELL_CACHE_BYTES: usize = 8 << 20;

/// What the page has read of a partitioned index, for `info()`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Reads {
    /// Queries that read it.
    pub queries: u64,
    /// Range requests made.
    pub requests: u64,
    /// Bytes received by them.
    pub bytes: u64,
    /// The last query's: rounds of requests one after another, requests, bytes, probed
    /// cells found in the cache.
    pub last_rounds: usize,
    pub last_requests: usize,
    pub last_bytes: u64,
    pub last_cached_cells: usize,
    /// Bytes of cells' codes in the cache.
    pub cached_bytes: usize,
    /// The cells the last query probed, nearest first.
    pub last_cells: Vec<usize>,
}

/// A partitioned index being read.
pub(crate) struct Remote {
    /// Its manifest's address; file names resolve against it.
    url: String,
    /// The manifest and top file the page started with.
    pub published: Published,
    probe: Probe,
    cells: CellCache,
    reads: RefCell<Reads>,
    /// Whether the host sent a whole file for a range request (parts are read since).
    whole_only: Cell<bool>,
}

/// Reads ranges of the files next to `url` with `fetch` and `Range` headers, every range of
/// a round at once.
struct Fetcher<'a> {
    url: &'a str,
    /// Set once the host sent a whole file for a range request: parts are read instead.
    whole_only: &'a Cell<bool>,
}

fn read_error(file: &str, detail: impl Into<String>) -> AssetError {
    AssetError::Read {
        file: file.into(),
        detail: detail.into(),
    }
}

impl ReadRanges for Fetcher<'_> {
    async fn read_ranges(
        &self,
        file: &str,
        ranges: &[Range<u64>],
    ) -> Result<Vec<Vec<u8>>, AssetError> {
        let js = |e: JsValue| read_error(file, super::js::error_message(&e));
        let url = fetch::join(self.url, file).map_err(js)?;
        let dog = Watchdog::new().map_err(js)?;
        let failed = |e: JsValue| read_error(file, dog.failure(&e));
        let mut pending = Vec::with_capacity(ranges.len());
        for r in ranges {
            let headers = web_sys::Headers::new().map_err(js)?;
            headers
                .set(
                    "Range",
                    &format!("bytes={}-{}", r.start, r.end.saturating_sub(1)),
                )
                .map_err(js)?;
            let init = web_sys::RequestInit::new();
            init.set_headers(&headers);
            init.set_signal(Some(&dog.signal()));
            // Past the browser's HTTP cache, which lets one request at a time at a URL (ranges
            // of one file would wait on each other); read cells are kept in `CellCache`.
            js_sys::Reflect::set(&init, &"cache".into(), &"no-store".into()).map_err(js)?;
            let promise = gloo::utils::window().fetch_with_str_and_init(&url, &init);
            // Awaited from now on, so that those aborted below reject into a handler.
            pending.push((r.clone(), JsFuture::from(promise)));
        }
        let mut out = Vec::with_capacity(ranges.len());
        for (r, response) in pending {
            let response: Response = response.await.map_err(failed)?.dyn_into().map_err(js)?;
            dog.kick();
            match response.status() {
                206 => {}
                404 | 410 => return Err(read_error(file, GONE)),
                200 => {
                    self.whole_only.set(true);
                    return Err(AssetError::RangesRefused { file: file.into() });
                }
                s => return Err(read_error(file, format!("HTTP {s}"))),
            }
            let asked = format!("the range {}..{}", r.start, r.end);
            out.push(body(&response, file, r.end - r.start, &asked, &dog).await?);
        }
        Ok(out)
    }

    async fn read_whole_files(&self, files: &[(String, u64)]) -> Result<Vec<Vec<u8>>, AssetError> {
        let mut pending = Vec::with_capacity(files.len());
        let first = files.first().map_or("", |(file, _)| file.as_str());
        let dog = Watchdog::new().map_err(|e| read_error(first, super::js::error_message(&e)))?;
        for (file, _) in files {
            let url = fetch::join(self.url, file)
                .map_err(|e| read_error(file, super::js::error_message(&e)))?;
            // Parts are immutable, named by their file's hash: the HTTP cache may keep them.
            let init = web_sys::RequestInit::new();
            init.set_signal(Some(&dog.signal()));
            let promise = gloo::utils::window().fetch_with_str_and_init(&url, &init);
            pending.push(JsFuture::from(promise));
        }
        let mut out = Vec::with_capacity(files.len());
        for ((file, len), response) in files.iter().zip(pending) {
            let js = |e: JsValue| read_error(file, super::js::error_message(&e));
            let response: Response = response
                .await
                .map_err(|e| read_error(file, dog.failure(&e)))?
                .dyn_into()
                .map_err(js)?;
            dog.kick();
            match response.status() {
                200 => {}
                404 | 410 => return Err(read_error(file, GONE)),
                s => return Err(read_error(file, format!("HTTP {s}"))),
            }
            out.push(body(&response, file, *len, &format!("a part of {len}"), &dog).await?);
        }
        Ok(out)
    }

    fn ranges_served(&self) -> bool {
        !self.whole_only.get()
    }
}

/// The body of `response`, asked for `len` bytes of `file` (`asked`, as an error names them):
/// refused before it is read where it declares far more, as soon as it sends more, and after
/// where it holds fewer; each chunk kicks `dog`.
async fn body(
    response: &Response,
    file: &str,
    len: u64,
    asked: &str,
    dog: &Watchdog,
) -> Result<Vec<u8>, AssetError> {
    let bytes = fetch::read_body(response, Size::Exactly(len), Some(dog), None)
        .await
        .map_err(|e| match e {
            BodyError::Failed(e) => read_error(file, dog.failure(&e)),
            BodyError::Longer(detail) => read_error(file, detail),
        })?;
    if bytes.len() as u64 != len {
        return Err(read_error(
            file,
            format!("{} bytes for {asked}", bytes.len()),
        ));
    }
    Ok(bytes)
}

/// Why a file the manifest named is not found.
const GONE: &str =
    "it is gone (the catalogue was republished since this page loaded; reload the page)";

impl Remote {
    /// Opens the partitioned index whose manifest (`manifest`, read from `url`) names its
    /// files: downloads and checks its top file (kept in the Cache API), reporting bytes to
    /// `progress`. Queries will probe with `probe`.
    pub(crate) async fn open(
        url: &str,
        manifest: PartitionedManifest,
        probe: Probe,
        progress: Option<OnBytes<'_>>,
    ) -> Result<Self, JsValue> {
        let top_url = fetch::join(url, &manifest.top.file)?;
        let top = fetch::cached(&top_url, &manifest.top, progress).await?;
        let published = Published::open(manifest, top).map_err(to_js)?;
        Ok(Self {
            url: url.to_string(),
            published,
            probe,
            cells: CellCache::new(CELL_CACHE_BYTES),
            reads: RefCell::new(Reads::default()),
            whole_only: Cell::new(false),
        })
    }

    /// What the page has read so far.
    pub(crate) fn reads(&self) -> Reads {
        Reads {
            cached_bytes: self.cells.bytes(),
            ..self.reads.borrow().clone()
        }
    }

    /// The best `top` items for `query` that `keep` accepts (see
    /// [`crate::index::ivf::search`]), reading what it needs.
    pub(crate) async fn search(
        &self,
        query: Query<'_>,
        weights: Blend,
        top: usize,
        variants: Variants,
        orderable_only: bool,
        keep: impl Fn(&Item) -> bool,
    ) -> Result<Vec<Found>, AssetError> {
        let fetcher = Fetcher {
            url: &self.url,
            whole_only: &self.whole_only,
        };
        let (found, trace) = search_async(
            &self.published,
            &fetcher,
            Some(&self.cells),
            query,
            Request {
                blend: weights,
                probe: self.probe,
                top,
                variants,
                orderable_only,
            },
            keep,
        )
        .await?;
        self.count(&trace);
        Ok(found)
    }

    fn count(&self, trace: &Trace) {
        let mut r = self.reads.borrow_mut();
        *r = Reads {
            queries: r.queries + 1,
            requests: r.requests + trace.requests() as u64,
            bytes: r.bytes + trace.bytes(),
            last_rounds: trace.rounds(),
            last_requests: trace.requests(),
            last_bytes: trace.bytes(),
            last_cached_cells: trace.cached_cells,
            cached_bytes: 0,
            last_cells: trace.probed.clone(),
        };
    }
}
