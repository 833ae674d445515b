//! Colour features computed from pixels: CIELAB conversion, a centre-weighted Lab histogram,
//! dominant colours by weighted k-means, and the nearest colour name for each.

use image::RgbImage;
use serde::{Deserialize, Serialize};

/// Histogram bins along L* (lightness).
pub const L_BINS: usize = 4;
/// Histogram bins along a* and along b*.
pub const AB_BINS: usize = 6;
/// Length of a colour histogram.
pub const HIST_LEN: usize = L_BINS * AB_BINS * AB_BINS;
/// Side of the thumbnail colours are computed on.
const SAMPLE_SIDE: u32 = 48;
/// Number of dominant colours kept.
pub const DOMINANT: usize = 3;

/// Named reference colours (sRGB), the vocabulary of colour names and filters.
pub const PALETTE: [(&str, [u8; 3]); 18] = [
    ("black", [25, 25, 25]),
    ("white", [245, 245, 245]),
    ("grey", [128, 128, 128]),
    ("red", [200, 30, 35]),
    ("maroon", [115, 25, 40]),
    ("orange", [240, 130, 30]),
    ("yellow", [240, 215, 50]),
    ("olive", [110, 110, 45]),
    ("green", [45, 140, 65]),
    ("teal", [20, 125, 125]),
    ("light blue", [150, 190, 230]),
    ("blue", [40, 85, 190]),
    ("navy", [25, 35, 80]),
    ("purple", [120, 55, 150]),
    ("pink", [240, 150, 185]),
    ("brown", [115, 75, 45]),
    ("beige", [220, 200, 165]),
    ("khaki", [185, 170, 115]),
];

/// One dominant colour of a photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Swatch {
    /// Mean colour of the cluster, sRGB.
    pub rgb: [u8; 3],
    /// Share of the (centre-weighted) pixels in this cluster, 0..1.
    pub weight: f32,
    /// Nearest name from [`PALETTE`].
    pub name: String,
}

/// Colour description of one photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Colours {
    /// Centre-weighted Lab histogram summing to 1, `HIST_LEN` bins.
    pub histogram: Vec<f32>,
    /// Dominant colours, largest first.
    pub dominant: Vec<Swatch>,
}

