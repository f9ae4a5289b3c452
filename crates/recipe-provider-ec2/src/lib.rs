//! The EC2 AMI provider.
//!
//! Implements the engine's [`Provider`] for `ec2-ami` recipes: resolve the base (SSM parameter,
//! filters, image id, or the parent recipe's image), launch a builder (IMDSv2 required, tagged with
//! the recipe and build), run the steps through SSM Run Command, install the first-boot runner, run
//! tests and the cleanup preset, sysprep Windows, capture, wait (coalesced poller), tag, copy to
//! regions (called in the destination, idempotent client token), share, deprecate, retire, roll out,
//! and terminate the builder. It also observes the cloud for the planner, sweeps what killed runs
//! left, and releases the builders of failed builds.
//!
//! Every resource it creates carries the `recipe:*` tags ([`recipe_aws::tags`]), so state can be
//! rebuilt and orphans found.
//!
//! - `actions`: one module per action family (base, builder, steps, capture, distribute,
//!   lifecycle, rollout);
//! - `observe`: the planner's view; `preflight`: what the builders need (network, profile, keys);
//!   `quota`: the vCPU room that bounds builders; `sweep`: leftovers; `in_use`: images still used;
//! - [`poll`]: EC2 waits on the shared poller; [`render`] (from `recipe-ssm`): steps as scripts.

mod actions;
mod in_use;
mod observe;
pub mod poll;
mod preflight;
mod quota;
mod sweep;

pub use recipe_ssm::render;

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_sdk_ec2::types::Filter;
use recipe_aws::{Aws, Context};
use recipe_engine::{
    Action, ActionError, ApplyContext, Lane, Leftover, Limit, LimitKind, Provider, Released,
};
pub use recipe_ssm::Options;
use recipe_ssm::ProviderCore;

pub use in_use::images_in_use;
pub use sweep::sweep_orphans;

/// The builder's instance type when a recipe names none.
pub(crate) const DEFAULT_INSTANCE_TYPE: &str = "t3.small";

/// The EC2 provider: one per command, shared by every action of an apply.
pub struct Ec2Provider {
    core: ProviderCore,
    /// Builders the account has room for, per build region, as read at plan time (`quota.rs`).
    room: Mutex<BTreeMap<String, usize>>,
}

recipe_ssm::provider_core!(Ec2Provider);

impl Ec2Provider {
    /// A provider for this AWS configuration (its region is the default build region). Its
    /// builders' agents register by their instance profile, so there is no activation role.
    pub fn new(aws: Aws, opts: Options) -> Ec2Provider {
        let (core, room) = (ProviderCore::new(aws, opts, ""), Mutex::default());
        Ec2Provider { core, room }
    }

    /// The EC2 client for `region`.
    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        self.client(region, aws_sdk_ec2::Client::new)
    }

    /// The IAM client (IAM is global; its calls are signed for `us-east-1`).
    pub fn iam(&self) -> aws_sdk_iam::Client {
        self.client("us-east-1", aws_sdk_iam::Client::new)
    }

    /// The Service Quotas client for `region`.
    pub fn quotas(&self, region: &str) -> aws_sdk_servicequotas::Client {
        self.client(region, aws_sdk_servicequotas::Client::new)
    }

    /// The KMS client for `region`.
    pub fn kms(&self, region: &str) -> aws_sdk_kms::Client {
        self.client(region, aws_sdk_kms::Client::new)
    }

    /// Tag a builder kept for debugging (`--keep-on-error`) with `recipe:keep=debug`, so that sweeps
    /// leave it alone.
    async fn mark_kept(&self, region: &str, instance: &str) -> Result<(), ActionError> {
        self.ec2(region)
            .create_tags()
            .resources(instance)
            .tags(tag(recipe_aws::tags::KEEP, "debug"))
            .send()
            .await
            .ctx("ec2", "CreateTags")?;
        Ok(())
    }

    /// Discard the image of a build that did not finish, with its snapshots.
    async fn discard(&self, region: &str, image: &str) -> Result<(), ActionError> {
        Ok(self.deregister(region, image).await?)
    }

    async fn release_one(&self, cx: &ApplyContext, l: &Leftover, keep: bool) -> Released {
        let builder = l.builder.as_str();
        let mark = |region: String| async move { self.mark_kept(&region, builder).await };
        let remove = |region: String| async move {
            let call = self
                .ec2(&region)
                .terminate_instances()
                .instance_ids(builder);
            call.send().await.ctx("ec2", "TerminateInstances")?;
            Ok(())
        };
        cx.release_with((l, keep), mark, remove).await
    }
}

/// An EC2 tag.
fn tag(k: &str, v: &str) -> aws_sdk_ec2::types::Tag {
    aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()
}

/// EC2 tags from a map.
fn tag_list(tags: &BTreeMap<String, String>) -> Vec<aws_sdk_ec2::types::Tag> {
    tags.iter().map(|(k, v)| tag(k, v)).collect()
}

/// The value of tag `key`, if present.
fn tag_value(tags: &[aws_sdk_ec2::types::Tag], key: &str) -> Option<String> {
    recipe_aws::tags::value(
        tags.iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or("")))),
        key,
    )
}

/// A DescribeX filter.
fn filter<S: AsRef<str>>(name: &str, values: &[S]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(
            values.iter().map(|v| v.as_ref().to_string()).collect(),
        ))
        .build()
}

impl Provider for Ec2Provider {
    fn lane(&self, cx: &ApplyContext, action: &Action) -> Lane {
        Lane::new("ec2", cx.call_region(action, true))
    }

    /// Launches count builders in their region, below the room the account's vCPU quota left there
    /// at plan time (`quota.rs`); copies count copies.
    fn limit(&self, cx: &ApplyContext, action: &Action) -> Option<Limit> {
        let mut limit = Limit::of(&action.action, self.lane(cx, action))?;
        if limit.kind == LimitKind::Builders {
            let room = self
                .room
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            limit.ceiling = room.get(&limit.lane.region).copied();
        }
        Some(limit)
    }

    recipe_engine::delegate_provider! {
        target: recipe_targets::EC2_AMI,
        observe: observe::observe,
        run: actions::run,
        sweep: [sweep::sweep],
        release: Ec2Provider::release_one,
        discard: Ec2Provider::discard,
    }
}
