//! Result types and their codecs: the type registry and [`TypeInfo`].
//!
//! Built-in types: `json` (serde_json), `binary` (postcard), `pickle` (Python's pickle, the
//! same format in Rust, the Python package, the CLI and fluidml trees: Rust writes serde values
//! as protocol-3 pickles and reads plain-data pickles through JSON, see `pickle.rs`; objects of
//! Python classes load only in Python), `text` (a UTF-8 string) and `bytes` (raw `Vec<u8>`).
//! `python_pickle` is an older name of `pickle`, still read. Custom types
//! register save and load functions over `Write`/`Read` ([`TypeInfo::custom`]) or over a file
//! system path ([`TypeInfo::custom_path`], for stores that have paths).
//!
//! Invariants: decoding never panics; a Rust type that does not fit the stored type is
//! [`Error::WrongRustType`] or [`Error::Decode`]; an unregistered type name is
//! [`Error::UnknownType`]. A registry is shared by its clones, so a type registered later is
//! visible to every promise and file made from the store. A `json` value nesting deeper than
//! [`MAX_DEPTH`] is refused when it is encoded or handed over as bytes
//! ([`Error::NestedTooDeep`]), so every stored `json` value is within `serde_json`'s parsing
//! limit; `json` bytes that are not JSON are refused when handed over ([`Error::Encode`]), so
//! every stored `json` value parses.

use std::any::{Any, TypeId, type_name};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use serde::Serialize;
use serde::de::{DeserializeOwned, IntoDeserializer};

use crate::error::{Error, Result};
use crate::json_scan::{self, JsonProblem, JsonScan};
use crate::limits::{self, MAX_DEPTH};

/// Type name of the built-in JSON type.
pub const JSON: &str = "json";
/// Type name of the built-in binary (postcard) type.
pub const BINARY: &str = "binary";
/// Type name of Python's pickle format (see the module docs for what Rust reads of it).
pub const PICKLE: &str = "pickle";
/// An older name of [`PICKLE`] (stores written before `pickle` meant Python's pickle everywhere
/// recorded fluidml's pickles under it); same codec.
pub const PYTHON_PICKLE: &str = "python_pickle";
/// Type name of the built-in UTF-8 text type.
pub const TEXT: &str = "text";
/// Type name of the built-in raw bytes type.
pub const BYTES: &str = "bytes";

type SaveStream = dyn Fn(&dyn Any, &mut dyn Write) -> io::Result<()> + Send + Sync;
type LoadStream = dyn Fn(&mut dyn Read) -> io::Result<Box<dyn Any>> + Send + Sync;
type SavePath = dyn Fn(&dyn Any, &Path) -> io::Result<()> + Send + Sync;
type LoadPath = dyn Fn(&Path) -> io::Result<Box<dyn Any>> + Send + Sync;

#[derive(Clone)]
enum Codec {
    Json,
    Binary,
    Pickle,
    Text,
    Bytes,
    Stream(Custom<SaveStream, LoadStream>),
    Path(Custom<SavePath, LoadPath>),
    /// A type known only by name (found in a fluidml tree): bytes are kept, never decoded.
    Opaque,
}

/// A registered type's own save and load functions, erased to work on `dyn Any` values of
/// one Rust type.
struct Custom<S: ?Sized, L: ?Sized> {
    rust_type: &'static str,
    type_id: TypeId,
    save: Arc<S>,
    load: Arc<L>,
}

impl<S: ?Sized, L: ?Sized> Clone for Custom<S, L> {
    fn clone(&self) -> Self {
        Custom {
            rust_type: self.rust_type,
            type_id: self.type_id,
            save: self.save.clone(),
            load: self.load.clone(),
        }
    }
}

impl<S: ?Sized, L: ?Sized> Custom<S, L> {
    fn of<T: Any>(save: Arc<S>, load: Arc<L>) -> Self {
        Custom {
            rust_type: type_name::<T>(),
            type_id: TypeId::of::<T>(),
            save,
            load,
        }
    }

    /// Fails unless `T` is the Rust type the functions were registered for.
    fn check<T: Any>(&self, info: &TypeInfo) -> Result<()> {
        if self.type_id == TypeId::of::<T>() {
            Ok(())
        } else {
            Err(info.wrong_type::<T>(self.rust_type))
        }
    }

