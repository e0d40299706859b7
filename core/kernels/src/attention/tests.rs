//! Attention against a naive f64 reference (explicit mask, plain softmax), finite
//! differences, every instruction set, and thread-count determinism.

use super::simd::Isa;
use super::test_util::{SplitMix64, bits, in_pool, max_abs, max_abs_diff};
use super::*;

/// Memory orders the tests place tensors in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    /// `[batch, seq, heads, d]`, dense.
    BatchSeqHeads,
    /// `[batch, heads, seq, d]`, dense.
    BatchHeadsSeq,
    /// `[batch, seq, heads, d]` with gaps between heads, positions and rows and a leading
    /// offset, like one slice of a fused QKV projection.
    Gapped,
}

/// A logical `[batch, heads, seq, d]` tensor placed in a buffer.
struct Placed {
    data: Vec<f32>,
    layout: HeadLayout,
    offset: usize,
}

const OFFSET: usize = 5;

fn layout_for(order: Order, heads: usize, seq: usize, d: usize) -> (HeadLayout, usize) {
    match order {
        Order::BatchSeqHeads => (HeadLayout::batch_seq_heads(seq, heads, d), 0),
        Order::BatchHeadsSeq => (HeadLayout::batch_heads_seq(heads, seq, d), 0),
        Order::Gapped => {
            let head_stride = d + 1;
            let seq_stride = heads * head_stride + 3;
            let layout = HeadLayout {
                batch_stride: seq * seq_stride + 7,
                head_stride,
                seq_stride,
            };
            (layout, OFFSET)
        }
    }
}

/// Places `logical` (`[batch, heads, seq, d]` order); gap elements get `fill`.
fn place(logical: &[f32], dims: Dims, d: usize, order: Order, fill: f32) -> Placed {
    let (layout, offset) = layout_for(order, dims.heads, dims.seq, d);
    let len = offset + dims.batch * layout.batch_stride.max(dims.heads * dims.seq * d) + 11;
    let mut data = vec![fill; len];
    for b in 0..dims.batch {
        for h in 0..dims.heads {
            for p in 0..dims.seq {
                let src = ((b * dims.heads + h) * dims.seq + p) * d;
                let dst = offset + layout.offset(b, h, p);
                data[dst..dst + d].copy_from_slice(&logical[src..src + d]);
            }
        }
    }
    Placed {
        data,
        layout,
        offset,
    }
}

impl Placed {
    fn heads(&self) -> Heads<'_> {
        Heads {
            data: &self.data[self.offset..],
            layout: self.layout,
        }
    }

    fn heads_mut(&mut self) -> HeadsMut<'_> {
        HeadsMut {
            data: &mut self.data[self.offset..],
            layout: self.layout,
        }
    }

    /// Back to logical order; panics if an element outside the rows changed from `fill`.
    fn logical(&self, dims: Dims, d: usize, fill: f32) -> Vec<f32> {
        let mut out = vec![0.0; dims.batch * dims.heads * dims.seq * d];
        let mut touched = vec![false; self.data.len()];
        for b in 0..dims.batch {
            for h in 0..dims.heads {
                for p in 0..dims.seq {
                    let src = self.offset + self.layout.offset(b, h, p);
                    let dst = ((b * dims.heads + h) * dims.seq + p) * d;
                    out[dst..dst + d].copy_from_slice(&self.data[src..src + d]);
                    touched[src..src + d].iter_mut().for_each(|t| *t = true);
                }
            }
        }
        for (i, (&x, &t)) in self.data.iter().zip(&touched).enumerate() {
            assert!(
                t || x.to_bits() == fill.to_bits(),
                "element {i} outside the rows written"
            );
        }
        out
    }
}

#[derive(Clone, Debug)]
struct Case {
    shape: AttentionShape,
    key_len: Vec<usize>,
    /// Multiplies q and k: large values make peaked softmaxes.
    magnitude: f32,
}

