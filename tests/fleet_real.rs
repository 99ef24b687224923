//! Fleet mode, build cache, signing and DKMS on the real Debian kernel
//! trees that `scripts/fetch-kernels` puts under
//! `${FRG_CACHE:-/var/cache/force-rmmod-gen}/kernels/<name>/env`.
//!
//! Ignored by a plain `cargo test`; scripts/test-all runs them. They FAIL
//! (they do not skip) when a tree is missing: run `scripts/install-deps &&
//! scripts/fetch-kernels` (as root) first. Run only these:
//! `cargo test --release --test fleet_real -- --include-ignored`.

mod common;
use common::{RealKernel, cmd as bin, real_kernel, run_cmd as run, sha256_file};
use std::path::{Path, PathBuf};
use std::process::Command;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn vermagic(ko: &Path) -> String {
    let out = Command::new("modinfo").args(["-F", "vermagic"]).arg(ko).output().expect("modinfo (kmod) installed");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Check one "ok" index entry against its kernel.
fn check_ok_entry(root: &Path, e: &serde_json::Value, k: &RealKernel) {
    assert_eq!(e["status"], "ok", "{}: {e:#}", k.name);
    assert_eq!(e["kernel_release"], k.release.as_str());
    assert_eq!(e["dir"], k.release.as_str(), "one output dir per release");
    let ko = root.join(e["ko"]["path"].as_str().unwrap());
    assert!(ko.is_file(), "{}", ko.display());
    assert_eq!(e["ko"]["sha256"].as_str().unwrap(), sha256_file(&ko), "index sha256 is the file's");
    assert!(e["ko"]["vermagic"].as_str().unwrap().starts_with(&format!("{} ", k.release)));
    assert!(vermagic(&ko).starts_with(&format!("{} ", k.release)));
    assert!(!e["era"].as_str().unwrap().is_empty());
    assert_eq!(e["facts"]["kernel_release"], k.release.as_str());
    assert!(e["error"].is_null());
    for f in ["Kbuild", "force_rmmod.c", "force_rmmod.ko", "make.log", "manifest.json"] {
        assert!(root.join(&k.release).join(f).is_file(), "{f}");
    }
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn real_fleet_bad_kdir_does_not_stop_the_others_and_warm_rerun_hits() {
    let ks = [real_kernel("5.10"), real_kernel("6.1"), real_kernel("6.12")];
    let t = tempfile::tempdir().unwrap();
    let (out, cache) = (t.path().join("out"), t.path().join("cache"));
    let mut c = bin();
    c.args(["build", "-j2"]).arg("--out").arg(&out).arg("--cache-dir").arg(&cache);
    c.arg("--kdir")
        .arg(&ks[0].kdir)
        .args(["--kdir", "/nonexistent/bogus-kernel"])
        .arg("--kdir")
        .arg(&ks[1].kdir)
        .arg("--kdir")
        .arg(&ks[2].kdir);
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(11), "one kernel failed: SOME_KERNELS_FAILED");
    let idx = json(&out.join("index.json"));
    assert_eq!((idx["total"].as_u64(), idx["ok"].as_u64(), idx["failed"].as_u64()), (Some(4), Some(3), Some(1)));
    let entries = idx["kernels"].as_array().unwrap();
    assert_eq!(entries[1]["request"], "/nonexistent/bogus-kernel");
    assert_eq!(entries[1]["status"], "failed");
    assert_eq!(entries[1]["error"]["kind"], "kdir-missing");
    let ok: Vec<&serde_json::Value> = entries.iter().filter(|e| e["status"] == "ok").collect();
    for (e, k) in ok.iter().zip(&ks) {
        check_ok_entry(&out, e, k);
        assert_eq!(e["cache"], "miss");
    }
    let listed: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(String::from).collect();
    assert_eq!(listed.len(), 3, "stdout lists the built modules");
    let first: Vec<String> = ok.iter().map(|e| e["ko"]["sha256"].as_str().unwrap().to_string()).collect();

    // Warm: everything from the cache, nothing detected or built again (how
    // fast that is, is bench/run's business, not a test's).
    let mut c = bin();
    c.args(["build", "-j2", "--quiet"]).arg("--out").arg(&out).arg("--cache-dir").arg(&cache);
    for k in &ks {
        c.arg("--kdir").arg(&k.kdir);
    }
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty(), "--quiet prints nothing when all is well");
    let idx = json(&out.join("index.json"));
    for ((e, k), sha) in idx["kernels"].as_array().unwrap().iter().zip(&ks).zip(&first) {
        check_ok_entry(&out, e, k);
        assert_eq!(e["cache"], "hit");
        assert_eq!(e["ko"]["sha256"].as_str().unwrap(), sha, "same module as the cold build");
        assert_eq!(e["method"], e["facts"]["method"], "facts carried over from the cold build");
    }
}

