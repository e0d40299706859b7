//! Weights in the int8 GEMM's packed layout (`reclora_kernels::qgemm`: ggml Q8_0 or Q4_1
//! blocks interleaved in 32-row panels) inside shared bytes, the projection over them, and
//! the per-matrix storage formats a bundle records.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use reclora_kernels::qgemm::{PackedView, PackedWeights, QFormat, quantize_q4, quantize_q8};

use super::error::QuantError;
use super::linear::QuantKernel;
use super::scheme::WeightQuant;
use super::shared::{SharedBytes, SharedMatrix};

/// How one weight matrix is stored: packed blocks for the int8 GEMM, or row-major floats.
/// The name is what a bundle manifest records per matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum MatrixFormat {
    /// ggml Q8_0 blocks in 32-row panels (8.5 bits per weight).
    #[serde(rename = "q8_0x32")]
    Q8Packed,
    /// ggml Q4_1 blocks (scale and minimum) in 32-row panels (5 bits per weight).
    #[serde(rename = "q4_1x32")]
    Q4Packed,
    /// Row-major little-endian IEEE halves.
    #[serde(rename = "f16")]
    F16,
    /// Row-major little-endian f32.
    #[serde(rename = "f32")]
    F32,
}

impl MatrixFormat {
    /// The manifest name.
    pub fn name(self) -> &'static str {
        match self {
            MatrixFormat::Q8Packed => "q8_0x32",
            MatrixFormat::Q4Packed => "q4_1x32",
            MatrixFormat::F16 => "f16",
            MatrixFormat::F32 => "f32",
        }
    }

    /// The packed block format, or `None` for row-major floats.
    pub fn packed(self) -> Option<QFormat> {
        match self {
            MatrixFormat::Q8Packed => Some(QFormat::Q8_0),
            MatrixFormat::Q4Packed => Some(QFormat::Q4_1),
            MatrixFormat::F16 | MatrixFormat::F32 => None,
        }
    }

    /// The row-major format, or `None` for packed blocks.
    pub fn rows(self) -> Option<WeightQuant> {
        match self {
            MatrixFormat::F16 => Some(WeightQuant::F16),
            MatrixFormat::F32 => Some(WeightQuant::F32),
            MatrixFormat::Q8Packed | MatrixFormat::Q4Packed => None,
        }
    }

    /// The stored bytes of an f32 weight `[rows, cols]` (PyTorch's `[out, in]`) in this
    /// format: the packed bytes, header included, or the row-major values.
    pub fn encode(self, values: &[f32], rows: usize, cols: usize) -> Result<Vec<u8>, QuantError> {
        match self {
            MatrixFormat::Q8Packed => Ok(quantize_q8(values, rows, cols)?.as_bytes().to_vec()),
            MatrixFormat::Q4Packed => Ok(quantize_q4(values, rows, cols)?.as_bytes().to_vec()),
            MatrixFormat::F16 | MatrixFormat::F32 => {
                let quant = self.rows().unwrap_or(WeightQuant::F32);
                let matrix = super::QuantizedMatrixBuf::quantize(quant, rows, cols, values)?;
                Ok(matrix.view().as_bytes().to_vec())
            }
        }
    }
}

impl fmt::Display for MatrixFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An owned packed weight as shared bytes (tests, models packed at load).
#[derive(Debug)]
struct OwnedPacked(PackedWeights);

impl AsRef<[u8]> for OwnedPacked {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// A packed weight inside shared bytes (the bundle's map): validated once, then viewed in
/// O(1) without a lifetime.
#[derive(Clone)]
pub struct SharedPacked {
    bytes: SharedBytes,
    range: Range<usize>,
    format: QFormat,
    rows: usize,
    cols: usize,
}

impl fmt::Debug for SharedPacked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedPacked")
            .field("range", &self.range)
            .field("format", &self.format)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .finish_non_exhaustive()
    }
}

impl SharedPacked {
    /// The packed weight at `range` of `bytes` (header included), fully validated (header,
    /// length, every scale). A range outside `bytes` is a [`QuantError::NotWithin`].
    pub fn new(bytes: SharedBytes, range: Range<usize>) -> Result<Self, QuantError> {
        let all = (*bytes).as_ref();
        let slice = all.get(range.clone()).ok_or(QuantError::NotWithin {
            len: range.len(),
            shared_len: all.len(),
        })?;
        let view = PackedView::from_bytes(slice)?;
        let (format, rows, cols) = (view.format(), view.rows(), view.cols());
        Ok(Self {
            bytes,
            range,
            format,
            rows,
            cols,
        })
    }

