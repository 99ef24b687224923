//! The `-j` scheduler: worker threads that prepare and complete kernels
//! (the two halves of [`crate::build`]), reporting to the calling thread,
//! which shows progress and collects the results.
//!
//! Written by hand, not on rayon: each kernel is two tasks, and a worker
//! picks the next one by phase (detect the next kernel first, then build
//! the prepared kernels newest first, see [`Worker::next_task`]), two
//! kernels of one release must not share an output directory, and every
//! step reports to the progress line as it happens. A parallel iterator
//! runs independent items; it has no such two-phase queue.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::progress::Ui;
use super::requests::{Request, options_for};
use crate::error::{BadArgument, Result};
use crate::events::BuildEvent;
use crate::kdir::KernelTree;
use crate::pipeline::{Built, Pending, Place, Settings, Step, TreeOptions, complete, prepare};

/// One requested kernel's outcome.
pub(super) struct KernelResult {
    pub(super) label: String,
    pub(super) kdir: String,
    pub(super) release: Option<String>,
    pub(super) result: Result<Built>,
    /// Time spent working on this kernel (prepare + complete), not queueing.
    pub(super) seconds: f64,
}

struct Sched {
    /// The next request to prepare.
    next: usize,
    /// Prepared kernels waiting for Kbuild.
    ready: VecDeque<(usize, f64, Box<Pending>)>,
    /// Prepares in progress (each may add to `ready`).
    preparing: usize,
}

enum Task {
    Prepare(usize),
    Complete(usize, f64, Box<Pending>),
    Exit,
}

enum Event {
    Start(usize),
    /// Prepared; waiting for a worker to build it.
    Waiting(usize),
    /// Its build started.
    Building(usize),
    Log(usize, BuildEvent),
    Done(usize, Box<KernelResult>),
}

/// Build every request under `root` on `jobs` worker threads, showing
/// progress on `ui`; the results in request order.
pub(super) fn build_all(
    reqs: &[Request],
    base: &TreeOptions,
    settings: &Settings,
    jobs: usize,
    root: &Path,
    ui: &mut Ui,
) -> Vec<KernelResult> {
    // One output dir per release: a second tree with the same release fails.
    let claims: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut results: Vec<Option<KernelResult>> = (0..reqs.len()).map(|_| None).collect();
    let sched = Mutex::new(Sched { next: 0, ready: VecDeque::new(), preparing: 0 });
    let wake = Condvar::new();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Event>();
        // Two kinds of task: "prepare" (open, cache lookup, detect) for the
        // next kernel, and "complete" (Kbuild...) for a kernel whose facts
        // are known. Preparing first keeps every worker busy: while one
        // kernel builds, the next one is detected, so the last kernel is not
        // left running alone for its whole duration.
        for _ in 0..jobs {
            let w = Worker { reqs, base, settings, claims: &claims, root, sched: &sched, wake: &wake, tx: tx.clone() };
            scope.spawn(move || w.run());
        }
        drop(tx);

        loop {
            match rx.recv_timeout(Duration::from_millis(125)) {
                Ok(Event::Start(i)) => ui.started(i, &reqs[i].label),
                Ok(Event::Waiting(i)) => ui.waiting(i),
                Ok(Event::Building(i)) => ui.building(i),
                Ok(Event::Log(i, m)) => ui.logged(i, &m),
                Ok(Event::Done(i, r)) => {
                    ui.finished(i, &r);
                    results[i] = Some(*r);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            ui.status();
        }
        ui.clear();
    });
    results.into_iter().map(|r| r.expect("every kernel reports")).collect()
}

/// One worker thread and what it shares with the others.
struct Worker<'a> {
    reqs: &'a [Request],
    base: &'a TreeOptions,
    settings: &'a Settings,
    claims: &'a Mutex<BTreeMap<String, PathBuf>>,
    root: &'a Path,
    sched: &'a Mutex<Sched>,
    wake: &'a Condvar,
    tx: mpsc::Sender<Event>,
}

