//! Golden tests: the canonical (RFC 8785 / JCS) bytes and the run key of fixed configs.
//!
//! These values are part of the on-disk format. If one of these tests fails, the canonical
//! form or the run-key derivation changed, and every existing store would silently stop
//! finding its runs: do not update the table, bump `RUN_KEY_CONTEXT` and migrate instead.
//!
//! How the table was made: the values were computed once by running the crate, then
//! cross-checked independently in Python 3.11.7 with the PyPI package `rfc8785` 0.1.4
//! (Trail of Bits' implementation of RFC 8785, numbers parsed as IEEE-754 doubles) for the
//! canonical bytes, and with the PyPI package `blake3` 1.0.11
//! (`blake3(derive_key_context=RUN_KEY_CONTEXT)` over `le64(len(task)) ‖ task ‖
//! le64(len(canonical)) ‖ canonical`) for the run keys and content hashes: all agreed.
//! The entries marked "RFC 8785 §3.2.x" are the RFC's own examples, with the RFC's output.

use sweepstore::{ConfigError, ContentHash, RUN_KEY_CONTEXT, RunKey, TaskName, UniqueConfig};

/// One pinned config: its input text, its canonical text and its run key for `task`.
struct Golden {
    task: &'static str,
    input: &'static str,
    canonical: &'static str,
    key: &'static str,
}

const fn golden(
    task: &'static str,
    input: &'static str,
    canonical: &'static str,
    key: &'static str,
) -> Golden {
    Golden {
        task,
        input,
        canonical,
        key,
    }
}

/// `{"a":2,"b":1}` for `train`.
const KEY_A2_B1: &str = "1183d826e19f28f00ef7883088e0a77a83a7441adb19812764acf3e9604779c9";
/// `{"x":1}` for `train`.
const KEY_X1: &str = "352022f702fed43995e33208445e383030485a36637481951d7ef4bbca383f4b";
/// `{"z":0}` for `train`.
const KEY_Z0: &str = "64a78128db5c353aa2cc12c8be8e74433c30cdf853bf8b6a8d6f7793ddfcd333";
/// `{"a":3,"😀":2,"\u{E000}":1}` for `train`.
const KEY_UTF16: &str = "0ec75e36139bb6e0ff109347d8ca969163f63e64609f640383c7ce5ce441cf60";
/// The empty config `{}` for `train`.
const KEY_EMPTY: &str = "85ad99ff2e19d1812ecd6446ec92bd53c43d8f60f56ab73aa230a7baa7fe6902";

const SWEEP: &str = r#"{"lr":0.01,"seed":3,"model":{"layers":[64,64],"act":"relu"}}"#;
const SWEEP_CANONICAL: &str = r#"{"lr":0.01,"model":{"act":"relu","layers":[64,64]},"seed":3}"#;

