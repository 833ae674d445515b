//! Rendering what the session publishes: the result cards (with reasons, colours and like /
//! dislike buttons), the chips that refine them (the predicted category and the photo's
//! colours), the empty state, skeleton cards while a search runs, and the timings. The
//! keyboard focus stays on a vote button across a re-render.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::Element;

use super::js;
use super::session::Results;
use super::widget::{by_id, element, set_state, set_style, set_text, set_visible};
use crate::index::{Card, Money};

/// Skeleton cards shown while a first search runs.
const SKELETONS: usize = 4;
/// Predicted categories offered as chips.
const CATEGORY_CHIPS: usize = 3;

fn chips(swatches: &[crate::colour::Swatch]) -> Option<Element> {
    let chips = element("span", "chips", None)?;
    for swatch in swatches {
        if let Some(chip) = element("span", "chip", Some(&swatch.name)) {
            let [r, g, b] = swatch.rgb;
            set_style(&chip, "--chip", &format!("rgb({r},{g},{b})"));
            chips.append_child(&chip).ok();
        }
    }
    Some(chips)
}

fn vote_button(id: &str, vote: i32, pressed: bool, title: &str) -> Option<Element> {
    let (text, label) = if vote > 0 {
        ("♥ Like", "Like")
    } else {
        // The accessible name starts with the visible words (WCAG 2.5.3, label in name).
        ("✕ Not for me", "Not for me:")
    };
    let b = element(
        "button",
        if vote > 0 {
            "vote like"
        } else {
            "vote dislike"
        },
        Some(text),
    )?;
    b.set_attribute("type", "button").ok();
    b.set_attribute("data-id", id).ok();
    b.set_attribute("data-vote", &vote.to_string()).ok();
    b.set_attribute("aria-pressed", if pressed { "true" } else { "false" })
        .ok();
    b.set_attribute("aria-label", &format!("{label} {title}"))
        .ok();
    Some(b)
}

/// A like / dislike button that had the keyboard focus: its item, vote and card position.
struct FocusedVote {
    id: String,
    vote: String,
    position: usize,
}

/// The result cards now shown.
fn cards_of(results: &Element) -> Vec<JsValue> {
    js::call(results, "querySelectorAll", &["li.card".into()])
        .map(|list| js_sys::Array::from(&list).to_vec())
        .unwrap_or_default()
}

/// The vote button in `results` that has the focus, if one has.
fn focused_vote(results: &Element) -> Option<FocusedVote> {
    let button = super::widget::active_element()?
        .closest("button[data-vote]")
        .ok()
        .flatten()?;
    let card = button.closest("li.card").ok().flatten()?;
    if !results.contains(Some(&card)) {
        return None;
    }
    let card: JsValue = card.into();
    let position = cards_of(results).iter().position(|c| *c == card)?;
    Some(FocusedVote {
        id: button.get_attribute("data-id")?,
        vote: button.get_attribute("data-vote")?,
        position,
    })
}

/// Gives the focus back after re-rendering: to the same button, or (when its item left the
/// results) to the same button of the card now in its place.
fn refocus_vote(results: &Element, was: &FocusedVote) {
    let same = results
        .query_selector(&format!(
            "li.card[data-id=\"{}\"] button[data-vote=\"{}\"]",
            css_escape(&was.id),
            was.vote
        ))
        .ok()
        .flatten();
    let target = same.or_else(|| {
        let cards = cards_of(results);
        let card = cards.get(was.position.min(cards.len().checked_sub(1)?))?;
        card.dyn_ref::<Element>()?
            .query_selector(&format!("button[data-vote=\"{}\"]", was.vote))
            .ok()
            .flatten()
    });
    if let Some(el) = target.and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) {
        el.focus().ok();
    }
}

/// `text` as a CSS string body: backslashes and double quotes escaped.
fn css_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The language prices are written in: the page's `lang`, else the browser's.
fn language() -> String {
    gloo::utils::document()
        .document_element()
        .and_then(|e| e.get_attribute("lang"))
        .filter(|l| !l.trim().is_empty())
        .or_else(|| gloo::utils::window().navigator().language())
        .unwrap_or_else(|| "en".into())
}

/// `money` as the page's language writes it (`Intl.NumberFormat`), or plainly where the
/// browser does not know the currency.
pub(crate) fn price_text(money: &Money, language: &str) -> String {
    let options = js_sys::Object::new();
    let formatted = js::set(&options, "style", &"currency".into())
        .and_then(|()| js::set(&options, "currency", &money.currency.as_str().into()))
        .and_then(|()| {
            // Constructed through Reflect, which turns the RangeError of an unknown currency
            // into an Err.
            let intl = js::get(&js_sys::global(), "Intl")?;
            let constructor = js::get(&intl, "NumberFormat")?.dyn_into::<js_sys::Function>()?;
            let format = js_sys::Reflect::construct(
                &constructor,
                &js_sys::Array::of2(&language.into(), &options),
            )?;
            js::call(&format, "format", &[money.amount.into()])
        });
    formatted
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_else(|| format!("{:.2} {}", money.amount, money.currency))
}

