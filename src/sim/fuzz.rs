//! Test support: the fuzz harnesses, as plain functions of a byte slice, so the cargo-fuzz
//! targets (`fuzz/`), the corpus replay (`tests/engine/fuzz_corpus.rs`) and the property test
//! (`tests/crash/model.rs`) share one implementation.
//!
//! - [`fuzz_ops`]: bytes → a durability mode and an operation sequence with crash points
//!   ([`decode_op`]), run against the model ([`crate::sim::model`]).
//! - [`fuzz_wal_recovery`]: bytes → a WAL segment (or a damaged one) planted into a store on
//!   a simulated disk, then `RedbStore::open_simulated`. It must return `Ok` or a typed
//!   error ([`Error::WalCorrupt`], [`Error::CorruptRecord`]) — never panic, loop or allocate
//!   without bound — and what it recovers must be a state the log's records allow.
//!
//! Both return `Err` for a contract violation; the fuzz targets panic on it.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use crate::engine::{Durability, RedbOptions, RedbStore};
use crate::error::Error;
use crate::sim::model::{
    self, HarnessError, NAMES, Op, ROOT, RUNS, Report, State, TASK, Value, run_ops,
};
use crate::sim::{CrashMode, SimDisk};
use crate::store_ext::StoreExt;
use crate::{Result as StoreResult, UniqueConfig};

/// The `remote_frames` harness: one client's bytes served by the real session code
/// (defined beside that code, in `src/remote/fuzz.rs`).
#[cfg(unix)]
pub use crate::remote::fuzz::{fuzz_server_input, fuzz_server_seeds};

/// Most ops [`decode_ops`] makes (bounds a fuzz input's running time).
pub const MAX_OPS: usize = 64;

/// The `sync_interval` of the relaxed mode the harnesses use: long enough that no timed sync
/// happens during a run, so the outcome is a function of the input alone.
pub const RELAXED_SYNC_INTERVAL: Duration = Duration::from_secs(3600);

/// Decodes one op from three bytes: a tag (which op, weighted), then two operand bytes.
/// Every input decodes to some op; small runs, names and seeds keep overwrites, deletes of
/// existing results and shared content frequent.
pub fn decode_op(bytes: [u8; 3]) -> Op {
    let [tag, a, b] = bytes;
    let run = a % RUNS;
    let name = (a / RUNS) % NAMES.len() as u8;
    // Eight seeds, 32 lengths: equal values (shared content) are common.
    let (seed, size) = (b & 7, u16::from(b >> 3) * 131);
    match tag % 32 {
        0..=8 => Op::Save {
            run,
            name,
            value: Value::inline(seed, size),
        },
        9..=10 => Op::Save {
            run,
            name,
            value: Value::blob(seed, size),
        },
        11..=13 => Op::Overwrite {
            pick: a,
            value: if a & 0x80 == 0 {
                Value::inline(seed, size)
            } else {
                Value::blob(seed, size)
            },
        },
        14..=16 => Op::Delete { run, name },
        17..=18 => Op::DeleteRun { run },
        19..=20 => Op::Finish { run },
        21..=22 => Op::Checkpoint,
        23..=24 => Op::Gc,
        25..=26 => Op::Reopen,
        _ => Op::Crash {
            mode: if a % 3 == 0 {
                CrashMode::Process
            } else {
                CrashMode::PowerLoss
            },
            seed: u64::from(b) | (u64::from(a) << 8),
        },
    }
}

/// Decodes the options and ops of [`fuzz_ops`]: byte 0 picks the durability (even:
/// `Immediate`, odd: `Relaxed` with [`RELAXED_SYNC_INTERVAL`]); each following 3 bytes are
/// one op ([`decode_op`]), at most [`MAX_OPS`].
pub fn decode_ops(data: &[u8]) -> (RedbOptions, Vec<Op>) {
    let Some((&mode, rest)) = data.split_first() else {
        return (RedbOptions::default(), Vec::new());
    };
    let durability = if mode & 1 == 0 {
        Durability::Immediate
    } else {
        Durability::Relaxed {
            sync_interval: RELAXED_SYNC_INTERVAL,
        }
    };
    let ops = rest
        .chunks_exact(3)
        .take(MAX_OPS)
        .map(|c| decode_op([c[0], c[1], c[2]]))
        .collect();
    (RedbOptions::default().durability(durability), ops)
}

/// The `ops` fuzz target: decodes `data` ([`decode_ops`]) and runs it against the model.
///
/// # Errors
/// The first contract violation, with the decoded sequence.
pub fn fuzz_ops(data: &[u8]) -> Result<Report, String> {
    let (options, ops) = decode_ops(data);
    run_ops(options.clone(), &ops)
        .map_err(|e| format!("{e}\ndurability: {:?}\nops: {ops:#?}", options.durability))
}

