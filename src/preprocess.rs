//! The one preprocessing path from encoded photo bytes to model input, shared by training,
//! index export and the browser: decode (with limits set before decoding), EXIF orientation,
//! crop, area-average reduction of large photos, resize and centre-crop to a square, ImageNet
//! normalisation.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use crate::error::ImageError;

/// Per-channel mean of ImageNet photos, in RGB order.
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// Per-channel standard deviation of ImageNet photos, in RGB order.
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Limits enforced before and while decoding.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest encoded file accepted, in bytes.
    pub max_file_bytes: usize,
    /// Largest width or height accepted, in pixels.
    pub max_side: u32,
    /// Largest decoder allocation, in bytes.
    pub max_alloc: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 40 << 20,
            max_side: 12_000,
            max_alloc: 512 << 20,
        }
    }
}

/// A crop box as fractions of the upright image: `x`, `y`, `width`, `height` in 0..=1.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Crop {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
}

impl Crop {
    /// The whole photo.
    pub const WHOLE: Crop = Crop {
        x: 0.0,
        y: 0.0,
        width: 1.0,
        height: 1.0,
    };

    /// The box moved and shrunk as little as needed to lie inside the photo with sides of at
    /// least `min_side` (a fraction, at most 1).
    pub fn clamped(self, min_side: f32) -> Crop {
        let width = self.width.clamp(min_side, 1.0);
        let height = self.height.clamp(min_side, 1.0);
        Crop {
            x: self.x.clamp(0.0, 1.0 - width),
            y: self.y.clamp(0.0, 1.0 - height),
            width,
            height,
        }
    }

    /// The box with its corner `(left, top)` moved by `(dx, dy)` and the opposite corner kept,
    /// inside the photo and with sides of at least `min_side`.
    pub fn corner_moved(self, left: bool, top: bool, dx: f32, dy: f32, min_side: f32) -> Crop {
        let (mut x0, mut y0) = (self.x, self.y);
        let (mut x1, mut y1) = (self.x + self.width, self.y + self.height);
        if left {
            x0 = (x0 + dx).clamp(0.0, (x1 - min_side).max(0.0));
        } else {
            x1 = (x1 + dx).clamp((x0 + min_side).min(1.0), 1.0);
        }
        if top {
            y0 = (y0 + dy).clamp(0.0, (y1 - min_side).max(0.0));
        } else {
            y1 = (y1 + dy).clamp((y0 + min_side).min(1.0), 1.0);
        }
        Crop {
            x: x0,
            y: y0,
            width: x1 - x0,
            height: y1 - y0,
        }
    }

    fn check(&self) -> Result<(), ImageError> {
        let Crop {
            x,
            y,
            width,
            height,
        } = *self;
        let ok = [x, y, width, height].iter().all(|v| v.is_finite())
            && x >= 0.0
            && y >= 0.0
            && width > 0.0
            && height > 0.0
            && x + width <= 1.0 + 1e-4
            && y + height <= 1.0 + 1e-4;
        if ok {
            Ok(())
        } else {
            Err(ImageError::BadCrop([x, y, width, height]))
        }
    }
}

/// Decodes `bytes` and turns it upright according to its EXIF orientation.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<DynamicImage, ImageError> {
    if bytes.len() > limits.max_file_bytes {
        return Err(ImageError::FileTooLarge {
            size: bytes.len(),
            limit: limits.max_file_bytes,
        });
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(image::ImageError::IoError)?;
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_side);
    decoder_limits.max_image_height = Some(limits.max_side);
    decoder_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(decoder_limits);
    let mut decoder = reader.into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    if image.width() == 0 || image.height() == 0 {
        return Err(ImageError::Empty {
            width: image.width(),
            height: image.height(),
        });
    }
    Ok(image)
}

/// Shorter sides above `PRESCALE_FACTOR * size` are first reduced by area averaging to
/// `PRESCALE_TARGET * size`, so a large phone photo is not filtered at full resolution.
pub const PRESCALE_FACTOR: u32 = 4;
/// Shorter side, in multiples of the input size, a large photo is reduced to before resizing.
pub const PRESCALE_TARGET: u32 = 2;

/// Crops (optionally), scales the shorter side to `size` and centre-crops a `size`-square.
///
/// Only the cropped region is converted to RGB. When its shorter side exceeds
/// [`PRESCALE_FACTOR`]` * size` it is first reduced by area averaging (`thumbnail`) to a
/// shorter side of [`PRESCALE_TARGET`]` * size`; smaller photos (the catalogue's 400x533
/// photos among them) go straight to the triangle-filter resize.
pub fn square(image: &DynamicImage, crop: Option<Crop>, size: u32) -> Result<RgbImage, ImageError> {
    let cropped = match crop {
        None => None,
        Some(c) => {
            c.check()?;
            let (w, h) = (image.width(), image.height());
            let x0 = ((c.x * w as f32).floor() as u32).min(w);
            let y0 = ((c.y * h as f32).floor() as u32).min(h);
            let cw = ((c.width * w as f32).round() as u32).min(w - x0);
            let ch = ((c.height * h as f32).round() as u32).min(h - y0);
            if cw == 0 || ch == 0 {
                return Err(ImageError::Empty {
                    width: cw,
                    height: ch,
                });
            }
            Some(image.crop_imm(x0, y0, cw, ch))
        }
    };
    let region = cropped.as_ref().unwrap_or(image);
    let (w, h) = (region.width(), region.height());
    let rgb = if w.min(h) > PRESCALE_FACTOR.saturating_mul(size) {
        let target = PRESCALE_TARGET.saturating_mul(size) as f32 / w.min(h) as f32;
        let tw = ((w as f32 * target).round() as u32).max(size);
        let th = ((h as f32 * target).round() as u32).max(size);
        region.thumbnail_exact(tw, th).to_rgb8()
    } else {
        region.to_rgb8()
    };
    let (w, h) = rgb.dimensions();
    let scale = size as f32 / w.min(h) as f32;
    let nw = ((w as f32 * scale).round() as u32).max(size);
    let nh = ((h as f32 * scale).round() as u32).max(size);
    let resized = image::imageops::resize(&rgb, nw, nh, FilterType::Triangle);
    let x0 = (nw - size) / 2;
    let y0 = (nh - size) / 2;
    Ok(image::imageops::crop_imm(&resized, x0, y0, size, size).to_image())
}

/// Normalises an RGB image into a channel-first `[3, H, W]` float buffer.
pub fn normalise(image: &RgbImage) -> Vec<f32> {
    let (w, h) = image.dimensions();
    let plane = (w * h) as usize;
    let mut out = vec![0.0f32; 3 * plane];
    for (i, pixel) in image.pixels().enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (pixel[c] as f32 / 255.0 - MEAN[c]) / STD[c];
        }
    }
    out
}

/// Everything derived from one photo: model input and the square image colours are read from.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Normalised `[3, size, size]` model input.
    pub input: Vec<f32>,
    /// The square, cropped image the input was made from.
    pub square: RgbImage,
}

/// Decode, orient, crop, resize and normalise in one call.
pub fn prepare(
    bytes: &[u8],
    crop: Option<Crop>,
    size: u32,
    limits: &Limits,
) -> Result<Prepared, ImageError> {
    let image = decode(bytes, limits)?;
    let square = square(&image, crop, size)?;
    Ok(Prepared {
        input: normalise(&square),
        square,
    })
}
