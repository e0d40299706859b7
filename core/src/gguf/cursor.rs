//! A little-endian reader over an untrusted byte slice. Every read is bounds-checked and
//! reports the byte offset it failed at, so the header parser never indexes out of range.

use super::error::GgufError;

/// Position-tracking reader over the raw file bytes.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Byte offset of the next read, for error messages and layout computations.
    pub(crate) fn offset(&self) -> u64 {
        self.pos as u64
    }

    pub(crate) fn remaining(&self) -> u64 {
        self.bytes.len().saturating_sub(self.pos) as u64
    }

    /// Takes the next `len` bytes, or fails without moving.
    pub(crate) fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], GgufError> {
        let truncated = || GgufError::Truncated {
            what,
            offset: self.offset(),
        };
        let end = self.pos.checked_add(len).ok_or_else(truncated)?;
        let slice = self.bytes.get(self.pos..end).ok_or_else(truncated)?;
        self.pos = end;
        Ok(slice)
    }

    pub(crate) fn read_array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], GgufError> {
        let offset = self.offset();
        let slice = self.take(N, what)?;
        slice
            .try_into()
            .map_err(|_| GgufError::Truncated { what, offset })
    }

    pub(crate) fn read_u8(&mut self, what: &'static str) -> Result<u8, GgufError> {
        self.read_array::<1>(what).map(u8::from_le_bytes)
    }

    pub(crate) fn read_i8(&mut self, what: &'static str) -> Result<i8, GgufError> {
        self.read_array::<1>(what).map(i8::from_le_bytes)
    }

    pub(crate) fn read_u16(&mut self, what: &'static str) -> Result<u16, GgufError> {
        self.read_array::<2>(what).map(u16::from_le_bytes)
    }

    pub(crate) fn read_i16(&mut self, what: &'static str) -> Result<i16, GgufError> {
        self.read_array::<2>(what).map(i16::from_le_bytes)
    }

    pub(crate) fn read_u32(&mut self, what: &'static str) -> Result<u32, GgufError> {
        self.read_array::<4>(what).map(u32::from_le_bytes)
    }

    pub(crate) fn read_i32(&mut self, what: &'static str) -> Result<i32, GgufError> {
        self.read_array::<4>(what).map(i32::from_le_bytes)
    }

    pub(crate) fn read_u64(&mut self, what: &'static str) -> Result<u64, GgufError> {
        self.read_array::<8>(what).map(u64::from_le_bytes)
    }

    pub(crate) fn read_i64(&mut self, what: &'static str) -> Result<i64, GgufError> {
        self.read_array::<8>(what).map(i64::from_le_bytes)
    }

    pub(crate) fn read_f32(&mut self, what: &'static str) -> Result<f32, GgufError> {
        self.read_array::<4>(what).map(f32::from_le_bytes)
    }

    pub(crate) fn read_f64(&mut self, what: &'static str) -> Result<f64, GgufError> {
        self.read_array::<8>(what).map(f64::from_le_bytes)
    }

    /// GGUF bools are one byte; anything but 0 or 1 is treated as corruption.
    pub(crate) fn read_bool(&mut self, what: &'static str) -> Result<bool, GgufError> {
        let offset = self.offset();
        match self.read_u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(GgufError::InvalidBool { value, offset }),
        }
    }

    /// Reads a GGUF string (u64 byte length + UTF-8 bytes). The length is checked against the
    /// bytes left before anything is allocated, so a forged 2^60 length is a plain error.
    pub(crate) fn read_string(&mut self, what: &'static str) -> Result<String, GgufError> {
        let len_offset = self.offset();
        let declared = self.read_u64(what)?;
        let remaining = self.remaining();
        if declared > remaining {
            return Err(GgufError::LengthOutOfBounds {
                what,
                declared,
                offset: len_offset,
                remaining,
            });
        }
        let text_offset = self.offset();
        let len = usize::try_from(declared).map_err(|_| GgufError::SizeOverflow { what })?;
        let raw = self.take(len, what)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| GgufError::InvalidUtf8 {
                what,
                offset: text_offset,
            })
    }

    /// Rejects `count` items of at least `min_item_bytes` each when they cannot fit in what is
    /// left of the file; callers do this before reserving memory for the items.
    pub(crate) fn check_count_fits(
        &self,
        count: u64,
        min_item_bytes: u64,
        what: &'static str,
        count_offset: u64,
    ) -> Result<(), GgufError> {
        let remaining = self.remaining();
        let fits = count
            .checked_mul(min_item_bytes)
            .is_some_and(|needed| needed <= remaining);
        if fits {
            Ok(())
        } else {
            Err(GgufError::LengthOutOfBounds {
                what,
                declared: count,
                offset: count_offset,
                remaining,
            })
        }
    }
}
