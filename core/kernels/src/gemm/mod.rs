//! f32 matrix products `C = A·B` and `C += A·B`, row-major, with the constant operand packed once.
//!
//! A model's projections are `y = x·W` with `W` frozen: [`PackedMatrix::pack`] lays `W` out once
//! (at load) in the panel layout of the best microkernel this CPU has, and [`matmul_packed`] runs
//! the product on it. [`matmul`] is the general form for two non-constant operands: it packs `B`
//! into a per-thread scratch buffer on every call.
//!
//! Both accept a weight stored `[k, n]` (burn's `[d_in, d_out]`) or `[n, k]` (PyTorch and GGUF's
//! `[out, in]`), see [`Layout`], so one weight packs as `W` and as `Wᵀ` without a transposed copy.
//!
//! # Blocking and threads
//!
//! The product is cut into cache blocks (KC columns of `A` by MC rows, NR-wide panels of `B`)
//! and register tiles (MR × NR, see [`Kernel::tile`]). The output is split into blocks of whole
//! tiles that rayon runs in parallel (in the current pool: callers pick it with
//! `ThreadPool::install`); problems under about a million multiply-adds stay on the calling thread.
//!
//! # Determinism
//!
//! Every output element is one chain of multiply-adds (fused, except in the portable kernel) over
//! `k` in increasing order, starting from zero or from `C`; the chain pauses in `C` between
//! KC-sized blocks whose bounds depend only on `k` and the kernel. How the output is split between
//! threads never changes that chain, so a product is bitwise the same whatever the thread count
//! and scheduling. Different kernels ([`Kernel`]) round differently.

/// Calls `kernel::<ROWS>(args)` for a run-time `rows`, one arm per listed row count.
macro_rules! dispatch_rows {
    ($rows:expr, $kernel:ident $args:tt, [$($count:literal)*]) => {
        match $rows {
            $($count => $kernel::<$count> $args,)*
            rows => unreachable!("tile rows {rows} outside the kernel's tile"),
        }
    };
}

mod driver;
#[cfg(target_arch = "aarch64")]
mod neon;
mod pack;
mod portable;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::OnceLock;

/// How a matrix of logical shape `[rows, cols]` lies in its slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Row-major as is: element `(i, j)` at `i * stride + j`, `stride ≥ cols`.
    ///
    /// A weight `[k, n]` in this layout is burn's `Linear` weight, `[d_in, d_out]`.
    RowMajor,
    /// Stored as its transpose `[cols, rows]`, row-major: element `(i, j)` at `j * stride + i`,
    /// `stride ≥ rows`.
    ///
    /// A weight `[k, n]` in this layout is PyTorch's or GGUF's `[out, in]`.
    Transposed,
}

/// Whether a product replaces the output or adds to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Accumulate {
    /// `C = A·B`; the previous contents of `C` are never read (they may be NaN).
    Overwrite,
    /// `C += A·B`, e.g. to fuse a residual add into the projection.
    Add,
}

/// A microkernel: the instruction set and register tile a product runs with.
///
/// [`Kernel::best`] is what [`PackedMatrix::pack`] and [`matmul`] use; the other variants exist so
/// tests and benchmarks can force a path ([`PackedMatrix::pack_with`], [`matmul_with`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Plain Rust the compiler vectorizes for the build target (no run-time features).
    Portable,
    /// x86_64 AVX2 + FMA, 6 × 16 tile (12 of the 16 ymm registers accumulate).
    Avx2Fma,
    /// x86_64 AVX-512F, 14 × 32 tile (28 of the 32 zmm registers accumulate).
    Avx512,
    /// aarch64 NEON, 8 × 12 tile (24 of the 32 q registers accumulate).
    Neon,
}

impl Kernel {
    /// Every variant, fastest first.
    pub const ALL: [Kernel; 4] = [
        Kernel::Avx512,
        Kernel::Avx2Fma,
        Kernel::Neon,
        Kernel::Portable,
    ];

    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The kernels this CPU can run, fastest first (always ends with [`Kernel::Portable`]).
    pub fn available() -> impl Iterator<Item = Kernel> {
        Kernel::ALL
            .into_iter()
            .filter(|kernel| kernel.is_available())
    }

