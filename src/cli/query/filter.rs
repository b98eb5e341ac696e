//! The filter language of `--where`: `KEY OP VALUE`, with KEY a column name (see the module
//! docs of `query`), OP one of `=` `!=` `<` `<=` `>` `>=`, and VALUE a JSON value (`0.1`,
//! `true`, `"adam"`) or else a string (`adam`). With `=` and `!=`, a VALUE that is not JSON
//! as a whole is a comma-separated list of alternatives: `opt=adam,sgd` matches either.
//!
//! Invariants: `=` compares the way run keys do (numbers by value, so `0` equals `0.0`;
//! objects and arrays by canonical JSON); `<` `<=` `>` `>=` compare numbers with numbers and
//! strings with strings (RFC 3339 times compare as strings, correctly) and are false for
//! anything else; a run without the column matches only `!=`.

use std::cmp::Ordering;

use serde_json::{Value, json};
use sweepstore::UniqueConfig;

use super::QueryError;

/// A comparison operator of the filter language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`: equal to one of the values.
    Eq,
    /// `!=`: equal to none of the values (or missing).
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// The operators, longest spelling first so `<=` is not read as `<`.
const OPS: [(&str, Op); 6] = [
    ("!=", Op::Ne),
    ("<=", Op::Le),
    (">=", Op::Ge),
    ("=", Op::Eq),
    ("<", Op::Lt),
    (">", Op::Gt),
];

/// One parsed `--where` filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    key: String,
    op: Op,
    values: Vec<Value>,
}

impl Filter {
    /// Parses `KEY OP VALUE`.
    ///
    /// # Errors
    /// [`QueryError::BadFilter`] naming what is wrong: no operator, an empty key or value.
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        let bad = |reason: &str| QueryError::BadFilter {
            filter: text.to_owned(),
            reason: reason.to_owned(),
        };
        let at = text
            .find(['=', '!', '<', '>'])
            .ok_or_else(|| bad("it has no operator"))?;
        let key = text[..at].trim();
        let rest = &text[at..];
        let (spelling, op) = OPS
            .iter()
            .find(|(spelling, _)| rest.starts_with(spelling))
            .ok_or_else(|| bad("`!` must be followed by `=`"))?;
        let value = rest[spelling.len()..].trim();
        if key.is_empty() {
            return Err(bad("the key before the operator is empty"));
        }
        if value.is_empty() {
            return Err(bad("the value after the operator is empty"));
        }
        let values = match serde_json::from_str::<Value>(value) {
            Ok(whole) => vec![whole],
            Err(_) if matches!(op, Op::Eq | Op::Ne) => value
                .split(',')
                .map(|part| parse_value(part.trim()))
                .collect(),
            Err(_) => vec![Value::String(value.to_owned())],
        };
        if values.iter().any(|v| v.as_str() == Some("")) {
            return Err(bad("one of its alternatives is empty"));
        }
        Ok(Filter {
            key: key.to_owned(),
            op: *op,
            values,
        })
    }

    /// The column name it tests (as given; the table resolves it).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether a cell (`None`: the run has no such value) passes.
    pub fn matches(&self, cell: Option<&Value>) -> bool {
        let Some(cell) = cell else {
            return self.op == Op::Ne;
        };
        match self.op {
            Op::Eq => self.values.iter().any(|v| equal(cell, v)),
            Op::Ne => !self.values.iter().any(|v| equal(cell, v)),
            Op::Lt | Op::Le | Op::Gt | Op::Ge => self.values.iter().any(|v| {
                order(cell, v).is_some_and(|o| match self.op {
                    Op::Lt => o.is_lt(),
                    Op::Le => o.is_le(),
                    Op::Gt => o.is_gt(),
                    _ => o.is_ge(),
                })
            }),
        }
    }
}

/// One alternative: JSON if it parses, else the text as a string.
fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Equality as run keys see it.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(_) | Value::Object(_), Value::Array(_) | Value::Object(_)) => {
            canonical(a) == canonical(b)
        }
        _ => a == b,
    }
}

/// The order of two numbers or two strings; `None` for anything else.
pub fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// The canonical (RFC 8785) text of a value, as run keys see it; values a config cannot hold
/// (none reach here: they come from stored JSON) fall back to serde's text.
fn canonical(value: &Value) -> String {
    UniqueConfig::new(json!({ "v": value }))
        .map_or_else(|_| value.to_string(), |c| c.canonical().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passes(filter: &str, cell: Option<Value>) -> Result<bool, QueryError> {
        Ok(Filter::parse(filter)?.matches(cell.as_ref()))
    }

    #[test]
    fn equality_is_by_value_and_takes_alternatives() -> Result<(), QueryError> {
        assert!(passes("l2=0", Some(json!(0.0)))?);
        assert!(passes("opt=adam,sgd", Some(json!("sgd")))?);
        assert!(!passes("opt=adam,sgd", Some(json!("rmsprop")))?);
        assert!(passes("lr=0.1, 0.01", Some(json!(0.01)))?);
        assert!(passes(r#"name="a,b""#, Some(json!("a,b")))?);
        assert!(passes("dims=[1,2.0]", Some(json!([1, 2])))?);
        assert!(passes("opt!=adam", Some(json!("sgd")))?);
        assert!(!passes("opt!=adam,sgd", Some(json!("sgd")))?);
        Ok(())
    }

    #[test]
    fn orderings_compare_numbers_as_numbers_and_strings_as_strings() -> Result<(), QueryError> {
        assert!(passes("lr<0.1", Some(json!(0.01)))?);
        assert!(!passes("lr<0.1", Some(json!(0.1)))?);
        assert!(passes("lr<=0.1", Some(json!(0.1)))?);
        assert!(passes("epochs>9", Some(json!(10)))?);
        assert!(passes("epochs>=10", Some(json!(10.0)))?);
        assert!(passes(
            "created>=2026-12-01",
            Some(json!("2026-12-03T10:00:00Z"))
        )?);
        assert!(!passes("lr<0.1", Some(json!("0.01")))?);
        Ok(())
    }

    #[test]
    fn a_missing_value_matches_only_not_equal() -> Result<(), QueryError> {
        assert!(!passes("lr=0.1", None)?);
        assert!(!passes("lr<1", None)?);
        assert!(passes("lr!=0.1", None)?);
        Ok(())
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        let reason = |text: &str| match Filter::parse(text) {
            Err(QueryError::BadFilter { reason, .. }) => reason,
            other => format!("unexpected {other:?}"),
        };
        assert_eq!(reason("lr"), "it has no operator");
        assert_eq!(reason("=1"), "the key before the operator is empty");
        assert_eq!(reason("lr="), "the value after the operator is empty");
        assert_eq!(reason("lr!1"), "`!` must be followed by `=`");
        assert_eq!(reason("opt=adam,"), "one of its alternatives is empty");
    }

    #[test]
    fn dotted_keys_and_spaces_parse() -> Result<(), QueryError> {
        let filter = Filter::parse(" Train.lr >= 0.5 ")?;
        assert_eq!(filter.key(), "Train.lr");
        assert_eq!(filter.op, Op::Ge);
        assert_eq!(filter.values, vec![json!(0.5)]);
        Ok(())
    }
}
