//! Which photos make up a training batch: labelled photos drawn class-balanced, and with a
//! teacher, a share of unlabelled photos; each with the seed of its augmentation.

use rand::Rng;
use rand::rngs::StdRng;

use super::data::BalancedSampler;

/// One photo of a batch.
#[derive(Debug, Clone, Copy)]
pub struct Pick {
    /// Row of the photo among the training images (labelled ones first).
    pub image: usize,
    /// Its class, `None` for an unlabelled photo.
    pub label: Option<usize>,
    /// Seed of its augmentation.
    pub seed: u64,
}

/// How batches are drawn.
pub struct BatchPlan<'a> {
    /// Draws labelled photos with class balancing.
    pub sampler: &'a BalancedSampler,
    /// Classes of the labelled photos, which come first among the training images.
    pub labels: &'a [usize],
    /// Number of unlabelled photos after them.
    pub unlabelled: usize,
    /// Labelled photos per batch.
    pub labelled_per_batch: usize,
    /// Unlabelled photos per batch.
    pub unlabelled_per_batch: usize,
}

impl BatchPlan<'_> {
    /// Draws one batch: the labelled photos, then the unlabelled ones.
    pub fn draw(&self, rng: &mut StdRng) -> Vec<Pick> {
        let mut picks: Vec<Pick> = (0..self.labelled_per_batch)
            .map(|_| {
                let i = self.sampler.draw(rng);
                Pick {
                    image: i,
                    label: Some(self.labels[i]),
                    seed: rng.random(),
                }
            })
            .collect();
        if self.unlabelled > 0 {
            for _ in 0..self.unlabelled_per_batch {
                let j = rng.random_range(0..self.unlabelled);
                picks.push(Pick {
                    image: self.labels.len() + j,
                    label: None,
                    seed: rng.random(),
                });
            }
        }
        picks
    }
}
