//! The packed, row-interleaved weight layout the kernels read, its header, the owned buffer,
//! the validated view over stored bytes, and the typed errors of both.
//!
//! # Layout (version 1, little-endian)
//!
//! ```text
//! offset  bytes  field
//!      0      4  magic b"RQPK"
//!      4      4  format id, u32: Q8_0_X32_FORMAT_ID or Q4_1_X32_FORMAT_ID
//!      8      4  rows (the output dimension n), u32
//!     12      4  cols (the input dimension k, a multiple of 32), u32
//!     16     48  zero (reserved)
//!     64      …  panels
//! ```
//!
//! The weight `[rows, cols]` is cut into panels of [`PANEL_ROWS`] = 32 consecutive rows (the
//! last one padded with zero rows), stored one after another. A panel is `cols / 32`
//! panel-blocks, one per 32-column block, in column order. A panel-block holds the same block
//! of the panel's 32 rows, interleaved 4 bytes at a time so that one vector load reads 4
//! consecutive quants of 16 (or 8, or 4) consecutive rows:
//!
//! - **Q8_0**, [`Q8_0_PANEL_BLOCK_BYTES`] = 1088: `d: [f16; 32]` (row `r`'s scale at `2r`),
//!   then 8 groups of 128 bytes: group `g`, row `r`, byte `t` at `64 + 128g + 4r + t` holds
//!   `qs[4g + t]` of row `r`'s plain block.
//! - **Q4_1**, [`Q4_1_PANEL_BLOCK_BYTES`] = 640: `d: [f16; 32]` at 0, `m: [f16; 32]` at 64,
//!   then 4 groups of 128 bytes: group `p`, row `r`, byte `t` at `128 + 128p + 4r + t` holds
//!   byte `qs[4p + t]` of row `r`'s plain block (low nibble: element `4p + t`, high nibble:
//!   element `16 + 4p + t`).
//!
//! Both panel-block sizes are multiples of 64, so in a 64-byte aligned buffer every
//! panel-block starts on a cache line. The kernels load unaligned, so a view needs no
//! alignment to be correct; 64-byte alignment only helps speed ([`PackedView::is_aligned`]).
//! The bytes per weight are those of the plain blocks (1.0625 and 0.625) plus the header and
//! the padding rows of the last panel.

use std::fmt;

use rayon::prelude::*;

use super::blocks::{
    BLOCK, BlockQ4_1, BlockQ8_0, Q4_1_BLOCK_BYTES, Q8_0_BLOCK_BYTES, f16_to_f32,
    quantize_q4_1_blocks, quantize_q8_0_blocks,
};

/// The first four bytes of a packed weight.
pub const PACKED_MAGIC: [u8; 4] = *b"RQPK";

/// Format id of packed Q8_0 weights in 32-row panels, layout version 1.
pub const Q8_0_X32_FORMAT_ID: u32 = 0x0001_0800;

/// Format id of packed Q4_1 weights in 32-row panels, layout version 1.
pub const Q4_1_X32_FORMAT_ID: u32 = 0x0001_0401;

/// Bytes of the header before the panels.
pub const PACKED_HEADER_BYTES: usize = 64;

/// Weight rows per panel (interleaved together).
pub const PANEL_ROWS: usize = 32;

/// Bytes of one Q8_0 panel-block: 32 rows × one 32-column block.
pub const Q8_0_PANEL_BLOCK_BYTES: usize = PANEL_ROWS * Q8_0_BLOCK_BYTES;

/// Bytes of one Q4_1 panel-block: 32 rows × one 32-column block.
pub const Q4_1_PANEL_BLOCK_BYTES: usize = PANEL_ROWS * Q4_1_BLOCK_BYTES;

const _: () = assert!(Q8_0_PANEL_BLOCK_BYTES == 1088 && Q8_0_PANEL_BLOCK_BYTES.is_multiple_of(64));
const _: () = assert!(Q4_1_PANEL_BLOCK_BYTES == 640 && Q4_1_PANEL_BLOCK_BYTES.is_multiple_of(64));

