//! Strided `[batch, head, position, head_dim]` views and the checked writer that lets
//! parallel tasks write disjoint rows of one output buffer.

use std::marker::PhantomData;

/// Where row `(batch, head, position)` of a head-major tensor starts: element
/// `b·batch_stride + h·head_stride + p·seq_stride + c` holds component `c` of that head
/// vector. The head dimension is always contiguous (stride 1).
///
/// # Shapes
/// Describes a logical `[batch, heads, seq, head_dim]` tensor laid out in any order, e.g.
/// `[batch, seq, heads, head_dim]` ([`HeadLayout::batch_seq_heads`]) or
/// `[batch, heads, seq, head_dim]` ([`HeadLayout::batch_heads_seq`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadLayout {
    /// Elements between consecutive batch rows.
    pub batch_stride: usize,
    /// Elements between consecutive heads.
    pub head_stride: usize,
    /// Elements between consecutive positions.
    pub seq_stride: usize,
}

impl HeadLayout {
    /// Contiguous `[batch, seq, heads, head_dim]` (a projection's output, untransposed).
    ///
    /// # Shapes
    /// `seq` positions, `heads` heads of `head_dim` floats each.
    pub fn batch_seq_heads(seq: usize, heads: usize, head_dim: usize) -> Self {
        HeadLayout {
            batch_stride: seq * heads * head_dim,
            head_stride: head_dim,
            seq_stride: heads * head_dim,
        }
    }

    /// Contiguous `[batch, heads, seq, head_dim]` (the KV-cache layout).
    ///
    /// # Shapes
    /// `heads` heads, `seq` positions of `head_dim` floats each.
    pub fn batch_heads_seq(heads: usize, seq: usize, head_dim: usize) -> Self {
        HeadLayout {
            batch_stride: heads * seq * head_dim,
            head_stride: seq * head_dim,
            seq_stride: head_dim,
        }
    }

    /// Offset of the first element of row `(batch, head, position)`.
    #[inline(always)]
    pub(crate) fn offset(&self, batch: usize, head: usize, position: usize) -> usize {
        batch * self.batch_stride + head * self.head_stride + position * self.seq_stride
    }

    /// Panics unless every row of a `[batch, heads, seq, row_len]` tensor fits in `len`
    /// elements (so `offset(..) + row_len <= len`, with no overflow anywhere).
    pub(crate) fn assert_fits(&self, dims: Dims, row_len: usize, len: usize, what: &str) {
        if dims.is_empty() || row_len == 0 {
            return;
        }
        let last = [
            (dims.batch - 1).checked_mul(self.batch_stride),
            (dims.heads - 1).checked_mul(self.head_stride),
            (dims.seq - 1).checked_mul(self.seq_stride),
        ]
        .into_iter()
        .try_fold(row_len, |end, term| term.and_then(|t| end.checked_add(t)));
        match last {
            Some(end) if end <= len => {}
            _ => panic!(
                "{what}: layout {self:?} for {dims:?} rows of {row_len} floats needs more than \
                 the {len} floats given"
            ),
        }
    }

    /// Panics unless distinct rows of a `[batch, heads, seq, row_len]` tensor never share an
    /// element: sorted by stride, each dimension must step past everything inside it.
    pub(crate) fn assert_rows_disjoint(&self, dims: Dims, row_len: usize, what: &str) {
        let mut axes = [
            (self.batch_stride, dims.batch),
            (self.head_stride, dims.heads),
            (self.seq_stride, dims.seq),
        ];
        axes.sort_unstable();
        let mut span = row_len;
        for (stride, extent) in axes {
            if extent <= 1 {
                continue;
            }
            assert!(
                stride >= span,
                "{what}: layout {self:?} makes distinct rows of {dims:?} overlap"
            );
            // assert_fits ran first, so this cannot overflow.
            span += stride * (extent - 1);
        }
    }
}

