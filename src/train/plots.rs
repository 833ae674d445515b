//! Report pictures: training curves and a confusion matrix (SVG, plotters), and a contact
//! sheet of queries with their nearest catalogue photos (JPEG).

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use image::{Rgb, RgbImage};
use plotters::prelude::*;

use super::run::EpochMetrics;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Registers the sans-serif font plotters draws text with (Debian's fonts-dejavu-core).
fn register_font() -> Result<()> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let bytes = std::fs::read(FONT).map_err(|e| format!("reading {FONT}: {e}"))?;
        plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            Box::leak(bytes.into_boxed_slice()),
        )
        .map_err(|_| "the font could not be registered".to_string())
    })
    .clone()
    .map_err(|e| anyhow!("{e} (install fonts-dejavu-core)"))
}

type Series = (&'static str, &'static RGBColor, fn(&EpochMetrics) -> f64);

/// One panel of per-epoch lines.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    history: &[EpochMetrics],
    y_max: f64,
    series: &[Series],
) -> Result<()> {
    let epochs = (history.len() as f64).max(2.0);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(45)
        .build_cartesian_2d(1.0..epochs, 0.0..y_max)
        .map_err(|e| anyhow!("{e:?}"))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .draw()
        .map_err(|e| anyhow!("{e:?}"))?;
    for &(name, colour, f) in series {
        chart
            .draw_series(LineSeries::new(
                history.iter().map(|m| (m.epoch as f64, f(m))),
                colour,
            ))
            .map_err(|e| anyhow!("{e:?}"))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow!("{e:?}"))
}

/// Training losses and validation accuracy per epoch.
pub fn curves(history: &[EpochMetrics], path: &Path) -> Result<()> {
    register_font()?;
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let (left, right) = root.split_horizontally(450);
    let max_loss = history
        .iter()
        .map(|m| m.train_loss)
        .fold(0.0, f64::max)
        .max(1e-3);
    panel(
        &left,
        "training loss",
        history,
        max_loss * 1.05,
        &[
            ("total", &BLUE, |m| m.train_loss),
            ("category", &RED, |m| m.classify_loss),
            ("embedding", &GREEN, |m| m.embedding_loss),
            ("distill", &MAGENTA, |m| m.distill_loss),
        ],
    )?;
    panel(
        &right,
        "validation accuracy",
        history,
        1.0,
        &[
            ("top-1", &BLUE, |m| m.val_top1),
            ("top-3", &RED, |m| m.val_top3),
        ],
    )?;
    root.present()
        .map_err(|e| anyhow!("{e:?}"))
        .with_context(|| format!("writing {}", path.display()))
}

/// Row-normalised confusion matrix (rows: true class, columns: predicted class).
pub fn confusion(matrix: &[Vec<usize>], labels: &[String], path: &Path) -> Result<()> {
    register_font()?;
    let k = labels.len();
    let cell = 36;
    let margin = 120;
    let side = (margin + cell * k + 20) as u32;
    let root = SVGBackend::new(path, (side, side)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e:?}"))?;
    let font = ("sans-serif", 12).into_font();
    for (i, row) in matrix.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f64;
        for (j, n) in row.iter().enumerate() {
            let share = *n as f64 / total;
            let shade = (255.0 * (1.0 - share)) as u8;
            let (x, y) = ((margin + j * cell) as i32, (margin + i * cell) as i32);
            root.draw(&Rectangle::new(
                [(x, y), (x + cell as i32, y + cell as i32)],
                RGBColor(shade, shade, 255).filled(),
            ))
            .map_err(|e| anyhow!("{e:?}"))?;
            if *n > 0 {
                let colour = if share > 0.5 { WHITE } else { BLACK };
                root.draw(&Text::new(
                    n.to_string(),
                    (x + 4, y + 12),
                    font.clone().color(&colour),
                ))
                .map_err(|e| anyhow!("{e:?}"))?;
            }
        }
        root.draw(&Text::new(
            labels[i].clone(),
            (4, (margin + i * cell + 12) as i32),
            font.clone(),
        ))
        .map_err(|e| anyhow!("{e:?}"))?;
    }
    for (j, l) in labels.iter().enumerate() {
        let style = font.clone().transform(FontTransform::Rotate270);
        root.draw(&Text::new(
            l.clone(),
            ((margin + j * cell + 10) as i32, margin as i32 - 4),
            style,
        ))
        .map_err(|e| anyhow!("{e:?}"))?;
    }
    root.present()
        .map_err(|e| anyhow!("{e:?}"))
        .with_context(|| format!("writing {}", path.display()))
}

/// Rows of `[query, result 1..n]` thumbnails; a green frame marks a result of the query's
/// class, red one of another class.
pub fn contact_sheet(rows: &[(RgbImage, Vec<(RgbImage, bool)>)], path: &Path) -> Result<()> {
    let t = 120u32;
    let pad = 6u32;
    let cols = rows.iter().map(|r| r.1.len() + 1).max().unwrap_or(1) as u32;
    let mut sheet = RgbImage::from_pixel(
        cols * (t + pad) + pad,
        rows.len() as u32 * (t + pad) + pad,
        Rgb([255, 255, 255]),
    );
    for (r, (query, results)) in rows.iter().enumerate() {
        let y = pad + r as u32 * (t + pad);
        let mut place = |img: &RgbImage, col: u32, frame: Option<Rgb<u8>>| {
            let x = pad + col * (t + pad) + if col > 0 { pad } else { 0 }
                - if col > 0 { pad } else { 0 };
            let thumb = image::imageops::resize(img, t, t, image::imageops::FilterType::Triangle);
            image::imageops::overlay(&mut sheet, &thumb, x as i64, y as i64);
            if let Some(c) = frame {
                for i in 0..t {
                    for w in 0..4 {
                        sheet.put_pixel(x + i, y + w, c);
                        sheet.put_pixel(x + i, y + t - 1 - w, c);
                        sheet.put_pixel(x + w, y + i, c);
                        sheet.put_pixel(x + t - 1 - w, y + i, c);
                    }
                }
            }
        };
        place(query, 0, Some(Rgb([40, 40, 40])));
        for (c, (img, same)) in results.iter().enumerate() {
            let colour = if *same {
                Rgb([30, 160, 60])
            } else {
                Rgb([210, 40, 40])
            };
            place(img, c as u32 + 1, Some(colour));
        }
    }
    let mut out = Vec::new();
    sheet.write_to(
        &mut std::io::Cursor::new(&mut out),
        image::ImageFormat::Jpeg,
    )?;
    crate::files::write_atomic(path, &out)
}
