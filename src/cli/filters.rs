//! The filter options shared by `ls`, `table` and `export`: `--where`, `--state` and
//! `--result` (which json result the filters and columns read), turned into the query core's
//! [`Filter`]s at once.
//!
//! Invariant: a filter that does not parse is a usage error before the store is opened.

use clap::{Args, ValueEnum};
use sweepstore::RunState;

use super::query::{Filter, QueryError};
use super::render::state_name;

/// The result whose fields filters and table columns read unless `--result` says otherwise.
pub const DEFAULT_RESULT: &str = "metrics";

/// `--where`, `--state` and `--result`.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only runs where KEY OP VALUE holds; OP is = != < <= > >=; KEY a config key (nested
    /// keys dotted: Train.lr) or a result field (metrics.val_loss, or just val_loss); VALUE a
    /// JSON value or a string; `opt=adam,sgd` matches either. Repeat to require several.
    #[arg(long = "where", value_name = "KEY OP VALUE")]
    pub filters: Vec<String>,
    /// Only runs in one of these states (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "STATE")]
    pub state: Vec<StateArg>,
    /// The json result whose fields are columns and can be filtered on.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_RESULT)]
    pub result: String,
}

/// A run state as `--state` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    /// Running (or interrupted while running).
    Running,
    /// Finished.
    Finished,
    /// Failed.
    Failed,
}

impl FilterArgs {
    /// The filters, `--state` as a filter on the `state` column.
    ///
    /// # Errors
    /// [`QueryError::BadFilter`] for a `--where` that does not parse.
    pub fn parse(&self) -> Result<Vec<Filter>, QueryError> {
        let mut filters = self
            .filters
            .iter()
            .map(|text| Filter::parse(text))
            .collect::<Result<Vec<_>, _>>()?;
        if !self.state.is_empty() {
            let states: Vec<&str> = self
                .state
                .iter()
                .map(|s| {
                    state_name(match s {
                        StateArg::Running => RunState::Running,
                        StateArg::Finished => RunState::Finished,
                        StateArg::Failed => RunState::Failed,
                    })
                })
                .collect();
            filters.push(Filter::parse(&format!("state={}", states.join(",")))?);
        }
        Ok(filters)
    }

    /// Whether any filter was given.
    pub fn any(&self) -> bool {
        !self.filters.is_empty() || !self.state.is_empty()
    }
}
