//! Many machines, simulated: several OS processes, each with its own MongoStore client as on
//! separate machines, run one sweep over a grid with run claims (`docs/design.md` §15.8), on
//! a server of the test's own that is killed (SIGKILL) and restarted mid-sweep. Every config
//! is trained by one owner, the processes see typed errors while the server is down and
//! carry on after the restart, and every save they saw acknowledged is there at the end.
//!
//! Children are this test binary re-executed with `--exact child_sweeps` and environment
//! variables naming the server, database and child; without them the child test does
//! nothing. A child prints one line per event on stdout: `TRAIN <i>` before training config
//! `i`, `ACK <i>` after its save and finish were acknowledged, `ERR <variant>` for an error.

#![cfg(feature = "mongodb")]

use crate::shared::mongo as mongo_support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::shared::child_test;
use serde_json::json;
use sweepstore::{ClaimOutcome, Error, MongoOptions, MongoStore, Result, StoreExt, UniqueConfig};

use mongo_support::{COLLECTION, Daemon, free_port, unique_db};

const URI_ENV: &str = "SWEEPSTORE_TEST_MACHINE_URI";
const DB_ENV: &str = "SWEEPSTORE_TEST_MACHINE_DB";
const ID_ENV: &str = "SWEEPSTORE_TEST_MACHINE_ID";
const MACHINES: u32 = 4;
const CONFIGS: u32 = 40;
const LEASE: Duration = Duration::from_secs(120);

fn config(i: u32) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({ "lr": i, "model": "mlp" }))?)
}

use crate::shared::io_err;

/// A config number a child printed.
fn number(word: &str) -> Result<u32> {
    word.parse().map_err(|_| Error::NotFound {
        what: format!("a config number, not {word:?}"),
    })
}

/// One pass of a child over the grid: `Ok(true)` once every config is finished.
fn sweep_pass(store: &MongoStore, id: u32) -> Result<bool> {
    let mut all_finished = true;
    for i in 0..CONFIGS {
        let run = store.run("train", &config(i)?)?;
        match run.claim(&format!("machine-{id}"), LEASE)? {
            ClaimOutcome::Finished => continue,
            ClaimOutcome::Taken { .. } => {
                all_finished = false;
                continue;
            }
            ClaimOutcome::Claimed => {}
            other => panic!("unexpected claim outcome {other:?}"),
        }
        all_finished = false;
        // Our own claim again after an error: the model may be saved already.
        if run.load::<u32>("model")?.is_none() {
            println!("TRAIN {i}");
            std::thread::sleep(Duration::from_millis(20));
            run.save("model", "json", &id)?;
        }
        run.finish()?;
        println!("ACK {i}");
    }
    Ok(all_finished)
}

/// Runs in a child: sweeps until every config is finished, reporting errors and retrying.
#[test]
fn child_sweeps() -> Result<()> {
    let (Ok(uri), Ok(db), Ok(id)) = (
        std::env::var(URI_ENV),
        std::env::var(DB_ENV),
        std::env::var(ID_ENV),
    ) else {
        return Ok(());
    };
    let id: u32 = id.parse().map_err(|_| Error::NotFound {
        what: format!("a number in {ID_ENV}"),
    })?;
    let options = MongoOptions::default().with_timeout(Duration::from_secs(1));
    let store = MongoStore::connect_with(&uri, &db, COLLECTION, options)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            Instant::now() < deadline,
            "machine {id}: the sweep never ended"
        );
        match sweep_pass(&store, id) {
            Ok(true) => return Ok(()),
            Ok(false) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                let variant = match e {
                    Error::MongoUnreachable { .. } => "MongoUnreachable",
                    Error::Mongo { .. } => "Mongo",
                    other => panic!("machine {id}: an untyped or unexpected error: {other}"),
                };
                println!("ERR {variant}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[test]
fn machines_sweep_with_claims_through_a_server_restart() -> Result<()> {
    let port = free_port()?;
    let dir = tempfile::tempdir().map_err(io_err("make a temp dir"))?;
    let data = dir.path().join("data");
    let mut daemon = Daemon::start(port, &data)?;
    let db = unique_db("machines");
    let exe = std::env::current_exe().map_err(io_err("find the test binary"))?;
    let children: Vec<_> = (0..MACHINES)
        .map(|id| {
            Command::new(&exe)
                .args([
                    "--exact",
                    &child_test(module_path!(), "child_sweeps"),
                    "--test-threads=1",
                    "--nocapture",
                ])
                .env(URI_ENV, daemon.uri())
                .env(DB_ENV, &db)
                .env(ID_ENV, id.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(io_err("start a child process"))
        })
        .collect::<Result<_>>()?;

    // Mid-sweep: once some configs are finished, and not all.
    let store = MongoStore::connect(&daemon.uri(), &db, COLLECTION)?;
    let finished = |store: &MongoStore| -> Result<u32> {
        let mut n = 0;
        for i in 0..CONFIGS {
            n += u32::from(store.run("train", &config(i)?)?.is_finished()?);
        }
        Ok(n)
    };
    let waited = Instant::now();
    let before_kill = loop {
        let n = finished(&store)?;
        if n >= 4 || waited.elapsed() > Duration::from_secs(60) {
            break n;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    daemon.kill()?;
    std::thread::sleep(Duration::from_secs(2));
    let _restarted = Daemon::start(port, &data)?;

    let mut trained: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let mut acked = BTreeSet::new();
    let mut errors = Vec::new();
    for (id, child) in children.into_iter().enumerate() {
        let out = child
            .wait_with_output()
            .map_err(io_err("wait for a child"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "machine {id} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in stdout.lines() {
            // The last two words: the first event follows the harness's `test .. ...`.
            let mut words = line.split_whitespace().rev();
            let (arg, kind) = (words.next(), words.next());
            match (kind, arg) {
                (Some("TRAIN"), Some(i)) => trained.entry(number(i)?).or_default().push(id as u32),
                (Some("ACK"), Some(i)) => {
                    acked.insert(number(i)?);
                }
                (Some("ERR"), Some(variant)) => errors.push(variant.to_owned()),
                _ => {}
            }
        }
    }

    assert!(
        before_kill > 0 && before_kill < CONFIGS,
        "control: the server was killed mid-sweep ({before_kill} of {CONFIGS} finished)"
    );
    assert!(
        !errors.is_empty(),
        "control: the machines saw the server go away"
    );
    let store = MongoStore::connect(&daemon.uri(), &db, COLLECTION)?;
    for i in 0..CONFIGS {
        let owners = trained.get(&i).cloned().unwrap_or_default();
        let distinct: BTreeSet<_> = owners.iter().collect();
        assert_eq!(
            distinct.len(),
            1,
            "config {i} trained by one machine: {owners:?}"
        );
        let run = store.run("train", &config(i)?)?;
        assert!(run.is_finished()?, "config {i} finished");
        let model = run.load::<u32>("model")?;
        assert!(
            model.is_some_and(|m| distinct.contains(&m)),
            "config {i}: the model of the machine that trained it, not {model:?}"
        );
    }
    // A finish the server applied while its reply was lost (the kill) is an error to its
    // machine, and the next pass finds the run finished: no ACK. So every config lacking
    // an ACK must be matched by an error (it was found finished above either way).
    assert!(
        acked.len() + errors.len() >= CONFIGS as usize,
        "every config acknowledged, or an error seen instead: {} acked, {} errors",
        acked.len(),
        errors.len()
    );
    Ok(())
}
