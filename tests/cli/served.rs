//! The command line and a served store: `ls`, `table`, `diff`, `show`, `get`, `stats`,
//! `verify` against a
//! store served by a real `sweepstore serve` child process answer what they answer directly
//! once the server has stopped; `gc` refuses a served store; a store locked by a process
//! that serves nothing (even with a stale socket file) gets the one-line "in use" error;
//! `demo --processes N` completes, resumes after `kill -9` without losing or repeating a run,
//! and a rerun skips every run; the demo on a store `sweepstore serve` serves trains through
//! that server (worker processes or threads).

use crate::shared::cli as cli_support;
use crate::shared::remote as remote_support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

use cli_support::{Ran, TestResult, arg, run, sweepstore};

use serde_json::{Value, json};
use sweepstore::{RedbOptions, RedbStore, RunKey, StoreExt};

use crate::shared::config;

/// Two tasks; results of every printable and binary kind; one large value (a blob file).
fn make_store(path: &Path) -> TestResult {
    let store = RedbStore::open(path, RedbOptions::default())?;
    for (lr, finished) in [(0.1, true), (0.3, false)] {
        let run = store.run("train", &config(json!({"lr": lr, "opt": "sgd"}))?)?;
        run.save("metrics", "json", &json!({ "loss": lr * 2.0 }))?;
        run.save_bytes("log", "text", format!("lr {lr}\n").as_bytes())?;
        if finished {
            run.finish()?;
        }
    }
    let eval = store.run("eval", &config(json!({"split": "test"}))?)?;
    eval.save_bytes("raw", "bytes", &vec![7u8; 200 << 10])?;
    eval.finish()?;
    store.close()?;
    Ok(())
}

/// `sweepstore serve STORE` (default socket), once it says it is serving.
fn serve(store: &Path) -> TestResult<Child> {
    let mut child = sweepstore()
        .arg("serve")
        .arg(store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().ok_or("no stdout")?).read_line(&mut line)?;
    if !line.starts_with("serving ") {
        let _ = child.kill();
        return Err(format!("the server did not start: {line:?}").into());
    }
    Ok(child)
}

/// `SUBCOMMAND STORE REST...` from `[SUBCOMMAND, REST...]`.
fn args(parts: &[&str], store: &Path) -> Vec<std::ffi::OsString> {
    let mut all = vec![parts[0].into(), store.as_os_str().to_owned()];
    all.extend(parts[1..].iter().map(std::ffi::OsString::from));
    all
}

/// The commands compared, each `[subcommand, args after STORE...]`, and what they printed.
fn browse_all(store: &Path, out_file: &Path) -> TestResult<Vec<String>> {
    let out = out_file.to_str().ok_or("path")?;
    let commands: [&[&str]; 11] = [
        &["ls", "--json"],
        // With the runs' times, which reach a client through protocol 3.
        &["table", "train", "--json"],
        &[
            "diff",
            "train",
            r#"{"lr": 0.1, "opt": "sgd"}"#,
            r#"{"lr": 0.3, "opt": "sgd"}"#,
        ],
        &["ls", "--task", "train", "--json"],
        &["ls", "--task", "train", "--where", "lr=0.3"],
        &[
            "show",
            "train",
            "--config",
            r#"{"lr": 0.1, "opt": "sgd", "seed": 1}"#,
        ],
        &["show", "eval", "--run", "", "--json"],
        &[
            "get",
            "train",
            "metrics",
            "--config",
            r#"{"lr": 0.3, "opt": "sgd"}"#,
        ],
        &[
            "get",
            "eval",
            "raw",
            "--config",
            r#"{"split": "test"}"#,
            "-o",
            out,
        ],
        &["verify", "--json"],
        &["stats", "--json"],
    ];
    // `show --run` needs a prefix: the first digit of the eval run's key.
    let eval_key = sweepstore::RunKey::new(
        &sweepstore::TaskName::new("eval")?,
        &config(json!({"split": "test"}))?,
    )
    .to_hex();
    let mut printed = Vec::new();
    for command in commands {
        let mut command: Vec<&str> = command.to_vec();
        if let Some(at) = command.iter().position(|p| p.is_empty()) {
            command[at] = &eval_key[..3];
        }
        let ran = run(args(&command, store))?.ok()?;
        let mut text = ran.stdout;
        if command[0] == "stats" {
            // The server's closing checkpoint moves the WAL figures; compare the rest.
            let mut value: Value = serde_json::from_str(&text)?;
            let object = value.as_object_mut().ok_or("stats is not an object")?;
            for key in [
                "wal_bytes",
                "wal_segments",
                "last_checkpoint_lsn",
                "last_checkpoint_at",
            ] {
                object.remove(key);
            }
            text = value.to_string();
        }
        if command[0] == "get" && command.contains(&"-o") {
            text.push_str(&format!("{:?}", std::fs::read(out_file)?.len()));
        }
        printed.push(text);
    }
    Ok(printed)
}

