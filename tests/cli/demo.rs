//! `sweepstore demo` as a real child process: a sweep interrupted midway (Ctrl-C's SIGINT,
//! which stops it cleanly and makes it say how far it came, then SIGKILL) resumes with
//! nothing lost and no finished run trained again; a rerun of a complete sweep skips every
//! run; two demos started at once on one store (one with worker threads, one with worker
//! processes) split the grid — every run trained exactly once — and leave no socket behind.
//!
//! SIGINT: the demo installs its own handler, so the test does not depend on the SIGINT
//! disposition the test process inherited (a background job of a non-interactive shell
//! inherits it ignored, and children inherit that): the demo child handles it either way.
//!
//! The grid below is the one the demo documents (4 learning rates × 4 L2 penalties × 8
//! seeds); run keys are computed here from it, independently of the binary.

use crate::shared::cli as cli_support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;

use cli_support::{TestResult, arg, run, sweepstore};
use serde_json::{Value, json};
use sweepstore::{RedbOptions, RedbStore, RunKey, StoreExt, TaskName, UniqueConfig};

/// Trained-run lines to wait for before each interruption.
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

use cli_support::trained_keys;

/// The runs of task `train` whose state is finished, as `ls --task train --json -v` lists
/// them, and what it logged (opening the store after an interruption recovers it).
fn finished_in_store(store: &Path) -> TestResult<(BTreeSet<RunKey>, String)> {
    let listed = run([
        "ls".as_ref(),
        arg(store),
        "--task".as_ref(),
        "train".as_ref(),
        "--json".as_ref(),
        "-v".as_ref(),
    ])?
    .ok()?;
    let runs: Value = serde_json::from_str(&listed.stdout)?;
    let mut finished = BTreeSet::new();
    for run in runs.as_array().ok_or("not an array")? {
        if run["state"] == "finished" {
            finished.insert(run["run_key"].as_str().ok_or("no run key")?.parse()?);
        }
    }
    Ok((finished, listed.stderr))
}

use crate::shared::remote::signal;

/// How an invocation is interrupted.
#[derive(Debug, Clone, Copy)]
enum Interrupt {
    /// SIGINT, as Ctrl-C sends.
    CtrlC,
    /// SIGKILL.
    Kill9,
}

/// Runs `demo STORE --workers 2 EXTRA` until it has reported `after` more trained runs, then
/// interrupts it; returns what it printed on stdout.
fn interrupted(store: &Path, after: usize, how: Interrupt, extra: &[&str]) -> TestResult<String> {
    let mut child = sweepstore()
        .args(["demo", "--workers", "2"])
        .arg(store)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut seen = String::new();
    let mut reported = 0;
    let mut lines = BufReader::new(stdout);
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end_matches('\n');
        seen.push_str(line);
        seen.push('\n');
        if line.starts_with("trained ") {
            reported += 1;
        }
        if reported == after {
            break;
        }
    }
    assert_eq!(reported, after, "the child ended early:\n{seen}");
    match how {
        Interrupt::CtrlC => {
            signal(&child, "INT")?;
            // The rest of its output: the runs in progress, then how far it came.
            let mut rest = String::new();
            std::io::Read::read_to_string(&mut lines.into_inner(), &mut rest)?;
            seen.push_str(&rest);
            let status = child.wait()?;
            assert_eq!(status.code(), Some(130), "{status:?}\n{seen}");
            let said = seen
                .lines()
                .find(|l| l.starts_with("demo: interrupted: trained "))
                .ok_or_else(|| format!("no summary after Ctrl-C:\n{seen}"))?;
            let trained = trained_keys(&seen)?.len();
            assert!(said.contains(&format!("trained {trained} runs")), "{said}");
            assert!(said.contains("runs left"), "{said}");
        }
        Interrupt::Kill9 => {
            child.kill()?;
            let status = child.wait()?;
            assert_eq!(status.signal(), Some(9), "{status:?}\n{seen}");
        }
    }
    Ok(seen)
}

