//! Who really uses NAME, as far as user space can see it (no kernel code):
//! holder modules, tasks stopped inside its code, mounts of filesystems it
//! may own, network devices its driver runs, protocols (with their open
//! sockets) and crypto algorithms (with their users) it registered. The
//! helper counts the references that open files, mappings and superblocks
//! hold (the `explained` records of its protocol name them), and this file
//! turns those into names (mount points for a filesystem type).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use super::protocol::{Record, Reference};
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
    /// Protocols (/proc/net/protocols) registered by NAME, with their
    /// open sockets.
    pub protocols: Vec<(String, u64)>,
    /// Crypto algorithms (/proc/crypto) registered by NAME, with their
    /// users (refcnt - 1; None where the kernel does not show refcnt).
    pub crypto: Vec<(String, Option<u64>)>,
    /// Every mounted filesystem type, with its mount points.
    #[serde(skip)]
    pub mounts: BTreeMap<String, BTreeSet<String>>,
}

/// One reference the helper explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Explained {
    OpenFile {
        pid: u32,
        comm: String,
        path: String,
    },
    /// A file mapped and closed: the mapping alone holds it.
    Mapping {
        pid: u32,
        comm: String,
        path: String,
    },
    Mount {
        fstype: String,
        superblocks: u32,
        mount_points: Vec<String>,
    },
    Holder {
        module: String,
    },
    /// Files and mappings the helper counted but did not name.
    More {
        count: u32,
    },
}

impl Explained {
    pub fn describe(&self) -> String {
        match self {
            Explained::OpenFile { pid, comm, path } => format!("pid {pid} ({comm}) holds {path} open"),
            Explained::Mapping { pid, comm, path } => format!("pid {pid} ({comm}) has {path} mapped"),
            Explained::Mount { fstype, mount_points, .. } if !mount_points.is_empty() => {
                format!("{fstype} mounted at {}", mount_points.join(", "))
            }
            Explained::Mount { fstype, superblocks, .. } => format!(
                "{superblocks} {fstype} superblock(s) alive but mounted nowhere (unmounted lazily or detached, \
                 still used by a process)"
            ),
            Explained::Holder { module } => format!("holder module {module}"),
            Explained::More { count } => format!("{count} more open files and mappings, not named"),
        }
    }

    /// What to do about it.
    pub fn remedy(&self) -> String {
        match self {
            Explained::OpenFile { pid, comm, .. } | Explained::Mapping { pid, comm, .. } => {
                format!("stop pid {pid} ({comm})")
            }
            Explained::Mount { mount_points, .. } if !mount_points.is_empty() => {
                format!("umount {}", mount_points.join(" "))
            }
            Explained::Mount { .. } => "stop the processes that still use it".to_string(),
            Explained::Holder { module } => format!("rmmod {module}"),
            Explained::More { .. } => "stop the processes that hold its files (see lsof or /proc/*/fd)".to_string(),
        }
    }

    /// "what (what to do)", as error messages list it.
    pub fn with_remedy(&self) -> String {
        format!("{} ({})", self.describe(), self.remedy())
    }
}

impl RealUse {
    pub fn look(roots: &Roots, name: &str, holders: &[String]) -> RealUse {
        RealUse {
            holders: holders.to_vec(),
            tasks_in_code: tasks_in_code(&roots.proc, name),
            net_devices: net_devices(&roots.sys, name),
            protocols: protocols(&roots.proc.join("net/protocols"), name),
            crypto: crypto(&roots.proc.join("crypto"), name),
            mounts: mounts(&roots.proc),
        }
    }

    /// Signs of real use that hold no reference the helper can count.
    pub fn other_uses(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.tasks_in_code.iter().map(|t| format!("{t} is running inside its code")));
        out.extend(self.net_devices.iter().map(|d| format!("network device {d} is driven by it")));
        out.extend(self.protocols.iter().map(|(p, _)| format!("protocol {p} is registered by it")));
        out.extend(self.crypto.iter().map(|(c, _)| format!("crypto algorithm {c} is registered by it")));
        out
    }

    /// Registrations with users, each of which holds a reference the helper
    /// cannot see: open sockets of NAME's protocols, users of its crypto
    /// algorithms (4.18's crypto_unregister_alg() BUG_ONs on one).
    pub fn busy_registrations(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (p, n) in self.protocols.iter().filter(|(_, n)| *n > 0) {
            out.push(format!("protocol {p} has {n} open socket(s)"));
        }
        for (c, n) in self.crypto.iter().filter_map(|(c, n)| Some((c, (*n)?))).filter(|(_, n)| *n > 0) {
            out.push(format!("crypto algorithm {c} has {n} user(s)"));
        }
        out
    }

    /// The references the helper's protocol names (`explained` records),
    /// plus the holder modules (one reference each).
    pub fn explained(&self, records: &[Record]) -> Vec<Explained> {
        let mut out: Vec<Explained> = records
            .iter()
            .filter_map(|r| match r {
                Record::Explained(e) => Some(self.named(e)),
                _ => None,
            })
            .collect();
        out.extend(self.holders.iter().map(|h| Explained::Holder { module: h.clone() }));
        out
    }

    fn named(&self, r: &Reference) -> Explained {
        match r {
            Reference::OpenFile { pid, comm, path, .. } => {
                Explained::OpenFile { pid: *pid, comm: comm.clone(), path: path.clone() }
            }
            Reference::Mapping { pid, comm, path, .. } => {
                Explained::Mapping { pid: *pid, comm: comm.clone(), path: path.clone() }
            }
            Reference::Filesystem { fstype, superblocks, .. } => Explained::Mount {
                fstype: fstype.clone(),
                superblocks: *superblocks,
                mount_points: self.mounts.get(fstype).map(|m| m.iter().cloned().collect()).unwrap_or_default(),
            },
            Reference::More { count, .. } => Explained::More { count: *count },
        }
    }
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
        parse_mountinfo(&text, &mut out);
    }
    out
}

