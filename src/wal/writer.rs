//! [`WalWriter`]: appends records to the newest segment; group commit writes a whole batch
//! with one `write` and one `sync_data`.
//!
//! Invariants: records are buffered by [`WalWriter::append`] and reach the file only in
//! [`WalWriter::write_batch`]; a segment is synced before the next one is started; a new
//! segment's header is synced and its directory entry made durable before any record is
//! written to it.

use std::hash::{BuildHasher, RandomState};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::vfs::{Fs, FsFile};
use crate::wal::frame::{SegmentHeader, encode_header, encode_record};

/// The extension of segment files: `wal/<first LSN, 20 digits>.wal`.
const SEGMENT_EXT: &str = "wal";
/// The extension of a segment being created (renamed to `.wal` once its header is synced).
const TMP_EXT: &str = "tmp";

/// The path of the segment whose first record is `first_lsn`.
pub(crate) fn segment_path(dir: &Path, first_lsn: u64) -> PathBuf {
    dir.join(format!("{first_lsn:020}.{SEGMENT_EXT}"))
}

/// A fresh random salt: OS-seeded hasher keys mixed with the time.
fn new_salt(first_lsn: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    RandomState::new().hash_one((nanos, first_lsn, std::process::id()))
}

/// The writer of the newest WAL segment.
pub(crate) struct WalWriter {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    file: Box<dyn FsFile>,
    path: PathBuf,
    salt: u64,
    /// Whether batches may be left unsynced (relaxed durability; see `frame::MAGIC_RELAXED`).
    relaxed: bool,
    first_lsn: u64,
    next_lsn: u64,
    segment_len: u64,
    buf: Vec<u8>,
}

impl WalWriter {
    /// Starts a new segment whose first record will be `first_lsn`.
    ///
    /// # Errors
    /// [`Error::Io`] if the segment cannot be created or synced.
    pub(crate) fn create(
        fs: Arc<dyn Fs>,
        dir: &Path,
        first_lsn: u64,
        relaxed: bool,
    ) -> Result<Self> {
        let path = segment_path(dir, first_lsn);
        let tmp = path.with_extension(TMP_EXT);
        let salt = new_salt(first_lsn);
        if fs.exists(&tmp) {
            fs.remove_file(&tmp)
                .map_err(|e| Error::io("remove unfinished WAL segment", &tmp, e))?;
        }
        let mut file = fs
            .create_new(&tmp)
            .map_err(|e| Error::io("create WAL segment", &tmp, e))?;
        let header = encode_header(SegmentHeader {
            salt,
            first_lsn,
            relaxed,
        });
        file.write_all(&header)
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io("write WAL segment header", &tmp, e))?;
        // The segment appears under its name whole, replacing any record-less segment of
        // that name (recovery may start a segment where an empty one was), so a file of
        // that name exists at every moment.
        fs.rename(&tmp, &path)
            .map_err(|e| Error::io("rename WAL segment into place", &path, e))?;
        // IMPORTANT: the segment's directory entry must be durable before records in it are
        // acknowledged, or power loss could drop the whole file.
        fs.sync_dir(dir)
            .map_err(|e| Error::io("sync WAL directory", dir, e))?;
        Ok(WalWriter {
            fs,
            dir: dir.to_owned(),
            file,
            path,
            salt,
            relaxed,
            first_lsn,
            next_lsn: first_lsn,
            segment_len: header.len() as u64,
            buf: Vec::new(),
        })
    }

    /// Buffers one record and returns its LSN.
    pub(crate) fn append(&mut self, payload: &[u8]) -> u64 {
        let lsn = self.next_lsn;
        encode_record(self.salt, lsn, payload, &mut self.buf);
        self.next_lsn += 1;
        lsn
    }

    /// The first LSN of the current segment (its name).
    pub(crate) fn first_lsn(&self) -> u64 {
        self.first_lsn
    }

    /// The LSN of the last appended record (`first - 1` before any).
    pub(crate) fn last_lsn(&self) -> u64 {
        self.next_lsn - 1
    }

    /// Bytes in the current segment, header included.
    pub(crate) fn segment_len(&self) -> u64 {
        self.segment_len
    }

    /// Writes the buffered records with one write, then syncs if `sync`.
    ///
    /// If the write or the sync fails, the segment is cut back (best effort) to its length
    /// before this batch, so records whose callers are told of the failure are not replayed
    /// after a restart; the caller must still treat the error as fatal (poison), since the
    /// file's state is then unknown.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub(crate) fn write_batch(&mut self, sync: bool) -> Result<()> {
        let before = self.segment_len;
        let result = self.write_buffered(sync);
        self.buf.clear();
        if result.is_err() {
            // Best effort: the store is poisoned either way.
            let _ = self.file.set_len(before);
            self.segment_len = before;
        }
        result
    }

    fn write_buffered(&mut self, sync: bool) -> Result<()> {
        if !self.buf.is_empty() {
            self.file
                .write_all(&self.buf)
                .map_err(|e| Error::io("append to WAL segment", &self.path, e))?;
            self.segment_len += self.buf.len() as u64;
        }
        if sync {
            self.sync()?;
        }
        Ok(())
    }

    /// Syncs the current segment.
    ///
    /// # Errors
    /// [`Error::Io`]; fatal as for [`WalWriter::write_batch`].
    pub(crate) fn sync(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io("sync WAL segment", &self.path, e))
    }

    /// Syncs the current segment and starts the next one, unless the current one holds no
    /// records yet (then it simply stays the newest).
    ///
    /// # Errors
    /// As [`WalWriter::create`].
    pub(crate) fn roll(&mut self) -> Result<()> {
        self.write_batch(true)?;
        if self.next_lsn > self.first_lsn {
            *self = WalWriter::create(self.fs.clone(), &self.dir, self.next_lsn, self.relaxed)?;
        }
        Ok(())
    }

    /// Removes every segment older than the current one (all their records are covered by a
    /// durable checkpoint) and unfinished segment files. Failures are logged, not fatal:
    /// leftover segments are skipped by recovery.
    pub(crate) fn remove_older_segments(&self) {
        let Ok(entries) = self.fs.read_dir(&self.dir) else {
            return;
        };
        for path in entries {
            let older = segment_first_lsn(&path).is_some_and(|first| first < self.first_lsn);
            let unfinished = path.extension().is_some_and(|e| e == TMP_EXT);
            if (older || unfinished)
                && let Err(e) = self.fs.remove_file(&path)
            {
                tracing::warn!(path = %path.display(), error = %e, "could not remove old WAL segment");
            }
        }
    }
}

/// The first LSN a segment file is named for, if `path` is a segment.
pub(crate) fn segment_first_lsn(path: &Path) -> Option<u64> {
    if path.extension()? != SEGMENT_EXT {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    if stem.len() != 20 {
        return None;
    }
    stem.parse().ok()
}
