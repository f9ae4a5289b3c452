//! The Amazon AppStream 2.0 provider (the image-builder route).
//!
//! Implements the engine's [`Provider`] for `appstream` recipes: an image builder (CreateImageBuilder
//! from a base image, one subnet), brought under SSM Run Command through a hybrid activation the
//! provider creates and deletes; the recipe's steps, reboots and tests through the same
//! [`recipe_ssm::Session`] as EC2 and WorkSpaces, with `app` steps as Image Assistant
//! `add-application` and launch-stage steps as a session start script; the cleanup preset (Windows
//! Update off, as seed 002 advises); the Image Assistant's `create-image` run on the builder; the
//! wait for the image and for the builder to stop, then DeleteImageBuilder; tags; copies called in
//! the source region within AppStream's two concurrent copies per destination; image permissions per
//! account with fleet and image-builder rights; fleets switched to the new image; retention that
//! never deletes an image a fleet uses. It also observes the cloud for the planner, sweeps builders
//! of killed runs, and releases the builders of failed builds.
//!
//! - [`builder`]: the image builder and its activation; [`image`]: capture, copies, shares,
//!   retention; [`rollout`]: fleets; [`observe`]: the planner's view; [`sweep`]: leftovers;
//!   [`poll`]: waits on the shared poller.

mod actions;
mod builder;
mod image;
mod observe;
mod poll;
mod preflight;
mod rollout;
mod sweep;

use recipe_engine::{Action, ActionKind, ApplyContext, Lane, Limit, LimitKind, Provider};
pub use recipe_ssm::Options;

/// Image copies to one destination region that AppStream runs at once
/// (https://docs.aws.amazon.com/appstream2/latest/developerguide/limits.html: "Concurrent image
/// copies per destination Region: 2"). More are queued by the engine, not sent.
pub const COPIES_PER_DESTINATION: usize = 2;

/// The role the SSM agent on a builder assumes unless the options name another (the hybrid
/// activation's role; it trusts `ssm.amazonaws.com`, see docs/appstream.md).
pub const DEFAULT_AGENT_ROLE: &str = "recipe-appstream-builder";

recipe_ssm::provider! {
    /// The AppStream provider: one per command, shared by every action of an apply.
    pub struct AppstreamProvider, agent role DEFAULT_AGENT_ROLE
}

impl AppstreamProvider {
    /// The AppStream client for `region`.
    pub fn appstream(&self, region: &str) -> aws_sdk_appstream::Client {
        self.client(region, aws_sdk_appstream::Client::new)
    }

    /// The IAM client (a global service, signed for us-east-1), for the builder role's preflight.
    pub fn iam(&self) -> aws_sdk_iam::Client {
        self.client("us-east-1", aws_sdk_iam::Client::new)
    }

    /// The EC2 client for `region` (the builders' network, for the preflight).
    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        self.client(region, aws_sdk_ec2::Client::new)
    }
}

impl Provider for AppstreamProvider {
    /// Every call is made in the build region (CopyImage too: it is called in the source region),
    /// except shares and copy removals, made where the copy is.
    fn lane(&self, cx: &ApplyContext, action: &Action) -> Lane {
        Lane::new("appstream", cx.call_region(action, false))
    }

    /// Copies count against the destination's two concurrent copies; builders against
    /// [`recipe_engine::SERVICE_BUILDERS`].
    fn limit(&self, cx: &ApplyContext, action: &Action) -> Option<Limit> {
        match &action.action {
            ActionKind::Copy { region } => Some(Limit {
                kind: LimitKind::Copies,
                lane: Lane::new("appstream", region.clone()),
                ceiling: Some(COPIES_PER_DESTINATION),
            }),
            kind => Limit::of(kind, self.lane(cx, action))
                .map(|l| l.builders_at_most(recipe_engine::SERVICE_BUILDERS)),
        }
    }

    recipe_engine::delegate_provider!(recipe_targets::APPSTREAM);
}
