//! Times the attention, RMSNorm, RoPE and SwiGLU kernels on the model's shapes (SmolLM2-135M:
//! 9 query heads, 3 KV heads, head_dim 64, hidden 576, MLP 1536) in a 2-thread pool, and a
//! naive attention in the same run for a ratio.
//!
//! The naive attention does what a tensor-library implementation does: repeats K/V per
//! query head (a copy), materializes a boolean mask and the full score matrix, runs a plain
//! softmax with libm's `expf`, then multiplies by V; its products are plain loops that LLVM
//! vectorizes (AVX2 + FMA where available), parallel over (batch, head).
//!
//! Run: `cargo run --release -p reclora-kernels --example attention_bench`

use std::hint::black_box;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use reclora_kernels::attention::{
    AttentionParams, AttentionShape, BackwardInputs, BackwardOutputs, HeadLayout, Heads, HeadsMut,
    attention_backward, attention_forward, instruction_set,
};
use reclora_kernels::norm::{add_rms_norm, rms_norm, rms_norm_backward};
use reclora_kernels::rope::{RopeShape, RopeTables, rope_forward};
use reclora_kernels::swiglu::{Rows, RowsMut, SwigluShape, swiglu, swiglu_backward_fused};

const THREADS: usize = 2;
const HEADS: usize = 9;
const KV_HEADS: usize = 3;
const HEAD_DIM: usize = 64;

