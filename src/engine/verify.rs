//! [`RedbStore::verify`]: checks everything a store holds and reports each problem found.
//!
//! What is checked, in one redb read snapshot (so it runs beside writers):
//! - every row of `runs`, `task_runs`, `results` and `content` decodes; every run's key is
//!   the key of its task and config; `runs` and `task_runs` name each other; every result's
//!   run exists; every result's content row exists (else a *dangling content reference*) with
//!   the result's size;
//! - every content is re-hashed: inline values from the database, blob files streamed from
//!   disk (a missing file is a *missing blob*, a different hash or size a *hash mismatch*);
//! - the WAL segments are read without changing them (unlike recovery, a torn tail is never
//!   cut): damage other than a tail still being written, a gap between segments, or a record
//!   whose payload does not decode is a problem.
//!
//! redb's own page-checksum check (`Database::check_integrity`) needs exclusive use of the
//! database with no transaction alive, which an open store's actor never gives up; open the
//! store with [`RedbOptions::check_integrity_on_open`](crate::RedbOptions::check_integrity_on_open)
//! to have redb verify every page first (a damaged file then fails to open).
//!
//! Invariants: verification never writes; a problem is collected and checking goes on; an
//! `Err` means verification itself could not proceed (e.g. the database cannot be read at
//! all). A blob that disappears because a concurrent gc removed its (unreferenced) content
//! since the snapshot is not reported.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable};

use crate::browse::Progress;
use crate::engine::handle::RedbStore;
use crate::engine::inspect::{begin, content_size, table};
use crate::engine::ops::{self, ContentRow, decode_content};
use crate::engine::record;
use crate::engine::shared::Shared;
use crate::engine::tables::{CONTENT, RESULTS, RUNS, ResultEntry, RunRecord, TASK_RUNS};
use crate::error::{Error, Result};
use crate::key::{ContentHash, RunKey};
use crate::names::TaskName;
use crate::vfs::Fs;
use crate::wal;

/// What [`RedbStore::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Stored values (distinct contents) re-hashed.
    pub values_checked: u64,
    /// Bytes re-hashed.
    pub bytes_checked: u64,
    /// Every problem found; empty for a sound store.
    pub problems: Vec<Problem>,
}

/// One problem found by verification. Displays as `location: description`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// What is damaged: a run, a result, a content hash, a blob file, a WAL segment.
    pub location: String,
    /// What is wrong with it.
    pub description: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.description)
    }
}

impl VerifyReport {
    pub(crate) fn problem(&mut self, location: impl Into<String>, description: impl Into<String>) {
        self.problems.push(Problem {
            location: location.into(),
            description: description.into(),
        });
    }
}

type RunsTable = ReadOnlyTable<&'static [u8; 32], &'static [u8]>;
type IndexTable = ReadOnlyTable<(&'static str, u64), &'static [u8; 32]>;

fn scan(op: &'static str) -> impl Fn(redb::StorageError) -> Error {
    move |e| Error::storage(op, e)
}

/// Checks `runs` against itself and the index.
fn check_runs(runs: &RunsTable, index: &IndexTable, report: &mut VerifyReport) -> Result<()> {
    for row in runs.iter().map_err(scan("scan the runs"))? {
        let (k, v) = row.map_err(scan("scan the runs"))?;
        let key = RunKey::from_bytes(*k.value());
        let location = format!("run {key}");
        let record = match RunRecord::decode(&key, v.value()) {
            Ok(record) => record,
            Err(e) => {
                report.problem(location, e.to_string());
                continue;
            }
        };
        let identity = TaskName::new(&record.task).and_then(|task| {
            Ok(RunKey::new(
                &task,
                &ops::parse_config(&key, &record.config)?,
            ))
        });
        match identity {
            Ok(derived) if derived == key => {}
            Ok(derived) => report.problem(
                &location,
                format!("its task and config have run key {derived}"),
            ),
            Err(e) => report.problem(&location, e.to_string()),
        }
        let indexed = index
            .get((record.task.as_str(), record.counter))
            .map_err(scan("read the run index"))?
            .map(|v| *v.value());
        if indexed != Some(*key.as_bytes()) {
            report.problem(
                location,
                format!(
                    "the run index has no entry for it (task `{}`, counter {})",
                    record.task, record.counter
                ),
            );
        }
    }
    for row in index.iter().map_err(scan("scan the run index"))? {
        let (k, v) = row.map_err(scan("scan the run index"))?;
        let (task, counter) = k.value();
        let key = RunKey::from_bytes(*v.value());
        if !ops::run_exists(runs, &key)? {
            report.problem(
                format!("run index entry {counter} of task `{task}`"),
                format!("it names run {key}, which does not exist"),
            );
        }
    }
    Ok(())
}

/// Checks every result's run and content row.
fn check_results(txn: &ReadTransaction, runs: &RunsTable, report: &mut VerifyReport) -> Result<()> {
    let content = table(txn, CONTENT)?;
    for row in table(txn, RESULTS)?
        .iter()
        .map_err(scan("scan the results"))?
    {
        let (k, v) = row.map_err(scan("scan the results"))?;
        let (run, name) = k.value();
        let key = RunKey::from_bytes(*run);
        let location = format!("result `{name}` of run {key}");
        let entry = match ResultEntry::decode(&key, name, v.value()) {
            Ok(entry) => entry,
            Err(e) => {
                report.problem(location, e.to_string());
                continue;
            }
        };
        if !ops::run_exists(runs, &key)? {
            report.problem(&location, "its run does not exist");
        }
        match ops::get_content(&content, &entry.hash) {
            Ok(Some(row)) if content_size(&row) != entry.size => report.problem(
                location,
                format!(
                    "its size is {} but its content {} has {} bytes",
                    entry.size,
                    entry.hash,
                    content_size(&row)
                ),
            ),
            Ok(Some(_)) => {}
            Ok(None) => report.problem(
                location,
                format!(
                    "dangling content reference: content {} is not stored",
                    entry.hash
                ),
            ),
            // The content row itself is reported by the content check.
            Err(_) => {}
        }
    }
    Ok(())
}

/// Whether content row `hash` is gone in a newer snapshot (a concurrent gc removed it).
fn collected_since(shared: &Shared, hash: &ContentHash) -> Result<bool> {
    let txn = begin(shared)?;
    Ok(ops::get_content(&table(&txn, CONTENT)?, hash)?.is_none())
}

/// Hashes blob `path`: (hash, size).
fn hash_file(fs: &dyn Fs, path: &Path) -> io::Result<(ContentHash, u64)> {
    let mut file = fs.open_read(path)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0; 256 * 1024];
    let mut size = 0;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hasher.finalize().into(), size))
}

