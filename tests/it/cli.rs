//! The `deep-shopping` binary on real photos: index, search --json, classify, and a failed run
//! leaving the previous index intact.

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deep-shopping"));
    cmd.current_dir(crate::root());
    cmd
}

/// Runs `cmd`, requires success (showing its stderr otherwise) and returns its stdout.
fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn write_csv(path: &Path, photos: &[(String, String)]) {
    let mut csv = String::from("id,image,title,category,price\n");
    for (i, (stem, label)) in photos.iter().enumerate() {
        csv += &format!(
            "{stem},images/{stem}.jpg,{label} no. {i},{label},{}.50 EUR\n",
            10 + i
        );
    }
    std::fs::write(path, csv).unwrap();
}

#[test]
fn index_then_search_json_finds_the_photo_itself() {
    let dir = tempfile::tempdir().unwrap();
    let photos = crate::labelled_photos(12);
    let csv = dir.path().join("catalogue.csv");
    write_csv(&csv, &photos);
    let out = dir.path().join("index");
    let status = bin()
        .args(["index", "--images"])
        .arg(crate::dataset())
        .arg("--csv")
        .arg(&csv)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(out.join("index.json").is_file());
    let thumbs = std::fs::read_dir(out.join("images")).unwrap().count();
    assert_eq!(thumbs, photos.len());
    // The shipped (trained) model's category probabilities travel in the index.
    let manifest = deep_shopping::index::IndexManifest::from_json(
        &std::fs::read(out.join("index.json")).unwrap(),
    )
    .unwrap();
    // The thumbnails are listed in a file of their own, not in the manifest.
    assert!(manifest.images.is_empty());
    let list = manifest.thumbnails.as_ref().unwrap();
    let listed = deep_shopping::index::read_thumbnail_list(
        list,
        &std::fs::read(out.join(&list.file)).unwrap(),
    )
    .unwrap();
    assert_eq!(listed.len(), thumbs);
    assert!(listed.iter().all(|i| out.join(i).is_file()));
    let data = std::fs::read(out.join(&manifest.data.file)).unwrap();
    let index = deep_shopping::index::CatalogueIndex::from_bytes(&data).unwrap();
    assert_eq!(index.classes(), 17);
    for i in 0..index.len() {
        let sum: f32 = index.probabilities(i).iter().sum();
        assert!(
            (sum - 1.0).abs() < 0.05,
            "item {i}: probabilities sum to {sum}"
        );
    }

    let queries: Vec<_> = photos[..3].iter().map(|(s, _)| crate::photo(s)).collect();
    let text = stdout_of(
        bin()
            .args(["search", "--top", "4", "--json", "--index"])
            .arg(&out)
            .args(&queries),
    );
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for (line, (stem, label)) in lines.iter().zip(&photos) {
        assert!(
            line["image"]
                .as_str()
                .unwrap()
                .ends_with(&format!("{stem}.jpg"))
        );
        let results = line["results"].as_array().unwrap();
        assert_eq!(results.len(), 4);
        assert_eq!(results[0]["id"], stem.as_str());
        assert_eq!(results[0]["category"], label.as_str());
        let scores: Vec<f64> = results
            .iter()
            .map(|r| r["score"].as_f64().unwrap())
            .collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]));
        // The match: the score over one best score per photo, 0..1; the photo itself is near 1.
        let matches: Vec<f64> = results
            .iter()
            .map(|r| r["match"].as_f64().unwrap())
            .collect();
        assert!(
            matches.iter().all(|m| (0.0..=1.0).contains(m)),
            "{matches:?}"
        );
        assert!(matches[0] > 0.8, "{matches:?}");
        for (m, s) in matches.iter().zip(&scores) {
            assert!((m / s - matches[0] / scores[0]).abs() < 1e-4);
        }
    }

    // The same index partitioned into 3 cells: probing all of them and ranking every item
    // exactly gives the same results, read in three rounds; probing one cell finds the photo
    // itself still (its own cell is the nearest).
    let part = dir.path().join("partitioned");
    stdout_of(
        bin()
            .args(["partition", "--cells", "3", "--index"])
            .arg(&out)
            .arg("--out")
            .arg(&part),
    );
    assert_eq!(
        std::fs::read_dir(part.join("images")).unwrap().count(),
        photos.len()
    );
    // Its manifest names the thumbnails' list, the one the whole index names.
    let named: serde_json::Value =
        serde_json::from_slice(&std::fs::read(part.join("index.json")).unwrap()).unwrap();
    assert!(named.get("images").is_none(), "{named}");
    assert_eq!(
        named["thumbnails"]["file"].as_str(),
        Some(list.file.as_str())
    );
    assert!(part.join(&list.file).is_file());
    let search = |cells: &str| -> Vec<serde_json::Value> {
        stdout_of(
            bin()
                .args(["search", "--top", "4", "--json", "--candidates", "12"])
                .args(["--cells", cells, "--index"])
                .arg(&part)
                .args(&queries),
        )
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
    };
    for (whole, partitioned) in lines.iter().zip(search("3")) {
        let ids = |line: &serde_json::Value| -> Vec<String> {
            line["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(ids(whole), ids(&partitioned));
        assert_eq!(partitioned["read"]["rounds"], 3);
        assert_eq!(partitioned["read"]["candidates"], 12);
    }
    for (line, (stem, _)) in search("1").iter().zip(&photos) {
        assert_eq!(line["results"][0]["id"], stem.as_str());
    }

    // The catalogue changes (the last photo leaves, the first three are retitled):
    // partitioning into the same folder again measures the change. Three of 11 items in a
    // delta is over the 20% share (the library's tests and the page's cover deltas), so it
    // partitions again; searches no longer find the one gone, and a third run finds nothing
    // to publish.
    let changed = dir.path().join("changed.csv");
    write_csv(&changed, &photos[..photos.len() - 1]);
    let mut text = std::fs::read_to_string(&changed).unwrap();
    for i in 0..3 {
        text = text.replacen(&format!(" no. {i},"), &format!(" no. {i} (new season),"), 1);
    }
    std::fs::write(&changed, text).unwrap();
    stdout_of(
        bin()
            .args(["index", "--images"])
            .arg(crate::dataset())
            .arg("--csv")
            .arg(&changed)
            .arg("--out")
            .arg(&out),
    );
    let partition_again = || {
        stdout_of(
            bin()
                .args(["partition", "--index"])
                .arg(&out)
                .arg("--out")
                .arg(&part),
        )
    };
    let told = partition_again();
    assert!(
        told.contains("partitioning again: the deltas would hold"),
        "{told}"
    );
    let gone = &photos[photos.len() - 1].0;
    for line in search("3") {
        let results = line["results"].as_array().unwrap();
        assert_eq!(results.len(), 4);
        assert!(results.iter().all(|r| r["id"] != gone.as_str()), "{line}");
    }
    let again = partition_again();
    assert!(again.contains("is up to date"), "{again}");

    // Finer look codes are a layout choice: a full partition with codes of 4 + 8 + 2 bytes; a
    // length the embedding cannot hold is refused.
    let finer = dir.path().join("finer");
    stdout_of(
        bin()
            .args(["partition", "--look-bytes", "4", "--index"])
            .arg(&out)
            .arg("--out")
            .arg(&finer),
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(finer.join("index.json")).unwrap()).unwrap();
    assert_eq!(manifest["code_len"], 14);
    let refused = bin()
        .args(["partition", "--look-bytes", "0", "--index"])
        .arg(&out)
        .arg("--out")
        .arg(&finer)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("--look-bytes must be 1 to"), "{said}");
}

