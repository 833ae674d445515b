//! Ranking maths and colour features.

use deep_shopping::colour::{self, HIST_LEN, colour_name, lab_to_rgb, rgb_to_lab};
use deep_shopping::index::{Blend, CatalogueIndex, IndexEntry, Item, Money, Query, Variants, rank};
use image::{Rgb, RgbImage};

fn index_of(rows: Vec<(Vec<f32>, Vec<f32>)>) -> CatalogueIndex {
    index_with(rows.into_iter().map(|(e, h)| (e, h, Vec::new())).collect())
}

/// An index of anonymous items from (embedding, histogram, category probabilities) rows.
fn index_with(rows: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)>) -> CatalogueIndex {
    CatalogueIndex::build(
        rows.into_iter()
            .enumerate()
            .map(|(i, (embedding, histogram, probabilities))| IndexEntry {
                item: Item::bare(i.to_string()),
                embedding,
                histogram,
                probabilities,
            })
            .collect(),
    )
    .unwrap()
}

fn hist(bin: usize) -> Vec<f32> {
    let mut h = vec![0.0; HIST_LEN];
    h[bin] = 1.0;
    h
}

#[test]
fn top_k_equals_a_full_sort() {
    let rows: Vec<_> = (0..200)
        .map(|i| {
            let e: Vec<f32> = (0..8)
                .map(|j| (((i * 31 + j * 17) % 23) as f32) - 11.0)
                .collect();
            (e, hist(i % HIST_LEN))
        })
        .collect();
    let index = index_of(rows);
    let q: Vec<f32> = (0..8).map(|j| j as f32 - 3.5).collect();
    let h = hist(3);
    let query = Query {
        embedding: &q,
        histogram: &h,
        probabilities: &[],
    };
    let all = rank(&index, query, Blend::colour(0.25), index.len());
    assert_eq!(all.len(), 200);
    assert!(all.windows(2).all(|w| w[0].score >= w[1].score));
    let top = rank(&index, query, Blend::colour(0.25), 10);
    assert_eq!(top, all[..10].to_vec());
    for hit in &top {
        let e = index.embedding(hit.index);
        let cos = e.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>()
            / (e.iter().map(|v| v * v).sum::<f32>().sqrt()
                * q.iter().map(|v| v * v).sum::<f32>().sqrt());
        assert!((cos - hit.visual).abs() < 1e-4);
        assert!((hit.score - (0.75 * hit.visual + 0.25 * hit.colour)).abs() < 1e-5);
        // No category term: the best score is 1, so the match is the score, never below 0.
        assert!((hit.share - hit.score.max(0.0)).abs() < 1e-6, "{hit:?}");
    }
    assert!(all.iter().all(|h| (0.0..=1.0).contains(&h.share)));
}

#[test]
fn category_weight_moves_items_of_the_predicted_category_up() {
    // Item 0 looks a little more like the query but the model calls it another category;
    // item 1 is predicted to be of the query's category.
    let index = index_with(vec![
        (vec![1.0, 0.0, 0.0], hist(1), vec![0.1, 0.9]),
        (vec![0.9, 0.44, 0.0], hist(1), vec![0.8, 0.2]),
    ]);
    let (q, h, p) = ([1.0, 0.0, 0.0], hist(1), [0.7, 0.3]);
    let query = Query {
        embedding: &q,
        histogram: &h,
        probabilities: &p,
    };
    let look_only = rank(&index, query, Blend::colour(0.0), 2);
    assert_eq!(look_only[0].index, 0);
    let hits = rank(&index, query, Blend::DEFAULT, 2);
    assert_eq!(hits[0].index, 1);
    for hit in &hits {
        let item = index.probabilities(hit.index);
        let agreement: f32 = item.iter().zip(p).map(|(a, b)| a * b).sum();
        assert!((hit.category - agreement).abs() < 1e-5, "{hit:?}");
        let (w, c) = (Blend::DEFAULT.colour, Blend::DEFAULT.category);
        let want = (1.0 - w) * (hit.visual + c * hit.category) + w * hit.colour;
        assert!((hit.score - want).abs() < 1e-5, "{hit:?}");
        // The best score with the category term: (1 - w) * (1 + c * max(p)) + w.
        let best = (1.0 - w) * (1.0 + c * 0.7) + w;
        assert!((hit.share - hit.score / best).abs() < 1e-6, "{hit:?}");
        assert!(hit.share > 0.0 && hit.share <= 1.0, "{hit:?}");
    }
    // The query's own photo in the index comes close to a full match (its own predicted
    // categories agree 0.7 * 0.7 + 0.3 * 0.3 = 0.58 with the query's, against at most 0.7).
    let own = index_with(vec![(q.to_vec(), h.clone(), p.to_vec())]);
    let me = rank(&own, query, Blend::DEFAULT, 1)[0];
    let want = (0.7 * (1.0 + 0.58) + 0.3) / (0.7 * (1.0 + 0.7) + 0.3);
    assert!((me.share - want).abs() < 1e-2, "{me:?}");
    // Probabilities of another length than the index's, an index without them, or a
    // non-finite weight: no category term, never a panic.
    let odd = Query {
        probabilities: &[1.0],
        ..query
    };
    assert_eq!(rank(&index, odd, Blend::DEFAULT, 1)[0].index, 0);
    assert_eq!(rank(&index, odd, Blend::DEFAULT, 1)[0].category, 0.0);
    let bare = index_of(vec![
        (vec![1.0, 0.0, 0.0], hist(1)),
        (vec![0.9, 0.44, 0.0], hist(1)),
    ]);
    assert_eq!(rank(&bare, query, Blend::DEFAULT, 1)[0].index, 0);
    let nan = Blend {
        category: f32::NAN,
        ..Blend::DEFAULT
    };
    assert_eq!(rank(&index, query, nan, 1)[0].index, 0);
}

