//! Run claims (`docs/design.md` §18.5), for the backends that support them: a claimed run
//! is not claimed by another owner until it is finished, failed, deleted or its lease runs
//! out; claiming again renews; a finished run is never claimed.

use std::time::Duration;

use serde_json::json;
use sweepstore::{ClaimOutcome, Error, ResultsStore, RunState, StoreExt};

use crate::support::config;

type Result<T = ()> = sweepstore::Result<T>;

const LONG: Duration = Duration::from_secs(600);

fn taken_by(owner: &str) -> ClaimOutcome {
    ClaimOutcome::Taken {
        owner: owner.to_owned(),
    }
}

pub fn a_claim_creates_the_run_running_and_keeps_others_out<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &config(json!({"lr": 0.1}))?)?;
    assert_eq!(run.claim("a", LONG)?, ClaimOutcome::Claimed);
    assert_eq!(run.state()?, Some(RunState::Running));
    assert_eq!(run.claim("b", LONG)?, taken_by("a"));
    // The owner claiming again renews its claim.
    assert_eq!(run.claim("a", LONG)?, ClaimOutcome::Claimed);
    // Saving does not release it.
    run.save("metrics", "json", &json!({"loss": 1}))?;
    assert_eq!(run.claim("b", LONG)?, taken_by("a"));
    Ok(())
}

pub fn finishing_releases_a_claim_and_a_finished_run_is_never_claimed<S: ResultsStore>(
    store: &S,
) -> Result {
    let run = store.run("train", &config(json!({"lr": 0.2}))?)?;
    assert_eq!(run.claim("a", LONG)?, ClaimOutcome::Claimed);
    run.finish()?;
    assert_eq!(run.claim("b", LONG)?, ClaimOutcome::Finished);
    assert_eq!(run.claim("a", LONG)?, ClaimOutcome::Finished);
    assert_eq!(run.state()?, Some(RunState::Finished));
    Ok(())
}

pub fn failing_or_deleting_a_run_releases_its_claim<S: ResultsStore>(store: &S) -> Result {
    let failed = store.run("train", &config(json!({"lr": 0.3}))?)?;
    assert_eq!(failed.claim("a", LONG)?, ClaimOutcome::Claimed);
    failed.set_state(RunState::Failed)?;
    assert_eq!(failed.claim("b", LONG)?, ClaimOutcome::Claimed);
    assert_eq!(failed.state()?, Some(RunState::Running));

    let deleted = store.run("train", &config(json!({"lr": 0.4}))?)?;
    assert_eq!(deleted.claim("a", LONG)?, ClaimOutcome::Claimed);
    assert!(deleted.delete_run()?);
    assert_eq!(deleted.claim("b", LONG)?, ClaimOutcome::Claimed);
    Ok(())
}

pub fn an_expired_claim_goes_to_the_next_owner<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &config(json!({"lr": 0.5}))?)?;
    assert_eq!(
        run.claim("dead", Duration::from_millis(1))?,
        ClaimOutcome::Claimed
    );
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(run.claim("b", LONG)?, ClaimOutcome::Claimed);
    assert_eq!(run.claim("dead", LONG)?, taken_by("b"));
    Ok(())
}

pub fn claims_address_the_exact_run_not_a_subset<S: ResultsStore>(store: &S) -> Result {
    let small = store.run("train", &config(json!({"lr": 0.6}))?)?;
    assert_eq!(small.claim("a", LONG)?, ClaimOutcome::Claimed);
    let large = store.run("train", &config(json!({"lr": 0.6, "seed": 1}))?)?;
    assert_eq!(large.claim("b", LONG)?, ClaimOutcome::Claimed);
    Ok(())
}

pub fn an_empty_owner_is_rejected_without_creating_the_run<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &config(json!({"lr": 0.7}))?)?;
    assert!(matches!(
        run.claim("", LONG),
        Err(Error::InvalidClaim { .. })
    ));
    assert_eq!(run.state()?, None);
    Ok(())
}

pub fn only_one_of_many_threads_gets_a_claim<S: ResultsStore>(store: &S) -> Result {
    let run_config = config(json!({"lr": 0.8}))?;
    let outcomes = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let run_config = &run_config;
                scope.spawn(move || {
                    store
                        .run("train", run_config)?
                        .claim(&format!("w{i}"), LONG)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect::<Result<Vec<_>>>()
    })?;
    let won = outcomes
        .iter()
        .filter(|o| **o == ClaimOutcome::Claimed)
        .count();
    assert_eq!(won, 1, "{outcomes:?}");
    Ok(())
}
