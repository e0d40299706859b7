//! Times y = x·Wᵀ at SmolLM2-135M shapes: the per-block dequant kernel, the int8-dot
//! kernel, `QuantLinear` (dequant kernel plus the host copies of x and y through burn
//! tensors), and burn-flex's dense f32 matmul on the dequantized weight (what running
//! without `quant` costs in RAM: 4 bytes per weight instead of 1.06 or 0.56).
//!
//! Absolute times depend on the machine's load; compare the ratios.
//!
//! ```text
//! nice -n 19 cargo run --release -p reclora-core --example quant_matmul_bench
//! ```

use std::time::{Duration, Instant};

use burn::tensor::{Tensor, TensorData};
use reclora_core::BackendKind;
use reclora_core::quant::{
    QuantKernel, QuantLinear, QuantWeight, QuantizedMatrixBuf, WeightQuant, matmul_transposed,
    matmul_transposed_int8,
};
use reclora_core::rng::SplitMix64;

/// `(n, rows = out, cols = in, what)`.
const CASES: [(usize, usize, usize, &str); 5] = [
    (8, 1536, 576, "gate/up, n=8"),
    (280, 1536, 576, "gate/up, n=280"),
    (8, 576, 1536, "down, n=8"),
    (280, 576, 1536, "down, n=280"),
    (8, 49152, 576, "lm head, n=8"),
];

/// Runs `f` until `budget` is spent (at least 5 times, after one warm-up) and returns the
/// median time.
fn median_time(budget: Duration, mut f: impl FnMut()) -> Duration {
    f();
    let start = Instant::now();
    let mut times = Vec::new();
    while times.len() < 5 || start.elapsed() < budget {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

fn random(seed: u64, len: usize, scale: f32) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..len)
        .map(|_| (rng.unit_f32() * 2.0 - 1.0) * scale)
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = BackendKind::Cpu.device()?;
    let budget = Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1500),
    );
    println!(
        "| shape (x · Wᵀ) | quant | dequant ms | int8 ms | QuantLinear ms | dense f32 ms | dequant / dense | int8 / dense | QuantLinear / dense | int8 / dequant |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (case, &(n, rows, cols, what)) in CASES.iter().enumerate() {
        let w = random(10 + case as u64, rows * cols, 0.05);
        let x = random(20 + case as u64, n * cols, 1.0);
        let x_tensor = Tensor::<2>::from_data(TensorData::new(x.clone(), [n, cols]), &device);
        for quant in [WeightQuant::Q8, WeightQuant::Q4] {
            let q = QuantizedMatrixBuf::quantize(quant, rows, cols, &w)?;
            let view = q.view();
            // burn's Linear layout, [in, out], transposed once as the dense model does.
            let w_t =
                Tensor::<2>::from_data(TensorData::new(view.dequantize(), [rows, cols]), &device)
                    .transpose();
            let w_t = Tensor::<2>::from_data(w_t.into_data(), &device);

            let dequant = median_time(budget, || {
                std::hint::black_box(matmul_transposed(&x, &view).map(|y| y.len()).ok());
            });
            let int8 = median_time(budget, || {
                std::hint::black_box(matmul_transposed_int8(&x, &view).map(|y| y.len()).ok());
            });
            let linear =
                QuantLinear::new(QuantWeight::Owned(q.clone()), None, QuantKernel::Dequant)?;
            let through_burn = median_time(budget, || {
                let y = linear.forward(x_tensor.clone()).map(|y| y.into_data());
                std::hint::black_box(y.map(|y| y.num_elements()).ok());
            });
            let dense = median_time(budget, || {
                let y = x_tensor.clone().matmul(w_t.clone()).into_data();
                std::hint::black_box(y.num_elements());
            });
            println!(
                "| [{n},{cols}]·[{rows},{cols}]ᵀ ({what}) | {quant} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} | {:.2} | {:.2} | {:.2} |",
                ms(dequant),
                ms(int8),
                ms(through_burn),
                ms(dense),
                dequant.as_secs_f64() / dense.as_secs_f64(),
                int8.as_secs_f64() / dense.as_secs_f64(),
                through_burn.as_secs_f64() / dense.as_secs_f64(),
                int8.as_secs_f64() / dequant.as_secs_f64(),
            );
        }
    }
    Ok(())
}