fn case(
    batch: usize,
    heads: usize,
    kv_heads: usize,
    past: usize,
    seq_q: usize,
    head_dim: usize,
    key_len: &[usize],
) -> Case {
    let shape = AttentionShape {
        batch,
        heads,
        kv_heads,
        past,
        seq_q,
        head_dim,
    };
    Case {
        shape,
        key_len: key_len.to_vec(),
        magnitude: 1.5,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case(1, 1, 1, 0, 1, 8, &[1]),
        case(2, 3, 1, 0, 5, 16, &[5, 3]),
        case(3, 4, 4, 3, 7, 13, &[10, 4, 1]),
        case(2, 9, 3, 0, 70, 64, &[70, 41]),
        case(2, 6, 2, 100, 37, 64, &[137, 90]),
        case(1, 2, 1, 0, 130, 20, &[130]),
        case(4, 3, 3, 220, 20, 64, &[240, 231, 225, 221]),
        case(2, 2, 1, 0, 67, 5, &[67, 33]),
        case(3, 9, 3, 50, 1, 64, &[51, 20, 40]),
        case(2, 4, 2, 63, 66, 33, &[129, 64]),
    ]
}

/// The tensors of one case, logical `[batch, heads, seq, d]` order.
struct Tensors {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    d_out: Vec<f32>,
}

fn tensors(c: &Case, seed: u64) -> Tensors {
    let s = c.shape;
    let mut rng = SplitMix64::new(seed);
    let q_len = s.batch * s.heads * s.seq_q * s.head_dim;
    let k_len = s.batch * s.kv_heads * s.seq_k() * s.head_dim;
    Tensors {
        q: rng.vec(q_len, c.magnitude),
        k: rng.vec(k_len, c.magnitude),
        v: rng.vec(k_len, 1.0),
        d_out: rng.vec(q_len, 1.0),
    }
}

fn query_dims(s: &AttentionShape) -> Dims {
    Dims {
        batch: s.batch,
        heads: s.heads,
        seq: s.seq_q,
    }
}

fn key_dims(s: &AttentionShape) -> Dims {
    Dims {
        batch: s.batch,
        heads: s.kv_heads,
        seq: s.seq_k(),
    }
}

fn visible(position: usize, key: usize, key_len: usize) -> bool {
    key == position || (key < position && key < key_len)
}

/// Reference probabilities `P[b][qh][i][j]` (0 where masked), f64.
fn reference_probs(c: &Case, q: &[f64], k: &[f64], scale: f64) -> Vec<f64> {
    let s = c.shape;
    let (d, seq_k, group) = (s.head_dim, s.seq_k(), s.group_size());
    let mut probs = vec![0.0; s.batch * s.heads * s.seq_q * seq_k];
    for b in 0..s.batch {
        for qh in 0..s.heads {
            let kvh = qh / group;
            for i in 0..s.seq_q {
                let q_row = &q[((b * s.heads + qh) * s.seq_q + i) * d..][..d];
                let row = &mut probs[((b * s.heads + qh) * s.seq_q + i) * seq_k..][..seq_k];
                let mut max = f64::NEG_INFINITY;
                for (j, p) in row.iter_mut().enumerate() {
                    if visible(s.past + i, j, c.key_len[b]) {
                        let k_row = &k[((b * s.kv_heads + kvh) * seq_k + j) * d..][..d];
                        *p = scale * q_row.iter().zip(k_row).map(|(x, y)| x * y).sum::<f64>();
                        max = max.max(*p);
                    } else {
                        *p = f64::NEG_INFINITY;
                    }
                }
                let sum: f64 = row.iter().map(|&x| (x - max).exp()).sum();
                row.iter_mut().for_each(|p| *p = (*p - max).exp() / sum);
            }
        }
    }
    probs
}

