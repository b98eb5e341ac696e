//! The [`RedbStore`] handle: sends writes to the actor, reads through redb read
//! transactions directly.
//!
//! Invariants: the handle owns the command sender and the actor's join handle (sender
//! dropped first, then joined), so dropping the last handle lets the actor drain, checkpoint
//! and stop; read-your-writes holds because a write is answered only after the actor's redb
//! commit, and every read uses a snapshot begun after the last commit (`engine::snapshot`).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;

use crate::blob::BlobWriter;
use crate::blob::writer::Finished;
use crate::codec::TypeRegistry;
use crate::durable;
use crate::engine::actor::Actor;
use crate::engine::command::{Command, Content};
use crate::engine::content::{StoreContent, register};
use crate::engine::gc::GcReport;
use crate::engine::open;
use crate::engine::ops;
use crate::engine::ops::ContentRow;
use crate::engine::options::RedbOptions;
use crate::engine::reader::Reader;
use crate::engine::reply::{self, Reply};
use crate::engine::shared::Shared;
use crate::engine::tables::ResultEntry;
use crate::error::{Error, Result};
use crate::file::staged::{How, PublishStaged, open_staged};
use crate::file::{File, OpenMode};
use crate::key::ContentHash;
use crate::names::{ResultName, RunName, SubDir, TaskName};
use crate::promise::{ContentSource, LazySweep, LazySweeps, Promise, check_hash};
use crate::run::{RunId, RunState, SaveOptions, StoreContext, sweep_counter};
use crate::store::ResultsStore;
use crate::vfs::{Fs, OverlayFs, RealFs};

/// The embedded, crash-safe results store: a redb database written only by one storage
/// actor thread, behind a write-ahead log with group commit.
///
/// Cheap to clone; clones share the store. Every acknowledged save survives a crash,
/// `kill -9` and (with [`Durability::Immediate`](crate::Durability::Immediate), the default)
/// power loss.
#[derive(Clone)]
pub struct RedbStore {
    inner: Arc<Inner>,
}

struct Inner {
    // IMPORTANT: declared (and dropped) before `actor`, so the actor sees the channel close.
    tx: Option<Sender<Command>>,
    actor: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
    content: Arc<dyn ContentSource>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.tx.take());
        let actor = self.actor.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(actor) = actor.take() {
            // The actor drains its queue, checkpoints and exits; a panic in it is already
            // reported by the panic hook, and Drop must not panic.
            let _ = actor.join();
        }
    }
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("root", &self.inner.shared.root)
            .finish()
    }
}

impl RedbStore {
    /// Opens the store in directory `path`, creating it if the directory does not exist or
    /// is empty, and recovers it from its write-ahead log.
    ///
    /// # Errors
    /// [`Error::AlreadyOpen`] if another process or handle has it open;
    /// [`Error::NotAStore`] if `path` is a file or a non-empty directory without a store;
    /// [`Error::UnsupportedFormat`]; [`Error::WalCorrupt`] if the log is damaged beyond a
    /// torn tail; I/O and storage errors.
    pub fn open(path: impl AsRef<Path>, options: RedbOptions) -> Result<Self> {
        Self::open_with_fs(path.as_ref(), options, Arc::new(RealFs))
    }

    /// Opens the existing store in directory `path` for reading without creating or
    /// changing any file in it, so it works on a store the user may not write: WAL records
    /// after the last checkpoint are replayed in memory and never written back, and every
    /// save, checkpoint or `gc` of this handle lives in memory until it is dropped. The
    /// store's `LOCK` is taken shared, so a process writing the store makes this fail with
    /// [`Error::AlreadyOpen`] (`docs/design.md`, read-only open).
    ///
    /// # Errors
    /// [`Error::NotAStore`] if `path` holds no `store.redb`; [`Error::AlreadyOpen`] if a
    /// writer has it open; [`Error::UnsupportedFormat`]; [`Error::WalCorrupt`]; I/O and
    /// storage errors.
    pub fn open_read_only(path: impl AsRef<Path>, options: RedbOptions) -> Result<Self> {
        let path = path.as_ref();
        if !path.join(open::DB_FILE).is_file() {
            return Err(Error::NotAStore {
                path: path.to_owned(),
                reason: "it holds no store.redb".to_owned(),
            });
        }
        Self::open_with_fs(path, options, Arc::new(OverlayFs::default()))
    }

