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
//!
//! # Changing the format: every place that must change with it
//!
//! The format is the segment header and the record framing (`frame.rs`), the segment file
//! names (`writer.rs`) and, carried as opaque payloads, the engine's ops. Some copies are
//! written from the specification on purpose, independently of this module, so that tests
//! catch a disagreement; they do not follow a change here by themselves. To find copies this
//! list misses (or that moved): `grep -rln -e SWSTWAL -e check8 -e ':020}' src tests fuzz`.
//!
//! | where | what it holds |
//! |---|---|
//! | `src/wal/frame.rs` | the encoder and decoder; `MAGIC` (its last byte is the format version), `MAGIC_RELAXED`, `HEADER_LEN`, `RECORD_HEADER_LEN`, `MAX_PAYLOAD` |
//! | `src/wal/writer.rs` | segment names (`<first LSN, 20 digits>.wal`, `.tmp` while created), `segment_first_lsn` |
//! | `src/wal/reader.rs` | recovery's reading rules (torn tail, `valid_record_within`'s cheap filters before hashing) |
//! | `src/engine/record.rs` | the payload: postcard `WalOp` then inline bytes (new variants go last, so older records still decode) |
//! | `src/engine/verify.rs` | `check_wal`: what `verify` reports about segments |
//! | `src/engine/tables.rs` | `FORMAT_VERSION`, when a build that cannot read the new log must refuse the store |
//! | `src/sim/fuzz.rs` | an independent copy: `WAL_HEADER`, `RECORD_HEADER`, `check8`, `encode_record`, `parse_segment`, the `SWSTWAL1` magic, segment names |
//! | `tests/crash/wal_damage.rs` | an independent copy: `SEGMENT_HEADER_LEN`, `RECORD_HEADER_LEN`, `MAGIC`, `check8`, the segment parser, the forged-record checks |
//! | `tests/engine/fuzz_corpus.rs` | the bounded-time regression (a 32-byte header, a 20-byte record header), `salted` (magic ‖ salt), the seed writer |
//! | `fuzz/corpus/wal_recovery/`, `fuzz/known-bugs/wal_recovery/` (and `fuzz/corpus/ops/` for a payload change) | seeds holding real segments: rewrite them with `cargo test --all-features --test fuzz_corpus -- --ignored write_the_seed_corpus` |
//! | `tests/engine/verify.rs`, `tests/engine/redb.rs` | byte counts that assume the 32-byte header (a damage offset, a WAL size bound) |
//! | `docs/design.md` §8 (format), §7 (directory layout), §10.5 (recovery) | the specification the copies above follow |
//! | `fuzz/README.md` | the `wal_recovery` target's variants and seeds |
//! | `README.md` | the `stats` example (`write-ahead log: 32 B in 1 segment`) |

mod frame;
mod reader;
mod writer;

pub(crate) use reader::{missing_segment, read_header, read_records, replay, segments};
pub(crate) use writer::{WalWriter, segment_path};
