//! Who really uses NAME, as far as user space can see it (no kernel code):
//! holder modules, tasks stopped inside its code, mounts of filesystems it
//! may own, network devices its driver runs, protocols and crypto
//! algorithms it registered. The helper then counts the references that
//! open files and mounts hold (`explained:` lines in the kernel log), and
//! this file turns those lines into names (mount points for a filesystem
//! type).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::sysmod::Roots;

/// What user space found.
#[derive(Debug, Default, Serialize)]
pub struct RealUse {
    /// Modules that use NAME (one reference each).
    pub holders: Vec<String>,
    /// "pid 12 (cat)" for every task whose kernel stack is inside NAME.
    pub tasks_in_code: Vec<String>,
    /// Network devices whose driver is NAME's.
    pub net_devices: Vec<String>,
    /// Protocols (/proc/net/protocols) registered by NAME.
    pub protocols: Vec<String>,
    /// Crypto algorithms (/proc/crypto) registered by NAME.
    pub crypto: Vec<String>,
    /// Every mounted filesystem type, with its mount points.
    #[serde(skip)]
    pub mounts: BTreeMap<String, BTreeSet<String>>,
}

/// One reference the helper explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Explained {
    OpenFile { pid: u32, comm: String, path: String },
    Mount { fstype: String, superblocks: u32, mount_points: Vec<String> },
    Holder { module: String },
}

impl Explained {
    pub fn describe(&self) -> String {
        match self {
            Explained::OpenFile { pid, comm, path } => format!("pid {pid} ({comm}) holds {path} open"),
            Explained::Mount { fstype, mount_points, .. } => {
                format!("{fstype} mounted at {}", mount_points.join(", "))
            }
            Explained::Holder { module } => format!("holder module {module}"),
        }
    }

    /// What to do about it.
    pub fn remedy(&self) -> String {
        match self {
            Explained::OpenFile { pid, comm, .. } => format!("stop pid {pid} ({comm})"),
            Explained::Mount { mount_points, .. } => format!("umount {}", mount_points.join(" ")),
            Explained::Holder { module } => format!("rmmod {module}"),
        }
    }
}

impl RealUse {
    pub fn look(roots: &Roots, name: &str, holders: &[String]) -> RealUse {
        RealUse {
            holders: holders.to_vec(),
            tasks_in_code: tasks_in_code(&roots.proc, name),
            net_devices: net_devices(&roots.sys, name),
            protocols: column_owned(&roots.proc.join("net/protocols"), name),
            crypto: crypto(&roots.proc.join("crypto"), name),
            mounts: mounts(&roots.proc),
        }
    }

    /// The mounted filesystem types, for the helper's `fstypes=`.
    pub fn fstypes(&self) -> String {
        self.mounts.keys().filter(|t| is_word(t)).cloned().collect::<Vec<_>>().join(",")
    }

    /// Signs of real use that hold no reference the helper can count.
    pub fn other_uses(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.tasks_in_code.iter().map(|t| format!("{t} is running inside its code")));
        out.extend(self.net_devices.iter().map(|d| format!("network device {d} is driven by it")));
        out.extend(self.protocols.iter().map(|p| format!("protocol {p} is registered by it")));
        out.extend(self.crypto.iter().map(|c| format!("crypto algorithm {c} is registered by it")));
        out
    }

    /// The references the helper's `explained:` log lines name, plus the
    /// holder modules (one reference each).
    pub fn explained(&self, name: &str, kernel_lines: &[String]) -> Vec<Explained> {
        let mut out: Vec<Explained> = kernel_lines.iter().filter_map(|l| self.parse(name, l)).collect();
        out.extend(self.holders.iter().map(|h| Explained::Holder { module: h.clone() }));
        out
    }

    fn parse(&self, name: &str, line: &str) -> Option<Explained> {
        let rest = line.split_once(&format!("{name}: explained: "))?.1;
        if let Some(r) = rest.strip_prefix("pid ") {
            let (pid, r) = r.split_once(" (")?;
            let (comm, r) = r.split_once(") holds ")?;
            let path = r.rsplit_once(" open (fd ").map_or(r, |(p, _)| p);
            return Some(Explained::OpenFile { pid: pid.parse().ok()?, comm: comm.into(), path: path.into() });
        }
        let r = rest.strip_prefix("filesystem ")?;
        let (fstype, r) = r.split_once(", ")?;
        let superblocks = r.split_whitespace().next()?.parse().ok()?;
        let mount_points = self.mounts.get(fstype).map(|m| m.iter().cloned().collect()).unwrap_or_default();
        Some(Explained::Mount { fstype: fstype.into(), superblocks, mount_points })
    }
}

