//! `deep-shopping eval`: category accuracy and retrieval quality on the test split, for a
//! run's f32 network and its int8 export (or an exported int8 model folder alone), written as
//! a Markdown + JSON report with pictures.

use std::path::Path;

use anyhow::{Context, Result, ensure};
use burn::tensor::Device;

use super::config::TrainConfig;
use super::data::{Sample, Source, Splits};
use super::inputs::eval_inputs;
use super::metrics::{predict, top_k};
use super::plots;
use super::report::{ClassMetrics, Metrics, ModelFolder, QuerySplit, Report, markdown};
use super::run::{RunFiles, RunState};
use crate::assets::load_weights;
use crate::colour::HIST_LEN;
use crate::files::{portable, read_model_on, write_atomic};
use crate::index::{Blend, CatalogueIndex, IndexEntry, Item, rank};
use crate::model::{ResNet, ResNetConfig};

/// The networks `evaluate` measures.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A training run: its best f32 network and its int8 export.
    Run(&'a RunFiles),
    /// An exported model folder (manifest and int8 weights, e.g. `models/`) alone: int8
    /// figures only, no training curves.
    Model(&'a Path),
}

/// What `evaluate` measures besides the networks themselves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalOptions {
    /// The queries.
    pub split: QuerySplit,
    /// Category weight of the "as ranked" retrieval figures.
    pub category_weight: f32,
}

struct Scored {
    probs: Vec<Vec<f32>>,
    per_query_p10: Vec<f64>,
    per_query_ap: Vec<f64>,
    ranked_p10: Vec<f64>,
    ranked_ap: Vec<f64>,
    neighbours: Vec<Vec<usize>>,
}

/// Retrieval figures of one query.
struct QueryRetrieval {
    /// P@10 and AP by embedding similarity.
    embedding: (f64, f64),
    /// P@10 and AP as the product ranks.
    ranked: (f64, f64),
    /// The first five catalogue rows as the product ranks.
    top5: Vec<usize>,
}

/// Precision at 10 and average precision of a full ranking (catalogue rows, best first).
fn precision_and_ap(
    order: impl Iterator<Item = usize>,
    relevant: impl Fn(usize) -> bool,
) -> (f64, f64) {
    let (mut hits, mut top10, mut sum) = (0usize, 0usize, 0.0f64);
    for (rank, i) in order.enumerate() {
        if relevant(i) {
            hits += 1;
            sum += hits as f64 / (rank + 1) as f64;
            if rank < 10 {
                top10 += 1;
            }
        }
    }
    let ap = if hits > 0 { sum / hits as f64 } else { 0.0 };
    (top10 as f64 / 10.0, ap)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Prepared test queries and catalogue photos with their labels.
struct EvalSet<'a> {
    config: &'a ResNetConfig,
    test: Vec<Vec<f32>>,
    test_labels: Vec<usize>,
    catalogue: Vec<Vec<f32>>,
    catalogue_labels: Vec<usize>,
}

