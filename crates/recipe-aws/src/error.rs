//! SDK errors with their context (service, operation, code, message, request id), classified for the
//! engine's retry policy, with help that fits the error. Never shown as a `{:?}` dump.

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::request_id::RequestId;
use recipe_engine::{ActionError, ErrorClass};

/// What kind of failure an AWS call had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The service asked us to slow down.
    Throttling,
    /// A 5xx, a timeout, a dropped connection.
    Transient,
    /// A resource just created is not visible yet.
    EventualConsistency,
    /// No credentials, or credentials the service refused.
    Credentials,
    /// The credentials are valid but not allowed to do this.
    AccessDenied,
    /// Anything else: the request itself is wrong.
    Fatal,
}

/// A failed AWS call, with its context (boxed: errors travel in every `Result`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct AwsError(Box<AwsErrorDetail>);

impl AwsError {
    /// An error with these details.
    pub fn new(detail: AwsErrorDetail) -> AwsError {
        AwsError(Box::new(detail))
    }
}

impl std::ops::Deref for AwsError {
    type Target = AwsErrorDetail;
    fn deref(&self) -> &AwsErrorDetail {
        &self.0
    }
}

impl std::ops::DerefMut for AwsError {
    fn deref_mut(&mut self) -> &mut AwsErrorDetail {
        &mut self.0
    }
}

/// What is known of a failed AWS call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsErrorDetail {
    /// The service (`ec2`, `ssm`, `sts`, …).
    pub service: &'static str,
    /// The operation (`DescribeImages`).
    pub operation: &'static str,
    /// The error code the service returned, if it answered.
    pub code: Option<String>,
    /// What went wrong.
    pub message: String,
    /// The request id, for AWS support.
    pub request_id: Option<String>,
    /// How to treat it.
    pub kind: ErrorKind,
    /// How to fix it, when there is something to say.
    pub help: Option<String>,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Configuration problems are found before any call.
        if self.service == "config" {
            return f.write_str(&self.message);
        }
        write!(f, "{} {} failed: ", self.service, self.operation)?;
        match &self.code {
            Some(code) if !self.message.is_empty() => write!(f, "{code}: {}", self.message)?,
            Some(code) => f.write_str(code)?,
            None => f.write_str(&self.message)?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl miette::Diagnostic for AwsError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let kind = match self.kind {
            ErrorKind::Throttling => "throttled",
            ErrorKind::Transient => "unavailable",
            ErrorKind::EventualConsistency => "not-visible-yet",
            ErrorKind::Credentials => "credentials",
            ErrorKind::AccessDenied => "access-denied",
            ErrorKind::Fatal => "request",
        };
        if self.service == "config" {
            return Some(Box::new(format!("recipe::aws::{}", self.operation)));
        }
        Some(Box::new(format!("recipe::aws::{kind}")))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
}

const THROTTLING: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
];

const CREDENTIALS: &[&str] = &[
    "AuthFailure",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "InvalidAccessKeyId",
];

const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
];

const SERVER: &[&str] = &[
    "InternalError",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
];

/// A just-created resource that is not visible yet: EC2's `*.NotFound` for AMIs, instances and
/// snapshots, SSM's invocation and agent registration.
fn eventually_consistent(code: &str) -> bool {
    let ec2 = code.ends_with(".NotFound")
        && ["InvalidAMIID", "InvalidInstanceID", "InvalidSnapshot"]
            .iter()
            .any(|p| code.starts_with(p));
    ec2 || code == "InvocationDoesNotExist" || code == "InvalidInstanceId"
}

fn kind_of(code: &str, status: u16) -> ErrorKind {
    if THROTTLING.contains(&code) {
        ErrorKind::Throttling
    } else if CREDENTIALS.contains(&code) {
        ErrorKind::Credentials
    } else if ACCESS_DENIED.contains(&code) {
        ErrorKind::AccessDenied
    } else if eventually_consistent(code) {
        ErrorKind::EventualConsistency
    } else if status >= 500 || SERVER.contains(&code) {
        ErrorKind::Transient
    } else {
        ErrorKind::Fatal
    }
}

