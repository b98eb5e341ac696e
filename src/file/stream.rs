//! [`File`]: a stored result opened as a stream (fluidml's `File`), and its [`OpenMode`].
//!
//! Invariants: a writable file publishes its content only when [`File::close`] succeeds;
//! dropping it without `close` stores nothing (an abort). Reads go through an internal buffer
//! that is discarded before every write, seek or truncate, so the logical position is always
//! the backend position minus the unread buffered bytes. In append modes every write goes to
//! the end, wherever the position was.

use std::any::Any;
use std::fmt;
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::str::FromStr;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::TypeRegistry;
use crate::error::{Error, Result};
use crate::names::ResultName;
use crate::promise::{ContentReader, Promise};
use crate::run::{RunId, describe_result};

/// Whether an open must find the result, must not, or may do either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existence {
    /// The result must exist (`r`, `r+`).
    MustExist,
    /// The result must not exist (`x`, `x+`).
    MustNotExist,
    /// Either (`w`, `a` and their `+` forms).
    Any,
}

/// A parsed open mode, as Python's `open` spells it: `r`, `r+`, `w`, `w+`, `a`, `a+`, `x`,
/// `x+`, each optionally with `b` (accepted for fluidml compatibility; Rust streams are
/// always bytes, so `b` changes nothing but the mode's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenMode {
    base: char,
    plus: bool,
    binary: bool,
}

impl OpenMode {
    /// Mode `r`: read an existing result.
    pub const READ: OpenMode = OpenMode {
        base: 'r',
        plus: false,
        binary: false,
    };
    /// Mode `w`: write a new version from empty.
    pub const WRITE: OpenMode = OpenMode {
        base: 'w',
        plus: false,
        binary: false,
    };
    /// Mode `a`: append to the stored version (or start empty).
    pub const APPEND: OpenMode = OpenMode {
        base: 'a',
        plus: false,
        binary: false,
    };

    /// Whether the file can be read.
    pub fn readable(&self) -> bool {
        self.base == 'r' || self.plus
    }

    /// Whether the file can be written.
    pub fn writable(&self) -> bool {
        self.base != 'r' || self.plus
    }

    /// Whether every write goes to the end.
    pub fn appends(&self) -> bool {
        self.base == 'a'
    }

    /// Whether the stored content is the starting content (`r`, `r+`, `a`, `a+`); otherwise
    /// the file starts empty.
    pub fn keeps_content(&self) -> bool {
        matches!(self.base, 'r' | 'a')
    }

    /// What the open requires of the stored result.
    pub fn existence(&self) -> Existence {
        match self.base {
            'r' => Existence::MustExist,
            'x' => Existence::MustNotExist,
            _ => Existence::Any,
        }
    }

    /// Whether `b` was given.
    pub fn is_binary(&self) -> bool {
        self.binary
    }
}

impl FromStr for OpenMode {
    type Err = Error;

    /// Parses a mode string.
    fn from_str(mode: &str) -> Result<Self> {
        let invalid = || Error::InvalidMode {
            mode: mode.to_owned(),
        };
        let mut chars = mode.chars();
        let base = chars.next().ok_or_else(invalid)?;
        if !matches!(base, 'r' | 'w' | 'a' | 'x') {
            return Err(invalid());
        }
        let (mut plus, mut binary) = (false, false);
        for c in chars {
            match c {
                '+' if !plus => plus = true,
                'b' if !binary => binary = true,
                _ => return Err(invalid()),
            }
        }
        Ok(OpenMode { base, plus, binary })
    }
}

impl fmt::Display for OpenMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.base)?;
        if self.binary {
            f.write_str("b")?;
        }
        if self.plus {
            f.write_str("+")?;
        }
        Ok(())
    }
}

/// What a backend provides behind a [`File`].
pub(crate) trait FileBackend: Read + Write + Seek + Send {
    /// Sets the length (for `truncate`).
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Publishes what was written; called once, by [`File::close`], for writable files.
    fn commit(self: Box<Self>) -> Result<()>;
}

/// A read-only backend over stored content.
struct ReadOnly(Box<dyn ContentReader>);