    /// Unboxes a loaded value (of the checked type).
    fn unbox<T: Any>(&self, info: &TypeInfo, value: Box<dyn Any>) -> Result<T> {
        downcast(value).ok_or_else(|| info.wrong_type::<T>(self.rust_type))
    }
}

/// Applies `f` to `value` if it is a `T`.
fn with_value<T: Any, R>(value: &dyn Any, f: impl FnOnce(&T) -> io::Result<R>) -> io::Result<R> {
    match value.downcast_ref::<T>() {
        Some(v) => f(v),
        None => Err(io::Error::other("value of the wrong Rust type")),
    }
}

/// How values of one result type are saved and loaded (fluidml's `TypeInfo`).
#[derive(Clone)]
pub struct TypeInfo {
    name: String,
    extension: String,
    is_binary: bool,
    codec: Codec,
}

impl fmt::Debug for TypeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypeInfo")
            .field("name", &self.name)
            .field("extension", &self.extension)
            .field("is_binary", &self.is_binary)
            .field("needs_path", &self.needs_path())
            .finish()
    }
}

impl TypeInfo {
    fn new(name: &str, extension: &str, is_binary: bool, codec: Codec) -> Self {
        TypeInfo {
            name: name.to_owned(),
            extension: extension.to_owned(),
            is_binary,
            codec,
        }
    }

    /// A custom type whose values of Rust type `T` are written to and read from a stream.
    ///
    /// `extension` is the file extension stores with paths use (without the dot);
    /// `is_binary` says whether the bytes are binary or text.
    pub fn custom<T: Any>(
        name: &str,
        extension: &str,
        is_binary: bool,
        save: impl Fn(&T, &mut dyn Write) -> io::Result<()> + Send + Sync + 'static,
        load: impl Fn(&mut dyn Read) -> io::Result<T> + Send + Sync + 'static,
    ) -> Self {
        let save: Arc<SaveStream> =
            Arc::new(move |value: &dyn Any, w: &mut dyn Write| with_value(value, |v| save(v, w)));
        let load: Arc<LoadStream> =
            Arc::new(move |r: &mut dyn Read| load(r).map(|v| Box::new(v) as Box<dyn Any>));
        Self::new(
            name,
            extension,
            is_binary,
            Codec::Stream(Custom::of::<T>(save, load)),
        )
    }

    /// A custom type whose save and load functions work on a file-system path (a file or a
    /// directory they create), for stores that have paths (fluidml's `needs_path=True`).
    /// Stores without paths reject it with [`Error::NeedsPath`].
    pub fn custom_path<T: Any>(
        name: &str,
        extension: &str,
        is_binary: bool,
        save: impl Fn(&T, &Path) -> io::Result<()> + Send + Sync + 'static,
        load: impl Fn(&Path) -> io::Result<T> + Send + Sync + 'static,
    ) -> Self {
        let save: Arc<SavePath> =
            Arc::new(move |value: &dyn Any, p: &Path| with_value(value, |v| save(v, p)));
        let load: Arc<LoadPath> =
            Arc::new(move |p: &Path| load(p).map(|v| Box::new(v) as Box<dyn Any>));
        Self::new(
            name,
            extension,
            is_binary,
            Codec::Path(Custom::of::<T>(save, load)),
        )
    }

    /// A type known only by its name and file extension, such as a custom fluidml type
    /// (`npy`) found in a directory fluidml wrote: its values are kept and copied as opaque
    /// bytes, and loading one into a Rust type is [`Error::Decode`] saying so. Registering a
    /// real type under the same name replaces it ([`TypeRegistry::register`]).
    pub fn opaque(name: &str, extension: &str) -> Self {
        Self::new(name, extension, true, Codec::Opaque)
    }

    /// Whether this is an [`opaque`](TypeInfo::opaque) placeholder.
    pub fn is_opaque(&self) -> bool {
        matches!(self.codec, Codec::Opaque)
    }

    /// The type's name, e.g. `json`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file extension (without the dot) stores with paths give its values.
    pub fn extension(&self) -> &str {
        &self.extension
    }

    /// Whether values are binary (as opposed to text).
    pub fn is_binary(&self) -> bool {
        self.is_binary
    }

    /// Whether save and load work on a path rather than a stream.
    pub fn needs_path(&self) -> bool {
        matches!(self.codec, Codec::Path(_))
    }

