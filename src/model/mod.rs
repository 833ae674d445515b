//! The ResNet architecture: a residual convolutional network with an embedding head and a
//! category head. Architecture only; training, loading and inference live elsewhere. Its
//! shape (`config`) is plain data that the page reads from the model manifest; the network
//! itself (`net`, `block`) needs burn and comes with the `model` feature.

#[cfg(feature = "model")]
mod block;
mod config;
#[cfg(feature = "model")]
mod net;

#[cfg(feature = "model")]
pub use block::BasicBlock;
pub use config::{ResNetConfig, Stem};
#[cfg(feature = "model")]
pub use net::{ResNet, ResNetOutput, l2_normalise};
