//! Configuration from the standard AWS chain, as the AWS CLI resolves it.
//!
//! - The profile: `--profile`, else `AWS_PROFILE`, else `default`. A profile named but not defined in
//!   the shared config or credentials file is an error that names it.
//! - The default build region: `--region`, else `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the
//!   profile's `region`. A recipe's `builder.region` overrides it for that recipe.
//! - The endpoint: `--endpoint-url`, else what the SDK reads itself (`AWS_ENDPOINT_URL`,
//!   `AWS_ENDPOINT_URL_<SERVICE>`, the profile's `endpoint_url`).
//! - The account: STS GetCallerIdentity.

use std::borrow::Cow;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_types::os_shim_internal::{Env, Fs};

use crate::error::{AwsError, AwsErrorDetail, Context};
use recipe_provider_api::ErrorClass;

pub use aws_credential_types::Credentials;

/// What the command line says; the rest comes from the environment and the shared files.
#[derive(Clone, Debug, Default)]
pub struct AwsOptions {
    /// `--profile`.
    pub profile: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `--endpoint-url`.
    pub endpoint_url: Option<String>,
    /// Fixed credentials (the sandbox), instead of the chain.
    pub credentials: Option<Credentials>,
    /// The region when nothing names one (the sandbox); otherwise none is assumed.
    pub fallback_region: Option<String>,
}

/// A region and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionChoice {
    /// The region.
    pub name: String,
    /// `--region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, `profile dev`, …
    pub source: String,
}

/// The resolved AWS configuration.
#[derive(Clone, Debug)]
pub struct Aws {
    /// The SDK configuration (credentials, endpoint, default region).
    pub sdk: SdkConfig,
    /// The default build region, if any source names one.
    pub region: Option<RegionChoice>,
    /// The profile in use.
    pub profile: String,
}

impl Aws {
    /// A recipe's build region: its `builder.region`, else this configuration's default region.
    pub fn build_region(&self, builder_region: Option<&str>) -> String {
        match builder_region {
            Some(n) => n.to_string(),
            None => self
                .region
                .as_ref()
                .map(|c| c.name.clone())
                .unwrap_or_default(),
        }
    }

    /// Resolve the configuration. Reads the environment and the shared files; makes no call.
    pub async fn load(opts: &AwsOptions) -> Result<Aws, AwsError> {
        Self::load_with(opts, &Env::real(), &Fs::real()).await
    }

    /// [`Aws::load`] with a given environment and file system (tests).
    pub async fn load_with(opts: &AwsOptions, env: &Env, fs: &Fs) -> Result<Aws, AwsError> {
        let named = opts.profile.clone().or_else(|| env.get("AWS_PROFILE").ok());
        let profile = named.clone().unwrap_or_else(|| "default".into());
        let profile_region = profile_region(env, fs, &profile, named.is_some()).await?;
        let region = choose_region(opts, env, profile_region, &profile);
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(p) = &named {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &region {
            loader = loader.region(Region::new(r.name.clone()));
        }
        if let Some(url) = &opts.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(c) = &opts.credentials {
            loader = loader.credentials_provider(c.clone());
        }
        let sdk = loader.load().await;
        Ok(Aws {
            sdk,
            region,
            profile,
        })
    }

    /// The default build region, or an error saying how to set one.
    pub fn region(&self) -> Result<&RegionChoice, AwsError> {
        self.region.as_ref().ok_or_else(|| {
            AwsError::new(AwsErrorDetail {
            service: "config",
            operation: "region",
            code: None,
            message: "no AWS region is set".into(),
            request_id: None,
            kind: ErrorClass::Fatal,
            help: Some(format!(
                "set builder.region in the recipes, pass --region, set AWS_REGION or AWS_DEFAULT_REGION, or add `region = …` to the profile `{}`",
                self.profile
            )),
            })
        })
    }

    /// The SDK configuration for `region`.
    pub fn regional(&self, region: &str) -> SdkConfig {
        self.sdk
            .to_builder()
            .region(Region::new(region.to_string()))
            .build()
    }

    /// The account the credentials belong to (STS GetCallerIdentity, in `region`).
    pub async fn account(&self, region: &str) -> Result<String, AwsError> {
        let sts = aws_sdk_sts::Client::new(&self.regional(region));
        let me = sts
            .get_caller_identity()
            .send()
            .await
            .ctx("sts", "GetCallerIdentity")?;
        Ok(me.account().unwrap_or_default().to_string())
    }
}

fn choose_region(
    opts: &AwsOptions,
    env: &Env,
    profile_region: Option<String>,
    profile: &str,
) -> Option<RegionChoice> {
    let choice = |name: String, source: &str| RegionChoice {
        name,
        source: source.to_string(),
    };
    let from_env = |var: &str| env.get(var).ok().filter(|v| !v.is_empty());
    opts.region
        .clone()
        .map(|r| choice(r, "--region"))
        .or_else(|| from_env("AWS_REGION").map(|r| choice(r, "AWS_REGION")))
        .or_else(|| from_env("AWS_DEFAULT_REGION").map(|r| choice(r, "AWS_DEFAULT_REGION")))
        .or_else(|| profile_region.map(|r| choice(r, &format!("profile {profile}"))))
        .or_else(|| {
            opts.fallback_region
                .clone()
                .map(|r| choice(r, "the sandbox default"))
        })
}

/// The profile's `region`; an error if the profile was asked for by name and is not defined.
async fn profile_region(
    env: &Env,
    fs: &Fs,
    profile: &str,
    named: bool,
) -> Result<Option<String>, AwsError> {
    let config_error = |message: String, help: String| {
        AwsError::new(AwsErrorDetail {
            service: "config",
            operation: "profile",
            code: None,
            message,
            request_id: None,
            kind: ErrorClass::Credentials,
            help: Some(help),
        })
    };
    let files = EnvConfigFiles::default();
    let set = aws_config::profile::load(fs, env, &files, Some(Cow::Owned(profile.to_string())))
        .await
        .map_err(|e| {
            config_error(
                format!("the AWS shared config could not be read: {e}"),
                "fix the file (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, or ~/.aws/)".into(),
            )
        })?;
    match set.get_profile(profile) {
        Some(p) => Ok(p.get("region").map(str::to_string)),
        None if named => {
            let mut known: Vec<&str> = set.profiles().collect();
            known.sort_unstable();
            Err(config_error(
                format!("the AWS profile `{profile}` is not defined"),
                if known.is_empty() {
                    format!(
                        "no profile is defined: run `aws configure --profile {profile}`, or unset AWS_PROFILE"
                    )
                } else {
                    format!(
                        "the profiles defined are: {}; pass one with --profile or AWS_PROFILE",
                        known.join(", ")
                    )
                },
            ))
        }
        None => Ok(None),
    }
}