#[test]
fn failed_index_run_keeps_the_previous_index() {
    let dir = tempfile::tempdir().unwrap();
    let photos = crate::labelled_photos(3);
    let csv = dir.path().join("catalogue.csv");
    write_csv(&csv, &photos);
    let out = dir.path().join("index");
    let run = |csv: &Path| {
        bin()
            .args(["index", "--images"])
            .arg(crate::dataset())
            .arg("--csv")
            .arg(csv)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    assert!(run(&csv).status.success());
    let before = std::fs::read(out.join("index.json")).unwrap();

    // Every image is missing: the run fails and the old index is untouched.
    let broken = dir.path().join("broken.csv");
    std::fs::write(&broken, "id,image\nx,does/not/exist.jpg\n").unwrap();
    let failed = run(&broken);
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("could be read"));
    assert_eq!(std::fs::read(out.join("index.json")).unwrap(), before);
    let search = bin()
        .args(["search", "--json", "--index"])
        .arg(&out)
        .arg(crate::photo(&photos[0].0))
        .output()
        .unwrap();
    assert!(search.status.success());
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.jpg");
    std::fs::write(&junk, b"not a jpeg").unwrap();
    let out = bin()
        .args(["classify", "--allow-untrained"])
        .arg(&junk)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("junk.jpg") && err.contains("cannot read image"),
        "{err}"
    );

    let missing = bin()
        .args(["search", "--index"])
        .arg(dir.path())
        .arg(&junk)
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("index.json"));
}

