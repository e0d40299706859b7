//! One selector byte (see the crate docs) then safetensors bytes → `LlmFile::parse`
//! against the tiny LLM config it selects, and `load_module` into a tiny DIN and a tiny
//! PLoRA: each must return a typed error or a value, never panic.

#![no_main]

use std::sync::OnceLock;

use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;
use reclora_core::bundle::{LlmFile, llm_tensors, load_module};
use reclora_core::crm::Din;
use reclora_core::llm::WeightSource;
use reclora_core::plora::Plora;
use reclora_core_fuzz::{AlignedBytes, Selector, din_config, llm_config, plora_config};

/// Built once: `load_module` consumes its module, so each input gets a clone.
struct Modules {
    din: Din,
    plora: Plora,
}

fn modules() -> &'static Modules {
    static MODULES: OnceLock<Modules> = OnceLock::new();
    MODULES.get_or_init(|| {
        let device = Device::flex();
        Modules {
            din: din_config().init(&device),
            plora: plora_config()
                .init(&llm_config(), &device)
                .expect("the fixed PLoRA config fits the fixed LLM config"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else {
        return;
    };
    let selector = Selector::from_byte(selector);
    let bytes = AlignedBytes::new(file);
    let bytes = bytes.as_slice();

    let config = selector.llm_config();
    if let Ok(llm) = LlmFile::parse(bytes, &config, &selector.formats()) {
        // What building a model from the bundle does next: dequantize every weight.
        for tensor in llm_tensors(&config) {
            let loaded = llm.load(&tensor.name);
            assert!(
                matches!(loaded, Ok(Some(_))),
                "{}: a parsed file loads each weight",
                tensor.name
            );
        }
    }
    let modules = modules();
    // Errors are the expected outcome for almost every input; only a panic is a finding.
    let _ = load_module(modules.din.clone(), bytes);
    let _ = load_module(modules.plora.clone(), bytes);
});