/// Reference forward: (out, lse), f64.
fn reference_forward(
    c: &Case,
    q: &[f64],
    k: &[f64],
    v: &[f64],
    scale: f64,
) -> (Vec<f64>, Vec<f64>) {
    let s = c.shape;
    let (d, seq_k, group) = (s.head_dim, s.seq_k(), s.group_size());
    let probs = reference_probs(c, q, k, scale);
    let mut out = vec![0.0; q.len()];
    let mut lse = vec![0.0; s.batch * s.heads * s.seq_q];
    for b in 0..s.batch {
        for qh in 0..s.heads {
            let kvh = qh / group;
            for i in 0..s.seq_q {
                let row = (b * s.heads + qh) * s.seq_q + i;
                let p = &probs[row * seq_k..][..seq_k];
                for (j, &pj) in p.iter().enumerate() {
                    let v_row = &v[((b * s.kv_heads + kvh) * seq_k + j) * d..][..d];
                    for (o, &x) in out[row * d..][..d].iter_mut().zip(v_row) {
                        *o += pj * x;
                    }
                }
                // lse = log Σ exp(score): recover from any visible entry, here the diagonal.
                let q_row = &q[row * d..][..d];
                let own = s.past + i;
                let k_row = &k[((b * s.kv_heads + kvh) * seq_k + own) * d..][..d];
                let score = scale * q_row.iter().zip(k_row).map(|(x, y)| x * y).sum::<f64>();
                lse[row] = score - p[own].ln();
            }
        }
    }
    (out, lse)
}

/// Reference backward: (dq, dk, dv), f64.
#[allow(clippy::type_complexity)]
fn reference_backward(c: &Case, t: &Tensors64, scale: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let s = c.shape;
    let (d, seq_k, group) = (s.head_dim, s.seq_k(), s.group_size());
    let probs = reference_probs(c, &t.q, &t.k, scale);
    let mut dq = vec![0.0; t.q.len()];
    let mut dk = vec![0.0; t.k.len()];
    let mut dv = vec![0.0; t.v.len()];
    for b in 0..s.batch {
        for qh in 0..s.heads {
            let kvh = qh / group;
            for i in 0..s.seq_q {
                let row = (b * s.heads + qh) * s.seq_q + i;
                let p = &probs[row * seq_k..][..seq_k];
                let do_row = &t.d_out[row * d..][..d];
                let key = |j: usize| ((b * s.kv_heads + kvh) * seq_k + j) * d;
                let dp: Vec<f64> = (0..seq_k)
                    .map(|j| {
                        do_row
                            .iter()
                            .zip(&t.v[key(j)..][..d])
                            .map(|(x, y)| x * y)
                            .sum()
                    })
                    .collect();
                let delta: f64 = p.iter().zip(&dp).map(|(x, y)| x * y).sum();
                for j in 0..seq_k {
                    let ds = p[j] * (dp[j] - delta);
                    for c in 0..d {
                        dq[row * d + c] += scale * ds * t.k[key(j) + c];
                        dk[key(j) + c] += scale * ds * t.q[row * d + c];
                        dv[key(j) + c] += p[j] * do_row[c];
                    }
                }
            }
        }
    }
    (dq, dk, dv)
}

struct Tensors64 {
    q: Vec<f64>,
    k: Vec<f64>,
    v: Vec<f64>,
    d_out: Vec<f64>,
}

