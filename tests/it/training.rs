//! Training data and configuration: the sender split, class balancing, augmentation that keeps
//! hue, config overrides, the teacher's classifier and the teacher's fine-tuning.

use std::collections::{BTreeMap, BTreeSet};

use burn::tensor::Device;
use deep_shopping::embed::batch_tensor;
use deep_shopping::preprocess::{normalise, square};
use deep_shopping::train::config::{Augment, DataConfig, DatasetKind, TrainConfig};
use deep_shopping::train::data::{AugmentDraw, BalancedSampler, NON_CLASSES, Splits};
use deep_shopping::train::probe::TeacherProbe;
use deep_shopping::train::teacher::{Arch, TeacherNet};
use deep_shopping::train::tune::{TuneSettings, tune};
use deep_shopping::train::{RunState, planned_epochs};
use image::{Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn data_config(seed: u64) -> DataConfig {
    DataConfig {
        kind: DatasetKind::Clothing,
        path: crate::dataset(),
        seed,
        val_fraction: 0.15,
        test_fraction: 0.15,
        balance_power: 0.5,
        unlabelled_share: 0.25,
    }
}

#[test]
fn no_sender_is_in_two_splits_and_the_split_is_reproducible() {
    let splits = Splits::load(&data_config(2026)).unwrap();
    let senders = |s: &[deep_shopping::train::data::Sample]| -> BTreeSet<String> {
        s.iter().map(|x| x.sender.clone()).collect()
    };
    let (tr, va, te) = (
        senders(&splits.train),
        senders(&splits.val),
        senders(&splits.test),
    );
    assert!(tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te));
    let labelled = splits.train_labelled().count() + splits.val.len() + splits.test.len();
    for (part, name) in [(&splits.val, "val"), (&splits.test, "test")] {
        let share = part.len() as f64 / labelled as f64;
        assert!(
            (0.14..0.2).contains(&share),
            "{name} holds {share:.3} of the labelled photos"
        );
        assert!(part.iter().all(|s| s.label.is_some()));
    }
    assert_eq!(splits.labels.len(), 17);
    assert!(
        splits
            .labels
            .iter()
            .all(|l| !NON_CLASSES.contains(&l.as_str()))
    );
    // Unlabelled photos (the non-classes) only ever serve training.
    assert!(splits.train.iter().any(|s| s.label.is_none()));
    let again = Splits::load(&data_config(2026)).unwrap();
    let ids = |s: &Splits| s.test.iter().map(|x| x.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&splits), ids(&again));
    assert_ne!(ids(&splits), ids(&Splits::load(&data_config(7)).unwrap()));
}

#[test]
fn balanced_sampler_evens_out_classes() {
    // 900 photos of class 0, 100 of class 1.
    let labels: Vec<usize> = (0..1000).map(|i| usize::from(i >= 900)).collect();
    let count = |power: f64| {
        let sampler = BalancedSampler::new(&labels, power);
        let mut rng = StdRng::seed_from_u64(1);
        let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
        for _ in 0..20_000 {
            *seen.entry(labels[sampler.draw(&mut rng)]).or_default() += 1;
        }
        seen[&1] as f64 / 20_000.0
    };
    let natural = count(0.0);
    let half = count(0.5);
    let uniform = count(1.0);
    assert!((natural - 0.1).abs() < 0.02, "{natural}");
    assert!((half - 0.25).abs() < 0.02, "{half}"); // sqrt(100) / (sqrt(900) + sqrt(100))
    assert!((uniform - 0.5).abs() < 0.02, "{uniform}");
}

#[test]
fn augmentation_keeps_hue_and_size() {
    let image = RgbImage::from_fn(200, 150, |x, _| {
        if x < 100 {
            Rgb([200, 40, 40])
        } else {
            Rgb([40, 40, 200])
        }
    });
    let augment = Augment {
        min_scale: 0.5,
        max_aspect: 1.3,
        rotate_degrees: 10.0,
        flip: true,
        brightness: 0.3,
        contrast: 0.3,
    };
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..10 {
        let out = AugmentDraw::new(&augment, 200, 150, &mut rng).apply(&image, 64);
        assert_eq!(out.dimensions(), (64, 64));
        for p in out.pixels() {
            let [r, g, b] = p.0.map(i32::from);
            // Red, blue and their blends never turn greenish: one change applied to every
            // channel keeps green the smallest channel.
            assert!(g <= r.min(b) + 1, "{:?}", p.0);
        }
    }
}

