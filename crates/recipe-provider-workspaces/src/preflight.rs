//! Read-only checks before a WorkSpaces build that AWS would otherwise refuse only mid-apply.
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
    if !matches!(r.recipe.base.value, Base::Recipe(_)) {
        return vec![];
    }
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
