//! Cache blocking, the thread split and the edge tiles around a microkernel.

use std::marker::PhantomData;
use std::ops::Range;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{Accumulate, MatRef, pack};

/// Below this many multiply-adds a product runs on the calling thread (~10 µs of work: waking
/// the pool would cost a good share of it).
const PARALLEL_MIN_MACS: usize = 1 << 20;

/// Blocks per thread when splitting: more than one, so a thread slowed by other load is
/// balanced by the others.
const BLOCKS_PER_THREAD: usize = 4;

/// Longest the calling thread spins for other threads' last blocks before it waits in rayon.
const MAX_SPIN: Duration = Duration::from_millis(2);

/// Narrowest column block worth its own packing of A.
const MIN_BLOCK_PANELS: usize = 4;

/// Largest `MR × NR` of any kernel: the stack tile for edge columns.
const MAX_TILE_ELEMS: usize = 512;

/// A register-tile microkernel: `C[0..rows, 0..NR] (+)= A_tile · B_panel` over one K block.
pub(crate) trait Microkernel {
    /// Rows of the register tile.
    const MR: usize;
    /// Columns of the register tile (the packed panel width).
    const NR: usize;
    /// Longest K block: a `KC × NR` panel slice should stay in L1 while the tiles of a block of
    /// `A` stream past it.
    const KC: usize;
    /// Rows of `A` packed per block (a multiple of `MR`): `MC × KC` should sit in L2.
    const MC: usize;

    /// Runs one tile over `kc` steps of k.
    ///
    /// `a` is an `A` tile packed `[kc][MR]` (rows past `rows` ignored), `b` a panel slice packed
    /// `[kc][NR]`; `c` holds `rows` rows of `NR` outputs, `ldc` apart. With `load_c` the sums
    /// start from `C`, otherwise from zero; either way the tile is then stored to `C`.
    ///
    /// # Safety
    ///
    /// - The CPU has the kernel's instruction set.
    /// - `1 ≤ rows ≤ MR`; `a` is valid for `kc · MR` reads and `b` for `kc · NR` reads.
    /// - `c` is valid for reads and writes of the `rows × NR` tile, which no other thread
    ///   accesses during the call.
    unsafe fn tile(
        rows: usize,
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        load_c: bool,
    );

    /// Packs `a[rows, ks]` into `MR`-row tiles as [`pack::pack_a`] does; a kernel may override
    /// it with a faster packing in its own instruction set.
    ///
    /// # Safety
    ///
    /// The CPU has the kernel's instruction set.
    unsafe fn pack_a(a: MatRef<'_>, rows: Range<usize>, ks: Range<usize>, out: &mut [f32]) {
        pack::pack_a(a, rows, ks, Self::MR, out);
    }
}

/// The output pointer, shared by the tasks that write disjoint blocks of it.
#[derive(Clone, Copy, Debug)]
struct OutPtr(*mut f32);

// SAFETY: the tasks of one product write disjoint tiles of the output (see `Grid`), and the
// borrow in `Problem` keeps the slice alive and otherwise unaliased while they run.
unsafe impl Send for OutPtr {}
// SAFETY: as above.
unsafe impl Sync for OutPtr {}

/// One product `C (+)= A·B` with `B` already packed in the kernel's panels.
#[derive(Debug)]
pub(crate) struct Problem<'a> {
    /// `[m, k]`, either layout.
    a: MatRef<'a>,
    /// Column panels NR wide, each `[k][NR]`.
    b_panels: &'a [f32],
    n: usize,
    c: OutPtr,
    ldc: usize,
    mode: Accumulate,
    _c: PhantomData<&'a mut [f32]>,
}

impl<'a> Problem<'a> {
    /// # Panics
    ///
    /// If `c` is shorter than `[m, n]` with stride `ldc`, or `m`, `n` or `k` is zero.
    /// `c` points to `c_len` floats borrowed for `'a` (possibly uninitialized in
    /// `Overwrite` mode: the first K block writes before any read).
    pub(crate) fn new(
        a: MatRef<'a>,
        b_panels: &'a [f32],
        n: usize,
        c: *mut f32,
        c_len: usize,
        ldc: usize,
        mode: Accumulate,
    ) -> Self {
        assert!(
            a.rows > 0 && a.cols > 0 && n > 0,
            "empty products are handled by the caller"
        );
        assert!(
            ldc >= n && c_len >= (a.rows - 1) * ldc + n,
            "output slice too short"
        );
        Self {
            a,
            b_panels,
            n,
            c: OutPtr(c),
            ldc,
            mode,
            _c: PhantomData,
        }
    }
}

