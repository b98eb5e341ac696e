//! Run claims: how independent sweeps on one store split the work (`docs/design.md` §18.5).
//!
//! A claim is a run state with an owner and a lease:
//! [`ResultsStore::claim_run`](crate::ResultsStore::claim_run) sets the exact run to
//! [`RunState::Running`] and records `(owner, expires)`. It is released by any state change of the run (`finish`, `fail`,
//! `set_run_state`) and by deleting the run, and it lapses when its lease runs out (its
//! owner died, or did not renew it by claiming again).
//!
//! The rule ([`decide`], the one place it is written; every backend calls it inside its own
//! atomic step): a finished run is not claimed; a run claimed by *another* owner whose lease
//! has not run out is not claimed; otherwise — no run yet, no state, running without a claim,
//! failed, an expired claim, or the caller's own claim — the caller gets the claim, with a
//! new lease. So claiming again renews; a claim request that is sent twice has the effect of
//! one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::run::RunState;

/// Longest owner name of a claim, in bytes.
pub const MAX_OWNER_LEN: usize = 256;

/// The answer to a claim ([`ResultsStore::claim_run`](crate::ResultsStore::claim_run)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ClaimOutcome {
    /// The caller holds the claim now (new, renewed, or taken from an expired one): train
    /// the run, then finish or fail it.
    Claimed,
    /// The run is finished: there is nothing to do.
    Finished,
    /// Another owner holds a claim whose lease has not run out.
    Taken {
        /// The owner holding it.
        owner: String,
    },
}

/// A held claim as stored: who holds it and until when (ms since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lease {
    pub(crate) owner: String,
    pub(crate) expires_ms: u64,
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Fails unless `owner` is a usable owner name (non-empty, at most [`MAX_OWNER_LEN`] bytes).
pub(crate) fn check_owner(owner: &str) -> Result<()> {
    if owner.is_empty() || owner.len() > MAX_OWNER_LEN {
        return Err(Error::InvalidClaim {
            reason: format!(
                "the owner name must be 1 to {MAX_OWNER_LEN} bytes, not {}",
                owner.len()
            ),
        });
    }
    Ok(())
}

/// The claim rule (module docs): the outcome, and the lease to store if the caller gets it.
pub(crate) fn decide(
    state: Option<RunState>,
    held: Option<&Lease>,
    owner: &str,
    lease: Duration,
    now_ms: u64,
) -> (ClaimOutcome, Option<Lease>) {
    if state == Some(RunState::Finished) {
        return (ClaimOutcome::Finished, None);
    }
    if let Some(held) = held
        && held.owner != owner
        && held.expires_ms > now_ms
    {
        return (
            ClaimOutcome::Taken {
                owner: held.owner.clone(),
            },
            None,
        );
    }
    let lease_ms = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
    let granted = Lease {
        owner: owner.to_owned(),
        expires_ms: now_ms.saturating_add(lease_ms),
    };
    (ClaimOutcome::Claimed, Some(granted))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn held(owner: &str, expires_ms: u64) -> Lease {
        Lease {
            owner: owner.to_owned(),
            expires_ms,
        }
    }

    #[test]
    fn finished_runs_and_live_foreign_claims_are_not_claimed_anything_else_is() {
        let taken = ClaimOutcome::Taken {
            owner: "b".to_owned(),
        };
        let finished = decide(Some(RunState::Finished), None, "a", MIN, 10);
        assert_eq!(finished, (ClaimOutcome::Finished, None));
        assert_eq!(decide(None, Some(&held("b", 11)), "a", MIN, 10).0, taken);
        for (state, lease) in [
            (None, None),
            (Some(RunState::Running), None),
            (Some(RunState::Failed), None),
            (Some(RunState::Running), Some(held("b", 10))), // expired
            (Some(RunState::Running), Some(held("a", 99))), // own: renewed
        ] {
            let (outcome, granted) = decide(state, lease.as_ref(), "a", MIN, 10);
            assert_eq!(outcome, ClaimOutcome::Claimed);
            assert_eq!(granted, Some(held("a", 60_010)));
        }
    }

    #[test]
    fn owner_names_must_be_non_empty_and_bounded() {
        assert!(check_owner("host:42").is_ok());
        assert!(matches!(check_owner(""), Err(Error::InvalidClaim { .. })));
        let long = "x".repeat(MAX_OWNER_LEN + 1);
        assert!(matches!(
            check_owner(&long),
            Err(Error::InvalidClaim { .. })
        ));
    }
}
