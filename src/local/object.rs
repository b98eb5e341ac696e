//! One result's content on disk: staging new content, committing it, finding it for reads,
//! removing it, and listing a run's results.
//!
//! Commit protocol (a save, a closed write-open, a path type's save), under the run lock
//! (`.fluidml/sweepstore.lock`):
//! 1. the new content is complete and synced in a temporary entry `staged` of the run's
//!    `.fluidml/` folder (a file, or for path types a tree whose every file and directory is
//!    synced);
//! 2. fluidml's load-information pickle (marked as ours, not synced) and then our load
//!    information naming `staged` (synced) are published into `.fluidml/` by one
//!    [`write_files`]; its directory sync also makes `staged`'s entry durable, as all live in
//!    that directory. **Our record is the commit point.**
//! 3. `staged` is renamed to `<obj_dir>/<file>` (a directory in the way is moved aside first)
//!    and `<obj_dir>` is synced before the run lock is released: if the rename is lost,
//!    `staged` still holds what the record names, and no later sync of `.fluidml/` can make
//!    the entry's removal from there durable before its arrival in `<obj_dir>`.
//! 4. leftovers of the old version are removed: its file if it had another name, a directory
//!    moved aside, an old `staged` left by a crash between steps 2 and 3.
//!
//! Readers take no lock: they read the record, open `staged` if it still exists (staged
//! entries are never modified and their names are never reused), else `file`, and then read
//! the record again; if it changed, a commit moved `file` meanwhile and they retry.
//!
//! Invariant: at every instant, on disk and after any crash, the record and the content it
//! names agree — old record with old content, or new record with new content.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::codec::TypeRegistry;
use crate::error::{Error, Result};
use crate::key::ContentHash;
use crate::local::index::write_files;
use crate::local::info::{LoadInfo, corrupt, fluidml_type, is_bookkeeping, read_load_info};
use crate::local::layout::{
    INFO_SUFFIX, META_DIR, OLD_META_DIR, PICKLE_INFO_SUFFIX, RunDir, deferred, ensure_dirs, lock,
    maybe_shortened, read_optional, real_dir, remove_any, sync_dir, temp_name,
};
use crate::names::ResultName;
use crate::pickle;
use crate::vfs::{Fs, FsFile, Kind};

/// How often a reader retries when commits keep moving the content it opens.
const READ_ATTEMPTS: usize = 16;

/// New content in a temporary entry of the run's `.fluidml/` folder, synced, not yet
/// committed. Dropping it removes the entry.
pub(crate) struct Staged {
    name: String,
    path: PathBuf,
    committed: bool,
    fs: Arc<dyn Fs>,
}

impl Staged {
    /// A fresh entry name in `dir` (created if needed below `base`).
    fn new(fs: &Arc<dyn Fs>, base: &Path, dir: &str) -> Result<Self> {
        let dir = ensure_dirs(&**fs, base, dir)?;
        let name = temp_name(&**fs);
        let path = dir.join(&name);
        Ok(Staged {
            name,
            path,
            committed: false,
            fs: fs.clone(),
        })
    }

    /// Stages `bytes` as a file in `base`/`dir`.
    pub(crate) fn bytes(fs: &Arc<dyn Fs>, base: &Path, dir: &str, bytes: &[u8]) -> Result<Self> {
        let staged = Staged::new(fs, base, dir)?;
        let mut file = fs
            .create_new(&staged.path)
            .map_err(|e| Error::io("create staged file", &staged.path, e))?;
        io::Write::write_all(&mut file, bytes)
            .and_then(|()| {
                if deferred(&staged.path) {
                    Ok(())
                } else {
                    file.sync_data()
                }
            })
            .map_err(|e| Error::io("write staged file", &staged.path, e))?;
        Ok(staged)
    }

    /// Stages what `save` writes at a fresh path in `base`/`dir` (a file or a tree).
    pub(crate) fn path(
        fs: &Arc<dyn Fs>,
        base: &Path,
        dir: &str,
        save: &mut dyn FnMut(&Path) -> Result<()>,
    ) -> Result<Self> {
        let staged = Staged::new(fs, base, dir)?;
        save(&staged.path)?;
        sync_tree(&**fs, &staged.path)?;
        Ok(staged)
    }