/// Median wall time of `f` over repetitions filling about `budget` (at least 5).
fn median_time(budget: Duration, mut f: impl FnMut()) -> Duration {
    f();
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || (start.elapsed() < budget && times.len() < 200) {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

fn random(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

struct Case {
    name: &'static str,
    shape: AttentionShape,
    key_len: Vec<usize>,
}

/// Model layouts: q, out `[batch, seq, heads, d]`; k, v `[batch, kv_heads, seq_k, d]`.
struct Buffers {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    out: Vec<f32>,
    lse: Vec<f32>,
    d_out: Vec<f32>,
    d_q: Vec<f32>,
    d_k: Vec<f32>,
    d_v: Vec<f32>,
}

impl Buffers {
    fn new(s: &AttentionShape) -> Self {
        let q_len = s.batch * s.seq_q * s.heads * s.head_dim;
        let k_len = s.batch * s.kv_heads * s.seq_k() * s.head_dim;
        Buffers {
            q: random(q_len, 1),
            k: random(k_len, 2),
            v: random(k_len, 3),
            out: vec![0.0; q_len],
            lse: vec![0.0; s.batch * s.heads * s.seq_q],
            d_out: random(q_len, 4),
            d_q: vec![0.0; q_len],
            d_k: vec![0.0; k_len],
            d_v: vec![0.0; k_len],
        }
    }
}

fn q_layout(s: &AttentionShape) -> HeadLayout {
    HeadLayout::batch_seq_heads(s.seq_q, s.heads, s.head_dim)
}

fn k_layout(s: &AttentionShape) -> HeadLayout {
    HeadLayout::batch_heads_seq(s.kv_heads, s.seq_k(), s.head_dim)
}

fn kernel_forward(params: &AttentionParams<'_>, b: &mut Buffers) {
    let s = params.shape;
    attention_forward(
        params,
        Heads {
            data: &b.q,
            layout: q_layout(&s),
        },
        Heads {
            data: &b.k,
            layout: k_layout(&s),
        },
        Heads {
            data: &b.v,
            layout: k_layout(&s),
        },
        HeadsMut {
            data: &mut b.out,
            layout: q_layout(&s),
        },
        Some(&mut b.lse),
    );
}

fn kernel_backward(params: &AttentionParams<'_>, b: &mut Buffers) {
    let s = params.shape;
    let inputs = BackwardInputs {
        q: Heads {
            data: &b.q,
            layout: q_layout(&s),
        },
        k: Heads {
            data: &b.k,
            layout: k_layout(&s),
        },
        v: Heads {
            data: &b.v,
            layout: k_layout(&s),
        },
        out: Heads {
            data: &b.out,
            layout: q_layout(&s),
        },
        d_out: Heads {
            data: &b.d_out,
            layout: q_layout(&s),
        },
        lse: &b.lse,
    };
    let outputs = BackwardOutputs {
        d_q: HeadsMut {
            data: &mut b.d_q,
            layout: q_layout(&s),
        },
        d_k: HeadsMut {
            data: &mut b.d_k,
            layout: k_layout(&s),
        },
        d_v: HeadsMut {
            data: &mut b.d_v,
            layout: k_layout(&s),
        },
    };
    attention_backward(params, inputs, outputs);
}

/// The naive path: repeat_kv copies, a materialized mask, full scores, plain softmax.
mod naive {
    use super::*;

    /// Per (batch, head): contiguous q `[seq_q, d]`, repeated k, v `[seq_k, d]`.
    pub struct Prepared {
        pub q: Vec<Vec<f32>>,
        pub k: Vec<Vec<f32>>,
        pub v: Vec<Vec<f32>>,
        pub mask: Vec<Vec<bool>>,
    }

    /// The layout shuffles a tensor library does before its matmuls (copies).
    pub fn prepare(s: &AttentionShape, key_len: &[usize], b: &Buffers) -> Prepared {
        let (d, seq_k, group) = (s.head_dim, s.seq_k(), s.group_size());
        let (ql, kl) = (q_layout(s), k_layout(s));
        let heads: Vec<(usize, usize)> = (0..s.batch)
            .flat_map(|r| (0..s.heads).map(move |h| (r, h)))
            .collect();
        let q = heads
            .par_iter()
            .map(|&(r, h)| {
                (0..s.seq_q)
                    .flat_map(|i| {
                        b.q[ql.batch_stride * r + ql.head_stride * h + ql.seq_stride * i..][..d]
                            .to_vec()
                    })
                    .collect()
            })
            .collect();
        let repeat = |src: &Vec<f32>| -> Vec<Vec<f32>> {
            heads
                .par_iter()
                .map(|&(r, h)| {
                    let off = kl.batch_stride * r + kl.head_stride * (h / group);
                    src[off..off + seq_k * d].to_vec()
                })
                .collect()
        };
        let mask = (0..s.batch)
            .map(|r| {
                (0..s.seq_q)
                    .flat_map(|i| {
                        let a = s.past + i;
                        (0..seq_k).map(move |j| j == a || (j < a && j < key_len[r]))
                    })
                    .collect()
            })
            .collect();
        Prepared {
            q,
            k: repeat(&b.k),
            v: repeat(&b.v),
            mask,
        }
    }

    #[inline(always)]
    fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y += a * x;
        }
    }

    /// `c[m × n] = a[m × k] · b[k × n]` as row axpys (vectorizes over n).
    #[inline(always)]
    fn matmul(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
        c[..m * n].fill(0.0);
        for i in 0..m {
            let c_row = &mut c[i * n..][..n];
            for t in 0..k {
                axpy(c_row, a[i * k + t], &b[t * n..][..n]);
            }
        }
    }

    fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut t = vec![0.0; rows * cols];
        for r in 0..rows {
            for c in 0..cols {
                t[c * rows + r] = a[r * cols + c];
            }
        }
        t
    }

    /// Scores → masked softmax probabilities, in place.
    #[inline(always)]
    fn softmax(scores: &mut [f32], mask: &[bool], scale: f32) {
        for (x, &m) in scores.iter_mut().zip(mask) {
            *x = if m { *x * scale } else { f32::NEG_INFINITY };
        }
        let max = scores.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let mut sum = 0.0;
        for x in scores.iter_mut() {
            *x = (*x - max).exp();
            sum += *x;
        }
        scores.iter_mut().for_each(|x| *x /= sum);
    }

    /// One (batch row, query head) of the naive path.
    pub struct Head<'a> {
        pub q: &'a [f32],
        pub k: &'a [f32],
        pub v: &'a [f32],
        pub d_out: &'a [f32],
        pub mask: &'a [bool],
        pub seq_q: usize,
        pub seq_k: usize,
        pub head_dim: usize,
        pub scale: f32,
    }

    /// Masked softmax probabilities `[seq_q, seq_k]`.
    #[inline(always)]
    fn probabilities(h: &Head<'_>) -> Vec<f32> {
        let kt = transpose(h.k, h.seq_k, h.head_dim);
        let mut p = vec![0.0; h.seq_q * h.seq_k];
        matmul(h.q, &kt, &mut p, h.seq_q, h.head_dim, h.seq_k);
        for (row, m) in p.chunks_mut(h.seq_k).zip(h.mask.chunks(h.seq_k)) {
            softmax(row, m, h.scale);
        }
        p
    }

    #[inline(always)]
    fn head_forward(h: &Head<'_>) -> Vec<f32> {
        let p = probabilities(h);
        let mut out = vec![0.0; h.seq_q * h.head_dim];
        matmul(&p, h.v, &mut out, h.seq_q, h.seq_k, h.head_dim);
        out
    }

    /// dQ, and dK, dV per query head (summed over the group afterwards, as repeat_kv's
    /// backward does).
    #[inline(always)]
    fn head_backward(h: &Head<'_>) -> [Vec<f32>; 3] {
        let (sq, sk, d) = (h.seq_q, h.seq_k, h.head_dim);
        let p = probabilities(h);
        let vt = transpose(h.v, sk, d);
        let mut dp = vec![0.0; sq * sk];
        matmul(h.d_out, &vt, &mut dp, sq, d, sk);
        for (dp_row, p_row) in dp.chunks_mut(sk).zip(p.chunks(sk)) {
            let dot: f32 = dp_row.iter().zip(p_row).map(|(a, b)| a * b).sum();
            for (x, &pj) in dp_row.iter_mut().zip(p_row) {
                *x = pj * (*x - dot) * h.scale;
            }
        }
        let mut dq = vec![0.0; sq * d];
        matmul(&dp, h.k, &mut dq, sq, sk, d);
        let mut dk = vec![0.0; sk * d];
        matmul(&transpose(&dp, sq, sk), h.q, &mut dk, sk, sq, d);
        let mut dv = vec![0.0; sk * d];
        matmul(&transpose(&p, sq, sk), h.d_out, &mut dv, sk, sq, d);
        [dq, dk, dv]
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn head_forward_avx2(h: &Head<'_>) -> Vec<f32> {
        head_forward(h)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn head_backward_avx2(h: &Head<'_>) -> [Vec<f32>; 3] {
        head_backward(h)
    }

    /// The head computation, compiled for AVX2 + FMA when the CPU has them.
    fn run<T>(h: &Head<'_>, portable: fn(&Head<'_>) -> T, fast: fn(&Head<'_>) -> T) -> T {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return fast(h);
        }
        let _ = fast;
        portable(h)
    }

    fn forward_fast(h: &Head<'_>) -> Vec<f32> {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: only called by `run` after detecting AVX2 and FMA.
        return unsafe { head_forward_avx2(h) };
        #[cfg(not(target_arch = "x86_64"))]
        head_forward(h)
    }

    fn backward_fast(h: &Head<'_>) -> [Vec<f32>; 3] {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: only called by `run` after detecting AVX2 and FMA.
        return unsafe { head_backward_avx2(h) };
        #[cfg(not(target_arch = "x86_64"))]
        head_backward(h)
    }

    pub fn forward(params: &AttentionParams<'_>, b: &Buffers) -> Vec<Vec<f32>> {
        let s = params.shape;
        let p = prepare(&s, params.key_len, b);
        (0..s.batch * s.heads)
            .into_par_iter()
            .map(|bh| {
                let head = Head {
                    q: &p.q[bh],
                    k: &p.k[bh],
                    v: &p.v[bh],
                    d_out: &[],
                    mask: &p.mask[bh / s.heads],
                    seq_q: s.seq_q,
                    seq_k: s.seq_k(),
                    head_dim: s.head_dim,
                    scale: params.scale(),
                };
                run(&head, head_forward, forward_fast)
            })
            .collect()
    }

    pub fn backward(params: &AttentionParams<'_>, b: &Buffers) -> (Vec<[Vec<f32>; 3]>, Vec<f32>) {
        let s = params.shape;
        let p = prepare(&s, params.key_len, b);
        let (sq, sk, d) = (s.seq_q, s.seq_k(), s.head_dim);
        let ql = q_layout(&s);
        let d_out: Vec<Vec<f32>> = (0..s.batch * s.heads)
            .into_par_iter()
            .map(|bh| {
                let (r, h) = (bh / s.heads, bh % s.heads);
                let row = |i: usize| ql.batch_stride * r + ql.head_stride * h + ql.seq_stride * i;
                (0..sq)
                    .flat_map(|i| b.d_out[row(i)..][..d].to_vec())
                    .collect()
            })
            .collect();
        let grads: Vec<[Vec<f32>; 3]> = (0..s.batch * s.heads)
            .into_par_iter()
            .map(|bh| {
                let head = Head {
                    q: &p.q[bh],
                    k: &p.k[bh],
                    v: &p.v[bh],
                    d_out: &d_out[bh],
                    mask: &p.mask[bh / s.heads],
                    seq_q: sq,
                    seq_k: sk,
                    head_dim: d,
                    scale: params.scale(),
                };
                run(&head, head_backward, backward_fast)
            })
            .collect();
        // repeat_kv backward: sum the group's dK (dV alike).
        let group = s.group_size();
        let dk: Vec<f32> = (0..s.batch * s.kv_heads)
            .into_par_iter()
            .flat_map_iter(|bk| {
                let mut acc = vec![0.0f32; sk * d];
                for g in 0..group {
                    let bh = bk / s.kv_heads * s.heads + bk % s.kv_heads * group + g;
                    acc.iter_mut()
                        .zip(&grads[bh][1])
                        .for_each(|(a, &x)| *a += x);
                }
                acc
            })
            .collect();
        (grads, dk)
    }
}

