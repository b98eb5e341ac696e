//! Recovery: reads every segment, replays records after the checkpoint, and decides what an
//! invalid stretch of bytes means.
//!
//! Policy (invariant 4 of the WAL): in the newest segment, invalid bytes — a bad checksum, a
//! short record, or a valid record out of sequence such as a duplicate — that no valid record
//! follows are a torn tail: cut off durably (`set_len` + sync) and logged. Invalid bytes
//! followed by a valid record, damage in an older segment, a damaged header of an older
//! segment, or a gap in LSNs between segments are [`Error::WalCorrupt`], reported before
//! anything is applied durably (the caller applies records into one uncommitted
//! transaction).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::vfs::Fs;
use crate::wal::frame::{
    HEADER_LEN, RECORD_HEADER_LEN, SegmentHeader, decode_header, decode_record, record_lsn,
};
use crate::wal::writer::segment_first_lsn;

/// What recovery found.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// The LSN the next record must get.
    pub(crate) next_lsn: u64,
    /// Records replayed (those after the checkpoint).
    pub(crate) replayed: u64,
    /// A torn tail that was cut off: segment and offset.
    pub(crate) torn_tail: Option<(PathBuf, u64)>,
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> Error {
    Error::WalCorrupt {
        path: path.to_owned(),
        offset,
        reason: reason.into(),
    }
}

/// Whether a valid record that could continue the log (LSN `next` or later) starts anywhere
/// in `buf`. Only candidates whose LSN field is plausible for their position are hashed, so
/// the scan stays linear on any tail.
fn valid_record_within(salt: u64, buf: &[u8], next: u64) -> bool {
    let most = next.saturating_add((buf.len() / RECORD_HEADER_LEN) as u64);
    (0..buf.len().saturating_sub(RECORD_HEADER_LEN - 1))
        .any(|at| frame_lsn_in(&buf[at..], next, most) && decode_record(salt, &buf[at..]).is_some())
}

fn frame_lsn_in(buf: &[u8], least: u64, most: u64) -> bool {
    record_lsn(buf).is_some_and(|lsn| (least..=most).contains(&lsn))
}

/// The segment files of the log in `dir`, oldest first: (first LSN named by the file, path).
///
/// # Errors
/// [`Error::Io`] if the directory cannot be listed.
pub(crate) fn segments(fs: &dyn Fs, dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let listing = fs
        .read_dir(dir)
        .map_err(|e| Error::io("list WAL directory", dir, e))?;
    let mut segments: Vec<(u64, PathBuf)> = listing
        .into_iter()
        .filter_map(|p| Some((segment_first_lsn(&p)?, p)))
        .collect();
    segments.sort();
    Ok(segments)
}

/// Decodes the header of segment `path` (named for record `named_first`); `None` for the
/// newest segment whose header never became durable (it holds no records).
///
/// # Errors
/// [`Error::WalCorrupt`] for a damaged header, or one naming another first LSN.
pub(crate) fn read_header(
    path: &Path,
    named_first: u64,
    bytes: &[u8],
    newest: bool,
) -> Result<Option<SegmentHeader>> {
    let Some(header) = decode_header(bytes) else {
        if newest && bytes.len() <= HEADER_LEN {
            return Ok(None);
        }
        return Err(corrupt(path, 0, "the segment header is damaged"));
    };
    if header.first_lsn != named_first {
        return Err(corrupt(
            path,
            0,
            format!("the header says the first LSN is {}", header.first_lsn),
        ));
    }
    Ok(Some(header))
}

/// The records of one segment, read without changing anything.
pub(crate) struct SegmentRecords {
    /// The LSN after the last valid record.
    pub(crate) next: u64,
    /// Where invalid bytes start that no valid record follows (a torn tail), if anywhere.
    pub(crate) torn_at: Option<u64>,
}

