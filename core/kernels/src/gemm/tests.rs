//! GEMM against an f64 reference, every kernel against the portable one, thread-count
//! determinism and layout equivalence.

use super::*;

/// splitmix64: a small seeded generator for test inputs.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn next_f32(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.next_f32()).collect()
    }
}

/// A random matrix of logical shape `[rows, cols]` stored in `layout` with `pad` extra elements
/// per stored row; the padding holds NaN, so reading it would show in the result.
struct TestMatrix {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
    stride: usize,
    layout: Layout,
}

impl TestMatrix {
    fn random(rng: &mut SplitMix64, rows: usize, cols: usize, layout: Layout, pad: usize) -> Self {
        let (stored_rows, stored_cols) = match layout {
            Layout::RowMajor => (rows, cols),
            Layout::Transposed => (cols, rows),
        };
        let stride = stored_cols + pad;
        let mut data = vec![f32::NAN; stored_rows * stride];
        for row in data.chunks_mut(stride) {
            row[..stored_cols].copy_from_slice(&rng.vec(stored_cols));
        }
        Self {
            data,
            rows,
            cols,
            stride,
            layout,
        }
    }

    fn view(&self) -> MatRef<'_> {
        MatRef::strided(&self.data, self.rows, self.cols, self.stride, self.layout)
    }

    fn get(&self, i: usize, j: usize) -> f32 {
        match self.layout {
            Layout::RowMajor => self.data[i * self.stride + j],
            Layout::Transposed => self.data[j * self.stride + i],
        }
    }
}

/// An output `[m, n]` with stride `n + pad`: random starting values, and a sentinel in the
/// padding that no product may touch.
fn output(rng: &mut SplitMix64, m: usize, n: usize, pad: usize) -> (Vec<f32>, usize) {
    let ldc = n + pad;
    let mut c = vec![SENTINEL; m * ldc];
    for row in c.chunks_mut(ldc) {
        row[..n].copy_from_slice(&rng.vec(n));
    }
    (c, ldc)
}

const SENTINEL: f32 = 12345.5;

/// Checks `c` against `c0 (+)= a·b` in f64.
///
/// Any order of summing the `k` products and `c0` (with or without fused multiply-adds) is within
/// `γ(k + 1) · (Σ|a·b| + |c0|)` of the exact value, `γ(n) = n·u / (1 − n·u)`, `u = 2⁻²⁴`
/// (Higham, *Accuracy and Stability*, §3.1); the f64 reference itself is exact to ~k·2⁻⁵³.
fn assert_close(
    a: &TestMatrix,
    b: &TestMatrix,
    c0: &[f32],
    c: &[f32],
    ldc: usize,
    mode: Accumulate,
    what: &str,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let unit = f64::from(f32::EPSILON) / 2.0;
    let terms = (k + 1) as f64;
    let gamma = terms * unit / (1.0 - terms * unit);
    for i in 0..m {
        for j in 0..n {
            let start = match mode {
                Accumulate::Overwrite => 0.0,
                Accumulate::Add => f64::from(c0[i * ldc + j]),
            };
            let (mut exact, mut scale) = (start, start.abs());
            for p in 0..k {
                let product = f64::from(a.get(i, p)) * f64::from(b.get(p, j));
                exact += product;
                scale += product.abs();
            }
            let got = f64::from(c[i * ldc + j]);
            let tolerance = gamma * scale + f64::from(f32::MIN_POSITIVE);
            assert!(
                (got - exact).abs() <= tolerance,
                "{what}: C[{i}, {j}] = {got}, expected {exact} ± {tolerance}"
            );
        }
        for j in n..ldc.min(c.len() - i * ldc) {
            assert_eq!(
                c[i * ldc + j].to_bits(),
                SENTINEL.to_bits(),
                "{what}: padding C[{i}, {j}] written"
            );
        }
    }
}

