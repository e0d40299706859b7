//! `qmatmul` (Q8_0 and Q4_1, packed) against the f32 `matmul_packed` on SmolLM2-135M's
//! projection shapes, the activation quantization, the machine's int8 and f32 peaks, and
//! (with `--gguf`) the quantization error on a real model's weights.
//!
//! ```text
//! cargo run --release -p reclora-kernels --example qgemm_bench -- [--threads 2] [--reps 7]
//!     [--min-ms 20] [--kernel avx512-vnni|avx-vnni|avx2|neon-i8mm|neon-dotprod|neon|portable]
//!     [--m 1,8,20,256,2240] [--cpu-time] [--no-peak] [--no-shapes] [--gguf PATH]
//! ```
//!
//! Each figure is the median of `--reps` samples, each sample at least `--min-ms` of
//! back-to-back calls; the f32, Q8, Q4 and quantization samples of a shape alternate, so load
//! from other processes spreads over all of them. `--cpu-time` (one thread only) times by the
//! thread's CPU time, which a busy machine disturbs much less. GOP/s counts 2 operations per
//! multiply-add for every path. The vocabulary head (576 → 49152) runs only for m ≤ 20 (a
//! prefill needs its logits for the last positions only).

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reclora_kernels::gemm::{Accumulate, Layout, PackedMatrix, matmul_packed};
use reclora_kernels::qgemm::{
    self, BlockQ4_1, PackedView, QKernel, QuantizedActivations, qmatmul_with,
};

/// SmolLM2-135M: hidden 576, 3 KV heads × 64 = 192, MLP 1536, vocabulary 49152 (tied head).
const PROJECTIONS: [(&str, usize, usize); 5] = [
    ("q,o 576->576", 576, 576),
    ("k,v 576->192", 576, 192),
    ("gate,up 576->1536", 576, 1536),
    ("down 1536->576", 1536, 576),
    ("head 576->49152", 576, 49152),
];

const HEAD_MAX_M: usize = 20;

#[derive(Debug)]
struct Options {
    threads: usize,
    reps: usize,
    min_sample: Duration,
    kernel: QKernel,
    ms: Vec<usize>,
    cpu_time: bool,
    peak: bool,
    shapes: bool,
    gguf: Option<String>,
}

fn usage_error(message: std::fmt::Arguments<'_>) -> ! {
    eprintln!("qgemm_bench: {message}");
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
        min_sample: Duration::from_millis(20),
        kernel: QKernel::best(),
        ms: vec![1, 8, 20, 256, 2240],
        cpu_time: false,
        peak: true,
        shapes: true,
        gguf: None,
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
                let name = args.next().unwrap_or_default();
                options.kernel = QKernel::from_name(&name)
                    .unwrap_or_else(|| usage_error(format_args!("unknown kernel {name:?}")));
                if !options.kernel.is_available() {
                    usage_error(format_args!("{name} is not available on this CPU"));
                }
            }
            "--m" => {
                let list = args.next().unwrap_or_default();
                options.ms = list
                    .split(',')
                    .map(|m| parse_number("--m", Some(m.to_string())))
                    .collect();
            }
            "--cpu-time" => options.cpu_time = true,
            "--no-peak" => options.peak = false,
            "--no-shapes" => options.shapes = false,
            "--gguf" => options.gguf = args.next(),
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

fn wall_seconds() -> f64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// CPU seconds this thread has run.
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

/// Runs the timed operations in turn, `reps` rounds, and returns each one's median seconds per
/// call. Each sample repeats its call for at least `min_sample`.
fn alternating_medians(options: &Options, ops: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    let now = || {
        if options.cpu_time {
            thread_cpu_seconds()
        } else {
            wall_seconds()
        }
    };
    let calls: Vec<usize> = ops
        .iter_mut()
        .map(|op| {
            op();
            let start = now();
            op();
            let once = (now() - start).max(1e-7);
            (options.min_sample.as_secs_f64() / once).ceil().max(1.0) as usize
        })
        .collect();
    let mut samples = vec![Vec::new(); ops.len()];
    for _ in 0..options.reps.max(1) {
        for ((op, &calls), samples) in ops.iter_mut().zip(&calls).zip(&mut samples) {
            let start = now();
            for _ in 0..calls {
                op();
            }
            samples.push((now() - start) / calls as f64);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(f64::total_cmp);
            s[s.len() / 2]
        })
        .collect()
}

