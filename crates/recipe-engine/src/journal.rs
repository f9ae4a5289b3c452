//! The journal: each action's outcome, persisted before its dependents start.
//!
//! One JSON document per plan (keyed by the plan's basis digest), replaced atomically after every
//! outcome. Resuming reads it back: finished actions are not run again, and their outputs (instance ids,
//! image ids) are available to the actions that follow.

use std::collections::BTreeMap;
use std::io::Write;

use recipe_plan::RecipeOutputs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What happened to one action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum JournalEntry {
    /// It finished; what it made for its recipe (builder, images, snapshots, …).
    Succeeded {
        /// Outputs for later actions.
        outputs: RecipeOutputs,
    },
    /// It failed for good.
    Failed {
        /// Why.
        error: String,
    },
    /// It was started and not finished (the run was interrupted): its resources may exist.
    Started,
}

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("journal `{path}`: {detail}")]
pub struct JournalError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub detail: String,
}

/// The journal format this build writes and reads. 2: typed outputs.
pub const JOURNAL_FORMAT: u32 = 2;

/// Outcomes by action id, for one plan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    /// File format (absent in format 1).
    #[serde(default)]
    pub format: u32,
    /// The plan it belongs to (digest of the plan's basis and actions).
    pub plan: String,
    /// Outcome per action id.
    pub entries: BTreeMap<usize, JournalEntry>,
    /// The plan being applied, so an interrupted apply can be resumed as it was planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_plan: Option<recipe_plan::Plan>,
    #[serde(skip)]
    path: Option<PathBuf>,
}

impl Journal {
    /// A journal kept only in memory.
    pub fn in_memory(plan: impl Into<String>) -> Journal {
        Journal {
            format: JOURNAL_FORMAT,
            plan: plan.into(),
            entries: BTreeMap::new(),
            saved_plan: None,
            path: None,
        }
    }

    /// Open (or create) the journal for `plan` in `dir`.
    pub fn open(dir: &Path, plan: &str) -> Result<Journal, JournalError> {
        let path = dir.join(format!("{}.json", plan.trim_start_matches("sha256:")));
        let err = |detail: String| JournalError {
            path: path.clone(),
            detail,
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let format = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("format").and_then(serde_json::Value::as_u64))
                    .unwrap_or(1);
                if format != u64::from(JOURNAL_FORMAT) {
                    return Err(err(format!(
                        "written by another version of recipe (format {format}, this one reads {JOURNAL_FORMAT}). The apply it records was interrupted: finish it with that version, or remove the file to start afresh (the next apply terminates builders left by it; their images carry the recipe:build-id tag)"
                    )));
                }
                let mut j: Journal = serde_json::from_slice(&bytes).map_err(|e| {
                    err(format!(
                        "unreadable ({e}). It records an apply that did not finish: remove the file to start afresh; the next apply terminates the builders that run left, and its images carry the recipe:build-id tag"
                    ))
                })?;
                if j.plan != plan {
                    return Err(err(format!("belongs to plan {}", j.plan)));
                }
                j.path = Some(path);
                Ok(j)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
                Ok(Journal {
                    format: JOURNAL_FORMAT,
                    plan: plan.into(),
                    entries: BTreeMap::new(),
                    saved_plan: None,
                    path: Some(path),
                })
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// Start over for a new plan: forget earlier outcomes and keep the plan.
    pub fn reset(&mut self, plan: &recipe_plan::Plan) -> Result<(), JournalError> {
        self.entries.clear();
        self.saved_plan = Some(plan.clone());
        self.persist()
    }

    /// Record an outcome and persist it (atomically) before returning.
    pub fn record(&mut self, id: usize, entry: JournalEntry) -> Result<(), JournalError> {
        self.entries.insert(id, entry);
        self.persist()
    }

    fn persist(&self) -> Result<(), JournalError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let err = |detail: String| JournalError {
            path: path.clone(),
            detail,
        };
        let tmp = path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| err(e.to_string()))?;
        f.write_all(&serde_json::to_vec_pretty(self).expect("a journal serializes"))
            .map_err(|e| err(e.to_string()))?;
        f.sync_all().map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
    }

    /// Outputs of a succeeded action.
    pub fn outputs(&self, id: usize) -> Option<&RecipeOutputs> {
        match self.entries.get(&id) {
            Some(JournalEntry::Succeeded { outputs }) => Some(outputs),
            _ => None,
        }
    }

    /// Remove the file (after a run finished cleanly).
    pub fn finish(self) -> Result<(), JournalError> {
        match &self.path {
            Some(p) => match std::fs::remove_file(p) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(JournalError {
                    path: p.clone(),
                    detail: e.to_string(),
                }),
            },
            None => Ok(()),
        }
    }
}
