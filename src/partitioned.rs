//! Partitioned indexes on this machine and over HTTP: reading ranges of a published index's
//! files from a folder or from a host that answers range requests, and publishing one in a
//! folder (its files first, the manifest last, the previous generation's files kept for the
//! pages that started with it).

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use rayon::prelude::*;

use crate::error::AssetError;
use crate::files::{MAX_MANIFEST_BYTES, TEMP_PREFIX, inside, read_bounded, write_atomic};
use crate::index::INDEX_MANIFEST_FILE;
use crate::index::ivf::{
    PartitionedManifest, Publication, Published, Ranges, is_partitioned, part_name, parts_folder,
};

/// Most ranges read at once from an HTTP host.
const PARALLEL: usize = 8;

/// Whether `location` is an http(s) URL rather than a folder.
pub fn is_url(location: &str) -> bool {
    location.starts_with("http://") || location.starts_with("https://")
}

/// A published index's files in a folder.
#[derive(Debug, Clone)]
pub struct Folder {
    dir: PathBuf,
}

impl Folder {
    /// The index in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }
}

fn read_error(file: &str, detail: impl std::fmt::Display) -> AssetError {
    AssetError::Read {
        file: file.to_string(),
        detail: detail.to_string(),
    }
}

impl Ranges for Folder {
    fn read(&self, file: &str, ranges: &[Range<u64>]) -> Result<Vec<Vec<u8>>, AssetError> {
        let path = inside(&self.dir, file).map_err(|e| read_error(file, format!("{e:#}")))?;
        let mut f = std::fs::File::open(&path).map_err(|e| read_error(file, e))?;
        let meta = f.metadata().map_err(|e| read_error(file, e))?;
        if !meta.is_file() {
            return Err(read_error(file, "not a regular file"));
        }
        ranges
            .iter()
            .map(|r| {
                if r.start > r.end || r.end > meta.len() {
                    return Err(read_error(
                        file,
                        format!(
                            "the range {}..{} is past its end ({})",
                            r.start,
                            r.end,
                            meta.len()
                        ),
                    ));
                }
                let mut bytes = vec![0u8; (r.end - r.start) as usize];
                f.seek(SeekFrom::Start(r.start))
                    .and_then(|_| f.read_exact(&mut bytes))
                    .map_err(|e| read_error(file, e))?;
                Ok(bytes)
            })
            .collect()
    }
}

/// A published index on an HTTP host, read with range requests.
pub struct Http {
    base: String,
    agent: ureq::Agent,
    /// Set once the host sent a whole file for a range request.
    whole_only: std::sync::atomic::AtomicBool,
}

impl Http {
    /// The index whose manifest is `index.json` under `base` (a folder's URL).
    pub fn new(base: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(3)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_per_read(Some(Duration::from_secs(30)))
            .user_agent("deep-shopping (search)")
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_string(),
            agent,
            whole_only: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn url(&self, file: &str) -> String {
        format!("{}/{file}", self.base)
    }

    /// The whole of `file`, at most `max` bytes.
    pub fn whole(&self, file: &str, max: u64) -> Result<Vec<u8>, AssetError> {
        let mut response = self
            .agent
            .get(&self.url(file))
            .call()
            .map_err(|e| read_error(file, e))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(read_error(file, format!("the host answered {status}")));
        }
        response
            .body_mut()
            .with_config()
            .limit(max)
            .read_to_vec()
            .map_err(|e| read_error(file, e))
    }