const GOLDEN: &[Golden] = &[
    // The empty config.
    golden("train", "{}", "{}", KEY_EMPTY),
    // Key order and insignificant whitespace.
    golden("train", r#"{"b":1,"a":2}"#, r#"{"a":2,"b":1}"#, KEY_A2_B1),
    golden("train", r#"{"a":2,"b":1}"#, r#"{"a":2,"b":1}"#, KEY_A2_B1),
    golden(
        "train",
        "{ \"b\" : 1 ,\n\t\"a\" : 2.0 }",
        r#"{"a":2,"b":1}"#,
        KEY_A2_B1,
    ),
    // One number, four spellings.
    golden("train", r#"{"x":1}"#, r#"{"x":1}"#, KEY_X1),
    golden("train", r#"{"x":1.0}"#, r#"{"x":1}"#, KEY_X1),
    golden("train", r#"{"x":1e0}"#, r#"{"x":1}"#, KEY_X1),
    golden("train", r#"{"x":10E-1}"#, r#"{"x":1}"#, KEY_X1),
    // Negative zero is written as 0.
    golden("train", r#"{"z":-0.0}"#, r#"{"z":0}"#, KEY_Z0),
    golden("train", r#"{"z":-0}"#, r#"{"z":0}"#, KEY_Z0),
    golden("train", r#"{"z":0}"#, r#"{"z":0}"#, KEY_Z0),
    // Large and small floats: ECMAScript switches to exponents at 1e21 and below 1e-6.
    golden(
        "train",
        r#"{"big":1e21,"small":1e-7,"tenth":0.1,"mixed":123.456}"#,
        r#"{"big":1e+21,"mixed":123.456,"small":1e-7,"tenth":0.1}"#,
        "0ada5e705924bdf5133e2fc29d3b04019e204a6b49ac3e44ded14ceb40ed0e70",
    ),
    golden(
        "train",
        r#"{"edge":[1e20,1e-6,-1e21,-1e-7,5e-324,1.7976931348623157e308,4.35,0.3,1e23]}"#,
        r#"{"edge":[100000000000000000000,0.000001,-1e+21,-1e-7,5e-324,1.7976931348623157e+308,4.35,0.3,1e+23]}"#,
        "0b5c4c9730c7c40a46e03ba88015433685f512b4cafea7fd7dfb74404ada7707",
    ),
    // Integers up to ±2^53 survive digit for digit; 1e2 is the integer 100.
    golden(
        "train",
        r#"{"ints":[-5,9007199254740992,-9007199254740992,1e2,100]}"#,
        r#"{"ints":[-5,9007199254740992,-9007199254740992,100,100]}"#,
        "35b8c0ceafab19c68c4a7d0e98000fdf21eac53011042147385c343623d40fa2",
    ),
    // Nested objects are sorted at every level; arrays keep their order.
    golden(
        "train",
        r#"{"outer":{"z":[3,{"b":null,"a":true}],"a":[]},"e":{},"arr":[[],[[1]],{}]}"#,
        r#"{"arr":[[],[[1]],{}],"e":{},"outer":{"a":[],"z":[3,{"a":true,"b":null}]}}"#,
        "a19adac18b554ea4c8e7fdeb4538a891b7eaf1e4b3ba65af125cb846bbfa3ea2",
    ),
    // U+E000 sorts before U+1F600 in UTF-8 (and code point) order, but after it in UTF-16
    // order (U+1F600 is the surrogate pair D83D DE00), which is what RFC 8785 requires.
    golden(
        "train",
        r#"{"\uE000":1,"\uD83D\uDE00":2,"a":3}"#,
        "{\"a\":3,\"\u{1F600}\":2,\"\u{E000}\":1}",
        KEY_UTF16,
    ),
    golden(
        "train",
        "{\"\u{1F600}\":2,\"a\":3,\"\u{E000}\":1}",
        "{\"a\":3,\"\u{1F600}\":2,\"\u{E000}\":1}",
        KEY_UTF16,
    ),
    // ASCII keys: the empty key first, digits before capitals before lower case, a prefix
    // before its extensions.
    golden(
        "train",
        r#"{"b":0,"aa":1,"a":2,"B":3,"10":4,"9":5,"":6}"#,
        r#"{"":6,"10":4,"9":5,"B":3,"a":2,"aa":1,"b":0}"#,
        "a998bb392b00f2880ef5fb7503c9ca49b0e11250ba5f1d1032ebc25e28c7cba2",
    ),
    // Escapes: `\"`, `\\`, the five short control escapes, lowercase `\u00xx` for the other
    // controls; `/`, U+007F and non-ASCII are written as themselves.
    golden(
        "train",
        r#"{"s":"q\"b\\s\/ \u0000\u001f\u007f\b\f\n\r\t\u0001","é":"\u00e9"}"#,
        "{\"s\":\"q\\\"b\\\\s/ \\u0000\\u001f\u{7f}\\b\\f\\n\\r\\t\\u0001\",\"é\":\"é\"}",
        "ed35576513538202d9bcace84f96efb4bef67d7d2dda423f69ebe402b657283e",
    ),
    // Literals.
    golden(
        "train",
        r#"{"t":true,"f":false,"n":null}"#,
        r#"{"f":false,"n":null,"t":true}"#,
        "2e1d42e4922c4b98d431420c78327a73bca31ed65efdacf48a7923e8fbd40dfe",
    ),
    // A typical sweep config, for two tasks.
    golden(
        "train",
        SWEEP,
        SWEEP_CANONICAL,
        "4d7ea0995c8ec1f45bf1ad9ad9ef5558b93d72aa7839a816787f62d337c8ecc2",
    ),
    golden(
        "evaluate",
        SWEEP,
        SWEEP_CANONICAL,
        "00fce745c61d57cbdee81292978fb5a5fac6acfba251e83e7135c5e191c68e90",
    ),
    // RFC 8785 §3.2.2: the RFC's own input and output.
    golden(
        "train",
        r#"{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}"#,
        r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#,
        "852fb7ca9711b60498ed4f61981844a093d52bc5d4a35918e2968aed93b3430f",
    ),
    // RFC 8785 §3.2.3: the RFC's sorting example.
    golden(
        "train",
        r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#,
        "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\u{FB33}\":\"Hebrew Letter Dalet With Dagesh\"}",
        "84e9de9e6e05efe3bc513d166f96f8cbbb3db0ea1602549fb2823a2ce83c3180",
    ),
];

/// The run key recomputed from the documented encoding with the `blake3` crate alone.
fn independent_run_key(task: &str, canonical: &str) -> String {
    let mut hasher = blake3::Hasher::new_derive_key(RUN_KEY_CONTEXT);
    hasher.update(&(task.len() as u64).to_le_bytes());
    hasher.update(task.as_bytes());
    hasher.update(&(canonical.len() as u64).to_le_bytes());
    hasher.update(canonical.as_bytes());
    hasher.finalize().to_hex().to_string()
}

#[test]
fn the_golden_table_is_large_enough_to_mean_something() {
    assert!(GOLDEN.len() >= 12, "only {} golden configs", GOLDEN.len());
    let mut distinct: Vec<&str> = GOLDEN.iter().map(|g| g.key).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        distinct.len() >= 12,
        "only {} distinct keys",
        distinct.len()
    );
}

#[test]
fn every_golden_config_has_its_pinned_canonical_bytes_and_run_key() -> sweepstore::Result<()> {
    let mut failures = Vec::new();
    for g in GOLDEN {
        let config = UniqueConfig::parse(g.input)?;
        let key = RunKey::new(&TaskName::new(g.task)?, &config);
        if config.canonical() != g.canonical {
            failures.push(format!(
                "input {}\n  canonical {:?}\n  pinned    {:?}",
                g.input,
                config.canonical(),
                g.canonical
            ));
        }
        if key.to_hex() != g.key {
            failures.push(format!(
                "input {} (task {})\n  run key {key}\n  pinned  {}",
                g.input, g.task, g.key
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "THE ON-DISK FORMAT CHANGED for {} golden value(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}

#[test]
fn every_pinned_run_key_matches_an_independent_blake3_derivation() {
    for g in GOLDEN {
        assert_eq!(
            independent_run_key(g.task, g.canonical),
            g.key,
            "task {} canonical {}",
            g.task,
            g.canonical
        );
    }
}

#[test]
fn the_empty_config_key_is_derive_key_over_the_spelled_out_bytes() -> sweepstore::Result<()> {
    // le64(5) ‖ "train" ‖ le64(2) ‖ "{}", written out byte by byte.
    let material: [u8; 23] = [
        5, 0, 0, 0, 0, 0, 0, 0, b't', b'r', b'a', b'i', b'n', 2, 0, 0, 0, 0, 0, 0, 0, b'{', b'}',
    ];
    let derived = blake3::derive_key(RUN_KEY_CONTEXT, &material);
    assert_eq!(
        blake3::Hash::from_bytes(derived).to_hex().as_str(),
        KEY_EMPTY
    );
    let key = RunKey::new(&TaskName::new("train")?, &UniqueConfig::empty());
    assert_eq!(key.as_bytes(), &derived);
    assert_eq!(key, KEY_EMPTY.parse::<RunKey>()?);
    Ok(())
}

#[test]
fn the_run_key_context_is_pinned() {
    assert_eq!(RUN_KEY_CONTEXT, "sweepstore 2026-11 run key v1");
}

#[test]
fn the_empty_config_constructor_matches_parsing_braces() -> sweepstore::Result<()> {
    let empty = UniqueConfig::empty();
    assert_eq!(empty.canonical(), "{}");
    assert_eq!(empty, UniqueConfig::parse("{}")?);
    assert_eq!(UniqueConfig::parse(" { } ")?.canonical(), "{}");
    Ok(())
}

#[test]
fn golden_canonical_texts_are_fixed_points_of_canonicalization() -> sweepstore::Result<()> {
    for g in GOLDEN {
        let again = UniqueConfig::parse(g.canonical)?;
        assert_eq!(again.canonical(), g.canonical, "input {}", g.input);
        assert_eq!(
            RunKey::new(&TaskName::new(g.task)?, &again).to_hex(),
            g.key,
            "input {}",
            g.input
        );
    }
    Ok(())
}

#[test]
fn the_same_config_under_different_tasks_has_different_keys() -> sweepstore::Result<()> {
    let config = UniqueConfig::parse(SWEEP)?;
    let train = RunKey::new(&TaskName::new("train")?, &config);
    let evaluate = RunKey::new(&TaskName::new("evaluate")?, &config);
    assert_ne!(train, evaluate);
    Ok(())
}

#[test]
fn content_hashes_are_plain_blake3_and_pinned() -> sweepstore::Result<()> {
    for (bytes, hex) in [
        // The official BLAKE3 test vector for empty input.
        (
            &b""[..],
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
        ),
        (
            b"abc",
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
        ),
        (
            b"hello world",
            "d74981efa70a0c880b8d8c1985d075dbcbf679b99a5f9914e5aaf96b831a9e24",
        ),
        (
            br#"{"a":1}"#,
            "d59b6562d7c9b121bc9760873d787890ef4d429aad33a70b405baa0fa08a1f53",
        ),
    ] {
        let hash = ContentHash::of(bytes);
        assert_eq!(hash.to_hex(), hex, "bytes {bytes:?}");
        assert_eq!(hash.as_bytes(), blake3::hash(bytes).as_bytes());
        assert_eq!(hash, hex.parse::<ContentHash>()?);
        assert_eq!(hash.to_string(), hex);
    }
    Ok(())
}

#[test]
fn configs_without_a_canonical_form_are_rejected() {
    for input in [
        // Not objects.
        "[]",
        "1",
        "\"{}\"",
        "null",
        // Not JSON, or not finite.
        "{\"lr\": NaN}",
        "{\"lr\": Infinity}",
        "{\"lr\": 1e400}",
        "{\"a\":1,}",
        // Integers no IEEE-754 double holds, which canonicalization would change.
        "{\"seed\": 9007199254740993}",
        "{\"seed\": -9007199254740993}",
        "{\"a\": [18446744073709551615]}",
        // Integer literals beyond u64/i64, which a JSON parser reads as rounded doubles.
        "{\"seed\": 18446744073709551616}",
        "{\"seed\": -9223372036854775809}",
        "{\"a\": {\"b\": [123456789012345678901234567890]}}",
        "{\"x\": 1000000000000000000000}",
        // Duplicate keys (RFC 8785 requires input without them), at any depth.
        "{\"a\":1,\"a\":2}",
        "{\"a\":1,\"a\":1}",
        "{\"a\":1,\"\\u0061\":2}",
        "{\"opt\":{\"lr\":0.1,\"lr\":0.2}}",
        "{\"x\":[0,{\"k\":1,\"k\":2}]}",
    ] {
        assert!(UniqueConfig::parse(input).is_err(), "accepted {input}");
    }
}

#[test]
fn duplicate_keys_and_rounded_integer_literals_are_typed_errors() {
    for (input, expected) in [
        (
            r#"{"b":0,"a":1,"a":2}"#,
            ConfigError::DuplicateKey { path: "a".into() },
        ),
        (
            r#"{"opt":{"lr":0.1,"lr":0.2}}"#,
            ConfigError::DuplicateKey {
                path: "opt.lr".into(),
            },
        ),
        (
            r#"{"x":[0,1,{"k":1,"k":2}]}"#,
            ConfigError::DuplicateKey {
                path: "x[2].k".into(),
            },
        ),
        (
            r#"{"seed":18446744073709551616}"#,
            ConfigError::InexactInteger {
                path: "seed".into(),
                value: "18446744073709551616".into(),
                canonical: "18446744073709552000".into(),
            },
        ),
        (
            r#"{"a":{"b":[123456789012345678901234567890]}}"#,
            ConfigError::InexactInteger {
                path: "a.b[0]".into(),
                value: "123456789012345678901234567890".into(),
                canonical: "1.2345678901234568e+29".into(),
            },
        ),
    ] {
        assert_eq!(UniqueConfig::parse(input), Err(expected), "input {input}");
    }
}
