//! SwiGLU feed-forward block.

use burn::module::Module;
use burn::tensor::Tensor;

use super::adapter::{ProjectionAdapter, ProjectionKind, adapted_projection};
use super::host::{self, ProjectionInput};
use super::projection::Projection;

/// down(silu(gate(x)) ⊙ up(x)).
#[derive(Module, Debug)]
pub struct SwiGluMlp {
    /// `[d, intermediate]`.
    pub gate_proj: Projection,
    /// `[d, intermediate]`.
    pub up_proj: Projection,
    /// `[intermediate, d]`.
    pub down_proj: Projection,
}

impl SwiGluMlp {
    /// `adapter` corrects the projections of block `layer` per sample.
    ///
    /// # Shapes
    /// - `x`: `[batch, seq, d]`; returns the same shape.
    pub fn forward(
        &self,
        x: Tensor<3>,
        layer: usize,
        adapter: Option<&dyn ProjectionAdapter>,
    ) -> Tensor<3> {
        let project = |projection, input: &_, kind| {
            adapted_projection(projection, input, adapter, layer, kind)
        };
        // gate and up read one input: packed weights quantize it once for both.
        let input = ProjectionInput::new(x);
        let gate = project(&self.gate_proj, &input, ProjectionKind::Gate);
        let up = project(&self.up_proj, &input, ProjectionKind::Up);
        drop(input);
        let hidden = ProjectionInput::new(host::swiglu(gate, up));
        project(&self.down_proj, &hidden, ProjectionKind::Down)
    }
}
