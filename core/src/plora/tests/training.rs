//! Training PLoRA through a frozen LLM: autodiff gradients against finite differences,
//! and one AdamW step that moves PLoRA only.

use burn::module::{Module, Param};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::helpers::{host, param2, random_values, tensor2, tiny_llama, tokens};
use super::llm_hook::randomize_b;
use super::model::param_values;
use crate::llm::{AttentionMask, LlamaModel, SeededWeights};
use crate::plora::{LoraContext, MixtureForm, Plora, PloraConfig, ProjectionKind};

const TARGETS: [i64; 2] = [7, 31];

fn config(mixture: MixtureForm) -> PloraConfig {
    PloraConfig {
        num_meta: 3,
        rank: 2,
        crm_dim: 8,
        gate_hidden: 6,
        // No dropout, so the autodiff and finite-difference losses are the same function.
        gate_dropout: 0.0,
        targets: vec![ProjectionKind::Q, ProjectionKind::V, ProjectionKind::Down],
        mixture,
        ..PloraConfig::default()
    }
}

fn frozen_llm(device: &Device) -> LlamaModel {
    let llm = tiny_llama();
    llm.init_from(&SeededWeights::new(llm.clone(), 9), device)
        .expect("tiny model")
        .no_grad()
}

/// Σ over the batch of −log p(target | prompt) at each row's last real token.
fn loss(llm: &LlamaModel, plora: &Plora) -> Tensor<1> {
    let device = llm.device();
    let ids = tokens(&[vec![3, 17, 42, 8, 25], vec![9, 4, 30, 0, 0]], &device);
    let mask = AttentionMask::right_padded(&[5, 3], 5);
    let r_c = tensor2(random_values(2 * 8, 61, 2.0), [2, 8], &device);
    let context = LoraContext::from_representation(plora, &r_c).expect("fits");
    let hidden = llm.forward_hidden(ids, &mask, None, Some(&context));
    let logits = llm.full_logits(llm.normed_at(hidden, &[4, 2]));
    let targets = Tensor::<2, Int>::from_data(TensorData::new(TARGETS.to_vec(), [2, 1]), &device);
    log_softmax(logits, 1).gather(1, targets).sum().neg()
}

fn scalar(tensor: Tensor<1>) -> f64 {
    f64::from(host(tensor)[0])
}

/// Which parameter a finite-difference probe perturbs.
#[derive(Debug, Clone, Copy)]
enum Probe {
    A { layer: usize, target: usize },
    B { layer: usize, target: usize },
    GateOutput { layer: usize, target: usize },
}

impl Probe {
    fn param(self, plora: &mut Plora) -> &mut Param<Tensor<2>> {
        match self {
            Self::A { layer, target } => &mut plora.layers[layer].projections[target].bank.a,
            Self::B { layer, target } => &mut plora.layers[layer].projections[target].bank.b,
            Self::GateOutput { layer, target } => {
                &mut plora.layers[layer].projections[target]
                    .gate
                    .as_mut()
                    .expect("gated")
                    .output
                    .weight
            }
        }
    }
}

/// The PLoRA with entry `index` of the probed parameter moved by `step`.
fn perturbed(plora: &Plora, probe: Probe, index: usize, step: f32) -> Plora {
    let mut copy = plora.clone();
    let param = probe.param(&mut copy);
    let tensor = param.val();
    let [rows, cols] = tensor.dims();
    let device = tensor.device();
    let mut values = host(tensor);
    values[index] += step;
    *param = param2(values, [rows, cols], &device);
    copy
}

/// Absolute resolution of an f32 central difference at ε = 1e-2 on this loss.
const FD_FLOOR: f64 = 1e-4;

