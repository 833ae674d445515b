//! Weights and index containers: round trips, checksums and stale indexes refused.

use burn::tensor::{Device, Tensor, TensorData};
use deep_shopping::assets::{
    FileEntry, MODEL_FORMAT_VERSION, ModelManifest, load_weights, quantise_weights, read_weights,
};
use deep_shopping::colour::{HIST_LEN, Swatch};
use deep_shopping::embed::Embedder;
use deep_shopping::error::AssetError;
use deep_shopping::index::{
    Availability, CatalogueIndex, INDEX_FORMAT_VERSION, IndexEntry, IndexManifest, Item, Money,
    is_thumbnail_list, read_thumbnail_list, thumbnail_list,
};
use deep_shopping::model::{ResNetConfig, Stem};

fn small_config() -> ResNetConfig {
    ResNetConfig {
        stages: vec![1, 1],
        width: 8,
        input_size: 64,
        embedding_dim: 16,
        num_classes: 3,
        stem: Stem::Imagenet,
    }
}

fn manifest_for(config: ResNetConfig, weights: &[u8]) -> ModelManifest {
    ModelManifest {
        format_version: MODEL_FORMAT_VERSION,
        model: config,
        labels: vec!["a".into(), "b".into(), "c".into()],
        trained: false,
        description: "test".into(),
        weights: FileEntry::of("weights.safetensors", weights),
    }
}

fn input(seed: u32, size: usize) -> Tensor<4> {
    let values: Vec<f32> = (0..3 * size * size)
        .map(|i| {
            (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 16) % 200) as f32 / 100.0
                - 1.0
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [1, 3, size, size]), &Device::flex())
}

#[test]
fn int8_weights_round_trip_close_to_f32() {
    let _rng = crate::rng_lock();
    let device = Device::flex();
    device.seed(7);
    let config = small_config();
    let model = config.init(&device);
    let (bytes, stats) = quantise_weights(&model).unwrap();
    assert!(stats.quantised > 0 && stats.kept > 0);
    // Every rank>=2 tensor is int8 with scales; the container is much smaller than f32.
    assert!(
        bytes.len() < (stats.quantised * 4) / 2,
        "{} bytes",
        bytes.len()
    );
    let loaded = load_weights(config.init(&device), &bytes).unwrap();
    let x = input(1, 64);
    let a = model
        .forward(x.clone())
        .embedding
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let b = loaded
        .forward(x)
        .embedding
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let cos: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    assert!(cos > 0.99, "cosine between f32 and int8 embeddings {cos}");
    // Quantising the same network again gives the very same file (and checksum).
    assert!(
        bytes == quantise_weights(&model).unwrap().0,
        "two exports differ"
    );
    // A second quantisation of the loaded model gives the same tensors: the format is stable.
    let (again, _) = quantise_weights(&loaded).unwrap();
    assert_eq!(read_weights(&bytes).unwrap(), read_weights(&again).unwrap());
}

#[test]
fn weights_of_another_architecture_are_refused() {
    let _rng = crate::rng_lock();
    let device = Device::flex();
    let (bytes, _) = quantise_weights(&small_config().init(&device)).unwrap();
    let mut other = small_config();
    other.width = 16;
    let err = load_weights(other.init(&device), &bytes).unwrap_err();
    assert!(matches!(err, AssetError::Content { .. }), "{err}");
}