    /// Takes over a complete, synced temporary file (a closed write-open's).
    pub(crate) fn file(fs: &Arc<dyn Fs>, path: PathBuf) -> Result<Self> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .ok_or_else(|| corrupt(&path, "a temporary file without a name"))?;
        Ok(Staged {
            name,
            path,
            committed: false,
            fs: fs.clone(),
        })
    }

    /// Moves the entry into the run's `.fluidml/` folder (same file system), where commits
    /// expect it.
    fn move_into(&mut self, run: &RunDir) -> Result<()> {
        let dir = ensure_dirs(run.fs(), &run.path, META_DIR)?;
        let path = dir.join(&self.name);
        self.fs
            .rename(&self.path, &path)
            .map_err(|e| Error::io("move into run", &self.path, e))?;
        self.path = path;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            // An aborted save: the entry is garbage and no record names it.
            let _ = remove_any(&*self.fs, &self.path);
        }
    }
}

/// Syncs every file and directory of a tree (or the one file) at `path`.
fn sync_tree(fs: &dyn Fs, path: &Path) -> Result<()> {
    let meta = fs
        .metadata(path)
        .map_err(|e| Error::io("inspect", path, e))?;
    if meta.kind == Kind::Dir {
        let entries = fs.read_dir(path).map_err(|e| Error::io("list", path, e))?;
        for entry in entries {
            sync_tree(fs, &entry)?;
        }
        sync_dir(fs, path)
    } else if meta.kind == Kind::File && !deferred(path) {
        fs.open_read(path)
            .and_then(|mut f| f.sync_data())
            .map_err(|e| Error::io("sync", path, e))
    } else {
        Ok(())
    }
}

/// Commits `staged` as `info` (its `staged` field is set here), replacing the result's old
/// version; with `exclusive`, fails instead if the result exists.
///
/// # Errors
/// [`Error::AlreadyExists`] (`exclusive`), with `what` from `describe`; I/O errors. Nothing
/// is changed on error.
pub(crate) fn commit(
    run: &RunDir,
    mut info: LoadInfo,
    mut staged: Staged,
    exclusive: bool,
    types: &TypeRegistry,
    describe: impl FnOnce() -> String,
) -> Result<()> {
    let fs = run.fs();
    staged.move_into(run)?;
    let _lock = lock(fs, &run.lock_file())?;
    // A damaged old record is replaced like any other.
    let old = read_load_info(run, &info.name, types).ok().flatten();
    if exclusive && (old.is_some() || fs.exists(&run.info_file(&info.name))) {
        return Err(Error::AlreadyExists { what: describe() });
    }
    let obj_dir = ensure_dirs(fs, &run.path, &info.obj_dir)?;
    info.staged = Some(staged.name.clone());
    let info_path = run.info_file(&info.name);
    let [pickle_path, old_pickle_path] = run.pickle_info_files(&info.name);
    let pickle = pickle::encode_load_info(
        fluidml_type(&info.type_name),
        &info.obj_dir,
        &info.open_options,
        &info.load_options,
    )
    .map_err(|e| corrupt(&pickle_path, e))?;
    // fluidml's pickle first (not synced: sweepstore never depends on it), then our
    // record: both renames are made durable by one sync of `.fluidml/`, and either
    // surviving alone is harmless (a marked pickle never outranks our record, §12.3).
    let record = info.to_bytes(&info_path)?;
    let published = write_files(
        fs,
        &[(pickle_path, pickle)],
        &[(info_path.clone(), record.clone())],
    );
    if let Err(e) = published {
        // Only the final directory sync may have failed, with the record already in place:
        // then `staged` is what it names, and must stay.
        staged.committed = read_optional(fs, &info_path).ok().flatten() == Some(record);
        return Err(e);
    }
    staged.committed = true;

    let target = obj_dir.join(&info.file);
    let is_dir = |path: &Path| fs.metadata(path).is_ok_and(|m| m.kind == Kind::Dir);
    let in_the_way = fs.metadata(&target).is_ok() && (is_dir(&target) || is_dir(&staged.path));
    let aside = run.meta_dir().join(temp_name(fs));
    if in_the_way {
        fs.rename(&target, &aside)
            .map_err(|e| Error::io("move old version aside", &target, e))?;
    }
    fs.rename(&staged.path, &target)
        .map_err(|e| Error::io("rename into place", &target, e))?;
    // IMPORTANT: the rename's new entry is durable before any later sync of `.fluidml/` can
    // make its removal from there durable (a later commit or state change of this run would;
    // they wait for the run lock held here). Without it, power loss could keep the record
    // but neither its `staged` entry nor the object file.
    sync_dir(fs, &obj_dir)?;

    if in_the_way {
        remove_any(fs, &aside)?;
    }
    remove_any(fs, &old_pickle_path)?;
    if let Some((old, _)) = old {
        let old_target = run.obj_dir(&old.obj_dir).join(&old.file);
        if old_target != target {
            remove_any(fs, &old_target)?;
        }
        if let Some(old_staged) = old.staged.filter(|s| *s != staged.name) {
            remove_any(fs, &run.meta_dir().join(old_staged))?;
        }
    }
    Ok(())
}

