//! A weight matrix inside bytes shared with their owner (the bundle's `Arc<Mmap>`),
//! validated once and then viewed for free, so a model can hold it without a lifetime.

use std::ops::Range;
use std::sync::Arc;

use super::error::QuantError;
use super::matrix::{QuantizedMatrix, expected_bytes};
use super::scheme::WeightQuant;

/// Bytes shared with whoever else holds them (an `Arc<Mmap>` of the bundle, a `Vec<u8>`).
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// A matrix inside shared bytes: validated once at construction, then viewed for free.
#[derive(Clone)]
pub struct SharedMatrix {
    bytes: SharedBytes,
    range: Range<usize>,
    quant: WeightQuant,
    rows: usize,
    cols: usize,
}

impl std::fmt::Debug for SharedMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMatrix")
            .field("range", &self.range)
            .field("quant", &self.quant)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .finish_non_exhaustive()
    }
}

impl SharedMatrix {
    /// The matrix at `range` of `bytes`, checked as [`QuantizedMatrix::from_bytes`] does.
    /// A range outside `bytes` is a [`QuantError::ByteLength`].
    pub fn new(
        bytes: SharedBytes,
        range: Range<usize>,
        quant: WeightQuant,
        rows: usize,
        cols: usize,
    ) -> Result<Self, QuantError> {
        let all = (*bytes).as_ref();
        let slice = all.get(range.clone()).ok_or(QuantError::ByteLength {
            quant,
            rows,
            cols,
            expected: expected_bytes(quant, rows, cols)?,
            found: all.len().saturating_sub(range.start),
        })?;
        QuantizedMatrix::from_bytes(quant, rows, cols, slice)?;
        Ok(Self {
            bytes,
            range,
            quant,
            rows,
            cols,
        })
    }

    /// The borrowed view kernels take.
    pub fn view(&self) -> QuantizedMatrix<'_> {
        let slice = &(*self.bytes).as_ref()[self.range.clone()];
        // The bytes are immutable behind the Arc and passed these checks in `new`.
        QuantizedMatrix::from_bytes_unscanned(self.quant, self.rows, self.cols, slice)
            .expect("layout validated in SharedMatrix::new")
    }
}
