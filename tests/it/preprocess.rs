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
