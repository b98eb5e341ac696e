//! Parsing config JSON text into a `serde_json::Value`, with two checks `serde_json` alone
//! cannot make.
//!
//! - Duplicate keys: `serde_json` keeps the last of `{"a":1,"a":2}`; RFC 8785 requires input
//!   without duplicates, so a duplicate at any depth is [`ConfigError::DuplicateKey`].
//! - Integer literals too large for `u64`/`i64`: `serde_json` (without `arbitrary_precision`)
//!   hands them to the visitor as an `f64`, indistinguishable from `1e20`. A light scan of the
//!   text finds the integer literals (optional `-`, digits only) whose canonical text differs
//!   from their own digits; `serde_json` visits numbers in text order, so the scan's ordinal of
//!   such a literal names the visit that must fail with [`ConfigError::InexactInteger`], at
//!   the value's path.
//!
//! - Nesting: an array or object past [`MAX_DEPTH`] levels is [`ConfigError::TooDeep`] at
//!   its path, before `serde_json`'s own recursion limit (128) would report a bare syntax
//!   error.
//!
//! Invariants: the value is built exactly as `serde_json::from_str::<Value>` builds it; a check
//! fails at the first offending duplicate or literal in text order, and any earlier syntax
//! error is [`ConfigError::Json`].

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::canonical;
use super::error::ConfigError;
use crate::limits::MAX_DEPTH;

/// Parses `text` as JSON, rejecting duplicate keys and integer literals canonical JSON would
/// change.
pub(crate) fn parse_value(text: &str) -> Result<Value, ConfigError> {
    let state = State {
        inexact: inexact_integer_literals(text),
        numbers_seen: Cell::new(0),
        next_inexact: Cell::new(0),
        error: Cell::new(None),
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let checked = Checked {
        state: &state,
        at: &Loc::Root,
        depth: 0,
    };
    match checked
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
    {
        Ok(value) => Ok(value),
        Err(e) => Err(state.error.take().unwrap_or_else(|| ConfigError::Json {
            reason: e.to_string(),
        })),
    }
}

/// (ordinal among all number literals, literal, canonical text) for each integer literal of
/// `text` whose canonical text differs from its digits. A token is a maximal run of bytes
/// outside strings that are not whitespace or structural; it is a number if it starts with
/// `-` or a digit. On valid JSON the tokens are exactly the literals.
fn inexact_integer_literals(text: &str) -> Vec<(usize, String, String)> {
    let is_delimiter = |b: u8| b" \t\n\r{}[],:\"".contains(&b);
    let mut found = Vec::new();
    let mut numbers = 0;
    let mut bytes = text.bytes().enumerate().peekable();
    while let Some((start, b)) = bytes.next() {
        if b == b'"' {
            while let Some((_, b)) = bytes.next() {
                match b {
                    b'\\' => {
                        bytes.next();
                    }
                    b'"' => break,
                    _ => {}
                }
            }
        } else if !is_delimiter(b) {
            let mut end = start + 1;
            while let Some((i, _)) = bytes.next_if(|&(_, b)| !is_delimiter(b)) {
                end = i + 1;
            }
            if b == b'-' || b.is_ascii_digit() {
                let literal = text.get(start..end).unwrap_or_default();
                if let Some(canonical) = canonical::changed_integer_literal(literal) {
                    found.push((numbers, literal.to_owned(), canonical));
                }
                numbers += 1;
            }
        }
    }
    found
}

struct State {
    inexact: Vec<(usize, String, String)>,
    numbers_seen: Cell<usize>,
    next_inexact: Cell<usize>,
    /// The typed error behind a `serde_json` error raised by the visitor.
    error: Cell<Option<ConfigError>>,
}

impl State {
    fn fail<E: de::Error>(&self, error: ConfigError) -> E {
        let e = E::custom(&error);
        self.error.set(Some(error));
        e
    }

    /// Counts one number literal; fails if the scan found it inexact.
    fn number<E: de::Error>(&self, at: &Loc<'_>) -> Result<(), E> {
        let ordinal = self.numbers_seen.get();
        self.numbers_seen.set(ordinal + 1);
        let next = self.next_inexact.get();
        match self.inexact.get(next) {
            Some((n, value, canonical)) if *n == ordinal => {
                self.next_inexact.set(next + 1);
                Err(self.fail(ConfigError::InexactInteger {
                    path: at.to_string(),
                    value: value.clone(),
                    canonical: canonical.clone(),
                }))
            }
            _ => Ok(()),
        }
    }
}

/// Where a value sits, rendered like `canonical.rs` names paths: `opt.lr`, `x[2].k`.
enum Loc<'a> {
    Root,
    Key(&'a Loc<'a>, &'a str),
    Index(&'a Loc<'a>, usize),
}

impl fmt::Display for Loc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::Root => Ok(()),
            Loc::Key(Loc::Root, key) => f.write_str(key),
            Loc::Key(parent, key) => write!(f, "{parent}.{key}"),
            Loc::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

#[derive(Clone, Copy)]
struct Checked<'s, 'a> {
    state: &'s State,
    at: &'a Loc<'a>,
    /// How many arrays and objects enclose the value.
    depth: usize,
}

impl<'s> Checked<'s, '_> {
    /// The seed for a member of this container, at `at`.
    fn member<'b>(&self, at: &'b Loc<'b>) -> Checked<'s, 'b> {
        Checked {
            state: self.state,
            at,
            depth: self.depth + 1,
        }
    }

    /// Fails if a container here would be nested too deep.
    fn container<E: de::Error>(&self) -> Result<(), E> {
        if self.depth < MAX_DEPTH {
            return Ok(());
        }
        Err(self.state.fail(ConfigError::TooDeep {
            path: self.at.to_string(),
            limit: MAX_DEPTH,
        }))
    }
}

