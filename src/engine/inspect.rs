//! [`RedbStore::stats`]: what a store holds and how much space it takes, read from one redb
//! read transaction plus a listing of the WAL directory.
//!
//! Invariants: nothing here writes or waits for the actor; every count comes from the same
//! snapshot (the WAL figures are read just after it, so they may include records committed
//! since); logical bytes count every result's size, stored bytes every distinct content's
//! once, so their ratio is the deduplication factor.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use crate::engine::browse::task_counts;
use crate::engine::handle::RedbStore;
use crate::engine::ops::{ContentRow, decode_content};
use crate::engine::shared::Shared;
use crate::engine::tables::{
    CONTENT, META, META_CHECKPOINT_AT, META_WAL_HEAD, RESULTS, RUNS, ResultEntry, TASK_RUNS,
};
use crate::error::{Error, Result};
use crate::key::{ContentHash, RunKey};
use crate::wal;

/// What a [`RedbStore`] holds, from [`RedbStore::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Tasks with at least one run.
    pub tasks: u64,
    /// Runs.
    pub runs: u64,
    /// Results (named values) over all runs.
    pub results: u64,
    /// Distinct stored contents (values are stored once per content hash).
    pub distinct_contents: u64,
    /// Sum of the results' sizes, each reference counted.
    pub logical_bytes: u64,
    /// Sum of the distinct contents' sizes (including content gc would free).
    pub stored_bytes: u64,
    /// Size of the write-ahead log's segment files.
    pub wal_bytes: u64,
    /// Number of WAL segment files.
    pub wal_segments: u64,
    /// The last WAL record the last checkpoint made durable in the database (0: none yet).
    pub last_checkpoint_lsn: u64,
    /// When the last checkpoint committed, if the store recorded it.
    pub last_checkpoint_at: Option<SystemTime>,
}

fn scan(op: &'static str) -> impl Fn(redb::StorageError) -> Error {
    move |e| Error::storage(op, e)
}

/// Opens a table of `txn`.
pub(crate) fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    def: redb::TableDefinition<K, V>,
) -> Result<redb::ReadOnlyTable<K, V>> {
    txn.open_table(def)
        .map_err(|e| Error::storage("open a table", e))
}

/// Begins a read transaction on the store's database.
pub(crate) fn begin(shared: &Shared) -> Result<ReadTransaction> {
    shared
        .db
        .begin_read()
        .map_err(|e| Error::storage("begin a read transaction", e))
}

/// The size a content row stands for.
pub(crate) fn content_size(row: &ContentRow) -> u64 {
    match row {
        ContentRow::Inline(bytes) => bytes.len() as u64,
        ContentRow::Blob(size) => *size,
    }
}

/// (segments, bytes) of the WAL; a segment removed while listing counts as absent.
fn wal_size(shared: &Shared) -> Result<(u64, u64)> {
    let dir = shared.root.join("wal");
    let (mut count, mut bytes) = (0, 0);
    for (_, path) in wal::segments(shared.fs.as_ref(), &dir)? {
        match shared.fs.file_len(&path) {
            Ok(len) => {
                count += 1;
                bytes += len;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("inspect WAL segment", &path, e)),
        }
    }
    Ok((count, bytes))
}

impl RedbStore {
    /// Counts what the store holds: tasks, runs, results, distinct contents, logical versus
    /// stored bytes, the WAL's size and the last checkpoint. Reads one snapshot; does not
    /// wait for writers.
    ///
    /// # Errors
    /// [`Error::CorruptRecord`] for a damaged row; storage and I/O errors.
    pub fn stats(&self) -> Result<StoreStats> {
        let shared = self.shared();
        let txn = begin(shared)?;
        let tasks = task_counts(&table(&txn, TASK_RUNS)?)?.len() as u64;
        let runs = table(&txn, RUNS)?.len().map_err(scan("count the runs"))?;
        let (mut results, mut logical_bytes) = (0, 0);
        for row in table(&txn, RESULTS)?
            .iter()
            .map_err(scan("scan the results"))?
        {
            let (k, v) = row.map_err(scan("scan the results"))?;
            let (run, name) = k.value();
            let entry = ResultEntry::decode(&RunKey::from_bytes(*run), name, v.value())?;
            results += 1;
            logical_bytes += entry.size;
        }
        let (mut distinct_contents, mut stored_bytes) = (0, 0);
        for row in table(&txn, CONTENT)?
            .iter()
            .map_err(scan("scan the content"))?
        {
            let (k, v) = row.map_err(scan("scan the content"))?;
            let content = decode_content(&ContentHash::from_bytes(*k.value()), v.value())?;
            distinct_contents += 1;
            stored_bytes += content_size(&content);
        }
        let meta = table(&txn, META)?;
        let read_meta = scan("read the checkpoint position");
        let head = meta.get(META_WAL_HEAD).map_err(&read_meta)?;
        let last_checkpoint_lsn = head.map_or(0, |h| h.value().saturating_sub(1));
        let at = meta.get(META_CHECKPOINT_AT).map_err(&read_meta)?;
        let last_checkpoint_at = at.map(|secs| UNIX_EPOCH + Duration::from_secs(secs.value()));
        let (wal_segments, wal_bytes) = wal_size(shared)?;
        Ok(StoreStats {
            tasks,
            runs,
            results,
            distinct_contents,
            logical_bytes,
            stored_bytes,
            wal_bytes,
            wal_segments,
            last_checkpoint_lsn,
            last_checkpoint_at,
        })
    }
}
