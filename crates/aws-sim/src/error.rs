//! Service errors, with the codes and HTTP statuses AWS documents.

/// An error answer. Each protocol renders it the way the SDK parses it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The error code (`InvalidAMIID.NotFound`, `ResourceNotFoundException`, ...).
    pub code: String,
    /// Human message.
    pub message: String,
}

impl ApiError {
    /// A 400 client error.
    pub fn client(code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            code: code.into(),
            message: message.into(),
        }
    }

    /// An operation this endpoint does not serve.
    pub fn unsupported(service: &str, op: &str) -> ApiError {
        ApiError {
            status: 400,
            code: "InvalidAction".into(),
            message: format!("aws-sim does not implement {service}:{op} (see docs/aws-sim.md)"),
        }
    }

    /// A missing or malformed parameter.
    pub fn missing(name: &str) -> ApiError {
        ApiError::client(
            "MissingParameter",
            format!("the request must contain the parameter {name}"),
        )
    }
}
