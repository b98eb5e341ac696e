//! Opening a store: directory checks, the lock, the database, the format check and WAL
//! recovery.
//!
//! Recovery protocol: check that the segment the last checkpoint named as the WAL head
//! exists; replay every WAL record after the database's `applied_lsn` into one write
//! transaction. Then one of three endings:
//! - nothing replayed and the newest segment fits this open's durability mode (a clean
//!   reopen): continue that segment; nothing is committed, written or synced;
//! - records replayed: sync the newest segment (the only one that can hold unsynced
//!   records), continue it (or start a new one), and commit `applied_lsn` with
//!   `Durability::None`, like a batch (`docs/design.md` §10.1): no segment is removed, the
//!   actor starts dirty and its first checkpoint (by size, by time, or at close) makes the
//!   replay durable;
//! - nothing replayed and no segment to continue (a new store, another durability mode):
//!   start a new, synced segment, commit a checkpoint naming it (`Durability::Immediate`),
//!   remove the older segments.
//!
//! A crash anywhere in between leaves the previous checkpoint and every record after it in
//! the log, so recovery simply runs again.

use std::hash::{BuildHasher, RandomState};
use std::path::Path;
use std::sync::Arc;

use redb::{Durability as RedbDurability, WriteTransaction};

use crate::blob::BlobLayout;
use crate::codec::TypeRegistry;
use crate::engine::meta::{WalPosition, check_format, set_applied_lsn};
use crate::engine::ops;
use crate::engine::options::{Durability, RedbOptions};
use crate::engine::record::{self, WalOp};
use crate::engine::shared::Shared;
use crate::engine::tables::WriteTables;
use crate::error::{Error, Result};
use crate::vfs::Fs;
use crate::wal::{self, WalWriter, segment_path};

/// The database file inside a store directory.
pub(crate) const DB_FILE: &str = "store.redb";

/// Where a new database is initialized before it is renamed to [`DB_FILE`].
const DB_TMP_FILE: &str = "store.redb.tmp";

/// Every name a store directory may hold.
const STORE_ENTRIES: [&str; 7] = ["LOCK", DB_FILE, DB_TMP_FILE, "wal", "blobs", "tmp", "runs"];

