//! EC2 On-Demand vCPU quotas and the Service Quotas calls that read and raise them.
//!
//! - EC2 counts running On-Demand instances in vCPUs per instance bucket ("Amazon EC2 service
//!   quotas", EC2 User Guide): the Standard bucket (A, C, D, H, I, M, R, T, Z families) is quota
//!   `L-1216C47A`. A launch that would pass it is refused with `VcpuLimitExceeded`; pending, running
//!   and stopping instances count, stopped and terminated ones do not.
//! - Service Quotas (awsJson1_1, `ServiceQuotasV20190624`): GetServiceQuota answers the account's
//!   value; RequestServiceQuotaIncrease asks for more. AWS reviews a request (CASE_OPENED, then
//!   APPROVED or DENIED) in an undocumented time; aws-sim approves at once.
//! - What aws-sim cannot know: an account's value (new accounts start low; aws-sim starts every
//!   account at [`crate::Config::vcpu_quota`], 256 unless set), the other buckets' quotas (G, P, X,
//!   F, Inf, … launch without a limit here), and exact vCPU counts of every type: `<family>.<size>`
//!   counts 2 vCPUs up to `large`, 4 for `xlarge` and 4×N for `Nxlarge` (t2 sizes below `large`
//!   have 1 on AWS).

use serde_json::{Value, json};

use crate::ApiError;
use crate::protocol::Call;
use crate::world::World;

/// The Standard On-Demand vCPU quota.
pub const STANDARD: &str = "L-1216C47A";

/// vCPUs of an instance type, by its size.
pub fn vcpus(instance_type: &str) -> u64 {
    let size = instance_type.split('.').nth(1).unwrap_or("large");
    match size.strip_suffix("xlarge") {
        Some("") => 4,
        Some(n) => n.parse::<u64>().map_or(4, |n| 4 * n),
        None => 2,
    }
}

/// Whether an instance type counts against the Standard bucket.
fn standard(instance_type: &str) -> bool {
    let family = instance_type.chars().next().unwrap_or('m');
    "acdhimrtz".contains(family.to_ascii_lowercase())
}

/// The account's Standard vCPU quota in a region.
fn quota(w: &World, account: &str, region: &str) -> u64 {
    w.quotas
        .get(&format!("{account}/{region}/{STANDARD}"))
        .copied()
        .unwrap_or(w.vcpu_quota)
}

/// Refuse a launch of `count` instances of `instance_type` past the Standard vCPU quota.
pub fn check_launch(w: &World, c: &Call, instance_type: &str, count: u64) -> Result<(), ApiError> {
    if !standard(instance_type) {
        return Ok(());
    }
    let used: u64 = w
        .ec2
        .instances
        .values()
        .filter(|i| i.owner == c.account && i.region == c.region && standard(&i.instance_type))
        .filter(|i| matches!(i.state.as_str(), "pending" | "running" | "stopping"))
        .map(|i| vcpus(&i.instance_type))
        .sum();
    let limit = quota(w, &c.account, &c.region);
    if used + vcpus(instance_type) * count > limit {
        return Err(ApiError::client(
            "VcpuLimitExceeded",
            format!(
                "You have requested more vCPU capacity than your current vCPU limit of {limit} allows for the instance bucket that the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit."
            ),
        ));
    }
    Ok(())
}

fn quota_json(value: u64, region: &str, account: &str) -> Value {
    json!({
        "ServiceCode": "ec2",
        "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
        "QuotaArn": format!("arn:aws:servicequotas:{region}:{account}:ec2/{STANDARD}"),
        "QuotaCode": STANDARD,
        "QuotaName": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
        "Value": value as f64,
        "Unit": "None",
        "Adjustable": true,
        "GlobalQuota": false,
    })
}

fn requested(c: &Call) -> Result<(&str, &str), ApiError> {
    let text = |k: &str| c.body.get(k).and_then(Value::as_str).unwrap_or_default();
    let (service, code) = (text("ServiceCode"), text("QuotaCode"));
    if service != "ec2" || code != STANDARD {
        return Err(ApiError::client(
            "NoSuchResourceException",
            format!("aws-sim serves the quota ec2/{STANDARD} only, not {service}/{code}."),
        ));
    }
    Ok((service, code))
}

/// Handle one Service Quotas call.
pub fn handle(
    w: &mut World,
    r: &crate::protocol::Req<'_>,
) -> Result<crate::protocol::Output, ApiError> {
    op(w, r.call).map(crate::protocol::Output::Value)
}

fn op(w: &mut World, c: &Call) -> Result<Value, ApiError> {
    match c.op.as_str() {
        "GetServiceQuota" => {
            requested(c)?;
            let value = quota(w, &c.account, &c.region);
            Ok(json!({ "Quota": quota_json(value, &c.region, &c.account) }))
        }
        "RequestServiceQuotaIncrease" => {
            requested(c)?;
            let want = c
                .body
                .get("DesiredValue")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            let now = quota(w, &c.account, &c.region);
            if want <= now as f64 {
                return Err(ApiError::client(
                    "IllegalArgumentException",
                    format!("The desired value {want} is not above the current value {now}."),
                ));
            }
            let key = format!("{}/{}/{STANDARD}", c.account, c.region);
            w.quotas.insert(key, want as u64);
            let id = w.id("", 32);
            Ok(json!({ "RequestedQuota": {
                "Id": id, "ServiceCode": "ec2", "QuotaCode": STANDARD,
                "DesiredValue": want, "Status": "APPROVED",
            }}))
        }
        other => Err(ApiError::unsupported("servicequotas", other)),
    }
}

/// DescribeInstanceTypes for the types asked for: `vCpuInfo.defaultVCpus` ([`vcpus`]).
pub fn describe_instance_types(c: &Call, rid: &str) -> String {
    let types = crate::protocol::list(&c.params, "InstanceType");
    let mut x = crate::protocol::Xml::response("DescribeInstanceTypes", rid);
    x.open("instanceTypeSet");
    for t in &types {
        x.open("item").text("instanceType", t).open("vCpuInfo");
        x.text("defaultVCpus", &vcpus(t).to_string())
            .close("vCpuInfo")
            .close("item");
    }
    x.close("instanceTypeSet");
    x.finish("DescribeInstanceTypes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcpus_follow_the_size() {
        assert_eq!(vcpus("m6i.large"), 2);
        assert_eq!(vcpus("t3.micro"), 2);
        assert_eq!(vcpus("c7g.xlarge"), 4);
        assert_eq!(vcpus("r6i.4xlarge"), 16);
        assert!(standard("m6i.large") && !standard("g5.xlarge"));
    }
}
