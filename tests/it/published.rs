//! The partitioned index as published files (issue 23): a query that reads ranges of them from
//! a folder or from an HTTP server on loopback finds what the in-memory partition finds and,
//! probing everything, what exact search finds (filters and variants included); damaged,
//! missing or cut files and a host without range requests give clear errors; a publication
//! keeps the previous generation's files and removes older ones.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use deep_shopping::colour::HIST_LEN;
use deep_shopping::error::AssetError;
use deep_shopping::index::ivf::{
    CellCache, Found, Layout, Partitioned, PartitionedManifest, Probe, Publication, Published,
    Ranges, Request, Space, SplitMix, Trace, publish, search, search_async,
};
use deep_shopping::index::{
    Availability, Blend, CatalogueIndex, IndexEntry, Item, Query, Variants, rank_where,
};
use deep_shopping::partitioned::{self, Folder, open};
use tiny_http::{Header, Response, Server};

pub(crate) const MODEL: &str = "0123456789abcdef";

/// `n` items in clusters of look, with colours, categories, variant groups of three and
/// every fifth item out of stock.
pub(crate) fn catalogue(n: usize) -> CatalogueIndex {
    CatalogueIndex::build(entries(n)).unwrap()
}

/// The entries of [`catalogue`].
pub(crate) fn entries(n: usize) -> Vec<IndexEntry> {
    let (dim, classes) = (16, 5);
    let mut rng = SplitMix::new(11);
    (0..n)
        .map(|i| {
            let cluster = i % 7;
            let embedding: Vec<f32> = (0..dim)
                .map(|d| if d % 7 == cluster { 1.0 } else { 0.0 } + 0.4 * rng.normal())
                .collect();
            let mut histogram = vec![0.0; HIST_LEN];
            histogram[(i * 13) % HIST_LEN] = 0.6;
            histogram[(i * 29 + 5) % HIST_LEN] = 0.4;
            let mut probabilities = vec![0.05; classes];
            probabilities[i % classes] = 0.8;
            IndexEntry {
                item: Item {
                    id: format!("item-{i}"),
                    title: format!("Item {i}"),
                    group: (i % 2 == 0).then(|| format!("group-{}", i / 6)),
                    availability: (i % 5 == 0).then_some(Availability::OutOfStock),
                    ..Item::default()
                },
                embedding,
                histogram,
                probabilities,
            }
        })
        .collect()
}

pub(crate) fn layout(cells: usize) -> Layout {
    Layout {
        cells,
        space: Space::for_blend(Blend::DEFAULT),
        embedding_bytes: 4,
        colour_bytes: 4,
        category_bytes: 1,
        sample: 500,
        iterations: 8,
        seed: 1,
    }
}

/// A catalogue of `n` items, partitioned into `cells` and published in `dir`.
fn published(dir: &Path, n: usize, cells: usize) -> (CatalogueIndex, Partitioned, Publication) {
    published_in(dir, n, layout(cells))
}

/// [`published`] with `layout`.
pub(crate) fn published_in(
    dir: &Path,
    n: usize,
    layout: Layout,
) -> (CatalogueIndex, Partitioned, Publication) {
    let index = catalogue(n);
    let built = Partitioned::build(&index, &layout);
    let publication = publish(&index, &built, MODEL, Vec::new()).unwrap();
    partitioned::publish(dir, &publication).unwrap();
    (index, built, publication)
}

/// Serves `dir` on loopback, answering `Range: bytes=a-b` with 206 unless `ranges` is off;
/// counts the requests.
pub(crate) struct Host {
    pub(crate) url: String,
    pub(crate) requests: Arc<AtomicUsize>,
    pub(crate) ranges: Arc<AtomicBool>,
}

