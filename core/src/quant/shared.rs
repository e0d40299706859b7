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

    /// The matrix `view` shows, which must lie inside `bytes` (a view parsed from the same
    /// map). `view` was validated when it was made, so nothing is scanned again: this is
    /// O(1). A view elsewhere is a [`QuantError::NotWithin`].
    pub fn within(bytes: SharedBytes, view: &QuantizedMatrix<'_>) -> Result<Self, QuantError> {
        let all = (*bytes).as_ref();
        let inner = view.as_bytes();
        let outer_start = all.as_ptr() as usize;
        let inner_start = inner.as_ptr() as usize;
        let start = inner_start.wrapping_sub(outer_start);
        if inner_start < outer_start || start + inner.len() > all.len() {
            return Err(QuantError::NotWithin {
                len: inner.len(),
                shared_len: all.len(),
            });
        }
        Ok(Self {
            range: start..start + inner.len(),
            quant: view.quant(),
            rows: view.rows(),
            cols: view.cols(),
            bytes,
        })
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input features.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The borrowed view kernels take.
    pub fn view(&self) -> QuantizedMatrix<'_> {
        let slice = &(*self.bytes).as_ref()[self.range.clone()];
        // The bytes are immutable behind the Arc and passed these checks in `new`.
        QuantizedMatrix::from_bytes_unscanned(self.quant, self.rows, self.cols, slice)
            .expect("layout validated in SharedMatrix::new")
    }
}