/// Calls `each(lsn, payload)` for every valid record of a segment in order, and finds where
/// a torn tail starts (allowed only in the newest segment, see the module docs).
///
/// # Errors
/// [`Error::WalCorrupt`] for damage that is not a torn tail; whatever `each` returns.
pub(crate) fn read_records(
    path: &Path,
    header: SegmentHeader,
    bytes: &[u8],
    newest: bool,
    mut each: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<SegmentRecords> {
    let mut next = header.first_lsn;
    let mut offset = HEADER_LEN;
    while offset < bytes.len() {
        // A record out of sequence (say, a stale copy of an earlier one) is damage too.
        let decoded = decode_record(header.salt, &bytes[offset..]);
        let Some(record) = decoded.filter(|r| r.lsn == next) else {
            // Under relaxed durability a later batch may have reached the disk while an
            // earlier one did not: that hole is an allowed loss, not damage.
            let valid_after = valid_record_within(header.salt, &bytes[offset + 1..], next);
            if !newest || (valid_after && !header.relaxed) {
                let what = match decode_record(header.salt, &bytes[offset..]) {
                    Some(r) => format!("record {} stands where record {next} belongs", r.lsn),
                    None => "a damaged record".to_owned(),
                };
                return Err(corrupt(
                    path,
                    offset as u64,
                    format!("{what}, and valid records follow it"),
                ));
            }
            return Ok(SegmentRecords {
                next,
                torn_at: Some(offset as u64),
            });
        };
        each(record.lsn, record.payload)?;
        next += 1;
        offset += record.len;
    }
    Ok(SegmentRecords {
        next,
        torn_at: None,
    })
}

/// Replays the log in `dir`: calls `apply(lsn, payload)` for every record with an LSN above
/// `after`, in order.
///
/// # Errors
/// [`Error::WalCorrupt`] as described in the module docs; [`Error::Io`]; whatever `apply`
/// returns.
pub(crate) fn replay(
    fs: &dyn Fs,
    dir: &Path,
    after: u64,
    mut apply: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<Recovered> {
    let segments = segments(fs, dir)?;
    let mut expected: Option<u64> = None;
    let mut replayed = 0;
    let mut torn_tail = None;
    let count = segments.len();
    for (index, (named_first, path)) in segments.iter().enumerate() {
        let newest = index + 1 == count;
        let mut bytes = Vec::new();
        let mut file = fs
            .open_read(path)
            .map_err(|e| Error::io("open WAL segment", path, e))?;
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::io("read WAL segment", path, e))?;
        let Some(header) = read_header(path, *named_first, &bytes, newest)? else {
            tracing::warn!(path = %path.display(), "discarding WAL segment with a torn header");
            fs.remove_file(path)
                .map_err(|e| Error::io("remove torn WAL segment", path, e))?;
            continue;
        };
        match expected {
            Some(lsn) if lsn != header.first_lsn => {
                return Err(missing_segment(path, lsn, header.first_lsn));
            }
            None if header.first_lsn > after + 1 => {
                return Err(corrupt(
                    path,
                    0,
                    format!(
                        "a segment is missing: the store's checkpoint is at record {after} \
                         but the log starts at {}",
                        header.first_lsn
                    ),
                ));
            }
            _ => {}
        }
        let records = read_records(path, header, &bytes, newest, |lsn, payload| {
            if lsn > after {
                apply(lsn, payload)?;
                replayed += 1;
            }
            Ok(())
        })?;
        if let Some(offset) = records.torn_at {
            tracing::warn!(
                path = %path.display(),
                offset,
                discarded = bytes.len() as u64 - offset,
                "cutting off a torn WAL tail (a write interrupted by a crash)"
            );
            let mut file = fs
                .open_rw(path)
                .map_err(|e| Error::io("open WAL segment", path, e))?;
            file.set_len(offset)
                .and_then(|()| file.sync_data())
                .map_err(|e| Error::io("truncate torn WAL tail", path, e))?;
            torn_tail = Some((path.clone(), offset));
        }
        expected = Some(records.next);
    }
    let last = expected.map_or(after, |next| next - 1).max(after);
    Ok(Recovered {
        next_lsn: last + 1,
        replayed,
        torn_tail,
    })
}

/// The error for segment `path` starting at `first` where record `expected` belongs.
pub(crate) fn missing_segment(path: &Path, expected: u64, first: u64) -> Error {
    corrupt(
        path,
        0,
        format!(
            "a segment is missing: records {expected} to {} are not in the log",
            first.saturating_sub(1)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::RealFs;
    use crate::wal::frame::encode_record;
    use crate::wal::writer::{WalWriter, segment_path};
    use std::sync::Arc;

    fn write_log(dir: &Path, first: u64, payloads: &[&[u8]]) -> Result<PathBuf> {
        let mut wal = WalWriter::create(Arc::new(RealFs), dir, first, false)?;
        for p in payloads {
            wal.append(p);
        }
        wal.write_batch(true)?;
        Ok(segment_path(dir, first))
    }

    type Replayed = Vec<(u64, Vec<u8>)>;

    fn collect(dir: &Path, after: u64) -> Result<(Replayed, Recovered)> {
        let mut seen = Vec::new();
        let rec = replay(&RealFs, dir, after, |lsn, p| {
            seen.push((lsn, p.to_vec()));
            Ok(())
        })?;
        Ok((seen, rec))
    }

    fn tempdir() -> Result<tempfile::TempDir> {
        tempfile::tempdir().map_err(|e| Error::io("create", "tempdir", e))
    }

    fn len_of(path: &Path) -> Result<u64> {
        Ok(std::fs::metadata(path)
            .map_err(|e| Error::io("stat", path, e))?
            .len())
    }

    fn append_raw(path: &Path, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io("open", path, e))?;
        f.write_all(bytes).map_err(|e| Error::io("append", path, e))
    }

    #[test]
    fn clean_log_replays_only_records_after_the_checkpoint() -> Result<()> {
        let dir = tempdir()?;
        write_log(dir.path(), 1, &[b"a", b"b", b"c"])?;
        let (seen, rec) = collect(dir.path(), 1)?;
        assert_eq!(seen, vec![(2, b"b".to_vec()), (3, b"c".to_vec())]);
        assert_eq!(rec.next_lsn, 4);
        assert!(rec.torn_tail.is_none());
        Ok(())
    }

    #[test]
    fn torn_tail_is_cut_off_durably() -> Result<()> {
        let dir = tempdir()?;
        let path = write_log(dir.path(), 1, &[b"a", b"b"])?;
        let good = len_of(&path)?;
        let mut torn = Vec::new();
        encode_record(0, 3, b"never finished", &mut torn);
        append_raw(&path, &torn[..torn.len() - 3])?;
        let (seen, rec) = collect(dir.path(), 0)?;
        assert_eq!(seen.len(), 2);
        assert_eq!(rec.torn_tail, Some((path.clone(), good)));
        assert_eq!(len_of(&path)?, good, "the tail was not truncated");
        Ok(())
    }

    #[test]
    fn bad_checksum_in_the_last_record_is_a_torn_tail() -> Result<()> {
        let dir = tempdir()?;
        let path = write_log(dir.path(), 1, &[b"a", b"b"])?;
        let mut bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).map_err(|e| Error::io("write", &path, e))?;
        let (seen, rec) = collect(dir.path(), 0)?;
        assert_eq!(seen, vec![(1, b"a".to_vec())]);
        assert!(rec.torn_tail.is_some());
        assert_eq!(rec.next_lsn, 2);
        Ok(())
    }

    #[test]
    fn bad_checksum_in_the_middle_is_an_error_and_nothing_is_cut() -> Result<()> {
        let dir = tempdir()?;
        let path = write_log(dir.path(), 1, &[b"first", b"second", b"third"])?;
        let mut bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let middle = HEADER_LEN + RECORD_HEADER_LEN + 5 + RECORD_HEADER_LEN + 2;
        bytes[middle] ^= 1;
        std::fs::write(&path, &bytes).map_err(|e| Error::io("write", &path, e))?;
        let before = len_of(&path)?;
        assert!(matches!(
            collect(dir.path(), 0),
            Err(Error::WalCorrupt { .. })
        ));
        assert_eq!(len_of(&path)?, before);
        Ok(())
    }

    #[test]
    fn records_of_another_salt_are_never_replayed() -> Result<()> {
        let dir = tempdir()?;
        let path = write_log(dir.path(), 1, &[b"a"])?;
        // A well-formed record with the next LSN, but written under another salt: stale bytes.
        let mut stale = Vec::new();
        encode_record(12345, 2, b"stale", &mut stale);
        append_raw(&path, &stale)?;
        let (seen, rec) = collect(dir.path(), 0)?;
        assert_eq!(seen, vec![(1, b"a".to_vec())]);
        assert!(rec.torn_tail.is_some());
        Ok(())
    }

    #[test]
    fn a_duplicate_of_the_last_record_is_a_torn_tail() -> Result<()> {
        let dir = tempdir()?;
        let path = write_log(dir.path(), 1, &[b"a", b"b"])?;
        let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let last = bytes.len() - (RECORD_HEADER_LEN + 1);
        append_raw(&path, &bytes[last..])?;
        let (seen, rec) = collect(dir.path(), 0)?;
        assert_eq!(seen.len(), 2);
        assert_eq!(rec.torn_tail.map(|t| t.1), Some(bytes.len() as u64));
        assert_eq!(rec.next_lsn, 3);
        Ok(())
    }

    #[test]
    fn zero_filled_tail_is_a_torn_tail() -> Result<()> {
        let dir = tempdir()?;
        let path = write_log(dir.path(), 1, &[b"a"])?;
        append_raw(&path, &[0; 4096])?;
        let (seen, rec) = collect(dir.path(), 0)?;
        assert_eq!(seen.len(), 1);
        assert!(rec.torn_tail.is_some());
        Ok(())
    }

    #[test]
    fn missing_segment_is_an_error() -> Result<()> {
        let dir = tempdir()?;
        write_log(dir.path(), 1, &[b"a", b"b"])?;
        write_log(dir.path(), 5, &[b"e"])?;
        let err = collect(dir.path(), 0);
        assert!(matches!(err, Err(Error::WalCorrupt { reason, .. }) if reason.contains("missing")));
        // The log must also reach back to the checkpoint.
        let dir = tempdir()?;
        write_log(dir.path(), 10, &[b"j"])?;
        assert!(matches!(
            collect(dir.path(), 5),
            Err(Error::WalCorrupt { .. })
        ));
        Ok(())
    }

    #[test]
    fn damage_in_an_older_segment_is_an_error() -> Result<()> {
        let dir = tempdir()?;
        let old = write_log(dir.path(), 1, &[b"a", b"b"])?;
        write_log(dir.path(), 3, &[b"c"])?;
        let mut bytes = std::fs::read(&old).map_err(|e| Error::io("read", &old, e))?;
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&old, &bytes).map_err(|e| Error::io("write", &old, e))?;
        assert!(matches!(
            collect(dir.path(), 0),
            Err(Error::WalCorrupt { .. })
        ));
        Ok(())
    }

    #[test]
    fn segment_with_torn_header_is_discarded_if_newest() -> Result<()> {
        let dir = tempdir()?;
        write_log(dir.path(), 1, &[b"a"])?;
        let torn = segment_path(dir.path(), 2);
        std::fs::write(&torn, [1, 2, 3]).map_err(|e| Error::io("write", &torn, e))?;
        let (seen, rec) = collect(dir.path(), 0)?;
        assert_eq!(seen.len(), 1);
        assert_eq!(rec.next_lsn, 2);
        assert!(!torn.exists());
        Ok(())
    }
}
