//! [`LocalFileStore`]: the [`ResultsStore`] contract over browsable run directories.
//!
//! Every operation is a composition of the index (which run directory), `object.rs` (one
//! result's commit protocol and reads) and `info.rs` (the metadata files); this file holds
//! no protocol of its own. Store handles hold no state that other processes could make
//! stale except the index's scans, which revalidate themselves, so any number of handles and
//! processes may share one base directory.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use crate::browse::finished_at;
use crate::claim::now_ms;
use crate::codec::TypeRegistry;
use crate::engine::GcReport;
use crate::error::{Error, Result};
use crate::file::{File, OpenMode, OpenRequest, open_file};
use crate::key::ContentHash;
use crate::local::file::{LocalFile, Pinned};
use crate::local::gc;
use crate::local::index::{Index, NewRun, OverLimit, write_file, write_files};
use crate::local::info::{
    FORMAT, LoadInfo, RunRecord, fluidml_bookkeeping, read_state, read_times,
};
use crate::local::layout::{
    Layout, META_DIR, RunDir, STAGE_DIR, check_not_reserved, ensure_dirs, lock, obj_dir_name,
    object_file, set_bulk, sync_dir, temp_name,
};
use crate::local::object::{self, Found, Staged};
use crate::local::poison::{Poison, PoisonFs};
use crate::local::promise::FilePromise;
use crate::names::{ResultName, RunName, TaskName};
use crate::promise::{LazySweep, LazySweeps, Promise, check_hash};
use crate::run::{RunId, RunState, SaveOptions, StoreContext, describe_result};
use crate::store::ResultsStore;
use crate::vfs::{Fs, RealFs};

/// A results store of plain files under a base directory (fluidml's `LocalFileStore`), in
/// fluidml's layout so results stay browsable:
/// `BASE/<task>/<run dir>/config.json`, results as `[<sub_dir>/]<name>.<ext>`, load
/// information in the run's hidden `.fluidml/` folder (JSON, plus fluidml's pickles so
/// fluidml 0.3.4 loads every result; fluidml's own trees load too),
/// run directories named `000`, `001`, … or `<run name>-<counter>`.
///
/// Every file is written crash-safely (temp → sync → rename → sync directory); run
/// directories are claimed with create-exclusive `mkdir` under a per-task lock file, so
/// processes sharing a base directory never share or lose a run; exact lookups read one
/// index file instead of every `config.json`. A directory written by fluidml 0.3.4 loads as
/// it is (its `pickle` results are ours: Python's pickle, readable here when they hold plain
/// data). Formats: `docs/design.md` §12. Unix only.
///
/// Clones share one handle.
#[derive(Debug, Clone)]
pub struct LocalFileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    index: Index,
    /// Set by the first failed sync; every later write is refused.
    poison: Arc<Poison>,
    types: TypeRegistry,
    run_names: RwLock<HashMap<TaskName, RunName>>,
}

impl LocalFileStore {
    /// A store in `base_dir`, created if it does not exist, with the built-in types.
    ///
    /// # Errors
    /// [`Error::NotAStore`] if `base_dir` is a file; [`Error::Io`] if the directory cannot
    /// be created.
    pub fn new(base_dir: impl Into<PathBuf>) -> Result<Self> {
        Self::with_fs(base_dir.into(), Arc::new(RealFs))
    }

    /// The store in `base_dir` on the file system `fs` (the real one, or `sim`'s).
    pub(crate) fn with_fs(base: PathBuf, fs: Arc<dyn Fs>) -> Result<Self> {
        if fs.is_file(&base) {
            return Err(Error::file_not_a_store(&base));
        }
        let poison = Arc::new(Poison::default());
        let fs: Arc<dyn Fs> = Arc::new(PoisonFs::new(fs, poison.clone()));
        let created: Vec<&Path> = base
            .ancestors()
            .take_while(|a| !a.as_os_str().is_empty() && !fs.exists(a))
            .collect();
        fs.create_dir_all(&base)
            .map_err(|e| Error::io("create base directory", &base, e))?;
        // IMPORTANT: the new directories' entries are durable before anything is saved in
        // them, or power loss could take the whole store with it.
        for dir in created.iter().rev() {
            let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
            sync_dir(&*fs, parent.unwrap_or(Path::new(".")))?;
        }
        gc::clean_on_open(&*fs, &base);
        let types = TypeRegistry::new();
        Ok(LocalFileStore {
            inner: Arc::new(Inner {
                index: Index::new(Layout::new(base, fs)),
                poison,
                types,
                run_names: RwLock::new(HashMap::new()),
            }),
        })
    }