#[test]
fn corrupted_weights_fail_the_checksum() {
    let _rng = crate::rng_lock();
    let device = Device::flex();
    let config = small_config();
    let (mut bytes, _) = quantise_weights(&config.init(&device)).unwrap();
    let manifest = manifest_for(config, &bytes);
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let err = Embedder::load(&manifest.to_json().unwrap(), &bytes, device).unwrap_err();
    assert!(matches!(err, AssetError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("checksum mismatch"));
}

#[test]
fn truncated_weights_are_a_clear_error() {
    let _rng = crate::rng_lock();
    let device = Device::flex();
    let (bytes, _) = quantise_weights(&small_config().init(&device)).unwrap();
    let err = load_weights(small_config().init(&device), &bytes[..bytes.len() / 2]).unwrap_err();
    assert!(matches!(err, AssetError::Safetensors { .. }), "{err}");
}

#[test]
fn manifest_versions_and_labels_are_checked() {
    let manifest = manifest_for(small_config(), b"x");
    let json = manifest.to_json().unwrap();
    assert_eq!(ModelManifest::from_json(&json).unwrap(), manifest);
    let mut v2 = manifest.clone();
    v2.format_version = 2;
    assert!(matches!(
        ModelManifest::from_json(&v2.to_json().unwrap()),
        Err(AssetError::Version { found: 2, .. })
    ));
    let mut labels = manifest;
    labels.labels.pop();
    assert!(ModelManifest::from_json(&labels.to_json().unwrap()).is_err());
    assert!(ModelManifest::from_json(b"{not json").is_err());
}

fn item(i: usize) -> Item {
    Item {
        id: format!("item-{i}"),
        title: format!("Item {i}"),
        image: format!("images/{i}.jpg"),
        link: Some(format!("https://shop.example/p/{i}")),
        category: i.is_multiple_of(2).then(|| "Dress".to_string()),
        price: i
            .is_multiple_of(3)
            .then(|| Money::new(19.99 + i as f64, "EUR")),
        sale_price: i.is_multiple_of(6).then(|| Money::new(9.5, "EUR")),
        availability: Some(if i.is_multiple_of(5) {
            Availability::OutOfStock
        } else {
            Availability::InStock
        }),
        brand: Some("Northwind".into()),
        colour_name: Some("Navy".into()),
        sizes: vec!["S".into(), "M".into()],
        group: Some(format!("group-{}", i / 2)),
        image_sha256: Some(format!("{i:064}")),
        colours: vec![Swatch {
            rgb: [i as u8, 10, 200],
            weight: 0.7,
            name: "blue".into(),
        }],
    }
}

/// Category probabilities of sample item `i` over 5 categories.
fn sample_probabilities(i: usize) -> Vec<f32> {
    (0..5).map(|k| if k == i % 5 { 0.6 } else { 0.1 }).collect()
}

fn sample_entries(n: usize) -> Vec<IndexEntry> {
    (0..n)
        .map(|i| {
            let mut e: Vec<f32> = (0..16)
                .map(|j| ((i * 7 + j * 3) % 11) as f32 - 5.0)
                .collect();
            let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt();
            e.iter_mut().for_each(|v| *v /= norm);
            let mut h = vec![0.0f32; HIST_LEN];
            h[i % HIST_LEN] = 0.6;
            h[(i * 5) % HIST_LEN] += 0.4;
            IndexEntry {
                item: item(i),
                embedding: e,
                histogram: h,
                probabilities: sample_probabilities(i),
            }
        })
        .collect()
}

fn sample_index(n: usize) -> CatalogueIndex {
    CatalogueIndex::build(sample_entries(n)).unwrap()
}

#[test]
fn index_round_trips_through_its_container() {
    let index = sample_index(25);
    let bytes = index.to_bytes().unwrap();
    let back = CatalogueIndex::from_bytes(&bytes).unwrap();
    assert_eq!(back, index);
    assert_eq!(back.items[3].price, Some(Money::new(22.99, "EUR")));
    assert_eq!(back.items[6].sale_price, Some(Money::new(9.5, "EUR")));
    assert_eq!(back.items[5].availability, Some(Availability::OutOfStock));
    assert_eq!(back.items[3].group.as_deref(), Some("group-1"));
    for i in 0..25 {
        let e = back.embedding(i);
        let norm: f32 = e.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 0.02, "row {i} norm {norm}");
        let p = back.probabilities(i);
        assert_eq!(p.len(), 5);
        for (got, want) in p.iter().zip(sample_probabilities(i)) {
            assert!(
                (got - want).abs() <= 0.5 / 255.0 + 1e-6,
                "row {i}: {got} vs {want}"
            );
        }
    }
    // An index made with an untrained model holds no probabilities, and round-trips too.
    let mut entries = sample_entries(4);
    entries.iter_mut().for_each(|e| e.probabilities.clear());
    let bare = CatalogueIndex::build(entries).unwrap();
    let back = CatalogueIndex::from_bytes(&bare.to_bytes().unwrap()).unwrap();
    assert_eq!((back.classes(), back.probabilities(2)), (0, Vec::new()));
    // Rows of different category counts are refused, naming the item.
    let mut entries = sample_entries(3);
    entries[2].probabilities.pop();
    let err = CatalogueIndex::build(entries).unwrap_err().to_string();
    assert!(err.contains("item-2"), "{err}");
}

