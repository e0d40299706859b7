//! reclora-core: the on-device RecLoRA runtime and the model definitions shared with
//! training.
//!
//! - [`device`]: run-time backend choice (flex CPU, wgpu, cuda).
//! - [`gguf`]: a bounds-checked GGUF reader with dequantization.
//! - [`tokenizer`]: byte-level BPE tokenizers and prompt templates.
//! - [`llm`]: the frozen Llama-family LLM and P(yes) scoring.
//! - [`crm`]: conventional recommenders (DIN) whose hidden vector drives the gates.
//! - [`prompt`]: ReLLa-style prompts from a profile and a history.
//! - [`plora`]: personalized LoRA (meta-LoRAs mixed per sample by CRM-driven gates).
//! - [`quant`]: block-quantized weights (Q8/Q4) multiplied in place from an mmap.

pub mod crm;
pub mod device;
pub mod gguf;
pub mod llm;
pub mod plora;
pub mod prompt;
pub mod quant;
pub mod rng;
pub mod tokenizer;

pub use device::{BackendKind, BackendUnavailable};
pub use llm::{LanguageModel, LlamaConfig, LlamaModel, LlmError, YesNoScore};
pub use plora::{LoraContext, Plora, PloraConfig, PloraError};