#[test]
fn colour_weight_moves_colour_matches_up() {
    // Item 0 looks like the query but has another colour; item 1 looks different, same colour.
    let index = index_of(vec![
        (vec![1.0, 0.0, 0.0], hist(10)),
        (vec![0.6, 0.8, 0.0], hist(20)),
    ]);
    let q = [1.0, 0.0, 0.0];
    let h = hist(20);
    let query = Query {
        embedding: &q,
        histogram: &h,
        probabilities: &[],
    };
    assert_eq!(rank(&index, query, Blend::colour(0.0), 1)[0].index, 0);
    assert_eq!(rank(&index, query, Blend::colour(1.0), 1)[0].index, 1);
    // Out-of-range and non-finite weights are clamped, never a panic.
    assert_eq!(rank(&index, query, Blend::colour(7.0), 1)[0].index, 1);
    assert_eq!(rank(&index, query, Blend::colour(f32::NAN), 1)[0].index, 0);
    // A query of the wrong length or an empty top gives nothing.
    assert!(
        rank(
            &index,
            Query {
                embedding: &[1.0],
                histogram: &h,
                probabilities: &[],
            },
            Blend::colour(0.0),
            5
        )
        .is_empty()
    );
    assert!(rank(&index, query, Blend::colour(0.0), 0).is_empty());
}

#[test]
fn lab_round_trip_and_names() {
    for rgb in [
        [0u8, 0, 0],
        [255, 255, 255],
        [200, 30, 35],
        [40, 85, 190],
        [12, 200, 90],
    ] {
        let back = lab_to_rgb(rgb_to_lab(rgb));
        for c in 0..3 {
            assert!(
                (back[c] as i32 - rgb[c] as i32).abs() <= 1,
                "{rgb:?} -> {back:?}"
            );
        }
    }
    assert_eq!(colour_name([10, 10, 12]), "black");
    assert_eq!(colour_name([250, 250, 250]), "white");
    assert_eq!(colour_name([210, 25, 30]), "red");
    assert_eq!(colour_name([30, 60, 200]), "blue");
    assert_eq!(colour_name([255, 140, 20]), "orange");
}

#[test]
fn dominant_colour_is_the_garment_in_the_centre() {
    // A navy garment in the middle of a white background.
    let image = RgbImage::from_fn(120, 120, |x, y| {
        if (30..90).contains(&x) && (25..95).contains(&y) {
            Rgb([25, 35, 85])
        } else {
            Rgb([245, 245, 245])
        }
    });
    let f = colour::analyse(&image);
    assert!((f.histogram.iter().sum::<f32>() - 1.0).abs() < 1e-3);
    assert_eq!(f.dominant[0].name, "navy");
    assert!(f.dominant[0].weight > 0.5);
    assert!(f.dominant.iter().any(|s| s.name == "white"));
    assert!((colour::similarity(&f.histogram, &f.histogram) - 1.0).abs() < 1e-3);
}