#[test]
fn config_file_and_overrides() {
    let path = crate::root().join("configs/clothing.toml");
    let config =
        TrainConfig::load(&path, &["train.epochs=3".into(), "model.width=16".into()]).unwrap();
    assert_eq!(config.train.epochs, 3);
    assert_eq!(config.model.width, 16);
    assert!(config.data.path.ends_with("clothing-dataset"));
    assert!(TrainConfig::load(&path, &["train.batch_size=1".into()]).is_err());
    assert!(TrainConfig::load(&path, &["train.nonsense=1".into()]).is_err());
    assert!(TrainConfig::load(&path, &["no-equals-sign".into()]).is_err());
}

#[test]
fn the_teachers_classifier_needs_its_views_and_a_teacher() {
    let path = crate::root().join("configs/clothing.toml");
    let on = "loss.teacher_classify=1.0".to_string();
    let err = TrainConfig::load(&path, std::slice::from_ref(&on)).unwrap_err();
    assert!(format!("{err:#}").contains("classifier_views"), "{err:#}");
    let views = "teacher.classifier_views=2".to_string();
    assert!(TrainConfig::load(&path, &[on.clone(), views.clone()]).is_ok());
    let no_distill = "loss.distill=0".to_string();
    assert!(TrainConfig::load(&path, &[on.clone(), views.clone(), no_distill]).is_err());
    let cold = "loss.teacher_temperature=0".to_string();
    assert!(TrainConfig::load(&path, &[on, views, cold]).is_err());
    // The shipped second, third and fourth cycles turn it on.
    for cycle in [
        "configs/clothing-cycle2.toml",
        "configs/clothing-cycle3.toml",
        "configs/clothing-cycle4.toml",
    ] {
        let config = TrainConfig::load(&crate::root().join(cycle), &[]).unwrap();
        assert!(config.loss.teacher_classify > 0.0, "{cycle}");
        assert!(config.teacher.unwrap().classifier_views > 0, "{cycle}");
    }
}

/// Noisy photos of one of three colours (class = colour).
fn coloured(class: usize, rng: &mut StdRng) -> RgbImage {
    let base = [[190, 40, 40], [40, 170, 60], [40, 60, 190]][class];
    RgbImage::from_fn(40, 36, |_, _| {
        Rgb(base.map(|c: i32| (c + rng.random_range(-30..=30)).clamp(0, 255) as u8))
    })
}

/// `n` coloured photos with their labels, and prepared `size`-pixel validation inputs of 12
/// other such photos with theirs.
fn colour_task(
    n: usize,
    size: u32,
    rng: &mut StdRng,
) -> (Vec<RgbImage>, Vec<usize>, Vec<Vec<f32>>, Vec<usize>) {
    let labels: Vec<usize> = (0..n).map(|i| i % 3).collect();
    let images: Vec<RgbImage> = labels.iter().map(|&l| coloured(l, rng)).collect();
    let val_labels: Vec<usize> = (0..12).map(|i| (i + 1) % 3).collect();
    let val = val_labels
        .iter()
        .map(|&l| {
            let photo = image::DynamicImage::ImageRgb8(coloured(l, rng));
            normalise(&square(&photo, None, size).unwrap())
        })
        .collect();
    (images, labels, val, val_labels)
}

/// Mild augmentation for the colour task.
fn mild_augment() -> Augment {
    Augment {
        min_scale: 0.5,
        max_aspect: 1.3,
        rotate_degrees: 10.0,
        flip: true,
        brightness: 0.1,
        contrast: 0.1,
    }
}

