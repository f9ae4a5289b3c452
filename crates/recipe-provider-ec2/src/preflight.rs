//! Read-only checks before a build, so that a missing prerequisite is a finding in the plan rather
//! than a failure minutes into an apply:
//! - without a subnet, the region has a default VPC (DescribeVpcs `is-default`), or the launch
//!   would be refused with `VPCIdNotSpecified`;
//! - the builder's subnet reaches Systems Manager (`recipe_aws::network`);
//! - the builder's subnet and security groups exist in its build region (DescribeSubnets,
//!   DescribeSecurityGroups; a missing one is `InvalidSubnetID.NotFound` / `InvalidGroup.NotFound`,
//!   per the EC2 API reference);
//! - its instance profile exists (IAM GetInstanceProfile; `NoSuchEntity`) and its role can use SSM:
//!   it carries AmazonSSMManagedInstanceCore (or the older AmazonEC2RoleforSSM). A role with policies
//!   of the account's own may grant the same, which is not evaluated: only a role with no policy that
//!   could is a finding;
//! - each `distribute.kms-keys` key exists in its region (KMS DescribeKey; `NotFoundException`).
//!
//! Each is read once per plan, however many recipes name the same region, subnet, group, profile or
//! key ([`Seen`]).

use std::collections::BTreeMap;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use recipe_loader::LoadedRecipe;

use crate::Ec2Provider;

/// Managed policies that let an instance use Systems Manager.
const SSM_POLICIES: &[&str] = &["AmazonSSMManagedInstanceCore", "AmazonEC2RoleforSSM"];

/// Findings already read during one plan, by what was read (a region's default VPC, a subnet, a
/// security group, an instance profile, a key): each is read once however many recipes name it.
#[derive(Default)]
pub(crate) struct Seen(BTreeMap<String, Vec<String>>);

impl Seen {
    /// The findings of `read`, read only the first time `key` is asked for.
    async fn once(&mut self, key: String, read: impl Future<Output = Vec<String>>) -> Vec<String> {
        if let Some(found) = self.0.get(&key) {
            return found.clone();
        }
        let found = read.await;
        self.0.insert(key, found.clone());
        found
    }
}

/// What is missing for the recipe's builder in `region`, each with its fix.
pub(crate) async fn problems(
    p: &Ec2Provider,
    r: &LoadedRecipe,
    region: &str,
    seen: &mut Seen,
) -> Vec<String> {
    let b = &r.recipe.builder;
    let ec2 = p.ec2(region);
    let mut out = Vec::new();
    if b.subnet_id.is_none() {
        let read = async { default_vpc(&ec2, region).await.into_iter().collect() };
        out.extend(seen.once(format!("vpc {region}"), read).await);
    }
    if let Some(subnet) = &b.subnet_id {
        let read = subnet_problems(&ec2, region, &subnet.value);
        out.extend(
            seen.once(format!("subnet {region} {}", subnet.value), read)
                .await,
        );
    }
    for group in &b.security_group_ids {
        let read = async {
            let found = ec2
                .describe_security_groups()
                .group_ids(&group.value)
                .send()
                .await;
            let field = "builder.security-group-ids";
            missing(found.err(), "security group", &group.value, region, field)
                .into_iter()
                .collect()
        };
        out.extend(
            seen.once(format!("sg {region} {}", group.value), read)
                .await,
        );
    }
    if let Some(profile) = &b.instance_profile {
        let read = async {
            instance_profile(p, &profile.value)
                .await
                .into_iter()
                .collect()
        };
        out.extend(seen.once(format!("profile {}", profile.value), read).await);
    }
    for (key_region, key) in r.recipe.distribute.iter().flat_map(|d| d.kms_keys.iter()) {
        let read = async {
            let found = p
                .kms(key_region)
                .describe_key()
                .key_id(&key.value)
                .send()
                .await;
            let field = "distribute.kms-keys";
            missing(found.err(), "KMS key", &key.value, key_region, field)
                .into_iter()
                .collect()
        };
        out.extend(
            seen.once(format!("kms {key_region} {}", key.value), read)
                .await,
        );
    }
    out
}