/// A result found for reading.
pub(crate) enum Found {
    /// A result stored as bytes, opened.
    Content {
        info: LoadInfo,
        file: Box<dyn FsFile>,
        path: PathBuf,
        hash: ContentHash,
        size: u64,
    },
    /// A result of a path type: its file or directory.
    Path { info: LoadInfo, path: PathBuf },
}

/// Finds result `name` of `run` for reading; `None` if the run has no such result.
///
/// # Errors
/// [`Error::CorruptFile`] for damaged load information or a missing object file;
/// [`Error::SymlinkInStore`]; [`Error::UnknownType`]; I/O errors.
pub(crate) fn find(run: &RunDir, name: &ResultName, types: &TypeRegistry) -> Result<Option<Found>> {
    for _ in 0..READ_ATTEMPTS {
        let Some((info, bytes)) = read_load_info(run, name, types)? else {
            return Ok(None);
        };
        let staged = info.staged.as_ref().map(|s| run.meta_dir().join(s));
        let target = object_path(run, &info)?;
        if types.get(&info.type_name).is_ok_and(|t| t.needs_path()) {
            let fs = run.fs();
            let path = match staged.filter(|s| fs.exists(s)) {
                Some(staged) => staged,
                None if fs.exists(&target) => target,
                None => return Err(missing_object(&target)),
            };
            return Ok(Some(Found::Path { info, path }));
        }
        if let Some(staged) = staged
            && let Some(file) = open_regular(run.fs(), &staged)?
        {
            return content(info, file, staged, false).map(Some);
        }
        let opened = open_regular(run.fs(), &target)?;
        let unchanged = read_load_info(run, name, types)?.is_some_and(|(_, again)| again == bytes);
        match (opened, unchanged) {
            (Some(file), true) => return content(info, file, target, true).map(Some),
            (None, true) => return Err(missing_object(&target)),
            // A commit moved the file between the two reads of the record: read again.
            _ => {}
        }
    }
    Err(corrupt(
        &run.info_file(name),
        format!("it changed {READ_ATTEMPTS} times while being read; try again"),
    ))
}

fn missing_object(path: &Path) -> Error {
    corrupt(
        path,
        "the load information names this object file, which does not exist",
    )
}

/// The path of a result's object, refusing symbolic links on the way from the run directory
/// (a missing directory on the way just means a missing object).
fn object_path(run: &RunDir, info: &LoadInfo) -> Result<PathBuf> {
    let mut dir = run.path.clone();
    for part in info.obj_dir.split('/').filter(|p| *p != ".") {
        dir.push(part);
        if !real_dir(run.fs(), &dir)? {
            break;
        }
    }
    Ok(run.obj_dir(&info.obj_dir).join(&info.file))
}

