//! Writing run documents: updates of the exact run that create it when it does not exist,
//! with sweep counters from this store's reserved block (`counters.rs`).
//!
//! Invariants:
//! - A run is created by an upsert on its `_id` (the run key), so however many threads and
//!   processes save the same run at once, there is one document; an insert that loses the
//!   race fails with a duplicate key and is retried as an update.
//! - A write to a run this store has not seen is an upsert first (one round trip for a new
//!   run, taking a counter that is given back if the run was there); a write to a run it
//!   has created or written is an update first, upserting only if the run is
//!   gone. Either way the outcome is the same; the order only saves round trips.
//! - A counter is consumed only by an inserted run document: the unique `(task, counter)`
//!   index rejects a second run with the same counter, and the loser repairs the task's
//!   `next` and takes another. Counters are unique per task, not gap-free (§15.4).
//! - Every write is one server-acknowledged single-document update, so it is atomic: a run
//!   never holds half a save, and `Ok` means the server acknowledged it (journaled by
//!   default).

use mongodb::bson::{Document, doc};

use crate::error::{Error, Result};
use crate::mongo::client::{Shared, is_duplicate_key};
use crate::mongo::counters;
use crate::mongo::documents::{Results, new_run};
use crate::mongo::lookup::exact;
use crate::run::RunId;

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
    let mut update_first = shared.known.contains(&run.key());
    for _ in 0..ATTEMPTS {
        if update_first
            && let Some(written) = update(shared, run, &filter, condition.is_some(), &set)?
        {
            return Ok(written);
        }
        update_first = true;
        let counter = counters::take(shared, run.task())?;
        let mut insert = new_run(run, counter)?;
        // A field may not be in both `$set` and `$setOnInsert`.
        for key in set.keys() {
            insert.remove(key);
        }
        let mut upsert = doc! { "$setOnInsert": insert };
        if !set.is_empty() {
            upsert.insert("$set", set.clone());
        }
        let created = shared
            .runs
            .update_one(filter.clone(), upsert)
            .upsert(true)
            .run();
        if !matches!(&created, Ok(r) if r.upserted_id.is_some()) {
            shared.counters_pool.give_back(run.task(), counter);
        }
        match created {
            Ok(r) if r.upserted_id.is_some() || r.matched_count == 1 => {
                shared.known.insert(run.key());
                return Ok(Written::Applied);
            }
            Ok(_) => {}
            Err(e) if is_duplicate_key(&e) => {
                if exact(shared, run, Results::None)?.is_none() {
                    // Another run holds the counter: `next` fell behind the stored runs.
                    counters::repair(shared, run.task(), counter)?;
                }
                // Else the run exists (another writer created it, or it fails the
                // condition): the update decides.
            }
            Err(e) => return Err(shared.err("create a run document")(e)),
        }
    }
    Err(collisions(shared, run))
}

/// The update step of [`write_run`]: `Some` if it decided, `None` if the run is missing.
fn update(
    shared: &Shared,
    run: &RunId,
    filter: &Document,
    conditional: bool,
    set: &Document,
) -> Result<Option<Written>> {
    let exists = if set.is_empty() {
        exact(shared, run, Results::None)?.is_some()
    } else {
        let updated = shared
            .runs
            .update_one(filter.clone(), doc! { "$set": set.clone() })
            .run()
            .map_err(shared.err("update a run document"))?;
        if updated.matched_count == 1 {
            return Ok(Some(Written::Applied));
        }
        if conditional && exact(shared, run, Results::None)?.is_some() {
            return Ok(Some(Written::Rejected));
        }
        false
    };
    Ok(exists.then_some(Written::Applied))
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