impl<'de> DeserializeSeed<'de> for Checked<'_, '_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checked<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        self.state.number(self.at)?;
        Ok(Value::from(i))
    }
    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        self.state.number(self.at)?;
        Ok(Value::from(u))
    }
    fn visit_f64<E: de::Error>(self, d: f64) -> Result<Value, E> {
        self.state.number(self.at)?;
        Ok(Number::from_f64(d).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.container()?;
        let mut items = Vec::new();
        loop {
            let at = Loc::Index(self.at, items.len());
            match seq.next_element_seed(self.member(&at))? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.container()?;
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let at = Loc::Key(self.at, &key);
            if members.contains_key(&key) {
                let path = at.to_string();
                return Err(self.state.fail(ConfigError::DuplicateKey { path }));
            }
            let value = map.next_value_seed(self.member(&at))?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scan_counts_every_number_literal_and_skips_strings() {
        let text = r#"{"a\"1":[1,-2.5e3, 18446744073709551616],"b":"9007199254740993","c":-9007199254740993}"#;
        assert_eq!(
            inexact_integer_literals(text),
            vec![
                (
                    2,
                    "18446744073709551616".to_owned(),
                    "18446744073709552000".to_owned()
                ),
                (
                    3,
                    "-9007199254740993".to_owned(),
                    "-9007199254740992".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn values_are_built_as_serde_json_builds_them() -> Result<(), ConfigError> {
        let text = r#"{"n":null,"t":true,"i":-3,"u":10000000000000000000,"f":1e20,"d":0.5,"s":"é\n","a":[[],{}],"o":{"x":{}}}"#;
        let ours = parse_value(text)?;
        let theirs: Value = serde_json::from_str(text).map_err(|e| ConfigError::Json {
            reason: e.to_string(),
        })?;
        assert_eq!(ours, theirs);
        Ok(())
    }

    #[test]
    fn paths_name_nested_members_and_array_elements() {
        assert_eq!(
            parse_value(r#"{"x":[0,1,{"k":1,"k":2}]}"#),
            Err(ConfigError::DuplicateKey {
                path: "x[2].k".to_owned()
            })
        );
        assert!(matches!(
            parse_value(r#"[{"a":{"b":[7,123456789012345678901234567890]}}]"#),
            Err(ConfigError::InexactInteger { path, .. }) if path == "[0].a.b[1]"
        ));
    }

    #[test]
    fn a_syntax_error_before_the_first_problem_is_a_json_error() {
        assert!(matches!(
            parse_value(r#"{"a":tru, "b":18446744073709551616}"#),
            Err(ConfigError::Json { .. })
        ));
        assert!(matches!(
            parse_value(r#"{"a":1 "a":2}"#),
            Err(ConfigError::Json { .. })
        ));
        assert!(matches!(
            parse_value(r#"{"a":1} {"a":1,"a":1}"#),
            Err(ConfigError::Json { .. })
        ));
    }
}