/// Re-hashes every content, inline or blob.
fn check_content(
    shared: &Shared,
    txn: &ReadTransaction,
    report: &mut VerifyReport,
    damaged: &mut Damaged,
    progress: &mut dyn FnMut(Progress),
) -> Result<()> {
    let content = table(txn, CONTENT)?;
    let total = redb::ReadableTableMetadata::len(&content).map_err(scan("count the content"))?;
    for row in content.iter().map_err(scan("scan the content"))? {
        let (k, v) = row.map_err(scan("scan the content"))?;
        let hash = ContentHash::from_bytes(*k.value());
        let location = format!("content {hash}");
        let problems_before = report.problems.len();
        match decode_content(&hash, v.value()) {
            Err(e) => report.problem(location, e.to_string()),
            Ok(ContentRow::Inline(bytes)) => {
                let found = ContentHash::of(&bytes);
                if found != hash {
                    report.problem(
                        location,
                        format!("hash mismatch: the inline value hashes to {found}"),
                    );
                }
                report.bytes_checked += bytes.len() as u64;
            }
            Ok(ContentRow::Blob(size)) => {
                let path = shared.layout.path(&hash);
                let location = format!("blob {}", path.display());
                match hash_file(shared.fs.as_ref(), &path) {
                    Ok((found, found_size)) => {
                        report.bytes_checked += found_size;
                        if found != hash {
                            report.problem(
                                location,
                                format!("hash mismatch: the file hashes to {found}"),
                            );
                        } else if found_size != size {
                            report.problem(
                                location,
                                format!("the file has {found_size} bytes, not {size}"),
                            );
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        if !collected_since(shared, &hash)? {
                            report.problem(location, "missing blob: the file does not exist");
                        }
                    }
                    Err(e) => report.problem(location, format!("unreadable: {e}")),
                }
            }
        }
        if report.problems.len() > problems_before {
            damaged.insert(hash, problems_before);
        }
        report.values_checked += 1;
        progress(Progress::new(
            report.values_checked,
            total,
            report.bytes_checked,
        ));
    }
    Ok(())
}

/// Damaged contents: the index of each one's problem in the report.
type Damaged = HashMap<ContentHash, usize>;

/// Most results named per damaged content.
const USERS_NAMED: usize = 5;

/// Names, in each damaged content's problem, the results (and so the runs) that hold it.
fn name_users(txn: &ReadTransaction, damaged: &Damaged, report: &mut VerifyReport) -> Result<()> {
    if damaged.is_empty() {
        return Ok(());
    }
    let mut users: HashMap<usize, Vec<String>> = HashMap::new();
    for row in table(txn, RESULTS)?
        .iter()
        .map_err(scan("scan the results"))?
    {
        let (k, v) = row.map_err(scan("scan the results"))?;
        let (run, name) = k.value();
        let key = RunKey::from_bytes(*run);
        // An undecodable result is reported by the result check.
        if let Ok(entry) = ResultEntry::decode(&key, name, v.value())
            && let Some(&index) = damaged.get(&entry.hash)
        {
            users
                .entry(index)
                .or_default()
                .push(format!("result `{name}` of run {key}"));
        }
    }
    for (index, names) in users {
        let shown = names[..names.len().min(USERS_NAMED)].join(", ");
        let more = names.len().saturating_sub(USERS_NAMED);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        report.problems[index]
            .description
            .push_str(&format!("; it is the value of {shown}{tail}"));
    }
    Ok(())
}

/// Reads every WAL segment in `dir` without changing it. The newest segment may end in a
/// record still being written, so its tail is not a problem.
pub(crate) fn check_wal(fs: &dyn Fs, dir: &Path, report: &mut VerifyReport) -> Result<()> {
    let segments = wal::segments(fs, dir)?;
    let count = segments.len();
    let mut expected = None;
    for (index, (named_first, path)) in segments.iter().enumerate() {
        let location = format!("WAL segment {}", path.display());
        let newest = index + 1 == count;
        let mut bytes = Vec::new();
        let read = fs
            .open_read(path)
            .and_then(|mut f| f.read_to_end(&mut bytes));
        match read {
            Ok(_) => {}
            // A checkpoint removed it (and every older one) since the listing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                expected = None;
                continue;
            }
            Err(e) => {
                report.problem(location, format!("unreadable: {e}"));
                expected = None;
                continue;
            }
        }
        let header = match wal::read_header(path, *named_first, &bytes, newest) {
            Ok(Some(header)) => header,
            Ok(None) => continue,
            Err(e) => {
                report.problem(location, e.to_string());
                expected = None;
                continue;
            }
        };
        if let Some(lsn) = expected
            && lsn != header.first_lsn
        {
            let e = wal::missing_segment(path, lsn, header.first_lsn);
            report.problem(&location, e.to_string());
        }
        let mut undecodable = Vec::new();
        let records = wal::read_records(path, header, &bytes, newest, |lsn, payload| {
            if let Err(e) = record::decode(lsn, payload) {
                undecodable.push(e.to_string());
            }
            Ok(())
        });
        for reason in undecodable {
            report.problem(&location, format!("unreadable WAL record: {reason}"));
        }
        match records {
            Ok(records) => expected = Some(records.next),
            Err(e) => {
                report.problem(location, e.to_string());
                expected = None;
            }
        }
    }
    Ok(())
}

