//! What every provider whose builders run commands through SSM holds, once: the AWS configuration,
//! SSM clients per region, the [`Nodes`] its sessions share, and the role a hybrid activation gives
//! the agent. A provider keeps one [`ProviderCore`] and dereferences to it.

use std::future::Future;
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

/// `Deref<Target = ProviderCore>` for a provider that keeps its [`ProviderCore`] in a field
/// `core`, so the provider answers `home`, `ssm`, `on` and the rest itself.
#[macro_export]
macro_rules! provider_core {
    ($provider:ty) => {
        impl ::std::ops::Deref for $provider {
            type Target = $crate::ProviderCore;
            fn deref(&self) -> &$crate::ProviderCore {
                &self.core
            }
        }
    };
}

/// A provider that is its [`ProviderCore`] and nothing more: the struct, its `Deref`, and `new`,
/// whose agent role is `role` unless the options name another.
///
/// ```ignore
/// recipe_ssm::provider! {
///     /// The Kiosk provider.
///     pub struct KioskProvider, agent role "recipe-kiosk-builder"
/// }
/// ```
#[macro_export]
macro_rules! provider {
    ($(#[$doc:meta])* pub struct $provider:ident, agent role $role:expr) => {
        $(#[$doc])*
        pub struct $provider {
            core: $crate::ProviderCore,
        }

        $crate::provider_core!($provider);

        impl $provider {
            /// A provider for this AWS configuration (its region is the default build region).
            pub fn new(aws: $crate::reexport::Aws, opts: $crate::Options) -> $provider {
                let core = $crate::ProviderCore::new(aws, opts, $role);
                $provider { core }
            }
        }
    };
}

/// The part of a provider every SSM-driven target shares.
pub struct ProviderCore {
    /// The AWS configuration (its region is the default build region).
    pub aws: Aws,
    clients: Clients,
    /// The poller, the agents seen online, and the managed node found on each builder.
    pub nodes: Nodes,
    /// The role hybrid activations give the agent.
    pub agent_role: String,
}

impl ProviderCore {
    /// The core of a provider whose agent role is `default_role` unless `opts` names one.
    pub fn new(aws: Aws, opts: Options, default_role: &str) -> ProviderCore {
        ProviderCore {
            clients: Clients::new(aws.clone()),
            aws,
            nodes: Nodes::new(opts.poll),
            agent_role: opts.agent_role.unwrap_or_else(|| default_role.to_string()),
        }
    }

    /// The client for `region` of the service whose `Client::new` is `make` (one per service
    /// and region, shared by every action).
    pub fn client<C: Clone + Send + 'static>(
        &self,
        region: &str,
        make: fn(&recipe_aws::SdkConfig) -> C,
    ) -> C {
        self.clients.get(region, make)
    }

    /// The SSM client for `region`.
    pub fn ssm(&self, region: &str) -> aws_sdk_ssm::Client {
        self.client(region, aws_sdk_ssm::Client::new)
    }

    /// The preflight's findings every target shares, for a recipe built in `home`: secrets it names
    /// that are not there ([`crate::secrets::problems`]).
    pub async fn common_problems(&self, r: &LoadedRecipe, home: &str) -> Vec<String> {
        crate::secrets::problems(&self.aws, r, home).await
    }

    /// Where a wait on the command's poller asks: `region`, with `client` (that region's client).
    pub fn on<'a, C>(&'a self, region: &'a str, client: C) -> recipe_aws::On<'a, C> {
        recipe_aws::On {
            poller: &self.nodes.poller,
            region,
            client,
        }
    }

    /// A recipe's build region: its `builder.region`, else the configuration's default region.
    pub fn home(&self, r: &LoadedRecipe) -> String {
        let named = r.recipe.builder.region.as_ref();
        self.aws.build_region(named.map(|n| n.value.as_str()))
    }
}

/// Wait (`wait`) for `image` in `region` to become available. One that failed is discarded
/// (`discard` says what it did) and the build fails: the next apply rebuilds it. One that could
/// not be polled may still be fine: the action is retried and waits for it again.
pub async fn until_available<D>(
    s: &recipe_engine::ActionScope<'_>,
    (region, image): (&str, &str),
    wait: impl Future<Output = Result<(), recipe_aws::WaitError>>,
    discard: impl FnOnce() -> D,
) -> Result<(), recipe_engine::ActionError>
where
    D: Future<Output = Result<String, recipe_engine::ActionError>>,
{
    use recipe_aws::WaitError;
    use recipe_engine::ActionError;
    s.waiting(format!("{image} in {region} to become available"));
    match wait.await {
        Ok(()) => Ok(()),
        Err(WaitError::Failed(why)) => {
            let gone = match discard().await {
                Ok(done) => format!("{done}; apply again to rebuild"),
                Err(e) => format!("{image} could not be removed ({e}); remove it by hand"),
            };
            Err(ActionError::fatal(format!("{why}; {gone}")))
        }
        Err(WaitError::Polling(why)) => Err(ActionError::transient(format!(
            "{image} in {region}: {why}"
        ))),
    }
}

/// The build's image in the build region, once available: `wait(image)` waits for it, and one
/// that failed is deleted (`delete(image)`) as [`until_available`] says.
pub async fn image_available<W, D>(
    s: &recipe_engine::ActionScope<'_>,
    wait: impl FnOnce(String) -> W,
    delete: impl FnOnce(String) -> D,
) -> Result<recipe_engine::RecipeOutputs, recipe_engine::ActionError>
where
    W: Future<Output = Result<(), recipe_aws::WaitError>>,
    D: Future<Output = Result<(), recipe_engine::ActionError>>,
{
    let home = s.home.as_str();
    let image = s.need_image(home, "wait for")?;
    let discard = async || {
        delete(image.clone()).await?;
        Ok(format!("{image} was deleted"))
    };
    until_available(s, (home, &image), wait(image.clone()), discard).await?;
    Ok(recipe_engine::RecipeOutputs::image(home, image))
}
