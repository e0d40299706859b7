//! What a PLoRA's gates read: the paper's per-sample R_c or one per-user representation.

use serde::{Deserialize, Serialize};

/// Where the gates' input comes from, in training and in serving alike. An adapter is
/// trained for one of the two, and a bundle records which ([`super::PloraConfig::gate_mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateMode {
    /// The paper's: R_c of each (user, candidate) pair, so each candidate has its own
    /// LoRA mixture and its own retrieved short history.
    #[default]
    PerSample,
    /// Target-free: one user representation gates every candidate, the prompt shows the
    /// last K interactions, and the shared prompt prefix is run once and cached; each
    /// candidate runs only its own suffix tokens.
    PerUser,
}

impl GateMode {
    /// The name used on command lines and in JSON (`per-sample`, `per-user`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerSample => "per-sample",
            Self::PerUser => "per-user",
        }
    }
}

impl std::fmt::Display for GateMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names_are_the_command_line_names() {
        for mode in [GateMode::PerSample, GateMode::PerUser] {
            let json = serde_json::to_string(&mode).expect("serializes");
            assert_eq!(json, format!("\"{}\"", mode.as_str()));
            assert_eq!(
                serde_json::from_str::<GateMode>(&json).expect("parses"),
                mode
            );
        }
    }
}
