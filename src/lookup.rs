//! The subset fallback of the lookup rule, shared by every backend.
//!
//! Invariant: among the stored runs whose config is a subset of the query, the one with the
//! most top-level keys wins, and among those the earliest created (smallest sweep counter),
//! so the choice never depends on storage order.

use crate::config::UniqueConfig;

/// Picks the best run among `candidates` (config, sweep counter, item) whose config is a
/// subset of `query`; `None` if no config is.
pub(crate) fn best_subset<'a, T>(
    query: &UniqueConfig,
    candidates: impl IntoIterator<Item = (&'a UniqueConfig, u64, T)>,
) -> Option<T> {
    candidates
        .into_iter()
        .filter(|(config, _, _)| config.is_subset_of(query))
        .min_by_key(|(config, counter, _)| (std::cmp::Reverse(config.len()), *counter))
        .map(|(_, _, item)| item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigError;

    #[test]
    fn most_specific_then_earliest_wins() -> Result<(), ConfigError> {
        let query = UniqueConfig::parse(r#"{"a":1,"b":2,"c":3}"#)?;
        let a = UniqueConfig::parse(r#"{"a":1}"#)?;
        let ab = UniqueConfig::parse(r#"{"a":1,"b":2}"#)?;
        let bc = UniqueConfig::parse(r#"{"b":2,"c":3}"#)?;
        let other = UniqueConfig::parse(r#"{"a":1,"b":2,"c":3,"d":4}"#)?;
        let runs = [
            (&a, 0, "a"),
            (&bc, 3, "bc"),
            (&ab, 2, "ab"),
            (&other, 1, "other"),
        ];
        assert_eq!(best_subset(&query, runs), Some("ab"));
        let only_a = [(&a, 5, "a"), (&other, 1, "other")];
        assert_eq!(best_subset(&query, only_a), Some("a"));
        assert_eq!(best_subset(&query, [(&other, 1, "other")]), None);
        Ok(())
    }
}
