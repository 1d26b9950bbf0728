//! The layer rule of docs/architecture.md, checked on the source: a module of `src/` names
//! (`crate::…`) only modules of its own layer or below, so the engine never imports the CLI or
//! the page, and no import cycle can come back between layers. Comments and `#[cfg(test)]`
//! sections are not read (a test may use anything).

use std::path::Path;

/// The layers, lowest first; each entry is the top-level modules of `src/` in it.
const LAYERS: &[(&str, &[&str])] = &[
    ("space and plain helpers", &["space", "stats"]),
    (
        "random draws, batches and CPU kernels",
        &["data", "kernels"],
    ),
    ("networks, loss and NTK estimators", &["net", "loss", "ntk"]),
    ("the method: relaxation, HVP step, reward", &["nasi"]),
    ("settings", &["config"]),
    (
        "the search and what reads settings",
        &["search", "memory", "score", "proxies", "refine"],
    ),
    (
        "drawing and reporting shared by the faces",
        &["plot", "landscape"],
    ),
    ("faces", &["cli", "web"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

/// The code of a file without comments and without its `#[cfg(test)]` part.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a file names as `crate::X`, or in a `use crate::{X, …}` group.
fn named(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            out.extend(
                inner
                    .split(',')
                    .filter_map(|p| p.trim().split("::").next())
                    .filter(|m| !m.is_empty())
                    .map(str::to_string),
            );
        } else {
            let m: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push(m);
        }
    }
    out
}

fn visit(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            visit(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

/// The engine's source files that belong to a layer (not the crate root, the binaries or a
/// module's `tests.rs`), as (path below `src/`, top-level module, text without comments and
/// tests).
fn layered_files() -> Vec<(std::path::PathBuf, String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    visit(&src, &mut files);
    files
        .into_iter()
        .filter_map(|f| {
            let rel = f.strip_prefix(&src).unwrap().to_path_buf();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            if matches!(top.as_str(), "lib" | "main" | "bin") || rel.ends_with("tests.rs") {
                return None;
            }
            let text = code(&std::fs::read_to_string(&f).unwrap());
            Some((rel, top, text))
        })
        .collect()
}

#[test]
fn no_module_names_a_higher_layer() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (rel, top, text) in &layered_files() {
        let own = layer_of(top)
            .unwrap_or_else(|| panic!("src/{} is in no layer of this test", rel.display()));
        for m in named(text) {
            // `crate::cpu_device` and the like: the crate root's own items.
            let Some(other) = layer_of(&m) else { continue };
            if other > own {
                wrong.push(format!(
                    "src/{} ({}) names crate::{m} ({})",
                    rel.display(),
                    LAYERS[own].0,
                    LAYERS[other].0
                ));
            }
        }
        checked += 1;
    }
    assert!(checked > 30, "only {checked} files read");
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_a_violation() {
    // What a regression would look like: the search naming the CLI, the method naming the page.
    let bad = "use crate::cli::run_search;\nfn f() { crate::web::state::Playground::new(); }";
    assert_eq!(named(&code(bad)), ["cli", "web"]);
    assert_eq!(
        named(&code(
            "use crate::{config::SearchConfig, nasi};\n// crate::cli in a comment"
        )),
        ["config", "nasi"]
    );
    assert!(layer_of("search") < layer_of("cli"));
}

/// The accuracy table is for reporting: no module of the search's layers or below (the
/// networks, estimators, method, settings, search, second stage) names it, so no search can
/// read it. Only `space/nb201/table.rs` itself, the drawing and reporting layer and the faces do.
#[test]
fn nothing_below_the_reports_names_the_accuracy_table() {
    let reports = layer_of("plot").unwrap();
    let mut wrong = Vec::new();
    for (rel, top, c) in &layered_files() {
        if rel.ends_with("space/nb201/table.rs") || layer_of(top).is_some_and(|l| l >= reports) {
            continue;
        }
        if c.contains("table::") || c.contains("Accuracies") {
            wrong.push(format!("src/{}", rel.display()));
        }
    }
    assert!(
        wrong.is_empty(),
        "below the reports, these name the accuracy table: {wrong:?}"
    );
}
