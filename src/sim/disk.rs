//! [`SimDisk`]: the simulated files, namespace, sync points and faults.
//!
//! Invariants: `durable` of an inode is exactly what its last successful sync saw; `pending`
//! lists, in order, every change made since; a path is in `durable_files` (or
//! `durable_dirs`) only after a sync of its parent directory saw it there. Once crashed,
//! every operation fails, so nothing after the crash point reaches the disk.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What kind of crash [`SimDisk::after_crash`] simulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// The process died; the operating system kept everything it was given.
    Process,
    /// The machine lost power: only synced data and synced directory entries survive; each
    /// unsynced write is kept, dropped or replaced by garbage (an overwrite of synced bytes
    /// is never garbled, but may keep only some of its sectors).
    PowerLoss,
}

/// The error an injected fault produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoFault {
    /// `EIO`.
    Error,
    /// `ENOSPC`.
    NoSpace,
    /// A write stores its first half, then fails with `EIO` (other operations: `EIO`).
    ShortWrite,
    /// Only syncs fail (with `EIO`); the fault counts sync operations only.
    SyncError,
}

#[derive(Debug, Clone)]
pub(crate) enum Change {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Inode {
    pub(crate) data: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<Change>,
}

fn apply(data: &mut Vec<u8>, change: &Change) {
    match change {
        Change::Write {
            offset,
            data: bytes,
        } => {
            let start = usize::try_from(*offset).unwrap_or(usize::MAX);
            let end = start.saturating_add(bytes.len());
            if data.len() < end {
                data.resize(end, 0);
            }
            data[start..end].copy_from_slice(bytes);
        }
        Change::SetLen(len) => data.resize(usize::try_from(*len).unwrap_or(usize::MAX), 0),
    }
}

#[derive(Debug, Clone, Copy)]
struct Fault {
    at: u64,
    kind: IoFault,
    persistent: bool,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) inodes: Vec<Inode>,
    pub(crate) files: BTreeMap<PathBuf, usize>,
    durable_files: BTreeMap<PathBuf, usize>,
    pub(crate) dirs: BTreeSet<PathBuf>,
    durable_dirs: BTreeSet<PathBuf>,
    syncs: u64,
    crash_at: Option<(u64, bool)>,
    crashed: bool,
    /// Inode of a sync torn by the crash, and how many of its changes reached the disk.
    torn: Option<(usize, usize)>,
    ops: u64,
    sync_ops: u64,
    fault: Option<Fault>,
    faults_hit: u64,
}

/// A simulated disk shared by the store's file system and its redb backend. Clones share it.
///
/// Each disk is used by one simulated process, with its own process id (above any real pid):
/// the disk [`SimDisk::after_crash`] returns belongs to a new process, so temporaries named
/// by the crashed one count as left by a dead process.
#[derive(Debug, Clone)]
pub struct SimDisk {
    state: Arc<Mutex<State>>,
    /// Paths locked by `Fs::lock_file`, with the condition lockers wait on.
    locks: Arc<(Mutex<BTreeSet<PathBuf>>, Condvar)>,
    pid: u32,
}

impl Default for SimDisk {
    fn default() -> Self {
        Self::new()
    }
}

fn crashed() -> io::Error {
    io::Error::other("simulated crash: the process is gone")
}

