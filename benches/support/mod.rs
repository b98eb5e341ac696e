//! Measurement helpers shared by the benchmark targets (`engine`, `compare`): the timing
//! harness, value bytes, statistics, machine facts and the disk's own limits.
//!
//! Each bench target compiles this module on its own and uses a different part of it.

#![allow(dead_code)]

pub mod data;
pub mod disk;
pub mod machine;
pub mod stats;
pub mod timing;

/// Every benchmark error: anything, with a message, from any thread.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;
/// A benchmark step's result.
pub type BenchResult<T> = Result<T, BenchError>;