/// Offset of the quants in a Q8_0 panel-block.
pub(crate) const Q8_QS_OFFSET: usize = 2 * PANEL_ROWS;
/// Offset of the minimums in a Q4_1 panel-block.
pub(crate) const Q4_M_OFFSET: usize = 2 * PANEL_ROWS;
/// Offset of the nibbles in a Q4_1 panel-block.
pub(crate) const Q4_QS_OFFSET: usize = 4 * PANEL_ROWS;
/// Bytes of one 4-quant group of a panel-block (all 32 rows).
pub(crate) const GROUP_BYTES: usize = 4 * PANEL_ROWS;

/// A packed weight's block format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QFormat {
    /// ggml Q8_0: `w = d · q`, `q: i8`, one f16 scale per 32 weights (8.5 bits per weight).
    Q8_0,
    /// ggml Q4_1: `w = d · q + m`, `q ∈ 0..=15`, f16 scale and minimum per 32 weights (5 bits
    /// per weight).
    Q4_1,
}

impl QFormat {
    /// The header's format id.
    pub const fn format_id(self) -> u32 {
        match self {
            QFormat::Q8_0 => Q8_0_X32_FORMAT_ID,
            QFormat::Q4_1 => Q4_1_X32_FORMAT_ID,
        }
    }

    /// The format of a header's format id.
    pub const fn from_format_id(id: u32) -> Option<Self> {
        match id {
            Q8_0_X32_FORMAT_ID => Some(QFormat::Q8_0),
            Q4_1_X32_FORMAT_ID => Some(QFormat::Q4_1),
            _ => None,
        }
    }

    /// Bytes of one plain (ggml) block.
    pub const fn block_bytes(self) -> usize {
        match self {
            QFormat::Q8_0 => Q8_0_BLOCK_BYTES,
            QFormat::Q4_1 => Q4_1_BLOCK_BYTES,
        }
    }

    /// Bytes of one panel-block (32 rows × 32 columns).
    pub const fn panel_block_bytes(self) -> usize {
        PANEL_ROWS * self.block_bytes()
    }

    /// f16 scales (and minimums) per row of a panel-block.
    const fn scales_per_row(self) -> usize {
        match self {
            QFormat::Q8_0 => 1,
            QFormat::Q4_1 => 2,
        }
    }
}

/// Why bytes are not a packed weight, or a weight cannot be packed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuantError {
    /// The input width is not a positive multiple of 32, or a dimension does not fit the
    /// header's u32 or the address space.
    Shape {
        /// Weight rows.
        rows: usize,
        /// Weight columns.
        cols: usize,
    },
    /// A slice has the wrong length for its shape.
    Length {
        /// What the slice is.
        what: &'static str,
        /// Its expected length (elements or bytes).
        expected: usize,
        /// Its actual length.
        actual: usize,
    },
    /// Shorter than the header.
    TooShort {
        /// Bytes present.
        len: usize,
    },
    /// The magic is not [`PACKED_MAGIC`].
    BadMagic {
        /// The first four bytes.
        found: [u8; 4],
    },
    /// The format id is none this build knows (another layout version or block format).
    UnknownFormat {
        /// The header's format id.
        id: u32,
    },
    /// A reserved header byte is not zero.
    ReservedNotZero {
        /// Its offset.
        offset: usize,
    },
    /// An f32 weight to quantize is infinite or NaN.
    NonFiniteWeight {
        /// Its row.
        row: usize,
        /// Its column.
        col: usize,
    },
    /// A scale or minimum is infinite or NaN.
    NonFiniteScale {
        /// Weight row (possibly a padding row, `≥ rows`).
        row: usize,
        /// 32-column block.
        block: usize,
    },
}

