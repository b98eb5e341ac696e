//! Writing run documents: updates of the exact run that create it when it does not exist,
//! with sweep counters allocated per task.
//!
//! Invariants:
//! - A run is created by an upsert on its `_id` (the run key), so however many threads and
//!   processes save the same run at once, there is one document; an insert that loses the
//!   race fails with a duplicate key and is retried as an update.
//! - Sweep counters are gap-free and never reused. The task's counters document holds
//!   `next`, a high-water mark: every counter below it is taken (or was, by a deleted run).
//!   A creator inserts its run with counter `next` and then raises `next` past it (`$max`).
//!   The unique `(task, counter)` index rejects a second run with the same counter; the
//!   loser tries the following counter, and so on (every counter it passes is taken, so
//!   none is skipped); every [`PROBES_BEFORE_SCAN`]-th collision in a row it jumps past the
//!   task's highest stored counter instead, which repairs a `next` that fell behind (a
//!   creator died before raising it, or the document was lost). A counter is thus consumed
//!   only by an inserted run. Threads of one store take turns to create runs (a mutex around
//!   reading the counter and inserting), so only processes race. `delete_run` raises `next`
//!   past the deleted run's counter before deleting it, so its counter is not handed out
//!   again (except to a creator that read `next` before that raise and probes up to it).
//! - Every write is one server-acknowledged single-document update, so it is atomic: a run
//!   never holds half a save, and `Ok` means the server acknowledged it (journaled by
//!   default).

use std::sync::PoisonError;

use mongodb::bson::{Document, doc};

use crate::error::{Error, Result};
use crate::mongo::client::{Shared, is_duplicate_key};
use crate::mongo::documents::{Results, as_u64, new_run, size_to_bson};
use crate::mongo::lookup::exact;
use crate::store::RunId;

/// How often a write retries after losing a creation race before giving up. Each round of
/// racing creators has one winner, so this bounds the creators of one task at one moment.
const ATTEMPTS: usize = 1000;
/// Collisions in a row after which a creator jumps past the highest stored counter.
const PROBES_BEFORE_SCAN: usize = 8;

/// What a conditional write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// The update was applied (to the existing run or a new one).
    Applied,
    /// The run exists but does not satisfy the condition; nothing changed.
    Rejected,
}

/// Applies `$set: set` to the exact run (nothing if `set` is empty), creating it if needed.
/// With a `condition` (extra filter fields), an existing run that does not satisfy it is
/// left alone: [`Written::Rejected`].
///
/// # Errors
/// Server errors; [`Error::CorruptRecord`] if run creation keeps colliding (other
/// writers keep winning) or the task's counters document is damaged.
pub(crate) fn write_run(
    shared: &Shared,
    run: &RunId,
    condition: Option<Document>,
    set: Document,
) -> Result<Written> {
    let mut filter = doc! { "_id": run.key().to_hex() };
    if let Some(condition) = &condition {
        filter.extend(condition.clone());
    }
    // The counter to try next after a collision; `None`: read the task's `next`.
    let mut probe: Option<u64> = None;
    let mut collisions_in_row = 0;
    for _ in 0..ATTEMPTS {
        if set.is_empty() {
            if exact(shared, run, Results::None)?.is_some() {
                return Ok(Written::Applied);
            }
        } else {
            let updated = shared
                .runs
                .update_one(filter.clone(), doc! { "$set": set.clone() })
                .run()
                .map_err(shared.err("update a run document"))?;
            if updated.matched_count == 1 {
                return Ok(Written::Applied);
            }
            if condition.is_some() && exact(shared, run, Results::None)?.is_some() {
                return Ok(Written::Rejected);
            }
        }
        let (counter, created) = {
            // The counter read and the insert that takes it, one creator of this store at
            // a time; the guard protects no data, so a poisoned lock is still usable.
            let _creator = shared
                .creating
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let counter = match probe {
                Some(counter) => counter,
                None => read_next(shared, run)?,
            };
            let mut insert = new_run(run, counter)?;
            // A field may not be in both `$set` and `$setOnInsert`.
            for key in set.keys() {
                insert.remove(key);
            }
            let mut update = doc! { "$setOnInsert": insert };
            if !set.is_empty() {
                update.insert("$set", set.clone());
            }
            let created = shared
                .runs
                .update_one(filter.clone(), update)
                .upsert(true)
                .run();
            (counter, created)
        };
        match created {
            Ok(r) if r.upserted_id.is_some() => {
                raise_next(shared, run, counter)?;
                return Ok(Written::Applied);
            }
            Ok(r) if r.matched_count == 1 => return Ok(Written::Applied),
            Ok(_) => {}
            Err(e) if is_duplicate_key(&e) => {
                if exact(shared, run, Results::None)?.is_some() {
                    // Another writer created this run: retry as an update.
                    probe = None;
                    continue;
                }
                // Another run took the counter.
                collisions_in_row += 1;
                probe = Some(if collisions_in_row % PROBES_BEFORE_SCAN == 0 {
                    highest_counter(shared, run)?
                        .map_or(0, |h| h + 1)
                        .max(counter + 1)
                } else {
                    counter + 1
                });
            }
            Err(e) => return Err(shared.err("create a run document")(e)),
        }
    }
    Err(collisions(shared, run))
}

