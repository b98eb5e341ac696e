//! Unique configs: the JSON object that identifies one run of a task.
//!
//! Invariants: a [`UniqueConfig`] is always a JSON object whose canonical form (RFC 8785, see
//! `config/canonical.rs`) exists; equality, hashing and the run key depend only on that canonical
//! form, so key order and `1` versus `1.0` never matter. The subset relation compares
//! top-level members by their canonical text. A config nests at most
//! [`MAX_DEPTH`](crate::MAX_DEPTH) levels and its canonical text is at most
//! [`MAX_CONFIG_LEN`](crate::MAX_CONFIG_LEN) bytes (`limits.rs`), checked before anything
//! recurses over it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::ConfigError;
use super::{canonical, text};
use crate::limits::{self, MAX_CONFIG_LEN, MAX_DEPTH};

/// The configuration that identifies one run of a task, e.g. `{"lr": 0.01, "seed": 3}`.
///
/// Build one from a `serde_json::Value` object ([`UniqueConfig::new`], or `TryFrom`) or from
/// JSON text ([`UniqueConfig::parse`], or `FromStr`).
///
/// Beware: `serde_json` turns a NaN or infinite `f64` into `null` while building a `Value`
/// (`json!({"lr": f64::NAN})` is `{"lr": null}`), before this type can see it; check floats
/// before building a config from computed values. JSON text cannot hold them at all. Two configs are equal when their
/// canonical forms are, so `{"b":1,"a":2.0}` equals `{"a":2,"b":1}`.
#[derive(Clone)]
pub struct UniqueConfig {
    map: Map<String, Value>,
    canonical: String,
    /// Top-level members as (key, canonical value text), sorted like the canonical form.
    members: Vec<(String, String)>,
}

impl UniqueConfig {
    /// Validates `value` and computes its canonical form.
    ///
    /// # Errors
    /// [`ConfigError::NotObject`] unless `value` is an object; [`ConfigError::InexactInteger`]
    /// for integers that canonical JSON would change (beyond what a double holds exactly);
    /// [`ConfigError::TooDeep`] past [`MAX_DEPTH`](crate::MAX_DEPTH) levels and
    /// [`ConfigError::TooLarge`] past [`MAX_CONFIG_LEN`](crate::MAX_CONFIG_LEN) bytes of
    /// canonical text.
    pub fn new(value: Value) -> Result<Self, ConfigError> {
        match value {
            Value::Object(map) => Self::from_map(map),
            other => Err(ConfigError::NotObject {
                found: kind_of(&other),
            }),
        }
    }

    /// Like [`UniqueConfig::new`] for a map that is already an object.
    ///
    /// # Errors
    /// As [`UniqueConfig::new`].
    pub fn from_map(map: Map<String, Value>) -> Result<Self, ConfigError> {
        // Checked first, without recursion: the canonical writer recurses once per level.
        if let Some(path) = limits::map_too_deep(&map, MAX_DEPTH) {
            limits::drop_flat(map);
            return Err(ConfigError::TooDeep {
                path,
                limit: MAX_DEPTH,
            });
        }
        let mut members = Vec::with_capacity(map.len());
        for (key, value) in canonical::sorted_members(&map) {
            let mut text = String::new();
            canonical::write_value(&mut text, value, &canonical::member_path("", key))?;
            members.push((key.clone(), text));
        }
        let mut canonical = String::from("{");
        for (i, (key, value)) in members.iter().enumerate() {
            if i > 0 {
                canonical.push(',');
            }
            canonical::write_value(&mut canonical, &Value::String(key.clone()), "")?;
            canonical.push(':');
            canonical.push_str(value);
        }
        canonical.push('}');
        if canonical.len() > MAX_CONFIG_LEN {
            return Err(ConfigError::TooLarge {
                len: canonical.len(),
                limit: MAX_CONFIG_LEN,
            });
        }
        Ok(UniqueConfig {
            map,
            canonical,
            members,
        })
    }

