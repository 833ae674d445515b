//! The index built in shards as separate processes, the way a Kubernetes Indexed Job
//! (`JOB_COMPLETION_INDEX`) or a Slurm array (`SLURM_ARRAY_TASK_ID`) starts them, on real
//! photos: merged, the same index byte for byte as a build at once, for 1 and 3 shards and
//! after a shard killed and run again; a finished shard run again does nothing; a merge before
//! every shard finished says which and exits 75 (retry), a damaged part is refused (exit 1)
//! and leaves the published index alone. The killed shard waits on a slow image host (a real
//! HTTP server on loopback) when it is killed.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::store::{Route, Store};

/// The binary, run from the project root with no shard variable set.
pub(crate) fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deep-shopping"));
    cmd.current_dir(crate::root());
    cmd.env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SLURM_ARRAY_TASK_ID");
    cmd
}

fn write_csv(path: &Path, n: usize) {
    let mut csv = String::from("id,image,title,category,price\n");
    for (i, (stem, label)) in crate::labelled_photos(n).iter().enumerate() {
        csv += &format!(
            "{stem},images/{stem}.jpg,{label} {i},{label},{}.90 EUR\n",
            10 + i
        );
    }
    std::fs::write(path, csv).unwrap();
}

/// `deep-shopping index` of `csv` into `out` with `extra` arguments.
fn index(csv: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.args(["index", "--images"])
        .arg(crate::dataset())
        .arg("--csv")
        .arg(csv)
        .arg("--out")
        .arg(out)
        .args(extra);
    cmd
}

