//! The operations the engine logs in the WAL, one record per command.
//!
//! Payload layout: postcard([`WalOp`]) followed, for a [`WalOp::Put`] with inline content, by
//! the raw value bytes (kept out of postcard so large values are copied, not walked per
//! byte). Invariant: every op names the exact run key it changes — lookups are resolved
//! before logging — so replay is deterministic; applying an op twice has the effect of
//! applying it once.
//!
//! Variants are only ever appended (postcard numbers them), so records of older builds
//! decode unchanged. Places to change with an op: [`WalOp`], [`decode`]'s nesting checks,
//! [`WalOp::inner`] and [`WalOp::timed`], `ops::apply` and `WriteTables::stamp`, the actor's
//! resolver (`actor.rs`), the tests here and in `ops.rs`, and `docs/design.md` §8.

use serde::{Deserialize, Serialize};

use crate::claim::Lease;
use crate::error::{Error, Result};
use crate::key::{ContentHash, RunKey};
use crate::run::RunState;

/// A run being created by an op: what its records need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NewRun {
    pub(crate) task: String,
    /// Canonical config text.
    pub(crate) config: String,
    pub(crate) counter: u64,
}

/// One logged change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum WalOp {
    /// Set result `name` of `run` (creating the run if `new_run`).
    Put {
        run: RunKey,
        new_run: Option<NewRun>,
        name: String,
        type_name: String,
        hash: ContentHash,
        size: u64,
        /// The bytes follow the op in the payload; otherwise they are the blob `hash`.
        inline: bool,
    },
    /// Set the state of `run` (creating it if `new_run`).
    SetState {
        run: RunKey,
        new_run: Option<NewRun>,
        state: RunState,
    },
    /// Create `run` with no results.
    CreateRun { run: RunKey, new_run: NewRun },
    /// Remove result `name` of `run`.
    Delete { run: RunKey, name: String },
    /// Remove `run` and its results.
    DeleteRun { run: RunKey },
    /// `op` (a `Put`, `SetState`, `CreateRun` or `Claim`, never another `At`) done at `unix_ms`: the
    /// time a run it creates was created, or a `SetState` to finished finished. Appended
    /// after the others (postcard numbers variants), so WAL records of older builds, which
    /// carry no time, still decode: their runs' times are unknown.
    At { unix_ms: u64, op: Box<WalOp> },
    /// Give `run` (creating it if `new_run`) the claim `lease`, state running. Logged only
    /// for a granted claim; appended last, so the older variants keep their tags.
    Claim {
        run: RunKey,
        new_run: Option<NewRun>,
        lease: Lease,
    },
    /// `op` (a `Put`, never anything else) of a result saved in `sub_dir` (normalized, a
    /// valid `SubDir`). Appended after `Claim`; a `Put` without it clears the sub_dir.
    /// Inside an `At` when timed (`At { op: InSubDir { op: Put } }`).
    InSubDir { sub_dir: String, op: Box<WalOp> },
    /// Record what a fluidml tree says of `run` (creating it if `new_run`): its directory
    /// name there, and whether it has no state (a copy from a tree, `docs/design.md` §13.4).
    /// Appended last.
    Tree {
        run: RunKey,
        new_run: Option<NewRun>,
        dir_name: Option<String>,
        stateless: bool,
    },
}

impl WalOp {
    /// The op itself, without the time an [`WalOp::At`] and the sub_dir an
    /// [`WalOp::InSubDir`] wrap it in.
    pub(crate) fn inner(&self) -> &WalOp {
        match self {
            WalOp::At { op, .. } | WalOp::InSubDir { op, .. } => op.inner(),
            op => op,
        }
    }

    /// This op stamped with the current time, if it is one that creates or finishes a run.
    pub(crate) fn timed(self) -> WalOp {
        match self {
            WalOp::Put { .. }
            | WalOp::SetState { .. }
            | WalOp::CreateRun { .. }
            | WalOp::Claim { .. }
            | WalOp::InSubDir { .. }
            | WalOp::Tree { .. } => WalOp::At {
                unix_ms: now_ms(),
                op: Box::new(self),
            },
            op => op,
        }
    }
}

/// Milliseconds since the Unix epoch (at least 1: 0 means unknown in `run_times`).
fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(1, |d| {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
    })
}

/// Encodes an op and its inline bytes into a WAL payload.
pub(crate) fn encode(op: &WalOp, inline: Option<&[u8]>) -> Result<Vec<u8>> {
    let mut payload = postcard::to_stdvec(op).map_err(|e| Error::CorruptRecord {
        what: "WAL op".to_owned(),
        reason: e.to_string(),
    })?;
    if let Some(bytes) = inline {
        payload.extend_from_slice(bytes);
    }
    Ok(payload)
}

