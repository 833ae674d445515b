//! The shape of `src/`, read from its `use` lines and paths: no module uses a module that
//! uses it (directly or through others), clap appears only in `cli` and wasm-bindgen only in
//! `web`, and no source file is over 500 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Modules of the library by path (`web::engine`), with their source: one per file under
/// `src/` (`mod.rs` is its folder's module; `lib.rs`, the crate root, and `main.rs`, another
/// crate, are left out).
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut inner = prefix.to_vec();
                inner.push(name);
                walk(&path, &inner, out);
            } else if let Some(stem) = name.strip_suffix(".rs") {
                let mut module = prefix.to_vec();
                if prefix.is_empty() && (stem == "lib" || stem == "main") {
                    continue;
                }
                if stem != "mod" {
                    module.push(stem.to_string());
                }
                out.insert(module.join("::"), std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&crate::root().join("src"), &[], &mut out);
    out
}

/// `source` with comments, string and character literals blanked out.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !ident_char(chars.get(i.wrapping_sub(1)).copied())
        {
            // A raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A character literal (a lifetime has no closing quote two characters on).
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Every path in `code` that starts with `crate`, `super`, `self` or one of `children` (the
/// module's own submodules), with `use` groups (`use super::{a, b::c}`) expanded:
/// `["super", "a"]`, `["super", "b", "c"]`.
fn paths(code: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let tokens = tokenize(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let first = tokens[i].as_str();
        let starts = (matches!(first, "crate" | "super" | "self") || children.contains(first))
            && tokens.get(i + 1).is_some_and(|t| t == "::")
            && (i == 0 || !matches!(tokens[i - 1].as_str(), "::" | "."));
        if starts {
            i = tree(&tokens, i, Vec::new(), &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// Reads a path (and a `{...}` group after `::`) from `tokens[i]`, adding each full path to
/// `out`; returns the index after it.
fn tree(
    tokens: &[String],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    while let Some(t) = tokens.get(i) {
        if t == "{" {
            i += 1;
            loop {
                match tokens.get(i).map(String::as_str) {
                    None => return i,
                    Some("}") => return i + 1,
                    Some(",") => i += 1,
                    Some(_) => i = tree(tokens, i, prefix.clone(), out),
                }
            }
        }
        if !ident_char(t.chars().next()) {
            break;
        }
        prefix.push(t.clone());
        i += 1;
        if tokens.get(i).is_some_and(|t| t == "::") {
            i += 1;
        } else {
            break;
        }
    }
    if !prefix.is_empty() {
        out.push(prefix);
    }
    i
}

fn tokenize(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            tokens.push("::".into());
            i += 2;
        } else {
            if !c.is_whitespace() {
                tokens.push(c.to_string());
            }
            i += 1;
        }
    }
    tokens
}

/// The module a path in `module` refers to: the longest prefix that names a module.
fn target(module: &str, path: &[String], all: &BTreeSet<String>) -> Option<String> {
    let mut base: Vec<String> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").map(String::from).collect()
    };
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &path[1..];
        }
        Some("self") => rest = &path[1..],
        _ => {
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
        }
    }
    let mut found = None;
    for n in 0..=rest.len() {
        let mut candidate = base.clone();
        candidate.extend(rest[..n].iter().cloned());
        let name = candidate.join("::");
        if all.contains(&name) {
            found = Some(name);
        }
    }
    found
}

/// Which modules each module uses.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules();
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(name, source)| {
            let prefix = if name.is_empty() {
                String::new()
            } else {
                format!("{name}::")
            };
            let children: BTreeSet<String> = names
                .iter()
                .filter_map(|n| n.strip_prefix(&prefix))
                .filter(|rest| !rest.is_empty() && !rest.contains("::"))
                .map(String::from)
                .collect();
            let uses = paths(&code_only(source), &children)
                .iter()
                .filter_map(|p| target(name, p, &names))
                .filter(|t| t != name)
                .collect();
            (name.clone(), uses)
        })
        .collect()
}

/// A cycle through `start`, if there is one.
fn cycle_from(start: &str, graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn the_reader_follows_paths_and_groups() {
    let code = code_only(
        "use super::{App, js::{self, get}, widget::by_id};\n// use crate::hidden;\n\
         let s = \"crate::in_a_string\"; crate::index::rank(x); let c = ':';",
    );
    let found = paths(
        &format!("{code} engine::start(); x.engine::y"),
        &["engine".to_string()].into(),
    );
    let joined: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "super::App",
            "super::js::self",
            "super::js::get",
            "super::widget::by_id",
            "crate::index::rank",
            "engine::start"
        ]
    );
    let all: BTreeSet<String> = ["web", "web::js", "web::widget", "index"]
        .map(String::from)
        .into();
    let to = |p: &str| {
        let path: Vec<String> = p.split("::").map(String::from).collect();
        target("web::api", &path, &all)
    };
    assert_eq!(to("super::App").as_deref(), Some("web"));
    assert_eq!(to("super::js::get").as_deref(), Some("web::js"));
    assert_eq!(to("crate::index::rank").as_deref(), Some("index"));
    let child: Vec<String> = vec!["js".into(), "get".into()];
    assert_eq!(target("web", &child, &all).as_deref(), Some("web::js"));
    let cyclic = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["a".to_string()])),
    ]);
    assert!(cycle_from("a", &cyclic).is_some());
}

#[test]
fn no_module_uses_a_module_that_uses_it() {
    let graph = graph();
    assert!(graph.contains_key("web::session") && graph.contains_key("files"));
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_from(m, &graph))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn clap_only_in_cli_and_wasm_bindgen_only_in_web() {
    for (module, source) in modules() {
        let code = code_only(&source);
        let tokens = tokenize(&code);
        let uses = |krate: &str| tokens.iter().any(|t| t == krate);
        if !(module == "cli" || module.starts_with("cli::")) {
            assert!(!uses("clap"), "{module} uses clap");
        }
        if !(module == "web" || module.starts_with("web::")) {
            for krate in ["wasm_bindgen", "web_sys", "js_sys", "gloo"] {
                assert!(!uses(krate), "{module} uses {krate}");
            }
        }
    }
}

#[test]
fn no_source_file_is_over_500_lines() {
    for (module, source) in modules() {
        let lines = source.lines().count();
        assert!(lines <= 500, "{module} has {lines} lines");
    }
}
