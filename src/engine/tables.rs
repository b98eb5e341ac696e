//! The redb tables of a [`RedbStore`](crate::RedbStore) and their value layouts.
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | `&str` | `u64`: `format` (= [`FORMAT_VERSION`]), `applied_lsn`, `wal_head`, `checkpoint_at` |
//! | `runs` | run key `[u8; 32]` | postcard [`RunRecord`] (‖ postcard [`RunTree`] if any) |
//! | `results` | (run key, result name) | postcard [`ResultEntry`] (‖ postcard `sub_dir` if any) |
//! | `task_runs` | (task, sweep counter) | run key |
//! | `tasks` | task | next sweep counter |
//! | `content` | content hash `[u8; 32]` | tag `0` ‖ inline bytes, or tag `1` ‖ size u64 LE (blob file) |
//! | `run_times` | run key `[u8; 32]` | [`RunTimes`]: created, finished (Unix ms, u64 LE each; 0 = unknown) |
//! | `claims` | run key `[u8; 32]` | postcard `Lease` (owner, expiry in ms since the epoch) |
//!
//! Invariants: `task_runs` holds exactly one entry per `runs` entry, under the run's task and
//! counter; `tasks[t]` is greater than every counter of task `t` ever assigned; every
//! `results` key's run exists in `runs`; every `results` entry's hash has a `content` row;
//! every `claims` key's run exists in `runs` with state running (a claim is released by the
//! run's next state change or its deletion). `claims` was added without a format change: a
//! store opened by this build gets the table (empty) on open.
//! Results live in their own table so that a save costs the same however many results its
//! run already has.
//!
//! Every write transaction opens its tables here, in one place: [`WriteTables::open`] (the
//! tables an op writes; it also creates them in a new or older store) and [`open_meta`].
//! Readers open them lazily in `engine::reader`.

use redb::{Table, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::key::{ContentHash, RunKey};
use crate::run::RunState;

/// The on-disk format version this build reads and writes.
pub(crate) const FORMAT_VERSION: u64 = 1;

pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const RUNS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("runs");
pub(crate) const RESULTS: TableDefinition<(&[u8; 32], &str), &[u8]> =
    TableDefinition::new("results");
pub(crate) const TASK_RUNS: TableDefinition<(&str, u64), &[u8; 32]> =
    TableDefinition::new("task_runs");
pub(crate) const TASKS: TableDefinition<&str, u64> = TableDefinition::new("tasks");
pub(crate) const CONTENT: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("content");
/// Added after format 1 shipped without a version bump: a store written before it has the
/// table empty (created at its next open), so its runs' times are unknown.
pub(crate) const RUN_TIMES: TableDefinition<&[u8; 32], [u8; 16]> =
    TableDefinition::new("run_times");
pub(crate) const CLAIMS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("claims");

/// The key type of the `results` table: (run key, result name).
pub(crate) type ResultKey = (&'static [u8; 32], &'static str);

/// The tables an op writes, open in one write transaction.
pub(crate) struct WriteTables<'t> {
    pub(crate) runs: Table<'t, &'static [u8; 32], &'static [u8]>,
    pub(crate) results: Table<'t, ResultKey, &'static [u8]>,
    pub(crate) task_runs: Table<'t, (&'static str, u64), &'static [u8; 32]>,
    pub(crate) tasks: Table<'t, &'static str, u64>,
    pub(crate) content: Table<'t, &'static [u8; 32], &'static [u8]>,
    pub(crate) run_times: Table<'t, &'static [u8; 32], [u8; 16]>,
    pub(crate) claims: Table<'t, &'static [u8; 32], &'static [u8]>,
}

fn open_error(e: redb::TableError) -> Error {
    Error::storage("open a table", e)
}

impl<'t> WriteTables<'t> {
    /// Opens (creating where missing) every table an op may write, in `txn`.
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Self> {
        Ok(WriteTables {
            runs: txn.open_table(RUNS).map_err(open_error)?,
            results: txn.open_table(RESULTS).map_err(open_error)?,
            task_runs: txn.open_table(TASK_RUNS).map_err(open_error)?,
            tasks: txn.open_table(TASKS).map_err(open_error)?,
            content: txn.open_table(CONTENT).map_err(open_error)?,
            run_times: txn.open_table(RUN_TIMES).map_err(open_error)?,
            claims: txn.open_table(CLAIMS).map_err(open_error)?,
        })
    }
}

/// Opens (creating where missing) the `meta` table in `txn`.
pub(crate) fn open_meta(txn: &WriteTransaction) -> Result<Table<'_, &'static str, u64>> {
    txn.open_table(META).map_err(open_error)
}

