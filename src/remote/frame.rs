//! Frames: the unit of the server protocol. A frame is a 4-byte little-endian payload length
//! followed by that many bytes of one postcard-encoded message (`docs/design.md` §17).
//!
//! Invariants: encoding and decoding are pure; a frame longer than the limit is rejected from
//! its header alone, before any of its body is read; reading a body allocates only as its
//! bytes arrive (a peer announcing a large frame and sending little costs little memory); a
//! payload decodes only if the message uses every byte of it.

use std::io::{self, Read, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Length of a frame's header.
pub(crate) const HEADER_LEN: usize = 4;

/// The largest payload of any frame, in either direction.
pub const MAX_FRAME: usize = 8 << 20;

/// The largest value piece one frame carries: values and `open` streams travel in pieces of
/// at most this size, so memory per connection stays bounded whatever the value's size.
pub const MAX_CHUNK: usize = 1 << 20;

/// Why a frame could not be read.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The stream failed, or ended inside a frame.
    Io(io::Error),
    /// The header announced more than the limit.
    TooLarge { len: u64, limit: usize },
}

impl FrameError {
    /// As the crate's error, for the side that reads from `peer`.
    pub(crate) fn into_error(self, what: &str) -> Error {
        match self {
            FrameError::Io(e) => Error::Protocol {
                reason: format!("reading a {what} failed: {e}"),
            },
            FrameError::TooLarge { len, limit } => Error::TooLarge {
                what: what.to_owned(),
                size: len,
                limit: limit as u64,
            },
        }
    }
}

/// Encodes `message` as one frame (header included).
///
/// # Errors
/// [`Error::TooLarge`] (naming `what`) if the payload exceeds `limit`; [`Error::Protocol`]
/// if the message cannot be encoded.
pub(crate) fn encode<T: Serialize>(message: &T, what: &str, limit: usize) -> Result<Vec<u8>> {
    let mut frame =
        postcard::to_extend(message, vec![0; HEADER_LEN]).map_err(|e| Error::Protocol {
            reason: format!("cannot encode a {what}: {e}"),
        })?;
    let len = frame.len() - HEADER_LEN;
    let header = u32::try_from(len)
        .ok()
        .filter(|_| len <= limit)
        .ok_or(Error::TooLarge {
            what: what.to_owned(),
            size: len as u64,
            limit: limit as u64,
        })?;
    frame[..HEADER_LEN].copy_from_slice(&header.to_le_bytes());
    Ok(frame)
}

/// Decodes one payload as a `T`, requiring that it uses every byte.
///
/// # Errors
/// [`Error::Protocol`] naming `what`.
pub(crate) fn decode<T: DeserializeOwned>(payload: &[u8], what: &str) -> Result<T> {
    let invalid = |reason: String| Error::Protocol {
        reason: format!("not a valid {what}: {reason}"),
    };
    let (message, rest) = postcard::take_from_bytes(payload).map_err(|e| invalid(e.to_string()))?;
    if rest.is_empty() {
        Ok(message)
    } else {
        Err(invalid(format!("{} bytes after its end", rest.len())))
    }
}

/// Reads the next frame's payload; `None` if the stream ended cleanly between frames.
///
/// # Errors
/// [`FrameError::TooLarge`] from the header alone; [`FrameError::Io`] if the stream fails or
/// ends inside a frame.
pub(crate) fn read<R: Read>(
    reader: &mut R,
    limit: usize,
) -> std::result::Result<Option<Vec<u8>>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        match reader.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    let len = u32::from_le_bytes(header);
    if len as usize > limit {
        return Err(FrameError::TooLarge {
            len: u64::from(len),
            limit,
        });
    }
    // Grows as bytes arrive rather than trusting the header with one allocation.
    let mut payload = Vec::new();
    reader
        .take(u64::from(len))
        .read_to_end(&mut payload)
        .map_err(FrameError::Io)?;
    if payload.len() < len as usize {
        return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(Some(payload))
}

/// Writes one encoded frame.
pub(crate) fn write<W: Write>(writer: &mut W, frame: &[u8]) -> io::Result<()> {
    writer.write_all(frame)?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_limits_hold_both_ways() -> Result<()> {
        let frame = encode(&(7u8, "seven".to_owned()), "test frame", 64)?;
        assert_eq!(frame[..4], (frame.len() as u32 - 4).to_le_bytes());
        let mut input = &frame[..];
        let payload = read(&mut input, 64).map_err(|e| e.into_error("test frame"))?;
        let decoded: (u8, String) = decode(&payload.unwrap_or_default(), "test frame")?;
        assert_eq!(decoded, (7, "seven".to_owned()));
        assert!(matches!(read(&mut input, 64), Ok(None)));

        assert!(matches!(
            encode(&vec![0u8; 100], "test frame", 64),
            Err(Error::TooLarge {
                size: 101,
                limit: 64,
                ..
            })
        ));
        let mut huge = &u32::MAX.to_le_bytes()[..];
        assert!(matches!(
            read(&mut huge, 64),
            Err(FrameError::TooLarge { len, .. }) if len == u64::from(u32::MAX)
        ));
        let mut torn = &frame[..frame.len() - 1];
        assert!(matches!(read(&mut torn, 64), Err(FrameError::Io(_))));
        let mut torn_header = &frame[..2];
        assert!(matches!(read(&mut torn_header, 64), Err(FrameError::Io(_))));
        Ok(())
    }

    #[test]
    fn trailing_bytes_make_a_payload_invalid() {
        let mut payload = postcard::to_stdvec(&5u8).unwrap_or_default();
        payload.push(0);
        assert!(matches!(
            decode::<u8>(&payload, "test frame"),
            Err(Error::Protocol { .. })
        ));
    }
}