    fn range(&self, file: &str, r: &Range<u64>) -> Result<Vec<u8>, AssetError> {
        if r.start >= r.end {
            return Ok(Vec::new());
        }
        let len = r.end - r.start;
        let mut response = self
            .agent
            .get(&self.url(file))
            .header("Range", &format!("bytes={}-{}", r.start, r.end - 1))
            .call()
            .map_err(|e| read_error(file, e))?;
        let status = response.status().as_u16();
        if status == 200 {
            // The body (the whole file) is left unread: the connection is dropped.
            self.whole_only
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(AssetError::RangesRefused { file: file.into() });
        }
        if status != 206 {
            return Err(read_error(
                file,
                format!(
                    "the host answered {status} to a range request (bytes {}..{}); it must answer 206 with the range",
                    r.start, r.end
                ),
            ));
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(len)
            .read_to_vec()
            .map_err(|e| read_error(file, e))?;
        if bytes.len() as u64 != len {
            return Err(read_error(
                file,
                format!("{} bytes for a range of {len}", bytes.len()),
            ));
        }
        Ok(bytes)
    }
}

/// Threads for `n` requests of `what`, at most [`PARALLEL`] at once.
fn requests(what: &str, n: usize) -> Result<rayon::ThreadPool, AssetError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(PARALLEL.min(n).max(1))
        .build()
        .map_err(|e| read_error(what, e))
}

impl Ranges for Http {
    fn read(&self, file: &str, ranges: &[Range<u64>]) -> Result<Vec<Vec<u8>>, AssetError> {
        requests(file, ranges.len())?
            .install(|| ranges.par_iter().map(|r| self.range(file, r)).collect())
    }

    fn read_whole(&self, files: &[(String, u64)]) -> Result<Vec<Vec<u8>>, AssetError> {
        requests("parts", files.len())?.install(|| {
            files
                .par_iter()
                .map(|(file, len)| {
                    let bytes = self.whole(file, *len)?;
                    if bytes.len() as u64 != *len {
                        return Err(read_error(
                            file,
                            format!("{} bytes where it has {len}", bytes.len()),
                        ));
                    }
                    Ok(bytes)
                })
                .collect()
        })
    }

    fn serves_ranges(&self) -> bool {
        !self.whole_only.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A partitioned index opened at `location` (a folder or an http(s) URL), with its reader.
pub fn open(location: &str) -> Result<(Published, Box<dyn Ranges + Send + Sync>)> {
    let (manifest, source): (Vec<u8>, Box<dyn Ranges + Send + Sync>) = if is_url(location) {
        let http = Http::new(location);
        let m = http.whole(INDEX_MANIFEST_FILE, MAX_MANIFEST_BYTES as u64)?;
        (m, Box::new(http))
    } else {
        let dir = Path::new(location);
        let m = read_bounded(&dir.join(INDEX_MANIFEST_FILE), MAX_MANIFEST_BYTES)?;
        (m, Box::new(Folder::new(dir)))
    };
    let manifest = PartitionedManifest::from_json(&manifest)
        .with_context(|| format!("in the index manifest at {location}"))?;
    let top = source
        .read_whole(&[(manifest.top.file.clone(), manifest.top.bytes)])?
        .pop()
        .unwrap_or_default();
    let published = Published::open(manifest, top)
        .with_context(|| format!("opening the partitioned index at {location}"))?;
    Ok((published, source))
}

/// Files a partitioned publication names as [`crate::index::ivf::publish`] names them:
/// `<stem>-<16 hex digits>.<ext>`.
fn ours(name: &str) -> bool {
    let hex16 = |s: &str| s.len() == 16 && s.chars().all(|c| c.is_ascii_hexdigit());
    [
        ("top-", ".safetensors"),
        ("lists-", ".bin"),
        ("records-", ".bin"),
        ("items-", ".json"),
        ("thumbnails-", ".json"),
    ]
    .iter()
    .any(|(p, x)| {
        name.strip_prefix(p)
            .and_then(|n| n.strip_suffix(x))
            .is_some_and(hex16)
    })
}

/// Publishes `publication` in `dir`: its files (thumbnails already written), then the
/// manifest. A page that loaded the replaced manifest may still read its files, so they stay
/// until the next publication; files of older generations are removed then, and so are any a
/// killed publication left. Returns the bytes written.
pub fn publish(dir: &Path, publication: &Publication) -> Result<u64> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let previous = read_bounded(&dir.join(INDEX_MANIFEST_FILE), MAX_MANIFEST_BYTES)
        .ok()
        .filter(|b| is_partitioned(b))
        .and_then(|b| PartitionedManifest::from_json(&b).ok());
    let mut written = 0u64;
    for (name, bytes) in &publication.files {
        write_atomic(&inside(dir, name)?, bytes)?;
        written += bytes.len() as u64;
    }
    written += write_parts(dir, publication)?;
    let manifest = publication.manifest.to_json()?;
    write_atomic(&dir.join(INDEX_MANIFEST_FILE), &manifest)?;
    let kept: std::collections::HashSet<&str> = publication
        .manifest
        .files()
        .into_iter()
        .chain(previous.iter().flat_map(|p| p.files()))
        .collect();
    let folders: std::collections::HashSet<&str> = kept.iter().map(|f| parts_folder(f)).collect();
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let removed = if ours(&name) && !kept.contains(name.as_str()) {
            std::fs::remove_file(&path)
        } else if (ours_folder(&name) && !folders.contains(name.as_str()))
            || (name.starts_with(TEMP_PREFIX) && path.is_dir())
        {
            std::fs::remove_dir_all(&path)
        } else {
            Ok(())
        };
        removed.with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(written + manifest.len() as u64)
}

/// Folders of part files [`write_parts`] names: a segment file's name without its extension.
fn ours_folder(name: &str) -> bool {
    ["lists-", "records-", "items-"].iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|h| h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit()))
    })
}

