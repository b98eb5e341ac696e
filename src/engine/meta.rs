//! The `meta` table's rows: the format version, checked at open, and the WAL position,
//! written by every commit that applies logged ops and by every checkpoint.
//!
//! Invariants: `applied_lsn` is written in the same transaction as the ops it covers, so
//! the database never claims a record it does not hold; `wal_head` is written only by a
//! checkpoint (a `Durability::Immediate` commit) and names a segment that was synced before
//! that commit; a store whose `format` is not [`FORMAT_VERSION`] is refused before anything
//! is replayed or written. Checking the format writes nothing when the store already has its
//! format row and every table (an ordinary reopen), so it costs no commit and no sync.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{ReadableDatabase, ReadableTable, TableHandle, WriteTransaction};

use crate::engine::tables::{
    FORMAT_VERSION, META, META_APPLIED_LSN, META_CHECKPOINT_AT, META_FORMAT, META_WAL_HEAD,
    TABLE_NAMES, WriteTables, open_meta,
};
use crate::error::{Error, Result};

/// Where the last checkpoint left the log.
pub(crate) struct WalPosition {
    pub(crate) applied: u64,
    pub(crate) head: Option<u64>,
}

/// Creates the tables if needed, checks the format version, and returns the WAL position.
pub(crate) fn check_format(db: &redb::Database, root: &Path) -> Result<WalPosition> {
    if let Some(position) = read_position(db, root)? {
        return Ok(position);
    }
    let txn = db
        .begin_write()
        .map_err(|e| Error::storage("begin a write transaction", e))?;
    let position = {
        let mut meta = open_meta(&txn)?;
        // Creates every table a store has (`claims` too, in a store made before it existed).
        drop(WriteTables::open(&txn)?);
        let format = meta
            .get(META_FORMAT)
            .map_err(read_error)?
            .map(|v| v.value());
        if !supported(format, root)? {
            meta.insert(META_FORMAT, FORMAT_VERSION)
                .map_err(|e| Error::storage("write the format version", e))?;
        }
        position_of(|key| Ok(meta.get(key).map_err(read_error)?.map(|v| v.value())))?
    };
    txn.commit().map_err(|e| Error::storage("commit", e))?;
    Ok(position)
}

fn read_error(e: redb::StorageError) -> Error {
    Error::storage("read the format version", e)
}

/// The WAL position, read without writing, when the store has its format row and every
/// table; `None` when [`check_format`] must create some.
fn read_position(db: &redb::Database, root: &Path) -> Result<Option<WalPosition>> {
    let txn = db
        .begin_read()
        .map_err(|e| Error::storage("begin a read transaction", e))?;
    let present: Vec<String> = txn
        .list_tables()
        .map_err(|e| Error::storage("list the tables", e))?
        .map(|t| t.name().to_owned())
        .collect();
    if !TABLE_NAMES.iter().all(|n| present.iter().any(|p| p == n)) {
        return Ok(None);
    }
    let meta = txn
        .open_table(META)
        .map_err(|e| Error::storage("open a table", e))?;
    let format = meta
        .get(META_FORMAT)
        .map_err(read_error)?
        .map(|v| v.value());
    if !supported(format, root)? {
        return Ok(None);
    }
    position_of(|key| Ok(meta.get(key).map_err(read_error)?.map(|v| v.value()))).map(Some)
}

/// Whether the store has this build's format row (`false`: none yet, a new store).
///
/// # Errors
/// [`Error::UnsupportedFormat`] for any other version.
fn supported(format: Option<u64>, root: &Path) -> Result<bool> {
    match format {
        Some(FORMAT_VERSION) => Ok(true),
        Some(found) => Err(Error::UnsupportedFormat {
            path: root.to_owned(),
            found: u32::try_from(found).unwrap_or(u32::MAX),
            supported: FORMAT_VERSION as u32,
        }),
        None => Ok(false),
    }
}

fn position_of(get: impl Fn(&str) -> Result<Option<u64>>) -> Result<WalPosition> {
    Ok(WalPosition {
        applied: get(META_APPLIED_LSN)?.unwrap_or(0),
        head: get(META_WAL_HEAD)?,
    })
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