impl fmt::Display for QuantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantError::Shape { rows, cols } => write!(
                f,
                "weight [{rows}, {cols}]: the width must be a positive multiple of {BLOCK} and \
                 both dimensions must fit a u32"
            ),
            QuantError::Length {
                what,
                expected,
                actual,
            } => write!(f, "{what}: length {actual}, expected {expected}"),
            QuantError::TooShort { len } => write!(
                f,
                "packed weight: {len} bytes, shorter than its {PACKED_HEADER_BYTES}-byte header"
            ),
            QuantError::BadMagic { found } => {
                write!(
                    f,
                    "packed weight: magic {found:?}, expected {PACKED_MAGIC:?}"
                )
            }
            QuantError::UnknownFormat { id } => write!(
                f,
                "packed weight: unknown format id {id:#010x} (known: Q8_0 {Q8_0_X32_FORMAT_ID:#010x}, \
                 Q4_1 {Q4_1_X32_FORMAT_ID:#010x}); repack it with this version"
            ),
            QuantError::ReservedNotZero { offset } => {
                write!(
                    f,
                    "packed weight: reserved header byte {offset} is not zero"
                )
            }
            QuantError::NonFiniteWeight { row, col } => {
                write!(f, "weight [{row}, {col}] is infinite or NaN")
            }
            QuantError::NonFiniteScale { row, block } => write!(
                f,
                "packed weight: row {row}, block {block} has an infinite or NaN scale"
            ),
        }
    }
}

impl std::error::Error for QuantError {}

/// The packed size in bytes of a `[rows, cols]` weight, header included.
///
/// # Errors
///
/// [`QuantError::Shape`] if `cols` is not a positive multiple of 32, a dimension exceeds
/// `u32::MAX`, or the size overflows.
pub fn packed_len(format: QFormat, rows: usize, cols: usize) -> Result<usize, QuantError> {
    let shape = QuantError::Shape { rows, cols };
    if cols == 0
        || !cols.is_multiple_of(BLOCK)
        || rows > u32::MAX as usize
        || cols > u32::MAX as usize
    {
        return Err(shape);
    }
    rows.div_ceil(PANEL_ROWS)
        .checked_mul(cols / BLOCK)
        .and_then(|blocks| blocks.checked_mul(format.panel_block_bytes()))
        .and_then(|body| body.checked_add(PACKED_HEADER_BYTES))
        .ok_or(shape)
}

/// A validated, borrowed packed weight: what [`super::qmatmul`] multiplies by.
///
/// Made by [`PackedView::from_bytes`] over stored bytes (a memory map) or by
/// [`PackedWeights::view`]; copying it copies the reference only.
#[derive(Clone, Copy, Debug)]
pub struct PackedView<'a> {
    format: QFormat,
    rows: usize,
    cols: usize,
    /// The panels (the bytes after the header).
    body: &'a [u8],
}

