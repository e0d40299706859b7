//! The recipe levers of issue 15 on tiny models, each against a hand computation: the
//! fused yes/no loss and its gradient on w, the gate learning rate, the warm start, the
//! seeded evaluation sample, and RecLoRA-fused's evaluation scores.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use reclora_core::PloraConfig;
use reclora_core::llm::{AttentionMask, LlamaConfig};
use reclora_core::plora::{MixtureForm, Plora, ProjectionKind};
use reclora_core::tokenizer::PromptTemplate;

use super::fixture::{
    EarliestRetriever, TempDir, VOCAB, byte_tokenizer, synthetic_dataset, tiny_config, tiny_crm,
    tiny_llama_config, tiny_llm,
};
use crate::data::Split;
use crate::finetune::config::{FinetuneConfig, FinetuneMode, TrainLoss, WarmStart};
use crate::finetune::encode::{AnswerTokens, PromptEncoder, SupervisedRow};
use crate::finetune::error::{FinetuneError, WarmStartProblem};
use crate::finetune::eval::{EvalInputs, EvalOptions, EvalRows, RowSelection, evaluate};
use crate::finetune::files::{RunFolder, write_json};
use crate::finetune::loss::{batch_adapter, yes_no_loss_parts};
use crate::finetune::random::SplitMix64;
use crate::finetune::subset::{eval_sample, few_shot_subset};
use crate::finetune::train::{gate_param_ids, step_rates};
use crate::finetune::warm_start::{load_static_lora, warm_started};
use crate::scores::read_scores;

const CRM_DIM: usize = 5;
const ANSWERS: AnswerTokens = AnswerTokens {
    yes: 260,
    no: 261,
    end: 2,
};
const TARGETS: [ProjectionKind; 2] = [ProjectionKind::Q, ProjectionKind::V];

fn gated(fused: bool) -> PloraConfig {
    PloraConfig {
        num_meta: 3,
        rank: 2,
        alpha: 4.0,
        gate_hidden: 6,
        gate_dropout: 0.0,
        crm_dim: CRM_DIM,
        targets: TARGETS.to_vec(),
        crm_logit_fusion: fused,
        ..PloraConfig::default()
    }
}

fn random_matrix(rows: usize, cols: usize, bound: f64, stream: &mut SplitMix64) -> Vec<f32> {
    (0..rows * cols).map(|_| stream.symmetric(bound)).collect()
}

fn param_of(values: Vec<f32>, shape: [usize; 2], device: &Device) -> Param<Tensor<2>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// Every B random too, so the adapter changes the outputs.
fn randomize_b(plora: &mut Plora, seed: u64, device: &Device) {
    let mut stream = SplitMix64::new(seed);
    for projection in plora
        .layers
        .iter_mut()
        .flat_map(|l| l.projections.iter_mut())
    {
        let [rows, cols] = projection.bank.b.val().dims();
        let values = random_matrix(rows, cols, 0.4, &mut stream);
        projection.bank.b = param_of(values, [rows, cols], device);
    }
}

fn host<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_into_vec::<f32>().expect("f32")
}

fn rows() -> Vec<SupervisedRow> {
    let mut stream = SplitMix64::new(5);
    [(7, true), (12, false), (4, false), (9, true)]
        .into_iter()
        .map(|(len, label)| {
            let prompt: Vec<u32> = (0..len).map(|_| 3 + stream.below(250) as u32).collect();
            SupervisedRow::new(prompt, label, ANSWERS)
        })
        .collect()
}

/// (logit_yes − logit_no) at the last prompt position of `row` scored alone, from the
/// full-vocabulary logits.
fn answer_difference(
    llm: &reclora_core::llm::LlamaModel,
    plora: &Plora,
    r_c: Tensor<2>,
    prompt: &[u32],
    device: &Device,
) -> f64 {
    let adapter = batch_adapter(plora, Some(&r_c), 1, device).expect("fits");
    let input: Vec<i64> = prompt.iter().map(|&id| i64::from(id)).collect();
    let len = input.len();
    let tokens = Tensor::from_data(TensorData::new(input, [1, len]), device);
    let hidden = llm.forward_hidden(
        tokens,
        &AttentionMask::causal(1, len, 0),
        None,
        Some(&adapter),
    );
    let hidden_size = llm.config.hidden_size;
    let logits = host(llm.full_logits(llm.norm.forward(hidden.reshape([len, hidden_size]))));
    let last = &logits[(len - 1) * VOCAB..len * VOCAB];
    f64::from(last[ANSWERS.yes as usize]) - f64::from(last[ANSWERS.no as usize])
}

