//! Fault injection through the `Fs` seam: a failed fsync poisons the store.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use crate::config::UniqueConfig;
use crate::engine::{RedbOptions, RedbStore};
use crate::error::{Error, Result};
use crate::handle::StoreExt;
use crate::vfs::{Fs, FsFile, LockGuard, RealFs};

/// The real file system, except that every `sync_data` fails once `fail` is set.
#[derive(Debug, Default)]
struct FailingFs {
    fail: Arc<AtomicBool>,
}

struct FailingFile {
    file: fs::File,
    fail: Arc<AtomicBool>,
}

impl Read for FailingFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl Write for FailingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for FailingFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

impl FsFile for FailingFile {
    fn sync_data(&mut self) -> io::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected fsync failure"));
        }
        self.file.sync_data()
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
}

impl FailingFs {
    fn wrap(&self, file: fs::File) -> Box<dyn FsFile> {
        Box::new(FailingFile {
            file,
            fail: self.fail.clone(),
        })
    }
}

impl Fs for FailingFs {
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        Ok(self.wrap(file))
    }
    fn open_rw(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        Ok(self.wrap(fs::OpenOptions::new().read(true).write(true).open(path)?))
    }
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn FsFile>> {
        Ok(self.wrap(fs::File::open(path)?))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        RealFs.remove_file(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        RealFs.sync_dir(path)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        RealFs.create_dir_all(path)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        RealFs.read_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        RealFs.exists(path)
    }
    fn is_file(&self, path: &Path) -> bool {
        RealFs.is_file(path)
    }
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        RealFs.canonicalize(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        RealFs.remove_dir_all(path)
    }
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        RealFs.file_len(path)
    }
    fn lock_store(&self, root: &Path) -> Result<LockGuard> {
        RealFs.lock_store(root)
    }
    fn open_database(&self, path: &Path) -> Result<redb::Database> {
        RealFs.open_database(path)
    }
}

fn config(seed: u64) -> Result<UniqueConfig> {
    Ok(UniqueConfig::new(json!({ "seed": seed }))?)
}

#[test]
fn a_failed_fsync_poisons_the_store_and_reopening_recovers() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("create", "tempdir", e))?;
    let fs = Arc::new(FailingFs::default());
    let fail = fs.fail.clone();
    let store = RedbStore::open_with_fs(dir.path(), RedbOptions::default(), fs)?;
    store.run("t", &config(0)?)?.save("m", "json", &0)?;

    fail.store(true, Ordering::SeqCst);
    let failed = store.run("t", &config(1)?)?.save("m", "json", &1);
    // Control: the injected failure really hit the save's WAL sync.
    assert!(
        matches!(&failed, Err(Error::Poisoned { cause }) if cause.contains("injected")),
        "{failed:?}"
    );
    fail.store(false, Ordering::SeqCst);
    // Poisoned stays poisoned, even though syncs would work again: never retry an fsync.
    let later = store.run("t", &config(2)?)?.save("m", "json", &2);
    assert!(matches!(later, Err(Error::Poisoned { .. })), "{later:?}");
    assert!(matches!(store.checkpoint(), Err(Error::Poisoned { .. })));
    // Reads still answer from what was committed.
    assert_eq!(store.run("t", &config(0)?)?.load::<i32>("m")?, Some(0));
    drop(store);

    let store = RedbStore::open(dir.path(), RedbOptions::default())?;
    assert_eq!(store.run("t", &config(0)?)?.load::<i32>("m")?, Some(0));
    assert_eq!(store.run("t", &config(2)?)?.load::<i32>("m")?, None);
    store.run("t", &config(3)?)?.save("m", "json", &3)?;
    Ok(())
}