/// Runs the product with kernel `K`, split over the current rayon pool when it is large.
///
/// # Safety
///
/// The CPU has `K`'s instruction set.
pub(crate) unsafe fn run<K: Microkernel>(problem: &Problem<'_>) {
    let (m, k, n) = (problem.a.rows, problem.a.cols, problem.n);
    let panels = n.div_ceil(K::NR);
    assert_eq!(
        problem.b_panels.len(),
        pack::packed_b_len(k, n, K::NR),
        "B packed for another kernel"
    );
    const { assert!(K::MR * K::NR <= MAX_TILE_ELEMS && K::MC % K::MR == 0) };

    let threads = rayon::current_num_threads();
    let grid = Grid::plan(m, n, k, K::MR, K::MC, K::NR, threads);
    if grid.blocks() == 1 {
        // SAFETY: the caller guarantees the instruction set; one block covers the whole output.
        unsafe { run_block::<K>(problem, 0..m, 0..panels) };
        return;
    }
    // Each participant takes the next block until none is left, the calling thread included:
    // a helper that starts late (its thread busy or descheduled) finds less or nothing to do
    // instead of holding half of the work, as a binary fork-join split would.
    let next_block = AtomicUsize::new(0);
    let done_blocks = AtomicUsize::new(0);
    let take_blocks = || {
        loop {
            let block = next_block.fetch_add(1, Ordering::Relaxed);
            if block >= grid.blocks() {
                break;
            }
            let (rows, panel_range) = grid.block(block);
            // SAFETY: the caller guarantees the instruction set; each block is taken once, and
            // blocks are disjoint.
            unsafe { run_block::<K>(problem, rows, panel_range) };
            done_blocks.fetch_add(1, Ordering::Release);
        }
    };
    rayon::scope(|scope| {
        for _ in 1..threads.min(grid.blocks()) {
            scope.spawn(|_| take_blocks());
        }
        take_blocks();
        // The last blocks are in flight on other threads: spin briefly instead of entering
        // rayon's wait, which yields the CPU (to any other process, for a whole time slice).
        let start = Instant::now();
        while done_blocks.load(Ordering::Acquire) < grid.blocks() && start.elapsed() < MAX_SPIN {
            for _ in 0..64 {
                std::hint::spin_loop();
            }
        }
    });
}

/// The fixed split of the output into blocks of whole tiles: `m_chunks` row ranges times
/// `n_chunks` panel ranges. Only which thread computes a block depends on it, never a value.
#[derive(Clone, Copy, Debug)]
struct Grid {
    m: usize,
    mr: usize,
    m_tiles: usize,
    m_chunks: usize,
    panels: usize,
    n_chunks: usize,
}

impl Grid {
    fn plan(m: usize, n: usize, k: usize, mr: usize, mc: usize, nr: usize, threads: usize) -> Self {
        let m_tiles = m.div_ceil(mr);
        let panels = n.div_ceil(nr);
        let macs = m.saturating_mul(n).saturating_mul(k);
        let (m_chunks, n_chunks) = if threads <= 1 || macs < PARALLEL_MIN_MACS {
            (1, 1)
        } else {
            // Rows first: a row block packs its rows of A once, whereas every column block packs
            // them again. Row blocks hold at most MC rows (one packed block of A).
            let wanted = threads * BLOCKS_PER_THREAD;
            let m_chunks = m_tiles.div_ceil(mc / mr).max(m_tiles.min(wanted));
            let n_chunks = if m_chunks >= wanted {
                1
            } else {
                // Too few rows: split the columns too, but keep blocks MIN_BLOCK_PANELS wide
                // (re-packing A stays a small share), unless that would idle a thread.
                let balanced = wanted.div_ceil(m_chunks);
                let wide = (panels / MIN_BLOCK_PANELS).max(threads.div_ceil(m_chunks));
                balanced.min(wide)
            };
            (m_chunks, n_chunks.min(panels))
        };
        Self {
            m,
            mr,
            m_tiles,
            m_chunks,
            panels,
            n_chunks,
        }
    }

    fn blocks(&self) -> usize {
        self.m_chunks * self.n_chunks
    }

    /// Output rows and panel indices of block `index`.
    fn block(&self, index: usize) -> (Range<usize>, Range<usize>) {
        let tiles = even_part(self.m_tiles, self.m_chunks, index / self.n_chunks);
        let rows = tiles.start * self.mr..(tiles.end * self.mr).min(self.m);
        (
            rows,
            even_part(self.panels, self.n_chunks, index % self.n_chunks),
        )
    }
}