#[test]
fn commands_on_a_served_store_answer_as_on_the_store_opened_directly() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_store(&store)?;
    let mut server = serve(&store)?;
    let outcome = (|| -> TestResult<(Vec<String>, Ran, Ran)> {
        let served = browse_all(&store, &dir.path().join("raw.out"))?;
        std::fs::remove_file(dir.path().join("raw.out"))?;
        // Proof of the route: the store is locked by the server, and -v says so.
        let logged = run(args(&["ls", "-v"], &store))?.ok()?;
        let gc = run(args(&["gc"], &store))?;
        Ok((served, logged, gc))
    })();
    cli_support::terminate(&mut server)?;
    let (served, logged, gc) = outcome?;
    assert!(
        logged.stderr.contains("going through the server"),
        "{}",
        logged.stderr
    );
    let gc = gc.expect_code(1)?;
    let message = gc.stderr.trim_end();
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("stop the server first"), "{message}");

    let direct = browse_all(&store, &dir.path().join("raw.out"))?;
    assert_eq!(served, direct);
    // Controls: the answers hold what the store holds.
    assert!(direct[0].contains("\"eval\"") && direct[0].contains("\"train\""));
    assert!(direct[1].contains("\"created\": \"20"), "{}", direct[1]);
    assert!(direct[2].contains("*config.lr"), "{}", direct[2]);
    assert!(direct[5].contains("finished"), "{}", direct[5]);
    assert!(direct[7].contains("0.6"), "{}", direct[7]);
    assert!(direct[8].ends_with("204800"), "{}", direct[8]);
    assert!(direct[9].contains("\"values_checked\""), "{}", direct[9]);
    Ok(())
}

#[test]
fn a_store_locked_by_a_process_that_serves_nothing_is_in_use() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    make_store(&store)?;
    // A stale socket file, as a killed server leaves one: nobody answers on it.
    remote_support::stale_socket(&sweepstore::Server::default_socket(&store))?;
    let held = RedbStore::open(&store, RedbOptions::default())?;
    for command in [&["ls"][..], &["stats"], &["verify"], &["gc"]] {
        let failed = run(args(command, &store))?.expect_code(1)?;
        let message = failed.stderr.trim_end();
        assert_eq!(message.lines().count(), 1, "{command:?}: {message}");
        assert!(message.contains("already open"), "{command:?}: {message}");
        assert!(message.contains(&*store.to_string_lossy()), "{message}");
    }
    drop(held);
    // Released: the stale socket does not stand in the way.
    run(args(&["ls"], &store))?.ok()?;
    Ok(())
}

use cli_support::trained_keys;