/// The operations that build the base store of [`fuzz_wal_recovery`]: inline and blob
/// saves, a state change, deletes and a shared value, all in the WAL (no checkpoint).
pub const BASE_OPS: [Op; 8] = [
    Op::Save {
        run: 0,
        name: 0,
        value: Value { seed: 1, len: 100 },
    },
    Op::Save {
        run: 1,
        name: 1,
        value: Value {
            seed: 2,
            len: model::INLINE_LIMIT as u32 + 8,
        },
    },
    Op::Finish { run: 0 },
    Op::Save {
        run: 0,
        name: 2,
        value: Value { seed: 3, len: 300 },
    },
    Op::Delete { run: 0, name: 0 },
    Op::Save {
        run: 2,
        name: 0,
        value: Value { seed: 4, len: 20 },
    },
    Op::DeleteRun { run: 1 },
    Op::Save {
        run: 2,
        name: 1,
        value: Value { seed: 1, len: 100 },
    },
];

/// A store whose WAL holds one record per op of [`BASE_OPS`], after a process crash (the
/// database has none of them durably), and what recovery may make of it.
struct Base {
    disk: SimDisk,
    /// The only WAL segment.
    segment: PathBuf,
    /// Its bytes.
    bytes: Vec<u8>,
    /// Where each record lies in it: (offset, length with header).
    records: Vec<(usize, usize)>,
    /// The model after each prefix of [`BASE_OPS`] (index = ops applied).
    states: Vec<State>,
}

const WAL_HEADER: usize = 32;
const RECORD_HEADER: usize = 20;

fn check8(parts: &[&[u8]]) -> [u8; 8] {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
    let mut out = [0; 8];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
    out
}

/// Appends a record in the format of `docs/design.md` §8 — written here from the
/// specification, independently of `src/wal/`, so the harness also checks that the two agree.
fn encode_record(salt: u64, lsn: u64, payload: &[u8], out: &mut Vec<u8>) {
    let len = (payload.len() as u32).to_le_bytes();
    let lsn = lsn.to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&lsn);
    out.extend_from_slice(&check8(&[&salt.to_le_bytes(), &len, &lsn, payload]));
    out.extend_from_slice(payload);
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Splits a valid segment into its records (§8), checking every check8.
fn parse_segment(bytes: &[u8]) -> Result<(u64, Vec<(usize, usize)>), String> {
    let header = bytes.get(..WAL_HEADER).ok_or("the base segment is short")?;
    if &header[..8] != b"SWSTWAL1" || header[24..] != check8(&[&header[..24]]) {
        return Err("the base segment's header does not match docs/design.md §8".to_owned());
    }
    let salt = u64_at(header, 8).ok_or("short header")?;
    let mut records = Vec::new();
    let mut at = WAL_HEADER;
    while at < bytes.len() {
        let head = bytes
            .get(at..at + RECORD_HEADER)
            .ok_or("a short record header")?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let payload = bytes
            .get(at + RECORD_HEADER..at + RECORD_HEADER + len)
            .ok_or("a short record")?;
        if head[12..20] != check8(&[&salt.to_le_bytes(), &head[..4], &head[4..12], payload]) {
            return Err(format!(
                "record at {at} of the base segment does not match docs/design.md §8"
            ));
        }
        records.push((at, RECORD_HEADER + len));
        at += RECORD_HEADER + len;
    }
    Ok((salt, records))
}

fn build_base() -> Result<Base, String> {
    let mut harness = model::Harness::new(RedbOptions::default()).map_err(|e| e.to_string())?;
    for (step, op) in BASE_OPS.iter().enumerate() {
        harness.step(step, op).map_err(|e| e.to_string())?;
    }
    let disk = harness.disk().after_crash(CrashMode::Process, 0);
    drop(harness);
    let segments = disk.list_files(format!("{ROOT}/wal"));
    let [segment] = segments.as_slice() else {
        return Err(format!("the base store has WAL segments {segments:?}"));
    };
    let bytes = disk.read_file(segment).ok_or("the base segment vanished")?;
    let (_, records) = parse_segment(&bytes)?;
    if records.len() != BASE_OPS.len() {
        return Err(format!(
            "the base segment has {} records for {} ops",
            records.len(),
            BASE_OPS.len()
        ));
    }
    let mut states = vec![State::default()];
    for op in &BASE_OPS {
        let mut next = states[states.len() - 1].clone();
        next.apply(op);
        states.push(next);
    }
    Ok(Base {
        disk,
        segment: segment.clone(),
        bytes,
        records,
        states,
    })
}

