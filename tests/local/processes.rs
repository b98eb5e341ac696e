//! LocalFileStore with real OS processes: children killed with SIGKILL in the middle of
//! writes leave every result at an old or a new version (never torn, never mismatched with
//! its load information), and processes saving into one base directory at once lose nothing
//! and never create two run directories for one config.
//!
//! Children are this test binary re-executed with `--exact <child test>` and an environment
//! variable naming their directory; without it the child tests do nothing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::shared::child_test;
use serde_json::{Value, json};
use sweepstore::{Error, LocalFileStore, StoreExt, UniqueConfig};

type Result<T = ()> = sweepstore::Result<T>;

const CRASH_ENV: &str = "SWEEPSTORE_TEST_LOCAL_CRASH_DIR";
const SWEEP_ENV: &str = "SWEEPSTORE_TEST_LOCAL_SWEEP_DIR";
const SWEEP_ID_ENV: &str = "SWEEPSTORE_TEST_LOCAL_SWEEP_ID";

const BLOB_LEN: usize = 8 << 20;
const STREAM_LEN: usize = 4 << 20;

use crate::shared::io;

fn crash_config() -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({"lr": 0.1}))?)
}

fn spawn_child(test: &str, envs: &[(&str, &str)]) -> Result<Child> {
    let exe = std::env::current_exe().map_err(io("find the test binary", Path::new(".")))?;
    let mut command = Command::new(exe);
    command
        .args([
            "--exact",
            &child_test(module_path!(), test),
            "--nocapture",
            "--test-threads=1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (key, value) in envs {
        command.env(key, value);
    }
    command
        .spawn()
        .map_err(io("start a child process", Path::new(test)))
}

/// Runs in a child: overwrites three results over and over (a large `bytes` value, a result
/// that alternates between two types and files, and a write-open stream) until killed.
#[test]
fn child_writes_until_killed() -> Result {
    let Some(dir) = std::env::var_os(CRASH_ENV) else {
        return Ok(());
    };
    let dir = PathBuf::from(dir);
    let store = LocalFileStore::new(&dir)?;
    let run = store.run("train", &crash_config()?)?;
    for i in 0u64.. {
        let byte = if i % 2 == 0 { b'a' } else { b'b' };
        run.save("blob", "bytes", &vec![byte; BLOB_LEN])?;
        if i % 2 == 0 {
            run.save(
                "typed",
                "json",
                &json!({"i": i, "pad": "x".repeat(1 << 20)}),
            )?;
        } else {
            run.save("typed", "text", &format!("i={i}"))?;
        }
        let mut stream = run.open("stream", "wb", None)?;
        for _ in 0..STREAM_LEN / 65536 {
            std::io::Write::write_all(&mut stream, &[byte; 65536])
                .map_err(io("write the stream", &dir))?;
        }
        stream.close()?;
        if i == 0 {
            std::fs::write(dir.join("ready"), b"").map_err(io("mark ready", &dir))?;
        }
    }
    Ok(())
}

/// Counts the temporary files killed writers left behind (ones that `gc` then removes prove
/// that a write was in flight; it keeps the staged content a committed record names).
fn count_leftovers(dir: &Path) -> Result<usize> {
    let mut count = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path).map_err(io("list", &path))? {
            let entry = entry.map_err(io("list", &path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(".sweepstore-") && name.ends_with(".tmp") {
                count += 1;
            } else if entry.path().is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(count)
}

fn assert_whole(bytes: &[u8], len: usize, what: &str) {
    assert_eq!(bytes.len(), len, "{what}: a torn length");
    let first = bytes[0];
    assert!(first == b'a' || first == b'b', "{what}: unknown content");
    assert!(bytes.iter().all(|b| *b == first), "{what}: mixed versions");
}

#[test]
fn results_survive_kill_9_mid_write_at_their_old_or_new_version() -> Result {
    // Kill until enough kills landed mid-write (how many do depends on the machine's load),
    // at most MAX_ROUNDS times.
    const MIN_INTERRUPTED: u64 = 4;
    const MAX_ROUNDS: u64 = 60;
    let dir = tempfile::tempdir().map_err(io("create a temporary directory", Path::new("/tmp")))?;
    let dir_text = dir.path().to_string_lossy().into_owned();
    let (mut interrupted, mut seen) = (0, 0);
    let mut rounds = 0;
    for round in 0..MAX_ROUNDS {
        if interrupted >= MIN_INTERRUPTED {
            break;
        }
        rounds += 1;
        let mut child = spawn_child("child_writes_until_killed", &[(CRASH_ENV, &dir_text)])?;
        let start = Instant::now();
        while !dir.path().join("ready").exists() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "child never got ready"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // Kill at a different point of the write cycle each round.
        std::thread::sleep(Duration::from_millis(37 * (round % 8) + 20));
        child.kill().map_err(io("kill the child", dir.path()))?;
        child.wait().map_err(io("wait for the child", dir.path()))?;
        let left = count_leftovers(dir.path())?;
        let store = LocalFileStore::new(dir.path())?;
        let collected = store.gc(false)?;
        let kept = count_leftovers(dir.path())?;
        // Opening already removed the leftovers in `.sweepstore/tmp`; gc the rest.
        assert!(
            kept as u64 + collected.temp_files <= left as u64,
            "gc reported more than it removed"
        );
        if kept < left {
            interrupted += 1;
        }
        seen = seen.max(kept);

        let run = store.run("train", &crash_config()?)?;
        let blob = run.load::<Vec<u8>>("blob")?.ok_or(Error::Closed)?;
        assert_whole(&blob, BLOB_LEN, "blob");
        match run.load_lazy("typed")?.ok_or(Error::Closed)?.type_name() {
            "json" => assert!(run.load::<Value>("typed")?.is_some_and(|v| v["i"].is_u64())),
            "text" => assert!(
                run.load::<String>("typed")?
                    .is_some_and(|t| t.starts_with("i="))
            ),
            other => panic!("typed has type {other}"),
        }
        if let Some(stream) = run.load::<Vec<u8>>("stream")? {
            assert_whole(&stream, STREAM_LEN, "stream");
        }
        assert_eq!(
            run.get_results()?.map(|r| r.len()),
            Some(3),
            "no duplicates"
        );
        std::fs::remove_file(dir.path().join("ready")).map_err(io("unmark", dir.path()))?;
    }
    // Control: the kills really landed while writes were in flight, and gc (after the
    // opens that clean `.sweepstore/tmp`) removed what they left, keeping committed
    // staged content — every value above loaded whole after it.
    assert!(
        interrupted >= MIN_INTERRUPTED,
        "only {interrupted} of {rounds} kills left temporaries for gc"
    );
    assert!(
        seen <= 3,
        "at most one staged entry per result is kept: {seen}"
    );
    Ok(())
}

const SHARED_CONFIGS: u64 = 40;
const SWEEPERS: u64 = 4;

/// Runs in a child: saves its id into every shared config and into a config of its own.
#[test]
fn child_saves_a_sweep() -> Result {
    let (Some(dir), Some(id)) = (std::env::var_os(SWEEP_ENV), std::env::var_os(SWEEP_ID_ENV))
    else {
        return Ok(());
    };
    let id = id.to_string_lossy().into_owned();
    let store = LocalFileStore::new(PathBuf::from(dir))?;
    for k in 0..SHARED_CONFIGS {
        let run = store.run("sweep", &UniqueConfig::new(json!({"k": k}))?)?;
        run.save(&format!("from-{id}"), "json", &json!(id))?;
    }
    let own = store.run("sweep", &UniqueConfig::new(json!({"child": id}))?)?;
    own.save("mine", "text", &id)?;
    own.finish()
}

#[test]
fn processes_saving_at_once_lose_nothing_and_share_run_directories() -> Result {
    let dir = tempfile::tempdir().map_err(io("create a temporary directory", Path::new("/tmp")))?;
    let dir_text = dir.path().to_string_lossy().into_owned();
    let children: Vec<Child> = (0..SWEEPERS)
        .map(|id| {
            let id = id.to_string();
            let envs = [(SWEEP_ENV, dir_text.as_str()), (SWEEP_ID_ENV, id.as_str())];
            spawn_child("child_saves_a_sweep", &envs)
        })
        .collect::<Result<_>>()?;
    for mut child in children {
        let status = child.wait().map_err(io("wait for a child", dir.path()))?;
        assert!(status.success(), "a child failed: {status}");
    }

    let store = LocalFileStore::new(dir.path())?;
    for k in 0..SHARED_CONFIGS {
        let run = store.run("sweep", &UniqueConfig::new(json!({"k": k}))?)?;
        let results = run.get_results()?.ok_or(Error::Closed)?;
        assert_eq!(results.len() as u64, SWEEPERS, "config {k} lost a save");
    }
    for id in 0..SWEEPERS {
        let own = store.run(
            "sweep",
            &UniqueConfig::new(json!({"child": id.to_string()}))?,
        )?;
        assert!(own.is_finished()?);
    }
    // One directory per config, each with its own counter.
    let mut configs = std::collections::BTreeSet::new();
    let mut dirs = 0;
    let task = dir.path().join("sweep");
    for entry in std::fs::read_dir(&task).map_err(io("list", &task))? {
        let path = entry.map_err(io("list", &task))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.starts_with('.')) {
            continue;
        }
        let text = std::fs::read_to_string(path.join("config.json")).map_err(io("read", &path))?;
        configs.insert(UniqueConfig::parse(&text)?.canonical().to_owned());
        dirs += 1;
    }
    assert_eq!(dirs, SHARED_CONFIGS + SWEEPERS, "run directories");
    assert_eq!(configs.len() as u64, dirs, "two directories share a config");
    Ok(())
}