/// A small deterministic PRNG (xorshift64*), so crash images are reproducible by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl SimDisk {
    /// An empty disk whose root directory `/` exists durably.
    pub fn new() -> Self {
        let mut state = State::default();
        state.dirs.insert(PathBuf::from("/"));
        state.durable_dirs.insert(PathBuf::from("/"));
        SimDisk::with_state(state)
    }

    fn with_state(state: State) -> Self {
        // Above Linux's largest pid (2^22), so no real process has it.
        static NEXT_PID: AtomicU32 = AtomicU32::new(0x7000_0000);
        SimDisk {
            state: Arc::new(Mutex::new(state)),
            locks: Arc::default(),
            pid: NEXT_PID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The id of the simulated process using this disk.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits until no one holds `path`'s lock, then holds it until [`SimDisk::unlock`].
    pub(crate) fn lock_path(&self, path: &Path) {
        let (held, freed) = &*self.locks;
        let mut held = held.lock().unwrap_or_else(PoisonError::into_inner);
        while held.contains(path) {
            held = freed.wait(held).unwrap_or_else(PoisonError::into_inner);
        }
        held.insert(path.to_owned());
    }

    /// Releases `path`'s lock.
    pub(crate) fn unlock(&self, path: &Path) {
        let (held, freed) = &*self.locks;
        held.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(path);
        freed.notify_all();
    }

    /// The modification time every path reports: it moves with every I/O operation on the
    /// disk (so caches keyed on it are never stale) and lies far in the past (so nothing
    /// looks recently touched).
    pub(crate) fn mtime(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.lock().ops)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Updates are applied whole under the lock; a panicking test thread cannot leave
        // half an update behind that matters to later checks.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sync points passed so far (file and directory syncs).
    pub fn sync_points(&self) -> u64 {
        self.lock().syncs
    }

    /// I/O operations so far (the count [`SimDisk::fail_io`] uses).
    pub fn io_ops(&self) -> u64 {
        self.lock().ops
    }

    /// Sync operations so far (the count [`IoFault::SyncError`] uses).
    pub fn sync_ops(&self) -> u64 {
        self.lock().sync_ops
    }

    /// Makes sync point `n` (1-based, counted from the disk's creation)
    /// crash. With `torn`, a file sync at that point persists only part of the file's
    /// changes before the crash.
    pub fn crash_at_sync(&self, n: u64, torn: bool) {
        self.lock().crash_at = Some((n, torn));
    }

    /// Whether the armed crash has happened.
    pub fn crashed(&self) -> bool {
        self.lock().crashed
    }

    /// Makes the `n`-th I/O operation from now fail with `kind` (every later one too if
    /// `persistent`).
    pub fn fail_io(&self, n: u64, kind: IoFault, persistent: bool) {
        let mut state = self.lock();
        let base = if kind == IoFault::SyncError {
            state.sync_ops
        } else {
            state.ops
        };
        state.fault = Some(Fault {
            at: base + n,
            kind,
            persistent,
        });
        state.faults_hit = 0;
    }

    /// How many operations the injected fault failed so far.
    pub fn faults_hit(&self) -> u64 {
        self.lock().faults_hit
    }

    /// Unsynced changes across all files right now (a control: a power loss now would have
    /// something to lose).
    pub fn unsynced_changes(&self) -> usize {
        self.lock().inodes.iter().map(|i| i.pending.len()).sum()
    }

    /// The disk a restarted process would find after a crash now (or at the armed crash
    /// point, if it happened). `seed` picks the fate of each unsynced write under power loss.
    pub fn after_crash(&self, mode: CrashMode, seed: u64) -> SimDisk {
        let state = self.lock();
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let (files, dirs) = match mode {
            CrashMode::Process => (state.files.clone(), state.dirs.clone()),
            CrashMode::PowerLoss => {
                // A durable entry inside a directory whose own entry was lost is lost too
                // (BTreeSet order visits parents before their children).
                let mut dirs = BTreeSet::new();
                for dir in &state.durable_dirs {
                    if dir.parent().is_none_or(|p| dirs.contains(p)) {
                        dirs.insert(dir.clone());
                    }
                }
                let files = state
                    .durable_files
                    .iter()
                    .filter(|(path, _)| path.parent().is_some_and(|p| dirs.contains(p)))
                    .map(|(path, ino)| (path.clone(), *ino))
                    .collect();
                (files, dirs)
            }
        };
        let mut fresh = State {
            dirs: dirs.clone(),
            durable_dirs: dirs,
            ..State::default()
        };
        let mut renumbered = BTreeMap::new();
        for (path, ino) in files {
            let new_ino = *renumbered.entry(ino).or_insert_with(|| {
                let content = match mode {
                    CrashMode::Process => state.inodes[ino].data.clone(),
                    CrashMode::PowerLoss => power_loss_image(&state, ino, &mut rng),
                };
                fresh.inodes.push(Inode {
                    data: content.clone(),
                    durable: content,
                    pending: Vec::new(),
                });
                fresh.inodes.len() - 1
            });
            fresh.files.insert(path.clone(), new_ino);
            fresh.durable_files.insert(path, new_ino);
        }
        SimDisk::with_state(fresh)
    }

    /// Plants a file: `path` gets content `bytes`, durably, as if written and synced with
    /// its directory entry (replacing any file there). Its parent directories are created
    /// durably too. For tests that put damaged or hand-made files into a store.
    pub fn write_file(&self, path: impl AsRef<Path>, bytes: &[u8]) {
        let path = path.as_ref();
        let mut state = self.lock();
        for dir in path.ancestors().skip(1) {
            state.dirs.insert(dir.to_owned());
            state.durable_dirs.insert(dir.to_owned());
        }
        let ino = state.new_inode();
        state.inodes[ino].data = bytes.to_vec();
        state.inodes[ino].durable = bytes.to_vec();
        state.files.insert(path.to_owned(), ino);
        state.durable_files.insert(path.to_owned(), ino);
    }

    /// The current content of the file at `path`, if there is one.
    pub fn read_file(&self, path: impl AsRef<Path>) -> Option<Vec<u8>> {
        let state = self.lock();
        let ino = *state.files.get(path.as_ref())?;
        Some(state.inodes[ino].data.clone())
    }

    /// Every file below directory `dir`, at any depth, in path order.
    pub fn files_below(&self, dir: impl AsRef<Path>) -> Vec<PathBuf> {
        let dir = dir.as_ref();
        self.lock()
            .files
            .keys()
            .filter(|p| p.starts_with(dir))
            .cloned()
            .collect()
    }

    /// The files directly inside directory `dir`, in name order.
    pub fn list_files(&self, dir: impl AsRef<Path>) -> Vec<PathBuf> {
        let dir = dir.as_ref();
        self.lock()
            .files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .cloned()
            .collect()
    }
}

/// The unit a simulated disk writes atomically.
pub(crate) const SECTOR: u64 = 512;

/// `data`, written at `offset`, split at sector boundaries: (offset, bytes) per piece.
fn sectors(offset: u64, data: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    let mut at = offset;
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let room = usize::try_from(SECTOR - at % SECTOR).unwrap_or(usize::MAX);
        let (piece, tail) = rest.split_at(room.min(rest.len()));
        let item = (at, piece);
        at += piece.len() as u64;
        rest = tail;
        Some(item)
    })
}

