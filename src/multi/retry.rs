//! The retry rule for calls whose server went away (`docs/design.md` §18.4).
//!
//! A call that fails because the serving process is gone is repeated on the new owner only
//! when that cannot duplicate or lose an effect:
//! - it never reached the server (connecting failed, or its request frame was not sent
//!   whole: the server runs only whole frames) — any call is sent again;
//! - it may have reached the server, and it is a read (or an idempotent write such as
//!   `get_context`) — sent again;
//! - it may have reached the server and it is a save or a state change — the new owner is
//!   asked whether its effect is there (the result holds exactly the saved bytes, the run
//!   has the set state): if so it succeeded, else the caller gets
//!   [`Error::OutcomeUnknown`]; it is never sent again silently;
//! - a delete that may have reached the server: [`Error::OutcomeUnknown`] (whether it found
//!   something cannot be told afterwards).

use crate::error::Error;
use crate::multi::backend::Reachable;

/// What a failed call tells about its effect.
pub(crate) enum Failure {
    /// The server is gone and the request never ran.
    NotApplied,
    /// The server is gone (or silent) after the request was sent whole; why.
    MaybeApplied(String),
    /// Any other error: returned as it is.
    Final,
}

impl Failure {
    /// Classifies an error of a call through another process's server.
    pub(crate) fn of(error: &Error) -> Failure {
        match error {
            Error::ServerUnavailable { .. }
            | Error::Disconnected {
                maybe_applied: false,
                ..
            } => Failure::NotApplied,
            Error::Disconnected {
                maybe_applied: true,
                reason,
                ..
            } => Failure::MaybeApplied(reason.clone()),
            _ => Failure::Final,
        }
    }
}

/// How a call may be repeated once the store is reached again.
pub(crate) enum Retry<'a, T> {
    /// A read or an idempotent write: sent again.
    Resend,
    /// A write that may have run: this looks for its effect (`Some` = it ran, with its
    /// result) instead of sending it again.
    Confirm(&'a dyn Fn(&dyn Reachable) -> crate::Result<Option<T>>),
    /// A write whose effect cannot be looked for.
    Never,
}
