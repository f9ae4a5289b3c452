//! What `recipe` has built, and where that record lives.
//!
//! State is one document per recipe: every image version the tool produced, with its fingerprint,
//! image ids per region, shares, rollout and status. A [`StateStore`] keeps those documents with a
//! lock per recipe and optimistic concurrency (a save names the revision it read). [`LocalStore`] is
//! the embedded default on local disk; the S3 store lives in `recipe-state-s3` so this crate stays free
//! of the AWS SDK.

mod error;
mod local;
mod model;
mod runlog;
mod store;

pub use error::StateError;
pub use local::LocalStore;
pub use model::*;
pub use store::{
    LockInfo, Revision, StateStore, Stored, check_run, checksum, decode, encode, evidence_name,
    hex, with_fix,
};