/// The price line of a card: the price, or the sale price beside the regular one struck out.
fn price_line(card: &Card, language: &str) -> Option<Element> {
    let line = element("p", "price", None)?;
    match (&card.price, &card.sale_price) {
        (Some(regular), Some(sale)) => {
            let (now, was) = (price_text(sale, language), price_text(regular, language));
            line.set_attribute("aria-label", &format!("Sale: {now}, was {was}"))
                .ok();
            let ins = element("ins", "sale", Some(&now))?;
            let del = element("del", "", Some(&was))?;
            line.append_child(&ins).ok();
            js::call(&line, "append", &[" ".into()]).ok();
            line.append_child(&del).ok();
        }
        (Some(p), None) | (None, Some(p)) => {
            line.set_text_content(Some(&price_text(p, language)));
        }
        (None, None) => return None,
    }
    Some(line)
}

/// Renders results: the cards, the query's colours and category, and the timings. Product
/// page links open in `link_target` when it is set.
pub(crate) fn show(outcome: &Results, link_target: Option<&str>) {
    let Some(results) = by_id("results") else {
        return;
    };
    let keep_focus = focused_vote(&results);
    results.set_inner_html("");
    let language = language();
    for (rank, card) in outcome.cards.iter().enumerate() {
        let Some(li) = element("li", "card", None) else {
            continue;
        };
        li.set_attribute("data-id", &card.id).ok();
        // The photo and the title: a link to the product page where the item has one.
        let product = match &card.link {
            Some(link) => element("a", "product", None).inspect(|a| {
                a.set_attribute("href", link).ok();
                if let Some(target) = link_target {
                    a.set_attribute("target", target).ok();
                    if target == "_blank" {
                        a.set_attribute("rel", "noopener").ok();
                    }
                }
            }),
            None => element("div", "product", None),
        };
        let Some(product) = product else { continue };
        product.set_attribute("data-id", &card.id).ok();
        product
            .set_attribute("data-rank", &(rank + 1).to_string())
            .ok();
        product
            .set_attribute("data-match", &card.share.to_string())
            .ok();
        product
            .set_attribute("data-query", &outcome.query.id.to_string())
            .ok();
        if let Some(img) = element("img", "", None) {
            img.set_attribute("src", &card.image).ok();
            img.set_attribute("alt", &card.title).ok();
            img.set_attribute("loading", "lazy").ok();
            product.append_child(&img).ok();
        }
        if let Some(title) = element("h3", "", Some(&card.title)) {
            product.append_child(&title).ok();
        }
        li.append_child(&product).ok();
        if let Some(brand) = card.brand.as_deref()
            && let Some(p) = element("p", "brand", Some(brand))
        {
            li.append_child(&p).ok();
        }
        if let Some(p) = price_line(card, &language) {
            li.append_child(&p).ok();
        }
        let meta = format!(
            "{} · {:.0}% match",
            card.category.as_deref().unwrap_or("uncategorised"),
            card.share * 100.0
        );
        if let Some(p) = element("p", "meta", Some(&meta)) {
            li.append_child(&p).ok();
        }
        if let Some(p) = element("p", "reason", Some(&card.reason)) {
            li.append_child(&p).ok();
        }
        if let Some(c) = chips(&card.colours) {
            li.append_child(&c).ok();
        }
        if let Some(votes) = element("p", "votes", None) {
            for v in [1, -1] {
                if let Some(b) = vote_button(&card.id, v, card.vote == v, &card.title) {
                    votes.append_child(&b).ok();
                }
            }
            li.append_child(&votes).ok();
        }
        results.append_child(&li).ok();
    }
    if let Some(focus) = keep_focus {
        refocus_vote(&results, &focus);
    }
    if let Some(more) = by_id("more") {
        if outcome.more {
            more.remove_attribute("hidden").ok();
        } else {
            more.set_attribute("hidden", "").ok();
        }
    }
    refine(outcome);
    let empty = outcome.cards.is_empty();
    set_visible("empty", empty);
    results.remove_attribute("aria-busy").ok();
    set_state(if empty { "empty" } else { "results" });
    let t = outcome.timings;
    set_text(
        "timings",
        &format!(
            "prepare {:.0} ms · embed {:.0} ms{} · rank {:.1} ms · total {:.0} ms",
            t.prepare_ms,
            t.embed_ms,
            if t.read_ms > 0.0 {
                format!(" · read {:.0} ms", t.read_ms)
            } else {
                String::new()
            },
            t.rank_ms,
            t.total_ms
        ),
    );
}

