//! The fuzz targets' bodies (`fuzz/harness.rs`) on every committed seed, corpus entry and
//! crash input (`fuzz/{seeds,corpus,regressions}/<target>/`), so what the fuzzers found stays
//! fixed without building the crate a third time for libFuzzer in CI (`scripts/fuzz.sh` does
//! the fuzzing). Synthetic photos in every format read, cut short at many points, add to the
//! photo target's inputs.

use std::path::PathBuf;

#[path = "../../fuzz/harness.rs"]
#[allow(dead_code)]
mod harness;

/// Every committed input of `target`.
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for kind in ["seeds", "corpus", "regressions"] {
        let dir = crate::root().join("fuzz").join(kind).join(target);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            files.extend(entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
        }
    }
    files.sort();
    files
}

/// Runs `body` on each input of `target`, naming the one that panics; returns how many ran.
fn run_all(target: &str, body: fn(&[u8])) -> usize {
    let files = inputs(target);
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        if std::panic::catch_unwind(|| body(&bytes)).is_err() {
            panic!("fuzz input {} panics", file.display());
        }
    }
    files.len()
}

#[test]
fn index_inputs_read_or_fail_cleanly() {
    assert!(run_all("index", harness::index) >= 2);
}

#[test]
fn model_inputs_read_or_fail_cleanly() {
    assert!(run_all("model", harness::model) >= 2);
}

#[test]
fn feed_inputs_read_or_fail_cleanly() {
    assert!(run_all("feeds", harness::feeds) >= 5);
}

#[test]
fn photo_inputs_read_or_fail_cleanly() {
    assert!(run_all("photo", harness::photo) >= 5);
    // A gradient in every format read, whole and cut at 40 points, with and without a crop.
    let gradient =
        image::RgbImage::from_fn(48, 40, |x, y| image::Rgb([x as u8 * 5, y as u8 * 6, 128]));
    for format in [
        image::ImageFormat::Jpeg,
        image::ImageFormat::Png,
        image::ImageFormat::Gif,
        image::ImageFormat::WebP,
        image::ImageFormat::Bmp,
    ] {
        let mut bytes = Vec::new();
        image::DynamicImage::ImageRgb8(gradient.clone())
            .write_to(&mut std::io::Cursor::new(&mut bytes), format)
            .unwrap();
        for cut in 0..=40 {
            let part = &bytes[..bytes.len() * cut / 40];
            for head in [
                [0u8; 16],
                [1, 9, 0, 0, 0, 64, 0, 0, 0, 128, 0, 0, 0, 192, 0, 0],
            ] {
                let input: Vec<u8> = head.iter().chain(part).copied().collect();
                if std::panic::catch_unwind(|| harness::photo(&input)).is_err() {
                    panic!("{format:?} cut at {cut}/40 with crop head {head:?} panics");
                }
            }
        }
    }
}