#[test]
fn the_teachers_classifier_learns_what_its_features_separate() {
    let _rng = crate::rng_lock();
    let device = Device::flex();
    device.seed(5);
    // An untrained teacher still maps these colours apart; the classifier must find that.
    let teacher = TeacherNet::new(Arch::MobileNetV2, &device);
    let mut rng = StdRng::seed_from_u64(9);
    let (images, labels, val, val_labels) = colour_task(36, 32, &mut rng);
    let augment = mild_augment();
    // Three classes, `views` views each, balance power 0.5, 32 px, seed 1.
    let fit = |views: usize| {
        TeacherProbe::fit(
            &teacher,
            &images,
            &labels,
            3,
            &augment,
            views,
            0.5,
            (&val, &val_labels),
            32,
            1,
            &device,
        )
    };
    let probe = fit(2).unwrap();
    assert!(probe.val_top1 > 0.9, "validation top-1 {}", probe.val_top1);
    // Its logits, from the teacher's features, rank the true class first.
    let logits = probe.logits(teacher.forward(batch_tensor(&val, 32, &device)));
    assert_eq!(logits.dims(), [12, 3]);
    let rows = logits.into_data().try_into_vec::<f32>().unwrap();
    for (row, &label) in rows.chunks(3).zip(&val_labels) {
        let best = (0..3).max_by(|a, b| row[*a].total_cmp(&row[*b])).unwrap();
        assert_eq!(best, label, "{row:?}");
    }
    // Without views there is nothing to fit.
    let err = fit(0).unwrap_err();
    assert!(format!("{err:#}").contains("at least one view"), "{err:#}");
}

#[test]
fn a_tuned_teacher_learns_the_classes_and_saves_and_loads_as_it_was() {
    let _rng = crate::rng_lock();
    let device = Device::flex();
    device.seed(7);
    let mut rng = StdRng::seed_from_u64(11);
    let (images, labels, val, val_labels) = colour_task(72, 64, &mut rng);
    let augment = mild_augment();
    let settings = TuneSettings {
        epochs: 12,
        lr: 1e-3,
        weight_decay: 1e-4,
        batch_size: 12,
        label_smoothing: 0.1,
        balance_power: 0.5,
        augment: &augment,
        size: 64,
        seed: 3,
    };
    let teacher = TeacherNet::new(Arch::MobileNetV2, &device.clone().autodiff());
    let (tuned, history) = tune(
        teacher,
        &images,
        &labels,
        3,
        (&val, &val_labels),
        &settings,
        &device,
    )
    .unwrap();
    assert_eq!(history.len(), 12);
    assert!(history[11].loss < history[0].loss, "{history:?}");
    assert!(history[11].val_top1 > 0.9, "{history:?}");

    // Saved as f32 safetensors (batch-norm statistics included), it loads back as it was.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("teacher-tuned.safetensors");
    std::fs::write(&path, deep_shopping::assets::f32_weights(&tuned).unwrap()).unwrap();
    let loaded = TeacherNet::load(&path, &device).unwrap();
    let features = |t: &TeacherNet| {
        t.forward(batch_tensor(&val, 64, &device))
            .into_data()
            .try_into_vec::<f32>()
            .unwrap()
    };
    let (a, b) = (features(&tuned), features(&loaded));
    assert_eq!(a.len(), 12 * 1280);
    assert!(
        a.iter()
            .zip(&b)
            .all(|(x, y)| (x - y).abs() <= 1e-5 * x.abs().max(1.0))
    );

    // A file of another network is refused with a clear error.
    let resnet = deep_shopping::model::ResNetConfig {
        stages: vec![1],
        width: 4,
        input_size: 64,
        embedding_dim: 8,
        num_classes: 3,
        stem: Default::default(),
    }
    .init(&device);
    std::fs::write(&path, deep_shopping::assets::f32_weights(&resnet).unwrap()).unwrap();
    let err = TeacherNet::load(&path, &device).unwrap_err();
    assert!(format!("{err:#}").contains("0 blocks"), "{err:#}");
}

