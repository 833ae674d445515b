//! The two distillation teachers, converted from their PyPI `.pth` files (fetched by
//! `scripts/teachers.sh`), must still recognise what ImageNet taught them on real photos.

use std::path::PathBuf;

use burn::tensor::Device;
use deep_shopping::embed::batch_tensor;
use deep_shopping::preprocess::{Limits, decode, normalise, square};
use deep_shopping::train::teacher::TeacherNet;

/// ImageNet classes of garments, footwear, bags, headwear and fabrics.
const GARMENT_CLASSES: &[usize] = &[
    399, 400, 411, 414, 433, 445, 451, 452, 457, 459, 465, 474, 501, 502, 514, 515, 518, 552, 568,
    578, 601, 608, 610, 614, 617, 630, 636, 638, 639, 652, 655, 658, 667, 689, 697, 735, 748, 770,
    774, 775, 793, 796, 808, 824, 834, 841, 842, 869, 885, 887, 893, 906, 911,
];

/// Folder of the teachers' `.pth` files: `DS_TEACHERS`, or `~/.cache/deep-shopping/teacher`.
fn teachers() -> PathBuf {
    std::env::var_os("DS_TEACHERS")
        .map(PathBuf::from)
        .or_else(|| std::env::home_dir().map(|h| h.join(".cache/deep-shopping/teacher")))
        .expect("a home folder or DS_TEACHERS")
}

#[test]
fn both_teachers_name_garments_on_real_photos() {
    let device = Device::flex();
    let size = 224;
    let inputs: Vec<Vec<f32>> = crate::labelled_photos(48)
        .iter()
        .map(|(stem, _)| {
            let bytes = std::fs::read(crate::photo(stem)).unwrap();
            let photo = decode(&bytes, &Limits::default()).unwrap();
            normalise(&square(&photo, None, size as u32).unwrap())
        })
        .collect();
    for file in [
        "mobilenet_v2-b0353104.pth",
        "efficientnet-lite0-57934424.pth",
    ] {
        let path = teachers().join(file);
        let teacher = TeacherNet::load(&path, &device)
            .unwrap_or_else(|e| panic!("{e:#} (scripts/teachers.sh fetches it)"));
        // [48, 1000] -> top-1 ImageNet class of each photo.
        let top: Vec<i64> = teacher
            .imagenet_logits(batch_tensor(&inputs, size, &device))
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .unwrap();
        let garments = top
            .iter()
            .filter(|&&c| GARMENT_CLASSES.contains(&(c as usize)))
            .count();
        // Measured on 96 random photos: 0.80 for each; with the classifier's stored strides
        // ignored, 0.01.
        assert!(
            garments * 10 >= top.len() * 6,
            "{file}: only {garments} of {} photos get a garment class: {top:?}",
            top.len()
        );
    }
}