impl<'a> PackedView<'a> {
    /// Validates `bytes` as a packed weight and views it in place.
    ///
    /// Checks the magic, the format id, the reserved bytes, the shape, that the length is
    /// exactly the shape's, and that every scale and minimum (padding rows included) is
    /// finite. O(rows · cols / 32): about 1 ms for a 50 M-weight matrix. No alignment is
    /// required.
    ///
    /// # Errors
    ///
    /// A [`QuantError`] naming the first problem; never panics.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, QuantError> {
        let view = Self::from_bytes_unscanned(bytes)?;
        view.check_scales()?;
        Ok(view)
    }

    /// [`PackedView::from_bytes`] without the scale scan: the header and the length only,
    /// O(1). For bytes that already passed `from_bytes` and cannot have changed since (a
    /// read-only map validated at open). A non-finite scale it lets through makes the
    /// outputs it enters non-finite; it cannot make a product read out of bounds.
    ///
    /// # Errors
    ///
    /// As [`PackedView::from_bytes`], except [`QuantError::NonFiniteScale`].
    pub fn from_bytes_unscanned(bytes: &'a [u8]) -> Result<Self, QuantError> {
        let header = bytes
            .get(..PACKED_HEADER_BYTES)
            .ok_or(QuantError::TooShort { len: bytes.len() })?;
        let word = |offset: usize| {
            u32::from_le_bytes([
                header[offset],
                header[offset + 1],
                header[offset + 2],
                header[offset + 3],
            ])
        };
        let magic = [header[0], header[1], header[2], header[3]];
        if magic != PACKED_MAGIC {
            return Err(QuantError::BadMagic { found: magic });
        }
        let id = word(4);
        let format = QFormat::from_format_id(id).ok_or(QuantError::UnknownFormat { id })?;
        if let Some(offset) = (16..PACKED_HEADER_BYTES).find(|&offset| header[offset] != 0) {
            return Err(QuantError::ReservedNotZero { offset });
        }
        let (rows, cols) = (word(8) as usize, word(12) as usize);
        let expected = packed_len(format, rows, cols)?;
        if bytes.len() != expected {
            return Err(QuantError::Length {
                what: "packed weight",
                expected,
                actual: bytes.len(),
            });
        }
        Ok(Self {
            format,
            rows,
            cols,
            body: &bytes[PACKED_HEADER_BYTES..],
        })
    }

    /// Every f16 scale (and minimum) must be finite: exponent bits not all set.
    fn check_scales(&self) -> Result<(), QuantError> {
        let pb = self.format.panel_block_bytes();
        let scale_bytes = 2 * PANEL_ROWS * self.format.scales_per_row();
        let blocks = self.blocks();
        let bad = |index: usize, chunk: &[u8]| -> Option<QuantError> {
            let scales = &chunk[..scale_bytes];
            let position = scales
                .chunks_exact(2)
                .position(|h| u16::from_le_bytes([h[0], h[1]]) & 0x7c00 == 0x7c00)?;
            let (panel, block) = (index / blocks, index % blocks);
            Some(QuantError::NonFiniteScale {
                row: panel * PANEL_ROWS + position % PANEL_ROWS,
                block,
            })
        };
        let first_bad = self
            .body
            .par_chunks_exact(pb)
            .enumerate()
            .filter_map(|(index, chunk)| bad(index, chunk))
            .find_first(|_| true);
        first_bad.map_or(Ok(()), Err)
    }

    /// The block format.
    pub fn format(&self) -> QFormat {
        self.format
    }

    /// Weight rows: the output width `n` of `y = x·Wᵀ`.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Weight columns: the input width `k`.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// 32-column blocks per row.
    pub fn blocks(&self) -> usize {
        self.cols / BLOCK
    }

    /// Panels of 32 rows.
    pub fn panels(&self) -> usize {
        self.rows.div_ceil(PANEL_ROWS)
    }

    /// Whether the panels start on a 64-byte boundary (the fastest case; not required).
    pub fn is_aligned(&self) -> bool {
        self.body.as_ptr().addr().is_multiple_of(64)
    }

    /// The panels (the bytes after the header).
    pub(crate) fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Panel-block `block` of `panel`.
    fn panel_block(&self, panel: usize, block: usize) -> &'a [u8] {
        let pb = self.format.panel_block_bytes();
        &self.body[(panel * self.blocks() + block) * pb..][..pb]
    }

    /// Row `row`'s plain (ggml) blocks, `cols / 32` of them, appended to `out`.
    fn push_plain_row(&self, row: usize, out: &mut Vec<u8>) {
        let (panel, r) = (row / PANEL_ROWS, row % PANEL_ROWS);
        let scale = |pb: &[u8], offset: usize| [pb[offset + 2 * r], pb[offset + 2 * r + 1]];
        for block in 0..self.blocks() {
            let pb = self.panel_block(panel, block);
            match self.format {
                QFormat::Q8_0 => {
                    out.extend_from_slice(&scale(pb, 0));
                    for g in 0..BLOCK / 4 {
                        let at = Q8_QS_OFFSET + g * GROUP_BYTES + 4 * r;
                        out.extend_from_slice(&pb[at..at + 4]);
                    }
                }
                QFormat::Q4_1 => {
                    out.extend_from_slice(&scale(pb, 0));
                    out.extend_from_slice(&scale(pb, Q4_M_OFFSET));
                    for p in 0..BLOCK / 8 {
                        let at = Q4_QS_OFFSET + p * GROUP_BYTES + 4 * r;
                        out.extend_from_slice(&pb[at..at + 4]);
                    }
                }
            }
        }
    }

    /// Row `row` decoded to f32 into `out`, exactly as [`PackedView::dequantize`] decodes
    /// it (an embedding lookup decodes only the rows it needs).
    ///
    /// # Shapes
    ///
    /// - `out`: `[cols]`.
    ///
    /// # Panics
    ///
    /// If `row >= rows` or `out.len() != cols`.
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        assert!(
            row < self.rows,
            "row {row} of a weight with {} rows",
            self.rows
        );
        assert_eq!(out.len(), self.cols, "output row length");
        let (panel, r) = (row / PANEL_ROWS, row % PANEL_ROWS);
        let scale = |pb: &[u8], offset: usize| {
            f16_to_f32(u16::from_le_bytes([
                pb[offset + 2 * r],
                pb[offset + 2 * r + 1],
            ]))
        };
        for (block, dst) in out.chunks_exact_mut(BLOCK).enumerate() {
            let pb = self.panel_block(panel, block);
            let d = scale(pb, 0);
            match self.format {
                QFormat::Q8_0 => {
                    for (t, value) in dst.iter_mut().enumerate() {
                        let q = pb[Q8_QS_OFFSET + (t / 4) * GROUP_BYTES + 4 * r + t % 4] as i8;
                        *value = f32::from(q) * d;
                    }
                }
                QFormat::Q4_1 => {
                    let m = scale(pb, Q4_M_OFFSET);
                    let half = BLOCK / 2;
                    for t in 0..half {
                        let byte = pb[Q4_QS_OFFSET + (t / 4) * GROUP_BYTES + 4 * r + t % 4];
                        dst[t] = f32::from(byte & 0x0F) * d + m;
                        dst[t + half] = f32::from(byte >> 4) * d + m;
                    }
                }
            }
        }
    }

    /// The plain (ggml) blocks of the weight, row after row: the inverse of
    /// [`pack_q8`] / [`pack_q4`].
    ///
    /// # Shapes
    ///
    /// Returns `rows · cols / 32` blocks of [`QFormat::block_bytes`].
    pub fn to_plain_blocks(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.rows * self.blocks() * self.format.block_bytes());
        for row in 0..self.rows {
            self.push_plain_row(row, &mut out);
        }
        out
    }

    /// The weight decoded to f32, exactly as ggml decodes its blocks.
    ///
    /// # Shapes
    ///
    /// Returns `[rows, cols]` row-major (PyTorch's `[out, in]`).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0f32; self.rows * self.cols];
        if out.is_empty() {
            return out;
        }
        out.par_chunks_mut(self.cols)
            .enumerate()
            .for_each(|(row, dst)| {
                let mut plain = Vec::with_capacity(self.blocks() * self.format.block_bytes());
                self.push_plain_row(row, &mut plain);
                let bytes = self.format.block_bytes();
                for (values, block) in dst.chunks_exact_mut(BLOCK).zip(plain.chunks_exact(bytes)) {
                    values.copy_from_slice(&match self.format {
                        QFormat::Q8_0 => BlockQ8_0::from_bytes(
                            block.try_into().unwrap_or_else(|_| unreachable!()),
                        )
                        .dequantize(),
                        QFormat::Q4_1 => BlockQ4_1::from_bytes(
                            block.try_into().unwrap_or_else(|_| unreachable!()),
                        )
                        .dequantize(),
                    });
                }
            });
        out
    }
}

