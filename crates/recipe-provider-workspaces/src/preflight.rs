//! Read-only checks before a WorkSpaces build that AWS would otherwise refuse only mid-apply.
//!
//! The builder's `directory-id` must be registered with WorkSpaces in the build region ("Register a
//! directory with WorkSpaces"): CreateWorkspaces fails the request otherwise.
//! DescribeWorkspaceDirectories answers the registered directories and their `State`.
//!
//! The import route (`base: { recipe: … }`, an AMI recipe's image) needs the account enabled for
//! BYOL in the build region: "Bring Your Own Windows desktop licenses" (WorkSpaces Administration
//! Guide), step 1, before any ImportWorkspaceImage or ImportCustomWorkspaceImage. DescribeAccount
//! answers `DedicatedTenancySupport` (API_DescribeAccount).

use aws_sdk_workspaces::error::ProvideErrorMetadata;
use aws_sdk_workspaces::types::DedicatedTenancySupportResultEnum as Support;
use recipe_loader::LoadedRecipe;
use recipe_model::Base;

/// What is missing for the recipe's build in `region`, each with its fix.
pub(crate) async fn problems(
    ws: &aws_sdk_workspaces::Client,
    r: &LoadedRecipe,
    region: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(dir) = &r.recipe.builder.directory_id {
        out.extend(directory(ws, &dir.value, region).await);
    }
    if matches!(r.recipe.base.value, Base::Recipe(_)) {
        out.extend(byol(ws, region).await);
    }
    out
}

async fn directory(ws: &aws_sdk_workspaces::Client, id: &str, region: &str) -> Option<String> {
    use aws_sdk_workspaces::types::WorkspaceDirectoryState as State;
    let found = match ws
        .describe_workspace_directories()
        .directory_ids(id)
        .send()
        .await
    {
        Ok(found) => found,
        Err(e) => {
            return Some(format!(
                "could not check the directory {id} in {region}: {} {} (fix: allow workspaces:DescribeWorkspaceDirectories, docs/iam.md)",
                e.code().unwrap_or_default(),
                e.message().unwrap_or_default()
            ));
        }
    };
    let state = found.directories().first().and_then(|d| d.state().cloned());
    match state {
        Some(State::Registered) => None,
        Some(other) => Some(format!(
            "the directory {id} is {} with WorkSpaces in {region}, not REGISTERED (fix: wait for its registration, or register it again: `aws workspaces register-workspace-directory --directory-id {id} --region {region}`)",
            other.as_str()
        )),
        None => Some(format!(
            "the directory {id} is not registered with WorkSpaces in {region}, so no builder can be launched in it (fix: `aws workspaces register-workspace-directory --directory-id {id} --region {region}`, or name a registered one in `builder.directory-id`)"
        )),
    }
}

async fn byol(ws: &aws_sdk_workspaces::Client, region: &str) -> Vec<String> {
    match ws.describe_account().send().await {
        Ok(a) if a.dedicated_tenancy_support() == Some(&Support::Enabled) => vec![],
        Ok(_) => vec![format!(
            "the account is not enabled for WorkSpaces BYOL in {region}, which importing the AMI of `base.recipe` needs (fix: `aws workspaces list-available-management-cidr-ranges --management-cidr-range-constraint 10.0.0.0/8 --region {region}`, then `aws workspaces modify-account --dedicated-tenancy-support ENABLED --dedicated-tenancy-management-cidr-range <a range it listed> --region {region}`; docs/workspaces.md#byol)"
        )],
        Err(e) => vec![format!(
            "could not check that the account is enabled for WorkSpaces BYOL in {region}: {} {} (fix: allow workspaces:DescribeAccount, docs/iam.md)",
            e.code().unwrap_or_default(),
            e.message().unwrap_or_default()
        )],
    }
}
