//! Fleet mode, cache, signing options and the DKMS tree: the parts that need
//! no real kernel tree. (Real trees: tests/fleet_real.rs.)

mod common;
use common::{cmd as bin, run_cmd as run};
use std::path::Path;
use std::process::{Command, Output};

fn index(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("index.json")).expect("index.json written");
    serde_json::from_str(&text).expect("index.json is JSON")
}

/// The error message the run ended with (see common::error_message).
fn error(o: &Output) -> String {
    common::error_message(&String::from_utf8_lossy(&o.stderr)).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn fleet_of_missing_trees_writes_an_index_and_exits_11() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let o = run(bin()
        .args(["build", "--kdir", "/nonexistent/a", "--kdir", "/nonexistent/b", "--json", "-j2"])
        .arg("--out")
        .arg(&out)
        .arg("--cache-dir")
        .arg(t.path().join("cache")));
    assert_eq!(o.status.code(), Some(11), "SOME_KERNELS_FAILED");
    let idx = index(&out);
    // --json prints the same document, with its schema version.
    let mut printed: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is the index");
    assert_eq!(printed.as_object_mut().unwrap().remove("schema"), Some(serde_json::json!(1)));
    assert_eq!(printed, idx);
    assert_eq!(idx["tool"], "force-rmmod-gen");
    assert_eq!((idx["total"].as_u64(), idx["ok"].as_u64(), idx["failed"].as_u64()), (Some(2), Some(0), Some(2)));
    assert_eq!(idx["jobs"], 2);
    let ks = idx["kernels"].as_array().unwrap();
    assert_eq!(ks.len(), 2);
    for (k, want) in ks.iter().zip(["/nonexistent/a", "/nonexistent/b"]) {
        assert_eq!(k["request"], want, "input order kept");
        assert_eq!(k["status"], "failed");
        assert_eq!(k["error"]["kind"], "kdir-missing");
        assert_eq!(k["error"]["exit_code"], 3);
        assert_eq!(k["error"]["message"], format!("kernel build tree {want} not found: check the --kdir path"));
        assert!(k["ko"].is_null());
    }
    assert_eq!(error(&o), "force-rmmod-gen: error: 2 of 2 kernels failed; see the index manifest");
}

#[test]
fn a_reader_that_goes_away_from_the_json_index_is_not_a_panic() {
    // `force-rmmod-gen build --kdir A --kdir B --json | head -1`: the reader
    // is gone before the index is printed; the run ends as it would have.
    let t = tempfile::tempdir().unwrap();
    let mut child = bin()
        .args(["build", "--kdir", "/nonexistent/a", "--kdir", "/nonexistent/b", "--json"])
        .arg("--out")
        .arg(t.path().join("out"))
        .arg("--cache-dir")
        .arg(t.path().join("cache"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(11), "{}", stderr(&o));
}

#[test]
fn a_glob_that_matches_nothing_is_refused_and_nothing_is_written() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let pattern = format!("{}/none-*/build", t.path().display());
    let o = run(bin().args(["build", "--no-cache", "--quiet", "--kdirs", &pattern]).arg("--out").arg(&out));
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        error(&o),
        format!(
            "force-rmmod-gen: error: kernel build tree {pattern} not found: the --kdirs pattern matches no directory; \
             nothing was built (quote the pattern, so that the shell leaves it to force-rmmod-gen)"
        )
    );
    assert!(!out.exists(), "no output directory, no index.json");
    assert!(o.stdout.is_empty());
}

#[test]
fn the_same_tree_twice_is_built_once() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let dir = t.path().join("notatree");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(&dir, t.path().join("link")).unwrap();
    let o = run(bin()
        .args(["build", "--no-cache"])
        .arg("--kdir")
        .arg(&dir)
        .arg("--kdir")
        .arg(t.path().join("link"))
        .arg("--out")
        .arg(&out));
    assert_eq!(o.status.code(), Some(11));
    let idx = index(&out);
    assert_eq!(idx["total"], 1);
    assert_eq!(
        idx["kernels"][0]["error"]["message"],
        format!(
            "kernel build tree {} not found: it has no Makefile, so it is not a kernel build tree; pass the directory \
             that /lib/modules/RELEASE/build points to",
            dir.canonicalize().unwrap().display()
        )
    );
    assert_eq!(error(&o), "force-rmmod-gen: error: 1 of 1 kernels failed; see the index manifest");
}

