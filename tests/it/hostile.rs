//! Hostile and careless input through every command, so the defects found once stay fixed: a
//! bad-input corpus (generated here, into a temporary folder; nothing large is committed) run
//! through `classify`, `search` and `index`, each case's exit status, message and peak memory
//! checked; hostile model and index manifests; and the output side: a full disk, a killed
//! rebuild, files in `--out` that are not ours, an output folder that cannot be written.
#![allow(unsafe_code)] // mkfifo

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use image::{DynamicImage, ImageBuffer, Luma, Rgb};

/// Peak memory allowed to any command on any one photo of the corpus, in MB (README, "Limits").
const PEAK_MB: f64 = 300.0;

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deep-shopping"));
    cmd.current_dir(crate::root()).stdin(Stdio::null());
    cmd
}

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    peak_mb: f64,
}

impl Run {
    fn explain(&self) -> String {
        format!(
            "exit {:?}, {:.0} MB\nstdout: {}\nstderr: {}",
            self.code, self.peak_mb, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to its end, at most `limit` (a hang fails the test), measuring its peak resident
/// memory with GNU time: a child of this process would count this process's own peak (its
/// memory before `exec`), so the command runs as a child of `time` instead.
fn run(cmd: &mut Command, limit: Duration) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (out, err, rss) = (
        dir.path().join("out"),
        dir.path().join("err"),
        dir.path().join("rss"),
    );
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-o")
        .arg(&rss)
        .args(["-f", "%M"])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .current_dir(crate::root())
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => timed.env(key, v),
            None => timed.env_remove(key),
        };
    }
    let mut child = timed
        .spawn()
        .expect("GNU time (/usr/bin/time, apt package time) measures peak memory");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            panic!(
                "{cmd:?} still ran after {limit:?}; stderr: {}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = std::fs::read_to_string(&err).unwrap();
    // GNU time notes a non-zero exit in its own output file, before the figure.
    let kib: f64 = std::fs::read_to_string(&rss)
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak memory from time; stderr: {stderr}"));
    Run {
        code: status.code(),
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr,
        peak_mb: kib * 1024.0 / 1e6,
    }
}

const MINUTE: Duration = Duration::from_secs(60);

/// A PNG of `width` x `height` whose header says `bit_depth` and `colour_type` (PNG's codes)
/// with a few bytes of data: enough for a decoder to read the header and plan its memory.
fn png_header_only(width: u32, height: u32, bit_depth: u8, colour_type: u8) -> Vec<u8> {
    fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        png.extend((data.len() as u32).to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        png.extend(kind);
        png.extend(data);
        png.extend(crc.finalize().to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([bit_depth, colour_type, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    // A zlib stream of zeros, far shorter than the image.
    chunk(&mut png, b"IDAT", &[0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1]);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// `image` as a PNG, compressed fast.
fn png(image: DynamicImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_with_encoder(image::codecs::png::PngEncoder::new_with_quality(
            &mut bytes,
            image::codecs::png::CompressionType::Default,
            image::codecs::png::FilterType::Sub,
        ))
        .unwrap();
    bytes
}

/// One photo of the corpus: its file name, whether it must be refused, and the words the
/// message (or, for an accepted photo, the warning) must hold; empty for none.
struct Case {
    name: &'static str,
    refused: bool,
    words: &'static str,
}

/// The corpus, written into `dir`, which it returns with the cases.
fn corpus(dir: &Path) -> Vec<Case> {
    let write = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    let stem = &crate::labelled_photos(1)[0].0;
    let photo = std::fs::read(crate::photo(stem)).unwrap();

    write("junk.jpg", b"not a jpeg");
    write("empty.jpg", b"");
    // 132 bytes once took 945 MB and 12 s to refuse, or not refuse.
    write(
        "wide.png",
        &png(ImageBuffer::from_pixel(1, 12_000, Luma([200u8])).into()),
    );
    // 16-bit RGBA, 11,900 x 11,900: 1.1 GB decoded.
    write("deep-huge.png", &png_header_only(11_900, 11_900, 16, 6));
    write("long-side.png", &png_header_only(13_000, 2_000, 8, 2));
    let mut heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    heic.resize(4096, 0);
    write("iphone.heic", &heic);
    write("cut-10.jpg", &photo[..photo.len() / 10]);
    write("cut-90.jpg", &photo[..photo.len() * 9 / 10]);
    // Sparse: over the 40 MB limit without using the disk.
    File::create(dir.join("too-big.jpg"))
        .unwrap()
        .set_len((40 << 20) + 1)
        .unwrap();
    let fifo =
        std::ffi::CString::new(dir.join("fifo.jpg").into_os_string().into_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.jpg")).unwrap();
    // The largest photos accepted: 36 megapixels of 8-bit RGB (108 MB decoded) and 10 of
    // 16-bit RGB (60 MB decoded).
    let large = ImageBuffer::from_fn(6_000, 6_000, |x, y| {
        Rgb([(x / 24) as u8, (y / 24) as u8, 90u8])
    });
    write("large.png", &png(DynamicImage::ImageRgb8(large)));
    let deep = ImageBuffer::from_fn(4_000, 2_500, |x, y| {
        Rgb([(x * 16) as u16, (y * 26) as u16, 30_000u16])
    });
    write("deep.png", &png(DynamicImage::ImageRgb16(deep)));
    write("photo.jpg", &photo);

    let case = |name, refused, words| Case {
        name,
        refused,
        words,
    };
    vec![
        case("junk.jpg", true, "The image format could not be determined"),
        case("empty.jpg", true, "could not be determined"),
        case("wide.png", true, "further apart than 20:1"),
        case("deep-huge.png", true, "the limit is 40 megapixels"),
        case("long-side.png", true, "the limit is 12000 pixels a side"),
        case("iphone.heic", true, "HEIC photos are not supported"),
        case("cut-10.jpg", true, "cut short"),
        case("too-big.jpg", true, "the limit is 41943040"),
        case("fifo.jpg", true, "not a regular file"),
        case("zero.jpg", true, "not a regular file"),
        case("cut-90.jpg", false, "cut short"),
        case("large.png", false, ""),
        case("deep.png", false, ""),
        case("photo.jpg", false, ""),
    ]
}

/// The corpus, written once for all the tests of this module.
fn shared_corpus() -> (&'static Path, &'static [Case]) {
    static CORPUS: OnceLock<(tempfile::TempDir, Vec<Case>)> = OnceLock::new();
    let (dir, cases) = CORPUS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let cases = corpus(dir.path());
        (dir, cases)
    });
    (dir.path(), cases)
}

/// `words` appear in `text`, and only once (a cause printed twice reads as a stutter).
fn says_once(text: &str, words: &str) -> bool {
    text.matches(words).count() == 1
}

#[test]
fn classify_refuses_each_bad_photo_clearly_within_bounded_memory() {
    let (dir, cases) = shared_corpus();
    for case in cases {
        let r = run(
            bin().args(["classify", "--json"]).arg(dir.join(case.name)),
            MINUTE,
        );
        let what = format!("classify {}: {}", case.name, r.explain());
        // The figures README "Limits" quotes.
        eprintln!(
            "classify {}: exit {:?}, peak {:.0} MB",
            case.name, r.code, r.peak_mb
        );
        assert!(!r.stderr.contains("panicked"), "{what}");
        assert!(r.peak_mb < PEAK_MB, "{what}");
        if case.refused {
            assert_eq!(r.code, Some(1), "{what}");
            assert!(says_once(&r.stderr, case.words), "{what}");
            assert!(r.stderr.contains(case.name), "{what}");
        } else {
            assert_eq!(r.code, Some(0), "{what}");
            let line: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
            assert_eq!(line["top"].as_array().unwrap().len(), 3, "{what}");
            assert!(
                case.words.is_empty() || r.stderr.contains(case.words),
                "{what}"
            );
        }
    }
    // /dev/zero itself, and a name that is not there.
    for (path, words) in [
        ("/dev/zero", "not a regular file"),
        ("/nonexistent/x.jpg", "No such file"),
    ] {
        let r = run(bin().args(["classify", path]), MINUTE);
        assert_eq!(r.code, Some(1), "{path}: {}", r.explain());
        assert!(says_once(&r.stderr, words), "{path}: {}", r.explain());
    }
}

#[test]
fn search_and_classify_report_a_bad_photo_and_go_on() {
    let (dir, cases) = shared_corpus();
    let index = small_index();
    let photos: Vec<PathBuf> = cases.iter().map(|c| dir.join(c.name)).collect();
    let refused = cases.iter().filter(|c| c.refused).count();
    for command in ["classify", "search"] {
        let mut cmd = bin();
        cmd.args([command, "--json"]);
        if command == "search" {
            cmd.arg("--index").arg(index);
        }
        let r = run(cmd.args(&photos), 3 * MINUTE);
        let what = format!("{command}: {}", r.explain());
        assert_eq!(r.code, Some(1), "{what}");
        assert!(r.peak_mb < PEAK_MB, "{what}");
        let lines: Vec<serde_json::Value> = r
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // One line per photo, in order: an error for each refused one, results for the rest.
        assert_eq!(lines.len(), cases.len(), "{what}");
        for (case, line) in cases.iter().zip(&lines) {
            assert_eq!(
                line.get("error").is_some(),
                case.refused,
                "{}: {line}",
                case.name
            );
            if case.refused {
                let error = line["error"].as_str().unwrap();
                assert!(says_once(error, case.words), "{}: {error}", case.name);
            }
        }
        assert!(
            r.stderr.contains(&format!(
                "{refused} of {} photos could not be read",
                cases.len()
            )),
            "{what}"
        );
    }
}

/// An index of three dataset photos, built once.
fn small_index() -> &'static Path {
    static INDEX: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, out) = INDEX.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("catalogue.csv");
        let mut text = String::from("id,image,title\n");
        for (stem, label) in crate::labelled_photos(3) {
            text += &format!("{stem},images/{stem}.jpg,{label}\n");
        }
        std::fs::write(&csv, text).unwrap();
        let out = dir.path().join("index");
        let r = run(
            bin()
                .args(["index", "--images"])
                .arg(crate::dataset())
                .arg("--csv")
                .arg(&csv)
                .arg("--out")
                .arg(&out)
                .arg("--cache")
                .arg(dir.path().join("cache")),
            3 * MINUTE,
        );
        assert_eq!(r.code, Some(0), "{}", r.explain());
        (dir, out)
    });
    out
}

#[test]
fn index_skips_each_bad_photo_and_row_by_name_and_indexes_the_rest() {
    let (dir, cases) = shared_corpus();
    let work = tempfile::tempdir().unwrap();
    // A photo outside the images folder, which rows try to reach.
    std::fs::write(
        work.path().join("outside.jpg"),
        std::fs::read(dir.join("photo.jpg")).unwrap(),
    )
    .unwrap();
    let images = work.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let mut csv = String::from("id,image,title,price\n");
    for case in cases {
        std::os::unix::fs::symlink(dir.join(case.name), images.join(case.name)).unwrap();
        csv += &format!("{},{},{},10.00 EUR\n", case.name, case.name, case.name);
    }
    let outside = work.path().join("outside.jpg");
    csv += "up,../outside.jpg,climbs out,10.00 EUR\n";
    csv += &format!("absolute,{},absolute,10.00 EUR\n", outside.display());
    csv += "nan,photo.jpg,NaN price,NaN EUR\n";
    csv += "inf,photo.jpg,infinite price,inf EUR\n";
    csv += "huge,photo.jpg,huge price,1e999 EUR\n";
    csv += ",photo.jpg,no id,10.00 EUR\n";
    std::fs::write(work.path().join("catalogue.csv"), csv).unwrap();
    let out = work.path().join("index");
    let r = run(
        bin()
            .args(["index", "--json", "--images"])
            .arg(&images)
            .arg("--csv")
            .arg(work.path().join("catalogue.csv"))
            .arg("--out")
            .arg(&out)
            .arg("--cache")
            .arg(work.path().join("cache")),
        5 * MINUTE,
    );
    let what = r.explain();
    assert_eq!(r.code, Some(2), "{what}");
    assert!(r.peak_mb < 2.0 * PEAK_MB, "{what}");
    let summary: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let accepted = cases.iter().filter(|c| !c.refused).count();
    assert_eq!(summary["items"], accepted, "{what}");
    let failed = summary["failed"].as_array().unwrap();
    let reason_of = |id: &str| {
        failed
            .iter()
            .find(|f| f["id"] == id)
            .map(|f| f["reason"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{id} is not among the failed: {what}"))
    };
    for case in cases.iter().filter(|c| c.refused) {
        let reason = reason_of(case.name);
        assert!(says_once(&reason, case.words), "{}: {reason}", case.name);
    }
    assert!(reason_of("up").contains("not a relative path inside the images folder"));
    assert!(reason_of("absolute").contains("not a relative path inside the images folder"));
    for id in ["nan", "inf", "huge"] {
        assert!(reason_of(id).contains("price"), "{id}: {}", reason_of(id));
    }
    let no_id = failed.iter().find(|f| f["id"].is_null()).unwrap();
    assert!(
        no_id["reason"].as_str().unwrap().contains("id is empty"),
        "{no_id}"
    );
    assert_eq!(no_id["row"], cases.len() + 7, "{no_id}");
    // The warned photo is in, with its warning on stderr; only accepted photos have thumbnails.
    assert!(r.stderr.contains("cut short"), "{what}");
    assert_eq!(
        std::fs::read_dir(out.join("images")).unwrap().count(),
        accepted
    );
}

#[test]
fn folder_mode_counts_the_photos_it_cannot_read() {
    let work = tempfile::tempdir().unwrap();
    let images = work.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let stem = &crate::labelled_photos(1)[0].0;
    std::fs::copy(crate::photo(stem), images.join("shirt.jpg")).unwrap();
    for name in ["a.gif", "b.svg", "c.tiff", "d.heic", "e.avif"] {
        std::fs::write(images.join(name), b"whatever").unwrap();
    }
    std::fs::write(images.join("notes.txt"), b"not a photo at all").unwrap();
    let r = run(
        bin()
            .args(["index", "--json", "--images"])
            .arg(&images)
            .arg("--out")
            .arg(work.path().join("index"))
            .arg("--cache")
            .arg(work.path().join("cache")),
        2 * MINUTE,
    );
    assert_eq!(r.code, Some(2), "{}", r.explain());
    let summary: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(summary["items"], 1);
    // Five photos in formats the page cannot read either; the text file is not a photo.
    assert_eq!(
        summary["failed"].as_array().unwrap().len(),
        5,
        "{}",
        r.explain()
    );
}

/// A copy of the shipped model folder with its manifest changed by `edit`.
fn model_with(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let models = crate::root().join("models");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(models.join("manifest.json")).unwrap()).unwrap();
    let weights = manifest["weights"]["file"].as_str().unwrap().to_string();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(models.join(&weights), dir.join(&weights)).unwrap();
    edit(&mut manifest);
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    dir.to_path_buf()
}

#[test]
fn hostile_model_manifests_are_one_line_errors() {
    let work = tempfile::tempdir().unwrap();
    let (dir, _) = shared_corpus();
    std::fs::write(work.path().join("secret"), b"not for you").unwrap();
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, Edit, &str); 8] = [
        (
            "size0",
            |m| m["model"]["input_size"] = 0.into(),
            "input size 0 px",
        ),
        (
            "size1e5",
            |m| m["model"]["input_size"] = 100_000.into(),
            "input size 100000 px",
        ),
        (
            "width",
            |m| m["model"]["width"] = 1_000_000.into(),
            "width 1000000",
        ),
        (
            "dim0",
            |m| m["model"]["embedding_dim"] = 0.into(),
            "embedding length 0",
        ),
        (
            "stages",
            |m| m["model"]["stages"] = serde_json::json!([]),
            "0 stages",
        ),
        (
            "climb",
            |m| m["weights"]["file"] = "../secret".into(),
            "only a plain file name",
        ),
        (
            "zero",
            |m| m["weights"]["file"] = "/dev/zero".into(),
            "only a plain file name",
        ),
        (
            "negative",
            |m| m["model"]["width"] = (-1).into(),
            "invalid model manifest",
        ),
    ];
    for (name, edit, words) in cases {
        let model = model_with(&work.path().join(name), edit);
        let r = run(
            bin()
                .args(["classify", "--model"])
                .arg(&model)
                .arg(dir.join("photo.jpg")),
            MINUTE,
        );
        let what = format!("{name}: {}", r.explain());
        assert_eq!(r.code, Some(1), "{what}");
        assert!(r.stderr.contains(words), "{what}");
        assert!(r.stderr.lines().count() <= 3, "{what}");
        assert!(r.peak_mb < PEAK_MB, "{what}");
    }
}