#[test]
fn classify_json_lists_three_labels() {
    let (stem, _) = &crate::labelled_photos(1)[0];
    let out = bin()
        .args(["classify", "--json", "--allow-untrained"])
        .arg(crate::photo(stem))
        .output()
        .unwrap();
    assert!(out.status.success());
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let top = line["top"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    let sum: f64 = top.iter().map(|t| t["score"].as_f64().unwrap()).sum();
    assert!(sum > 0.0 && sum <= 1.0 + 1e-6);
}

#[test]
fn classify_names_held_out_photos_with_the_shipped_model_by_default() {
    // No --model and no --allow-untrained: the trained model in models/ must be the one used,
    // so on the whole test split (senders it never saw) it names as many photos right as the
    // shipped report's int8 top-1 says, give or take a rounding tie.
    let mut config = deep_shopping::train::config::TrainConfig::load(
        &crate::root().join("configs/clothing.toml"),
        &[],
    )
    .unwrap();
    config.data.path = crate::dataset();
    let splits = deep_shopping::train::data::Splits::load(&config.data).unwrap();
    let photos: Vec<_> = splits
        .test
        .iter()
        .filter_map(|s| match (&s.source, s.label) {
            (deep_shopping::train::data::Source::File(path), Some(label)) => {
                Some((path.clone(), splits.labels[label].clone()))
            }
            _ => None,
        })
        .collect();
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(crate::root().join("models/report/report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["test_photos"].as_u64(), Some(photos.len() as u64));
    let out = stdout_of(
        bin()
            .args(["classify", "--json"])
            .args(photos.iter().map(|(path, _)| path)),
    );
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), photos.len());
    let mut correct = 0;
    for (line, (path, label)) in lines.iter().zip(&photos) {
        assert_eq!(line["image"], path.display().to_string());
        let top = line["top"].as_array().unwrap();
        let scores: Vec<f64> = top.iter().map(|t| t["score"].as_f64().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
        correct += usize::from(top[0]["label"] == label.as_str());
    }
    let expected = report["int8"]["top1"].as_f64().unwrap() * photos.len() as f64;
    assert!(
        (correct as f64 - expected).abs() <= 2.0,
        "{correct} of {} test photos named right, the report says {expected:.0}",
        photos.len()
    );

    // A freshly initialised model is refused unless asked for.
    let dir = tempfile::tempdir().unwrap();
    let init = bin()
        .args(["init", "--out"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(init.success());
    let refused = bin()
        .args(["classify", "--model"])
        .arg(dir.path())
        .arg(&photos[0].0)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("untrained"));
}