/// Opens a regular file; `None` if it does not exist.
fn open_regular(fs: &dyn Fs, path: &Path) -> Result<Option<Box<dyn FsFile>>> {
    match fs.metadata(path) {
        Ok(meta) if meta.kind == Kind::Symlink => {
            return Err(Error::SymlinkInStore {
                path: path.to_owned(),
            });
        }
        Ok(meta) if meta.kind == Kind::Dir => {
            return Err(corrupt(
                path,
                "a file was expected, but this is a directory",
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("inspect", path, e)),
    }
    match fs.open_read(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("open", path, e)),
    }
}

/// The found content, with its hash: the recorded one, or computed now for fluidml's results
/// (which record none) and for an object `in_place` modified after its record was written —
/// changed outside sweepstore, so the newest write wins (§12.3).
fn content(
    info: LoadInfo,
    mut file: Box<dyn FsFile>,
    path: PathBuf,
    in_place: bool,
) -> Result<Found> {
    let info_path = PathBuf::from(&info.file);
    let modified = file.stat().ok().and_then(|m| m.modified);
    let external = in_place
        && info.hash.is_some()
        && matches!((modified, info.recorded_at), (Some(m), Some(r)) if m > r);
    if external {
        tracing::info!(
            "{} was modified after sweepstore saved it; accepting its new content",
            path.display()
        );
    }
    let (hash, size) = match (info.content_hash(&info_path)?, info.size) {
        (Some(hash), Some(size)) if !external => (hash, size),
        _ => {
            let mut hasher = blake3::Hasher::new();
            let size = io::copy(&mut file, &mut hasher).map_err(|e| Error::io("read", &path, e))?;
            (hasher.finalize().into(), size)
        }
    };
    Ok(Found::Content {
        info,
        file,
        path,
        hash,
        size,
    })
}

/// Deletes result `name` of `run`; `false` if there was none.
pub(crate) fn remove(run: &RunDir, name: &ResultName, types: &TypeRegistry) -> Result<bool> {
    let fs = run.fs();
    let _lock = lock(fs, &run.lock_file())?;
    let info = read_load_info(run, name, types)?;
    // fluidml's pickles go before our record: a pickle we wrote is never synced, so it may
    // only outlive the record that makes readers ignore it if it is whole.
    let mut removed = false;
    for pickle in run.pickle_info_files(name) {
        removed |= remove_any(fs, &pickle)?;
    }
    removed |= remove_any(fs, &run.info_file(name))?;
    if !removed {
        return Ok(false);
    }
    // IMPORTANT: the records are gone durably before the content, so a crash never leaves
    // a record naming a removed object.
    sync_dir(fs, &run.meta_dir())?;
    if let Some((info, _)) = info {
        remove_any(fs, &run.obj_dir(&info.obj_dir).join(&info.file))?;
        if let Some(staged) = info.staged {
            remove_any(fs, &run.meta_dir().join(staged))?;
        }
    }
    Ok(true)
}

/// The names of the results of `run` (those with load information), sorted; fluidml's
/// bookkeeping records are not results.
pub(crate) fn names(run: &RunDir, types: &TypeRegistry) -> Result<Vec<ResultName>> {
    let mut names = BTreeSet::new();
    for dir in [run.meta_dir(), run.path.join(OLD_META_DIR)] {
        let entries = match run.fs().read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("list", &dir, e)),
        };
        for entry in entries {
            let Some(file) = entry.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(stem) = file.strip_prefix('.') else {
                continue;
            };
            if let Some(name) = stem.strip_suffix(INFO_SUFFIX) {
                let path = dir.join(file);
                let name = if maybe_shortened(name) {
                    let bytes = read_optional(run.fs(), &path)?.unwrap_or_default();
                    LoadInfo::from_bytes(&bytes, &path)?.name
                } else {
                    ResultName::new(name).map_err(|e| corrupt(&path, e))?
                };
                names.insert(name);
            } else if let Some(name) = stem.strip_suffix(PICKLE_INFO_SUFFIX) {
                names.insert(fluidml_name(run, name, types)?);
            }
        }
    }
    Ok(names
        .into_iter()
        .filter(|name| !is_bookkeeping(name.as_str()))
        .collect())
}

/// fluidml strips leading dots from names in its load-information file names: the result
/// is `name` or `.name`, whichever has its object file.
fn fluidml_name(run: &RunDir, stripped: &str, types: &TypeRegistry) -> Result<ResultName> {
    let plain = ResultName::new(stripped)?;
    let dotted = ResultName::new(&format!(".{stripped}"))?;
    if let Some((info, _)) = read_load_info(run, &dotted, types)?
        && run
            .fs()
            .exists(&run.obj_dir(&info.obj_dir).join(&info.file))
    {
        return Ok(dotted);
    }
    Ok(plain)
}