#[test]
fn hostile_index_manifests_are_refused() {
    let index = small_index();
    let work = tempfile::tempdir().unwrap();
    let (dir, _) = shared_corpus();
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, Edit, &str); 6] = [
        (
            "climb",
            |m| m["data"]["file"] = "../catalogue.csv".into(),
            "only a plain file name",
        ),
        (
            "zero",
            |m| m["data"]["file"] = "/dev/zero".into(),
            "only a plain file name",
        ),
        (
            "thumb",
            |m| m["images"] = serde_json::json!(["images/../../x.jpg"]),
            "outside its images/ folder",
        ),
        (
            "list",
            |m| {
                m["thumbnails"] =
                    serde_json::json!({"file": "../x.json", "sha256": "00", "bytes": 2})
            },
            "as its thumbnail list",
        ),
        (
            "gone",
            |m| {
                m["thumbnails"] = serde_json::json!({
                    "file": "thumbnails-0123456789abcdef.json", "sha256": "00", "bytes": 2
                })
            },
            "thumbnails-0123456789abcdef.json",
        ),
        (
            "count",
            |m| m["count"] = "many".into(),
            "invalid index manifest",
        ),
    ];
    for (name, edit, words) in cases {
        let copy = work.path().join(name);
        std::fs::create_dir(&copy).unwrap();
        for entry in std::fs::read_dir(index).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
            }
        }
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(copy.join("index.json")).unwrap()).unwrap();
        edit(&mut manifest);
        std::fs::write(copy.join("index.json"), manifest.to_string()).unwrap();
        let r = run(
            bin()
                .args(["search", "--index"])
                .arg(&copy)
                .arg(dir.join("photo.jpg")),
            MINUTE,
        );
        let what = format!("{name}: {}", r.explain());
        assert_eq!(r.code, Some(1), "{what}");
        assert!(r.stderr.contains(words), "{what}");
        assert!(r.stderr.lines().count() <= 3, "{what}");
    }
}