fn srgb_to_linear(c: u8) -> f32 {
    let c = c as f32 / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb(c: f32) -> u8 {
    let c = c.clamp(0.0, 1.0);
    let s = if c <= 0.003_130_8 {
        12.92 * c
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    };
    (s * 255.0).round() as u8
}

/// sRGB to CIELAB (D65).
pub fn rgb_to_lab(rgb: [u8; 3]) -> [f32; 3] {
    let [r, g, b] = rgb.map(srgb_to_linear);
    let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83;
    let f = |t: f32| {
        if t > 0.008_856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// CIELAB (D65) to sRGB.
pub fn lab_to_rgb(lab: [f32; 3]) -> [u8; 3] {
    let fy = (lab[0] + 16.0) / 116.0;
    let fx = fy + lab[1] / 500.0;
    let fz = fy - lab[2] / 200.0;
    let inv = |t: f32| {
        if t.powi(3) > 0.008_856 {
            t.powi(3)
        } else {
            (t - 16.0 / 116.0) / 7.787
        }
    };
    let (x, y, z) = (inv(fx) * 0.950_47, inv(fy), inv(fz) * 1.088_83);
    let r = 3.240_454_2 * x - 1.537_138_5 * y - 0.498_531_4 * z;
    let g = -0.969_266 * x + 1.876_010_8 * y + 0.041_556 * z;
    let b = 0.055_643_4 * x - 0.204_025_9 * y + 1.057_225_2 * z;
    [linear_to_srgb(r), linear_to_srgb(g), linear_to_srgb(b)]
}

fn distance2(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)
}

/// The palette name nearest to `rgb` in Lab space.
pub fn colour_name(rgb: [u8; 3]) -> &'static str {
    let lab = rgb_to_lab(rgb);
    PALETTE
        .iter()
        .map(|(name, p)| (*name, distance2(&lab, &rgb_to_lab(*p))))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or("grey", |(name, _)| name)
}

fn bin(lab: &[f32; 3]) -> usize {
    let l = ((lab[0] / 100.0 * L_BINS as f32) as usize).min(L_BINS - 1);
    let ab = |v: f32| (((v + 80.0) / 160.0 * AB_BINS as f32).max(0.0) as usize).min(AB_BINS - 1);
    (l * AB_BINS + ab(lab[1])) * AB_BINS + ab(lab[2])
}

/// Pixels in Lab with a weight favouring the centre, where the garment usually is.
fn weighted_samples(image: &RgbImage) -> Vec<([f32; 3], f32)> {
    let small = image::imageops::resize(
        image,
        SAMPLE_SIDE,
        SAMPLE_SIDE,
        image::imageops::FilterType::Triangle,
    );
    let half = SAMPLE_SIDE as f32 / 2.0;
    let sigma2 = 2.0 * (0.25f32 * SAMPLE_SIDE as f32).powi(2);
    small
        .enumerate_pixels()
        .map(|(x, y, p)| {
            let dx = x as f32 + 0.5 - half;
            let dy = y as f32 + 0.5 - half;
            (rgb_to_lab(p.0), (-(dx * dx + dy * dy) / sigma2).exp())
        })
        .collect()
}

/// Colour histogram and dominant colours of an image.
pub fn analyse(image: &RgbImage) -> Colours {
    let samples = weighted_samples(image);
    let mut histogram = vec![0.0f32; HIST_LEN];
    let total: f32 = samples.iter().map(|s| s.1).sum();
    for (lab, w) in &samples {
        histogram[bin(lab)] += w / total;
    }
    Colours {
        histogram,
        dominant: dominant(&samples, DOMINANT),
    }
}

/// Weighted k-means in Lab with deterministic farthest-point seeding.
fn dominant(samples: &[([f32; 3], f32)], k: usize) -> Vec<Swatch> {
    let total: f32 = samples.iter().map(|s| s.1).sum();
    if samples.is_empty() || total <= 0.0 {
        return Vec::new();
    }
    let mut mean = [0.0f32; 3];
    for (lab, w) in samples {
        for c in 0..3 {
            mean[c] += lab[c] * w / total;
        }
    }
    let mut centres = vec![mean];
    while centres.len() < k {
        let far = samples
            .iter()
            .map(|(lab, w)| {
                let d = centres
                    .iter()
                    .map(|c| distance2(lab, c))
                    .fold(f32::INFINITY, f32::min);
                (lab, d * w)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match far {
            Some((lab, d)) if d > 0.0 => centres.push(*lab),
            _ => break,
        }
    }
    let mut assignment = vec![0usize; samples.len()];
    let mut weights = vec![0.0f32; centres.len()];
    for _ in 0..12 {
        for (i, (lab, _)) in samples.iter().enumerate() {
            assignment[i] = (0..centres.len())
                .min_by(|&a, &b| {
                    distance2(lab, &centres[a]).total_cmp(&distance2(lab, &centres[b]))
                })
                .unwrap_or(0);
        }
        let mut sums = vec![[0.0f32; 3]; centres.len()];
        weights.iter_mut().for_each(|w| *w = 0.0);
        for (i, (lab, w)) in samples.iter().enumerate() {
            let a = assignment[i];
            weights[a] += w;
            for c in 0..3 {
                sums[a][c] += lab[c] * w;
            }
        }
        for (j, centre) in centres.iter_mut().enumerate() {
            if weights[j] > 0.0 {
                *centre = sums[j].map(|s| s / weights[j]);
            }
        }
    }
    let mut swatches: Vec<Swatch> = centres
        .iter()
        .zip(&weights)
        .filter(|(_, w)| **w > 0.0)
        .map(|(lab, w)| {
            let rgb = lab_to_rgb(*lab);
            Swatch {
                rgb,
                weight: w / total,
                name: colour_name(rgb).to_string(),
            }
        })
        .collect();
    swatches.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    // Two clusters with one name read as one colour.
    let mut merged: Vec<Swatch> = Vec::with_capacity(swatches.len());
    for s in swatches {
        match merged.iter_mut().find(|m| m.name == s.name) {
            Some(m) => m.weight += s.weight,
            None => merged.push(s),
        }
    }
    merged
}

/// Histogram intersection of two histograms that each sum to 1: 1 for identical, 0 for disjoint.
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x.min(*y)).sum()
}
