//! Ctrl-C (SIGINT) and SIGTERM while `build`, `render` or `dkms` writes:
//! Kbuild is stopped, this run's unfinished directories are removed, one
//! line says what was interrupted, and the exit status is 128 + the signal.
//!
//! Every unfinished directory (staging, Kbuild's scratch directory, a
//! previous output set aside) is recorded here while it exists
//! ([`Tracked`]), and holds an flock on itself: a later run removes what an
//! interrupted or killed run left (see [`sweep`]) only when no live run
//! holds it. Kbuild runs in a process group of its own, which the handler
//! ends. The handler takes the one lock of this state and never gives it
//! back (it ends the process): a directory is made, and an output renamed
//! into place, under that lock ([`made`], [`critical`]), so neither is cut
//! in half.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use nix::fcntl::{Flock, FlockArg};

enum Item {
    /// An unfinished directory; for a staging directory, the output it is for.
    Dir { path: PathBuf, dest: Option<PathBuf> },
    /// A Kbuild run's process group.
    Group(i32),
}

struct State {
    next: u64,
    items: Vec<(u64, Item)>,
}

static STATE: Mutex<State> = Mutex::new(State { next: 0, items: Vec::new() });
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// An entry of the state, removed on drop; for a directory, its flock.
pub struct Tracked {
    id: u64,
    _lock: Option<Flock<File>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut s = STATE.lock().unwrap_or_else(|e| e.into_inner());
        s.items.retain(|(id, _)| *id != self.id);
    }
}

fn add(s: &mut State, item: Item) -> u64 {
    s.next += 1;
    s.items.push((s.next, item));
    s.next
}

fn lock_dir(path: &Path) -> Option<Flock<File>> {
    Flock::lock(File::open(path).ok()?, FlockArg::LockExclusiveNonblock).ok()
}

/// Make a directory with `make` (it returns the directory and its path) and
/// record it: an interrupt removes it; `dest` is the output it is for.
pub fn made<T>(
    dest: Option<&Path>,
    make: impl FnOnce() -> std::io::Result<(T, PathBuf)>,
) -> std::io::Result<(T, Tracked)> {
    let mut s = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let (made, path) = make()?;
    let lock = lock_dir(&path);
    let id = add(&mut s, Item::Dir { path, dest: dest.map(Path::to_path_buf) });
    Ok((made, Tracked { id, _lock: lock }))
}

/// Record a directory that may exist soon (made by a step that renames it
/// into place) on the way to the output `dest`, if any: an interrupt
/// removes it. An output written into it is no output of the user's.
pub fn path(path: &Path, dest: Option<&Path>) -> Tracked {
    let mut s = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let id = add(&mut s, Item::Dir { path: path.to_path_buf(), dest: dest.map(Path::to_path_buf) });
    Tracked { id, _lock: None }
}

/// Run `f` whole, never cut by an interrupt (which waits for it).
pub fn critical<T>(f: impl FnOnce() -> T) -> T {
    let _s = STATE.lock().unwrap_or_else(|e| e.into_inner());
    f()
}

/// Start `cmd` in a process group of its own that an interrupt ends, when
/// the handler is installed (else as it is: the terminal's Ctrl-C reaches
/// it directly), and wait for its output.
pub fn output(cmd: &mut std::process::Command) -> std::io::Result<std::process::Output> {
    use std::os::unix::process::CommandExt;
    if !INSTALLED.load(Ordering::SeqCst) {
        return cmd.output();
    }
    cmd.process_group(0).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let (child, _tracked) = {
        let mut s = STATE.lock().unwrap_or_else(|e| e.into_inner());
        let child = cmd.spawn()?;
        let id = add(&mut s, Item::Group(child.id() as i32));
        (child, Tracked { id, _lock: None })
    };
    child.wait_with_output()
}

/// Handle SIGINT and SIGTERM from now on (a thread that waits for them).
pub fn install() {
    let Ok(mut signals) = signal_hook::iterator::Signals::new([libc::SIGINT, libc::SIGTERM]) else { return };
    INSTALLED.store(true, Ordering::SeqCst);
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            interrupted(sig);
        }
    });
}