/// The content of inode `ino` after power loss: its durable bytes, then each unsynced change
/// kept or dropped — and a write that reaches past the synced length possibly garbled, as
/// blocks allocated to a file but never written come back with stale bytes. An overwrite of
/// synced bytes comes back old or new per [`SECTOR`], never garbled: disks write a sector
/// atomically (redb, like SQLite, relies on that for its header) but not several, so a
/// multi-sector overwrite comes back wholly new, wholly old, or with some sectors new.
/// (Changes a torn sync already persisted are part of `durable`.)
fn power_loss_image(state: &State, ino: usize, rng: &mut Rng) -> Vec<u8> {
    let inode = &state.inodes[ino];
    let mut image = inode.durable.clone();
    let synced_len = inode.durable.len() as u64;
    for change in &inode.pending {
        let extends = match change {
            Change::Write { offset, data } => offset + data.len() as u64 > synced_len,
            Change::SetLen(_) => false,
        };
        match (rng.next() % 3, change) {
            (0, _) => apply(&mut image, change),
            (1, _) => {}
            (_, Change::Write { offset, data }) if !extends => {
                for (at, piece) in sectors(*offset, data) {
                    if rng.next().is_multiple_of(2) {
                        let data = piece.to_vec();
                        apply(&mut image, &Change::Write { offset: at, data });
                    }
                }
            }
            (_, Change::Write { offset, data }) => {
                let garbage: Vec<u8> = data.iter().map(|_| rng.next() as u8).collect();
                apply(
                    &mut image,
                    &Change::Write {
                        offset: *offset,
                        data: garbage,
                    },
                );
            }
            (_, Change::SetLen(_)) => apply(&mut image, change),
        }
    }
    image
}