/// The fused logit z = (logit_yes − logit_no) + w · logit_CRM, the loss Σ −log σ(s·z)
/// / rows with s = ±1 by label, and ∂loss/∂w = Σ −s · logit_CRM · σ(−s·z) / rows, against
/// every row scored alone in f64.
#[test]
fn the_fused_yes_no_loss_and_its_w_gradient_equal_a_hand_computation() {
    let device = Device::flex().autodiff();
    let llm = tiny_llm(&device);
    let llama = tiny_llama_config();
    let mut plora = gated(true).init_seeded(&llama, 17, &device).expect("valid");
    randomize_b(&mut plora, 11, &device);
    let w = 1.5f32;
    plora.crm_logit_weight = Some(Param::from_tensor(
        Tensor::from_data(TensorData::new(vec![w], [1]), &device).require_grad(),
    ));
    let rows = rows();
    let mut stream = SplitMix64::new(23);
    let r_c_values = random_matrix(rows.len(), CRM_DIM, 2.0, &mut stream);
    let r_c = Tensor::<2>::from_data(TensorData::new(r_c_values, [rows.len(), CRM_DIM]), &device);
    let crm_logits = [0.5f32, -1.0, 2.0, 0.0];
    let crm = Tensor::<1>::from_data(TensorData::new(crm_logits.to_vec(), [4]), &device);
    let adapter = batch_adapter(&plora, Some(&r_c), rows.len(), &device).expect("fits");
    let normalizer = rows.len() as f64;
    let parts = yes_no_loss_parts(
        &llm,
        Some(&adapter),
        &rows,
        ANSWERS.end,
        ANSWERS,
        Some((&plora, crm)),
        normalizer,
    )
    .expect("loss");
    let total = f64::from(host(parts.total.clone())[0]);
    let grads = GradientsParams::from_grads(parts.total.backward(), &plora);
    let weight_id = plora.crm_logit_weight.as_ref().expect("fused").id;
    let w_grad = f64::from(host(grads.get::<1>(weight_id).expect("w has a gradient"))[0]);

    let (mut loss, mut gradient) = (0.0f64, 0.0f64);
    for (index, row) in rows.iter().enumerate() {
        let r_c_row = r_c.clone().narrow(0, index, 1);
        let difference = answer_difference(&llm, &plora, r_c_row, &row.prompt, &device);
        let z = difference + f64::from(w) * f64::from(crm_logits[index]);
        let s = if row.target[0] == ANSWERS.yes {
            1.0
        } else {
            -1.0
        };
        loss += (1.0 + (-s * z).exp()).ln();
        gradient += -s * f64::from(crm_logits[index]) / (1.0 + (s * z).exp());
    }
    let (loss, gradient) = (loss / normalizer, gradient / normalizer);
    eprintln!("fused loss {total:.7} vs {loss:.7}; dL/dw {w_grad:.7} vs {gradient:.7}");
    assert_eq!(parts.terms_per_row, 1);
    assert_eq!(parts.token_nll.len(), rows.len());
    assert!((total - loss).abs() < 1e-5, "{total} vs {loss}");
    assert!((w_grad - gradient).abs() < 1e-5, "{w_grad} vs {gradient}");
    assert!(
        gradient.abs() > 1e-3,
        "the check is not vacuous: {gradient}"
    );
}

/// (id, values) of every float parameter.
fn values_by_id(plora: &Plora) -> Vec<(ParamId, Vec<f32>)> {
    struct Collect(Vec<(ParamId, Vec<f32>)>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push((param.id, host(param.val())));
        }
    }
    let mut collect = Collect(Vec::new());
    plora.visit(&mut collect);
    collect.0
}

/// Σ of every parameter element, so every gradient element is exactly 1.
fn sum_of_parameters(plora: &Plora) -> Tensor<1> {
    struct Sum(Option<Tensor<1>>);
    impl ModuleVisitor for Sum {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let sum = param.val().sum();
            self.0 = Some(match self.0.take() {
                Some(total) => total + sum,
                None => sum,
            });
        }
    }
    let mut sum = Sum(None);
    plora.visit(&mut sum);
    sum.0.expect("parameters")
}