#[test]
fn detect_and_render_take_one_kdir() {
    let once = "force-rmmod-gen: error: --kdir may be given only once here; `build` takes several (fleet mode)";
    let o = run(bin().args(["detect", "--kdir", "/a", "--kdir", "/b"]));
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(error(&o), once);
    let o = run(bin().args(["render", "--kdir", "/a", "--kdir", "/b", "--out", "/tmp/x"]));
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(error(&o), once);
}

#[test]
fn signing_options_are_checked_before_building() {
    let t = tempfile::tempdir().unwrap();
    let o = run(bin()
        .args([
            "build",
            "--kdir",
            "/a",
            "--kdir",
            "/b",
            "--sign-key",
            "/nonexistent.pem",
            "--sign-cert",
            "/nonexistent.crt",
        ])
        .arg("--out")
        .arg(t.path().join("out")));
    assert_eq!(o.status.code(), Some(7), "bad argument, nothing attempted");
    assert_eq!(error(&o), "force-rmmod-gen: error: --sign-key /nonexistent.pem: no such file");
    assert!(!t.path().join("out/index.json").exists());
    let o = run(bin().args(["build", "--kdir", "/a", "--sign-key", "/k.pem"]));
    assert_eq!(o.status.code(), Some(2), "--sign-key needs --sign-cert (usage error)");
    assert_eq!(
        stderr(&o),
        "error: the following required arguments were not provided:\n  --sign-cert <CERT>\n\nUsage: force-rmmod-gen \
         build --sign-key <KEY> --sign-cert <CERT> --kdir <DIR>\n\nFor more information, try '--help'.\n"
    );
}

#[test]
fn single_kernel_errors_keep_their_exit_codes() {
    let t = tempfile::tempdir().unwrap();
    let o = run(bin().args(["build", "--kdir", "/nonexistent/a"]).arg("--cache-dir").arg(t.path().join("c")));
    assert_eq!(o.status.code(), Some(3), "one kernel: its own exit code, not 11");
    assert_eq!(
        error(&o),
        "force-rmmod-gen: error: kernel build tree /nonexistent/a not found: check the --kdir path",
        "one kernel: its own message"
    );
}

#[test]
fn dkms_tree_is_complete() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("force-rmmod-9.9");
    let o = run(bin().args(["dkms", "--package-version", "9.9", "--target", "snd_x"]).arg("--out").arg(&d));
    assert!(o.status.success());
    let conf = std::fs::read_to_string(d.join("dkms.conf")).unwrap();
    for want in [
        "PACKAGE_NAME=\"force-rmmod\"",
        "PACKAGE_VERSION=\"9.9\"",
        "BUILT_MODULE_NAME[0]=\"force_rmmod\"",
        "BUILT_MODULE_LOCATION[0]=\"out/\"",
        "AUTOINSTALL=\"yes\"",
        "MAKE[0]=",
    ] {
        assert!(conf.contains(want), "{want} in dkms.conf:\n{conf}");
    }
    use std::os::unix::fs::PermissionsExt;
    for exe in ["dkms-build", "force-rmmod-gen"] {
        let mode = std::fs::metadata(d.join(exe)).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "{exe} executable");
    }
    let script = std::fs::read_to_string(d.join("dkms-build")).unwrap();
    assert!(script.contains("--target 'snd_x'"));
    // The bundled generator runs and is the one that wrote the tree.
    let v = run(Command::new(d.join("force-rmmod-gen")).arg("--version"));
    assert!(String::from_utf8_lossy(&v.stdout).contains(env!("CARGO_PKG_VERSION")));
    let prov: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("PROVENANCE.json")).unwrap()).unwrap();
    assert_eq!(prov["bundled_binary_sha256"].as_str().unwrap(), common::sha256_file(&d.join("force-rmmod-gen")));
    // sh -n: the script parses.
    assert!(Command::new("sh").arg("-n").arg(d.join("dkms-build")).status().unwrap().success());
    // --no-bundle leaves the binary out.
    let d2 = t.path().join("nb");
    assert!(run(bin().args(["dkms", "--no-bundle"]).arg("--out").arg(&d2)).status.success());
    assert!(!d2.join("force-rmmod-gen").exists());
}

#[test]
fn shard_must_be_k_of_n() {
    for bad in ["0/2", "3/2", "2", "a/b"] {
        let o = run(bin().args(["build", "--kdir", "/nonexistent/a", "--shard", bad]));
        assert_eq!(o.status.code(), Some(2), "--shard {bad} is a usage error");
        assert_eq!(
            stderr(&o),
            format!(
                "error: invalid value '{bad}' for '--shard <K/N>': '{bad}' is not K/N with 1 <= K <= N (e.g. --shard \
                 2/8)\n\nFor more information, try '--help'.\n"
            )
        );
    }
}

