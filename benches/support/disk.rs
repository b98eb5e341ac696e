//! The disk's own limits, measured in the benchmark's process: an append+`fdatasync` loop,
//! the same over blocks written and synced beforehand (a preallocated log), and a
//! sequential write + `fsync`.
//!
//! Invariants: both run on a scratch directory under `root` (the file system the stores
//! use) and start after a system-wide `sync`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use super::BenchResult;
use super::data::{pseudo_random, scratch, settle, stamp};
use super::timing::{Budget, Measured, measure};

/// Chunk size of sequential and streamed writes.
pub const CHUNK_LEN: usize = 1 << 20;

/// Append `record`, `fdatasync`, repeat, for `secs` seconds.
pub fn append_fdatasync(root: &Path, record: &[u8], secs: f64) -> BenchResult<Measured> {
    let dir = scratch(root)?;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("append.log"))?;
    settle()?;
    measure(1, Budget::Secs(secs), |_, _| {
        (&file).write_all(record)?;
        file.sync_data()?;
        Ok(1)
    })
}

/// Bytes of zeros written and synced before [`overwrite_fdatasync`] starts.
const PREALLOCATED: u64 = 16 << 20;

/// Overwrite `record` at successive offsets of a file of [`PREALLOCATED`] zeros written and
/// synced beforehand (wrapping around at its end), `fdatasync`, repeat, for `secs` seconds:
/// an append that does not change the file's size, as into a preallocated WAL segment.
pub fn overwrite_fdatasync(root: &Path, record: &[u8], secs: f64) -> BenchResult<Measured> {
    let dir = scratch(root)?;
    let mut file = File::create(dir.path().join("preallocated.log"))?;
    file.write_all(&vec![0; PREALLOCATED as usize])?;
    file.sync_all()?;
    let slots = PREALLOCATED / record.len() as u64;
    settle()?;
    measure(1, Budget::Secs(secs), |_, i| {
        file.write_all_at(record, (i % slots) * record.len() as u64)?;
        file.sync_data()?;
        Ok(1)
    })
}

/// Write `mib` MiB in 1 MiB chunks to a new file, then `fsync`; MiB/s.
pub fn sequential_write(root: &Path, mib: u64) -> BenchResult<f64> {
    let dir = scratch(root)?;
    let mut chunk = pseudo_random(CHUNK_LEN, 5);
    settle()?;
    let start = Instant::now();
    let mut file = File::create(dir.path().join("sequential.bin"))?;
    for n in 0..mib {
        stamp(&mut chunk, n);
        file.write_all(&chunk)?;
    }
    file.sync_all()?;
    Ok(mib as f64 / start.elapsed().as_secs_f64())
}
