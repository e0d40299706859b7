//! Evaluation: per-row P(yes) against single-prompt scoring, and a stopped evaluation that
//! continues to the metrics of an uninterrupted one.

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use reclora_core::YesNoScore;
use reclora_core::plora::Plora;
use reclora_core::tokenizer::PromptTemplate;

use super::fixture::{
    EarliestRetriever, TempDir, byte_tokenizer, synthetic_dataset, tiny_config, tiny_crm, tiny_llm,
};
use crate::data::Split;
use crate::finetune::config::FinetuneMode;
use crate::finetune::encode::PromptEncoder;
use crate::finetune::eval::{EvalInputs, EvalOptions, EvalRows, evaluate};
use crate::finetune::loss::batch_adapter;
use crate::finetune::random::SplitMix64;
use crate::metrics;
use crate::scores::read_scores;

#[test]
fn a_stopped_evaluation_continues_to_the_uninterrupted_metrics() {
    let root = TempDir::new("eval");
    let data = synthetic_dataset(&root);
    let device = Device::flex();
    let llm = tiny_llm(&device);
    let tokenizer = byte_tokenizer();
    let crm = tiny_crm(&data, &device);
    let config = tiny_config(FinetuneMode::Reclora, crm.representation_dim());
    // A trained-looking adapter: random B so it changes the scores.
    let mut plora: Plora = config
        .plora
        .as_ref()
        .expect("adapter")
        .init(&llm.config, &device)
        .expect("valid");
    let mut stream = SplitMix64::new(3);
    for projection in plora
        .layers
        .iter_mut()
        .flat_map(|l| l.projections.iter_mut())
    {
        let shape = projection.bank.b.val().dims();
        let values: Vec<f32> = (0..shape[0] * shape[1])
            .map(|_| stream.symmetric(0.5))
            .collect();
        projection.bank.b =
            Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), &device));
    }
    let retriever = EarliestRetriever;
    let inputs = EvalInputs {
        data: &data,
        llm: &llm,
        tokenizer: &tokenizer,
        adapter: Some(&plora),
        crm: Some(&crm),
        retriever: Some(&retriever),
    };
    let test_rows = data.split_len(Split::Test);
    assert_eq!(test_rows, 8);
    let options = |stop| EvalOptions {
        rows: EvalRows::first_test(100),
        batch: 2,
        stop_after_rows: stop,
        progress: false,
    };

    let stopped = root.join("stopped");
    std::fs::create_dir_all(&stopped).expect("dir");
    let first = evaluate(inputs, &config, &stopped, options(Some(3))).expect("first part");
    assert_eq!(
        (first.scored_now, first.scored_total),
        (4, 4),
        "stops at a batch boundary"
    );
    assert!(first.metrics.is_none() && !stopped.join("metrics.json").exists());
    let rest = evaluate(inputs, &config, &stopped, options(None)).expect("the rest");
    assert_eq!(
        (rest.scored_now, rest.scored_total),
        (4, 8),
        "only the missing rows"
    );
    let resumed = rest.metrics.expect("metrics once all rows are in");

    let whole_dir = root.join("whole");
    std::fs::create_dir_all(&whole_dir).expect("dir");
    let whole = evaluate(inputs, &config, &whole_dir, options(None)).expect("whole");
    let whole = whole.metrics.expect("metrics");
    eprintln!(
        "eval: resumed auc {:.6} logloss {:.6}; uninterrupted auc {:.6} logloss {:.6}",
        resumed.test.auc, resumed.test.logloss, whole.test.auc, whole.test.logloss
    );
    assert_eq!(resumed.test.n, 8);
    assert!((resumed.test.auc - whole.test.auc).abs() < 1e-9);
    assert!((resumed.test.logloss - whole.test.logloss).abs() < 1e-6);
    assert!(resumed.valid.is_none() && resumed.test_first_30000.is_none());
    assert_eq!(
        (resumed.mode, resumed.history_k, resumed.train_size),
        (FinetuneMode::Reclora, 3, 12)
    );

    // Every row once, each equal to the prompt scored alone; metrics from those rows.
    let rows = read_scores(&stopped.join("scores.csv")).expect("scores");
    assert_eq!(
        rows.iter().map(|r| r.row).collect::<Vec<_>>(),
        (0..8).collect::<Vec<_>>()
    );
    let encoder = PromptEncoder::new(&tokenizer, PromptTemplate::ChatMl).expect("encoder");
    let answers = encoder.answers();
    let selection = config.mode.history(config.history_k);
    let mut worst = 0.0f64;
    for scored in &rows {
        let prompt = encoder
            .prompts(
                &data,
                Split::Test,
                &[scored.row],
                selection,
                Some(&retriever),
            )
            .expect("prompt");
        let r_c = crm
            .representations(&data, Split::Test, &[scored.row], &device)
            .expect("R_c");
        let adapter = batch_adapter(&plora, Some(&r_c), 1, &device).expect("fits");
        let logits = llm
            .last_position_logits_adapted(&prompt, &[answers.yes, answers.no], 2, Some(&adapter))
            .expect("logits");
        let alone = YesNoScore::from_logits(logits[0][0], logits[0][1], prompt[0].len());
        worst = worst.max(f64::from((alone.p_yes - scored.p_yes).abs()));
        assert_eq!(
            scored.label,
            data.sample(Split::Test, scored.row).expect("row").label
        );
    }
    eprintln!("eval: max |P(yes) batched − alone| {worst:.1e}");
    assert!(worst < 1e-5, "{worst}");
    let labels: Vec<bool> = rows.iter().map(|r| r.label).collect();
    let probs: Vec<f32> = rows.iter().map(|r| r.p_yes).collect();
    assert_eq!(
        metrics::auc(&labels, &probs).expect("auc"),
        resumed.test.auc
    );
    assert!(labels.contains(&true) && labels.contains(&false));
}