    /// The file system the store lives on.
    fn fs(&self) -> &Arc<dyn Fs> {
        self.inner.index.layout().fs()
    }

    /// The base directory.
    pub fn base_dir(&self) -> &Path {
        self.inner.index.layout().base()
    }

    /// Names the run directories this handle creates for `task` `<run_name>-<counter>`
    /// (default: `<counter>`), as fluidml does with a task's run name; `None` goes back to the
    /// default. Existing runs keep their directories.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a bad task or run name.
    pub fn set_run_name(&self, task: &str, run_name: Option<&str>) -> Result<()> {
        let task = TaskName::new(task)?;
        let run_name = run_name.map(RunName::new).transpose()?;
        let mut names = self
            .inner
            .run_names
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match run_name {
            Some(run_name) => names.insert(task, run_name),
            None => names.remove(&task),
        };
        Ok(())
    }

    /// Result `name` (lookup rule) as a [`FilePromise`]: unloaded, with its path and the
    /// load options saved with it; `None` if it does not exist.
    ///
    /// # Errors
    /// [`Error::NeedsPath`] for a result of a path type (load it with
    /// [`Run::load`](crate::Run::load)); as [`ResultsStore::load_lazy`].
    pub fn file_promise(&self, run: &RunId, name: &ResultName) -> Result<Option<FilePromise>> {
        let Some(dir) = self.inner.index.lookup(run)? else {
            return Ok(None);
        };
        let Some(found) = object::find(&dir, name, &self.inner.types)? else {
            return Ok(None);
        };
        let (promise, info, path) = self.promise_of(found)?;
        Ok(Some(FilePromise::new(promise, path, info)))
    }

