//! Training data: the clothing dataset split by sender, Fashion-MNIST, class balancing and
//! augmentation. Evaluation inputs go through the shared preprocessing path unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use image::{Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::config::{Augment, DataConfig, DatasetKind};

/// Labels of the clothing dataset that are not clothing categories.
pub const NON_CLASSES: [&str; 3] = ["Not sure", "Other", "Skip"];

/// The 17 clothing categories of the clothing dataset, in the order of the category head of
/// models trained on it (and of `deep-shopping init`'s untrained model).
pub const CLOTHING_LABELS: [&str; 17] = [
    "Blazer",
    "Blouse",
    "Body",
    "Dress",
    "Hat",
    "Hoodie",
    "Longsleeve",
    "Outwear",
    "Pants",
    "Polo",
    "Shirt",
    "Shoes",
    "Shorts",
    "Skirt",
    "T-Shirt",
    "Top",
    "Undershirt",
];

/// Where a photo comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An image file.
    File(PathBuf),
    /// A decoded image held in memory (Fashion-MNIST).
    Pixels(Arc<RgbImage>),
}

/// One photo with its label (`None` for unlabelled photos) and its contributor.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Identifier (file stem or index).
    pub id: String,
    /// The photo.
    pub source: Source,
    /// Class index into [`Splits::labels`].
    pub label: Option<usize>,
    /// Contributor; photos of one sender never straddle two splits.
    pub sender: String,
}

/// A dataset split three ways.
#[derive(Debug, Clone)]
pub struct Splits {
    /// Class names, in head order.
    pub labels: Vec<String>,
    /// Training photos, labelled and unlabelled.
    pub train: Vec<Sample>,
    /// Validation photos (labelled).
    pub val: Vec<Sample>,
    /// Test photos (labelled).
    pub test: Vec<Sample>,
}

impl Splits {
    /// Loads and splits the dataset `config` names.
    pub fn load(config: &DataConfig) -> Result<Self> {
        match config.kind {
            DatasetKind::Clothing => clothing(config),
            DatasetKind::FashionMnist => fashion_mnist(config),
        }
    }

    /// Labelled training photos.
    pub fn train_labelled(&self) -> impl Iterator<Item = &Sample> {
        self.train.iter().filter(|s| s.label.is_some())
    }
}

/// Assigns whole senders to test, then validation, then training, in a seeded random order,
/// until each held-out split has its share of the labelled photos.
pub fn split_by_sender(
    samples: Vec<Sample>,
    seed: u64,
    val_fraction: f64,
    test_fraction: f64,
) -> (Vec<Sample>, Vec<Sample>, Vec<Sample>) {
    let mut labelled_per_sender: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &samples {
        *labelled_per_sender.entry(&s.sender).or_default() += usize::from(s.label.is_some());
    }
    let total: usize = labelled_per_sender.values().sum();
    let mut senders: Vec<(&str, usize)> = labelled_per_sender.into_iter().collect();
    senders.shuffle(&mut StdRng::seed_from_u64(seed));
    let (mut test, mut val) = (BTreeSet::new(), BTreeSet::new());
    let (mut n_test, mut n_val) = (0usize, 0usize);
    for (sender, n) in senders {
        if (n_test as f64) < test_fraction * total as f64 {
            test.insert(sender.to_string());
            n_test += n;
        } else if (n_val as f64) < val_fraction * total as f64 {
            val.insert(sender.to_string());
            n_val += n;
        }
    }
    let (mut tr, mut va, mut te) = (Vec::new(), Vec::new(), Vec::new());
    for s in samples {
        if test.contains(&s.sender) {
            if s.label.is_some() {
                te.push(s);
            }
        } else if val.contains(&s.sender) {
            if s.label.is_some() {
                va.push(s);
            }
        } else {
            tr.push(s);
        }
    }
    (tr, va, te)
}

