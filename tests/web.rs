//! wasm tests, run in headless Chromium by wasm-bindgen-test-runner: preprocessing gives the
//! same bits as natively, and the model runs on burn's flex CPU backend in the browser.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use burn::tensor::Device;
use deep_shopping::assets::{FileEntry, MODEL_FORMAT_VERSION, ModelManifest, quantise_weights};
use deep_shopping::embed::Embedder;
use deep_shopping::model::{ResNetConfig, Stem};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn preprocessing_matches_native_bit_for_bit() {
    assert_eq!(common::preprocessing_digest(), common::EXPECTED_DIGEST);
}

#[wasm_bindgen_test]
async fn int8_model_embeds_on_cpu_in_the_browser() {
    let config = ResNetConfig {
        stages: vec![1, 1],
        width: 8,
        input_size: 64,
        embedding_dim: 16,
        num_classes: 3,
        stem: Stem::Imagenet,
    };
    let device = Device::flex();
    let model = config.init(&device);
    let (weights, _) = quantise_weights(&model).expect("quantising");
    let manifest = ModelManifest {
        format_version: MODEL_FORMAT_VERSION,
        model: config,
        labels: vec!["a".into(), "b".into(), "c".into()],
        trained: false,
        description: "test".into(),
        weights: FileEntry::of("weights.safetensors", &weights),
    };
    let embedder = Embedder::load(
        &manifest.to_json().expect("manifest JSON"),
        &weights,
        device,
    )
    .expect("loading");
    let (_, bytes) = &common::preprocessing_cases()[0];
    let out = embedder.describe(bytes, None).await.expect("describing");
    let norm: f32 = out.embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "embedding norm {norm}");
    let total: f32 = out.probabilities.iter().sum();
    assert!((total - 1.0).abs() < 1e-4, "probabilities sum to {total}");
}
