//! The layering of `src/` (see `src/lib.rs`), checked on the source text: no import cycles between
//! top-level modules, infrastructure imports no domain, and only the route assembly names every
//! domain.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const INFRASTRUCTURE: &[&str] = &[
    "backup",
    "cache",
    "config",
    "crypto",
    "dashboard",
    "db",
    "error",
    "hashing",
    "infra",
    "jobs",
    "mail",
    "metrics",
    "openapi_doc",
    "payload",
    "rate_limit",
    "request_info",
    "request_schema",
    "tokens",
    "web",
];
const DOMAINS: &[&str] = &[
    "api_keys",
    "auth",
    "contact_channels",
    "emails",
    "events",
    "images",
    "oauth",
    "owned_projects",
    "overview",
    "permissions",
    "projects",
    "sessions",
    "system",
    "teams",
    "transfer",
    "users",
    "verification",
    "webhooks",
];
const ASSEMBLY: &[&str] = &["api", "pipeline", "server"];
/// Domains without routes of their own (the route assembly builds every other one).
const UNROUTED_DOMAINS: &[&str] = &["verification", "transfer"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Top-level module → the top-level modules its files name as `crate::x` (also inside `use crate::{x, y}`).
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().to_string();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        // Comments may mention any module; only code counts.
        let text: String = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let deps = graph.entry(module.clone()).or_default();
        let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
        for part in text.split("crate::").skip(1) {
            if let Some(group) = part.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or_default();
                deps.extend(inner.split(',').map(|p| ident(p.trim())).filter(|p| !p.is_empty()));
            } else {
                deps.insert(ident(part));
            }
        }
        deps.remove(&module);
        deps.remove("");
    }
    graph
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|n| n == node) {
            let mut cycle = path[i..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut vec![], &mut done))
}

#[test]
fn modules_form_no_import_cycle() {
    let graph = module_graph();
    assert!(graph.len() > 20, "the scan found the modules: {:?}", graph.keys());
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle between modules: {}", cycle.join(" → "));
    }
}

#[test]
fn every_module_has_a_layer_and_layers_import_downwards() {
    let graph = module_graph();
    for (module, deps) in &graph {
        let m = module.as_str();
        assert!(
            INFRASTRUCTURE.contains(&m) || DOMAINS.contains(&m) || ASSEMBLY.contains(&m),
            "src/{module} is in no layer: add it to the lists in tests/api/architecture.rs and src/lib.rs"
        );
        for dep in deps {
            if INFRASTRUCTURE.contains(&m) {
                assert!(INFRASTRUCTURE.contains(&dep.as_str()), "infrastructure module {module} imports {dep}");
            }
            if DOMAINS.contains(&m) {
                assert!(!ASSEMBLY.contains(&dep.as_str()), "domain {module} imports the assembly module {dep}");
            }
        }
    }
    let routed = DOMAINS.iter().filter(|d| !UNROUTED_DOMAINS.contains(d));
    let naming_all: Vec<&String> =
        graph.iter().filter(|(_, deps)| routed.clone().all(|d| deps.contains(*d))).map(|(m, _)| m).collect();
    assert_eq!(naming_all, ["api"], "only the route assembly names every domain");
}

#[test]
fn the_checker_sees_a_cycle_when_there_is_one() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(find_cycle(&graph), Some(vec!["a".into(), "b".into(), "a".into()]));
    graph.get_mut("b").unwrap().clear();
    assert_eq!(find_cycle(&graph), None);
}