fn clothing(config: &DataConfig) -> Result<Splits> {
    let csv_path = config.path.join("images.csv");
    let mut reader = csv::Reader::from_path(&csv_path)
        .with_context(|| format!("opening {}", csv_path.display()))?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("reading {}", csv_path.display()))?;
        let (Some(image), Some(sender), Some(label)) =
            (record.get(0), record.get(1), record.get(2))
        else {
            bail!(
                "{}: a row lacks image, sender_id or label",
                csv_path.display()
            );
        };
        rows.push((image.to_string(), sender.to_string(), label.to_string()));
    }
    let labels: Vec<String> = rows
        .iter()
        .map(|r| r.2.clone())
        .filter(|l| !NON_CLASSES.contains(&l.as_str()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    ensure!(
        !labels.is_empty(),
        "no labelled photos in {}",
        csv_path.display()
    );
    let samples = rows
        .into_iter()
        .map(|(image, sender, label)| Sample {
            source: Source::File(config.path.join("images").join(format!("{image}.jpg"))),
            id: image,
            label: labels.iter().position(|l| *l == label),
            sender,
        })
        .filter(|s| match &s.source {
            Source::File(p) => p.is_file(),
            Source::Pixels(_) => true,
        })
        .collect();
    let (train, val, test) = split_by_sender(
        samples,
        config.seed,
        config.val_fraction,
        config.test_fraction,
    );
    Ok(Splits {
        labels,
        train,
        val,
        test,
    })
}

/// Fashion-MNIST's class names, in label order.
pub const FASHION_MNIST_LABELS: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut out)
            .with_context(|| format!("decompressing {}", path.display()))?;
        out
    } else {
        raw
    };
    ensure!(
        bytes.len() >= 4 && bytes[2] == 8,
        "{} is not a u8 idx file",
        path.display()
    );
    let dims = bytes[3] as usize;
    ensure!(
        bytes.len() >= 4 + 4 * dims,
        "{} is truncated",
        path.display()
    );
    let shape: Vec<usize> = (0..dims)
        .map(|i| {
            u32::from_be_bytes([
                bytes[4 + 4 * i],
                bytes[5 + 4 * i],
                bytes[6 + 4 * i],
                bytes[7 + 4 * i],
            ]) as usize
        })
        .collect();
    let data = bytes[4 + 4 * dims..].to_vec();
    ensure!(
        data.len() == shape.iter().product::<usize>(),
        "{} is truncated",
        path.display()
    );
    Ok((shape, data))
}

fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    [stem.to_string(), format!("{stem}.gz")]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .with_context(|| format!("{stem}(.gz) not found in {}", dir.display()))
}

fn mnist_part(dir: &Path, prefix: &str, sender: &str) -> Result<Vec<Sample>> {
    let (shape, pixels) = read_idx(&find(dir, &format!("{prefix}-images-idx3-ubyte"))?)?;
    let (_, labels) = read_idx(&find(dir, &format!("{prefix}-labels-idx1-ubyte"))?)?;
    ensure!(
        shape.len() == 3 && shape[0] == labels.len(),
        "image and label counts differ"
    );
    let (h, w) = (shape[1], shape[2]);
    Ok(labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let image = RgbImage::from_fn(w as u32, h as u32, |x, y| {
                let v = pixels[i * h * w + y as usize * w + x as usize];
                Rgb([v, v, v])
            });
            Sample {
                id: format!("{prefix}-{i}"),
                source: Source::Pixels(Arc::new(image)),
                label: Some(*l as usize),
                sender: format!("{sender}-{i}"),
            }
        })
        .collect())
}

fn fashion_mnist(config: &DataConfig) -> Result<Splits> {
    let mut train = mnist_part(&config.path, "train", "train")?;
    let test = mnist_part(&config.path, "t10k", "test")?;
    train.shuffle(&mut StdRng::seed_from_u64(config.seed));
    let n_val = (train.len() as f64 * config.val_fraction) as usize;
    let val = train.split_off(train.len() - n_val);
    Ok(Splits {
        labels: FASHION_MNIST_LABELS.iter().map(|s| s.to_string()).collect(),
        train,
        val,
        test,
    })
}

/// Draws labelled training indices with class weights `count^-power`.
#[derive(Debug, Clone)]
pub struct BalancedSampler {
    indices: Vec<usize>,
    cumulative: Vec<f64>,
}