fn not_a_store(path: &Path, reason: &str) -> Error {
    Error::NotAStore {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Checks that `root` is a store or a place for a new one, and creates its directories.
fn prepare_dirs(fs: &dyn Fs, root: &Path) -> Result<()> {
    if fs.is_file(root) {
        return Err(Error::file_not_a_store(root));
    }
    if fs.exists(root) && !fs.exists(&root.join(DB_FILE)) {
        let entries = fs
            .read_dir(root)
            .map_err(|e| Error::io("list directory", root, e))?;
        // A crash while a store was being created leaves some of its own entries behind;
        // anything else means the directory belongs to someone else.
        let foreign = entries.iter().any(|entry| {
            let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !STORE_ENTRIES.contains(&name)
        });
        if foreign {
            return Err(not_a_store(
                root,
                "the directory is not empty and holds no store.redb; give a new or empty directory",
            ));
        }
    }
    let fresh = !fs.exists(&root.join("wal"));
    for dir in [
        root.to_owned(),
        root.join("wal"),
        root.join("blobs"),
        root.join("tmp"),
    ] {
        fs.create_dir_all(&dir)
            .map_err(|e| Error::io("create directory", &dir, e))?;
    }
    if fresh {
        // IMPORTANT: a new store's directories must survive power loss like its files.
        let parent = root.parent().filter(|p| !p.as_os_str().is_empty());
        for dir in parent.into_iter().chain([root]) {
            fs.sync_dir(dir)
                .map_err(|e| Error::io("sync directory", dir, e))?;
        }
    }
    Ok(())
}

/// Creates the database so that `store.redb` only ever exists complete and durable:
/// initialize it under a temporary name (its tables and format version committed with
/// `Durability::Immediate`), rename it into place, and sync the directory. A crash before
/// the rename leaves a temporary file that the next open replaces.
fn create_database(fs: &dyn Fs, root: &Path) -> Result<()> {
    let tmp = root.join(DB_TMP_FILE);
    if fs.exists(&tmp) {
        fs.remove_file(&tmp)
            .map_err(|e| Error::io("remove unfinished database", &tmp, e))?;
    }
    let db = fs.open_database(&tmp, false)?;
    check_format(&db, root)?;
    drop(db);
    let dest = root.join(DB_FILE);
    fs.rename(&tmp, &dest)
        .map_err(|e| Error::io("rename into place", &dest, e))?;
    // IMPORTANT: without this the database file itself may vanish on power loss.
    fs.sync_dir(root)
        .map_err(|e| Error::io("sync directory", root, e))
}

/// Replays the WAL after the checkpoint and returns the writer the actor continues with and
/// the WAL bytes it replayed (applied to redb, not yet covered by a checkpoint).
fn recover(shared: &Shared, position: &WalPosition) -> Result<(WalWriter, u64)> {
    let wal_dir = shared.root.join("wal");
    let applied = position.applied;
    if let Some(head) = position.head {
        let path = segment_path(&wal_dir, head);
        if !shared.fs.exists(&path) {
            return Err(Error::WalCorrupt {
                path,
                offset: 0,
                reason: format!(
                    "the WAL segment starting at record {head} is missing, so saves acknowledged \
                     after the last checkpoint may be lost"
                ),
            });
        }
    }
    let txn = shared
        .db
        .begin_write()
        .map_err(|e| Error::storage("begin recovery", e))?;
    let mut replayed_bytes = 0;
    let recovered = {
        let mut tables = WriteTables::open(&txn)?;
        wal::replay(shared.fs.as_ref(), &wal_dir, applied, |lsn, payload| {
            replayed_bytes += payload.len() as u64;
            let (op, inline) = record::decode(lsn, payload)?;
            if let WalOp::Put {
                hash,
                inline: false,
                ..
            } = op.inner()
            {
                let path = shared.layout.path(hash);
                if !shared.fs.exists(&path) {
                    return Err(Error::CorruptRecord {
                        what: format!("WAL record {lsn}"),
                        reason: format!("it refers to blob {} which is missing", path.display()),
                    });
                }
            }
            ops::apply(&mut tables, &op, inline)
        })?
    };
    if recovered.replayed > 0 || recovered.torn_tail.is_some() {
        tracing::info!(
            store = %shared.root.display(),
            replayed = recovered.replayed,
            torn_tail = recovered.torn_tail.is_some(),
            "recovered from the write-ahead log"
        );
    }
    let relaxed = shared.options.durability != Durability::Immediate;
    let newest = wal::segments(shared.fs.as_ref(), &wal_dir)?
        .last()
        .map(|s| s.0);
    let resumed = match newest {
        Some(first) => WalWriter::resume(
            shared.fs.clone(),
            &wal_dir,
            first,
            recovered.next_lsn,
            relaxed,
        )?,
        None => None,
    };
    match (recovered.replayed, resumed) {
        // A clean reopen: nothing to apply, and the newest segment takes the next records.
        (0, Some(wal)) => Ok((wal, 0)),
        (0, None) => Ok((
            checkpoint_into_new_segment(shared, txn, recovered.next_lsn)?,
            0,
        )),
        (_, resumed) => {
            // IMPORTANT: the replayed records become visible when the open returns, so they
            // must be durable first: only the newest segment can hold unsynced ones.
            let wal = match (resumed, newest) {
                (Some(mut wal), _) => {
                    wal.sync()?;
                    wal
                }
                (None, newest) => {
                    if let Some(first) = newest {
                        sync_segment(shared, &segment_path(&wal_dir, first))?;
                    }
                    let fs = shared.fs.clone();
                    WalWriter::create(fs, &wal_dir, recovered.next_lsn, relaxed)?
                }
            };
            // Not a checkpoint: the log keeps every replayed record until the actor's first
            // checkpoint makes redb durable, as after any batch (§10.1), so this commit
            // needs no sync; a crash before then replays them again.
            set_applied_lsn(&txn, recovered.next_lsn - 1, None)?;
            let mut txn = txn;
            txn.set_durability(RedbDurability::None)
                .map_err(|e| Error::storage("set durability", e))?;
            txn.commit()
                .map_err(|e| Error::storage("commit recovery", e))?;
            Ok((wal, replayed_bytes))
        }
    }
}

/// Starts a new segment at `next_lsn` and commits `txn` as a checkpoint naming it the WAL
/// head, then removes the older segments.
fn checkpoint_into_new_segment(
    shared: &Shared,
    txn: WriteTransaction,
    next_lsn: u64,
) -> Result<WalWriter> {
    let wal_dir = shared.root.join("wal");
    // A segment named for the next LSN can only be one that never got a record; `create`
    // replaces it atomically (never deleting it first: the checkpoint may name it as head).
    let relaxed = shared.options.durability != Durability::Immediate;
    let wal = WalWriter::create(shared.fs.clone(), &wal_dir, next_lsn, relaxed)?;
    set_applied_lsn(&txn, next_lsn - 1, Some(next_lsn))?;
    let mut txn = txn;
    txn.set_durability(RedbDurability::Immediate)
        .map_err(|e| Error::storage("set durability", e))?;
    txn.commit()
        .map_err(|e| Error::storage("commit recovery", e))?;
    // Everything is in the checkpoint now: the old segments are no longer needed.
    wal.remove_older_segments();
    Ok(wal)
}

/// Syncs a segment another process wrote (its last batch may not have been synced).
fn sync_segment(shared: &Shared, path: &Path) -> Result<()> {
    let io = |e| Error::io("sync WAL segment", path, e);
    shared.fs.open_rw(path).map_err(io)?.sync_data().map_err(io)
}

/// Opens (or creates) the store at `root` and recovers it; also returns the WAL bytes
/// replayed into redb and not yet checkpointed (the actor's first checkpoint covers them).
pub(crate) fn open(
    root: &Path,
    options: RedbOptions,
    fs: Arc<dyn Fs>,
    types: TypeRegistry,
) -> Result<(Arc<Shared>, WalWriter, u64)> {
    prepare_dirs(fs.as_ref(), root)?;
    let root = fs
        .canonicalize(root)
        .map_err(|e| Error::io("resolve path", root, e))?;
    let lock = fs.lock_store(&root)?;
    let db_path = root.join(DB_FILE);
    if !fs.exists(&db_path) {
        create_database(fs.as_ref(), &root)?;
    }
    let db = fs.open_database(&db_path, options.check_integrity)?;
    let position = check_format(&db, &root)?;
    let session = format!("{:016x}", RandomState::new().hash_one(std::process::id()));
    let layout = BlobLayout::new(&root, session);
    let shared = Arc::new(Shared::new(
        root.clone(),
        db,
        fs.clone(),
        layout,
        types,
        options,
        lock,
    ));
    let (wal, replayed_bytes) = recover(&shared, &position)?;
    Ok((shared, wal, replayed_bytes))
}
