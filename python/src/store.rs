//! [`NativeStore`]: one store as seen from Python, over encoded bytes.
//!
//! Every method takes the task name, the unique config as JSON text (parsed and validated by
//! the core crate: NaN, non-objects and bad numbers are `InvalidConfig`) and names as `str`,
//! validates them, then makes one call of the core `ResultsStore` trait with the GIL
//! released. Values cross as `bytes` with their type name; the Python layer encodes them.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use sweepstore::{
    InMemoryStore, LocalFileStore, OpenMode, ResultName, ResultsStore, RunId, TaskName,
    UniqueConfig,
};

use crate::backend::Backend;
use crate::errors::IntoPy;
use crate::file::NativeFile;
use crate::promise::NativePromise;
use crate::run::{self, NativeRun, sub_dir_options};

/// A store (any backend), reached from Python. Made by the module's constructor functions.
#[pyclass(frozen, module = "sweepstore._native")]
pub(crate) struct NativeStore {
    pub(crate) backend: Backend,
    kind: &'static str,
}

/// Opens the store at `path` (creating it) and serves it, or joins the process that does.
#[pyfunction]
pub(crate) fn open_path(py: Python<'_>, path: PathBuf) -> PyResult<NativeStore> {
    let backend = py.detach(|| Backend::open_path(&path)).py_err()?;
    Ok(NativeStore {
        backend,
        kind: "redb",
    })
}

/// A fresh, empty in-memory store.
#[pyfunction]
pub(crate) fn in_memory() -> NativeStore {
    NativeStore {
        backend: Backend::plain(InMemoryStore::new()),
        kind: "memory",
    }
}

/// A LocalFileStore (fluidml's directory layout) in `base_dir`.
#[pyfunction]
pub(crate) fn local_files(py: Python<'_>, base_dir: PathBuf) -> PyResult<NativeStore> {
    let store = py.detach(|| LocalFileStore::new(base_dir)).py_err()?;
    Ok(NativeStore {
        backend: Backend::plain(store),
        kind: "local",
    })
}

/// A client of the server listening on `socket` (`sweepstore serve`).
#[pyfunction]
pub(crate) fn connect_socket(py: Python<'_>, socket: PathBuf) -> PyResult<NativeStore> {
    let open = move || {
        sweepstore::RemoteStore::connect(&socket)
            .map(|store| Arc::new(store) as Arc<dyn ResultsStore>)
    };
    let store = py.detach(&open).py_err()?;
    Ok(NativeStore {
        backend: Backend::reopening(store, open),
        kind: "remote",
    })
}

/// A MongoStore on collection `collection` of database `database` at `uri`.
#[pyfunction]
#[allow(unused_variables)]
pub(crate) fn mongo(
    py: Python<'_>,
    uri: String,
    database: String,
    collection: String,
) -> PyResult<NativeStore> {
    #[cfg(feature = "mongodb")]
    {
        let open = move || {
            sweepstore::MongoStore::connect(&uri, &database, &collection)
                .map(|store| Arc::new(store) as Arc<dyn ResultsStore>)
        };
        let store = py.detach(&open).py_err()?;
        Ok(NativeStore {
            backend: Backend::reopening(store, open),
            kind: "mongo",
        })
    }
    #[cfg(not(feature = "mongodb"))]
    Err(pyo3::exceptions::PyNotImplementedError::new_err(
        "this sweepstore was built without MongoDB support; rebuild the package with \
         `MATURIN_PEP517_ARGS=\"--features mongodb\" pip install ./python`",
    ))
}

/// A run address from Python's arguments.
pub(crate) fn run_id(task: &str, config: &str) -> sweepstore::Result<RunId> {
    Ok(RunId::new(
        TaskName::new(task)?,
        UniqueConfig::parse(config)?,
    ))
}

