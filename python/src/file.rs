//! [`NativeFile`]: an opened result as a raw byte stream, for the Python layer to wrap in
//! `io` buffers (and a text layer for text modes).
//!
//! Invariant (from the core `File`): a writable file stores nothing until `close` returns;
//! `discard` drops it unpublished, so a `with` block that raised leaves no partial value.

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::{Mutex, PoisonError};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use sweepstore::{Error, File};

use crate::errors::{IntoPy, to_py};

/// An open result: read, write and seek bytes; `close` publishes what was written.
#[pyclass(frozen, module = "sweepstore._native")]
pub(crate) struct NativeFile {
    file: Mutex<Option<File>>,
}

impl NativeFile {
    pub(crate) fn new(file: File) -> Self {
        NativeFile {
            file: Mutex::new(Some(file)),
        }
    }

    /// Runs `f` on the open file, with the GIL released.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut File) -> sweepstore::Result<T> + Send,
    ) -> PyResult<T> {
        py.detach(|| {
            let mut guard = self.file.lock().unwrap_or_else(PoisonError::into_inner);
            match guard.as_mut() {
                Some(file) => f(file),
                None => Err(Error::Closed),
            }
        })
        .py_err()
    }
}

fn stream(op: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Stream { op, source }
}

#[pymethods]
impl NativeFile {
    /// Up to `size` bytes (all that is left if `size` is negative); empty at the end.
    #[pyo3(signature = (size=-1))]
    fn read<'py>(&self, py: Python<'py>, size: i64) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = self.with(py, |file| {
            let mut out = Vec::new();
            match u64::try_from(size) {
                Ok(limit) => file.take(limit).read_to_end(&mut out),
                Err(_) => file.read_to_end(&mut out),
            }
            .map_err(stream("read an opened result"))?;
            Ok(out)
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Writes all of `data`; returns its length.
    fn write(&self, py: Python<'_>, data: &[u8]) -> PyResult<usize> {
        self.with(py, |file| {
            file.write_all(data)
                .map_err(stream("write an opened result"))?;
            Ok(data.len())
        })
    }

    /// Moves to `offset` from the start (0), the current position (1) or the end (2).
    #[pyo3(signature = (offset, whence=0))]
    fn seek(&self, py: Python<'_>, offset: i64, whence: u8) -> PyResult<u64> {
        let from =
            match whence {
                0 => SeekFrom::Start(u64::try_from(offset).map_err(|_| {
                    PyValueError::new_err(format!("negative seek position {offset}"))
                })?),
                1 => SeekFrom::Current(offset),
                2 => SeekFrom::End(offset),
                other => {
                    return Err(PyValueError::new_err(format!(
                        "whence {other} is not 0, 1 or 2"
                    )));
                }
            };
        self.with(py, |file| {
            file.seek(from).map_err(stream("seek in an opened result"))
        })
    }

    /// Cuts the content at `size` (default: the current position).
    #[pyo3(signature = (size=None))]
    fn truncate(&self, py: Python<'_>, size: Option<u64>) -> PyResult<u64> {
        self.with(py, |file| {
            file.truncate(size)?;
            file.tell()
        })
    }

    /// Whether the mode allows reading.
    fn readable(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |file| Ok(file.readable()))
    }

    /// Whether the mode allows writing.
    fn writable(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |file| Ok(file.writable()))
    }

    /// Whether the file can seek.
    fn seekable(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |file| Ok(file.seekable()))
    }

    /// The type the content is read or written as.
    fn type_name(&self, py: Python<'_>) -> PyResult<String> {
        self.with(py, |file| Ok(file.type_name().to_owned()))
    }

    /// Whether `close` or `discard` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.file
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// Publishes what was written (writable modes) and closes; closing twice is a no-op.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let file = self
            .file
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match file {
            Some(file) => py.detach(|| file.close()).map_err(to_py),
            None => Ok(()),
        }
    }

    /// Closes without publishing anything written.
    fn discard(&self) {
        drop(
            self.file
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
    }
}