const EDGE_M: [usize; 7] = [1, 7, 13, 14, 31, 64, 65];
const EDGE_N: [usize; 8] = [1, 7, 13, 31, 33, 64, 65, 100];
const EDGE_K: [usize; 8] = [1, 7, 13, 31, 64, 65, 257, 577];

fn layout(index: usize) -> Layout {
    if index.is_multiple_of(2) {
        Layout::RowMajor
    } else {
        Layout::Transposed
    }
}

fn mode(index: usize) -> Accumulate {
    if index.is_multiple_of(3) {
        Accumulate::Add
    } else {
        Accumulate::Overwrite
    }
}

/// Every (m, n, k) of the edge sizes; layouts, modes and paddings rotate with the case index so
/// that each appears with every size.
fn edge_cases() -> impl Iterator<Item = (usize, (usize, usize, usize))> {
    EDGE_M
        .into_iter()
        .flat_map(|m| {
            EDGE_N
                .into_iter()
                .flat_map(move |n| EDGE_K.into_iter().map(move |k| (m, n, k)))
        })
        .enumerate()
}

#[test]
fn packed_product_matches_reference_on_edge_shapes() {
    for kernel in Kernel::available() {
        let mut rng = SplitMix64(1);
        for (case, (m, n, k)) in edge_cases() {
            let (b_layout, mode, pad) = (layout(case), mode(case), case % 3);
            let a = TestMatrix::random(&mut rng, m, k, Layout::RowMajor, pad);
            let b = TestMatrix::random(&mut rng, k, n, b_layout, pad);
            let packed = PackedMatrix::pack_with(kernel, b.view());
            assert_eq!((packed.k(), packed.n(), packed.kernel()), (k, n, kernel));
            let (c0, ldc) = output(&mut rng, m, n, 2 - pad);
            let mut c = c0.clone();
            matmul_packed(&a.data, m, a.stride, &packed, &mut c, ldc, mode);
            let what = format!("{kernel:?} m={m} n={n} k={k} B {b_layout:?} {mode:?}");
            assert_close(&a, &b, &c0, &c, ldc, mode, &what);
        }
    }
}

#[test]
fn general_product_matches_reference_in_all_layouts() {
    for kernel in Kernel::available() {
        let mut rng = SplitMix64(2);
        for (case, (m, n, k)) in edge_cases().step_by(3) {
            for layouts in 0..4 {
                let (a_layout, b_layout) = (layout(layouts), layout(layouts / 2));
                let (mode, pad) = (mode(case + layouts), (case + layouts) % 3);
                let a = TestMatrix::random(&mut rng, m, k, a_layout, pad);
                let b = TestMatrix::random(&mut rng, k, n, b_layout, 2 - pad);
                let (c0, ldc) = output(&mut rng, m, n, pad);
                let mut c = c0.clone();
                matmul_with(
                    kernel,
                    a.view(),
                    b.view(),
                    MatMut::strided(&mut c, m, n, ldc),
                    mode,
                );
                let what =
                    format!("{kernel:?} m={m} n={n} k={k} A {a_layout:?} B {b_layout:?} {mode:?}");
                assert_close(&a, &b, &c0, &c, ldc, mode, &what);
            }
        }
    }
}

/// Model-sized products: several K blocks, row blocks past MC, and the parallel split.
const LARGE_SHAPES: [(usize, usize, usize); 5] = [
    (256, 576, 576),
    (300, 192, 1536),
    (8, 1536, 576),
    (577, 65, 300),
    (33, 577, 31),
];

