//! The layering rules of `docs/architecture.md`, read from `src/` as text.
//!
//! Data moves one way (model → sources / fetch / storage → engine → daemon /
//! cli); this test fails the build when an import runs against it: a cycle
//! between top-level modules, a module importing one it may not (the table
//! below is the one in the docs), reqwest outside `fetch`, rusqlite outside
//! `storage`, or the library reaching the binary's `cli`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each top-level module of the library may import from the crate.
/// `lib.rs` declares them all; `cli/` and `main.rs` are the binary.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("telemetry", &["model"]),
    ("sources", &["model"]),
    ("fetch", &["model"]),
    ("storage", &["model"]),
    (
        "config",
        &["model", "sources", "fetch", "storage", "telemetry"],
    ),
    ("export", &["model", "storage"]),
    ("engine", &["model", "fetch", "storage"]),
    ("error", &["model", "config", "fetch", "storage"]),
    (
        "app",
        &[
            "model",
            "sources",
            "fetch",
            "storage",
            "telemetry",
            "config",
            "engine",
            "error",
        ],
    ),
    (
        "daemon",
        &[
            "model", "fetch", "storage", "config", "export", "engine", "error", "app",
        ],
    ),
];

/// Crates only one module may name: the seams the rest of herald is kept
/// away from.
const OWNED_CRATES: &[(&str, &str)] = &[
    ("reqwest", "fetch"),
    ("rusqlite", "storage"),
    ("tokio_postgres", "storage"),
    ("deadpool_postgres", "storage"),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/engine/round.rs` → `engine`; `src/app.rs` → `app`; `src/lib.rs` → `lib`.
fn top_module(path: &Path) -> String {
    let relative = path.strip_prefix(src()).expect("under src");
    let first = relative
        .components()
        .next()
        .expect("non-empty")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// The code of a file without comment lines (doc links are not imports).
fn code_of(path: &Path) -> String {
    std::fs::read_to_string(path)
        .expect("read source")
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a piece of code names through `crate::`, including
/// the grouped form `use crate::{a::b, c};`.
fn crate_references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        // `some_crate::` or `herald_crate::` are other paths, not `crate::`.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut at_item_start = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => at_item_start = true,
                    _ => {}
                }
                if depth == 1 && at_item_start {
                    if c.is_alphanumeric() || c == '_' {
                        item.push(c);
                    } else if !item.is_empty() {
                        found.insert(std::mem::take(&mut item));
                        at_item_start = false;
                    }
                }
            }
            if !item.is_empty() {
                found.insert(item);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Module → the crate modules its files reference (self excluded).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = top_module(&file);
        if module == "main" || module == "cli" {
            continue;
        }
        let references = crate_references(&code_of(&file));
        let entry = graph.entry(module.clone()).or_default();
        entry.extend(references.into_iter().filter(|m| *m != module));
    }
    graph
}

#[test]
fn the_scanner_reads_imports_in_both_forms() {
    let code = "use crate::model::source::SourceSpec;\nuse crate::{fetch::X, storage};\nlet a = crate::engine::job::run();\nuse tokio_util::sync::CancellationToken; // not crate::";
    let found: Vec<String> = crate_references(code).into_iter().collect();
    assert_eq!(found, ["engine", "fetch", "model", "storage"]);
    let graph = import_graph();
    assert!(
        graph["config"].contains("sources") && graph["engine"].contains("storage"),
        "the scanner finds edges that exist: {graph:#?}"
    );
}

#[test]
fn every_module_imports_only_what_the_table_allows() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut broken = Vec::new();
    for (module, imports) in import_graph() {
        if module == "lib" {
            continue;
        }
        let Some(may) = allowed.get(module.as_str()) else {
            broken.push(format!(
                "{module}: not in the layering table (add it to tests/architecture.rs and docs/architecture.md)"
            ));
            continue;
        };
        for import in imports {
            if !may.contains(&import.as_str()) {
                broken.push(format!("{module} imports {import}"));
            }
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}

#[test]
fn no_cycle_between_top_level_modules() {
    let graph = import_graph();
    // Depth-first search; a node met again while on the stack closes a cycle.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if next == "lib" {
                continue;
            }
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys().filter(|n| *n != "lib") {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn reqwest_and_rusqlite_stay_behind_their_seams() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut broken = Vec::new();
    for file in &files {
        let module = top_module(file);
        let code = code_of(file);
        for (krate, owner) in OWNED_CRATES {
            let named =
                code.contains(&format!("{krate}::")) || code.contains(&format!("use {krate}"));
            if named && module != *owner {
                broken.push(format!("{} names {krate}", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn cli_is_reached_only_from_main() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for file in files {
        let module = top_module(&file);
        if module == "main" || module == "cli" {
            continue;
        }
        let code = code_of(&file);
        let declares_cli = code.lines().any(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words
                .windows(2)
                .any(|w| w[0] == "mod" && (w[1] == "cli;" || w[1] == "cli"))
        });
        assert!(
            !declares_cli && !crate_references(&code).contains("cli"),
            "{} reaches the binary's cli module",
            file.display()
        );
    }
    let main = code_of(&src().join("main.rs"));
    assert!(main.contains("mod cli;"), "main.rs declares the cli");
}
