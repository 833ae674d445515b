//! `deep-shopping index --feed` against a real HTTP server on loopback serving Merchant Center
//! XML and TSV feeds and a Shopify export that point at dataset photos, with the failures a
//! real store has; and incremental rebuilds through the caches.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::store::{Route, Store};

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deep-shopping"));
    cmd.current_dir(crate::root());
    cmd
}

/// One product of a test feed.
#[derive(Clone)]
struct Item {
    id: String,
    title: String,
    image: String,
    price: String,
    sale: Option<String>,
    availability: &'static str,
    group: Option<String>,
}

/// The first `n` labelled dataset photos as feed items whose photos `store` serves.
fn items(store: &Store, n: usize) -> Vec<Item> {
    crate::labelled_photos(n)
        .into_iter()
        .enumerate()
        .map(|(i, (stem, label))| {
            store.route(
                &format!("/img/{stem}.jpg"),
                Route::Photo(crate::photo(&stem)),
            );
            Item {
                id: format!("sku-{i}"),
                title: format!("{label} & co {i}"),
                image: format!("{}/img/{stem}.jpg", store.url),
                price: format!("{}.90 EUR", 20 + i),
                sale: (i % 3 == 0).then(|| format!("{}.50 EUR", 10 + i)),
                availability: if i % 4 == 3 {
                    "out_of_stock"
                } else {
                    "in_stock"
                },
                group: None,
            }
        })
        .collect()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;")
}

/// A Merchant Center RSS 2.0 feed of `items`.
fn rss(items: &[Item]) -> Vec<u8> {
    let mut s = String::from(
        "<?xml version=\"1.0\"?>\n<rss version=\"2.0\" xmlns:g=\"http://base.google.com/ns/1.0\"><channel><title>Test store</title>\n",
    );
    for it in items {
        s += &format!(
            "<item><g:id>{}</g:id><title>{}</title><link>https://shop.example/p/{}</link>\
             <g:image_link>{}</g:image_link><g:price>{}</g:price>{}<g:availability>{}</g:availability>\
             <g:brand>Northwind</g:brand><g:color>Navy</g:color><g:size>M</g:size>\
             <g:product_type>Apparel &gt; Tops</g:product_type>{}</item>\n",
            it.id,
            xml_escape(&it.title),
            it.id,
            it.image,
            it.price,
            it.sale
                .as_ref()
                .map(|s| format!("<g:sale_price>{s}</g:sale_price>"))
                .unwrap_or_default(),
            it.availability,
            it.group
                .as_ref()
                .map(|g| format!("<g:item_group_id>{g}</g:item_group_id>"))
                .unwrap_or_default(),
        );
    }
    s += "</channel></rss>\n";
    s.into_bytes()
}

/// The same items as a Merchant Center TSV feed.
fn tsv(items: &[Item]) -> Vec<u8> {
    let mut s =
        String::from("id\ttitle\tlink\timage_link\tprice\tsale_price\tavailability\tbrand\n");
    for it in items {
        s += &format!(
            "{}\t{}\thttps://shop.example/p/{}\t{}\t{}\t{}\t{}\tNorthwind\n",
            it.id,
            it.title,
            it.id,
            it.image,
            it.price,
            it.sale.clone().unwrap_or_default(),
            it.availability
        );
    }
    s.into_bytes()
}

/// Runs `index --feed URL` into `out` with the caches in `cache`; returns the output.
fn index(feed: &str, out: &Path, cache: &Path, extra: &[&str]) -> Output {
    bin()
        .env("RUST_LOG", "info")
        .args(["index", "--json", "--feed", feed, "--out"])
        .arg(out)
        .arg("--cache")
        .arg(cache)
        .args([
            "--read-timeout",
            "6",
            "--connect-timeout",
            "3",
            "--retries",
            "1",
        ])
        .args(extra)
        .output()
        .unwrap()
}

