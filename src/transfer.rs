//! [`copy_store`]: copies every run of one store into another — `sweepstore export` (a
//! [`RedbStore`](crate::RedbStore) into a [`LocalFileStore`](crate::LocalFileStore)
//! directory) and `sweepstore import` (the reverse, fluidml's directories included).
//!
//! Invariants:
//! - **Verified**: every value is streamed from the source through blake3 into a write-open
//!   of the destination, and published (`File::close`) only if its hash is the one the source
//!   promised; otherwise the open is dropped unpublished, so a corrupt source value fails the
//!   copy with [`Error::HashMismatch`] and stores nothing.
//! - **Idempotent**: a result is skipped when the destination's *exact* run (same run key)
//!   already holds it with the same type and content hash; a run's state is written only when
//!   it differs. A second copy of an unchanged source writes nothing.
//! - **Resumable**: a run's state is copied after its results, so an interrupted copy never
//!   leaves a destination run marked finished without all its results; running the copy again
//!   completes it.
//! - **Streaming**: values are never held whole in memory (fixed-size buffers end to end).
//! - **Nothing of a tree lost through a RedbStore**: each result's `sub_dir`, each run's
//!   directory name and the absence of a state travel with the run
//!   ([`ResultsStore::set_tree_details`], set before its results, since a run directory is
//!   named when it is created).
//! - **Accepted means readable, whole runs only**: a run with a `json` result that is not
//!   JSON (Python's `NaN`) or nests too deep, which the destination would refuse, is found
//!   while planning ([`CopyPlan::new`]), before anything is written, and is damaged: never
//!   half-copied.
//! - **Per run, whatever the threads**: with [`CopyPlan::threads`] above one, each run is
//!   still copied wholly by one thread in the order above, so the rules hold per run.
//!
//! What is not copied: `sub_dir`s, directory names and absent states into a backend without
//! a place for them (in memory, MongoDB; a served store keeps only `sub_dir`s), a
//! [`LocalFileStore`](crate::LocalFileStore)'s open and load options, files of a run
//! directory that no load information describes ([`CopyPlan::unlisted_files`] names them),
//! and values of path types (an [`Error::NeedsPath`] stops the copy).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use crate::browse::{Browse, Progress, ResultSummary, RunSummary};
use crate::codec::TypeInfo;
use crate::error::{Error, Result};
use crate::file::OpenMode;
use crate::key::{ContentHash, RunKey};
use crate::promise::Promise;
use crate::run::{RunId, SaveOptions, describe_result};
use crate::store::ResultsStore;

/// Runs `sweepstore export` copies at once by default ([`CopyPlan::threads`]): one. Its
/// writes are unsynced (bulk mode), so threads only add contention in the file system on the
/// task directory; four measured twice as slow (`docs/design.md` §13.4).
pub const EXPORT_THREADS: usize = 1;

/// Runs `sweepstore import` copies at once by default ([`CopyPlan::threads`]): concurrent
/// saves into a [`RedbStore`](crate::RedbStore) share one WAL sync (group commit), so more
/// threads mean fewer syncs per value.
pub const IMPORT_THREADS: usize = 16;

/// What [`copy_store`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TransferReport {
    /// Runs of the source visited (each exists in the destination afterwards).
    pub runs: u64,
    /// Damaged runs of the source skipped (see [`CopyPlan`]).
    pub runs_damaged: u64,
    /// Results copied.
    pub results_copied: u64,
    /// Results already present in the destination with the same content, left alone.
    pub results_skipped: u64,
    /// Bytes of the results copied.
    pub bytes_copied: u64,
    /// Files of the source's run directories that are no result, not copied (see
    /// [`CopyPlan::unlisted_files`]).
    pub files_not_copied: u64,
}

impl TransferReport {
    /// Adds the counts of `other` (copied by another thread) to these.
    fn add(&mut self, other: &TransferReport) {
        self.runs += other.runs;
        self.runs_damaged += other.runs_damaged;
        self.results_copied += other.results_copied;
        self.results_skipped += other.results_skipped;
        self.bytes_copied += other.bytes_copied;
        self.files_not_copied += other.files_not_copied;
    }
}

/// The runs a copy visits, listed before anything is written: every run of the source, and
/// the damaged ones set aside, each with its error (which names its path in a
/// [`LocalFileStore`](crate::LocalFileStore)).
#[derive(Debug)]
pub struct CopyPlan {
    runs: Vec<RunSummary>,
    damaged: Vec<Error>,
    /// The files no copy carries, with their run's key.
    unlisted: Vec<(RunKey, PathBuf)>,
    verify_destination: bool,
    threads: usize,
}

