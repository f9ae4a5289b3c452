//! Whether a builder's subnet reaches AWS Systems Manager, read-only, for the plan's preflight. The
//! SSM agent must reach the `ssm`, `ec2messages` and `ssmmessages` endpoints of its region: through a
//! `0.0.0.0/0` route to a NAT gateway, or to an internet gateway with a public IP, or through interface
//! VPC endpoints for all three with private DNS (Systems Manager User Guide, "Improve the security of
//! EC2 instances by using VPC endpoints for Systems Manager"). A subnet takes its routes from its
//! associated route table, else its VPC's main one (VPC User Guide, "Route tables").

use aws_sdk_ec2::types::Filter;

/// The finding for a subnet with no route to Systems Manager, with its fix.
fn finding(subnet: &str, region: &str) -> String {
    format!(
        "the subnet {subnet} in {region} has no route to Systems Manager: no 0.0.0.0/0 route to a NAT gateway (or to an internet gateway with a public IP), and not all of the ssm, ec2messages and ssmmessages VPC endpoints; the agent would never report Online (fix: add a NAT gateway route, or create the three interface endpoints with private DNS in its VPC)"
    )
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// A finding when the agent in `subnet` of `region` cannot reach Systems Manager. `public_ip`: the
/// builder gets a public IP whatever the subnet maps (`Some(true)`), never does (`Some(false)`, an
/// AppStream image builder without internet access), or as the subnet maps (`None`). A subnet that
/// does not exist is left to the caller's own check.
pub async fn ssm_route(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    subnet: &str,
    public_ip: Option<bool>,
) -> Option<String> {
    match reaches(ec2, region, subnet, public_ip).await {
        Ok(true) => None,
        Ok(false) => Some(finding(subnet, region)),
        Err(Some(why)) => Some(format!(
            "could not check the route to Systems Manager of the subnet {subnet} in {region}: {why} (fix: allow the plan's read-only calls, docs/iam.md)"
        )),
        Err(None) => None,
    }
}

/// `Err(None)`: the subnet is not there (reported elsewhere); `Err(Some(why))`: a call failed.
async fn reaches(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    subnet: &str,
    public_ip: Option<bool>,
) -> Result<bool, Option<String>> {
    let err = |e: &dyn std::fmt::Display| Some(e.to_string());
    let out = ec2.describe_subnets().subnet_ids(subnet).send().await;
    let Some(s) = out.ok().and_then(|o| o.subnets().first().cloned()) else {
        return Err(None);
    };
    let vpc = s.vpc_id().unwrap_or_default().to_string();
    let public = public_ip.unwrap_or(s.map_public_ip_on_launch() == Some(true));
    let own = ec2
        .describe_route_tables()
        .filters(filter("association.subnet-id", subnet));
    let mut tables = own
        .send()
        .await
        .map_err(|e| err(&e))?
        .route_tables()
        .to_vec();
    if tables.is_empty() {
        let main = ec2
            .describe_route_tables()
            .filters(filter("vpc-id", &vpc))
            .filters(filter("association.main", "true"));
        tables = main
            .send()
            .await
            .map_err(|e| err(&e))?
            .route_tables()
            .to_vec();
    }
    let routes = tables.iter().flat_map(|t| t.routes());
    let internet = routes
        .filter(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
        .any(|r| {
            r.nat_gateway_id().is_some()
                || (public && r.gateway_id().is_some_and(|g| g.starts_with("igw-")))
        });
    if internet {
        return Ok(true);
    }
    let endpoints = ec2
        .describe_vpc_endpoints()
        .filters(filter("vpc-id", &vpc))
        .send()
        .await
        .map_err(|e| err(&e))?;
    let has = |svc: &str| {
        let name = format!("com.amazonaws.{region}.{svc}");
        endpoints.vpc_endpoints().iter().any(|e| {
            e.service_name() == Some(name.as_str()) && e.private_dns_enabled() == Some(true)
        })
    };
    Ok(["ssm", "ec2messages", "ssmmessages"].iter().all(|s| has(s)))
}
