//! Product photos (and feeds) from the store's hosts: connect and read timeouts, retries with
//! back-off on 5xx answers and network errors (never on 4xx), bounded redirects, the photo
//! size limit, a check that the bytes are an image, and a content-addressed cache of what was
//! downloaded, revalidated with ETag / Last-Modified so that an unchanged photo is never
//! downloaded twice. Every cache file is written atomically: a killed run leaves whole files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::assets::sha256_hex;
use crate::files::write_atomic;
use crate::preprocess::Limits;

/// How photos are downloaded.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Downloads at once.
    pub concurrency: usize,
    /// Longest wait for a connection.
    pub connect_timeout: Duration,
    /// Longest wait for any one read of an answer.
    pub read_timeout: Duration,
    /// Further attempts after a 5xx answer, a timeout or a network error.
    pub retries: u32,
    /// Wait before the first retry; each next one waits twice as long.
    pub backoff: Duration,
    /// Most redirects followed.
    pub max_redirects: u32,
    /// Largest photo accepted, in bytes.
    pub max_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            concurrency: 8,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            retries: 2,
            backoff: Duration::from_millis(500),
            max_redirects: 5,
            max_bytes: Limits::default().max_file_bytes,
        }
    }
}

/// Why a download failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The host answered with this error status.
    Status(u16),
    /// No answer in time.
    Timeout,
    /// The redirects went round or on too long.
    Redirects,
    /// The photo is over the size limit.
    TooLarge(usize),
    /// The bytes are no image of a type read (what they look like).
    NotAnImage(&'static str),
    /// The connection failed.
    Network(String),
    /// The cache could not be written.
    Cache(String),
}

impl Failure {
    /// The kind of failure, as the run's summary counts them.
    pub fn kind(&self) -> String {
        match self {
            Failure::Status(code) => format!("HTTP {code}"),
            Failure::Timeout => "timeout".into(),
            Failure::Redirects => "too many redirects".into(),
            Failure::TooLarge(_) => "over the size limit".into(),
            Failure::NotAnImage(_) => "not an image".into(),
            Failure::Network(_) => "network error".into(),
            Failure::Cache(_) => "cache not writable".into(),
        }
    }

    fn retryable(&self) -> bool {
        matches!(self, Failure::Timeout | Failure::Network(_))
            || matches!(self, Failure::Status(code) if *code >= 500)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status(code) => write!(f, "the image host answered HTTP {code}"),
            Failure::Timeout => write!(f, "the image host did not answer in time"),
            Failure::Redirects => write!(f, "too many redirects"),
            Failure::TooLarge(limit) => write!(f, "the photo is over the {limit}-byte limit"),
            Failure::NotAnImage(what) => write!(f, "the bytes are not an image ({what})"),
            Failure::Network(why) => write!(f, "network error: {why}"),
            Failure::Cache(why) => write!(f, "cannot write the download cache: {why}"),
        }
    }
}

/// How a photo was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// Its bytes came over the network.
    Downloaded,
    /// The host said the cached copy is current (304): nothing was downloaded.
    Revalidated,
}

/// A photo's bytes and their sha256.
#[derive(Debug, Clone)]
pub struct Download {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Their hex sha256.
    pub sha256: String,
    /// How they were obtained.
    pub how: Fetched,
}

/// What the cache remembers of a URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UrlRecord {
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    sha256: String,
}

/// Downloads photos through the cache in one folder.
pub struct Downloader {
    agent: ureq::Agent,
    settings: Settings,
    cache: PathBuf,
}

/// What the bytes look like when they are no image, or `None` for an image of a type read.
fn not_an_image(bytes: &[u8]) -> Option<&'static str> {
    if image::guess_format(bytes).is_ok() {
        return None;
    }
    let start = String::from_utf8_lossy(&bytes[..bytes.len().min(256)]).to_ascii_lowercase();
    let start = start.trim_start();
    Some(
        if start.starts_with("<!doctype html") || start.starts_with("<html") {
            "an HTML page"
        } else if start.starts_with('<') {
            "XML or HTML"
        } else if bytes
            .get(4..12)
            .is_some_and(|b| b.starts_with(b"ftyphei") || b.starts_with(b"ftypmif"))
        {
            "HEIC, which is not supported: serve JPEG, PNG or WebP"
        } else {
            "an unknown format"
        },
    )
}

impl Downloader {
    /// A downloader with `settings`, caching in `cache` (created if needed).
    pub fn new(cache: &Path, settings: Settings) -> std::io::Result<Self> {
        std::fs::create_dir_all(cache.join("blobs"))?;
        std::fs::create_dir_all(cache.join("urls"))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(settings.max_redirects)
            .timeout_connect(Some(settings.connect_timeout))
            .timeout_per_read(Some(settings.read_timeout))
            .user_agent("deep-shopping (catalogue index build)")
            .build()
            .into();
        Ok(Self {
            agent,
            settings,
            cache: cache.to_path_buf(),
        })
    }