impl CopyPlan {
    /// Lists every run of `from`. With `strict`, a damaged run is the error (so nothing is
    /// copied); without, damaged runs are set aside and the copy skips them. A run with a
    /// result no store accepts as its type — a `json` file that is not JSON, such as
    /// Python's `NaN` — is damaged ([`Error::ResultRefused`]): each `json` result is read
    /// once here (hash verified) to find out, before anything is written.
    ///
    /// # Errors
    /// The first damaged run's error (`strict`); [`Error::HashMismatch`] for a corrupt
    /// `json` result; listing and reading errors of `from`.
    pub fn new<F: ResultsStore + Browse + ?Sized>(from: &F, strict: bool) -> Result<Self> {
        let mut plan = CopyPlan {
            runs: Vec::new(),
            damaged: Vec::new(),
            unlisted: Vec::new(),
            verify_destination: false,
            threads: 1,
        };
        for task in from.tasks()? {
            for run in from.runs_each(&task.name)? {
                match run {
                    Ok(run) => {
                        if let Some(refused) = refused_result(from, &run)? {
                            if strict {
                                return Err(refused);
                            }
                            plan.damaged.push(refused);
                            continue;
                        }
                        let files = from.unlisted_files(&run)?;
                        plan.unlisted
                            .extend(files.into_iter().map(|file| (run.key, file)));
                        plan.runs.push(run);
                    }
                    Err(e) if strict => return Err(e),
                    Err(e) => plan.damaged.push(e),
                }
            }
        }
        Ok(plan)
    }

    /// Keeps only the runs for which `keep` is true (an export of some tasks or of the runs
    /// a filter selects); the damaged runs set aside stay reported.
    pub fn retain(&mut self, keep: impl FnMut(&RunSummary) -> bool) {
        self.runs.retain(keep);
        let kept: HashSet<RunKey> = self.runs.iter().map(|run| run.key).collect();
        self.unlisted.retain(|(key, _)| kept.contains(key));
    }

    /// The files of the planned runs' directories that no load information describes (so
    /// they are no result), which the copy does not carry: the caller names them. Empty
    /// for a source without run directories.
    pub fn unlisted_files(&self) -> impl Iterator<Item = &Path> {
        self.unlisted.iter().map(|(_, file)| file.as_path())
    }

    /// The number of runs to copy.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// The damaged runs the copy skips, each as its error.
    pub fn damaged(&self) -> &[Error] {
        &self.damaged
    }

    /// Whether a value already in the destination is read and verified against its hash
    /// before it counts as present (default: its recorded hash is trusted). For a
    /// destination an interrupted bulk write may have left incomplete
    /// ([`BulkWrite::interrupted_before`](crate::BulkWrite::interrupted_before)): a damaged
    /// or missing value there is then copied again instead of skipped.
    pub fn verify_destination(&mut self, verify: bool) {
        self.verify_destination = verify;
    }

    /// How many threads copy runs at once (default 1: in the calling thread, in plan
    /// order). Each run is copied wholly by one thread — its results, then its state — so
    /// every invariant of [`copy_store`] holds per run with any number; more threads let a
    /// destination overlap its writes (a [`RedbStore`](crate::RedbStore) commits
    /// concurrent saves with one WAL sync, a [`LocalFileStore`](crate::LocalFileStore)
    /// writes into several run directories at once). With several, `progress` is called
    /// from the calling thread as results complete, and after a failure the other threads
    /// finish the run they are copying and stop.
    pub fn threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }
}

/// Copies every run of `from` — config, state, and each result with its type name and
/// sub-directory — into `to`, verifying each value's hash as it is copied. Idempotent: a
/// result already present in `to`'s exact run with the same type and content is skipped and
/// counted as such. `progress` is called after each result (copied or skipped); its `total`
/// is the number of results in `from`. A damaged run of `from` — one with a `json` result
/// that is not JSON included ([`Error::ResultRefused`]) — stops the copy before anything
/// is written ([`copy_planned`] with a lenient [`CopyPlan`] skips them instead).
///
/// A type `to` does not know (say fluidml's `python_pickle` going into a
/// [`RedbStore`](crate::RedbStore)) is registered in `to`'s registry from `from`'s, or as
/// an [opaque](crate::TypeInfo::opaque) type (extension: its name) if `from` does not know it
/// either.
///
/// # Errors
/// [`Error::HashMismatch`] if a source value is corrupt (nothing of it is stored, and the
/// copy stops); [`Error::NeedsPath`] for a value of a path type; errors of either store.
/// Everything copied before an error stays copied; running the copy again resumes it.
pub fn copy_store<F, T>(
    from: &F,
    to: &T,
    progress: &mut dyn FnMut(Progress),
) -> Result<TransferReport>
where
    F: ResultsStore + Browse + ?Sized,
    T: ResultsStore + Browse + ?Sized,
{
    copy_planned(from, to, &CopyPlan::new(from, true)?, progress)
}

