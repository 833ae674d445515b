//! Merchant Center XML: RSS 2.0 (`<channel><item>`) or Atom (`<feed><entry>`), fields as
//! child elements named by their attribute, with or without the `g:` prefix (`title`, `link`
//! and `description` are plain RSS elements; Atom's `<link href="..."/>` is the product page).

use quick_xml::Reader;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::{BytesStart, Event};

use super::merchant::{Fields, product};
use super::product::{Feed, FeedError};

/// The element names (without prefix) of one product.
fn is_product(name: &[u8]) -> bool {
    name == b"item" || name == b"entry"
}

fn local(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase()
}

/// Atom's `<link href="...">` (the alternate, or only, link).
fn atom_href(e: &BytesStart<'_>) -> Option<String> {
    let rel = e
        .try_get_attribute("rel")
        .ok()
        .flatten()
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()));
    if rel.as_deref().is_some_and(|r| r != "alternate") {
        return None;
    }
    e.try_get_attribute("href")
        .ok()
        .flatten()
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// Reads every `<item>` or `<entry>` of `text`.
pub(super) fn read(text: &str) -> Result<Feed, FeedError> {
    // Text is not trimmed here: a value split by an entity ("A &amp; B") keeps its spaces,
    // and `Fields::add` trims the whole value.
    let mut reader = Reader::from_str(text);
    let mut feed = Feed::default();
    let mut seen = std::collections::HashMap::new();
    let mut entries = 0usize;
    // The product being read, the field open inside it (at depth 1) and its text.
    let mut current: Option<Fields> = None;
    let mut field: Option<(String, String)> = None;
    let mut depth = 0usize;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| FeedError::Xml(format!("at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::Start(e) => {
                let name = local(&e);
                match current.as_mut() {
                    None if is_product(name.as_bytes()) => {
                        current = Some(Fields::default());
                        depth = 0;
                    }
                    None => {}
                    Some(fields) => {
                        depth += 1;
                        if depth == 1 {
                            if name == "link"
                                && let Some(href) = atom_href(&e)
                            {
                                fields.add("link", href);
                            }
                            field = Some((name, String::new()));
                        }
                    }
                }
            }
            Event::Empty(e) => {
                if let (Some(fields), 0) = (current.as_mut(), depth)
                    && local(&e) == "link"
                    && let Some(href) = atom_href(&e)
                {
                    fields.add("link", href);
                }
            }
            Event::Text(t) => {
                if let Some((_, value)) = field.as_mut() {
                    // Entity references arrive as their own events (below).
                    value.push_str(&t.decode().map_err(|e| FeedError::Xml(e.to_string()))?);
                }
            }
            Event::CData(t) => {
                if let Some((_, value)) = field.as_mut() {
                    value.push_str(&String::from_utf8_lossy(&t.into_inner()));
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, value)) = field.as_mut() {
                    let name = r.decode().map_err(|e| FeedError::Xml(e.to_string()))?;
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => value.push(c),
                        _ => match resolve_xml_entity(&name) {
                            Some(s) => value.push_str(s),
                            None => value.push_str(&format!("&{name};")),
                        },
                    }
                }
            }
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).to_ascii_lowercase();
                if current.is_none() {
                    continue;
                }
                if depth == 0 && is_product(name.as_bytes()) {
                    entries += 1;
                    if let Some(fields) = current.take() {
                        match product(&fields, entries) {
                            Ok(p) => feed.push(entries, p, &mut seen),
                            Err(rejected) => feed.rejected.push(rejected),
                        }
                    }
                    continue;
                }
                if depth == 1
                    && let (Some((name, value)), Some(fields)) = (field.take(), current.as_mut())
                {
                    fields.add(&name, value);
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if entries == 0 {
        return Err(FeedError::Xml(
            "no <item> or <entry> elements: not a Merchant Center feed".into(),
        ));
    }
    Ok(feed)
}
