//! The model shipped in `models/`: it loads into the architecture, a catalogue built with it
//! finds each of its own photos first, and `eval` measures for it the figures of its report.

use deep_shopping::embed::Photo;
use deep_shopping::index::{Blend, CatalogueIndex, IndexEntry, Item, rank};

fn shipped() -> deep_shopping::embed::Embedder {
    deep_shopping::files::read_model(&crate::root().join("models"))
        .expect("the shipped model loads")
}

#[test]
fn shipped_weights_load_and_embed() {
    let model = shipped();
    let manifest = model.manifest();
    assert_eq!(manifest.labels.len(), manifest.model.num_classes);
    let (stem, _) = &crate::labelled_photos(1)[0];
    let bytes = std::fs::read(crate::photo(stem)).unwrap();
    let out = model.describe_blocking(&bytes, None).unwrap();
    assert_eq!(out.embedding.len(), manifest.model.embedding_dim);
    let norm: f32 = out.embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
    assert_eq!(out.probabilities.len(), manifest.model.num_classes);
}

#[test]
fn a_photo_and_its_mirror_image_embed_alike() {
    // Each photo runs with its mirror image and the two views are combined, so mirroring the
    // input changes nothing but rounding; a different photo does change the result.
    let model = shipped();
    let size = model.input_size() as usize;
    let photos: Vec<Photo> = crate::labelled_photos(2)
        .iter()
        .map(|(stem, _)| {
            let bytes = std::fs::read(crate::photo(stem)).unwrap();
            model.prepare(&bytes, None).unwrap()
        })
        .collect();
    let input = &photos[0].input;
    let mirrored: Vec<f32> = (0..3 * size * size)
        .map(|i| {
            let (plane, x) = (i / size, i % size);
            input[plane * size + size - 1 - x]
        })
        .collect();
    assert_ne!(&mirrored, input);
    let mirror = Photo {
        input: mirrored,
        colours: photos[0].colours.clone(),
    };
    let out = model
        .describe_prepared_blocking(vec![photos[0].clone(), mirror, photos[1].clone()])
        .unwrap();
    let gap = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    };
    assert!(gap(&out[0].embedding, &out[1].embedding) < 1e-4);
    assert!(gap(&out[0].probabilities, &out[1].probabilities) < 1e-4);
    assert!(gap(&out[0].embedding, &out[2].embedding) > 1e-2);
}

#[test]
fn catalogue_photos_retrieve_themselves_first() {
    let model = shipped();
    let photos = crate::labelled_photos(24);
    let mut entries = Vec::new();
    let mut queries = Vec::new();
    for (stem, label) in &photos {
        let bytes = std::fs::read(crate::photo(stem)).unwrap();
        let description = model.describe_blocking(&bytes, None).unwrap();
        queries.push(description.clone());
        let item = Item {
            id: stem.clone(),
            title: label.clone(),
            category: Some(label.clone()),
            ..Item::default()
        };
        entries.push(IndexEntry::new(item, description));
    }
    let index = CatalogueIndex::build(entries).unwrap();
    for (i, query) in queries.iter().enumerate() {
        for weights in [Blend::colour(0.0), Blend::colour(0.3), Blend::DEFAULT] {
            let hits = rank(&index, query.query(), weights, 3);
            assert_eq!(hits[0].index, i, "photo {} with {weights:?}", photos[i].0);
            assert!(hits[0].visual > 0.99, "self-similarity {}", hits[0].visual);
        }
    }
}