#[test]
fn a_config_laid_over_its_base_equals_the_base_with_those_overrides() {
    let configs = crate::root().join("configs");
    let cycle2 = TrainConfig::load(&configs.join("clothing-cycle2.toml"), &[]).unwrap();
    let overridden = TrainConfig::load(
        &configs.join("clothing.toml"),
        &[
            "run_dir=\"../runs/clothing-cycle2-lite0\"".into(),
            "train.init=\"../runs/clothing\"".into(),
            "train.epochs=28".into(),
            "train.lr=0.001".into(),
            "train.warmup_epochs=0.5".into(),
            "train.patience=28".into(),
            "loss.teacher_classify=2.0".into(),
            "loss.teacher_temperature=2.0".into(),
            "teacher.weights=\"~/.cache/deep-shopping/teacher/efficientnet-lite0-57934424.pth\""
                .into(),
            "teacher.classifier_views=4".into(),
        ],
    )
    .unwrap();
    assert_eq!(
        toml::to_string(&cycle2).unwrap(),
        toml::to_string(&overridden).unwrap()
    );
    // `--set` still wins over both files.
    let set = TrainConfig::load(
        &configs.join("clothing-cycle2.toml"),
        &["train.lr=0.5".into()],
    );
    assert_eq!(set.unwrap().train.lr, 0.5);

    let tmp = tempfile::tempdir().unwrap();
    let chained = tmp.path().join("a.toml");
    std::fs::write(&chained, "base = \"b.toml\"\n").unwrap();
    std::fs::write(tmp.path().join("b.toml"), "base = \"c.toml\"\n").unwrap();
    let err = TrainConfig::load(&chained, &[]).unwrap_err();
    assert!(format!("{err:#}").contains("cannot have a base"), "{err:#}");
}

#[test]
fn time_budget_shrinks_the_schedule_to_what_fits() {
    let path = crate::root().join("configs/clothing.toml");
    let plain = TrainConfig::load(&path, &["train.epochs=50".into()]).unwrap();
    assert_eq!(
        planned_epochs(&plain, 3, 600.0, 200.0),
        50,
        "no budget: as configured"
    );
    let budget = TrainConfig::load(
        &path,
        &[
            "train.epochs=50".into(),
            "train.time_budget_minutes=10".into(),
        ],
    )
    .unwrap();
    // 600 s budget, 150 s used by 3 epochs of 50 s: 9 more fit.
    assert_eq!(planned_epochs(&budget, 3, 150.0, 50.0), 12);
    // Never beyond the configured epochs, never below those done.
    assert_eq!(planned_epochs(&budget, 3, 10.0, 1.0), 50);
    assert_eq!(planned_epochs(&budget, 3, 700.0, 50.0), 3);
    assert!(TrainConfig::load(&path, &["train.time_budget_minutes=-1".into()]).is_err());
    assert!(TrainConfig::load(&path, &["train.device=\"tpu\"".into()]).is_err());
}

#[test]
fn a_run_is_finished_when_its_planned_epochs_ran_or_it_stopped_early() {
    let path = crate::root().join("configs/clothing.toml");
    let config = TrainConfig::load(
        &path,
        &["train.epochs=30".into(), "train.patience=6".into()],
    )
    .unwrap();
    let state =
        |done: usize, best: Option<(f64, usize)>, planned: Option<usize>, init: usize| RunState {
            epochs_done: done,
            best,
            history: Vec::new(),
            labels: Vec::new(),
            planned_epochs: planned,
            init_epochs: init,
        };
    let finished = |s: &RunState| deep_shopping::train::finished(s, &config);
    assert!(!finished(&state(0, None, None, 0)));
    assert!(!finished(&state(29, Some((0.5, 29)), None, 0)));
    assert!(finished(&state(30, Some((0.5, 30)), None, 0)));
    // A time budget planned fewer epochs.
    assert!(finished(&state(12, Some((0.5, 12)), Some(12), 0)));
    assert!(!finished(&state(11, Some((0.5, 11)), Some(12), 0)));
    // A second cycle counts its own epochs only.
    assert!(!finished(&state(40, Some((0.5, 40)), None, 24)));
    assert!(finished(&state(54, Some((0.5, 54)), None, 24)));
    // Early stopping: six epochs without a better validation top-1.
    assert!(finished(&state(16, Some((0.5, 10)), None, 0)));
    assert!(!finished(&state(15, Some((0.5, 10)), None, 0)));
}

