//! The documentation stays exact: the README is a landing page of at most
//! 250 lines, every relative link in it and in docs/ leads somewhere, and
//! the tables that restate data (the test kernels, the helper's parameters
//! and errors) say what the data files and templates say.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use regex::Regex;

mod common;
use common::TestKernel;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// README.md and every docs/*.md, as repository-relative paths.
fn documents() -> Vec<String> {
    let mut docs = vec!["README.md".to_string()];
    let mut more: Vec<String> = fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

/// Lines outside ``` fences.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// The anchor GitHub gives a heading: lower case, punctuation dropped,
/// spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    prose(text).iter().filter(|l| l.starts_with('#')).map(|l| slug(l.trim_start_matches('#'))).collect()
}

/// Markdown links `[text](target)` outside code: (line number, target).
fn links(text: &str) -> Vec<(usize, String)> {
    let re = Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    let code = Regex::new(r"`[^`]*`").unwrap();
    let mut found = Vec::new();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || line.starts_with("    ") {
            continue;
        }
        let line = code.replace_all(line, "");
        for c in re.captures_iter(&line) {
            found.push((i + 1, c[1].to_string()));
        }
    }
    found
}

/// Linked from the README before it exists on this branch: another branch
/// adds it. Checked like every other target as soon as it exists.
const ADDED_ELSEWHERE: &[&str] = &["docs/cli.md"];

#[test]
fn readme_is_a_landing_page_of_at_most_250_lines() {
    let n = read("README.md").lines().count();
    assert!(n <= 250, "README.md has {n} lines; move detail into docs/ and link it");
}

#[test]
fn every_relative_link_leads_to_a_file_and_anchor() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = read(&doc);
        let dir = Path::new(&doc).parent().unwrap();
        for (line, target) in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let rel = if file.is_empty() { PathBuf::from(&doc) } else { normalize(&dir.join(file)) };
            let rel_str = rel.to_string_lossy().to_string();
            let path = repo().join(&rel);
            checked += 1;
            if !path.exists() {
                if !ADDED_ELSEWHERE.contains(&rel_str.as_str()) {
                    broken.push(format!("{doc}:{line}: {target}: no file {rel_str}"));
                }
                continue;
            }
            if let Some(a) = anchor {
                let found = anchors(&fs::read_to_string(&path).unwrap());
                if !found.contains(a) {
                    broken.push(format!("{doc}:{line}: {target}: no heading #{a} in {rel_str} (has {found:?})"));
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} links found: the link pattern no longer matches the documents");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// `a/../b` as `b`, without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                assert!(out.pop(), "{} leaves the repository", p.display());
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

#[test]
fn the_link_checker_sees_a_broken_link_and_a_missing_anchor() {
    assert_eq!(slug(" Finding who leaked the reference: `trace`"), "finding-who-leaked-the-reference-trace");
    assert_eq!(
        links("see [a](docs/x.md#y) and `[b](c)`\n    [d](e)\n[f](https://g)"),
        [(1, "docs/x.md#y".to_string()), (3, "https://g".to_string())]
    );
    assert!(anchors("# A b\n```\n# not a heading\n```\n## C: `d`").iter().eq(["a-b", "c-d"].iter()));
}

/// The rows of tests/kernels.toml: (name, fetch, arch, cpus).
fn kernel_rows() -> Vec<[String; 4]> {
    common::test_kernels().into_iter().map(|k| [k.name, k.fetch, k.arch, k.cpus.to_string()]).collect()
}

/// The Markdown table of DOC whose header row starts with HEADER: its rows,
/// cells trimmed.
fn table(doc: &str, header: &str) -> Vec<Vec<String>> {
    let text = read(doc);
    let mut lines = text.lines().skip_while(|l| !l.starts_with(header));
    assert!(lines.next().is_some(), "{doc} has no table starting {header:?}");
    lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim().trim_matches('|').split('|').map(|c| c.trim().to_string()).collect())
        .collect()
}

#[test]
fn the_kernel_table_in_docs_names_exactly_the_rows_of_tests_kernels() {
    let rows = kernel_rows();
    assert!(rows.len() >= 10, "tests/kernels.toml has {} rows", rows.len());
    let documented: Vec<[String; 4]> = table("docs/testing.md", "| kernel | fetch | arch | cpus |")
        .into_iter()
        .map(|c| [c[0].trim_matches('`').to_string(), c[1].clone(), c[2].clone(), c[3].clone()])
        .collect();
    assert_eq!(
        documented, rows,
        "docs/testing.md's kernel table (name, fetch, arch, cpus) must list the kernels of tests/kernels.toml, in order"
    );

    // The suite's default kernel list, as the docs state it.
    let text = read("docs/testing.md").replace('\n', " ");
    let re = Regex::new(r"\(no argument: ([^;]+);").unwrap();
    let listed: Vec<&str> = re
        .captures(&text)
        .expect("docs/testing.md names the default kernels")
        .get(1)
        .unwrap()
        .as_str()
        .split_whitespace()
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        listed, names,
        "docs/testing.md: `tests/e2e/run` with no argument runs every kernel of tests/kernels.toml"
    );
}