/// A private copy of a Debian build dir (3 MB; the -common dir is shared by
/// absolute path), whose .config the test may change.
fn copy_tree(k: &RealKernel, into: &Path) -> PathBuf {
    let dst = into.join(k.kdir.file_name().unwrap());
    assert!(Command::new("cp").arg("-a").arg(&k.kdir).arg(&dst).status().unwrap().success());
    for link in ["scripts", "tools"] {
        let p = dst.join(link);
        if p.is_symlink() {
            let target = k.kdir.join(link).canonicalize().unwrap();
            std::fs::remove_file(&p).unwrap();
            std::os::unix::fs::symlink(target, &p).unwrap();
        }
    }
    dst
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn real_single_kernel_keeps_its_output_and_uses_the_cache() {
    let k = real_kernel("6.1");
    let t = tempfile::tempdir().unwrap();
    let tree = copy_tree(&k, t.path());
    let (out, cache) = (t.path().join("helper"), t.path().join("cache"));
    let build = || {
        let mut c = bin();
        c.arg("--kdir").arg(&tree).arg("--out").arg(&out).arg("--cache-dir").arg(&cache);
        run(&mut c)
    };
    let entries =
        || std::fs::read_dir(&cache).unwrap().flatten().filter(|e| e.path().join("cache.json").is_file()).count();

    let o = build();
    assert!(o.status.success());
    // Unchanged single-kernel interface: the .ko path on stdout, one out dir.
    assert_eq!(String::from_utf8_lossy(&o.stdout), format!("{}\n", out.join("force_rmmod.ko").display()));
    let mut files: Vec<String> =
        std::fs::read_dir(&out).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["Kbuild", "force_rmmod.c", "force_rmmod.ko", "make.log", "manifest.json"]);
    let m1 = json(&out.join("manifest.json"));
    assert_eq!(m1["kernel_release"], k.release.as_str());
    assert_eq!(entries(), 1);

    // Warm.
    let o = build();
    assert!(o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("cache hit") && !stderr.contains("detected with"), "no detection on a hit: {stderr}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), format!("{}\n", out.join("force_rmmod.ko").display()));
    assert_eq!(json(&out.join("manifest.json")), m1);

    // A changed .config is a different kernel as far as the cache goes: miss.
    let cfg = tree.join(".config");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("# changed by the cache invalidation test\n");
    std::fs::write(&cfg, text).unwrap();
    let o = build();
    assert!(o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!stderr.contains("cache hit") && stderr.contains("detected with"), "{stderr}");
    assert_eq!(entries(), 2, "a second entry for the changed tree");

    // --no-cache builds and leaves the cache (here the default one) alone.
    let mut c = bin();
    c.env("FRG_BUILD_CACHE", &cache).arg("--kdir").arg(&tree).arg("--out").arg(&out).arg("--no-cache");
    assert!(run(&mut c).status.success());
    assert_eq!(entries(), 2);

    // A damaged cache entry is noticed (sha256 check) and rebuilt.
    let _ = std::fs::remove_dir_all(&out); // drop the hard links first: write the cache copies only
    for e in std::fs::read_dir(&cache).unwrap().flatten().filter(|e| e.path().join("cache.json").is_file()) {
        std::fs::write(e.path().join("force_rmmod.ko"), b"garbage").unwrap();
    }
    let o = build();
    assert!(o.status.success());
    assert!(vermagic(&out.join("force_rmmod.ko")).starts_with(&k.release));
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn real_chroot_kernel_in_a_mixed_fleet() {
    let host = real_kernel("6.1");
    let sid = real_kernel("7.x");
    let chroot = sid.chroot.clone().expect("7.x env names CHROOT=");
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let mut c = bin();
    c.args(["build", "-j2"]).arg("--out").arg(&out).arg("--cache-dir").arg(t.path().join("cache"));
    c.arg("--kdir").arg(&host.kdir).arg("--kdir").arg(&sid.kdir).arg("--chroot").arg(&chroot);
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(0), "host kernel on the host, 7.x inside the chroot");
    let idx = json(&out.join("index.json"));
    let ks = idx["kernels"].as_array().unwrap();
    check_ok_entry(&out, &ks[0], &host);
    check_ok_entry(&out, &ks[1], &sid);
    assert!(ks[1]["ko"]["vermagic"].as_str().unwrap().starts_with(&sid.release));
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn real_signing_with_a_throwaway_key() {
    let k = real_kernel("6.1");
    let t = tempfile::tempdir().unwrap();
    let (key, cert) = (t.path().join("k.pem"), t.path().join("c.pem"));
    let ok = Command::new("openssl")
        .args([
            "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test", "-outform",
            "PEM", "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl installed (scripts/install-deps)");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let cache = t.path().join("cache");
    let sign_build = |out: &Path, extra: &[&str]| {
        let mut c = bin();
        c.arg("--kdir").arg(&k.kdir).arg("--out").arg(out);
        match extra.contains(&"--no-cache") {
            true => c.env("FRG_BUILD_CACHE", &cache),
            false => c.arg("--cache-dir").arg(&cache),
        };
        c.arg("--sign-key").arg(&key).arg("--sign-cert").arg(&cert).args(extra);
        run(&mut c)
    };
    for (i, extra) in [&[][..], &[][..], &["--no-cache"][..]].iter().enumerate() {
        let out = t.path().join(format!("out{i}"));
        let o = sign_build(&out, extra);
        assert!(o.status.success(), "run {i}");
        let ko = out.join("force_rmmod.ko");
        let bytes = std::fs::read(&ko).unwrap();
        assert!(bytes.ends_with(b"~Module signature appended~\n"), "run {i}: marker");
        let m = json(&out.join("manifest.json"));
        assert_eq!(m["signature"]["signer"], "test", "run {i}: {m:#}");
        assert_eq!(m["signature"]["sig_hashalgo"], "sha256");
        let by: Vec<&str> =
            m["signature"]["verified_by"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(by.contains(&"marker") && by.contains(&"modinfo"), "{by:?}");
        assert_eq!(m["ko"]["sha256"].as_str().unwrap(), sha256_file(&ko));
        assert_ne!(m["ko"]["unsigned_sha256"], m["ko"]["sha256"]);
        let modinfo = String::from_utf8_lossy(&Command::new("modinfo").arg(&ko).output().unwrap().stdout).into_owned();
        assert!(modinfo.lines().any(|l| l.starts_with("signer:") && l.trim_end().ends_with("test")), "{modinfo}");
        if i == 1 {
            assert!(String::from_utf8_lossy(&o.stderr).contains("cache hit"), "second run signs a cached module");
        }
    }
    // The cache holds the unsigned module.
    for e in std::fs::read_dir(&cache).unwrap().flatten().filter(|e| e.path().join("cache.json").is_file()) {
        let bytes = std::fs::read(e.path().join("force_rmmod.ko")).unwrap();
        assert!(!bytes.ends_with(b"~Module signature appended~\n"));
    }
    // A certificate that does not go with the key: sign-file fails, exit 28, nothing written.
    let other = t.path().join("other.pem");
    assert!(
        Command::new("openssl")
            .args([
                "req",
                "-new",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=other",
                "-keyout"
            ])
            .arg(t.path().join("other.key"))
            .arg("-out")
            .arg(&other)
            .output()
            .unwrap()
            .status
            .success()
    );
    let out = t.path().join("mismatch");
    let mut c = bin();
    c.arg("--kdir").arg(&k.kdir).arg("--out").arg(&out).arg("--cache-dir").arg(&cache);
    c.arg("--sign-key").arg(&key).arg("--sign-cert").arg(&other);
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(28), "signing failure");
    assert!(!out.exists(), "all-or-nothing: no unsigned module left behind");
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn real_dkms_builds_the_helper_for_a_headers_tree() {
    let k = real_kernel("6.1");
    assert!(
        Command::new("dkms").arg("--version").output().map(|o| o.status.success()).unwrap_or(false),
        "Debian's dkms is required: scripts/install-deps installs it"
    );
    // DKMS generates a MOK key pair when it finds a sign-file for the kernel;
    // if it does so here, remove what this test caused.
    let mok = Path::new("/var/lib/dkms/mok.key");
    let mok_existed = mok.exists();
    let t = tempfile::tempdir().unwrap();
    let (src, tree) = (t.path().join("src"), t.path().join("dkms"));
    let version = "0.0.1-test";
    let pkg = src.join(format!("force-rmmod-{version}"));
    std::fs::create_dir_all(&tree).unwrap();
    assert!(run(bin().args(["dkms", "--package-version", version]).arg("--out").arg(&pkg)).status.success());
    let dkms = |action: &str, extra: &[&str]| {
        let mut c = Command::new("dkms");
        c.arg(action).args(["-m", "force-rmmod", "-v", version]).args(extra);
        c.arg("--sourcetree").arg(&src).arg("--dkmstree").arg(&tree);
        run(&mut c)
    };
    assert!(dkms("add", &[]).status.success());
    let kdir = k.kdir.display().to_string();
    let o = dkms("build", &["-k", &k.release, "--kernelsourcedir", &kdir]);
    let log = tree.join(format!("force-rmmod/{version}/{}/x86_64/log/make.log", k.release));
    assert!(o.status.success(), "dkms build failed; make.log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    let ko = tree.join(format!("force-rmmod/{version}/{}/x86_64/module/force_rmmod.ko", k.release));
    assert!(ko.is_file(), "{}", ko.display());
    assert!(vermagic(&ko).starts_with(&format!("{} ", k.release)));
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("dkms-build: force-rmmod-gen"), "the bundled generator ran:\n{log}");
    let status = String::from_utf8_lossy(&dkms("status", &[]).stdout).into_owned();
    assert!(status.contains(&format!("force-rmmod/{version}, {}", k.release)) && status.contains("built"), "{status}");
    // A kernel without CONFIG_MODULE_UNLOAD is skipped (77), so that its
    // upgrade does not fail on a helper it can never use.
    let none = common::fake_tree("none-3.10");
    let o = dkms("build", &["-k", "3.10.0", "--kernelsourcedir", &none.path().display().to_string()]);
    assert_eq!(o.status.code(), Some(77), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dkms("remove", &["--all"]).status.success());
    if !mok_existed && mok.exists() {
        let _ = std::fs::remove_file(mok);
        let _ = std::fs::remove_file("/var/lib/dkms/mok.pub");
    }
}

#[test]
#[ignore = "real kernel: scripts/test-all runs it"]
fn real_build_reads_the_tree_not_its_release_number() {
    let k = real_kernel("6.1");
    let t = tempfile::tempdir().unwrap();
    let build = |tree: &Path, out: &Path| {
        let mut c = bin();
        c.arg("--kdir").arg(tree).arg("--out").arg(out).arg("--no-cache");
        run(&mut c)
    };
    let o = build(&k.kdir, &t.path().join("right"));
    assert!(o.status.success());
    let m = json(&t.path().join("right/manifest.json"));
    assert_eq!(m["method"], "libclang", "the manifest records the real detection");
    assert!(m["facts"]["fields"].as_array().is_some_and(|f| !f.is_empty()), "libclang's fields, not a guess's");

    // A tree that claims to be 3.2 (an older era by its version): the
    // detected layout is built.
    let tree = copy_tree(&k, t.path());
    let uts = tree.join("include/generated/utsrelease.h");
    std::fs::write(&uts, "#define UTS_RELEASE \"3.2.0-frg-test\"\n").unwrap();
    let out = t.path().join("wrong");
    let o = build(&tree, &out);
    assert!(o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("building with"), "{stderr}");
    let m = json(&out.join("manifest.json"));
    assert_eq!(m["facts"]["era"], "E", "libclang read 6.1's struct module");
    assert!(vermagic(&out.join("force_rmmod.ko")).starts_with("3.2.0-frg-test "));
    let leftovers: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "work directories removed: {leftovers:?}");
}
