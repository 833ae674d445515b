//! The shared preprocessing path: limits, orientation, crops, normalisation, and the digest
//! the wasm build must reproduce.

use deep_shopping::error::ImageError;
use deep_shopping::preprocess::{Crop, Limits, MEAN, STD, decode, prepare, square};
use image::ImageFormat;

use crate::common;

#[test]
fn digest_matches_the_recorded_fixture() {
    let digest = common::preprocessing_digest();
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::write(
            crate::root().join("tests/fixtures/preprocess.digest"),
            &digest,
        )
        .unwrap();
    }
    assert_eq!(digest, common::EXPECTED_DIGEST);
}

#[test]
fn exif_orientation_turns_the_photo_upright() {
    let jpeg = common::encode(&common::synthetic_image(), ImageFormat::Jpeg);
    let plain = decode(&jpeg, &Limits::default()).unwrap();
    assert_eq!((plain.width(), plain.height()), (97, 61));
    // Orientation 6: the camera was turned; the upright photo is rotated 90 degrees clockwise.
    let rotated = decode(&common::with_exif_orientation(&jpeg, 6), &Limits::default()).unwrap();
    assert_eq!((rotated.width(), rotated.height()), (61, 97));
    // The red block in the top-left corner moves to the top-right corner.
    let top_right = rotated.to_rgb8().get_pixel(55, 5).0;
    assert!(top_right[0] > 150 && top_right[1] < 90, "{top_right:?}");
}

#[test]
fn oversized_inputs_are_refused_before_decoding() {
    let png = common::encode(&common::synthetic_image(), ImageFormat::Png);
    let small_file = Limits {
        max_file_bytes: 100,
        ..Limits::default()
    };
    assert!(matches!(
        decode(&png, &small_file),
        Err(ImageError::FileTooLarge { .. })
    ));
    let small_side = Limits {
        max_side: 64,
        ..Limits::default()
    };
    let err = decode(&png, &small_side).unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
}

#[test]
fn corrupt_and_truncated_files_are_errors() {
    assert!(decode(b"definitely not an image", &Limits::default()).is_err());
    let jpeg = common::encode(&common::synthetic_image(), ImageFormat::Jpeg);
    assert!(decode(&jpeg[..jpeg.len() / 3], &Limits::default()).is_err());
    assert!(decode(&[], &Limits::default()).is_err());
}

#[test]
fn crop_selects_the_region_and_bad_boxes_are_refused() {
    let png = common::encode(&common::synthetic_image(), ImageFormat::Png);
    let image = decode(&png, &Limits::default()).unwrap();
    let red = Crop {
        x: 0.0,
        y: 0.0,
        width: 0.15,
        height: 0.2,
    };
    let sq = square(&image, Some(red), 32).unwrap();
    assert_eq!(sq.dimensions(), (32, 32));
    assert!(
        sq.pixels().all(|p| p[0] > 150 && p[1] < 80),
        "crop is not the red block"
    );
    for bad in [
        Crop {
            x: -0.1,
            y: 0.0,
            width: 0.5,
            height: 0.5,
        },
        Crop {
            x: 0.6,
            y: 0.0,
            width: 0.5,
            height: 0.5,
        },
        Crop {
            x: 0.0,
            y: 0.0,
            width: 0.0,
            height: 0.5,
        },
        Crop {
            x: f32::NAN,
            y: 0.0,
            width: 0.5,
            height: 0.5,
        },
    ] {
        assert!(matches!(
            square(&image, Some(bad), 32),
            Err(ImageError::BadCrop(_))
        ));
    }
}

#[test]
fn normalisation_is_channel_first_imagenet() {
    let png = common::encode(&common::synthetic_image(), ImageFormat::Png);
    let p = prepare(&png, None, 48, &Limits::default()).unwrap();
    assert_eq!(p.input.len(), 3 * 48 * 48);
    let px = p.square.get_pixel(0, 0).0;
    for c in 0..3 {
        let expected = (px[c] as f32 / 255.0 - MEAN[c]) / STD[c];
        assert!((p.input[c * 48 * 48] - expected).abs() < 1e-6);
    }
}

#[test]
fn real_dataset_photo_prepares() {
    let (stem, _) = &crate::labelled_photos(1)[0];
    let bytes = std::fs::read(crate::photo(stem)).unwrap();
    let p = prepare(&bytes, None, 160, &Limits::default()).unwrap();
    assert_eq!(p.square.dimensions(), (160, 160));
    assert!(p.input.iter().all(|v| v.is_finite()));
}

