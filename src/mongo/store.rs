//! The [`MongoStore`] handle and its [`ResultsStore`] implementation.
//!
//! Invariants: every clone shares one driver client (see `client.rs`); a method returns `Ok`
//! only after the server acknowledged its write, so read-your-writes holds across threads,
//! processes and machines using the same server; content is uploaded (and complete) before
//! the run document refers to it; promises hold either their inline bytes or the content
//! hash, never the result name, so they survive overwrites (until a gc collects content
//! no run refers to, after its grace period: §15.9).

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::sync::Arc;

use mongodb::bson::doc;

use crate::blob::BlobWriter;
use crate::blob::writer::Finished;
use crate::claim::ClaimOutcome;
use crate::codec::TypeRegistry;
use crate::error::{Error, Result};
use crate::file::staged::{How, PublishStaged, open_staged};
use crate::file::{File, OpenMode};
use crate::key::ContentHash;
use crate::mongo::claims;
use crate::mongo::client::{self, Create, Shared};
use crate::mongo::content::{GridFsContent, InlineContent, Rewind, upload};
use crate::mongo::content_state::secure;
use crate::mongo::counters::raise_next;
use crate::mongo::documents::{
    Entry, Results, finished_field, parse_run, projection, result_field, state_name,
};
use crate::mongo::lookup::{exact, lookup};
use crate::mongo::options::MongoOptions;
use crate::mongo::runs::{Written, ensure_run, write_run};
use crate::names::{ResultName, TaskName};
use crate::promise::{ContentSource, LazySweep, LazySweeps, Promise};
use crate::run::{RunId, RunState, SaveOptions, StoreContext, describe_result, sweep_counter};
use crate::store::ResultsStore;

/// A results store in a MongoDB database, shared by every process and machine that
/// connects to it (fluidml's `MongoDBStore`). Feature `mongodb`.
///
/// Runs are documents of one collection keyed by their run key; values of at most
/// [`MongoOptions::inline_limit`] bytes sit inside them, larger ones in GridFS under their
/// content hash (stored once). Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct MongoStore {
    pub(super) inner: Arc<Shared>,
}

impl std::fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStore")
            .field("namespace", &self.inner.namespace)
            .finish()
    }
}

impl MongoStore {
    /// Connects to the server at `uri` (a MongoDB connection string such as
    /// `mongodb://host:27017`) and uses collection `collection` of database `database`,
    /// with default options.
    ///
    /// # Errors
    /// As [`MongoStore::connect_with`].
    pub fn connect(uri: &str, database: &str, collection: &str) -> Result<Self> {
        Self::connect_with(uri, database, collection, MongoOptions::default())
    }

    /// Connects with `options`. Returns once the server answered and the store's indexes
    /// exist. Besides `collection`, the store uses `<collection>.counters` and the GridFS
    /// bucket `<collection>.content`.
    ///
    /// # Errors
    /// [`Error::MongoUnreachable`] if no server answers within
    /// [`MongoOptions::timeout`]; [`Error::Mongo`] for an invalid connection string, a
    /// rejected database or collection name, or failed authentication.
    pub fn connect_with(
        uri: &str,
        database: &str,
        collection: &str,
        options: MongoOptions,
    ) -> Result<Self> {
        let shared = client::connect(uri, database, collection, options, Create::Yes)?;
        Ok(MongoStore {
            inner: Arc::new(shared),
        })
    }

    /// Connects with `options` to a store that exists: like [`MongoStore::connect_with`],
    /// but fails instead of creating `collection` (so a misspelt name creates nothing; the
    /// command-line tool opens every store it only reads this way). Its indexes are made
    /// sure of as [`MongoStore::connect_with`] does (a no-op where this crate created it).
    ///
    /// # Errors
    /// [`Error::NotAStore`] if `database` has no collection `collection` (the error lists
    /// the collections it has); as [`MongoStore::connect_with`].
    pub fn connect_existing(
        uri: &str,
        database: &str,
        collection: &str,
        options: MongoOptions,
    ) -> Result<Self> {
        let shared = client::connect(uri, database, collection, options, Create::No)?;
        Ok(MongoStore {
            inner: Arc::new(shared),
        })
    }

    /// `database.collection` of the run documents.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// What every handle of this store shares.
    pub(crate) fn shared(&self) -> &Shared {
        &self.inner
    }

