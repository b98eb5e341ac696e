//! [`NativePromise`]: a lazily loaded value. It names content by hash, so it stays valid when
//! the result is overwritten; every resolution re-hashes the bytes (`CorruptError` otherwise).

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use sweepstore::{File, Promise};

use crate::errors::IntoPy;
use crate::file::NativeFile;

/// An unloaded stored value: its hash, type and size, and the bytes on demand.
#[pyclass(frozen, module = "sweepstore._native")]
pub(crate) struct NativePromise {
    promise: Promise,
}

impl NativePromise {
    pub(crate) fn new(promise: Promise) -> Self {
        NativePromise { promise }
    }
}

#[pymethods]
impl NativePromise {
    /// The blake3 hash of the stored bytes, in hex.
    #[getter]
    fn hash(&self) -> String {
        self.promise.hash().to_hex()
    }

    /// The stored type name.
    #[getter]
    fn type_name(&self) -> &str {
        self.promise.type_name()
    }

    /// The size of the stored bytes.
    #[getter]
    fn size(&self) -> u64 {
        self.promise.size()
    }

    /// Reads the stored bytes and verifies their hash.
    fn bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| self.promise.bytes()).py_err()?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Opens the verified content for reading.
    fn open(&self, py: Python<'_>) -> PyResult<NativeFile> {
        let file = py.detach(|| File::from_promise(&self.promise)).py_err()?;
        Ok(NativeFile::new(file))
    }
}