/// splitmix64 normal deviates (the values do not change the timing).
fn normal(len: usize, seed: u64, std: f32) -> Vec<f32> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..len)
        .map(|_| {
            let (u, v) = (1.0 - next(), next());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32 * std
        })
        .collect()
}

fn run_shapes(options: &Options) {
    let clock = if options.cpu_time {
        "thread CPU time"
    } else {
        "wall clock"
    };
    println!(
        "qmatmul {} vs f32 matmul_packed ({:?}), {} threads, median of {} alternating samples ({clock})",
        options.kernel.name(),
        reclora_kernels::gemm::Kernel::best(),
        options.threads,
        options.reps
    );
    println!(
        "{:<18} {:>5} {:>9} {:>9} {:>6} {:>9} {:>6} {:>9} {:>7}",
        "shape", "m", "f32 GF/s", "Q8 GOP/s", "Q8 x", "Q4 GOP/s", "Q4 x", "quant us", "q/Q8 %"
    );
    for &m in &options.ms {
        for (label, k, n) in PROJECTIONS {
            if n > 10_000 && m > HEAD_MAX_M {
                continue;
            }
            let w = normal(n * k, 1, 0.02);
            let x = normal(m * k, 2, 1.0);
            let q8 =
                qgemm::quantize_q8(&w, n, k).unwrap_or_else(|e| usage_error(format_args!("{e}")));
            let q4 =
                qgemm::quantize_q4(&w, n, k).unwrap_or_else(|e| usage_error(format_args!("{e}")));
            let f32_weight = PackedMatrix::pack(&q8.view().dequantize(), k, n, Layout::Transposed);
            let acts = QuantizedActivations::quantize(&x, m, k);
            let mut requantized = acts.clone();
            let kernel = options.kernel;
            let (q8v, q4v) = (q8.view(), q4.view());
            // Each operation writes its own output.
            let mut outputs = [(); 3].map(|_| vec![0.0f32; m * n]);
            let [y_f32, y_q8, y_q4] = &mut outputs;
            let mut f32_op = || {
                matmul_packed(
                    black_box(&x),
                    m,
                    k,
                    &f32_weight,
                    y_f32,
                    n,
                    Accumulate::Overwrite,
                );
                black_box(&y_f32);
            };
            let mut q8_op = || {
                qmatmul_with(
                    kernel,
                    black_box(&acts),
                    q8v,
                    y_q8,
                    n,
                    Accumulate::Overwrite,
                );
                black_box(&y_q8);
            };
            let mut q4_op = || {
                qmatmul_with(
                    kernel,
                    black_box(&acts),
                    q4v,
                    y_q4,
                    n,
                    Accumulate::Overwrite,
                );
                black_box(&y_q4);
            };
            let mut quant_op = || {
                requantized.quantize_into(black_box(&x), m, k);
                black_box(&requantized);
            };
            let t = alternating_medians(
                options,
                &mut [&mut f32_op, &mut q8_op, &mut q4_op, &mut quant_op],
            );
            let ops = 2.0 * (m * n * k) as f64;
            println!(
                "{label:<18} {m:>5} {:>9.1} {:>9.1} {:>6.2} {:>9.1} {:>6.2} {:>9.1} {:>7.1}",
                ops / t[0] / 1e9,
                ops / t[1] / 1e9,
                t[0] / t[1],
                ops / t[2] / 1e9,
                t[0] / t[2],
                t[3] * 1e6,
                100.0 * t[3] / t[1],
            );
        }
    }
}

/// Peak throughput: independent chains of one vector instruction on every thread at once.
#[cfg(target_arch = "x86_64")]
mod peak {
    use std::arch::x86_64::*;
    use std::hint::black_box;

    /// Steps per call; each step is one instruction on each chain.
    pub const STEPS: usize = 1 << 23;

    /// Independent chains per step (latency 4–5 × up to 2 ports).
    pub const CHAINS: usize = 12;