/// Runs `deep-shopping eval --model models` with `args` and a fresh `--out`; returns the output
/// and the report folder.
fn eval_shipped(config: &str, args: &[String]) -> (std::process::Output, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_deep-shopping"))
        .arg("eval")
        .arg("--config")
        .arg(crate::root().join("configs").join(config))
        .args(args)
        .arg("--model")
        .arg(crate::root().join("models"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    (output, out)
}

/// The int8 figures of the shipped report are what `eval` measures for the shipped weights on
/// the test split (every clothing config shares the data section of `clothing.toml`).
///
/// Computed floats differ in their last digits between CPUs (SIMD width, FMA, thread splits),
/// so the report is compared by what each figure is made of:
/// - counts must be equal: photos, the confusion matrix, and top-1, top-3 and P@10 (overall
///   and per class), which are ratios of counts (photos named right, relevant items among the
///   first ten). Rounding changes them only where it reorders two outputs that nearly tie, and
///   none nearly does: for the shipped model the closest top-1 and top-2 probabilities of a
///   test photo are 1.6e-4 apart, the closest 10th and 11th scores of different classes 6e-6
///   apart, while scores moved by at most 2e-7 between this machine's AVX-512 path and an AVX2
///   one (`search --json` natively and under `qemu-x86_64 -cpu Haswell`; README, "Build and
///   test times").
/// - mAP (overall and as ranked) averages precisions over whole rankings of 3,783 photos, where
///   near-ties deep in the list do swap: the report's mAP came out 9e-9 and 5e-8 away from
///   the one written on another CPU on an AVX2 EPYC, 6e-9 and 2e-8 on an AVX-512 one. They
///   must agree within [`MAP_TOLERANCE`].
#[test]
fn the_shipped_report_is_what_eval_measures_for_the_shipped_model() {
    let data = format!("data.path={:?}", crate::dataset());
    let (output, out) = eval_shipped("clothing.toml", &["--set".into(), data]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read = |path: std::path::PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let measured = read(out.path().join("report.json"));
    let shipped = read(crate::root().join("models/report/report.json"));
    for key in ["test_photos", "catalogue_photos", "confusion"] {
        assert_eq!(measured[key], shipped[key], "{key}");
    }
    let counts = ["top1", "top3", "precision_at_10", "ranked_precision_at_10"];
    let means = ["map", "ranked_map"];
    let int8 = (&measured["int8"], &shipped["int8"]);
    for key in counts {
        assert_eq!(int8.0[key], int8.1[key], "int8 {key}");
    }
    for key in means {
        let (m, s) = (figure(int8.0, key), figure(int8.1, key));
        assert!(
            (m - s).abs() <= MAP_TOLERANCE,
            "int8 {key}: measured {m}, shipped {s}"
        );
    }
    let classes = |report: &serde_json::Value| report["classes"].as_array().unwrap().clone();
    let (measured_classes, shipped_classes) = (classes(&measured), classes(&shipped));
    assert_eq!(measured_classes.len(), shipped_classes.len());
    for (m, s) in measured_classes.iter().zip(&shipped_classes) {
        // Per class every figure is a ratio of counts.
        assert_eq!(m, s, "class {}", s["label"]);
    }
    // A model folder holds no f32 network and no training history.
    assert!(measured.get("f32").is_none() && measured.get("epochs").is_none());
    let manifest = read(crate::root().join("models/manifest.json"));
    assert_eq!(
        measured["model_folder"]["weights_sha256"],
        manifest["weights"]["sha256"]
    );
    assert!(out.path().join("report.md").is_file());
    assert!(!out.path().join("curves.svg").exists());
}

/// How far a measured mAP may be from the shipped report's: 20 times the largest float noise
/// seen between two CPUs (5e-8, above). One relevant photo moving up one place near the top of one
/// query's ranking moves mAP by about 3e-7 (`h / (r (r + 1))` over its query's relevant
/// photos and the 768 queries), so this admits a few such swaps and no more; a changed model,
/// preprocessing or ranking reorders the first places of hundreds of queries.
const MAP_TOLERANCE: f64 = 1e-6;

/// `report[key]` as a number.
fn figure(report: &serde_json::Value, key: &str) -> f64 {
    report[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number: {report}"))
}

/// A model whose categories are not the dataset's is refused before any photo is embedded.
#[test]
fn eval_refuses_a_model_for_other_categories() {
    let (output, out) = eval_shipped("fashion-mnist.toml", &[]);
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("names the categories"), "{err}");
    assert!(!out.path().join("report.json").exists());
}

/// The files a store copies to its CDN name the command that made them in terms of the
/// repository, never a path of the machine that trained the model.
#[test]
fn the_shipped_files_name_no_local_path() {
    let root = crate::root();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("models/manifest.json")).unwrap()).unwrap();
    let description = manifest["description"].as_str().unwrap();
    assert!(
        description.contains("`deep-shopping train --config configs/"),
        "{description}"
    );
    for file in ["manifest.json", "report/report.json", "report/report.md"] {
        let text = std::fs::read_to_string(root.join("models").join(file)).unwrap();
        for local in ["/root/", "/home/", "/tmp/", &root.display().to_string()] {
            assert!(!text.contains(local), "models/{file} names {local}");
        }
    }
}

/// A recorded command line names the program and paths as a reader of the repository would.
#[test]
fn recorded_command_lines_are_portable() {
    use deep_shopping::cli::command_line;
    use deep_shopping::files::portable;
    let cwd = std::env::current_dir().unwrap();
    let home = std::env::var("HOME").unwrap();
    let args = [
        format!("{home}/.cache/deep-shopping/native/release/deep-shopping"),
        "train".into(),
        "--config".into(),
        format!("{}/configs/clothing.toml", cwd.display()),
        "--set".into(),
        format!("teacher.weights={home}/.cache/deep-shopping/teacher/t.pth"),
    ];
    assert_eq!(
        command_line(args),
        "deep-shopping train --config configs/clothing.toml \
         --set teacher.weights=~/.cache/deep-shopping/teacher/t.pth"
    );
    assert_eq!(portable("configs/a.toml"), "configs/a.toml");
}