const CREDENTIALS_HELP: &str = "check the credentials: AWS_PROFILE or --profile, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or `aws sso login` for an SSO profile";

impl AwsError {
    /// Classify an SDK error from `service`'s `operation`.
    pub fn from_sdk<E>(
        service: &'static str,
        operation: &'static str,
        e: &SdkError<E, Response>,
    ) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let request_id = e.request_id().map(str::to_string);
        let mut err = AwsError::new(AwsErrorDetail {
            service,
            operation,
            code: None,
            message: String::new(),
            request_id,
            kind: ErrorKind::Transient,
            help: None,
        });
        match e {
            SdkError::ServiceError(se) => {
                let code = se.err().code().unwrap_or("").to_string();
                err.kind = kind_of(&code, se.raw().status().as_u16());
                err.message = se.err().message().unwrap_or("").to_string();
                err.code = (!code.is_empty()).then_some(code);
            }
            SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
                err.message = DisplayErrorContext(e).to_string();
            }
            SdkError::DispatchFailure(d) => {
                err.message = DisplayErrorContext(e).to_string();
                if !d.is_io() && !d.is_timeout() && mentions_credentials(&err.message) {
                    err.kind = ErrorKind::Credentials;
                } else {
                    err.help = Some("the endpoint could not be reached: check the network, the region, and any endpoint override (AWS_ENDPOINT_URL)".into());
                }
            }
            _ => {
                err.message = DisplayErrorContext(e).to_string();
                err.kind = if mentions_credentials(&err.message) {
                    ErrorKind::Credentials
                } else {
                    ErrorKind::Fatal
                };
            }
        }
        err.help = err.help.take().or_else(|| err.default_help());
        err
    }

    fn default_help(&self) -> Option<String> {
        match self.kind {
            ErrorKind::Credentials => Some(CREDENTIALS_HELP.into()),
            ErrorKind::AccessDenied => Some(format!(
                "the credentials are valid but may not call {}:{}: grant it to the role or user",
                self.service, self.operation
            )),
            _ => None,
        }
    }

    /// Replace the help (a missing SSM parameter names the parameter, …).
    pub fn with_help(mut self, help: impl Into<String>) -> AwsError {
        self.help = Some(help.into());
        self
    }

    /// Whether the service answered with `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// Whether the resource a delete or deregister was meant for is already gone: then the call's
    /// purpose is met (a retried or resumed action, or something removed by hand).
    pub fn is_gone(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(
                "InvalidAMIID.NotFound"
                    | "InvalidAMIID.Unavailable"
                    | "InvalidSnapshot.NotFound"
                    | "InvalidInstanceID.NotFound"
            )
        )
    }

    /// An answer that lacks a field the call always returns: an error naming the call, rather than an
    /// empty id to wait on.
    pub fn missing(service: &'static str, operation: &'static str, field: &str) -> AwsError {
        AwsError::new(AwsErrorDetail {
            service,
            operation,
            code: None,
            message: format!("the answer has no {field}"),
            request_id: None,
            kind: ErrorKind::Fatal,
            help: Some("the endpoint answered in an unexpected shape: check any endpoint override (AWS_ENDPOINT_URL)".into()),
        })
    }

    /// Whether trying again later may succeed (throttling, a 5xx, a resource not visible yet).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Throttling | ErrorKind::Transient | ErrorKind::EventualConsistency
        )
    }

    /// Whether the service said the resource does not exist (`*NotFound*` codes).
    pub fn is_not_found(&self) -> bool {
        self.code.as_deref().is_some_and(|c| c.contains("NotFound"))
    }
}

fn mentions_credentials(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("credential") || t.contains("no token") || t.contains("sso")
}

