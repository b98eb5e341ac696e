//! RFC 8785 (JSON Canonicalization Scheme) serialization of JSON values.
//!
//! Invariants: object members are sorted by the UTF-16 code units of their keys; there is no
//! whitespace; strings use the minimal JSON escapes (`\"`, `\\`, `\b \t \n \f \r`, and
//! `\u00xx` with lowercase hex for other controls); numbers are written as ECMAScript's
//! `Number.prototype.toString` writes the IEEE-754 double they denote, so `1`, `1.0` and
//! `1e0` are one number. An integer whose canonical digits differ from its own (say 2^53 + 1,
//! which no double holds) is rejected, because canonicalizing it would silently merge it with
//! a neighbour. [`changed_integer_literal`] applies the same rule to integer literals in JSON
//! text, which also covers those too large for `u64`/`i64` (`serde_json` reads them as doubles).
//!
//! The writer recurses once per level of nesting; its callers bound that by checking
//! [`MAX_DEPTH`](crate::MAX_DEPTH) first (`UniqueConfig::from_map`).

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

use super::error::ConfigError;

/// Appends the canonical form of `value` to `out`; `path` names the value in errors.
pub(crate) fn write_value(out: &mut String, value: &Value, path: &str) -> Result<(), ConfigError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n, path)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, &format!("{path}[{i}]"))?;
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map, path)?,
    }
    Ok(())
}

/// Appends the canonical form of an object to `out`.
pub(crate) fn write_object(
    out: &mut String,
    map: &Map<String, Value>,
    path: &str,
) -> Result<(), ConfigError> {
    out.push('{');
    for (i, (key, value)) in sorted_members(map).into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, value, &member_path(path, key))?;
    }
    out.push('}');
    Ok(())
}

/// The members of `map` in RFC 8785 order: by the UTF-16 code units of the keys.
pub(crate) fn sorted_members(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut members: Vec<_> = map.iter().collect();
    members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    members
}

/// `path.key`, or `key` at the top level; used to name a value in errors.
pub(crate) fn member_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if c < ' ' => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_number(out: &mut String, n: &Number, path: &str) -> Result<(), ConfigError> {
    let (double, integer) = if let Some(i) = n.as_i64() {
        (i as f64, Some(i.to_string()))
    } else if let Some(u) = n.as_u64() {
        (u as f64, Some(u.to_string()))
    } else {
        match n.as_f64() {
            Some(d) if d.is_finite() => (d, None),
            _ => {
                return Err(ConfigError::NotFinite {
                    path: path.to_owned(),
                });
            }
        }
    };
    let text = number_text(double);
    // An integer must come out digit for digit: otherwise canonicalization would silently
    // turn it into a neighbour (2^53 + 1 into 2^53). This also keeps canonicalization
    // idempotent, since every accepted integer re-parses to itself.
    if let Some(integer) = integer
        && integer != text
    {
        return Err(ConfigError::InexactInteger {
            path: path.to_owned(),
            value: integer,
            canonical: text,
        });
    }
    out.push_str(&text);
    Ok(())
}

/// ECMAScript's `Number.prototype.toString` of a finite double.
fn number_text(double: f64) -> String {
    if double == 0.0 {
        // ECMAScript writes -0 as "0".
        "0".to_owned()
    } else {
        ryu_js::Buffer::new().format_finite(double).to_owned()
    }
}

/// For an integer literal (an optional `-`, then digits only) whose canonical text differs
/// from itself, that canonical text; `None` for anything else, including literals beyond the
/// double range (the JSON parser rejects those). This is `write_number`'s rule for integers,
/// applied to literal text, so it also covers integers too large for `u64`/`i64`, which
/// `serde_json` reads as doubles.
pub(crate) fn changed_integer_literal(literal: &str) -> Option<String> {
    let digits = literal.strip_prefix('-').unwrap_or(literal);
    // Every integer of at most 15 digits is a double, written digit for digit.
    if digits.len() <= 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let double: f64 = literal.parse().ok().filter(|d: &f64| d.is_finite())?;
    let text = number_text(double);
    (text != literal).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> Result<String, ConfigError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ConfigError::Json {
            reason: e.to_string(),
        })?;
        let mut out = String::new();
        write_value(&mut out, &value, "")?;
        Ok(out)
    }

    #[test]
    fn numbers_follow_ecmascript() -> Result<(), ConfigError> {
        for (input, expected) in [
            ("1", "1"),
            ("1.0", "1"),
            ("-0.0", "0"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("0.000001", "0.000001"),
            ("1e-7", "1e-7"),
            ("0.1", "0.1"),
            ("123.456e3", "123456"),
            ("9007199254740992", "9007199254740992"),
            ("1152921504606847000", "1152921504606847000"),
            ("1e18", "1000000000000000000"),
            ("-5", "-5"),
            ("333333333.33333329", "333333333.3333333"),
        ] {
            assert_eq!(canon(input)?, expected, "input {input}");
        }
        Ok(())
    }

    #[test]
    fn integers_no_double_represents_are_rejected() {
        for input in [
            "9007199254740993",
            "-9007199254740993",
            "18446744073709551615",
            "1152921504606846976",
        ] {
            assert!(
                matches!(canon(input), Err(ConfigError::InexactInteger { .. })),
                "input {input}"
            );
        }
    }

    #[test]
    fn integer_literals_are_checked_digit_for_digit_at_any_size() {
        for (literal, expected) in [
            ("9007199254740993", Some("9007199254740992")),
            ("-9007199254740993", Some("-9007199254740992")),
            ("18446744073709551616", Some("18446744073709552000")),
            ("-9223372036854775809", Some("-9223372036854776000")),
            (
                "123456789012345678901234567890",
                Some("1.2345678901234568e+29"),
            ),
            // Exactly a double, but canonical JSON writes it with an exponent.
            ("1000000000000000000000", Some("1e+21")),
            ("9007199254740992", None),
            ("100000000000000000000", None),
            ("999999999999999", None),
            ("-0", None),
            // Not integer literals: fractions, exponents, words.
            ("9007199254740993.0", None),
            ("9007199254740993e0", None),
            ("1e400", None),
            ("true", None),
        ] {
            assert_eq!(
                changed_integer_literal(literal).as_deref(),
                expected,
                "literal {literal}"
            );
        }
        // Beyond the double range: left to the JSON parser, which rejects it.
        assert_eq!(changed_integer_literal(&"9".repeat(400)), None);
    }

    #[test]
    fn strings_use_minimal_escapes_and_keys_sort_by_utf16() -> Result<(), ConfigError> {
        assert_eq!(
            canon(r#""a\"\\\b\t\n\f\r\u0001\u007f/é""#)?,
            "\"a\\\"\\\\\\b\\t\\n\\f\\r\\u0001\u{7f}/é\""
        );
        // U+E000 sorts before U+1F600 in UTF-8 byte order but after it in UTF-16 order.
        assert_eq!(
            canon("{\"\u{1F600}\":1,\"\u{E000}\":2,\"a\":3}")?,
            "{\"a\":3,\"\u{1F600}\":1,\"\u{E000}\":2}"
        );
        Ok(())
    }
}
