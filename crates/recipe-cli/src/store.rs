//! Choosing the state store from `--state`: a folder, or `s3://bucket/prefix`.

use std::path::PathBuf;
use std::time::Duration;

use recipe_state::{LocalStore, LockInfo, RecipeState, Revision, StateError, StateStore, Stored};
use recipe_state_s3::S3Store;

/// Where state lives: a local folder (the default, `.recipe/state`) or an S3 bucket.
#[derive(Clone, Debug)]
pub enum AnyStore {
    /// A local folder.
    Local(LocalStore),
    /// An S3 bucket and prefix.
    S3(S3Store),
}

/// `--state`, or `RECIPE_STATE`, or `.recipe/state`.
#[derive(clap::Args, Clone, Debug)]
pub struct StateArgs {
    /// Where state lives: a folder (default `.recipe/state`), or `s3://BUCKET/PREFIX` to share it
    /// between CI runners (AWS credentials and region from the usual chain).
    #[arg(
        long = "state",
        env = "RECIPE_STATE",
        value_name = "DIR|S3-URL",
        default_value = ".recipe/state"
    )]
    pub location: String,
}

impl StateArgs {
    /// Whether state is kept in S3 (and so needs the AWS configuration).
    pub fn is_s3(&self) -> bool {
        self.location.starts_with("s3://")
    }

    /// Open the store; an S3 store uses the command's AWS configuration.
    pub fn open(&self, aws: Option<&recipe_aws::Aws>) -> Result<AnyStore, StateError> {
        if let (true, Some(aws)) = (self.is_s3(), aws) {
            Ok(AnyStore::S3(S3Store::from_url(&self.location, &aws.sdk)?))
        } else {
            Ok(AnyStore::Local(LocalStore::new(PathBuf::from(
                &self.location,
            ))))
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Local($s) => $e,
            AnyStore::S3($s) => $e,
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
    async fn runs(&self) -> Result<Vec<String>, StateError> {
        delegate!(self, s => s.runs().await)
    }
    async fn read_run(&self, run: &str) -> Result<Vec<Vec<u8>>, StateError> {
        delegate!(self, s => s.read_run(run).await)
    }
    async fn append_run(&self, run: &str, seq: u64, record: &[u8]) -> Result<(), StateError> {
        delegate!(self, s => s.append_run(run, seq, record).await)
    }
    async fn remove_run(&self, run: &str) -> Result<(), StateError> {
        delegate!(self, s => s.remove_run(run).await)
    }
}