impl Worker<'_> {
    fn run(&self) {
        loop {
            match self.next_task() {
                Task::Exit => break,
                Task::Prepare(i) => self.prepare(i),
                Task::Complete(i, spent, p) => {
                    let _ = self.tx.send(Event::Building(i));
                    let t0 = Instant::now();
                    let release = Some(p.release().to_string());
                    let r = complete(*p, self.settings, &self.log_for(i));
                    self.report(i, spent + t0.elapsed().as_secs_f64(), release, r);
                }
            }
        }
    }

    /// Wait for work: the next kernel to prepare, else a prepared one to
    /// complete, else (nothing left and nothing being prepared) exit.
    fn next_task(&self) -> Task {
        let mut g = self.sched.lock().unwrap();
        loop {
            if g.next < self.reqs.len() {
                g.next += 1;
                g.preparing += 1;
                return Task::Prepare(g.next - 1);
            }
            // Newest first: at the end of a batch the kernel prepared last
            // (often the newest, slowest kernel, when the trees are given in
            // version order) starts building on the worker that prepared it,
            // instead of queueing behind older ones and running alone at the
            // end.
            if let Some((i, spent, p)) = g.ready.pop_back() {
                return Task::Complete(i, spent, p);
            }
            if g.preparing == 0 {
                return Task::Exit;
            }
            g = self.wake.wait(g).unwrap();
        }
    }

    /// Prepare kernel `i`: done on a cache hit or an error, else queued
    /// for [`complete`].
    fn prepare(&self, i: usize) {
        let req = &self.reqs[i];
        let _ = self.tx.send(Event::Start(i));
        let t0 = Instant::now();
        let release: Mutex<Option<String>> = Mutex::new(None);
        let opts = options_for(self.base, &req.kdir);
        let place_for = |tree: &KernelTree| -> Result<Place> {
            *release.lock().unwrap() = Some(tree.release.clone());
            self.claim(tree).map(Place::Dir)
        };
        let step = prepare(&opts, &place_for, self.settings, &self.log_for(i));
        let release = release.into_inner().unwrap();
        let mut g = self.sched.lock().unwrap();
        g.preparing -= 1;
        let spent = t0.elapsed().as_secs_f64();
        match step {
            Ok(Step::Build(p)) => {
                let _ = self.tx.send(Event::Waiting(i));
                g.ready.push_back((i, spent, p));
            }
            Ok(Step::Done(b)) => self.report(i, spent, release, Ok(b)),
            Err(e) => self.report(i, spent, release, Err(e)),
        }
        drop(g);
        self.wake.notify_all();
    }

    /// The output directory for `tree`: `<root>/<release>`, unless another
    /// tree already has that release.
    fn claim(&self, tree: &KernelTree) -> Result<PathBuf> {
        let mut c = self.claims.lock().unwrap();
        if let Some(other) = c.get(&tree.release)
            && *other != tree.build
        {
            return Err(BadArgument::ReleaseTwice { release: tree.release.clone(), other: other.clone() }.into());
        }
        c.insert(tree.release.clone(), tree.build.clone());
        Ok(self.root.join(&tree.release))
    }

    fn log_for(&self, i: usize) -> impl Fn(&BuildEvent) {
        let tx = self.tx.clone();
        move |e: &BuildEvent| {
            let _ = tx.send(Event::Log(i, e.clone()));
        }
    }

    /// seconds: time spent working on this kernel (prepare + complete), not queueing.
    fn report(&self, i: usize, seconds: f64, release: Option<String>, result: Result<Built>) {
        let req = &self.reqs[i];
        let kdir = req.kdir.canonicalize().unwrap_or_else(|_| req.kdir.clone()).display().to_string();
        let r = KernelResult { label: req.label.clone(), kdir, release, result, seconds };
        let _ = self.tx.send(Event::Done(i, Box::new(r)));
    }
}