fn base() -> Result<&'static Base, String> {
    static BASE: OnceLock<Result<Base, String>> = OnceLock::new();
    BASE.get_or_init(build_base).as_ref().map_err(Clone::clone)
}

/// The segment bytes of the base store, as a seed for the `wal_recovery` corpus.
///
/// # Errors
/// If the base store cannot be built.
pub fn base_segment() -> Result<Vec<u8>, String> {
    Ok(base()?.bytes.clone())
}

/// What the base store's recovery may produce for a planted log.
enum Expect {
    /// The state after some prefix of [`BASE_OPS`].
    Prefix,
    /// The state after all of [`BASE_OPS`].
    All,
    /// Anything (records with forged checksums may say anything); only no panic.
    Anything,
}

/// Which variant of planted log [`fuzz_wal_recovery`] builds from byte 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalVariant {
    /// The rest of the input is the only segment.
    Raw,
    /// The base segment stays; the rest is a second, newer segment.
    SecondSegment,
    /// The base segment's header, then records built from the rest, with valid checksums.
    Records,
    /// The base segment with the rest applied as edits (truncation, byte xors).
    Edits,
}

impl WalVariant {
    /// The variant byte 0 selects.
    pub fn of(byte: u8) -> WalVariant {
        match byte % 4 {
            0 => WalVariant::Raw,
            1 => WalVariant::SecondSegment,
            2 => WalVariant::Records,
            _ => WalVariant::Edits,
        }
    }

    /// The byte 0 that selects this variant.
    pub fn byte(self) -> u8 {
        match self {
            WalVariant::Raw => 0,
            WalVariant::SecondSegment => 1,
            WalVariant::Records => 2,
            WalVariant::Edits => 3,
        }
    }
}

/// Records from `body`, valid under the base segment's salt: each starts with a control
/// byte — 0: a payload of the next `x` bytes; 1: a base record's payload with one byte
/// changed; 2: a base record's payload unchanged under an LSN off by a signed delta; 3: `x`
/// raw, unframed bytes.
fn forge_records(base: &Base, body: &[u8]) -> Result<Vec<u8>, String> {
    let (salt, _) = parse_segment(&base.bytes)?;
    let mut out = base.bytes[..WAL_HEADER].to_vec();
    let payload_of = |index: usize| {
        let (at, len) = base.records[index % base.records.len()];
        base.bytes[at + RECORD_HEADER..at + len].to_vec()
    };
    let mut lsn = 1u64;
    let mut rest = body;
    while let [control, x, tail @ ..] = rest {
        let x = usize::from(*x);
        rest = tail;
        match control % 4 {
            0 => {
                let take = x.min(rest.len());
                encode_record(salt, lsn, &rest[..take], &mut out);
                rest = &rest[take..];
                lsn += 1;
            }
            1 => {
                let mut payload = payload_of(x);
                if let [at, xor, tail @ ..] = rest {
                    let at = usize::from(*at) % payload.len().max(1);
                    if let Some(byte) = payload.get_mut(at) {
                        *byte ^= *xor;
                    }
                    rest = tail;
                }
                encode_record(salt, lsn, &payload, &mut out);
                lsn += 1;
            }
            2 => {
                let delta = rest.first().map_or(0, |d| i64::from(*d as i8));
                rest = rest.get(1..).unwrap_or_default();
                let forged = lsn.saturating_add_signed(delta);
                encode_record(salt, forged, &payload_of(x), &mut out);
                lsn = forged.saturating_add(1);
            }
            _ => {
                let take = x.min(rest.len());
                out.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
            }
        }
    }
    Ok(out)
}

/// The base segment with `body` applied: byte 0, if odd, truncates at the offset in bytes
/// 1–2; then each (offset u16 LE, xor) triple flips bits at that offset (modulo the length).
fn edit_segment(base: &Base, body: &[u8]) -> Vec<u8> {
    let mut bytes = base.bytes.clone();
    let mut rest = body;
    if let [control, lo, hi, tail @ ..] = rest {
        if control & 1 == 1 {
            let cut = usize::from(u16::from_le_bytes([*lo, *hi])) % (bytes.len() + 1);
            bytes.truncate(cut);
        }
        rest = tail;
    }
    for edit in rest.chunks_exact(3) {
        if bytes.is_empty() {
            break;
        }
        let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % bytes.len();
        bytes[at] ^= edit[2];
    }
    bytes
}

fn allowed_error(e: &Error) -> bool {
    matches!(e, Error::WalCorrupt { .. } | Error::CorruptRecord { .. })
}

