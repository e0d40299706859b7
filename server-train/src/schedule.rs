//! Learning-rate schedules shared by the CRM and PLoRA trainers.

use serde::{Deserialize, Serialize};

/// How the learning rate moves over a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LrSchedule {
    /// The base rate throughout.
    #[default]
    Constant,
    /// From the base rate down to zero at the last step (the official Few2Many schedule).
    Linear,
}

impl LrSchedule {
    /// The rate of step `step` (0-based) out of `total_steps`.
    pub fn rate(self, base: f64, step: usize, total_steps: usize) -> f64 {
        match self {
            Self::Constant => base,
            Self::Linear => {
                let total = total_steps.max(1) as f64;
                base * (1.0 - step.min(total_steps) as f64 / total)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_decays_to_zero_by_hand() {
        let s = LrSchedule::Linear;
        assert_eq!(s.rate(1e-3, 0, 4), 1e-3);
        assert!((s.rate(1e-3, 1, 4) - 7.5e-4).abs() < 1e-15);
        assert!((s.rate(1e-3, 3, 4) - 2.5e-4).abs() < 1e-15);
        assert_eq!(s.rate(1e-3, 4, 4), 0.0);
        assert_eq!(s.rate(1e-3, 9, 4), 0.0);
        assert_eq!(LrSchedule::Constant.rate(2e-3, 3, 4), 2e-3);
    }
}