fn score(net: &ResNet, set: &EvalSet, category_weight: f32, device: &Device) -> Result<Scored> {
    let queries = predict(net, set.config, &set.test, device)?;
    let outputs = predict(net, set.config, &set.catalogue, device)?;
    let index = CatalogueIndex::build(
        outputs
            .iter()
            .enumerate()
            .map(|(i, e)| IndexEntry {
                item: Item::bare(i.to_string()),
                embedding: e.embedding.clone(),
                histogram: vec![0.0; HIST_LEN],
                probabilities: e.probabilities.clone(),
            })
            .collect(),
    )?;
    let items: Vec<Vec<f32>> = outputs.into_iter().map(|e| e.embedding).collect();
    let catalogue_labels = &set.catalogue_labels;
    let weights = Blend {
        colour: 0.0,
        category: category_weight,
    };
    use rayon::prelude::*;
    let ranked: Vec<QueryRetrieval> = queries
        .par_iter()
        .zip(&set.test_labels)
        .map(|(q, label)| {
            let e = &q.embedding;
            let mut order: Vec<(f32, usize)> = items
                .iter()
                .enumerate()
                .map(|(i, c)| (dot(e, c), i))
                .collect();
            order.sort_by(|a, b| b.0.total_cmp(&a.0));
            let relevant = |i: usize| catalogue_labels[i] == *label;
            let embedding = precision_and_ap(order.iter().map(|(_, i)| *i), relevant);
            // The network's description has no colours: the ranking is by look alone.
            let hits = rank(&index, q.query(), weights, index.len());
            QueryRetrieval {
                embedding,
                ranked: precision_and_ap(hits.iter().map(|h| h.index), relevant),
                top5: hits.iter().take(5).map(|h| h.index).collect(),
            }
        })
        .collect();
    Ok(Scored {
        probs: queries.into_iter().map(|q| q.probabilities).collect(),
        per_query_p10: ranked.iter().map(|r| r.embedding.0).collect(),
        per_query_ap: ranked.iter().map(|r| r.embedding.1).collect(),
        ranked_p10: ranked.iter().map(|r| r.ranked.0).collect(),
        ranked_ap: ranked.iter().map(|r| r.ranked.1).collect(),
        neighbours: ranked.into_iter().map(|r| r.top5).collect(),
    })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn metrics(s: &Scored, labels: &[usize]) -> Metrics {
    Metrics {
        top1: top_k(&s.probs, labels, 1),
        top3: top_k(&s.probs, labels, 3),
        precision_at_10: mean(&s.per_query_p10),
        map: mean(&s.per_query_ap),
        ranked_precision_at_10: mean(&s.ranked_p10),
        ranked_map: mean(&s.ranked_ap),
    }
}

fn argmax(p: &[f32]) -> usize {
    p.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

fn thumbnail(sample: &Sample) -> Result<image::RgbImage> {
    match &sample.source {
        Source::Pixels(p) => Ok((**p).clone()),
        Source::File(path) => {
            let bytes = std::fs::read(path)?;
            let image = crate::preprocess::decode(&bytes, &crate::preprocess::Limits::default())?;
            Ok(crate::preprocess::square(&image, None, 160)?)
        }
    }
}

/// The networks of a subject, loaded for `labels`.
struct Networks {
    config: ResNetConfig,
    f32: Option<ResNet>,
    int8: ResNet,
    int8_bytes: u64,
    state: Option<RunState>,
    folder: Option<ModelFolder>,
}

fn load_networks(
    config: &TrainConfig,
    subject: Subject<'_>,
    labels: &[String],
    device: &Device,
) -> Result<Networks> {
    match subject {
        Subject::Run(files) => {
            let state: RunState = serde_json::from_slice(
                &std::fs::read(files.state())
                    .with_context(|| format!("reading {}", files.state().display()))?,
            )?;
            let net_config = config.model.resnet(labels.len());
            let best = std::fs::read(files.best())
                .with_context(|| format!("reading {}", files.best().display()))?;
            let f32 = load_weights(net_config.init(device), &best)
                .context("loading the best f32 network")?;
            let int8_path = files.model_dir().join(crate::assets::WEIGHTS_FILE);
            let int8_bytes = std::fs::read(&int8_path)
                .with_context(|| format!("reading {}", int8_path.display()))?;
            let int8 = load_weights(net_config.init(device), &int8_bytes)
                .context("loading the int8 export")?;
            Ok(Networks {
                config: net_config,
                f32: Some(f32),
                int8,
                int8_bytes: int8_bytes.len() as u64,
                state: Some(state),
                folder: None,
            })
        }
        Subject::Model(dir) => {
            let embedder = read_model_on(dir, device.clone())?;
            let manifest = embedder.manifest();
            ensure!(
                manifest.labels == labels,
                "the model in {} names the categories {:?}, the dataset {:?}",
                dir.display(),
                manifest.labels,
                labels
            );
            Ok(Networks {
                config: manifest.model.clone(),
                f32: None,
                int8: embedder.network().clone(),
                int8_bytes: manifest.weights.bytes,
                state: None,
                folder: Some(ModelFolder {
                    path: portable(&dir.display().to_string()),
                    weights_sha256: embedder.model_sha256().to_string(),
                }),
            })
        }
    }
}

/// Evaluates the subject's networks (a run's best f32 network and its int8 export, or an
/// exported model folder) and writes the report files into `out` (report.md, report.json,
/// confusion.svg, contact-sheet.jpg, and curves.svg for a run).
pub fn evaluate(
    config: &TrainConfig,
    subject: Subject<'_>,
    out: &Path,
    options: EvalOptions,
) -> Result<Report> {
    let splits = Splits::load(&config.data)?;
    let device = config.train.device.open()?;
    let nets = load_networks(config, subject, &splits.labels, &device)?;
    let net_config = &nets.config;
    let size = net_config.input_size;

    let (queries, catalogue): (&[Sample], Vec<Sample>) = match options.split {
        QuerySplit::Test => (
            &splits.test,
            splits
                .train_labelled()
                .chain(splits.val.iter())
                .cloned()
                .collect(),
        ),
        QuerySplit::Validation => (&splits.val, splits.train_labelled().cloned().collect()),
    };
    let set = EvalSet {
        config: net_config,
        test: eval_inputs(queries, size as u32)?,
        test_labels: queries.iter().filter_map(|s| s.label).collect(),
        catalogue: eval_inputs(&catalogue, size as u32)?,
        catalogue_labels: catalogue.iter().filter_map(|s| s.label).collect(),
    };
    let (test_labels, catalogue_labels) = (&set.test_labels, &set.catalogue_labels);
    let f32_scored = nets
        .f32
        .as_ref()
        .map(|net| score(net, &set, options.category_weight, &device))
        .transpose()?;
    let int8_scored = score(&nets.int8, &set, options.category_weight, &device)?;

    let k = splits.labels.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for (p, l) in int8_scored.probs.iter().zip(test_labels) {
        confusion[*l][argmax(p)] += 1;
    }
    let classes = (0..k)
        .map(|c| {
            let idx: Vec<usize> = (0..test_labels.len())
                .filter(|i| test_labels[*i] == c)
                .collect();
            let correct = idx
                .iter()
                .filter(|i| argmax(&int8_scored.probs[**i]) == c)
                .count();
            // Mean of a per-query figure over this class's queries.
            let class_mean =
                |per_query: &[f64]| mean(&idx.iter().map(|i| per_query[*i]).collect::<Vec<_>>());
            ClassMetrics {
                label: splits.labels[c].clone(),
                test_photos: idx.len(),
                train_photos: splits
                    .train_labelled()
                    .filter(|s| s.label == Some(c))
                    .count(),
                top1: correct as f64 / idx.len().max(1) as f64,
                precision_at_10: class_mean(&int8_scored.per_query_p10),
                ranked_precision_at_10: class_mean(&int8_scored.ranked_p10),
            }
        })
        .collect();
    let report = Report {
        dataset: format!("{:?}", config.data.kind),
        seed: config.data.seed,
        split: options.split,
        test_photos: test_labels.len(),
        catalogue_photos: catalogue_labels.len(),
        category_weight: options.category_weight,
        model_folder: nets.folder,
        f32: f32_scored.as_ref().map(|s| metrics(s, test_labels)),
        int8: metrics(&int8_scored, test_labels),
        classes,
        confusion,
        epochs: nets.state.as_ref().map(|s| s.history.len()),
        training_seconds: nets
            .state
            .as_ref()
            .map(|s| s.history.iter().map(|m| m.seconds).sum()),
        init_epochs: nets.state.as_ref().map(|s| s.init_epochs),
        weights_bytes: nets.int8_bytes,
    };

    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    if let Some(state) = &nets.state {
        plots::curves(&state.history, &out.join("curves.svg"))?;
    }
    plots::confusion(
        &report.confusion,
        &splits.labels,
        &out.join("confusion.svg"),
    )?;
    let step = (queries.len() / 8).max(1);
    let rows = (0..queries.len())
        .step_by(step)
        .take(8)
        .map(|q| {
            let results = int8_scored.neighbours[q]
                .iter()
                .map(|i| {
                    Ok((
                        thumbnail(&catalogue[*i])?,
                        catalogue_labels[*i] == test_labels[q],
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((thumbnail(&queries[q])?, results))
        })
        .collect::<Result<Vec<_>>>()?;
    plots::contact_sheet(&rows, &out.join("contact-sheet.jpg"))?;
    write_atomic(
        &out.join("report.json"),
        &serde_json::to_vec_pretty(&report)?,
    )?;
    write_atomic(
        &out.join("report.md"),
        markdown(&report, net_config, config).as_bytes(),
    )?;
    Ok(report)
}
