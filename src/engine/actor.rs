//! The storage actor: the only writer of the database and the WAL.
//!
//! Group commit, visible in [`Actor::run`]: block for the first command, drain more without
//! blocking up to `max_batch`, then for the batch: resolve each command against the write
//! transaction (lookups see earlier commands of the same batch), apply it and append its WAL
//! record; write all records with one write and one `fdatasync` (Immediate durability); commit
//! the redb transaction with `Durability::None`; retire the shared read snapshot; reply to
//! every caller in log order.
//!
//! Invariants: nothing is acknowledged before its WAL record is synced (Immediate) or written
//! (Relaxed); a failed WAL write/sync or commit poisons the store and every caller of that
//! batch and later gets [`Error::Poisoned`]; a checkpoint is a `Durability::Immediate` commit
//! recording the last applied LSN, after which older WAL segments are removed.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::engine::reply::Reply;
use redb::{Durability as RedbDurability, WriteTransaction};

use crate::claim::{ClaimOutcome, decide, now_ms};
use crate::engine::command::{Command, Content};
use crate::engine::gc::{self, GcReport};
use crate::engine::ops::{self, WriteTables};
use crate::engine::options::Durability;
use crate::engine::record::{self, WalOp};
use crate::engine::shared::Shared;
use crate::engine::tables::{META, META_APPLIED_LSN, META_CHECKPOINT_AT, META_WAL_HEAD, RunRecord};
use crate::error::{Error, Result};
use crate::names::{ResultName, RunName, SubDir};
use crate::store::{RunId, RunState};
use crate::wal::WalWriter;

/// A reply waiting for its batch's outcome (`Err` carries the poison cause).
type Pending = Box<dyn FnOnce(&Result<(), String>) + Send>;

/// The task and sweep counter of a deleted run (for removing its directory).
type DeletedRun = Option<(String, u64)>;

/// An op to log and apply.
struct Logged {
    op: WalOp,
    inline: Option<Vec<u8>>,
}

/// The actor's state.
pub(crate) struct Actor {
    shared: Arc<Shared>,
    rx: Receiver<Command>,
    wal: WalWriter,
    /// WAL bytes written since the last checkpoint.
    wal_bytes: u64,
    /// Whether anything was applied since the last checkpoint.
    dirty: bool,
    last_checkpoint: Instant,
    /// When the oldest unsynced acknowledged record was written (Relaxed durability).
    unsynced_since: Option<Instant>,
}

/// Errors that leave the batch's state unknown: they poison the store.
fn is_fatal(e: &Error) -> bool {
    !matches!(e, Error::AlreadyExists { .. })
}

/// Records `lsn` as applied in `txn`, and, for a checkpoint, the newest WAL segment.
pub(crate) fn set_applied_lsn(txn: &WriteTransaction, lsn: u64, head: Option<u64>) -> Result<()> {
    let mut meta = txn
        .open_table(META)
        .map_err(|e| Error::storage("open a table", e))?;
    meta.insert(META_APPLIED_LSN, lsn)
        .map_err(|e| Error::storage("write the applied LSN", e))?;
    if let Some(head) = head {
        meta.insert(META_WAL_HEAD, head)
            .map_err(|e| Error::storage("write the WAL head", e))?;
        // A clock before 1970 records 0: the time is informational only.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        meta.insert(META_CHECKPOINT_AT, now)
            .map_err(|e| Error::storage("write the checkpoint time", e))?;
    }
    Ok(())
}

/// Queues `reply` to receive `value` if the batch commits.
fn pending_ok<V: Send + 'static>(reply: Reply<Result<V>>, value: V) -> Pending {
    Box::new(move |outcome| {
        let answer = match outcome {
            Ok(()) => Ok(value),
            Err(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
        };
        reply.send(answer);
    })
}

/// Queues `reply` to receive `err` whatever the batch does.
fn pending_err<V: Send + 'static>(reply: Reply<Result<V>>, err: Error) -> Pending {
    Box::new(move |_| {
        reply.send(Err(err));
    })
}

impl Actor {
    pub(crate) fn new(shared: Arc<Shared>, rx: Receiver<Command>, wal: WalWriter) -> Self {
        Actor {
            shared,
            rx,
            wal,
            wal_bytes: 0,
            dirty: false,
            last_checkpoint: Instant::now(),
            unsynced_since: None,
        }
    }

