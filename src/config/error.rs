//! Why a value is not a valid unique config: [`ConfigError`], shared by the canonical writer
//! (`canonical.rs`), the JSON text parser (`text.rs`) and [`UniqueConfig`](crate::UniqueConfig)
//! (`unique.rs`), so none of them imports another for it.
//!
//! Invariant: this file imports nothing of the crate; the limits ([`ConfigError::TooDeep`],
//! [`ConfigError::TooLarge`]) are told apart from configs that are wrong at any size by
//! [`ConfigError::is_over_limit`] alone.

/// Why a value is not a valid unique config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config is valid JSON but not an object.
    #[error("a unique config must be a JSON object, not {found}")]
    NotObject {
        /// What it was instead (`an array`, `a number`, ...).
        found: &'static str,
    },
    /// A number in the config is NaN or infinite.
    #[error("config value `{path}` is not a finite number; configs must be finite JSON")]
    NotFinite {
        /// Where the value sits, e.g. `optim.lr`.
        path: String,
    },
    /// An integer that canonical JSON would change (it has no exact IEEE-754 double).
    #[error(
        "config value `{path}` is the integer {value}, which canonical JSON (RFC 8785) would \
         change to {canonical}; store it as a string or write {canonical}"
    )]
    InexactInteger {
        /// Where the value sits.
        path: String,
        /// The integer as written.
        value: String,
        /// What canonical JSON would make of it.
        canonical: String,
    },
    /// The config text has an object with two members of the same name (RFC 8785 requires
    /// input without duplicates; a JSON parser would silently keep one of them).
    #[error(
        "config key `{path}` appears twice in the same object; a unique config may name each \
         key only once"
    )]
    DuplicateKey {
        /// Where the second occurrence sits, e.g. `optim.lr` or `layers[2].units`.
        path: String,
    },
    /// Arrays and objects in the config nest deeper than [`MAX_DEPTH`](crate::MAX_DEPTH)
    /// levels (the config object itself is level 1).
    #[error(
        "config value `{path}` nests arrays and objects deeper than {limit} levels, the limit \
         every sweepstore reader holds to; flatten the config (or store the nested part as a \
         string)"
    )]
    TooDeep {
        /// Where the first container past the limit sits.
        path: String,
        /// The limit ([`MAX_DEPTH`](crate::MAX_DEPTH)).
        limit: usize,
    },
    /// The config's canonical text is longer than [`MAX_CONFIG_LEN`](crate::MAX_CONFIG_LEN)
    /// bytes.
    #[error(
        "the config's canonical text is {len} bytes, over the limit of {limit} bytes; keep \
         large data in a result and put a short name for it in the config"
    )]
    TooLarge {
        /// The canonical text's length in bytes.
        len: usize,
        /// The limit ([`MAX_CONFIG_LEN`](crate::MAX_CONFIG_LEN)).
        limit: usize,
    },
    /// The config text is not JSON.
    #[error(
        "config is not valid JSON ({reason}); configs are JSON objects such as {{\"lr\": 0.01}} \
         (NaN and Infinity are not JSON)"
    )]
    Json {
        /// What the parser reported.
        reason: String,
    },
}

impl ConfigError {
    /// Whether this is one of the structural limits ([`ConfigError::TooDeep`],
    /// [`ConfigError::TooLarge`]) rather than a config that is wrong at any size.
    pub(crate) fn is_over_limit(&self) -> bool {
        matches!(
            self,
            ConfigError::TooDeep { .. } | ConfigError::TooLarge { .. }
        )
    }
}
