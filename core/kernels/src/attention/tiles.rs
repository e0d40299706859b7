//! Register-tiled matrix micro-kernels on packed scratch tiles.
//!
//! Two shapes cover all five products of attention forward and backward:
//! - [`matmul_abt`]: `C = A · B` with `A` read by rows and broadcast, `B` by vector rows
//!   (`Sᵀ = K Qᵀ`, `dPᵀ = V dOᵀ`, with `Qᵀ`, `dOᵀ` packed once per task);
//! - [`rank1_accumulate`]: `C = diag(scale) · C + Σ_t a(·, t) ⊗ B[t]`, whose coefficient
//!   strides select `A · B` or `Aᵀ · B` (`P V`, `Pᵀ dO`, `dSᵀ Q`, `dS K`).
//!
//! Each output tile is `TILE_ROWS` rows × up to 4 vectors held in registers; widths need only
//! be multiples of the vector length (narrower tiles take the remainder). The reduction runs
//! in index order, so every output element has one fixed summation order.

use super::simd::Simd;

/// Rows per register tile; every row count handed to the micro-kernels is a multiple.
pub(crate) const TILE_ROWS: usize = 4;

/// A row-major matrix view: row `r` starts at `data[r · stride]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MatRef<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) stride: usize,
}

/// A writable row-major matrix view.
#[derive(Debug)]
pub(crate) struct MatMut<'a> {
    pub(crate) data: &'a mut [f32],
    pub(crate) stride: usize,
}

/// Coefficients `a(r, t) = data[r · row_step + t · t_step]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Coefs<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) row_step: usize,
    pub(crate) t_step: usize,
}

/// The output of a micro-kernel call once its extent is checked: a pointer derived from the
/// exclusive borrow, and the row stride.
#[derive(Clone, Copy, Debug)]
struct OutTile {
    ptr: *mut f32,
    stride: usize,
}

/// Output extent of a micro-kernel call: `rows` a multiple of [`TILE_ROWS`], `cols` of the
/// vector length.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Extent {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
}

/// Panics unless `rows × cols` (row stride `stride`) fits in `len`.
#[inline(always)]
fn assert_matrix_fits(rows: usize, cols: usize, stride: usize, len: usize) {
    if rows > 0 && cols > 0 {
        assert!(
            stride >= cols && (rows - 1) * stride + cols <= len,
            "matrix {rows}×{cols} (stride {stride}) does not fit in {len} floats"
        );
    }
}

/// Runs `tile::<C>(col0)` over `0..cols` with the widest register tiles that fit: 4
/// vectors where the register file allows, then 2, then 1.
macro_rules! for_each_column_tile {
    ($s:ty, $cols:expr, |$col0:ident, $c:ident| $tile:expr) => {{
        let lanes = <$s as Simd>::LANES;
        let cols = $cols;
        let mut $col0 = 0;
        if <$s as Simd>::WIDE_REGISTER_FILE {
            while $col0 + 4 * lanes <= cols {
                {
                    const $c: usize = 4;
                    $tile;
                }
                $col0 += 4 * lanes;
            }
        }
        while $col0 + 2 * lanes <= cols {
            {
                const $c: usize = 2;
                $tile;
            }
            $col0 += 2 * lanes;
        }
        if $col0 + lanes <= cols {
            const $c: usize = 1;
            $tile;
        }
    }};
}

/// `out[r][c] = Σ_{k < depth} a[r][k] · b[k][c]` for `r < extent.rows`, `c < extent.cols`.
#[inline(always)]
pub(crate) fn matmul_abt<S: Simd>(
    s: S,
    a: MatRef<'_>,
    b: MatRef<'_>,
    depth: usize,
    out: MatMut<'_>,
    extent: Extent,
) {
    let Extent { rows, cols } = extent;
    assert!(
        rows % TILE_ROWS == 0 && cols % S::LANES == 0,
        "untiled extent {extent:?}"
    );
    if rows == 0 || cols == 0 {
        return;
    }
    assert_matrix_fits(rows, depth, a.stride, a.data.len());
    assert_matrix_fits(depth, cols, b.stride, b.data.len());
    assert_matrix_fits(rows, cols, out.stride, out.data.len());
    let out = OutTile {
        ptr: out.data.as_mut_ptr(),
        stride: out.stride,
    };
    for row0 in (0..rows).step_by(TILE_ROWS) {
        for_each_column_tile!(S, cols, |col0, C| {
            // SAFETY: row0 + TILE_ROWS <= rows and col0 + C·LANES <= cols, and the views
            // were checked to hold rows × depth, depth × cols and rows × cols.
            unsafe { abt_tile::<S, C>(s, a, b, depth, out, row0, col0) }
        });
    }
}

