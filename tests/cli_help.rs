//! The command line a new user meets: short and long help, the top-level
//! overview, `--kdir` per subcommand, `completions`, `-v`/`-q` everywhere,
//! colour only as NO_COLOR allows.

mod common;
use common::*;

/// The subcommands a user sees.
const SUBCOMMANDS: [&str; 8] = ["build", "detect", "render", "dkms", "unload", "trace", "index", "completions"];

#[test]
fn top_level_help_lists_the_subcommands_not_every_build_flag() {
    for flag in ["-h", "--help"] {
        let r = run(&[flag]);
        assert_eq!(r.code, 0, "{flag}: {}", r.stderr);
        let commands: Vec<&str> = r
            .stdout
            .split("Commands:\n")
            .nth(1)
            .expect("a Commands section")
            .lines()
            .take_while(|l| !l.is_empty())
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(commands, [&SUBCOMMANDS[..], &["help"]].concat(), "{flag}");
        let options: Vec<&str> = r
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with('-'))
            .map(|l| l.split("  ").find(|w| !w.is_empty()).unwrap().trim())
            .collect();
        assert_eq!(options, ["-v, --verbose", "-q, --quiet", "-h, --help", "-V, --version"], "{flag}: {}", r.stdout);
    }
}

#[test]
fn exit_codes_only_in_the_long_help() {
    for sub in [
        &[][..],
        &["build"],
        &["detect"],
        &["render"],
        &["dkms"],
        &["unload"],
        &["trace"],
        &["index"],
        &["index", "merge"],
    ] {
        let short = run(&[sub, &["-h"]].concat());
        let long = run(&[sub, &["--help"]].concat());
        assert_eq!((short.code, long.code), (0, 0), "{sub:?}");
        assert!(!short.stdout.contains("Exit codes"), "{sub:?} -h:\n{}", short.stdout);
        assert!(long.stdout.contains("\nExit codes (see also the README):\n   0 success "), "{sub:?} --help");
        assert!(long.stdout.contains("\n   2 usage "), "{sub:?} --help");
    }
}

#[test]
fn kdir_is_described_per_subcommand() {
    let kdir_line = |sub: &str| {
        let r = run(&[sub, "-h"]);
        r.stdout.lines().find(|l| l.trim_start().starts_with("--kdir")).map(|l| l.trim().to_string())
    };
    assert_eq!(
        kdir_line("build").unwrap(),
        "--kdir <DIR>              Kernel build tree to build for [default: /lib/modules/$(uname -r)/build]; give it \
         several times for several kernels (fleet mode: one output directory per kernel under --out, plus index.json)"
    );
    assert_eq!(
        kdir_line("detect").unwrap(),
        "--kdir <DIR>              Kernel build tree to inspect [default: /lib/modules/$(uname -r)/build]"
    );
    assert_eq!(
        kdir_line("render").unwrap(),
        "--kdir <DIR>              Kernel build tree to render the helper for [default: /lib/modules/$(uname -r)/build]"
    );
    assert_eq!(
        kdir_line("unload").unwrap(),
        "--kdir <DIR>              The running kernel's build tree, to build the helper from when neither --ko nor \
         the build cache has one [default: /lib/modules/$(uname -r)/build]"
    );
    assert_eq!(kdir_line("trace"), None);
}

#[test]
fn unload_dry_run_help_is_whole_sentences() {
    let r = run(&["unload", "--help"]);
    let text = r.stdout.split("      --dry-run\n").nth(1).unwrap().split("\n\n").next().unwrap();
    let text: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(
        text.join(" "),
        "Change nothing: inspect, skip the plain delete_module, get the helper (a build fills the build cache) and, as \
         root, load it with dry_run=1 (it finds NAME and reports its count without resetting it) and unload it again. \
         NAME is never removed or changed; the test load may add the kernel's O/E taint flags like any out-of-tree \
         module. Not root: it inspects NAME and shows what it would do, without getting or loading the helper"
    );
}

#[test]
fn completions_prints_a_script_for_each_shell() {
    for (shell, start, has) in [
        ("bash", "_force__rmmod__gen() {\n", "complete -F _force__rmmod__gen"),
        ("zsh", "#compdef force-rmmod-gen\n", "--kdir=[Kernel build tree to inspect"),
        ("fish", "# Print an optspec for argparse", "complete -c force-rmmod-gen"),
    ] {
        let r = run(&["completions", shell]);
        assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{shell}");
        assert!(r.stdout.starts_with(start), "{shell}: {}", &r.stdout[..r.stdout.len().min(200)]);
        assert!(r.stdout.contains(has) && r.stdout.contains("unload"), "{shell}");
    }
    let r = run(&["completions", "tcsh"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.starts_with("error: invalid value 'tcsh' for '<SHELL>'\n"), "{}", r.stderr);
}

#[test]
fn quiet_and_verbose_are_taken_by_every_subcommand() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("o");
    let o = path_str(&out);
    let cases: [(&str, Vec<&str>, i32); 8] = [
        ("build", vec!["--kdir", "/nonexistent"], 3),
        ("detect", vec!["--kdir", "/nonexistent"], 3),
        ("render", vec!["--kdir", "/nonexistent", "--out", o], 3),
        ("dkms", vec!["--out", "/proc/frg-no-such-dir/x", "--no-bundle"], 8),
        ("unload", vec!["no_such_module_frg", "--kdir", "/nonexistent"], 22),
        ("trace", vec!["no_such_module_frg", "--duration", "1"], 22),
        ("index", vec!["merge", "--out", o, "/nonexistent"], 7),
        ("completions", vec!["bash"], 0),
    ];
    for (sub, args, code) in &cases {
        for flag in ["-q", "--quiet", "-v", "--verbose"] {
            for line in [[&[*sub], &args[..], &[flag]].concat(), [&[flag, *sub], &args[..]].concat()] {
                let r = run(&line);
                // trace and unload need root or /sys/module; never a usage error.
                let want = if matches!(*sub, "trace" | "unload") && r.code == 20 { 20 } else { *code };
                assert_eq!(r.code, want, "{line:?}: {}", r.stderr);
            }
        }
    }
    assert_eq!(cases.map(|c| c.0), SUBCOMMANDS);
}

