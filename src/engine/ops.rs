//! Pure functions over redb tables: lookups (for readers and the actor alike) and applying
//! logged ops (for the actor and recovery alike).
//!
//! Invariant: [`apply`] is idempotent and touches only what its op names. One save to an
//! existing run costs one `runs` read (to resolve it), one `content` read, one `results`
//! write, plus one `content` write when the content is new; creating a run adds one `tasks`
//! read and one `runs`, one `task_runs` and one `tasks` write.

use redb::ReadableTable;

use crate::claim::Lease;
use crate::config::UniqueConfig;
use crate::engine::record::{NewRun, WalOp};
use crate::engine::tables::{
    CONTENT_BLOB, CONTENT_INLINE, ResultEntry, ResultKey, RunRecord, RunTimes, RunTree, WriteTables,
};
use crate::error::{Error, Result};
use crate::key::{ContentHash, RunKey};
use crate::lookup::best_subset;
use crate::run::{RunId, RunState};

fn storage(op: &'static str) -> impl FnOnce(redb::StorageError) -> Error {
    move |e| Error::storage(op, e)
}

/// Reads one result entry.
pub(crate) fn get_result(
    results: &impl ReadableTable<ResultKey, &'static [u8]>,
    key: &RunKey,
    name: &str,
) -> Result<Option<ResultEntry>> {
    let row = results
        .get((key.as_bytes(), name))
        .map_err(storage("read a result"))?;
    row.map(|v| ResultEntry::decode(key, name, v.value()))
        .transpose()
}

/// All results of a run, by name in ascending order.
pub(crate) fn run_results(
    results: &impl ReadableTable<ResultKey, &'static [u8]>,
    key: &RunKey,
) -> Result<Vec<(String, ResultEntry)>> {
    let range = results
        .range((key.as_bytes(), "")..)
        .map_err(storage("list the results of a run"))?;
    let mut out = Vec::new();
    for row in range {
        let (k, v) = row.map_err(storage("list the results of a run"))?;
        let (run, name) = k.value();
        if run != key.as_bytes() {
            break;
        }
        out.push((name.to_owned(), ResultEntry::decode(key, name, v.value())?));
    }
    Ok(out)
}

/// Whether run `key` exists (without decoding it).
pub(crate) fn run_exists(
    runs: &impl ReadableTable<&'static [u8; 32], &'static [u8]>,
    key: &RunKey,
) -> Result<bool> {
    Ok(runs
        .get(key.as_bytes())
        .map_err(storage("read a run"))?
        .is_some())
}

/// Reads one run record.
pub(crate) fn get_run(
    runs: &impl ReadableTable<&'static [u8; 32], &'static [u8]>,
    key: &RunKey,
) -> Result<Option<RunRecord>> {
    let row = runs.get(key.as_bytes()).map_err(storage("read a run"))?;
    row.map(|v| RunRecord::decode(key, v.value())).transpose()
}

/// The recorded times of run `key` (both unknown if none are recorded).
pub(crate) fn get_run_times(
    table: &impl ReadableTable<&'static [u8; 32], [u8; 16]>,
    key: &RunKey,
) -> Result<RunTimes> {
    let row = table
        .get(key.as_bytes())
        .map_err(storage("read a run's times"))?;
    Ok(row.map(|v| RunTimes::decode(v.value())).unwrap_or_default())
}

/// Reads the claim of run `key`, if one is held.
pub(crate) fn get_claim(
    claims: &impl ReadableTable<&'static [u8; 32], &'static [u8]>,
    key: &RunKey,
) -> Result<Option<Lease>> {
    let row = claims
        .get(key.as_bytes())
        .map_err(storage("read a claim"))?;
    row.map(|v| {
        postcard::from_bytes(v.value()).map_err(|e| Error::CorruptRecord {
            what: format!("claim of run {key}"),
            reason: e.to_string(),
        })
    })
    .transpose()
}

