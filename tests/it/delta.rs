//! Updating a published partitioned index (issue 23): a 1% change of the catalogue becomes a
//! delta segment and a removed set that queries see at once (probing everything still gives
//! exact search's results on the new catalogue), republishing under 5% of the bytes; a cell
//! with many changes is rewritten, too many deltas are merged, and a large or drifting change
//! asks for a full re-partition.

use std::path::Path;

use deep_shopping::index::ivf::{
    Changes, Partitioned, Probe, Publication, Published, Update, UpdatePolicy, held, publish,
    update,
};
use deep_shopping::index::{Availability, Blend, CatalogueIndex, IndexEntry, rank};
use deep_shopping::partitioned::{self, open};

use crate::published::{MODEL, entries, first_found, ids, layout, search_plain};

const ITEMS: usize = 20_000;
const CELLS: usize = 20;

/// Publishes the catalogue of `entries` in `dir` as a base.
fn base(dir: &Path, entries: Vec<IndexEntry>) -> Partitioned {
    let index = CatalogueIndex::build(entries).unwrap();
    let built = Partitioned::build(&index, &layout(CELLS));
    partitioned::publish(dir, &publish(&index, &built, MODEL, Vec::new()).unwrap()).unwrap();
    built
}

/// Updates the index in `dir` to `entries` by `policy`, publishing what it gives.
fn apply(dir: &Path, entries: Vec<IndexEntry>, policy: &UpdatePolicy) -> (Update, CatalogueIndex) {
    let index = CatalogueIndex::build(entries).unwrap();
    let (previous, source) = open(dir.to_str().unwrap()).unwrap();
    let held = held(&previous, source.as_ref()).unwrap();
    assert_eq!(held.len(), previous.live_items());
    let outcome = update(&previous, &held, &index, Vec::new(), policy).unwrap();
    if let Update::Delta { publication, .. } = &outcome {
        partitioned::publish(dir, publication).unwrap();
    }
    (outcome, index)
}

/// [`apply`], which must give a delta: what it published and what changed.
fn apply_delta(
    dir: &Path,
    entries: Vec<IndexEntry>,
    policy: &UpdatePolicy,
) -> (Box<Publication>, Changes, CatalogueIndex) {
    match apply(dir, entries, policy) {
        (
            Update::Delta {
                publication,
                changes,
            },
            index,
        ) => (publication, changes, index),
        (outcome, _) => panic!("{outcome:?}"),
    }
}

/// Probing every cell and ranking every candidate gives exact search's results on `index`
/// for a spread of queries, the scores within 1e-4.
fn matches_exact(dir: &Path, index: &CatalogueIndex) -> Published {
    let (opened, source) = open(dir.to_str().unwrap()).unwrap();
    assert_eq!(opened.live_items(), index.len());
    let all = Probe {
        cells: CELLS,
        candidates: index.len(),
    };
    for q in (0..index.len()).step_by(1_777) {
        let d = index.description(q);
        let exact = rank(index, d.query(), Blend::DEFAULT, 10);
        let (found, _) = search_plain(&opened, source.as_ref(), d.query(), all, 10).unwrap();
        let want: Vec<String> = exact
            .iter()
            .map(|h| index.items[h.index].id.clone())
            .collect();
        assert_eq!(ids(&found), want, "query {q}");
        for (f, h) in found.iter().zip(&exact) {
            assert!((f.hit.score - h.score).abs() < 1e-4, "query {q}");
            assert_eq!(f.item, index.items[h.index], "query {q}");
        }
    }
    opened
}

/// A change of 1% of `n` items: 100 removed a 20,000, 50 retitled, 10 out of stock, 40 new.
fn one_percent(n: usize) -> Vec<IndexEntry> {
    let mut all = entries(n + 40);
    let fresh = all.split_off(n);
    let mut changed: Vec<IndexEntry> = all
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % 200 != 7)
        .map(|(i, mut e)| {
            if i % 400 == 3 {
                e.item.title = format!("{} (new season)", e.item.title);
            }
            if i % 2000 == 11 {
                e.item.availability = Some(Availability::OutOfStock);
            }
            e
        })
        .collect();
    changed.extend(fresh);
    changed
}

