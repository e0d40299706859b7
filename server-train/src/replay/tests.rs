//! The CI run of the benchmark tool: a tiny reclora run exported as a q8 bundle, a replay
//! of its test users, and `reclora-bench` on a few requests in both gate modes, its
//! prompts file, zero-shot scores, `--compare` and `report`; bad inputs.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use reclora_bench::prompts::PromptsFile;
use reclora_bench::replay::Replay;
use reclora_bench::schema::{BenchReport, SCHEMA};
use reclora_bench::{BenchError, run_cli_to};
use reclora_core::LanguageModel;
use reclora_core::bundle::QuantScheme;

use super::build;
use crate::crm::{CrmTrainConfig, train_crm};
use crate::data::{DatasetName, PreparedDataset, Split};
use crate::export::export_bundle;
use crate::finetune::retriever::open_retriever;
use crate::finetune::tests::fixture::{
    TempDir, synthetic_dataset_sized, tiny_bundle_llama_config, tiny_config,
};
use crate::finetune::{FinetuneConfig, FinetuneMode, FrozenCrm, RunControl, TrainInputs, finetune};
use crate::parity::tests::{write_hf_folder, write_item_table};

/// A tiny fine-tuned reclora run and its dataset.
pub(crate) fn tiny_run(root: &TempDir) -> (PreparedDataset, PathBuf) {
    let data = synthetic_dataset_sized(root, 17);
    let crm_dir = root.join("din");
    let crm_config = CrmTrainConfig {
        epochs: 1,
        batch_size: 16,
        ..CrmTrainConfig::default()
    };
    train_crm(&data, &crm_config, &crm_dir, false, &Device::flex()).expect("DIN");
    let model_dir = root.join("tiny-llm");
    let llm_config = tiny_bundle_llama_config();
    write_hf_folder(&model_dir, &llm_config);
    let items_dir = root.join("items");
    write_item_table(&data, &items_dir, llm_config.hidden_size);
    let retriever = open_retriever(&items_dir, DatasetName::Ml1m).expect("retriever");
    let device = Device::flex().autodiff();
    let (llm, tokenizer) = LanguageModel::load(&model_dir, &device)
        .expect("tiny model")
        .into_parts();
    let crm = FrozenCrm::load(&crm_dir, &device).expect("DIN");
    let config = FinetuneConfig {
        model: model_dir,
        data: data.dir().to_path_buf(),
        crm: Some(crm_dir),
        items: Some(items_dir),
        train_size: 8,
        epochs: 1,
        micro_batch: 4,
        grad_accum: 1,
        ..tiny_config(FinetuneMode::Reclora, crm.representation_dim())
    };
    let run = root.join("reclora");
    let inputs = TrainInputs {
        data: &data,
        llm: &llm.no_grad(),
        tokenizer: &tokenizer,
        crm: Some(&crm),
        retriever: Some(retriever.as_ref()),
    };
    let control = RunControl {
        resume: false,
        stop_after_steps: None,
        progress: false,
    };
    finetune(inputs, &config, &run, control).expect("fine-tunes");
    (data, run)
}