impl Read for ReadOnly {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Seek for ReadOnly {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}

impl Write for ReadOnly {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl FileBackend for ReadOnly {
    fn set_len(&mut self, _: u64) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
    fn commit(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// What a backend knows when a result is opened.
pub(crate) struct OpenRequest<'a> {
    pub(crate) run: &'a RunId,
    pub(crate) name: &'a ResultName,
    pub(crate) mode: OpenMode,
    pub(crate) type_name: Option<&'a str>,
    pub(crate) types: &'a TypeRegistry,
    /// The stored value: of the looked-up run for mode `r`, of the exact run otherwise.
    pub(crate) existing: Option<Promise>,
}

/// The type name a write-open uses when the caller gives none.
fn default_write_type(mode: OpenMode, given: Option<&str>, stored: Option<&str>) -> String {
    match (given, stored) {
        (Some(given), _) => given.to_owned(),
        (None, Some(stored)) if mode.keeps_content() => stored.to_owned(),
        (None, _) if mode.is_binary() => crate::codec::BYTES.to_owned(),
        (None, _) => crate::codec::TEXT.to_owned(),
    }
}

/// The open protocol every backend shares: checks the mode's existence rule, serves reads
/// from the stored content, and for writes picks the type, asks `backend(type, exclusive)`
/// for an empty writable backend and fills it with the stored content where the mode keeps
/// it.
pub(crate) fn open_file(
    request: OpenRequest<'_>,
    backend: impl FnOnce(&str, bool) -> Result<Box<dyn FileBackend>>,
) -> Result<File> {
    let OpenRequest {
        run,
        name,
        mode,
        type_name,
        types,
        existing,
    } = request;
    let describe = || describe_result(run, name);
    match (mode.existence(), &existing) {
        (Existence::MustExist, None) => return Err(Error::NotFound { what: describe() }),
        (Existence::MustNotExist, Some(_)) => {
            return Err(Error::AlreadyExists { what: describe() });
        }
        _ => {}
    }
    if !mode.writable() {
        let promise = existing.ok_or_else(|| Error::NotFound { what: describe() })?;
        return File::read_only(name.as_str(), &promise);
    }
    let stored_type = existing.as_ref().map(|p| p.type_name().to_owned());
    let type_name = default_write_type(mode, type_name, stored_type.as_deref());
    types.get(&type_name)?;
    let exclusive = mode.existence() == Existence::MustNotExist;
    let mut backend = backend(&type_name, exclusive)?;
    let stream = |source| Error::Stream {
        op: "copy the stored content into the opened file",
        source,
    };
    if let Some(promise) = existing.filter(|_| mode.keeps_content()) {
        let mut stored = File::read_only(name.as_str(), &promise)?;
        io::copy(&mut stored, &mut backend).map_err(stream)?;
        let start = if mode.appends() {
            SeekFrom::End(0)
        } else {
            SeekFrom::Start(0)
        };
        backend.seek(start).map_err(stream)?;
    }
    Ok(File::new(
        name.as_str(),
        &type_name,
        mode,
        types.clone(),
        backend,
    ))
}

const READ_BUFFER: usize = 64 * 1024;

/// A stored result opened as a stream: `Read`, `BufRead`, `Write` and `Seek` as its mode
/// allows, plus fluidml's `readline`, `readlines`, `writelines`, `tell`, `truncate`, and
/// `save`/`load` through the result type's codec.
///
/// A writable file stores nothing until [`File::close`] returns `Ok`.
pub struct File {
    name: String,
    type_name: String,
    mode: OpenMode,
    types: TypeRegistry,
    backend: Box<dyn FileBackend>,
    buf: Vec<u8>,
    pos: usize,
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("name", &self.name)
            .field("type_name", &self.type_name)
            .field("mode", &self.mode)
            .finish()
    }
}

impl File {
    pub(crate) fn new(
        name: &str,
        type_name: &str,
        mode: OpenMode,
        types: TypeRegistry,
        backend: Box<dyn FileBackend>,
    ) -> Self {
        File {
            name: name.to_owned(),
            type_name: type_name.to_owned(),
            mode,
            types,
            backend,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// Opens a promise's content for reading (mode `r`), after verifying its hash.
    ///
    /// # Errors
    /// As [`Promise::bytes`].
    pub fn from_promise(promise: &Promise) -> Result<File> {
        Self::read_only(&promise.hash().to_hex(), promise)
    }

    /// Opens a promise's content for reading as result `name` (named in errors).
    pub(crate) fn read_only(name: &str, promise: &Promise) -> Result<File> {
        let reader = promise.verified_reader()?;
        Ok(File::new(
            name,
            promise.type_name(),
            OpenMode::READ,
            promise.types().clone(),
            Box::new(ReadOnly(reader)),
        ))
    }

    /// The result's type name.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The mode the file was opened with.
    pub fn mode(&self) -> OpenMode {
        self.mode
    }

    /// Whether the file can be read.
    pub fn readable(&self) -> bool {
        self.mode.readable()
    }

    /// Whether the file can be written.
    pub fn writable(&self) -> bool {
        self.mode.writable()
    }

    /// Whether the file can seek (always true).
    pub fn seekable(&self) -> bool {
        true
    }

    fn mode_error(&self, op: &'static str) -> Error {
        Error::FileMode {
            op,
            name: self.name.clone(),
            mode: self.mode.to_string(),
        }
    }

    /// Drops buffered read-ahead, moving the backend back to the logical position.
    fn discard_buffer(&mut self) -> io::Result<()> {
        let unread = self.buf.len() - self.pos;
        if unread > 0 {
            let back = i64::try_from(unread).map_err(io::Error::other)?;
            self.backend.seek(SeekFrom::Current(-back))?;
        }
        self.buf.clear();
        self.pos = 0;
        Ok(())
    }

    /// The current position (fluidml's `tell`).
    ///
    /// # Errors
    /// I/O errors of the backend.
    pub fn tell(&mut self) -> Result<u64> {
        self.stream_position().map_err(|source| Error::Stream {
            op: "tell the position",
            source,
        })
    }

    /// Reads one line, keeping its `\n`; an empty string at the end (fluidml's `readline`).
    ///
    /// # Errors
    /// [`Error::FileMode`] if not readable; [`Error::Stream`] for I/O or invalid UTF-8.
    pub fn readline(&mut self) -> Result<String> {
        let mut line = String::new();
        self.read_line(&mut line).map_err(|source| Error::Stream {
            op: "read a line",
            source,
        })?;
        Ok(line)
    }

    /// Reads all remaining lines, each keeping its `\n` (fluidml's `readlines`).
    ///
    /// # Errors
    /// As [`File::readline`].
    pub fn readlines(&mut self) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        loop {
            let line = self.readline()?;
            if line.is_empty() {
                return Ok(lines);
            }
            lines.push(line);
        }
    }

    /// Writes every item in turn, adding no separators (fluidml's `writelines`).
    ///
    /// # Errors
    /// [`Error::FileMode`] if not writable; I/O errors of the backend.
    pub fn writelines<I, L>(&mut self, lines: I) -> Result<()>
    where
        I: IntoIterator<Item = L>,
        L: AsRef<[u8]>,
    {
        for line in lines {
            self.write_all(line.as_ref())
                .map_err(|source| Error::Stream {
                    op: "write lines",
                    source,
                })?;
        }
        Ok(())
    }

    /// Cuts the content to `size` bytes (default: the current position); the position does
    /// not move (fluidml's `truncate`).
    ///
    /// # Errors
    /// [`Error::FileMode`] if not writable; I/O errors of the backend.
    pub fn truncate(&mut self, size: Option<u64>) -> Result<()> {
        if !self.writable() {
            return Err(self.mode_error("truncate"));
        }
        let stream = |source| Error::Stream {
            op: "truncate",
            source,
        };
        self.discard_buffer().map_err(stream)?;
        let size = match size {
            Some(size) => size,
            None => self.backend.stream_position().map_err(stream)?,
        };
        self.backend.set_len(size).map_err(stream)
    }

    /// Encodes `value` with the file's type codec and writes it at the current position.
    ///
    /// # Errors
    /// As [`TypeInfo::encode`](crate::TypeInfo::encode), plus [`Error::FileMode`].
    pub fn save<T: Serialize + Any>(&mut self, value: &T) -> Result<()> {
        let bytes = self.types.get(&self.type_name)?.encode(value)?;
        self.writelines([bytes])
    }

    /// Reads the rest of the file and decodes it with the file's type codec.
    ///
    /// # Errors
    /// As [`TypeInfo::decode`](crate::TypeInfo::decode), plus [`Error::FileMode`].
    pub fn load<T: DeserializeOwned + Any>(&mut self) -> Result<T> {
        let bytes = self.read_rest()?;
        self.types.get(&self.type_name)?.decode(&bytes)
    }

    /// Like [`File::load`] for custom stream types.
    ///
    /// # Errors
    /// As [`File::load`].
    pub fn load_custom<T: Any>(&mut self) -> Result<T> {
        let bytes = self.read_rest()?;
        self.types.get(&self.type_name)?.decode_custom(&bytes)
    }

    fn read_rest(&mut self) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.read_to_end(&mut bytes)
            .map_err(|source| Error::Stream {
                op: "read the file",
                source,
            })?;
        Ok(bytes)
    }

