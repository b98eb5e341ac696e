//! Several OS processes (standing in for several machines) saving into the same runs of one
//! MongoStore at once lose nothing, create each run document once with unique counters (not
//! gap-free: each process reserves counters in blocks, `docs/design.md` §15.4), and store a
//! large value they all upload once. Needs the server of `tests/run.sh`.
//!
//! Children are this test binary re-executed with `--exact child_saves_into_shared_runs` and
//! environment variables naming the database and the child; without them the child test
//! does nothing.

#![cfg(feature = "mongodb")]

use crate::shared::mongo as mongo_support;

use std::process::{Command, Stdio};

use crate::shared::child_test;
use mongodb::bson::{Document, doc};
use serde_json::json;
use sweepstore::{ContentHash, Error, MongoOptions, Result, StoreExt, UniqueConfig};

use mongo_support::{COLLECTION, raw_db, raw_err, store_in, unique_db, uri};

const DB_ENV: &str = "SWEEPSTORE_TEST_MONGO_PROCESS_DB";
const ID_ENV: &str = "SWEEPSTORE_TEST_MONGO_PROCESS_ID";
const PROCESSES: u32 = 4;
const RUNS: u32 = 12;
const ROUNDS: u32 = 3;

fn config(run: u32) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({ "run": run, "lr": 0.5 }))?)
}

/// The large value every process saves (the same bytes, so one upload is stored).
fn large() -> Vec<u8> {
    (0..600 * 1024).map(|i| (i % 253) as u8).collect()
}

fn value(process: u32, round: u32, run: u32) -> String {
    format!("p{process} r{round} run{run}")
}

/// Runs in a child: saves its own names into every shared run and overwrites a name all
/// processes write, round after round; in the first round it also saves the large value
/// every process saves.
#[test]
fn child_saves_into_shared_runs() -> Result<()> {
    let (Ok(db), Ok(id)) = (std::env::var(DB_ENV), std::env::var(ID_ENV)) else {
        return Ok(());
    };
    let id: u32 = id.parse().map_err(|_| Error::NotFound {
        what: format!("a number in {ID_ENV}"),
    })?;
    let store = store_in(&db, MongoOptions::default())?;
    let large = large();
    for round in 0..ROUNDS {
        // Each process walks the runs in its own order, so first saves collide.
        for step in 0..RUNS {
            let r = (step + id * 5) % RUNS;
            let run = store.run("train", &config(r)?)?;
            run.save(&format!("p{id}-r{round}"), "text", &value(id, round, r))?;
            run.save("last", "text", &value(id, round, r))?;
            if round == 0 {
                run.save("large", "bytes", &large)?;
            }
            run.get_context()?;
        }
    }
    Ok(())
}

#[test]
fn processes_saving_the_same_runs_at_once_lose_nothing_and_duplicate_nothing() -> Result<()> {
    let db_name = unique_db("processes");
    let exe = std::env::current_exe().map_err(|source| Error::Stream {
        op: "find the test binary",
        source,
    })?;
    let children: Vec<_> = (0..PROCESSES)
        .map(|id| {
            Command::new(&exe)
                .args([
                    "--exact",
                    &child_test(module_path!(), "child_saves_into_shared_runs"),
                    "--test-threads=1",
                ])
                .env(DB_ENV, &db_name)
                .env(ID_ENV, id.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|source| Error::Stream {
                    op: "start a child process",
                    source,
                })
        })
        .collect::<Result<_>>()?;
    for (id, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().map_err(|source| Error::Stream {
            op: "wait for a child process",
            source,
        })?;
        assert!(
            out.status.success(),
            "child {id} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let store = store_in(&db_name, MongoOptions::default())?;
    let mut counters = Vec::new();
    for r in 0..RUNS {
        let run = store.run("train", &config(r)?)?;
        for p in 0..PROCESSES {
            for round in 0..ROUNDS {
                let loaded = run.load::<String>(&format!("p{p}-r{round}"))?;
                assert_eq!(loaded, Some(value(p, round, r)), "run {r}, process {p}");
            }
        }
        let last = run.load::<String>("last")?.unwrap_or_default();
        assert!(last.ends_with(&format!("r{} run{r}", ROUNDS - 1)), "{last}");
        assert!(
            run.load::<Vec<u8>>("large")? == Some(large()),
            "large in run {r}"
        );
        counters.push(run.get_context()?.sweep_counter);
    }
    let distinct: std::collections::BTreeSet<_> = counters.iter().collect();
    assert_eq!(
        distinct.len(),
        counters.len(),
        "one counter per run: {counters:?}"
    );
    assert!(counters.iter().all(Option::is_some), "{counters:?}");

    let db = raw_db(&uri(), &db_name)?;
    let count = |coll: &str, filter: Document| {
        db.collection::<Document>(coll)
            .count_documents(filter)
            .run()
            .map_err(raw_err("count"))
    };
    assert_eq!(
        count(COLLECTION, doc! {})?,
        u64::from(RUNS),
        "run documents"
    );
    let hash = ContentHash::of(&large()).to_hex();
    assert_eq!(count("runs.content.files", doc! {})?, 1);
    assert_eq!(count("runs.content.chunks", doc! { "files_id": hash })?, 3);
    Ok(())
}