/// One /proc/PID/mountinfo text: each mount point added under its fstype.
pub fn parse_mountinfo(text: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
    for line in text.lines() {
        // id parent major:minor root mountpoint options [optional...] - fstype source super
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else { continue };
        if let (Some(point), Some(fstype)) = (fields.get(4), fields.get(dash + 1)) {
            out.entry(fstype.to_string()).or_default().insert(point.replace("\\040", " "));
        }
    }
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

/// /proc/net/protocols: the protocol and `sockets` columns of the rows whose
/// `module` column is NAME.
fn protocols(file: &Path, name: &str) -> Vec<(String, u64)> {
    std::fs::read_to_string(file).map(|text| parse_protocols(&text, name)).unwrap_or_default()
}

/// The rows of a /proc/net/protocols text whose `module` column is NAME.
pub fn parse_protocols(text: &str, name: &str) -> Vec<(String, u64)> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else { return Vec::new() };
    let heads: Vec<&str> = header.split_whitespace().collect();
    let (Some(module), Some(sockets)) =
        (heads.iter().position(|h| *h == "module"), heads.iter().position(|h| *h == "sockets"))
    else {
        return Vec::new();
    };
    lines
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cols| cols.get(module) == Some(&name))
        .filter_map(|cols| Some((cols.first()?.to_string(), cols.get(sockets)?.parse().unwrap_or(0))))
        .collect()
}

/// /proc/crypto: the `name` of every block whose `module` is NAME, and its
/// users: `refcnt` less the one reference registration holds.
fn crypto(file: &Path, name: &str) -> Vec<(String, Option<u64>)> {
    std::fs::read_to_string(file).map(|text| parse_crypto(&text, name)).unwrap_or_default()
}

/// The blocks of a /proc/crypto text whose `module` is NAME: name and users.
pub fn parse_crypto(text: &str, name: &str) -> Vec<(String, Option<u64>)> {
    let field = |block: &str, key: &str| {
        block.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    text.split("\n\n")
        .filter(|b| field(b, "module").as_deref() == Some(name))
        .filter_map(|b| {
            let users = field(b, "refcnt").and_then(|r| r.parse::<u64>().ok()).map(|r| r.saturating_sub(1));
            Some((field(b, "name")?, users))
        })
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
            "protocol  size sockets  memory press maxhdr  slab module     cl co di\nFOO   100 0 -1 NI 0 no busydev y y\n\
             BAR   100 2 -1 NI 0 no busydev y y\n",
        );
        f.write(
            "proc/crypto",
            "name         : frg-aes\nmodule       : busydev\nrefcnt       : 1\n\nname : frg-sha\nmodule : busydev\n\
             refcnt : 3\n\nname : other\nmodule : kernel\n",
        );
        let seen = RealUse::look(&f.roots(), "busydev", &["holder".into()]);
        assert_eq!(seen.tasks_in_code, vec!["pid 42 (sleep)"]);
        assert_eq!(seen.protocols, vec![("FOO".to_string(), 0), ("BAR".to_string(), 2)]);
        assert_eq!(seen.crypto, vec![("frg-aes".to_string(), Some(0)), ("frg-sha".to_string(), Some(2))]);
        assert_eq!(
            seen.busy_registrations(),
            vec!["protocol BAR has 2 open socket(s)", "crypto algorithm frg-sha has 2 user(s)"]
        );
        let p = crate::unload::protocol::PREFIX;
        let lines = vec![
            format!("{p} explained target=busydev kind=file pid=7 fd=3 refs=1 comm=cat path=/dev/busydev"),
            format!("{p} explained target=busydev kind=map pid=8 comm=mapper path=/dev/busydev"),
            format!("{p} explained target=busydev kind=fs fstype=tinyfs supers=1"),
            format!("{p} explained target=busydev kind=fs fstype=lazyfs supers=2"),
            format!("{p} explained target=other kind=fs fstype=otherfs supers=2"),
            "busydev: explained: pid 9 (cat) holds /dev/busydev open (fd 3)".to_string(),
        ];
        let e = seen.explained(&crate::unload::protocol::records(&lines, "busydev"));
        assert_eq!(
            e,
            vec![
                Explained::OpenFile { pid: 7, comm: "cat".into(), path: "/dev/busydev".into() },
                Explained::Mapping { pid: 8, comm: "mapper".into(), path: "/dev/busydev".into() },
                Explained::Mount { fstype: "tinyfs".into(), superblocks: 1, mount_points: vec!["/mnt/x".into()] },
                Explained::Mount { fstype: "lazyfs".into(), superblocks: 2, mount_points: vec![] },
                Explained::Holder { module: "holder".into() },
            ]
        );
        assert_eq!(e[0].describe(), "pid 7 (cat) holds /dev/busydev open");
        assert_eq!(e[1].describe(), "pid 8 (mapper) has /dev/busydev mapped");
        assert_eq!(e[2].remedy(), "umount /mnt/x");
        assert_eq!(
            e[3].describe(),
            "2 lazyfs superblock(s) alive but mounted nowhere (unmounted lazily or detached, still used by a process)"
        );
    }
}
