//! The server's input handling under arbitrary bytes, on stable Rust (issue 9, item 3): the
//! seeds and the corpus of the cargo-fuzz target `remote_frames` (`fuzz/corpus/remote_frames/`)
//! and a few hundred fixed-seed mutations and random inputs go through the same harness the
//! fuzz target calls, `sweepstore::sim::fuzz::fuzz_server_input`: a real session against a store on a
//! simulated disk, which must not panic, must end when its input does, must answer only with
//! well-formed frames, and must leave the store working.
//!
//! The corpus files are the seeds as bytes; `cargo test --test remote -- frames:: --ignored`
//! rewrites them after a protocol change.
#![cfg(unix)]

use crate::shared::rng as test_rng;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use sweepstore::sim::fuzz::{fuzz_server_input, fuzz_server_seeds};
use test_rng::Rng;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/remote_frames")
}

/// Runs the harness on `data`, turning a panic into an error naming the input.
fn serve(name: &str, data: &[u8]) -> Result<usize, String> {
    match catch_unwind(AssertUnwindSafe(|| fuzz_server_input(data))) {
        Ok(result) => result.map_err(|e| format!("{name}: {e}")),
        Err(_) => Err(format!("{name}: panicked ({} bytes: {data:?})", data.len())),
    }
}

#[test]
fn seeds_are_served_and_answered_as_expected() -> TestResult {
    let seeds = fuzz_server_seeds()?;
    let mut answered = Vec::new();
    for (name, data) in &seeds {
        answered.push((*name, serve(name, data)?));
    }
    // Controls: the seeds reach deep into the protocol (welcome + one response per request
    // with a response; the upload's writes, seek and truncation have none).
    assert_eq!(
        answered,
        [
            ("hello-only", 1),
            ("save-and-read", 18),
            ("upload", 5),
            ("upload-cut-short", 2),
            ("oversized-header", 3),
            ("file-op-without-open", 2),
            ("continue-without-listing", 2),
        ]
    );
    Ok(())
}

#[test]
fn the_corpus_holds_the_seeds_and_every_input_is_served_safely() -> TestResult {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(corpus_dir())? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        files.push((name.unwrap_or_default(), std::fs::read(&path)?));
    }
    for (name, data) in fuzz_server_seeds()? {
        assert!(
            files.iter().any(|(n, d)| n == name && *d == data),
            "fuzz/corpus/remote_frames/{name} is missing or stale: run this suite with --ignored"
        );
    }
    for (name, data) in &files {
        serve(name, data)?;
    }
    Ok(())
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(6) {
            0 if at < data.len() => data[at] ^= 1 << rng.below(8),
            1 if at < data.len() => data[at] = rng.next() as u8,
            2 => data.truncate(at),
            3 => data.insert(at, rng.next() as u8),
            // A length header or varint turned large.
            4 if at + 4 <= data.len() => {
                let big = (rng.next() as u32).to_le_bytes();
                data[at..at + 4].copy_from_slice(&big);
            }
            _ if at < data.len() => {
                data.remove(at);
            }
            _ => data.push(rng.next() as u8),
        }
    }
    data
}

#[test]
fn mutated_and_random_inputs_are_served_safely() -> TestResult {
    let seeds = fuzz_server_seeds()?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut deep = 0;
    for round in 0..300 {
        let data = if round % 10 == 0 {
            (0..rng.below(64)).map(|_| rng.next() as u8).collect()
        } else {
            let (_, seed) = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, seed)
        };
        if serve(&format!("mutation {round}"), &data)? > 1 {
            deep += 1;
        }
    }
    // Control: many mutations got past the handshake.
    assert!(
        deep > 50,
        "only {deep} mutated inputs got more than a welcome"
    );
    Ok(())
}

#[test]
#[ignore = "rewrites fuzz/corpus/remote_frames from the seeds"]
fn write_corpus() -> TestResult {
    std::fs::create_dir_all(corpus_dir())?;
    for (name, data) in fuzz_server_seeds()? {
        std::fs::write(corpus_dir().join(name), data)?;
    }
    Ok(())
}
