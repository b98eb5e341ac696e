//! The storage actor: the only writer of the database and the WAL.
//!
//! Group commit, visible in [`Actor::run`]: block for the first command, drain more without
//! blocking up to `max_batch`, then for the batch: resolve each command against the write
//! transaction (`engine::resolve`; lookups see earlier commands of the same batch), apply it
//! and append its WAL record; record the last LSN applied (`engine::meta`); write all
//! records with one write and one `fdatasync` (Immediate durability); commit the redb
//! transaction with `Durability::None`; retire the shared read snapshot; reply to every
//! caller in log order.
//!
//! Invariants: nothing is acknowledged before its WAL record is synced (Immediate) or written
//! (Relaxed); a failed WAL write/sync or commit poisons the store and every caller of that
//! batch and later gets [`Error::Poisoned`]; a checkpoint is a `Durability::Immediate` commit
//! recording the last applied LSN, after which older WAL segments are removed.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use redb::{Durability as RedbDurability, WriteTransaction};

use crate::engine::command::Command;
use crate::engine::gc::{self, GcReport};
use crate::engine::meta::set_applied_lsn;
use crate::engine::ops;
use crate::engine::options::Durability;
use crate::engine::record;
use crate::engine::reply::Reply;
use crate::engine::resolve::{self, Logged};
use crate::engine::shared::Shared;
use crate::engine::tables::WriteTables;
use crate::error::{Error, Result};
use crate::wal::WalWriter;

/// A reply waiting for its batch's outcome (`Err` carries the poison cause).
type Pending = Box<dyn FnOnce(&Result<(), String>) + Send>;

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
                let saved = resolve::Saved {
                    type_name,
                    content,
                    exclusive,
                    sub_dir,
                };
                let resolved = resolve::save(tables, &run, &name, saved);
                self.finish(tables, resolved, reply, pending)
            }
            Command::Tree {
                run,
                dir_name,
                stateless,
                reply,
            } => {
                let resolved = resolve::tree(tables, &run, dir_name, stateless);
                self.finish(tables, resolved, reply, pending)
            }
            Command::SetState { run, state, reply } => {
                let resolved = resolve::set_state(tables, &run, state);
                self.finish(tables, resolved, reply, pending)
            }
            Command::Context { run, reply } => {
                let resolved = resolve::context(tables, &run);
                self.finish(tables, resolved, reply, pending)
            }
            Command::Delete { run, name, reply } => {
                let resolved = resolve::delete(tables, &run, &name);
                self.finish(tables, resolved, reply, pending)
            }
            Command::DeleteRun { run, reply } => {
                let resolved = resolve::delete_run(tables, &run);
                self.finish(tables, resolved, reply, pending)
            }
            Command::Claim {
                run,
                owner,
                lease,
                reply,
            } => {
                let resolved = resolve::claim(tables, &run, &owner, lease);
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
