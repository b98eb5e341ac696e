//! WAL damage sweep (issue 4, item 3): damage the newest WAL segment of a crashed store in
//! every way a crash or a bad disk can — truncation at every byte offset of the last records,
//! every byte of a record flipped, zeros or garbage appended, the last record duplicated —
//! and check what recovery makes of it (docs/design.md §8, §10.5, invariant 9):
//!
//! - damage that no valid record follows (a torn tail) is cut off: exactly the records that
//!   are wholly intact and precede the damage are recovered, byte for byte; later ones are
//!   absent; a new save after the reopen works and survives another reopen;
//! - damage that a valid record follows (in the segment header, the first record, or the
//!   record before the last), and a valid record whose LSN breaks the sequence (a copy of
//!   the last record), are [`Error::WalCorrupt`] naming the segment file and the offset; the
//!   failed open adds, removes or changes no file of the store directory (the WAL compared
//!   byte for byte) except `store.redb`, which redb rewrites parts of whenever it opens it
//!   — its content is checked instead: with the pristine segment put back, every value is
//!   recovered.
//!
//! Every trial starts from its own copy of one pristine store: a child process saves
//! [`VALUES`] values (every one acknowledged, so its record is synced) with checkpoints
//! disabled and aborts, leaving all of them as unapplied records in one segment. Record
//! boundaries come from parsing the segment here, from the documented format, with every
//! record's check verified. The control that the crash left work to recover is that a
//! record cut off by the damage takes its value with it: the values are not in the database
//! until the log is replayed.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::shared::child_test;
use serde_json::json;
use sweepstore::{Error, RedbOptions, RedbStore, Result, StoreExt, UniqueConfig};

const CHILD_ENV: &str = "SWEEPSTORE_WAL_DAMAGE_STORE";
const CHILD_TEST: &str = "child_saves_values_then_aborts";
/// Values the child saves: one WAL record each.
const VALUES: usize = 8;
const TASK: &str = "train";
/// Runs the values are spread over (the first save into each one also creates the run).
const GROUPS: usize = 3;
const SEGMENT_HEADER_LEN: usize = 32;
const RECORD_HEADER_LEN: usize = 20;
const MAGIC: &[u8; 8] = b"SWSTWAL1";

use crate::shared::{copy_tree, files_under, io, plumbing};

use crate::shared::tempdir;

fn options() -> RedbOptions {
    RedbOptions::default().checkpoint_wal_bytes(u64::MAX)
}

fn config(group: usize) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({ "group": group }))?)
}

fn name(i: usize) -> String {
    format!("v{i:02}")
}

/// Small values of varying length, each different from every other.
fn value(i: usize) -> Vec<u8> {
    format!("value {i};").repeat(1 + i % 3).into_bytes()
}

/// The value saved after recovery, in a run of its own.
const AFTER: &[u8] = b"saved after recovery";
const AFTER_GROUP: usize = 99;

/// Runs in a child process: saves [`VALUES`] values, each acknowledged (so its record is
/// synced), then aborts; nothing is checkpointed, so every value lives only in the WAL.
#[test]
fn child_saves_values_then_aborts() -> Result<()> {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return Ok(());
    };
    let store = RedbStore::open(PathBuf::from(dir), options())?;
    for i in 0..VALUES {
        store
            .run(TASK, &config(i % GROUPS)?)?
            .save_bytes(&name(i), "bytes", &value(i))?;
    }
    std::process::abort();
}

/// One record of the segment: where it lies and its LSN.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    lsn: u64,
}

/// A crashed store whose only WAL segment holds [`VALUES`] unapplied records.
struct Pristine {
    dir: tempfile::TempDir,
    /// The segment, relative to the store directory.
    segment: PathBuf,
    wal: Vec<u8>,
    records: Vec<Span>,
}