/// 64 bytes aligned to 64: the unit of [`PackedWeights`]' storage.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// An owned packed weight in a 64-byte aligned buffer.
#[derive(Clone, Debug)]
pub struct PackedWeights {
    lines: Vec<Line>,
    format: QFormat,
    rows: usize,
    cols: usize,
}

impl PackedWeights {
    /// A zeroed buffer with the header written.
    fn zeroed(format: QFormat, rows: usize, cols: usize) -> Result<Self, QuantError> {
        let len = packed_len(format, rows, cols)?;
        debug_assert!(len.is_multiple_of(64));
        let mut packed = Self {
            lines: vec![Line([0; 64]); len / 64],
            format,
            rows,
            cols,
        };
        let header = &mut packed.bytes_mut()[..PACKED_HEADER_BYTES];
        header[..4].copy_from_slice(&PACKED_MAGIC);
        header[4..8].copy_from_slice(&format.format_id().to_le_bytes());
        header[8..12].copy_from_slice(&(rows as u32).to_le_bytes());
        header[12..16].copy_from_slice(&(cols as u32).to_le_bytes());
        Ok(packed)
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.lines.len() * 64;
        // SAFETY: `Line` is 64 plain bytes without padding, so the vector's elements are
        // `len` initialized, contiguous bytes, borrowed mutably through `self`.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<u8>(), len) }
    }

