//! Detection on header trees we wrote for every refcount era: the right
//! era through libclang, and the same answer through the Kbuild-probe
//! fallback (which compiles the era template fragments with the tree's
//! Kbuild). Kernels of those eras cannot be installed here; the trees
//! reproduce just the declarations that matter (tests/trees/).

mod common;
use common::*;

fn detect(tree: &std::path::Path, method: &str) -> Run {
    run(&["detect", "--json", "--kdir", path_str(tree), "--method", method, "--cc", "gcc"])
}

fn check_era(tree_name: &str, method: &str) {
    let (_, era, variant, lookup) = FAKE_ERAS.iter().find(|e| e.0 == tree_name).unwrap();
    let tree = fake_tree(tree_name);
    let r = detect(tree.path(), method);
    assert_eq!(r.code, 0, "{tree_name} via {method}: {}", r.stderr);
    let j = r.json();
    assert_eq!(j["era"], *era, "{tree_name} via {method}: {j:#}");
    assert_eq!(j["era_variant"].as_str(), *variant, "{tree_name}");
    assert_eq!(j["method"], method, "{tree_name}");
    assert_eq!(j["lookup"], *lookup, "{tree_name}: lookup from Module.symvers");
    assert!(j["kernel_release"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(j["arch"], "x86_64");
    assert!(j["exports"]["find_module"].is_boolean());
}

macro_rules! era_tests {
    ($($name:ident => $tree:expr;)*) => {
        mod libclang {
            $(#[test] fn $name() { super::check_era($tree, "libclang"); })*
        }
        mod kbuild_probe {
            $(#[test] fn $name() { super::check_era($tree, "kbuild-probe"); })*
        }
    };
}

era_tests! {
    era_a_2_6_28_ref_array => "a-2.6.28";
    era_b_smp_centos6_refptr_char => "b-smp-2.6.32-el6";
    era_b_up_local_ref => "b-up-2.6.30";
    transient_count_shape_2_6_34_rc => "count-2.6.34-rc3";
    era_c_3_0_incs_decs_uint => "c-3.0";
    era_d_centos7_incs_decs_ulong => "d-3.10-el7";
    era_e_rhel8_find_module => "e-4.18-el8";
    era_e_6_6_ring_walk => "e-6.6";
}

#[test]
fn centos7_tree_reports_rhel_and_fields() {
    let tree = fake_tree("d-3.10-el7");
    let j = detect(tree.path(), "libclang").json();
    assert_eq!(j["rhel"], "7.9");
    assert_eq!(j["deps"], "source_list");
    assert_eq!(j["has_waiter"], true);
    let refptr = j["fields"].as_array().unwrap().iter().find(|f| f["name"] == "refptr").expect("refptr field");
    assert_eq!(refptr["type"], "struct module_ref *");
    assert!(refptr["offset"].is_u64(), "libclang gives offsets: {refptr}");
    let m = j["module_ref"].as_array().unwrap();
    assert_eq!((m[0]["name"].as_str(), m[0]["type"].as_str()), (Some("incs"), Some("unsigned long")));
}

#[test]
fn old_kernels_use_modules_which_use_me() {
    let tree = fake_tree("a-2.6.28");
    let j = detect(tree.path(), "libclang").json();
    assert_eq!(j["deps"], "modules_which_use_me");
}

#[test]
fn no_module_unload_is_reported_as_none_and_refused() {
    let tree = fake_tree("none-3.10");
    for method in ["libclang", "kbuild-probe"] {
        let r = run(&["detect", "--json", "--kdir", path_str(tree.path()), "--method", method, "--cc", "gcc"]);
        assert_eq!(r.json()["era"], "none", "{method}");
    }
    let r = run(&["detect", "--kdir", path_str(tree.path()), "--cc", "gcc"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_eq!(
        error_message(&r.stderr),
        "force-rmmod-gen: error: kernel 3.10.0 is built without CONFIG_MODULE_UNLOAD: it can never unload a module, \
         so there is no reference count to reset; only a reboot removes a module"
    );
}

#[test]
fn unknown_layout_fails_by_both_methods() {
    let tree = fake_tree("unknown-9.0");
    let r = run(&["detect", "--kdir", path_str(tree.path()), "--cc", "gcc"]);
    assert_eq!(r.code, 6, "{}{}", r.stdout, r.stderr);
    assert_unknown_9_0_refused(&r.stderr);
}

#[test]
fn version_guess_only_when_asked_and_warned() {
    let tree = fake_tree("unknown-9.0");
    let r = run(&["detect", "--json", "--kdir", path_str(tree.path()), "--cc", "gcc", "--allow-version-guess"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["method"], "version");
    let warnings = j["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{j:#}");
    assert_eq!(
        warnings[0],
        "libclang: struct module has struct list_head source_list; falling back to Kbuild compile probes"
    );
    assert_compiler_said(
        warnings[1].as_str().unwrap(),
        &format!("GUESSING the layout from the version number 9.0.0 {UNKNOWN_9_0_FOUND}"),
        "): back-ported kernels (RHEL, vendor trees) can differ; the helper's compile-time asserts are the only \
         safety net",
    );
}

#[test]
fn tree_built_with_o_is_found_through_its_source_link() {
    // `make O=obj`: the build dir holds the configuration and generated
    // files, and a `source` link points to the headers.
    let src = fake_tree("e-6.6");
    let obj = tempfile::tempdir().unwrap();
    for rel in [".config", "Module.symvers", "include/generated", "include/config", "scripts"] {
        let from = src.path().join(rel);
        let to = obj.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::rename(&from, &to).unwrap();
    }
    std::fs::write(obj.path().join("Makefile"), format!("include {}/Makefile\n", src.path().display())).unwrap();
    std::os::unix::fs::symlink(src.path(), obj.path().join("source")).unwrap();
    let r = run(&["detect", "--json", "--kdir", path_str(obj.path()), "--method", "libclang"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["era"], "E");
    assert_eq!(j["source_dir"], path_str(&src.path().canonicalize().unwrap()));
    assert_eq!(j["kdir"], path_str(&obj.path().canonicalize().unwrap()));
}

#[test]
fn centos7_helper_can_wake_a_blocked_rmmod() {
    // Up to 3.12 and on CentOS 7 a blocking rmmod sleeps on mod->waiter:
    // the helper offers wake_waiter=1 there, and only there.
    let out = tempfile::tempdir().unwrap();
    for (tree_name, expect) in [("d-3.10-el7", true), ("e-6.6", false)] {
        let tree = fake_tree(tree_name);
        let dest = out.path().join(tree_name);
        let r = run(&["render", "--kdir", path_str(tree.path()), "--out", path_str(&dest)]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let c = std::fs::read_to_string(dest.join("force_rmmod.c")).unwrap();
        assert_eq!(c.contains("wake_up_process(job->mod->waiter)"), expect, "{tree_name}");
    }
}
