//! GFLOP/s of `matmul_packed` on SmolLM2-135M's projection shapes, and the CPU's FMA peak.
//!
//! ```text
//! cargo run --release -p reclora-kernels --example gemm_bench -- [--threads 2] [--reps 7]
//!     [--kernel avx512|avx2|neon|portable] [--min-ms 25] [--tsv] [--cpu-time] [--no-peak]
//!     [--peak-only]
//! ```
//!
//! Each figure is the median of `--reps` samples, each sample at least `--min-ms` of back-to-back
//! products, by the wall clock or, with `--cpu-time` (one thread only), by the thread's CPU time,
//! which a busy machine disturbs much less. `--tsv` prints `label m k n gflops` rows for `scripts/bench/sgemm-peak.py --rust`,
//! which runs this and numpy (OpenBLAS) alternately and prints both side by side.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reclora_kernels::gemm::{Accumulate, Kernel, Layout, MatRef, PackedMatrix, matmul_packed};

/// SmolLM2-135M: hidden 576, 3 KV heads × 64 = 192, MLP 1536.
const PROJECTIONS: [(&str, usize, usize); 5] = [
    ("q,o      576->576", 576, 576),
    ("k,v      576->192", 576, 192),
    ("gate,up  576->1536", 576, 1536),
    ("down     1536->576", 1536, 576),
    ("dX(k,v)  192->576", 192, 576),
];

/// Tokens: a few, one prompt (256), a batch of 8 × 280.
const TOKENS: [usize; 3] = [8, 256, 2240];

const SQUARES: [usize; 2] = [1024, 2048];

#[derive(Debug)]
struct Options {
    threads: usize,
    reps: usize,
    min_sample: Duration,
    kernel: Kernel,
    tsv: bool,
    cpu_time: bool,
    shapes: bool,
    peak: bool,
}

/// Prints what was wrong with the command line and exits.
fn usage_error(message: std::fmt::Arguments<'_>) -> ! {
    eprintln!("gemm_bench: {message}");
    std::process::exit(2);
}

fn parse_number<T: std::str::FromStr>(flag: &str, value: Option<String>) -> T {
    let value = value.unwrap_or_else(|| usage_error(format_args!("{flag} needs a value")));
    value
        .parse()
        .unwrap_or_else(|_| usage_error(format_args!("{flag}: not a number: {value}")))
}

fn parse_options() -> Options {
    let mut options = Options {
        threads: 2,
        reps: 7,
        min_sample: Duration::from_millis(25),
        kernel: Kernel::best(),
        tsv: false,
        cpu_time: false,
        shapes: true,
        peak: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => options.threads = parse_number(&arg, args.next()),
            "--reps" => options.reps = parse_number(&arg, args.next()),
            "--min-ms" => {
                options.min_sample = Duration::from_millis(parse_number(&arg, args.next()))
            }
            "--kernel" => {
                options.kernel = match args.next().as_deref() {
                    Some("avx512") => Kernel::Avx512,
                    Some("avx2") => Kernel::Avx2Fma,
                    Some("neon") => Kernel::Neon,
                    Some("portable") => Kernel::Portable,
                    other => usage_error(format_args!("unknown kernel {other:?}")),
                };
                if !options.kernel.is_available() {
                    usage_error(format_args!(
                        "{:?} is not available on this CPU",
                        options.kernel
                    ));
                }
            }
            "--tsv" => options.tsv = true,
            "--cpu-time" => options.cpu_time = true,
            "--no-peak" => options.peak = false,
            "--peak-only" => options.shapes = false,
            other => usage_error(format_args!("unknown argument {other}")),
        }
    }
    if options.cpu_time && options.threads != 1 {
        usage_error(format_args!(
            "--cpu-time times one thread: use it with --threads 1"
        ));
    }
    options
}