/// AdamW's first step moves every element by rate · g / (|g| + ε) = rate / (1 + ε) for
/// g = 1: the gates by the gate rate, every other parameter (banks, w) by the base rate,
/// both on the linear schedule (step 1 of 4: × 0.75).
#[test]
fn the_gate_learning_rate_reaches_the_gates_and_nothing_else() {
    let device = Device::flex().autodiff();
    let llama = tiny_llama_config();
    let plora = gated(true).init_seeded(&llama, 3, &device).expect("valid");
    let config = FinetuneConfig {
        learning_rate: 1e-3,
        gate_learning_rate: Some(2e-2),
        adam_epsilon: 1e-5,
        loss: TrainLoss::YesNo,
        plora: Some(gated(true)),
        ..tiny_config(FinetuneMode::RecloraFused, CRM_DIM)
    };
    config.validate().expect("valid config");
    let gates = gate_param_ids(&plora);
    // 2 layers × 2 projections × (LayerNorm γ, β + 2 linear layers × weight and bias).
    assert_eq!(gates.len(), llama.num_layers * TARGETS.len() * 6);
    let before = values_by_id(&plora);
    let grads = GradientsParams::from_grads(sum_of_parameters(&plora).backward(), &plora);
    let rates = step_rates(&config, &plora, 1, 4);
    let mut optimizer = AdamWConfig::new()
        .with_weight_decay(0.0)
        .with_epsilon(config.adam_epsilon)
        .init();
    let after = values_by_id(&optimizer.step(rates, plora, grads));
    let expected = |rate: f64| 0.75 * rate / (1.0 + f64::from(config.adam_epsilon));
    let (mut gate_elements, mut other_elements) = (0, 0);
    for ((id, old), (same_id, new)) in before.iter().zip(&after) {
        assert_eq!(id, same_id);
        let is_gate = gates.contains(id);
        let want = expected(if is_gate { 2e-2 } else { 1e-3 });
        for (&o, &n) in old.iter().zip(new) {
            let moved = f64::from(o) - f64::from(n);
            assert!(
                (moved - want).abs() < 2e-6,
                "gate {is_gate}: {moved} vs {want}"
            );
        }
        if is_gate {
            gate_elements += old.len();
        } else {
            other_elements += old.len();
        }
    }
    assert!(gate_elements > 0 && other_elements > 0);

    // Without --gate-lr every parameter takes the base rate; a gate rate needs gates.
    let plain = FinetuneConfig {
        gate_learning_rate: None,
        ..config.clone()
    };
    let plora = gated(false).init_seeded(&llama, 3, &device).expect("valid");
    let before = values_by_id(&plora);
    let grads = GradientsParams::from_grads(sum_of_parameters(&plora).backward(), &plora);
    let mut optimizer = AdamWConfig::new()
        .with_weight_decay(0.0)
        .with_epsilon(config.adam_epsilon)
        .init();
    let after = values_by_id(&optimizer.step(step_rates(&plain, &plora, 1, 4), plora, grads));
    for ((_, old), (_, new)) in before.iter().zip(&after) {
        for (&o, &n) in old.iter().zip(new) {
            assert!((f64::from(o) - f64::from(n) - expected(1e-3)).abs() < 2e-6);
        }
    }
    let static_lora = FinetuneConfig {
        plora: Some(PloraConfig::static_lora(2, 4.0, TARGETS.to_vec())),
        loss: TrainLoss::Lm,
        ..tiny_config(FinetuneMode::LoraLast, CRM_DIM)
    };
    let refused = FinetuneConfig {
        gate_learning_rate: Some(1e-2),
        ..static_lora.clone()
    };
    assert!(matches!(
        refused.validate(),
        Err(FinetuneError::NoGates {
            option: "--gate-lr",
            ..
        })
    ));
    // The fused logit is trained through the loss that sees it.
    let fused_lm = FinetuneConfig {
        loss: TrainLoss::Lm,
        ..config
    };
    assert!(matches!(
        fused_lm.validate(),
        Err(FinetuneError::FusedNeedsYesNoLoss { .. })
    ));
}

