//! [`NativeRun`]: one run with its address computed once, so a Python `Run`'s repeated calls
//! skip parsing and canonicalizing its config; and the per-run operations it shares with
//! [`NativeStore`](crate::store::NativeStore)'s fluidml-shaped methods (one implementation each).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use sweepstore::{Promise, Result, ResultName, RunId, RunState, SaveOptions, SubDir};

use crate::backend::Backend;
use crate::errors::IntoPy;
use crate::promise::NativePromise;
use crate::store::NativeStore;

/// One run of a store.
#[pyclass(frozen, module = "sweepstore._native")]
pub(crate) struct NativeRun {
    store: Py<NativeStore>,
    run: RunId,
}

impl NativeRun {
    pub(crate) fn new(store: Py<NativeStore>, run: RunId) -> Self {
        NativeRun { store, run }
    }

    fn backend(&self) -> &Backend {
        &self.store.get().backend
    }
}

pub(crate) fn sub_dir_options(sub_dir: Option<&str>) -> Result<SaveOptions> {
    Ok(match sub_dir {
        Some(dir) => SaveOptions::in_sub_dir(SubDir::new(dir)?),
        None => SaveOptions::default(),
    })
}

pub(crate) fn save(
    backend: &Backend,
    run: &RunId,
    name: &str,
    type_name: &str,
    data: &[u8],
    sub_dir: Option<&str>,
) -> Result<()> {
    let name = ResultName::new(name)?;
    let options = sub_dir_options(sub_dir)?;
    backend
        .store()?
        .save_bytes(run, &name, type_name, data, &options)
}

pub(crate) fn load(
    backend: &Backend,
    run: &RunId,
    name: &str,
) -> Result<Option<(String, Vec<u8>)>> {
    backend.store()?.load_bytes(run, &ResultName::new(name)?)
}

pub(crate) fn load_lazy(backend: &Backend, run: &RunId, name: &str) -> Result<Option<Promise>> {
    backend.store()?.load_lazy(run, &ResultName::new(name)?)
}

pub(crate) fn state(backend: &Backend, run: &RunId) -> Result<Option<&'static str>> {
    Ok(backend.store()?.run_state(run)?.map(|state| match state {
        RunState::Running => "running",
        RunState::Finished => "finished",
        RunState::Failed => "failed",
    }))
}

pub(crate) fn parse_state(state: &str) -> PyResult<RunState> {
    match state {
        "running" => Ok(RunState::Running),
        "finished" => Ok(RunState::Finished),
        "failed" => Ok(RunState::Failed),
        other => Err(PyValueError::new_err(format!(
            "run state {other:?} is not one of running, finished, failed"
        ))),
    }
}

pub(crate) fn set_state(backend: &Backend, run: &RunId, state: RunState) -> Result<()> {
    backend.store()?.set_run_state(run, state)
}

#[pymethods]
impl NativeRun {
    /// Saves `data` (encoded as `type_name`) as result `name` of this run.
    #[pyo3(signature = (name, type_name, data, sub_dir=None))]
    fn save(
        &self,
        py: Python<'_>,
        name: &str,
        type_name: &str,
        data: &[u8],
        sub_dir: Option<&str>,
    ) -> PyResult<()> {
        py.detach(|| save(self.backend(), &self.run, name, type_name, data, sub_dir))
            .py_err()
    }

    /// The stored `(type_name, bytes)` of result `name`, verified, or `None`.
    fn load<'py>(
        &self,
        py: Python<'py>,
        name: &str,
    ) -> PyResult<Option<(String, Bound<'py, PyBytes>)>> {
        let found = py
            .detach(|| load(self.backend(), &self.run, name))
            .py_err()?;
        Ok(found.map(|(type_name, bytes)| (type_name, PyBytes::new(py, &bytes))))
    }

    /// Result `name` as an unloaded promise, or `None`.
    fn load_lazy(&self, py: Python<'_>, name: &str) -> PyResult<Option<NativePromise>> {
        let found = py
            .detach(|| load_lazy(self.backend(), &self.run, name))
            .py_err()?;
        Ok(found.map(NativePromise::new))
    }

    /// The run's state (`running`, `finished`, `failed`), or `None`.
    fn state(&self, py: Python<'_>) -> PyResult<Option<&'static str>> {
        py.detach(|| state(self.backend(), &self.run)).py_err()
    }

    /// Sets the run's state, creating the run.
    fn set_state(&self, py: Python<'_>, state: &str) -> PyResult<()> {
        let state = parse_state(state)?;
        py.detach(|| set_state(self.backend(), &self.run, state))
            .py_err()
    }
}
