//! SDK errors with their context (service, operation, code, message, request id), classified for the
//! engine's retry policy, with help that fits the error. Never shown as a `{:?}` dump.

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::request_id::RequestId;
use recipe_provider_api::{ActionError, ErrorClass, ObserveError};

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
    pub kind: ErrorClass,
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
            ErrorClass::Throttling => "throttled",
            ErrorClass::Transient => "unavailable",
            ErrorClass::EventualConsistency => "not-visible-yet",
            ErrorClass::Credentials => "credentials",
            ErrorClass::AccessDenied => "access-denied",
            _ => "request",
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

fn kind_of(code: &str, status: u16) -> ErrorClass {
    if THROTTLING.contains(&code) {
        ErrorClass::Throttling
    } else if CREDENTIALS.contains(&code) {
        ErrorClass::Credentials
    } else if ACCESS_DENIED.contains(&code) {
        ErrorClass::AccessDenied
    } else if eventually_consistent(code) {
        ErrorClass::EventualConsistency
    } else if status >= 500 || SERVER.contains(&code) {
        ErrorClass::Transient
    } else {
        ErrorClass::Fatal
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
            kind: ErrorClass::Transient,
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
                    err.kind = ErrorClass::Credentials;
                } else {
                    err.help = Some("the endpoint could not be reached: check the network, the region, and any endpoint override (AWS_ENDPOINT_URL)".into());
                }
            }
            _ => {
                err.message = DisplayErrorContext(e).to_string();
                err.kind = if mentions_credentials(&err.message) {
                    ErrorClass::Credentials
                } else {
                    ErrorClass::Fatal
                };
            }
        }
        err.help = err.help.take().or_else(|| err.default_help());
        err
    }

    fn default_help(&self) -> Option<String> {
        match self.kind {
            ErrorClass::Credentials => Some(CREDENTIALS_HELP.into()),
            ErrorClass::AccessDenied => Some(format!(
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

    /// What a delete's answer means for the action: done, also when the resource is already gone
    /// (`ResourceNotFoundException`, or [`AwsError::is_gone`]); refused for good when the message
    /// says `in_use` (something still uses it: retrying will not free it); otherwise the error as
    /// classified.
    pub fn deleted<T>(
        answer: Result<T, AwsError>,
        in_use: &str,
    ) -> Result<(), recipe_provider_api::ActionError> {
        match answer {
            Ok(_) => Ok(()),
            Err(e) if e.is("ResourceNotFoundException") || e.is_gone() => Ok(()),
            Err(e) => {
                let mut err = recipe_provider_api::ActionError::from(e);
                if err.message.contains(in_use) {
                    err.class = ErrorClass::Fatal;
                }
                Err(err)
            }
        }
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
            kind: ErrorClass::Fatal,
            help: Some("the endpoint answered in an unexpected shape: check any endpoint override (AWS_ENDPOINT_URL)".into()),
        })
    }

    /// Whether trying again later may succeed (throttling, a 5xx, a resource not visible yet).
    pub fn is_retryable(&self) -> bool {
        self.kind.retryable()
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

/// The message shows the error and its help; the error itself stays as the cause.
impl From<AwsError> for ActionError {
    fn from(e: AwsError) -> ActionError {
        ActionError::new(e.kind, e.message_and_help()).caused_by(e)
    }
}

impl From<AwsError> for ObserveError {
    fn from(e: AwsError) -> ObserveError {
        let what = format!("{} ({})", e.operation, e.service);
        ObserveError::new(what, e.message_and_help()).caused_by(e)
    }
}

impl AwsError {
    /// The error, then its help when it has one.
    pub fn message_and_help(&self) -> String {
        match &self.help {
            Some(help) => format!("{self}; {help}"),
            None => self.to_string(),
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

impl recipe_provider_api::Classified for AwsError {
    fn class(&self) -> ErrorClass {
        self.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        assert_eq!(kind_of("RequestLimitExceeded", 503), ErrorClass::Throttling);
        assert_eq!(kind_of("ThrottlingException", 400), ErrorClass::Throttling);
        assert_eq!(
            kind_of("InvalidAMIID.NotFound", 400),
            ErrorClass::EventualConsistency
        );
        assert_eq!(kind_of("InvalidAMIID.Malformed", 400), ErrorClass::Fatal);
        assert_eq!(kind_of("AuthFailure", 401), ErrorClass::Credentials);
        assert_eq!(
            kind_of("UnauthorizedOperation", 403),
            ErrorClass::AccessDenied
        );
        assert_eq!(kind_of("Whatever", 500), ErrorClass::Transient);
        assert_eq!(kind_of("ParameterNotFound", 400), ErrorClass::Fatal);
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
        let cred = mk(ErrorClass::Credentials);
        assert!(
            cred.default_help()
                .unwrap()
                .contains("check the credentials")
        );
        for k in [
            ErrorClass::Fatal,
            ErrorClass::Transient,
            ErrorClass::AccessDenied,
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
