//! End-to-end tests across crates, in one binary so burn is linked once.

mod backend_parity;
mod llm_golden;

use std::sync::OnceLock;

use reclora_core::{BackendKind, LanguageModel};

/// The real SmolLM2 on the CPU backend, loaded once for every test in this binary.
pub fn cpu_smollm2() -> &'static LanguageModel {
    static MODEL: OnceLock<LanguageModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let device = BackendKind::Cpu.device().expect("cpu backend");
        LanguageModel::load(&reclora_tests::smollm2_gguf(), &device).expect("SmolLM2 loads")
    })
}
