//! Deep Shopping: private visual search for fashion stores.
//!
//! A ResNet embeds a shopper's photo on their own device (WebGPU in the browser, with a CPU
//! fallback) and a precomputed catalogue index is ranked by look and colour. The native
//! binary builds the model files and the index; the wasm build serves the page.

pub mod assets;
pub mod colour;
#[cfg(feature = "model")]
pub mod embed;
pub mod error;
pub mod index;
pub mod model;
pub mod preprocess;

// The CLI, training and the index build run the model.
#[cfg(all(not(target_arch = "wasm32"), not(feature = "model")))]
compile_error!("the native build needs the `model` feature (on by default)");

#[cfg(not(target_arch = "wasm32"))]
pub mod build;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
#[cfg(not(target_arch = "wasm32"))]
pub mod download;
#[cfg(not(target_arch = "wasm32"))]
pub mod feed;
#[cfg(not(target_arch = "wasm32"))]
pub mod files;
#[cfg(not(target_arch = "wasm32"))]
pub mod partitioned;
#[cfg(not(target_arch = "wasm32"))]
pub mod train;
#[cfg(target_arch = "wasm32")]
pub mod web;