#[test]
fn quiet_keeps_errors() {
    for line in [&["-q", "--kdir", "/nonexistent"][..], &["build", "-q", "--kdir", "/nonexistent"]] {
        let r = run(line);
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (3, "force-rmmod-gen: error: kernel build tree /nonexistent not found: check the --kdir path\n"),
            "{line:?}"
        );
    }
    let r = run(&["-q", "-v", "detect"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.starts_with("error: the argument '--quiet' cannot be used with '--verbose'\n"), "{}", r.stderr);
}

#[test]
fn build_options_go_after_the_subcommand() {
    let r = run(&["--kdir", "/x", "detect"]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "error: the subcommand 'detect' cannot be used with '--kdir': give the options after the subcommand\n\n\
         Usage: force-rmmod-gen [OPTIONS] [COMMAND]\n\nFor more information, try '--help'.\n"
    );
}

/// clap colours usage errors only as the environment allows: CLICOLOR_FORCE
/// turns colour on without a terminal, NO_COLOR turns it off again.
#[test]
fn no_color_is_honoured() {
    let stderr = |env: &[(&str, &str)]| {
        let mut c = cmd();
        c.env_remove("NO_COLOR").env_remove("CLICOLOR").env_remove("CLICOLOR_FORCE").arg("--no-such-flag");
        for (k, v) in env {
            c.env(k, v);
        }
        String::from_utf8_lossy(&c.output().unwrap().stderr).into_owned()
    };
    assert!(stderr(&[("CLICOLOR_FORCE", "1")]).contains("\x1b["), "the colour path exists");
    assert!(!stderr(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains('\x1b'));
    assert!(!stderr(&[]).contains('\x1b'), "no colour without a terminal");
}

/// In fleet mode `-v` shows each kernel's `make` line (one line per event,
/// no status line); without it the make lines stay in make.log.
#[test]
fn verbose_fleet_build_shows_each_make_line() {
    let (a, b) = (fake_tree("e-6.6"), fake_tree("c-3.0"));
    let t = tempfile::tempdir().unwrap();
    for (verbose, want) in [(true, 2), (false, 0)] {
        let out = t.path().join(format!("out-{verbose}"));
        let mut args = vec!["build", "--no-cache", "--cc", "gcc", "-j1", "--kdir", path_str(a.path())];
        args.extend(["--kdir", path_str(b.path()), "--out", path_str(&out)]);
        if verbose {
            args.push("-v");
        }
        let r = run(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let makes: Vec<&str> = r.stderr.lines().filter(|l| l.contains(" running: make -C ")).collect();
        assert_eq!(makes.len(), want, "-v {verbose}:\n{}", r.stderr);
        for m in &makes {
            // `force-rmmod-gen: [1/2] 6.6.0 running: make -C ...`
            let (who, shown) = m.split_once(" running: ").unwrap();
            let release = who.rsplit(' ').next().unwrap();
            let log = std::fs::read_to_string(out.join(release).join("make.log")).unwrap();
            assert!(log.starts_with(&format!("$ {shown}\n")), "make.log records the line shown: {m}\n{log}");
        }
    }
}

/// `detect -v` shows the `make` line of the Kbuild probes (stderr; stdout
/// keeps the facts alone).
#[test]
fn verbose_detect_shows_the_probe_make_line() {
    let tree = fake_tree("c-3.0");
    let k = path_str(tree.path());
    for (verbose, want) in [(true, 1), (false, 0)] {
        let mut args = vec!["detect", "--method", "kbuild-probe", "--cc", "gcc", "--kdir", k];
        if verbose {
            args.push("-v");
        }
        let r = run(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let makes: Vec<&str> =
            r.stderr.lines().filter(|l| l.starts_with("force-rmmod-gen: running: make -C ")).collect();
        assert_eq!(makes.len(), want, "-v {verbose}:\n{}", r.stderr);
        assert!(makes.iter().all(|m| m.starts_with(&format!("force-rmmod-gen: running: make -C {k} M="))), "{makes:?}");
        assert!(r.stdout.starts_with("kernel release:   3.0.0\n") && !r.stdout.contains("running:"), "{}", r.stdout);
    }
}
