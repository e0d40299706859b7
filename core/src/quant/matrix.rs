//! The borrowed, validated view of a weight matrix `[rows = out_features, cols =
//! in_features]` in a [`WeightQuant`] format: what every kernel takes. It can point into
//! an mmap; `matrix_buf` owns the bytes instead, `shared` keeps an mmap alive.

use half::f16;

use super::block::{BlockQ4, BlockQ8, QK};
use super::error::QuantError;
use super::plain::{CastError, as_bytes, cast_slice};
use super::scheme::WeightQuant;

/// The typed rows of a matrix, row-major, each row `cols / block_len` units.
#[derive(Debug, Clone, Copy)]
pub enum WeightRows<'a> {
    Q8(&'a [BlockQ8]),
    Q4(&'a [BlockQ4]),
    F16(&'a [f16]),
    F32(&'a [f32]),
}

/// A validated, borrowed weight matrix. Nothing is decoded until a kernel reads a row.
#[derive(Debug, Clone, Copy)]
pub struct QuantizedMatrix<'a> {
    rows: usize,
    cols: usize,
    data: WeightRows<'a>,
}

impl<'a> QuantizedMatrix<'a> {
    /// Views `bytes` as a `[rows, cols]` matrix in format `quant`, without copying.
    ///
    /// Checks the length, the alignment, that rows are whole blocks, and that every block
    /// scale is finite (this reads every scale once, paging in the whole matrix).
    pub fn from_bytes(
        quant: WeightQuant,
        rows: usize,
        cols: usize,
        bytes: &'a [u8],
    ) -> Result<Self, QuantError> {
        let matrix = Self::from_bytes_unscanned(quant, rows, cols, bytes)?;
        matrix.check_scales()?;
        Ok(matrix)
    }

    /// [`from_bytes`](Self::from_bytes) without the scale scan: O(1) layout checks only.
    pub(crate) fn from_bytes_unscanned(
        quant: WeightQuant,
        rows: usize,
        cols: usize,
        bytes: &'a [u8],
    ) -> Result<Self, QuantError> {
        let expected = checked_byte_length(quant, rows, cols, bytes.len())?;
        let layout_error = |err| match err {
            CastError::Misaligned { align, address_mod } => QuantError::Misaligned {
                quant,
                align,
                address_mod,
            },
            // Unreachable after the length check; reported rather than panicking anyway.
            CastError::Ragged { .. } => QuantError::ByteLength {
                quant,
                rows,
                cols,
                expected,
                found: bytes.len(),
            },
        };
        let data = match quant {
            WeightQuant::Q8 => WeightRows::Q8(cast_slice(bytes).map_err(layout_error)?),
            WeightQuant::Q4 => WeightRows::Q4(cast_slice(bytes).map_err(layout_error)?),
            WeightQuant::F16 => WeightRows::F16(cast_slice(bytes).map_err(layout_error)?),
            WeightQuant::F32 => WeightRows::F32(cast_slice(bytes).map_err(layout_error)?),
        };
        Ok(Self { rows, cols, data })
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input features.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The storage format.
    pub fn quant(&self) -> WeightQuant {
        match self.data {
            WeightRows::Q8(_) => WeightQuant::Q8,
            WeightRows::Q4(_) => WeightQuant::Q4,
            WeightRows::F16(_) => WeightQuant::F16,
            WeightRows::F32(_) => WeightQuant::F32,
        }
    }

    /// The typed storage, for kernels.
    pub fn data(&self) -> WeightRows<'a> {
        self.data
    }

    /// The raw bytes, as a bundle writer stores them.
    pub fn as_bytes(&self) -> &'a [u8] {
        match self.data {
            WeightRows::Q8(blocks) => as_bytes(blocks),
            WeightRows::Q4(blocks) => as_bytes(blocks),
            WeightRows::F16(values) => as_bytes(values),
            WeightRows::F32(values) => as_bytes(values),
        }
    }

    /// Decodes row `row` into `out` (`cols` values).
    ///
    /// # Panics
    /// If `row >= rows` or `out.len() != cols`.
    pub fn decode_row(&self, row: usize, out: &mut [f32]) {
        assert_eq!(out.len(), self.cols, "decode_row: output width");
        let span = |len: usize| row * len..(row + 1) * len;
        let blocks_per_row = self.cols / QK;
        match self.data {
            WeightRows::Q8(blocks) => {
                let (outs, _) = out.as_chunks_mut::<QK>();
                for (block, y) in blocks[span(blocks_per_row)].iter().zip(outs) {
                    block.dequantize(y);
                }
            }
            WeightRows::Q4(blocks) => {
                let (outs, _) = out.as_chunks_mut::<QK>();
                for (block, y) in blocks[span(blocks_per_row)].iter().zip(outs) {
                    block.dequantize(y);
                }
            }
            WeightRows::F16(values) => {
                for (y, v) in out.iter_mut().zip(&values[span(self.cols)]) {
                    *y = v.to_f32();
                }
            }
            WeightRows::F32(values) => out.copy_from_slice(&values[span(self.cols)]),
        }
    }

    /// The whole matrix as f32, `[rows, cols]` (tests and benchmarks; the runtime never
    /// does this).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.rows * self.cols];
        if self.cols > 0 {
            for (row, y) in out.chunks_exact_mut(self.cols).enumerate() {
                self.decode_row(row, y);
            }
        }
        out
    }

    /// A view of typed storage the caller sized as `[rows, cols]`.
    pub(super) fn from_parts(rows: usize, cols: usize, data: WeightRows<'a>) -> Self {
        Self { rows, cols, data }
    }

    /// Rejects a NaN or infinite block scale, naming its row and block.
    pub(super) fn check_scales(&self) -> Result<(), QuantError> {
        let bad = match self.data {
            WeightRows::Q8(blocks) => first_non_finite(blocks.iter().map(|b| b.d)),
            WeightRows::Q4(blocks) => first_non_finite(blocks.iter().map(|b| b.d)),
            WeightRows::F16(_) | WeightRows::F32(_) => None,
        };
        let blocks_per_row = self.cols / QK;
        match bad {
            None => Ok(()),
            Some((index, d)) => Err(QuantError::NonFiniteScale {
                quant: self.quant(),
                row: index / blocks_per_row,
                block: index % blocks_per_row,
                scale: d.to_f32(),
            }),
        }
    }
}

fn first_non_finite(scales: impl Iterator<Item = f16>) -> Option<(usize, f16)> {
    scales.enumerate().find(|(_, d)| !d.is_finite())
}

/// [`expected_bytes`] of `[rows, cols]` in `quant`, which `found` bytes must equal.
pub(super) fn checked_byte_length(
    quant: WeightQuant,
    rows: usize,
    cols: usize,
    found: usize,
) -> Result<usize, QuantError> {
    let expected = expected_bytes(quant, rows, cols)?;
    if found == expected {
        Ok(expected)
    } else {
        Err(QuantError::ByteLength {
            quant,
            rows,
            cols,
            expected,
            found,
        })
    }
}

/// Bytes of a `[rows, cols]` matrix in `quant`, or why there is no such size.
pub fn expected_bytes(quant: WeightQuant, rows: usize, cols: usize) -> Result<usize, QuantError> {
    if !cols.is_multiple_of(quant.block_len()) {
        return Err(QuantError::ColsNotBlockAligned {
            quant,
            cols,
            block: quant.block_len(),
        });
    }
    quant
        .row_bytes(cols)
        .and_then(|row| row.checked_mul(rows))
        .ok_or(QuantError::SizeOverflow { rows, cols })
}
