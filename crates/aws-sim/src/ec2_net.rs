//! VPC networking, as far as it decides whether a builder reaches Systems Manager: VPCs, subnets,
//! internet and NAT gateways, route tables and interface VPC endpoints, made through the calls a user
//! makes (CreateVpc, CreateSubnet, ModifySubnetAttribute, CreateInternetGateway,
//! AttachInternetGateway, CreateNatGateway, CreateRouteTable, CreateRoute, AssociateRouteTable,
//! CreateVpcEndpoint) and read back (DescribeRouteTables, DescribeVpcEndpoints; DescribeVpcs and
//! DescribeSubnets in `ec2_access.rs`).
//!
//! The rule (Systems Manager User Guide, "Setting up Systems Manager: … managed nodes" and "Improve
//! the security of EC2 instances by using VPC endpoints for Systems Manager"): the agent must reach the
//! `ssm`, `ec2messages` and `ssmmessages` endpoints of its region, through the internet (a route
//! `0.0.0.0/0` to an attached internet gateway and a public IP, or to a NAT gateway) or through
//! interface VPC endpoints for all three with private DNS. A subnet's routes are those of the route
//! table associated with it, else its VPC's main route table (VPC User Guide, "Route tables"). The
//! default VPC has an internet gateway and maps public IPs in its subnets ("Default VPCs"), so its
//! subnets reach SSM. An agent that cannot reach SSM never reports Online.
//!
//! Not modelled: network ACLs, security group egress, DNS settings of the VPC, NAT gateway states
//! (a NAT gateway is available at once), prefix lists and IPv6.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::ec2_access::{Subnet, default_vpc, required as param};
use crate::protocol::{Call, Xml, filters, list};
use crate::world::World;

/// A VPC made with CreateVpc (the default VPC of each region is implicit).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Vpc {
    pub id: String,
    pub owner: String,
    pub region: String,
    pub cidr: String,
}

/// An internet gateway (`igw-`) or NAT gateway (`nat-`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Gateway {
    pub id: String,
    pub owner: String,
    pub region: String,
    /// The VPC an internet gateway is attached to, or a NAT gateway's VPC.
    pub vpc_id: String,
    /// A NAT gateway's subnet.
    pub subnet_id: String,
}

/// A route table: its routes (destination → target) and the subnets associated with it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteTable {
    pub id: String,
    pub owner: String,
    pub region: String,
    pub vpc_id: String,
    pub main: bool,
    pub routes: BTreeMap<String, String>,
    pub subnets: Vec<String>,
}

/// An interface VPC endpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Endpoint {
    pub id: String,
    pub owner: String,
    pub region: String,
    pub vpc_id: String,
    pub service: String,
    pub private_dns: bool,
}

/// The account's networks beyond the default VPCs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Net {
    pub vpcs: BTreeMap<String, Vpc>,
    pub gateways: BTreeMap<String, Gateway>,
    pub route_tables: BTreeMap<String, RouteTable>,
    pub endpoints: BTreeMap<String, Endpoint>,
}

/// The three endpoints the SSM agent talks to.
pub fn ssm_services(region: &str) -> [String; 3] {
    ["ssm", "ec2messages", "ssmmessages"].map(|s| format!("com.amazonaws.{region}.{s}"))
}

/// The VPC of `account`'s subnet `id` in `region`, if it has one.
pub fn subnet_of(w: &World, account: &str, region: &str, id: &str) -> Option<String> {
    w.ec2
        .subnets
        .get(id)
        .filter(|s| s.owner == account && s.region == region)
        .map(|s| s.vpc_id.clone())
}