    /// `vpdpbusd` zmm chains: STEPS × CHAINS × 64 multiply-adds.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub fn vnni512(seed: f32) -> f32 {
        let (a, b) = (
            _mm512_set1_epi32(black_box(0x0101_0101)),
            _mm512_set1_epi32(black_box(0x0102_0304)),
        );
        let mut acc = [_mm512_set1_epi32(seed as i32); CHAINS];
        for _ in 0..STEPS {
            for sum in &mut acc {
                *sum = _mm512_dpbusd_epi32(*sum, a, b);
            }
        }
        acc.iter().map(|&v| _mm512_reduce_add_epi32(v)).sum::<i32>() as f32
    }

    /// `vpdpbusd` ymm (AVX-VNNI) chains: STEPS × CHAINS × 32 multiply-adds.
    #[target_feature(enable = "avxvnni,avx2")]
    pub fn vnni256(seed: f32) -> f32 {
        let (a, b) = (
            _mm256_set1_epi32(black_box(0x0101_0101)),
            _mm256_set1_epi32(black_box(0x0102_0304)),
        );
        let mut acc = [_mm256_set1_epi32(seed as i32); CHAINS];
        for _ in 0..STEPS {
            for sum in &mut acc {
                *sum = _mm256_dpbusd_avx_epi32(*sum, a, b);
            }
        }
        let mut total = 0i32;
        for v in acc {
            let mut lanes = [0i32; 8];
            // SAFETY: `lanes` holds 8 i32.
            unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), v) };
            total = total.wrapping_add(lanes.iter().sum::<i32>());
        }
        total as f32
    }

    /// zmm FMA chains: STEPS × CHAINS × 16 multiply-adds.
    #[target_feature(enable = "avx512f")]
    pub fn fma512(seed: f32) -> f32 {
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
}

