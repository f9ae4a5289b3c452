//! Choosing the state store from `--state`.

use std::path::PathBuf;
use std::time::Duration;

use recipe_state::{LocalStore, LockInfo, RecipeState, Revision, StateError, StateStore, Stored};

/// Where state lives: a local folder (the default, `.recipe/state`).
#[derive(Clone, Debug)]
pub enum AnyStore {
    /// A local folder.
    Local(LocalStore),
}

/// `--state`, or `RECIPE_STATE`, or `.recipe/state`.
#[derive(clap::Args, Clone, Debug)]
pub struct StateArgs {
    /// Where state lives: a folder (default `.recipe/state`).
    #[arg(
        long = "state",
        env = "RECIPE_STATE",
        value_name = "DIR",
        default_value = ".recipe/state"
    )]
    pub location: String,
}

impl StateArgs {
    /// Open the store.
    pub fn open(&self) -> AnyStore {
        AnyStore::Local(LocalStore::new(PathBuf::from(&self.location)))
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Local($s) => $e,
        }
    };
}

impl StateStore for AnyStore {
    async fn list(&self) -> Result<Vec<String>, StateError> {
        delegate!(self, s => s.list().await)
    }
    async fn load(&self, recipe: &str) -> Result<Option<Stored>, StateError> {
        delegate!(self, s => s.load(recipe).await)
    }
    async fn save(
        &self,
        state: &RecipeState,
        expected: Option<&Revision>,
    ) -> Result<Revision, StateError> {
        delegate!(self, s => s.save(state, expected).await)
    }
    async fn lock(
        &self,
        recipe: &str,
        info: &LockInfo,
        timeout: Duration,
    ) -> Result<(), StateError> {
        delegate!(self, s => s.lock(recipe, info, timeout).await)
    }
    async fn unlock(&self, recipe: &str) -> Result<(), StateError> {
        delegate!(self, s => s.unlock(recipe).await)
    }
    async fn force_unlock(&self, recipe: &str) -> Result<Option<LockInfo>, StateError> {
        delegate!(self, s => s.force_unlock(recipe).await)
    }
}