    /// The packed bytes (header included) to store in a file; 64-byte aligned in memory.
    pub fn as_bytes(&self) -> &[u8] {
        let len = self.lines.len() * 64;
        // SAFETY: as in `bytes_mut`, borrowed shared.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<u8>(), len) }
    }

    /// The view the kernels take.
    pub fn view(&self) -> PackedView<'_> {
        PackedView {
            format: self.format,
            rows: self.rows,
            cols: self.cols,
            body: &self.as_bytes()[PACKED_HEADER_BYTES..],
        }
    }

    /// The block format.
    pub fn format(&self) -> QFormat {
        self.format
    }

    /// Weight rows (the output width).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Weight columns (the input width).
    pub fn cols(&self) -> usize {
        self.cols
    }
}

/// Packs plain blocks (row after row, ggml's order) of `format` into panels.
fn pack_plain(
    format: QFormat,
    blocks: &[u8],
    rows: usize,
    cols: usize,
) -> Result<PackedWeights, QuantError> {
    let mut packed = PackedWeights::zeroed(format, rows, cols)?;
    let block_bytes = format.block_bytes();
    let nb = cols / BLOCK;
    let expected = rows * nb * block_bytes;
    if blocks.len() != expected {
        return Err(QuantError::Length {
            what: "plain blocks",
            expected,
            actual: blocks.len(),
        });
    }
    let pb = format.panel_block_bytes();
    let body = &mut packed.bytes_mut()[PACKED_HEADER_BYTES..];
    body.par_chunks_mut(nb * pb)
        .enumerate()
        .for_each(|(panel, dst)| {
            for r in 0..PANEL_ROWS.min(rows - panel * PANEL_ROWS) {
                let row = panel * PANEL_ROWS + r;
                let src_row = &blocks[row * nb * block_bytes..][..nb * block_bytes];
                for (block, src) in src_row.chunks_exact(block_bytes).enumerate() {
                    let dst = &mut dst[block * pb..][..pb];
                    match format {
                        QFormat::Q8_0 => {
                            dst[2 * r..2 * r + 2].copy_from_slice(&src[..2]);
                            for g in 0..BLOCK / 4 {
                                let at = Q8_QS_OFFSET + g * GROUP_BYTES + 4 * r;
                                dst[at..at + 4].copy_from_slice(&src[2 + 4 * g..][..4]);
                            }
                        }
                        QFormat::Q4_1 => {
                            dst[2 * r..2 * r + 2].copy_from_slice(&src[..2]);
                            dst[Q4_M_OFFSET + 2 * r..][..2].copy_from_slice(&src[2..4]);
                            for p in 0..BLOCK / 8 {
                                let at = Q4_QS_OFFSET + p * GROUP_BYTES + 4 * r;
                                dst[at..at + 4].copy_from_slice(&src[4 + 4 * p..][..4]);
                            }
                        }
                    }
                }
            }
        });
    packed.view().check_scales()?;
    Ok(packed)
}