/// Median seconds per call of `f` over `reps` samples of at least `min_sample` each, by the wall
/// clock or (`cpu_time`) by this thread's CPU time.
fn median_seconds(reps: usize, min_sample: Duration, cpu_time: bool, mut f: impl FnMut()) -> f64 {
    let now = || {
        if cpu_time {
            thread_cpu_seconds()
        } else {
            wall_seconds()
        }
    };
    f();
    let start = now();
    f();
    let once = (now() - start).max(1e-7);
    let calls = (min_sample.as_secs_f64() / once).ceil().max(1.0) as usize;
    let mut samples: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let start = now();
            for _ in 0..calls {
                f();
            }
            (now() - start) / calls as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn wall_seconds() -> f64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// CPU seconds this thread has run: on a machine busy with other work, a single-threaded
/// product timed this way is not charged for the time it was descheduled.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn thread_cpu_seconds() -> f64 {
    /// `struct timespec` on 64-bit Linux.
    #[repr(C)]
    struct Timespec {
        seconds: i64,
        nanoseconds: i64,
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    unsafe extern "C" {
        fn clock_gettime(clock: i32, now: *mut Timespec) -> i32;
    }
    let mut now = Timespec {
        seconds: 0,
        nanoseconds: 0,
    };
    // SAFETY: `now` is a writable timespec for the C library to fill.
    let status = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    now.seconds as f64 + now.nanoseconds as f64 * 1e-9
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn thread_cpu_seconds() -> f64 {
    usage_error(format_args!("--cpu-time needs 64-bit Linux"))
}

/// Deterministic inputs in [-1, 1) (the values do not change the timing).
fn filled(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn gemm_gflops(options: &Options, m: usize, k: usize, n: usize) -> f64 {
    let a = filled(m * k, 1);
    let w = filled(k * n, 2);
    let packed = PackedMatrix::pack_with(options.kernel, MatRef::new(&w, k, n, Layout::RowMajor));
    let mut c = vec![0.0f32; m * n];
    let seconds = median_seconds(options.reps, options.min_sample, options.cpu_time, || {
        matmul_packed(
            black_box(&a),
            m,
            k,
            &packed,
            &mut c,
            n,
            Accumulate::Overwrite,
        );
        black_box(&mut c);
    });
    2.0 * (m * k * n) as f64 / seconds / 1e9
}

fn print_row(options: &Options, label: &str, m: usize, k: usize, n: usize, gflops: f64) {
    if options.tsv {
        println!("{label}\t{m}\t{k}\t{n}\t{gflops:.1}");
    } else {
        println!("{label:<20} {m:>5} {k:>5} {n:>5} {gflops:>9.1}");
    }
}

fn run_shapes(options: &Options) {
    if !options.tsv {
        let clock = if options.cpu_time {
            "thread CPU time"
        } else {
            "wall clock"
        };
        println!(
            "matmul_packed, {:?}, {} threads, median of {} ({clock})",
            options.kernel, options.threads, options.reps
        );
        println!(
            "{:<20} {:>5} {:>5} {:>5} {:>9}",
            "shape", "m", "k", "n", "GFLOP/s"
        );
    }
    for m in TOKENS {
        for (label, k, n) in PROJECTIONS {
            print_row(options, label, m, k, n, gemm_gflops(options, m, k, n));
        }
    }
    for size in SQUARES {
        print_row(
            options,
            "square",
            size,
            size,
            size,
            gemm_gflops(options, size, size, size),
        );
    }
}

/// Peak FMA throughput: independent chains of vector FMAs on every thread at once.
#[cfg(target_arch = "x86_64")]
mod peak {
    use std::arch::x86_64::*;
    use std::hint::black_box;

    /// Steps per call (about 30 ms at AVX-512 peak); each step is one FMA on each chain.
    pub const STEPS: usize = 1 << 24;

    /// Independent FMA chains per step: 4-cycle latency × 2 FMA ports needs ≥ 8 in flight.
    pub const CHAINS: usize = 12;

    /// CHAINS chains of zmm FMAs; returns a lane sum so nothing is optimized away.
    /// Flops: STEPS × CHAINS × 16 × 2.
    #[target_feature(enable = "avx512f")]
    pub fn avx512(seed: f32) -> f32 {
        let (x, y) = (
            _mm512_set1_ps(black_box(0.999_999)),
            _mm512_set1_ps(black_box(1e-7)),
        );
        let mut acc = [_mm512_set1_ps(seed); CHAINS];
        for _ in 0..STEPS {
            for sum in &mut acc {
                *sum = _mm512_fmadd_ps(*sum, x, y);
            }
        }
        acc.iter().map(|&v| _mm512_reduce_add_ps(v)).sum()
    }

    /// CHAINS chains of ymm FMAs. Flops: STEPS × CHAINS × 8 × 2.
    #[target_feature(enable = "avx2,fma")]
    pub fn avx2(seed: f32) -> f32 {
        let (x, y) = (
            _mm256_set1_ps(black_box(0.999_999)),
            _mm256_set1_ps(black_box(1e-7)),
        );
        let mut acc = [_mm256_set1_ps(seed); CHAINS];
        for _ in 0..STEPS {
            for sum in &mut acc {
                *sum = _mm256_fmadd_ps(*sum, x, y);
            }
        }
        let mut lanes = [0.0f32; 8];
        for &v in &acc {
            let mut out = [0.0f32; 8];
            // SAFETY: `out` holds 8 floats.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
            lanes.iter_mut().zip(out).for_each(|(lane, x)| *lane += x);
        }
        lanes.iter().sum()
    }
}

#[cfg(target_arch = "x86_64")]
fn run_peak(options: &Options) {
    let measure = |label: &str, threads: usize, flops_per_call: f64, f: fn(f32) -> f32| {
        let mut samples: Vec<f64> = (0..options.reps.max(1))
            .map(|_| {
                let start = Instant::now();
                std::thread::scope(|scope| {
                    for t in 0..threads {
                        scope.spawn(move || black_box(f(black_box(t as f32))));
                    }
                });
                threads as f64 * flops_per_call / start.elapsed().as_secs_f64() / 1e9
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        let (median, best) = (samples[samples.len() / 2], samples[samples.len() - 1]);
        println!("{label:<8} {threads} thread(s) {median:>7.1} GFLOP/s median, {best:>7.1} best");
    };
    // The best sample is the one least disturbed by other processes: the hardware's figure.
    println!("FMA peak (independent FMA chains, all threads at once)");
    let steps = peak::STEPS as f64;
    if Kernel::Avx512.is_available() {
        // SAFETY: AVX-512F is present (checked just above).
        let avx512: fn(f32) -> f32 = |seed| unsafe { peak::avx512(seed) };
        for threads in [1, 2] {
            measure(
                "AVX-512",
                threads,
                steps * peak::CHAINS as f64 * 16.0 * 2.0,
                avx512,
            );
        }
    }
    if Kernel::Avx2Fma.is_available() {
        // SAFETY: AVX2 and FMA are present (checked just above).
        let avx2: fn(f32) -> f32 = |seed| unsafe { peak::avx2(seed) };
        for threads in [1, 2] {
            measure(
                "AVX2",
                threads,
                steps * peak::CHAINS as f64 * 8.0 * 2.0,
                avx2,
            );
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn run_peak(_options: &Options) {
    println!("FMA peak: x86_64 only");
}

fn main() {
    let options = parse_options();
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
    {
        Ok(pool) => pool,
        Err(error) => {
            eprintln!("gemm_bench: thread pool: {error}");
            std::process::exit(1);
        }
    };
    if options.peak && !options.tsv {
        run_peak(&options);
    }
    if options.shapes {
        pool.install(|| run_shapes(&options));
    }
}
