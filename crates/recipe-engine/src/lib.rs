//! The execution engine: runs a [`Plan`]'s action graph.
//!
//! - Actions start when everything they depend on has succeeded, at most `parallelism` doing work at
//!   a time (an action waiting on the cloud runs its wait in [`idle`] and holds no slot), within the
//!   per-kind [`Limits`] (builders per region, copies per destination; beyond them an action is
//!   queued), and at most `rate_per_sec` calls per second per service and region.
//! - Each action has a timeout. Errors are classified ([`ErrorClass`]): throttling, transient and
//!   eventual-consistency errors are retried with exponential backoff and jitter; fatal errors are not.
//! - When an action fails, its dependents are skipped and independent branches go on; with
//!   `fail_fast`, nothing new starts.
//! - Every outcome is written to the [`Journal`] before dependents start, so a run interrupted by a
//!   crash resumes where it stopped, without repeating finished actions.
//! - A [`CancelToken`] stops new work (the first Ctrl-C); running actions finish or are cancelled.
//! - Progress is a stream of [`Event`]s; the engine never prints.
//!
//! What an action does is a [`Provider`]'s business: one per target, held in a [`Registry`] that is
//! both the planner's observer and, bound to an apply ([`Routed`]), the executor's [`Runner`]. The
//! [`apply`] module wraps the executor in the whole lifecycle: locks, sweep, run, release, record.

pub mod apply;
mod engine;
mod executor;
mod journal;
mod limits;
mod provider;
mod scope;
pub mod skeleton;

pub use engine::{
    ActionError, CancelToken, EngineOptions, ErrorClass, Event, Lane, Recorder, Report, Runner,
};
pub use executor::execute;
pub use journal::{JOURNAL_FORMAT, Journal, JournalEntry, JournalError, Run, RunLog, interrupted};
pub use limits::{Limit, LimitKind, Limits, SERVICE_BUILDERS};
pub use provider::{
    ApplyContext, BoxFuture, Events, GatesShown, Leftover, Provider, Registry, Released, Routed,
    SweepAt, SweepLog, SweepRequest, SweepScope, Swept, Unfinished,
};
pub use recipe_plan::{Action, ActionKind, Outputs, Plan, RecipeOutputs};
pub use recipe_provider_api::{Cause, idle};
pub use scope::{ActionScope, Grant, Retag, Rollout, ShareChange};
