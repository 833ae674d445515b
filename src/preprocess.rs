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

/// Limits enforced before decoding, from the file's size and its header, so that memory and
/// time follow what is accepted, never the file.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest encoded file accepted, in bytes.
    pub max_file_bytes: usize,
    /// Largest width or height accepted, in pixels.
    pub max_side: u32,
    /// Most pixels accepted.
    pub max_pixels: u64,
    /// Largest ratio of the longer side to the shorter.
    pub max_aspect: u32,
    /// Largest decoded image (and decoder allocation), in bytes.
    pub max_alloc: u64,
}

impl Default for Limits {
    /// 40 MB files, 12,000 px sides, 40 megapixels, 20:1 and a 160 MB decoded image (an
    /// 8-bit 40-megapixel photo is 120 MB; 16-bit colour halves the pixels allowed).
    fn default() -> Self {
        Self {
            max_file_bytes: 40 << 20,
            max_side: 12_000,
            max_pixels: 40_000_000,
            max_aspect: 20,
            max_alloc: 160 << 20,
        }
    }
}

impl Limits {
    /// Checks a photo's header: its sides, pixels, shape and decoded size.
    pub fn check(&self, width: u32, height: u32, decoded_bytes: u64) -> Result<(), ImageError> {
        let fail = |limit: String| {
            Err(ImageError::Dimensions {
                width,
                height,
                limit,
            })
        };
        let (long, short) = (width.max(height), width.min(height));
        if short == 0 {
            return fail("it has no pixels".into());
        }
        if long > self.max_side {
            return fail(format!("the limit is {} pixels a side", self.max_side));
        }
        if width as u64 * height as u64 > self.max_pixels {
            return fail(format!(
                "the limit is {} megapixels",
                self.max_pixels / 1_000_000
            ));
        }
        if long > short.saturating_mul(self.max_aspect) {
            return fail(format!(
                "its sides are further apart than {}:1",
                self.max_aspect
            ));
        }
        if decoded_bytes > self.max_alloc {
            return fail(format!(
                "decoded it would take {} MB; the limit is {} MB",
                decoded_bytes >> 20,
                self.max_alloc >> 20
            ));
        }
        Ok(())
    }
}

/// The photo formats seen in uploads that are not read, by the brand of their ISO-BMFF
/// `ftyp` box.
fn unsupported(bytes: &[u8]) -> Option<&'static str> {
    let brand = bytes.get(4..12)?;
    if !brand.starts_with(b"ftyp") {
        return None;
    }
    match &brand[4..8] {
        b"heic" | b"heix" | b"hevc" | b"heim" | b"heis" | b"mif1" | b"msf1" => Some("HEIC"),
        b"avif" | b"avis" => Some("AVIF"),
        _ => None,
    }
}

/// Share of the rows of a decoded JPEG that its file did not hold: a file cut short decodes
/// with its missing rows in the decoder's mid grey. 0 for a file that ends with its end
/// marker.
fn missing_rows(bytes: &[u8], image: &DynamicImage) -> f32 {
    let tail = &bytes[bytes.len().saturating_sub(64)..];
    if tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
        return 0.0;
    }
    // The decoder's own buffer is read in place (a JPEG decodes to 8-bit RGB or grey).
    let (w, h) = (image.width(), image.height());
    let grey_row = |y: u32| match image {
        DynamicImage::ImageRgb8(rgb) => (0..w).all(|x| rgb.get_pixel(x, y).0 == [128; 3]),
        DynamicImage::ImageLuma8(luma) => (0..w).all(|x| luma.get_pixel(x, y).0 == [128]),
        _ => false,
    };
    let rows = (0..h).rev().take_while(|&y| grey_row(y)).count();
    rows as f32 / h.max(1) as f32
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
/// The limits, checked against the header before any pixel is decoded; a JPEG cut short is
/// refused when most of it is missing, and logged as a warning when some is.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<DynamicImage, ImageError> {
    if bytes.len() > limits.max_file_bytes {
        return Err(ImageError::FileTooLarge {
            size: bytes.len(),
            limit: limits.max_file_bytes,
        });
    }
    if let Some(kind) = unsupported(bytes) {
        return Err(ImageError::Unsupported(kind));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(image::ImageError::IoError)?;
    let jpeg = reader.format() == Some(image::ImageFormat::Jpeg);
    // The header is read with no limits, so that a photo over them is refused in the words
    // of `Limits::check`; the decoder's own limits then guard the decoding.
    reader.no_limits();
    let mut decoder = reader.into_decoder()?;
    let (width, height) = decoder.dimensions();
    limits.check(width, height, decoder.total_bytes())?;
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_side);
    decoder_limits.max_image_height = Some(limits.max_side);
    decoder_limits.max_alloc = Some(limits.max_alloc);
    decoder.set_limits(decoder_limits)?;
    let orientation = decoder.orientation()?;
    let mut image = DynamicImage::from_decoder(decoder)?;
    if jpeg {
        let missing = missing_rows(bytes, &image);
        let missing_percent = (missing * 100.0).round() as u32;
        if missing > 0.5 {
            return Err(ImageError::Truncated { missing_percent });
        }
        if missing > 0.0 {
            log::warn!("the photo is cut short: about {missing_percent}% of it is missing");
        }
    }
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