    /// The fastest kernel this CPU can run, detected once.
    pub fn best() -> Kernel {
        static BEST: OnceLock<Kernel> = OnceLock::new();
        *BEST.get_or_init(|| Kernel::available().next().unwrap_or(Kernel::Portable))
    }

    /// The register tile `(MR, NR)`: output rows and columns one microkernel call computes.
    ///
    /// A [`PackedMatrix`] is laid out in NR-wide column panels of the kernel it was packed for.
    pub const fn tile(self) -> (usize, usize) {
        match self {
            Kernel::Portable => (4, 16),
            Kernel::Avx2Fma => (6, 16),
            Kernel::Avx512 => (14, 32),
            Kernel::Neon => (8, 12),
        }
    }

    fn assert_available(self) {
        assert!(
            self.is_available(),
            "gemm kernel {self:?} is not available on this CPU"
        );
    }
}

/// A read-only matrix view of logical shape `[rows, cols]` on a slice, in either [`Layout`].
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    stride: usize,
    layout: Layout,
}

impl<'a> MatRef<'a> {
    /// A dense view: the stride is `cols` ([`Layout::RowMajor`]) or `rows` ([`Layout::Transposed`]).
    ///
    /// # Panics
    ///
    /// If `data` is shorter than the view.
    pub fn new(data: &'a [f32], rows: usize, cols: usize, layout: Layout) -> Self {
        let stride = match layout {
            Layout::RowMajor => cols,
            Layout::Transposed => rows,
        };
        Self::strided(data, rows, cols, stride, layout)
    }

    /// A view whose stored rows are `stride` elements apart (see [`Layout`]).
    ///
    /// # Panics
    ///
    /// If the stride is shorter than a stored row, or `data` is shorter than the view.
    pub fn strided(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        stride: usize,
        layout: Layout,
    ) -> Self {
        let (stored_rows, stored_cols) = match layout {
            Layout::RowMajor => (rows, cols),
            Layout::Transposed => (cols, rows),
        };
        assert!(
            stride >= stored_cols,
            "stride {stride} < stored row length {stored_cols}"
        );
        if stored_rows > 0 && stored_cols > 0 {
            let needed = (stored_rows - 1) * stride + stored_cols;
            assert!(
                data.len() >= needed,
                "matrix slice has {} elements, needs {needed}",
                data.len()
            );
        }
        Self {
            data,
            rows,
            cols,
            stride,
            layout,
        }
    }

    /// The transposed view `[cols, rows]` of the same data.
    pub fn t(self) -> Self {
        let layout = match self.layout {
            Layout::RowMajor => Layout::Transposed,
            Layout::Transposed => Layout::RowMajor,
        };
        Self {
            rows: self.cols,
            cols: self.rows,
            layout,
            ..self
        }
    }

    /// Logical rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Logical columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
}

/// A mutable row-major matrix view `[rows, cols]`: element `(i, j)` at `i * stride + j`.
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    stride: usize,
}

impl<'a> MatMut<'a> {
    /// A dense view (stride `cols`).
    ///
    /// # Panics
    ///
    /// If `data` is shorter than `rows · cols`.
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols)
    }

    /// A view whose rows are `stride ≥ cols` elements apart.
    ///
    /// # Panics
    ///
    /// If `stride < cols` or `data` is shorter than the view.
    pub fn strided(data: &'a mut [f32], rows: usize, cols: usize, stride: usize) -> Self {
        assert_output_fits(data.len(), rows, cols, stride);
        Self {
            data,
            rows,
            cols,
            stride,
        }
    }
}

fn assert_output_fits(len: usize, rows: usize, cols: usize, stride: usize) {
    assert!(stride >= cols, "output stride {stride} < cols {cols}");
    if rows > 0 && cols > 0 {
        let needed = (rows - 1) * stride + cols;
        assert!(
            len >= needed,
            "output slice has {len} elements, needs {needed}"
        );
    }
}