/// Decodes a WAL payload into its op and inline bytes.
pub(crate) fn decode(lsn: u64, payload: &[u8]) -> Result<(WalOp, Option<&[u8]>)> {
    let (op, rest): (WalOp, &[u8]) =
        postcard::take_from_bytes(payload).map_err(|e| Error::CorruptRecord {
            what: format!("WAL record {lsn}"),
            reason: e.to_string(),
        })?;
    let untimed = match &op {
        WalOp::At { op, .. } => &**op,
        op => op,
    };
    let wrong_nesting = match untimed {
        WalOp::At { .. } => Some("a timed op wraps another timed op"),
        WalOp::InSubDir { op, .. } if !matches!(**op, WalOp::Put { .. }) => {
            Some("a sub_dir wraps an op other than a put")
        }
        _ => None,
    };
    if let Some(reason) = wrong_nesting {
        return Err(Error::CorruptRecord {
            what: format!("WAL record {lsn}"),
            reason: reason.to_owned(),
        });
    }
    let inline = matches!(op.inner(), WalOp::Put { inline: true, .. });
    if !inline && !rest.is_empty() {
        return Err(Error::CorruptRecord {
            what: format!("WAL record {lsn}"),
            reason: format!("{} unexpected trailing bytes", rest.len()),
        });
    }
    Ok((op, inline.then_some(rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_round_trip_with_and_without_inline_bytes() -> Result<()> {
        let put = WalOp::Put {
            run: RunKey::from_bytes([1; 32]),
            new_run: Some(NewRun {
                task: "train".into(),
                config: "{}".into(),
                counter: 3,
            }),
            name: "m".into(),
            type_name: "json".into(),
            hash: ContentHash::of(b"{}"),
            size: 2,
            inline: true,
        };
        let payload = encode(&put, Some(b"{}"))?;
        assert_eq!(decode(1, &payload)?, (put, Some(&b"{}"[..])));
        let del = WalOp::DeleteRun {
            run: RunKey::from_bytes([2; 32]),
        };
        let mut payload = encode(&del, None)?;
        assert_eq!(decode(2, &payload)?, (del, None));
        payload.push(0);
        assert!(matches!(
            decode(2, &payload),
            Err(Error::CorruptRecord { .. })
        ));
        Ok(())
    }

    #[test]
    fn timed_ops_keep_their_inline_bytes_and_untimed_old_records_still_decode() -> Result<()> {
        let set = WalOp::SetState {
            run: RunKey::from_bytes([3; 32]),
            new_run: None,
            state: RunState::Finished,
        };
        // An op as a build without times logged it decodes as it was.
        let old = encode(&set, None)?;
        assert_eq!(decode(3, &old)?, (set.clone(), None));
        let timed = set.clone().timed();
        assert!(matches!(&timed, WalOp::At { unix_ms, op } if *unix_ms > 1 && **op == set));
        assert_eq!(decode(4, &encode(&timed, None)?)?, (timed, None));
        let put = WalOp::Put {
            run: RunKey::from_bytes([4; 32]),
            new_run: None,
            name: "m".into(),
            type_name: "text".into(),
            hash: ContentHash::of(b"hi"),
            size: 2,
            inline: true,
        }
        .timed();
        assert_eq!(
            decode(5, &encode(&put, Some(b"hi"))?)?,
            (put, Some(&b"hi"[..]))
        );
        let delete = WalOp::DeleteRun {
            run: RunKey::from_bytes([5; 32]),
        };
        assert_eq!(delete.clone().timed(), delete);
        let nested = WalOp::At {
            unix_ms: 9,
            op: Box::new(WalOp::At {
                unix_ms: 9,
                op: Box::new(delete),
            }),
        };
        assert!(matches!(
            decode(6, &encode(&nested, None)?),
            Err(Error::CorruptRecord { .. })
        ));
        Ok(())
    }

    #[test]
    fn a_put_in_a_sub_dir_and_a_tree_op_round_trip_timed_and_only_a_put_takes_a_sub_dir()
    -> Result<()> {
        let put = WalOp::Put {
            run: RunKey::from_bytes([6; 32]),
            new_run: None,
            name: "histo".into(),
            type_name: "json".into(),
            hash: ContentHash::of(b"[1]"),
            size: 3,
            inline: true,
        };
        let placed = WalOp::InSubDir {
            sub_dir: "plots/raw".into(),
            op: Box::new(put.clone()),
        }
        .timed();
        assert_eq!(placed.inner(), &put, "inner() sees through both wrappers");
        let payload = encode(&placed, Some(b"[1]"))?;
        assert_eq!(decode(7, &payload)?, (placed, Some(&b"[1]"[..])));
        let tree = WalOp::Tree {
            run: RunKey::from_bytes([6; 32]),
            new_run: None,
            dir_name: Some("brave-owl-000".into()),
            stateless: true,
        }
        .timed();
        assert_eq!(decode(8, &encode(&tree, None)?)?, (tree, None));
        let wrong = WalOp::InSubDir {
            sub_dir: "x".into(),
            op: Box::new(WalOp::DeleteRun {
                run: RunKey::from_bytes([6; 32]),
            }),
        };
        assert!(matches!(
            decode(9, &encode(&wrong, None)?),
            Err(Error::CorruptRecord { .. })
        ));
        Ok(())
    }
}
