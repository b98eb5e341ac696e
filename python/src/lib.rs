//! `sweepstore._native`: the extension module under the `sweepstore` Python package.
//!
//! Layout, in the order a call flows: `store.rs` ([`NativeStore`], one Python object per
//! store, working on task names, configs as JSON text, result names and encoded bytes) →
//! `run.rs` ([`NativeRun`](run::NativeRun), one run with its config parsed once, and the
//! per-run operations both share) → `backend.rs` (which Rust store a Python store reaches, and reaching it again after a fork)
//! → the core crate. `promise.rs` and `file.rs` wrap lazy values and open results;
//! `errors.rs` maps the core crate's errors to the exception classes of `sweepstore.errors`.
//! Encoding Python values (json, pickle, custom types) is the pure-Python layer's job.
//!
//! Invariants: every call that may wait on I/O, the storage actor or a server releases the
//! GIL; no Rust panic or error reaches Python as anything but a `sweepstore.errors` exception.

mod backend;
mod errors;
mod file;
mod promise;
mod run;
mod store;

use pyo3::prelude::*;

/// The module's contents: the store constructors and the classes they return.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<store::NativeStore>()?;
    m.add_class::<run::NativeRun>()?;
    m.add_class::<promise::NativePromise>()?;
    m.add_class::<file::NativeFile>()?;
    m.add_function(wrap_pyfunction!(store::open_path, m)?)?;
    m.add_function(wrap_pyfunction!(store::in_memory, m)?)?;
    m.add_function(wrap_pyfunction!(store::local_files, m)?)?;
    m.add_function(wrap_pyfunction!(store::connect_socket, m)?)?;
    m.add_function(wrap_pyfunction!(store::mongo, m)?)?;
    m.add("HAS_MONGODB", cfg!(feature = "mongodb"))?;
    Ok(())
}
