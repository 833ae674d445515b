//! A partition built in steps (issue 23): trained once, its rows placed in any number of runs
//! or shard processes (started as a Kubernetes Indexed Job's pods and a Slurm array's tasks
//! start them), gathered: the same partition, and the same published files byte for byte, as
//! one process builds. A finished shard run again does nothing; a shard killed before its
//! marker, or whose file was damaged, is refused by the gather (exit 75 and 1) and placed
//! again when run again; runs and files that do not fit are refused.

use std::path::Path;
use std::process::{Output, Stdio};

use deep_shopping::colour::HIST_LEN;
use deep_shopping::files::publish_index;
use deep_shopping::index::ivf::{Fitted, Layout, Partitioned, Placed};
use deep_shopping::index::{CatalogueIndex, IndexEntry, Item};

use crate::partition::{catalogue, two_levels};
use crate::shards::{bin, ok};

/// `fitted`'s placing of `index` in `runs` runs, each through its file.
fn placed_in(fitted: &Fitted, index: &CatalogueIndex, runs: usize) -> Vec<Placed> {
    let n = index.len();
    (0..runs)
        .map(|k| {
            let rows = (k * n / runs) as u32..((k + 1) * n / runs) as u32;
            let run = fitted.place(index, rows).unwrap();
            Placed::from_bytes(&run.to_bytes().unwrap()).unwrap()
        })
        .collect()
}

