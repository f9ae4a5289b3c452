//! `aws-sim`: a local AWS endpoint for tests, benchmarks and the sandbox.
//!
//! It serves the operations `recipe`'s providers use, over the wire protocols the official SDK clients
//! speak: EC2 (ec2Query: form-encoded requests, XML responses), STS (awsQuery), SSM and WorkSpaces
//! (awsJson1_1), and AppStream 2.0 (Smithy RPC v2 CBOR). Region and account come from each request's SigV4 credential
//! scope and access key (an access key id of 12 digits acts as that account).
//!
//! What moto does not give: resources move through their pending phases on a clock ([`Durations`]);
//! shares are visible to the account they were shared with; faults can be injected ([`Faults`]); and
//! every request is logged with counts per operation ([`RequestLog`]). State is in memory, optionally
//! persisted to a folder.
//!
//! Start it in-process with [`Sim::start`] (tests), or as the `aws-sim` binary (humans, benchmarks, the
//! sandbox). `/_sim/*` is the admin API: see docs/aws-sim.md.

mod admin;
mod appstream;
mod clock;
mod ds;
mod ec2;
mod ec2_access;
mod ec2_net;
mod error;
mod faults;
pub mod iam_kms;
mod kms;
pub mod machine;
pub mod machine_jobs;
mod members;
mod protocol;
mod quotas;
mod s3;
mod secrets;
mod server;
mod ssm;
mod ssm_hybrid;
mod ssm_windows;
mod sts;
pub mod windows;
mod workspaces;
mod world;

pub use clock::Durations;
pub use ec2::{AMAZON as AMAZON_ACCOUNT, SQUATTER as SQUATTER_ACCOUNT};
pub use error::ApiError;
pub use faults::{Faults, ScriptedFault};
pub use machine::MachineConfig;
pub use server::{Config, RequestLog, RequestRecord, Sim};
pub use ssm::CommandScript;
pub use ssm_windows::REGISTRATION as WINDOWS_REGISTRATION;
pub use world::World;

/// The default account: requests whose access key id is not 12 digits act as this account.
pub const DEFAULT_ACCOUNT: &str = "123456789012";