/// Every template file's text.
fn templates() -> String {
    walk(&repo().join("templates")).iter().map(|p| fs::read_to_string(p).unwrap()).collect::<Vec<_>>().join("\n")
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The names in the first column of a table: every `name` or `name=...` in it.
fn first_column_names(rows: &[Vec<String>]) -> BTreeSet<String> {
    let re = Regex::new(r"`([a-z_]+)(=[^`]*)?`").unwrap();
    rows.iter().flat_map(|r| re.captures_iter(&r[0]).map(|c| c[1].to_string()).collect::<Vec<_>>()).collect()
}

#[test]
fn the_helper_doc_lists_exactly_its_parameters_and_errors() {
    let t = templates();
    let param = Regex::new(r"module_param\((\w+),").unwrap();
    let named = Regex::new(r"module_param_named\((\w+),").unwrap();
    let out = Regex::new(r"FRM_OUT\((\w+),").unwrap();
    let mut inputs: BTreeSet<String> = param.captures_iter(&t).map(|c| c[1].to_string()).collect();
    inputs.extend(named.captures_iter(&t).map(|c| c[1].to_string()).filter(|n| n != "name"));
    let outputs: BTreeSet<String> = out.captures_iter(&t).map(|c| c[1].to_string()).filter(|n| n != "name").collect();
    assert!(inputs.contains("modname") && inputs.contains("sb_lock"), "{inputs:?}");
    assert!(outputs.contains("removed"), "{outputs:?}");

    let text = read("docs/helper.md");
    let mut at = text.match_indices("| parameter | meaning |").map(|(i, _)| first_column_names(&table_at(&text[i..])));
    let (documented, out_doc) =
        (at.next().unwrap_or_default(), at.next().expect("docs/helper.md has an output parameter table"));
    assert_eq!(documented, inputs, "docs/helper.md's parameter table vs the templates' module_param()s");
    assert_eq!(out_doc, outputs, "docs/helper.md's output parameters vs the templates' FRM_OUT()s");

    let errno = Regex::new(r"-(E[A-Z]+)\b").unwrap();
    let returned: BTreeSet<String> = errno.captures_iter(&t).map(|c| c[1].to_string()).collect();
    let documented: BTreeSet<String> = table("docs/helper.md", "| errno (insmod shows) | why |")
        .iter()
        .map(|r| r[0].trim_matches('`').to_string())
        .collect();
    assert!(returned.contains("ETXTBSY"), "{returned:?}");
    assert_eq!(documented, returned, "docs/helper.md's errno table vs the errors the templates return");
}

/// The table that starts TEXT.
fn table_at(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim().trim_matches('|').split('|').map(|c| c.trim().to_string()).collect())
        .collect()
}

/// What tests/e2e/README.md's per-kernel table must say for a kernel of
/// tests/kernels.toml: cpus, negative control, extra scenarios (then "; drops
/// ..." for the -PATTERN entries, "; caught_..." for the debug kernel's
/// controls), signing boot.
fn e2e_cells(k: &TestKernel) -> [String; 4] {
    let (drops, adds): (Vec<String>, Vec<String>) = k.extra.iter().cloned().partition(|e| e.starts_with('-'));
    let mut cell = if adds.is_empty() { "-".to_string() } else { adds.join(", ") };
    if !drops.is_empty() {
        let drops: Vec<String> = drops.iter().map(|d| d[1..].replace('*', "\\*")).collect();
        cell += &format!("; drops {}", drops.join(", "));
    }
    let caught: Vec<String> = k.caught.iter().map(|c| format!("caught_{c}")).collect();
    if !caught.is_empty() {
        cell += &format!("; {}", caught.join(", "));
    }
    [
        k.cpus.to_string(),
        k.negative.scenario.clone(),
        cell,
        if k.sig.is_empty() { "-".to_string() } else { k.sig.join(", ") },
    ]
}

#[test]
fn the_e2e_readme_kernel_table_says_what_tests_kernels_says() {
    let rows = common::test_kernels();
    let doc = table("tests/e2e/README.md", "| kernel | cpus | negative control | extra scenarios | signing boot |");
    let mut named = Vec::new();
    for cells in &doc {
        for name in cells[0].split(", ") {
            let row = rows.iter().find(|k| k.name == name).unwrap_or_else(|| {
                panic!("tests/e2e/README.md names kernel {name:?}, which is no kernel of tests/kernels.toml")
            });
            assert_eq!(
                cells[1..5],
                e2e_cells(row),
                "tests/e2e/README.md, kernel {name}: cpus, negative control, extra, signing"
            );
            named.push(name.to_string());
        }
    }
    let mut expected: Vec<String> = rows.iter().map(|k| k.name.clone()).collect();
    named.sort();
    expected.sort();
    assert_eq!(named, expected, "tests/e2e/README.md's kernel table names every kernel of tests/kernels.toml once");
}