/// Logical dimensions of a head-major tensor (rows are `head_dim` long).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dims {
    pub(crate) batch: usize,
    pub(crate) heads: usize,
    pub(crate) seq: usize,
}

impl Dims {
    pub(crate) fn is_empty(&self) -> bool {
        self.batch == 0 || self.heads == 0 || self.seq == 0
    }
}

/// A read-only strided head tensor: `data` with `layout`.
///
/// # Shapes
/// Logical `[batch, heads, seq, head_dim]`, the dimensions given by the call it is passed to.
#[derive(Clone, Copy, Debug)]
pub struct Heads<'a> {
    /// The elements; row `(b, h, p)` is `data[layout.offset(b, h, p)..][..head_dim]`.
    pub data: &'a [f32],
    /// Strides of the batch, head and position axes.
    pub layout: HeadLayout,
}

impl<'a> Heads<'a> {
    /// Row `(batch, head, position)`, `len` floats.
    #[inline(always)]
    pub(crate) fn row(&self, batch: usize, head: usize, position: usize, len: usize) -> &'a [f32] {
        &self.data[self.layout.offset(batch, head, position)..][..len]
    }
}

/// A writable strided head tensor: `data` with `layout`.
///
/// # Shapes
/// Logical `[batch, heads, seq, head_dim]`, the dimensions given by the call it is passed to.
/// Distinct rows must not overlap (checked).
#[derive(Debug)]
pub struct HeadsMut<'a> {
    /// The elements; row `(b, h, p)` is `data[layout.offset(b, h, p)..][..head_dim]`.
    pub data: &'a mut [f32],
    /// Strides of the batch, head and position axes.
    pub layout: HeadLayout,
}

/// Shares one output buffer between parallel tasks that each write their own rows.
///
/// Built only after checking that all rows are in bounds and pairwise disjoint, so rows
/// handed to different tasks never alias.
#[derive(Debug)]
pub(crate) struct RowWriter<'a> {
    ptr: *mut f32,
    layout: HeadLayout,
    dims: Dims,
    row_len: usize,
    _borrow: PhantomData<&'a mut [f32]>,
}

// SAFETY: the writer only hands out rows through `row_mut`, whose contract makes every row
// owned by one task at a time; the buffer itself is an exclusively borrowed `[f32]`.
unsafe impl Send for RowWriter<'_> {}
// SAFETY: as above.
unsafe impl Sync for RowWriter<'_> {}

impl<'a> RowWriter<'a> {
    /// Checks bounds and disjointness of the rows of `dims` (panics otherwise).
    pub(crate) fn new(heads: HeadsMut<'a>, dims: Dims, row_len: usize, what: &str) -> Self {
        heads
            .layout
            .assert_fits(dims, row_len, heads.data.len(), what);
        heads.layout.assert_rows_disjoint(dims, row_len, what);
        RowWriter {
            ptr: heads.data.as_mut_ptr(),
            layout: heads.layout,
            dims,
            row_len,
            _borrow: PhantomData,
        }
    }

    /// Row `(batch, head, position)` for writing.
    ///
    /// # Safety
    /// While the returned slice lives, no other slice of the same row may exist (tasks must
    /// own disjoint sets of rows).
    #[allow(clippy::mut_from_ref, reason = "disjoint rows; the caller's contract")]
    #[inline(always)]
    pub(crate) unsafe fn row_mut(&self, batch: usize, head: usize, position: usize) -> &mut [f32] {
        assert!(
            batch < self.dims.batch && head < self.dims.heads && position < self.dims.seq,
            "row ({batch}, {head}, {position}) outside {:?}",
            self.dims
        );
        let offset = self.layout.offset(batch, head, position);
        // SAFETY: `new` checked that every in-range row lies inside the borrowed buffer and
        // that distinct rows are disjoint; the caller guarantees nobody else holds this one.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(offset), self.row_len) }
    }
}
