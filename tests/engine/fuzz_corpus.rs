//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the same harness functions
//! the cargo-fuzz targets call (`sweepstore::sim::fuzz`), with stable Rust, so CI checks
//! every seed and every input the fuzzers were ever asked to keep. Also runs a quick
//! mutation loop (a fixed-seed PRNG over the corpus) so the harnesses see a few thousand
//! inputs on every test run, and replays the inputs of the bugs the fuzzers found
//! (`fuzz/known-bugs/`, all fixed: each must now pass).
//!
//! How to fuzz for longer: `fuzz/README.md`.

use crate::shared::rng as test_rng;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use sweepstore::sim::fuzz::{WalVariant, base_segment, decode_ops, fuzz_ops, fuzz_wal_recovery};
use sweepstore::sim::model::Op;
use test_rng::Rng;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn dir(parts: &[&str]) -> PathBuf {
    let mut path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    path.extend(parts);
    path
}

/// Every file in `dir`, in name order, with its bytes.
fn inputs(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, std::io::Error> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((name, std::fs::read(&path)?));
        }
    }
    out.sort();
    Ok(out)
}

/// Runs `harness` on an input, turning a panic into an error naming it.
fn guarded<T>(name: &str, harness: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(harness)) {
        Ok(result) => result.map_err(|e| format!("{name}: {e}")),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(format!("{name}: panicked: {message}"))
        }
    }
}

#[test]
fn every_wal_recovery_corpus_input_recovers_an_allowed_state_or_fails_with_a_typed_error()
-> TestResult {
    let corpus = inputs(&dir(&["corpus", "wal_recovery"]))?;
    let mut failures = Vec::new();
    let (mut opened, mut refused) = (0, 0);
    let mut variants = Vec::new();
    for (name, data) in &corpus {
        match guarded(name, || fuzz_wal_recovery(data)) {
            Ok((variant, ok)) => {
                if ok {
                    opened += 1;
                } else {
                    refused += 1;
                }
                if !variants.contains(&variant) {
                    variants.push(variant);
                }
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "corpus failures:\n{}",
        failures.join("\n")
    );
    // Controls: the corpus is there, reaches every variant, and includes logs recovery
    // accepts and logs it refuses.
    assert!(corpus.len() >= 10, "only {} corpus files", corpus.len());
    assert_eq!(variants.len(), 4, "variants reached: {variants:?}");
    assert!(
        opened > 0 && refused > 0,
        "opened {opened}, refused {refused}"
    );
    println!(
        "wal_recovery corpus: {} inputs, {opened} recovered, {refused} refused with a typed error",
        corpus.len()
    );
    Ok(())
}

#[test]
fn every_ops_corpus_input_matches_the_model() -> TestResult {
    let corpus = inputs(&dir(&["corpus", "ops"]))?;
    let mut failures = Vec::new();
    let (mut ops, mut crashes) = (0, 0);
    for (name, data) in &corpus {
        match guarded(name, || fuzz_ops(data)) {
            Ok(report) => {
                ops += report.ops;
                crashes += report.crashes;
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "corpus failures:\n{}",
        failures.join("\n")
    );
    assert!(corpus.len() >= 5, "only {} corpus files", corpus.len());
    assert!(crashes > 5, "the corpus crashes only {crashes} times");
    println!(
        "ops corpus: {} inputs, {ops} ops, {crashes} crashes",
        corpus.len()
    );
    Ok(())
}

/// One to four libFuzzer-style mutations: flip, set, insert or remove bytes, truncate.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(5) {
            0 if at < data.len() => data[at] ^= 1 << rng.below(8),
            1 if at < data.len() => data[at] = rng.next() as u8,
            2 => {
                let bytes: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next() as u8).collect();
                data.splice(at..at, bytes);
            }
            3 if at < data.len() => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            _ => data.truncate(at.max(1)),
        }
    }
    data
}