/// The runs of `task` in creation order: (counter, key).
pub(crate) fn task_runs(
    task_runs: &impl ReadableTable<(&'static str, u64), &'static [u8; 32]>,
    task: &str,
) -> Result<Vec<(u64, RunKey)>> {
    let range = task_runs
        .range((task, 0)..=(task, u64::MAX))
        .map_err(storage("list the runs of a task"))?;
    let mut out = Vec::new();
    for row in range {
        let (k, v) = row.map_err(storage("list the runs of a task"))?;
        out.push((k.value().1, RunKey::from_bytes(*v.value())));
    }
    Ok(out)
}

/// Parses a stored canonical config. A config past the limits (`limits.rs`) was stored by a
/// version without them; it is reported as such, naming the run.
pub(crate) fn parse_config(key: &RunKey, canonical: &str) -> Result<UniqueConfig> {
    UniqueConfig::parse(canonical).map_err(|e| Error::CorruptRecord {
        what: format!("config of run {key}"),
        reason: if e.is_over_limit() {
            format!(
                "{e} (the config was stored by an earlier version, without this limit; only \
                 this run is affected)"
            )
        } else {
            e.to_string()
        },
    })
}

/// Parses a stored canonical config for a listing that skips a run whose config is past the
/// limits (stored by an earlier version): `None` for such a run, after a warning naming it.
/// A config that is damaged in any other way is an error.
pub(crate) fn parse_listed_config(key: &RunKey, canonical: &str) -> Result<Option<UniqueConfig>> {
    match UniqueConfig::parse(canonical) {
        Ok(config) => Ok(Some(config)),
        Err(e) if e.is_over_limit() => {
            tracing::warn!("skipping run {key}: {e} (stored by an earlier version)");
            Ok(None)
        }
        Err(_) => parse_config(key, canonical).map(Some),
    }
}

/// The lookup rule: the key of the exact run, else of the best subset run of the task. An
/// exact hit costs one `runs` get and decodes nothing.
pub(crate) fn lookup(
    runs: &impl ReadableTable<&'static [u8; 32], &'static [u8]>,
    index: &impl ReadableTable<(&'static str, u64), &'static [u8; 32]>,
    run: &RunId,
) -> Result<Option<RunKey>> {
    if run_exists(runs, &run.key())? {
        return Ok(Some(run.key()));
    }
    let mut candidates = Vec::new();
    for (counter, key) in task_runs(index, run.task().as_str())? {
        // A config past the limits is never a subset of the query, which is within them:
        // the query would hold all its members and so be past the limits too.
        if let Some(record) = get_run(runs, &key)?
            && let Some(config) = parse_listed_config(&key, &record.config)?
        {
            candidates.push((config, counter, key));
        }
    }
    let refs = candidates.iter().map(|(c, n, key)| (c, *n, *key));
    Ok(best_subset(run.config(), refs))
}

/// What a new run of `run` would be: its task's next counter.
pub(crate) fn new_run(
    tasks: &impl ReadableTable<&'static str, u64>,
    run: &RunId,
) -> Result<NewRun> {
    let next = tasks
        .get(run.task().as_str())
        .map_err(storage("read a task"))?
        .map_or(0, |v| v.value());
    Ok(NewRun {
        task: run.task().as_str().to_owned(),
        config: run.config().canonical().to_owned(),
        counter: next,
    })
}

/// Reads a content row: inline bytes, or the size of a blob.
pub(crate) enum ContentRow {
    Inline(Vec<u8>),
    Blob(u64),
}

pub(crate) fn get_content(
    content: &impl ReadableTable<&'static [u8; 32], &'static [u8]>,
    hash: &ContentHash,
) -> Result<Option<ContentRow>> {
    let Some(row) = content
        .get(hash.as_bytes())
        .map_err(storage("read content"))?
    else {
        return Ok(None);
    };
    decode_content(hash, row.value()).map(Some)
}

/// Decodes the value of content row `hash`.
pub(crate) fn decode_content(hash: &ContentHash, bytes: &[u8]) -> Result<ContentRow> {
    match bytes.split_first() {
        Some((&CONTENT_INLINE, rest)) => Ok(ContentRow::Inline(rest.to_vec())),
        Some((&CONTENT_BLOB, rest)) if rest.len() == 8 => {
            let mut size = [0; 8];
            size.copy_from_slice(rest);
            Ok(ContentRow::Blob(u64::from_le_bytes(size)))
        }
        _ => Err(Error::CorruptRecord {
            what: format!("content {hash}"),
            reason: "unknown row tag".to_owned(),
        }),
    }
}

impl WriteTables<'_> {
    /// Records that `op`, logged at `unix_ms`, created its run (if it did) and finished it
    /// (a state of finished) or un-finished it (any other state).
    fn stamp(&mut self, op: &WalOp, unix_ms: u64) -> Result<()> {
        let (run, creates, state) = match op {
            WalOp::Put { run, new_run, .. } => (run, new_run.is_some(), None),
            WalOp::SetState {
                run,
                new_run,
                state,
            } => (run, new_run.is_some(), Some(*state)),
            WalOp::CreateRun { run, .. } => (run, true, None),
            WalOp::Claim { run, new_run, .. } => (run, new_run.is_some(), Some(RunState::Running)),
            WalOp::InSubDir { op, .. } => return self.stamp(op, unix_ms),
            // No state is not finished.
            WalOp::Tree {
                run,
                new_run,
                stateless,
                ..
            } => (
                run,
                new_run.is_some(),
                stateless.then_some(RunState::Running),
            ),
            _ => return Ok(()),
        };
        if !creates && state.is_none() {
            return Ok(());
        }
        let mut times = get_run_times(&self.run_times, run)?;
        if creates {
            times.created = Some(unix_ms);
        }
        if let Some(state) = state {
            times.finished = crate::browse::finished_at(state, unix_ms);
        }
        self.run_times
            .insert(run.as_bytes(), times.encode())
            .map_err(storage("write a run's times"))?;
        Ok(())
    }

    /// Releases the claim of run `key`, if any.
    fn release(&mut self, key: &RunKey) -> Result<()> {
        self.claims
            .remove(key.as_bytes())
            .map_err(storage("release a claim"))?;
        Ok(())
    }

    /// The existing run `key`, or the run `new_run` creates.
    fn run_or_create(&mut self, key: &RunKey, new_run: Option<&NewRun>) -> Result<RunRecord> {
        match new_run {
            Some(new_run) => self.create_run(key, new_run),
            None => get_run(&self.runs, key)?.ok_or_else(|| Error::CorruptRecord {
                what: format!("WAL op on run {key}"),
                reason: "the run does not exist and the op does not create it".to_owned(),
            }),
        }
    }

    fn put_run(&mut self, key: &RunKey, record: &RunRecord) -> Result<()> {
        self.runs
            .insert(key.as_bytes(), record.encode()?.as_slice())
            .map_err(storage("write a run"))?;
        Ok(())
    }

    /// Creates run `key` as `new_run` says (writing the same again on a repeated apply).
    fn create_run(&mut self, key: &RunKey, new_run: &NewRun) -> Result<RunRecord> {
        let record = RunRecord {
            task: new_run.task.clone(),
            config: new_run.config.clone(),
            counter: new_run.counter,
            state: RunState::Running,
            tree: RunTree::default(),
        };
        self.put_run(key, &record)?;
        self.task_runs
            .insert((new_run.task.as_str(), new_run.counter), key.as_bytes())
            .map_err(storage("index a run"))?;
        let next = self
            .tasks
            .get(new_run.task.as_str())
            .map_err(storage("read a task"))?
            .map_or(0, |v| v.value())
            .max(
                new_run
                    .counter
                    .checked_add(1)
                    .ok_or_else(|| Error::CorruptRecord {
                        what: format!("WAL op creating run {key}"),
                        reason: "its sweep counter is the largest possible".to_owned(),
                    })?,
            );
        self.tasks
            .insert(new_run.task.as_str(), next)
            .map_err(storage("write a task"))?;
        Ok(record)
    }

    fn put_content(&mut self, hash: &ContentHash, inline: Option<&[u8]>, size: u64) -> Result<()> {
        if self
            .content
            .get(hash.as_bytes())
            .map_err(storage("read content"))?
            .is_some()
        {
            return Ok(());
        }
        let mut row = Vec::with_capacity(1 + inline.map_or(8, <[u8]>::len));
        match inline {
            Some(bytes) => {
                row.push(CONTENT_INLINE);
                row.extend_from_slice(bytes);
            }
            None => {
                row.push(CONTENT_BLOB);
                row.extend_from_slice(&size.to_le_bytes());
            }
        }
        self.content
            .insert(hash.as_bytes(), row.as_slice())
            .map_err(storage("write content"))?;
        Ok(())
    }
}

/// Applies one logged op.
///
/// # Errors
/// [`Error::CorruptRecord`] if the op refers to a run that does not exist; storage errors.
pub(crate) fn apply(tables: &mut WriteTables<'_>, op: &WalOp, inline: Option<&[u8]>) -> Result<()> {
    apply_in(tables, op, inline, None)
}

/// [`apply`], with the sub_dir of the [`WalOp::InSubDir`] `op` is inside, if any.
fn apply_in(
    tables: &mut WriteTables<'_>,
    op: &WalOp,
    inline: Option<&[u8]>,
    sub_dir: Option<&str>,
) -> Result<()> {
    match op {
        WalOp::Put {
            run,
            new_run,
            name,
            type_name,
            hash,
            size,
            ..
        } => {
            // Without `new_run`, the run existed when the op was resolved; the log keeps
            // that order, so there is nothing to read back here.
            if let Some(new_run) = new_run {
                tables.create_run(run, new_run)?;
            }
            tables.put_content(hash, inline, *size)?;
            let entry = ResultEntry {
                type_name: type_name.clone(),
                hash: *hash,
                size: *size,
                sub_dir: sub_dir.map(str::to_owned),
            };
            tables
                .results
                .insert((run.as_bytes(), name.as_str()), entry.encode()?.as_slice())
                .map_err(storage("write a result"))?;
            Ok(())
        }
        WalOp::SetState {
            run,
            new_run,
            state,
        } => {
            let mut record = tables.run_or_create(run, new_run.as_ref())?;
            record.state = *state;
            record.tree.stateless = false;
            tables.release(run)?;
            tables.put_run(run, &record)
        }
        WalOp::Claim {
            run,
            new_run,
            lease,
        } => {
            let mut record = tables.run_or_create(run, new_run.as_ref())?;
            record.state = RunState::Running;
            record.tree.stateless = false;
            tables.put_run(run, &record)?;
            let row = postcard::to_stdvec(lease).map_err(|e| Error::CorruptRecord {
                what: format!("claim of run {run}"),
                reason: e.to_string(),
            })?;
            tables
                .claims
                .insert(run.as_bytes(), row.as_slice())
                .map_err(storage("write a claim"))?;
            Ok(())
        }
        WalOp::CreateRun { run, new_run } => {
            tables.create_run(run, new_run)?;
            Ok(())
        }
        WalOp::Delete { run, name } => {
            tables
                .results
                .remove((run.as_bytes(), name.as_str()))
                .map_err(storage("remove a result"))?;
            Ok(())
        }
        WalOp::At { unix_ms, op } => {
            apply_in(tables, op, inline, sub_dir)?;
            tables.stamp(op, *unix_ms)
        }
        WalOp::InSubDir { sub_dir, op } => apply_in(tables, op, inline, Some(sub_dir)),
        WalOp::Tree {
            run,
            new_run,
            dir_name,
            stateless,
        } => {
            let mut record = tables.run_or_create(run, new_run.as_ref())?;
            record.tree = RunTree {
                dir_name: dir_name.clone(),
                stateless: *stateless,
            };
            if *stateless {
                // No state, so no claim either.
                tables.release(run)?;
            }
            tables.put_run(run, &record)
        }
        WalOp::DeleteRun { run } => {
            tables
                .run_times
                .remove(run.as_bytes())
                .map_err(storage("remove a run's times"))?;
            tables.release(run)?;
            if let Some(record) = get_run(&tables.runs, run)? {
                tables
                    .runs
                    .remove(run.as_bytes())
                    .map_err(storage("remove a run"))?;
                tables
                    .task_runs
                    .remove((record.task.as_str(), record.counter))
                    .map_err(storage("unindex a run"))?;
                for (name, _) in run_results(&tables.results, run)? {
                    tables
                        .results
                        .remove((run.as_bytes(), name.as_str()))
                        .map_err(storage("remove a result"))?;
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use redb::backends::InMemoryBackend;
    use redb::{Builder, Database};
    use serde_json::json;

    use super::*;
    use crate::names::TaskName;

    fn run(task: &str, config: serde_json::Value) -> Result<RunId> {
        Ok(RunId::new(TaskName::new(task)?, UniqueConfig::new(config)?))
    }

    fn put(run: &RunId, new_run: Option<NewRun>, name: &str, bytes: &[u8]) -> WalOp {
        WalOp::Put {
            run: run.key(),
            new_run,
            name: name.to_owned(),
            type_name: "bytes".to_owned(),
            hash: ContentHash::of(bytes),
            size: bytes.len() as u64,
            inline: true,
        }
    }

    /// Applies `ops` in one write transaction of a bare in-memory database.
    fn apply_all(db: &Database, ops: &[(WalOp, Option<&[u8]>)]) -> Result<()> {
        let txn = db.begin_write().map_err(|e| Error::storage("begin", e))?;
        {
            let mut tables = WriteTables::open(&txn)?;
            for (op, inline) in ops {
                apply(&mut tables, op, *inline)?;
            }
        }
        txn.commit().map_err(|e| Error::storage("commit", e))
    }

    fn new_db() -> Result<Database> {
        Builder::new()
            .create_with_backend(InMemoryBackend::new())
            .map_err(|e| Error::storage("create", e))
    }

    fn new_run_of(run: &RunId, counter: u64) -> NewRun {
        NewRun {
            task: run.task().as_str().to_owned(),
            config: run.config().canonical().to_owned(),
            counter,
        }
    }

    /// Runs `check` over the tables of `db`, in a write transaction that is dropped
    /// uncommitted.
    fn inspect<T>(db: &Database, check: impl FnOnce(&WriteTables<'_>) -> Result<T>) -> Result<T> {
        let txn = db.begin_write().map_err(|e| Error::storage("begin", e))?;
        let tables = WriteTables::open(&txn)?;
        check(&tables)
    }

    /// The recorded times of `run` in `db`.
    fn times_of(db: &Database, run: &RunId) -> Result<RunTimes> {
        inspect(db, |tables| get_run_times(&tables.run_times, &run.key()))
    }

    fn at(unix_ms: u64, op: WalOp) -> WalOp {
        WalOp::At {
            unix_ms,
            op: Box::new(op),
        }
    }

    fn set(run: &RunId, new_run: Option<NewRun>, state: RunState) -> WalOp {
        WalOp::SetState {
            run: run.key(),
            new_run,
            state,
        }
    }

    #[test]
    fn timed_ops_record_when_a_run_was_created_and_finished() -> Result<()> {
        let db = new_db()?;
        let a = run("t", json!({"a": 1}))?;
        let created = at(1000, put(&a, Some(new_run_of(&a, 0)), "m", b"x"));
        // Applied twice (a replay after a crash): the same times.
        apply_all(
            &db,
            &[
                (created.clone(), Some(&b"x"[..])),
                (created, Some(&b"x"[..])),
            ],
        )?;
        assert_eq!(
            times_of(&db, &a)?,
            RunTimes {
                created: Some(1000),
                finished: None
            }
        );
        // A later save does not move the creation time.
        apply_all(
            &db,
            &[(at(1500, put(&a, None, "n", b"y")), Some(&b"y"[..]))],
        )?;
        apply_all(&db, &[(at(2000, set(&a, None, RunState::Finished)), None)])?;
        assert_eq!(
            times_of(&db, &a)?,
            RunTimes {
                created: Some(1000),
                finished: Some(2000)
            }
        );
        // Running again: not finished any more.
        apply_all(&db, &[(at(3000, set(&a, None, RunState::Running)), None)])?;
        assert_eq!(
            times_of(&db, &a)?,
            RunTimes {
                created: Some(1000),
                finished: None
            }
        );
        apply_all(&db, &[(WalOp::DeleteRun { run: a.key() }, None)])?;
        assert_eq!(times_of(&db, &a)?, RunTimes::default());
        Ok(())
    }

    #[test]
    fn untimed_ops_of_older_builds_leave_the_times_unknown() -> Result<()> {
        let db = new_db()?;
        let a = run("t", json!({"a": 1}))?;
        apply_all(
            &db,
            &[
                (put(&a, Some(new_run_of(&a, 0)), "m", b"x"), Some(&b"x"[..])),
                (set(&a, None, RunState::Finished), None),
            ],
        )?;
        assert_eq!(times_of(&db, &a)?, RunTimes::default());
        assert_eq!(
            RunTimes::decode(
                RunTimes {
                    created: Some(7),
                    finished: None
                }
                .encode()
            ),
            RunTimes {
                created: Some(7),
                finished: None
            }
        );
        Ok(())
    }

    #[test]
    fn applying_ops_twice_has_the_effect_of_applying_them_once() -> Result<()> {
        let db = new_db()?;
        let a = run("t", json!({"a": 1}))?;
        let ops = [
            (
                put(&a, Some(new_run_of(&a, 0)), "m", b"one"),
                Some(&b"one"[..]),
            ),
            (put(&a, None, "m", b"two"), Some(&b"two"[..])),
        ];
        apply_all(&db, &ops)?;
        apply_all(&db, &ops)?;
        inspect(&db, |tables| {
            let entry = get_result(&tables.results, &a.key(), "m")?.ok_or(Error::Closed)?;
            assert_eq!(entry.hash, ContentHash::of(b"two"));
            assert_eq!(run_results(&tables.results, &a.key())?.len(), 1);
            // The next counter is past the one run created, however often it was applied.
            assert_eq!(
                new_run(&tables.tasks, &run("t", json!({"b": 2}))?)?.counter,
                1
            );
            Ok(())
        })
    }

    #[test]
    fn lookup_falls_back_to_the_most_specific_subset_run_of_the_task_only() -> Result<()> {
        let db = new_db()?;
        let small = run("t", json!({"a": 1}))?;
        let big = run("t", json!({"a": 1, "b": 2}))?;
        let other_task = run("u", json!({"a": 1, "b": 2, "c": 3}))?;
        apply_all(
            &db,
            &[
                (
                    put(&small, Some(new_run_of(&small, 0)), "m", b"s"),
                    Some(&b"s"[..]),
                ),
                (
                    put(&big, Some(new_run_of(&big, 1)), "m", b"b"),
                    Some(&b"b"[..]),
                ),
                (
                    put(&other_task, Some(new_run_of(&other_task, 0)), "m", b"o"),
                    Some(&b"o"[..]),
                ),
            ],
        )?;
        let query = run("t", json!({"a": 1, "b": 2, "c": 3}))?;
        inspect(&db, |tables| {
            let (runs, index) = (&tables.runs, &tables.task_runs);
            assert_eq!(lookup(runs, index, &query)?, Some(big.key()));
            assert_eq!(lookup(runs, index, &small)?, Some(small.key()));
            assert_eq!(lookup(runs, index, &run("t", json!({"z": 0}))?)?, None);
            Ok(())
        })
    }

    #[test]
    fn delete_run_removes_its_results_and_index_entry_but_not_its_content() -> Result<()> {
        let db = new_db()?;
        let a = run("t", json!({"a": 1}))?;
        apply_all(
            &db,
            &[
                (put(&a, Some(new_run_of(&a, 0)), "m", b"v"), Some(&b"v"[..])),
                (WalOp::DeleteRun { run: a.key() }, None),
            ],
        )?;
        inspect(&db, |tables| {
            assert!(!run_exists(&tables.runs, &a.key())?);
            assert!(run_results(&tables.results, &a.key())?.is_empty());
            assert!(task_runs(&tables.task_runs, "t")?.is_empty());
            // Content is collected by gc, never by a delete.
            assert!(get_content(&tables.content, &ContentHash::of(b"v"))?.is_some());
            Ok(())
        })
    }

    #[test]
    fn set_state_on_a_run_it_does_not_create_and_that_is_missing_is_a_corrupt_record() -> Result<()>
    {
        let db = new_db()?;
        let a = run("t", json!({"a": 1}))?;
        let set = WalOp::SetState {
            run: a.key(),
            new_run: None,
            state: RunState::Finished,
        };
        assert!(matches!(
            apply_all(&db, &[(set, None)]),
            Err(Error::CorruptRecord { .. })
        ));
        Ok(())
    }

    #[test]
    fn the_largest_sweep_counter_is_a_corrupt_record_not_an_overflow() -> Result<()> {
        let db = new_db()?;
        let a = run("t", json!({"a": 1}))?;
        let op = WalOp::CreateRun {
            run: a.key(),
            new_run: new_run_of(&a, u64::MAX),
        };
        assert!(matches!(
            apply_all(&db, &[(op, None)]),
            Err(Error::CorruptRecord { .. })
        ));
        Ok(())
    }
}