/// The values a filter's `<select>` offers (its first, empty option aside).
fn option_values(id: &str) -> Vec<String> {
    by_id(id)
        .and_then(|s| js::call(&s, "querySelectorAll", &["option".into()]).ok())
        .map(|list| {
            js_sys::Array::from(&list)
                .iter()
                .filter_map(|o| js::string(&o, "value"))
                .filter(|v| !v.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// A chip that sets the filter `filter` to `value` (empty: no filter), pressed when `pressed`.
fn chip(filter: &str, value: &str, text: &str, pressed: bool) -> Option<Element> {
    let b = element("button", "chip", Some(text))?;
    b.set_attribute("type", "button").ok();
    b.set_attribute("data-filter", filter).ok();
    b.set_attribute("data-value", value).ok();
    b.set_attribute("aria-pressed", if pressed { "true" } else { "false" })
        .ok();
    Some(b)
}

/// Fills the chip row `id` with a chip for each of `values` (name and optional swatch colour)
/// that the filter offers, the chosen one first even when not among them, then `any`.
fn chip_row(
    id: &str,
    filter: &str,
    values: &[(&str, Option<[u8; 3]>)],
    chosen: Option<&str>,
    any: &str,
) {
    let Some(row) = by_id(id) else { return };
    row.set_inner_html("");
    let offered = option_values(filter);
    let mut shown: Vec<(&str, Option<[u8; 3]>)> = Vec::new();
    if let Some(c) = chosen
        && !values.iter().any(|(v, _)| *v == c)
    {
        shown.push((c, None));
    }
    shown.extend(
        values
            .iter()
            .filter(|(v, _)| offered.iter().any(|o| o.as_str() == *v))
            .copied(),
    );
    if shown.is_empty() {
        return;
    }
    for (value, rgb) in shown {
        let Some(b) = chip(filter, value, "", chosen == Some(value)) else {
            continue;
        };
        if let Some([r, g, bl]) = rgb
            && let Some(dot) = element("span", "dot", None)
        {
            dot.set_attribute("aria-hidden", "true").ok();
            set_style(&dot, "--chip", &format!("rgb({r},{g},{bl})"));
            b.append_child(&dot).ok();
        }
        js::call(&b, "append", &[value.into()]).ok();
        row.append_child(&b).ok();
    }
    if let Some(b) = chip(filter, "", any, chosen.is_none()) {
        row.append_child(&b).ok();
    }
}

/// The refine bar: what the photo looks like, its category and colours as chips, and how many
/// of the drawer's filters are on (on its "Filters" button).
fn refine(outcome: &Results) {
    let query = &outcome.query;
    match query.category.first() {
        Some(top) => set_text(
            "prediction",
            &format!(
                "Looks like: {} ({:.0}% confident)",
                top.label,
                top.score * 100.0
            ),
        ),
        None => set_text("prediction", ""),
    }
    let categories: Vec<(&str, Option<[u8; 3]>)> = query
        .category
        .iter()
        .take(CATEGORY_CHIPS)
        .map(|l| (l.label.as_str(), None))
        .collect();
    let filters = &outcome.filters;
    chip_row(
        "category-chips",
        "filter-category",
        &categories,
        filters.category.as_deref(),
        "All categories",
    );
    let colours: Vec<(&str, Option<[u8; 3]>)> = query
        .description
        .colours
        .iter()
        .map(|s| (s.name.as_str(), Some(s.rgb)))
        .collect();
    chip_row(
        "colour-chips",
        "filter-colour",
        &colours,
        filters.colour.as_deref(),
        "Any colour",
    );
    let on = usize::from(filters.min_price.is_some()) + usize::from(filters.max_price.is_some());
    set_text(
        "filters-open",
        &match on {
            0 => "Filters".to_string(),
            n => format!("Filters ({n} on)"),
        },
    );
    set_visible("refine", true);
}

/// Shows that a search runs: skeleton cards where there are no results yet, the current ones
/// dimmed otherwise.
pub(crate) fn searching() {
    set_state("searching");
    set_visible("empty", false);
    let Some(results) = by_id("results") else {
        return;
    };
    results.set_attribute("aria-busy", "true").ok();
    if !cards_of(&results).is_empty() {
        return;
    }
    for _ in 0..SKELETONS {
        let Some(li) = element("li", "skeleton", None) else {
            continue;
        };
        li.set_attribute("aria-hidden", "true").ok();
        for class in ["shape", "line", "line short"] {
            if let Some(el) = element("div", class, None) {
                li.append_child(&el).ok();
            }
        }
        results.append_child(&li).ok();
    }
}

/// Ends a search that shows no new results (it failed): skeletons go, old results stay.
pub(crate) fn idle() {
    if let Some(results) = by_id("results") {
        results.remove_attribute("aria-busy").ok();
        if let Ok(list) = js::call(&results, "querySelectorAll", &["li.skeleton".into()]) {
            for li in js_sys::Array::from(&list).iter() {
                if let Some(li) = li.dyn_ref::<Element>() {
                    li.remove();
                }
            }
        }
    }
}

/// Ends a search whose results could not be ranked (part of a partitioned catalogue could not
/// be read): the results and the refine bar of the query before go, since they do not belong
/// to the photo now shown.
pub(crate) fn cleared() {
    idle();
    if let Some(results) = by_id("results") {
        results.set_inner_html("");
    }
    set_text("prediction", "");
    set_visible("refine", false);
    set_visible("empty", false);
    if let Some(more) = by_id("more") {
        more.set_attribute("hidden", "").ok();
    }
}
