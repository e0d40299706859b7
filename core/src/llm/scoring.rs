//! P(yes): a two-way softmax over the answer tokens' logits at the answer position.

use serde::{Deserialize, Serialize};

/// One prompt's answer probability and the logits it came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct YesNoScore {
    /// softmax([logit_yes, logit_no])[0].
    pub p_yes: f32,
    /// Logit of the "yes" answer token.
    pub logit_yes: f32,
    /// Logit of the "no" answer token.
    pub logit_no: f32,
    /// Length of the full tokenized input.
    pub tokens: usize,
}

impl YesNoScore {
    /// Builds the score from the two logits; the softmax over two values is a sigmoid
    /// of their difference, computed in f64 so extreme logits do not overflow.
    pub fn from_logits(logit_yes: f32, logit_no: f32, tokens: usize) -> Self {
        let diff = f64::from(logit_yes) - f64::from(logit_no);
        let p_yes = 1.0 / (1.0 + (-diff).exp());
        Self {
            p_yes: p_yes as f32,
            logit_yes,
            logit_no,
            tokens,
        }
    }
}

/// RecLoRA-fused's logit: the LLM's answer-logit difference plus the CRM's click logit
/// weighted by the learned `crm_weight`, (logit_yes − logit_no) + w · crm_logit.
pub fn fused_logit(logit_yes: f32, logit_no: f32, crm_weight: f32, crm_logit: f32) -> f64 {
    f64::from(logit_yes) - f64::from(logit_no) + f64::from(crm_weight) * f64::from(crm_logit)
}

/// σ(`logit`) in f64, saturating at 0 and 1 instead of overflowing.
pub fn sigmoid_probability(logit: f64) -> f32 {
    (1.0 / (1.0 + (-logit).exp())) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_logit_by_hand() {
        // (1.5 − 0.5) + 2 · (−0.25) = 0.5; σ(0.5) = 1 / (1 + e^−0.5) = 0.6224593312.
        let z = fused_logit(1.5, 0.5, 2.0, -0.25);
        assert!((z - 0.5).abs() < 1e-12, "{z}");
        assert!((sigmoid_probability(z) - 0.622_459_33).abs() < 1e-7);
        // With w = 0 it is the two-way softmax of the LLM alone.
        let alone = sigmoid_probability(fused_logit(2.0, 0.0, 0.0, 9.0));
        assert_eq!(alone, YesNoScore::from_logits(2.0, 0.0, 1).p_yes);
        assert_eq!(sigmoid_probability(-1e4), 0.0);
        assert_eq!(sigmoid_probability(1e4), 1.0);
    }

    #[test]
    fn two_way_softmax_by_hand() {
        // softmax([2, 0])[0] = e² / (e² + 1) = 0.880797...
        let score = YesNoScore::from_logits(2.0, 0.0, 5);
        assert!((score.p_yes - 0.880_797_1).abs() < 1e-6);
        assert_eq!(YesNoScore::from_logits(1.5, 1.5, 1).p_yes, 0.5);
        assert_eq!(YesNoScore::from_logits(-1e4, 1e4, 1).p_yes, 0.0);
        assert_eq!(YesNoScore::from_logits(1e4, -1e4, 1).p_yes, 1.0);
    }
}