/// Runs the tool in-process; its tables (timings) are returned, not printed, so the test's
/// output stays the same from run to run.
fn bench(args: &[&str]) -> Result<String, BenchError> {
    let mut out = Vec::new();
    run_cli_to(
        std::iter::once("reclora-bench").chain(args.iter().copied()),
        &mut out,
    )?;
    Ok(String::from_utf8(out).expect("utf-8 tables"))
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

#[test]
fn the_tool_runs_a_few_requests_on_a_tiny_bundle() {
    let root = TempDir::new("bench-tool");
    let (data, run) = tiny_run(&root);
    let bundle = root.join("bundle-q8");
    export_bundle(&run, QuantScheme::Q8, &bundle).expect("exports");

    // The replay: real test users, slates of their test rows plus fillers.
    let replay = build(data.dir(), 3, 4, 9).expect("replay");
    assert_eq!(replay.requests.len(), 3);
    let first = data.sample(Split::Test, 0).expect("row 0");
    let request = &replay.requests[0];
    assert_eq!(request.history.len(), first.history_len);
    assert!(
        request
            .candidates
            .iter()
            .all(|c| !request.history.iter().any(|e| e.item_id == c.item_id))
    );
    assert_eq!(request.candidates[0].label, Some(first.label));
    assert!(replay.requests.iter().all(|r| r.candidates.len() == 4));
    let replay_path = root.join("replay.json");
    replay.write(&replay_path).expect("write");
    assert_eq!(Replay::read(&replay_path).expect("read"), replay);

    let mut reports = Vec::new();
    for mode in ["per-sample", "per-user"] {
        let json = root.join(format!("{mode}.json"));
        bench(&[
            "--bundle",
            p(&bundle),
            "--replay",
            p(&replay_path),
            "--candidates",
            "4",
            "--requests",
            "3",
            "--warmup",
            "1",
            "--gate-mode",
            mode,
            "--prefill-tokens",
            "16",
            "--prefill-repeats",
            "1",
            "--threads",
            "2",
            "--scores",
            "--quiet",
            "--json",
            p(&json),
        ])
        .expect("runs");
        let report = BenchReport::read(&json).expect("schema");
        assert_eq!(report.schema, SCHEMA);
        assert_eq!(
            (report.engine.name.as_str(), report.variant.as_str()),
            ("reclora", mode)
        );
        assert_eq!(report.model.quant, "q8");
        assert_eq!(report.machine.threads, 2);
        let latency = report.latency.as_ref().expect("latency");
        assert_eq!(latency.requests, 3);
        assert!(
            latency.p50_ms > 0.0
                && latency.p50_ms <= latency.p95_ms
                && latency.p95_ms <= latency.p99_ms
        );
        assert!((latency.per_candidate_p50_ms - latency.p50_ms / 4.0).abs() < 1e-9);
        let scores = report.scores.as_ref().expect("scores");
        assert_eq!(scores.len(), 3 * 4);
        assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
        let open = report.open.as_ref().expect("open");
        assert!(open.warm_s > 0.0 && report.first_score_s.expect("first") > open.warm_s);
        let prefill = report.prefill.as_ref().expect("prefill");
        assert_eq!(prefill.tokens, 16);
        let memory = report.memory.as_ref().expect("memory");
        let mapped = memory.mapped_bytes.expect("smaps on Linux");
        assert!(mapped > 0 && memory.mapped_resident_bytes.expect("rss") <= mapped);
        assert!(memory.peak_rss_bytes > 0);
        let accuracy = report.accuracy.as_ref().expect("accuracy");
        let labelled: usize = replay
            .requests
            .iter()
            .map(|r| r.candidates.iter().filter(|c| c.label.is_some()).count())
            .sum();
        // Three timed requests over three users: each user once.
        assert_eq!(accuracy.labelled, labelled);
        reports.push((json, report));
    }
    // Per-user slates share one gate: not the per-sample scores.
    assert_ne!(reports[0].1.scores, reports[1].1.scores);

    // --llm-rerank 2: each slate's scores are its ranking's places, (4 − position) / 4.
    let reranked = root.join("rerank.json");
    bench(&[
        "--bundle",
        p(&bundle),
        "--replay",
        p(&replay_path),
        "--candidates",
        "4",
        "--requests",
        "3",
        "--warmup",
        "1",
        "--llm-rerank",
        "2",
        "--prefill-tokens",
        "0",
        "--scores",
        "--quiet",
        "--json",
        p(&reranked),
    ])
    .expect("reranked run");
    let report = BenchReport::read(&reranked).expect("schema");
    assert_eq!(report.variant, "per-sample-rerank2");
    for slate in report.scores.as_ref().expect("scores").chunks(4) {
        let mut places = slate.to_vec();
        places.sort_by(f32::total_cmp);
        assert_eq!(places, [0.25, 0.5, 0.75, 1.0], "{slate:?}");
    }

    // The prompts peers score, and the raw LLM's scores of them.
    let prompts_path = root.join("prompts.json");
    bench(&[
        "prompts",
        "--bundle",
        p(&bundle),
        "--replay",
        p(&replay_path),
        "--candidates",
        "4",
        "--requests",
        "3",
        "--warmup",
        "1",
        "--prefill-tokens",
        "16",
        "--out",
        p(&prompts_path),
    ])
    .expect("prompts");
    let prompts = PromptsFile::read(&prompts_path).expect("prompts file");
    assert_eq!(
        (
            prompts.requests.len(),
            prompts.warmup,
            prompts.prefill_ids.len()
        ),
        (4, 1, 16)
    );
    assert!(prompts.requests.iter().all(|r| r.per_sample.len() == 4));
    let zero = root.join("zero.json");
    bench(&[
        "zero-shot",
        "--prompts",
        p(&prompts_path),
        "--bundle",
        p(&bundle),
        "--json",
        p(&zero),
    ])
    .expect("zero-shot");
    let zero_report = BenchReport::read(&zero).expect("zero-shot report");
    assert_eq!(zero_report.variant, "zero-shot-per-sample");
    assert_eq!(zero_report.scores.as_ref().map(Vec::len), Some(12));

    // Ratios and the merged table.
    let files: Vec<&str> = reports.iter().map(|(path, _)| p(path)).collect();
    let ratios = bench(&["--compare", files[0], files[1]]).expect("compare");
    // One header, one separator, one row per report; the baseline's own ratios are 1.
    let lines: Vec<&str> = ratios.lines().collect();
    assert_eq!(lines.len(), 4, "{ratios}");
    let baseline: Vec<&str> = lines[2].split('|').map(str::trim).collect();
    assert_eq!((baseline[3], baseline[5]), ("1.00", "1.00"), "{ratios}");
    let perf = root.join("perf.md");
    std::fs::write(&perf, "# Performance\n").expect("write");
    bench(&["report", files[0], files[1], "--out", p(&perf)]).expect("report");
    let text = std::fs::read_to_string(&perf).expect("read");
    assert!(
        text.contains("reclora per-sample [1×]") && text.contains("reclora per-user [1×]"),
        "{text}"
    );
    assert!(text.starts_with("# Performance\n"), "{text}");
}

#[test]
fn bad_inputs_get_clear_errors() {
    let root = TempDir::new("bench-errors");
    let missing = root.join("no-bundle");
    let replay_path = root.join("replay.json");
    let empty = Replay {
        format: reclora_bench::replay::REPLAY_FORMAT.to_owned(),
        dataset: "ml-1m".into(),
        source: "x".into(),
        seed: 1,
        requests: Vec::new(),
    };
    empty.write(&replay_path).expect("write");
    let error =
        bench(&["--bundle", p(&missing), "--replay", p(&replay_path)]).expect_err("no bundle");
    assert!(matches!(error, BenchError::MissingBundle { .. }), "{error}");
    assert!(error.to_string().contains("no bundle at"), "{error}");

    // A folder with a manifest passes the bundle check; the empty replay is refused next.
    std::fs::create_dir_all(root.join("b")).expect("dir");
    std::fs::write(root.join("b/manifest.json"), "{}").expect("write");
    let error =
        bench(&["--bundle", p(&root.join("b")), "--replay", p(&replay_path)]).expect_err("empty");
    assert!(matches!(error, BenchError::EmptyReplay { .. }), "{error}");
    assert!(
        error.to_string().contains("the replay has no request"),
        "{error}"
    );

    let error = bench(&[
        "--bundle",
        p(&missing),
        "--replay",
        p(&replay_path),
        "--candidates",
        "0",
    ])
    .expect_err("zero");
    assert!(
        error
            .to_string()
            .contains("--candidates must be at least 1"),
        "{error}"
    );
    let error =
        bench(&["--bundle", p(&missing), "--gate-mode", "per-candidate"]).expect_err("bad value");
    assert!(matches!(error, BenchError::Usage(_)), "{error}");
    let error = bench(&["--replay", p(&replay_path)]).expect_err("no --bundle");
    assert!(
        error.to_string().contains("--bundle is required"),
        "{error}"
    );
    let error = bench(&["--compare", p(&replay_path), p(&replay_path)]).expect_err("not reports");
    assert!(matches!(error, BenchError::Version { .. }), "{error}");

    // The replay writer's own refusals.
    assert!(matches!(
        build(&missing, 0, 4, 1),
        Err(super::ReplayError::Zero { option: "users" })
    ));
}
