//! The thread split, the activation blocks and the edge tiles around a microkernel.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::blocks::BLOCK;
use super::pack::{PANEL_ROWS, PackedView, QFormat};
use super::quantize::QuantizedActivations;
use crate::gemm::Accumulate;

/// Below this many multiply-adds a product runs on the calling thread (~10 µs of int8 work:
/// waking the pool would cost a good share of it).
const PARALLEL_MIN_MACS: usize = 1 << 20;

/// Blocks per thread when splitting: more than one, so a thread slowed by other load is
/// balanced by the others.
const BLOCKS_PER_THREAD: usize = 4;

/// Longest the calling thread spins for other threads' last blocks before it waits in rayon.
const MAX_SPIN: Duration = Duration::from_millis(2);

/// Largest tile height of any kernel: the stack tile for the right edge is `MAX_MR × 32`.
pub(crate) const MAX_MR: usize = 8;

/// One register-tile microkernel: `C[0..rows, 0..32] (+)= X_tile · W_panelᵀ` over all of k.
pub(crate) trait QMicrokernel {
    /// Activation rows per tile.
    const MR: usize;
    /// Activation rows per block (a multiple of `MR`): the rows each weight panel meets while
    /// it is in cache.
    const MC: usize;

    /// Bytes of the kernel's own layout of one tile's activations over `nb` blocks; 0 for a
    /// kernel that reads [`QuantizedActivations`] in place.
    fn packed_tile_len(_nb: usize) -> usize {
        0
    }

    /// Lays `rows` of `acts` out in the kernel's own layout, tile after tile
    /// (`packed_tile_len` bytes each; rows past the end zero).
    ///
    /// # Safety
    ///
    /// The CPU has the kernel's instruction set.
    unsafe fn pack_tiles(_acts: &QuantizedActivations, _rows: Range<usize>, _out: &mut [u8]) {}

    /// Runs one tile: `rows` activation rows against the 32 rows of one weight panel.
    ///
    /// With `load_c` the sums start from `C`, otherwise from zero; either way all `rows × 32`
    /// outputs are then stored.
    ///
    /// # Safety
    ///
    /// - The CPU has the kernel's instruction set.
    /// - `1 ≤ rows ≤ MR`; `x` describes `rows` rows of `nb` blocks (and, for a packing
    ///   kernel, `x.packed` points at this tile's `packed_tile_len(nb)` bytes).
    /// - `panel` is valid for `nb` panel-blocks of `format`.
    /// - `c` is valid for reads and writes of the `rows × 32` tile (rows `ldc` apart), which no
    ///   other thread accesses during the call.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        format: QFormat,
        rows: usize,
        x: &XTile,
        panel: *const u8,
        nb: usize,
        c: *mut f32,
        ldc: usize,
        load_c: bool,
    );
}

/// A tile's activations: its first row's quants and per-block values in a
/// [`QuantizedActivations`] (row `i`, block `b` at `i · ldq + 32 b` and `i · nb + b`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct XTile {
    pub(crate) qs: *const i8,
    /// Bytes from one row's quants to the next (`k`).
    pub(crate) ldq: usize,
    pub(crate) scales: *const f32,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) bias: *const i32,
    pub(crate) dsums: *const f32,
    /// Blocks per row (the stride of the per-block arrays).
    pub(crate) nb: usize,
    /// The tile in the kernel's own layout (null for kernels that read in place).
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    pub(crate) packed: *const u8,
}

/// The output pointer, shared by the tasks that write disjoint blocks of it.
#[derive(Clone, Copy, Debug)]
struct OutPtr(*mut f32);

// SAFETY: the tasks of one product write disjoint tiles of the output (see `Grid`), and the
// borrow in `Problem` keeps the slice alive and otherwise unaliased while they run.
unsafe impl Send for OutPtr {}
// SAFETY: as above.
unsafe impl Sync for OutPtr {}

/// One product `C (+)= X·Wᵀ`.
#[derive(Debug)]
pub(crate) struct Problem<'a> {
    acts: &'a QuantizedActivations,
    w: PackedView<'a>,
    c: OutPtr,
    ldc: usize,
    mode: Accumulate,
    _c: PhantomData<&'a mut [f32]>,
}