    /// Puts this base directory in bulk mode for writing many results at once (what
    /// `sweepstore export` does): until [`BulkWrite::finish`], the writes of this process
    /// below the base directory are not synced one by one; `finish` makes all of them
    /// durable with one `syncfs` of the file system (Linux; elsewhere every write stays
    /// synced). Saves acknowledged in bulk mode are durable only once `finish` returned.
    ///
    /// A marker file (`.sweepstore-bulk`, synced) stays in the base directory until
    /// `finish`: if it is already there, an earlier bulk write was interrupted, so values
    /// already present may be incomplete — [`BulkWrite::interrupted_before`] says so, and a
    /// copy then verifies them before trusting them ([`CopyPlan::verify_destination`](crate::CopyPlan::verify_destination)).
    ///
    /// # Errors
    /// [`Error::Io`] if the marker cannot be written.
    pub fn begin_bulk(&self) -> Result<BulkWrite<'_>> {
        self.inner.poison.check()?;
        let marker = self.base_dir().join(BULK_MARKER);
        let interrupted = self.fs().exists(&marker);
        if !interrupted {
            write_file(
                &**self.fs(),
                &marker,
                b"a bulk write is in progress or was interrupted\n",
            )?;
        }
        if cfg!(target_os = "linux") {
            set_bulk(self.base_dir(), true);
        }
        Ok(BulkWrite {
            store: self,
            interrupted,
        })
    }

    /// Removes what interrupted writes left below the base directory (temporary files and
    /// directories of processes that are gone, run directories a `delete_run` did not finish
    /// removing), or with `dry_run` only counts them. Temporaries of live processes and the
    /// staged content a load information names are kept, so this is safe while other
    /// processes write. (Opening a store already removes the leftovers in the tasks'
    /// `.sweepstore/` folders; this also looks in every run directory.)
    ///
    /// # Errors
    /// [`Error::Io`] if a directory cannot be listed or a leftover removed.
    pub fn gc(&self, dry_run: bool) -> Result<GcReport> {
        if !dry_run {
            self.inner.poison.check()?;
        }
        gc::collect(&**self.fs(), self.base_dir(), dry_run)
    }

    /// The run index (for browsing).
    pub(crate) fn index(&self) -> &Index {
        &self.inner.index
    }

    fn run_name(&self, task: &TaskName) -> Option<RunName> {
        let names = self
            .inner
            .run_names
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        names.get(task).cloned()
    }

    /// Turns found content into a promise that holds the object open.
    fn promise_of(&self, found: Found) -> Result<(Promise, LoadInfo, PathBuf)> {
        match found {
            Found::Content {
                info,
                file,
                path,
                hash,
                size,
            } => {
                let source = Arc::new(Pinned::new(file, path.clone()));
                let promise = Promise::new(
                    hash,
                    info.type_name.clone(),
                    size,
                    source,
                    self.inner.types.clone(),
                );
                Ok((promise, info, path))
            }
            Found::Path { info, .. } => Err(Error::NeedsPath {
                type_name: info.type_name,
                store: "a promise",
            }),
        }
    }

    /// Result `name` of run directory `dir` as a promise; `None` if it has no such result.
    ///
    /// # Errors
    /// [`Error::NeedsPath`] for a path type; as [`object::find`].
    fn promise_in(&self, dir: &RunDir, name: &ResultName) -> Result<Option<Promise>> {
        match object::find(dir, name, &self.inner.types)? {
            Some(found) => self.promise_of(found).map(|(p, _, _)| Some(p)),
            None => Ok(None),
        }
    }

    /// The shared save: checks the type and the path, creates the run if needed, stages
    /// the content with `stage` (before the run is created, so a failing stage changes
    /// nothing) and commits it.
    fn save_staged(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        options: &SaveOptions,
        exclusive: bool,
        stage: impl FnOnce(&Path) -> Result<(Staged, Option<(ContentHash, u64)>)>,
    ) -> Result<()> {
        self.inner.poison.check()?;
        let info = self.inner.types.get(type_name)?;
        let obj_dir = obj_dir_name(options.sub_dir.as_ref());
        let file = object_file(name, info.extension());
        check_not_reserved(&obj_dir, &file)?;
        let task = self.inner.index.layout().task(run.task());
        ensure_dirs(&**self.fs(), self.base_dir(), run.task().as_str())?;
        let (staged, content) = stage(&task.dir)?;
        let dir = self
            .inner
            .index
            .ensure(run, self.run_name(run.task()).as_ref())?;
        let info = LoadInfo {
            format: FORMAT,
            name: name.clone(),
            type_name: type_name.to_owned(),
            obj_dir,
            file,
            staged: None,
            hash: content.map(|(hash, _)| hash.to_hex()),
            size: content.map(|(_, size)| size),
            open_options: options.open_options.clone(),
            load_options: options.load_options.clone(),
            recorded_at: None,
        };
        let types = &self.inner.types;
        object::commit(&dir, info, staged, exclusive, types, || {
            describe_result(run, name)
        })
    }
}

/// The marker of a bulk write in progress (or interrupted) in a base directory.
const BULK_MARKER: &str = ".sweepstore-bulk";

/// A bulk write into a [`LocalFileStore`] ([`LocalFileStore::begin_bulk`]). Dropping it
/// without [`finish`](BulkWrite::finish) ends bulk mode but leaves the marker, so the next
/// bulk write knows this one was interrupted.
#[derive(Debug)]
pub struct BulkWrite<'a> {
    store: &'a LocalFileStore,
    interrupted: bool,
}

impl BulkWrite<'_> {
    /// Whether an earlier bulk write into this directory was interrupted.
    pub fn interrupted_before(&self) -> bool {
        self.interrupted
    }

    /// Makes every write since [`LocalFileStore::begin_bulk`] durable, then removes the
    /// marker.
    ///
    /// # Errors
    /// [`Error::Io`] if the sync fails (the marker then stays).
    pub fn finish(self) -> Result<()> {
        let (base, fs) = (self.store.base_dir(), self.store.fs());
        set_bulk(base, false);
        #[cfg(target_os = "linux")]
        fs.sync_file_system(base)
            .map_err(|e| Error::io("sync file system", base, e))?;
        let marker = base.join(BULK_MARKER);
        fs.remove_file(&marker)
            .map_err(|e| Error::io("remove", &marker, e))?;
        sync_dir(&**fs, base)
    }
}