/// A simple CSV (written to `work/name`) of `n` dataset photos from the `offset`-th on, as
/// items `item-0`..: the same ids can be given other photos.
fn catalogue(work: &Path, name: &str, n: usize, offset: usize) -> PathBuf {
    let photos = crate::labelled_photos(n + offset);
    let mut csv = String::from("id,image,title\n");
    for (i, (stem, label)) in photos[offset..].iter().enumerate() {
        csv += &format!("item-{i},images/{stem}.jpg,{label} {i}\n");
    }
    let path = work.join(name);
    std::fs::write(&path, csv).unwrap();
    path
}

fn index_cmd(csv: &Path, out: &Path, cache: &Path) -> Command {
    let mut cmd = bin();
    cmd.args(["index", "--images"])
        .arg(crate::dataset())
        .arg("--csv")
        .arg(csv)
        .arg("--out")
        .arg(out)
        .arg("--cache")
        .arg(cache);
    cmd
}

/// Every file of `dir` (recursively) with its bytes.
fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.insert(
                    path.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    files
}

/// What the live index in `out` serves: its manifest, data and every thumbnail it names.
fn served(out: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let mut names = vec![
        "index.json".to_string(),
        manifest["data"]["file"].as_str().unwrap().to_string(),
    ];
    // The thumbnails, in the list the manifest names.
    let list = manifest["thumbnails"]["file"].as_str().unwrap().to_string();
    let images: Vec<String> =
        serde_json::from_slice(&std::fs::read(out.join(&list)).unwrap()).unwrap();
    assert!(!images.is_empty());
    names.push(list);
    names.extend(images);
    names
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(out.join(&n)).unwrap_or_else(|e| panic!("{n}: {e}"));
            (PathBuf::from(n), bytes)
        })
        .collect()
}

