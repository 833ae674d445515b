//! Test inputs shared by the native and the wasm test binaries: synthetic photos made in
//! code (so no dataset image is copied into the repository) and their expected preprocessing.

use std::io::Cursor;

use deep_shopping::assets::sha256_hex;
use deep_shopping::preprocess::{Limits, prepare};
use image::{ImageFormat, Rgb, RgbImage};

/// A 97x61 image with gradients and a red block in its top-left corner.
pub fn synthetic_image() -> RgbImage {
    RgbImage::from_fn(97, 61, |x, y| {
        if x < 20 && y < 15 {
            Rgb([220, 20, 30])
        } else {
            Rgb([
                (x * 255 / 96) as u8,
                (y * 255 / 60) as u8,
                ((x + y) % 256) as u8,
            ])
        }
    })
}

/// `image` encoded in `format`.
pub fn encode(image: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), format)
        .expect("encoding a synthetic image");
    out
}

/// Inserts an EXIF APP1 segment with the given orientation right after a JPEG's SOI marker.
pub fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"II*\0");
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&orientation.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The photos whose preprocessing must be identical on every target, by name.
pub fn preprocessing_cases() -> Vec<(&'static str, Vec<u8>)> {
    let image = synthetic_image();
    let jpeg = encode(&image, ImageFormat::Jpeg);
    vec![
        ("png", encode(&image, ImageFormat::Png)),
        ("jpeg-rotated", with_exif_orientation(&jpeg, 6)),
        ("jpeg", jpeg),
    ]
}

/// `name sha256(input bytes) sha256(normalised f32 input)` for each case, one per line.
///
/// A digest of floats is compared bit for bit because every step is exact on any x86-64 and
/// in wasm: the decoders work in integers (zune-jpeg picks its AVX2 or its scalar IDCT and
/// colour conversion at run time; the two give the same bytes, as the wasm test, which runs
/// the scalar path, reproduces the digest written natively with AVX2), and resizing and
/// normalising are scalar f32 operations in a fixed order on one thread, which IEEE 754
/// defines to the bit and Rust never fuses into FMA or reorders. The model's output, which
/// burn computes with SIMD and threads chosen by the CPU, is never compared this way.
pub fn preprocessing_digest() -> String {
    preprocessing_cases()
        .iter()
        .map(|(name, bytes)| {
            let prepared = prepare(bytes, None, 64, &Limits::default()).expect("preparing");
            let floats: Vec<u8> = prepared
                .input
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            format!("{name} {} {}\n", sha256_hex(bytes), sha256_hex(&floats))
        })
        .collect()
}

/// The digest every target must reproduce, recorded by the native tests.
pub const EXPECTED_DIGEST: &str = include_str!("../fixtures/preprocess.digest");
