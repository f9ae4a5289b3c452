//! State errors: each says what failed and how to recover.

use std::path::PathBuf;

/// Why a state operation failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StateError {
    /// The store could not be read or written.
    #[error("cannot access state at `{path}`: {error}")]
    #[diagnostic(
        code(recipe::state::io),
        help("check that the state location exists and is writable")
    )]
    Io {
        /// What was being accessed.
        path: PathBuf,
        /// The I/O error, in the message (not a source, which miette would print a second time).
        error: std::io::Error,
    },
    /// A state document is damaged.
    #[error("state for `{recipe}` is corrupt: {detail}")]
    #[diagnostic(code(recipe::state::corrupt), help("nothing was changed; {fix}"))]
    Corrupt {
        /// The recipe.
        recipe: String,
        /// What is wrong.
        detail: String,
        /// What to do, as the store knows it (a backup that exists, a command that exists).
        fix: String,
    },
    /// Someone else saved the document since it was read.
    #[error(
        "state for `{recipe}` changed since it was read (expected revision {expected}, found {found})"
    )]
    #[diagnostic(
        code(recipe::state::conflict),
        help("another run updated this recipe; plan again to see the current state")
    )]
    Conflict {
        /// The recipe.
        recipe: String,
        /// The revision the caller read.
        expected: String,
        /// The revision the store has.
        found: String,
    },
    /// The recipe's lock is held by someone else.
    #[error("state for `{recipe}` is locked by {holder} (waited {waited_ms} ms)")]
    #[diagnostic(
        code(recipe::state::locked),
        help(
            "wait for the other run to finish, raise --lock-timeout, or, if it died, remove the lock with `recipe state unlock {recipe}`"
        )
    )]
    Locked {
        /// The recipe.
        recipe: String,
        /// Who holds it.
        holder: String,
        /// How long we waited.
        waited_ms: u64,
    },
    /// A backend-specific failure (the S3 store's service errors).
    #[error("state backend error: {detail}")]
    #[diagnostic(code(recipe::state::backend))]
    Backend {
        /// What failed, complete in itself.
        detail: String,
        /// The typed cause (an S3 error with its code and request id), when there is one.
        #[source]
        cause: Option<recipe_provider_api::Cause>,
    },
    /// A name that cannot be a state key.
    #[error("`{0}` is not a valid recipe name for state")]
    #[diagnostic(
        code(recipe::state::name),
        help("recipe names are lowercase letters, digits and `-`")
    )]
    BadName(String),
}

impl StateError {
    /// A backend failure described by `detail`.
    pub fn backend(detail: impl Into<String>) -> StateError {
        StateError::Backend {
            detail: detail.into(),
            cause: None,
        }
    }

    /// A backend failure described by `detail`, keeping `cause` as its source.
    pub fn backend_caused_by(
        detail: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> StateError {
        StateError::Backend {
            detail: detail.into(),
            cause: Some(std::sync::Arc::new(cause)),
        }
    }
}
