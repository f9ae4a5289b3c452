//! The journal: one run's record of what it did, kept by the state store beside the state (a local
//! folder, or S3 with S3 state), so that the next apply, on this machine or another, resumes or sweeps
//! what a dead run left.
//!
//! It is append-only: a `begin` record with the plan, then one record per action outcome and one per
//! recipe whose state was saved. Nothing is rewritten, so a record costs the same at the end of a long
//! apply as at its start. An apply that reaches its end removes its run's journal; one that was killed
//! leaves it, and the next apply that locks any of its recipes finds it.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};

use recipe_plan::{Plan, RecipeOutputs};
use recipe_state::{Revision, StateError, StateStore};
use serde::{Deserialize, Serialize};

use crate::provider::BoxFuture;

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
    /// It stopped at a gate (a person must act): the next apply runs it again, past this gate.
    Paused {
        /// What the person was asked to do.
        instructions: String,
        /// When (a gate's `timeout` counts from here; absent in journals of older versions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<jiff::Timestamp>,
    },
}

/// Why a run's journal could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("journal of run `{run}`: {detail}")]
pub struct JournalError {
    /// The run.
    pub run: String,
    /// What went wrong.
    pub detail: String,
}

/// The journal format this build writes and reads. 3: one run per journal, kept by the state store.
pub const JOURNAL_FORMAT: u32 = 3;

/// One line of a run's journal.
#[derive(Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case", deny_unknown_fields)]
enum Record {
    /// The run started, applying this plan.
    Begin {
        format: u32,
        run: String,
        plan: Box<Plan>,
    },
    /// An action's outcome.
    Action { id: usize, entry: JournalEntry },
    /// The recipe's state was saved at this revision: its outcomes are no longer only here.
    Saved { recipe: String, revision: Revision },
}

/// Where a journal's records go: the state store, or nowhere (tests).
pub trait RunLog: Send + Sync {
    /// Append record `seq` to `run`, durably.
    fn append<'a>(
        &'a self,
        run: &'a str,
        seq: u64,
        record: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), StateError>>;
    /// Forget `run`.
    fn remove<'a>(&'a self, run: &'a str) -> BoxFuture<'a, Result<(), StateError>>;
}

impl<S: StateStore> RunLog for S {
    fn append<'a>(
        &'a self,
        run: &'a str,
        seq: u64,
        record: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(async move { self.append_run(run, seq, &record).await })
    }
    fn remove<'a>(&'a self, run: &'a str) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(self.remove_run(run))
    }
}

/// One run's outcomes.
pub struct Journal<'s> {
    log: Option<&'s dyn RunLog>,
    run: String,
    seq: u64,
    /// The plan the run applies.
    pub plan: Option<Plan>,
    /// Outcome per action id.
    pub entries: BTreeMap<usize, JournalEntry>,
    /// Recipes whose state the run saved, at which revision.
    pub saved: BTreeMap<String, Revision>,
}

impl std::fmt::Debug for Journal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("run", &self.run)
            .field("entries", &self.entries)
            .field("saved", &self.saved)
            .finish_non_exhaustive()
    }
}

/// A fresh run id: `r<unix seconds>-<random>`.
fn new_run_id() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_i128(jiff::Timestamp::now().as_nanosecond());
    format!(
        "r{}-{:08x}",
        jiff::Timestamp::now().as_second(),
        h.finish() as u32
    )
}