    /// Parses JSON text.
    ///
    /// # Errors
    /// [`ConfigError::Json`] if the text is not JSON (this includes `NaN`, `Infinity` and
    /// numbers too large for a double); [`ConfigError::DuplicateKey`] if an object at any
    /// depth names a key twice; [`ConfigError::TooDeep`] past
    /// [`MAX_DEPTH`](crate::MAX_DEPTH) levels, however deep the text nests; [`ConfigError::InexactInteger`] for an integer literal (no
    /// `.`, no exponent) of any size whose canonical text differs from its digits, such as
    /// `18446744073709551616` (canonical `18446744073709552000`); then as
    /// [`UniqueConfig::new`]. The first problem in text order is reported.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        Self::new(text::parse_value(text)?)
    }

    /// The empty config `{}`.
    pub fn empty() -> Self {
        UniqueConfig {
            map: Map::new(),
            canonical: "{}".to_owned(),
            members: Vec::new(),
        }
    }

    /// The config as given (before canonicalization).
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// The config as a JSON value (a clone of [`UniqueConfig::as_map`]).
    pub fn to_value(&self) -> Value {
        Value::Object(self.map.clone())
    }

    /// The canonical (RFC 8785) text: what run keys are computed from.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The value of a top-level key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// Number of top-level keys.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the config is `{}`.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Top-level members as (key, canonical value text), sorted like the canonical form.
    #[cfg(feature = "mongodb")]
    pub(crate) fn members(&self) -> &[(String, String)] {
        &self.members
    }

    /// Whether every top-level key of `self` is in `other` with a canonically equal value
    /// (fluidml's subset rule). Every config is a subset of itself; `{}` of every config.
    pub fn is_subset_of(&self, other: &UniqueConfig) -> bool {
        if self.members.len() > other.members.len() {
            return false;
        }
        let mut theirs = other.members.iter();
        // Both lists are sorted the same way, so one merge pass suffices.
        'ours: for (key, value) in &self.members {
            for (their_key, their_value) in theirs.by_ref() {
                if their_key == key {
                    if their_value == value {
                        continue 'ours;
                    }
                    return false;
                }
            }
            return false;
        }
        true
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl PartialEq for UniqueConfig {
    fn eq(&self, other: &Self) -> bool {
        self.canonical == other.canonical
    }
}

impl Eq for UniqueConfig {}

impl std::hash::Hash for UniqueConfig {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.canonical.hash(state);
    }
}

impl fmt::Debug for UniqueConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UniqueConfig({})", self.canonical)
    }
}

/// Displays the canonical form.
impl fmt::Display for UniqueConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl FromStr for UniqueConfig {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        Self::parse(s)
    }
}

impl TryFrom<Value> for UniqueConfig {
    type Error = ConfigError;
    fn try_from(value: Value) -> Result<Self, ConfigError> {
        Self::new(value)
    }
}