fn attention_cases() -> Vec<Case> {
    let shape = |batch, past, seq_q| AttentionShape {
        batch,
        heads: HEADS,
        kv_heads: KV_HEADS,
        past,
        seq_q,
        head_dim: HEAD_DIM,
    };
    vec![
        Case {
            name: "prefill 1×256",
            shape: shape(1, 0, 256),
            key_len: vec![256],
        },
        Case {
            name: "batch 8×280 (ragged 200–280)",
            shape: shape(8, 0, 280),
            key_len: vec![280, 270, 260, 250, 240, 230, 215, 200],
        },
        Case {
            name: "score 32×20 after 220",
            shape: shape(32, 220, 20),
            key_len: vec![240; 32],
        },
        Case {
            name: "train 4×280 (ragged 200–280)",
            shape: shape(4, 0, 280),
            key_len: vec![280, 250, 230, 200],
        },
    ]
}

fn bench_attention() {
    println!("attention (GQA 9/3 heads, d 64; q/out [b, s, h, d], k/v [b, hk, s, d]); medians");
    println!(
        "| shape | fwd kernel | fwd GFLOP/s | fwd naive | ratio | bwd kernel | bwd GFLOP/s | bwd naive | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let budget = Duration::from_millis(1500);
    for case in attention_cases() {
        let params = AttentionParams {
            shape: case.shape,
            key_len: &case.key_len,
            scale: None,
        };
        let mut buffers = Buffers::new(&case.shape);
        let flops = 4.0 * (params.visible_pairs() * HEADS * HEAD_DIM) as f64;
        let fwd = median_time(budget, || kernel_forward(&params, &mut buffers));
        let fwd_naive = median_time(budget, || {
            black_box(naive::forward(&params, &buffers));
        });
        // Sanity: the two agree.
        let reference = naive::forward(&params, &buffers);
        let ql = q_layout(&case.shape);
        let mut worst = 0.0f32;
        for (bh, head) in reference.iter().enumerate() {
            let (r, h) = (bh / HEADS, bh % HEADS);
            for i in 0..case.shape.seq_q {
                let at = ql.batch_stride * r + ql.head_stride * h + ql.seq_stride * i;
                for c in 0..HEAD_DIM {
                    worst = worst.max((head[i * HEAD_DIM + c] - buffers.out[at + c]).abs());
                }
            }
        }
        assert!(
            worst < 1e-4,
            "{}: kernel and naive differ by {worst}",
            case.name
        );
        let bwd = median_time(budget, || kernel_backward(&params, &mut buffers));
        let bwd_naive = median_time(budget, || {
            black_box(naive::backward(&params, &buffers));
        });
        let (_, naive_dk) = naive::backward(&params, &buffers);
        let dk_worst = naive_dk
            .iter()
            .zip(&buffers.d_k)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            dk_worst < 1e-3,
            "{}: backward dK differs by {dk_worst}",
            case.name
        );
        let ms = |t: Duration| t.as_secs_f64() * 1e3;
        println!(
            "| {} | {:.3} ms | {:.1} | {:.3} ms | {:.1}× | {:.3} ms | {:.1} | {:.3} ms | {:.1}× |",
            case.name,
            ms(fwd),
            flops / fwd.as_secs_f64() / 1e9,
            ms(fwd_naive),
            fwd_naive.as_secs_f64() / fwd.as_secs_f64(),
            ms(bwd),
            2.5 * flops / bwd.as_secs_f64() / 1e9,
            ms(bwd_naive),
            bwd_naive.as_secs_f64() / bwd.as_secs_f64(),
        );
    }
    println!(
        "(flops: 4·visible pairs·d per head forward, 2.5× that backward; naive = repeat_kv copy + \
         materialized mask and scores + libm softmax + AVX2 loops)"
    );
}