impl<'s> Journal<'s> {
    /// A journal kept only in memory.
    pub fn in_memory() -> Journal<'static> {
        Journal {
            log: None,
            run: new_run_id(),
            seq: 0,
            plan: None,
            entries: BTreeMap::new(),
            saved: BTreeMap::new(),
        }
    }

    /// The run's id.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// Start a new run of `plan`, journaled in `log`.
    pub async fn begin(log: &'s dyn RunLog, plan: &Plan) -> Result<Journal<'s>, JournalError> {
        let mut j = Journal {
            log: Some(log),
            ..Journal::in_memory()
        };
        j.plan = Some(plan.clone());
        let begin = Record::Begin {
            format: JOURNAL_FORMAT,
            run: j.run.clone(),
            plan: Box::new(plan.clone()),
        };
        j.append(&begin).await?;
        Ok(j)
    }

    /// Go on with a dead run, appending to its journal in `log`.
    pub fn resume(log: &'s dyn RunLog, run: Run) -> Journal<'s> {
        Journal {
            log: Some(log),
            run: run.id,
            seq: run.records,
            plan: Some(run.plan),
            entries: run.entries,
            saved: run.saved,
        }
    }

    async fn append(&mut self, record: &Record) -> Result<(), JournalError> {
        let Some(log) = self.log else {
            return Ok(());
        };
        let bytes = serde_json::to_vec(record).expect("a journal record serializes");
        log.append(&self.run, self.seq, bytes)
            .await
            .map_err(|e| JournalError {
                run: self.run.clone(),
                detail: e.to_string(),
            })?;
        self.seq += 1;
        Ok(())
    }

    /// Record an outcome; it is durable when this returns.
    pub async fn record(&mut self, id: usize, entry: JournalEntry) -> Result<(), JournalError> {
        self.append(&Record::Action {
            id,
            entry: entry.clone(),
        })
        .await?;
        self.entries.insert(id, entry);
        Ok(())
    }

    /// Record that `recipe`'s state was saved at `revision`.
    pub async fn saved(&mut self, recipe: &str, revision: Revision) -> Result<(), JournalError> {
        self.append(&Record::Saved {
            recipe: recipe.into(),
            revision: revision.clone(),
        })
        .await?;
        self.saved.insert(recipe.into(), revision);
        Ok(())
    }

    /// Outputs of a succeeded action.
    pub fn outputs(&self, id: usize) -> Option<&RecipeOutputs> {
        match self.entries.get(&id) {
            Some(JournalEntry::Succeeded { outputs }) => Some(outputs),
            _ => None,
        }
    }

    /// The run is over and its state recorded: forget its journal.
    pub async fn finish(self) -> Result<(), JournalError> {
        match self.log {
            Some(log) => log.remove(&self.run).await.map_err(|e| JournalError {
                run: self.run.clone(),
                detail: e.to_string(),
            }),
            None => Ok(()),
        }
    }
}

/// A run found in the store: one that did not finish.
#[derive(Clone, Debug)]
pub struct Run {
    /// Its id.
    pub id: String,
    /// Its plan.
    pub plan: Plan,
    /// Outcome per action id.
    pub entries: BTreeMap<usize, JournalEntry>,
    /// Recipes whose state it saved.
    pub saved: BTreeMap<String, Revision>,
    /// Gates passed, per action: how many times it paused (each pause is one gate a person has
    /// seen), and when it last paused.
    pub gates: BTreeMap<usize, crate::GatesShown>,
    /// How many records it has.
    pub records: u64,
}

impl Run {
    /// The recipes its plan changes.
    pub fn recipes(&self) -> BTreeSet<String> {
        self.plan.actions.iter().map(|a| a.recipe.clone()).collect()
    }

    /// The recipes it changes whose state it has not saved.
    pub fn open(&self) -> BTreeSet<String> {
        let mut open = self.recipes();
        open.retain(|r| !self.saved.contains_key(r));
        open
    }
}

fn unreadable(run: &str, why: String) -> JournalError {
    JournalError {
        run: run.into(),
        detail: format!(
            "{why}. It records an apply that did not finish. Remove it (`runs/{run}.jsonl` in a state folder, the `runs/{run}/` prefix in S3) to start afresh: the next apply terminates the builders it left, and its images carry the recipe:build-id tag"
        ),
    }
}

/// Parse a run's records.
fn parse(id: &str, records: &[Vec<u8>]) -> Result<Run, JournalError> {
    let mut lines = records.iter();
    let first = lines
        .next()
        .ok_or_else(|| unreadable(id, "it is empty".into()))?;
    let (format, plan) = match serde_json::from_slice::<serde_json::Value>(first) {
        Ok(v) if v.get("record").and_then(|r| r.as_str()) == Some("begin") => {
            let format = v.get("format").and_then(serde_json::Value::as_u64);
            (format, v)
        }
        _ => return Err(unreadable(id, "its first record is not `begin`".into())),
    };
    if format != Some(u64::from(JOURNAL_FORMAT)) {
        return Err(JournalError {
            run: id.into(),
            detail: format!(
                "written by another version of recipe (format {}, this one reads {JOURNAL_FORMAT}): finish that apply with that version, or remove the run's journal to start afresh",
                format.unwrap_or(0)
            ),
        });
    }
    let Record::Begin { plan, .. } =
        serde_json::from_value(plan).map_err(|e| unreadable(id, e.to_string()))?
    else {
        unreachable!("checked above")
    };
    let mut run = Run {
        id: id.into(),
        plan: *plan,
        entries: BTreeMap::new(),
        saved: BTreeMap::new(),
        gates: BTreeMap::new(),
        records: records.len() as u64,
    };
    for (n, line) in lines.enumerate() {
        match serde_json::from_slice::<Record>(line) {
            Ok(Record::Action { id, entry }) => {
                if let JournalEntry::Paused { at, .. } = &entry {
                    let shown = run.gates.entry(id).or_default();
                    shown.count += 1;
                    shown.last = *at;
                }
                run.entries.insert(id, entry);
            }
            Ok(Record::Saved { recipe, revision }) => {
                run.saved.insert(recipe, revision);
            }
            Ok(Record::Begin { .. }) => {
                return Err(unreadable(id, format!("record {} begins again", n + 2)));
            }
            Err(e) => return Err(unreadable(id, format!("record {}: {e}", n + 2))),
        }
    }
    Ok(run)
}

/// The runs in `store` that did not finish and change any of `recipes`, oldest first. Call it with
/// those recipes' locks held: a live run holds the locks of every recipe it changes, so each run
/// found is dead.
pub async fn interrupted<S: StateStore>(
    store: &S,
    recipes: &BTreeSet<String>,
) -> Result<Vec<Run>, JournalError> {
    let ids = store.runs().await.map_err(|e| JournalError {
        run: "*".into(),
        detail: e.to_string(),
    })?;
    let mut found = Vec::new();
    for id in ids {
        let records = store.read_run(&id).await.map_err(|e| JournalError {
            run: id.clone(),
            detail: e.to_string(),
        })?;
        if records.is_empty() {
            // Its `begin` never completed, so that apply never ran anything.
            continue;
        }
        let run = parse(&id, &records)?;
        if run.recipes().iter().any(|r| recipes.contains(r)) {
            found.push(run);
        }
    }
    Ok(found)
}

/// The recipes dead runs left open beside `recipes`: they are locked too, so that taking over those
/// runs races no one. Read without locks, as a hint: [`interrupted`] reads again under them, and
/// reports what cannot be read.
pub async fn entangled<S: StateStore>(store: &S, recipes: &BTreeSet<String>) -> BTreeSet<String> {
    let mut all = recipes.clone();
    for run in interrupted(store, recipes).await.unwrap_or_default() {
        all.extend(run.open());
    }
    all
}