/// [`copy_store`] of the runs of `plan` (made from `from`); its damaged runs are counted in
/// [`TransferReport::runs_damaged`].
///
/// # Errors
/// As [`copy_store`].
pub fn copy_planned<F, T>(
    from: &F,
    to: &T,
    plan: &CopyPlan,
    progress: &mut dyn FnMut(Progress),
) -> Result<TransferReport>
where
    F: ResultsStore + Browse + ?Sized,
    T: ResultsStore + Browse + ?Sized,
{
    let total = plan.runs.iter().map(|run| run.results.len() as u64).sum();
    let mut done = Progress::new(0, total, 0);
    let mut count = |size: u64| {
        done.done += 1;
        done.bytes += size;
        progress(done);
    };
    let queue = Queue {
        plan,
        next: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
    };
    let copied = if plan.threads <= 1 {
        // In this thread: `progress` is called right after each result, before the next.
        queue.work(from, to, &mut count)?
    } else {
        copy_in_parallel(from, to, &queue, &mut count)?
    };
    Ok(TransferReport {
        runs_damaged: plan.damaged.len() as u64,
        files_not_copied: plan.unlisted.len() as u64,
        ..copied
    })
}

/// The runs of a plan, handed out one at a time to the threads copying them.
struct Queue<'p> {
    plan: &'p CopyPlan,
    next: AtomicUsize,
    /// Set by the first thread that fails, so the others stop after their current run.
    failed: AtomicBool,
}

impl Queue<'_> {
    /// Copies runs until none is left (or another thread failed); what this thread copied.
    fn work<F, T>(&self, from: &F, to: &T, done: &mut dyn FnMut(u64)) -> Result<TransferReport>
    where
        F: ResultsStore + Browse + ?Sized,
        T: ResultsStore + Browse + ?Sized,
    {
        let mut report = TransferReport::default();
        while !self.failed.load(Ordering::Relaxed) {
            let Some(run) = self
                .plan
                .runs
                .get(self.next.fetch_add(1, Ordering::Relaxed))
            else {
                break;
            };
            let verify = self.plan.verify_destination;
            if let Err(e) = copy_run(from, to, run, &mut report, verify, done) {
                self.failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
            report.runs += 1;
        }
        Ok(report)
    }
}

/// Copies the queue's runs on `plan.threads` scoped threads, each run wholly by one thread
/// (its results, then its state), calling `done` in this thread as results are copied.
fn copy_in_parallel<F, T>(
    from: &F,
    to: &T,
    queue: &Queue<'_>,
    done: &mut dyn FnMut(u64),
) -> Result<TransferReport>
where
    F: ResultsStore + Browse + ?Sized,
    T: ResultsStore + Browse + ?Sized,
{
    let (sizes, copied) = mpsc::channel::<u64>();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..queue.plan.threads)
            .map(|_| {
                let sizes = sizes.clone();
                scope.spawn(move || {
                    queue.work(from, to, &mut |size| {
                        // The receiver lives until every worker is done: a failed send
                        // cannot happen, and would only lose a progress tick.
                        let _ = sizes.send(size);
                    })
                })
            })
            .collect();
        drop(sizes);
        for size in copied {
            done(size);
        }
        let mut total = TransferReport::default();
        let mut first_error = None;
        for worker in workers {
            match worker.join() {
                Ok(Ok(report)) => total.add(&report),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        first_error.map_or(Ok(total), Err)
    })
}

/// Copies one run: its results, then its state.
fn copy_run<F, T>(
    from: &F,
    to: &T,
    run: &RunSummary,
    report: &mut TransferReport,
    plan_verify: bool,
    result_done: &mut dyn FnMut(u64),
) -> Result<()>
where
    F: ResultsStore + Browse + ?Sized,
    T: ResultsStore + Browse + ?Sized,
{
    let id = RunId::new(run.task.clone(), run.config.clone());
    // Only the exact run counts: the lookup rule may also return a subset run.
    let existing = to.find_exact_run(&run.task, &run.config)?;
    // The directory name and an absent state first: a run directory is named when it is
    // created, by the first write into it. (This also creates a run without a state.)
    let stateless = run.state.is_none();
    let details_there = existing.as_ref().is_some_and(|found| {
        let same_name = run.dir_name.is_none() || found.dir_name == run.dir_name;
        same_name && (!stateless || found.state.is_none())
    });
    if !details_there && (run.dir_name.is_some() || stateless) {
        to.set_tree_details(&id, run.dir_name.as_ref(), stateless)?;
    }
    for result in &run.results {
        let present = existing
            .as_ref()
            .and_then(|found| found.result(result.name.as_str()));
        if copy_result(from, to, &id, result, present, plan_verify)? {
            report.results_copied += 1;
            report.bytes_copied += result.size;
        } else {
            report.results_skipped += 1;
        }
        result_done(result.size);
    }
    let state_there = existing.as_ref().and_then(|found| found.state);
    if let Some(state) = run.state
        && state_there != Some(state)
    {
        to.set_run_state(&id, state)?;
    }
    Ok(())
}