impl Serialize for UniqueConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for UniqueConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        Self::from_map(map).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(v: Value) -> Result<UniqueConfig, ConfigError> {
        UniqueConfig::new(v)
    }

    #[test]
    fn key_order_and_number_spelling_do_not_matter() -> Result<(), ConfigError> {
        let a = UniqueConfig::parse(r#"{"b":1,"a":2.0}"#)?;
        let b = cfg(json!({"a": 2, "b": 1}))?;
        assert_eq!(a, b);
        assert_eq!(a.canonical(), r#"{"a":2,"b":1}"#);
        Ok(())
    }

    #[test]
    fn non_objects_and_bad_text_are_rejected() {
        assert_eq!(
            cfg(json!([1])),
            Err(ConfigError::NotObject { found: "an array" })
        );
        assert!(matches!(
            UniqueConfig::parse(r#"{"lr": NaN}"#),
            Err(ConfigError::Json { .. })
        ));
        assert!(matches!(
            UniqueConfig::parse(r#"{"lr": 1e400}"#),
            Err(ConfigError::Json { .. })
        ));
        assert!(matches!(
            UniqueConfig::parse(r#"{"a": {"seed": 9007199254740993}}"#),
            Err(ConfigError::InexactInteger { path, .. }) if path == "a.seed"
        ));
    }

    #[test]
    fn duplicate_keys_are_rejected_at_any_depth_with_their_path() {
        for (text, path) in [
            (r#"{"a":1,"a":2}"#, "a"),
            (r#"{"a":1,"a":1}"#, "a"),
            (r#"{"a":1,"b":2,"a":{}}"#, "a"),
            (r#"{"opt":{"lr":0.1,"lr":0.2}}"#, "opt.lr"),
            (r#"{"x":[0,1,{"k":1,"k":2}]}"#, "x[2].k"),
            (r#"{"x":[[{"a":{"b":null,"b":null}}]]}"#, "x[0][0].a.b"),
            // Two spellings of one key are one key.
            (r#"{"é":1,"\u00e9":2}"#, "é"),
        ] {
            assert_eq!(
                UniqueConfig::parse(text),
                Err(ConfigError::DuplicateKey {
                    path: path.to_owned()
                }),
                "text {text}"
            );
        }
    }

    #[test]
    fn equal_keys_in_different_objects_are_not_duplicates() -> Result<(), ConfigError> {
        let config = UniqueConfig::parse(r#"{"a":{"a":1},"b":[{"a":1},{"a":2}],"c":{"a":{}}}"#)?;
        assert_eq!(
            config.canonical(),
            r#"{"a":{"a":1},"b":[{"a":1},{"a":2}],"c":{"a":{}}}"#
        );
        Ok(())
    }

    #[test]
    fn integer_literals_beyond_u64_are_inexact_not_rounded() {
        for (text, path, value, canonical) in [
            (
                r#"{"seed":18446744073709551616}"#,
                "seed",
                "18446744073709551616",
                "18446744073709552000",
            ),
            (
                r#"{"a":{"b":[1,123456789012345678901234567890]}}"#,
                "a.b[1]",
                "123456789012345678901234567890",
                "1.2345678901234568e+29",
            ),
            (
                r#"{"n":-9223372036854775809}"#,
                "n",
                "-9223372036854775809",
                "-9223372036854776000",
            ),
            (
                r#"{"big":1000000000000000000000}"#,
                "big",
                "1000000000000000000000",
                "1e+21",
            ),
            // Within u64, as before (now caught while parsing, with the same error).
            (
                r#"{"seed":9007199254740993}"#,
                "seed",
                "9007199254740993",
                "9007199254740992",
            ),
        ] {
            assert_eq!(
                UniqueConfig::parse(text),
                Err(ConfigError::InexactInteger {
                    path: path.to_owned(),
                    value: value.to_owned(),
                    canonical: canonical.to_owned(),
                }),
                "text {text}"
            );
        }
    }

    #[test]
    fn big_numbers_written_as_doubles_or_exact_integers_are_accepted() -> Result<(), ConfigError> {
        let config = UniqueConfig::parse(
            r#"{"a":1.8446744073709552e19,"b":18446744073709552000,"c":100000000000000000000,"d":1e21,"e":"18446744073709551616","f":18446744073709551616.0}"#,
        )?;
        assert_eq!(
            config.canonical(),
            r#"{"a":18446744073709552000,"b":18446744073709552000,"c":100000000000000000000,"d":1e+21,"e":"18446744073709551616","f":18446744073709552000}"#
        );
        Ok(())
    }

    #[test]
    fn the_first_problem_in_the_text_is_the_one_reported() {
        assert!(matches!(
            UniqueConfig::parse(r#"{"a":18446744073709551616,"a":1}"#),
            Err(ConfigError::InexactInteger { path, .. }) if path == "a"
        ));
        assert_eq!(
            UniqueConfig::parse(r#"{"a":1,"a":18446744073709551616}"#),
            Err(ConfigError::DuplicateKey {
                path: "a".to_owned()
            })
        );
        assert!(matches!(
            UniqueConfig::parse(r#"{"a":1e400,"b":18446744073709551616}"#),
            Err(ConfigError::Json { .. })
        ));
        assert!(matches!(
            UniqueConfig::parse(r#"{"a":1,"a":2"#),
            Err(ConfigError::DuplicateKey { .. })
        ));
    }

    /// `{"a": {"a": ... {"a": 1}}}` with `levels` objects.
    fn nested_objects(levels: usize) -> Value {
        (0..levels).fold(json!(1), |inner, _| json!({ "a": inner }))
    }

    #[test]
    fn configs_nest_up_to_the_limit_and_no_further() -> Result<(), ConfigError> {
        let deepest = cfg(nested_objects(MAX_DEPTH))?;
        assert_eq!(UniqueConfig::parse(deepest.canonical())?, deepest);
        let path = vec!["a"; MAX_DEPTH].join(".");
        let too_deep = ConfigError::TooDeep {
            path,
            limit: MAX_DEPTH,
        };
        assert_eq!(cfg(nested_objects(MAX_DEPTH + 1)), Err(too_deep.clone()));
        let text = nested_objects(MAX_DEPTH + 1).to_string();
        assert_eq!(UniqueConfig::parse(&text), Err(too_deep.clone()));
        assert!(too_deep.to_string().contains("deeper than 64 levels"));
        // Arrays count as levels too; the config object itself is level 1.
        let arrays = (1..MAX_DEPTH).fold(json!(1), |inner, _| json!([inner]));
        cfg(json!({ "x": arrays.clone() }))?;
        assert!(matches!(
            cfg(json!({ "x": [arrays] })),
            Err(ConfigError::TooDeep { path, .. }) if path.starts_with("x[0]")
        ));
        Ok(())
    }

    #[test]
    fn configs_of_any_depth_are_checked_on_a_small_stack() -> std::io::Result<()> {
        const LEVELS: usize = 200_000;
        // A quarter of a default thread's stack: enough for the at most `MAX_DEPTH` levels the
        // parser recurses (unoptimized), far from what 200 000 levels would take.
        const STACK: usize = 512 * 1024;
        let text = "{\"a\":".repeat(LEVELS) + "1" + &"}".repeat(LEVELS);
        let value = (0..LEVELS).fold(json!(1), |inner, _| Value::Array(vec![inner]));
        let checked = std::thread::Builder::new()
            .stack_size(STACK)
            .spawn(move || {
                let parsed = UniqueConfig::parse(&text).map(drop);
                // Not `json!`, which would copy the value recursively.
                let built = UniqueConfig::from_map(Map::from_iter([("x".to_owned(), value)]));
                (parsed, built.map(drop))
            })?
            .join()
            .map_err(|_| std::io::Error::other("a config check overflowed its stack"))?;
        assert!(matches!(checked.0, Err(ConfigError::TooDeep { .. })));
        assert!(matches!(checked.1, Err(ConfigError::TooDeep { .. })));
        Ok(())
    }

    #[test]
    fn canonical_text_past_the_size_limit_is_refused() -> Result<(), ConfigError> {
        // `{"s":"…"}` is 8 bytes around the string.
        let fits = "x".repeat(MAX_CONFIG_LEN - 8);
        assert_eq!(cfg(json!({ "s": fits }))?.canonical().len(), MAX_CONFIG_LEN);
        let over = "x".repeat(MAX_CONFIG_LEN - 7);
        assert_eq!(
            cfg(json!({ "s": over })),
            Err(ConfigError::TooLarge {
                len: MAX_CONFIG_LEN + 1,
                limit: MAX_CONFIG_LEN
            })
        );
        Ok(())
    }

    #[test]
    fn subset_compares_top_level_members_canonically() -> Result<(), ConfigError> {
        let small = cfg(json!({"lr": 1.0, "opt": {"b": 1, "a": 2}}))?;
        let big = cfg(json!({"opt": {"a": 2, "b": 1}, "lr": 1, "seed": 3}))?;
        assert!(small.is_subset_of(&big));
        assert!(!big.is_subset_of(&small));
        assert!(UniqueConfig::empty().is_subset_of(&small));
        assert!(small.is_subset_of(&small));
        let other = cfg(json!({"lr": 2, "opt": {"a": 2, "b": 1}}))?;
        assert!(!other.is_subset_of(&big));
        let missing = cfg(json!({"zz": 1}))?;
        assert!(!missing.is_subset_of(&big));
        Ok(())
    }
}
