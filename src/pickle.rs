//! Python pickles without Python: the `pickle` result type's plain-data reading (see
//! `codec.rs`) and fluidml's load-information dicts. Decoding uses `serde-pickle`, which
//! interprets the pickle opcodes as data and never executes anything.
//!
//! Invariants: a pickle that refers to a Python class or function (an object of a custom
//! class, a numpy array, ...) is a decode error saying so, never a crash; values become JSON
//! as Python's `json` module would write them (dict keys become strings, tuples and sets
//! become arrays), and what JSON cannot hold (NaN, infinities, integers outside
//! `i64::MIN..=u64::MAX`, nesting past [`MAX_DEPTH`]) is an error naming the problem.

use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};
use serde_pickle::value::{HashableValue, Value as Pickled};
use serde_pickle::{DeOptions, Error as PickleError, ErrorCode};

use crate::limits::{self, MAX_DEPTH};
use crate::pickle_ops::{self, Op, Ops};

/// fluidml's load information as sweepstore writes it (a pickled dict fluidml 0.3.4's
/// `LocalFileStore._get_load_info` reads), with one key fluidml ignores, `sweepstore`, that
/// marks the file as written by sweepstore (`docs/design.md` §12.3).
#[derive(serde::Serialize)]
struct WrittenLoadInfo<'a> {
    open_kwargs: &'a Map<String, Value>,
    load_kwargs: &'a Map<String, Value>,
    obj_dir: &'a str,
    type_: &'a str,
    sweepstore: u32,
}

/// Encodes fluidml's load information for a result of fluidml type `type_` in `obj_dir`.
pub(crate) fn encode_load_info(
    type_: &str,
    obj_dir: &str,
    open_kwargs: &Map<String, Value>,
    load_kwargs: &Map<String, Value>,
) -> Result<Vec<u8>, String> {
    let info = WrittenLoadInfo {
        open_kwargs,
        load_kwargs,
        obj_dir,
        type_,
        sweepstore: 1,
    };
    serde_pickle::to_vec(&info, serde_pickle::SerOptions::new()).map_err(|e| e.to_string())
}

/// Decodes a pickle into `T` (for fluidml's load-information dicts).
pub(crate) fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    check_depth(bytes)?;
    serde_pickle::from_slice(bytes, DeOptions::new()).map_err(|e| describe(&e))
}

/// Decodes a plain-data pickle into JSON. Load options (fluidml's `load_kwargs`) understood:
/// `replace_unresolved_globals: true` reads references to Python classes or functions as
/// `null` instead of failing; `decode_strings: true` decodes Python 2 byte strings as text.
/// Other options are Python's and are ignored.
pub(crate) fn decode_value(bytes: &[u8], options: &Map<String, Value>) -> Result<Value, String> {
    check_depth(bytes)?;
    let flag = |key: &str| options.get(key).and_then(Value::as_bool) == Some(true);
    let mut de = DeOptions::new();
    if flag("replace_unresolved_globals") {
        de = de.replace_unresolved_globals();
    } else if let Some(class) = python_object(bytes) {
        // serde-pickle would read an object as its attribute dict, silently dropping what
        // it was; refuse instead, unless the caller asked for that best effort.
        return Err(format!(
            "cannot decode this Python pickle without Python: it holds an object of the \
             Python class `{class}`; only plain data (dict, list, tuple, set, str, bytes, int, \
             float, bool, None) can be read. Pass the load option \
             `replace_unresolved_globals: true` to read objects as their attributes and \
             other references as null"
        ));
    }
    if flag("decode_strings") {
        de = de.decode_strings();
    }
    let value = serde_pickle::value_from_slice(bytes, de).map_err(|e| describe(&e))?;
    let value = to_json(value)?;
    // Bytes become arrays of numbers: a level the pickle itself does not have.
    if limits::value_too_deep(&value, MAX_DEPTH).is_some() {
        return Err(too_deep_message());
    }
    Ok(value)
}