/// Copies one result unless `present` (the destination's) already holds the same content;
/// `true` if it was copied.
fn copy_result<F, T>(
    from: &F,
    to: &T,
    id: &RunId,
    result: &ResultSummary,
    present: Option<&ResultSummary>,
    verify: bool,
) -> Result<bool>
where
    F: ResultsStore + ?Sized,
    T: ResultsStore + ?Sized,
{
    let promise = promise_of(from, id, result)?;
    if let Some(present) = present.filter(|p| p.type_name == result.type_name) {
        let hash_there = match present.hash {
            Some(_) if verify => verified_hash_in(to, id, result)?,
            Some(hash) => Some(hash),
            None => hash_in(to, id, result)?,
        };
        if hash_there == Some(promise.hash()) {
            return Ok(false);
        }
    }
    ensure_type(from, to, &result.type_name)?;
    let options = match &result.sub_dir {
        Some(sub_dir) => SaveOptions::in_sub_dir(sub_dir.clone()),
        None => SaveOptions::default(),
    };
    let mut file = to.open(
        id,
        &result.name,
        OpenMode::WRITE,
        Some(&result.type_name),
        &options,
    )?;
    // IMPORTANT: on a mismatch `file` is dropped without `close`, which publishes nothing.
    promise.copy_verified(&mut file)?;
    file.close()?;
    Ok(true)
}

/// The source value of `result` of run `id`, which the source listed.
fn promise_of<F: ResultsStore + ?Sized>(
    from: &F,
    id: &RunId,
    result: &ResultSummary,
) -> Result<Promise> {
    from.load_lazy(id, &result.name)?
        .ok_or_else(|| Error::NotFound {
            what: describe_result(id, &result.name),
        })
}

/// The first result of `run` that no store accepts as its type (a `json` value that is not
/// JSON, or nests too deep), as [`Error::ResultRefused`]; each such result is read once,
/// its hash verified on the way.
fn refused_result<F: ResultsStore + ?Sized>(from: &F, run: &RunSummary) -> Result<Option<Error>> {
    let id = RunId::new(run.task.clone(), run.config.clone());
    for result in &run.results {
        let info = match from.types().get(&result.type_name) {
            Ok(info) if info.checks_content() => info,
            Ok(_) | Err(Error::UnknownType { .. }) => continue,
            Err(e) => return Err(e),
        };
        let mut check = info.content_check();
        promise_of(from, &id, result)?.copy_verified(&mut check)?;
        if let Err(source) = check.finish() {
            let dir = match &run.dir_name {
                Some(dir) => format!(" (run directory `{dir}`)"),
                None => String::new(),
            };
            return Ok(Some(Error::ResultRefused {
                what: format!("{}{dir}", describe_result(&id, &result.name)),
                source: Box::new(source),
            }));
        }
    }
    Ok(None)
}

/// The content hash of `result` in `to`'s exact run (which exists), computed if need be.
fn hash_in<T: ResultsStore + ?Sized>(
    to: &T,
    id: &RunId,
    result: &ResultSummary,
) -> Result<Option<ContentHash>> {
    Ok(to.load_lazy(id, &result.name)?.map(|p| p.hash()))
}

/// The hash of `result` in `to`'s exact run after reading and verifying its content; `None`
/// if it is damaged or missing there (so it is copied again).
fn verified_hash_in<T: ResultsStore + ?Sized>(
    to: &T,
    id: &RunId,
    result: &ResultSummary,
) -> Result<Option<ContentHash>> {
    let promise = match to.load_lazy(id, &result.name) {
        Ok(Some(promise)) => promise,
        Ok(None) | Err(Error::CorruptFile { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    match promise.copy_verified(&mut std::io::sink()) {
        Ok(_) => Ok(Some(promise.hash())),
        Err(Error::HashMismatch { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Registers type `name` in `to` from `from` if `to` does not know it.
fn ensure_type<F, T>(from: &F, to: &T, name: &str) -> Result<()>
where
    F: ResultsStore + ?Sized,
    T: ResultsStore + ?Sized,
{
    match to.types().get(name) {
        Ok(_) => Ok(()),
        Err(Error::UnknownType { .. }) => {
            let info = match from.types().get(name) {
                Ok(info) => info.as_ref().clone(),
                // A type neither store knows (a custom fluidml type read from a RedbStore
                // opened without it): its bytes travel as they are.
                Err(Error::UnknownType { .. }) => TypeInfo::opaque(name, name),
                Err(e) => return Err(e),
            };
            match to.types().register(info) {
                // Another thread registered it meanwhile: as good.
                Ok(()) | Err(Error::TypeAlreadyRegistered { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}
