//! The Amazon WorkSpaces provider.
//!
//! Implements the engine's [`Provider`] for `workspaces` recipes: a builder WorkSpace (created from a
//! bundle in a registered directory, or an existing one), brought under SSM Run Command through a
//! hybrid activation the provider creates and deletes; the recipe's steps, reboots, first-boot
//! runner and tests through the same [`recipe_ssm::Session`] as EC2; seed 001's requirements checked
//! before capture; the cleanup preset; a restart; CreateWorkspaceImage; tags; copies (called in the
//! destination); image permissions; the bundle (created, then updated to each new image); an opt-in
//! rebuild of the WorkSpaces on it, in batches with health checks; retention that never deletes an
//! image a bundle uses. It also observes the cloud for the planner, sweeps builder WorkSpaces and
//! activations of killed runs, and releases the builders of failed builds.
//!
//! - [`builder`]: the builder WorkSpace and its activation; [`image`]: capture, copies, shares,
//!   retention; [`rollout`]: bundles and rebuilds; [`observe`]: the planner's view;
//!   [`sweep`]: leftovers; [`checks`]: the pre-capture checks; [`poll`]: waits on the shared poller.

mod actions;
mod builder;
pub mod checks;
mod image;
mod observe;
mod poll;
mod preflight;
mod rollout;
mod sweep;

use std::collections::BTreeMap;

use recipe_engine::{Action, ApplyContext, Lane, Limit, Provider};
pub use recipe_ssm::Options;

/// The role the SSM agent on a builder WorkSpace assumes unless the options name another (the
/// hybrid activation's role; it trusts `ssm.amazonaws.com`, see docs/workspaces.md).
pub const DEFAULT_AGENT_ROLE: &str = "recipe-workspaces-builder";

recipe_ssm::provider! {
    /// The WorkSpaces provider: one per command, shared by every action of an apply.
    pub struct WorkspacesProvider, agent role DEFAULT_AGENT_ROLE
}

impl WorkspacesProvider {
    /// The WorkSpaces client for `region`.
    pub fn workspaces(&self, region: &str) -> aws_sdk_workspaces::Client {
        self.client(region, aws_sdk_workspaces::Client::new)
    }
}

/// A WorkSpaces tag.
fn tag(k: &str, v: &str) -> aws_sdk_workspaces::types::Tag {
    aws_sdk_workspaces::types::Tag::builder()
        .key(k)
        .value(v)
        .build()
        .expect("a tag has a key")
}

/// WorkSpaces tags from a map.
fn tag_list(tags: &BTreeMap<String, String>) -> Vec<aws_sdk_workspaces::types::Tag> {
    tags.iter().map(|(k, v)| tag(k, v)).collect()
}

impl Provider for WorkspacesProvider {
    fn lane(&self, cx: &ApplyContext, action: &Action) -> Lane {
        Lane::new("workspaces", cx.call_region(action, true))
    }

    /// Builders count against [`recipe_engine::SERVICE_BUILDERS`]; copies against the limit.
    fn limit(&self, cx: &ApplyContext, action: &Action) -> Option<Limit> {
        Limit::of(&action.action, self.lane(cx, action))
            .map(|l| l.builders_at_most(recipe_engine::SERVICE_BUILDERS))
    }

    recipe_engine::delegate_provider!(recipe_targets::WORKSPACES);
}