fn config(run: u8) -> StoreResult<UniqueConfig> {
    Ok(UniqueConfig::new(serde_json::json!({ "run": run }))?)
}

/// After a successful recovery: the state is one `expect` allows, a new save works and
/// survives a clean reopen.
fn check_recovered(
    base: &Base,
    disk: &SimDisk,
    store: RedbStore,
    expect: &Expect,
) -> Result<(), String> {
    fn fail(what: &'static str) -> impl Fn(Error) -> String {
        move |e| format!("{what}: {e}")
    }
    let allowed: &[State] = match expect {
        Expect::Prefix => &base.states,
        Expect::All => &base.states[base.states.len() - 1..],
        Expect::Anything => {
            // Forged records may say anything (reads then fail their hash or decode
            // checks); the store must merely not panic on the next operations either.
            let _ = model::observe(&store);
            let _ = config(0).and_then(|c| {
                store.run(TASK, &c)?.save_bytes(
                    NAMES[1],
                    "bytes",
                    &Value { seed: 7, len: 77 }.bytes(),
                )
            });
            let _ = store.close();
            return Ok(());
        }
    };
    let seen = model::observe(&store).map_err(fail("read back the recovered store"))?;
    if !allowed.contains(&seen) {
        let allowed: Vec<String> = allowed.iter().map(State::summary).collect();
        return Err(format!(
            "recovered a state no prefix of the log gives: {}\nallowed:\n  {}",
            seen.summary(),
            allowed.join("\n  ")
        ));
    }
    let value = Value { seed: 7, len: 77 };
    store
        .run(TASK, &config(0).map_err(fail("config"))?)
        .and_then(|h| h.save_bytes(NAMES[1], "bytes", &value.bytes()))
        .map_err(fail("save after recovery"))?;
    store.close().map_err(fail("close after recovery"))?;
    let store = RedbStore::open_simulated(ROOT, RedbOptions::default(), disk)
        .map_err(fail("reopen after recovery"))?;
    let mut expected = seen;
    expected.apply(&Op::Save {
        run: 0,
        name: 1,
        value,
    });
    let again = model::observe(&store).map_err(fail("read back after reopen"))?;
    if again != expected {
        return Err(format!(
            "after a save and a clean reopen the store holds {}, expected {}",
            again.summary(),
            expected.summary()
        ));
    }
    store.close().map_err(fail("final close"))
}

/// The `wal_recovery` fuzz target: byte 0 picks a [`WalVariant`], the rest is planted into
/// a copy of the base store's WAL directory, then the store is opened. Returns the variant
/// and whether the open succeeded.
///
/// # Errors
/// A panic-free contract violation: an error other than [`Error::WalCorrupt`] or
/// [`Error::CorruptRecord`], a recovered state the log does not allow, or a recovered store
/// that does not keep working.
pub fn fuzz_wal_recovery(data: &[u8]) -> Result<(WalVariant, bool), String> {
    let base = base()?;
    let Some((&selector, body)) = data.split_first() else {
        return Ok((WalVariant::Raw, false));
    };
    let variant = WalVariant::of(selector);
    let disk = base.disk.after_crash(CrashMode::Process, 0);
    let expect = match variant {
        WalVariant::Raw => {
            disk.write_file(&base.segment, body);
            Expect::Prefix
        }
        WalVariant::SecondSegment => {
            let next = BASE_OPS.len() as u64 + 1;
            disk.write_file(format!("{ROOT}/wal/{next:020}.wal"), body);
            Expect::All
        }
        WalVariant::Records => {
            disk.write_file(&base.segment, &forge_records(base, body)?);
            Expect::Anything
        }
        WalVariant::Edits => {
            disk.write_file(&base.segment, &edit_segment(base, body));
            Expect::Prefix
        }
    };
    match RedbStore::open_simulated(ROOT, RedbOptions::default(), &disk) {
        Ok(store) => {
            check_recovered(base, &disk, store, &expect)
                .map_err(|e| format!("{variant:?}: {e}"))?;
            Ok((variant, true))
        }
        Err(e) if allowed_error(&e) => Ok((variant, false)),
        Err(e) => Err(format!(
            "{variant:?}: open failed with an unexpected kind of error: {e:?}"
        )),
    }
}

/// Runs the `ops` harness with `HarnessError` kept typed (for tests that inspect it).
///
/// # Errors
/// As [`run_ops`].
pub fn run_decoded(data: &[u8]) -> Result<Report, HarnessError> {
    let (options, ops) = decode_ops(data);
    run_ops(options, &ops)
}
