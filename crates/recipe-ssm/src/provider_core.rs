//! What every provider whose builders run commands through SSM holds, once: the AWS configuration,
//! SSM clients per region, the [`Nodes`] its sessions share, and the role a hybrid activation gives
//! the agent. A provider keeps one [`ProviderCore`] and dereferences to it.

use std::time::Duration;

use recipe_aws::{Aws, Clients};
use recipe_loader::LoadedRecipe;

use crate::Nodes;

/// How a provider works.
#[derive(Clone, Debug)]
pub struct Options {
    /// Poll interval for builders, images, agents and commands.
    pub poll: Duration,
    /// The IAM role the SSM agent on a builder registered through a hybrid activation assumes (it
    /// trusts `ssm.amazonaws.com`); `None` for the provider's own default. EC2 builders use an
    /// instance profile instead.
    pub agent_role: Option<String>,
}

impl Options {
    /// Polling every `poll`, with the provider's default agent role.
    pub fn every(poll: Duration) -> Options {
        Options {
            poll,
            agent_role: None,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::every(Duration::from_secs(5))
    }
}

/// The part of a provider every SSM-driven target shares.
pub struct ProviderCore {
    /// The AWS configuration (its region is the default build region).
    pub aws: Aws,
    ssm: Clients<aws_sdk_ssm::Client>,
    /// The poller, the agents seen online, and the managed node found on each builder.
    pub nodes: Nodes,
    /// The role hybrid activations give the agent.
    pub agent_role: String,
}

impl ProviderCore {
    /// The core of a provider whose agent role is `default_role` unless `opts` names one.
    pub fn new(aws: Aws, opts: Options, default_role: &str) -> ProviderCore {
        ProviderCore {
            ssm: Clients::new(aws.clone(), aws_sdk_ssm::Client::new),
            aws,
            nodes: Nodes::new(opts.poll),
            agent_role: opts.agent_role.unwrap_or_else(|| default_role.to_string()),
        }
    }

    /// The SSM client for `region`.
    pub fn ssm(&self, region: &str) -> aws_sdk_ssm::Client {
        self.ssm.get(region)
    }

    /// The preflight's findings every target shares, for a recipe built in `home`: secrets it names
    /// that are not there ([`crate::secrets::problems`]).
    pub async fn common_problems(&self, r: &LoadedRecipe, home: &str) -> Vec<String> {
        crate::secrets::problems(&self.aws, r, home).await
    }

    /// A recipe's build region: its `builder.region`, else the configuration's default region.
    pub fn home(&self, r: &LoadedRecipe) -> String {
        let named = r.recipe.builder.region.as_ref();
        self.aws.build_region(named.map(|n| n.value.as_str()))
    }
}
