//! The small metadata files of a run directory: our JSON load information (one per result),
//! our run record (the run state), and their fluidml counterparts (load-information pickles,
//! `fluidml_info.json`, `.saved_results`), read from fluidml's trees and written so fluidml
//! reads ours; and the shared-directory rule that decides between the two when both tools
//! write (`docs/design.md` §12.3, where the byte-level formats are).
//!
//! Invariants: our JSON files are the only ones sweepstore depends on — a pickle it wrote
//! (marked) never outranks them, and a fluidml copy torn by power loss is ignored while they
//! exist; fluidml's own (unmarked) files win only when at least as new. Decoding never trusts
//! a path it reads: `obj_dir`, `file` and `staged` are
//! re-validated as a sub_dir and as single path components (`names.rs`), so a crafted file
//! cannot point outside its run directory. Every damaged file is [`Error::CorruptFile`]
//! naming it; nothing here panics on bad bytes.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::codec::{JSON, PICKLE, PYTHON_PICKLE, TEXT, TypeInfo, TypeRegistry};
use crate::error::{Error, Result};
use crate::key::ContentHash;
use crate::local::layout::{
    FLUIDML_INFO_NAME, META_DIR, RunDir, SAVED_RESULTS, object_file, read_optional,
};
use crate::names::{ResultName, SubDir};
use crate::pickle;
use crate::run::RunState;
use crate::vfs::Fs;

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
    /// When the record was written (its file's modification time; not stored in it): an
    /// object modified later was changed outside sweepstore (§12.3).
    #[serde(skip)]
    pub(crate) recorded_at: Option<SystemTime>,
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

/// A small file read with its modification time.
struct Stamped {
    bytes: Vec<u8>,
    mtime: Option<SystemTime>,
    path: PathBuf,
}

/// Reads a small file and its modification time; `None` if it does not exist.
fn read_stamped(fs: &dyn Fs, path: &Path) -> Result<Option<Stamped>> {
    let mut file = match fs.open_read(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let mtime = file.stat().ok().and_then(|m| m.modified);
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| Error::io("read", path, e))?;
    Ok(Some(Stamped {
        bytes,
        mtime,
        path: path.to_owned(),
    }))
}

/// Reads the load information of `name` in `run`, applying the shared-directory rule
/// (`docs/design.md` §12.3): our JSON record, unless fluidml wrote its pickle after it
/// (an unmarked pickle at least as new as the record); fluidml's pickle alone; and never a
/// pickle sweepstore wrote (marked) on its own — sweepstore's record is the JSON file, the
/// pickle only lets fluidml read the result. `None` if the run has no such result.
pub(crate) fn read_load_info(
    run: &RunDir,
    name: &ResultName,
    types: &TypeRegistry,
) -> Result<Option<(LoadInfo, Vec<u8>)>> {
    let path = run.info_file(name);
    let ours = read_stamped(run.fs(), &path)?;
    let mut theirs = None;
    for path in run.pickle_info_files(name) {
        if let Some(stamped) = read_stamped(run.fs(), &path)? {
            theirs = Some(stamped);
            break;
        }
    }
    let theirs = match theirs {
        Some(pickle) => match (pickle::from_slice::<FluidmlLoadInfo>(&pickle.bytes), &ours) {
            (Ok(raw), Some(ours)) => {
                (raw.sweepstore.is_none() && pickle.mtime >= ours.mtime).then_some((raw, pickle))
            }
            (Ok(raw), None) => raw.sweepstore.is_none().then_some((raw, pickle)),
            // Our record rules; the pickle is a copy for fluidml, written unsynced, that
            // power loss may have torn.
            (Err(_), Some(_)) => None,
            (Err(e), None) => return Err(corrupt(&pickle.path, e)),
        },
        None => None,
    };
    if let Some((raw, pickle)) = theirs {
        if ours.is_some() {
            tracing::info!(
                "{} was saved again by fluidml after sweepstore saved it; the newest write wins",
                pickle.path.display()
            );
        }
        let info = from_fluidml(raw, run, &pickle.path, name.clone(), types)?;
        return Ok(Some((info, pickle.bytes)));
    }
    match ours {
        Some(ours) => {
            let mut info = LoadInfo::from_bytes(&ours.bytes, &path)?;
            info.recorded_at = ours.mtime;
            Ok(Some((info, ours.bytes)))
        }
        None => Ok(None),
    }
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
    /// Present only in pickles sweepstore wrote.
    #[serde(default)]
    sweepstore: Option<u32>,
}

