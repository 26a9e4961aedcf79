//! The runtime's top-level modules form layers: no module reaches, through
//! the others, back to itself.
//!
//! A top-level module is a file `src/<name>.rs` or a folder `src/<name>/`
//! (all its files). Its references are the `crate::<module>` paths (and
//! `crate::{a, b::…}` groups) in its code, comments and string literals left
//! out. `lib.rs`, which only declares and re-exports, is not a module here.
//! A reference to the crate root's own items (`crate::Bytes` rather than
//! `crate::wire::Bytes`) would hide an edge, so it fails the test too.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Where each edge was seen: `(from, to) -> "file:line"`.
type Edges = BTreeMap<(String, String), String>;

#[test]
fn top_level_modules_have_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = top_level_modules(&src);
    assert!(
        modules.contains_key("core") && modules.contains_key("ffi"),
        "expected src/core and src/ffi, found {:?}",
        modules.keys().collect::<Vec<_>>()
    );
    let mut edges = Edges::new();
    let mut root_refs = Vec::new();
    for (module, files) in &modules {
        for file in files {
            let text = fs::read_to_string(file).unwrap();
            let shown = file.strip_prefix(&src).unwrap().display().to_string();
            for (line, target) in crate_references(&code_only(&text)) {
                let at = format!("src/{shown}:{line}");
                if modules.contains_key(&target) {
                    if &target != module {
                        edges.entry((module.clone(), target)).or_insert(at);
                    }
                } else {
                    root_refs.push(format!("{at}: crate::{target}"));
                }
            }
        }
    }
    assert!(
        root_refs.is_empty(),
        "name the module, not the crate root's re-export: {root_refs:#?}"
    );
    // The parser must see the obvious edge, or the test proves nothing.
    assert!(edges.contains_key(&("ffi".into(), "context".into())));
    if let Some(cycle) = find_cycle(&modules.keys().cloned().collect(), &edges) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| {
                let at = &edges[&(w[0].clone(), w[1].clone())];
                format!("{} -> {} ({at})", w[0], w[1])
            })
            .collect();
        panic!(
            "the top-level modules import each other in a cycle: {}\n  {}",
            cycle.join(" -> "),
            steps.join("\n  ")
        );
    }
}

#[test]
fn the_checker_finds_a_cycle_and_reads_groups() {
    let nodes: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
    let mut edges = Edges::new();
    edges.insert(("a".into(), "b".into()), String::new());
    edges.insert(("b".into(), "c".into()), String::new());
    assert_eq!(find_cycle(&nodes, &edges), None);
    edges.insert(("c".into(), "a".into()), String::new());
    assert_eq!(
        find_cycle(&nodes, &edges),
        Some(["a", "b", "c", "a"].map(String::from).to_vec())
    );
    let code = code_only(
        "use crate::{a::X,\n b};\n// crate::c\nlet s = \"crate::d\"; let c = '\"'; let q = '\\'';\nx = crate::e::f; /* crate::g */",
    );
    let found: Vec<_> = crate_references(&code)
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert_eq!(found, ["a", "b", "e"]);
}

/// Each top-level module and its files.
fn top_level_modules(src: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut modules = BTreeMap::new();
    for entry in fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut files = Vec::new();
            rust_files(&path, &mut files);
            modules.insert(name, files);
        } else if path.extension().is_some_and(|e| e == "rs") && name != "lib" {
            modules.insert(name, vec![path]);
        }
    }
    modules
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The source with comments and the contents of string and char literals
/// blanked out (newlines kept, so line numbers still hold).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            // A raw string r"…" or r#"…"#: ends at `"` and as many `#`.
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
            while j < chars.len() {
                if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                out.push(blank(chars[j]));
                j += 1;
            }
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(&c) = chars.get(i) {
                    out.push(blank(c));
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A char literal ('x', '\n', '\''); anything else is a lifetime.
            i += if next == Some('\\') { 3 } else { 1 };
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// The first segment of every `crate::` path, with its line.
fn crate_references(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("crate::").map(|at| from + at) {
        from = at + "crate::".len();
        if code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let line = code[..at].matches('\n').count() + 1;
        let rest = code[from..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            found.extend(group_heads(group).into_iter().map(|m| (line, m)));
        } else {
            found.push((line, ident(rest)));
        }
    }
    found.retain(|(_, m)| !m.is_empty() && m != "self");
    found
}

/// The first segments in `a::X, b, c::{…} }` (to the group's end).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = vec![ident(group.trim_start())];
    let mut depth = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => heads.push(ident(group[i + 1..].trim_start())),
            _ => {}
        }
    }
    heads
}

fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// A cycle in the graph, as `[a, b, …, a]`, if there is one.
fn find_cycle(nodes: &BTreeSet<String>, edges: &Edges) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &Edges,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for (_, to) in edges.keys().filter(|(from, _)| from == node) {
            if let Some(cycle) = visit(to, edges, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    nodes
        .iter()
        .find_map(|node| visit(node, edges, &mut done, &mut Vec::new()))
}
