//! Browsing a served store through [`RemoteStore`] (protocol version 2): tasks, runs (paged
//! over several frames), the lookup rule, key prefixes, statistics and verification answer
//! exactly what the same store answers when opened directly once the server has stopped.

use crate::shared::remote as remote_support;

use std::path::Path;

use crate::shared::tempdir;
use remote_support::{InProcess, io_err};
use serde_json::json;
use sweepstore::{
    Browse, ContentHash, Progress, RedbOptions, RedbStore, RemoteStore, Result, StoreExt, TaskName,
    UniqueConfig, VerifyReport,
};

/// Runs of task `big` with padded configs: well over one 256 KiB page of summaries.
const BIG_RUNS: u64 = 400;

fn fill(store: &impl StoreExt) -> Result<ContentHash> {
    let pad = "x".repeat(1024);
    for i in 0..BIG_RUNS {
        let run = store.run("big", &UniqueConfig::new(json!({ "i": i, "pad": pad }))?)?;
        run.save("metrics", "json", &json!({ "loss": i }))?;
        if i % 2 == 0 {
            run.finish()?;
        }
    }
    let small = store.run("small", &UniqueConfig::new(json!({ "lr": 0.1 }))?)?;
    small.save_bytes("note", "text", b"hello")?;
    // Above the inline limit: a blob file, which the test damages.
    let blob = vec![7u8; 100 << 10];
    small.save_bytes("weights", "bytes", &blob)?;
    Ok(ContentHash::of(&blob))
}

fn blob_path(dir: &Path, hash: &ContentHash) -> std::path::PathBuf {
    let hex = hash.to_string();
    dir.join("blobs").join(&hex[..2]).join(hex)
}

/// Everything the browsing requests answer, as comparable values.
#[derive(Debug, PartialEq)]
struct Answers {
    tasks: Vec<sweepstore::TaskSummary>,
    big: Vec<sweepstore::RunSummary>,
    small: Vec<sweepstore::RunSummary>,
    found: Option<sweepstore::RunSummary>,
    by_prefix: Vec<sweepstore::RunSummary>,
    unknown_task: Vec<sweepstore::RunSummary>,
}

fn answers(store: &dyn Browse, prefix: &str) -> Result<Answers> {
    let big = TaskName::new("big")?;
    let small = TaskName::new("small")?;
    Ok(Answers {
        tasks: store.tasks()?,
        big: store.runs(&big)?,
        small: store.runs(&small)?,
        // The lookup rule: a superset config finds the stored subset.
        found: store.find_run(&small, &UniqueConfig::new(json!({ "lr": 0.1, "seed": 3 }))?)?,
        by_prefix: store.runs_by_key_prefix(&big, prefix)?,
        unknown_task: store.runs(&TaskName::new("nothing")?)?,
    })
}

#[test]
fn browsing_stats_and_verify_through_the_server_match_direct_access() -> Result<()> {
    let dir = tempdir()?;
    let store_dir = dir.path().join("store");
    let socket = dir.path().join("s.sock");
    let hash = {
        let store = RedbStore::open(&store_dir, RedbOptions::default())?;
        let hash = fill(&store)?;
        store.close()?;
        hash
    };
    // Damage one blob: both verifications must report it.
    let path = blob_path(&store_dir, &hash);
    let mut bytes = std::fs::read(&path).map_err(io_err("read the blob"))?;
    bytes[10] ^= 1;
    std::fs::write(&path, bytes).map_err(io_err("damage the blob"))?;

    let server = InProcess::start(&store_dir, &socket)?;
    let remote = RemoteStore::connect(&socket)?;
    // Some prefix shared by several runs of `big`.
    let first = remote.runs(&TaskName::new("big")?)?;
    let prefix = first.first().map(|r| r.key.to_hex()[..1].to_owned());
    let prefix = prefix.unwrap_or_default();
    let through = answers(&remote, &prefix)?;
    let stats_through = remote.stats()?;
    let mut progress_through: Vec<Progress> = Vec::new();
    let verified_through = remote.verify(&mut |p| progress_through.push(p))?;
    drop(remote);
    server.stop()?;

    let direct = RedbStore::open(&store_dir, RedbOptions::default())?;
    let expected = answers(&direct, &prefix)?;
    let stats_direct = direct.stats()?;
    let verified_direct: VerifyReport = direct.verify(&mut |_| {})?;
    drop(direct);

    assert_eq!(through.big.len() as u64, BIG_RUNS);
    assert!(through.by_prefix.len() > 1 && through.by_prefix.len() < BIG_RUNS as usize);
    assert!(through.found.is_some());
    assert_eq!(through, expected);
    // The content figures are the same; the server's closing checkpoint moved the WAL's.
    assert_eq!(
        (
            stats_through.tasks,
            stats_through.runs,
            stats_through.results
        ),
        (stats_direct.tasks, stats_direct.runs, stats_direct.results)
    );
    assert_eq!(
        (
            stats_through.distinct_contents,
            stats_through.logical_bytes,
            stats_through.stored_bytes
        ),
        (
            stats_direct.distinct_contents,
            stats_direct.logical_bytes,
            stats_direct.stored_bytes
        )
    );
    assert_eq!(stats_through.runs, BIG_RUNS + 1);
    assert_eq!(verified_through, verified_direct);
    assert_eq!(verified_through.problems.len(), 1, "{verified_through:?}");
    assert!(
        verified_through.problems[0]
            .description
            .contains("hash mismatch")
    );
    // Progress is coarse remotely, but never past the end.
    assert!(progress_through.iter().all(|p| p.done <= p.total));
    Ok(())
}