fn bench_elementwise() {
    let budget = Duration::from_millis(1000);
    let (rows, hidden, ff) = (2240, 576, 1536);
    let gbs = |bytes: usize, t: Duration| bytes as f64 / t.as_secs_f64() / 1e9;
    println!(
        "\nelementwise, [2240, 576] / [2240, 1536]; GB/s counts each array read or written once"
    );
    println!("| kernel | time | GB/s |");
    println!("|---|---|---|");
    let row = |name: &str, t: Duration, bytes: usize| {
        println!(
            "| {name} | {:.1} µs | {:.1} |",
            t.as_secs_f64() * 1e6,
            gbs(bytes, t)
        );
    };

    let x = random(rows * hidden, 5);
    let delta = random(rows * hidden, 6);
    let weight: Vec<f32> = random(hidden, 7).iter().map(|w| 1.0 + 0.1 * w).collect();
    let mut y = vec![0.0; rows * hidden];
    let mut inv = vec![0.0; rows];
    let n = rows * hidden * 4;
    let t = median_time(budget, || {
        rms_norm(&x, &weight, 1e-5, &mut y, Some(&mut inv))
    });
    row("rms_norm", t, 2 * n);
    let mut residual = x.clone();
    let t = median_time(budget, || {
        add_rms_norm(&mut residual, &delta, &weight, 1e-5, &mut y, None)
    });
    row("add_rms_norm", t, 4 * n);
    let mut d_x = vec![0.0; rows * hidden];
    let t = median_time(budget, || {
        rms_norm_backward(&delta, &x, &weight, &inv, &mut d_x, None)
    });
    row("rms_norm_backward", t, 3 * n);
    let mut d_w = vec![0.0; hidden];
    let t = median_time(budget, || {
        rms_norm_backward(&delta, &x, &weight, &inv, &mut d_x, Some(&mut d_w))
    });
    row("rms_norm_backward + d_weight", t, 5 * n);

    let shape = RopeShape {
        batch: 8,
        seq: 280,
        heads: HEADS,
        head_dim: HEAD_DIM,
    };
    let (mut cos, mut sin) = (vec![], vec![]);
    for p in 0..512 {
        for i in 0..HEAD_DIM {
            let inv_freq = 1.0 / 100_000f32.powf((2 * (i % 32)) as f32 / 64.0);
            cos.push((p as f32 * inv_freq).cos());
            sin.push((p as f32 * inv_freq).sin());
        }
    }
    let mut q = x.clone();
    let layout = HeadLayout::batch_seq_heads(280, HEADS, HEAD_DIM);
    let t = median_time(budget, || {
        rope_forward(
            HeadsMut {
                data: &mut q,
                layout,
            },
            shape,
            RopeTables {
                cos: &cos,
                sin: &sin,
            },
            0,
        )
    });
    row("rope_forward [8, 280, 9, 64]", t, 2 * n);

    let gate_up = random(rows * 2 * ff, 8);
    let d_h = random(rows * ff, 9);
    let mut h = vec![0.0; rows * ff];
    let shape = SwigluShape { rows, width: ff };
    let gate = Rows {
        data: &gate_up,
        row_stride: 2 * ff,
    };
    let up = Rows {
        data: &gate_up[ff..],
        row_stride: 2 * ff,
    };
    let m = rows * ff * 4;
    let t = median_time(budget, || {
        swiglu(
            shape,
            gate,
            up,
            RowsMut {
                data: &mut h,
                row_stride: ff,
            },
        )
    });
    row("swiglu (gate/up halves of one buffer)", t, 3 * m);
    let mut d_gate_up = vec![0.0; rows * 2 * ff];
    let t = median_time(budget, || {
        let grads = reclora_kernels::swiglu::GateUpMut {
            data: &mut d_gate_up,
            row_stride: 2 * ff,
            gate_offset: 0,
            up_offset: ff,
        };
        swiglu_backward_fused(
            shape,
            Rows {
                data: &d_h,
                row_stride: ff,
            },
            gate,
            up,
            grads,
        )
    });
    row("swiglu_backward_fused", t, 5 * m);
}

fn main() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .expect("thread pool");
    println!("instruction set: {}, {THREADS} threads", instruction_set());
    pool.install(|| {
        bench_attention();
        bench_elementwise();
    });
}
