//! The contract between the core crates and the provider crates that needs neither an SDK nor the
//! recipe model, so that `recipe-aws` and the state backends can use it without linking the engine:
//!
//! - [`ErrorClass`], [`ActionError`] and [`ObserveError`]: failures classified for the engine's
//!   retry policy, each keeping its typed cause as its [`std::error::Error::source`];
//! - [`idle`]: the call-slot hook every wait runs in (see [`slot`]);
//! - [`tags`]: the tag keys every resource `recipe` creates carries;
//! - [`BoxFuture`]: what the object-safe provider methods return.

mod error;
pub mod slot;
pub mod tags;

use std::future::Future;
use std::pin::Pin;

pub use error::{
    ActionError, CLEANUP_ATTEMPTS, CLEANUP_BACKOFF, Cause, Classified, ErrorClass, ObserveError,
    persist,
};
pub use slot::idle;

/// A boxed, sendable future (what object-safe async methods return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
