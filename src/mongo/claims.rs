//! Run claims on a MongoStore (`docs/design.md` §15.8, the rule of §18.5).
//!
//! A held claim is the run document's field `claim: {owner, expires}` (`expires` in ms since
//! the Unix epoch, Int64); a run without one has the field missing or `null`. Any state
//! change sets it to `null` (releasing it), deleting the run removes it.
//!
//! Invariants: a claim is decided by [`decide`] on the state and claim read from the
//! server, and written with a compare-and-set: the update's filter requires the state and
//! claim it read, so of any number of claimers (threads, processes, machines) that read the
//! same document, one write applies and the others read again and decide anew. Leases are
//! compared with the claimer's clock, so machines sharing a store need clocks in step to
//! well within a lease.

use std::time::Duration;

use mongodb::bson::{Bson, Document, doc};

use crate::claim::{ClaimOutcome, Lease, check_owner, decide, now_ms};
use crate::error::{Error, Result};
use crate::mongo::client::Shared;
use crate::mongo::documents::{as_u64, size_to_bson, state_name};
use crate::mongo::runs::{Written, write_run};
use crate::run::{RunId, RunState};

/// How often a claim reads again after another claimer's write won.
const ATTEMPTS: usize = 1000;

/// Claims the exact run for `owner` (see the module docs).
///
/// # Errors
/// [`Error::InvalidClaim`] for a bad owner; [`Error::CorruptRecord`] for a damaged `claim`
/// or `state` field, or if other claimers keep winning; server errors.
pub(crate) fn claim(
    shared: &Shared,
    run: &RunId,
    owner: &str,
    lease: Duration,
) -> Result<ClaimOutcome> {
    check_owner(owner)?;
    for _ in 0..ATTEMPTS {
        let found = shared
            .runs
            .find_one(doc! { "_id": run.key().to_hex() })
            .projection(doc! { "state": 1, "claim": 1 })
            .run()
            .map_err(shared.err("read a run's claim"))?;
        let (state, held, condition) = match &found {
            Some(doc) => observed(shared, run, doc)?,
            // Not there yet: whoever creates it first decides; a run created meanwhile
            // without a claim and not finished may still be claimed.
            None => (
                None,
                None,
                doc! { "claim": Bson::Null, "state": { "$ne": state_name(RunState::Finished) } },
            ),
        };
        let (outcome, granted) = decide(state, held.as_ref(), owner, lease, now_ms());
        let Some(granted) = granted else {
            return Ok(outcome);
        };
        let set = doc! {
            "state": state_name(RunState::Running),
            "claim": { "owner": &granted.owner, "expires": size_to_bson(granted.expires_ms)? },
            "finished": Bson::Null,
        };
        if write_run(shared, run, Some(condition), set)? == Written::Applied {
            return Ok(outcome);
        }
    }
    Err(corrupt(
        shared,
        run,
        format!("claiming it lost to other claimers {ATTEMPTS} times in a row"),
    ))
}

/// The state and claim of a run document, and the filter that matches exactly them.
fn observed(
    shared: &Shared,
    run: &RunId,
    doc: &Document,
) -> Result<(Option<RunState>, Option<Lease>, Document)> {
    let state = match doc.get_str("state") {
        Ok("running") => RunState::Running,
        Ok("finished") => RunState::Finished,
        Ok("failed") => RunState::Failed,
        _ => {
            return Err(corrupt(
                shared,
                run,
                "its `state` is not a run state".into(),
            ));
        }
    };
    let claim = doc.get("claim").cloned().unwrap_or(Bson::Null);
    let held = match &claim {
        Bson::Null => None,
        Bson::Document(c) => {
            let owner = c.get_str("owner").ok();
            let expires = as_u64(c.get("expires"));
            let (Some(owner), Some(expires_ms)) = (owner, expires) else {
                return Err(corrupt(
                    shared,
                    run,
                    "its `claim` lacks a string `owner` or an integer `expires`".into(),
                ));
            };
            Some(Lease {
                owner: owner.to_owned(),
                expires_ms,
            })
        }
        _ => return Err(corrupt(shared, run, "its `claim` is not a document".into())),
    };
    let condition = doc! { "state": state_name(state), "claim": claim };
    Ok((Some(state), held, condition))
}

fn corrupt(shared: &Shared, run: &RunId, reason: String) -> Error {
    Error::CorruptRecord {
        what: format!("run document {} in {}", run.key(), shared.namespace),
        reason,
    }
}