#[test]
fn shards_of_missing_trees_split_them_and_merge_back() {
    let t = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..6).map(|i| format!("/nonexistent/k{i}")).collect();
    let shard = |k: &str| {
        let out = t.path().join(format!("s{}", &k[..1]));
        let mut c = bin();
        c.args(["build", "--shard", k, "--no-cache", "--out"]).arg(&out);
        for n in &names {
            c.args(["--kdir", n]);
        }
        let o = run(&mut c);
        assert!(matches!(o.status.code(), Some(0) | Some(11)), "{k}");
        index(&out)
    };
    let (a, b) = (shard("1/2"), shard("2/2"));
    let req = |v: &serde_json::Value| -> Vec<String> {
        v["kernels"].as_array().unwrap().iter().map(|k| k["request"].as_str().unwrap().to_string()).collect()
    };
    let mut all: Vec<String> = req(&a).into_iter().chain(req(&b)).collect();
    all.sort();
    assert_eq!(all, names, "two shards: disjoint, and together the whole list");
    let merged = t.path().join("merged");
    let o = run(bin().args(["index", "merge", "--out"]).arg(&merged).arg(t.path().join("s1")).arg(t.path().join("s2")));
    assert_eq!(o.status.code(), Some(11), "the failures are carried into the merged index");
    assert_eq!(error(&o), "force-rmmod-gen: error: 6 of 6 kernels failed; see the index manifest");
    let m = index(&merged);
    assert_eq!((m["total"].as_u64(), m["failed"].as_u64()), (Some(6), Some(6)));
    assert_eq!(req(&m), names);
    // Not an index, or a merge into an existing one: exit 7, nothing written.
    let o = run(bin().args(["index", "merge", "--out"]).arg(t.path().join("x")).arg(t.path()));
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(
        error(&o),
        format!(
            "force-rmmod-gen: error: {}/index.json: No such file or directory (os error 2); give the --out \
             directories of `build --shard K/N` runs",
            t.path().display()
        )
    );
    assert!(!t.path().join("x").exists());
    let o = run(bin().args(["index", "merge", "--out"]).arg(&merged).arg(t.path().join("s1")));
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(
        error(&o),
        format!(
            "force-rmmod-gen: error: {} already holds an index.json; merge into a new or empty directory",
            merged.display()
        )
    );
}

/// A fleet run's stderr, whole, without a terminal: the header, each
/// kernel's start and result, the summary and the error line; with
/// --quiet, the failures and the error line only.
#[test]
fn fleet_progress_reads_as_before() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().display().to_string();
    let progress = |quiet: bool, out: &str| {
        let mut c = bin();
        c.args(["build", "--no-cache", "--kdir", "/nonexistent/a", "--kdir", "/nonexistent/b", "-j1"]);
        if quiet {
            c.arg("-q");
        }
        let o = run(c.arg("--out").arg(t.path().join(out)));
        assert_eq!(o.status.code(), Some(11));
        // The summary's seconds vary.
        stderr(&o)
            .replace(&root, "ROOT")
            .lines()
            .map(|l| match (l.find(" in "), l.find(" s with -j")) {
                (Some(a), Some(b)) if a < b => format!("{} in T{}", &l[..a], &l[b..]),
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
    };
    let fail = |i: usize, k: &str| {
        format!(
            "force-rmmod-gen: [{i}/2] FAIL /nonexistent/{k}  kdir-missing (exit 3): kernel build tree /nonexistent/{k} \
             not found: check the --kdir path"
        )
    };
    let end = "force-rmmod-gen: error: 2 of 2 kernels failed; see the index manifest".to_string();
    assert_eq!(
        progress(false, "o1"),
        [
            "force-rmmod-gen: 2 kernels with -j1; cache: off (--no-cache); output: ROOT/o1".to_string(),
            "force-rmmod-gen: [1/2] start /nonexistent/a".to_string(),
            fail(1, "a"),
            "force-rmmod-gen: [2/2] start /nonexistent/b".to_string(),
            fail(2, "b"),
            "force-rmmod-gen: 0 of 2 kernels built (0 from cache), 2 FAILED in T s with -j1; index: ROOT/o1/index.json"
                .to_string(),
            end.clone(),
        ]
    );
    assert_eq!(progress(true, "o2"), [fail(1, "a"), fail(2, "b"), end]);
}