/// Checks what an interrupted invocation left: the interruption landed midway (some but not
/// all runs finished; after a kill the next open recovers from the log, which `-v` reports,
/// while Ctrl-C closed the store cleanly), every run it reported is finished, and none of
/// the runs it trained had been finished before it started. Returns the finished runs.
fn check_interrupted(
    store: &Path,
    stdout: &str,
    how: Interrupt,
    before: &BTreeSet<RunKey>,
    all: &BTreeSet<RunKey>,
) -> TestResult<BTreeSet<RunKey>> {
    let (after, logged) = finished_in_store(store)?;
    let recovered = logged.contains("recovered from the write-ahead log");
    assert_eq!(
        recovered,
        matches!(how, Interrupt::Kill9),
        "{how:?}: {logged}"
    );
    assert!(
        after.len() > before.len() && after.len() < all.len(),
        "{} finished before, {} after",
        before.len(),
        after.len()
    );
    assert!(before.is_subset(&after), "a finished run was lost");
    assert!(after.is_subset(all), "a run outside the grid");
    let header = format!("demo: {} runs already finished (skipped)", before.len());
    assert!(stdout.contains(&header), "{stdout}");
    for reported in trained_keys(stdout)? {
        assert!(
            after.contains(&reported),
            "reported but not finished: {reported}"
        );
        assert!(!before.contains(&reported), "trained again: {reported}");
    }
    Ok(after)
}

#[test]
fn a_sweep_interrupted_midway_resumes_without_losing_or_repeating_a_run() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    let all: BTreeSet<RunKey> = grid()?.iter().map(key).collect::<TestResult<_>>()?;
    assert_eq!(all.len(), 128);

    // Ctrl-C after a few runs, then kill -9 a resumed invocation after a few more.
    let first = interrupted(&store, KILL_AFTER, Interrupt::CtrlC, &[])?;
    let after_first = check_interrupted(&store, &first, Interrupt::CtrlC, &BTreeSet::new(), &all)?;
    let second = interrupted(&store, KILL_AFTER, Interrupt::Kill9, &[])?;
    let before = check_interrupted(&store, &second, Interrupt::Kill9, &after_first, &all)?;

    // Third invocation: trains exactly the runs not finished before the kill. With -v, logs
    // reach stderr (never stdout).
    let third = run([
        "demo".as_ref(),
        arg(&store),
        "--workers".as_ref(),
        "2".as_ref(),
        "-v".as_ref(),
    ])?
    .ok()?;
    assert!(
        third.stderr.contains("opened the store"),
        "{}",
        third.stderr
    );
    assert!(!third.stdout.contains("recovered"), "{}", third.stdout);
    let header = format!("demo: {} runs already finished (skipped)", before.len());
    assert!(third.stdout.contains(&header), "{}", third.stdout);
    let trained: Vec<RunKey> = trained_keys(&third.stdout)?;
    let trained_set: BTreeSet<RunKey> = trained.iter().copied().collect();
    assert_eq!(trained.len(), trained_set.len(), "a run was trained twice");
    assert!(
        trained_set.is_disjoint(&before),
        "a finished run was trained again"
    );
    let union: BTreeSet<RunKey> = trained_set.union(&before).copied().collect();
    assert_eq!(union, all);
    assert!(
        third.stdout.contains("best of 16 configurations"),
        "{}",
        third.stdout
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

    // Fourth invocation: everything is skipped and said so.
    let fourth = run(["demo".as_ref(), arg(&store)])?.ok()?;
    assert!(
        fourth
            .stdout
            .contains("demo: all 128 runs already finished (skipped 128); nothing to train"),
        "{}",
        fourth.stdout
    );
    assert!(trained_keys(&fourth.stdout)?.is_empty());
    assert!(fourth.stdout.contains("best of 16 configurations"));
    assert_eq!(fourth.stderr, "", "nothing is logged without -v");
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

#[test]
fn two_demos_on_one_store_train_every_run_exactly_once_and_leave_no_socket() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    let all: BTreeSet<RunKey> = grid()?.iter().map(key).collect::<TestResult<_>>()?;
    let spawn = |extra: &[&str]| {
        sweepstore()
            .arg("demo")
            .arg(&store)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    };
    // The processes demo first: it takes longer to get its workers going.
    let processes = spawn(&["--processes", "2"])?;
    let threads = spawn(&["--workers", "2"])?;
    let mut trained = Vec::new();
    for child in [processes, threads] {
        let output = child.wait_with_output()?;
        let stdout = String::from_utf8(output.stdout)?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("best of 16 configurations"), "{stdout}");
        trained.push(trained_keys(&stdout)?);
    }
    // Control: both demos trained (the grid was split, not trained by one alone).
    assert!(
        trained.iter().all(|keys| !keys.is_empty()),
        "one demo trained nothing: {} and {} runs",
        trained[0].len(),
        trained[1].len()
    );
    let every: Vec<RunKey> = trained.concat();
    let distinct: BTreeSet<RunKey> = every.iter().copied().collect();
    assert_eq!(every.len(), 128, "trainings in all (a run trained twice?)");
    assert_eq!(distinct, all);
    let (finished, _) = finished_in_store(&store)?;
    assert_eq!(finished, all);
    assert!(
        !store.join("serve.sock").exists(),
        "a socket was left behind"
    );
    Ok(())
}
