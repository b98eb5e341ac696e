//! The command resolvers: each write command, decided against the write transaction as the
//! batch so far left it, becomes the op to log (if any) and the value its caller gets.
//!
//! Invariants: a resolver only reads; every change goes through the op it returns, which
//! the actor logs and applies with `ops::apply` (the same function recovery replays), so
//! what a caller was told and what the log holds cannot differ. A resolver that returns no
//! op changes nothing. Lookups see earlier commands of the same batch, because the actor
//! applies each op before it resolves the next command.

use std::time::Duration;

use crate::claim::{ClaimOutcome, decide, now_ms};
use crate::engine::command::Content;
use crate::engine::ops;
use crate::engine::record::{NewRun, WalOp};
use crate::engine::tables::WriteTables;
use crate::error::{Error, Result};
use crate::names::{ResultName, RunName, SubDir};
use crate::run::{RunId, RunState, describe_result};

/// An op to log and apply, with the inline bytes of a value stored in the database.
pub(crate) struct Logged {
    pub(crate) op: WalOp,
    pub(crate) inline: Option<Vec<u8>>,
}

/// The task and sweep counter of a deleted run (for removing its directory).
pub(crate) type DeletedRun = Option<(String, u64)>;

/// `None` if the exact run exists, else what creating it takes.
fn new_run_if_missing(tables: &WriteTables<'_>, run: &RunId) -> Result<Option<NewRun>> {
    if ops::run_exists(&tables.runs, &run.key())? {
        Ok(None)
    } else {
        ops::new_run(&tables.tasks, run).map(Some)
    }
}

/// What a save stores.
pub(crate) struct Saved {
    pub(crate) type_name: String,
    pub(crate) content: Content,
    pub(crate) exclusive: bool,
    pub(crate) sub_dir: Option<SubDir>,
}

pub(crate) fn save(
    tables: &WriteTables<'_>,
    run: &RunId,
    name: &ResultName,
    saved: Saved,
) -> Result<(Option<Logged>, ())> {
    let Saved {
        type_name,
        content,
        exclusive,
        sub_dir,
    } = saved;
    let new_run = new_run_if_missing(tables, run)?;
    if exclusive
        && new_run.is_none()
        && ops::get_result(&tables.results, &run.key(), name.as_str())?.is_some()
    {
        return Err(Error::AlreadyExists {
            what: describe_result(run, name),
        });
    }
    let (hash, size, inline) = match content {
        Content::Inline { hash, bytes } => (hash, bytes.len() as u64, Some(bytes)),
        Content::Blob { hash, size } => (hash, size, None),
    };
    let op = WalOp::Put {
        run: run.key(),
        new_run,
        name: name.as_str().to_owned(),
        type_name,
        hash,
        size,
        inline: inline.is_some(),
    };
    let op = match sub_dir {
        Some(sub_dir) => WalOp::InSubDir {
            sub_dir: sub_dir.as_str().to_owned(),
            op: Box::new(op),
        },
        None => op,
    };
    Ok((Some(Logged { op, inline }), ()))
}

/// Records a run's directory name and whether it has no state (a copied fluidml tree).
pub(crate) fn tree(
    tables: &WriteTables<'_>,
    run: &RunId,
    dir_name: Option<RunName>,
    stateless: bool,
) -> Result<(Option<Logged>, ())> {
    let new_run = new_run_if_missing(tables, run)?;
    let op = WalOp::Tree {
        run: run.key(),
        new_run,
        dir_name: dir_name.map(|name| name.as_str().to_owned()),
        stateless,
    };
    Ok((Some(Logged { op, inline: None }), ()))
}

pub(crate) fn set_state(
    tables: &WriteTables<'_>,
    run: &RunId,
    state: RunState,
) -> Result<(Option<Logged>, ())> {
    let new_run = new_run_if_missing(tables, run)?;
    let op = WalOp::SetState {
        run: run.key(),
        new_run,
        state,
    };
    Ok((Some(Logged { op, inline: None }), ()))
}

pub(crate) fn context(tables: &WriteTables<'_>, run: &RunId) -> Result<(Option<Logged>, u64)> {
    if let Some(existing) = ops::get_run(&tables.runs, &run.key())? {
        return Ok((None, existing.counter));
    }
    let new_run = ops::new_run(&tables.tasks, run)?;
    let counter = new_run.counter;
    let op = WalOp::CreateRun {
        run: run.key(),
        new_run,
    };
    Ok((Some(Logged { op, inline: None }), counter))
}

pub(crate) fn delete(
    tables: &WriteTables<'_>,
    run: &RunId,
    name: &ResultName,
) -> Result<(Option<Logged>, bool)> {
    match ops::lookup(&tables.runs, &tables.task_runs, run)? {
        Some(key) if ops::get_result(&tables.results, &key, name.as_str())?.is_some() => {
            let op = WalOp::Delete {
                run: key,
                name: name.as_str().to_owned(),
            };
            Ok((Some(Logged { op, inline: None }), true))
        }
        _ => Ok((None, false)),
    }
}

/// Decides a claim by the claim rule against the run as this batch left it; logs it only if
/// granted (the decision, with its expiry, is what replay applies).
pub(crate) fn claim(
    tables: &WriteTables<'_>,
    run: &RunId,
    owner: &str,
    lease: Duration,
) -> Result<(Option<Logged>, ClaimOutcome)> {
    let record = ops::get_run(&tables.runs, &run.key())?;
    let held = ops::get_claim(&tables.claims, &run.key())?;
    let (outcome, granted) = decide(
        record.as_ref().map(|r| r.state),
        held.as_ref(),
        owner,
        lease,
        now_ms(),
    );
    let Some(lease) = granted else {
        return Ok((None, outcome));
    };
    let new_run = match record {
        Some(_) => None,
        None => Some(ops::new_run(&tables.tasks, run)?),
    };
    let op = WalOp::Claim {
        run: run.key(),
        new_run,
        lease,
    };
    Ok((Some(Logged { op, inline: None }), outcome))
}

pub(crate) fn delete_run(
    tables: &WriteTables<'_>,
    run: &RunId,
) -> Result<(Option<Logged>, DeletedRun)> {
    let found = match ops::lookup(&tables.runs, &tables.task_runs, run)? {
        Some(key) => ops::get_run(&tables.runs, &key)?.map(|record| (key, record)),
        None => None,
    };
    match found {
        Some((key, record)) => {
            let op = WalOp::DeleteRun { run: key };
            Ok((
                Some(Logged { op, inline: None }),
                Some((record.task, record.counter)),
            ))
        }
        None => Ok((None, None)),
    }
}
