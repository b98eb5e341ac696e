//! Arbitrary bytes as one client's side of a server connection, served against a store on a
//! simulated disk: no panic, no hang, no unbounded allocation, only well-formed response
//! frames, and the store keeps working. Harness: `sweepstore::sim::fuzz::fuzz_server_input`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = sweepstore::sim::fuzz::fuzz_server_input(data) {
        panic!("{violation}");
    }
});