/// The class of the first Python object (anything beyond plain data) a pickle builds, by
/// walking its opcodes; `None` for plain data, and for a stream too damaged to walk (the
/// decoder reports that).
fn python_object(bytes: &[u8]) -> Option<String> {
    // Globals serde-pickle itself maps to plain data.
    const PLAIN: [&str; 11] = [
        "_codecs.encode",
        "builtins.set",
        "builtins.frozenset",
        "builtins.list",
        "builtins.bytearray",
        "builtins.int",
        "__builtin__.set",
        "__builtin__.frozenset",
        "__builtin__.list",
        "__builtin__.bytearray",
        "__builtin__.int",
    ];
    let mut strings: Vec<String> = Vec::new();
    let mut last_global: Option<String> = None;
    let text = |arg: &[u8]| String::from_utf8_lossy(arg).into_owned();
    for Op { code, arg } in Ops::new(bytes) {
        match code {
            // Opcodes that build or name objects of classes.
            b'i' => return Some(text(arg).replacen('\n', ".", 1)),
            b'o' | 0x81 | 0x92 | b'b' | b'P' | b'Q' | 0x82..=0x84 => {
                return Some(last_global.unwrap_or_else(|| "?".into()));
            }
            b'c' | 0x93 => {
                let global = if code == b'c' {
                    text(arg).replacen('\n', ".", 1)
                } else {
                    let name = strings.pop()?;
                    format!("{}.{name}", strings.pop()?)
                };
                if !PLAIN.contains(&global.as_str()) {
                    return Some(global);
                }
                last_global = Some(global);
            }
            0x8c | b'X' | 0x8d => strings.push(text(arg)),
            _ => {}
        }
    }
    None
}

/// Refuses, before `serde-pickle` reads it (which recurses once per level), a pickle nesting
/// deeper than [`MAX_DEPTH`].
pub(crate) fn check_depth(bytes: &[u8]) -> Result<(), String> {
    if pickle_ops::too_deep(bytes, MAX_DEPTH) {
        return Err(too_deep_message());
    }
    Ok(())
}