impl Drop for BulkWrite<'_> {
    fn drop(&mut self) {
        set_bulk(self.store.base_dir(), false);
    }
}

impl ResultsStore for LocalFileStore {
    fn types(&self) -> &TypeRegistry {
        &self.inner.types
    }

    fn save_bytes(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        bytes: &[u8],
        options: &SaveOptions,
    ) -> Result<()> {
        self.inner.types.accept(type_name, bytes)?;
        self.save_staged(run, name, type_name, options, false, |task_dir| {
            let staged = Staged::bytes(self.fs(), task_dir, STAGE_DIR, bytes)?;
            Ok((staged, Some((ContentHash::of(bytes), bytes.len() as u64))))
        })
    }

    fn save_with_path(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        save: &mut dyn FnMut(&Path) -> Result<()>,
        options: &SaveOptions,
    ) -> Result<()> {
        self.save_staged(run, name, type_name, options, false, |task_dir| {
            Ok((Staged::path(self.fs(), task_dir, STAGE_DIR, save)?, None))
        })
    }

    fn load_with_path(
        &self,
        run: &RunId,
        name: &ResultName,
        load: &mut dyn FnMut(&str, &Path) -> Result<()>,
    ) -> Result<bool> {
        let Some(dir) = self.inner.index.lookup(run)? else {
            return Ok(false);
        };
        match object::find(&dir, name, &self.inner.types)? {
            Some(Found::Path { info, path } | Found::Content { info, path, .. }) => {
                load(&info.type_name, &path)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn load_lazy(&self, run: &RunId, name: &ResultName) -> Result<Option<Promise>> {
        match self.inner.index.lookup(run)? {
            Some(dir) => self.promise_in(&dir, name),
            None => Ok(None),
        }
    }

    fn load_bytes(&self, run: &RunId, name: &ResultName) -> Result<Option<(String, Vec<u8>)>> {
        let Some(dir) = self.inner.index.lookup(run)? else {
            return Ok(None);
        };
        match object::find(&dir, name, &self.inner.types)? {
            Some(Found::Content {
                info,
                mut file,
                path,
                hash,
                size,
            }) => {
                let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
                file.seek(SeekFrom::Start(0))
                    .and_then(|_| file.read_to_end(&mut bytes))
                    .map_err(|e| Error::io("read", &path, e))?;
                check_hash(hash, ContentHash::of(&bytes), || path.display().to_string())?;
                Ok(Some((info.type_name, bytes)))
            }
            Some(Found::Path { info, .. }) => Err(Error::NeedsPath {
                type_name: info.type_name,
                store: "a byte-level load",
            }),
            None => Ok(None),
        }
    }

    fn delete(&self, run: &RunId, name: &ResultName) -> Result<bool> {
        self.inner.poison.check()?;
        match self.inner.index.lookup(run)? {
            Some(dir) => object::remove(&dir, name, &self.inner.types),
            None => Ok(false),
        }
    }

    fn delete_run(&self, run: &RunId) -> Result<bool> {
        self.inner.poison.check()?;
        self.inner.index.remove(run)
    }

    fn get_context(&self, run: &RunId) -> Result<StoreContext> {
        self.inner.poison.check()?;
        let dir = self
            .inner
            .index
            .ensure(run, self.run_name(run.task()).as_ref())?;
        Ok(StoreContext {
            sweep_counter: Some(dir.sweep_counter()),
            run_dir: Some(dir.path),
        })
    }

    fn get_results(&self, run: &RunId) -> Result<Option<BTreeMap<ResultName, Promise>>> {
        let Some(dir) = self.inner.index.lookup(run)? else {
            return Ok(None);
        };
        let mut results = BTreeMap::new();
        for name in object::names(&dir, &self.inner.types)? {
            match self.promise_in(&dir, &name) {
                Ok(Some(promise)) => {
                    results.insert(name, promise);
                }
                // Path results have no promise; they load with `Run::load`.
                Ok(None) | Err(Error::NeedsPath { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(results))
    }

    fn run_state(&self, run: &RunId) -> Result<Option<RunState>> {
        match self.inner.index.lookup(run)? {
            // A run fluidml never gave a state reads as running here (the trait has no
            // "absent"); `Browse` reports it as `None`.
            Some(dir) => Ok(Some(read_state(&dir)?.unwrap_or(RunState::Running))),
            None => Ok(None),
        }
    }

    fn set_tree_details(
        &self,
        run: &RunId,
        dir_name: Option<&RunName>,
        stateless: bool,
    ) -> Result<()> {
        // A taken name falls back to its run name (`brave-owl` of `brave-owl-000`) with the
        // task's next counter.
        let prefix = dir_name
            .and_then(|name| name.as_str().rsplit_once('-'))
            .and_then(|(prefix, _)| RunName::new(prefix).ok());
        let naming = NewRun {
            run_name: prefix.as_ref(),
            exact: dir_name,
            stateless,
        };
        self.inner.index.ensure_as(run, naming).map(drop)
    }

    fn set_run_state(&self, run: &RunId, state: RunState) -> Result<()> {
        self.inner.poison.check()?;
        let dir = self
            .inner
            .index
            .ensure(run, self.run_name(run.task()).as_ref())?;
        let fs = &**self.fs();
        ensure_dirs(fs, &dir.path, META_DIR)?;
        let _lock = lock(fs, &dir.lock_file())?;
        let names = object::names(&dir, &self.inner.types)?;
        // fluidml's files first (not synced: sweepstore never depends on them), our record
        // last: on a tie of modification times ours wins.
        let fluidml = fluidml_bookkeeping(&dir, state, &names)?;
        let mut times = read_times(&dir)?;
        times.format = FORMAT;
        times.finished_ms = finished_at(state, now_ms());
        let (times_path, path) = (dir.times_file(), dir.record_file());
        write_files(
            fs,
            &fluidml,
            &[
                (times_path.clone(), times.to_bytes(&times_path)?),
                (path.clone(), RunRecord::new(state).to_bytes(&path)?),
            ],
        )
    }

    fn open(
        &self,
        run: &RunId,
        name: &ResultName,
        mode: OpenMode,
        type_name: Option<&str>,
        options: &SaveOptions,
    ) -> Result<File> {
        if mode.writable() {
            self.inner.poison.check()?;
        }
        let dir = if mode.writable() {
            self.inner.index.exact(run)?
        } else {
            self.inner.index.lookup(run)?
        };
        let existing = match dir {
            Some(dir) => self.promise_in(&dir, name)?,
            None => None,
        };
        let request = OpenRequest {
            run,
            name,
            mode,
            type_name,
            types: &self.inner.types,
            existing,
        };
        open_file(request, |type_name, exclusive| {
            let info = self.inner.types.get(type_name)?;
            let obj_dir = obj_dir_name(options.sub_dir.as_ref());
            check_not_reserved(&obj_dir, &object_file(name, info.extension()))?;
            let task = self.inner.index.layout().task(run.task());
            let fs = self.fs();
            ensure_dirs(&**fs, self.base_dir(), run.task().as_str())?;
            let tmp = ensure_dirs(&**fs, &task.dir, STAGE_DIR)?.join(temp_name(&**fs));
            let store = self.clone();
            let (run, name, type_name) = (run.clone(), name.clone(), type_name.to_owned());
            let options = options.clone();
            let publish = move |tmp: PathBuf, hash, size| {
                store.save_staged(&run, &name, &type_name, &options, exclusive, |_| {
                    Ok((Staged::file(store.fs(), tmp)?, Some((hash, size))))
                })
            };
            Ok(Box::new(LocalFile::create(
                fs.clone(),
                tmp,
                Box::new(publish),
            )?))
        })
    }

    fn lazy_sweep(&self, task: &TaskName, name: &ResultName) -> Result<LazySweeps> {
        let runs = self.inner.index.runs(task, OverLimit::Report)?;
        let store = self.clone();
        let name = name.clone();
        let sweeps = runs.into_iter().filter_map(move |run| {
            let run = match run {
                Ok(run) => run,
                Err(error) => return Some(Err(error)),
            };
            match store.promise_in(&run.dir, &name) {
                Ok(Some(value)) => Some(Ok(LazySweep {
                    value,
                    config: run.config.clone(),
                })),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            }
        });
        Ok(LazySweeps::new(sweeps))
    }
}