    fn wrong_type<T>(&self, expected: &'static str) -> Error {
        Error::WrongRustType {
            type_name: self.name.clone(),
            expected,
            found: type_name::<T>(),
        }
    }

    fn encode_error(&self, reason: impl fmt::Display) -> Error {
        Error::Encode {
            type_name: self.name.clone(),
            reason: reason.to_string(),
        }
    }

    fn decode_error(&self, reason: impl fmt::Display) -> Error {
        Error::Decode {
            type_name: self.name.clone(),
            reason: reason.to_string(),
        }
    }

    fn too_deep_error(&self) -> Error {
        Error::NestedTooDeep {
            type_name: self.name.clone(),
            limit: MAX_DEPTH,
        }
    }

    /// Checks bytes handed over already encoded as this type: for `json`, that they are one
    /// JSON value (as `serde_json` reads it) nesting at most [`MAX_DEPTH`] levels, in one pass
    /// (`json_scan.rs`), so that what is accepted loads; for `pickle`, that its lists, tuples,
    /// dicts and sets nest at most [`MAX_DEPTH`] levels (`pickle_ops.rs`, without decoding:
    /// objects of Python classes stay acceptable, they load in Python).
    ///
    /// # Errors
    /// [`Error::NestedTooDeep`]; [`Error::Encode`] for `json` bytes that are not JSON.
    pub(crate) fn check_bytes(&self, bytes: &[u8]) -> Result<()> {
        match self.codec {
            Codec::Json => self.json_verdict(json_scan::check_json(bytes, MAX_DEPTH)),
            Codec::Pickle if crate::pickle::check_depth(bytes).is_err() => {
                Err(self.too_deep_error())
            }
            _ => Ok(()),
        }
    }

    fn json_verdict(&self, verdict: std::result::Result<(), JsonProblem>) -> Result<()> {
        match verdict {
            Ok(()) => Ok(()),
            Err(JsonProblem::TooDeep) => Err(self.too_deep_error()),
            Err(JsonProblem::NotJson(reason)) => Err(self.encode_error(format!(
                "the bytes handed over are not JSON: {reason}; nothing was stored"
            ))),
        }
    }

    /// Whether content written through a stream must be read back and checked
    /// ([`TypeInfo::check_reader`]) before it is published: `json`.
    pub(crate) fn checks_content(&self) -> bool {
        matches!(self.codec, Codec::Json)
    }

    /// [`TypeInfo::check_bytes`] for `json` content read from `reader`, in pieces.
    ///
    /// # Errors
    /// As [`TypeInfo::check_bytes`]; [`Error::Stream`] if reading fails.
    pub(crate) fn check_reader(&self, reader: &mut dyn Read) -> Result<()> {
        let mut check = self.content_check();
        let mut piece = vec![0; 64 * 1024];
        loop {
            let n = reader.read(&mut piece).map_err(|source| Error::Stream {
                op: "read back a json value to check it",
                source,
            })?;
            check.scan.feed(&piece[..n]);
            if n == 0 || check.scan.failed() {
                return check.finish();
            }
        }
    }

