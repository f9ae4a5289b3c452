//! Read-only checks of an image builder's network before a build: its subnet and security groups
//! exist in the build region (EC2 DescribeSubnets, DescribeSecurityGroups; `InvalidSubnetID.NotFound`
//! / `InvalidGroup.NotFound`). AppStream itself has no call that checks them before
//! CreateImageBuilder. Without default internet access, the subnet must reach Systems Manager
//! (`recipe_aws::network`).
//!
//! The builder's (or the import's) `iam-role-arn` must be a role of the account the build runs in
//! (IAM passes only roles of the account: "Grant a user permissions to pass a role to an AWS
//! service") that trusts `appstream.amazonaws.com` ("Using an IAM role to grant permissions to
//! applications and scripts running on AppStream 2.0 streaming instances"). IAM GetRole reads both;
//! AppStream would answer `InvalidRoleException` only at CreateImageBuilder or CreateImportedImage.

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use recipe_aws::preflight::finding;
use recipe_loader::LoadedRecipe;

/// What is missing for the recipe's image builder in `region`, each with its fix.
pub(crate) async fn problems(
    ec2: &aws_sdk_ec2::Client,
    r: &LoadedRecipe,
    region: &str,
) -> Vec<String> {
    let b = &r.recipe.builder;
    let mut out = Vec::new();
    if let Some(subnet) = &b.subnet_id
        && let Err(e) = ec2
            .describe_subnets()
            .subnet_ids(&subnet.value)
            .send()
            .await
    {
        let (code, msg) = (
            e.code().unwrap_or_default(),
            e.message().unwrap_or_default(),
        );
        out.push(finding(
            code,
            msg,
            "subnet",
            &subnet.value,
            region,
            "builder.subnet-id",
        ));
    }
    // Without default internet access the builder has no public IP: it reaches Systems Manager
    // (to register its agent) only through a NAT route or the VPC endpoints.
    let internet = b.internet_access.as_ref().is_some_and(|i| i.value);
    if let Some(subnet) = b.subnet_id.as_ref().filter(|_| !internet) {
        let route = recipe_aws::network::ssm_route(ec2, region, &subnet.value, Some(false));
        out.extend(route.await);
    }
    for group in &b.security_group_ids {
        if let Err(e) = ec2
            .describe_security_groups()
            .group_ids(&group.value)
            .send()
            .await
        {
            let (code, msg) = (
                e.code().unwrap_or_default(),
                e.message().unwrap_or_default(),
            );
            let field = "builder.security-group-ids";
            out.push(finding(
                code,
                msg,
                "security group",
                &group.value,
                region,
                field,
            ));
        }
    }
    out
}

/// What is wrong with the recipe's `builder.iam-role-arn`, each with its fix.
pub(crate) async fn role(iam: &aws_sdk_iam::Client, r: &LoadedRecipe) -> Vec<String> {
    let Some(arn) = &r.recipe.builder.iam_role_arn else {
        return vec![];
    };
    let arn = arn.value.as_str();
    let name = arn.rsplit('/').next().unwrap_or(arn);
    let field = "builder.iam-role-arn";
    let found = match iam.get_role().role_name(name).send().await {
        Ok(found) => found,
        Err(e) => {
            let (code, msg) = (
                e.code().unwrap_or_default(),
                e.message().unwrap_or_default(),
            );
            return vec![finding(code, msg, "IAM role", name, "this account", field)];
        }
    };
    let Some(role) = found.role() else {
        return vec![];
    };
    let mut out = Vec::new();
    if role.arn() != arn {
        out.push(format!(
            "`{field}` names {arn}, but this account's role {name} is {} (fix: name a role of the account the build runs in; AppStream 2.0 is passed only its own account's roles)",
            role.arn()
        ));
    }
    let trust = role.assume_role_policy_document().unwrap_or_default();
    if !trust.contains("appstream.amazonaws.com") {
        out.push(format!(
            "the IAM role {name} does not trust appstream.amazonaws.com, so AppStream 2.0 cannot assume it (fix: add the service principal appstream.amazonaws.com to its trust policy)"
        ));
    }
    out
}