#[test]
fn a_one_percent_change_is_a_small_delta_that_queries_see() {
    let dir = tempfile::tempdir().unwrap();
    base(dir.path(), entries(ITEMS));
    let before: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let (publication, changes, index) =
        apply_delta(dir.path(), one_percent(ITEMS), &UpdatePolicy::DEFAULT);
    assert_eq!(
        (changes.added, changes.changed, changes.removed),
        (40, 60, 100)
    );
    assert!(changes.rewritten.is_empty() && !changes.merged);
    assert_eq!(publication.manifest.deltas.len(), 1);
    assert_eq!(publication.manifest.deltas[0].count, 100);
    assert_eq!(publication.manifest.removed, 160);
    // New: the top file and the delta's three files, under 5% of what the index names.
    assert_eq!(publication.files.len(), 4);
    let share = publication.new_bytes() as f64 / publication.manifest.bytes() as f64;
    println!(
        "a 1% change of {ITEMS} items republished {:.2}% of the bytes",
        share * 100.0
    );
    assert!(share < 0.05, "{share}");
    // The base's files are still the ones published before, and still there.
    for f in [
        &publication.manifest.lists,
        &publication.manifest.records,
        &publication.manifest.items,
    ] {
        assert!(before.contains(&f.file), "{}", f.file);
    }
    let opened = matches_exact(dir.path(), &index);
    assert_eq!(opened.segments(), 2);

    // Another change: a second delta, numbered after the first; nothing changed is nothing
    // published.
    let mut next: Vec<IndexEntry> = one_percent(ITEMS);
    next.retain(|e| e.item.id != "item-20");
    let (_, changes, index) = apply_delta(dir.path(), next.clone(), &UpdatePolicy::DEFAULT);
    assert_eq!((changes.added, changes.changed, changes.removed), (0, 0, 1));
    let opened = matches_exact(dir.path(), &index);
    assert_eq!(opened.segments(), 2, "a removal alone adds no segment");
    let (outcome, _) = apply(dir.path(), next, &UpdatePolicy::DEFAULT);
    assert!(matches!(outcome, Update::Unchanged), "{outcome:?}");
}

#[test]
fn a_cell_with_many_changes_is_rewritten_and_deltas_past_their_count_are_merged() {
    let dir = tempfile::tempdir().unwrap();
    let built = base(dir.path(), entries(ITEMS));
    // A third of one cell's items retitled: that cell is rewritten whole.
    let cell = 4;
    let members: std::collections::HashSet<usize> = built.cells[cell]
        .rows
        .iter()
        .step_by(3)
        .map(|r| *r as usize)
        .collect();
    let mut catalogue = entries(ITEMS);
    for (i, e) in catalogue.iter_mut().enumerate() {
        if members.contains(&i) {
            e.item.title += " (restyled)";
        }
    }
    let policy = UpdatePolicy {
        max_deltas: 2,
        ..UpdatePolicy::DEFAULT
    };
    let (publication, changes, index) = apply_delta(dir.path(), catalogue.clone(), &policy);
    assert_eq!(changes.rewritten, vec![cell]);
    assert_eq!(changes.changed, members.len());
    // The rewritten cell holds all its items in the delta; no removed positions are left in it.
    assert_eq!(
        publication.manifest.deltas[0].count,
        built.cells[cell].rows.len()
    );
    assert_eq!(publication.manifest.removed, 0);
    let opened = matches_exact(dir.path(), &index);
    assert!(!opened.is_live(0, cell) && opened.is_live(1, cell));
    assert!(opened.is_live(0, cell + 1));

    // Two more small changes: the second delta is kept, the third merges both into one.
    for (round, id) in [(2, "item-1"), (1, "item-2")] {
        catalogue.retain(|e| e.item.id != id);
        catalogue[0].item.title += " again";
        let (publication, changes, index) = apply_delta(dir.path(), catalogue.clone(), &policy);
        assert_eq!(publication.manifest.deltas.len(), round);
        assert_eq!(changes.merged, round == 1);
        matches_exact(dir.path(), &index);
    }
}

