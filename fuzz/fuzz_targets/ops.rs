//! Arbitrary bytes as a durability mode and a sequence of saves, overwrites, deletes,
//! checkpoints, gc, reopens and crashes (process or power loss), run against the reference
//! model. Harness: `sweepstore::sim::fuzz::fuzz_ops`.
//!
//! `SWEEPSTORE_FUZZ_IMMEDIATE_ONLY=1` forces `Immediate` durability (byte 0 even) for every
//! input, to fuzz past an open `Relaxed` bug (see README.md).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn immediate_only() -> bool {
    static FLAG: OnceLock<bool> = OnceLock::new();
    *FLAG.get_or_init(|| {
        std::env::var_os("SWEEPSTORE_FUZZ_IMMEDIATE_ONLY").is_some_and(|v| v == "1")
    })
}

fuzz_target!(|data: &[u8]| {
    let mut data = data.to_vec();
    if immediate_only()
        && let Some(mode) = data.first_mut()
    {
        *mode &= !1;
    }
    if let Err(violation) = sweepstore::sim::fuzz::fuzz_ops(&data) {
        panic!("{violation}");
    }
});
