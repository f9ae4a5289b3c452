//! The AWS side of plan and apply: the SDK configuration, the sandbox, and the observer.

use std::path::PathBuf;

use recipe_plan::{Observations, ObserveError, Observer, StateObserver};

/// `--sandbox` and `--refresh`, shared by plan and apply.
#[derive(clap::Args, Clone, Debug)]
pub struct CloudArgs {
    /// Run against the embedded local AWS endpoint (aws-sim) instead of AWS: no account needed. Its
    /// cloud is kept in `.recipe/sandbox/cloud`, and state defaults to `.recipe/sandbox/state`.
    #[arg(long)]
    pub sandbox: bool,
    /// Ask the cloud what exists (bases, images, copies). `--refresh=false` trusts recorded state.
    #[arg(long, env = "RECIPE_REFRESH", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub refresh: bool,
}

/// The sandbox's folder.
pub fn sandbox_dir() -> PathBuf {
    PathBuf::from(".recipe/sandbox")
}

/// The cloud a command talks to: AWS, or the sandbox endpoint it started.
pub struct Cloud {
    /// SDK configuration (endpoint, region, credentials).
    pub sdk: aws_config::SdkConfig,
    /// The sandbox endpoint, kept alive while the command runs.
    pub sim: Option<aws_sim::Sim>,
}

impl Cloud {
    /// Connect: start the sandbox, or load the standard AWS configuration.
    pub async fn connect(args: &CloudArgs, region: &str) -> std::io::Result<Cloud> {
        if args.sandbox {
            let durations = aws_sim::Durations {
                image_copy_ms: 500,
                ..Default::default()
            };
            let sim = aws_sim::Sim::start(aws_sim::Config {
                durations,
                state_dir: Some(sandbox_dir().join("cloud")),
                ..Default::default()
            })
            .await?;
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(sim.url())
                .region(aws_config::Region::new(region.to_string()))
                .credentials_provider(recipe_provider_ec2::Credentials::new(
                    aws_sim::DEFAULT_ACCOUNT,
                    "sandbox",
                    None,
                    None,
                    "recipe-sandbox",
                ))
                .load()
                .await;
            return Ok(Cloud {
                sdk,
                sim: Some(sim),
            });
        }
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .load()
            .await;
        Ok(Cloud { sdk, sim: None })
    }
}

/// The observer for a command: the EC2 provider's, or state only.
pub enum AnyObserver {
    /// Ask EC2 and SSM.
    Ec2(Box<recipe_provider_ec2::Ec2Observer>),
    /// Trust state.
    State(StateObserver),
}

impl Observer for AnyObserver {
    async fn observe(
        &self,
        recipes: &[&recipe_loader::LoadedRecipe],
        state: &std::collections::BTreeMap<String, recipe_state::RecipeState>,
    ) -> Result<Observations, ObserveError> {
        match self {
            AnyObserver::Ec2(o) => o.observe(recipes, state).await,
            AnyObserver::State(o) => o.observe(recipes, state).await,
        }
    }
}