#[test]
fn a_killed_rebuild_leaves_the_live_index_as_it_was_and_the_next_run_cleans_up() {
    let work = tempfile::tempdir().unwrap();
    let (out, cache) = (work.path().join("index"), work.path().join("cache"));
    std::fs::create_dir(&out).unwrap();
    // Files in --out that are not ours stay, whatever the runs do.
    std::fs::write(out.join("index-my-precious.safetensors"), b"mine").unwrap();
    std::fs::write(out.join(".tmp-mine"), b"mine too").unwrap();
    let first = catalogue(work.path(), "first.csv", 150, 0);
    let r = run(&mut index_cmd(&first, &out, &cache), 5 * MINUTE);
    assert_eq!(r.code, Some(0), "{}", r.explain());
    let live = served(&out);

    // The same ids with other photos, killed at several points of the rebuild.
    let second = catalogue(work.path(), "second.csv", 150, 150);
    // Every 0.25 s into the run until one gets to its end (each killed run leaves the
    // descriptions it made in the cache, so the next gets further).
    for after in (1..=40).map(|i| i as f64 * 0.25) {
        let mut child = index_cmd(&second, &out, &cache)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs_f64(after));
        child.kill().unwrap();
        child.wait().unwrap();
        // `served` fails on a manifest naming a file that is not there.
        let unchanged = served(&out) == live;
        eprintln!("rebuild killed after {after} s: live index unchanged: {unchanged}");
        if !unchanged {
            // The rebuild reached its end before the kill (the description cache makes each
            // try faster): what it published is whole, so stop killing.
            break;
        }
    }
    // A data file a build killed between publishing and removing the one it replaced would
    // leave (named as builds name them): the next run removes it.
    std::fs::write(out.join("index-0123456789abcdef.safetensors"), b"replaced").unwrap();
    let r = run(&mut index_cmd(&second, &out, &cache), 5 * MINUTE);
    assert_eq!(r.code, Some(0), "{}", r.explain());
    let now = served(&out);
    assert_ne!(now, live);
    // Nothing but the live index and the files that were there before.
    let mut expected: Vec<PathBuf> = now.keys().cloned().collect();
    expected.extend(["index-my-precious.safetensors", ".tmp-mine"].map(PathBuf::from));
    expected.sort();
    let present: Vec<PathBuf> = snapshot(&out).into_keys().collect();
    assert_eq!(present, expected);
}

