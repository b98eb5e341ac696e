//! The rows of a [`Table`] as JSON or CSV, and one cell as text.
//!
//! Invariants: a blank cell is left out of a JSON row and empty in CSV; strings are written
//! as they are, every other value as compact JSON (so `0.1` stays `0.1` and `[1,2]` stays
//! parseable); CSV quotes a field (RFC 4180) when it holds a comma, quote or line break.

use std::io::{self, Write};

use serde_json::{Map, Value};

use super::Table;

/// The rows as `[{column: value}]`, with the columns at `columns`.
pub fn json(table: &Table, columns: &[usize]) -> Value {
    let names = table.columns();
    let rows = table.rows().iter().map(|row| {
        let object: Map<String, Value> = columns
            .iter()
            .filter_map(|&at| Some((names[at].name.clone(), row.cells[at].clone()?)))
            .collect();
        Value::Object(object)
    });
    Value::Array(rows.collect())
}

/// The rows as CSV with a header line, with the columns at `columns`.
///
/// # Errors
/// Writing to `out`.
pub fn csv(table: &Table, columns: &[usize], out: &mut dyn Write) -> io::Result<()> {
    let header: Vec<&str> = columns
        .iter()
        .map(|&at| table.columns()[at].name.as_str())
        .collect();
    write_record(out, header.into_iter().map(String::from))?;
    for row in table.rows() {
        write_record(
            out,
            columns
                .iter()
                .map(|&at| row.cells[at].as_ref().map(text).unwrap_or_default()),
        )?;
    }
    Ok(())
}

fn write_record(out: &mut dyn Write, fields: impl Iterator<Item = String>) -> io::Result<()> {
    let quoted: Vec<String> = fields
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f
            }
        })
        .collect();
    writeln!(out, "{}", quoted.join(","))
}

/// A cell as text: a string as it is, anything else as compact JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn text_keeps_strings_bare_and_everything_else_json() {
        assert_eq!(text(&json!("adam")), "adam");
        assert_eq!(text(&json!(0.1)), "0.1");
        assert_eq!(text(&json!([1, "a"])), r#"[1,"a"]"#);
        assert_eq!(text(&json!(null)), "null");
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() -> io::Result<()> {
        let mut out = Vec::new();
        write_record(
            &mut out,
            ["plain", "a,b", "say \"hi\"", "two\nlines"]
                .into_iter()
                .map(String::from),
        )?;
        assert_eq!(
            String::from_utf8_lossy(&out),
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n"
        );
        Ok(())
    }
}