    /// The packed weight `stored` (header included), a slice of `bytes` that already
    /// passed [`PackedView::from_bytes`] and cannot have changed since (the bundle's
    /// read-only map): the header is read again, the scales are not. A slice elsewhere is
    /// a [`QuantError::NotWithin`].
    pub fn within(bytes: SharedBytes, stored: &[u8]) -> Result<Self, QuantError> {
        let all = (*bytes).as_ref();
        let (outer, inner) = (all.as_ptr().addr(), stored.as_ptr().addr());
        let start = inner.wrapping_sub(outer);
        if inner < outer || start + stored.len() > all.len() {
            return Err(QuantError::NotWithin {
                len: stored.len(),
                shared_len: all.len(),
            });
        }
        let view = PackedView::from_bytes_unscanned(stored)?;
        let (format, rows, cols) = (view.format(), view.rows(), view.cols());
        Ok(Self {
            range: start..start + stored.len(),
            bytes,
            format,
            rows,
            cols,
        })
    }

    /// Packs an f32 weight `[rows, cols]` (PyTorch's `[out, in]`) into memory of its own.
    pub fn quantize(
        format: QFormat,
        values: &[f32],
        rows: usize,
        cols: usize,
    ) -> Result<Self, QuantError> {
        let packed = match format {
            QFormat::Q8_0 => quantize_q8(values, rows, cols)?,
            QFormat::Q4_1 => quantize_q4(values, rows, cols)?,
        };
        let len = packed.as_bytes().len();
        Ok(Self {
            bytes: Arc::new(OwnedPacked(packed)),
            range: 0..len,
            format,
            rows,
            cols,
        })
    }

    /// The view the kernels take.
    pub fn view(&self) -> PackedView<'_> {
        let slice = &(*self.bytes).as_ref()[self.range.clone()];
        // Validated at construction; the bytes are immutable behind the Arc.
        PackedView::from_bytes_unscanned(slice)
            .unwrap_or_else(|err| unreachable!("packed weight validated at construction: {err}"))
    }

    /// The block format.
    pub fn format(&self) -> QFormat {
        self.format
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input features.
    pub fn cols(&self) -> usize {
        self.cols
    }
}

/// A matrix kept where it is stored: packed blocks for the int8 GEMM, or row-major
/// (f16, or the older row-major blocks) for the decoding kernels.
#[derive(Debug, Clone)]
pub enum SharedWeight {
    /// Packed Q8_0 / Q4_1 panels.
    Packed(SharedPacked),
    /// Row-major storage ([`WeightQuant`]).
    Rows(SharedMatrix),
}

impl SharedWeight {
    /// `(rows, cols)`: output and input features.
    pub fn shape(&self) -> (usize, usize) {
        match self {
            SharedWeight::Packed(packed) => (packed.rows(), packed.cols()),
            SharedWeight::Rows(matrix) => (matrix.rows(), matrix.cols()),
        }
    }
}

/// y = x·Wᵀ + b with W packed: the product runs on activations quantized once to Q8
/// blocks and shared by every projection of the same input (see the model's host route).
/// With [`QuantKernel::Dequant`] the blocks' residual is quantized too and multiplied as
/// well, so the activations keep about 15 bits; with [`QuantKernel::Int8`] they keep 8.
#[derive(Debug, Clone)]
pub struct PackedLinear {
    weight: SharedPacked,
    bias: Option<Vec<f32>>,
    kernel: QuantKernel,
}

impl PackedLinear {
    /// A projection over `weight` computed with `kernel`; `bias` must have `weight.rows()`
    /// values.
    pub fn new(
        weight: SharedPacked,
        bias: Option<Vec<f32>>,
        kernel: QuantKernel,
    ) -> Result<Self, QuantError> {
        if let Some(b) = &bias
            && b.len() != weight.rows()
        {
            return Err(QuantError::BiasLength {
                expected: weight.rows(),
                found: b.len(),
            });
        }
        Ok(Self {
            weight,
            bias,
            kernel,
        })
    }

    /// Whether the input's residual is multiplied too (two int8 products, not one).
    pub fn with_residual(&self) -> bool {
        self.kernel == QuantKernel::Dequant
    }

    /// The weight.
    pub fn weight(&self) -> &SharedPacked {
        &self.weight
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.weight.rows()
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        self.weight.cols()
    }

    /// The bias, `[out_features]`.
    pub fn bias(&self) -> Option<&[f32]> {
        self.bias.as_deref()
    }
}