/// Waits (at most a minute) until no `demo-worker` process of the store at `store` is left,
/// found by their command lines in `/proc` (they are not this test's children).
fn wait_for_workers_to_exit(store: &Path) -> TestResult {
    let store = store.to_string_lossy().into_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let mut alive = 0;
        for entry in std::fs::read_dir("/proc")? {
            let Ok(entry) = entry else { continue };
            // Processes come and go while we read: a vanished one is simply not counted.
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if args.iter().any(|a| a == "demo-worker") && args.contains(&store) {
                alive += 1;
            }
        }
        if alive == 0 {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("{alive} demo workers still running after a minute").into());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The finished runs of task `train`, as `ls --json` lists them.
fn finished(store: &Path) -> TestResult<BTreeSet<RunKey>> {
    let listed = run(args(&["ls", "--task", "train", "--json"], store))?.ok()?;
    let runs: Value = serde_json::from_str(&listed.stdout)?;
    let mut keys = BTreeSet::new();
    for run in runs.as_array().ok_or("not an array")? {
        if run["state"] == "finished" {
            keys.insert(run["run_key"].as_str().ok_or("no key")?.parse()?);
        }
    }
    Ok(keys)
}

#[test]
fn a_sweep_in_worker_processes_resumes_after_kill_9_and_a_rerun_skips_everything() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    let mut child = sweepstore()
        .args(["demo", "--processes", "3"])
        .arg(&store)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut seen = String::new();
    let mut reported = 0;
    let mut browsed = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("trained ") {
            reported += 1;
            if reported == 2 {
                // Browsing during the sweep goes through the demo's server.
                browsed = Some(run(args(&["ls", "--json", "-v"], &store))?.ok()?);
            }
            if reported == 12 {
                break;
            }
        }
    }
    assert_eq!(reported, 12, "the demo ended early:\n{seen}");
    assert!(seen.contains("to train on 3 worker processes"), "{seen}");
    child.kill()?;
    child.wait()?;
    // Each worker finishes its run in progress once the demo is gone, then exits: the count
    // below is only stable once none is left.
    wait_for_workers_to_exit(&store)?;
    let browsed = browsed.ok_or("nothing browsed")?;
    assert!(
        browsed.stderr.contains("going through the server"),
        "{}",
        browsed.stderr
    );
    assert!(browsed.stdout.contains("\"train\""), "{}", browsed.stdout);

    // The workers notice their server is gone and exit; the store opens directly.
    let before = finished(&store)?;
    assert!(before.len() >= 12 && before.len() < 128, "{}", before.len());
    for reported in trained_keys(&seen)? {
        assert!(
            before.contains(&reported),
            "reported but not finished: {reported}"
        );
    }

    let resumed = run([
        "demo".as_ref(),
        arg(&store),
        "--processes".as_ref(),
        "2".as_ref(),
    ])?
    .ok()?;
    let header = format!("demo: {} runs already finished (skipped)", before.len());
    assert!(resumed.stdout.contains(&header), "{}", resumed.stdout);
    let trained = trained_keys(&resumed.stdout)?;
    let trained_set: BTreeSet<RunKey> = trained.iter().copied().collect();
    assert_eq!(trained.len(), trained_set.len(), "a run was trained twice");
    assert!(
        trained_set.is_disjoint(&before),
        "a finished run was trained again"
    );
    assert_eq!(trained_set.len() + before.len(), 128);
    assert!(resumed.stdout.contains("best of 16 configurations"));
    assert!(
        !sweepstore::Server::default_socket(&store).exists(),
        "the demo's server left its socket"
    );

    // Every run is complete, and a rerun skips them all.
    let opened = RedbStore::open(&store, RedbOptions::default())?;
    let all = opened.task("train")?.lazy_sweep("metrics")?.count();
    assert_eq!(all, 128);
    drop(opened);
    let rerun = run([
        "demo".as_ref(),
        arg(&store),
        "--processes".as_ref(),
        "2".as_ref(),
    ])?
    .ok()?;
    assert!(
        rerun
            .stdout
            .contains("demo: all 128 runs already finished (skipped 128); nothing to train"),
        "{}",
        rerun.stdout
    );
    assert!(trained_keys(&rerun.stdout)?.is_empty());
    Ok(())
}

#[test]
fn the_demo_trains_through_a_server_that_serves_its_store() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store");
    // `serve` creates no store.
    sweepstore::RedbStore::open(&store, sweepstore::RedbOptions::default())?.close()?;
    let mut server = serve(&store)?;
    let outcome = (|| -> TestResult<(Ran, Ran)> {
        let processes = run(args(&["demo", "--processes", "2"], &store))?.ok()?;
        let threads = run(args(&["demo", "--workers", "2", "-v"], &store))?.ok()?;
        Ok((processes, threads))
    })();
    cli_support::terminate(&mut server)?;
    let (processes, threads) = outcome?;
    // The worker processes trained through the running server (the demo started none).
    assert_eq!(trained_keys(&processes.stdout)?.len(), 128);
    assert!(
        threads.stderr.contains("going through the server"),
        "{}",
        threads.stderr
    );
    assert!(
        threads
            .stdout
            .contains("demo: all 128 runs already finished (skipped 128); nothing to train"),
        "{}",
        threads.stdout
    );
    // Control: the server stored it all (the store is closed now and opens directly).
    assert_eq!(finished(&store)?.len(), 128);
    Ok(())
}
