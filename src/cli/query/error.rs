//! [`QueryError`]: a filter, sort key or column name the query core cannot use. Each is a
//! usage error (exit 2) whose message names the problem and what would work.

/// A filter, sort key or column name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A `--where` filter that does not parse.
    #[error(
        "filter `{filter}` is not valid: {reason}; write KEY OP VALUE with OP one of = != < <= > >=, \
         e.g. --where lr=0.1, --where Train.lr<=0.01, --where opt=adam,sgd"
    )]
    BadFilter {
        /// The filter as given.
        filter: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A name that is no column of the table.
    #[error("no column `{name}`; the columns are: {}", known.join(", "))]
    UnknownColumn {
        /// The name given.
        name: String,
        /// The table's column names.
        known: Vec<String>,
    },

    /// A name that is the suffix of several columns.
    #[error("column name `{name}` is ambiguous: it could be {}; give the full name", candidates.join(" or "))]
    AmbiguousColumn {
        /// The name given.
        name: String,
        /// The columns it could mean.
        candidates: Vec<String>,
    },
}