impl State {
    /// Counts an operation and fails it if it is crashed or faulted.
    pub(crate) fn begin(&mut self, is_sync: bool) -> io::Result<Option<IoFault>> {
        if self.crashed {
            return Err(crashed());
        }
        self.ops += 1;
        if is_sync {
            self.sync_ops += 1;
        }
        let Some(fault) = self.fault else {
            return Ok(None);
        };
        let count = if fault.kind == IoFault::SyncError {
            if !is_sync {
                return Ok(None);
            }
            self.sync_ops
        } else {
            self.ops
        };
        let hit = count == fault.at || (fault.persistent && count > fault.at);
        if !hit {
            return Ok(None);
        }
        self.faults_hit += 1;
        match fault.kind {
            IoFault::ShortWrite => Ok(Some(IoFault::ShortWrite)),
            IoFault::NoSpace => Err(io::Error::from(io::ErrorKind::StorageFull)),
            IoFault::Error | IoFault::SyncError => Err(io::Error::other("injected I/O error")),
        }
    }

    /// Passes a sync point; `Err` if the armed crash happens here (the sync of `ino`, if
    /// any, is then lost or, torn, partly done).
    fn sync_point(&mut self, ino: Option<usize>) -> io::Result<()> {
        self.syncs += 1;
        let Some((at, torn)) = self.crash_at else {
            return Ok(());
        };
        if self.syncs != at {
            return Ok(());
        }
        self.crashed = true;
        if let (true, Some(ino)) = (torn, ino) {
            let inode = &mut self.inodes[ino];
            let done = inode.pending.len() / 2;
            let persisted: Vec<Change> = inode.pending.drain(..done).collect();
            for change in &persisted {
                apply(&mut inode.durable, change);
            }
            self.torn = Some((ino, done));
        }
        Err(crashed())
    }

    pub(crate) fn write(&mut self, ino: usize, offset: u64, data: &[u8]) -> io::Result<usize> {
        let fault = self.begin(false)?;
        let data = match fault {
            Some(IoFault::ShortWrite) => &data[..data.len() / 2],
            _ => data,
        };
        let change = Change::Write {
            offset,
            data: data.to_vec(),
        };
        let inode = &mut self.inodes[ino];
        apply(&mut inode.data, &change);
        inode.pending.push(change);
        match fault {
            Some(IoFault::ShortWrite) => Err(io::Error::other("injected short write")),
            _ => Ok(data.len()),
        }
    }

    pub(crate) fn set_len(&mut self, ino: usize, len: u64) -> io::Result<()> {
        if self.begin(false)?.is_some() {
            return Err(io::Error::other("injected I/O error"));
        }
        let inode = &mut self.inodes[ino];
        apply(&mut inode.data, &Change::SetLen(len));
        inode.pending.push(Change::SetLen(len));
        Ok(())
    }

    pub(crate) fn sync_file(&mut self, ino: usize) -> io::Result<()> {
        if self.begin(true)?.is_some() {
            return Err(io::Error::other("injected I/O error"));
        }
        self.sync_point(Some(ino))?;
        let inode = &mut self.inodes[ino];
        inode.durable = inode.data.clone();
        inode.pending.clear();
        Ok(())
    }

    /// A `syncfs`: every file and every directory entry becomes durable, at one sync point.
    pub(crate) fn sync_all(&mut self) -> io::Result<()> {
        if self.begin(true)?.is_some() {
            return Err(io::Error::other("injected I/O error"));
        }
        self.sync_point(None)?;
        for inode in &mut self.inodes {
            inode.durable = inode.data.clone();
            inode.pending.clear();
        }
        self.durable_files = self.files.clone();
        self.durable_dirs = self.dirs.clone();
        Ok(())
    }