#[test]
fn index_checks_checksum_count_and_model() {
    let index = sample_index(5);
    let bytes = index.to_bytes().unwrap();
    let manifest = IndexManifest {
        format_version: INDEX_FORMAT_VERSION,
        model_sha256: "abc".into(),
        count: 5,
        data: FileEntry::of("index.safetensors", &bytes),
        images: Vec::new(),
        thumbnails: None,
    };
    let parsed = IndexManifest::from_json(&manifest.to_json().unwrap()).unwrap();
    // An index of an earlier format (version 2: no product page or currency) asks to be
    // rebuilt, naming the command.
    let mut old = manifest.clone();
    old.format_version = 2;
    let err = IndexManifest::from_json(&old.to_json().unwrap()).unwrap_err();
    assert!(matches!(err, AssetError::IndexVersion { found: 2, .. }));
    assert!(
        err.to_string().contains("deep-shopping index --feed"),
        "{err}"
    );
    assert_eq!(
        CatalogueIndex::load(&parsed, &bytes, "abc", 16).unwrap(),
        index
    );
    assert!(matches!(
        CatalogueIndex::load(&parsed, &bytes, "other-model", 16),
        Err(AssetError::StaleIndex { .. })
    ));
    let mut tampered = bytes.clone();
    tampered[bytes.len() - 1] ^= 0x40;
    assert!(matches!(
        CatalogueIndex::load(&parsed, &tampered, "abc", 16),
        Err(AssetError::Checksum { .. })
    ));
    let mut miscounted = parsed.clone();
    miscounted.count = 6;
    assert!(CatalogueIndex::load(&miscounted, &bytes, "abc", 16).is_err());
    // An index of other embeddings than the model's (0 or 64 values, say) is refused.
    let err = CatalogueIndex::load(&parsed, &bytes, "abc", 64).unwrap_err();
    assert!(err.to_string().contains("16 values"), "{err}");
    assert!(CatalogueIndex::from_bytes(&bytes[..bytes.len() - 9]).is_err());
}

#[test]
fn thumbnails_are_listed_in_a_file_named_by_its_hash_and_checked_when_read() {
    let images: Vec<String> = (0..1000).map(|i| format!("images/{i:016x}.jpg")).collect();
    let (entry, bytes) = thumbnail_list(&images).unwrap();
    assert!(is_thumbnail_list(&entry.file), "{}", entry.file);
    assert_eq!(read_thumbnail_list(&entry, &bytes).unwrap(), images);
    // A manifest that names the list instead of its thousand thumbnails stays small.
    let manifest = IndexManifest {
        format_version: INDEX_FORMAT_VERSION,
        model_sha256: "abc".into(),
        count: 1000,
        data: FileEntry::of("index-0123456789abcdef.safetensors", b"data"),
        images: Vec::new(),
        thumbnails: Some(entry.clone()),
    };
    let json = manifest.to_json().unwrap();
    assert!(json.len() < 1024, "{} bytes", json.len());
    assert_eq!(IndexManifest::from_json(&json).unwrap(), manifest);
    // A damaged list, or one naming a file outside images/, is refused.
    let mut damaged = bytes.clone();
    damaged[10] ^= 1;
    assert!(matches!(
        read_thumbnail_list(&entry, &damaged),
        Err(AssetError::Checksum { .. })
    ));
    let (escaping, bytes) = thumbnail_list(&["images/../../x.jpg".to_string()]).unwrap();
    let err = read_thumbnail_list(&escaping, &bytes)
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside its images/ folder"), "{err}");
}