/// Whether an agent in `subnet` (with a public IP when `public_ip`, else as the subnet maps) reaches
/// Systems Manager. A subnet aws-sim does not know (an id RunInstances only recorded) and the default
/// VPC's subnets do.
pub fn reaches_ssm(w: &World, subnet: &str, public_ip: Option<bool>) -> bool {
    let Some(s) = w.ec2.subnets.get(subnet) else {
        return true;
    };
    let net = &w.ec2.net;
    let default = default_main_table(w, &s.owner, &s.region).filter(|t| t.vpc_id == s.vpc_id);
    let table = net
        .route_tables
        .values()
        .find(|t| t.subnets.iter().any(|x| x == subnet))
        .or_else(|| {
            net.route_tables
                .values()
                .find(|t| t.main && t.vpc_id == s.vpc_id)
        })
        .or(default.as_ref());
    let default_route = table.and_then(|t| t.routes.get("0.0.0.0/0"));
    let internet = default_route.is_some_and(|target| {
        let gw = net.gateways.get(target);
        // The default VPC's internet gateway is implicit, and attached to it.
        let attached = gw.is_some_and(|g| g.vpc_id == s.vpc_id) || default.is_some();
        (target.starts_with("nat-") && gw.is_some())
            || (target.starts_with("igw-") && attached && public_ip.unwrap_or(s.map_public_ip))
    });
    internet || endpoints_cover(w, s)
}

fn endpoints_cover(w: &World, s: &Subnet) -> bool {
    ssm_services(&s.region).iter().all(|svc| {
        w.ec2.net.endpoints.values().any(|e| {
            e.vpc_id == s.vpc_id && &e.service == svc && e.private_dns && e.owner == s.owner
        })
    })
}

/// Handle a networking call; `None` if `c` is none of them.
pub fn handle(w: &mut World, c: &Call, rid: &str) -> Option<Result<String, ApiError>> {
    Some(match c.op.as_str() {
        "CreateVpc" => Ok(create_vpc(w, c, rid)),
        "CreateSubnet" => create_subnet(w, c, rid),
        "ModifySubnetAttribute" => modify_subnet(w, c, rid),
        "CreateInternetGateway" => Ok(create_gateway(w, c, rid, "igw-", "")),
        "AttachInternetGateway" => attach_gateway(w, c, rid),
        "CreateNatGateway" => create_nat(w, c, rid),
        "CreateRouteTable" => create_route_table(w, c, rid),
        "CreateRoute" => create_route(w, c, rid),
        "AssociateRouteTable" => associate(w, c, rid),
        "DescribeRouteTables" => Ok(describe_route_tables(w, c, rid)),
        "CreateVpcEndpoint" => create_endpoint(w, c, rid),
        "DescribeVpcEndpoints" => Ok(describe_endpoints(w, c, rid)),
        _ => return None,
    })
}

fn not_found(kind: &str, id: &str) -> ApiError {
    ApiError::client(
        &format!("Invalid{kind}ID.NotFound"),
        format!("The {} ID '{id}' does not exist", kind.to_lowercase()),
    )
}

/// The caller's VPC `id` (the default VPC while it exists, or one made with CreateVpc).
fn vpc_of(w: &World, c: &Call, id: &str) -> Result<(), ApiError> {
    let default = id == default_vpc(&c.region)
        && crate::ec2_access::has_default_vpc(w, &c.account, &c.region);
    let made = w
        .ec2
        .net
        .vpcs
        .get(id)
        .is_some_and(|v| v.owner == c.account && v.region == c.region);
    if default || made {
        Ok(())
    } else {
        Err(not_found("Vpc", id))
    }
}

fn create_vpc(w: &mut World, c: &Call, rid: &str) -> String {
    let id = w.id("vpc-", 17);
    let cidr = c.params.get("CidrBlock").cloned().unwrap_or_default();
    let rtb = w.id("rtb-", 17);
    // A new VPC comes with a main route table holding only its local route (VPC User Guide).
    let main = RouteTable {
        id: rtb.clone(),
        owner: c.account.clone(),
        region: c.region.clone(),
        vpc_id: id.clone(),
        main: true,
        routes: BTreeMap::from([(cidr.clone(), "local".to_string())]),
        subnets: vec![],
    };
    w.ec2.net.route_tables.insert(rtb, main);
    let vpc = Vpc {
        id: id.clone(),
        owner: c.account.clone(),
        region: c.region.clone(),
        cidr: cidr.clone(),
    };
    w.ec2.net.vpcs.insert(id.clone(), vpc);
    let mut x = Xml::response("CreateVpc", rid);
    x.open("vpc")
        .text("vpcId", &id)
        .text("cidrBlock", &cidr)
        .text("state", "available")
        .text("isDefault", "false")
        .close("vpc");
    x.finish("CreateVpc")
}