#[test]
fn a_large_or_drifting_change_asks_for_a_full_partition() {
    let dir = tempfile::tempdir().unwrap();
    base(dir.path(), entries(ITEMS));
    // A quarter more items, like the others.
    let (outcome, _) = apply(
        dir.path(),
        entries(ITEMS + ITEMS / 4),
        &UpdatePolicy::DEFAULT,
    );
    let why = repartition(outcome);
    assert!(why.contains("deltas would hold"), "{why}");
    // 300 new items unlike any in look and colour: they lie far from every cell.
    let mut catalogue = entries(ITEMS);
    for (i, mut e) in entries(300).into_iter().enumerate() {
        e.item.id = format!("new-{i}");
        e.embedding = (0..e.embedding.len())
            .map(|d| if (d + i) % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        e.histogram.iter_mut().for_each(|h| *h = 0.0);
        e.histogram[i % 3] = 1.0;
        catalogue.push(e);
    }
    let (outcome, _) = apply(dir.path(), catalogue, &UpdatePolicy::DEFAULT);
    let why = repartition(outcome);
    assert!(why.contains("as far from their cells"), "{why}");
}

/// Why `outcome` asks for a full re-partition; fails, naming what it found, if it does not.
fn repartition(outcome: Update) -> String {
    match outcome {
        Update::Repartition(why) => why,
        Update::Delta { changes, .. } => panic!("a delta: {changes:?}"),
        Update::Unchanged => panic!("unchanged"),
    }
}

/// Runs `f` with bytes `at` of `file` in `dir` damaged, then mends them.
fn damaged<T>(dir: &Path, file: &str, at: impl Iterator<Item = u64>, f: impl FnOnce() -> T) -> T {
    let path = dir.join(file);
    let good = std::fs::read(&path).unwrap();
    let mut bad = good.clone();
    at.for_each(|at| bad[at as usize] ^= 0x5a);
    std::fs::write(&path, bad).unwrap();
    let out = f();
    std::fs::write(&path, good).unwrap();
    out
}

#[test]
fn a_damaged_or_missing_delta_file_gives_a_clear_error_and_the_rest_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let n = 2_000;
    base(dir.path(), entries(n));
    let (publication, _, index) = apply_delta(dir.path(), one_percent(n), &UpdatePolicy::DEFAULT);
    let delta = publication.manifest.deltas[0].clone();
    let (opened, _) = open(dir.path().to_str().unwrap()).unwrap();
    let nearest = |q: usize| {
        let d = index.description(q);
        opened.plan(d.query(), Blend::DEFAULT, 1).unwrap().cells[0]
    };
    // A new item (the delta holds it), and an item whose cell the delta does not hold.
    let fresh = index
        .items
        .iter()
        .position(|i| i.id == format!("item-{n}"))
        .unwrap();
    let cell = nearest(fresh);
    assert!(!opened.cell_positions(1, cell).is_empty());
    let other = (0..index.len())
        .find(|q| opened.cell_positions(1, nearest(*q)).is_empty())
        .unwrap();
    assert_eq!(
        first_found(dir.path(), &index, fresh, 1),
        format!("found item-{n}")
    );

    // The delta's codes of that cell damaged: the query naming the delta's lists file and the
    // cell fails, the other still works.
    let at = opened.cell_range(1, cell).start;
    let err = damaged(dir.path(), &delta.lists.file, std::iter::once(at), || {
        assert_eq!(
            first_found(dir.path(), &index, other, 1),
            format!("found {}", index.items[other].id)
        );
        first_found(dir.path(), &index, fresh, 1)
    });
    assert!(
        err.contains(&delta.lists.file) && err.contains(" (cell ") && err.contains("checksum"),
        "{err}"
    );
    // Its records damaged (each one): a query that ranks the new item, and an update that
    // reads what the index holds, refuse them by name.
    let every = (0..delta.records.bytes).step_by(publication.manifest.record_len());
    let (err, refused) = damaged(dir.path(), &delta.records.file, every, || {
        let (previous, source) = open(dir.path().to_str().unwrap()).unwrap();
        let refused = held(&previous, source.as_ref()).unwrap_err().to_string();
        (first_found(dir.path(), &index, fresh, 1), refused)
    });
    for e in [&err, &refused] {
        assert!(
            e.contains(&delta.records.file) && e.contains(" (record "),
            "{e}"
        );
    }
    // Its items file missing: named.
    let path = dir.path().join(&delta.items.file);
    std::fs::remove_file(&path).unwrap();
    let err = first_found(dir.path(), &index, fresh, 1);
    assert!(
        err.starts_with("cannot read items-") && err.contains(&delta.items.file),
        "{err}"
    );
    assert_eq!(
        first_found(dir.path(), &index, other, 1),
        format!("found {}", index.items[other].id)
    );
}
