//! [`Browse`] for [`LocalFileStore`]: tasks are the base directory's (non-hidden) task
//! directories, runs come from the run index's scans, results from each run's load
//! information — the same sources loads use, so fluidml's directories list too.
//!
//! Invariants: nothing here writes (no key file, lock or run record is created); results are
//! described from their load information and a `stat` of their object, never by reading the
//! object, so a result's hash is the one recorded at save time, or `None` for fluidml's
//! results (which record none); a damaged run directory or load-information file is an
//! error, not skipped (`runs_each` gives it as that run's own error). Times come from the
//! run's times file; a finished time is reported only while the run's state is finished.

use std::io;
use std::path::PathBuf;

use crate::browse::{Browse, ResultSummary, RunSummary, TaskSummary, at_ms, sort_runs};
use crate::config::UniqueConfig;
use crate::error::{Error, Result};
use crate::local::index::{OverLimit, read_config};
use crate::local::info::{corrupt, read_load_info, read_state, read_times};
use crate::local::layout::{RunDir, real_dir};
use crate::local::object;
use crate::local::store::LocalFileStore;
use crate::local::unlisted::unlisted_files;
use crate::names::{RunName, SubDir, TaskName};
use crate::run::{RunId, RunState};
use crate::store::ResultsStore;
use crate::vfs::Kind;

impl LocalFileStore {
    /// The summary of the run in `dir` with `config`.
    fn summary(&self, task: &TaskName, dir: &RunDir, config: UniqueConfig) -> Result<RunSummary> {
        let types = self.types();
        // A state is recorded by our run record or by fluidml's info; without either it was
        // never set.
        let state = read_state(dir)?;
        let mut results = Vec::new();
        for name in object::names(dir, types)? {
            let Some((info, _)) = read_load_info(dir, &name, types)? else {
                continue; // removed since the listing
            };
            let info_path = dir.info_file(&name);
            let hash = info.content_hash(&info_path)?;
            let size = match info.size {
                Some(size) => size,
                None => object_size(dir, &info.obj_dir, &info.file)?,
            };
            let sub_dir = match info.obj_dir.as_str() {
                "." => None,
                obj_dir => Some(SubDir::new(obj_dir).map_err(|e| corrupt(&info_path, e))?),
            };
            results.push(ResultSummary::new(
                name,
                info.type_name,
                size,
                hash,
                sub_dir,
            ));
        }
        // Another writer (an older sweepstore, fluidml) may have changed the state without
        // touching the times: a finished time counts only while the run is finished.
        let times = read_times(dir)?;
        let finished = times
            .finished_ms
            .filter(|_| state == Some(RunState::Finished));
        // Directory names come from the listing of BASE/<task>/, so they are valid names.
        let dir_name = RunName::new(&dir.name).ok();
        Ok(RunSummary::new(task.clone(), config, state, results)
            .with_times(times.created_ms.map(at_ms), finished.map(at_ms))
            .with_dir_name(dir_name))
    }

    /// Each run of `task` in creation order, a damaged one as its error.
    fn summaries(&self, task: &TaskName) -> Result<Vec<Result<RunSummary>>> {
        let runs = self.index().runs(task, OverLimit::Skip)?.into_iter();
        Ok(runs
            .map(|run| run.and_then(|run| self.summary(task, &run.dir, run.config.clone())))
            .collect())
    }
}

/// The size of a result's object: its file's length, 0 for a directory (a path type).
fn object_size(dir: &RunDir, obj_dir: &str, file: &str) -> Result<u64> {
    let path = dir.obj_dir(obj_dir).join(file);
    match dir.fs().metadata(&path) {
        Ok(meta) if meta.kind == Kind::File => Ok(meta.len),
        Ok(meta) if meta.kind == Kind::Dir => Ok(0),
        Ok(_) => Err(Error::SymlinkInStore { path }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(corrupt(
            &path,
            "the load information names this object file, which does not exist",
        )),
        Err(e) => Err(Error::io("inspect", &path, e)),
    }
}

impl Browse for LocalFileStore {
    fn tasks(&self) -> Result<Vec<TaskSummary>> {
        let (base, fs) = (self.base_dir(), self.index().layout().fs());
        let listing = fs.read_dir(base).map_err(|e| Error::io("list", base, e))?;
        let mut tasks = Vec::new();
        for path in listing {
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                continue;
            };
            // Hidden entries are ours or fluidml's bookkeeping; other names are not tasks.
            let Ok(task) = TaskName::new(&name) else {
                continue;
            };
            if name.starts_with('.') || !real_dir(&**fs, &path)? {
                continue;
            }
            // Damaged run directories count: `runs` reports them as errors.
            let runs = self.index().runs(&task, OverLimit::Skip)?.len() as u64;
            if runs > 0 {
                tasks.push(TaskSummary::new(task, runs));
            }
        }
        tasks.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tasks)
    }

    fn runs(&self, task: &TaskName) -> Result<Vec<RunSummary>> {
        let mut runs = self
            .summaries(task)?
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        sort_runs(&mut runs);
        Ok(runs)
    }

    fn runs_each(&self, task: &TaskName) -> Result<Vec<Result<RunSummary>>> {
        self.summaries(task)
    }

    fn find_exact_run(&self, task: &TaskName, config: &UniqueConfig) -> Result<Option<RunSummary>> {
        let run = RunId::new(task.clone(), config.clone());
        match self.index().exact(&run)? {
            Some(dir) => self.summary(task, &dir, config.clone()).map(Some),
            None => Ok(None),
        }
    }

    fn unlisted_files(&self, run: &RunSummary) -> Result<Vec<PathBuf>> {
        let id = RunId::new(run.task.clone(), run.config.clone());
        match self.index().exact(&id)? {
            Some(dir) => unlisted_files(&dir, self.types()),
            None => Ok(Vec::new()),
        }
    }

    fn find_run(&self, task: &TaskName, config: &UniqueConfig) -> Result<Option<RunSummary>> {
        let run = RunId::new(task.clone(), config.clone());
        match self.index().lookup(&run)? {
            Some(dir) => {
                let config = read_config(&dir)?;
                self.summary(task, &dir, config).map(Some)
            }
            None => Ok(None),
        }
    }
}
