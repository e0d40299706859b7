//! An owned weight matrix: quantized from f32 at build time, or copied from bytes into
//! storage aligned for its format (tests, models quantized at load).

use half::f16;

use super::block::{BlockQ4, BlockQ8, QK};
use super::error::QuantError;
use super::matrix::{QuantizedMatrix, WeightRows, checked_byte_length, expected_bytes};
use super::plain::{Plain, as_bytes_mut};
use super::scheme::WeightQuant;

/// Owned typed storage.
#[derive(Debug, Clone, PartialEq)]
enum WeightBuf {
    Q8(Vec<BlockQ8>),
    Q4(Vec<BlockQ4>),
    F16(Vec<f16>),
    F32(Vec<f32>),
}

/// An owned matrix (quantized at build time, or copied from bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedMatrixBuf {
    rows: usize,
    cols: usize,
    data: WeightBuf,
}

impl QuantizedMatrixBuf {
    /// Quantizes row-major f32 `values` `[rows, cols]` to `quant`.
    pub fn quantize(
        quant: WeightQuant,
        rows: usize,
        cols: usize,
        values: &[f32],
    ) -> Result<Self, QuantError> {
        expected_bytes(quant, rows, cols)?;
        let count = rows
            .checked_mul(cols)
            .ok_or(QuantError::SizeOverflow { rows, cols })?;
        if values.len() != count {
            return Err(QuantError::ValueCount {
                rows,
                cols,
                found: values.len(),
            });
        }
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(QuantError::NonFiniteValue {
                row: index / cols,
                col: index % cols,
                value,
            });
        }
        let (chunks, _) = values.as_chunks::<QK>();
        let data = match quant {
            WeightQuant::Q8 => WeightBuf::Q8(chunks.iter().map(BlockQ8::quantize).collect()),
            WeightQuant::Q4 => WeightBuf::Q4(chunks.iter().map(BlockQ4::quantize).collect()),
            WeightQuant::F16 => WeightBuf::F16(values.iter().map(|&v| f16::from_f32(v)).collect()),
            WeightQuant::F32 => WeightBuf::F32(values.to_vec()),
        };
        let matrix = Self { rows, cols, data };
        // An f16 scale overflows to inf for |x| beyond f16 range × 127 (or × 8).
        matrix.view().check_scales().map_err(|err| match err {
            QuantError::NonFiniteScale {
                quant,
                row,
                block,
                scale,
            } => QuantError::ScaleOverflow {
                quant,
                row,
                block,
                scale,
            },
            other => other,
        })?;
        Ok(matrix)
    }

    /// Copies `bytes` (in `quant`'s layout) into aligned storage and validates them like
    /// [`QuantizedMatrix::from_bytes`].
    pub fn from_vec(
        quant: WeightQuant,
        rows: usize,
        cols: usize,
        bytes: Vec<u8>,
    ) -> Result<Self, QuantError> {
        let expected = checked_byte_length(quant, rows, cols, bytes.len())?;
        let units = expected / quant.unit_bytes();
        let data = match quant {
            WeightQuant::Q8 => WeightBuf::Q8(copied(&bytes, units, BlockQ8::zero())),
            WeightQuant::Q4 => WeightBuf::Q4(copied(&bytes, units, BlockQ4::zero())),
            WeightQuant::F16 => WeightBuf::F16(copied(&bytes, units, f16::ZERO)),
            WeightQuant::F32 => WeightBuf::F32(copied(&bytes, units, 0.0)),
        };
        let matrix = Self { rows, cols, data };
        matrix.view().check_scales()?;
        Ok(matrix)
    }

    /// The borrowed view kernels take.
    pub fn view(&self) -> QuantizedMatrix<'_> {
        let data = match &self.data {
            WeightBuf::Q8(blocks) => WeightRows::Q8(blocks),
            WeightBuf::Q4(blocks) => WeightRows::Q4(blocks),
            WeightBuf::F16(values) => WeightRows::F16(values),
            WeightBuf::F32(values) => WeightRows::F32(values),
        };
        QuantizedMatrix::from_parts(self.rows, self.cols, data)
    }
}

fn copied<T: Plain>(bytes: &[u8], units: usize, zero: T) -> Vec<T> {
    let mut out = vec![zero; units];
    as_bytes_mut(&mut out).copy_from_slice(bytes);
    out
}

impl BlockQ8 {
    fn zero() -> Self {
        Self {
            d: f16::ZERO,
            qs: [0; QK],
        }
    }
}

impl BlockQ4 {
    fn zero() -> Self {
        Self {
            d: f16::ZERO,
            qs: [0; QK / 2],
        }
    }
}