/// The fluidml type name sweepstore writes into fluidml's load information for a result of
/// type `type_name` (the inverse of the mapping in [`from_fluidml`]).
pub(crate) fn fluidml_type(type_name: &str) -> &str {
    if type_name == PYTHON_PICKLE {
        PICKLE
    } else {
        type_name
    }
}

/// Translates fluidml's load information (read from `path`) for result `name` of `run`.
fn from_fluidml(
    raw: FluidmlLoadInfo,
    run: &RunDir,
    path: &Path,
    name: ResultName,
    types: &TypeRegistry,
) -> Result<LoadInfo> {
    let obj_dir = match raw.obj_dir.trim_end_matches('/') {
        "" => ".".to_owned(),
        dir => dir.trim_start_matches("./").to_owned(),
    };
    // fluidml's types: its `pickle` is ours (Python's pickle), its `event` is text
    // without an extension; the others keep their names. A type this store does not know
    // (a custom fluidml type) is kept as opaque bytes, with the extension of its file.
    let (type_name, extension) = match raw.type_.as_str() {
        PICKLE => (PICKLE.to_owned(), "p".to_owned()),
        "event" => (TEXT.to_owned(), String::new()),
        other => match types.get(other) {
            Ok(info) => (other.to_owned(), info.extension().to_owned()),
            Err(Error::UnknownType { .. }) => {
                let extension = discover_extension(run.fs(), &run.obj_dir(&obj_dir), &name, other)?;
                match types.register(TypeInfo::opaque(other, &extension)) {
                    Ok(()) | Err(Error::TypeAlreadyRegistered { .. }) => {}
                    Err(e) => return Err(e),
                }
                (other.to_owned(), types.get(other)?.extension().to_owned())
            }
            Err(e) => return Err(e),
        },
    };
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
        recorded_at: None,
    })
}

/// The extension of the file fluidml saved result `name` under in `dir` with a type this
/// store does not know: the one file named `<name>.<ext>` (or `<name>`); with several, the
/// one whose extension is the type name, else the first by name. The type name if there is
/// none (the object is then reported missing when read).
fn discover_extension(
    fs: &dyn Fs,
    dir: &Path,
    name: &ResultName,
    type_name: &str,
) -> Result<String> {
    let entries = match fs.read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(type_name.to_owned()),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    let prefix = format!("{name}.");
    let mut found = Vec::new();
    for entry in entries {
        let Some(file) = entry
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
        else {
            continue;
        };
        if file == name.as_str() {
            found.push(String::new());
        } else if let Some(extension) = file.strip_prefix(&prefix) {
            found.push(extension.to_owned());
        }
    }
    found.sort();
    Ok(match found.iter().find(|e| *e == type_name) {
        Some(extension) => extension.clone(),
        None => found
            .into_iter()
            .next()
            .unwrap_or_else(|| type_name.to_owned()),
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

/// When a run was created and last finished: `.fluidml/sweepstore_times.json`, a file of
/// its own beside the run record, because older sweepstore versions read the record with
/// unknown fields denied and would fail on a record with times in it; they ignore this file
/// (it is no load information). Unknown fields are accepted here, so later versions may add
/// some. A run without the file (made before times were recorded, or by fluidml) has both
/// times unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunTimes {
    /// Always [`FORMAT`].
    pub(crate) format: u32,
    /// When the run was created (ms since the Unix epoch); `None` if unknown.
    pub(crate) created_ms: Option<u64>,
    /// When its state last became finished; `None` if it is not finished or it is unknown.
    pub(crate) finished_ms: Option<u64>,
}

impl RunTimes {
    /// The times of a run created at `unix_ms`.
    pub(crate) fn created(unix_ms: u64) -> Self {
        RunTimes {
            format: FORMAT,
            created_ms: Some(unix_ms),
            finished_ms: None,
        }
    }

    pub(crate) fn to_bytes(self, path: &Path) -> Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec(&self).map_err(|e| corrupt(path, e))?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// The recorded times of `run` (both unknown without a times file).
pub(crate) fn read_times(run: &RunDir) -> Result<RunTimes> {
    let path = run.times_file();
    let Some(bytes) = read_optional(run.fs(), &path)? else {
        return Ok(RunTimes::default());
    };
    let times: RunTimes = serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e))?;
    if times.format != FORMAT {
        let reason = format!("format {}; this sweepstore reads {FORMAT}", times.format);
        return Err(corrupt(&path, reason));
    }
    Ok(times)
}

/// The state of `run`: the newer of our record and fluidml's `fluidml_info.json` (ours on a
/// tie; the shared-directory rule of `docs/design.md` §12.3); `None` if it has neither.
pub(crate) fn read_state(run: &RunDir) -> Result<Option<RunState>> {
    let record_path = run.record_file();
    let ours = read_stamped(run.fs(), &record_path)?;
    let theirs = read_stamped(run.fs(), &run.fluidml_info())?;
    if let Some(theirs) = theirs
        && ours.as_ref().is_none_or(|ours| theirs.mtime > ours.mtime)
    {
        let info: Value = match serde_json::from_slice(&theirs.bytes) {
            Ok(info) => info,
            Err(e) if ours.is_none() => return Err(corrupt(&theirs.path, e)),
            // Written unsynced by sweepstore or torn by fluidml: our record rules.
            Err(_) => return read_record(ours, &record_path),
        };
        // fluidml's TaskState values; everything before the end (pending, scheduled,
        // running, upstream_failed) counts as running.
        return Ok(Some(match info.get("state").and_then(Value::as_str) {
            Some("finished") => RunState::Finished,
            Some("failed" | "killed") => RunState::Failed,
            _ => RunState::Running,
        }));
    }
    read_record(ours, &record_path)
}

/// The state in our run record, if there is one.
fn read_record(ours: Option<Stamped>, path: &Path) -> Result<Option<RunState>> {
    let Some(ours) = ours else {
        return Ok(None);
    };
    let record: RunRecord = serde_json::from_slice(&ours.bytes).map_err(|e| corrupt(path, e))?;
    if record.format != FORMAT {
        let reason = format!("format {}; this sweepstore reads {FORMAT}", record.format);
        return Err(corrupt(path, reason));
    }
    Ok(Some(record.state))
}

/// fluidml's name of a state (its `TaskState` values).
fn fluidml_state(state: RunState) -> &'static str {
    match state {
        RunState::Running => "running",
        RunState::Finished => "finished",
        RunState::Failed => "failed",
    }
}

