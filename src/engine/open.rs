//! Opening a store: directory checks, the lock, the database, the format check and WAL
//! recovery.
//!
//! Recovery protocol: check that the segment the last checkpoint named as the WAL head
//! exists; replay every WAL record after the database's `applied_lsn` into one write
//! transaction; start a new, synced segment after the last record; commit the transaction
//! with `Durability::Immediate` (a checkpoint naming the new segment as head); then remove
//! the older segments. A crash anywhere in between leaves the previous checkpoint and the
//! log intact, so recovery simply runs again.

use std::hash::{BuildHasher, RandomState};
use std::path::Path;
use std::sync::Arc;

use redb::Durability as RedbDurability;

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

/// Replays the WAL after the checkpoint, checkpoints, and returns the writer of a new
/// segment.
fn recover(shared: &Shared, position: &WalPosition) -> Result<WalWriter> {
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
    let recovered = {
        let mut tables = WriteTables::open(&txn)?;
        wal::replay(shared.fs.as_ref(), &wal_dir, applied, |lsn, payload| {
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
    // A segment named for the next LSN can only be one that never got a record; `create`
    // replaces it atomically (never deleting it first: the checkpoint may name it as head).
    let relaxed = shared.options.durability != Durability::Immediate;
    let wal = WalWriter::create(shared.fs.clone(), &wal_dir, recovered.next_lsn, relaxed)?;
    set_applied_lsn(&txn, recovered.next_lsn - 1, Some(recovered.next_lsn))?;
    let mut txn = txn;
    txn.set_durability(RedbDurability::Immediate)
        .map_err(|e| Error::storage("set durability", e))?;
    txn.commit()
        .map_err(|e| Error::storage("commit recovery", e))?;
    if recovered.replayed > 0 || recovered.torn_tail.is_some() {
        tracing::info!(
            store = %shared.root.display(),
            replayed = recovered.replayed,
            torn_tail = recovered.torn_tail.is_some(),
            "recovered from the write-ahead log"
        );
    }
    // Everything is in the checkpoint now: the old segments are no longer needed.
    wal.remove_older_segments();
    Ok(wal)
}

/// Opens (or creates) the store at `root` and recovers it.
pub(crate) fn open(
    root: &Path,
    options: RedbOptions,
    fs: Arc<dyn Fs>,
    types: TypeRegistry,
) -> Result<(Arc<Shared>, WalWriter)> {
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
    let wal = recover(&shared, &position)?;
    Ok((shared, wal))
}
