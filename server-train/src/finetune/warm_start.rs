//! The warm start: PLoRA's meta-LoRAs begin as copies of a trained static LoRA.
//!
//! With B = 0 at init every expert gives the same (zero) correction, so the gates get no
//! gradient until the experts have moved. Starting every expert from one trained static
//! LoRA (plus a little noise, so they differ) keeps the model's output at the static
//! LoRA's, since the gate weights sum to 1, and lets the gates learn from the first step
//! (the official code's `load_rella` path does a version of this).

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use reclora_core::llm::LlamaConfig;
use reclora_core::plora::Plora;
use reclora_core::rng::{SplitMix64, derive_seed};

use super::config::WarmStart;
use super::error::{FinetuneError, WarmStartProblem};
use super::files::RunFolder;

/// Tag of the warm-start noise stream.
const WARM_START_TAG: u64 = 4 << 32;

/// The static LoRA of the finished run `warm.run`, checked against `plora`'s shape.
pub fn load_static_lora(
    warm: &WarmStart,
    plora: &Plora,
    llm: &LlamaConfig,
    device: &Device,
) -> Result<Plora, FinetuneError> {
    let problem = |reason| FinetuneError::WarmStart {
        run: warm.run.clone(),
        reason,
    };
    let folder = RunFolder::new(&warm.run);
    let config = folder.read_config()?;
    let source = config
        .plora
        .filter(|p| !p.is_gated())
        .ok_or(problem(WarmStartProblem::NotStatic(config.mode)))?;
    let target = &plora.config;
    let same_shape = source.rank == target.rank
        && source.alpha == target.alpha
        && source.targets == target.targets
        && source.adapt_layers == target.adapt_layers;
    if !same_shape {
        return Err(problem(WarmStartProblem::Shape(format!(
            "rank {} alpha {} targets {:?} adapt_layers {:?} vs rank {} alpha {} targets {:?} \
             adapt_layers {:?}",
            source.rank,
            source.alpha,
            source.targets,
            source.adapt_layers,
            target.rank,
            target.alpha,
            target.targets,
            target.adapt_layers
        ))));
    }
    if !folder.adapter().is_file() {
        return Err(problem(WarmStartProblem::Unfinished));
    }
    Ok(source.load(llm, &folder.adapter(), device)?)
}

/// `plora` with every meta-LoRA of every (layer, projection) replaced by the static LoRA's
/// A and B, each copy plus N(0, (noise · RMS)²) per element, RMS that of the copied
/// matrix, drawn from a stream seeded by `seed`: per layer and target, expert by expert,
/// A then B. Gates are kept as they are.
pub fn warm_started(plora: Plora, source: &Plora, noise: f64, seed: u64) -> Plora {
    let mut stream = SplitMix64::new(derive_seed(seed, WARM_START_TAG));
    let mut plora = plora;
    for (layer, source_layer) in plora.layers.iter_mut().zip(&source.layers) {
        for (projection, source_projection) in
            layer.projections.iter_mut().zip(&source_layer.projections)
        {
            let bank = &mut projection.bank;
            let experts = bank.num_meta;
            let a = host_matrix(&source_projection.bank.a); // [d_in, r]
            let b = host_matrix(&source_projection.bank.b); // [r, d_out]
            let mut a_cat = Vec::with_capacity(a.values.len() * experts);
            let mut b_cat = Vec::with_capacity(b.values.len() * experts);
            let mut a_copies = Vec::with_capacity(experts);
            for _ in 0..experts {
                a_copies.push(noisy_copy(&a.values, noise * a.rms(), &mut stream));
                b_cat.extend(noisy_copy(&b.values, noise * b.rms(), &mut stream));
            }
            // A_cat is [d_in, N_m·r]: row i holds A_1[i], …, A_N[i].
            for row in 0..a.rows {
                for copy in &a_copies {
                    a_cat.extend_from_slice(&copy[row * a.cols..(row + 1) * a.cols]);
                }
            }
            bank.a = replaced(bank.a.clone(), a_cat, [a.rows, a.cols * experts]);
            bank.b = replaced(bank.b.clone(), b_cat, [b.rows * experts, b.cols]);
        }
    }
    plora
}

/// A matrix read back to the host, row-major.
struct HostMatrix {
    values: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl HostMatrix {
    fn rms(&self) -> f64 {
        let sum: f64 = self.values.iter().map(|&v| f64::from(v).powi(2)).sum();
        (sum / self.values.len().max(1) as f64).sqrt()
    }
}

fn host_matrix(param: &Param<Tensor<2>>) -> HostMatrix {
    let tensor = param.val();
    let [rows, cols] = tensor.dims();
    // A tensor of the LoRA's own dtype: f32 on every backend reclora uses.
    let values = tensor.into_data().try_into_vec::<f32>().unwrap_or_default();
    HostMatrix { values, rows, cols }
}

fn noisy_copy(values: &[f32], std: f64, stream: &mut SplitMix64) -> Vec<f32> {
    values
        .iter()
        .map(|&v| {
            let draw = stream.normal(0.0, 1.0);
            (f64::from(v) + std * f64::from(draw)) as f32
        })
        .collect()
}

/// The same parameter (id and gradient flag kept, as a checkpoint load does) with new
/// values.
fn replaced(param: Param<Tensor<2>>, values: Vec<f32>, shape: [usize; 2]) -> Param<Tensor<2>> {
    param.map(|old| {
        let tensor = Tensor::<2>::from_data(TensorData::new(values, shape), &old.device());
        if old.is_require_grad() {
            tensor.require_grad()
        } else {
            tensor
        }
    })
}
