//! Deterministic value bytes and scratch directories shared by the benchmarks.
//!
//! Invariants: the same seed always gives the same bytes; different seeds give different
//! bytes (no store can win by deduplicating).

use std::path::Path;
use std::process::Command;

use super::BenchResult;

pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Pseudo-random bytes, different for every seed.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    (0..len.div_ceil(8) as u64)
        .flat_map(|k| splitmix(seed ^ splitmix(k)).to_le_bytes())
        .take(len)
        .collect()
}

/// Overwrites the first 8 bytes of `chunk` with `n`, so no two chunks are equal.
pub fn stamp(chunk: &mut [u8], n: u64) {
    chunk[..8].copy_from_slice(&n.to_le_bytes());
}

pub fn scratch(root: &Path) -> BenchResult<tempfile::TempDir> {
    Ok(tempfile::tempdir_in(root)?)
}

/// Flushes every dirty page of the system (`sync`), so a phase that syncs does not pay for
/// the writeback of the phase before it.
pub fn settle() -> BenchResult<()> {
    let status = Command::new("sync").status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`sync` failed: {status}").into())
    }
}