pub(crate) fn serve(dir: &Path) -> Host {
    let server = Arc::new(Server::http("127.0.0.1:0").unwrap());
    let port = server.server_addr().to_ip().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let ranges = Arc::new(AtomicBool::new(true));
    let (dir, count, with_ranges) = (dir.to_path_buf(), requests.clone(), ranges.clone());
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            count.fetch_add(1, Ordering::SeqCst);
            let name = request.url().trim_start_matches('/').to_string();
            let Ok(bytes) = std::fs::read(dir.join(&name)) else {
                request.respond(Response::empty(404)).ok();
                continue;
            };
            let range = request
                .headers()
                .iter()
                .find(|h| h.field.equiv("Range"))
                .and_then(|h| h.value.as_str().strip_prefix("bytes=").map(str::to_string))
                .and_then(|r| {
                    let (a, b) = r.split_once('-')?;
                    Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?))
                });
            let answer = match range {
                Some((a, b)) if with_ranges.load(Ordering::SeqCst) && a <= b && b < bytes.len() => {
                    let header = format!("bytes {a}-{b}/{}", bytes.len())
                        .parse::<String>()
                        .unwrap();
                    Response::from_data(bytes[a..=b].to_vec())
                        .with_status_code(206)
                        .with_header(Header::from_bytes("Content-Range", header).unwrap())
                }
                _ => Response::from_data(bytes),
            };
            request.respond(answer).ok();
        }
    });
    Host {
        url: format!("http://127.0.0.1:{port}"),
        requests,
        ranges,
    }
}