#[test]
fn every_kernel_matches_reference_and_portable_on_large_shapes() {
    let mut rng = SplitMix64(3);
    for (case, (m, n, k)) in LARGE_SHAPES.into_iter().enumerate() {
        let a = TestMatrix::random(&mut rng, m, k, Layout::RowMajor, 0);
        let b = TestMatrix::random(&mut rng, k, n, layout(case), 0);
        let (c0, ldc) = output(&mut rng, m, n, 0);
        let product = |kernel| {
            let mut c = c0.clone();
            let packed = PackedMatrix::pack_with(kernel, b.view());
            matmul_packed(&a.data, m, k, &packed, &mut c, ldc, Accumulate::Add);
            c
        };
        let portable = product(Kernel::Portable);
        for kernel in Kernel::available() {
            let c = product(kernel);
            let what = format!("{kernel:?} m={m} n={n} k={k}");
            assert_close(&a, &b, &c0, &c, ldc, Accumulate::Add, &what);
            // Both are within the bound of the exact value, so within twice it of each other;
            // in practice they differ by a few ulps.
            let worst = c
                .iter()
                .zip(&portable)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-3, "{what}: differs from portable by {worst}");
        }
    }
}

#[test]
fn same_bits_for_any_thread_count() {
    let mut rng = SplitMix64(4);
    let shapes = [
        (300, 576, 192),
        (256, 576, 576),
        (8, 1536, 576),
        (65, 577, 257),
        (3, 100, 4000),
    ];
    for kernel in Kernel::available() {
        for &(m, n, k) in &shapes {
            let a = TestMatrix::random(&mut rng, m, k, Layout::RowMajor, 0);
            let b = TestMatrix::random(&mut rng, k, n, Layout::RowMajor, 0);
            let packed = PackedMatrix::pack_with(kernel, b.view());
            let bits = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut c = vec![0.0f32; m * n];
                pool.install(|| {
                    matmul_packed(&a.data, m, k, &packed, &mut c, n, Accumulate::Overwrite)
                });
                let mut general = vec![0.0f32; m * n];
                pool.install(|| {
                    let c = MatMut::new(&mut general, m, n);
                    matmul_with(kernel, a.view(), b.view(), c, Accumulate::Overwrite);
                });
                assert_eq!(c, general, "packed and general products differ");
                c.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            };
            let single = bits(1);
            for threads in [2, 3, 5] {
                assert!(
                    bits(threads) == single,
                    "{kernel:?} m={m} n={n} k={k}: {threads} threads differ from 1"
                );
            }
        }
    }
}

#[test]
fn weight_packs_the_same_from_either_layout() {
    let mut rng = SplitMix64(5);
    for (k, n) in [(576, 192), (577, 65), (13, 1536)] {
        let w = TestMatrix::random(&mut rng, k, n, Layout::RowMajor, 0);
        // The same weight stored [n, k] (PyTorch's [out, in]).
        let mut w_t = vec![0.0; k * n];
        for p in 0..k {
            for j in 0..n {
                w_t[j * k + p] = w.data[p * n + j];
            }
        }
        for kernel in Kernel::available() {
            let from_kn =
                PackedMatrix::pack_with(kernel, MatRef::new(&w.data, k, n, Layout::RowMajor));
            let from_nk =
                PackedMatrix::pack_with(kernel, MatRef::new(&w_t, k, n, Layout::Transposed));
            assert_eq!(
                from_kn.storage.as_slice(),
                from_nk.storage.as_slice(),
                "{kernel:?} k={k} n={n}"
            );
            let m = 37;
            let x = rng.vec(m * k);
            let (mut y_kn, mut y_nk) = (vec![0.0; m * n], vec![0.0; m * n]);
            matmul_packed(&x, m, k, &from_kn, &mut y_kn, n, Accumulate::Overwrite);
            matmul_packed(&x, m, k, &from_nk, &mut y_nk, n, Accumulate::Overwrite);
            assert_eq!(y_kn, y_nk, "{kernel:?} k={k} n={n}");
        }
        // Packing Wᵀ (logical [n, k]) from the same [k, n] buffer needs no transposed copy.
        let packed_t = PackedMatrix::pack(&w.data, n, k, Layout::Transposed);
        assert_eq!((packed_t.k(), packed_t.n()), (n, k));
        assert!(packed_t.size_bytes() >= n * k * size_of::<f32>());
    }
}