/// `[rows, cols]` values of a 2-d parameter.
fn matrix(param: &Param<Tensor<2>>) -> (Vec<f32>, [usize; 2]) {
    let tensor = param.val();
    let dims = tensor.dims();
    (host(tensor), dims)
}

/// A static LoRA with random A and B of the tiny model.
fn static_source(llama: &LlamaConfig, device: &Device) -> Plora {
    let mut source = PloraConfig::static_lora(2, 4.0, TARGETS.to_vec())
        .init_seeded(llama, 4, device)
        .expect("valid");
    randomize_b(&mut source, 8, device);
    source
}

#[test]
fn the_warm_start_copies_the_static_lora_into_every_expert() {
    let device = Device::flex();
    let llama = tiny_llama_config();
    let source = static_source(&llama, &device);
    let target = gated(false).init_seeded(&llama, 1, &device).expect("valid");
    let gates_before: Vec<Vec<f32>> = values_by_id(&target)
        .into_iter()
        .filter(|(id, _)| gate_param_ids(&target).contains(id))
        .map(|(_, v)| v)
        .collect();
    let (experts, rank) = (3, 2);

    // No noise: A_cat's column block k and B_cat's row block k are exactly A and B.
    let exact = warm_started(target.clone(), &source, 0.0, 9);
    for (layer, source_layer) in exact.layers.iter().zip(&source.layers) {
        for (projection, source_projection) in
            layer.projections.iter().zip(&source_layer.projections)
        {
            let (a, [d_in, width]) = matrix(&projection.bank.a);
            let (b, [height, d_out]) = matrix(&projection.bank.b);
            let (sa, [_, r]) = matrix(&source_projection.bank.a);
            let (sb, _) = matrix(&source_projection.bank.b);
            assert_eq!((width, height, r), (experts * rank, experts * rank, rank));
            for k in 0..experts {
                for i in 0..d_in {
                    for j in 0..rank {
                        assert_eq!(a[i * width + k * rank + j], sa[i * rank + j]);
                    }
                }
                for i in 0..rank {
                    for j in 0..d_out {
                        assert_eq!(b[(k * rank + i) * d_out + j], sb[i * d_out + j]);
                    }
                }
            }
            // So any gate weights (rows summing to 1) give the static LoRA's correction.
            let mut stream = SplitMix64::new(2);
            let x = Tensor::<3>::from_data(
                TensorData::new(random_matrix(2 * 3, d_in, 1.0, &mut stream), [2, 3, d_in]),
                &device,
            );
            let alpha = Tensor::<2>::from_data(
                TensorData::new(vec![0.2f32, 0.5, 0.3, 0.9, 0.05, 0.05], [2, experts]),
                &device,
            );
            let mixed = projection
                .bank
                .delta(x.clone(), alpha, MixtureForm::SumOfProducts, 2.0);
            let single = source_projection.bank.delta(
                x,
                Tensor::ones([2, 1], &device),
                MixtureForm::SumOfProducts,
                2.0,
            );
            let worst = host(mixed)
                .iter()
                .zip(host(single))
                .map(|(m, s)| (m - s).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "{worst}");
        }
    }

    // With noise 0.05: each copy is A (or B) plus N(0, (0.05 · RMS)²), a different draw
    // for every expert; the gates are untouched.
    let noisy = warm_started(target, &source, 0.05, 9);
    let mut relative = Vec::new();
    for (layer, source_layer) in noisy.layers.iter().zip(&source.layers) {
        for (projection, source_projection) in
            layer.projections.iter().zip(&source_layer.projections)
        {
            let (a, [d_in, width]) = matrix(&projection.bank.a);
            let (sa, _) = matrix(&source_projection.bank.a);
            let rms =
                (sa.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / sa.len() as f64).sqrt();
            for k in 0..experts {
                for i in 0..d_in {
                    for j in 0..rank {
                        let copy = f64::from(a[i * width + k * rank + j]);
                        relative.push((copy - f64::from(sa[i * rank + j])) / rms);
                    }
                }
            }
            let expert = |k: usize| {
                (0..d_in)
                    .map(|i| a[i * width + k * rank])
                    .collect::<Vec<_>>()
            };
            assert_ne!(expert(0), expert(1), "experts get different noise");
        }
    }
    let n = relative.len() as f64;
    let mean = relative.iter().sum::<f64>() / n;
    let std = (relative.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    eprintln!("warm-start noise over {n} elements: mean {mean:.4}, std {std:.4} (want 0.05)");
    // n = 2 layers × 2 projections × 3 experts × 16 × 2 = 384: the std of the estimate
    // is 0.05 / √(2n) ≈ 0.0018, of the mean 0.0026.
    assert!((std - 0.05).abs() < 0.01, "{std}");
    assert!(mean.abs() < 0.01, "{mean}");
    let gates_after: Vec<Vec<f32>> = values_by_id(&noisy)
        .into_iter()
        .filter(|(id, _)| gate_param_ids(&noisy).contains(id))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(gates_before, gates_after);
}

#[test]
fn a_warm_start_run_must_be_a_finished_static_lora_of_the_same_shape() {
    let root = TempDir::new("warm-start");
    let device = Device::flex();
    let llama = tiny_llama_config();
    let target = gated(false).init_seeded(&llama, 1, &device).expect("valid");
    let folder_of = |name: &str, mode: FinetuneMode, plora: PloraConfig| {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        let config = FinetuneConfig {
            plora: Some(plora),
            loss: TrainLoss::Lm,
            ..tiny_config(mode, CRM_DIM)
        };
        write_json(&RunFolder::new(&dir).config(), &config).expect("config");
        dir
    };
    let problem = |run: std::path::PathBuf| match load_static_lora(
        &WarmStart { run, noise: 0.0 },
        &target,
        &llama,
        &device,
    ) {
        Err(FinetuneError::WarmStart { reason, .. }) => reason,
        other => panic!("{other:?}"),
    };
    let gated_run = folder_of("gated", FinetuneMode::Reclora, gated(false));
    assert_eq!(
        problem(gated_run),
        WarmStartProblem::NotStatic(FinetuneMode::Reclora)
    );
    let wide = folder_of(
        "rank4",
        FinetuneMode::LoraLast,
        PloraConfig::static_lora(4, 4.0, TARGETS.to_vec()),
    );
    assert!(matches!(problem(wide), WarmStartProblem::Shape(_)));
    let unfinished = folder_of(
        "unfinished",
        FinetuneMode::LoraRetrieved,
        PloraConfig::static_lora(2, 4.0, TARGETS.to_vec()),
    );
    assert_eq!(problem(unfinished.clone()), WarmStartProblem::Unfinished);
    // Finished: its adapter comes back as saved.
    let source = static_source(&llama, &device);
    source
        .clone()
        .save(&RunFolder::new(&unfinished).adapter())
        .expect("save");
    let loaded = load_static_lora(
        &WarmStart {
            run: unfinished,
            noise: 0.0,
        },
        &target,
        &llama,
        &device,
    )
    .expect("loads");
    let same = values_by_id(&loaded)
        .into_iter()
        .map(|(_, v)| v)
        .eq(values_by_id(&source).into_iter().map(|(_, v)| v));
    assert!(same);
    // A static LoRA has no gates to warm-start.
    let static_run = FinetuneConfig {
        warm_start: Some(WarmStart {
            run: root.join("gated"),
            noise: 0.01,
        }),
        plora: Some(PloraConfig::static_lora(2, 4.0, TARGETS.to_vec())),
        loss: TrainLoss::Lm,
        ..tiny_config(FinetuneMode::LoraLast, CRM_DIM)
    };
    assert!(matches!(
        static_run.validate(),
        Err(FinetuneError::NoGates {
            option: "--warm-start",
            ..
        })
    ));
}

/// scripts' splitmix64 partial Fisher–Yates in Python (derive_seed(1, 5 << 32), draws
/// `next % bound`) gives these rows; smaller samples of one seed nest in larger ones.
#[test]
fn the_evaluation_sample_is_seeded_nested_and_spread() {
    assert_eq!(
        eval_sample(97_002, 8, 1),
        [17496, 19859, 28054, 35335, 51782, 55558, 77065, 86183]
    );
    assert_eq!(eval_sample(100, 6, 1), [2, 16, 42, 43, 50, 62]);
    // The few-shot subset's stream is another one.
    assert_eq!(few_shot_subset(100, 6, 1), [12, 48, 71, 91, 96, 97]);
    let large = eval_sample(97_002, 2_000, 1);
    assert_eq!(large, eval_sample(97_002, 2_000, 1));
    assert!(large.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
    let small = eval_sample(97_002, 500, 1);
    assert!(small.iter().all(|row| large.binary_search(row).is_ok()));
    assert_ne!(eval_sample(97_002, 500, 2), small);
    // Across the whole split, not its first rows: every tenth holds 10 % ± 3 % of it.
    for decile in 0..10 {
        let (from, to) = (decile * 9_700, (decile + 1) * 9_700);
        let inside = large.iter().filter(|&&r| (from..to).contains(&r)).count();
        assert!((140..=260).contains(&inside), "decile {decile}: {inside}");
    }
    assert_eq!(eval_sample(5, 10, 1), [0, 1, 2, 3, 4]);
}

/// RecLoRA-fused's `eval --valid-sample`: the sampled valid rows, each P(yes) =
/// σ((logit_yes − logit_no) + w · DIN's logit) of the prompt scored alone, and the metrics
/// file of the valid split.
#[test]
fn the_fused_evaluation_scores_the_seeded_valid_sample_with_dins_logit() {
    let root = TempDir::new("fused-eval");
    let data = synthetic_dataset(&root);
    let device = Device::flex();
    let llm = tiny_llm(&device);
    let tokenizer = byte_tokenizer();
    let crm = tiny_crm(&data, &device);
    let config = tiny_config(FinetuneMode::RecloraFused, crm.representation_dim());
    let mut plora = config
        .plora
        .as_ref()
        .expect("adapter")
        .init_seeded(&llm.config, 2, &device)
        .expect("valid");
    randomize_b(&mut plora, 6, &device);
    let w = 0.75f32;
    plora.crm_logit_weight = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(vec![w], [1]),
        &device,
    )));
    let retriever = EarliestRetriever;
    let inputs = EvalInputs {
        data: &data,
        llm: &llm,
        tokenizer: &tokenizer,
        adapter: Some(&plora),
        crm: Some(&crm),
        retriever: Some(&retriever),
    };
    let valid_len = data.split_len(Split::Valid);
    let rows = EvalRows {
        split: Split::Valid,
        selection: RowSelection::Sample { rows: 5, seed: 3 },
    };
    let options = EvalOptions {
        rows,
        batch: 2,
        stop_after_rows: None,
        progress: false,
    };
    let run = root.join("run");
    std::fs::create_dir_all(&run).expect("dir");
    let summary = evaluate(inputs, &config, &run, options).expect("evaluates");
    let valid = summary.valid_metrics.expect("valid metrics");
    assert!(summary.metrics.is_none() && !run.join("metrics.json").exists());
    assert!(run.join("metrics-valid.json").is_file());
    assert_eq!(valid.valid.n, 5);
    assert_eq!(valid.crm_logit_weight, Some(w));
    let scored = read_scores(&run.join("scores-valid.csv")).expect("scores");
    let wanted = eval_sample(valid_len, 5, 3);
    assert_eq!(
        scored.iter().map(|s| s.row).collect::<Vec<_>>(),
        wanted,
        "exactly the seeded rows"
    );
    let encoder = PromptEncoder::new(&tokenizer, PromptTemplate::ChatMl).expect("encoder");
    let selection = config.mode.history(config.history_k);
    for row in &scored {
        let prompt = encoder
            .prompts(&data, Split::Valid, &[row.row], selection, Some(&retriever))
            .expect("prompt")
            .remove(0);
        let (r_c, logit) = crm
            .representations_and_logits(&data, Split::Valid, &[row.row], &device)
            .expect("DIN");
        let difference = answer_difference(&llm, &plora, r_c, &prompt, &device);
        let z = difference + f64::from(w) * f64::from(host(logit)[0]);
        let want = 1.0 / (1.0 + (-z).exp());
        assert!(
            (f64::from(row.p_yes) - want).abs() < 1e-5,
            "row {}: {} vs {want}",
            row.row,
            row.p_yes
        );
        assert_eq!(
            row.label,
            data.sample(Split::Valid, row.row).expect("row").label
        );
    }
    // Train rows are never scored.
    let train = EvalOptions {
        rows: EvalRows {
            split: Split::Train,
            selection: RowSelection::First { rows: 3 },
        },
        ..options
    };
    assert!(matches!(train.validate(), Err(FinetuneError::EvalOnTrain)));
}
