//! Property tests for unique configs: the canonical form (and so the run key) depends only on
//! the JSON value, never on how its text was spelled, and the subset relation behaves.
//!
//! Configs are random JSON objects up to depth 3 (finite doubles, integers within ±2^53,
//! strings of arbitrary Unicode, arrays, booleans, null). serde_json's `Map` is sorted, so
//! "another key order" is produced by writing the JSON *text* ourselves: members shuffled,
//! random insignificant whitespace, strings escaped differently and numbers spelled
//! differently (`2`, `2.0`, `2e0`, `2.000`, `2E+0`; shortest, exponent and long forms of
//! doubles), then parsed with `UniqueConfig::parse`.
//!
//! The text rejections are tested the same way: a repeated key spliced into a spelled config
//! at any depth is `DuplicateKey` with its path, and an integer literal of any size is either
//! kept digit for digit or `InexactInteger`, never rounded.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value};
use sweepstore::{ConfigError, RunKey, TaskName, UniqueConfig};

/// Integers every IEEE-754 double holds exactly.
const MAX_EXACT: i64 = 1 << 53;

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

fn parse(text: &str) -> Result<UniqueConfig, TestCaseError> {
    UniqueConfig::parse(text).map_err(|e| fail(format!("{e}\n  text: {text}")))
}

fn task(name: &str) -> Result<TaskName, TestCaseError> {
    TaskName::new(name).map_err(fail)
}

// ---------------------------------------------------------------------------------------
// A deterministic shuffler, so one generated seed fixes one spelling of the text.

use crate::shared::rng::Rng;

// ---------------------------------------------------------------------------------------
// Writing JSON text in a random but equivalent spelling.

fn whitespace(out: &mut String, rng: &mut Rng) {
    out.push_str(["", "", "", " ", "\n", "\t ", "\r\n  "][rng.below(7)]);
}

fn hex_escape(out: &mut String, unit: u16, rng: &mut Rng) {
    if rng.coin() {
        out.push_str(&format!("\\u{unit:04x}"));
    } else {
        out.push_str(&format!("\\u{unit:04X}"));
    }
}

fn write_string(out: &mut String, s: &str, rng: &mut Rng) {
    out.push('"');
    for c in s.chars() {
        let short = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '/' => Some("\\/"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            _ => None,
        };
        let must_escape = c == '"' || c == '\\' || c < ' ';
        match (rng.below(3), short) {
            (0, _) if !must_escape => out.push(c),
            (1, Some(short)) => out.push_str(short),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    hex_escape(out, *unit, rng);
                }
            }
        }
    }
    out.push('"');
}

fn write_integer(out: &mut String, i: i64, rng: &mut Rng) {
    let suffix = ["", "", ".0", "e0", ".000", "E+0", "0e-1", "00E-2"][rng.below(8)];
    if i == 0 && suffix.starts_with('0') {
        // `00e-1` would have a leading zero, which JSON forbids.
        out.push('0');
    } else {
        out.push_str(&format!("{i}{suffix}"));
    }
}

fn write_double(out: &mut String, d: f64, rng: &mut Rng) {
    // Every spelling has a `.` or an exponent, so it parses as a double: an integral double
    // beyond 2^53 written as bare digits would parse as an integer, which the crate
    // (stricter than RFC 8785) rejects unless its digits are already canonical.
    let text = match rng.below(5) {
        0 => Value::from(d).to_string(),
        1 => format!("{d:e}"),
        2 => format!("{d:E}"),
        3 => format!("{d:?}"),
        _ => {
            let long = format!("{d}");
            if long.contains('.') {
                long
            } else {
                long + ".0"
            }
        }
    };
    out.push_str(&text);
}

fn write_json(out: &mut String, value: &Value, rng: &mut Rng) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                write_integer(out, i, rng);
            } else if let Some(d) = n.as_f64() {
                write_double(out, d, rng);
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => write_string(out, s, rng),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                whitespace(out, rng);
                write_json(out, item, rng);
                whitespace(out, rng);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map, rng),
    }
}

