//! The rules of the three AWS targets, for `recipe validate` and the generated schema: each
//! target's [`recipe_loader::TargetSpec`]. No AWS SDK here, so validation and its tests build in
//! seconds; each provider crate names its target through this crate's constants.

use std::sync::Arc;

use recipe_loader::{TargetSpec, Targets};
use regex::Regex;

mod appstream;
mod ec2;
mod workspaces;

pub use appstream::{APPSTREAM, Appstream, FLEET, IMAGE_BASE, MANAGED_UPDATE_OF, managed_update};
pub use ec2::{EC2_AMI, Ec2Ami, LAUNCH_TEMPLATE, SSM_PARAMETER};
pub use workspaces::sections::{
    BUNDLE_OF, Bundle, ComputeType, IMPORT_OF, ImportCompute, ImportOsVersion, ImportProtocol,
    IngestionProcess, REBUILD_OF, RebuildWorkspaces, WorkspacesImport,
};
pub use workspaces::{BUNDLE, BUNDLE_BASE, WORKSPACE_BASE, WORKSPACES, Workspaces};

/// What the three say when a recipe is layered on a target it cannot be built on.
const LAYERING_HELP: &str = "layer on a recipe of the same target, or on an `ec2-ami` recipe (AppStream imports AMIs; WorkSpaces imports Windows AMIs only)";

/// The AWS targets, in the order the schema and docs list them.
pub fn specs() -> Vec<Arc<dyn TargetSpec>> {
    vec![Arc::new(Ec2Ami), Arc::new(Workspaces), Arc::new(Appstream)]
}

/// A registry of the AWS targets.
pub fn targets() -> Targets {
    Targets::new(specs())
}

fn re(s: &str) -> Regex {
    Regex::new(s).expect("check pattern compiles")
}

/// Load options with the AWS targets and nothing else set.
pub fn load_options() -> recipe_loader::LoadOptions {
    recipe_loader::LoadOptions {
        targets: targets(),
        ..Default::default()
    }
}
