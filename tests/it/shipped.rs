//! The model shipped in `models/`: it loads into the architecture, and a catalogue built with
//! it finds each of its own photos first.

use deep_shopping::colour;
use deep_shopping::index::{CatalogueIndex, IndexEntry, Item, Query, Weights, rank};
use deep_shopping::preprocess::{Limits, prepare};

fn shipped() -> deep_shopping::embed::Embedder {
    deep_shopping::cli::load_model(&crate::root().join("models")).expect("the shipped model loads")
}

#[test]
fn shipped_weights_load_and_embed() {
    let model = shipped();
    let manifest = model.manifest();
    assert_eq!(manifest.labels.len(), manifest.model.num_classes);
    let (stem, _) = &crate::labelled_photos(1)[0];
    let bytes = std::fs::read(crate::photo(stem)).unwrap();
    let p = prepare(&bytes, None, model.input_size(), &Limits::default()).unwrap();
    let out = model.embed_blocking(&[p.input]).unwrap();
    assert_eq!(out[0].embedding.len(), manifest.model.embedding_dim);
    let norm: f32 = out[0].embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
    assert_eq!(out[0].probabilities.len(), manifest.model.num_classes);
}

#[test]
fn a_photo_and_its_mirror_image_embed_alike() {
    // Each photo runs with its mirror image and the two views are combined, so mirroring the
    // input changes nothing but rounding; a different photo does change the result.
    let model = shipped();
    let size = model.input_size() as usize;
    let inputs: Vec<Vec<f32>> = crate::labelled_photos(2)
        .iter()
        .map(|(stem, _)| {
            let bytes = std::fs::read(crate::photo(stem)).unwrap();
            prepare(&bytes, None, size as u32, &Limits::default())
                .unwrap()
                .input
        })
        .collect();
    let mirrored: Vec<f32> = (0..3 * size * size)
        .map(|i| {
            let (plane, x) = (i / size, i % size);
            inputs[0][plane * size + size - 1 - x]
        })
        .collect();
    assert_ne!(mirrored, inputs[0]);
    let out = model
        .embed_blocking(&[inputs[0].clone(), mirrored, inputs[1].clone()])
        .unwrap();
    let gap = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    };
    assert!(gap(&out[0].embedding, &out[1].embedding) < 1e-4);
    assert!(gap(&out[0].probabilities, &out[1].probabilities) < 1e-4);
    assert!(gap(&out[0].embedding, &out[2].embedding) > 1e-2);
}

#[test]
fn catalogue_photos_retrieve_themselves_first() {
    let model = shipped();
    let photos = crate::labelled_photos(24);
    let mut entries = Vec::new();
    let mut queries = Vec::new();
    for (stem, label) in &photos {
        let bytes = std::fs::read(crate::photo(stem)).unwrap();
        let p = prepare(&bytes, None, model.input_size(), &Limits::default()).unwrap();
        let c = colour::features(&p.square);
        let out = model.embed_blocking(&[p.input]).unwrap().remove(0);
        queries.push((
            out.embedding.clone(),
            c.histogram.clone(),
            out.probabilities.clone(),
        ));
        entries.push(IndexEntry {
            item: Item {
                id: stem.clone(),
                title: label.clone(),
                image: String::new(),
                category: Some(label.clone()),
                price: None,
                colours: c.dominant,
            },
            embedding: out.embedding,
            histogram: c.histogram,
            probabilities: out.probabilities,
        });
    }
    let index = CatalogueIndex::build(entries).unwrap();
    for (i, (e, h, p)) in queries.iter().enumerate() {
        for weights in [Weights::colour(0.0), Weights::colour(0.3), Weights::DEFAULT] {
            let hits = rank(
                &index,
                Query {
                    embedding: e,
                    histogram: h,
                    probabilities: p,
                },
                weights,
                3,
            );
            assert_eq!(hits[0].index, i, "photo {} with {weights:?}", photos[i].0);
            assert!(hits[0].visual > 0.99, "self-similarity {}", hits[0].visual);
        }
    }
}
