//! Read-only checks before a build, so that a missing prerequisite is a finding in the plan rather
//! than a failure minutes into an apply: the builder's subnet and security groups exist in its build
//! region (DescribeSubnets, DescribeSecurityGroups; a missing one is `InvalidSubnetID.NotFound` /
//! `InvalidGroup.NotFound`, per the EC2 API reference).

use aws_sdk_ec2::error::ProvideErrorMetadata;
use recipe_loader::LoadedRecipe;

use crate::Ec2Provider;

/// What is missing for the recipe's builder in `region`, each with its fix.
pub(crate) async fn problems(p: &Ec2Provider, r: &LoadedRecipe, region: &str) -> Vec<String> {
    let b = &r.recipe.builder;
    let ec2 = p.ec2(region);
    let mut out = Vec::new();
    if let Some(subnet) = &b.subnet_id {
        let found = ec2
            .describe_subnets()
            .subnet_ids(&subnet.value)
            .send()
            .await;
        out.extend(missing(
            found.err(),
            "subnet",
            &subnet.value,
            region,
            "builder.subnet-id",
        ));
    }
    for group in &b.security_group_ids {
        let found = ec2
            .describe_security_groups()
            .group_ids(&group.value)
            .send()
            .await;
        out.extend(missing(
            found.err(),
            "security group",
            &group.value,
            region,
            "builder.security-group-ids",
        ));
    }
    out
}

/// A finding for a failed lookup: "does not exist" for a not-found error, else that it could not be
/// checked (the plan goes on; apply would meet the same error).
fn missing<E: ProvideErrorMetadata>(
    err: Option<E>,
    what: &str,
    id: &str,
    region: &str,
    field: &str,
) -> Option<String> {
    let e = err?;
    let code = e.code().unwrap_or_default();
    Some(if code.ends_with(".NotFound") {
        format!(
            "the {what} {id} does not exist in {region} (fix: create it, or name one that exists in `{field}`)"
        )
    } else {
        format!(
            "could not check the {what} {id} in {region}: {code} {} (fix: allow ec2:DescribeSubnets and ec2:DescribeSecurityGroups, see docs/iam.md)",
            e.message().unwrap_or_default()
        )
    })
}