/// `meta` key of the format version.
pub(crate) const META_FORMAT: &str = "format";
/// `meta` key of the LSN of the last WAL record applied.
pub(crate) const META_APPLIED_LSN: &str = "applied_lsn";
/// `meta` key of the first LSN of the WAL segment that was newest at the last checkpoint;
/// that segment was durable before the checkpoint committed, so it must still exist.
pub(crate) const META_WAL_HEAD: &str = "wal_head";
/// `meta` key of when the last checkpoint committed, in seconds since the Unix epoch
/// (informational; absent in stores last checkpointed by a build that did not record it).
pub(crate) const META_CHECKPOINT_AT: &str = "checkpoint_at";

/// Content row tag: the value's bytes follow.
pub(crate) const CONTENT_INLINE: u8 = 0;
/// Content row tag: the value is a blob file; its size (u64 LE) follows.
pub(crate) const CONTENT_BLOB: u8 = 1;

/// One run: its identity and state (its results are in the `results` table).
///
/// Encoding: postcard of the four serialized fields (the record as format 1 shipped it),
/// followed — only when it is not the default — by postcard of [`RunTree`]. Builds before
/// the tree decode the first part and ignore the rest (postcard's `from_bytes` leaves
/// trailing bytes unread), so they still open such a store and see the run as `state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RunRecord {
    pub(crate) task: String,
    /// The canonical config text.
    pub(crate) config: String,
    pub(crate) counter: u64,
    /// The state, unless `tree.stateless` (then `Running`, which older builds report).
    pub(crate) state: RunState,
    #[serde(skip)]
    pub(crate) tree: RunTree,
}

/// What a fluidml tree says of a run beyond its config, state and results, kept so a copy
/// back into a tree loses nothing (`docs/design.md` §9, §13.4): the name of the run's
/// directory there, and that the run has no state. Set by the WAL op `Tree`; any state
/// change clears `stateless`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunTree {
    /// The run directory's name in the tree it was copied from (`brave-owl-000`).
    pub(crate) dir_name: Option<String>,
    /// The run was never given a state (absent, not running).
    pub(crate) stateless: bool,
}

/// When a run was created and last finished, in milliseconds since the Unix epoch; `None`
/// where unknown (runs of older stores, runs never finished). Stored as two u64 LE, 0 for
/// `None` (a time of exactly the epoch reads back as unknown, which no run has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RunTimes {
    pub(crate) created: Option<u64>,
    pub(crate) finished: Option<u64>,
}

impl RunTimes {
    pub(crate) fn encode(self) -> [u8; 16] {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&self.created.unwrap_or(0).to_le_bytes());
        bytes[8..].copy_from_slice(&self.finished.unwrap_or(0).to_le_bytes());
        bytes
    }

    pub(crate) fn decode(bytes: [u8; 16]) -> Self {
        let half = |at: usize| {
            let mut word = [0; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            Some(u64::from_le_bytes(word)).filter(|&ms| ms != 0)
        };
        RunTimes {
            created: half(0),
            finished: half(8),
        }
    }

    /// The times as [`SystemTime`](std::time::SystemTime)s.
    pub(crate) fn system_times(
        self,
    ) -> (Option<std::time::SystemTime>, Option<std::time::SystemTime>) {
        let at = crate::browse::at_ms;
        (self.created.map(at), self.finished.map(at))
    }
}

/// One named result of a run.
///
/// Encoding: postcard of the three serialized fields, followed — only for a result saved
/// with a `sub_dir` — by postcard of that path (a string). Builds before `sub_dir`s were
/// kept ignore the trailing bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ResultEntry {
    pub(crate) type_name: String,
    pub(crate) hash: ContentHash,
    pub(crate) size: u64,
    /// The sub-directory it was saved in (fluidml's `sub_dir`), normalized.
    #[serde(skip)]
    pub(crate) sub_dir: Option<String>,
}

impl ResultEntry {
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let fail = |e: postcard::Error| Error::CorruptRecord {
            what: "result".to_owned(),
            reason: e.to_string(),
        };
        let mut bytes = postcard::to_stdvec(self).map_err(fail)?;
        if let Some(sub_dir) = &self.sub_dir {
            bytes.extend(postcard::to_stdvec(sub_dir).map_err(fail)?);
        }
        Ok(bytes)
    }

    pub(crate) fn decode(key: &RunKey, name: &str, bytes: &[u8]) -> Result<Self> {
        let fail = |e: postcard::Error| Error::CorruptRecord {
            what: format!("result `{name}` of run {key}"),
            reason: e.to_string(),
        };
        let (mut entry, rest): (ResultEntry, &[u8]) =
            postcard::take_from_bytes(bytes).map_err(fail)?;
        if !rest.is_empty() {
            entry.sub_dir = Some(postcard::from_bytes(rest).map_err(fail)?);
        }
        Ok(entry)
    }
}

