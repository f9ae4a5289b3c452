//! What every AWS provider shares, in one crate:
//!
//! - [`Aws`]: configuration from the standard chain (profile, region, endpoint) and the account;
//! - [`Clients`]: SDK clients per region;
//! - [`AwsError`] and [`Context`]: SDK errors with service, operation, code, message and request id,
//!   classified for retries, with help that fits;
//! - [`Poller`]: the coalesced poller (one describe call per kind, region and tick);
//! - [`tags`]: the tags every created resource carries (from `recipe-provider-api`, re-exported).
//!
//! Only provider crates and the S3 state store depend on it (it links the AWS SDK); it depends on no
//! core crate, only on the contract in `recipe-provider-api`.

mod clients;
mod config;
mod error;
pub mod network;
mod pages;
mod poll;
pub mod preflight;

pub use aws_config::SdkConfig;
pub use clients::Clients;
pub use config::{Aws, AwsOptions, Credentials, RegionChoice};
pub use error::{AwsError, AwsErrorDetail, Context};
pub use pages::every_page;
pub use poll::{
    Batch, MAX_IDS_PER_CALL, On, Poller, Probe, ProbeError, ProbeFuture, Probed, WaitError,
    probe_each,
};
pub use recipe_provider_api::{CLEANUP_ATTEMPTS, CLEANUP_BACKOFF, ErrorClass, persist, tags};
