//! The answer-token loss against f64 loops over a plain per-row forward; masking; and
//! gradient accumulation against one big batch.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use reclora_core::PloraConfig;
use reclora_core::plora::{LoraContext, Plora, ProjectionKind};
use reclora_core::tokenizer::PromptTemplate;

use super::fixture::{
    TempDir, VOCAB, byte_tokenizer, max_param_diff, param_values, synthetic_dataset, tiny_crm,
    tiny_llm,
};
use crate::data::Split;
use crate::finetune::config::TrainLoss;
use crate::finetune::encode::{AnswerTokens, PromptEncoder, SupervisedRow};
use crate::finetune::loss::{answer_loss, answer_loss_parts, batch_adapter, supervised_targets};
use crate::finetune::random::SplitMix64;
use crate::finetune::step::{MicroBatch, StepEncoding, step_gradients};
use reclora_core::prompt::HistorySelection;

const CRM_DIM: usize = 5;
const ANSWERS: AnswerTokens = AnswerTokens {
    yes: 260,
    no: 261,
    end: 2,
};

fn gated_config() -> PloraConfig {
    PloraConfig {
        num_meta: 3,
        rank: 2,
        alpha: 4.0,
        gate_hidden: 6,
        gate_dropout: 0.0,
        crm_dim: CRM_DIM,
        targets: vec![ProjectionKind::Q, ProjectionKind::V, ProjectionKind::Down],
        ..PloraConfig::default()
    }
}

/// A PLoRA whose B matrices are random too, so the adapter changes the outputs.
fn random_adapter(device: &Device) -> Plora {
    let llm = super::fixture::tiny_llama_config();
    let mut plora = gated_config().init_seeded(&llm, 17, device).expect("valid");
    let mut stream = SplitMix64::new(11);
    for projection in plora
        .layers
        .iter_mut()
        .flat_map(|l| l.projections.iter_mut())
    {
        let shape = projection.bank.b.val().dims();
        let values: Vec<f32> = (0..shape[0] * shape[1])
            .map(|_| stream.symmetric(0.4))
            .collect();
        projection.bank.b =
            Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device));
    }
    plora
}

fn representations(rows: usize, device: &Device) -> Tensor<2> {
    let mut stream = SplitMix64::new(23);
    let values: Vec<f32> = (0..rows * CRM_DIM).map(|_| stream.symmetric(2.0)).collect();
    Tensor::from_data(TensorData::new(values, [rows, CRM_DIM]), device)
}

/// Four rows of different lengths and labels; token ids below the byte range's end.
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

fn host(tensor: Tensor<2>) -> Vec<f32> {
    tensor.into_data().try_into_vec::<f32>().expect("f32")
}

#[test]
fn answer_loss_equals_a_hand_computation() {
    let device = Device::flex();
    let llm = tiny_llm(&device);
    let plora = random_adapter(&device);
    let rows = rows();
    let r_c = representations(rows.len(), &device);
    let adapter = batch_adapter(&plora, Some(&r_c), rows.len(), &device).expect("fits");
    let normalizer = 2.0 * rows.len() as f64;
    let harness = answer_loss(&llm, Some(&adapter), &rows, ANSWERS.end, normalizer).expect("loss");
    let harness = f64::from(harness.into_data().try_into_vec::<f32>().expect("f32")[0]);

    let parts =
        answer_loss_parts(&llm, Some(&adapter), &rows, ANSWERS.end, normalizer).expect("parts");

    // Reference: every row alone (no padding), every position's logits, then the two
    // answer positions picked by hand and the cross-entropy in f64.
    let mut total = 0.0f64;
    let mut answer_total = 0.0f64;
    for (index, row) in rows.iter().enumerate() {
        let r_c_row = r_c.clone().narrow(0, index, 1);
        let adapter = batch_adapter(&plora, Some(&r_c_row), 1, &device).expect("fits");
        let mut input: Vec<i64> = row.prompt.iter().map(|&id| i64::from(id)).collect();
        input.push(i64::from(row.target[0]));
        let len = input.len();
        let tokens = Tensor::from_data(TensorData::new(input, [1, len]), &device);
        let mask = reclora_core::llm::AttentionMask::causal(1, len, 0);
        let hidden = llm.forward_hidden(tokens, &mask, None, Some(&adapter));
        let normed = llm.norm.forward(hidden.reshape([len, 16]));
        let logits = host(llm.full_logits(normed));
        let prompt_len = row.prompt.len();
        let answer = if row.target[0] == ANSWERS.yes {
            ANSWERS.yes
        } else {
            ANSWERS.no
        };
        for (position, target) in [(prompt_len - 1, answer), (prompt_len, ANSWERS.end)] {
            let z = &logits[position * VOCAB..(position + 1) * VOCAB];
            let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let sum: f64 = z.iter().map(|&v| (f64::from(v) - max).exp()).sum();
            let nll = max + sum.ln() - f64::from(z[target as usize]);
            total += nll;
            if target != ANSWERS.end {
                answer_total += nll;
            }
        }
    }
    let reference = total / normalizer;
    assert_eq!(parts.token_nll.len(), 2 * rows.len());
    assert!(
        (parts.answer_nll_sum() - answer_total).abs() < 1e-4,
        "answer part {} vs {answer_total}",
        parts.answer_nll_sum()
    );
    eprintln!("answer loss: harness {harness:.7}, f64 reference {reference:.7}");
    assert!(reference > 1.0, "a random model is unsure: {reference}");
    assert!(
        (harness - reference).abs() < 1e-5,
        "{harness} vs {reference}"
    );
}

