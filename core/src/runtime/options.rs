//! How a [`super::Recommender`] runs.

use crate::history::HistoryOptions;
pub use crate::plora::GateMode;
use crate::quant::QuantKernel;

use super::error::RuntimeError;

/// Where the models run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// burn-flex on the CPU, in a pool of `threads` threads.
    Cpu {
        /// Worker threads for the matmuls.
        threads: usize,
    },
    /// The GPU through wgpu (Vulkan, Metal); falls back to the CPU, with the reason
    /// logged and kept, when this build or machine has no adapter.
    Wgpu,
    /// The GPU through CUDA (servers, the `cuda` feature); falls back to the CPU like
    /// [`Backend::Wgpu`] when this build or machine has no CUDA device.
    Cuda,
}

impl Default for Backend {
    fn default() -> Self {
        Self::Cpu {
            threads: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// Options of [`super::Recommender::open`].
#[derive(Debug, Clone)]
pub struct RecommenderOptions {
    /// Backend.
    pub backend: Backend,
    /// Gate mode; `None` (the default) serves the mode the bundle's adapter was trained
    /// for (`plora.gate_mode` in its manifest).
    pub gate_mode: Option<GateMode>,
    /// Prompts per LLM forward in per-sample mode. Per-user mode packs every candidate's
    /// suffix into as few forwards as its token budget allows
    /// ([`crate::llm::LlamaModel::last_position_logits_after`]).
    pub batch_size: usize,
    /// Most candidates one `score` / `rank` call accepts.
    pub max_candidates: usize,
    /// Hash every bundle file at open.
    pub verify_checksums: bool,
    /// Kernel of the quantized projections (CPU). q8 and q4 bundles always run the int8 GEMM
    /// on their packed blocks: `Dequant` (the default) on each input's Q8 blocks and their
    /// residual's (about 15-bit activations, within the q8 parity bound), `Int8` on the Q8
    /// blocks only (llama.cpp's 8-bit activations: about twice as fast, |ΔP| up to ~0.06).
    /// f16 bundles decode their rows (`Dequant`).
    pub kernel: QuantKernel,
    /// The history store's options.
    pub history: HistoryOptions,
    /// `rank` only: DIN (the bundle's CRM, microseconds a candidate) orders every
    /// candidate, and the LLM re-scores only DIN's best `n`; the rest follow in DIN's
    /// order with DIN's P(click) as their score. `None`: the LLM scores every candidate.
    pub llm_rerank: Option<usize>,
}

impl Default for RecommenderOptions {
    fn default() -> Self {
        Self {
            backend: Backend::default(),
            gate_mode: None,
            batch_size: 8,
            max_candidates: 1000,
            verify_checksums: false,
            kernel: QuantKernel::default(),
            history: HistoryOptions::default(),
            llm_rerank: None,
        }
    }
}

impl RecommenderOptions {
    /// Rejects zero sizes.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let sizes = [
            ("batch_size", self.batch_size),
            ("max_candidates", self.max_candidates),
        ];
        for (option, value) in sizes {
            if value == 0 {
                return Err(RuntimeError::ZeroOption { option });
            }
        }
        if self.llm_rerank == Some(0) {
            return Err(RuntimeError::ZeroOption {
                option: "llm_rerank",
            });
        }
        if let Backend::Cpu { threads: 0 } = self.backend {
            return Err(RuntimeError::ZeroOption { option: "threads" });
        }
        Ok(())
    }
}