#[test]
fn thousands_of_mutated_wal_recovery_inputs_never_panic_or_break_the_contract() -> TestResult {
    let corpus = inputs(&dir(&["corpus", "wal_recovery"]))?;
    assert!(!corpus.is_empty(), "no corpus to mutate");
    let mut rng = Rng(0x5eed_0004_0007);
    let mut failures = Vec::new();
    let (mut opened, runs) = (0, 2000);
    for run in 0..runs {
        let (name, seed) = &corpus[rng.below(corpus.len())];
        let data = mutate(&mut rng, seed);
        match guarded(&format!("mutation {run} of {name}"), || {
            fuzz_wal_recovery(&data)
        }) {
            Ok((_, ok)) => opened += usize::from(ok),
            Err(e) => failures.push(format!("{e}\ninput: {data:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Control: mutations still reach successful recoveries, not only header rejections.
    assert!(
        opened > runs / 10,
        "only {opened} of {runs} mutated logs recovered"
    );
    println!("mutated wal_recovery inputs: {runs}, recovered: {opened}");
    Ok(())
}

#[test]
fn mutated_ops_inputs_match_the_model() -> TestResult {
    let corpus = inputs(&dir(&["corpus", "ops"]))?;
    assert!(!corpus.is_empty(), "no corpus to mutate");
    let mut rng = Rng(0x5eed_0004_0006);
    let mut failures = Vec::new();
    let runs = 60;
    for run in 0..runs {
        let (name, seed) = &corpus[rng.below(corpus.len())];
        let mut data = mutate(&mut rng, seed);
        // Immediate durability only: under Relaxed, power loss hits the open bug that
        // `known_ops_bug_inputs_match_the_model` replays.
        if let Some(mode) = data.first_mut() {
            *mode &= !1;
        }
        if let Err(e) = guarded(&format!("mutation {run} of {name}"), || fuzz_ops(&data)) {
            failures.push(format!("{e}\ninput: {data:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}

#[test]
fn regression_recovering_a_record_with_sweep_counter_u64_max_does_not_panic() -> TestResult {
    let known = inputs(&dir(&["known-bugs", "wal_recovery"]))?;
    assert!(!known.is_empty());
    let failures: Vec<String> = known
        .iter()
        .filter_map(|(name, data)| guarded(name, || fuzz_wal_recovery(data)).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

#[test]
fn known_ops_bug_inputs_match_the_model() -> TestResult {
    let known = inputs(&dir(&["known-bugs", "ops"]))?;
    assert!(!known.is_empty());
    let failures: Vec<String> = known
        .iter()
        .filter_map(|(name, data)| guarded(name, || fuzz_ops(data)).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// Regression (fixed): after a damaged record in the newest segment, recovery looks for
/// any valid record further on (`valid_record_within` in `src/wal/reader.rs`) by decoding a
/// record at *every* byte offset, and each candidate whose length field fits in the rest is
/// hashed — so a torn tail made of ordinary binary values costs (tail length) × (length
/// field) of blake3. Here: a 4 MiB tail of little-endian u32 values 1,000,000 (a torn batch
/// of such values) makes about 790,000 candidates of 1 MB each — minutes to hours of
/// hashing — where a cheap filter (the LSN field must be above the damaged record's) would
/// reject all of them without hashing.
#[test]
fn regression_recovery_cuts_a_torn_tail_of_binary_values_in_bounded_time() -> TestResult {
    use std::sync::mpsc;
    use std::time::Duration;
    use sweepstore::sim::SimDisk;
    use sweepstore::{RedbOptions, RedbStore};

    let disk = SimDisk::new();
    RedbStore::open_simulated("/store", RedbOptions::default(), &disk)?.close()?;
    let segment = disk
        .list_files("/store/wal")
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "wal"))
        .ok_or("the new store has no WAL segment")?;
    let mut bytes = disk
        .read_file(&segment)
        .ok_or("the segment has no content")?;
    bytes.truncate(32);
    // A record header lost by the crash (zeros), then the rest of the torn batch.
    bytes.extend_from_slice(&[0; 20]);
    for _ in 0..(4 << 20) / 4 {
        bytes.extend_from_slice(&1_000_000u32.to_le_bytes());
    }
    disk.write_file(&segment, &bytes);
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let opened = RedbStore::open_simulated("/store", RedbOptions::default(), &disk);
        let _ = done.send(opened.map(|store| store.close()).is_ok());
    });
    match finished.recv_timeout(Duration::from_secs(30)) {
        Ok(opened) => {
            assert!(opened, "recovery failed instead of cutting the torn tail");
            Ok(())
        }
        Err(_) => Err("recovery of a 4 MiB torn tail took more than 30 s".into()),
    }
}

/// A seed: (target, file name, bytes).
type Seed = (&'static str, &'static str, Vec<u8>);

/// The seed corpus. Ops inputs are byte 0 (durability: even
/// Immediate, odd Relaxed) then 3-byte ops (`sweepstore::sim::fuzz::decode_op`: tag % 32
/// picks the op — 0–8 save inline, 9–10 save blob, 11–13 overwrite, 14–16 delete, 17–18
/// delete run, 19–20 finish, 21–22 checkpoint, 23–24 gc, 25–26 reopen, 27–31 crash, power
/// loss unless operand a % 3 == 0).
fn seeds() -> Result<Vec<Seed>, String> {
    let segment = base_segment()?;
    let with = |variant: WalVariant, body: &[u8]| {
        let mut data = vec![variant.byte()];
        data.extend_from_slice(body);
        data
    };
    let last_record_cut = segment.len().saturating_sub(7);
    // Records variant controls: 2 = a base payload (x) at LSN + delta; 1 = a base payload
    // with one byte changed; 0 = a raw payload of x bytes; 3 = x unframed bytes.
    let mut all_copies = Vec::new();
    for i in 0..8u8 {
        all_copies.extend_from_slice(&[2, i, 0]);
    }
    // A Put whose new run has counter u64::MAX, as a raw payload: postcard of
    // WalOp::Put { run: [0xab; 32], new_run: Some(NewRun { task: "t", config:
    // "{\"run\":9}", counter: u64::MAX }), name: "m", type_name: "bytes", hash: [0; 32],
    // size: 1, inline: true } followed by the inline byte.
    let mut huge_counter = vec![0u8];
    huge_counter.extend_from_slice(&[0xab; 32]);
    huge_counter.extend_from_slice(&[1, 1, b't', 9]);
    huge_counter.extend_from_slice(br#"{"run":9}"#);
    huge_counter.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1]);
    huge_counter.extend_from_slice(&[1, b'm', 5]);
    huge_counter.extend_from_slice(b"bytes");
    huge_counter.extend_from_slice(&[0; 32]);
    huge_counter.extend_from_slice(&[1, 1, b'x']);
    let mut huge_record = vec![0, huge_counter.len() as u8];
    huge_record.extend_from_slice(&huge_counter);

    let mut seeds = vec![
        ("wal_recovery", "raw-empty", with(WalVariant::Raw, &[])),
        (
            "wal_recovery",
            "raw-base-segment",
            with(WalVariant::Raw, &segment),
        ),
        (
            "wal_recovery",
            "raw-base-segment-torn-last-record",
            with(WalVariant::Raw, &segment[..last_record_cut]),
        ),
        (
            "wal_recovery",
            "raw-header-only",
            with(WalVariant::Raw, &segment[..32.min(segment.len())]),
        ),
        (
            "wal_recovery",
            "raw-base-segment-zero-tail",
            with(WalVariant::Raw, &[segment.as_slice(), &[0; 64]].concat()),
        ),
        (
            "wal_recovery",
            "second-empty",
            with(WalVariant::SecondSegment, &[]),
        ),
        (
            "wal_recovery",
            "second-torn-header",
            with(WalVariant::SecondSegment, &segment[..20.min(segment.len())]),
        ),
        (
            "wal_recovery",
            "second-garbage",
            with(WalVariant::SecondSegment, &[0x5a; 48]),
        ),
        (
            "wal_recovery",
            "second-copy-of-the-first",
            with(WalVariant::SecondSegment, &segment),
        ),
        (
            "wal_recovery",
            "records-none",
            with(WalVariant::Records, &[]),
        ),
        (
            "wal_recovery",
            "records-all-copies",
            with(WalVariant::Records, &all_copies),
        ),
        (
            "wal_recovery",
            "records-lsn-gap",
            with(WalVariant::Records, &[2, 0, 0, 2, 1, 1]),
        ),
        (
            "wal_recovery",
            "records-duplicate-lsn",
            with(WalVariant::Records, &[2, 0, 0, 2, 1, 0xff]),
        ),
        (
            "wal_recovery",
            "records-changed-payload-byte",
            with(WalVariant::Records, &[1, 0, 40, 0x01, 2, 1, 0]),
        ),
        (
            "wal_recovery",
            "records-garbage-payload",
            with(WalVariant::Records, &[0, 4, 9, 9, 9, 9]),
        ),
        (
            "wal_recovery",
            "records-garbage-between",
            with(
                WalVariant::Records,
                &[2, 0, 0, 3, 5, 1, 2, 3, 4, 5, 2, 1, 0],
            ),
        ),
        (
            "wal_recovery",
            "edits-none",
            with(WalVariant::Edits, &[0, 0, 0]),
        ),
        (
            "wal_recovery",
            "edits-truncate-mid-log",
            with(WalVariant::Edits, &[1, 200, 0]),
        ),
        (
            "wal_recovery",
            "edits-flip-first-record",
            with(WalVariant::Edits, &[0, 0, 0, 40, 0, 0x80]),
        ),
        (
            "wal_recovery",
            "edits-flip-header",
            with(WalVariant::Edits, &[0, 0, 0, 9, 0, 1]),
        ),
        ("ops", "empty", Vec::new()),
        // Immediate: every kind of op once, then a power loss and a process crash.
        (
            "ops",
            "immediate-every-op",
            vec![
                0, 0, 0, 17, /* save 0/0 */ 9, 4, 2, /* blob 1/1 */ 11, 1,
                9, /* overwrite */
                19, 0, 0, /* finish 0 */ 14, 0, 0, /* delete 0/0 */ 21, 0,
                0, /* checkpoint */
                0, 2, 33, /* save 2/0 */ 17, 1, 0, /* delete run 1 */ 23, 0,
                0, /* gc */
                25, 0, 0, /* reopen */ 0, 5, 41, /* save */ 27, 1,
                7, /* power loss */
                0, 8, 3, /* save */ 27, 0, 2, /* process crash */
            ],
        ),
        // Immediate: blobs overwritten, deleted and collected around power losses.
        (
            "ops",
            "immediate-blobs-gc-power-loss",
            vec![
                2, 9, 0, 1, 9, 1, 2, 11, 0x80, 3, 28, 2, 5, 14, 1, 0, 23, 0, 0, 28, 1, 9, 10, 1, 1,
                28, 4, 4,
            ],
        ),
        // Relaxed: changes above the floor, process crashes only (nothing may be lost).
        (
            "ops",
            "relaxed-process-crashes",
            vec![
                1, 0, 0, 1, 0, 1, 2, 9, 2, 3, 27, 0, 5, 0, 3, 4, 19, 2, 0, 27, 3, 6, 16, 0, 0, 27,
                6, 1,
            ],
        ),
        // Relaxed: power loss right after a checkpoint (the floor is everything).
        (
            "ops",
            "relaxed-power-loss-after-checkpoint",
            vec![
                1, 0, 0, 1, 0, 1, 2, 21, 0, 0, 27, 1, 3, 0, 2, 9, 21, 0, 0, 27, 2, 4,
            ],
        ),
        // Immediate: crash after crash, with reopens between.
        (
            "ops",
            "immediate-repeated-crashes",
            vec![
                4, 0, 0, 1, 27, 1, 1, 27, 2, 2, 0, 1, 2, 27, 0, 3, 25, 0, 0, 27, 1, 4, 0, 2, 3, 27,
                1, 5,
            ],
        ),
        (
            "known-bugs/wal_recovery",
            "records-sweep-counter-u64-max",
            { with(WalVariant::Records, &huge_record) },
        ),
        // Relaxed: two unsynced saves, then power loss keeping the second write only.
        (
            "known-bugs/ops",
            "relaxed-power-loss-keeps-a-later-write",
            vec![1, 0, 0, 1, 0, 1, 2, 1, 4, 3, 27, 1, 4],
        ),
    ];
    seeds.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    Ok(seeds)
}

/// Where a seed lives: `fuzz/corpus/<target>/<name>`, or `fuzz/known-bugs/<target>/<name>`
/// for inputs of open bugs (kept out of the corpus, where they would stop every fuzz run).
fn seed_path(target: &str, name: &str) -> PathBuf {
    match target.strip_prefix("known-bugs/") {
        Some(target) => dir(&["known-bugs", target, name]),
        None => dir(&["corpus", target, name]),
    }
}

/// Seeds built from the base segment carry its random salt, so they differ on every
/// generation; only their presence is checked.
fn salted(data: &[u8], segment: &[u8]) -> bool {
    segment.len() >= 16 && data.windows(16).any(|w| w == &segment[..16])
}

/// Writes the seed corpus above into `fuzz/corpus/` and `fuzz/known-bugs/`. Run by hand
/// after a change of the WAL format or of the op decoding:
/// `cargo test --test engine -- --ignored write_the_seed_corpus`.
#[test]
#[ignore = "writes the seed corpus into fuzz/; run by hand after a format change"]
fn write_the_seed_corpus() -> TestResult {
    for (target, name, data) in seeds()? {
        let path = seed_path(target, name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &data)?;
    }
    Ok(())
}

/// The seeds are what they say: a control that the corpus files decode as documented.
#[test]
fn the_ops_seeds_decode_to_the_sequences_they_describe() -> TestResult {
    let seeds = seeds()?;
    let every_op = seeds
        .iter()
        .find(|(_, name, _)| *name == "immediate-every-op")
        .map(|(_, _, data)| decode_ops(data).1)
        .unwrap_or_default();
    let kinds = [
        |op: &Op| matches!(op, Op::Save { value, .. } if !value.is_blob()),
        |op: &Op| matches!(op, Op::Save { value, .. } if value.is_blob()),
        |op: &Op| matches!(op, Op::Overwrite { .. }),
        |op: &Op| matches!(op, Op::Delete { .. }),
        |op: &Op| matches!(op, Op::DeleteRun { .. }),
        |op: &Op| matches!(op, Op::Finish { .. }),
        |op: &Op| matches!(op, Op::Checkpoint),
        |op: &Op| matches!(op, Op::Gc),
        |op: &Op| matches!(op, Op::Reopen),
        |op: &Op| {
            matches!(
                op,
                Op::Crash {
                    mode: sweepstore::sim::CrashMode::PowerLoss,
                    ..
                }
            )
        },
        |op: &Op| {
            matches!(
                op,
                Op::Crash {
                    mode: sweepstore::sim::CrashMode::Process,
                    ..
                }
            )
        },
    ];
    for (index, kind) in kinds.iter().enumerate() {
        assert!(
            every_op.iter().any(kind),
            "op kind {index} missing from immediate-every-op: {every_op:?}"
        );
    }
    // The files in the repository are the current seeds.
    let segment = base_segment()?;
    for (target, name, data) in seeds {
        let path = seed_path(target, name);
        let stored = std::fs::read(&path)
            .map_err(|e| format!("{}: {e} (run write_the_seed_corpus)", path.display()))?;
        if !salted(&data, &segment) {
            assert_eq!(stored, data, "{} differs from its seed", path.display());
        }
    }
    Ok(())
}