/// [`search`] with the default blend, every variant and no item left out: what most of
/// these tests ask.
pub(crate) fn search_plain(
    published: &Published,
    source: &(dyn Ranges + '_),
    query: Query<'_>,
    probe: Probe,
    top: usize,
) -> Result<(Vec<Found>, Trace), AssetError> {
    let request = Request {
        probe,
        ..Request::top(top)
    };
    search(published, source, query, request, |_| true)
}

pub(crate) fn ids(found: &[Found]) -> Vec<String> {
    found.iter().map(|f| f.item.id.clone()).collect()
}

/// Runs `future` to its end; the folder reader's futures are ready at once.
fn now<T>(future: impl std::future::Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

#[test]
fn cells_read_once_are_kept_within_the_cache_budget_and_what_was_read_ranks_as_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let (index, _, _) = published(dir.path(), 900, 9);
    let (opened, source) = open(dir.path().to_str().unwrap()).unwrap();
    let probe = Probe {
        cells: 3,
        candidates: 60,
    };
    let code_len = opened.manifest.code_len;
    let largest = (0..9)
        .map(|c| opened.cell_positions(0, c).len())
        .max()
        .unwrap()
        * code_len;
    // Room for about three cells.
    let cache = CellCache::new(3 * largest);
    let query = |q: usize| {
        let d = index.description(q);
        now(search_async(
            &opened,
            source.as_ref(),
            Some(&cache),
            d.query(),
            Request {
                probe,
                ..Request::top(10)
            },
            |_| true,
        ))
        .unwrap()
    };
    let (first, cold) = query(41);
    assert_eq!(cold.cached_cells, 0);
    assert!(cold.cells.requests >= 1);
    assert_eq!(cold.probed.len(), 3);
    let (again, warm) = query(41);
    // The same cells again: none read, the same results.
    assert_eq!(warm.cached_cells, 3);
    assert_eq!(warm.cells, Default::default());
    assert_eq!(warm.probed, cold.probed);
    assert_eq!(ids(&again), ids(&first));
    let (blocking, _) = search_plain(
        &opened,
        source.as_ref(),
        index.description(41).query(),
        probe,
        10,
    )
    .unwrap();
    assert_eq!(ids(&blocking), ids(&first));
    // Other queries fill it; it never holds more than its budget.
    for q in (0..900).step_by(37) {
        query(q);
        assert!(
            cache.bytes() <= 3 * largest,
            "{} > {}",
            cache.bytes(),
            3 * largest
        );
    }
    assert!(cache.bytes() > 0);

    // What queries read, as a catalogue: it ranks those items as the whole index does, and
    // measures feedback from the whole catalogue's centre.
    let read: Vec<_> = first
        .iter()
        .map(|f| (f.record.clone(), f.item.clone()))
        .collect();
    let small = opened.catalogue(read.iter().map(|(r, i)| (r, i))).unwrap();
    assert_eq!(small.len(), first.len());
    for (a, b) in small.centre().iter().zip(index.centre()) {
        assert!((a - b).abs() < 0.02, "{a} vs {b}");
    }
    let d = index.description(41);
    let ranked = deep_shopping::index::rank(&small, d.query(), Blend::DEFAULT, 10);
    for (h, f) in ranked.iter().zip(&first) {
        assert_eq!(small.items[h.index].id, f.item.id);
        assert!((h.score - f.hit.score).abs() < 1e-5);
    }
}

#[test]
fn reading_ranges_finds_what_the_partition_and_exact_search_find() {
    // Cells in the blend's space, and by look alone (a top file without the space's scales,
    // as published before them): the reader probes the cells the partition would.
    read_ranges_in(Space::EMBEDDING);
    read_ranges_in(Space::for_blend(Blend::DEFAULT));
}

/// [`reading_ranges_finds_what_the_partition_and_exact_search_find`] with cells in `space`.
fn read_ranges_in(space: Space) {
    let dir = tempfile::tempdir().unwrap();
    let (index, built, publication) = published_in(dir.path(), 900, Layout { space, ..layout(9) });
    let (opened, source) = open(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(opened.manifest, publication.manifest);
    for q in [0, 41, 517] {
        let d = index.description(q);
        // A few cells and candidates: the same items and scores as the in-memory partition.
        let probe = Probe {
            cells: 3,
            candidates: 60,
        };
        let (expected, _) = built.search(&index, d.query(), Blend::DEFAULT, probe, 10);
        let (found, trace) = search_plain(&opened, source.as_ref(), d.query(), probe, 10).unwrap();
        let want: Vec<String> = expected
            .iter()
            .map(|h| index.items[h.index].id.clone())
            .collect();
        assert_eq!(ids(&found), want);
        for (f, h) in found.iter().zip(&expected) {
            assert!((f.hit.score - h.score).abs() < 1e-5, "{f:?} {h:?}");
        }
        assert_eq!(found[0].item, index.items[q], "the item finds itself first");
        // Three rounds: 3 cells, the candidates' records, one batch of metadata.
        assert_eq!(trace.rounds(), 3);
        // Cells that lie next to each other in the file are read as one range.
        assert!((1..=3).contains(&trace.cells.requests));
        assert_eq!(trace.candidates, 60);
        assert!(trace.records.requests <= 60 && trace.items[0].requests <= 20);

        // Every cell and every candidate, with filters and one variant per group: exact
        // search's results.
        let all = Probe {
            cells: 9,
            candidates: 900,
        };
        let keep = |item: &Item| item.orderable();
        let exact = rank_where(&index, d.query(), Blend::DEFAULT, 12, Variants::Best, keep);
        let (found, trace) = search(
            &opened,
            source.as_ref(),
            d.query(),
            Request {
                probe: all,
                variants: Variants::Best,
                orderable_only: true,
                ..Request::top(12)
            },
            keep,
        )
        .unwrap();
        let want: Vec<String> = exact
            .iter()
            .map(|h| index.items[h.index].id.clone())
            .collect();
        assert_eq!(ids(&found), want);
        assert!(found.iter().all(|f| f.item.orderable()));
        // All cells and all records are read; merged, they take few requests.
        assert_eq!(trace.cells.bytes, publication.manifest.lists.bytes);
        assert_eq!(trace.records.bytes, publication.manifest.records.bytes);
    }
}

#[test]
fn over_http_a_query_reads_ranges_and_a_host_without_them_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (index, _, publication) = published(dir.path(), 600, 6);
    let host = serve(dir.path());
    let (opened, source) = open(&host.url).unwrap();
    let (local, folder) = open(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(opened.manifest, local.manifest);
    // The manifest and the top file.
    assert_eq!(host.requests.load(Ordering::SeqCst), 2);
    let d = index.description(77);
    let probe = Probe {
        cells: 2,
        candidates: 40,
    };
    let run = |source: &dyn Ranges, published: &Published| {
        search_plain(published, source, d.query(), probe, 10).unwrap()
    };
    let (over_http, trace) = run(source.as_ref(), &opened);
    let (from_folder, _) = run(folder.as_ref(), &local);
    assert_eq!(over_http, from_folder);
    assert_eq!(
        host.requests.load(Ordering::SeqCst),
        2 + trace.requests(),
        "one HTTP request per range read"
    );
    assert!(trace.bytes() < publication.manifest.lists.bytes + publication.manifest.records.bytes);

    host.ranges.store(false, Ordering::SeqCst);
    let err = search_plain(&opened, source.as_ref(), d.query(), probe, 10)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sent the whole file for a range request")
            && err.contains("partition --parts"),
        "{err}"
    );
}

/// Overwrites byte `at` of `file` in `dir`.
fn damage(dir: &Path, file: &str, at: u64) {
    let path = dir.join(file);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[at as usize] ^= 0x5a;
    std::fs::write(&path, bytes).unwrap();
}

/// The first error of a query for item `q`'s description probing `cells` cells, on a fresh
/// publication of 600 items damaged by `spoil` (given the folder, the manifest and the index).
fn spoiled(
    q: usize,
    cells: usize,
    spoil: impl FnOnce(&Path, &PartitionedManifest, &Published),
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (index, _, publication) = published(dir.path(), 600, 6);
    let (opened, source) = open(dir.path().to_str().unwrap()).unwrap();
    spoil(dir.path(), &publication.manifest, &opened);
    drop((opened, source));
    first_found(dir.path(), &index, q, cells)
}

/// The first error of a query for `index`'s item `q` probing `cells` cells (30 candidates)
/// of the index in `dir`, or the id it found first.
pub(crate) fn first_found(dir: &Path, index: &CatalogueIndex, q: usize, cells: usize) -> String {
    let (opened, source) = open(dir.to_str().unwrap()).unwrap();
    let d = index.description(q);
    let probe = Probe {
        cells,
        candidates: 30,
    };
    search_plain(&opened, source.as_ref(), d.query(), probe, 5)
        .map(|(found, _)| format!("found {}", found[0].item.id))
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn damaged_missing_or_cut_files_give_clear_errors_and_other_queries_still_work() {
    let index = catalogue(600);
    let nearest = |published: &Published, q: usize| {
        let d = index.description(q);
        published.plan(d.query(), Blend::DEFAULT, 1).unwrap().cells[0]
    };
    // One damaged cell: a query that reads it fails naming it, one that does not still works.
    let err = spoiled(5, 1, |dir, m, p| {
        damage(dir, &m.lists.file, p.cell_range(0, nearest(p, 5)).start)
    });
    assert!(
        err.contains(" (cell ") && err.contains("checksum mismatch"),
        "{err}"
    );
    let found = spoiled(5, 1, |dir, m, p| {
        let other = (0..p.manifest.cells).find(|c| *c != nearest(p, 5)).unwrap();
        damage(dir, &m.lists.file, p.cell_range(0, other).start)
    });
    assert_eq!(found, "found item-5");

    // A damaged record, or damaged metadata of a shown item: checksum errors naming them.
    let err = spoiled(5, 6, |dir, m, _| {
        for at in (10..m.records.bytes).step_by(m.record_len()) {
            damage(dir, &m.records.file, at);
        }
    });
    assert!(
        err.contains(" (record ") && err.starts_with("checksum mismatch for records-"),
        "{err}"
    );
    let err = spoiled(5, 6, |dir, m, _| {
        let len = std::fs::metadata(dir.join(&m.items.file)).unwrap().len();
        for at in (0..len).step_by(7) {
            damage(dir, &m.items.file, at);
        }
    });
    assert!(
        err.contains(" (item ") && err.contains("checksum mismatch"),
        "{err}"
    );

    // A missing file, and one cut short.
    let err = spoiled(5, 2, |dir, m, _| {
        std::fs::remove_file(dir.join(&m.items.file)).unwrap()
    });
    assert!(err.starts_with("cannot read items-"), "{err}");
    let err = spoiled(5, 6, |dir, m, _| {
        let path = dir.join(&m.records.file);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    });
    assert!(
        err.starts_with("cannot read records-") && err.contains("past its end"),
        "{err}"
    );

    // A manifest whose sizes disagree or that names a file outside its folder, and a top
    // file that is not the one named.
    let dir = tempfile::tempdir().unwrap();
    let (_, _, publication) = published(dir.path(), 300, 3);
    let m = &publication.manifest;
    let mut bad = m.clone();
    bad.records.bytes -= 1;
    let err = PartitionedManifest::from_json(&bad.to_json().unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains(&bad.records.file), "{err}");
    let mut escaping = m.clone();
    escaping.lists.file = "../lists.bin".into();
    assert!(PartitionedManifest::from_json(&escaping.to_json().unwrap()).is_err());
    let mut top = std::fs::read(dir.path().join(&m.top.file)).unwrap();
    let last = top.len() - 1;
    top[last] ^= 1;
    let err = Published::open(m.clone(), top).unwrap_err().to_string();
    assert!(err.contains("checksum mismatch"), "{err}");
}

#[test]
fn a_publication_keeps_the_previous_generation_and_removes_older_ones() {
    let dir = tempfile::tempdir().unwrap();
    let files =
        |p: &Publication| -> Vec<String> { p.files.iter().map(|(name, _)| name.clone()).collect() };
    let (_, _, first) = published(dir.path(), 300, 3);
    // A page that started with the first generation keeps reading it after the second.
    let (_, _, second) = published(dir.path(), 310, 3);
    let (old, old_source) = {
        let top = std::fs::read(dir.path().join(&first.manifest.top.file)).unwrap();
        (
            Published::open(first.manifest.clone(), top.clone()).unwrap(),
            Folder::new(dir.path()),
        )
    };
    let index = catalogue(300);
    let d = index.description(3);
    let probe = Probe {
        cells: 3,
        candidates: 300,
    };
    let (found, _) = search_plain(&old, &old_source, d.query(), probe, 5).unwrap();
    assert_eq!(found[0].item.id, "item-3");
    for name in files(&first).iter().chain(&files(&second)) {
        assert!(dir.path().join(name).is_file(), "{name} removed too soon");
    }
    let (_, _, third) = published(dir.path(), 320, 3);
    for name in files(&first) {
        assert!(
            !dir.path().join(&name).exists(),
            "{name} of two generations ago kept"
        );
    }
    for name in files(&second).iter().chain(&files(&third)) {
        assert!(dir.path().join(name).is_file(), "{name} removed");
    }
    // The manifest names the newest.
    let (now, _) = open(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(now.manifest, third.manifest);
}

#[test]
fn the_top_file_holds_int8_centroids_and_codebooks_and_an_older_f32_one_still_reads() {
    use safetensors::{Dtype, SafeTensors};
    let dir = tempfile::tempdir().unwrap();
    let (index, built, publication) = published(dir.path(), 900, 9);
    let dtypes = |top: &[u8]| -> Vec<Dtype> {
        let file = SafeTensors::deserialize(top).unwrap();
        ["centroids", "codebooks"]
            .map(|name| file.tensor(name).unwrap().dtype())
            .to_vec()
    };
    assert_eq!(dtypes(&publication.files[0].1), [Dtype::I8, Dtype::I8]);
    // Centroids that int8 cannot hold exactly, as builds before the int8 top file made them
    // (and an update of such an index keeps): f32 in the top file, read as they are.
    let mut older = built.clone();
    older
        .centroids
        .iter_mut()
        .for_each(|v| *v = *v * 1.001 + 1e-4);
    let republished = publish(&index, &older, MODEL, Vec::new()).unwrap();
    assert_eq!(dtypes(&republished.files[0].1), [Dtype::F32, Dtype::I8]);
    let other = tempfile::tempdir().unwrap();
    partitioned::publish(other.path(), &republished).unwrap();
    for (dir, ivf) in [(dir.path(), &built), (other.path(), &older)] {
        let (opened, source) = open(dir.to_str().unwrap()).unwrap();
        let probe = Probe {
            cells: 3,
            candidates: 60,
        };
        for q in [3, 300] {
            // The reader probes the cells and scores the codes as the partition in memory.
            let d = index.description(q);
            let (expected, _) = ivf.search(&index, d.query(), Blend::DEFAULT, probe, 10);
            let (found, trace) =
                search_plain(&opened, source.as_ref(), d.query(), probe, 10).unwrap();
            let want: Vec<usize> = expected.iter().map(|h| h.index).collect();
            let got: Vec<usize> = found
                .iter()
                .map(|f| index.items.iter().position(|i| i.id == f.item.id).unwrap())
                .collect();
            assert_eq!(got, want);
            for (f, h) in found.iter().zip(&expected) {
                assert!((f.hit.score - h.score).abs() < 1e-5, "{f:?} {h:?}");
            }
            assert_eq!(trace.probed.len(), 3);
        }
    }
}