    pub(crate) fn promise(&self, entry: &Entry) -> Promise {
        let source: Arc<dyn ContentSource> = match &entry.inline {
            Some(bytes) => Arc::new(InlineContent {
                bytes: bytes.as_slice().into(),
                namespace: self.inner.namespace.clone(),
            }),
            None => Arc::new(GridFsContent(self.inner.clone())),
        };
        Promise::new(
            entry.hash,
            entry.type_name.clone(),
            entry.size,
            source,
            self.inner.types.clone(),
        )
    }

    /// Writes `entry` as result `name` of the exact run; with `exclusive`, only if the run
    /// has no result of that name. For content in GridFS, then makes sure no gc deletes it
    /// from under the new reference (uploading it again from `source` if one did, §15.9).
    fn set_result(
        &self,
        run: &RunId,
        name: &ResultName,
        entry: &Entry,
        exclusive: bool,
        source: &mut dyn Rewind,
    ) -> Result<()> {
        let field = result_field(name);
        let condition = exclusive.then(|| doc! { &field: { "$exists": false } });
        let set = doc! { &field: entry.to_document(name)? };
        if write_run(&self.inner, run, condition, set)? == Written::Rejected {
            return Err(Error::AlreadyExists {
                what: describe_result(run, name),
            });
        }
        if entry.inline.is_none() {
            let shared = &self.inner;
            secure(shared, &entry.hash, &mut || {
                upload(shared, &entry.hash, entry.size, source)
            })?;
        }
        Ok(())
    }

    /// Reads a finished temp file's content if it is small enough to be inline (`Some`),
    /// else uploads it to GridFS (`None`).
    fn stage(&self, finished: &mut Finished) -> Result<Option<Vec<u8>>> {
        let path = finished.path.clone();
        let io_err = |e| Error::io("read temporary file", &path, e);
        finished.file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        if finished.size <= self.inner.options.inline_limit as u64 {
            let mut bytes = Vec::new();
            finished.file.read_to_end(&mut bytes).map_err(io_err)?;
            return Ok(Some(bytes));
        }
        upload(
            &self.inner,
            &finished.hash,
            finished.size,
            &mut finished.file,
        )?;
        Ok(None)
    }
}

impl ResultsStore for MongoStore {
    fn types(&self) -> &TypeRegistry {
        &self.inner.types
    }

    fn save_bytes(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        bytes: &[u8],
        _options: &SaveOptions,
    ) -> Result<()> {
        self.types().accept(type_name, bytes)?;
        let hash = ContentHash::of(bytes);
        let size = bytes.len() as u64;
        let inline = if bytes.len() <= self.inner.options.inline_limit {
            Some(bytes.to_vec())
        } else {
            upload(&self.inner, &hash, size, &mut Cursor::new(bytes))?;
            None
        };
        let entry = Entry {
            type_name: type_name.to_owned(),
            hash,
            size,
            inline,
        };
        self.set_result(run, name, &entry, false, &mut Cursor::new(bytes))
    }

    fn load_lazy(&self, run: &RunId, name: &ResultName) -> Result<Option<Promise>> {
        let found = lookup(&self.inner, run, Results::One(name))?;
        Ok(found.and_then(|doc| doc.results.get(name).map(|entry| self.promise(entry))))
    }

    fn delete(&self, run: &RunId, name: &ResultName) -> Result<bool> {
        let Some(doc) = lookup(&self.inner, run, Results::One(name))? else {
            return Ok(false);
        };
        if !doc.results.contains_key(name) {
            return Ok(false);
        }
        let field = result_field(name);
        let updated = self
            .inner
            .runs
            .update_one(
                doc! { "_id": doc.key.to_hex(), &field: { "$exists": true } },
                doc! { "$unset": { &field: "" } },
            )
            .run()
            .map_err(self.inner.err("delete a result"))?;
        Ok(updated.modified_count == 1)
    }

    fn delete_run(&self, run: &RunId) -> Result<bool> {
        let Some(doc) = lookup(&self.inner, run, Results::None)? else {
            return Ok(false);
        };
        // Its counter must never be handed out again, even if its creator died before
        // raising the task's counter past it.
        raise_next(&self.inner, run.task(), doc.counter)?;
        let deleted = self
            .inner
            .runs
            .delete_one(doc! { "_id": doc.key.to_hex() })
            .run()
            .map_err(self.inner.err("delete a run document"))?;
        Ok(deleted.deleted_count == 1)
    }

