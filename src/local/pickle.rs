//! Reading Python pickles written by fluidml: its load-information dicts and its `pickle`
//! results that hold plain data. Decoding uses `serde-pickle`, which interprets the pickle
//! opcodes as data and never executes anything.
//!
//! Invariants: a pickle that refers to a Python class or function (an object of a custom
//! class, a numpy array, ...) is a decode error saying so, never a crash; values become JSON
//! as Python's `json` module would write them (dict keys become strings, tuples and sets
//! become arrays), and what JSON cannot hold (NaN, infinities, integers beyond 64 bits) is an
//! error naming the problem.

use std::io;

use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};
use serde_pickle::value::{HashableValue, Value as Pickled};
use serde_pickle::{DeOptions, Error as PickleError, ErrorCode};

use crate::codec::TypeInfo;

/// The type name under which fluidml's `pickle` results are read: Python's pickle format
/// (the crate's own `pickle` type is an alias of `binary`, postcard).
pub const PYTHON_PICKLE: &str = "python_pickle";

/// The `python_pickle` type: loads plain-data pickles as a [`serde_json::Value`]; saving is
/// not supported (sweepstore does not write Python pickles).
pub(crate) fn type_info() -> TypeInfo {
    TypeInfo::custom::<Value>(
        PYTHON_PICKLE,
        "p",
        true,
        |_, _| {
            Err(io::Error::other(
                "sweepstore reads Python pickles written by fluidml but does not write them; \
                 save the value as json or binary",
            ))
        },
        |reader| {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes)?;
            decode_value(&bytes, &Map::new()).map_err(io::Error::other)
        },
    )
}

/// Decodes a pickle into `T` (for fluidml's load-information dicts).
pub(crate) fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_pickle::from_slice(bytes, DeOptions::new()).map_err(|e| describe(&e))
}

/// Decodes a plain-data pickle into JSON. Load options (fluidml's `load_kwargs`) understood:
/// `replace_unresolved_globals: true` reads references to Python classes or functions as
/// `null` instead of failing; `decode_strings: true` decodes Python 2 byte strings as text.
/// Other options are Python's and are ignored.
pub(crate) fn decode_value(bytes: &[u8], options: &Map<String, Value>) -> Result<Value, String> {
    let flag = |key: &str| options.get(key).and_then(Value::as_bool) == Some(true);
    let mut de = DeOptions::new();
    if flag("replace_unresolved_globals") {
        de = de.replace_unresolved_globals();
    }
    if flag("decode_strings") {
        de = de.decode_strings();
    }
    let value = serde_pickle::value_from_slice(bytes, de).map_err(|e| describe(&e))?;
    to_json(value)
}

/// A sentence for a pickle error, explaining the common one: a custom Python class.
fn describe(error: &PickleError) -> String {
    match error {
        PickleError::Syntax(ErrorCode::UnresolvedGlobal | ErrorCode::UnsupportedGlobal(..)) => {
            "cannot decode this Python pickle without Python: it refers to a Python class or \
             function (an object of a custom class?); only plain data (dict, list, tuple, set, \
             str, bytes, int, float, bool, None) can be read — pass the load option \
             `replace_unresolved_globals: true` to read such objects as null"
                .to_owned()
        }
        other => format!("cannot decode this Python pickle: {other}"),
    }
}

fn to_json(value: Pickled) -> Result<Value, String> {
    Ok(match value {
        Pickled::None => Value::Null,
        Pickled::Bool(b) => Value::Bool(b),
        Pickled::I64(i) => Value::from(i),
        Pickled::Int(big) => {
            return Err(format!("the integer {big} does not fit in 64 bits"));
        }
        Pickled::F64(f) => Value::Number(
            Number::from_f64(f).ok_or_else(|| format!("the float {f} is not valid JSON"))?,
        ),
        Pickled::Bytes(bytes) => Value::Array(bytes.into_iter().map(Value::from).collect()),
        Pickled::String(s) => Value::String(s),
        Pickled::List(items) | Pickled::Tuple(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Pickled::Set(items) | Pickled::FrozenSet(items) => Value::Array(
            items
                .into_iter()
                .map(|item| to_json(item.into_value()))
                .collect::<Result<_, _>>()?,
        ),
        Pickled::Dict(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                map.insert(key_text(key)?, to_json(value)?);
            }
            Value::Object(map)
        }
    })
}

/// A dict key as Python's `json` writes it.
fn key_text(key: HashableValue) -> Result<String, String> {
    Ok(match key {
        HashableValue::String(s) => s,
        HashableValue::None => "null".to_owned(),
        HashableValue::Bool(b) => if b { "true" } else { "false" }.to_owned(),
        HashableValue::I64(i) => i.to_string(),
        HashableValue::F64(f) => f.to_string(),
        other => {
            return Err(format!(
                "the dict key {other:?} cannot be a JSON object key"
            ));
        }
    })
}