fn gradients_match_finite_differences(mixture: MixtureForm) {
    let train_device = Device::flex().autodiff();
    let llm = frozen_llm(&train_device);
    let mut plora = config(mixture)
        .init_seeded(&llm.config, 17, &train_device)
        .expect("valid");
    randomize_b(&mut plora, 300, 0.3, &train_device);

    let grads = GradientsParams::from_grads(loss(&llm, &plora).backward(), &plora);
    let eval_llm = llm.valid();
    let eval_plora = plora.valid();
    let base_loss = scalar(loss(&eval_llm, &eval_plora));
    assert!(base_loss.is_finite());

    let probes = [
        Probe::A {
            layer: 0,
            target: 0,
        },
        Probe::A {
            layer: 1,
            target: 2,
        },
        Probe::B {
            layer: 0,
            target: 1,
        },
        Probe::B {
            layer: 1,
            target: 2,
        },
        Probe::GateOutput {
            layer: 0,
            target: 1,
        },
        Probe::GateOutput {
            layer: 1,
            target: 0,
        },
    ];
    let epsilon = 1e-2f32;
    let mut worst = 0.0f64;
    for probe in probes {
        let id = probe.param(&mut plora).id;
        let gradient = host(grads.get::<2>(id).expect("PLoRA parameter has a gradient"));
        // The three largest entries: small ones are all rounding noise in f32.
        let mut order: Vec<usize> = (0..gradient.len()).collect();
        order.sort_by(|&i, &j| gradient[j].abs().total_cmp(&gradient[i].abs()));
        for &index in &order[..3] {
            let plus = scalar(loss(
                &eval_llm,
                &perturbed(&eval_plora, probe, index, epsilon),
            ));
            let minus = scalar(loss(
                &eval_llm,
                &perturbed(&eval_plora, probe, index, -epsilon),
            ));
            let numeric = (plus - minus) / (2.0 * f64::from(epsilon));
            let analytic = f64::from(gradient[index]);
            let relative = (analytic - numeric).abs() / numeric.abs().max(1e-3);
            worst = worst.max(relative);
            eprintln!(
                "{mixture:?} {probe:?}[{index}]: autodiff {analytic:+.6}, finite diff {numeric:+.6}, rel {relative:.1e}"
            );
            assert!(
                numeric.abs() > 1e-3,
                "{probe:?}: gradient too small to test"
            );
            // The f32 loss (a few nats) is good to a few ULPs, about 1e-6, so a central
            // difference at ε = 1e-2 is good to about 1e-4 absolute: below that floor a
            // small gate gradient cannot be resolved to 1 %.
            assert!(
                (analytic - numeric).abs() < 1e-2 * numeric.abs() + FD_FLOOR,
                "{mixture:?} {probe:?}[{index}]: autodiff {analytic}, finite diff {numeric}"
            );
        }
    }
    eprintln!("{mixture:?}: worst relative gradient error {worst:.1e}");
}

#[test]
fn sum_of_products_gradients_match_finite_differences() {
    gradients_match_finite_differences(MixtureForm::SumOfProducts);
}

#[test]
fn product_of_sums_gradients_match_finite_differences() {
    gradients_match_finite_differences(MixtureForm::ProductOfSums);
}

#[test]
fn one_adamw_step_moves_plora_and_not_the_frozen_llm() {
    let train_device = Device::flex().autodiff();
    let llm = frozen_llm(&train_device);
    // Fresh init: B = 0, so only B (and, through it, nothing else yet) has a gradient.
    let plora = config(MixtureForm::SumOfProducts)
        .init(&llm.config, &train_device)
        .expect("valid");
    let llm_before = param_values(&llm);
    let plora_before = param_values(&plora);

    let mut gradients = loss(&llm, &plora).backward();
    let llm_grads = GradientsParams::from_module(&mut gradients, &llm);
    assert!(
        llm_grads.is_empty(),
        "frozen LLM got {} gradients",
        llm_grads.len()
    );
    let grads = GradientsParams::from_grads(gradients, &plora);
    assert!(!grads.is_empty());
    let mut optimizer = AdamWConfig::new().init();
    let plora = optimizer.step(1e-2, plora, grads);

    assert_eq!(param_values(&llm), llm_before, "LLM weights changed");
    let plora_after = param_values(&plora);
    let unchanged: Vec<usize> = plora_before
        .iter()
        .zip(&plora_after)
        .enumerate()
        .filter(|(_, (before, after))| before == after)
        .map(|(i, _)| i)
        .collect();
    eprintln!("unchanged PLoRA tensors (visit order): {unchanged:?}");
    let changed = plora_after.len() - unchanged.len();
    assert!(changed > 0, "no PLoRA parameter moved");
    for projection in plora.layers.iter().flat_map(|layer| &layer.projections) {
        let b_after = host(projection.bank.b.val());
        assert!(b_after.iter().any(|&v| v != 0.0), "a B stayed zero");
    }
    eprintln!(
        "AdamW step: {changed} of {} PLoRA tensors changed",
        plora_after.len()
    );
}