#[test]
fn rows_placed_in_any_number_of_runs_gather_into_the_partition_built_at_once() {
    let index = catalogue(6_000);
    let whole = Partitioned::build(&index, &two_levels());
    assert!(whole.cells.len() > 256, "{} cells", whole.cells.len());
    let fitted = Fitted::train(&index, &two_levels());
    let read = Fitted::from_bytes(&fitted.to_bytes().unwrap()).unwrap();
    assert_eq!(read, fitted, "the trained partition's file loses something");
    for runs in [1, 3, 7] {
        let gathered = read
            .clone()
            .gather(&index, placed_in(&read, &index, runs))
            .unwrap();
        assert!(gathered == whole, "{runs} runs gather another partition");
    }
    // All rows placed at once (in runs on every core) are the runs placed one by one.
    let at_once = read.place(&index, 0..6_000).unwrap();
    let runs = placed_in(&read, &index, 7);
    assert_eq!(
        at_once.cells,
        runs.iter()
            .flat_map(|r| r.cells.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        at_once.codes,
        runs.iter()
            .flat_map(|r| r.codes.clone())
            .collect::<Vec<_>>()
    );
    let distances: Vec<f32> = runs.iter().flat_map(|r| r.distances.clone()).collect();
    assert!(
        at_once.distances == distances,
        "placing on all cores gives other distances"
    );
}

#[test]
fn runs_that_leave_rows_out_overlap_or_do_not_fit_are_refused() {
    let index = catalogue(600);
    let layout = Layout {
        cells: 8,
        ..two_levels()
    };
    let fitted = Fitted::train(&index, &layout);
    let a = fitted.place(&index, 0..300).unwrap();
    let b = fitted.place(&index, 300..600).unwrap();
    let refused = |runs: Vec<Placed>| {
        fitted
            .clone()
            .gather(&index, runs)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    assert!(refused(vec![a.clone()]).contains("place 300 rows of a catalogue of 600"));
    assert!(refused(vec![a.clone(), a.clone()]).contains("where row 300 was due"));
    let mut far = b.clone();
    far.cells[0] = 8;
    assert!(refused(vec![a.clone(), far]).contains("names a cell past"));
    let mut short = b.clone();
    short.codes.pop();
    assert!(refused(vec![a.clone(), short]).contains("code bytes"));
    assert!(fitted.clone().gather(&index, vec![a.clone(), b]).is_ok());
    // An index of another shape than the one trained on.
    let narrow = CatalogueIndex::build(vec![IndexEntry {
        item: Item::bare("narrow"),
        embedding: vec![1.0; 8],
        histogram: vec![0.0; HIST_LEN],
        probabilities: vec![0.2; 5],
    }])
    .unwrap();
    let err = fitted.place(&narrow, 0..1).unwrap_err().to_string();
    assert!(err.contains("trained for embeddings of 16 values"), "{err}");

    // Files: damaged, truncated, or of the other kind.
    let file = a.to_bytes().unwrap();
    assert!(Placed::from_bytes(&file[..file.len() - 3]).is_err());
    assert!(Placed::from_bytes(b"not a file").is_err());
    let trained = fitted.to_bytes().unwrap();
    assert!(Placed::from_bytes(&trained).is_err());
    assert!(Fitted::from_bytes(&file).is_err());
    assert!(Fitted::from_bytes(&trained[..trained.len() / 2]).is_err());
}

/// `deep-shopping partition --index index` with `args`.
fn partition(index: &Path, args: &[&str]) -> Output {
    bin()
        .arg("partition")
        .arg("--index")
        .arg(index)
        .args(args)
        .output()
        .unwrap()
}

/// Exit status and standard error of a command that failed.
fn failed(out: Output) -> (Option<i32>, String) {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Every file in `dir`, by name, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    all.sort();
    all
}

#[test]
fn shard_processes_publish_the_partitioned_index_one_process_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let (index, other) = (dir.path().join("index"), dir.path().join("other"));
    std::fs::create_dir_all(&index).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    publish_index(&index, &catalogue(6_000), "model", Vec::new()).unwrap();
    publish_index(&other, &catalogue(5_000), "model", Vec::new()).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (work, once, gathered) = (
        dir.path().join("work"),
        dir.path().join("once"),
        dir.path().join("gathered"),
    );
    let knobs = ["--cells", "300", "--sample", "2000"];
    ok(partition(
        &index,
        &[&["--out", &s(&once)][..], &knobs].concat(),
    ));

    let text = ok(partition(
        &index,
        &[&["--work", &s(&work), "--train"][..], &knobs].concat(),
    ));
    assert!(
        text.contains("trained the partition of 6000 items"),
        "{text}"
    );
    let text = ok(partition(
        &index,
        &[&["--work", &s(&work), "--train"][..], &knobs].concat(),
    ));
    assert!(text.contains("had trained"), "{text}");
    // Gathering before any shard finished: retry later.
    let (code, err) = failed(partition(
        &index,
        &["--work", &s(&work), "--out", &s(&gathered)],
    ));
    assert_eq!(code, Some(75), "{err}");

    // Three shards as a cluster starts them: two as an Indexed Job's pods, one as a Slurm
    // array task, at once.
    let running: Vec<_> = (0..3)
        .map(|i| {
            let var = if i < 2 {
                "JOB_COMPLETION_INDEX"
            } else {
                "SLURM_ARRAY_TASK_ID"
            };
            bin()
                .args(["partition", "--index", &s(&index), "--work", &s(&work)])
                .args(["--shards", "3"])
                .env(var, i.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in running.into_iter().enumerate() {
        let text = ok(child.wait_with_output().unwrap());
        assert!(
            text.contains(&format!("shard {i}/3 placed 2000 rows")),
            "{text}"
        );
    }
    let text = ok(partition(
        &index,
        &["--work", &s(&work), "--out", &s(&gathered)],
    ));
    assert!(text.contains("partitioned 6000 items"), "{text}");
    assert!(
        files(&gathered) == files(&once),
        "3 shards publish other files"
    );

    // A finished shard run again does nothing.
    let marker = work.join("place-00001-of-00003.done.json");
    let before = std::fs::read(&marker).unwrap();
    let text = ok(partition(&index, &["--work", &s(&work), "--shard", "1/3"]));
    assert!(text.contains("shard 1/3 had placed"), "{text}");
    assert_eq!(std::fs::read(&marker).unwrap(), before);

    // A shard killed before it wrote its marker (its file cut short): the gather waits for it,
    // and it places its rows again when run again.
    std::fs::remove_file(&marker).unwrap();
    let part = work.join("place-00001-of-00003.safetensors");
    let bytes = std::fs::read(&part).unwrap();
    std::fs::write(&part, &bytes[..bytes.len() / 2]).unwrap();
    let again = dir.path().join("again");
    let (code, err) = failed(partition(
        &index,
        &["--work", &s(&work), "--out", &s(&again)],
    ));
    assert_eq!(code, Some(75), "{err}");
    assert!(err.contains("1/3"), "{err}");
    let text = ok(partition(&index, &["--work", &s(&work), "--shard", "1/3"]));
    assert!(text.contains("shard 1/3 placed"), "{text}");

    // A damaged file under its marker is refused, naming the shard; run again, it is placed
    // again and the gather publishes the same files.
    let part = work.join("place-00002-of-00003.safetensors");
    let mut bytes = std::fs::read(&part).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&part, &bytes).unwrap();
    let (code, err) = failed(partition(
        &index,
        &["--work", &s(&work), "--out", &s(&again)],
    ));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("shard 2/3: its file is damaged"), "{err}");
    assert!(!again.join("index.json").exists());
    let text = ok(partition(&index, &["--work", &s(&work), "--shard", "2/3"]));
    assert!(text.contains("shard 2/3 placed"), "{text}");
    ok(partition(
        &index,
        &["--work", &s(&work), "--out", &s(&again)],
    ));
    assert!(
        files(&again) == files(&once),
        "retried shards publish other files"
    );

    // A marker that names a file outside its own is refused.
    let marker = work.join("place-00000-of-00003.done.json");
    let before = std::fs::read_to_string(&marker).unwrap();
    let named = "place-00000-of-00003.safetensors";
    assert!(before.contains(named), "{before}");
    std::fs::write(&marker, before.replace(named, "../index/index.json")).unwrap();
    let (code, err) = failed(partition(
        &index,
        &["--work", &s(&work), "--out", &s(&again)],
    ));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("names another file"), "{err}");
    std::fs::write(&marker, before).unwrap();

    // One shard, in a work folder of its own.
    let (work1, one) = (dir.path().join("work1"), dir.path().join("one"));
    ok(partition(
        &index,
        &[&["--work", &s(&work1), "--train"][..], &knobs].concat(),
    ));
    ok(partition(&index, &["--work", &s(&work1), "--shard", "0/1"]));
    ok(partition(
        &index,
        &["--work", &s(&work1), "--out", &s(&one)],
    ));
    assert!(files(&one) == files(&once), "1 shard publishes other files");

    // The layout is the training's: a shard or the gathering given one is refused.
    let (code, err) = failed(partition(
        &index,
        &["--work", &s(&work), "--shard", "0/3", "--cells", "9"],
    ));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("give --cells and --look-bytes to --train"),
        "{err}"
    );

    // A shard of another index than the one trained is refused.
    let (code, err) = failed(partition(&other, &["--work", &s(&work), "--shard", "0/3"]));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("trained on another index"), "{err}");
}
