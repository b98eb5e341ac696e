//! The `meta` table's rows: the format version, checked at open, and the WAL position,
//! written by every commit that applies logged ops and by every checkpoint.
//!
//! Invariants: `applied_lsn` is written in the same transaction as the ops it covers, so
//! the database never claims a record it does not hold; `wal_head` is written only by a
//! checkpoint (a `Durability::Immediate` commit) and names a segment that was synced before
//! that commit; a store whose `format` is not [`FORMAT_VERSION`] is refused before anything
//! is replayed or written.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{ReadableTable, WriteTransaction};

use crate::engine::tables::{
    FORMAT_VERSION, META_APPLIED_LSN, META_CHECKPOINT_AT, META_FORMAT, META_WAL_HEAD, WriteTables,
    open_meta,
};
use crate::error::{Error, Result};

/// Where the last checkpoint left the log.
pub(crate) struct WalPosition {
    pub(crate) applied: u64,
    pub(crate) head: Option<u64>,
}

/// Creates the tables if needed, checks the format version, and returns the WAL position.
pub(crate) fn check_format(db: &redb::Database, root: &Path) -> Result<WalPosition> {
    let txn = db
        .begin_write()
        .map_err(|e| Error::storage("begin a write transaction", e))?;
    let applied = {
        let mut meta = open_meta(&txn)?;
        // Creates every table a store has (`claims` too, in a store made before it existed).
        drop(WriteTables::open(&txn)?);
        let read = |e: redb::StorageError| Error::storage("read the format version", e);
        let format = meta.get(META_FORMAT).map_err(read)?.map(|v| v.value());
        match format {
            Some(FORMAT_VERSION) => {}
            Some(found) => {
                return Err(Error::UnsupportedFormat {
                    path: root.to_owned(),
                    found: u32::try_from(found).unwrap_or(u32::MAX),
                    supported: FORMAT_VERSION as u32,
                });
            }
            None => {
                meta.insert(META_FORMAT, FORMAT_VERSION)
                    .map_err(|e| Error::storage("write the format version", e))?;
            }
        }
        let applied = meta.get(META_APPLIED_LSN).map_err(read)?;
        let head = meta.get(META_WAL_HEAD).map_err(read)?;
        WalPosition {
            applied: applied.map_or(0, |v| v.value()),
            head: head.map(|v| v.value()),
        }
    };
    txn.commit().map_err(|e| Error::storage("commit", e))?;
    Ok(applied)
}

/// Records `lsn` as applied in `txn`, and, for a checkpoint, the newest WAL segment.
pub(crate) fn set_applied_lsn(txn: &WriteTransaction, lsn: u64, head: Option<u64>) -> Result<()> {
    let mut meta = open_meta(txn)?;
    meta.insert(META_APPLIED_LSN, lsn)
        .map_err(|e| Error::storage("write the applied LSN", e))?;
    if let Some(head) = head {
        meta.insert(META_WAL_HEAD, head)
            .map_err(|e| Error::storage("write the WAL head", e))?;
        // A clock before 1970 records 0: the time is informational only.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        meta.insert(META_CHECKPOINT_AT, now)
            .map_err(|e| Error::storage("write the checkpoint time", e))?;
    }
    Ok(())
}
