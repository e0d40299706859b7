//! The gate that turns the CRM representation R_c into meta-LoRA weights α.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Tensor};

use super::error::PloraError;
use crate::dropout::dropout;
use crate::init;
use crate::rng::SplitMix64;

/// softmax(Linear(Dropout(ReLU(Linear(LayerNorm(R_c))))) / t_p), as the official code.
#[derive(Module, Debug)]
pub struct Gate {
    /// LayerNorm over R_c.
    pub norm: LayerNorm,
    /// d_c → gate_hidden.
    pub hidden: Linear,
    /// Dropout after the ReLU (only on autodiff devices in training mode).
    pub dropout: Dropout,
    /// gate_hidden → N_m.
    pub output: Linear,
    /// Softmax temperature t_p.
    pub temperature: f64,
}

impl Gate {
    /// A fresh gate with burn's default (PyTorch-like) laws, drawn from `stream`: the
    /// hidden then the output linear, each weight then bias; LayerNorm the identity.
    pub fn init(
        crm_dim: usize,
        hidden: usize,
        num_meta: usize,
        dropout: f64,
        temperature: f64,
        stream: &mut SplitMix64,
        device: &Device,
    ) -> Result<Self, PloraError> {
        // burn's Dropout panics outside [0, 1); a zero temperature would divide by zero.
        if !(0.0..1.0).contains(&dropout) {
            return Err(PloraError::BadDropout(dropout));
        }
        if !(temperature > 0.0 && temperature.is_finite()) {
            return Err(PloraError::BadTemperature(temperature));
        }
        Ok(Self {
            norm: LayerNormConfig::new(crm_dim).init(device),
            hidden: init::linear(crm_dim, hidden, stream, device),
            dropout: DropoutConfig::new(dropout).init(),
            output: init::linear(hidden, num_meta, stream, device),
            temperature,
        })
    }

    /// The meta-LoRA weights; every row sums to 1.
    ///
    /// # Shapes
    /// - `r_c`: `[batch, d_c]`
    /// - returns α `[batch, N_m]`
    pub fn forward(&self, r_c: Tensor<2>) -> Tensor<2> {
        let hidden = relu(self.hidden.forward(self.norm.forward(r_c)));
        let logits = self.output.forward(dropout(&self.dropout, hidden));
        softmax(logits.div_scalar(self.temperature), 1)
    }
}