impl RedbStore {
    /// Checks every stored value and record: re-hashes every value (inline and blob), checks
    /// that the tables agree with each other, and reads the WAL (see `docs/design.md` §13 for
    /// the list). `progress` is called after each value. Problems are collected in the report,
    /// not returned as errors; runs beside writers and never changes the store.
    ///
    /// redb's page-checksum check cannot run on an open store; open it with
    /// [`RedbOptions::check_integrity_on_open`](crate::RedbOptions::check_integrity_on_open)
    /// for that.
    ///
    /// # Errors
    /// Only if verification itself cannot proceed: the database cannot be read, the WAL
    /// directory cannot be listed.
    pub fn verify(&self, progress: &mut dyn FnMut(Progress)) -> Result<VerifyReport> {
        let shared = self.shared();
        let mut report = VerifyReport::default();
        let txn = begin(shared)?;
        let runs = table(&txn, RUNS)?;
        check_runs(&runs, &table(&txn, TASK_RUNS)?, &mut report)?;
        check_results(&txn, &runs, &mut report)?;
        let mut damaged = Damaged::new();
        check_content(shared, &txn, &mut report, &mut damaged, progress)?;
        name_users(&txn, &damaged, &mut report)?;
        drop((runs, txn));
        check_wal(shared.fs.as_ref(), &shared.root.join("wal"), &mut report)?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::vfs::RealFs;
    use crate::wal::WalWriter;

    fn wal_with(payloads: &[Vec<u8>]) -> Result<(tempfile::TempDir, VerifyReport)> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("create", "tmp", e))?;
        let mut wal = WalWriter::create(Arc::new(RealFs), dir.path(), 1, false)?;
        for payload in payloads {
            wal.append(payload);
        }
        wal.write_batch(true)?;
        let mut report = VerifyReport::default();
        check_wal(&RealFs, dir.path(), &mut report)?;
        Ok((dir, report))
    }

    #[test]
    fn a_record_whose_payload_does_not_decode_is_reported() -> Result<()> {
        let op = record::WalOp::DeleteRun {
            run: RunKey::from_bytes([3; 32]),
        };
        let good = record::encode(&op, None)?;
        let (_dir, report) = wal_with(&[good.clone(), good.clone()])?;
        assert!(report.problems.is_empty(), "control: {:?}", report.problems);
        let (_dir, report) = wal_with(&[good, vec![0xff; 7]])?;
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(
            report.problems[0]
                .description
                .contains("unreadable WAL record")
        );
        Ok(())
    }
}
