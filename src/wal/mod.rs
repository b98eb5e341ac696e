//! The write-ahead log: segment files of checksummed, length-prefixed records.
//!
//! The log carries opaque payloads (the engine's postcard-encoded operations) under
//! monotonically increasing log sequence numbers (LSNs). Formats are in `docs/design.md` §8.
//!
//! Invariants:
//! 1. LSNs are contiguous: record `n + 1` follows record `n`, across segments too.
//! 2. A record is valid only if its checksum, keyed by its segment's random salt, matches, so
//!    bytes left over from any other segment or log generation never validate.
//! 3. A segment other than the newest is complete: the writer syncs it before starting the
//!    next one.
//! 4. Recovery discards an invalid tail only when no valid record follows it; any other
//!    damage, or a gap in LSNs, is an error and nothing is changed.

mod frame;
mod reader;
mod writer;

pub(crate) use reader::{missing_segment, read_header, read_records, replay, segments};
pub(crate) use writer::{WalWriter, segment_path};

/// The extension of segment files: `wal/<first LSN, 20 digits>.wal`.
pub(crate) const SEGMENT_EXT: &str = "wal";
