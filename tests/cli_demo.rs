//! `sweepstore demo` as a real child process: a sweep killed with SIGKILL midway resumes with
//! nothing lost and no finished run trained again; a rerun of a complete sweep skips every
//! run; a second process on the same store is told the store is in use.
//!
//! The grid below is the one the demo documents (4 learning rates × 4 L2 penalties × 8
//! seeds); run keys are computed here from it, independently of the binary.

mod cli_support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

use cli_support::{TestResult, arg, run, sweepstore};
use serde_json::{Value, json};
use sweepstore::{RedbOptions, RedbStore, RunKey, StoreExt, TaskName, UniqueConfig};

/// Trained-run lines to wait for before the kill.
const KILL_AFTER: usize = 12;

fn grid() -> TestResult<Vec<UniqueConfig>> {
    let mut configs = Vec::new();
    for lr in [0.01, 0.03, 0.1, 0.3] {
        for l2 in [0.0, 0.001, 0.01, 0.1] {
            for seed in 0..8 {
                configs.push(UniqueConfig::new(
                    json!({ "lr": lr, "l2": l2, "seed": seed }),
                )?);
            }
        }
    }
    Ok(configs)
}

fn key(config: &UniqueConfig) -> TestResult<RunKey> {
    Ok(RunKey::new(&TaskName::new("train")?, config))
}

/// The run keys named by `trained ... run=<key>` lines.
fn trained_keys(stdout: &str) -> TestResult<Vec<RunKey>> {
    stdout
        .lines()
        .filter(|line| line.starts_with("trained "))
        .map(|line| {
            let hex = line
                .rsplit_once(" run=")
                .ok_or_else(|| format!("no run key in {line:?}"))?
                .1;
            Ok(hex.parse()?)
        })
        .collect()
}

/// The runs of the grid whose state is finished, read by opening the store in this process.
fn finished_in_store(store: &std::path::Path) -> TestResult<BTreeSet<RunKey>> {
    let store = RedbStore::open(store, RedbOptions::default())?;
    let mut finished = BTreeSet::new();
    for config in grid()? {
        if store.run("train", &config)?.is_finished()? {
            finished.insert(key(&config)?);
        }
    }
    Ok(finished)
}

#[test]
fn a_sweep_killed_midway_resumes_without_losing_or_repeating_a_run() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    let all: BTreeSet<RunKey> = grid()?.iter().map(key).collect::<TestResult<_>>()?;
    assert_eq!(all.len(), 128);

    // First invocation: read its lines until KILL_AFTER runs are reported, then SIGKILL.
    let mut child = sweepstore()
        .args(["demo", "--workers", "2"])
        .arg(&store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut seen = String::new();
    let mut reported = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("trained ") {
            reported += 1;
            if reported == 1 {
                // Meanwhile, a second process on the same store is told it is in use.
                let busy = run(["demo".as_ref(), arg(&store)])?.expect_code(1)?;
                let message = busy.stderr.trim_end();
                assert_eq!(message.lines().count(), 1, "{message}");
                assert!(message.contains(&*store.to_string_lossy()), "{message}");
                assert!(message.contains("already open"), "{message}");
            }
        }
        if reported == KILL_AFTER {
            break;
        }
    }
    child.kill()?;
    let status = child.wait()?;
    assert_eq!(
        status.code(),
        None,
        "killed by a signal: {status:?}\n{seen}"
    );

    // Control: the kill landed midway. Every reported run is finished in the store.
    let before = finished_in_store(&store)?;
    assert!(
        before.len() >= KILL_AFTER && before.len() < all.len(),
        "{}",
        before.len()
    );
    for reported in trained_keys(&seen)? {
        assert!(
            before.contains(&reported),
            "reported but not finished: {reported}"
        );
    }

    // Second invocation: trains exactly the runs not finished before the kill.
    let second = run([
        "demo".as_ref(),
        arg(&store),
        "--workers".as_ref(),
        "2".as_ref(),
    ])?
    .ok()?;
    let header = format!("demo: {} runs already finished (skipped)", before.len());
    assert!(second.stdout.contains(&header), "{}", second.stdout);
    let trained: Vec<RunKey> = trained_keys(&second.stdout)?;
    let trained_set: BTreeSet<RunKey> = trained.iter().copied().collect();
    assert_eq!(trained.len(), trained_set.len(), "a run was trained twice");
    assert!(
        trained_set.is_disjoint(&before),
        "a finished run was trained again"
    );
    let union: BTreeSet<RunKey> = trained_set.union(&before).copied().collect();
    assert_eq!(union, all);
    assert!(
        second.stdout.contains("best of 16 configurations"),
        "{}",
        second.stdout
    );

    // Nothing lost: every run is finished with its metrics, weights and a complete log.
    let opened = RedbStore::open(&store, RedbOptions::default())?;
    for config in grid()? {
        let run = opened.run("train", &config)?;
        assert!(run.is_finished()?);
        let metrics: Value = run.load("metrics")?.ok_or("no metrics")?;
        assert_eq!(metrics["epochs"], json!(60));
        let weights = run.load_lazy("weights")?.ok_or("no weights")?;
        assert_eq!(weights.type_name(), "binary");
        let log: String = run.load("log")?.ok_or("no log")?;
        assert_eq!(log.lines().count(), 61, "{log}");
        assert!(
            log.lines()
                .last()
                .is_some_and(|l| l.starts_with("epoch  60"))
        );
    }
    drop(opened);

    // Third invocation: everything is skipped and said so.
    let third = run(["demo".as_ref(), arg(&store)])?.ok()?;
    assert!(
        third
            .stdout
            .contains("demo: all 128 runs already finished (skipped 128); nothing to train"),
        "{}",
        third.stdout
    );
    assert!(trained_keys(&third.stdout)?.is_empty());
    assert!(third.stdout.contains("best of 16 configurations"));
    assert_eq!(third.stderr, "", "nothing is logged without -v");
    Ok(())
}

#[test]
fn the_demo_refuses_a_directory_that_is_not_a_store() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("notes.txt"), "mine")?;
    let failed = run(["demo".as_ref(), arg(dir.path())])?.expect_code(1)?;
    assert!(
        failed.stderr.contains("is not a sweepstore store"),
        "{}",
        failed.stderr
    );
    assert!(failed.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt"))?,
        "mine"
    );
    Ok(())
}
