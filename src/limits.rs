//! Structural limits on what a store accepts, so that everything accepted is readable by every
//! reader: every backend, the CLI, the server protocol, export/import, MongoDB documents and
//! the Python package.
//!
//! - [`MAX_DEPTH`]: arrays and objects nest at most this deep, in unique configs and in `json`
//!   values. The tightest reader is `serde_json`'s parser, which refuses text nested 128 levels
//!   deep; MongoDB refuses documents nested more than 100 levels. 64 keeps a margin under both
//!   for the documents and records that wrap a config or value (a `--json` listing, a run
//!   document), and for Python's `json` and `pickle` modules (about 1000).
//! - [`MAX_CONFIG_LEN`]: the canonical text of a config is at most this many bytes, so that a
//!   config fits in one server frame (`MAX_FRAME`, 8 MiB) beside a value chunk, and twice (as
//!   `config` and `pairs`) in a MongoDB run document (16 MiB).
//!
//! Invariants: nothing here recurses (not even dropping a rejected value: [`drop_flat`]), so the checks themselves hold on a thread with a small
//! stack whatever the input's depth; a value passes [`value_too_deep`] exactly when its JSON
//! text passes the depth check of `json_scan.rs` (which checks text handed over as `json`).

use serde_json::{Map, Value};

/// The deepest nesting of arrays and objects a unique config or a `json` value may have:
/// `{}` and `[1]` are 1 level deep, `{"a": [1]}` 2. Deeper input is rejected when it is
/// accepted ([`ConfigError::TooDeep`](crate::ConfigError::TooDeep),
/// [`Error::NestedTooDeep`](crate::Error::NestedTooDeep)), never when it is read back.
pub const MAX_DEPTH: usize = 64;

/// The longest canonical text of a unique config, in bytes (1 MiB); longer is
/// [`ConfigError::TooLarge`](crate::ConfigError::TooLarge).
pub const MAX_CONFIG_LEN: usize = 1 << 20;

/// One step of a path into a JSON value.
#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The members of an array or object still to visit.
enum Level<'a> {
    Array(usize, std::slice::Iter<'a, Value>),
    Object(serde_json::map::Iter<'a>),
}

impl<'a> Level<'a> {
    fn of(value: &'a Value) -> Option<Self> {
        match value {
            Value::Array(items) => Some(Level::Array(0, items.iter())),
            Value::Object(map) => Some(Level::Object(map.iter())),
            _ => None,
        }
    }

    fn next(&mut self) -> Option<(Step<'a>, &'a Value)> {
        match self {
            Level::Array(i, items) => {
                let item = items.next()?;
                let step = Step::Index(*i);
                *i += 1;
                Some((step, item))
            }
            Level::Object(members) => members.next().map(|(k, v)| (Step::Key(k), v)),
        }
    }
}

/// The path (as `config/canonical.rs` writes paths: `a.b[2]`) of the first array or object, depth
/// first, that nests deeper than `limit` levels in `value`; `None` if there is none.
pub(crate) fn value_too_deep(value: &Value, limit: usize) -> Option<String> {
    walk(Level::of(value)?, limit)
}

/// As [`value_too_deep`] for an object given as its map.
pub(crate) fn map_too_deep(map: &Map<String, Value>, limit: usize) -> Option<String> {
    walk(Level::Object(map.iter()), limit)
}

/// Walks the containers below `root` (itself at level 1) with an explicit stack.
fn walk(root: Level<'_>, limit: usize) -> Option<String> {
    if limit == 0 {
        return Some(String::new());
    }
    let mut levels = vec![root];
    // `path[i]` leads from `levels[i]` into `levels[i + 1]`.
    let mut path = Vec::new();
    while let Some(level) = levels.last_mut() {
        let Some((step, child)) = level.next() else {
            levels.pop();
            path.pop();
            continue;
        };
        let Some(child) = Level::of(child) else {
            continue;
        };
        path.push(step);
        if levels.len() >= limit {
            return Some(render(&path));
        }
        levels.push(child);
    }
    None
}

/// Drops the members of `map` without recursing: `serde_json`'s own drop recurses once per
/// level, so dropping a value rejected for its depth could overflow the stack.
pub(crate) fn drop_flat(map: Map<String, Value>) {
    let mut rest: Vec<Value> = map.into_iter().map(|(_, v)| v).collect();
    while let Some(value) = rest.pop() {
        match value {
            Value::Array(items) => rest.extend(items),
            Value::Object(map) => rest.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

fn render(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(key) if out.is_empty() => out.push_str(key),
            Step::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_scan::{JsonProblem, JsonScan, check_json};
    use serde_json::json;

    fn text_too_deep(text: &[u8], limit: usize) -> bool {
        check_json(text, limit) == Err(JsonProblem::TooDeep)
    }

    /// `levels` arrays one inside the other around `1`.
    fn nested(levels: usize) -> Value {
        (0..levels).fold(json!(1), |inner, _| Value::Array(vec![inner]))
    }

    #[test]
    fn depth_counts_arrays_and_objects_from_one() {
        for (value, depth) in [
            (json!(1), 0),
            (json!("[[[{"), 0),
            (json!([]), 1),
            (json!({"a": 1}), 1),
            (json!({"a": [1]}), 2),
            (json!([[], [[{"x": {}}]], 3]), 5),
            (nested(64), 64),
        ] {
            assert_eq!(value_too_deep(&value, depth), None, "{value}");
            let text = value.to_string();
            assert!(!text_too_deep(text.as_bytes(), depth), "{text}");
            if depth > 0 {
                assert!(value_too_deep(&value, depth - 1).is_some(), "{value}");
                assert!(text_too_deep(text.as_bytes(), depth - 1), "{text}");
            }
        }
    }

    #[test]
    fn the_path_names_the_first_container_past_the_limit() {
        let value = json!({"a": 1, "b": [0, {"c": {"d": []}}]});
        assert_eq!(value_too_deep(&value, 3).as_deref(), Some("b[1].c"));
        assert_eq!(value_too_deep(&value, 4).as_deref(), Some("b[1].c.d"));
        assert_eq!(value_too_deep(&value, 5), None);
        let Value::Object(map) = value else {
            unreachable!("built as an object")
        };
        assert_eq!(map_too_deep(&map, 3).as_deref(), Some("b[1].c"));
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let text = br#"[{"k[{": "]]\"[[[["}, "\\", ["{"]]"#;
        assert!(!text_too_deep(text, 2));
        assert!(text_too_deep(text, 1));
        // Fed one byte at a time (an escape split across pieces), the answer is the same.
        for limit in [1, 2] {
            let mut scan = JsonScan::new(limit);
            text.chunks(1).for_each(|piece| scan.feed(piece));
            assert_eq!(scan.finish().is_err(), limit == 1);
        }
    }

    #[test]
    fn a_million_levels_are_checked_on_a_small_stack() -> std::io::Result<()> {
        let text = "[".repeat(1_000_000) + &"]".repeat(1_000_000);
        let deep = nested(1_000_000);
        let checked = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let verdict = (
                    text_too_deep(text.as_bytes(), MAX_DEPTH),
                    value_too_deep(&deep, MAX_DEPTH).map(|p| p.len()),
                );
                (verdict, deep)
            })?
            .join();
        let ((text_deep, path_len), deep) =
            checked.map_err(|_| std::io::Error::other("the check overflowed its stack"))?;
        assert!(text_deep);
        assert_eq!(path_len, Some(3 * MAX_DEPTH), "`[0]` per level");
        drop_flat(Map::from_iter([("deep".to_owned(), deep)]));
        Ok(())
    }
}