#[cfg(not(feature = "gpu"))]
#[test]
fn a_gpu_device_without_the_gpu_build_is_a_clear_error() {
    let path = crate::root().join("configs/clothing.toml");
    let config = TrainConfig::load(&path, &["train.device=\"gpu\"".into()]).unwrap();
    let err = deep_shopping::train::train(&config, false, "test").unwrap_err();
    assert!(format!("{err:#}").contains("--features gpu"), "{err:#}");
}

/// A real (tiny) Fashion-MNIST run, then a second cycle that starts from its checkpoint.
#[test]
fn a_second_cycle_starts_from_an_earlier_run_and_keeps_its_history() {
    let _rng = crate::rng_lock();
    let path = crate::root().join("configs/fashion-mnist.toml");
    let tmp = tempfile::tempdir().unwrap();
    let tiny = |run: &str, extra: &[String]| {
        let mut sets = vec![
            "model.stages=[1]".to_string(),
            "model.width=4".into(),
            "model.embedding_dim=8".into(),
            "train.epochs=1".into(),
            "train.batch_size=512".into(),
            format!("run_dir={:?}", tmp.path().join(run)),
        ];
        sets.extend_from_slice(extra);
        TrainConfig::load(&path, &sets).unwrap()
    };
    let first = deep_shopping::train::train(&tiny("first", &[]), false, "test").unwrap();
    let read = |f: &deep_shopping::train::RunFiles| -> RunState {
        serde_json::from_slice(&std::fs::read(f.state()).unwrap()).unwrap()
    };
    assert_eq!(read(&first).epochs_done, 1);

    let init = format!("train.init={:?}", tmp.path().join("first"));
    let second = deep_shopping::train::train(&tiny("second", &[init]), false, "test").unwrap();
    let state = read(&second);
    assert_eq!(state.init_epochs, 1);
    assert_eq!(state.epochs_done, 2);
    let epochs: Vec<usize> = state.history.iter().map(|m| m.epoch).collect();
    assert_eq!(epochs, [1, 2]);
    assert_eq!(state.history[0].val_top1, read(&first).history[0].val_top1);
    // The second cycle starts from a trained network: its loss starts where the first ended.
    assert!(
        state.history[1].train_loss < state.history[0].train_loss,
        "{:?}",
        state.history
    );
    assert!(second.model_dir().join("manifest.json").is_file());
    // Resuming the finished second cycle runs no further epoch; it exports its best network again.
    let init = format!("train.init={:?}", tmp.path().join("first"));
    let resumed = deep_shopping::train::train(&tiny("second", &[init]), true, "test").unwrap();
    assert_eq!(read(&resumed).history.len(), 2);

    let missing = format!("train.init={:?}", tmp.path().join("nowhere"));
    let err = deep_shopping::train::train(&tiny("third", &[missing]), false, "test").unwrap_err();
    assert!(format!("{err:#}").contains("nowhere"), "{err:#}");
}

#[test]
fn fashion_mnist_loads_with_its_own_test_set() {
    let path = crate::root().join("configs/fashion-mnist.toml");
    let config = TrainConfig::load(&path, &[]).unwrap();
    let splits = Splits::load(&config.data).unwrap();
    assert_eq!(splits.train.len() + splits.val.len(), 60_000);
    assert_eq!(splits.val.len(), 6_000);
    assert_eq!(splits.test.len(), 10_000);
    assert_eq!(splits.labels.len(), 10);
    match &splits.test[0].source {
        deep_shopping::train::data::Source::Pixels(p) => assert_eq!(p.dimensions(), (28, 28)),
        other => panic!("unexpected source {other:?}"),
    }
    // Label 9 (ankle boot) is the first test image of the published set.
    assert_eq!(splits.test[0].label, Some(9));
}
