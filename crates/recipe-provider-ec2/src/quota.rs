//! How many builders the account has room for in a region: its Running On-Demand Standard
//! instances quota (Service Quotas `ec2`/`L-1216C47A`, in vCPUs) less the vCPUs of what runs there
//! now, divided by the builder's vCPUs (DescribeInstanceTypes). Read at plan time; the apply's
//! builder limit in that region is this room (at least one: a launch beyond the quota is queued by
//! the launch itself), below `--max-builders`. Only the Standard bucket (A, C, D, H, I, M, R, T, Z
//! families) is read; builders of other families keep the configured limit.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::InstanceStateName;
use recipe_aws::Context;

use crate::Ec2Provider;

/// The Standard On-Demand vCPU quota.
const STANDARD: &str = "L-1216C47A";

fn standard(instance_type: &str) -> bool {
    let family = instance_type.chars().next().unwrap_or('m');
    "acdhimrtz".contains(family.to_ascii_lowercase())
}

/// vCPUs of each of `types` (DescribeInstanceTypes).
async fn vcpus(
    ec2: &aws_sdk_ec2::Client,
    types: &[String],
) -> Result<BTreeMap<String, u64>, recipe_aws::AwsError> {
    let mut out = BTreeMap::new();
    for chunk in types.chunks(100) {
        let kinds = chunk
            .iter()
            .map(|t| aws_sdk_ec2::types::InstanceType::from(t.as_str()));
        let found = ec2
            .describe_instance_types()
            .set_instance_types(Some(kinds.collect()))
            .send()
            .await
            .ctx("ec2", "DescribeInstanceTypes")?;
        for t in found.instance_types() {
            let n = t.v_cpu_info().and_then(|v| v.default_v_cpus()).unwrap_or(2);
            if let Some(name) = t.instance_type() {
                out.insert(name.as_str().to_string(), u64::try_from(n).unwrap_or(2));
            }
        }
    }
    Ok(out)
}

/// The types of the Standard instances that count against the quota now (pending, running,
/// stopping), one entry per instance.
async fn running(ec2: &aws_sdk_ec2::Client) -> Result<Vec<String>, recipe_aws::AwsError> {
    let states = aws_sdk_ec2::types::Filter::builder()
        .name("instance-state-name")
        .values(InstanceStateName::Pending.as_str())
        .values(InstanceStateName::Running.as_str())
        .values(InstanceStateName::Stopping.as_str())
        .build();
    let mut pages = ec2
        .describe_instances()
        .filters(states)
        .into_paginator()
        .send();
    let mut types = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.ctx("ec2", "DescribeInstances")?;
        let instances = page.reservations().iter().flat_map(|r| r.instances());
        types.extend(
            instances
                .filter_map(|i| i.instance_type().map(|t| t.as_str().to_string()))
                .filter(|t| standard(t)),
        );
    }
    Ok(types)
}

/// Builders of `instance_type` the account has room for in `region`, or `None` when the type is
/// not in the Standard bucket or the quota cannot be read (the configured limit then holds).
pub(crate) async fn room(p: &Ec2Provider, region: &str, instance_type: &str) -> Option<usize> {
    if !standard(instance_type) {
        return None;
    }
    let quota = p
        .quotas(region)
        .get_service_quota()
        .service_code("ec2")
        .quota_code(STANDARD)
        .send()
        .await
        .ok()?
        .quota()?
        .value()?;
    let ec2 = p.ec2(region);
    let now = running(&ec2).await.ok()?;
    let mut types: Vec<String> = now.clone();
    types.push(instance_type.to_string());
    types.sort();
    types.dedup();
    let sizes = vcpus(&ec2, &types).await.ok()?;
    let used: u64 = now.iter().map(|t| sizes.get(t).copied().unwrap_or(2)).sum();
    let each = sizes.get(instance_type).copied().unwrap_or(2).max(1);
    let free = (quota.max(0.0) as u64).saturating_sub(used);
    Some(usize::try_from(free / each).unwrap_or(usize::MAX).max(1))
}
