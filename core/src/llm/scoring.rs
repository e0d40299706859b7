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

#[cfg(test)]
mod tests {
    use super::*;

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
