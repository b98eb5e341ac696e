//! The small metadata files of a run directory: our JSON load information (one per result),
//! our run record (the run state), and the read-only fluidml counterparts (load-information
//! pickles and `fluidml_info.json`). The byte-level formats are in `docs/design.md` §12.
//!
//! Invariants: decoding never trusts a path it reads: `obj_dir`, `file` and `staged` are
//! re-validated as a sub_dir and as single path components (`names.rs`), so a crafted file
//! cannot point outside its run directory. Every damaged file is [`Error::CorruptFile`]
//! naming it; nothing here panics on bad bytes.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::codec::{PICKLE, TEXT, TypeRegistry};
use crate::error::{Error, Result};
use crate::key::ContentHash;
use crate::local::layout::{RunDir, object_file, read_optional};
use crate::names::{ResultName, SubDir};
use crate::pickle;
use crate::store::RunState;

/// The format version of our JSON files.
pub(crate) const FORMAT: u32 = 1;

/// Our load information of one result: `.fluidml/.<name>_load_info.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoadInfo {
    /// Always [`FORMAT`].
    pub(crate) format: u32,
    /// The result name.
    pub(crate) name: ResultName,
    /// The type name in the store's registry.
    #[serde(rename = "type")]
    pub(crate) type_name: String,
    /// The result's directory relative to the run directory: `.` or a sub_dir.
    pub(crate) obj_dir: String,
    /// The result's file (or directory) name inside `obj_dir`.
    pub(crate) file: String,
    /// While present in `.fluidml/`, this temporary holds the content instead of `file`: the
    /// commit renames it to `file` after this record is durable (see commit.rs).
    pub(crate) staged: Option<String>,
    /// blake3 of the content, lowercase hex; `None` for path types (a file or directory
    /// written by the type's own save function) and fluidml's results.
    pub(crate) hash: Option<String>,
    /// Size of the content in bytes; `None` where `hash` is.
    pub(crate) size: Option<u64>,
    /// The save's open options (fluidml's `open_kwargs`).
    #[serde(default)]
    pub(crate) open_options: Map<String, Value>,
    /// The save's load options (fluidml's `load_kwargs`).
    #[serde(default)]
    pub(crate) load_options: Map<String, Value>,
}

impl LoadInfo {
    /// Encodes the record (compact JSON plus a newline).
    pub(crate) fn to_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec(self).map_err(|e| corrupt(path, e))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Decodes and validates a record read from `path`.
    pub(crate) fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let info: LoadInfo = serde_json::from_slice(bytes).map_err(|e| corrupt(path, e))?;
        if info.format != FORMAT {
            let reason = format!("format {}; this sweepstore reads {FORMAT}", info.format);
            return Err(corrupt(path, reason));
        }
        check_location(&info.obj_dir, &info.file, path)?;
        if let Some(staged) = &info.staged {
            ResultName::new(staged).map_err(|e| corrupt(path, e))?;
        }
        if info.hash.is_some() != info.size.is_some() {
            return Err(corrupt(
                path,
                "`hash` and `size` must both be set or both null",
            ));
        }
        info.content_hash(path)?;
        Ok(info)
    }

    /// The content hash, if the record has one.
    pub(crate) fn content_hash(&self, path: &Path) -> Result<Option<ContentHash>> {
        self.hash
            .as_deref()
            .map(|hex| hex.parse().map_err(|e| corrupt(path, e)))
            .transpose()
    }
}

/// Checks that `obj_dir`/`file` from a file at `path` stays inside its run directory.
fn check_location(obj_dir: &str, file: &str, path: &Path) -> Result<()> {
    if obj_dir != "." {
        let sub_dir = SubDir::new(obj_dir).map_err(|e| corrupt(path, e))?;
        if sub_dir.as_str() != obj_dir {
            return Err(corrupt(
                path,
                format!("obj_dir {obj_dir:?} is not normalized"),
            ));
        }
    }
    ResultName::new(file).map_err(|e| corrupt(path, e))?;
    Ok(())
}

/// Reads our load information of `name` in `run`, or else fluidml's pickle; `None` if the
/// run has neither.
pub(crate) fn read_load_info(
    run: &RunDir,
    name: &ResultName,
    types: &TypeRegistry,
) -> Result<Option<(LoadInfo, Vec<u8>)>> {
    let path = run.info_file(name);
    if let Some(bytes) = read_optional(&path)? {
        return Ok(Some((LoadInfo::from_bytes(&bytes, &path)?, bytes)));
    }
    for path in run.pickle_info_files(name) {
        if let Some(bytes) = read_optional(&path)? {
            let info = from_fluidml(&bytes, &path, name.clone(), types)?;
            return Ok(Some((info, bytes)));
        }
    }
    Ok(None)
}

/// fluidml's load information: a pickled dict.
#[derive(Debug, Deserialize)]
struct FluidmlLoadInfo {
    type_: String,
    obj_dir: String,
    #[serde(default)]
    open_kwargs: Map<String, Value>,
    #[serde(default)]
    load_kwargs: Map<String, Value>,
}