impl BalancedSampler {
    /// A sampler over `labels` (one class index per labelled training photo).
    pub fn new(labels: &[usize], power: f64) -> Self {
        let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
        for l in labels {
            *counts.entry(*l).or_default() += 1;
        }
        let mut total = 0.0;
        let cumulative = labels
            .iter()
            .map(|l| {
                total += (counts[l] as f64).powf(-power);
                total
            })
            .collect();
        Self {
            indices: (0..labels.len()).collect(),
            cumulative,
        }
    }

    /// One position into the `labels` the sampler was built from.
    pub fn draw(&self, rng: &mut impl Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.random::<f64>() * total;
        let i = self.cumulative.partition_point(|c| *c <= x);
        self.indices[i.min(self.indices.len().saturating_sub(1))]
    }
}

/// Random parameters of one augmentation.
#[derive(Debug, Clone, Copy)]
pub struct AugmentDraw {
    crop_w: f64,
    crop_h: f64,
    centre: (f64, f64),
    angle: f64,
    flip: bool,
    brightness: f64,
    contrast: f64,
}

impl AugmentDraw {
    /// Draws parameters for an image of `width` x `height`.
    pub fn new(a: &Augment, width: u32, height: u32, rng: &mut impl Rng) -> Self {
        let side = width.min(height) as f64;
        let scale = rng.random_range(a.min_scale..=1.0);
        let log_aspect = a.max_aspect.ln();
        let aspect = if log_aspect > 0.0 {
            rng.random_range(-log_aspect..=log_aspect).exp()
        } else {
            1.0
        };
        let crop_w = (side * (scale * aspect).sqrt()).min(width as f64);
        let crop_h = (side * (scale / aspect).sqrt()).min(height as f64);
        let cx = rng.random_range(crop_w / 2.0..=(width as f64 - crop_w / 2.0).max(crop_w / 2.0));
        let cy = rng.random_range(crop_h / 2.0..=(height as f64 - crop_h / 2.0).max(crop_h / 2.0));
        let jitter = |r: f64, rng: &mut dyn rand::RngCore| {
            if r > 0.0 {
                1.0 + rng.random_range(-r..=r)
            } else {
                1.0
            }
        };
        Self {
            crop_w,
            crop_h,
            centre: (cx, cy),
            angle: rng
                .random_range(-a.rotate_degrees..=a.rotate_degrees)
                .to_radians(),
            flip: a.flip && rng.random_bool(0.5),
            brightness: jitter(a.brightness, rng),
            contrast: jitter(a.contrast, rng),
        }
    }

    /// Renders the augmented `size`-square: crop, rotate, flip (bilinear), then the same
    /// brightness and contrast change on every channel, which leaves hue unchanged.
    pub fn apply(&self, image: &RgbImage, size: u32) -> RgbImage {
        let (w, h) = image.dimensions();
        let (sin, cos) = self.angle.sin_cos();
        let sample = |x: f64, y: f64, c: usize| -> f64 {
            let x = x.clamp(0.0, (w - 1) as f64);
            let y = y.clamp(0.0, (h - 1) as f64);
            let (x0, y0) = (x.floor() as u32, y.floor() as u32);
            let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
            let (fx, fy) = (x - x0 as f64, y - y0 as f64);
            let p = |x, y| image.get_pixel(x, y)[c] as f64;
            (p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx) * (1.0 - fy)
                + (p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx) * fy
        };
        RgbImage::from_fn(size, size, |u, v| {
            let mut px = (u as f64 + 0.5) / size as f64 - 0.5;
            let py = (v as f64 + 0.5) / size as f64 - 0.5;
            if self.flip {
                px = -px;
            }
            let (qx, qy) = (cos * px - sin * py, sin * px + cos * py);
            let sx = self.centre.0 + qx * self.crop_w - 0.5;
            let sy = self.centre.1 + qy * self.crop_h - 0.5;
            Rgb(std::array::from_fn(|c| {
                let v = sample(sx, sy, c) / 255.0;
                let v = ((v - 0.5) * self.contrast + 0.5) * self.brightness;
                (v * 255.0).round().clamp(0.0, 255.0) as u8
            }))
        })
    }
}
