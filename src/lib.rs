//! Deep Shopping: private visual search for fashion stores.
//!
//! A ResNet embeds a shopper's photo on their own device (WebGPU in the browser, with a CPU
//! fallback) and a precomputed catalogue index is ranked by look and colour. The native
//! binary builds the model files and the index; the wasm build serves the page.

pub mod assets;
pub mod colour;
pub mod embed;
pub mod error;
pub mod index;
pub mod model;
pub mod preprocess;

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
pub mod train;
#[cfg(target_arch = "wasm32")]
pub mod web;