#[test]
fn overwrite_never_reads_the_output() {
    let mut rng = SplitMix64(6);
    let (m, k, n) = (20, 300, 40);
    let a = TestMatrix::random(&mut rng, m, k, Layout::RowMajor, 0);
    let b = TestMatrix::random(&mut rng, k, n, Layout::RowMajor, 0);
    for kernel in Kernel::available() {
        let mut c = vec![f32::NAN; m * n];
        let packed = PackedMatrix::pack_with(kernel, b.view());
        matmul_packed(&a.data, m, k, &packed, &mut c, n, Accumulate::Overwrite);
        assert_close(
            &a,
            &b,
            &c,
            &c,
            n,
            Accumulate::Overwrite,
            &format!("{kernel:?}"),
        );
    }
}

#[test]
fn empty_dimensions() {
    let a = [1.0f32; 6];
    // k = 0: Overwrite zeroes C, Add leaves it.
    let empty = PackedMatrix::pack(&[], 0, 3, Layout::RowMajor);
    let mut c = [5.0f32; 6];
    matmul_packed(&a, 2, 0, &empty, &mut c, 3, Accumulate::Add);
    assert_eq!(c, [5.0; 6]);
    matmul_packed(&a, 2, 0, &empty, &mut c, 3, Accumulate::Overwrite);
    assert_eq!(c, [0.0; 6]);
    // m = 0 and n = 0 touch nothing.
    let b = PackedMatrix::pack(&[1.0; 6], 3, 2, Layout::RowMajor);
    matmul_packed(&[], 0, 3, &b, &mut [], 2, Accumulate::Overwrite);
    let no_columns = PackedMatrix::pack(&[], 3, 0, Layout::RowMajor);
    let mut untouched = [7.0f32; 2];
    matmul_packed(
        &a,
        2,
        3,
        &no_columns,
        &mut untouched,
        0,
        Accumulate::Overwrite,
    );
    assert_eq!(untouched, [7.0; 2]);
}

#[test]
fn kernel_detection() {
    assert!(Kernel::best().is_available());
    assert_eq!(Kernel::available().next(), Some(Kernel::best()));
    assert_eq!(Kernel::available().last(), Some(Kernel::Portable));
    #[cfg(target_arch = "aarch64")]
    assert_eq!(Kernel::best(), Kernel::Neon);
}

#[test]
#[should_panic(expected = "output slice has")]
fn short_output_panics() {
    let b = PackedMatrix::pack(&[1.0; 4], 2, 2, Layout::RowMajor);
    matmul_packed(&[1.0; 4], 2, 2, &b, &mut [0.0; 3], 2, Accumulate::Overwrite);
}

#[test]
fn uninit_output_equals_the_overwrite_product_for_every_kernel() {
    let mut rng = SplitMix64(11);
    // Several K blocks (k > KC) and ragged edges, so later blocks read what the first wrote.
    for &(m, k, n) in &[(1, 7, 5), (37, 600, 45), (15, 13, 33)] {
        let a = rng.vec(m * k);
        let w = rng.vec(k * n);
        for kernel in Kernel::available() {
            let packed = PackedMatrix::pack_with(kernel, MatRef::new(&w, k, n, Layout::RowMajor));
            let mut expected = vec![f32::NAN; m * n];
            matmul_packed(&a, m, k, &packed, &mut expected, n, Accumulate::Overwrite);
            let mut fresh: Vec<std::mem::MaybeUninit<f32>> = Vec::with_capacity(m * n);
            fresh.resize_with(m * n, std::mem::MaybeUninit::uninit);
            matmul_packed_uninit(&a, m, k, &packed, &mut fresh, n);
            // SAFETY: matmul_packed_uninit wrote all m·n elements.
            let got: Vec<f32> = fresh
                .into_iter()
                .map(|v| unsafe { v.assume_init() })
                .collect();
            assert_eq!(got, expected, "{kernel:?} {m}x{k}x{n}");
        }
    }
}