/// Translates fluidml's load-information pickle at `path` for result `name`.
fn from_fluidml(
    bytes: &[u8],
    path: &Path,
    name: ResultName,
    types: &TypeRegistry,
) -> Result<LoadInfo> {
    let raw: FluidmlLoadInfo = pickle::from_slice(bytes).map_err(|e| corrupt(path, e))?;
    // fluidml's types: its `pickle` is ours (Python's pickle), its `event` is text without an
    // extension; the others keep their names.
    let (type_name, extension) = match raw.type_.as_str() {
        PICKLE => (PICKLE.to_owned(), "p".to_owned()),
        "event" => (TEXT.to_owned(), String::new()),
        other => {
            let info = types.get(other)?;
            (other.to_owned(), info.extension().to_owned())
        }
    };
    let obj_dir = raw.obj_dir.trim_end_matches('/').to_owned();
    let file = object_file(&name, &extension);
    check_location(&obj_dir, &file, path)?;
    Ok(LoadInfo {
        format: FORMAT,
        name,
        type_name,
        obj_dir,
        file,
        staged: None,
        hash: None,
        size: None,
        open_options: raw.open_kwargs,
        load_options: raw.load_kwargs,
    })
}

/// Our record of a run: `.fluidml/sweepstore_run.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunRecord {
    /// Always [`FORMAT`].
    pub(crate) format: u32,
    /// The run's state.
    pub(crate) state: RunState,
}

impl RunRecord {
    pub(crate) fn new(state: RunState) -> Self {
        RunRecord {
            format: FORMAT,
            state,
        }
    }

    pub(crate) fn to_bytes(self, path: &Path) -> Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec(&self).map_err(|e| corrupt(path, e))?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// The state of `run`: our record, else fluidml's `fluidml_info.json`, else running.
pub(crate) fn read_state(run: &RunDir) -> Result<RunState> {
    let path = run.record_file();
    if let Some(bytes) = read_optional(&path)? {
        let record: RunRecord = serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e))?;
        if record.format != FORMAT {
            let reason = format!("format {}; this sweepstore reads {FORMAT}", record.format);
            return Err(corrupt(&path, reason));
        }
        return Ok(record.state);
    }
    let path = run.fluidml_info();
    let Some(bytes) = read_optional(&path)? else {
        return Ok(RunState::Running);
    };
    let info: Value = serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e))?;
    // fluidml's TaskState values; everything before the end (pending, scheduled, running,
    // upstream_failed) counts as running.
    Ok(match info.get("state").and_then(Value::as_str) {
        Some("finished") => RunState::Finished,
        Some("failed" | "killed") => RunState::Failed,
        _ => RunState::Running,
    })
}

/// Whether `run` was made by sweepstore (it has our run record), not by fluidml.
pub(crate) fn is_ours(run: &RunDir) -> Result<bool> {
    let path = run.record_file();
    match std::fs::symlink_metadata(&path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("inspect", path, e)),
    }
}

/// The [`Error::CorruptFile`] for `path`.
pub(crate) fn corrupt(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::CorruptFile {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Result<LoadInfo> {
        Ok(LoadInfo {
            format: FORMAT,
            name: ResultName::new("metrics")?,
            type_name: "json".to_owned(),
            obj_dir: "models/best".to_owned(),
            file: "metrics.json".to_owned(),
            staged: Some(".sweepstore-1-2-3.tmp".to_owned()),
            hash: Some(ContentHash::of(b"{}").to_hex()),
            size: Some(2),
            open_options: Map::new(),
            load_options: Map::new(),
        })
    }

    #[test]
    fn load_info_round_trips() -> Result<()> {
        let path = Path::new("info");
        let info = sample()?;
        assert_eq!(LoadInfo::from_bytes(&info.to_bytes(path)?, path)?, info);
        Ok(())
    }

    #[test]
    fn load_info_that_points_outside_its_run_is_corrupt() -> Result<()> {
        let path = Path::new("info");
        for (obj_dir, file) in [
            ("../x", "a.json"),
            (".", "../a"),
            ("/etc", "a"),
            ("a//b", "x"),
        ] {
            let mut info = sample()?;
            info.obj_dir = obj_dir.to_owned();
            info.file = file.to_owned();
            let bytes = serde_json::to_vec(&info).map_err(|e| corrupt(path, e))?;
            assert!(
                matches!(
                    LoadInfo::from_bytes(&bytes, path),
                    Err(Error::CorruptFile { .. })
                ),
                "{obj_dir} {file}"
            );
        }
        Ok(())
    }

    #[test]
    fn truncated_or_garbage_load_info_is_corrupt() -> Result<()> {
        let path = Path::new("info");
        let bytes = sample()?.to_bytes(path)?;
        for bad in [&bytes[..bytes.len() / 2], b"\x00\xffgarbage", b"[]", b""] {
            assert!(matches!(
                LoadInfo::from_bytes(bad, path),
                Err(Error::CorruptFile { .. })
            ));
        }
        Ok(())
    }
}