fn is_word(t: &str) -> bool {
    !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

fn pids(proc: &Path) -> Vec<std::path::PathBuf> {
    let Ok(dir) = std::fs::read_dir(proc) else { return Vec::new() };
    dir.filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .map(|e| e.path())
        .collect()
}

fn comm(task: &Path) -> String {
    std::fs::read_to_string(task.join("comm")).map(|s| s.trim().to_string()).unwrap_or_default()
}

/// Tasks whose kernel stack (root only) has a frame tagged `[NAME]`.
fn tasks_in_code(proc: &Path, name: &str) -> Vec<String> {
    let tag = format!("[{name}]");
    let mut out = Vec::new();
    for p in pids(proc) {
        let Ok(tasks) = std::fs::read_dir(p.join("task")) else { continue };
        for t in tasks.filter_map(|e| e.ok()) {
            let stack = std::fs::read_to_string(t.path().join("stack")).unwrap_or_default();
            if stack.lines().any(|l| l.split_whitespace().any(|w| w == tag)) {
                out.push(format!("pid {} ({})", t.file_name().to_string_lossy(), comm(&t.path())));
            }
        }
    }
    out.sort();
    out
}

/// Every mount of every mount namespace: fstype -> mount points.
fn mounts(proc: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in pids(proc) {
        let Ok(text) = std::fs::read_to_string(p.join("mountinfo")) else { continue };
        for line in text.lines() {
            // id parent major:minor root mountpoint options [optional...] - fstype source super
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some(dash) = fields.iter().position(|f| *f == "-") else { continue };
            if let (Some(point), Some(fstype)) = (fields.get(4), fields.get(dash + 1)) {
                out.entry(fstype.to_string()).or_default().insert(point.replace("\\040", " "));
            }
        }
    }
    out
}

/// Network devices whose driver's module is NAME.
fn net_devices(sys: &Path, name: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(sys.join("class/net")) else { return Vec::new() };
    let mut out: Vec<String> = dir
        .filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_link(e.path().join("device/driver/module"))
                .is_ok_and(|m| m.file_name().is_some_and(|f| f == name))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// /proc/net/protocols: the first column of rows whose `module` column is NAME.
fn column_owned(file: &Path, name: &str) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(file) else { return Vec::new() };
    let mut lines = text.lines();
    let Some(header) = lines.next() else { return Vec::new() };
    let Some(col) = header.split_whitespace().position(|h| h == "module") else { return Vec::new() };
    lines
        .filter(|l| l.split_whitespace().nth(col) == Some(name))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

/// /proc/crypto: the `name` of every block whose `module` is NAME.
fn crypto(file: &Path, name: &str) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(file) else { return Vec::new() };
    let field = |block: &str, key: &str| {
        block.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    text.split("\n\n")
        .filter(|b| field(b, "module").as_deref() == Some(name))
        .filter_map(|b| field(b, "name"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sysmod::tests::FakeRoot;

    #[test]
    fn finds_users_in_proc_and_sys() {
        let f = FakeRoot::new();
        f.write("proc/42/comm", "sleep\n");
        f.write("proc/42/task/42/comm", "sleep\n");
        f.write("proc/42/task/42/stack", "[<0>] busydev_read+0x10/0x20 [busydev]\n[<0>] vfs_read+0x9/0x1\n");
        f.write(
            "proc/42/mountinfo",
            "22 1 0:5 / /mnt/x rw - tinyfs none rw\n23 1 0:6 / /proc rw shared:1 - proc proc rw\n",
        );
        f.write(
            "proc/net/protocols",
            "protocol  size sockets  memory press maxhdr  slab module     cl co di\nFOO   100 0 -1 NI 0 no busydev y y\n",
        );
        f.write("proc/crypto", "name         : frg-aes\nmodule       : busydev\n\nname : other\nmodule : kernel\n");
        let seen = RealUse::look(&f.roots(), "busydev", &["holder".into()]);
        assert_eq!(seen.tasks_in_code, vec!["pid 42 (sleep)"]);
        assert_eq!(seen.protocols, vec!["FOO"]);
        assert_eq!(seen.crypto, vec!["frg-aes"]);
        assert_eq!(seen.fstypes(), "proc,tinyfs");
        let lines = vec![
            "force_rmmod: busydev: explained: pid 7 (cat) holds /dev/busydev open (fd 3)".to_string(),
            "force_rmmod: busydev: explained: filesystem tinyfs, 1 superblock(s) mounted".to_string(),
            "force_rmmod: busydev: before: refcnt=3".to_string(),
        ];
        let e = seen.explained("busydev", &lines);
        assert_eq!(
            e,
            vec![
                Explained::OpenFile { pid: 7, comm: "cat".into(), path: "/dev/busydev".into() },
                Explained::Mount { fstype: "tinyfs".into(), superblocks: 1, mount_points: vec!["/mnt/x".into()] },
                Explained::Holder { module: "holder".into() },
            ]
        );
        assert_eq!(e[0].describe(), "pid 7 (cat) holds /dev/busydev open");
        assert_eq!(e[1].remedy(), "umount /mnt/x");
    }
}
