//! Failures that cross from a provider into the core, classified once and keeping their cause.

use std::sync::Arc;

/// The typed cause behind a failure (an SDK error with its code and request id, an I/O error):
/// shared, so that errors stay cheap to clone into events and journals.
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// How a failure should be treated. One classification for the engine's retry policy and for the
/// AWS layer's help (`recipe-aws` classifies SDK errors into it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The service asked us to slow down: retry with backoff.
    Throttling,
    /// A 5xx, a timeout, a dropped connection: retry with backoff.
    Transient,
    /// A resource just created is not visible yet (`InvalidAMIID.NotFound` right after CreateImage):
    /// retry with backoff.
    EventualConsistency,
    /// No credentials, or credentials the service refused: do not retry.
    Credentials,
    /// The credentials are valid but not allowed to do this: do not retry.
    AccessDenied,
    /// Anything else: the request itself is wrong; do not retry.
    Fatal,
    /// A gate: a person must act, as the message says. The build stops here, keeps its builder, and
    /// a later apply resumes it past the gate.
    Paused,
}

impl ErrorClass {
    /// Whether trying again later may succeed (throttling, a 5xx, a resource not visible yet).
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::Throttling | ErrorClass::Transient | ErrorClass::EventualConsistency
        )
    }
}

/// A failure that knows its class (an [`ActionError`], an AWS error).
pub trait Classified {
    /// How to treat it.
    fn class(&self) -> ErrorClass;
}

impl Classified for ActionError {
    fn class(&self) -> ErrorClass {
        self.class
    }
}

/// Attempts for a clean-up call after the run (terminating a builder, removing an image).
pub const CLEANUP_ATTEMPTS: u32 = 6;
/// The first wait between them (doubling).
pub const CLEANUP_BACKOFF: std::time::Duration = std::time::Duration::from_millis(200);

/// Run a clean-up call (terminating a builder, removing an image) until it succeeds, its error is not
/// retryable, or `attempts` are spent, backing off from `first` (doubling) inside [`crate::idle`].
/// Clean-ups run after the engine, whose retries they do not get; the SDK's own three attempts are
/// not enough under heavy throttling, and a builder left running costs money.
pub async fn persist<T, E, F, Fut>(
    attempts: u32,
    first: std::time::Duration,
    mut call: F,
) -> Result<T, E>
where
    E: Classified,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut wait = first;
    let mut n = 1;
    loop {
        match call().await {
            Err(e) if e.class().retryable() && n < attempts => {
                crate::idle(tokio::time::sleep(wait)).await;
                wait = wait.saturating_mul(2);
                n += 1;
            }
            other => return other,
        }
    }
}

/// An action's failure: what to show (`message`, complete in itself), how to treat it, and the
/// typed cause for code that wants the service's error code or request id.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct ActionError {
    /// How to treat it.
    pub class: ErrorClass,
    /// What happened, as shown to the user.
    pub message: String,
    /// What caused it, when it came from a typed error.
    #[source]
    pub cause: Option<Cause>,
}

impl ActionError {
    /// A failure of this class.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> ActionError {
        ActionError {
            class,
            message: message.into(),
            cause: None,
        }
    }

    /// A failure that will not go away by retrying.
    pub fn fatal(message: impl Into<String>) -> ActionError {
        ActionError::new(ErrorClass::Fatal, message)
    }

    /// A failure that may go away by retrying.
    pub fn transient(message: impl Into<String>) -> ActionError {
        ActionError::new(ErrorClass::Transient, message)
    }

    /// A gate: `instructions` say what a person must do before the next apply goes on.
    pub fn paused(instructions: impl Into<String>) -> ActionError {
        ActionError::new(ErrorClass::Paused, instructions)
    }

    /// The same failure, keeping `cause` as its source.
    pub fn caused_by(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Arc::new(cause));
        self
    }

    /// The cause, if it is an `E`.
    pub fn cause_as<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.cause.as_deref()?.downcast_ref::<E>()
    }
}

/// Two failures are the same when they are treated and shown alike (the cause is not compared).
impl PartialEq for ActionError {
    fn eq(&self, other: &Self) -> bool {
        self.class == other.class && self.message == other.message
    }
}

impl Eq for ActionError {}

/// Why observing the cloud for the planner failed.
#[derive(Clone, Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot observe {what}: {detail}")]
#[diagnostic(
    code(recipe::plan::observe),
    help("check credentials and the endpoint, or plan with --refresh=false to trust state")
)]
#[non_exhaustive]
pub struct ObserveError {
    /// What was being observed.
    pub what: String,
    /// The failure, as shown to the user.
    pub detail: String,
    /// What caused it, when it came from a typed error.
    #[source]
    pub cause: Option<Cause>,
}

impl ObserveError {
    /// A failure to observe `what`.
    pub fn new(what: impl Into<String>, detail: impl Into<String>) -> ObserveError {
        ObserveError {
            what: what.into(),
            detail: detail.into(),
            cause: None,
        }
    }

    /// The same failure, keeping `cause` as its source.
    pub fn caused_by(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Arc::new(cause));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("InvalidAMIID.NotFound")]
    struct Sdk;

    #[test]
    fn only_throttling_transient_and_not_visible_yet_are_retried() {
        use ErrorClass::*;
        let retried: Vec<_> = [
            Throttling,
            Transient,
            EventualConsistency,
            Credentials,
            AccessDenied,
            Fatal,
            Paused,
        ]
        .into_iter()
        .filter(|c| c.retryable())
        .collect();
        assert_eq!(retried, [Throttling, Transient, EventualConsistency]);
    }

    #[test]
    fn the_cause_is_kept_as_the_source_and_can_be_read_back() {
        let e = ActionError::fatal("capture failed").caused_by(Sdk);
        let source = std::error::Error::source(&e).expect("a source");
        assert_eq!(source.to_string(), "InvalidAMIID.NotFound");
        assert!(e.cause_as::<Sdk>().is_some());
        assert!(e.cause_as::<std::io::Error>().is_none());
        assert_eq!(
            e,
            ActionError::fatal("capture failed"),
            "the cause is not compared"
        );
    }
}