fn write_object(out: &mut String, map: &Map<String, Value>, rng: &mut Rng) {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    // Fisher–Yates.
    for i in (1..members.len()).rev() {
        members.swap(i, rng.below(i + 1));
    }
    out.push('{');
    for (i, (key, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        whitespace(out, rng);
        write_string(out, key, rng);
        whitespace(out, rng);
        out.push(':');
        whitespace(out, rng);
        write_json(out, value, rng);
        whitespace(out, rng);
    }
    out.push('}');
}

/// `map` as JSON text, with member order, whitespace, escapes and number spellings chosen
/// by `seed`.
fn spell(map: &Map<String, Value>, seed: u64) -> String {
    let mut out = String::new();
    write_object(&mut out, map, &mut Rng::new(seed));
    out
}

// ---------------------------------------------------------------------------------------
// Strategies.

fn arb_string() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..8).prop_map(String::from_iter)
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        // Short ASCII keys, so objects often share prefixes.
        "[a-cA-C0-9_]{0,3}",
        arb_string(),
        // Around the BMP/astral boundary, where UTF-8 and UTF-16 orders disagree.
        prop::collection::vec(
            prop_oneof![
                Just('\u{E000}'),
                Just('\u{FFFF}'),
                Just('\u{10000}'),
                Just('\u{1F600}'),
                Just('a'),
            ],
            1..4
        )
        .prop_map(String::from_iter),
    ]
}

fn arb_double() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        // Integral doubles, including ones beyond 2^53.
        (-1.0e25..1.0e25f64).prop_map(f64::trunc),
        // Values around ECMAScript's switch to exponent notation.
        (-30..30i32, 1..10i32).prop_map(|(e, m)| f64::from(m) * 10f64.powi(e)),
        Just(-0.0),
        Just(0.1),
        Just(5e-324),
        Just(f64::MAX),
    ]
    .prop_filter("JSON numbers are finite", |d| d.is_finite())
}

fn arb_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-MAX_EXACT..=MAX_EXACT).prop_map(Value::from),
        (-1000..1000i64).prop_map(Value::from),
        arb_double().prop_map(Value::from),
        arb_string().prop_map(Value::String),
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    arb_leaf().prop_recursive(3, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(arb_key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A random config: a JSON object whose values nest at most 3 levels further.
fn arb_config() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(arb_key(), arb_value(), 0..7).prop_map(|m| m.into_iter().collect())
}

fn arb_task_name() -> impl Strategy<Value = TaskName> {
    prop_oneof!["[a-z][a-z0-9_.-]{0,12}".boxed(), arb_string().boxed()]
        .prop_filter_map("valid task name", |name| TaskName::new(&name).ok())
}

/// Whether `a` and `b` denote the same JSON value (numbers compared as doubles).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(k, x)| ys.get(k).is_some_and(|y| same_json(x, y)))
        }
        _ => a == b,
    }
}

