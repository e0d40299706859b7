//! The on-disk format: a 12-byte header, then records of
//! `[payload length: u32 LE][crc32 of length and payload: u32 LE][payload]`.
//! Payload: kind byte, then for an event `item u32, timestamp i64, feedback kind u8,
//! stars u8`; for a profile `field count u16`, then per field `u16 length + UTF-8` for the
//! name and for the value. All little-endian.

use super::error::{InvalidRecord, RecordDefect};
use super::event::{Feedback, StoredEvent, UserProfile};

/// File magic.
pub const MAGIC: [u8; 8] = *b"RCLHIST\0";
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// Magic + version.
pub const HEADER_LEN: usize = 12;
/// Length + checksum.
pub const RECORD_HEADER_LEN: usize = 8;
/// Largest payload accepted, written or read.
pub const MAX_PAYLOAD: usize = 64 * 1024;

const KIND_EVENT: u8 = 1;
const KIND_PROFILE: u8 = 2;
const FEEDBACK_RATING: u8 = 0;
const FEEDBACK_LIKE: u8 = 1;
const FEEDBACK_DISLIKE: u8 = 2;

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An interaction.
    Event(StoredEvent),
    /// A profile update (the last one wins).
    Profile(UserProfile),
}

/// The file header bytes.
pub fn header() -> [u8; HEADER_LEN] {
    let mut bytes = [0u8; HEADER_LEN];
    bytes[..8].copy_from_slice(&MAGIC);
    bytes[8..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes
}

/// The framed bytes of `record`, ready for one `write_all`.
pub fn encode(record: &Record) -> Result<Vec<u8>, InvalidRecord> {
    let mut payload = Vec::with_capacity(16);
    match record {
        Record::Event(event) => {
            event.feedback.validate()?;
            payload.push(KIND_EVENT);
            payload.extend_from_slice(&event.item_id.to_le_bytes());
            payload.extend_from_slice(&event.timestamp.to_le_bytes());
            let (kind, stars) = match event.feedback {
                Feedback::Rating(stars) => (FEEDBACK_RATING, stars),
                Feedback::Like => (FEEDBACK_LIKE, 0),
                Feedback::Dislike => (FEEDBACK_DISLIKE, 0),
            };
            payload.extend_from_slice(&[kind, stars]);
        }
        Record::Profile(profile) => {
            payload.push(KIND_PROFILE);
            let count = u16::try_from(profile.fields.len())
                .map_err(|_| InvalidRecord::TooManyFields(profile.fields.len()))?;
            payload.extend_from_slice(&count.to_le_bytes());
            for (name, value) in &profile.fields {
                for text in [name, value] {
                    let len = u16::try_from(text.len())
                        .map_err(|_| InvalidRecord::FieldTooLong(name.clone()))?;
                    payload.extend_from_slice(&len.to_le_bytes());
                    payload.extend_from_slice(text.as_bytes());
                }
            }
        }
    }
    if payload.len() > MAX_PAYLOAD {
        return Err(InvalidRecord::Oversized {
            bytes: payload.len(),
            limit: MAX_PAYLOAD,
        });
    }
    let len = (payload.len() as u32).to_le_bytes();
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len);
    hasher.update(&payload);
    let mut framed = Vec::with_capacity(RECORD_HEADER_LEN + payload.len());
    framed.extend_from_slice(&len);
    framed.extend_from_slice(&hasher.finalize().to_le_bytes());
    framed.extend_from_slice(&payload);
    Ok(framed)
}

/// Decodes the record at the start of `bytes`, returning it and its framed length.
pub fn decode(bytes: &[u8]) -> Result<(Record, usize), RecordDefect> {
    let header = bytes
        .get(..RECORD_HEADER_LEN)
        .ok_or(RecordDefect::Truncated)?;
    let len = u32::from_le_bytes(
        header[..4]
            .try_into()
            .map_err(|_| RecordDefect::Truncated)?,
    );
    let stored_crc = u32::from_le_bytes(
        header[4..]
            .try_into()
            .map_err(|_| RecordDefect::Truncated)?,
    );
    if len == 0 || len as usize > MAX_PAYLOAD {
        return Err(RecordDefect::Length(len));
    }
    let end = RECORD_HEADER_LEN + len as usize;
    let payload = bytes
        .get(RECORD_HEADER_LEN..end)
        .ok_or(RecordDefect::Truncated)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[..4]);
    hasher.update(payload);
    if hasher.finalize() != stored_crc {
        return Err(RecordDefect::Checksum);
    }
    let record = decode_payload(payload).ok_or(RecordDefect::Payload)?;
    Ok((record, end))
}

fn decode_payload(payload: &[u8]) -> Option<Record> {
    let mut reader = Reader(payload);
    let record = match reader.u8()? {
        KIND_EVENT => {
            let item_id = u32::from_le_bytes(reader.take(4)?.try_into().ok()?);
            let timestamp = i64::from_le_bytes(reader.take(8)?.try_into().ok()?);
            let feedback = match (reader.u8()?, reader.u8()?) {
                (FEEDBACK_RATING, stars @ 1..=5) => Feedback::Rating(stars),
                (FEEDBACK_LIKE, 0) => Feedback::Like,
                (FEEDBACK_DISLIKE, 0) => Feedback::Dislike,
                _ => return None,
            };
            Record::Event(StoredEvent {
                item_id,
                feedback,
                timestamp,
            })
        }
        KIND_PROFILE => {
            let count = u16::from_le_bytes(reader.take(2)?.try_into().ok()?);
            let mut fields = Vec::with_capacity(usize::from(count));
            for _ in 0..count {
                let name = reader.text()?;
                let value = reader.text()?;
                fields.push((name, value));
            }
            Record::Profile(UserProfile { fields })
        }
        _ => return None,
    };
    reader.0.is_empty().then_some(record)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn text(&mut self) -> Option<String> {
        let len = u16::from_le_bytes(self.take(2)?.try_into().ok()?);
        String::from_utf8(self.take(usize::from(len))?.to_vec()).ok()
    }
}
