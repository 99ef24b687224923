//! docs/json.md against the real JSON of `detect`, `build`, a fleet build
//! and `index merge`: every field printed is documented (name and nesting),
//! every field documented is printed (but those only printed sometimes),
//! and every output starts with its `schema`.

mod common;
use std::collections::BTreeSet;

use common::*;
use serde_json::Value;

/// A documented field: its path, and whether it may be left out.
struct Doc {
    path: String,
    optional: bool,
}

/// The table under `## {title}` in docs/json.md.
fn documented(title: &str) -> Vec<Doc> {
    let text = std::fs::read_to_string(repo().join("docs/json.md")).unwrap();
    let section = text.split(&format!("\n## {title}\n")).nth(1).unwrap_or_else(|| panic!("no section {title}"));
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let path = cells[0].trim_start_matches("| ").trim_matches('`').to_string();
            Doc { path, optional: cells[1].contains("only") }
        })
        .collect()
}

/// Every field path of `v`, maps' keys as they are.
fn paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                out.insert(p.clone());
                paths(x, &p, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| paths(x, &format!("{prefix}[]"), out)),
        _ => {}
    }
}

/// Does a printed path match a documented one (`*`: any one key)?
fn matches(doc: &str, path: &str) -> bool {
    let (d, p): (Vec<&str>, Vec<&str>) = (doc.split('.').collect(), path.split('.').collect());
    d.len() == p.len() && d.iter().zip(&p).all(|(d, p)| d == p || *d == "*")
}

/// Hold `outputs` against the section `title`; the fields under each of
/// `facts_at` against the `detect --json` section.
fn check(title: &str, outputs: &[Value], facts_at: &str) {
    let docs = documented(title);
    let facts_docs = documented("`detect --json`");
    assert!(docs.len() > 10, "{title}: {} rows", docs.len());
    let mut printed = BTreeSet::new();
    for o in outputs {
        assert_eq!(o["schema"], 1, "{title}");
        paths(o, "", &mut printed);
    }
    let facts_prefix = format!("{facts_at}.");
    let mut undocumented = Vec::new();
    let mut seen_facts = BTreeSet::new();
    for p in &printed {
        match p.strip_prefix(&facts_prefix) {
            Some(f) if !facts_at.is_empty() => {
                let doc = facts_docs.iter().find(|d| matches(&d.path, f));
                match doc {
                    Some(d) => {
                        seen_facts.insert(d.path.clone());
                    }
                    None => undocumented.push(p.clone()),
                }
            }
            _ => {
                if !docs.iter().any(|d| matches(&d.path, p)) {
                    undocumented.push(p.clone());
                }
            }
        }
    }
    assert!(undocumented.is_empty(), "{title}: printed but not in docs/json.md: {undocumented:?}");
    let missing: Vec<&str> = docs
        .iter()
        .filter(|d| !d.optional && !printed.iter().any(|p| matches(&d.path, p)))
        .map(|d| d.path.as_str())
        .collect();
    assert!(missing.is_empty(), "{title}: in docs/json.md but never printed: {missing:?}");
    if !facts_at.is_empty() {
        let unseen: Vec<&str> = facts_docs
            .iter()
            .filter(|d| d.path != "schema" && !d.optional && !seen_facts.contains(&d.path))
            .map(|d| d.path.as_str())
            .collect();
        assert!(unseen.is_empty(), "{title}: facts fields never printed under {facts_at}: {unseen:?}");
    }
}

#[test]
fn json_outputs_match_docs_json_md() {
    // e-6.6: era E, no module_ref; c-3.0: per-cpu, with module_ref.
    let (e, c) = (fake_tree("e-6.6"), fake_tree("c-3.0"));
    let out = tempfile::tempdir().unwrap();
    let dir = |n: &str| out.path().join(n).display().to_string();
    let json = |args: &[&str], code: i32| {
        let r = run(args);
        assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
        assert!(r.stdout.starts_with("{\n  \"schema\": 1,\n"), "schema first: {}", r.stdout);
        r.json()
    };
    let (e, c) = (path_str(e.path()), path_str(c.path()));

    let detect: Vec<Value> = [e, c].iter().map(|k| json(&["detect", "--kdir", k, "--json"], 0)).collect();
    check("`detect --json`", &detect, "");
    // The documented field list of detect is complete for both kinds of era.
    assert!(detect[1]["module_ref"].is_array() && detect[0]["module_ref"].is_null());

    let build: Vec<Value> = [(e, "one-e"), (c, "one-c")]
        .iter()
        .map(|(k, o)| json(&["build", "--kdir", k, "--cc", "gcc", "--out", &dir(o), "--json", "-q"], 0))
        .collect();
    check("`build --json`", &build, "facts");

    let missing = dir("missing");
    let fleet_args = ["build", "--kdir", e, "--kdir", c, "--kdir", &missing, "--cc", "gcc", "--json", "-q"];
    let fleet = json(&[&fleet_args[..], &["--out", &dir("fleet")]].concat(), 11);
    check("fleet `build --json` (several kernels)", std::slice::from_ref(&fleet), "kernels[].facts");

    let shards: Vec<String> = ["1/2", "2/2"]
        .iter()
        .map(|s| {
            let d = dir(&format!("shard{}", &s[..1]));
            json(&["build", "--kdir", e, "--kdir", c, "--cc", "gcc", "--json", "-q", "--shard", s, "--out", &d], 0);
            d
        })
        .collect();
    let merged = json(&["index", "merge", "--out", &dir("merged"), &shards[0], &shards[1], "--json", "-q"], 0);
    assert!(merged["merged_from"].is_array(), "{merged}");
    let mut with_merged = documented("fleet `build --json` (several kernels)");
    with_merged.retain(|d| d.path == "merged_from");
    assert_eq!(with_merged.len(), 1);
    // The merged index has no failed kernel: held with the fleet's.
    check("fleet `build --json` (several kernels)", &[fleet, merged], "kernels[].facts");
}