    pub(crate) fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        if self.begin(true)?.is_some() {
            return Err(io::Error::other("injected I/O error"));
        }
        if !self.dirs.contains(dir) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        self.sync_point(None)?;
        let in_dir = |p: &Path| p.parent() == Some(dir);
        self.durable_files.retain(|p, _| !in_dir(p));
        for (path, ino) in &self.files {
            if in_dir(path) {
                self.durable_files.insert(path.clone(), *ino);
            }
        }
        self.durable_dirs.retain(|p| !in_dir(p));
        for path in &self.dirs {
            if in_dir(path) {
                self.durable_dirs.insert(path.clone());
            }
        }
        Ok(())
    }

    /// Moves directory `from` and everything below it to `to`. The model has no directory
    /// inodes, so a directory rename is atomic and durable at once (as if its directory
    /// were synced right away): the durable entries below it move along with it. Only the
    /// store's `delete_run` renames directories, and its protocol does not depend on when
    /// that rename becomes durable.
    pub(crate) fn rename_dir(&mut self, from: &Path, to: &Path) {
        let moved = |p: &Path| to.join(p.strip_prefix(from).unwrap_or(p));
        let rekey_files = |files: &mut BTreeMap<PathBuf, usize>| {
            let inside: Vec<PathBuf> = files
                .keys()
                .filter(|p| p.starts_with(from))
                .cloned()
                .collect();
            for path in inside {
                if let Some(ino) = files.remove(&path) {
                    files.insert(moved(&path), ino);
                }
            }
        };
        rekey_files(&mut self.files);
        rekey_files(&mut self.durable_files);
        let rekey_dirs = |dirs: &mut BTreeSet<PathBuf>| {
            let inside: Vec<PathBuf> = dirs
                .iter()
                .filter(|p| p.starts_with(from))
                .cloned()
                .collect();
            for path in inside {
                dirs.remove(&path);
                dirs.insert(moved(&path));
            }
        };
        rekey_dirs(&mut self.dirs);
        rekey_dirs(&mut self.durable_dirs);
    }

    /// A namespace change (create, rename, remove): counted and faultable, not a sync.
    pub(crate) fn namespace_op(&mut self) -> io::Result<()> {
        match self.begin(false)? {
            Some(_) => Err(io::Error::other("injected I/O error")),
            None => Ok(()),
        }
    }

    pub(crate) fn new_inode(&mut self) -> usize {
        self.inodes.push(Inode::default());
        self.inodes.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overwrite_of_synced_sectors_comes_back_per_sector_old_or_new() {
        let path = Path::new("/f");
        let (old, new) = (
            vec![1u8; 4 * SECTOR as usize],
            vec![2u8; 3 * SECTOR as usize],
        );
        let disk = SimDisk::new();
        disk.write_file(path, &old);
        {
            let mut state = disk.lock();
            let ino = state.files[path];
            // Starts mid-sector: the first and last pieces are partial sectors.
            let written = state.write(ino, SECTOR / 2, &new);
            assert_eq!(written.ok(), Some(new.len()));
        }
        let (mut mixed, mut all_old, mut all_new) = (0, 0, 0);
        for seed in 0..64 {
            let image = disk
                .after_crash(CrashMode::PowerLoss, seed)
                .read_file(path)
                .unwrap_or_default();
            assert_eq!(
                image.len(),
                old.len(),
                "an overwrite never changes the length"
            );
            let fates: Vec<bool> = sectors(SECTOR / 2, &new)
                .map(|(at, piece)| {
                    let got = &image[at as usize..at as usize + piece.len()];
                    // A sector is wholly old or wholly new, never garbled.
                    assert!(got == piece || got.iter().all(|&b| b == 1), "seed {seed}");
                    got == piece
                })
                .collect();
            assert_eq!(fates.len(), 4);
            match (fates.iter().all(|&f| f), fates.iter().any(|&f| f)) {
                (true, _) => all_new += 1,
                (false, false) => all_old += 1,
                (false, true) => mixed += 1,
            }
        }
        // Control: every fate happens, including the mixed one this model adds.
        assert!(
            mixed > 0 && all_old > 0 && all_new > 0,
            "{mixed} {all_old} {all_new}"
        );
    }
}