fn shop() -> CatalogueIndex {
    let item = |id: &str, category: &str, colour: &str, price: Option<f64>| Item {
        id: id.into(),
        title: id.into(),
        category: Some(category.into()),
        price: price.map(|p| Money::new(p, "EUR")),
        colours: vec![deep_shopping::colour::Swatch {
            rgb: [0, 0, 0],
            weight: 1.0,
            name: colour.into(),
        }],
        ..Item::default()
    };
    // Category probabilities over (Dress, Shoes, Shirt).
    let entry = |item, embedding, histogram, probabilities| IndexEntry {
        item,
        embedding,
        histogram,
        probabilities,
    };
    CatalogueIndex::build(vec![
        entry(
            item("a", "Dress", "red", Some(30.0)),
            vec![1.0, 0.0, 0.0],
            hist(1),
            vec![0.9, 0.05, 0.05],
        ),
        entry(
            item("b", "Dress", "blue", Some(80.0)),
            vec![0.9, 0.44, 0.0],
            hist(2),
            vec![0.8, 0.1, 0.1],
        ),
        entry(
            item("c", "Shoes", "red", None),
            vec![0.0, 1.0, 0.0],
            hist(1),
            vec![0.1, 0.85, 0.05],
        ),
        entry(
            item("d", "Shirt", "black", Some(10.0)),
            vec![0.0, 0.0, 1.0],
            hist(3),
            vec![0.05, 0.05, 0.9],
        ),
    ])
    .unwrap()
}

#[test]
fn filters_select_by_category_colour_and_price() {
    use deep_shopping::index::{Filters, rank_where};
    let index = shop();
    let ids = |f: &Filters| -> Vec<String> {
        let q = [1.0, 1.0, 1.0];
        let h = hist(1);
        rank_where(
            &index,
            Query {
                embedding: &q,
                histogram: &h,
                probabilities: &[],
            },
            Blend::colour(0.0),
            10,
            Variants::All,
            |i| f.matches(i),
        )
        .iter()
        .map(|h| index.items[h.index].id.clone())
        .collect::<Vec<_>>()
    };
    let all = ids(&Filters::default());
    assert_eq!(all.len(), 4);
    let dresses = ids(&Filters {
        category: Some("Dress".into()),
        ..Default::default()
    });
    assert_eq!(dresses.len(), 2);
    assert!(dresses.iter().all(|id| id == "a" || id == "b"));
    let red = ids(&Filters {
        colour: Some("red".into()),
        ..Default::default()
    });
    assert_eq!(red.len(), 2);
    assert!(red.iter().all(|id| id == "a" || id == "c"));
    let cheap = ids(&Filters {
        max_price: Some(50.0),
        ..Default::default()
    });
    assert_eq!(cheap.len(), 2, "items without a price drop out: {cheap:?}");
    let band = ids(&Filters {
        min_price: Some(20.0),
        max_price: Some(90.0),
        ..Default::default()
    });
    assert_eq!(band.len(), 2);
    let none = ids(&Filters {
        category: Some("Hat".into()),
        ..Default::default()
    });
    assert!(none.is_empty());
}

