//! Choosing the state store from `--state`: a folder, or `s3://bucket/prefix`.

use std::path::{Path, PathBuf};
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

/// `--state`, or `RECIPE_STATE`, or `.recipe/state` next to the recipes.
#[derive(clap::Args, Clone, Debug)]
pub struct StateArgs {
    /// Where state lives: a folder, or `s3://BUCKET/PREFIX` to share it between CI runners (AWS
    /// credentials and region from the usual chain). Default: `.recipe/state` in the recipes'
    /// repository (the nearest folder up from the recipes with `.recipe/` or `.git`).
    #[arg(long = "state", env = "RECIPE_STATE", value_name = "DIR|S3-URL")]
    pub location: Option<String>,
}

/// Where state is for a command: the location and how it was chosen.
#[derive(Clone, Debug)]
pub struct StateAt {
    /// A folder or an S3 URL.
    pub location: String,
    /// Why this one ("from --state …", "next to the recipes: …", "the sandbox's", …).
    pub why: &'static str,
}

impl StateArgs {
    /// The location: `--state`/`RECIPE_STATE`, else `.recipe/state` (or `.recipe/sandbox/state`)
    /// in the anchor's `.recipe/`.
    pub fn at(&self, anchor: &crate::root::Anchor, sandbox: bool) -> StateAt {
        match (&self.location, sandbox) {
            (Some(l), _) => StateAt {
                location: l.clone(),
                why: "from --state or RECIPE_STATE",
            },
            (None, false) => StateAt {
                location: anchor.dot_recipe().join("state").display().to_string(),
                why: anchor.describe(),
            },
            (None, true) => StateAt {
                location: anchor
                    .dot_recipe()
                    .join("sandbox")
                    .join("state")
                    .display()
                    .to_string(),
                why: "the sandbox's",
            },
        }
    }
}

impl StateAt {
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

    /// `state: .recipe/state (next to the recipes)`, for a line on standard error.
    pub fn describe(&self) -> String {
        let shown = if self.is_s3() {
            self.location.clone()
        } else {
            crate::root::shown(Path::new(&self.location))
        };
        format!("state: {shown} ({})", self.why)
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
    async fn put_evidence(
        &self,
        recipe: &str,
        build_id: &str,
        kind: &str,
        bytes: &[u8],
    ) -> Result<(), StateError> {
        delegate!(self, s => s.put_evidence(recipe, build_id, kind, bytes).await)
    }

    async fn get_evidence(
        &self,
        recipe: &str,
        build_id: &str,
        kind: &str,
    ) -> Result<Option<Vec<u8>>, StateError> {
        delegate!(self, s => s.get_evidence(recipe, build_id, kind).await)
    }

    async fn remove_run(&self, run: &str) -> Result<(), StateError> {
        delegate!(self, s => s.remove_run(run).await)
    }
}
