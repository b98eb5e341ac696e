//! The conformance cases, one file per topic. Every `pub fn` here is a case: generic over
//! the backend, given a fresh empty store, returning `Result<()>`.

pub mod bad_input;
pub mod claims;
pub mod concurrency;
pub mod files;
pub mod lookup;
pub mod model;
pub mod promises;
pub mod roundtrip;
pub mod runs;
