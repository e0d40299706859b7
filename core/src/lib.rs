//! reclora-core: the on-device RecLoRA runtime and the model definitions shared with
//! training.
//!
//! - [`bundle`]: the exported on-device bundle (module tensors as safetensors).
//! - [`device`]: run-time backend choice (flex CPU, wgpu, cuda).
//! - [`dropout`]: dropout with seeded, per-thread host masks on CPU devices.
//! - [`gguf`]: a bounds-checked GGUF reader with dequantization.
//! - [`tokenizer`]: byte-level BPE tokenizers and prompt templates.
//! - [`llm`]: the frozen Llama-family LLM and P(yes) scoring.
//! - [`crm`]: conventional recommenders (DIN) whose hidden vector drives the gates.
//! - [`prompt`]: ReLLa-style prompts from a profile and a history.
//! - [`plora`]: personalized LoRA (meta-LoRAs mixed per sample by CRM-driven gates).
//! - [`history`]: the on-device, append-only store of the user's history.
//! - [`init`]: seeded host-side parameter initialization (never burn's global RNG).
//! - [`quant`]: block-quantized weights (Q8/Q4) multiplied in place from an mmap.
//! - [`runtime`]: the on-device [`runtime::Recommender`]: bundle + local history → scores.

pub mod bundle;
pub mod crm;
pub mod device;
pub mod dropout;
pub mod gguf;
pub mod history;
pub mod init;
pub mod llm;
pub mod plora;
pub mod prompt;
pub mod quant;
pub mod rng;
pub mod runtime;
pub mod tokenizer;

pub use device::{BackendKind, BackendUnavailable, DeviceError, is_plain_cpu};
pub use llm::{LanguageModel, LlamaConfig, LlamaModel, LlmError, YesNoScore};
pub use plora::{LoraContext, Plora, PloraConfig, PloraError};
