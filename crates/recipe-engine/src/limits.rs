//! Per-kind limits: what really bounds a cloud build, beside the call slots.
//!
//! - **Builders** running at once, per service and region (EC2 vCPU quotas, WorkSpaces and AppStream
//!   service quotas). A builder is held from its launch until its build's terminate action ends (or is
//!   skipped because the build failed).
//! - **Copies** in flight per destination region (EC2: 50 per destination, at most 25 from one
//!   source; AppStream: 2). A copy is held while its action runs, which includes waiting for it.
//!
//! An action beyond a limit is queued, shown as queued, and starts when a unit is given back.

use std::collections::{HashMap, VecDeque};

use recipe_plan::{ActionKind, Plan, RecipeOutputs};

use crate::engine::Lane;

/// What a limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LimitKind {
    /// Builders (instance, WorkSpace, image builder) running at once.
    Builders,
    /// Image copies in flight to one region.
    Copies,
}

impl LimitKind {
    fn noun(self) -> &'static str {
        match self {
            LimitKind::Builders => "builders",
            LimitKind::Copies => "copies",
        }
    }
}

/// The limit an action counts against: a kind, where (service and region), and the provider's own
/// ceiling when the service has a fixed one (AppStream copies: 2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Limit {
    /// What is counted.
    pub kind: LimitKind,
    /// Where: builders by build region, copies by destination region.
    pub lane: Lane,
    /// A service's fixed ceiling, below the configured one.
    pub ceiling: Option<usize>,
}

impl Limit {
    /// The limit an action of this kind counts against in `lane`, if any: launches count builders,
    /// copies count copies.
    pub fn of(kind: &ActionKind, lane: Lane) -> Option<Limit> {
        let kind = match kind {
            ActionKind::LaunchBuilder => LimitKind::Builders,
            ActionKind::Copy { .. } => LimitKind::Copies,
            _ => return None,
        };
        Some(Limit {
            kind,
            lane,
            ceiling: None,
        })
    }
}

impl Limit {
    /// This limit with at most `n` when it counts builders (a provider that reads no quota of its
    /// service bounds its builders so).
    pub fn builders_at_most(mut self, n: usize) -> Limit {
        if self.kind == LimitKind::Builders {
            self.ceiling = Some(self.ceiling.map_or(n, |c| c.min(n)));
        }
        self
    }
}

/// Builders at once per region for a service whose quota the tool does not read (WorkSpaces,
/// AppStream): within their default quotas for builder instances.
pub const SERVICE_BUILDERS: usize = 20;

/// The configured limits (`--max-builders`, `--max-copies`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Builders at once per service and region.
    pub builders: usize,
    /// Copies in flight per destination region.
    pub copies: usize,
}

impl Default for Limits {
    /// 20 builders per region (within common vCPU quotas for small instance types); 25 copies per
    /// destination (EC2 allows 50 per destination but at most 25 from one source region).
    fn default() -> Self {
        Limits {
            builders: 20,
            copies: 25,
        }
    }
}

impl Limits {
    fn cap(&self, limit: &Limit) -> usize {
        let configured = match limit.kind {
            LimitKind::Builders => self.builders,
            LimitKind::Copies => self.copies,
        };
        limit
            .ceiling
            .map_or(configured, |c| c.min(configured))
            .max(1)
    }
}

/// The limits of one run: what each action counts against, what is in use, who is queued.
pub(crate) struct Gates {
    limits: Vec<Option<Limit>>,
    /// Per action: the action whose end gives its unit back (itself, or its build's terminate).
    ends: Vec<usize>,
    caps: Limits,
    in_use: HashMap<Limit, usize>,
    queued: HashMap<Limit, VecDeque<usize>>,
    held_until: HashMap<usize, Vec<Limit>>,
}

impl Gates {
    /// The gates of `plan`, where `limit` says what each action counts against, once the actions in
    /// `done` have succeeded (a builder launched by an earlier run and not yet terminated is held).
    pub(crate) fn new(
        plan: &Plan,
        caps: Limits,
        limit: impl Fn(usize) -> Option<Limit>,
        done: &std::collections::BTreeMap<usize, RecipeOutputs>,
    ) -> Gates {
        let mut gates = Gates {
            limits: (0..plan.actions.len()).map(limit).collect(),
            ends: hold_ends(plan),
            caps,
            in_use: HashMap::new(),
            queued: HashMap::new(),
            held_until: HashMap::new(),
        };
        for id in done.keys() {
            let end = gates.ends[*id];
            if end != *id && !done.contains_key(&end) {
                gates.take(*id);
            }
        }
        gates
    }

    fn take(&mut self, id: usize) {
        if let Some(l) = self.limits[id].clone() {
            *self.in_use.entry(l.clone()).or_default() += 1;
            self.held_until.entry(self.ends[id]).or_default().push(l);
        }
    }

    /// Let `id` start if its limit has room (then it holds a unit); otherwise queue it and say what
    /// it waits for.
    pub(crate) fn admit(&mut self, id: usize) -> Result<(), String> {
        let Some(l) = self.limits[id].clone() else {
            return Ok(());
        };
        let (cap, used) = (self.caps.cap(&l), self.in_use.get(&l).copied().unwrap_or(0));
        if used < cap {
            self.take(id);
            return Ok(());
        }
        self.queued.entry(l.clone()).or_default().push_back(id);
        Err(format!(
            "{used} of {cap} {} in use in {} {}",
            l.kind.noun(),
            l.lane.service,
            l.lane.region
        ))
    }

    /// `id` ended (succeeded, failed or was skipped): the units held until then are given back.
    /// Returns the queued actions that may now start.
    pub(crate) fn ended(&mut self, id: usize) -> Vec<usize> {
        let mut freed = Vec::new();
        for l in self.held_until.remove(&id).unwrap_or_default() {
            if let Some(n) = self.in_use.get_mut(&l) {
                *n = n.saturating_sub(1);
            }
            if let Some(next) = self.queued.get_mut(&l).and_then(VecDeque::pop_front) {
                freed.push(next);
            }
        }
        freed
    }
}

/// For each action, the action whose end gives back what it holds: a launch holds its builder until
/// the same recipe's terminate action; everything else holds only while it runs.
fn hold_ends(plan: &Plan) -> Vec<usize> {
    let terminates: HashMap<&str, usize> = plan
        .actions
        .iter()
        .filter(|a| a.action == ActionKind::TerminateBuilder)
        .map(|a| (a.recipe.as_str(), a.id))
        .collect();
    plan.actions
        .iter()
        .map(|a| match a.action {
            ActionKind::LaunchBuilder => terminates.get(a.recipe.as_str()).copied().unwrap_or(a.id),
            _ => a.id,
        })
        .collect()
}