    fn get_context(&self, run: &RunId) -> Result<StoreContext> {
        let counter = ensure_run(&self.inner, run)?;
        Ok(StoreContext {
            run_dir: None,
            sweep_counter: Some(sweep_counter(counter)),
        })
    }

    fn get_results(&self, run: &RunId) -> Result<Option<BTreeMap<ResultName, Promise>>> {
        let found = lookup(&self.inner, run, Results::All)?;
        Ok(found.map(|doc| {
            doc.results
                .iter()
                .map(|(name, entry)| (name.clone(), self.promise(entry)))
                .collect()
        }))
    }

    fn run_state(&self, run: &RunId) -> Result<Option<RunState>> {
        Ok(lookup(&self.inner, run, Results::None)?.map(|doc| doc.state))
    }

    fn set_run_state(&self, run: &RunId, state: RunState) -> Result<()> {
        // A state change releases any claim (§18.5) and sets or clears the finished time.
        let set = doc! {
            "state": state_name(state),
            "claim": mongodb::bson::Bson::Null,
            "finished": finished_field(state),
        };
        write_run(&self.inner, run, None, set)?;
        Ok(())
    }

    fn claim_run(
        &self,
        run: &RunId,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<ClaimOutcome> {
        claims::claim(&self.inner, run, owner, lease)
    }

    fn open(
        &self,
        run: &RunId,
        name: &ResultName,
        mode: OpenMode,
        type_name: Option<&str>,
        _options: &SaveOptions,
    ) -> Result<File> {
        // MongoStore keeps no sub_dir (its run documents have no place for one).
        open_staged(self, run, name, mode, type_name, None)
    }

    fn lazy_sweep(&self, task: &TaskName, name: &ResultName) -> Result<LazySweeps> {
        let shared = &self.inner;
        let filter = doc! { "task": task.as_str(), result_field(name): { "$exists": true } };
        let cursor = shared
            .runs
            .find(filter)
            .projection(projection(Results::One(name)))
            .sort(doc! { "counter": 1 })
            .run()
            .map_err(shared.err("query a sweep"))?;
        let mut sweeps = Vec::new();
        for doc in cursor {
            let doc = doc.map_err(shared.err("read a sweep"))?;
            let item = parse_run(&doc, &shared.namespace).and_then(|run| {
                let entry = run.results.get(name).ok_or_else(|| Error::CorruptRecord {
                    what: format!("run document {} in {}", run.key, shared.namespace),
                    reason: format!("result `{name}` vanished between query and read"),
                })?;
                Ok(LazySweep {
                    value: self.promise(entry),
                    config: run.config,
                })
            });
            sweeps.push(item);
        }
        Ok(LazySweeps::new(sweeps.into_iter()))
    }
}

impl PublishStaged for MongoStore {
    /// Saves the content of a finished temp file: inline if small, else uploaded first.
    fn save_finished(
        &self,
        run: &RunId,
        name: &ResultName,
        type_name: &str,
        mut finished: Finished,
        how: How<'_>,
    ) -> Result<()> {
        let saved = self.stage(&mut finished).and_then(|inline| {
            let entry = Entry {
                type_name: type_name.to_owned(),
                hash: finished.hash,
                size: finished.size,
                inline,
            };
            self.set_result(run, name, &entry, how.exclusive, &mut finished.file)
        });
        // The temp file has served its purpose either way.
        finished.discard(self.inner.fs.as_ref());
        saved
    }

    fn staging_writer(&self) -> Result<BlobWriter> {
        let shared = &self.inner;
        let tmp = shared.staging.tmp_dir();
        shared
            .fs
            .create_dir_all(tmp)
            .map_err(|e| Error::io("create directory", tmp, e))?;
        BlobWriter::create(shared.fs.clone(), &shared.staging)
    }

    fn stored_exact(&self, run: &RunId, name: &ResultName) -> Result<Option<Promise>> {
        Ok(exact(&self.inner, run, Results::One(name))?
            .and_then(|doc| doc.results.get(name).map(|entry| self.promise(entry))))
    }
}