impl From<AwsError> for ActionError {
    fn from(e: AwsError) -> ActionError {
        let class = match e.kind {
            ErrorKind::Throttling => ErrorClass::Throttling,
            ErrorKind::Transient => ErrorClass::Transient,
            ErrorKind::EventualConsistency => ErrorClass::EventualConsistency,
            ErrorKind::Credentials | ErrorKind::AccessDenied | ErrorKind::Fatal => {
                ErrorClass::Fatal
            }
        };
        let message = match &e.help {
            Some(help) => format!("{e}; {help}"),
            None => e.to_string(),
        };
        ActionError { class, message }
    }
}

impl From<AwsError> for recipe_plan::ObserveError {
    fn from(e: AwsError) -> recipe_plan::ObserveError {
        recipe_plan::ObserveError {
            what: format!("{} ({})", e.operation, e.service),
            detail: match &e.help {
                Some(help) => format!("{e}; {help}"),
                None => e.to_string(),
            },
        }
    }
}

/// `.ctx(service, operation)` on an SDK call's result.
pub trait Context<T> {
    /// The error with its context and class.
    fn ctx(self, service: &'static str, operation: &'static str) -> Result<T, AwsError>;
}

impl<T, E> Context<T> for Result<T, SdkError<E, Response>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn ctx(self, service: &'static str, operation: &'static str) -> Result<T, AwsError> {
        self.map_err(|e| AwsError::from_sdk(service, operation, &e))
    }
}

/// Run a clean-up call (terminating a builder, removing an image) until it succeeds, its error is not
/// retryable, or `attempts` are spent, backing off from `first` (doubling). Clean-ups run after the
/// engine, whose retries they do not get; the SDK's own three attempts are not enough under heavy
/// throttling, and a builder left running costs money.
pub async fn persist<T, F, Fut>(
    attempts: u32,
    first: std::time::Duration,
    mut call: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut wait = first;
    let mut n = 1;
    loop {
        match call().await {
            Err(e) if e.is_retryable() && n < attempts => {
                recipe_engine::idle(tokio::time::sleep(wait)).await;
                wait = wait.saturating_mul(2);
                n += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        assert_eq!(kind_of("RequestLimitExceeded", 503), ErrorKind::Throttling);
        assert_eq!(kind_of("ThrottlingException", 400), ErrorKind::Throttling);
        assert_eq!(
            kind_of("InvalidAMIID.NotFound", 400),
            ErrorKind::EventualConsistency
        );
        assert_eq!(kind_of("InvalidAMIID.Malformed", 400), ErrorKind::Fatal);
        assert_eq!(kind_of("AuthFailure", 401), ErrorKind::Credentials);
        assert_eq!(
            kind_of("UnauthorizedOperation", 403),
            ErrorKind::AccessDenied
        );
        assert_eq!(kind_of("Whatever", 500), ErrorKind::Transient);
        assert_eq!(kind_of("ParameterNotFound", 400), ErrorKind::Fatal);
    }

    #[test]
    fn only_credential_errors_say_to_check_credentials() {
        let mk = |kind| {
            AwsError::new(AwsErrorDetail {
                service: "ec2",
                operation: "DescribeImages",
                code: Some("X".into()),
                message: "m".into(),
                request_id: Some("r-1".into()),
                kind,
                help: None,
            })
        };
        let cred = mk(ErrorKind::Credentials);
        assert!(
            cred.default_help()
                .unwrap()
                .contains("check the credentials")
        );
        for k in [
            ErrorKind::Fatal,
            ErrorKind::Transient,
            ErrorKind::AccessDenied,
        ] {
            let help = mk(k).default_help().unwrap_or_default();
            assert!(!help.contains("check the credentials"), "{k:?}: {help}");
        }
        assert_eq!(
            cred.to_string(),
            "ec2 DescribeImages failed: X: m (request id r-1)"
        );
    }
}
