//! Pure encoding and decoding of WAL segment headers and records (no I/O).
//!
//! Segment header (32 bytes): magic `SWSTWAL1` ‖ salt u64 LE ‖ first LSN u64 LE ‖
//! check = blake3(magic ‖ salt ‖ first LSN)[..8].
//! Record: payload length u32 LE ‖ LSN u64 LE ‖ check = blake3(salt ‖ length ‖ LSN ‖
//! payload)[..8] ‖ payload. All integers little-endian.

/// The magic of a segment written under `Durability::Immediate`: each batch is synced before
/// the next is written, so records reach the disk in order. Its last byte is the format
/// version.
pub(crate) const MAGIC: [u8; 8] = *b"SWSTWAL1";
/// The magic of a segment written under `Durability::Relaxed`: several batches may be
/// unsynced at once, and power loss may keep a later one while losing an earlier one.
pub(crate) const MAGIC_RELAXED: [u8; 8] = *b"SWSTWALR";
/// Length of a segment header.
pub(crate) const HEADER_LEN: usize = 32;
/// Length of a record header.
pub(crate) const RECORD_HEADER_LEN: usize = 20;
/// Largest payload a record may carry (64 MiB).
pub(crate) const MAX_PAYLOAD: usize = 64 << 20;

/// A decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub(crate) salt: u64,
    pub(crate) first_lsn: u64,
    /// Written under relaxed durability ([`MAGIC_RELAXED`]).
    pub(crate) relaxed: bool,
}

fn check8(parts: &[&[u8]]) -> [u8; 8] {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(part);
    }
    let mut out = [0; 8];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..8]);
    out
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(buf.get(at..at + 8)?.try_into().ok()?))
}

/// Encodes a segment header.
pub(crate) fn encode_header(header: SegmentHeader) -> [u8; HEADER_LEN] {
    let salt = header.salt.to_le_bytes();
    let first = header.first_lsn.to_le_bytes();
    let magic = if header.relaxed { MAGIC_RELAXED } else { MAGIC };
    let mut out = [0; HEADER_LEN];
    out[..8].copy_from_slice(&magic);
    out[8..16].copy_from_slice(&salt);
    out[16..24].copy_from_slice(&first);
    out[24..].copy_from_slice(&check8(&[&magic, &salt, &first]));
    out
}

/// Decodes a segment header; `None` if it is short, has another magic or a bad check.
pub(crate) fn decode_header(buf: &[u8]) -> Option<SegmentHeader> {
    let head = buf.get(..HEADER_LEN)?;
    let relaxed = head[..8] == MAGIC_RELAXED;
    if !(relaxed || head[..8] == MAGIC)
        || head[24..] != check8(&[&head[..8], &head[8..16], &head[16..24]])
    {
        return None;
    }
    Some(SegmentHeader {
        salt: u64_at(head, 8)?,
        first_lsn: u64_at(head, 16)?,
        relaxed,
    })
}

/// Appends one record to `out`.
///
/// The caller keeps payloads at most [`MAX_PAYLOAD`] bytes.
pub(crate) fn encode_record(salt: u64, lsn: u64, payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_le_bytes();
    let lsn = lsn.to_le_bytes();
    let check = check8(&[&salt.to_le_bytes(), &len, &lsn, payload]);
    out.extend_from_slice(&len);
    out.extend_from_slice(&lsn);
    out.extend_from_slice(&check);
    out.extend_from_slice(payload);
}

/// A record decoded from the front of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub(crate) lsn: u64,
    pub(crate) payload: &'a [u8],
    /// Bytes the record occupies (header and payload).
    pub(crate) len: usize,
}

/// The LSN field of a record at the front of `buf`, unchecked (a cheap filter before
/// [`decode_record`] hashes).
pub(crate) fn record_lsn(buf: &[u8]) -> Option<u64> {
    u64_at(buf, 4)
}

/// Decodes the record at the front of `buf`; `None` if it is short, oversized or its check
/// does not match under `salt` (torn, zeroed, stale or damaged bytes).
pub(crate) fn decode_record(salt: u64, buf: &[u8]) -> Option<Record<'_>> {
    let len = usize::try_from(u32_at(buf, 0)?).ok()?;
    if len > MAX_PAYLOAD {
        return None;
    }
    let lsn = u64_at(buf, 4)?;
    let check = buf.get(12..RECORD_HEADER_LEN)?;
    let payload = buf.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len)?;
    let expected = check8(&[&salt.to_le_bytes(), &buf[..4], &buf[4..12], payload]);
    (check == expected).then_some(Record {
        lsn,
        payload,
        len: RECORD_HEADER_LEN + len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_any_flipped_bit_invalidates() {
        let mut buf = Vec::new();
        encode_record(7, 42, b"hello", &mut buf);
        encode_record(7, 43, b"", &mut buf);
        let first = decode_record(7, &buf);
        assert_eq!(
            first,
            Some(Record {
                lsn: 42,
                payload: b"hello",
                len: 25
            })
        );
        let second = decode_record(7, &buf[25..]);
        assert_eq!(second.map(|r| (r.lsn, r.len)), Some((43, 20)));
        for bit in 0..25 * 8 {
            let mut damaged = buf.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            let decoded = decode_record(7, &damaged);
            assert!(
                decoded.is_none_or(|r| r.payload != b"hello" || r.lsn != 42),
                "bit {bit} flipped went unnoticed"
            );
        }
    }

    #[test]
    fn another_salt_short_buffers_and_zeros_do_not_decode() {
        let mut buf = Vec::new();
        encode_record(1, 1, b"payload", &mut buf);
        assert!(decode_record(2, &buf).is_none());
        assert!(decode_record(1, &buf[..buf.len() - 1]).is_none());
        assert!(decode_record(1, &[0; 64]).is_none());
    }

    #[test]
    fn headers_round_trip_and_reject_damage() {
        for relaxed in [false, true] {
            let header = SegmentHeader {
                salt: 99,
                first_lsn: 1000,
                relaxed,
            };
            assert_eq!(decode_header(&encode_header(header)), Some(header));
        }
        let bytes = encode_header(SegmentHeader {
            salt: 99,
            first_lsn: 1000,
            relaxed: false,
        });
        let mut bad = bytes;
        bad[17] ^= 1;
        assert_eq!(decode_header(&bad), None);
        assert_eq!(decode_header(&bytes[..31]), None);
    }
}