/// Writes the part files of every segment file `publication`'s manifest names, where it asks
/// for parts, unless their folder is there: each folder written under a temporary name and
/// renamed into place whole. The bytes of files kept from before are read back (and checked)
/// from `dir`. Returns the bytes written.
fn write_parts(dir: &Path, publication: &Publication) -> Result<u64> {
    let m = &publication.manifest;
    if m.parts.is_none() {
        return Ok(0);
    }
    let new = |name: &str| {
        publication
            .files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b)
    };
    let top = new(&m.top.file).context("the publication has no top file")?;
    let published = Published::open(m.clone(), top.clone())?;
    let mut written = 0u64;
    for segment in m.segments() {
        for entry in [&segment.lists, &segment.records, &segment.items] {
            let folder = inside(dir, parts_folder(&entry.file))?;
            if folder.is_dir() {
                continue;
            }
            let kept;
            let bytes = match new(&entry.file) {
                Some(bytes) => bytes,
                None => {
                    kept = read_bounded(&inside(dir, &entry.file)?, entry.bytes as usize)?;
                    entry.verify(&kept)?;
                    &kept
                }
            };
            let split = published
                .split(&entry.file)
                .context("the manifest does not name its own file")?;
            let tmp = tempfile::Builder::new()
                .prefix(TEMP_PREFIX)
                .tempdir_in(dir)
                .with_context(|| format!("creating a temporary folder in {}", dir.display()))?;
            (0..split.count())
                .into_par_iter()
                .filter(|n| !split.part(*n).is_empty())
                .try_for_each(|n| {
                    let r = split.part(n);
                    let name = part_name(&entry.file, n);
                    let file = name.rsplit('/').next().unwrap_or(&name);
                    let path = tmp.path().join(file);
                    let mut f = std::fs::File::create(&path)?;
                    std::io::Write::write_all(&mut f, &bytes[r.start as usize..r.end as usize])?;
                    f.sync_all()
                })
                .with_context(|| format!("writing the parts of {}", entry.file))?;
            #[cfg(unix)]
            std::fs::set_permissions(
                tmp.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )?;
            std::fs::rename(tmp.keep(), &folder)
                .with_context(|| format!("renaming into {}", folder.display()))?;
            written += bytes.len() as u64;
        }
    }
    Ok(written)
}

/// Puts the thumbnails `images` (paths under `from`, each `images/<name>`) under `to`: a hard
/// link where the two folders share a file system, a copy elsewhere.
pub fn carry_images(from: &Path, to: &Path, images: &[String]) -> Result<()> {
    if images.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(to.join("images"))
        .with_context(|| format!("creating {}", to.join("images").display()))?;
    for image in images {
        let (src, dst) = (inside(from, image)?, inside(to, image)?);
        if dst.exists() {
            continue;
        }
        if std::fs::hard_link(&src, &dst).is_err() {
            let bytes = read_bounded(&src, 64 << 20)?;
            write_atomic(&dst, &bytes)?;
        }
    }
    Ok(())
}