/// The `B` operand (logical `[k, n]`) packed once into a microkernel's panel layout.
///
/// Column panels NR wide (the kernel's tile width, zero-padded at the right edge), each holding
/// all `k` rows contiguously: a panel's KC-row slice is one contiguous, 64-byte aligned block.
#[derive(Clone, Debug)]
pub struct PackedMatrix {
    kernel: Kernel,
    k: usize,
    n: usize,
    storage: pack::AlignedBuf,
}

impl PackedMatrix {
    /// Packs `data`, a dense `[k, n]` matrix in `layout`, for [`Kernel::best`].
    ///
    /// O(k·n), parallel over panels for large matrices.
    ///
    /// # Shapes
    ///
    /// - `data`: `[k, n]` row-major ([`Layout::RowMajor`], e.g. burn's `[d_in, d_out]`), or
    ///   `[n, k]` row-major ([`Layout::Transposed`], e.g. PyTorch's `[out, in]`).
    ///
    /// To multiply by `Wᵀ` instead, pack the same buffer as `[n, k]` in the other layout.
    ///
    /// # Panics
    ///
    /// If `data` is shorter than `k · n`.
    pub fn pack(data: &[f32], k: usize, n: usize, layout: Layout) -> Self {
        Self::pack_with(Kernel::best(), MatRef::new(data, k, n, layout))
    }

    /// Packs any view `b` (logical `[k, n]`, any stride) for `kernel`.
    ///
    /// # Shapes
    ///
    /// - `b`: logical `[k, n]`, either layout.
    ///
    /// # Panics
    ///
    /// If `kernel` is not available on this CPU.
    pub fn pack_with(kernel: Kernel, b: MatRef<'_>) -> Self {
        kernel.assert_available();
        let (_, nr) = kernel.tile();
        let mut storage = pack::AlignedBuf::zeroed(pack::packed_b_len(b.rows, b.cols, nr));
        pack::pack_b(b, nr, storage.as_mut_slice());
        Self {
            kernel,
            k: b.rows,
            n: b.cols,
            storage,
        }
    }

    /// Rows of the logical matrix (the inner dimension of the product).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns of the logical matrix (the output width).
    pub fn n(&self) -> usize {
        self.n
    }

    /// The kernel this matrix was packed for (the one [`matmul_packed`] runs).
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Heap bytes held (the padded panels plus up to 64 bytes of alignment slack).
    pub fn size_bytes(&self) -> usize {
        self.storage.allocated_bytes()
    }
}

/// `C = A·B` or `C += A·B` with `B` packed, in the kernel `b` was packed for.
///
/// # Shapes
///
/// - `a`: `[m, k]` row-major, row stride `lda ≥ k` (`k = b.k()`).
/// - `b`: logical `[k, n]`.
/// - `c`: `[m, n]` row-major, row stride `ldc ≥ n` (`n = b.n()`); columns past `n` are untouched.
///
/// # Panics
///
/// If a stride is shorter than its row, or a slice is shorter than its matrix.
pub fn matmul_packed(
    a: &[f32],
    m: usize,
    lda: usize,
    b: &PackedMatrix,
    c: &mut [f32],
    ldc: usize,
    mode: Accumulate,
) {
    let a = MatRef::strided(a, m, b.k, lda, Layout::RowMajor);
    assert_output_fits(c.len(), m, b.n, ldc);
    b.kernel.assert_available();
    run(
        b.kernel,
        a,
        b.storage.as_slice(),
        b.n,
        Output::of(c),
        ldc,
        mode,
    );
}

/// [`matmul_packed`] with [`Accumulate::Overwrite`] into memory that need not be
/// initialized: every element of the `[m, n]` output is written before anything reads it,
/// so a fresh buffer needs no zeroing (a memset of every activation, 5 % of a forward).
///
/// # Shapes
///
/// As [`matmul_packed`].
///
/// # Panics
///
/// As [`matmul_packed`].
pub fn matmul_packed_uninit(
    a: &[f32],
    m: usize,
    lda: usize,
    b: &PackedMatrix,
    c: &mut [MaybeUninit<f32>],
    ldc: usize,
) {
    let a = MatRef::strided(a, m, b.k, lda, Layout::RowMajor);
    assert_output_fits(c.len(), m, b.n, ldc);
    b.kernel.assert_available();
    let output = Output {
        ptr: c.as_mut_ptr().cast::<f32>(),
        len: c.len(),
        _borrow: PhantomData,
    };
    run(
        b.kernel,
        a,
        b.storage.as_slice(),
        b.n,
        output,
        ldc,
        Accumulate::Overwrite,
    );
}