/// The builder's subnet exists, and reaches Systems Manager.
async fn subnet_problems(ec2: &aws_sdk_ec2::Client, region: &str, subnet: &str) -> Vec<String> {
    let found = ec2.describe_subnets().subnet_ids(subnet).send().await;
    let exists = found.is_ok();
    let mut out: Vec<String> = missing(found.err(), "subnet", subnet, region, "builder.subnet-id")
        .into_iter()
        .collect();
    if exists {
        out.extend(recipe_aws::network::ssm_route(ec2, region, subnet, None).await);
    }
    out
}

/// Without `builder.subnet-id` the builder goes to the region's default VPC: an account without
/// one refuses the launch (`VPCIdNotSpecified`, API_RunInstances), so its absence is a finding.
async fn default_vpc(ec2: &aws_sdk_ec2::Client, region: &str) -> Option<String> {
    let is_default = aws_sdk_ec2::types::Filter::builder()
        .name("is-default")
        .values("true")
        .build();
    match ec2.describe_vpcs().filters(is_default).send().await {
        Ok(out) if out.vpcs().is_empty() => Some(format!(
            "the account has no default VPC in {region}, where a builder without `builder.subnet-id` is launched (fix: name a subnet in `builder.subnet-id`, or `aws ec2 create-default-vpc --region {region}`)"
        )),
        Ok(_) => None,
        Err(e) => {
            let (code, message) = (e.code().unwrap_or("unknown"), e.message().unwrap_or(""));
            Some(format!(
                "could not check for a default VPC in {region}: {code} {message} (fix: allow the plan's read-only calls, docs/iam.md)"
            ))
        }
    }
}

/// What the instance profile lacks: itself, a role, or any policy that could let SSM in.
async fn instance_profile(p: &Ec2Provider, name: &str) -> Option<String> {
    let iam = p.iam();
    let found = iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await;
    let profile = match found {
        Ok(o) => o.instance_profile?,
        Err(e) => {
            return missing(
                Some(e),
                "instance profile",
                name,
                "IAM",
                "builder.instance-profile",
            );
        }
    };
    let Some(role) = profile.roles.first().map(|r| r.role_name.clone()) else {
        return Some(format!(
            "the instance profile {name} has no role (fix: give it a role with AmazonSSMManagedInstanceCore; docs/iam.md)"
        ));
    };
    let attached = iam
        .list_attached_role_policies()
        .role_name(&role)
        .send()
        .await
        .ok()?;
    let names: Vec<&str> = attached
        .attached_policies()
        .iter()
        .filter_map(|a| a.policy_name())
        .collect();
    if names.iter().any(|n| SSM_POLICIES.contains(n)) {
        return None;
    }
    let inline = iam
        .list_role_policies()
        .role_name(&role)
        .send()
        .await
        .ok()?;
    let own = names
        .iter()
        .any(|n| !n.starts_with("Amazon") && !n.starts_with("AWS"));
    (!own && inline.policy_names().is_empty()).then(|| {
        format!(
            "the role {role} of the instance profile {name} cannot use Systems Manager: it does not carry AmazonSSMManagedInstanceCore (fix: attach it; the builder's steps run through SSM, docs/iam.md)"
        )
    })
}

/// A finding for a failed lookup (none when it succeeded).
fn missing<E: ProvideErrorMetadata>(
    err: Option<E>,
    what: &str,
    id: &str,
    region: &str,
    field: &str,
) -> Option<String> {
    let e = err?;
    let (code, message) = (
        e.code().unwrap_or_default(),
        e.message().unwrap_or_default(),
    );
    Some(recipe_aws::preflight::finding(
        code, message, what, id, region, field,
    ))
}