/// One `TILE_ROWS × C·LANES` tile of [`matmul_abt`] at `(row0, col0)`.
///
/// # Safety
/// The tile must lie inside the extent that `a`, `b` and `out` were checked against, and
/// `out.ptr` must come from a live exclusive borrow of the output.
#[inline(always)]
unsafe fn abt_tile<S: Simd, const C: usize>(
    s: S,
    a: MatRef<'_>,
    b: MatRef<'_>,
    depth: usize,
    out: OutTile,
    row0: usize,
    col0: usize,
) {
    let (a_ptr, b_ptr, out_ptr) = (a.data.as_ptr(), b.data.as_ptr(), out.ptr);
    let mut acc = [[s.splat(0.0); C]; TILE_ROWS];
    for k in 0..depth {
        // SAFETY: k < depth and col0 + C·LANES <= cols: inside `b` (caller's contract).
        let b_row = unsafe { b_ptr.add(k * b.stride + col0) };
        // SAFETY: as above, each vector lies in the row's first C·LANES floats.
        let bv: [S::V; C] = std::array::from_fn(|v| unsafe { s.load(b_row.add(v * S::LANES)) });
        for (r, acc_row) in acc.iter_mut().enumerate() {
            // SAFETY: row0 + r < rows and k < depth: inside `a`.
            let coef = s.splat(unsafe { *a_ptr.add((row0 + r) * a.stride + k) });
            for v in 0..C {
                acc_row[v] = s.mul_add(coef, bv[v], acc_row[v]);
            }
        }
    }
    for (r, acc_row) in acc.iter().enumerate() {
        for (v, &value) in acc_row.iter().enumerate() {
            let at = (row0 + r) * out.stride + col0 + v * S::LANES;
            // SAFETY: inside `out`'s checked extent, derived from its exclusive borrow.
            unsafe { s.store(out_ptr.add(at), value) };
        }
    }
}

/// `out[r][c] = scale[r] · out[r][c] + Σ_{t < terms} a(r, t) · b[t][c]` for
/// `r < extent.rows`, `c < extent.cols` (`scale` absent: 1).
#[inline(always)]
pub(crate) fn rank1_accumulate<S: Simd>(
    s: S,
    a: Coefs<'_>,
    terms: usize,
    b: MatRef<'_>,
    out: MatMut<'_>,
    extent: Extent,
    scale: Option<&[f32]>,
) {
    let Extent { rows, cols } = extent;
    assert!(
        rows % TILE_ROWS == 0 && cols % S::LANES == 0,
        "untiled extent {extent:?}"
    );
    if rows == 0 || cols == 0 {
        return;
    }
    if terms > 0 {
        let last = (rows - 1) * a.row_step + (terms - 1) * a.t_step;
        assert!(last < a.data.len(), "coefficients out of bounds");
    }
    assert_matrix_fits(terms, cols, b.stride, b.data.len());
    assert_matrix_fits(rows, cols, out.stride, out.data.len());
    if let Some(scale) = scale {
        assert!(scale.len() >= rows, "one scale per row");
    }
    let out = OutTile {
        ptr: out.data.as_mut_ptr(),
        stride: out.stride,
    };
    for row0 in (0..rows).step_by(TILE_ROWS) {
        for_each_column_tile!(S, cols, |col0, C| {
            // SAFETY: row0 + TILE_ROWS <= rows and col0 + C·LANES <= cols, and the views
            // were checked against rows, cols and terms above.
            unsafe { rank1_tile::<S, C>(s, a, terms, b, out, scale, row0, col0) }
        });
    }
}

/// One `TILE_ROWS × C·LANES` tile of [`rank1_accumulate`] at `(row0, col0)`.
///
/// # Safety
/// As [`abt_tile`].
#[allow(
    clippy::too_many_arguments,
    reason = "one register tile's coordinates and views"
)]
#[inline(always)]
unsafe fn rank1_tile<S: Simd, const C: usize>(
    s: S,
    a: Coefs<'_>,
    terms: usize,
    b: MatRef<'_>,
    out: OutTile,
    scale: Option<&[f32]>,
    row0: usize,
    col0: usize,
) {
    let (a_ptr, b_ptr, out_ptr) = (a.data.as_ptr(), b.data.as_ptr(), out.ptr);
    let mut acc = [[s.splat(0.0); C]; TILE_ROWS];
    for (r, acc_row) in acc.iter_mut().enumerate() {
        let row_scale = s.splat(scale.map_or(1.0, |scale| scale[row0 + r]));
        for (v, slot) in acc_row.iter_mut().enumerate() {
            let at = (row0 + r) * out.stride + col0 + v * S::LANES;
            // SAFETY: inside `out`'s checked extent.
            *slot = s.mul(row_scale, unsafe { s.load(out_ptr.add(at)) });
        }
    }
    for t in 0..terms {
        // SAFETY: t < terms and col0 + C·LANES <= cols, inside `b`.
        let b_row = unsafe { b_ptr.add(t * b.stride + col0) };
        // SAFETY: as above.
        let bv: [S::V; C] = std::array::from_fn(|v| unsafe { s.load(b_row.add(v * S::LANES)) });
        for (r, acc_row) in acc.iter_mut().enumerate() {
            let at = (row0 + r) * a.row_step + t * a.t_step;
            // SAFETY: at <= (rows - 1)·row_step + (terms - 1)·t_step < len (checked).
            let coef = s.splat(unsafe { *a_ptr.add(at) });
            for v in 0..C {
                acc_row[v] = s.mul_add(coef, bv[v], acc_row[v]);
            }
        }
    }
    for (r, acc_row) in acc.iter().enumerate() {
        for (v, &value) in acc_row.iter().enumerate() {
            let at = (row0 + r) * out.stride + col0 + v * S::LANES;
            // SAFETY: inside `out`'s checked extent, derived from its exclusive borrow.
            unsafe { s.store(out_ptr.add(at), value) };
        }
    }
}
