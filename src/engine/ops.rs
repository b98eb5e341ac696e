//! Pure functions over redb tables: lookups (for readers and the actor alike) and applying
//! logged ops (for the actor and recovery alike).
//!
//! Invariant: [`apply`] is idempotent and touches only what its op names. One save to an
//! existing run costs one `runs` read (to resolve it), one `content` read, one `results`
//! write, plus one `content` write when the content is new; creating a run adds one `tasks`
//! read and one `runs`, one `task_runs` and one `tasks` write.

use redb::{ReadableTable, Table};

use crate::config::UniqueConfig;
use crate::engine::record::{NewRun, WalOp};
use crate::engine::tables::{CONTENT_BLOB, CONTENT_INLINE, ResultEntry, RunRecord};
use crate::error::{Error, Result};
use crate::key::{ContentHash, RunKey};
use crate::lookup::best_subset;
use crate::store::{RunId, RunState};

fn storage(op: &'static str) -> impl FnOnce(redb::StorageError) -> Error {
    move |e| Error::storage(op, e)
}

/// The key type of the `results` table.
type ResultKey = (&'static [u8; 32], &'static str);

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

/// Parses a stored canonical config.
pub(crate) fn parse_config(key: &RunKey, canonical: &str) -> Result<UniqueConfig> {
    UniqueConfig::parse(canonical).map_err(|e| Error::CorruptRecord {
        what: format!("config of run {key}"),
        reason: e.to_string(),
    })
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
        if let Some(record) = get_run(runs, &key)? {
            candidates.push((parse_config(&key, &record.config)?, counter, key));
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
    let bytes = row.value();
    match bytes.split_first() {
        Some((&CONTENT_INLINE, rest)) => Ok(Some(ContentRow::Inline(rest.to_vec()))),
        Some((&CONTENT_BLOB, rest)) if rest.len() == 8 => {
            let mut size = [0; 8];
            size.copy_from_slice(rest);
            Ok(Some(ContentRow::Blob(u64::from_le_bytes(size))))
        }
        _ => Err(Error::CorruptRecord {
            what: format!("content {hash}"),
            reason: "unknown row tag".to_owned(),
        }),
    }
}

/// The tables an op writes.
pub(crate) struct WriteTables<'t> {
    pub(crate) runs: Table<'t, &'static [u8; 32], &'static [u8]>,
    pub(crate) results: Table<'t, ResultKey, &'static [u8]>,
    pub(crate) task_runs: Table<'t, (&'static str, u64), &'static [u8; 32]>,
    pub(crate) tasks: Table<'t, &'static str, u64>,
    pub(crate) content: Table<'t, &'static [u8; 32], &'static [u8]>,
}

impl WriteTables<'_> {
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
            let mut record = match new_run {
                Some(new_run) => tables.create_run(run, new_run)?,
                None => get_run(&tables.runs, run)?.ok_or_else(|| Error::CorruptRecord {
                    what: format!("WAL op on run {run}"),
                    reason: "the run does not exist and the op does not create it".to_owned(),
                })?,
            };
            record.state = *state;
            tables.put_run(run, &record)
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
        WalOp::DeleteRun { run } => {
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