#[cfg(target_arch = "x86_64")]
fn run_peak(options: &Options) {
    let measure = |label: &str, threads: usize, macs_per_call: f64, f: fn(f32) -> f32| {
        let mut samples: Vec<f64> = (0..options.reps.max(1))
            .map(|_| {
                let start = Instant::now();
                std::thread::scope(|scope| {
                    for t in 0..threads {
                        scope.spawn(move || black_box(f(black_box(t as f32))));
                    }
                });
                2.0 * threads as f64 * macs_per_call / start.elapsed().as_secs_f64() / 1e9
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        let (median, best) = (samples[samples.len() / 2], samples[samples.len() - 1]);
        println!("{label:<14} {threads} thread(s) {median:>7.1} GOP/s median, {best:>7.1} best");
    };
    println!("peaks (independent chains, all threads at once; 2 ops per multiply-add)");
    let steps = (peak::STEPS * peak::CHAINS) as f64;
    let has = |f: &str| match f {
        "avx512vnni" => {
            std::arch::is_x86_feature_detected!("avx512vnni")
                && std::arch::is_x86_feature_detected!("avx512bw")
        }
        "avxvnni" => std::arch::is_x86_feature_detected!("avxvnni"),
        _ => std::arch::is_x86_feature_detected!("avx512f"),
    };
    for threads in [1, 2] {
        if has("avx512vnni") {
            // SAFETY: AVX-512 VNNI and BW are present (checked just above).
            measure("int8 zmm vnni", threads, steps * 64.0, |s| unsafe {
                peak::vnni512(s)
            });
        }
        if has("avxvnni") {
            // SAFETY: AVX-VNNI is present (checked just above).
            measure("int8 ymm vnni", threads, steps * 32.0, |s| unsafe {
                peak::vnni256(s)
            });
        }
        if has("avx512f") {
            // SAFETY: AVX-512F is present (checked just above).
            measure("f32 zmm fma", threads, steps * 16.0, |s| unsafe {
                peak::fma512(s)
            });
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn run_peak(_options: &Options) {
    println!("peaks: x86_64 only");
}

/// The tensors of a GGUF file this report reads: Q4_1 (type 3) and Q8_0 (type 8) matrices.
struct GgufTensor {
    name: String,
    ggml_type: u32,
    rows: usize,
    cols: usize,
    offset: usize,
}

/// A minimal GGUF (v2/v3) reader: the key-value section is skipped, the tensor table read.
fn read_gguf(bytes: &[u8]) -> Result<(Vec<GgufTensor>, usize), String> {
    struct Reader<'a> {
        bytes: &'a [u8],
        at: usize,
    }
    impl Reader<'_> {
        fn take(&mut self, n: usize) -> Result<&[u8], String> {
            let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
            let end = end.ok_or("truncated GGUF")?;
            let slice = &self.bytes[self.at..end];
            self.at = end;
            Ok(slice)
        }
        fn u32(&mut self) -> Result<u32, String> {
            Ok(u32::from_le_bytes(
                self.take(4)?.try_into().map_err(|_| "u32")?,
            ))
        }
        fn u64(&mut self) -> Result<u64, String> {
            Ok(u64::from_le_bytes(
                self.take(8)?.try_into().map_err(|_| "u64")?,
            ))
        }
        fn string(&mut self) -> Result<String, String> {
            let len = self.u64()? as usize;
            Ok(String::from_utf8_lossy(self.take(len)?).into_owned())
        }
        fn skip_value(&mut self, kind: u32) -> Result<Option<u64>, String> {
            let size = match kind {
                0 | 1 | 7 => 1,
                2 | 3 => 2,
                4..=6 => 4,
                10..=12 => 8,
                8 => {
                    self.string()?;
                    return Ok(None);
                }
                9 => {
                    let (inner, count) = (self.u32()?, self.u64()?);
                    for _ in 0..count {
                        self.skip_value(inner)?;
                    }
                    return Ok(None);
                }
                other => return Err(format!("unknown GGUF value type {other}")),
            };
            let raw = self.take(size)?;
            let mut word = [0u8; 8];
            word[..size].copy_from_slice(raw);
            Ok(Some(u64::from_le_bytes(word)))
        }
    }
    let mut r = Reader { bytes, at: 0 };
    if r.take(4)? != b"GGUF" {
        return Err("not a GGUF file".into());
    }
    let _version = r.u32()?;
    let (tensors, kvs) = (r.u64()?, r.u64()?);
    let mut alignment = 32usize;
    for _ in 0..kvs {
        let key = r.string()?;
        let kind = r.u32()?;
        let value = r.skip_value(kind)?;
        if key == "general.alignment" {
            alignment = value.ok_or("bad alignment")? as usize;
        }
    }
    let mut table = Vec::new();
    for _ in 0..tensors {
        let name = r.string()?;
        let dims = r.u32()? as usize;
        let shape: Vec<usize> = (0..dims)
            .map(|_| r.u64().map(|d| d as usize))
            .collect::<Result<_, _>>()?;
        let ggml_type = r.u32()?;
        let offset = r.u64()? as usize;
        if dims == 2 && (ggml_type == 3 || ggml_type == 8) {
            table.push(GgufTensor {
                name,
                ggml_type,
                rows: shape[1],
                cols: shape[0],
                offset,
            });
        }
    }
    Ok((table, r.at.div_ceil(alignment) * alignment))
}

/// ggml's `quantize_row_q4_0_ref` and its decoding: the symmetric 4-bit format the current
/// q4 bundle uses, for comparison.
fn q4_0_round_trip(w: &[f32]) -> Vec<f32> {
    w.chunks(32)
        .flat_map(|x| {
            let (_, max) = x.iter().fold((0.0f32, 0.0f32), |(amax, max), &v| {
                if amax < v.abs() {
                    (v.abs(), v)
                } else {
                    (amax, max)
                }
            });
            let d = max / -8.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let d = qgemm::f16_to_f32(qgemm::f32_to_f16(d));
            x.iter()
                .map(move |&v| {
                    let q = ((v * id + 8.5) as i8).min(15);
                    f32::from(q - 8) * d
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn run_gguf(path: &str) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| usage_error(format_args!("{path}: {e}")));
    let (tensors, data) = read_gguf(&bytes).unwrap_or_else(|e| usage_error(format_args!("{e}")));
    println!("quantization error on {path} (relative RMS over all listed tensors)");
    // Σ error² per variant, Σ w², by source type.
    let variants = [
        "pack from blocks",
        "Q8_0",
        "Q4_0 (ggml)",
        "Q4_1 min/max",
        "Q4_1 search",
    ];
    for source in [3u32, 8] {
        let mut errors = [0.0f64; 5];
        let mut norm = 0.0f64;
        let mut count = 0;
        let mut y_errors = [0.0f64; 5];
        let mut y_norm = 0.0f64;
        for t in tensors.iter().filter(|t| t.ggml_type == source) {
            let block_bytes = if source == 3 { 20 } else { 34 };
            let len = t.rows * t.cols / 32 * block_bytes;
            let blocks = &bytes[data + t.offset..][..len];
            let (w, packed) = if source == 3 {
                (
                    qgemm::dequantize_q4_1_blocks(blocks),
                    qgemm::pack_q4(blocks, t.rows, t.cols),
                )
            } else {
                (
                    qgemm::dequantize_q8_0_blocks(blocks),
                    qgemm::pack_q8(blocks, t.rows, t.cols),
                )
            };
            let packed = packed.unwrap_or_else(|e| usage_error(format_args!("{}: {e}", t.name)));
            let q8 = qgemm::quantize_q8(&w, t.rows, t.cols)
                .unwrap_or_else(|e| usage_error(format_args!("{e}")));
            let q4 = qgemm::quantize_q4(&w, t.rows, t.cols)
                .unwrap_or_else(|e| usage_error(format_args!("{e}")));
            let minmax: Vec<f32> = w
                .chunks(32)
                .flat_map(|x| {
                    BlockQ4_1::quantize_minmax(x.try_into().unwrap_or(&[0.0; 32])).dequantize()
                })
                .collect();
            let decoded = [
                packed.view().dequantize(),
                q8.view().dequantize(),
                q4_0_round_trip(&w),
                minmax,
                q4.view().dequantize(),
            ];
            for (error, d) in errors.iter_mut().zip(&decoded) {
                *error += d
                    .iter()
                    .zip(&w)
                    .map(|(a, b)| f64::from(a - b).powi(2))
                    .sum::<f64>();
            }
            norm += w.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
            count += 1;
            // Products with 16 normal activation rows, for the first layer's tensors.
            if t.name.starts_with("blk.0.") || t.name == "token_embd.weight" {
                let m = 16;
                let x = normal(m * t.cols, 3, 1.0);
                let acts = QuantizedActivations::quantize(&x, m, t.cols);
                let reference = dense(&x, &w, m, t.rows, t.cols);
                y_norm += reference.iter().map(|v| v * v).sum::<f64>();
                let views: [Option<PackedView<'_>>; 5] = [
                    Some(packed.view()),
                    Some(q8.view()),
                    None,
                    None,
                    Some(q4.view()),
                ];
                for (error, view) in y_errors.iter_mut().zip(views) {
                    if let Some(view) = view {
                        let mut y = vec![0.0f32; m * t.rows];
                        qgemm::qmatmul(&acts, view, &mut y, t.rows, Accumulate::Overwrite);
                        *error += y
                            .iter()
                            .zip(&reference)
                            .map(|(&a, b)| (f64::from(a) - b).powi(2))
                            .sum::<f64>();
                    }
                }
            }
        }
        let label = if source == 3 {
            "Q4_1 source"
        } else {
            "Q8_0 source"
        };
        println!("{label}: {count} tensors");
        for ((name, e), ye) in variants.iter().zip(errors).zip(y_errors) {
            let y_part = if ye > 0.0 || *name == "pack from blocks" {
                format!(
                    "   y = x·Wᵀ (blk.0 / embd, int8 x) rel RMS {:.5}",
                    (ye / y_norm).sqrt()
                )
            } else {
                String::new()
            };
            println!(
                "  {name:<17} weight rel RMS {:.5}{y_part}",
                (e / norm).sqrt()
            );
        }
    }
}

fn dense(x: &[f32], w: &[f32], m: usize, n: usize, k: usize) -> Vec<f64> {
    let mut y = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            y[i * n + j] = x[i * k..][..k]
                .iter()
                .zip(&w[j * k..][..k])
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
        }
    }
    y
}

fn main() {
    let options = parse_options();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .build()
        .unwrap_or_else(|e| usage_error(format_args!("thread pool: {e}")));
    if options.peak {
        run_peak(&options);
    }
    if let Some(path) = &options.gguf {
        pool.install(|| run_gguf(path));
    }
    if options.shapes {
        pool.install(|| run_shapes(&options));
    }
}
