//! Model inputs made from samples: decoded training photos, their augmented views, and
//! evaluation inputs through the shared preprocessing path unchanged.

use anyhow::{Context, Result};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rayon::prelude::*;

use super::config::Augment;
use super::data::{AugmentDraw, Sample, Source};
use super::progress;
use crate::preprocess::{Limits, decode, normalise, prepare, square};

/// Decoded training photos, scaled so the shorter side is a little above the input size.
pub fn train_images(samples: &[Sample], input: u32) -> Result<Vec<image::RgbImage>> {
    let target = (input as f64 * 1.15).ceil() as u32;
    let bar = progress::bar(samples.len() as u64, "decoding training photos");
    let images = samples
        .par_iter()
        .map(|s| {
            let image = match &s.source {
                Source::Pixels(p) => return Ok((**p).clone()),
                Source::File(path) => {
                    let bytes = std::fs::read(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    decode(&bytes, &Limits::default())
                        .with_context(|| format!("decoding {}", path.display()))?
                }
            };
            let (w, h) = (image.width(), image.height());
            let scale = target as f64 / w.min(h) as f64;
            let out = if scale < 1.0 {
                image
                    .resize_exact(
                        (w as f64 * scale).round() as u32,
                        (h as f64 * scale).round() as u32,
                        image::imageops::FilterType::Triangle,
                    )
                    .to_rgb8()
            } else {
                image.to_rgb8()
            };
            bar.inc(1);
            Ok(out)
        })
        .collect();
    bar.finish_and_clear();
    images
}

/// Model inputs of evaluation photos, through the shared preprocessing path.
pub fn eval_inputs(samples: &[Sample], input: u32) -> Result<Vec<Vec<f32>>> {
    let bar = progress::bar(samples.len() as u64, "preparing evaluation photos");
    let out = samples
        .par_iter()
        .map(|s| {
            let v = match &s.source {
                Source::File(path) => {
                    let bytes = std::fs::read(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    prepare(&bytes, None, input, &Limits::default())
                        .with_context(|| format!("preparing {}", path.display()))?
                        .input
                }
                Source::Pixels(p) => normalise(&square(
                    &image::DynamicImage::ImageRgb8((**p).clone()),
                    None,
                    input,
                )?),
            };
            bar.inc(1);
            Ok(v)
        })
        .collect();
    bar.finish_and_clear();
    out
}

/// Model inputs of augmented training views, in the order of `draws`: for each `(i, seed)`,
/// `images[i]` under the augmentation drawn with `seed`.
pub fn augmented(
    images: &[image::RgbImage],
    draws: impl IndexedParallelIterator<Item = (usize, u64)>,
    augment: &Augment,
    size: usize,
) -> Vec<Vec<f32>> {
    draws
        .map(|(i, seed)| {
            let img = &images[i];
            let mut r = StdRng::seed_from_u64(seed);
            let draw = AugmentDraw::new(augment, img.width(), img.height(), &mut r);
            normalise(&draw.apply(img, size as u32))
        })
        .collect()
}