    pub(crate) fn open_with_fs(path: &Path, options: RedbOptions, fs: Arc<dyn Fs>) -> Result<Self> {
        Self::open_with_types(path, options, fs, TypeRegistry::new())
    }

    /// Opens the store with `types` as its type registry (shared with the caller, so a
    /// handle that changes backends keeps its registered types).
    pub(crate) fn open_with_types(
        path: &Path,
        options: RedbOptions,
        fs: Arc<dyn Fs>,
        types: TypeRegistry,
    ) -> Result<Self> {
        let capacity = options.channel_capacity;
        let (shared, wal) = open::open(path, options, fs, types)?;
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let actor = Actor::new(shared.clone(), rx, wal);
        let thread = std::thread::Builder::new()
            .name("sweepstore-actor".to_owned())
            .spawn(move || actor.run())
            .map_err(|e| Error::io("spawn the storage actor thread for", &shared.root, e))?;
        register(&shared);
        let content: Arc<dyn ContentSource> = Arc::new(StoreContent::new(&shared));
        Ok(RedbStore {
            inner: Arc::new(Inner {
                tx: Some(tx),
                actor: Mutex::new(Some(thread)),
                shared,
                content,
            }),
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.inner.shared.root
    }

    /// Checkpoints, stops the actor and reports any error. Other clones of this handle get
    /// [`Error::Closed`] afterwards.
    ///
    /// # Errors
    /// The final checkpoint's error, or [`Error::Poisoned`].
    pub fn close(self) -> Result<()> {
        let result = self.request(|reply| Command::Close { reply });
        let actor = self
            .inner
            .actor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(actor) = actor {
            // See `Drop for Inner`.
            let _ = actor.join();
        }
        result
    }

    /// Makes everything acknowledged durable in the database and trims the WAL.
    ///
    /// # Errors
    /// Storage and I/O errors (which poison the store).
    pub fn checkpoint(&self) -> Result<()> {
        self.request(|reply| Command::Checkpoint { reply })
    }

    /// Removes content that no result refers to (values of overwritten or deleted results,
    /// orphan blob files and temp files of crashed sessions). With `dry_run`, only reports
    /// what it would free. Promises of collected content fail with
    /// [`Error::ContentCollected`].
    ///
    /// # Errors
    /// Storage and I/O errors.
    pub fn gc(&self, dry_run: bool) -> Result<GcReport> {
        self.request(|reply| Command::Gc { dry_run, reply })
    }

    fn request<V>(&self, make: impl FnOnce(Reply<Result<V>>) -> Command) -> Result<V> {
        let tx = self.inner.tx.as_ref().ok_or(Error::Closed)?;
        let (reply, answer) = reply::reply();
        tx.send(make(reply)).map_err(|_| Error::Closed)?;
        answer.recv().ok_or(Error::Closed)?
    }

    pub(crate) fn reader(&self) -> Result<Arc<Reader>> {
        self.inner.shared.snapshot()
    }

    /// What this handle shares with the actor (for statistics and verification).
    pub(crate) fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Result `name` of the exact run (no lookup rule), unloaded: what a write-open starts
    /// from. Also used by the server of `sweepstore serve` for remote write-opens.
    pub(crate) fn load_exact(&self, run: &RunId, name: &ResultName) -> Result<Option<Promise>> {
        let reader = self.reader()?;
        let entry = ops::get_result(reader.results()?, &run.key(), name.as_str())?;
        Ok(entry.map(|entry| self.promise(&entry)))
    }

    /// Where this store's promises read content, by hash (the server of `sweepstore serve`
    /// serves content reads of remote promises through it).
    pub(crate) fn content_source(&self) -> &Arc<dyn ContentSource> {
        &self.inner.content
    }

    fn promise(&self, entry: &ResultEntry) -> Promise {
        Promise::new(
            entry.hash,
            entry.type_name.clone(),
            entry.size,
            self.inner.content.clone(),
            self.inner.shared.types.clone(),
        )
    }

    fn send_save(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        content: Content,
        how: How<'_>,
    ) -> Result<()> {
        self.request(|reply| Command::Save {
            run: run.clone(),
            name: name.clone(),
            type_name: type_name.to_owned(),
            content,
            exclusive: how.exclusive,
            sub_dir: how.sub_dir.cloned(),
            reply,
        })
    }

    fn blob_writer(&self) -> Result<BlobWriter> {
        let shared = &self.inner.shared;
        BlobWriter::create(shared.fs.clone(), &shared.layout)
    }

    /// Makes a finished temp file durable as `blobs/<fan>/<hash>` (or drops it if that blob
    /// exists already). The caller holds a pin on the hash.
    fn publish_blob(&self, finished: Finished) -> Result<()> {
        let shared = &self.inner.shared;
        let fs = shared.fs.as_ref();
        let dest = shared.layout.path(&finished.hash);
        if fs.exists(&dest) {
            finished.discard(fs);
            return Ok(());
        }
        let fan = shared.layout.fan_dir(&finished.hash);
        if !fs.exists(&fan) {
            fs.create_dir_all(&fan)
                .map_err(|e| Error::io("create directory", &fan, e))?;
            let blobs = shared.layout.blobs_dir();
            // IMPORTANT: the new fan-out directory's entry must be durable too.
            fs.sync_dir(blobs)
                .map_err(|e| Error::io("sync directory", blobs, e))?;
        }
        durable::publish(fs, finished.file, &finished.path, &dest)
    }

    fn save_bytes_inner(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        bytes: &[u8],
        sub_dir: Option<&SubDir>,
    ) -> Result<()> {
        let how = How {
            exclusive: false,
            sub_dir,
        };
        if bytes.len() <= self.inner.shared.options.inline_limit {
            let content = Content::Inline {
                hash: ContentHash::of(bytes),
                bytes: bytes.to_vec(),
            };
            return self.send_save(run, name, type_name, content, how);
        }
        let mut writer = self.blob_writer()?;
        let path = writer.path().to_owned();
        writer
            .write_all(bytes)
            .map_err(|e| Error::io("write temporary file", &path, e))?;
        let finished = writer.finish()?;
        self.save_finished(run, name, type_name, finished, how)
    }

    fn run_dir(&self, task: &str, counter: u64) -> PathBuf {
        self.inner
            .shared
            .root
            .join("runs")
            .join(task)
            .join(sweep_counter(counter))
    }
}

impl ResultsStore for RedbStore {
    fn types(&self) -> &TypeRegistry {
        &self.inner.shared.types
    }

    fn save_bytes(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        bytes: &[u8],
        options: &SaveOptions,
    ) -> Result<()> {
        self.types().accept(type_name, bytes)?;
        self.save_bytes_inner(run, name, type_name, bytes, options.sub_dir.as_ref())
    }

    fn load_lazy(&self, run: &RunId, name: &ResultName) -> Result<Option<Promise>> {
        let entry = self.reader()?.lookup_result(run, name)?;
        Ok(entry.map(|e| self.promise(&e)))
    }

    /// One read transaction for lookup, entry and inline content (blobs are read from
    /// their file).
    fn load_bytes(&self, run: &RunId, name: &ResultName) -> Result<Option<(String, Vec<u8>)>> {
        let found = {
            let reader = self.reader()?;
            match reader.lookup_result(run, name)? {
                None => None,
                Some(entry) => match reader.content(&entry.hash)? {
                    Some(ContentRow::Inline(bytes)) => Some((entry, Some(bytes))),
                    Some(ContentRow::Blob(_)) => Some((entry, None)),
                    None => {
                        return Err(Error::ContentCollected {
                            hash: entry.hash.to_hex(),
                        });
                    }
                },
            }
        };
        match found {
            None => Ok(None),
            Some((entry, Some(bytes))) => {
                check_hash(entry.hash, ContentHash::of(&bytes), || {
                    self.inner.content.location(&entry.hash)
                })?;
                Ok(Some((entry.type_name, bytes)))
            }
            Some((entry, None)) => {
                let bytes = self.promise(&entry).bytes()?;
                Ok(Some((entry.type_name, bytes)))
            }
        }
    }

    fn delete(&self, run: &RunId, name: &ResultName) -> Result<bool> {
        self.request(|reply| Command::Delete {
            run: run.clone(),
            name: name.clone(),
            reply,
        })
    }

    fn delete_run(&self, run: &RunId) -> Result<bool> {
        let deleted = self.request(|reply| Command::DeleteRun {
            run: run.clone(),
            reply,
        })?;
        let Some((task, counter)) = deleted else {
            return Ok(false);
        };
        let dir = self.run_dir(&task, counter);
        let fs = &self.inner.shared.fs;
        if fs.exists(&dir)
            && let Err(e) = fs.remove_dir_all(&dir)
        {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove a deleted run's directory");
        }
        Ok(true)
    }

    fn get_context(&self, run: &RunId) -> Result<StoreContext> {
        let counter = self.request(|reply| Command::Context {
            run: run.clone(),
            reply,
        })?;
        let dir = self.run_dir(run.task().as_str(), counter);
        self.inner
            .shared
            .fs
            .create_dir_all(&dir)
            .map_err(|e| Error::io("create run directory", &dir, e))?;
        Ok(StoreContext {
            run_dir: Some(dir),
            sweep_counter: Some(sweep_counter(counter)),
        })
    }

    fn get_results(&self, run: &RunId) -> Result<Option<BTreeMap<ResultName, Promise>>> {
        let found = {
            let reader = self.reader()?;
            match reader.lookup(run)? {
                Some(key) => Some((key, ops::run_results(reader.results()?, &key)?)),
                None => None,
            }
        };
        let Some((key, entries)) = found else {
            return Ok(None);
        };
        let mut results = BTreeMap::new();
        for (name, entry) in entries {
            let name = ResultName::new(&name).map_err(|e| Error::CorruptRecord {
                what: format!("result name in run {key}"),
                reason: e.to_string(),
            })?;
            results.insert(name, self.promise(&entry));
        }
        Ok(Some(results))
    }

    fn run_state(&self, run: &RunId) -> Result<Option<RunState>> {
        Ok(self.reader()?.lookup_run(run)?.map(|record| record.state))
    }

    fn set_run_state(&self, run: &RunId, state: RunState) -> Result<()> {
        self.request(|reply| Command::SetState {
            run: run.clone(),
            state,
            reply,
        })
    }

    fn claim_run(
        &self,
        run: &RunId,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<crate::claim::ClaimOutcome> {
        crate::claim::check_owner(owner)?;
        self.request(|reply| Command::Claim {
            run: run.clone(),
            owner: owner.to_owned(),
            lease,
            reply,
        })
    }

    fn open(
        &self,
        run: &RunId,
        name: &ResultName,
        mode: OpenMode,
        type_name: Option<&str>,
        options: &SaveOptions,
    ) -> Result<File> {
        open_staged(self, run, name, mode, type_name, options.sub_dir.as_ref())
    }

    fn set_tree_details(
        &self,
        run: &RunId,
        dir_name: Option<&RunName>,
        stateless: bool,
    ) -> Result<()> {
        self.request(|reply| Command::Tree {
            run: run.clone(),
            dir_name: dir_name.cloned(),
            stateless,
            reply,
        })
    }

    fn lazy_sweep(&self, task: &TaskName, name: &ResultName) -> Result<LazySweeps> {
        let reader = self.reader()?;
        let (results, runs) = (reader.results()?, reader.runs()?);
        let mut sweeps = Vec::new();
        for (_, key) in ops::task_runs(reader.task_runs()?, task.as_str())? {
            let Some(entry) = ops::get_result(results, &key, name.as_str())? else {
                continue;
            };
            if let Some(record) = ops::get_run(runs, &key)? {
                // A run whose config cannot be read fails alone, as its item.
                let config = ops::parse_config(&key, &record.config);
                sweeps.push(config.map(|config| LazySweep {
                    value: self.promise(&entry),
                    config,
                }));
            }
        }
        Ok(LazySweeps::new(sweeps.into_iter()))
    }
}

impl PublishStaged for RedbStore {
    /// Saves finished temp-file content: inline if small, else published as a blob first.
    fn save_finished(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        mut finished: Finished,
        how: How<'_>,
    ) -> Result<()> {
        let shared = &self.inner.shared;
        if finished.size <= shared.options.inline_limit as u64 {
            let mut bytes = Vec::new();
            let io_err = |e| Error::io("read temporary file", &finished.path, e);
            finished.file.seek(SeekFrom::Start(0)).map_err(io_err)?;
            finished.file.read_to_end(&mut bytes).map_err(io_err)?;
            let hash = finished.hash;
            finished.discard(shared.fs.as_ref());
            let content = Content::Inline { hash, bytes };
            return self.send_save(run, name, type_name, content, how);
        }
        let hash = finished.hash;
        let size = finished.size;
        // The pin keeps gc away from this blob until the save referring to it is answered.
        let _pin = shared.pin(hash);
        self.publish_blob(finished)?;
        self.send_save(run, name, type_name, Content::Blob { hash, size }, how)
    }

    fn staging_writer(&self) -> Result<BlobWriter> {
        self.blob_writer()
    }

    fn stored_exact(&self, run: &RunId, name: &ResultName) -> Result<Option<Promise>> {
        self.load_exact(run, name)
    }
}