fn widen(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

fn tensors64(t: &Tensors) -> Tensors64 {
    Tensors64 {
        q: widen(&t.q),
        k: widen(&t.k),
        v: widen(&t.v),
        d_out: widen(&t.d_out),
    }
}

/// Orders of (q and out, k and v).
const ORDERS: [(Order, Order); 3] = [
    (Order::BatchSeqHeads, Order::BatchHeadsSeq),
    (Order::BatchHeadsSeq, Order::BatchSeqHeads),
    (Order::Gapped, Order::Gapped),
];

struct Results {
    out: Vec<f32>,
    lse: Vec<f32>,
    dq: Vec<f32>,
    dk: Vec<f32>,
    dv: Vec<f32>,
}

/// Runs forward and backward with `isa`, tensors placed in `orders`; returns logical order.
fn run(isa: Isa, c: &Case, t: &Tensors, orders: (Order, Order)) -> Results {
    let s = c.shape;
    let (qd, kd, d) = (query_dims(&s), key_dims(&s), s.head_dim);
    let params = AttentionParams {
        shape: s,
        key_len: &c.key_len,
        scale: None,
    };
    let (q_order, k_order) = orders;
    let q = place(&t.q, qd, d, q_order, 9.0);
    let k = place(&t.k, kd, d, k_order, 9.0);
    let v = place(&t.v, kd, d, k_order, 9.0);
    let d_out = place(&t.d_out, qd, d, q_order, 9.0);
    let nan = f32::NAN;
    let mut out = place(&vec![nan; t.q.len()], qd, d, q_order, nan);
    let mut lse = vec![nan; s.batch * s.heads * s.seq_q];
    forward_with_isa(
        isa,
        &params,
        q.heads(),
        k.heads(),
        v.heads(),
        out.heads_mut(),
        Some(&mut lse),
    );
    let mut dq = place(&vec![nan; t.q.len()], qd, d, q_order, nan);
    let mut dk = place(&vec![nan; t.k.len()], kd, d, k_order, nan);
    let mut dv = place(&vec![nan; t.k.len()], kd, d, k_order, nan);
    let inputs = BackwardInputs {
        q: q.heads(),
        k: k.heads(),
        v: v.heads(),
        out: out.heads(),
        d_out: d_out.heads(),
        lse: &lse,
    };
    let outputs = BackwardOutputs {
        d_q: dq.heads_mut(),
        d_k: dk.heads_mut(),
        d_v: dv.heads_mut(),
    };
    backward_with_isa(isa, &params, inputs, outputs);
    Results {
        out: out.logical(qd, d, nan),
        lse,
        dq: dq.logical(qd, d, nan),
        dk: dk.logical(kd, d, nan),
        dv: dv.logical(kd, d, nan),
    }
}

/// `|x − reference| <= tolerance · max(1, max |reference|)` everywhere, all finite.
fn assert_close(what: &str, got: &[f32], reference: &[f64], tolerance: f64) {
    assert!(
        got.iter().all(|x| x.is_finite()),
        "{what}: non-finite values"
    );
    let error = max_abs_diff(got, reference);
    let bound = tolerance * max_abs(reference).max(1.0);
    assert!(error <= bound, "{what}: max error {error:e} > {bound:e}");
}

/// Forward within 1e-5 and backward within 2e-5 (relative to the largest magnitude, at
/// least 1) of the f64 reference, for every case, layout and instruction set.
#[test]
fn matches_reference_on_every_isa_and_layout() {
    for (n, c) in cases().iter().enumerate() {
        let t = tensors(c, 100 + n as u64);
        let t64 = tensors64(&t);
        let scale = AttentionParams {
            shape: c.shape,
            key_len: &c.key_len,
            scale: None,
        }
        .scale();
        let (out, lse) = reference_forward(c, &t64.q, &t64.k, &t64.v, scale as f64);
        let (dq, dk, dv) = reference_backward(c, &t64, scale as f64);
        for isa in Isa::available() {
            for orders in ORDERS {
                let r = run(isa, c, &t, orders);
                let what =
                    |name: &str| format!("case {n} {:?} {} {orders:?} {name}", c, isa.name());
                assert_close(&what("out"), &r.out, &out, 1e-5);
                assert_close(&what("lse"), &r.lse, &lse, 1e-5);
                assert_close(&what("dq"), &r.dq, &dq, 2e-5);
                assert_close(&what("dk"), &r.dk, &dk, 2e-5);
                assert_close(&what("dv"), &r.dv, &dv, 2e-5);
            }
        }
    }
}

/// Every vector path agrees with the portable path to within f32 rounding.
#[test]
fn simd_paths_agree_with_portable() {
    for (n, c) in cases().iter().enumerate() {
        let t = tensors(c, 200 + n as u64);
        let orders = (Order::BatchSeqHeads, Order::BatchHeadsSeq);
        let portable = run(Isa::PORTABLE, c, &t, orders);
        for isa in Isa::available() {
            let r = run(isa, c, &t, orders);
            for (name, a, b) in [
                ("out", &r.out, &portable.out),
                ("lse", &r.lse, &portable.lse),
                ("dq", &r.dq, &portable.dq),
                ("dk", &r.dk, &portable.dk),
                ("dv", &r.dv, &portable.dv),
            ] {
                let b64 = widen(b);
                assert_close(
                    &format!("case {n} {} vs portable: {name}", isa.name()),
                    a,
                    &b64,
                    2e-5,
                );
            }
        }
    }
}

/// Peaked softmaxes (scores up to about ±40): the online maximum keeps everything finite
/// and accurate.
#[test]
fn large_logits_stay_accurate() {
    let mut c = case(2, 6, 2, 30, 90, 64, &[120, 77]);
    c.magnitude = 2.0;
    let t = tensors(&c, 7);
    let t64 = tensors64(&t);
    let scale = (1.0 / 8.0f32) as f64;
    let (out, lse) = reference_forward(&c, &t64.q, &t64.k, &t64.v, scale);
    let (dq, dk, dv) = reference_backward(&c, &t64, scale);
    for isa in Isa::available() {
        let r = run(isa, &c, &t, (Order::BatchSeqHeads, Order::BatchHeadsSeq));
        assert_close(&format!("{} out", isa.name()), &r.out, &out, 1e-5);
        assert_close(&format!("{} lse", isa.name()), &r.lse, &lse, 1e-5);
        assert_close(&format!("{} dq", isa.name()), &r.dq, &dq, 5e-5);
        assert_close(&format!("{} dk", isa.name()), &r.dk, &dk, 5e-5);
        assert_close(&format!("{} dv", isa.name()), &r.dv, &dv, 2e-5);
    }
}

/// Queries at or past `key_len` (padding) see only the valid keys and themselves: finite.
#[test]
fn padded_queries_are_finite() {
    // Row 1: key_len 3 < past, so every query is padded; row 0: the last 20 are.
    let c = case(2, 3, 1, 10, 40, 16, &[30, 3]);
    let t = tensors(&c, 11);
    for isa in Isa::available() {
        let r = run(isa, &c, &t, (Order::BatchSeqHeads, Order::BatchHeadsSeq));
        for values in [&r.out, &r.lse, &r.dq, &r.dk, &r.dv] {
            assert!(values.iter().all(|x| x.is_finite()), "{}", isa.name());
        }
    }
}

/// The analytic f64 gradient matches central differences of the f64 forward, and the
/// kernel's gradient matches both, on a few coordinates of q, k and v.
#[test]
fn gradients_match_finite_differences() {
    let c = case(2, 4, 2, 5, 11, 8, &[16, 9]);
    let t = tensors(&c, 3);
    let t64 = tensors64(&t);
    let scale = (1.0 / 8.0f64.sqrt() as f32) as f64;
    let (dq, dk, dv) = reference_backward(&c, &t64, scale);
    let kernel = run(
        Isa::detected(),
        &c,
        &t,
        (Order::BatchSeqHeads, Order::BatchHeadsSeq),
    );
    let loss = |q: &[f64], k: &[f64], v: &[f64]| {
        let (out, _) = reference_forward(&c, q, k, v, scale);
        out.iter().zip(&t64.d_out).map(|(o, g)| o * g).sum::<f64>()
    };
    let h = 1e-5;
    let mut rng = SplitMix64::new(99);
    for which in 0..3 {
        let (analytic, ours, len) = match which {
            0 => (&dq, &kernel.dq, t64.q.len()),
            1 => (&dk, &kernel.dk, t64.k.len()),
            _ => (&dv, &kernel.dv, t64.v.len()),
        };
        for _ in 0..12 {
            let index = rng.below(len);
            let mut plus = [t64.q.clone(), t64.k.clone(), t64.v.clone()];
            let mut minus = plus.clone();
            plus[which][index] += h;
            minus[which][index] -= h;
            let numeric = (loss(&plus[0], &plus[1], &plus[2])
                - loss(&minus[0], &minus[1], &minus[2]))
                / (2.0 * h);
            let a = analytic[index];
            assert!(
                (a - numeric).abs() <= 1e-7 + 1e-6 * numeric.abs(),
                "{which} {index}: {a} vs {numeric}"
            );
            let o = ours[index] as f64;
            assert!(
                (o - numeric).abs() <= 1e-5 + 1e-4 * numeric.abs(),
                "{which} {index}: {o} vs {numeric}"
            );
        }
    }
}

/// 1, 2 and 3 threads give bitwise the same outputs and gradients, on every instruction set.
#[test]
fn thread_count_does_not_change_bits() {
    let c = case(3, 9, 3, 30, 100, 64, &[130, 77, 31]);
    let t = tensors(&c, 5);
    for isa in Isa::available() {
        let orders = (Order::BatchSeqHeads, Order::BatchHeadsSeq);
        let one = in_pool(1, || run(isa, &c, &t, orders));
        for threads in [2, 3] {
            let many = in_pool(threads, || run(isa, &c, &t, orders));
            for (a, b) in [
                (&one.out, &many.out),
                (&one.lse, &many.lse),
                (&one.dq, &many.dq),
                (&one.dk, &many.dk),
                (&one.dv, &many.dv),
            ] {
                assert_eq!(bits(a), bits(b), "{} with {threads} threads", isa.name());
            }
        }
    }
}

#[test]
fn visible_pairs_counts_the_mask() {
    let c = case(2, 1, 1, 3, 4, 1, &[7, 2]);
    let params = AttentionParams {
        shape: c.shape,
        key_len: &c.key_len,
        scale: None,
    };
    // Row 0: positions 3..7 see 4, 5, 6, 7 keys; row 1: min(a, 2) + 1 = 3 each.
    assert_eq!(params.visible_pairs(), 22 + 12);
}

#[test]
#[should_panic(expected = "overlap")]
fn overlapping_output_rows_are_rejected() {
    let c = case(1, 2, 1, 0, 4, 8, &[4]);
    let s = c.shape;
    let params = AttentionParams {
        shape: s,
        key_len: &c.key_len,
        scale: None,
    };
    let q = vec![0.0; 64];
    let kv = vec![0.0; 32];
    let mut out = vec![0.0; 64];
    let layout = HeadLayout::batch_seq_heads(4, 2, 8);
    let bad = HeadLayout {
        head_stride: 4,
        ..layout
    };
    let kv_layout = HeadLayout::batch_heads_seq(1, 4, 8);
    attention_forward(
        &params,
        Heads { data: &q, layout },
        Heads {
            data: &kv,
            layout: kv_layout,
        },
        Heads {
            data: &kv,
            layout: kv_layout,
        },
        HeadsMut {
            data: &mut out,
            layout: bad,
        },
        None,
    );
}

#[test]
#[should_panic(expected = "key_len")]
fn zero_key_len_is_rejected() {
    let c = case(1, 1, 1, 0, 2, 4, &[0]);
    let params = AttentionParams {
        shape: c.shape,
        key_len: &c.key_len,
        scale: None,
    };
    let x = vec![0.0; 8];
    let mut out = vec![0.0; 8];
    let layout = HeadLayout::batch_seq_heads(2, 1, 4);
    let h = Heads { data: &x, layout };
    attention_forward(
        &params,
        h,
        h,
        h,
        HeadsMut {
            data: &mut out,
            layout,
        },
        None,
    );
}