/// Which of three places a spelled config sits in, and the path prefix that gives its keys.
fn nest(text: &str, depth: usize) -> (String, &'static str) {
    match depth {
        0 => (text.to_owned(), ""),
        1 => (format!(r#"{{"outer":{text}}}"#), "outer."),
        _ => (format!(r#"{{"outer":[1,{text}]}}"#), "outer[1]."),
    }
}

// ---------------------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn key_order_whitespace_and_spelling_never_change_the_canonical_form_or_run_key(
        map in arb_config(),
        seed_a in any::<u64>(),
        seed_b in any::<u64>(),
    ) {
        let reference = UniqueConfig::from_map(map.clone()).map_err(fail)?;
        let a = parse(&spell(&map, seed_a))?;
        let b = parse(&spell(&map, seed_b))?;
        prop_assert_eq!(a.canonical(), reference.canonical());
        prop_assert_eq!(b.canonical(), reference.canonical());
        prop_assert_eq!(&a, &b);
        let train = task("train")?;
        prop_assert_eq!(RunKey::new(&train, &a), RunKey::new(&train, &reference));
        prop_assert_eq!(RunKey::new(&train, &b), RunKey::new(&train, &reference));
    }

    #[test]
    fn canonicalization_is_idempotent(map in arb_config(), seed in any::<u64>()) {
        let once = parse(&spell(&map, seed))?;
        let twice = parse(once.canonical())?;
        prop_assert_eq!(twice.canonical(), once.canonical());
        let train = task("train")?;
        prop_assert_eq!(RunKey::new(&train, &twice), RunKey::new(&train, &once));
    }

    #[test]
    fn the_canonical_form_denotes_the_same_json_value(map in arb_config()) {
        let config = UniqueConfig::from_map(map.clone()).map_err(fail)?;
        let reparsed: Value = serde_json::from_str(config.canonical()).map_err(fail)?;
        prop_assert!(
            same_json(&reparsed, &Value::Object(map)),
            "canonical {} is a different value",
            config.canonical()
        );
    }

    #[test]
    fn an_integral_number_written_with_or_without_a_fraction_has_one_key(
        i in -MAX_EXACT..=MAX_EXACT,
        name in "[a-z]{1,4}",
    ) {
        let train = task("train")?;
        let bare = parse(&format!(r#"{{"{name}":{i}}}"#))?;
        prop_assert_eq!(bare.canonical(), format!(r#"{{"{name}":{i}}}"#));
        for spelling in [format!("{i}.0"), format!("{i}e0"), format!("{i}.000E+0")] {
            let other = parse(&format!(r#"{{"{name}":{spelling}}}"#))?;
            prop_assert_eq!(other.canonical(), bare.canonical());
            prop_assert_eq!(RunKey::new(&train, &other), RunKey::new(&train, &bare));
        }
    }

    #[test]
    fn every_spelling_of_a_double_has_one_key(d in arb_double(), seed in any::<u64>()) {
        let train = task("train")?;
        let shortest = parse(&format!(r#"{{"x":{}}}"#, Value::from(d)))?;
        let mut rng = Rng::new(seed);
        for _ in 0..4 {
            let mut text = String::from(r#"{"x":"#);
            write_double(&mut text, d, &mut rng);
            text.push('}');
            let other = parse(&text)?;
            prop_assert_eq!(other.canonical(), shortest.canonical(), "text {}", text);
            prop_assert_eq!(RunKey::new(&train, &other), RunKey::new(&train, &shortest));
        }
    }

    #[test]
    fn removing_top_level_keys_gives_a_subset(
        map in arb_config(),
        keep in prop::collection::vec(any::<bool>(), 7),
        seed_a in any::<u64>(),
        seed_b in any::<u64>(),
    ) {
        let sub_map: Map<String, Value> = map
            .iter()
            .zip(keep.iter().cycle())
            .filter(|(_, keep)| **keep)
            .map(|((k, v), _)| (k.clone(), v.clone()))
            .collect();
        let full = parse(&spell(&map, seed_a))?;
        let sub = parse(&spell(&sub_map, seed_b))?;
        prop_assert!(sub.is_subset_of(&full), "{} not a subset of {}", sub, full);
        prop_assert!(UniqueConfig::empty().is_subset_of(&full));
        if sub.len() < full.len() {
            prop_assert!(!full.is_subset_of(&sub), "{} is a subset of {}", full, sub);
        }
    }

    #[test]
    fn every_config_is_a_subset_of_itself(map in arb_config(), seed_a in any::<u64>(), seed_b in any::<u64>()) {
        let a = parse(&spell(&map, seed_a))?;
        let b = parse(&spell(&map, seed_b))?;
        prop_assert!(a.is_subset_of(&a));
        prop_assert!(a.is_subset_of(&b));
        prop_assert!(b.is_subset_of(&a));
    }

    #[test]
    fn a_subset_with_a_changed_or_foreign_key_is_no_longer_a_subset(
        map in arb_config(),
        keep in prop::collection::vec(any::<bool>(), 7),
        pick in any::<prop::sample::Index>(),
    ) {
        let mut sub_map: Map<String, Value> = map
            .iter()
            .zip(keep.iter().cycle())
            .filter(|(_, keep)| **keep)
            .map(|((k, v), _)| (k.clone(), v.clone()))
            .collect();
        let full = UniqueConfig::from_map(map.clone()).map_err(fail)?;

        // A key of the full config, with a value that is canonically different from its own
        // (wrapping a value in an array always changes it).
        if !map.is_empty() {
            let (key, value) = map.iter().nth(pick.index(map.len())).ok_or_else(|| fail("no key"))?;
            let mut changed = sub_map.clone();
            changed.insert(key.clone(), Value::Array(vec![value.clone()]));
            let changed = UniqueConfig::from_map(changed).map_err(fail)?;
            prop_assert!(!changed.is_subset_of(&full), "{} is a subset of {}", changed, full);
        }

        // A key the full config does not have (longer than all of its keys together).
        let foreign: String = map.keys().map(String::as_str).collect::<String>() + "!";
        sub_map.insert(foreign, Value::Null);
        let extended = UniqueConfig::from_map(sub_map).map_err(fail)?;
        prop_assert!(!extended.is_subset_of(&full), "{} is a subset of {}", extended, full);
    }

    #[test]
    fn different_task_names_give_different_keys_for_the_same_config(
        map in arb_config(),
        a in arb_task_name(),
        b in arb_task_name(),
    ) {
        prop_assume!(a != b);
        let config = UniqueConfig::from_map(map).map_err(fail)?;
        prop_assert_ne!(RunKey::new(&a, &config), RunKey::new(&b, &config));
    }

    #[test]
    fn different_configs_give_different_keys_for_the_same_task(
        x in arb_config(),
        y in arb_config(),
        t in arb_task_name(),
    ) {
        let x = UniqueConfig::from_map(x).map_err(fail)?;
        let y = UniqueConfig::from_map(y).map_err(fail)?;
        prop_assume!(x != y);
        prop_assert_ne!(RunKey::new(&t, &x), RunKey::new(&t, &y));
    }

    #[test]
    fn a_key_repeated_in_any_object_is_rejected_with_its_path(
        map in arb_config(),
        pick in any::<prop::sample::Index>(),
        seed in any::<u64>(),
        repeat in arb_value(),
        depth in 0..3usize,
    ) {
        prop_assume!(!map.is_empty());
        let key = map.keys().nth(pick.index(map.len())).ok_or_else(|| fail("no key"))?;
        let mut rng = Rng::new(seed);
        // The spelled object with one more member, `key` again, spliced in before its `}`.
        let mut text = spell(&map, seed);
        text.pop();
        text.push(',');
        write_string(&mut text, key, &mut rng);
        text.push(':');
        write_json(&mut text, &repeat, &mut rng);
        text.push('}');
        let (text, prefix) = nest(&text, depth);
        prop_assert_eq!(
            UniqueConfig::parse(&text),
            Err(ConfigError::DuplicateKey { path: format!("{prefix}{key}") }),
            "text {}",
            text
        );
    }

    #[test]
    fn an_integer_literal_of_any_size_is_kept_digit_for_digit_or_rejected(
        literal in prop_oneof![
            "-?[1-9][0-9]{15,40}",
            // Powers of ten, some of which are canonical as they stand.
            "-?10{15,25}",
        ],
        depth in 0..3usize,
    ) {
        let (text, prefix) = nest(&format!(r#"{{"n":{literal}}}"#), depth);
        match UniqueConfig::parse(&text) {
            Ok(config) => {
                prop_assert!(
                    config.canonical().contains(&format!(r#""n":{literal}}}"#)),
                    "{} became {}",
                    literal,
                    config
                );
                // Canonical JSON writes 1e21 and beyond with an exponent.
                prop_assert!(literal.trim_start_matches('-').len() <= 21);
            }
            Err(ConfigError::InexactInteger { path, value, canonical }) => {
                prop_assert_eq!(path, format!("{prefix}n"));
                prop_assert_eq!(&value, &literal);
                prop_assert_ne!(&canonical, &literal);
            }
            Err(other) => return Err(fail(format!("{literal}: {other}"))),
        }
    }

    #[test]
    fn digits_inside_strings_are_not_number_literals(
        digits in "-?[1-9][0-9]{15,40}",
        seed in any::<u64>(),
    ) {
        let mut map = Map::new();
        map.insert(digits.clone(), Value::String(format!("\\\"{digits}")));
        map.insert("k".to_owned(), Value::String(digits.clone()));
        let config = parse(&spell(&map, seed))?;
        prop_assert_eq!(config.get("k"), Some(&Value::String(digits)));
    }
}