    /// Publishes what was written (writable modes) and closes the file.
    ///
    /// # Errors
    /// [`Error::NestedTooDeep`] for a `json` result nesting deeper than
    /// [`MAX_DEPTH`](crate::MAX_DEPTH), [`Error::Encode`] for one that is not JSON (the
    /// content is read back to check); whatever the store reports while publishing. Nothing
    /// is stored then.
    pub fn close(mut self) -> Result<()> {
        if !self.writable() {
            return Ok(());
        }
        self.flush().map_err(|source| Error::Stream {
            op: "flush",
            source,
        })?;
        let info = self.types.get(&self.type_name)?;
        if info.checks_content() {
            self.backend
                .seek(SeekFrom::Start(0))
                .map_err(|source| Error::Stream {
                    op: "seek to the start of the file",
                    source,
                })?;
            info.check_reader(&mut self.backend)?;
        }
        self.backend.commit()
    }
}

impl Read for File {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.buf.len() && out.len() >= READ_BUFFER {
            if !self.readable() {
                return Err(self.mode_error("read").into_io());
            }
            self.buf.clear();
            self.pos = 0;
            return self.backend.read(out);
        }
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for File {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if !self.readable() {
            return Err(self.mode_error("read").into_io());
        }
        if self.pos == self.buf.len() {
            self.buf.resize(READ_BUFFER, 0);
            let n = self.backend.read(&mut self.buf);
            self.buf.truncate(*n.as_ref().unwrap_or(&0));
            self.pos = 0;
            n?;
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.buf.len());
    }
}

impl Write for File {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if !self.writable() {
            return Err(self.mode_error("write").into_io());
        }
        self.discard_buffer()?;
        if self.mode.appends() {
            self.backend.seek(SeekFrom::End(0))?;
        }
        self.backend.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.backend.flush()
    }
}

impl Seek for File {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.discard_buffer()?;
        self.backend.seek(pos)
    }
}
