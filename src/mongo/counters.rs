//! Sweep counters for new runs, reserved from the server in blocks so creating a run costs
//! one write (`docs/design.md` §15.4).
//!
//! Invariants:
//! - The task's counters document holds `next`, a high-water mark: no counter at or above
//!   it has been handed out. A store reserves `[next, next + n)` with one atomic `$inc`
//!   (`find_one_and_update`), so no two stores (processes, machines) ever hold the same
//!   counter, and hands them out to its threads from memory.
//! - A counter is consumed only by the insert of a run document. A counter taken for a
//!   creation that found its run already there is given back and handed out again first,
//!   so one store's counters are consumed lowest first.
//! - Counters are unique per task, not gap-free: the rest of a block is never used once
//!   its store is gone (at most `MAX_BLOCK` − 1 per task and store, `cache.rs`), nor is a counter
//!   given back and not taken again. Blocks start at 1 and double up to `MAX_BLOCK`, so a
//!   store that creates few runs leaves few gaps.
//! - A `next` that fell behind the stored runs (a lost counters document) shows as an
//!   insert rejected by the unique `(task, counter)` index; [`repair`] raises it
//!   past the task's highest stored counter and drops the store's block.

use mongodb::bson::doc;
use mongodb::options::ReturnDocument;

use crate::error::{Error, Result};
use crate::mongo::client::{Shared, is_duplicate_key};
use crate::mongo::documents::{as_u64, size_to_bson};
use crate::names::TaskName;

/// How often a reservation retries when racing stores create the counters document.
const ATTEMPTS: usize = 100;

/// A counter of `task` for a new run, from this store's block (`cache.rs`), reserving a new
/// block from the server when it is used up.
///
/// # Errors
/// Server errors of the reservation; [`Error::CorruptRecord`] for a damaged counters
/// document.
pub(crate) fn take(shared: &Shared, task: &TaskName) -> Result<u64> {
    shared
        .counters_pool
        .take(task, |size| reserve(shared, task, size))
}

/// After an insert found `counter` taken by another run: raises the task's `next` past
/// its highest stored counter and drops this store's block, so the next [`take`] reserves
/// above every stored run.
///
/// # Errors
/// Server errors.
pub(crate) fn repair(shared: &Shared, task: &TaskName, counter: u64) -> Result<()> {
    let highest = shared
        .runs
        .find_one(doc! { "task": task.as_str() })
        .sort(doc! { "counter": -1 })
        .projection(doc! { "counter": 1 })
        .run()
        .map_err(shared.err("find the highest sweep counter"))?
        .and_then(|doc| as_u64(doc.get("counter")));
    raise_next(shared, task, highest.unwrap_or(0).max(counter))?;
    shared.counters_pool.drop_block(task);
    Ok(())
}

/// Reserves `size` counters of `task`; returns the end of the reserved range.
fn reserve(shared: &Shared, task: &TaskName, size: u64) -> Result<u64> {
    let by = size_to_bson(size)?;
    for _ in 0..ATTEMPTS {
        let reserved = shared
            .counters
            .find_one_and_update(
                doc! { "_id": task.as_str() },
                doc! { "$inc": { "next": by.clone() } },
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
            .run();
        match reserved {
            Ok(Some(doc)) => {
                return as_u64(doc.get("next"))
                    .filter(|n| *n >= size)
                    .ok_or_else(|| damaged(shared, task));
            }
            // An upsert racing another may come back without the document (SecantusDB
            // does) though its `$inc` may have applied: reserve again; at worst the
            // unknown block is a gap.
            Ok(None) => {}
            // Two stores raced to create the counters document; it exists now.
            Err(e) if is_duplicate_key(&e) => {}
            Err(e) => return Err(shared.err("reserve sweep counters")(e)),
        }
    }
    Err(damaged(shared, task))
}

/// Raises the `next` counter of `task` to at least `taken + 1`, so `taken` is never handed
/// out again.
///
/// # Errors
/// Server errors.
pub(crate) fn raise_next(shared: &Shared, task: &TaskName, taken: u64) -> Result<()> {
    let next = size_to_bson(taken + 1)?;
    for _ in 0..ATTEMPTS {
        let raised = shared
            .counters
            .update_one(
                doc! { "_id": task.as_str() },
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
    Err(damaged(shared, task))
}

fn damaged(shared: &Shared, task: &TaskName) -> Error {
    Error::CorruptRecord {
        what: format!(
            "counters document of task `{task}` in {}.counters",
            shared.namespace
        ),
        reason: "`next` is not a non-negative integer that the server can raise".to_owned(),
    }
}
