//! Flattening a JSON value into dotted columns: `{"Train": {"lr": 0.1}}` becomes
//! `Train.lr = 0.1`.
//!
//! Invariants: only objects are descended into (an array, like any other non-object, is one
//! value); an empty object is kept as a value (so no key vanishes); keys keep their order
//! within an object, parents before children.

use serde_json::Value;

/// Appends the leaves of `value` to `out` as (dotted path, value), each path prefixed by
/// `prefix` (no prefix if empty). A value that is not a non-empty object is one leaf named
/// `prefix` itself.
pub fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, child, out);
            }
        }
        _ => out.push((prefix.to_owned(), value.clone())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn flat(prefix: &str, value: Value) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        flatten(prefix, &value, &mut out);
        out
    }

    #[test]
    fn nested_objects_become_dotted_paths_and_arrays_stay_whole() {
        let value = json!({"Train": {"lr": 0.1, "opt": {"name": "adam"}}, "seed": 3, "dims": [1, 2], "x": {}});
        let names: Vec<(String, Value)> = flat("", value);
        assert_eq!(
            names,
            vec![
                ("Train.lr".to_owned(), json!(0.1)),
                ("Train.opt.name".to_owned(), json!("adam")),
                ("dims".to_owned(), json!([1, 2])),
                ("seed".to_owned(), json!(3)),
                ("x".to_owned(), json!({})),
            ]
        );
    }

    #[test]
    fn a_prefix_names_a_scalar_result_itself() {
        assert_eq!(
            flat("metrics", json!(0.5)),
            vec![("metrics".to_owned(), json!(0.5))]
        );
        assert_eq!(
            flat("metrics", json!({"loss": 1})),
            vec![("metrics.loss".to_owned(), json!(1))]
        );
    }
}