/// Packs plain Q8_0 blocks (a GGUF tensor's bytes, row after row) into panels.
///
/// # Shapes
///
/// - `blocks`: `rows · cols / 32` blocks of 34 bytes, of the weight `[rows, cols]`
///   (`[out, in]`).
///
/// # Errors
///
/// [`QuantError::Shape`] for a width that is not a positive multiple of 32,
/// [`QuantError::Length`] for a wrong byte count, [`QuantError::NonFiniteScale`].
pub fn pack_q8(blocks: &[u8], rows: usize, cols: usize) -> Result<PackedWeights, QuantError> {
    pack_plain(QFormat::Q8_0, blocks, rows, cols)
}

/// Packs plain Q4_1 blocks (a GGUF tensor's bytes, row after row) into panels.
///
/// # Shapes
///
/// - `blocks`: `rows · cols / 32` blocks of 20 bytes, of the weight `[rows, cols]`.
///
/// # Errors
///
/// As [`pack_q8`].
pub fn pack_q4(blocks: &[u8], rows: usize, cols: usize) -> Result<PackedWeights, QuantError> {
    pack_plain(QFormat::Q4_1, blocks, rows, cols)
}

fn check_f32_shape(w: &[f32], rows: usize, cols: usize) -> Result<(), QuantError> {
    packed_len(QFormat::Q8_0, rows, cols)?;
    let expected = rows * cols;
    if w.len() != expected {
        return Err(QuantError::Length {
            what: "f32 weight",
            expected,
            actual: w.len(),
        });
    }
    match w.par_iter().position_first(|v| !v.is_finite()) {
        Some(index) => Err(QuantError::NonFiniteWeight {
            row: index / cols,
            col: index % cols,
        }),
        None => Ok(()),
    }
}

/// Quantizes an f32 weight to Q8_0 (ggml's quantizer, bit for bit) and packs it.
///
/// # Shapes
///
/// - `w`: `[rows, cols]` row-major (PyTorch's `[out, in]`), `cols` a multiple of 32.
///
/// # Errors
///
/// As [`pack_q8`]; [`QuantError::NonFiniteWeight`] where `w` holds infinities or NaN,
/// [`QuantError::NonFiniteScale`] where a block's scale exceeds the f16 range.
pub fn quantize_q8(w: &[f32], rows: usize, cols: usize) -> Result<PackedWeights, QuantError> {
    check_f32_shape(w, rows, cols)?;
    pack_q8(&quantize_q8_0_blocks(w, rows, cols), rows, cols)
}

/// Quantizes an f32 weight to Q4_1 with the least-error search of
/// [`BlockQ4_1::quantize`] and packs it.
///
/// # Shapes
///
/// As [`quantize_q8`].
///
/// # Errors
///
/// As [`quantize_q8`].
pub fn quantize_q4(w: &[f32], rows: usize, cols: usize) -> Result<PackedWeights, QuantError> {
    check_f32_shape(w, rows, cols)?;
    pack_q4(&quantize_q4_1_blocks(w, rows, cols), rows, cols)
}

/// The f32 scales of a panel-block's 32 rows (offset 0) or minimums (Q4_1, offset 64).
pub(crate) fn panel_scales(panel_block: &[u8], offset: usize) -> [f32; PANEL_ROWS] {
    std::array::from_fn(|r| {
        f16_to_f32(u16::from_le_bytes([
            panel_block[offset + 2 * r],
            panel_block[offset + 2 * r + 1],
        ]))
    })
}
