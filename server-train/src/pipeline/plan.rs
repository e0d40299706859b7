//! What each unit will do and why: skip (up to date), resume (interrupted under the same
//! settings) or run afresh (never run, settings or inputs changed, outputs missing).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use super::error::PipelineError;
use super::stamp::{Identity, Stamp, StampState, identity, read_stamp};
use super::units::{Done, Unit};
use crate::finetune::files::TrainState;

/// What a unit does in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Up to date.
    Skip,
    /// Continue through its `--resume` path.
    Resume,
    /// Remove its outputs and run.
    Run,
}

/// Why.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// Finished under the same fingerprint, outputs present.
    UpToDate,
    /// No record.
    NeverRun,
    /// Started under the same fingerprint and not finished.
    Interrupted,
    /// Recorded as done, but its outputs are gone.
    OutputsMissing,
    /// Its own settings differ: `(flag, was, now)` per changed flag.
    SettingsChanged(Vec<(String, String, String)>),
    /// An upstream unit or an input file changed.
    InputsChanged(Vec<String>),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UpToDate => write!(f, "up to date"),
            Self::NeverRun => write!(f, "never run"),
            Self::Interrupted => write!(f, "interrupted before it finished"),
            Self::OutputsMissing => write!(f, "its outputs are missing"),
            Self::SettingsChanged(changes) => {
                let list: Vec<String> = changes
                    .iter()
                    .map(|(flag, was, now)| format!("{flag} {was} → {now}"))
                    .collect();
                write!(f, "settings changed: {}", list.join(", "))
            }
            Self::InputsChanged(names) => write!(f, "inputs changed: {}", names.join(", ")),
        }
    }
}

/// One unit's place in the plan.
#[derive(Debug, Clone)]
pub struct Step {
    /// The unit.
    pub unit: Unit,
    /// What it would record.
    pub identity: Identity,
    /// What it does.
    pub action: Action,
    /// Why.
    pub reason: Reason,
}

/// Decides every unit's action (units are in dependency order).
pub fn plan(units: &[Unit], root: &Path, state_dir: &Path) -> Result<Vec<Step>, PipelineError> {
    let mut hashes = BTreeMap::new();
    let mut steps: Vec<Step> = Vec::with_capacity(units.len());
    for unit in units {
        let upstream: Vec<(String, String)> = unit
            .deps
            .iter()
            .map(|&d| (steps[d].unit.label(), steps[d].identity.fingerprint.clone()))
            .collect();
        let identity = identity(unit, root, &upstream, &mut hashes)?;
        let (action, reason) = decide(unit, &identity, read_stamp(state_dir, unit).as_ref());
        steps.push(Step {
            unit: unit.clone(),
            identity,
            action,
            reason,
        });
    }
    Ok(steps)
}

fn decide(unit: &Unit, now: &Identity, stamp: Option<&Stamp>) -> (Action, Reason) {
    let Some(stamp) = stamp else {
        return (Action::Run, Reason::NeverRun);
    };
    if stamp.fingerprint != now.fingerprint {
        let changes = changed_flags(&stamp.commands, &now.commands);
        if !changes.is_empty() {
            return (Action::Run, Reason::SettingsChanged(changes));
        }
        let mut names: Vec<String> = now
            .inputs
            .iter()
            .filter(|(name, value)| stamp.inputs.get(*name) != Some(value))
            .map(|(name, _)| name.clone())
            .collect();
        names.extend(
            stamp
                .inputs
                .keys()
                .filter(|name| !now.inputs.contains_key(*name))
                .cloned(),
        );
        if names.is_empty() {
            names.push("reclora-train's version".to_owned());
        }
        return (Action::Run, Reason::InputsChanged(names));
    }
    match stamp.state {
        StampState::Running if unit.resumable => (Action::Resume, Reason::Interrupted),
        StampState::Running => (Action::Run, Reason::Interrupted),
        StampState::Done if outputs_complete(unit) => (Action::Skip, Reason::UpToDate),
        StampState::Done => (Action::Run, Reason::OutputsMissing),
    }
}

/// Whether every output that marks the unit finished is there.
pub fn outputs_complete(unit: &Unit) -> bool {
    unit.done.iter().all(|done| match done {
        Done::File(path) => path.is_file(),
        Done::Trained(state) => {
            crate::json_file::read_json::<TrainState>(state).is_ok_and(|state| state.finished)
        }
    })
}

/// The flags whose values differ between two sets of command lines.
fn changed_flags(was: &[Vec<String>], now: &[Vec<String>]) -> Vec<(String, String, String)> {
    let flags = |commands: &[Vec<String>]| -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        for argv in commands {
            let mut index = 1;
            while index < argv.len() {
                let flag = &argv[index];
                let value = argv.get(index + 1).filter(|v| !v.starts_with("--"));
                let entry = map.entry(flag.clone()).or_insert_with(String::new);
                if !entry.is_empty() {
                    entry.push(',');
                }
                entry.push_str(value.map_or("(on)", String::as_str));
                index += if value.is_some() { 2 } else { 1 };
            }
        }
        map
    };
    let (was, now) = (flags(was), flags(now));
    let mut keys: Vec<&String> = was.keys().chain(now.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|key| was.get(*key) != now.get(*key))
        .map(|key| {
            let show = |map: &BTreeMap<String, String>| {
                map.get(key).cloned().unwrap_or_else(|| "(default)".into())
            };
            (key.clone(), show(&was), show(&now))
        })
        .collect()
}