#[test]
fn the_e2e_readme_describes_every_scenario_and_only_those() {
    let rows = common::test_kernels();
    let mut scenarios: BTreeSet<String> = read("tests/e2e/scenarios")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    scenarios.insert("negative_control".into());
    for k in &rows {
        scenarios.extend(k.extra.iter().filter(|e| !e.starts_with('-')).cloned());
        scenarios.extend(k.sig.iter().cloned());
    }
    let caught: BTreeSet<String> = rows.iter().flat_map(|k| &k.caught).map(|c| format!("caught_{c}")).collect();

    let text = read("tests/e2e/README.md");
    let section = text.split("\n## Scenarios").nth(1).expect("tests/e2e/README.md has a Scenarios section");
    let section = section.split("\n## ").next().unwrap();
    let described: BTreeSet<String> = section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| name |"))
        .map(|l| l.trim_matches('|').split('|').next().unwrap().trim().to_string())
        .collect();
    let missing: Vec<&String> = scenarios.difference(&described).collect();
    assert!(missing.is_empty(), "tests/e2e/README.md describes no {missing:?}");
    let unknown: Vec<&String> = described.iter().filter(|d| !scenarios.contains(*d) && !caught.contains(*d)).collect();
    assert!(unknown.is_empty(), "tests/e2e/README.md describes scenarios that do not exist: {unknown:?}");
}

#[test]
fn the_readme_states_the_two_commands_and_ci_runs_the_test_command() {
    use std::os::unix::fs::PermissionsExt;
    let readme = read("README.md");
    for (command, script) in [
        ("    scripts/setup-and-build [KDIR]\n", "scripts/setup-and-build"),
        ("    scripts/test-all\n", "scripts/test-all"),
    ] {
        assert!(readme.contains(command), "README.md no longer states {command:?}");
        let mode = fs::metadata(repo().join(script)).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "{script} is not executable");
    }
    let ci = read(".ci/run");
    assert!(
        ci.lines().filter(|l| !l.starts_with('#')).any(|l| l.trim() == "exec ./scripts/test-all"),
        ".ci/run must run the README's test command:\n{ci}"
    );
}

/// A kernel as `scripts/kernels table` prints it.
fn shell_row(k: &TestKernel) -> String {
    [
        k.name.clone(),
        k.fetch.clone(),
        k.arch.clone(),
        k.cc.clone().unwrap_or_default(),
        k.source.join(","),
        k.headers.clone().unwrap_or_default(),
        k.cpus.to_string(),
        k.boot.to_string(),
        format!("{}:{}", k.negative.scenario, k.negative.target),
        k.extra.join(","),
        k.caught.join(","),
        k.sig.join(","),
    ]
    .join("\t")
}

fn scripts_kernels(file: Option<&Path>, args: &[&str]) -> std::process::Output {
    let mut c = std::process::Command::new(repo().join("scripts/kernels"));
    c.args(args);
    match file {
        Some(f) => c.env("FRG_KERNELS", f),
        None => c.env_remove("FRG_KERNELS"),
    };
    c.output().unwrap()
}

#[test]
fn the_shell_reader_of_tests_kernels_reads_what_serde_reads() {
    let kernels = common::test_kernels();
    let o = scripts_kernels(None, &["table"]);
    assert!(o.status.success(), "scripts/kernels table: {}", String::from_utf8_lossy(&o.stderr));
    let shell: Vec<String> = String::from_utf8(o.stdout).unwrap().lines().map(String::from).collect();
    let rust: Vec<String> = kernels.iter().map(shell_row).collect();
    assert_eq!(shell, rust, "scripts/kernels vs tests/common's serde reading of tests/kernels.toml");
    let o = scripts_kernels(None, &["field", "centos7.9", "negative"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "percpu_leak:victim\n");
}

#[test]
fn both_readers_of_tests_kernels_refuse_an_unknown_or_missing_key() {
    let text = read("tests/kernels.toml");
    let dir = tempfile::tempdir().unwrap();
    let bad = [
        ("an unknown key", text.replacen("cpus = 1\n", "cpus = 1\ncpu = 2\n", 1)),
        ("a missing key", text.replacen("boot = 1\n", "", 1)),
        ("a wrong type", text.replacen("cpus = 1\n", "cpus = \"1\"\n", 1)),
    ];
    for (what, text) in bad {
        let f = dir.path().join("kernels.toml");
        fs::write(&f, &text).unwrap();
        let o = scripts_kernels(Some(&f), &["names"]);
        assert_eq!(o.status.code(), Some(1), "scripts/kernels accepts {what}");
        assert!(common::parse_test_kernels(&text).is_err(), "serde accepts {what}");
    }
}
