//! Run keys and content hashes: 32-byte blake3 digests shown as 64 lowercase hex digits.
//!
//! Invariants: a [`RunKey`] is blake3 in key-derivation mode with the context
//! [`RUN_KEY_CONTEXT`] (which carries the format version) over `le64(len(task)) ‖ task ‖
//! le64(len(config)) ‖ config`, where `config` is the canonical (RFC 8785) text; the length
//! prefixes make the encoding injective. A [`ContentHash`] is plain blake3 of the stored
//! bytes, so `b3sum` of a value agrees with its hash. Changing either is a format change:
//! the golden tests in `tests/conformance/golden_keys.rs` pin them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::config::UniqueConfig;
use crate::error::{Error, Result};
use crate::names::TaskName;

/// The blake3 key-derivation context of run keys; bump its version to change the encoding.
pub const RUN_KEY_CONTEXT: &str = "sweepstore 2026-11 run key v1";

macro_rules! digest_type {
    ($(#[$doc:meta])* $ty:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $ty([u8; 32]);

        impl $ty {
            /// Wraps raw digest bytes.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                $ty(bytes)
            }

            /// The raw digest bytes.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// The digest as 64 lowercase hex digits.
            pub fn to_hex(&self) -> String {
                blake3::Hash::from_bytes(self.0).to_hex().to_string()
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($ty), "({})"), self.to_hex())
            }
        }

        impl FromStr for $ty {
            type Err = Error;
            /// Parses 64 hex digits.
            fn from_str(s: &str) -> Result<Self> {
                blake3::Hash::from_hex(s)
                    .map(|h| $ty(*h.as_bytes()))
                    .map_err(|_| Error::InvalidHash {
                        what: $what,
                        input: s.to_owned(),
                    })
            }
        }
    };
}

digest_type!(
    /// Identifies one run: derived from the task name and the canonical config.
    RunKey,
    "run key"
);
digest_type!(
    /// blake3 of a value's stored bytes; values are stored once per hash.
    ContentHash,
    "content hash"
);

impl RunKey {
    /// The key of the run of `task` with `config`.
    pub fn new(task: &TaskName, config: &UniqueConfig) -> Self {
        let mut hasher = blake3::Hasher::new_derive_key(RUN_KEY_CONTEXT);
        for part in [task.as_str(), config.canonical()] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        RunKey(*hasher.finalize().as_bytes())
    }
}

impl ContentHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        ContentHash(*blake3::hash(bytes).as_bytes())
    }
}

impl From<blake3::Hash> for ContentHash {
    fn from(hash: blake3::Hash) -> Self {
        ContentHash(*hash.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_bad_hex_is_a_typed_error() -> Result<()> {
        let key = RunKey::new(&TaskName::new("train")?, &UniqueConfig::empty());
        assert_eq!(key.to_string().parse::<RunKey>()?, key);
        assert!(matches!(
            "xyz".parse::<ContentHash>(),
            Err(Error::InvalidHash {
                what: "content hash",
                ..
            })
        ));
        assert_eq!(
            ContentHash::of(b"").to_hex(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        Ok(())
    }

    #[test]
    fn task_and_config_boundaries_cannot_be_confused() -> Result<()> {
        // Without length prefixes, ("ab", "{}") and ("a", "b{}") could collide.
        let c = UniqueConfig::parse(r#"{"k":1}"#)?;
        let a = RunKey::new(&TaskName::new("t")?, &c);
        let b = RunKey::new(&TaskName::new("u")?, &c);
        assert_ne!(a, b);
        Ok(())
    }
}