/// The output of a product: a raw view, so uninitialized memory is never behind a
/// `&mut [f32]`. The driver writes every element of the first K block before reading any.
struct Output<'a> {
    ptr: *mut f32,
    len: usize,
    _borrow: PhantomData<&'a mut [f32]>,
}

impl<'a> Output<'a> {
    fn of(c: &'a mut [f32]) -> Self {
        Self {
            ptr: c.as_mut_ptr(),
            len: c.len(),
            _borrow: PhantomData,
        }
    }
}

/// `C = A·B` or `C += A·B` for two non-constant operands, in [`Kernel::best`].
///
/// Packs `B` into a per-thread scratch buffer on every call (O(k·n) extra work); for a constant
/// `B`, pack it once with [`PackedMatrix::pack`] and use [`matmul_packed`].
///
/// # Shapes
///
/// - `a`: logical `[m, k]`, either layout.
/// - `b`: logical `[k, n]`, either layout.
/// - `c`: `[m, n]`.
///
/// # Panics
///
/// If the shapes disagree.
pub fn matmul(a: MatRef<'_>, b: MatRef<'_>, c: MatMut<'_>, mode: Accumulate) {
    matmul_with(Kernel::best(), a, b, c, mode);
}

/// [`matmul`] in a given kernel.
///
/// # Shapes
///
/// As [`matmul`].
///
/// # Panics
///
/// If the shapes disagree or `kernel` is not available on this CPU.
pub fn matmul_with(kernel: Kernel, a: MatRef<'_>, b: MatRef<'_>, c: MatMut<'_>, mode: Accumulate) {
    kernel.assert_available();
    assert_eq!(
        a.cols, b.rows,
        "inner dimensions differ: A is [{}, {}], B is [{}, {}]",
        a.rows, a.cols, b.rows, b.cols
    );
    assert_eq!(
        (c.rows, c.cols),
        (a.rows, b.cols),
        "output shape differs from [m, n]"
    );
    let (_, nr) = kernel.tile();
    pack::with_scratch_b(pack::packed_b_len(b.rows, b.cols, nr), |packed| {
        pack::pack_b(b, nr, packed);
        run(
            kernel,
            a,
            packed,
            b.cols,
            Output::of(c.data),
            c.stride,
            mode,
        );
    });
}

/// Dispatches to the driver monomorphized for `kernel` (checked available by the caller).
fn run(
    kernel: Kernel,
    a: MatRef<'_>,
    b_panels: &[f32],
    n: usize,
    c: Output<'_>,
    ldc: usize,
    mode: Accumulate,
) {
    let (m, k) = (a.rows, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: C = 0, or C unchanged.
        if mode == Accumulate::Overwrite {
            for row in 0..m {
                // SAFETY: the callers checked that `[m, n]` with stride `ldc` fits in `c`.
                unsafe { std::ptr::write_bytes(c.ptr.add(row * ldc), 0, n) };
            }
        }
        return;
    }
    let problem = driver::Problem::new(a, b_panels, n, c.ptr, c.len, ldc, mode);
    match kernel {
        // SAFETY: the portable kernel needs no CPU feature.
        Kernel::Portable => unsafe { driver::run::<portable::Portable>(&problem) },
        // SAFETY: the public entry points asserted `kernel.is_available()`: AVX2 and FMA.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2Fma => unsafe { driver::run::<x86::Avx2Fma>(&problem) },
        // SAFETY: as above: AVX-512F.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => unsafe { driver::run::<x86::Avx512>(&problem) },
        // SAFETY: as above: NEON.
        #[cfg(target_arch = "aarch64")]
        Kernel::Neon => unsafe { driver::run::<neon::Neon>(&problem) },
        #[allow(unreachable_patterns)]
        _ => panic!("gemm kernel {kernel:?} is not built for this target"),
    }
}