/// The summary a run printed.
fn summary(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no summary ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn count(summary: &Value, key: &str) -> u64 {
    summary[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {summary}"))
}

/// The items of the index in `dir`.
fn indexed(dir: &Path) -> Vec<Value> {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let data = std::fs::read(dir.join(manifest["data"]["file"].as_str().unwrap())).unwrap();
    let index = deep_shopping::index::CatalogueIndex::from_bytes(&data).unwrap();
    index
        .items
        .iter()
        .map(|i| serde_json::to_value(i).unwrap())
        .collect()
}

fn temp() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (out, cache) = (dir.path().join("index"), dir.path().join("cache"));
    (dir, out, cache)
}

#[test]
fn merchant_xml_and_tsv_feeds_index_their_products_with_page_price_and_availability() {
    let store = Store::start();
    let items = items(&store, 8);
    store.route("/feed.xml", Route::Bytes(rss(&items), "application/xml"));
    store.route(
        "/feed.tsv",
        Route::Bytes(tsv(&items), "text/tab-separated-values"),
    );
    for feed in ["/feed.xml", "/feed.tsv"] {
        let (_dir, out, cache) = temp();
        let run = index(&format!("{}{feed}", store.url), &out, &cache, &[]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let s = summary(&run);
        assert_eq!(count(&s, "items"), 8, "{s}");
        assert_eq!(count(&s, "added"), 8);
        assert_eq!(count(&s, "downloaded"), 8);
        let got = indexed(&out);
        let first = &got[0];
        assert_eq!(first["id"], "sku-0");
        assert_eq!(first["link"], "https://shop.example/p/sku-0");
        assert_eq!(first["price"]["currency"], "EUR");
        assert_eq!(first["price"]["amount"], 20.9);
        assert_eq!(first["sale_price"]["amount"], 10.5);
        assert_eq!(first["availability"], "in_stock");
        assert_eq!(first["brand"], "Northwind");
        assert_eq!(got[3]["availability"], "out_of_stock");
        assert!(got[1].get("sale_price").is_none());
        // The page shows the photo from the store's image host.
        assert_eq!(first["image"], items[0].image);
        if feed == "/feed.xml" {
            assert_eq!(first["title"], items[0].title, "an escaped & in XML");
            assert_eq!(first["colour_name"], "Navy");
            assert_eq!(first["sizes"][0], "M");
            assert_eq!(first["category"], "Tops");
        }
    }
}

#[test]
fn a_shopify_export_gives_one_product_per_variant_and_search_shows_the_best_one() {
    let store = Store::start();
    let photos = crate::labelled_photos(4);
    for (stem, _) in &photos {
        store.route(&format!("/s/{stem}.jpg"), Route::Photo(crate::photo(stem)));
    }
    let img = |i: usize| format!("{}/s/{}.jpg", store.url, photos[i].0);
    // One shirt in three colours (variant images), one dress; a draft left out.
    let csv = format!(
        "Handle,Title,Vendor,Type,Published,Option1 Name,Option1 Value,Variant SKU,Variant Inventory Tracker,Variant Inventory Qty,Variant Inventory Policy,Variant Price,Variant Compare At Price,Image Src,Image Position,Variant Image,Status\n\
         shirt,Linen shirt,Kestrel,Shirts,TRUE,Color,Blue,SH-B,shopify,3,deny,49.00,59.00,{i0},1,{i0},active\n\
         shirt,,,,,,Red,SH-R,shopify,0,deny,49.00,,{i1},2,{i1},\n\
         shirt,,,,,,Green,SH-G,shopify,0,continue,49.00,,,,{i2},\n\
         dress,Summer dress,Kestrel,Dresses,TRUE,Title,Default Title,DR-1,,,,89.00,,{i3},1,,active\n\
         draft,Secret,Kestrel,Tops,FALSE,Title,Default Title,DF-1,,,,9.00,,{i3},1,,draft\n",
        i0 = img(0),
        i1 = img(1),
        i2 = img(2),
        i3 = img(3)
    );
    store.route("/products.csv", Route::Bytes(csv.into_bytes(), "text/csv"));
    let (_dir, out, cache) = temp();
    let feed = format!("{}/products.csv", store.url);
    let extra = ["--store-url", "https://shop.example", "--currency", "EUR"];
    let run = index(&feed, &out, &cache, &extra);
    assert_eq!(run.status.code(), Some(2), "the draft is a failed row");
    let s = summary(&run);
    assert_eq!(count(&s, "items"), 4, "{s}");
    let draft = s["failed"][0]["reason"].as_str().unwrap();
    assert!(draft.contains("not published"), "{draft}");
    let got = indexed(&out);
    let by_id = |id: &str| got.iter().find(|i| i["id"] == id).unwrap().clone();
    let blue = by_id("SH-B");
    assert_eq!(blue["link"], "https://shop.example/products/shirt");
    assert_eq!(blue["group"], "shirt");
    assert_eq!(
        blue["price"]["amount"], 59.0,
        "the compare-at price is the regular one"
    );
    assert_eq!(blue["sale_price"]["amount"], 49.0);
    assert_eq!(blue["colour_name"], "Blue");
    assert_eq!(blue["brand"], "Kestrel");
    assert_eq!(blue["title"], "Linen shirt – Blue");
    assert_eq!(by_id("SH-R")["availability"], "out_of_stock");
    assert_eq!(by_id("SH-G")["availability"], "backorder");
    assert_eq!(by_id("DR-1")["title"], "Summer dress");
    // Missing settings are a clear error.
    let bare = index(&feed, &out, &cache, &[]);
    assert!(!bare.status.success());
    assert!(String::from_utf8_lossy(&bare.stderr).contains("--store-url"));

    // A search for the green variant's own photo shows the shirt once, as its best variant;
    // `--all-variants` shows every variant.
    let search = |extra: &[&str]| -> Vec<String> {
        let out = bin()
            .args(["search", "--json", "--include-out-of-stock", "--index"])
            .arg(&out)
            .args(extra)
            .arg(crate::photo(&photos[2].0))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line: Value = serde_json::from_slice(&out.stdout).unwrap();
        line["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let best = search(&[]);
    assert_eq!(best[0], "SH-G");
    assert_eq!(
        best.iter().filter(|id| id.starts_with("SH-")).count(),
        1,
        "{best:?}"
    );
    let all = search(&["--all-variants"]);
    assert_eq!(
        all.iter().filter(|id| id.starts_with("SH-")).count(),
        3,
        "{all:?}"
    );
    // Out of stock items are left out unless asked for.
    let out_json = bin()
        .args(["search", "--json", "--all-variants", "--index"])
        .arg(&out)
        .arg(crate::photo(&photos[1].0))
        .output()
        .unwrap();
    let line: Value = serde_json::from_slice(&out_json.stdout).unwrap();
    assert!(
        line["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] != "SH-R"),
        "{line}"
    );
}

#[test]
fn failed_items_are_reported_by_reason_and_left_out() {
    let store = Store::start();
    let mut items = items(&store, 6);
    let photo = crate::photo(&crate::labelled_photos(1)[0].0);
    let html = b"<!DOCTYPE html><html><body>Not found</body></html>".to_vec();
    store.route("/bad/404.jpg", Route::Status(404));
    store.route("/bad/500.jpg", Route::Status(503));
    // A 404, then the photo: no retry after a 4xx, so the item fails. A 503, then the
    // photo: the retry after a 5xx finds it.
    store.route(
        "/bad/404-once.jpg",
        Route::Failing(vec![404], photo.clone()),
    );
    store.route(
        "/bad/503-once.jpg",
        Route::Failing(vec![503], photo.clone()),
    );
    // Longer than two attempts at the 6 s read timeout `index` runs with here. (At 3 s, a
    // loaded 2-core CI machine once saw a quick answer time out and be retried.)
    store.route(
        "/bad/slow.jpg",
        Route::Slow(Duration::from_secs(20), photo.clone()),
    );
    store.route("/bad/page.jpg", Route::Bytes(html, "image/jpeg"));
    store.route("/bad/loop.jpg", Route::Redirect("/bad/loop.jpg".into()));
    // 33.8 kB, against the 14.5 kB of the first photo and a limit of 20 kB below.
    let larger = crate::photo(&crate::labelled_photos(2)[1].0);
    store.route("/bad/big.jpg", Route::Photo(larger));
    let bad = |id: &str, path: &str| Item {
        id: id.into(),
        image: format!("{}{path}", store.url),
        ..items[0].clone()
    };
    items.extend([
        bad("missing", "/bad/404.jpg"),
        bad("unavailable", "/bad/500.jpg"),
        bad("missing-once", "/bad/404-once.jpg"),
        bad("busy-once", "/bad/503-once.jpg"),
        bad("slow", "/bad/slow.jpg"),
        bad("html", "/bad/page.jpg"),
        bad("loop", "/bad/loop.jpg"),
        bad("sku-1", "/bad/404.jpg"),
    ]);
    let mut feed = String::from_utf8(rss(&items)).unwrap();
    // A malformed row (no price) and one with a price that is no number.
    feed = feed.replace(
        "</channel>",
        "<item><g:id>no-price</g:id><title>T</title><link>https://shop.example/x</link>\
         <g:image_link>https://img.example/x.jpg</g:image_link><g:availability>in_stock</g:availability></item>\n\
         <item><g:id>nan-price</g:id><title>T</title><link>https://shop.example/y</link>\
         <g:image_link>https://img.example/y.jpg</g:image_link><g:price>NaN EUR</g:price><g:availability>in_stock</g:availability></item>\n</channel>",
    );
    store.route(
        "/feed.xml",
        Route::Bytes(feed.into_bytes(), "application/xml"),
    );
    let (_dir, out, cache) = temp();
    let run = index(&format!("{}/feed.xml", store.url), &out, &cache, &[]);
    assert_eq!(
        run.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let s = summary(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(count(&s, "items"), 7, "{s}\n{stderr}");
    let failed = s["failed"].as_array().unwrap();
    let reason = |id: &str| -> String {
        failed
            .iter()
            .find(|f| f["id"] == id)
            .map(|f| format!("{} {}", f["kind"], f["reason"]))
            .unwrap_or_else(|| panic!("{id} did not fail: {s}"))
    };
    assert!(reason("missing").contains("HTTP 404"), "{s}");
    assert!(reason("unavailable").contains("HTTP 503"), "{s}");
    assert!(reason("slow").contains("timeout"), "{s}");
    assert!(reason("html").contains("HTML page"), "{s}");
    assert!(reason("loop").contains("redirect"), "{s}");
    assert!(reason("sku-1").contains("duplicate id"), "{s}");
    assert!(reason("no-price").contains("price is missing"), "{s}");
    assert!(reason("nan-price").contains("not a number"), "{s}");
    assert!(
        reason("missing-once").contains("HTTP 404"),
        "no retry after a 4xx"
    );
    assert_eq!(failed.len(), 9);
    assert!(
        failed.iter().all(|f| f["id"] != "busy-once"),
        "the retry after a 5xx found the photo"
    );
    assert!(stderr.contains("item \"missing\""), "{stderr}");

    // A photo over the size limit fails too.
    let big = items[0].clone();
    let big = Item {
        id: "big".into(),
        image: format!("{}/bad/big.jpg", store.url),
        ..big
    };
    store.route(
        "/big.xml",
        Route::Bytes(rss(&[items[0].clone(), big]), "application/xml"),
    );
    let run = index(
        &format!("{}/big.xml", store.url),
        &out,
        &cache,
        &["--max-image-bytes", "20000"],
    );
    let s = summary(&run);
    assert!(
        s["failed"][0]["kind"]
            .as_str()
            .unwrap()
            .contains("size limit"),
        "{s}"
    );
}

#[test]
fn too_many_failures_publish_nothing() {
    let store = Store::start();
    let mut items = items(&store, 4);
    let (_dir, out, cache) = temp();
    store.route("/good.xml", Route::Bytes(rss(&items), "application/xml"));
    let first = index(&format!("{}/good.xml", store.url), &out, &cache, &[]);
    assert!(first.status.success());
    let before = std::fs::read(out.join("index.json")).unwrap();
    store.route("/gone.jpg", Route::Status(404));
    for it in items.iter_mut().take(2) {
        it.image = format!("{}/gone.jpg", store.url);
    }
    store.route("/bad.xml", Route::Bytes(rss(&items), "application/xml"));
    let feed = format!("{}/bad.xml", store.url);
    for limit in ["1", "25%"] {
        let run = index(&feed, &out, &cache, &["--max-failures", limit]);
        assert_eq!(run.status.code(), Some(1), "--max-failures {limit}");
        assert!(String::from_utf8_lossy(&run.stderr).contains("nothing was published"));
        assert_eq!(std::fs::read(out.join("index.json")).unwrap(), before);
    }
    // Within the limit it publishes, without the failed items.
    let run = index(&feed, &out, &cache, &["--max-failures", "50%"]);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(indexed(&out).len(), 2);
}

#[test]
fn a_rebuild_downloads_and_describes_only_what_changed() {
    let store = Store::start();
    let mut items = items(&store, 10);
    let (_dir, out, cache) = temp();
    let feed = format!("{}/feed.xml", store.url);
    store.route("/feed.xml", Route::Bytes(rss(&items), "application/xml"));
    let first = summary(&index(&feed, &out, &cache, &[]));
    assert_eq!(
        (count(&first, "downloaded"), count(&first, "described")),
        (10, 10)
    );

    // Nothing changed: every photo revalidated (304), none downloaded or described again.
    store.clear();
    let again = summary(&index(&feed, &out, &cache, &[]));
    assert_eq!(count(&again, "downloaded"), 0, "{again}");
    assert_eq!(count(&again, "revalidated"), 10);
    assert_eq!(count(&again, "described"), 0);
    assert_eq!(count(&again, "unchanged"), 10);
    assert_eq!(store.count("/img/", 304), 10);
    assert_eq!(store.count("/img/", 200), 0);

    // One photo changed (another photo at a new URL), one price changed, one item removed,
    // one added.
    let spare = crate::labelled_photos(12);
    store.route("/img/new-a.jpg", Route::Photo(crate::photo(&spare[10].0)));
    store.route("/img/new-b.jpg", Route::Photo(crate::photo(&spare[11].0)));
    items[2].image = format!("{}/img/new-a.jpg", store.url);
    items[5].price = "99.00 EUR".into();
    items.remove(7);
    items.push(Item {
        id: "sku-new".into(),
        image: format!("{}/img/new-b.jpg", store.url),
        ..items[0].clone()
    });
    store.route("/feed.xml", Route::Bytes(rss(&items), "application/xml"));
    store.clear();
    let third = summary(&index(&feed, &out, &cache, &[]));
    assert_eq!(count(&third, "added"), 1, "{third}");
    assert_eq!(count(&third, "changed"), 2);
    assert_eq!(count(&third, "removed"), 1);
    assert_eq!(count(&third, "unchanged"), 7);
    assert_eq!(count(&third, "downloaded"), 2);
    assert_eq!(count(&third, "described"), 2);
    let got = indexed(&out);
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|i| i["id"] != "sku-7"));
}

#[test]
fn a_killed_build_keeps_what_it_downloaded_and_the_index_it_was_replacing() {
    let store = Store::start();
    let items = items(&store, 12);
    let (_dir, out, cache) = temp();
    store.route(
        "/small.xml",
        Route::Bytes(rss(&items[..2]), "application/xml"),
    );
    assert!(
        index(&format!("{}/small.xml", store.url), &out, &cache, &[])
            .status
            .success()
    );
    let before = std::fs::read(out.join("index.json")).unwrap();
    // Every photo answers slowly; the build is killed once a few have come.
    for it in &items {
        let path = it.image.trim_start_matches(&store.url).to_string();
        let stem = path
            .trim_start_matches("/img/")
            .trim_end_matches(".jpg")
            .to_string();
        store.route(
            &path,
            Route::Slow(Duration::from_millis(300), crate::photo(&stem)),
        );
    }
    store.route("/feed.xml", Route::Bytes(rss(&items), "application/xml"));
    store.clear();
    let mut child = bin()
        .args([
            "index",
            "--feed",
            &format!("{}/feed.xml", store.url),
            "--out",
        ])
        .arg(&out)
        .arg("--cache")
        .arg(&cache)
        .args(["--concurrency", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while store.count("/img/", 200) + store.count("/img/", 304) < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the build did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read(out.join("index.json")).unwrap(), before);
    // The photos it finished are in the cache: the next build asks for them conditionally and
    // downloads only the rest.
    store.clear();
    let run = index(&format!("{}/feed.xml", store.url), &out, &cache, &[]);
    let s = summary(&run);
    assert_eq!(count(&s, "items"), 12, "{s}");
    assert!(count(&s, "revalidated") >= 4, "{s}");
    assert_eq!(count(&s, "downloaded") + count(&s, "revalidated"), 12);
    // No half-written file is left in the index folder.
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn an_index_of_the_old_format_asks_to_be_rebuilt() {
    let (_dir, out, cache) = temp();
    let store = Store::start();
    let items = items(&store, 2);
    store.route("/feed.xml", Route::Bytes(rss(&items), "application/xml"));
    assert!(
        index(&format!("{}/feed.xml", store.url), &out, &cache, &[])
            .status
            .success()
    );
    let path = out.join("index.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest["format_version"] = 2.into();
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let search = bin()
        .args(["search", "--index"])
        .arg(&out)
        .arg(crate::photo(&crate::labelled_photos(1)[0].0))
        .output()
        .unwrap();
    assert!(!search.status.success());
    let err = String::from_utf8_lossy(&search.stderr);
    assert!(
        err.contains("format version 2") && err.contains("deep-shopping index --feed"),
        "{err}"
    );
}
