//! Read-only checks of an image builder's network before a build: its subnet and security groups
//! exist in the build region (EC2 DescribeSubnets, DescribeSecurityGroups; `InvalidSubnetID.NotFound`
//! / `InvalidGroup.NotFound`). AppStream itself has no call that checks them before
//! CreateImageBuilder. Without default internet access, the subnet must reach Systems Manager
//! (`recipe_aws::network`).

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