impl<'a> Problem<'a> {
    /// `c` points to `c_len` floats borrowed for `'a` (possibly uninitialized in `Overwrite`
    /// mode: every output is written before it is read).
    ///
    /// # Panics
    ///
    /// If the shapes disagree, the output is too short, or `m` or `n` is zero.
    pub(crate) fn new(
        acts: &'a QuantizedActivations,
        w: PackedView<'a>,
        c: *mut f32,
        c_len: usize,
        ldc: usize,
        mode: Accumulate,
    ) -> Self {
        let (m, n) = (acts.m, w.rows());
        assert!(
            m > 0 && n > 0 && acts.k == w.cols(),
            "empty or mismatched products are handled by the caller"
        );
        assert!(
            ldc >= n && c_len >= (m - 1) * ldc + n,
            "output slice too short"
        );
        Self {
            acts,
            w,
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
pub(crate) unsafe fn run<K: QMicrokernel>(problem: &Problem<'_>) {
    const { assert!(K::MR <= MAX_MR && K::MC.is_multiple_of(K::MR)) };
    let (m, n, k) = (problem.acts.m, problem.w.rows(), problem.w.cols());
    let panels = problem.w.panels();
    let threads = rayon::current_num_threads();
    let grid = Grid::plan(m, n, k, K::MR, threads);
    if grid.blocks() == 1 {
        // SAFETY: the caller guarantees the instruction set; one block covers the output.
        unsafe { run_block::<K>(problem, 0..m, 0..panels) };
        return;
    }
    // Each participant takes the next block until none is left, the calling thread included:
    // a helper that starts late finds less or nothing to do instead of holding half the work.
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
        // Spin briefly for the blocks still in flight instead of entering rayon's wait, which
        // yields the CPU (to any other process, for a whole time slice).
        let start = Instant::now();
        while done_blocks.load(Ordering::Acquire) < grid.blocks() && start.elapsed() < MAX_SPIN {
            for _ in 0..64 {
                std::hint::spin_loop();
            }
        }
    });
}

/// The fixed split of the output into blocks: `m_chunks` row ranges (of whole tiles) times
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
    fn plan(m: usize, n: usize, k: usize, mr: usize, threads: usize) -> Self {
        let m_tiles = m.div_ceil(mr);
        let panels = n.div_ceil(PANEL_ROWS);
        let macs = m.saturating_mul(n).saturating_mul(k);
        let (m_chunks, n_chunks) = if threads <= 1 || macs < PARALLEL_MIN_MACS {
            (1, 1)
        } else {
            // Columns first: a thread then streams only its share of the weights (what bounds
            // the small-m products), and the activations it rereads are the smaller operand.
            let wanted = threads * BLOCKS_PER_THREAD;
            let n_chunks = panels.min(wanted);
            (wanted.div_ceil(n_chunks).min(m_tiles), n_chunks)
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

/// 64 bytes aligned to 64: the unit of the scratch buffers, so a kernel's own activation
/// layout can be read with aligned vector loads.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Line([u8; 64]);

thread_local! {
    /// Activation tiles in a kernel's own layout, reused by every block this thread runs.
    static SCRATCH: Cell<Vec<Line>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` on a 64-byte aligned thread-local scratch slice of `len` bytes (contents
/// unspecified); a nested call gets a fresh buffer.
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    let mut buf = SCRATCH.take();
    let lines = len.div_ceil(64);
    if buf.len() < lines {
        buf.resize(lines, Line([0; 64]));
    }
    // SAFETY: `Line` is 64 plain bytes without padding: the first `lines` elements are
    // `64 · lines ≥ len` initialized contiguous bytes, borrowed mutably through `buf`.
    let bytes = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), len) };
    let result = f(bytes);
    SCRATCH.set(buf);
    result
}

/// Computes output rows `rows` × panels `panels`.
///
/// # Safety
///
/// The CPU has `K`'s instruction set, and no other thread touches this block of the output.
unsafe fn run_block<K: QMicrokernel>(
    problem: &Problem<'_>,
    rows: Range<usize>,
    panels: Range<usize>,
) {
    let acts = problem.acts;
    let (w, n, k) = (problem.w, problem.w.rows(), problem.w.cols());
    let nb = k / BLOCK;
    let format = w.format();
    let panel_bytes = nb * format.panel_block_bytes();
    let tile_len = K::packed_tile_len(nb);
    let scratch_len = rows.len().min(K::MC).div_ceil(K::MR) * tile_len;
    let load_c = problem.mode == Accumulate::Add;
    with_scratch(scratch_len, |scratch| {
        for m0 in rows.clone().step_by(K::MC) {
            let mc = K::MC.min(rows.end - m0);
            if tile_len > 0 {
                let packed = &mut scratch[..mc.div_ceil(K::MR) * tile_len];
                // SAFETY: the caller guarantees the instruction set.
                unsafe { K::pack_tiles(acts, m0..m0 + mc, packed) };
            }
            for panel in panels.clone() {
                let panel_ptr = w.body()[panel * panel_bytes..][..panel_bytes].as_ptr();
                let col0 = panel * PANEL_ROWS;
                let cols = PANEL_ROWS.min(n - col0);
                for (t, row0) in (m0..m0 + mc).step_by(K::MR).enumerate() {
                    let tile_rows = K::MR.min(m0 + mc - row0);
                    let x = XTile {
                        qs: acts.qs[row0 * k..].as_ptr(),
                        ldq: k,
                        scales: acts.scales[row0 * nb..].as_ptr(),
                        bias: acts.bias[row0 * nb..].as_ptr(),
                        dsums: acts.dsums[row0 * nb..].as_ptr(),
                        nb,
                        packed: if tile_len > 0 {
                            scratch[t * tile_len..].as_ptr()
                        } else {
                            std::ptr::null()
                        },
                    };
                    // SAFETY: (row0, col0) lies in the output (row0 < m, col0 < n), and the
                    // tile is inside this block, which the caller owns.
                    let c = unsafe { problem.c.0.add(row0 * problem.ldc + col0) };
                    // SAFETY: as above; `x` covers `tile_rows` rows, the panel `nb` blocks.
                    unsafe {
                        tile::<K>(
                            format,
                            tile_rows,
                            cols,
                            &x,
                            panel_ptr,
                            nb,
                            c,
                            problem.ldc,
                            load_c,
                        )
                    };
                }
            }
        }
    });
}

/// One microkernel call; a tile narrower than 32 (the right edge) goes through a stack tile.
///
/// # Safety
///
/// As [`QMicrokernel::tile`], except that `c` needs only `rows × cols` valid elements.
#[allow(clippy::too_many_arguments)]
unsafe fn tile<K: QMicrokernel>(
    format: QFormat,
    rows: usize,
    cols: usize,
    x: &XTile,
    panel: *const u8,
    nb: usize,
    c: *mut f32,
    ldc: usize,
    load_c: bool,
) {
    if cols == PANEL_ROWS {
        // SAFETY: forwarded from the caller.
        unsafe { K::tile(format, rows, x, panel, nb, c, ldc, load_c) };
        return;
    }
    let mut edge = [0.0f32; MAX_MR * PANEL_ROWS];
    if load_c {
        for i in 0..rows {
            // SAFETY: row i of the tile has `cols` valid elements (caller), `edge` has 32.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    c.add(i * ldc),
                    edge[i * PANEL_ROWS..].as_mut_ptr(),
                    cols,
                )
            };
        }
    }
    // SAFETY: `edge` holds MR × 32 elements with stride 32; the rest as the caller's.
    unsafe {
        K::tile(
            format,
            rows,
            x,
            panel,
            nb,
            edge.as_mut_ptr(),
            PANEL_ROWS,
            load_c,
        )
    };
    for i in 0..rows {
        // SAFETY: as for the load.
        unsafe {
            std::ptr::copy_nonoverlapping(edge[i * PANEL_ROWS..].as_ptr(), c.add(i * ldc), cols)
        };
    }
}
