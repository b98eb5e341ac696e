//! Arbitrary bytes as a WAL segment (alone, as a second segment after a valid one, as
//! checksummed records after a valid header, or as edits of a valid segment) planted into a
//! store on a simulated disk, then recovery: `Ok` or a typed error, never a panic, and only
//! states the log allows. Harness: `sweepstore::sim::fuzz::fuzz_wal_recovery`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = sweepstore::sim::fuzz::fuzz_wal_recovery(data) {
        panic!("{violation}");
    }
});
