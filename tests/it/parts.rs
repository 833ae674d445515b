//! A partitioned index published with part files (issue 23's layout for hosts without range
//! requests): the parts are the files' bytes, one file per cell for the codes; over HTTP from
//! a host that answers range requests with whole files, a query reads the parts holding what
//! it would have read by range (trying ranges once) and finds the same results; a damaged
//! part is a clear error; an update keeps the parts and old generations' parts are removed.

use std::path::Path;
use std::sync::atomic::Ordering;

use deep_shopping::index::CatalogueIndex;
use deep_shopping::index::ivf::{
    Partitioned, Parts, Probe, Publication, Published, Update, UpdatePolicy, held, part_name,
    parts_folder, publish, update,
};
use deep_shopping::partitioned::{self, open};

use crate::published::{MODEL, catalogue, entries, layout, search_plain, serve};

const PARTS: Parts = Parts {
    records: 4,
    item_bytes: 512,
};

/// `n` items partitioned into `cells` and published in `dir` with [`PARTS`].
fn published_with_parts(dir: &Path, n: usize, cells: usize) -> (CatalogueIndex, Publication) {
    let index = catalogue(n);
    let built = Partitioned::build(&index, &layout(cells));
    let mut publication = publish(&index, &built, MODEL, Vec::new()).unwrap();
    publication.manifest.parts = Some(PARTS);
    partitioned::publish(dir, &publication).unwrap();
    (index, publication)
}

/// Every segment file of the index in `dir` is its parts laid end to end, one file per part
/// that is not empty, nothing else in their folders.
fn check_parts(dir: &Path, published: &Published) {
    for segment in published.manifest.segments() {
        for entry in [&segment.lists, &segment.records, &segment.items] {
            let split = published.split(&entry.file).unwrap();
            let bytes = std::fs::read(dir.join(&entry.file)).unwrap();
            let mut joined = Vec::new();
            let mut files = 0;
            for n in 0..split.count() {
                let path = dir.join(part_name(&entry.file, n));
                if split.part(n).is_empty() {
                    assert!(!path.exists(), "{} is empty but published", path.display());
                    continue;
                }
                joined.extend(std::fs::read(&path).unwrap());
                files += 1;
            }
            assert_eq!(joined, bytes, "the parts of {}", entry.file);
            let listed = std::fs::read_dir(dir.join(parts_folder(&entry.file)))
                .unwrap()
                .count();
            assert_eq!(listed, files, "files in the parts folder of {}", entry.file);
        }
    }
}

#[test]
fn a_host_without_ranges_is_read_by_parts_with_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let (index, publication) = published_with_parts(dir.path(), 600, 6);
    let (local, folder) = open(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(local.manifest.parts, Some(PARTS));
    // One part per cell for the codes, runs of 4 records, 512-byte slices of metadata.
    let m = &publication.manifest;
    assert_eq!(local.split(&m.lists.file).unwrap().count(), 6);
    assert_eq!(local.split(&m.records.file).unwrap().count(), 150);
    assert_eq!(
        local.split(&m.items.file).unwrap().count() as u64,
        m.items.bytes.div_ceil(512)
    );
    check_parts(dir.path(), &local);

    let host = serve(dir.path());
    host.ranges.store(false, Ordering::SeqCst);
    let (remote, source) = open(&host.url).unwrap();
    let probe = Probe {
        cells: 2,
        candidates: 40,
    };
    let requests = || host.requests.load(Ordering::SeqCst);
    for (k, q) in [77, 5, 300].into_iter().enumerate() {
        let d = index.description(q);
        let before = requests();
        let (by_parts, trace) =
            search_plain(&remote, source.as_ref(), d.query(), probe, 10).unwrap();
        let (by_range, ranged) =
            search_plain(&local, folder.as_ref(), d.query(), probe, 10).unwrap();
        assert_eq!(by_parts, by_range, "query {q}");
        assert!(!by_parts.is_empty());
        assert_eq!(trace.rounds(), ranged.rounds());
        assert_eq!(trace.probed, ranged.probed);
        // The probed cells' parts: one file each.
        let cells = trace
            .probed
            .iter()
            .filter(|c| !local.cell_range(0, **c).is_empty());
        assert_eq!(trace.cells.requests, cells.count());
        let made = requests() - before;
        if k == 0 {
            // The first query asks once for ranges of the lists file, answered whole.
            let refused = made - trace.requests();
            assert!((1..=2).contains(&refused), "{refused} refused requests");
        } else {
            assert_eq!(made, trace.requests(), "query {q}: parts only");
        }
    }

    // A damaged part is an error naming its cell; the other cells still read.
    let d = index.description(77);
    let plan = remote
        .plan(d.query(), deep_shopping::index::Blend::DEFAULT, 1)
        .unwrap();
    let cell = plan.cells[0];
    let part = dir.path().join(part_name(&m.lists.file, cell));
    let mut bytes = std::fs::read(&part).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&part, bytes).unwrap();
    let err = search_plain(&remote, source.as_ref(), d.query(), probe, 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("(cell {cell})")), "{err}");
    let far = (0..600)
        .find(|q| {
            let d = index.description(*q);
            !remote
                .plan(d.query(), deep_shopping::index::Blend::DEFAULT, 2)
                .unwrap()
                .cells
                .contains(&cell)
        })
        .unwrap();
    let d = index.description(far);
    assert!(search_plain(&remote, source.as_ref(), d.query(), probe, 10).is_ok());
}

#[test]
fn an_update_keeps_the_parts_and_older_generations_parts_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (_, first) = published_with_parts(dir.path(), 400, 4);
    let folders = |p: &Publication| -> Vec<String> {
        p.manifest
            .segments()
            .iter()
            .flat_map(|s| [&s.lists, &s.records, &s.items])
            .map(|f| parts_folder(&f.file).to_string())
            .collect()
    };
    // A delta: a few items changed and added.
    let mut next = entries(410);
    next[3].item.title = "Item 3, new season".into();
    let index = CatalogueIndex::build(next).unwrap();
    let (previous, source) = open(dir.path().to_str().unwrap()).unwrap();
    let held = held(&previous, source.as_ref()).unwrap();
    let Update::Delta { publication, .. } =
        update(&previous, &held, &index, Vec::new(), &UpdatePolicy::DEFAULT).unwrap()
    else {
        panic!("a delta was expected");
    };
    assert_eq!(publication.manifest.parts, Some(PARTS));
    assert_eq!(publication.manifest.deltas.len(), 1);
    partitioned::publish(dir.path(), &publication).unwrap();
    let (now, _) = open(dir.path().to_str().unwrap()).unwrap();
    check_parts(dir.path(), &now);
    // Two publications later, the first one's parts are gone (those the newest still names
    // stay), and no temporary folder is left.
    let (_, _third) = published_with_parts(dir.path(), 420, 4);
    let (_, fourth) = published_with_parts(dir.path(), 430, 4);
    let kept: Vec<String> = folders(&fourth);
    for folder in folders(&first) {
        assert!(
            kept.contains(&folder) || !dir.path().join(&folder).exists(),
            "{folder} of an old generation kept"
        );
    }
    let (newest, _) = open(dir.path().to_str().unwrap()).unwrap();
    check_parts(dir.path(), &newest);
    let stray: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}
