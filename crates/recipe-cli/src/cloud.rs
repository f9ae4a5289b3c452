//! The cloud a command talks to: the AWS configuration from the standard chain (or the sandbox), and
//! the provider registry. The CLI makes no AWS call of its own: the providers and `recipe-aws` do.

use std::path::PathBuf;
use std::time::Duration;

use recipe_aws::{Aws, AwsOptions, Credentials};
use recipe_engine::Registry;

/// `--sandbox`, `--refresh`, `--profile`, `--region` and `--endpoint-url`, shared by plan and apply.
#[derive(clap::Args, Clone, Debug)]
pub struct CloudArgs {
    /// Run against the embedded local AWS endpoint (aws-sim) instead of AWS: no account needed. Its
    /// cloud is kept in `.recipe/sandbox/cloud` next to the recipes, and state defaults to
    /// `.recipe/sandbox/state`.
    #[arg(long)]
    pub sandbox: bool,
    /// Ask the cloud what exists (bases, images, copies). `--refresh=false` trusts recorded state.
    #[arg(long, env = "RECIPE_REFRESH", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub refresh: bool,
    /// The AWS profile (default: `AWS_PROFILE`, then `default`).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The build region for recipes without `builder.region` (default: `AWS_REGION`, then
    /// `AWS_DEFAULT_REGION`, then the profile's `region`).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Send AWS calls to this endpoint (default: `AWS_ENDPOINT_URL`, or the profile's `endpoint_url`).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

/// The cloud a command talks to: AWS, or the sandbox endpoint it started.
pub struct Cloud {
    /// The resolved AWS configuration.
    pub aws: Aws,
    /// The sandbox endpoint, kept alive while the command runs.
    pub sim: Option<aws_sim::Sim>,
}

impl Cloud {
    /// Connect: start the sandbox, or resolve the standard AWS configuration. Makes no call.
    /// `dot_recipe` is where the sandbox keeps its cloud (`sandbox/cloud`).
    pub async fn connect(
        args: &CloudArgs,
        dot_recipe: &std::path::Path,
    ) -> std::io::Result<Result<Cloud, recipe_aws::AwsError>> {
        let mut opts = AwsOptions {
            profile: args.profile.clone(),
            region: args.region.clone(),
            endpoint_url: args.endpoint_url.clone(),
            ..Default::default()
        };
        let sim = if args.sandbox {
            let sim = start_sandbox(dot_recipe.join("sandbox")).await?;
            opts.endpoint_url = Some(sim.url().to_string());
            opts.credentials = Some(Credentials::new(
                aws_sim::DEFAULT_ACCOUNT,
                "sandbox",
                None,
                None,
                "recipe-sandbox",
            ));
            opts.fallback_region = Some("us-east-1".into());
            Some(sim)
        } else {
            None
        };
        Ok(Aws::load(&opts).await.map(|aws| Cloud { aws, sim }))
    }

    /// One provider per target this build serves ([`crate::served`]).
    pub fn registry(&self, poll: Duration) -> Registry {
        crate::served::registry(&self.aws, poll)
    }

    /// The default poll interval: fast against the sandbox.
    pub fn default_poll(&self) -> Duration {
        Duration::from_millis(if self.sim.is_some() { 50 } else { 5000 })
    }
}

async fn start_sandbox(dir: PathBuf) -> std::io::Result<aws_sim::Sim> {
    let durations = aws_sim::Durations {
        image_copy_ms: 500,
        ..Default::default()
    };
    aws_sim::Sim::start(aws_sim::Config {
        durations,
        state_dir: Some(dir.join("cloud")),
        // The sandbox plays the person who registers the SSM agent on a builder WorkSpace.
        operator: true,
        // Linux builders are real root filesystems where the steps run (docs/sandbox.md).
        machines: Some(aws_sim::MachineConfig::under(dir.join("machines"))),
        ..Default::default()
    })
    .await
}