/// Part `index` of `0..total` cut into `parts` near-equal ranges.
fn even_part(total: usize, parts: usize, index: usize) -> Range<usize> {
    let (base, extra) = (total / parts, total % parts);
    let start = index * base + index.min(extra);
    start..start + base + usize::from(index < extra)
}

/// The K block length for `k`: the blocks are as even as `K::KC` allows, and depend only on `k`.
fn kc_block(k: usize, kc_max: usize) -> usize {
    k.div_ceil(k.div_ceil(kc_max))
}

/// Computes output rows `rows` × panels `panels` over all of k.
///
/// # Safety
///
/// The CPU has `K`'s instruction set, and no other thread touches this block of the output.
unsafe fn run_block<K: Microkernel>(
    problem: &Problem<'_>,
    rows: Range<usize>,
    panels: Range<usize>,
) {
    let k = problem.a.cols;
    let kc_len = kc_block(k, K::KC);
    let a_len = rows.len().min(K::MC).div_ceil(K::MR) * K::MR * kc_len;
    pack::with_scratch_a(a_len, |a_block| {
        for m0 in rows.clone().step_by(K::MC) {
            let mc = K::MC.min(rows.end - m0);
            for (k_block, k0) in (0..k).step_by(kc_len).enumerate() {
                let kc = kc_len.min(k - k0);
                let load_c = k_block > 0 || problem.mode == Accumulate::Add;
                let a_block = &mut a_block[..mc.div_ceil(K::MR) * K::MR * kc];
                // SAFETY: the caller guarantees the instruction set.
                unsafe { K::pack_a(problem.a, m0..m0 + mc, k0..k0 + kc, a_block) };
                for panel in panels.clone() {
                    let b_slice = &problem.b_panels[(panel * k + k0) * K::NR..][..kc * K::NR];
                    let col0 = panel * K::NR;
                    let cols = K::NR.min(problem.n - col0);
                    for (t, a_tile) in a_block.chunks_exact(K::MR * kc).enumerate() {
                        let row0 = m0 + t * K::MR;
                        let tile_rows = K::MR.min(m0 + mc - row0);
                        // SAFETY: (row0, col0) lies in the output (row0 < m, col0 < n), and the
                        // tile is inside this block, which the caller owns.
                        let c = unsafe { problem.c.0.add(row0 * problem.ldc + col0) };
                        // SAFETY: as above; the packed slices have the lengths `tile` needs.
                        unsafe {
                            tile::<K>(tile_rows, cols, kc, a_tile, b_slice, c, problem.ldc, load_c)
                        };
                    }
                }
            }
        }
    });
}

/// One microkernel call; a tile narrower than NR (the right edge) goes through a stack tile.
///
/// # Safety
///
/// As [`Microkernel::tile`], except that `c` needs only `rows × cols` valid elements.
#[allow(clippy::too_many_arguments)]
unsafe fn tile<K: Microkernel>(
    rows: usize,
    cols: usize,
    kc: usize,
    a_tile: &[f32],
    b_slice: &[f32],
    c: *mut f32,
    ldc: usize,
    load_c: bool,
) {
    debug_assert!(a_tile.len() >= kc * K::MR && b_slice.len() >= kc * K::NR);
    if cols == K::NR {
        // SAFETY: forwarded from the caller; the slices cover `kc` steps.
        unsafe { K::tile(rows, kc, a_tile.as_ptr(), b_slice.as_ptr(), c, ldc, load_c) };
        return;
    }
    let mut edge = [0.0f32; MAX_TILE_ELEMS];
    if load_c {
        for i in 0..rows {
            // SAFETY: row i of the tile has `cols` valid elements (caller), `edge` has NR.
            unsafe {
                std::ptr::copy_nonoverlapping(c.add(i * ldc), edge[i * K::NR..].as_mut_ptr(), cols)
            };
        }
    }
    // SAFETY: `edge` holds MR × NR elements with stride NR; `a`, `b` as above.
    unsafe {
        K::tile(
            rows,
            kc,
            a_tile.as_ptr(),
            b_slice.as_ptr(),
            edge.as_mut_ptr(),
            K::NR,
            load_c,
        )
    };
    for i in 0..rows {
        // SAFETY: as for the load.
        unsafe { std::ptr::copy_nonoverlapping(edge[i * K::NR..].as_ptr(), c.add(i * ldc), cols) };
    }
}
