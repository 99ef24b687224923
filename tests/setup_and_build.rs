//! scripts/setup-and-build's choice of headers (headers_plan), run with a
//! fake `uname -r`, `dpkg --print-architecture`, /etc/os-release and apt
//! answers: the running kernel's headers when apt has them, else the
//! distribution's newest kernel through its headers metapackage.

mod common;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

struct Machine<'a> {
    running: &'a str,
    arch: &'a str,
    os_release: &'a str,
    /// Packages `apt-cache show` knows, with what `apt-cache depends` says.
    apt: Vec<(&'a str, &'a str)>,
}

fn script(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// headers_plan on MACHINE: its status and stdout.
fn plan(m: &Machine) -> (i32, String) {
    let t = tempfile::tempdir().unwrap();
    let bin = t.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    script(&bin, "uname", &format!("[ \"$1\" = -r ] && echo {} || exit 9\n", m.running));
    script(&bin, "dpkg", &format!("[ \"$1\" = --print-architecture ] && echo {} || exit 9\n", m.arch));
    let mut apt = String::from("pkg=$(eval echo \\${$#})\ncase \"$1:$pkg\" in\n");
    for (pkg, depends) in &m.apt {
        apt += &format!("show:{pkg}) echo Package: {pkg} ;;\ndepends:{pkg}) printf '{pkg}\\n{depends}' ;;\n");
    }
    apt += "show:*) echo 'E: No packages found' >&2; exit 100 ;;\n*) exit 9 ;;\nesac\n";
    script(&bin, "apt-cache", &apt);
    let os_release = t.path().join("os-release");
    std::fs::write(&os_release, m.os_release).unwrap();
    let o = Command::new("bash")
        .arg("-c")
        .arg("source scripts/setup-and-build && declare -F headers_plan >/dev/null && headers_plan")
        .current_dir(common::repo())
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
        .env("OS_RELEASE", &os_release)
        .output()
        .unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned())
}

const DEBIAN: &str = "ID=debian\nVERSION_ID=\"12\"\n";
const UBUNTU: &str = "ID=ubuntu\nID_LIKE=debian\n";

#[test]
fn running_kernels_headers_when_apt_has_them() {
    let m = Machine {
        running: "6.1.0-28-amd64",
        arch: "amd64",
        os_release: DEBIAN,
        apt: vec![
            ("linux-headers-6.1.0-28-amd64", "  Depends: linux-headers-6.1.0-28-common\n"),
            ("linux-headers-amd64", "  Depends: linux-headers-6.1.0-57-amd64\n"),
        ],
    };
    assert_eq!(plan(&m), (0, "linux-headers-6.1.0-28-amd64 6.1.0-28-amd64\n".into()));
}

#[test]
fn custom_kernel_falls_back_to_the_newest_the_distribution_offers() {
    let debian = |arch, meta, depends| Machine {
        running: "6.18.44-fc-v1300",
        arch,
        os_release: DEBIAN,
        apt: vec![(meta, depends)],
    };
    let dep = "  Depends: linux-headers-6.1.0-57-amd64\n  Depends: <linux-kbuild>\n";
    assert_eq!(plan(&debian("amd64", "linux-headers-amd64", dep)), (0, "linux-headers-amd64 6.1.0-57-amd64\n".into()));
    let dep = "  Depends: linux-headers-6.1.0-57-arm64\n";
    assert_eq!(plan(&debian("arm64", "linux-headers-arm64", dep)), (0, "linux-headers-arm64 6.1.0-57-arm64\n".into()));
    for os_release in [UBUNTU, "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n"] {
        let m = Machine {
            running: "6.8.0-1015-custom",
            arch: "amd64",
            os_release,
            apt: vec![
                ("linux-headers-generic", "  Depends: linux-headers-6.8.0-49-generic\n"),
                ("linux-headers-amd64", "  Depends: linux-headers-6.1.0-57-amd64\n"),
            ],
        };
        assert_eq!(plan(&m), (0, "linux-headers-generic 6.8.0-49-generic\n".into()), "{os_release}");
    }
}

#[test]
fn nothing_offered_is_a_failure() {
    for (arch, apt) in [
        ("amd64", vec![]),
        // An architecture without a known metapackage.
        ("mips64el", vec![("linux-headers-mips64el", "  Depends: linux-headers-6.1.0-57-mips64el\n")]),
        // A metapackage that names no headers.
        ("amd64", vec![("linux-headers-amd64", "  Depends: <linux-kbuild>\n")]),
    ] {
        let what = format!("{arch} {apt:?}");
        let m = Machine { running: "6.18.44-fc-v1300", arch, os_release: DEBIAN, apt };
        assert_eq!(plan(&m), (1, String::new()), "{what}");
    }
}