#[test]
fn only_the_answer_and_end_tokens_are_supervised() {
    let root = TempDir::new("mask");
    let data = synthetic_dataset(&root);
    let tokenizer = byte_tokenizer();
    let encoder = PromptEncoder::new(&tokenizer, PromptTemplate::ChatMl).expect("encoder");
    assert_eq!(
        encoder.answers(),
        ANSWERS,
        "Yes, No, <|im_end|> of the byte vocabulary"
    );
    let selection = HistorySelection::LastK(3);
    let rows = encoder
        .supervised_rows(&data, Split::Train, &[0, 1, 2, 3], selection, None)
        .expect("rows");
    let prompts = encoder
        .prompts(&data, Split::Train, &[0, 1, 2, 3], selection, None)
        .expect("prompts");
    let header = tokenizer.encode("<|im_start|>assistant\n").expect("ids");
    for (index, (row, prompt)) in rows.iter().zip(&prompts).enumerate() {
        let label = data.sample(Split::Train, index).expect("sample").label;
        assert_eq!(&row.prompt, prompt);
        assert!(
            row.prompt.ends_with(&header),
            "prompt ends with the assistant header"
        );
        let answer = if label { 260 } else { 261 };
        assert_eq!(row.target, [answer, 2]);
        let len = row.prompt.len();
        assert_eq!(row.supervised(), [(len - 1, answer), (len, 2)]);
        let mut input = row.prompt.clone();
        input.push(answer);
        assert_eq!(row.input(), input, "the end token is predicted, never read");
        // The other label changes the answer target and nothing else.
        let flipped = SupervisedRow::new(row.prompt.clone(), !label, ANSWERS);
        assert_eq!(flipped.prompt, row.prompt);
        assert_eq!(flipped.target[1], row.target[1]);
        assert_ne!(flipped.target[0], row.target[0]);
    }
    // Two targets per row, at the flat indices of a right-padded batch.
    let seq = rows.iter().map(|r| r.prompt.len() + 1).max().expect("rows");
    let targets = supervised_targets(&rows, seq);
    assert_eq!(targets.len(), 2 * rows.len());
    for (index, (row, pair)) in rows.iter().zip(targets.chunks(2)).enumerate() {
        let last = index * seq + row.prompt.len() - 1;
        assert_eq!(pair, [(last, row.target[0]), (last + 1, 2)]);
    }
}

#[test]
fn padding_and_other_rows_do_not_leak_into_a_row_loss() {
    // Right padding and batching must not change any row's two supervised terms: the
    // batch sum equals the sum of every row scored alone.
    let device = Device::flex();
    let llm = tiny_llm(&device);
    let plora = random_adapter(&device);
    let rows = rows();
    let r_c = representations(rows.len(), &device);
    let adapter = batch_adapter(&plora, Some(&r_c), rows.len(), &device).expect("fits");
    let sum = |rows: &[SupervisedRow], adapter: &LoraContext<'_>| {
        let loss = answer_loss(&llm, Some(adapter), rows, ANSWERS.end, 1.0).expect("loss");
        f64::from(loss.into_data().try_into_vec::<f32>().expect("f32")[0])
    };
    let full = sum(&rows, &adapter);
    // Per-row sums add up to the batch sum: padding and other rows' prompts do not leak in.
    let mut per_row = 0.0;
    for (index, row) in rows.iter().enumerate() {
        let r_c_row = r_c.clone().narrow(0, index, 1);
        let one = batch_adapter(&plora, Some(&r_c_row), 1, &device).expect("fits");
        per_row += sum(std::slice::from_ref(row), &one);
    }
    assert!((full - per_row).abs() < 1e-4, "{full} vs {per_row}");
}

