//! Writing run documents: updates of the exact run that create it when it does not exist,
//! with sweep counters allocated per task.
//!
//! Invariants:
//! - A run is created by an upsert on its `_id` (the run key), so however many threads and
//!   processes save the same run at once, there is one document; an insert that loses the
//!   race fails with a duplicate key and is retried as an update.
//! - Sweep counters are gap-free and never reused. A creator inserts its run with the
//!   counter after the task's highest (`highest + 1`, read through the `(task, counter)`
//!   index), or the task's counters document's `next` if that is larger. The unique
//!   `(task, counter)` index rejects a second run with the same counter; the loser reads the
//!   new highest counter and retries. A counter is thus consumed only by an inserted run, and
//!   no creator can die holding one. `next` is raised (`$max`) only by `delete_run`, past
//!   the deleted run's counter, so the counter of a deleted run is never handed out again.
//! - Every write is one server-acknowledged single-document update, so it is atomic: a run
//!   never holds half a save, and `Ok` means the server acknowledged it (journaled by
//!   default).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mongodb::bson::{Document, doc};

use crate::error::{Error, Result};
use crate::mongo::client::{Shared, is_duplicate_key};
use crate::mongo::documents::{Results, as_u64, new_run, size_to_bson};
use crate::mongo::lookup::exact;
use crate::store::RunId;

/// How often a write retries after losing a creation race before giving up. Each round of
/// racing creators has one winner, so this bounds the creators of one task at one moment.
const ATTEMPTS: usize = 1000;

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
        let mut insert = new_run(run, next_counter(shared, run)?)?;
        // A field may not be in both `$set` and `$setOnInsert`.
        for key in set.keys() {
            insert.remove(key);
        }
        let mut update = doc! { "$setOnInsert": insert };
        if !set.is_empty() {
            update.insert("$set", set.clone());
        }
        match shared
            .runs
            .update_one(filter.clone(), update)
            .upsert(true)
            .run()
        {
            Ok(r) if r.upserted_id.is_some() || r.matched_count == 1 => {
                return Ok(Written::Applied);
            }
            Ok(_) => {}
            // Another writer created this run, or another run took the counter: retry.
            Err(e) if is_duplicate_key(&e) => back_off(),
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

/// The counter the next run of `run`'s task gets, unless another creator takes it first.
fn next_counter(shared: &Shared, run: &RunId) -> Result<u64> {
    let found = shared
        .counters
        .find_one(doc! { "_id": run.task().as_str() })
        .run()
        .map_err(shared.err("read a sweep counter"))?;
    let floor = match found {
        None => 0,
        Some(doc) => as_u64(doc.get("next")).ok_or_else(|| Error::CorruptRecord {
            what: format!(
                "counters document of task `{}` in {}.counters",
                run.task(),
                shared.namespace
            ),
            reason: "`next` is not a non-negative integer".to_owned(),
        })?,
    };
    let highest = shared
        .runs
        .find_one(doc! { "task": run.task().as_str() })
        .sort(doc! { "counter": -1 })
        .projection(doc! { "counter": 1 })
        .run()
        .map_err(shared.err("find the highest sweep counter"))?;
    let after_highest = highest
        .and_then(|doc| as_u64(doc.get("counter")))
        .map_or(0, |h| h + 1);
    Ok(floor.max(after_highest))
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

/// Sleeps up to half a millisecond, varying by moment, so creators that keep colliding
/// spread out.
fn back_off() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::thread::sleep(Duration::from_nanos(u64::from(nanos % 500_000)));
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