    /// Serves commands until `Close` or until every handle is gone, then checkpoints.
    pub(crate) fn run(mut self) {
        let max_batch = self.shared.options.max_batch;
        loop {
            let first = match self.rx.recv_deadline(self.next_deadline()) {
                Ok(command) => command,
                Err(RecvTimeoutError::Timeout) => {
                    self.tick();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut batch = vec![first];
            while batch.len() < max_batch {
                match self.rx.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            if let Some(close_reply) = self.process(batch) {
                let result = self.checkpoint();
                close_reply.send(result);
                return;
            }
        }
        if let Err(e) = self.checkpoint() {
            tracing::error!(error = %e, "final checkpoint failed; the WAL will be replayed on open");
        }
    }

    /// When the actor must wake up without a command: the next sync or checkpoint.
    fn next_deadline(&self) -> Instant {
        let options = &self.shared.options;
        let far = Instant::now() + options.checkpoint_interval;
        let checkpoint = if self.dirty {
            self.last_checkpoint + options.checkpoint_interval
        } else {
            far
        };
        match (options.durability, self.unsynced_since) {
            (Durability::Relaxed { sync_interval }, Some(since)) => {
                checkpoint.min(since + sync_interval)
            }
            _ => checkpoint,
        }
    }

    /// Timed work: the relaxed-mode sync and the periodic checkpoint.
    fn tick(&mut self) {
        let now = Instant::now();
        if let (Durability::Relaxed { sync_interval }, Some(since)) =
            (self.shared.options.durability, self.unsynced_since)
            && now >= since + sync_interval
        {
            self.sync_wal();
        }
        if self.dirty && now >= self.last_checkpoint + self.shared.options.checkpoint_interval {
            // A failure poisons the store; callers learn of it on their next command.
            let _ = self.checkpoint();
        }
    }

    fn sync_wal(&mut self) {
        match self.wal.sync() {
            Ok(()) => self.unsynced_since = None,
            Err(e) => self.shared.poison(&e),
        }
    }

    /// Handles a batch in order; returns the reply sender of a `Close` command, if any
    /// (commands after it are answered with [`Error::Closed`]).
    fn process(&mut self, batch: Vec<Command>) -> Option<Reply<Result<()>>> {
        let mut group = Vec::new();
        let mut commands = batch.into_iter();
        for command in commands.by_ref() {
            match command {
                Command::Gc { dry_run, reply } => {
                    self.commit_group(std::mem::take(&mut group));
                    reply.send(self.gc(dry_run));
                }
                Command::Checkpoint { reply } => {
                    self.commit_group(std::mem::take(&mut group));
                    reply.send(self.checkpoint());
                }
                Command::Close { reply } => {
                    self.commit_group(std::mem::take(&mut group));
                    for later in commands {
                        reject(later, || Error::Closed);
                    }
                    return Some(reply);
                }
                write => group.push(write),
            }
        }
        self.commit_group(group);
        None
    }

    /// One group commit of write commands.
    fn commit_group(&mut self, group: Vec<Command>) {
        if group.is_empty() {
            return;
        }
        if let Err(e) = self.shared.check_poison() {
            let cause = e.to_string();
            for command in group {
                reject(command, || Error::Poisoned {
                    cause: cause.clone(),
                });
            }
            return;
        }
        let mut pending = Vec::with_capacity(group.len());
        let outcome = self.apply_group(group, &mut pending);
        if let Err(e) = &outcome {
            self.shared.poison(e);
        }
        let outcome = outcome.map_err(|e| e.to_string());
        for reply in pending {
            reply(&outcome);
        }
    }

    fn apply_group(&mut self, group: Vec<Command>, pending: &mut Vec<Pending>) -> Result<()> {
        let mut txn = self
            .shared
            .db
            .begin_write()
            .map_err(|e| Error::storage("begin a write transaction", e))?;
        txn.set_durability(RedbDurability::None)
            .map_err(|e| Error::storage("set durability", e))?;
        let first_lsn = self.wal.last_lsn() + 1;
        {
            let mut tables = WriteTables::open(&txn)?;
            let mut commands = group.into_iter();
            for command in commands.by_ref() {
                if let Err(fatal) = self.handle(&mut tables, command, pending) {
                    for rest in commands {
                        reject(rest, || Error::Poisoned {
                            cause: fatal.to_string(),
                        });
                    }
                    return Err(fatal);
                }
            }
        }
        if self.wal.last_lsn() >= first_lsn {
            set_applied_lsn(&txn, self.wal.last_lsn(), None)?;
        }
        let before = self.wal.segment_len();
        let immediate = self.shared.options.durability == Durability::Immediate;
        self.wal.write_batch(immediate)?;
        self.wal_bytes += self.wal.segment_len() - before;
        if !immediate && self.unsynced_since.is_none() {
            self.unsynced_since = Some(Instant::now());
        }
        self.commit(txn, "commit")?;
        self.dirty = true;
        if self.wal_bytes >= self.shared.options.checkpoint_wal_bytes {
            // A failure poisons the store; later commands report it.
            let _ = self.checkpoint();
        }
        Ok(())
    }

    /// Commits `txn` and retires the shared read snapshot (whatever the outcome), before any
    /// caller of the commit is answered.
    fn commit(&self, txn: WriteTransaction, what: &'static str) -> Result<()> {
        let committed = txn.commit();
        self.shared.snapshots.invalidate();
        committed.map_err(|e| Error::storage(what, e))
    }

    /// Resolves one write command, applies and logs it; returns only fatal errors.
    fn handle(
        &mut self,
        tables: &mut WriteTables<'_>,
        command: Command,
        pending: &mut Vec<Pending>,
    ) -> Result<()> {
        match command {
            Command::Save {
                run,
                name,
                type_name,
                content,
                exclusive,
                sub_dir,
                reply,
            } => {
                let saved = Saved {
                    type_name,
                    content,
                    exclusive,
                    sub_dir,
                };
                let resolved = save(tables, &run, &name, saved);
                self.finish(tables, resolved, reply, pending)
            }
            Command::Tree {
                run,
                dir_name,
                stateless,
                reply,
            } => {
                let resolved = tree(tables, &run, dir_name, stateless);
                self.finish(tables, resolved, reply, pending)
            }
            Command::SetState { run, state, reply } => {
                let resolved = set_state(tables, &run, state);
                self.finish(tables, resolved, reply, pending)
            }
            Command::Context { run, reply } => {
                let resolved = context(tables, &run);
                self.finish(tables, resolved, reply, pending)
            }
            Command::Delete { run, name, reply } => {
                let resolved = delete(tables, &run, &name);
                self.finish(tables, resolved, reply, pending)
            }
            Command::DeleteRun { run, reply } => {
                let resolved = delete_run(tables, &run);
                self.finish(tables, resolved, reply, pending)
            }
            Command::Claim {
                run,
                owner,
                lease,
                reply,
            } => {
                let resolved = claim(tables, &run, &owner, lease);
                self.finish(tables, resolved, reply, pending)
            }
            control => {
                reject(control, || Error::Closed);
                Ok(())
            }
        }
    }

    /// Applies and logs a resolved command and queues its reply.
    fn finish<V: Send + 'static>(
        &mut self,
        tables: &mut WriteTables<'_>,
        resolved: Result<(Option<Logged>, V)>,
        reply: Reply<Result<V>>,
        pending: &mut Vec<Pending>,
    ) -> Result<()> {
        match resolved {
            Ok((logged, value)) => {
                if let Some(Logged { op, inline }) = logged {
                    let op = op.timed();
                    let payload = record::encode(&op, inline.as_deref());
                    let applied = payload
                        .and_then(|p| ops::apply(tables, &op, inline.as_deref()).map(|()| p));
                    match applied {
                        Ok(payload) => {
                            self.wal.append(&payload);
                        }
                        Err(e) => {
                            pending.push(pending_ok(reply, value));
                            return Err(e);
                        }
                    }
                }
                pending.push(pending_ok(reply, value));
                Ok(())
            }
            Err(e) if is_fatal(&e) => {
                let cause = e.to_string();
                pending.push(pending_err(reply, Error::Poisoned { cause }));
                Err(e)
            }
            Err(e) => {
                pending.push(pending_err(reply, e));
                Ok(())
            }
        }
    }

    /// Makes all applied changes durable in redb and trims the WAL.
    fn checkpoint(&mut self) -> Result<()> {
        self.shared.check_poison()?;
        if !self.dirty {
            return Ok(());
        }
        let result = self.checkpoint_inner();
        if let Err(e) = &result {
            self.shared.poison(e);
        }
        result
    }

    fn checkpoint_inner(&mut self) -> Result<()> {
        // The new segment is durable before the checkpoint names it as the WAL head.
        self.wal.roll()?;
        let mut txn = self
            .shared
            .db
            .begin_write()
            .map_err(|e| Error::storage("begin a checkpoint", e))?;
        txn.set_durability(RedbDurability::Immediate)
            .map_err(|e| Error::storage("set durability", e))?;
        set_applied_lsn(&txn, self.wal.last_lsn(), Some(self.wal.first_lsn()))?;
        self.commit(txn, "commit a checkpoint")?;
        self.wal.remove_older_segments();
        self.dirty = false;
        self.wal_bytes = 0;
        self.unsynced_since = None;
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Collects unreferenced content; a real run ends with a checkpoint so the removal is
    /// durable before any file is deleted.
    fn gc(&mut self, dry_run: bool) -> Result<GcReport> {
        self.shared.check_poison()?;
        let mut txn = self
            .shared
            .db
            .begin_write()
            .map_err(|e| Error::storage("begin gc", e))?;
        txn.set_durability(RedbDurability::None)
            .map_err(|e| Error::storage("set durability", e))?;
        let plan = {
            let mut tables = WriteTables::open(&txn)?;
            let plan = gc::plan(&self.shared, &tables)?;
            if !dry_run {
                gc::remove_rows(&mut tables, &plan)?;
            }
            plan
        };
        if dry_run {
            txn.abort().map_err(|e| Error::storage("abort gc", e))?;
            return Ok(plan.report(true));
        }
        self.commit(txn, "commit gc")?;
        self.dirty = true;
        self.checkpoint()?;
        gc::remove_files(&self.shared, &plan);
        Ok(plan.report(false))
    }
}

/// Answers a command that will not run.
fn reject(command: Command, err: impl Fn() -> Error) {
    match command {
        Command::Save { reply, .. }
        | Command::SetState { reply, .. }
        | Command::Tree { reply, .. } => {
            reply.send(Err(err()));
        }
        Command::Checkpoint { reply } | Command::Close { reply } => {
            reply.send(Err(err()));
        }
        Command::Context { reply, .. } => {
            reply.send(Err(err()));
        }
        Command::Delete { reply, .. } => {
            reply.send(Err(err()));
        }
        Command::DeleteRun { reply, .. } => {
            reply.send(Err(err()));
        }
        Command::Claim { reply, .. } => {
            reply.send(Err(err()));
        }
        Command::Gc { reply, .. } => {
            reply.send(Err(err()));
        }
    }
}

/// `None` if the exact run exists, else what creating it takes.
fn new_run_if_missing(tables: &WriteTables<'_>, run: &RunId) -> Result<Option<record::NewRun>> {
    if ops::run_exists(&tables.runs, &run.key())? {
        Ok(None)
    } else {
        ops::new_run(&tables.tasks, run).map(Some)
    }
}

/// What a save stores.
struct Saved {
    type_name: String,
    content: Content,
    exclusive: bool,
    sub_dir: Option<SubDir>,
}

fn save(
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
            what: format!(
                "result `{name}` of task `{}` with config {}",
                run.task(),
                run.config()
            ),
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

fn tree(
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

fn set_state(
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

fn context(tables: &WriteTables<'_>, run: &RunId) -> Result<(Option<Logged>, u64)> {
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

fn delete(
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
fn claim(
    tables: &WriteTables<'_>,
    run: &RunId,
    owner: &str,
    lease: Duration,
) -> Result<(Option<Logged>, ClaimOutcome)> {
    let record = ops::get_run(&tables.runs, &run.key())?;
    let held = ops::get_claim(&tables.claims, &run.key())?;
    let (outcome, granted) = decide(
        record.as_ref().and_then(RunRecord::state),
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

fn delete_run(tables: &WriteTables<'_>, run: &RunId) -> Result<(Option<Logged>, DeletedRun)> {
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