/// Gradients of every float parameter of the adapter, in visit order.
fn gradient_values(plora: &Plora, grads: &GradientsParams) -> Vec<Vec<f32>> {
    struct Collect<'a>(&'a GradientsParams, Vec<Vec<f32>>);
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let grad = self
                .0
                .get::<D>(param.id)
                .expect("every adapter parameter has a gradient");
            self.1
                .push(grad.into_data().try_into_vec::<f32>().expect("f32"));
        }
    }
    let mut collect = Collect(grads, Vec::new());
    plora.visit(&mut collect);
    collect.1
}

#[test]
fn two_micro_batches_of_two_equal_one_batch_of_four() {
    let device = Device::flex().autodiff();
    let llm = tiny_llm(&device);
    let plora = random_adapter(&device);
    let rows = rows();
    let r_c = representations(rows.len(), &device);
    let micro = |range: std::ops::Range<usize>| MicroBatch {
        rows: rows[range.clone()].to_vec(),
        r_c: Some(r_c.clone().narrow(0, range.start, range.len())),
        crm_logits: None,
    };
    let encoding = StepEncoding {
        loss: TrainLoss::Lm,
        answers: ANSWERS,
        pad_id: ANSWERS.end,
    };
    let split_step =
        step_gradients(&llm, &plora, &[micro(0..2), micro(2..4)], encoding).expect("2×2");
    let whole_step = step_gradients(&llm, &plora, &[micro(0..4)], encoding).expect("1×4");
    assert!((split_step.answer_loss - whole_step.answer_loss).abs() < 1e-5);
    assert!(whole_step.answer_loss > 0.0 && whole_step.answer_loss.is_finite());
    let (loss_split, grads_split) = (split_step.loss, split_step.grads);
    let (loss_whole, grads_whole) = (whole_step.loss, whole_step.grads);
    let split = gradient_values(&plora, &grads_split);
    let whole = gradient_values(&plora, &grads_whole);
    let grad_diff = max_param_diff(&split, &whole);
    let grad_scale = whole
        .iter()
        .flatten()
        .map(|v| v.abs())
        .fold(0.0f32, f32::max);
    eprintln!(
        "accumulation: loss {loss_split:.7} vs {loss_whole:.7}, max grad diff {grad_diff:.2e} (max |grad| {grad_scale:.3})"
    );
    assert!((loss_split - loss_whole).abs() < 1e-6);
    assert!(grad_scale > 1e-3, "gradients are not trivially zero");
    assert!(grad_diff < 1e-5, "{grad_diff}");

    // And one AdamW step from either lands on the same weights. The first Adam step is
    // lr·g/(|g| + ε), whose slope at g ≈ 0 is lr/ε: ε = lr keeps rounding-level gradient
    // differences at rounding level in the weights.
    let step = |grads| {
        let mut optimizer = AdamWConfig::new().with_epsilon(1e-3).init();
        param_values(&optimizer.step(1e-3, plora.clone(), grads))
    };
    let update_diff = max_param_diff(&step(grads_split), &step(grads_whole));
    eprintln!("accumulation: max parameter difference after one step {update_diff:.2e}");
    assert!(update_diff < 1e-6, "{update_diff}");
}

#[test]
fn a_step_differentiates_the_adapter_only() {
    let root = TempDir::new("frozen");
    let data = synthetic_dataset(&root);
    let plain = Device::flex();
    let device = plain.clone().autodiff();
    let llm = tiny_llm(&device);
    let crm = tiny_crm(&data, &plain);
    let mut config = gated_config();
    config.crm_dim = crm.representation_dim();
    let plora = config.init(&llm.config, &device).expect("valid");
    let tokenizer = byte_tokenizer();
    let encoder = PromptEncoder::new(&tokenizer, PromptTemplate::ChatMl).expect("encoder");
    let indices = [0, 5, 9];
    let rows = encoder
        .supervised_rows(
            &data,
            Split::Train,
            &indices,
            HistorySelection::LastK(3),
            None,
        )
        .expect("rows");
    let r_c = crm
        .representations(&data, Split::Train, &indices, &device)
        .expect("R_c");
    let adapter = batch_adapter(&plora, Some(&r_c), rows.len(), &device).expect("fits");
    let loss = answer_loss(&llm, Some(&adapter), &rows, encoder.pad_id(), 6.0).expect("loss");
    let mut gradients = loss.backward();
    assert!(
        GradientsParams::from_module(&mut gradients, &llm).is_empty(),
        "LLM got gradients"
    );
    assert!(
        GradientsParams::from_module(&mut gradients, crm.din()).is_empty(),
        "DIN got gradients"
    );
    let adapter_grads = GradientsParams::from_module(&mut gradients, &plora);
    let adapter_params = param_values(&plora).len();
    eprintln!(
        "gradients: {} of {adapter_params} adapter tensors, none elsewhere",
        adapter_grads.len()
    );
    assert_eq!(
        adapter_grads.len(),
        adapter_params,
        "every adapter tensor gets a gradient"
    );
}
