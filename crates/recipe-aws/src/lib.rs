//! What every AWS provider shares, in one crate:
//!
//! - [`Aws`]: configuration from the standard chain (profile, region, endpoint) and the account;
//! - [`Clients`]: SDK clients per region;
//! - [`AwsError`] and [`Context`]: SDK errors with service, operation, code, message and request id,
//!   classified for retries, with help that fits;
//! - [`Poller`]: the coalesced poller (one describe call per kind, region and tick);
//! - [`tags`]: the tags every created resource carries.
//!
//! Only provider crates depend on it (it links the AWS SDK); the core crates do not.

mod clients;
mod config;
mod error;
pub mod network;
mod poll;
pub mod preflight;
pub mod tags;

pub use clients::Clients;
pub use config::{Aws, AwsOptions, Credentials, RegionChoice};
pub use error::{AwsError, AwsErrorDetail, Context, ErrorKind, persist};
pub use poll::{MAX_IDS_PER_CALL, Poller, Probe, ProbeError, ProbeFuture, Probed, WaitError};