fn check8(parts: &[&[u8]]) -> [u8; 8] {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
    let mut out = [0; 8];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
    out
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Parses a whole segment by docs/design.md §8, verifying the header's and every record's
/// check: (salt, records). Any bytes that are not a valid record are an error here.
fn parse_segment(bytes: &[u8]) -> Result<(u64, Vec<Span>)> {
    let bad = |m: String| plumbing("parse the pristine WAL segment", m);
    let header = bytes
        .get(..SEGMENT_HEADER_LEN)
        .ok_or_else(|| bad(format!("only {} bytes", bytes.len())))?;
    if &header[..8] != MAGIC || header[24..] != check8(&[&header[..24]]) {
        return Err(bad("the header is not valid".to_owned()));
    }
    let salt = le_u64(header, 8).ok_or_else(|| bad("no salt".to_owned()))?;
    let first = le_u64(header, 16).ok_or_else(|| bad("no first LSN".to_owned()))?;
    let mut records = Vec::new();
    let mut at = SEGMENT_HEADER_LEN;
    while at < bytes.len() {
        let short = || bad(format!("a record at offset {at} is cut short"));
        let len = le_u32(bytes, at).ok_or_else(short)? as usize;
        let lsn = le_u64(bytes, at + 4).ok_or_else(short)?;
        let end = at + RECORD_HEADER_LEN + len;
        let payload = bytes.get(at + RECORD_HEADER_LEN..end).ok_or_else(short)?;
        let check = check8(&[
            &salt.to_le_bytes(),
            &bytes[at..at + 4],
            &bytes[at + 4..at + 12],
            payload,
        ]);
        if bytes[at + 12..at + RECORD_HEADER_LEN] != check {
            return Err(bad(format!("the record at offset {at} fails its check")));
        }
        if lsn != first + records.len() as u64 {
            return Err(bad(format!("the record at offset {at} has LSN {lsn}")));
        }
        records.push(Span {
            start: at,
            end,
            lsn,
        });
        at = end;
    }
    Ok((salt, records))
}

/// Builds the pristine store through a child process that saves and aborts.
fn pristine() -> Result<Pristine> {
    let dir = tempdir()?;
    let exe = std::env::current_exe().map_err(io("find the test binary", dir.path()))?;
    let output = Command::new(exe)
        .args([
            "--exact",
            &child_test(module_path!(), CHILD_TEST),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .output()
        .map_err(io("run the child", dir.path()))?;
    assert!(
        !output.status.success(),
        "the child was meant to abort: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    let segments = files_under(&dir.path().join("wal"))?;
    let [segment] = segments.as_slice() else {
        return Err(plumbing(
            "find the WAL segment",
            format!("expected exactly one segment, found {segments:?}"),
        ));
    };
    let wal = std::fs::read(segment).map_err(io("read", segment))?;
    let (_, records) = parse_segment(&wal)?;
    // Control: the crash left every acknowledged save as a record after the checkpoint.
    assert_eq!(
        records.len(),
        VALUES,
        "the segment does not hold one record per save: {records:?}"
    );
    let segment = segment
        .strip_prefix(dir.path())
        .map_err(|e| plumbing("name the segment", e.to_string()))?
        .to_owned();
    Ok(Pristine {
        dir,
        segment,
        wal,
        records,
    })
}

/// What recovery must make of a damaged copy.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Opens; exactly the first `n` values are there.
    Prefix(usize),
    /// `WalCorrupt` at this offset of the segment, and nothing changed.
    Corrupt(u64),
}

/// Number of records wholly before `offset`.
fn intact_before(records: &[Span], offset: usize) -> usize {
    records.iter().filter(|r| r.end <= offset).count()
}

/// A problem found by a trial, or `None`.
type Finding = Option<String>;

/// Checks that the store holds exactly the first `kept` values, byte for byte.
fn check_values(store: &RedbStore, kept: usize) -> Result<Finding> {
    for i in 0..VALUES {
        let got = store
            .run(TASK, &config(i % GROUPS)?)?
            .load::<Vec<u8>>(&name(i))?;
        let want = (i < kept).then(|| value(i));
        if got != want {
            return Ok(Some(format!(
                "value {i}: expected {:?}, found {:?}",
                want.map(|v| String::from_utf8_lossy(&v).into_owned()),
                got.map(|v| String::from_utf8_lossy(&v).into_owned())
            )));
        }
    }
    let mut total = 0;
    for group in 0..GROUPS {
        total += store
            .run(TASK, &config(group)?)?
            .get_results()?
            .map_or(0, |results| results.len());
    }
    if total != kept {
        return Ok(Some(format!("{total} results stored, expected {kept}")));
    }
    Ok(None)
}

/// Opens the damaged store: exactly the first `kept` values are there; a new save works and
/// survives a reopen next to them.
fn check_prefix(root: &Path, kept: usize) -> Result<Finding> {
    let store = match RedbStore::open(root, options()) {
        Ok(store) => store,
        Err(e) => return Ok(Some(format!("the open failed: {e}"))),
    };
    if let Some(problem) = check_values(&store, kept)? {
        return Ok(Some(format!("after recovery: {problem}")));
    }
    store
        .run(TASK, &config(AFTER_GROUP)?)?
        .save_bytes("after", "bytes", AFTER)?;
    store.close()?;
    let store = match RedbStore::open(root, options()) {
        Ok(store) => store,
        Err(e) => return Ok(Some(format!("the second open failed: {e}"))),
    };
    if let Some(problem) = check_values(&store, kept)? {
        return Ok(Some(format!("after the second reopen: {problem}")));
    }
    let after = store
        .run(TASK, &config(AFTER_GROUP)?)?
        .load::<Vec<u8>>("after")?;
    if after.as_deref() != Some(AFTER) {
        return Ok(Some(format!(
            "the save made after recovery was lost: {after:?}"
        )));
    }
    store.close()?;
    Ok(None)
}

/// Every file of the store directory with its bytes, except the lock and the database:
/// redb itself writes to its file whenever it is opened (a header flag, and after a crash
/// the rollback to its last durable commit), so the database is compared by its content
/// instead (see [`check_corrupt`]).
fn snapshot(root: &Path) -> Result<BTreeMap<PathBuf, Option<Vec<u8>>>> {
    let mut files = BTreeMap::new();
    for path in files_under(root)? {
        let name = path.file_name().unwrap_or_default();
        let bytes = if name == "LOCK" || name == "store.redb" {
            None
        } else {
            Some(std::fs::read(&path).map_err(io("read", &path))?)
        };
        files.insert(path, bytes);
    }
    Ok(files)
}

/// Opens the damaged store: `WalCorrupt` naming the segment and `offset`; the failed open
/// added, removed or changed no file of the store directory; and once the pristine segment
/// is put back the store recovers every value (so the database's checkpoint was not moved
/// either).
fn check_corrupt(root: &Path, segment: &Path, offset: u64, pristine_wal: &[u8]) -> Result<Finding> {
    let before = snapshot(root)?;
    let outcome = RedbStore::open(root, options());
    let after = snapshot(root)?;
    let problem = match &outcome {
        Ok(_) => Some("the store opened although its log is damaged".to_owned()),
        Err(
            e @ Error::WalCorrupt {
                path, offset: at, ..
            },
        ) => {
            let message = e.to_string();
            let file = segment.file_name().unwrap_or_default();
            if path.file_name() != Some(file) || !path.ends_with(Path::new("wal").join(file)) {
                Some(format!(
                    "the error names {}, not the segment",
                    path.display()
                ))
            } else if *at != offset {
                Some(format!(
                    "the error names offset {at}, expected {offset}: {message}"
                ))
            } else if !message.contains(&path.display().to_string())
                || !message.contains(&format!("offset {offset}"))
            {
                Some(format!(
                    "the message does not name file and offset: {message}"
                ))
            } else {
                None
            }
        }
        Err(other) => Some(format!("expected WalCorrupt, got: {other}")),
    };
    drop(outcome);
    if problem.is_some() {
        return Ok(problem);
    }
    if before.keys().ne(after.keys()) {
        return Ok(Some(format!(
            "the failed open added or removed files: {:?} -> {:?}",
            before.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>()
        )));
    }
    for (path, bytes) in &before {
        if after.get(path) != Some(bytes) {
            return Ok(Some(format!("the failed open changed {}", path.display())));
        }
    }
    std::fs::write(segment, pristine_wal).map_err(io("restore", segment))?;
    Ok(check_prefix(root, VALUES)?
        .map(|problem| format!("with the pristine segment put back: {problem}")))
}

/// Sweep bookkeeping: trials run and problems found.
#[derive(Default)]
struct Sweep {
    trials: usize,
    prefix_trials: usize,
    corrupt_trials: usize,
    problems: Vec<String>,
}

impl Sweep {
    /// Copies the pristine store, damages its segment with `damage`, and checks `expect`.
    fn trial(
        &mut self,
        pristine: &Pristine,
        label: &str,
        damage: impl FnOnce(&mut Vec<u8>),
        expect: Expect,
    ) -> Result<()> {
        let dir = tempdir()?;
        let root = dir.path().join("store");
        copy_tree(pristine.dir.path(), &root)?;
        let segment = root.join(&pristine.segment);
        let mut bytes = pristine.wal.clone();
        damage(&mut bytes);
        std::fs::write(&segment, &bytes).map_err(io("write", &segment))?;
        let outcome = catch_unwind(AssertUnwindSafe(|| match expect {
            Expect::Prefix(kept) => check_prefix(&root, kept),
            Expect::Corrupt(offset) => check_corrupt(&root, &segment, offset, &pristine.wal),
        }));
        self.trials += 1;
        match expect {
            Expect::Prefix(_) => self.prefix_trials += 1,
            Expect::Corrupt(_) => self.corrupt_trials += 1,
        }
        let problem = match outcome {
            Ok(Ok(None)) => return Ok(()),
            Ok(Ok(Some(problem))) => problem,
            Ok(Err(e)) => format!("unexpected error: {e}"),
            Err(_) => "panicked".to_owned(),
        };
        self.problems
            .push(format!("{label} (expected {expect:?}): {problem}"));
        Ok(())
    }

    /// Prints the counts and fails with the first problems, if any.
    fn finish(self, what: &str, started: Instant) {
        println!(
            "{what}: {} trials ({} expecting the intact prefix, {} expecting WalCorrupt), \
             {} problems, {:.1?}",
            self.trials,
            self.prefix_trials,
            self.corrupt_trials,
            self.problems.len(),
            started.elapsed()
        );
        assert!(
            self.problems.is_empty(),
            "{} of {} trials failed; first ones:\n{}",
            self.problems.len(),
            self.trials,
            self.problems
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// The last `n` records.
fn last(p: &Pristine, n: usize) -> &[Span] {
    &p.records[p.records.len() - n..]
}

#[test]
fn truncating_the_log_at_every_byte_of_its_head_or_last_three_records_recovers_exactly_the_intact_prefix()
-> Result<()> {
    let started = Instant::now();
    let p = pristine()?;
    let mut sweep = Sweep::default();
    let from = last(&p, 3)[0].start;
    // The last three records, and (for good measure) the header and the first record: a
    // segment cut inside its header holds no record and is removed.
    let head = 0..=p.records[0].end;
    for cut in head.chain(from..p.wal.len()) {
        let kept = intact_before(&p.records, cut);
        sweep.trial(
            &p,
            &format!("truncate at {cut}"),
            |b| b.truncate(cut),
            Expect::Prefix(kept),
        )?;
    }
    // Control: the sweep cut into all three records, and each cut record took its value with
    // it (the values were not in the database before the log was replayed).
    assert_eq!(intact_before(&p.records, from), VALUES - 3);
    sweep.finish("truncation sweep", started);
    Ok(())
}

#[test]
fn a_flipped_byte_anywhere_in_the_last_record_is_cut_off_as_a_torn_tail() -> Result<()> {
    let started = Instant::now();
    let p = pristine()?;
    let mut sweep = Sweep::default();
    let record = last(&p, 1)[0];
    for at in record.start..record.end {
        for mask in [0xff_u8, 1 << (at % 8)] {
            sweep.trial(
                &p,
                &format!("flip {mask:#04x} at {at} (last record, LSN {})", record.lsn),
                |b| b[at] ^= mask,
                Expect::Prefix(VALUES - 1),
            )?;
        }
    }
    sweep.finish("last-record flip sweep", started);
    Ok(())
}

#[test]
fn a_flipped_byte_in_an_earlier_record_is_refused_naming_segment_and_offset_and_changes_nothing()
-> Result<()> {
    let started = Instant::now();
    let p = pristine()?;
    let mut sweep = Sweep::default();
    // The segment header (records follow it), the first record (the middle of the log) and
    // the one before the last (damage that one valid record follows): every byte, each its
    // own trial. A damaged header is reported at offset 0, a damaged record at its start.
    for at in 0..SEGMENT_HEADER_LEN {
        sweep.trial(
            &p,
            &format!("flip 0xff at {at} (segment header)"),
            |b| b[at] ^= 0xff,
            Expect::Corrupt(0),
        )?;
    }
    for record in [p.records[0], last(&p, 2)[0]] {
        for at in record.start..record.end {
            sweep.trial(
                &p,
                &format!("flip 0xff at {at} (record LSN {})", record.lsn),
                |b| b[at] ^= 0xff,
                Expect::Corrupt(record.start as u64),
            )?;
        }
    }
    // Control: the undamaged copy opens with every value, so the damage caused the refusals.
    sweep.trial(&p, "no damage", |_| {}, Expect::Prefix(VALUES))?;
    sweep.finish("middle flip sweep", started);
    Ok(())
}

use crate::shared::rng::Rng;

const TAIL_LENGTHS: [usize; 11] = [1, 4, 12, 19, 20, 21, 31, 32, 100, 512, 4096];

#[test]
fn zeros_appended_after_the_last_record_are_cut_off_and_every_record_is_kept() -> Result<()> {
    let started = Instant::now();
    let p = pristine()?;
    let mut sweep = Sweep::default();
    for n in TAIL_LENGTHS {
        sweep.trial(
            &p,
            &format!("append {n} zeros"),
            |b| b.resize(b.len() + n, 0),
            Expect::Prefix(VALUES),
        )?;
    }
    sweep.finish("zero tail sweep", started);
    Ok(())
}

#[test]
fn garbage_appended_after_the_last_record_is_cut_off_and_every_record_is_kept() -> Result<()> {
    let started = Instant::now();
    let p = pristine()?;
    let (salt, _) = parse_segment(&p.wal)?;
    let mut sweep = Sweep::default();
    for seed in 1..=4 {
        let mut rng = Rng::new(seed);
        for n in TAIL_LENGTHS {
            let garbage = rng.bytes(n);
            sweep.trial(
                &p,
                &format!("append {n} garbage bytes (seed {seed})"),
                |b| b.extend_from_slice(&garbage),
                Expect::Prefix(VALUES),
            )?;
        }
    }
    // Well-formed records that must still not validate: the next LSN under another salt
    // (stale bytes of another segment), and with a wrong check.
    let last_record = last(&p, 1)[0];
    let payload = &p.wal[last_record.start + RECORD_HEADER_LEN..last_record.end];
    let next = last_record.lsn + 1;
    for (label, record_salt, spoil) in [
        ("a record of another segment", salt ^ 0x5a5a, false),
        ("a record with a wrong check", salt, true),
    ] {
        let len = (payload.len() as u32).to_le_bytes();
        let lsn = next.to_le_bytes();
        let mut check = check8(&[&record_salt.to_le_bytes(), &len, &lsn, payload]);
        if spoil {
            check[0] ^= 1;
        }
        let mut record = Vec::new();
        record.extend_from_slice(&len);
        record.extend_from_slice(&lsn);
        record.extend_from_slice(&check);
        record.extend_from_slice(payload);
        sweep.trial(
            &p,
            &format!("append {label}"),
            |b| b.extend_from_slice(&record),
            Expect::Prefix(VALUES),
        )?;
    }
    sweep.finish("garbage tail sweep", started);
    Ok(())
}

/// A copy of the last record is well-formed (its check holds under the segment's salt) but
/// out of sequence: with nothing valid after it, it is a torn tail like any other damage at
/// the end (docs/design.md §10.5 step 4), so exactly the valid prefix is recovered. A
/// partial copy is an ordinary torn tail.
#[test]
fn a_duplicated_last_record_is_cut_off_and_exactly_the_valid_prefix_is_recovered() -> Result<()> {
    let started = Instant::now();
    let p = pristine()?;
    let mut sweep = Sweep::default();
    let record = last(&p, 1)[0];
    let copy = p.wal[record.start..record.end].to_vec();
    sweep.trial(
        &p,
        "append a copy of the last record",
        |b| b.extend_from_slice(&copy),
        Expect::Prefix(VALUES),
    )?;
    for n in 1..copy.len() {
        sweep.trial(
            &p,
            &format!("append the first {n} bytes of a copy of the last record"),
            |b| b.extend_from_slice(&copy[..n]),
            Expect::Prefix(VALUES),
        )?;
    }
    sweep.finish("duplicate sweep", started);
    Ok(())
}