    /// [`TypeInfo::check_reader`] as a writer: content written into it is scanned, and
    /// [`ContentCheck::finish`] gives the verdict (for a copy that checks a value as it
    /// reads it once, hash and all). Only meaningful where [`TypeInfo::checks_content`].
    pub(crate) fn content_check(&self) -> ContentCheck<'_> {
        ContentCheck {
            info: self,
            scan: JsonScan::new(MAX_DEPTH),
        }
    }

    /// For `json` and `pickle`: fails if `value` is a JSON value nested too deep, before
    /// serializing it (which recurses once per level).
    fn check_json_value<T: Any>(&self, value: &T) -> Result<()> {
        let value = value as &dyn Any;
        let too_deep = if let Some(value) = value.downcast_ref::<serde_json::Value>() {
            limits::value_too_deep(value, MAX_DEPTH).is_some()
        } else if let Some(map) = value.downcast_ref::<serde_json::Map<String, serde_json::Value>>()
        {
            limits::map_too_deep(map, MAX_DEPTH).is_some()
        } else {
            false
        };
        if too_deep {
            Err(self.too_deep_error())
        } else {
            Ok(())
        }
    }

    fn opaque_error(&self) -> Error {
        Error::Decode {
            type_name: self.name.clone(),
            reason: format!(
                "values of type `{0}` are kept as opaque bytes (the type was found in a \
                 fluidml directory but is not registered here); register a type named `{0}` \
                 to load them, or read the raw bytes",
                self.name
            ),
        }
    }

    fn needs_path_error(&self, store: &'static str) -> Error {
        Error::NeedsPath {
            type_name: self.name.clone(),
            store,
        }
    }

    /// Encodes a serde value: built-in types through serde, custom stream types through
    /// their save function (if `T` is their Rust type).
    ///
    /// # Errors
    /// [`Error::Encode`], [`Error::WrongRustType`], or [`Error::NeedsPath`] for path types;
    /// [`Error::NestedTooDeep`] for a `json` or `pickle` value nesting deeper than
    /// [`MAX_DEPTH`].
    pub fn encode<T: Serialize + Any>(&self, value: &T) -> Result<Vec<u8>> {
        match &self.codec {
            Codec::Json => {
                self.check_json_value(value)?;
                let bytes = serde_json::to_vec(value).map_err(|e| self.encode_error(e))?;
                self.check_bytes(&bytes)?;
                Ok(bytes)
            }
            Codec::Binary => postcard::to_stdvec(value).map_err(|e| self.encode_error(e)),
            Codec::Pickle => {
                self.check_json_value(value)?;
                let bytes = serde_pickle::to_vec(value, serde_pickle::SerOptions::new())
                    .map_err(|e| self.encode_error(e))?;
                self.check_bytes(&bytes)?;
                Ok(bytes)
            }
            Codec::Text => {
                if let Some(s) = (value as &dyn Any).downcast_ref::<String>() {
                    return Ok(s.clone().into_bytes());
                }
                match serde_json::to_value(value).map_err(|e| self.encode_error(e))? {
                    serde_json::Value::String(s) => Ok(s.into_bytes()),
                    _ => Err(self.wrong_type::<T>(type_name::<String>())),
                }
            }
            Codec::Bytes => match (value as &dyn Any).downcast_ref::<Vec<u8>>() {
                Some(bytes) => Ok(bytes.clone()),
                None => Err(self.wrong_type::<T>(type_name::<Vec<u8>>())),
            },
            Codec::Stream(_) | Codec::Path(_) => self.encode_custom(value),
            Codec::Opaque => Err(self.encode_error(self.opaque_error())),
        }
    }

    /// Encodes a value of a custom stream type (no serde needed).
    ///
    /// # Errors
    /// [`Error::WrongRustType`] if `T` is not the type's Rust type (built-in types need
    /// [`TypeInfo::encode`]); [`Error::NeedsPath`] for path types; [`Error::Encode`] if the
    /// save function fails.
    pub fn encode_custom<T: Any>(&self, value: &T) -> Result<Vec<u8>> {
        match &self.codec {
            Codec::Stream(custom) => {
                custom.check::<T>(self)?;
                let mut out = Vec::new();
                (custom.save)(value, &mut out).map_err(|e| self.encode_error(e))?;
                Ok(out)
            }
            Codec::Path(_) => Err(self.needs_path_error("an in-memory encoder")),
            Codec::Opaque => Err(self.encode_error(self.opaque_error())),
            _ => Err(self.wrong_type::<T>("a serde type (use save, not save_custom)")),
        }
    }

    /// Decodes stored bytes into `T`.
    ///
    /// # Errors
    /// [`Error::Decode`] if the bytes do not decode into `T`; [`Error::WrongRustType`] if `T`
    /// cannot hold this type at all; [`Error::NeedsPath`] for path types.
    pub fn decode<T: DeserializeOwned + Any>(&self, bytes: &[u8]) -> Result<T> {
        match &self.codec {
            Codec::Json => serde_json::from_slice(bytes).map_err(|e| self.decode_error(e)),
            Codec::Binary => {
                let (value, rest) =
                    postcard::take_from_bytes(bytes).map_err(|e| self.decode_error(e))?;
                if rest.is_empty() {
                    Ok(value)
                } else {
                    Err(self.decode_error(format!(
                        "{} trailing bytes after the value; was it saved as another Rust type?",
                        rest.len()
                    )))
                }
            }
            Codec::Pickle => {
                let value = crate::pickle::decode_value(bytes, &serde_json::Map::new())
                    .map_err(|e| self.decode_error(e))?;
                serde_json::from_value(value).map_err(|e| self.decode_error(e))
            }
            Codec::Text => {
                let text = std::str::from_utf8(bytes).map_err(|e| self.decode_error(e))?;
                let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
                    text.into_deserializer();
                T::deserialize(de).map_err(|e| self.decode_error(e))
            }
            Codec::Bytes => downcast(Box::new(bytes.to_vec()))
                .ok_or_else(|| self.wrong_type::<T>(type_name::<Vec<u8>>())),
            Codec::Stream(_) | Codec::Path(_) => self.decode_custom(bytes),
            Codec::Opaque => Err(self.opaque_error()),
        }
    }

    /// Decodes stored bytes of a custom stream type into `T` (no serde needed).
    ///
    /// # Errors
    /// As [`TypeInfo::decode`].
    pub fn decode_custom<T: Any>(&self, mut bytes: &[u8]) -> Result<T> {
        match &self.codec {
            Codec::Stream(custom) => {
                custom.check::<T>(self)?;
                let value = (custom.load)(&mut bytes).map_err(|e| self.decode_error(e))?;
                custom.unbox(self, value)
            }
            Codec::Path(_) => Err(self.needs_path_error("an in-memory decoder")),
            Codec::Opaque => Err(self.opaque_error()),
            _ => Err(self.wrong_type::<T>("a serde type (use load, not load_custom)")),
        }
    }

    /// Saves a value of a path type to `path` with the type's save function.
    ///
    /// # Errors
    /// [`Error::WrongRustType`] if `T` is not the type's Rust type or the type is not a path
    /// type; [`Error::Encode`] if the save function fails.
    pub fn save_to_path<T: Any>(&self, value: &T, path: &Path) -> Result<()> {
        match &self.codec {
            Codec::Path(custom) => {
                custom.check::<T>(self)?;
                (custom.save)(value, path)
                    .map_err(|e| self.encode_error(format!("{}: {e}", path.display())))
            }
            _ => Err(self.wrong_type::<T>("a path type (see TypeInfo::custom_path)")),
        }
    }

    /// Loads a value of a path type from `path` with the type's load function.
    ///
    /// # Errors
    /// As [`TypeInfo::save_to_path`], with [`Error::Decode`] for a failing load function.
    pub fn load_from_path<T: Any>(&self, path: &Path) -> Result<T> {
        match &self.codec {
            Codec::Path(custom) => {
                custom.check::<T>(self)?;
                let value = (custom.load)(path)
                    .map_err(|e| self.decode_error(format!("{}: {e}", path.display())))?;
                custom.unbox(self, value)
            }
            _ => Err(self.wrong_type::<T>("a path type (see TypeInfo::custom_path)")),
        }
    }
}