fn create_subnet(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let vpc = param(c, "VpcId")?.to_string();
    vpc_of(w, c, &vpc)?;
    let id = w.id("subnet-", 17);
    let cidr = param(c, "CidrBlock")?.to_string();
    let subnet = Subnet {
        id: id.clone(),
        owner: c.account.clone(),
        region: c.region.clone(),
        vpc_id: vpc.clone(),
        cidr: cidr.clone(),
        map_public_ip: false,
    };
    w.ec2.subnets.insert(id.clone(), subnet);
    let mut x = Xml::response("CreateSubnet", rid);
    x.open("subnet")
        .text("subnetId", &id)
        .text("vpcId", &vpc)
        .text("cidrBlock", &cidr)
        .text("state", "available")
        .text("mapPublicIpOnLaunch", "false")
        .close("subnet");
    Ok(x.finish("CreateSubnet"))
}

fn modify_subnet(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let id = param(c, "SubnetId")?;
    let s = w
        .ec2
        .subnets
        .get_mut(id)
        .filter(|s| s.owner == c.account && s.region == c.region)
        .ok_or_else(|| not_found("Subnet", id))?;
    if let Some(v) = c.params.get("MapPublicIpOnLaunch.Value") {
        s.map_public_ip = v == "true";
    }
    Ok(ok("ModifySubnetAttribute", rid))
}

fn ok(op: &str, rid: &str) -> String {
    let mut x = Xml::response(op, rid);
    x.text("return", "true");
    x.finish(op)
}

fn create_gateway(w: &mut World, c: &Call, rid: &str, prefix: &str, subnet: &str) -> String {
    let id = w.id(prefix, 17);
    let vpc = w.ec2.subnets.get(subnet).map(|s| s.vpc_id.clone());
    let gw = Gateway {
        id: id.clone(),
        owner: c.account.clone(),
        region: c.region.clone(),
        vpc_id: vpc.unwrap_or_default(),
        subnet_id: subnet.into(),
    };
    w.ec2.net.gateways.insert(id.clone(), gw);
    let (op, wrap, key) = if prefix == "nat-" {
        ("CreateNatGateway", "natGateway", "natGatewayId")
    } else {
        (
            "CreateInternetGateway",
            "internetGateway",
            "internetGatewayId",
        )
    };
    let mut x = Xml::response(op, rid);
    x.open(wrap).text(key, &id);
    if prefix == "nat-" {
        x.text("subnetId", subnet).text("state", "available");
    }
    x.close(wrap);
    x.finish(op)
}

fn attach_gateway(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let vpc = param(c, "VpcId")?.to_string();
    vpc_of(w, c, &vpc)?;
    let id = param(c, "InternetGatewayId")?;
    let gw = w
        .ec2
        .net
        .gateways
        .get_mut(id)
        .filter(|g| g.owner == c.account && g.region == c.region)
        .ok_or_else(|| not_found("InternetGateway", id))?;
    if !gw.vpc_id.is_empty() {
        return Err(ApiError::client(
            "Resource.AlreadyAssociated",
            format!("resource {id} is already attached to network {}", gw.vpc_id),
        ));
    }
    gw.vpc_id = vpc;
    Ok(ok("AttachInternetGateway", rid))
}