/// The exact run's sweep counter, creating the run if needed.
///
/// # Errors
/// As [`write_run`].
pub(crate) fn ensure_run(shared: &Shared, run: &RunId) -> Result<u64> {
    for _ in 0..ATTEMPTS {
        if let Some(doc) = exact(shared, run, Results::None)? {
            return Ok(doc.counter);
        }
        write_run(shared, run, None, Document::new())?;
    }
    Err(collisions(shared, run))
}

/// The task's `next` counter (0 for a task without a counters document).
fn read_next(shared: &Shared, run: &RunId) -> Result<u64> {
    let found = shared
        .counters
        .find_one(doc! { "_id": run.task().as_str() })
        .run()
        .map_err(shared.err("read a sweep counter"))?;
    let Some(doc) = found else {
        return Ok(0);
    };
    as_u64(doc.get("next")).ok_or_else(|| Error::CorruptRecord {
        what: format!(
            "counters document of task `{}` in {}.counters",
            run.task(),
            shared.namespace
        ),
        reason: "`next` is not a non-negative integer".to_owned(),
    })
}

/// The largest counter among the task's stored runs.
fn highest_counter(shared: &Shared, run: &RunId) -> Result<Option<u64>> {
    let highest = shared
        .runs
        .find_one(doc! { "task": run.task().as_str() })
        .sort(doc! { "counter": -1 })
        .projection(doc! { "counter": 1 })
        .run()
        .map_err(shared.err("find the highest sweep counter"))?;
    Ok(highest.and_then(|doc| as_u64(doc.get("counter"))))
}

/// Raises the `next` counter of `run`'s task to at least `taken + 1`, so `taken` is never
/// handed out again.
pub(crate) fn raise_next(shared: &Shared, run: &RunId, taken: u64) -> Result<()> {
    let next = size_to_bson(taken + 1)?;
    for _ in 0..ATTEMPTS {
        let raised = shared
            .counters
            .update_one(
                doc! { "_id": run.task().as_str() },
                doc! { "$max": { "next": next.clone() } },
            )
            .upsert(true)
            .run();
        match raised {
            Ok(_) => return Ok(()),
            // Two writers raced to create the counters document; it exists now.
            Err(e) if is_duplicate_key(&e) => {}
            Err(e) => return Err(shared.err("raise a sweep counter")(e)),
        }
    }
    Err(collisions(shared, run))
}

fn collisions(shared: &Shared, run: &RunId) -> Error {
    Error::CorruptRecord {
        what: format!(
            "counters document of task `{}` in {}.counters",
            run.task(),
            shared.namespace
        ),
        reason: format!(
            "creating run {} collided with other runs {ATTEMPTS} times in a row",
            run.key()
        ),
    }
}