#[test]
fn likes_pull_and_dislikes_push_the_query() {
    use deep_shopping::index::{FEEDBACK_FORMAT, Feedback};
    let index = shop();
    let h = hist(9);
    let scored = |fb: &Feedback| -> Vec<(String, f32)> {
        let q = fb.adjust(&index, &[1.0, 0.0, 0.05]);
        let norm: f32 = q.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        rank(
            &index,
            Query {
                embedding: &q,
                histogram: &h,
                probabilities: &[],
            },
            Blend::colour(0.0),
            4,
        )
        .iter()
        .map(|h| (index.items[h.index].id.clone(), h.score))
        .collect()
    };
    let order = |fb: &Feedback| -> Vec<String> { scored(fb).into_iter().map(|x| x.0).collect() };
    let score_of = |fb: &Feedback, id: &str| scored(fb).into_iter().find(|x| x.0 == id).unwrap().1;
    let mut fb = Feedback::new("cat", "model");
    assert_eq!(fb.format, FEEDBACK_FORMAT);
    let plain = order(&fb);
    assert_eq!(plain[0], "a");
    assert_eq!(plain[3], "c");
    // Liking the shoes pulls them up past the shirt, and the blue dress past the red one.
    fb.vote("c", 1);
    let liked = order(&fb);
    assert!(
        liked.iter().position(|x| x == "c") < plain.iter().position(|x| x == "c"),
        "{liked:?}"
    );
    // Disliking the red dress lowers its score and drops it below the blue one.
    let before = score_of(&fb, "a");
    fb.vote("a", -1);
    assert!(score_of(&fb, "a") < before - 0.05);
    let disliked = order(&fb);
    assert!(disliked.iter().position(|x| x == "a") > disliked.iter().position(|x| x == "b"));
    assert_eq!(
        (fb.vote_of("a"), fb.vote_of("c"), fb.vote_of("d")),
        (-1, 1, 0)
    );
    // A vote replaces the previous one; 0 withdraws it.
    fb.vote("a", 1);
    assert_eq!(fb.liked, vec!["c".to_string(), "a".to_string()]);
    assert!(fb.disliked.is_empty());
    fb.vote("a", 0);
    fb.vote("c", 0);
    assert_eq!(order(&fb), plain);
    // Unknown ids are ignored.
    fb.vote("not-in-catalogue", 1);
    assert_eq!(order(&fb), plain);
}

#[test]
fn reasons_describe_the_match() {
    use deep_shopping::index::reason;
    let index = shop();
    let hit = deep_shopping::index::Hit {
        index: 0,
        score: 0.9,
        visual: 0.9,
        category: 0.8,
        colour: 0.7,
        share: 0.6,
    };
    assert_eq!(
        reason(&hit, &index.items[0], Some("Dress")),
        "Same category, very similar look, similar colour"
    );
    let weak = deep_shopping::index::Hit {
        index: 3,
        score: 0.1,
        visual: 0.1,
        category: 0.1,
        colour: 0.0,
        share: 0.06,
    };
    assert_eq!(
        reason(&weak, &index.items[3], Some("Dress")),
        "Mostly black"
    );
    // An item without a category name: the predicted categories' agreement decides.
    let mut unnamed = index.items[3].clone();
    unnamed.category = None;
    let agreeing = deep_shopping::index::Hit {
        category: 0.7,
        ..weak
    };
    assert_eq!(
        reason(&agreeing, &unnamed, Some("Dress")),
        "Same category, mostly black"
    );
    assert_eq!(reason(&weak, &unnamed, Some("Dress")), "Mostly black");
}

#[test]
fn several_photos_and_likes_make_one_query() {
    use deep_shopping::index::{Feedback, mean, unit};
    assert_eq!(mean(&[]), None);
    assert_eq!(
        mean(&[vec![1.0, 3.0], vec![3.0, 5.0]]),
        Some(vec![2.0, 4.0])
    );
    let u = unit(&[3.0, 4.0]);
    assert!((u[0] - 0.6).abs() < 1e-6 && (u[1] - 0.8).abs() < 1e-6);
    assert_eq!(unit(&[0.0, 0.0]), vec![0.0, 0.0]);

    let index = shop();
    let mut fb = Feedback::new("cat", "model");
    assert!(fb.liked_query(&index).is_none());
    fb.vote("a", 1);
    fb.vote("d", 1);
    let liked = fb.liked_query(&index).unwrap();
    let (q, h) = (liked.embedding, liked.histogram);
    assert!((q.iter().map(|v| v * v).sum::<f32>() - 1.0).abs() < 1e-5);
    assert!((h.iter().sum::<f32>() - 1.0).abs() < 1e-2);
    // Their mean category probabilities (a: Dress, d: Shirt), to within the index's 1/255 steps.
    let want = [0.475, 0.05, 0.475];
    assert!(
        liked
            .probabilities
            .iter()
            .zip(want)
            .all(|(p, w)| (p - w).abs() < 0.005),
        "{:?}",
        liked.probabilities
    );
    // The two liked items lead a search for "more like these".
    let hits = rank(
        &index,
        Query {
            embedding: &q,
            histogram: &h,
            probabilities: &[],
        },
        Blend::colour(0.0),
        2,
    );
    let mut top: Vec<&str> = hits
        .iter()
        .map(|h| index.items[h.index].id.as_str())
        .collect();
    top.sort();
    assert_eq!(top, ["a", "d"]);
}