fn create_nat(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let subnet = param(c, "SubnetId")?.to_string();
    if !w
        .ec2
        .subnets
        .get(&subnet)
        .is_some_and(|s| s.owner == c.account && s.region == c.region)
    {
        return Err(not_found("Subnet", &subnet));
    }
    Ok(create_gateway(w, c, rid, "nat-", &subnet))
}

fn create_route_table(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let vpc = param(c, "VpcId")?.to_string();
    vpc_of(w, c, &vpc)?;
    let id = w.id("rtb-", 17);
    let table = RouteTable {
        id: id.clone(),
        owner: c.account.clone(),
        region: c.region.clone(),
        vpc_id: vpc.clone(),
        ..Default::default()
    };
    w.ec2.net.route_tables.insert(id.clone(), table);
    let mut x = Xml::response("CreateRouteTable", rid);
    x.open("routeTable")
        .text("routeTableId", &id)
        .text("vpcId", &vpc)
        .close("routeTable");
    Ok(x.finish("CreateRouteTable"))
}

fn table_mut<'a>(w: &'a mut World, c: &Call, id: &str) -> Result<&'a mut RouteTable, ApiError> {
    w.ec2
        .net
        .route_tables
        .get_mut(id)
        .filter(|t| t.owner == c.account && t.region == c.region)
        .ok_or_else(|| not_found("RouteTable", id))
}

fn create_route(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let dest = param(c, "DestinationCidrBlock")?.to_string();
    let target = ["GatewayId", "NatGatewayId"]
        .iter()
        .find_map(|k| c.params.get(*k).cloned())
        .ok_or_else(|| {
            ApiError::client("MissingParameter", "The request must name a route target")
        })?;
    if !w.ec2.net.gateways.contains_key(&target) {
        return Err(not_found(
            if target.starts_with("nat-") {
                "NatGateway"
            } else {
                "InternetGateway"
            },
            &target,
        ));
    }
    let table = table_mut(w, c, param(c, "RouteTableId")?)?;
    if table.routes.contains_key(&dest) {
        return Err(ApiError::client(
            "RouteAlreadyExists",
            format!("The route identified by {dest} already exists."),
        ));
    }
    table.routes.insert(dest, target);
    Ok(ok("CreateRoute", rid))
}

fn associate(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let subnet = param(c, "SubnetId")?.to_string();
    let id = param(c, "RouteTableId")?.to_string();
    table_mut(w, c, &id)?;
    // A subnet is associated with one route table at a time.
    for t in w.ec2.net.route_tables.values_mut() {
        t.subnets.retain(|s| s != &subnet);
    }
    table_mut(w, c, &id)?.subnets.push(subnet);
    let assoc = w.id("rtbassoc-", 17);
    let mut x = Xml::response("AssociateRouteTable", rid);
    x.text("associationId", &assoc);
    Ok(x.finish("AssociateRouteTable"))
}

fn describe_route_tables(w: &World, c: &Call, rid: &str) -> String {
    let fs = filters(&c.params);
    let ids = list(&c.params, "RouteTableId");
    let keep = |t: &RouteTable| {
        fs.iter().all(|(name, values)| match name.as_str() {
            "vpc-id" => values.contains(&t.vpc_id),
            "association.subnet-id" => t.subnets.iter().any(|s| values.contains(s)),
            "association.main" => values.iter().any(|v| (v == "true") == t.main),
            "route-table-id" => values.contains(&t.id),
            _ => true,
        })
    };
    let default = default_main_table(w, &c.account, &c.region);
    let mut x = Xml::response("DescribeRouteTables", rid);
    x.open("routeTableSet");
    for t in w.ec2.net.route_tables.values().chain(default.as_ref()) {
        let mine = t.owner == c.account && t.region == c.region;
        if !mine || !(ids.is_empty() || ids.contains(&t.id)) || !keep(t) {
            continue;
        }
        x.open("item")
            .text("routeTableId", &t.id)
            .text("vpcId", &t.vpc_id);
        x.open("routeSet");
        for (dest, target) in &t.routes {
            let key = if target.starts_with("nat-") {
                "natGatewayId"
            } else {
                "gatewayId"
            };
            x.open("item")
                .text("destinationCidrBlock", dest)
                .text(key, target)
                .text("state", "active")
                .close("item");
        }
        x.close("routeSet");
        x.open("associationSet");
        if t.main {
            x.open("item")
                .text("routeTableId", &t.id)
                .text("main", "true")
                .close("item");
        }
        for s in &t.subnets {
            x.open("item")
                .text("routeTableId", &t.id)
                .text("subnetId", s)
                .text("main", "false")
                .close("item");
        }
        x.close("associationSet").close("item");
    }
    x.close("routeTableSet");
    x.finish("DescribeRouteTables")
}