#[test]
fn a_full_disk_fails_the_run_and_keeps_the_previous_index() {
    let work = tempfile::tempdir().unwrap();
    let (out, cache) = (work.path().join("index"), work.path().join("cache"));
    let first = catalogue(work.path(), "first.csv", 10, 0);
    let r = run(&mut index_cmd(&first, &out, &cache), 5 * MINUTE);
    assert_eq!(r.code, Some(0), "{}", r.explain());
    let before = served(&out);
    let second = catalogue(work.path(), "second.csv", 30, 10);
    // Files written by the run may not grow past 6 KB (12 blocks of 512 bytes), a few
    // thumbnails' worth: every write past it fails (EFBIG, with SIGXFSZ ignored), as a write
    // to a full disk fails with ENOSPC.
    let index = index_cmd(&second, &out, &cache);
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "ulimit -f 12 && trap '' XFSZ && exec \"$0\" \"$@\""])
        .arg(index.get_program())
        .args(index.get_args());
    let r = run(&mut cmd, 5 * MINUTE);
    let what = r.explain();
    assert_eq!(r.code, Some(1), "{what}");
    assert!(r.stderr.contains("writing"), "{what}");
    assert!(!r.stderr.contains("could not be read"), "{what}");
    assert_eq!(served(&out), before);
    // The live index is the first one, whole.
    let search = run(
        bin()
            .args(["search", "--json", "--index"])
            .arg(&out)
            .arg(crate::photo(&crate::labelled_photos(1)[0].0)),
        MINUTE,
    );
    assert_eq!(search.code, Some(0), "{}", search.explain());
    assert!(search.stdout.contains("\"item-0\""), "{}", search.explain());
}

#[test]
fn an_output_folder_that_cannot_be_written_is_named_as_the_failure() {
    let work = tempfile::tempdir().unwrap();
    let csv = catalogue(work.path(), "first.csv", 3, 0);
    // A folder under a regular file cannot be made, even by root (who ignores permissions).
    std::fs::write(work.path().join("file"), b"").unwrap();
    let out = work.path().join("file").join("index");
    let r = run(
        &mut index_cmd(&csv, &out, &work.path().join("cache")),
        MINUTE,
    );
    let what = r.explain();
    assert_eq!(r.code, Some(1), "{what}");
    assert!(r.stderr.contains(&out.display().to_string()), "{what}");
    assert!(
        !r.stderr.contains("could not be read") && !r.stderr.contains("catalogue images"),
        "{what}"
    );
}