#[pymethods]
impl NativeStore {
    /// The backend: `redb`, `memory`, `local`, `remote` or `mongo`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind
    }

    /// Saves `data` (already encoded as `type_name`) as result `name` of the exact run.
    #[pyo3(signature = (task, config, name, type_name, data, sub_dir=None))]
    // One argument per Python argument, plus `self` and `py`.
    #[allow(clippy::too_many_arguments)]
    fn save(
        &self,
        py: Python<'_>,
        task: &str,
        config: &str,
        name: &str,
        type_name: &str,
        data: &[u8],
        sub_dir: Option<&str>,
    ) -> PyResult<()> {
        py.detach(|| {
            run::save(
                &self.backend,
                &run_id(task, config)?,
                name,
                type_name,
                data,
                sub_dir,
            )
        })
        .py_err()
    }

    /// The stored `(type_name, bytes)` of result `name` (lookup rule), verified, or `None`.
    fn load<'py>(
        &self,
        py: Python<'py>,
        task: &str,
        config: &str,
        name: &str,
    ) -> PyResult<Option<(String, Bound<'py, PyBytes>)>> {
        let found = py
            .detach(|| run::load(&self.backend, &run_id(task, config)?, name))
            .py_err()?;
        Ok(found.map(|(type_name, bytes)| (type_name, PyBytes::new(py, &bytes))))
    }

    /// Result `name` (lookup rule) as an unloaded promise, or `None`.
    fn load_lazy(
        &self,
        py: Python<'_>,
        task: &str,
        config: &str,
        name: &str,
    ) -> PyResult<Option<NativePromise>> {
        let found = py
            .detach(|| run::load_lazy(&self.backend, &run_id(task, config)?, name))
            .py_err()?;
        Ok(found.map(NativePromise::new))
    }

    /// Deletes result `name` of the looked-up run; whether there was one.
    fn delete(&self, py: Python<'_>, task: &str, config: &str, name: &str) -> PyResult<bool> {
        py.detach(|| {
            let run = run_id(task, config)?;
            let name = ResultName::new(name)?;
            self.backend.store()?.delete(&run, &name)
        })
        .py_err()
    }

    /// Deletes the looked-up run; whether there was one.
    fn delete_run(&self, py: Python<'_>, task: &str, config: &str) -> PyResult<bool> {
        py.detach(|| {
            let run = run_id(task, config)?;
            self.backend.store()?.delete_run(&run)
        })
        .py_err()
    }

    /// `(run_dir, sweep_counter)` of the exact run, creating it.
    fn get_context(
        &self,
        py: Python<'_>,
        task: &str,
        config: &str,
    ) -> PyResult<(Option<PathBuf>, Option<String>)> {
        let context = py
            .detach(|| {
                let run = run_id(task, config)?;
                self.backend.store()?.get_context(&run)
            })
            .py_err()?;
        Ok((context.run_dir, context.sweep_counter))
    }

    /// All results of the looked-up run as `{name: promise}`, or `None` if there is no run.
    fn get_results<'py>(
        &self,
        py: Python<'py>,
        task: &str,
        config: &str,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let found = py
            .detach(|| {
                let run = run_id(task, config)?;
                self.backend.store()?.get_results(&run)
            })
            .py_err()?;
        let Some(results) = found else {
            return Ok(None);
        };
        let dict = PyDict::new(py);
        for (name, promise) in results {
            dict.set_item(name.as_str(), NativePromise::new(promise))?;
        }
        Ok(Some(dict))
    }

    /// The looked-up run's state (`running`, `finished`, `failed`), or `None`.
    fn run_state(
        &self,
        py: Python<'_>,
        task: &str,
        config: &str,
    ) -> PyResult<Option<&'static str>> {
        py.detach(|| run::state(&self.backend, &run_id(task, config)?))
            .py_err()
    }

    /// Sets the exact run's state (`running`, `finished` or `failed`), creating the run.
    fn set_run_state(&self, py: Python<'_>, task: &str, config: &str, state: &str) -> PyResult<()> {
        let state = run::parse_state(state)?;
        py.detach(|| run::set_state(&self.backend, &run_id(task, config)?, state))
            .py_err()
    }

    /// A handle on one run, its config parsed once (for `Run` objects' repeated calls).
    fn run(slf: Py<Self>, py: Python<'_>, task: &str, config: &str) -> PyResult<NativeRun> {
        let run = py.detach(|| run_id(task, config)).py_err()?;
        Ok(NativeRun::new(slf, run))
    }

    /// Opens result `name` (modes as Python's `open`, always handled as bytes here).
    #[pyo3(signature = (task, config, name, mode, type_name=None, sub_dir=None))]
    // One argument per Python argument, plus `self` and `py`.
    #[allow(clippy::too_many_arguments)]
    fn open(
        &self,
        py: Python<'_>,
        task: &str,
        config: &str,
        name: &str,
        mode: &str,
        type_name: Option<&str>,
        sub_dir: Option<&str>,
    ) -> PyResult<NativeFile> {
        let file = py
            .detach(|| {
                let run = run_id(task, config)?;
                let name = ResultName::new(name)?;
                let mode: OpenMode = mode.parse()?;
                let options = sub_dir_options(sub_dir)?;
                self.backend
                    .store()?
                    .open(&run, &name, mode, type_name, &options)
            })
            .py_err()?;
        Ok(NativeFile::new(file))
    }

    /// `[(config_json, promise)]`: result `name` of every run of `task`, in creation order.
    fn lazy_sweep(
        &self,
        py: Python<'_>,
        task: &str,
        name: &str,
    ) -> PyResult<Vec<(String, NativePromise)>> {
        py.detach(|| {
            let task = TaskName::new(task)?;
            let name = ResultName::new(name)?;
            let mut out = Vec::new();
            for sweep in self.backend.store()?.lazy_sweep(&task, &name)? {
                let sweep = sweep?;
                let config = serde_json::Value::Object(sweep.config.as_map().clone()).to_string();
                out.push((config, NativePromise::new(sweep.value)));
            }
            Ok(out)
        })
        .py_err()
    }

    /// Registers a custom type name whose values the Python layer encodes.
    fn register_type(
        &self,
        py: Python<'_>,
        name: &str,
        extension: &str,
        is_binary: bool,
    ) -> PyResult<()> {
        py.detach(|| self.backend.register_type(name, extension, is_binary))
            .py_err()
    }

    /// For the benchmark (python/benches/sweep_loop.py): `n` eager loads of result `name`
    /// made from Rust as a Rust program makes them (config parsed once, name validated per
    /// call); returns the seconds they took.
    fn time_rust_loads(
        &self,
        py: Python<'_>,
        task: &str,
        config: &str,
        name: &str,
        n: u32,
    ) -> PyResult<f64> {
        py.detach(|| {
            let run = run_id(task, config)?;
            let store = self.backend.store()?;
            let start = std::time::Instant::now();
            for _ in 0..n {
                let found = store.load_bytes(&run, &ResultName::new(name)?)?;
                std::hint::black_box(found);
            }
            Ok(start.elapsed().as_secs_f64())
        })
        .py_err()
    }

    /// Lets go of the store (see `Backend::close`); later calls raise `StoreClosed`.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.backend.close());
    }
}