/// A large photo-like image: smooth gradients, a red block in the top-left corner and a blue
/// stripe, at `w`x`h`.
fn large_image(w: u32, h: u32) -> image::DynamicImage {
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
        if x < w / 8 && y < h / 8 {
            image::Rgb([220, 20, 30])
        } else if (w / 2..w / 2 + w / 20).contains(&x) {
            image::Rgb([20, 40, 200])
        } else {
            image::Rgb([
                (x * 255 / (w - 1)) as u8,
                (y * 255 / (h - 1)) as u8,
                ((x / 7 + y / 5) % 256) as u8,
            ])
        }
    }))
}

/// The square made by filtering the whole photo at full resolution (the path without the
/// area-average reduction).
fn full_resolution_square(image: &image::RgbImage, size: u32) -> image::RgbImage {
    let (w, h) = image.dimensions();
    let scale = size as f32 / w.min(h) as f32;
    let nw = ((w as f32 * scale).round() as u32).max(size);
    let nh = ((h as f32 * scale).round() as u32).max(size);
    let resized = image::imageops::resize(image, nw, nh, image::imageops::FilterType::Triangle);
    image::imageops::crop_imm(&resized, (nw - size) / 2, (nh - size) / 2, size, size).to_image()
}

fn mean_abs_difference(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let total: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y) as u64)
        .sum();
    total as f64 / a.as_raw().len() as f64
}

#[test]
fn large_photos_are_reduced_first_and_stay_close_to_full_resolution_filtering() {
    use deep_shopping::preprocess::{PRESCALE_FACTOR, PRESCALE_TARGET};
    let size = 160;
    // 3000x2250 (a 6.75 MP phone photo): its shorter side is far above the threshold.
    let image = large_image(3000, 2250);
    assert!(image.height() > PRESCALE_FACTOR * size);
    let reduced = square(&image, None, size).unwrap();
    let reference = full_resolution_square(&image.to_rgb8(), size);
    // Within 1% of the 0..255 range on average (the two filters differ slightly at edges).
    let diff = mean_abs_difference(&reduced, &reference);
    assert!(diff < 2.55, "mean difference {diff} levels");
    // The blue stripe stays where it was: about columns 81 to 91 of the 160 px square.
    let stripe = reduced.get_pixel(86, 80).0;
    assert!(stripe[2] > 150 && stripe[0] < 60, "{stripe:?}");
    assert_ne!(reduced, reference, "the large photo was not reduced first");
    // A crop of the large photo is taken at full resolution before any reduction: the red
    // corner block fills the crop.
    let corner = Crop {
        x: 0.0,
        y: 0.0,
        width: 0.12,
        height: 0.12,
    };
    let sq = square(&image, Some(corner), size).unwrap();
    assert!(
        sq.pixels().all(|p| p[0] > 150 && p[1] < 80),
        "crop lost the red block"
    );
    // At the threshold nothing changes: the plain full-resolution filter is used.
    let small = large_image(PRESCALE_TARGET * size * 2 + 7, PRESCALE_FACTOR * size);
    assert_eq!(
        square(&small, None, size).unwrap(),
        full_resolution_square(&small.to_rgb8(), size)
    );
}

/// Whether `c` is `[x, y, width, height]` up to rounding.
fn near(c: Crop, expected: [f32; 4]) -> bool {
    [c.x, c.y, c.width, c.height]
        .iter()
        .zip(expected)
        .all(|(a, b)| (a - b).abs() < 1e-6)
}

#[test]
fn crop_boxes_clamp_and_drag_by_their_corners() {
    let c = Crop::WHOLE.corner_moved(true, true, 0.2, 0.3, 0.05);
    assert!(near(c, [0.2, 0.3, 0.8, 0.7]), "{c:?}");
    // The far corner dragged past the near one stops at the smallest size.
    let c = Crop::WHOLE.corner_moved(false, false, -2.0, -2.0, 0.05);
    assert!(near(c, [0.0, 0.0, 0.05, 0.05]), "{c:?}");
    // A corner never leaves the photo.
    let c = Crop::WHOLE.corner_moved(false, true, 0.5, -0.5, 0.05);
    assert!(near(c, [0.0, 0.0, 1.0, 1.0]), "{c:?}");
    let c = Crop {
        x: 0.9,
        y: -0.2,
        width: 0.5,
        height: 2.0,
    }
    .clamped(0.05);
    assert!(near(c, [0.5, 0.0, 0.5, 1.0]), "{c:?}");
    let tiny = Crop {
        x: 0.5,
        y: 0.5,
        width: 0.0,
        height: 0.01,
    }
    .clamped(0.05);
    assert!(near(tiny, [0.5, 0.5, 0.05, 0.05]), "{tiny:?}");
    // Every clamped box is one preprocessing accepts.
    let image = decode(
        &common::encode(&common::synthetic_image(), ImageFormat::Png),
        &Limits::default(),
    )
    .unwrap();
    assert!(square(&image, Some(tiny), 16).is_ok());
}