impl RunRecord {
    /// The run's state: `None` for a run that was never given one.
    pub(crate) fn state(&self) -> Option<RunState> {
        (!self.tree.stateless).then_some(self.state)
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let fail = |e: postcard::Error| Error::CorruptRecord {
            what: "run".to_owned(),
            reason: e.to_string(),
        };
        let mut bytes = postcard::to_stdvec(self).map_err(fail)?;
        if self.tree != RunTree::default() {
            bytes.extend(postcard::to_stdvec(&self.tree).map_err(fail)?);
        }
        Ok(bytes)
    }

    pub(crate) fn decode(key: &RunKey, bytes: &[u8]) -> Result<Self> {
        let fail = |e: postcard::Error| Error::CorruptRecord {
            what: format!("run {key}"),
            reason: e.to_string(),
        };
        let (mut record, rest): (RunRecord, &[u8]) =
            postcard::take_from_bytes(bytes).map_err(fail)?;
        if !rest.is_empty() {
            record.tree = postcard::from_bytes(rest).map_err(fail)?;
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run record as format 1 shipped it (what builds before `RunTree` encode and
    /// decode).
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct RunRecordV1 {
        task: String,
        config: String,
        counter: u64,
        state: RunState,
    }

    /// The result entry before `sub_dir`s were kept.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct ResultEntryV1 {
        type_name: String,
        hash: ContentHash,
        size: u64,
    }

    fn corrupt(e: postcard::Error) -> Error {
        Error::CorruptRecord {
            what: "test record".into(),
            reason: e.to_string(),
        }
    }

    fn key() -> RunKey {
        RunKey::from_bytes([7; 32])
    }

    #[test]
    fn run_records_of_older_builds_decode_with_no_tree_and_theirs_decode_ours() -> Result<()> {
        let old = RunRecordV1 {
            task: "train".into(),
            config: "{}".into(),
            counter: 4,
            state: RunState::Finished,
        };
        let old_bytes = postcard::to_stdvec(&old).map_err(corrupt)?;
        let record = RunRecord::decode(&key(), &old_bytes)?;
        assert_eq!(record.tree, RunTree::default());
        assert_eq!(record.state(), Some(RunState::Finished));
        assert_eq!(
            record.encode()?,
            old_bytes,
            "no tree: the format-1 bytes exactly"
        );

        let mut tree = record.clone();
        tree.state = RunState::Running;
        tree.tree = RunTree {
            dir_name: Some("brave-owl-000".into()),
            stateless: true,
        };
        let bytes = tree.encode()?;
        assert_eq!(RunRecord::decode(&key(), &bytes)?, tree);
        assert_eq!(RunRecord::decode(&key(), &bytes)?.state(), None);
        // An older build reads the four fields and ignores the rest (a running run).
        let seen: RunRecordV1 = postcard::from_bytes(&bytes).map_err(corrupt)?;
        assert_eq!(seen.state, RunState::Running);
        assert_eq!(seen.counter, 4);
        // A damaged tail is a corrupt record, not a silent default.
        let mut damaged = bytes.clone();
        damaged.truncate(old_bytes.len() + 3);
        assert!(matches!(
            RunRecord::decode(&key(), &damaged),
            Err(Error::CorruptRecord { .. })
        ));
        Ok(())
    }

    #[test]
    fn result_entries_keep_their_sub_dir_and_older_ones_decode_without() -> Result<()> {
        let old = ResultEntryV1 {
            type_name: "json".into(),
            hash: ContentHash::of(b"{}"),
            size: 2,
        };
        let old_bytes = postcard::to_stdvec(&old).map_err(corrupt)?;
        let entry = ResultEntry::decode(&key(), "m", &old_bytes)?;
        assert_eq!(entry.sub_dir, None);
        assert_eq!(entry.encode()?, old_bytes);
        let placed = ResultEntry {
            sub_dir: Some("plots/raw".into()),
            ..entry
        };
        let bytes = placed.encode()?;
        assert_eq!(ResultEntry::decode(&key(), "m", &bytes)?, placed);
        let seen: ResultEntryV1 = postcard::from_bytes(&bytes).map_err(corrupt)?;
        assert_eq!(seen, old, "an older build sees the same result");
        Ok(())
    }
}