/// The files that let fluidml see a run's state and result list the way it sees its own
/// (`docs/design.md` §12.3), as (path, bytes): `fluidml_info.json` (the existing one with
/// its `state` replaced, else a minimal `TaskInfo`), `.fluidml/.saved_results.json` (the
/// result names) and the marked load-information pickles of both.
pub(crate) fn fluidml_bookkeeping(
    run: &RunDir,
    state: RunState,
    results: &[ResultName],
) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let info_path = run.fluidml_info();
    let mut info = match read_optional(run.fs(), &info_path)? {
        Some(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => map,
            // A damaged file is replaced: the state is what matters to fluidml.
            _ => Map::new(),
        },
        None => Map::new(),
    };
    let run_name = match run.name.rsplit_once('-') {
        Some((name, _)) => name.to_owned(),
        None => run.name.clone(),
    };
    info.entry("project_name")
        .or_insert_with(|| Value::from("sweepstore"));
    info.entry("run_name")
        .or_insert_with(|| Value::from(run_name));
    info.entry("sweep_counter")
        .or_insert_with(|| Value::from(run.sweep_counter()));
    info.insert("state".to_owned(), Value::from(fluidml_state(state)));
    let names: Vec<&str> = results.iter().map(ResultName::as_str).collect();
    let pickle_of = |obj_dir: &str| {
        pickle::encode_load_info(JSON, obj_dir, &Map::new(), &Map::new())
            .map_err(|e| corrupt(&run.meta_dir(), e))
    };
    let saved = ResultName::new(SAVED_RESULTS)?;
    let fluidml_info = ResultName::new(FLUIDML_INFO_NAME)?;
    let [saved_pickle, _] = run.pickle_info_files(&saved);
    let [info_pickle, _] = run.pickle_info_files(&fluidml_info);
    Ok(vec![
        (info_path, pretty_json(&Value::Object(info))?),
        (info_pickle, pickle_of(".")?),
        (
            run.meta_dir().join(format!("{SAVED_RESULTS}.json")),
            pretty_json(&Value::from(names))?,
        ),
        (saved_pickle, pickle_of(META_DIR)?),
    ])
}

/// JSON indented by four spaces, as fluidml writes its files.
pub(crate) fn pretty_json(value: &impl Serialize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    value
        .serialize(&mut serializer)
        .map_err(|e| Error::Encode {
            type_name: JSON.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(out)
}

/// The names of fluidml's bookkeeping records, which are not results: `fluidml_info` (the
/// run state) and `.saved_results` (the result list).
pub(crate) fn is_bookkeeping(name: &str) -> bool {
    name == FLUIDML_INFO_NAME || name == SAVED_RESULTS
}

/// Whether `run` was made by sweepstore (it has our run record), not by fluidml.
pub(crate) fn is_ours(run: &RunDir) -> Result<bool> {
    let path = run.record_file();
    match run.fs().metadata(&path) {
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
            recorded_at: None,
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