    /// The download settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn record_path(&self, url: &str) -> PathBuf {
        self.cache
            .join("urls")
            .join(format!("{}.json", sha256_hex(url.as_bytes())))
    }

    fn blob_path(&self, sha256: &str) -> PathBuf {
        self.cache.join("blobs").join(sha256)
    }

    /// The cached record of `url` whose bytes are still in the cache.
    fn cached(&self, url: &str) -> Option<(UrlRecord, Vec<u8>)> {
        let record: UrlRecord =
            serde_json::from_slice(&std::fs::read(self.record_path(url)).ok()?).ok()?;
        let bytes = std::fs::read(self.blob_path(&record.sha256)).ok()?;
        (record.url == url && sha256_hex(&bytes) == record.sha256).then_some((record, bytes))
    }

    /// The photo at `url`: from the cache if the host says it is current, else downloaded
    /// (retrying what may pass) and cached.
    pub fn photo(&self, url: &str) -> Result<Download, Failure> {
        let mut attempt = 0;
        loop {
            match self.once(url) {
                Err(failure) if failure.retryable() && attempt < self.settings.retries => {
                    log::info!("retrying {url} after: {failure}");
                    std::thread::sleep(self.settings.backoff * 2u32.pow(attempt));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// The bytes at `url` (a feed, say), at most `max_bytes`, with the same retries; not
    /// cached and not checked to be an image.
    pub fn document(&self, url: &str, max_bytes: usize) -> Result<Vec<u8>, Failure> {
        let mut attempt = 0;
        loop {
            match self.get(url, None, max_bytes) {
                Ok((_, Some(bytes), _)) => return Ok(bytes),
                Ok((status, _, _)) => return Err(Failure::Status(status)),
                Err(failure) if failure.retryable() && attempt < self.settings.retries => {
                    std::thread::sleep(self.settings.backoff * 2u32.pow(attempt));
                    attempt += 1;
                }
                Err(failure) => return Err(failure),
            }
        }
    }

    /// One GET of `url`, conditional on `cached`: the status, the body of a 200, and the
    /// validators the host sent.
    #[allow(clippy::type_complexity)]
    fn get(
        &self,
        url: &str,
        cached: Option<&UrlRecord>,
        max_bytes: usize,
    ) -> Result<(u16, Option<Vec<u8>>, (Option<String>, Option<String>)), Failure> {
        let mut request = self.agent.get(url);
        if let Some(record) = cached {
            if let Some(etag) = &record.etag {
                request = request.header("If-None-Match", etag);
            }
            if let Some(modified) = &record.last_modified {
                request = request.header("If-Modified-Since", modified);
            }
        }
        let mut response = request.call().map_err(|e| match e {
            ureq::Error::Timeout(_) => Failure::Timeout,
            ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => Failure::Redirects,
            other => Failure::Network(other.to_string()),
        })?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let validators = (header("etag"), header("last-modified"));
        if status != 200 {
            if (300..400).contains(&status) && status != 304 {
                // A redirect left unfollowed: too many, or without a place to go.
                return Err(Failure::Redirects);
            }
            return match status {
                304 => Ok((status, None, validators)),
                _ => Err(Failure::Status(status)),
            };
        }
        let declared: Option<usize> = header("content-length").and_then(|l| l.parse().ok());
        if declared.is_some_and(|n| n > max_bytes) {
            return Err(Failure::TooLarge(max_bytes));
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(max_bytes as u64)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => Failure::TooLarge(max_bytes),
                ureq::Error::Timeout(_) => Failure::Timeout,
                other => Failure::Network(other.to_string()),
            })?;
        Ok((status, Some(bytes), validators))
    }

    fn once(&self, url: &str) -> Result<Download, Failure> {
        let cached = self.cached(url);
        let (status, body, (etag, last_modified)) = self.get(
            url,
            cached.as_ref().map(|(r, _)| r),
            self.settings.max_bytes,
        )?;
        match (status, body, cached) {
            (304, _, Some((record, bytes))) => Ok(Download {
                bytes,
                sha256: record.sha256,
                how: Fetched::Revalidated,
            }),
            // A 304 for a request that was not conditional: ask again for the bytes.
            (304, _, None) => Err(Failure::Status(304)),
            (_, Some(bytes), _) => {
                if let Some(what) = not_an_image(&bytes) {
                    return Err(Failure::NotAnImage(what));
                }
                let sha256 = sha256_hex(&bytes);
                let record = UrlRecord {
                    url: url.to_string(),
                    etag,
                    last_modified,
                    sha256: sha256.clone(),
                };
                let json =
                    serde_json::to_vec(&record).map_err(|e| Failure::Cache(e.to_string()))?;
                write_atomic(&self.blob_path(&sha256), &bytes)
                    .and_then(|()| write_atomic(&self.record_path(url), &json))
                    .map_err(|e| Failure::Cache(format!("{e:#}")))?;
                Ok(Download {
                    bytes,
                    sha256,
                    how: Fetched::Downloaded,
                })
            }
            (status, None, _) => Err(Failure::Status(status)),
        }
    }
}