/// The `json` check of [`TypeInfo::check_bytes`] fed through [`io::Write`] (see
/// [`TypeInfo::content_check`]); writing never fails.
pub(crate) struct ContentCheck<'a> {
    info: &'a TypeInfo,
    scan: JsonScan,
}

impl ContentCheck<'_> {
    /// The verdict on everything written.
    ///
    /// # Errors
    /// As [`TypeInfo::check_bytes`].
    pub(crate) fn finish(self) -> Result<()> {
        self.info.json_verdict(self.scan.finish())
    }
}

impl io::Write for ContentCheck<'_> {
    fn write(&mut self, piece: &[u8]) -> io::Result<usize> {
        self.scan.feed(piece);
        Ok(piece.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn downcast<T: Any>(value: Box<dyn Any>) -> Option<T> {
    value.downcast::<T>().ok().map(|b| *b)
}

/// The result types a store knows, by name. Clones share one registry.
#[derive(Clone)]
pub struct TypeRegistry {
    types: Arc<RwLock<BTreeMap<String, Arc<TypeInfo>>>>,
}

impl fmt::Debug for TypeRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Default for TypeRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl TypeRegistry {
    /// A registry with the built-in types `json`, `binary`, `pickle` (alias `python_pickle`),
    /// `text`, `bytes`.
    pub fn new() -> Self {
        let builtins = [
            TypeInfo::new(JSON, "json", false, Codec::Json),
            TypeInfo::new(BINARY, "bin", true, Codec::Binary),
            TypeInfo::new(PICKLE, "p", true, Codec::Pickle),
            TypeInfo::new(PYTHON_PICKLE, "p", true, Codec::Pickle),
            TypeInfo::new(TEXT, "txt", false, Codec::Text),
            TypeInfo::new(BYTES, "bytes", true, Codec::Bytes),
        ];
        let types = builtins
            .into_iter()
            .map(|t| (t.name.clone(), Arc::new(t)))
            .collect();
        TypeRegistry {
            types: Arc::new(RwLock::new(types)),
        }
    }

    /// Registers a custom type. A real type replaces an [`opaque`](TypeInfo::opaque)
    /// placeholder of the same name, so values read as opaque bytes become loadable.
    ///
    /// # Errors
    /// [`Error::TypeAlreadyRegistered`] if the name is taken (built-in names included).
    pub fn register(&self, info: TypeInfo) -> Result<()> {
        // A panic elsewhere while holding the lock cannot leave the map half-updated (every
        // update is one insert), so a poisoned lock is safe to use.
        let mut types = self.types.write().unwrap_or_else(PoisonError::into_inner);
        let replaceable = types
            .get(&info.name)
            .is_some_and(|old| old.is_opaque() && !info.is_opaque());
        if types.contains_key(&info.name) && !replaceable {
            return Err(Error::TypeAlreadyRegistered {
                type_name: info.name,
            });
        }
        types.insert(info.name.clone(), Arc::new(info));
        Ok(())
    }

    /// The type registered under `name`.
    ///
    /// # Errors
    /// [`Error::UnknownType`] if there is none.
    pub fn get(&self, name: &str) -> Result<Arc<TypeInfo>> {
        let types = self.types.read().unwrap_or_else(PoisonError::into_inner);
        types.get(name).cloned().ok_or_else(|| Error::UnknownType {
            type_name: name.to_owned(),
        })
    }

    /// The type registered under `name`, after checking `bytes` handed over already encoded
    /// as that type ([`TypeInfo::check_bytes`]): what every backend's `save_bytes` asks first.
    ///
    /// # Errors
    /// [`Error::UnknownType`]; [`Error::NestedTooDeep`].
    pub(crate) fn accept(&self, name: &str, bytes: &[u8]) -> Result<Arc<TypeInfo>> {
        let info = self.get(name)?;
        info.check_bytes(bytes)?;
        Ok(info)
    }

    /// The registered type names, sorted.
    pub fn names(&self) -> Vec<String> {
        let types = self.types.read().unwrap_or_else(PoisonError::into_inner);
        types.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pickle::fixtures::{OBJECT_P0, PLAIN_P5, unhex};
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Metrics {
        acc: f64,
        epochs: u32,
    }

    #[test]
    fn builtin_types_round_trip() -> Result<()> {
        let reg = TypeRegistry::new();
        let m = Metrics {
            acc: 0.5,
            epochs: 3,
        };
        for t in [JSON, BINARY, PICKLE] {
            let info = reg.get(t)?;
            assert_eq!(info.decode::<Metrics>(&info.encode(&m)?)?, m);
        }
        let text = reg.get(TEXT)?;
        assert_eq!(text.decode::<String>(&text.encode(&"héllo")?)?, "héllo");
        let bytes = reg.get(BYTES)?;
        assert_eq!(
            bytes.decode::<Vec<u8>>(&bytes.encode(&vec![0u8, 255])?)?,
            [0, 255]
        );
        Ok(())
    }

    #[test]
    fn an_opaque_type_keeps_bytes_and_gives_way_to_a_real_one() -> Result<()> {
        let reg = TypeRegistry::new();
        reg.register(TypeInfo::opaque("csv", "csv"))?;
        let opaque = reg.get("csv")?;
        assert!(opaque.is_opaque());
        let refused = opaque.decode::<String>(b"a,b");
        assert!(
            refused.is_err_and(|e| e.to_string().contains("opaque bytes")),
            "an opaque value decoded or said something else"
        );
        assert!(matches!(
            reg.register(TypeInfo::opaque("csv", "txt")),
            Err(Error::TypeAlreadyRegistered { .. })
        ));
        let real = TypeInfo::custom::<String>(
            "csv",
            "csv",
            false,
            |s, w| w.write_all(s.as_bytes()),
            |r| {
                let mut s = String::new();
                r.read_to_string(&mut s)?;
                Ok(s)
            },
        );
        reg.register(real)?;
        assert_eq!(reg.get("csv")?.decode_custom::<String>(b"a,b")?, "a,b");
        assert!(matches!(
            reg.register(TypeInfo::opaque("csv", "csv")),
            Err(Error::TypeAlreadyRegistered { .. })
        ));
        Ok(())
    }

    #[test]
    fn wrong_rust_types_are_typed_errors() -> Result<()> {
        let reg = TypeRegistry::new();
        let json = reg.get(JSON)?;
        let stored = json.encode(&"a string")?;
        assert!(matches!(
            json.decode::<Metrics>(&stored),
            Err(Error::Decode { .. })
        ));
        let bytes = reg.get(BYTES)?;
        assert!(matches!(
            bytes.decode::<String>(b"x"),
            Err(Error::WrongRustType { .. })
        ));
        assert!(matches!(
            reg.get(TEXT)?.encode(&5u32),
            Err(Error::WrongRustType { .. })
        ));
        assert!(matches!(
            reg.get(BINARY)?.decode::<u8>(&[1, 2, 3]),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(reg.get("npy"), Err(Error::UnknownType { .. })));
        Ok(())
    }

    #[test]
    fn custom_types_register_once_and_check_their_rust_type() -> Result<()> {
        let reg = TypeRegistry::new();
        let csv = TypeInfo::custom::<Vec<u32>>(
            "csv",
            "csv",
            false,
            |v, w| {
                let line: Vec<String> = v.iter().map(u32::to_string).collect();
                w.write_all(line.join(",").as_bytes())
            },
            |r| {
                let mut s = String::new();
                r.read_to_string(&mut s)?;
                s.split(',')
                    .map(|x| x.parse().map_err(io::Error::other))
                    .collect()
            },
        );
        reg.register(csv.clone())?;
        assert!(matches!(
            reg.register(csv),
            Err(Error::TypeAlreadyRegistered { .. })
        ));
        let info = reg.get("csv")?;
        let stored = info.encode_custom(&vec![1u32, 2, 3])?;
        assert_eq!(stored, b"1,2,3");
        assert_eq!(info.decode_custom::<Vec<u32>>(&stored)?, [1, 2, 3]);
        assert!(matches!(
            info.decode_custom::<String>(&stored),
            Err(Error::WrongRustType { .. })
        ));
        assert!(matches!(
            info.decode_custom::<Vec<u32>>(b"1,x"),
            Err(Error::Decode { .. })
        ));
        Ok(())
    }

    #[test]
    fn path_types_need_a_path() -> Result<()> {
        let info = TypeInfo::custom_path::<String>(
            "dir",
            "",
            true,
            |v, p| std::fs::write(p, v),
            |p| std::fs::read_to_string(p),
        );
        assert!(info.needs_path());
        assert!(matches!(
            info.encode(&"x".to_owned()),
            Err(Error::NeedsPath { .. })
        ));
        let dir = tempfile::tempdir().map_err(|source| Error::Stream {
            op: "create a temporary directory",
            source,
        })?;
        let path = dir.path().join("v");
        info.save_to_path(&"kept".to_owned(), &path)?;
        assert_eq!(info.load_from_path::<String>(&path)?, "kept");
        Ok(())
    }

    #[test]
    fn the_pickle_type_reads_python_pickles_and_writes_what_it_reads() -> Result<()> {
        let pickle = TypeRegistry::new().get(PICKLE)?;
        let value: (f64, Option<u8>, bool, String, (u8,)) = pickle.decode(&unhex(PLAIN_P5))?;
        assert_eq!(value, (1.5, None, true, "x".to_owned(), (1,)));
        let written = pickle.encode(&serde_json::json!({"lr": 0.5, "tags": ["a"]}))?;
        assert_eq!(
            crate::pickle::decode_value(&written, &serde_json::Map::new()).map_err(|reason| {
                Error::Decode {
                    type_name: PICKLE.to_owned(),
                    reason,
                }
            })?,
            serde_json::json!({"lr": 0.5, "tags": ["a"]})
        );
        assert!(matches!(
            pickle.decode::<serde_json::Value>(&unhex(OBJECT_P0)),
            Err(Error::Decode { .. })
        ));
        Ok(())
    }
}