/// The main route table of the caller's default VPC, while it has one: its local route and
/// `0.0.0.0/0` to the default VPC's internet gateway ("Default VPCs", VPC User Guide).
fn default_main_table(w: &World, account: &str, region: &str) -> Option<RouteTable> {
    if !crate::ec2_access::has_default_vpc(w, account, region) {
        return None;
    }
    let vpc = default_vpc(region);
    let suffix = vpc.trim_start_matches("vpc-").to_string();
    Some(RouteTable {
        id: format!("rtb-{suffix}"),
        owner: account.into(),
        region: region.into(),
        vpc_id: vpc,
        main: true,
        routes: BTreeMap::from([
            ("172.31.0.0/16".to_string(), "local".to_string()),
            ("0.0.0.0/0".to_string(), format!("igw-{suffix}")),
        ]),
        subnets: vec![],
    })
}

fn create_endpoint(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let vpc = param(c, "VpcId")?.to_string();
    vpc_of(w, c, &vpc)?;
    let service = param(c, "ServiceName")?.to_string();
    let kind = c
        .params
        .get("VpcEndpointType")
        .map_or("Gateway", String::as_str);
    // Interface endpoints have private DNS on unless asked otherwise (API_CreateVpcEndpoint).
    let private_dns = kind == "Interface"
        && c.params
            .get("PrivateDnsEnabled")
            .is_none_or(|v| v == "true");
    let id = w.id("vpce-", 17);
    let e = Endpoint {
        id: id.clone(),
        owner: c.account.clone(),
        region: c.region.clone(),
        vpc_id: vpc.clone(),
        service: service.clone(),
        private_dns,
    };
    w.ec2.net.endpoints.insert(id.clone(), e);
    let mut x = Xml::response("CreateVpcEndpoint", rid);
    x.open("vpcEndpoint")
        .text("vpcEndpointId", &id)
        .text("vpcId", &vpc)
        .text("serviceName", &service)
        .text("vpcEndpointType", kind)
        .text(
            "privateDnsEnabled",
            if private_dns { "true" } else { "false" },
        )
        .text("state", "available")
        .close("vpcEndpoint");
    Ok(x.finish("CreateVpcEndpoint"))
}

fn describe_endpoints(w: &World, c: &Call, rid: &str) -> String {
    let fs = filters(&c.params);
    let mut x = Xml::response("DescribeVpcEndpoints", rid);
    x.open("vpcEndpointSet");
    for e in w.ec2.net.endpoints.values() {
        let keep = e.owner == c.account
            && e.region == c.region
            && fs.iter().all(|(name, values)| match name.as_str() {
                "vpc-id" => values.contains(&e.vpc_id),
                "service-name" => values.contains(&e.service),
                _ => true,
            });
        if !keep {
            continue;
        }
        x.open("item")
            .text("vpcEndpointId", &e.id)
            .text("vpcId", &e.vpc_id)
            .text("serviceName", &e.service)
            .text("vpcEndpointType", "Interface")
            .text(
                "privateDnsEnabled",
                if e.private_dns { "true" } else { "false" },
            )
            .text("state", "available")
            .close("item");
    }
    x.close("vpcEndpointSet");
    x.finish("DescribeVpcEndpoints")
}