fn interrupted(sig: i32) -> ! {
    // Kept until the process ends: nothing starts or moves after this.
    let s = STATE.lock().unwrap_or_else(|e| e.into_inner());
    let groups: Vec<i32> =
        s.items.iter().filter_map(|(_, i)| if let Item::Group(g) = i { Some(*g) } else { None }).collect();
    for &g in &groups {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(g), nix::sys::signal::Signal::SIGTERM);
    }
    // Until the compilers are gone, they may still write into the directories.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline
        && groups.iter().any(|&g| nix::sys::signal::killpg(nix::unistd::Pid::from_raw(g), None).is_ok())
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let dirs: Vec<(&PathBuf, Option<&PathBuf>)> = s
        .items
        .iter()
        .filter_map(|(_, i)| if let Item::Dir { path, dest } = i { Some((path, dest.as_ref())) } else { None })
        .collect();
    let mut dests: Vec<String> = Vec::new();
    for &(path, dest) in &dirs {
        if std::fs::remove_dir_all(path).is_err() && path.exists() {
            let _ = std::fs::remove_dir_all(path);
        }
        // The user's outputs: not the work directories (a cache entry
        // being built) that outputs are staged for on their way.
        if let Some(d) = dest.filter(|d| !dirs.iter().any(|(p, _)| p == d)).map(|d| d.display().to_string())
            && !dests.contains(&d)
        {
            dests.push(d);
        }
    }
    let name = if sig == libc::SIGINT { "SIGINT" } else { "SIGTERM" };
    let what = if groups.is_empty() { "" } else { "Kbuild stopped, " };
    let line = if dests.is_empty() {
        format!("interrupted by {name}; {what}nothing written")
    } else {
        let d = dests.join(", ");
        format!("interrupted by {name} while writing {d}: {what}temporary files removed, {d} left as it was")
    };
    eprintln!("force-rmmod-gen: {line}");
    std::process::exit(128 + sig);
}

/// Names this tool gives its unfinished directories in `parent` for the
/// output `dest_name`: staging (`.<dest>.tmp.`, a previous output set aside
/// `.<dest>.tmp.old.`), the unsigned build (`.<dest>.unsigned.`), Kbuild's
/// scratch (`.force-rmmod-gen.<tag>.`).
fn ours(name: &str, dest_name: Option<&str>) -> bool {
    name.starts_with(".force-rmmod-gen.build.")
        || name.starts_with(".force-rmmod-gen.probe.")
        || name.starts_with(".force-rmmod-gen.sign.")
        || dest_name
            .is_some_and(|d| name.starts_with(&format!(".{d}.tmp.")) || name.starts_with(&format!(".{d}.unsigned.")))
}

/// A directory younger than this may be one a live run has just made and
/// not yet locked.
const GRACE: Duration = Duration::from_secs(10);

/// Remove what interrupted or killed runs left in `parent`: directories with
/// our names (for the output `dest_name`, and Kbuild's scratch) that no live
/// run holds; the names removed.
pub fn sweep(parent: &Path, dest_name: Option<&str>) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(parent) else { return Vec::new() };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir || !ours(&name, dest_name) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| SystemTime::now().duration_since(t).is_ok_and(|age| age > GRACE));
        let path = e.path();
        // Held while it is removed: a run that opens it now finds it gone.
        if old
            && let Some(_held) = lock_dir(&path)
            && std::fs::remove_dir_all(&path).is_ok()
        {
            removed.push(name);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(p: &Path) {
        let old = SystemTime::now() - Duration::from_secs(3600);
        File::open(p).unwrap().set_modified(old).unwrap();
    }

    #[test]
    fn a_sweep_removes_only_our_unheld_old_directories() {
        let t = tempfile::tempdir().unwrap();
        let mk = |n: &str| {
            let p = t.path().join(n);
            std::fs::create_dir(&p).unwrap();
            std::fs::write(p.join("f"), "x").unwrap();
            p
        };
        for n in
            [".o.tmp.abc", ".o.tmp.old.abc", ".o.unsigned.abc", ".force-rmmod-gen.build.abc", ".p.tmp.abc", "o", ".x"]
        {
            age(&mk(n));
        }
        let held = mk(".o.tmp.held");
        age(&held);
        let _lock = lock_dir(&held).unwrap();
        mk(".o.tmp.young");
        let mut removed = sweep(t.path(), Some("o"));
        removed.sort();
        assert_eq!(removed, [".force-rmmod-gen.build.abc", ".o.tmp.abc", ".o.tmp.old.abc", ".o.unsigned.abc"]);
        let mut left: Vec<String> =
            std::fs::read_dir(t.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, [".o.tmp.held", ".o.tmp.young", ".p.tmp.abc", ".x", "o"]);
    }
}
