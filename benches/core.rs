//! Criterion benchmarks of the host-side hot paths: preprocessing a photo, colour features and
//! exact top-K ranking over a catalogue-sized index.
// criterion_group! makes an undocumented public function.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::Cursor;

use criterion::{Criterion, criterion_group, criterion_main};
use deep_shopping::colour::{self, HIST_LEN};
use deep_shopping::index::{Blend, CatalogueIndex, IndexEntry, Item, Query, rank};
use deep_shopping::preprocess::{Limits, decode, prepare, square};
use image::{ImageFormat, Rgb, RgbImage};

/// A `w`x`h` JPEG; 533x400 is the dataset's usual size, 4000x3000 a 12 MP phone photo.
fn photo(w: u32, h: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 251) as u8])
    });
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg)
        .expect("encoding");
    out
}

fn index(n: usize, dim: usize) -> CatalogueIndex {
    let entries = (0..n)
        .map(|i| {
            let e: Vec<f32> = (0..dim)
                .map(|j| (((i * 31 + j * 7) % 17) as f32) - 8.0)
                .collect();
            let mut h = vec![0.0f32; HIST_LEN];
            h[i % HIST_LEN] = 1.0;
            // A peaked distribution over 17 categories, as the trained head gives.
            let probabilities = (0..17)
                .map(|k| if k == i % 17 { 0.84 } else { 0.01 })
                .collect();
            IndexEntry {
                item: Item::bare(i.to_string()),
                embedding: e,
                histogram: h,
                probabilities,
            }
        })
        .collect();
    CatalogueIndex::build(entries).expect("index")
}

fn benches(c: &mut Criterion) {
    let bytes = photo(533, 400);
    c.bench_function("prepare 533x400 jpeg to 160px", |b| {
        b.iter(|| prepare(black_box(&bytes), None, 160, &Limits::default()).expect("prepare"))
    });
    let phone = photo(4000, 3000);
    let decoded = decode(&phone, &Limits::default()).expect("decode");
    c.bench_function("decode 4000x3000 jpeg", |b| {
        b.iter(|| decode(black_box(&phone), &Limits::default()).expect("decode"))
    });
    c.bench_function("square 4000x3000 to 160px", |b| {
        b.iter(|| square(black_box(&decoded), None, 160).expect("square"))
    });
    let prepared = prepare(&bytes, None, 160, &Limits::default()).expect("prepare");
    c.bench_function("colour features 160px", |b| {
        b.iter(|| colour::analyse(black_box(&prepared.square)))
    });
    let catalogue = index(5_000, 128);
    let q: Vec<f32> = (0..128).map(|j| j as f32 - 64.0).collect();
    let h = vec![1.0 / HIST_LEN as f32; HIST_LEN];
    let p: Vec<f32> = (0..17).map(|k| if k == 3 { 0.84 } else { 0.01 }).collect();
    c.bench_function("rank top-24 of 5000 items", |b| {
        b.iter(|| {
            rank(
                &catalogue,
                Query {
                    embedding: black_box(&q),
                    histogram: &h,
                    probabilities: &p,
                },
                Blend::DEFAULT,
                24,
            )
        })
    });
}

criterion_group!(core, benches);
criterion_main!(core);