fn merge(parts: &Path, out: &Path) -> Output {
    bin()
        .args(["merge", "--parts"])
        .arg(parts)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// The standard output of a command that succeeded.
pub(crate) fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The published index in `dir`: its manifest and data file, as bytes.
fn published(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let manifest = std::fs::read(dir.join("index.json")).unwrap();
    let parsed = deep_shopping::index::IndexManifest::from_json(&manifest).unwrap();
    (
        manifest,
        std::fs::read(dir.join(&parsed.data.file)).unwrap(),
    )
}

#[test]
fn shards_run_as_separate_processes_merge_into_the_index_built_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("catalogue.csv");
    write_csv(&csv, 24);
    let once = dir.path().join("once");
    ok(index(&csv, &once, &[]).output().unwrap());

    // Three shards as a cluster starts them: two as an Indexed Job's pods, one as a Slurm
    // array task.
    let parts = dir.path().join("parts3");
    for i in 0..3 {
        let mut cmd = index(&csv, &parts, &["--shards", "3"]);
        cmd.env(
            if i < 2 {
                "JOB_COMPLETION_INDEX"
            } else {
                "SLURM_ARRAY_TASK_ID"
            },
            i.to_string(),
        );
        let text = ok(cmd.output().unwrap());
        assert!(
            text.contains(&format!("shard {i}/3: 8 of its 8 products")),
            "{text}"
        );
    }
    let merged = dir.path().join("merged3");
    let text = ok(merge(&parts, &merged));
    assert!(text.contains("merged 3 shards: 24 items"), "{text}");
    assert_eq!(published(&merged), published(&once));
    assert_eq!(
        std::fs::read_dir(merged.join("images")).unwrap().count(),
        24
    );

    // One shard.
    let parts1 = dir.path().join("parts1");
    ok(index(&csv, &parts1, &["--shard", "0/1"]).output().unwrap());
    let merged1 = dir.path().join("merged1");
    ok(merge(&parts1, &merged1));
    assert_eq!(published(&merged1), published(&once));

    // A shard that finished does nothing when run again (a retried pod, a requeued task).
    let marker = parts.join("part-00001-of-00003.done.json");
    let before = std::fs::read(&marker).unwrap();
    let text = ok(index(&csv, &parts, &["--shard", "1/3"]).output().unwrap());
    assert!(text.contains("shard 1/3 had finished"), "{text}");
    assert_eq!(std::fs::read(&marker).unwrap(), before);

    // Bad shard arguments are refused.
    for bad in ["3/3", "1/0", "x/2", "2"] {
        let out = index(&csv, &parts, &["--shard", bad]).output().unwrap();
        assert!(!out.status.success(), "--shard {bad} accepted");
    }
    let out = index(&csv, &parts, &["--shards", "3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("JOB_COMPLETION_INDEX"));
}

/// A Merchant Center TSV feed of the first `n` labelled photos, served by `store`.
fn feed(store: &Store, n: usize) -> Vec<String> {
    let mut tsv = String::from("id\ttitle\tlink\timage_link\tprice\tavailability\n");
    let mut stems = Vec::new();
    for (i, (stem, label)) in crate::labelled_photos(n).into_iter().enumerate() {
        store.route(
            &format!("/img/{stem}.jpg"),
            Route::Photo(crate::photo(&stem)),
        );
        tsv += &format!(
            "sku-{i}\t{label} {i}\thttps://shop.example/p/{i}\t{}/img/{stem}.jpg\t{}.90 EUR\tin_stock\n",
            store.url,
            10 + i
        );
        stems.push(stem);
    }
    store.route(
        "/feed.tsv",
        Route::Bytes(tsv.into_bytes(), "text/tab-separated-values"),
    );
    stems
}

#[test]
fn a_killed_shard_runs_again_and_unfinished_or_damaged_parts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::start();
    let stems = feed(&store, 24);
    // Shard 2 (products 16 to 23) waits on a photo its image host is slow to send.
    store.route(
        &format!("/img/{}.jpg", stems[20]),
        Route::Slow(Duration::from_secs(120), crate::photo(&stems[20])),
    );
    let url = format!("{}/feed.tsv", store.url);
    let cache = dir.path().join("cache");
    let shard = |out: &Path, s: &str| {
        let mut cmd = bin();
        cmd.args(["index", "--feed", &url, "--cache"])
            .arg(&cache)
            .arg("--out")
            .arg(out)
            .args(["--shard", s]);
        cmd
    };
    let parts = dir.path().join("parts");
    for i in 0..2 {
        ok(shard(&parts, &format!("{i}/3")).output().unwrap());
    }
    // A merge before every shard finished: retry later.
    let out = dir.path().join("out");
    let early = merge(&parts, &out);
    assert_eq!(early.status.code(), Some(75));
    assert!(String::from_utf8_lossy(&early.stderr).contains("shards not finished yet: 2/3"));
    assert!(!out.join("index.json").exists());

    // Shard 2 killed while it waits for the slow photo, then run again once the host is well.
    let mut child = shard(&parts, "2/3")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!parts.join("part-00002-of-00003.done.json").exists());
    store.route(
        &format!("/img/{}.jpg", stems[20]),
        Route::Photo(crate::photo(&stems[20])),
    );
    let text = ok(shard(&parts, "2/3").output().unwrap());
    assert!(text.contains("shard 2/3: 8 of its 8"), "{text}");
    ok(merge(&parts, &out));
    let once = dir.path().join("once");
    ok(bin()
        .args(["index", "--feed", &url, "--cache"])
        .arg(&cache)
        .arg("--out")
        .arg(&once)
        .output()
        .unwrap());
    assert_eq!(published(&out), published(&once));

    // A damaged part is refused and the published index stays as it was.
    let part = parts.join("part-00001-of-00003.safetensors");
    let mut bytes = std::fs::read(&part).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&part, &bytes).unwrap();
    let before = published(&out);
    let refused = merge(&parts, &out);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("shard 1/3: its part is damaged; run it again"),
        "{stderr}"
    );
    assert_eq!(published(&out), before);
    // Run again, the damaged shard is built anew (not taken as finished).
    let text = ok(shard(&parts, "1/3").output().unwrap());
    assert!(text.contains("shard 1/3: 8 of its 8"), "{text}");
    ok(merge(&parts, &out));
    assert_eq!(published(&out), published(&once));
}