fn too_deep_message() -> String {
    format!(
        "this Python pickle nests lists and dicts deeper than {MAX_DEPTH} levels, the limit \
         every sweepstore reader holds to"
    )
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
        // serde-pickle gives integers outside `i64` as big integers; `u64` holds the rest of
        // what a JSON value here can.
        Pickled::Int(big) => {
            let digits = big.to_string();
            let Ok(unsigned) = digits.parse::<u64>() else {
                return Err(format!(
                    "the integer {digits} is outside the range of JSON integers sweepstore \
                     reads ({} to {}); store it as a string or a float",
                    i64::MIN,
                    u64::MAX
                ));
            };
            Value::from(unsigned)
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

/// Pickles written by Python, shared by the tests here and those of the `pickle` type in
/// `codec.rs`.
#[cfg(test)]
pub(crate) mod fixtures {
    /// The bytes of a hex string.
    pub(crate) fn unhex(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
            .collect()
    }

    /// `pickle.dumps([1.5, None, True, 'x', (1,)], protocol=5)`
    pub(crate) const PLAIN_P5: &str =
        "80059518000000000000005d9428473ff80000000000004e888c0178944b018594652e";
    /// `pickle.dumps(c, protocol=0)` for an object `c` of a class `C` in `__main__`.
    pub(crate) const OBJECT_P0: &str = "63636f70795f7265670a5f7265636f6e7374727563746f720a70300a28635f5f6d61696e5f5f0a430a70310a635f5f6275696c74696e5f5f0a6f626a6563740a70320a4e7470330a5270340a286470350a56780a70360a49310a73622e";
}

#[cfg(test)]
mod tests {
    use super::fixtures::{OBJECT_P0, PLAIN_P5, unhex};
    use super::*;
    use serde_json::json;

    /// `pickle.dumps({'s': {1, 2}, 'b': b'ab'}, protocol=2)`: sets and bytes go through the
    /// globals `__builtin__.set` and `_codecs.encode`, which are plain data.
    const SET_AND_BYTES_P2: &str = "80027d7100285801000000737101635f5f6275696c74696e5f5f0a7365740a71025d7103284b014b02658571045271055801000000627106635f636f646563730a656e636f64650a710758020000006162710858060000006c6174696e31710986710a52710b752e";
    /// `pickle.dumps(collections.OrderedDict(a=1), protocol=4)`
    const ORDERED_DICT_P4: &str = "80049529000000000000008c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c0161944b01732e";

    #[test]
    fn plain_data_decodes_at_every_protocol() -> Result<(), String> {
        let none = Map::new();
        assert_eq!(
            decode_value(&unhex(PLAIN_P5), &none)?,
            json!([1.5, null, true, "x", [1]])
        );
        let value = decode_value(&unhex(SET_AND_BYTES_P2), &none)?;
        assert_eq!(value["s"], json!([1, 2]));
        Ok(())
    }

    #[test]
    fn objects_of_python_classes_are_refused_with_their_class() {
        let none = Map::new();
        let refused = decode_value(&unhex(OBJECT_P0), &none);
        assert!(refused.is_err_and(|e| e.contains("copy_reg._reconstructor")));
        let refused = decode_value(&unhex(ORDERED_DICT_P4), &none);
        assert!(refused.is_err_and(|e| e.contains("collections.OrderedDict")));
    }

    /// `pickle.dumps([2**63, 2**64-1, -2**63, 2**63-1], protocol=4)`
    const U64_EDGES_P4: &str = "8004952f000000000000005d94288a090000000000000080008a09ffffffffffffffff008a0800000000000000808a08ffffffffffffff7f652e";
    /// `pickle.dumps([2**64-1], protocol=0)`: a `LONG` opcode with decimal digits.
    const U64_MAX_P0: &str = "286c70300a4c31383434363734343037333730393535313631354c0a612e";
    /// `pickle.dumps([2**64], protocol=4)` and `pickle.dumps([-2**63-1], protocol=0)`
    const BEYOND: [&str; 2] = [
        "8004950f000000000000005d948a09000000000000000001612e",
        "286c70300a4c2d393232333337323033363835343737353830394c0a612e",
    ];

    #[test]
    fn integers_load_across_the_i64_and_u64_ranges() -> Result<(), String> {
        let none = Map::new();
        assert_eq!(
            decode_value(&unhex(U64_EDGES_P4), &none)?,
            json!([1u64 << 63, u64::MAX, i64::MIN, i64::MAX])
        );
        assert_eq!(decode_value(&unhex(U64_MAX_P0), &none)?, json!([u64::MAX]));
        for (hex, digits) in BEYOND
            .iter()
            .zip(["18446744073709551616", "-9223372036854775809"])
        {
            let refused = decode_value(&unhex(hex), &none);
            assert!(
                refused
                    .as_ref()
                    .is_err_and(|e| e.contains(digits) && e.contains("range")),
                "{refused:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn pickles_nested_past_the_limit_are_refused() -> Result<(), String> {
        let nested = crate::pickle_ops::tests::appended;
        let none = Map::new();
        let at_limit = decode_value(&nested(MAX_DEPTH), &none)?;
        assert_eq!(limits::value_too_deep(&at_limit, MAX_DEPTH), None);
        let refused = decode_value(&nested(MAX_DEPTH + 1), &none);
        assert!(refused.is_err_and(|e| e.contains("64 levels")));
        Ok(())
    }

    #[test]
    fn truncated_pickles_are_errors() {
        let bytes = unhex(PLAIN_P5);
        for end in [0, 1, 5, bytes.len() - 1] {
            assert!(decode_value(&bytes[..end], &Map::new()).is_err(), "{end}");
        }
    }
}
