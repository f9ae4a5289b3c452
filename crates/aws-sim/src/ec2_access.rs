//! EC2 key pairs, security groups and volumes: what Packer's amazon-ebs builder creates around its
//! temporary instance (a key pair, a security group opened for its communicator) and reads back.
//!
//! Rules, from the EC2 API reference:
//! - CreateKeyPair (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateKeyPair.html):
//!   `KeyName` is required, up to 255 ASCII characters, unique per account and region
//!   (`InvalidKeyPair.Duplicate`); `KeyType` is `rsa` (default) or `ed25519`; the answer carries the
//!   private key once. DeleteKeyPair takes `KeyName` or `KeyPairId` and succeeds for a key that does
//!   not exist (API_DeleteKeyPair.html). DescribeKeyPairs fails with `InvalidKeyPair.NotFound` for a
//!   named key that does not exist (API_DescribeKeyPairs.html).
//! - CreateSecurityGroup (API_CreateSecurityGroup.html): `GroupName` and `GroupDescription` are
//!   required (255 characters at most; a name may not start with `sg-`), unique per VPC
//!   (`InvalidGroup.Duplicate`); without `VpcId` the group goes to the default VPC. A new group has one
//!   egress rule allowing everything and no ingress rule.
//! - AuthorizeSecurityGroupIngress (API_AuthorizeSecurityGroupIngress.html): rules as `IpPermissions`
//!   or the flat `IpProtocol`/`FromPort`/`ToPort`/`CidrIp`; a rule already there is
//!   `InvalidPermission.Duplicate`.
//! - DeleteSecurityGroup (API_DeleteSecurityGroup.html): `DependencyViolation` while an instance that
//!   is not terminated uses the group; `InvalidGroup.NotFound` for an unknown id.
//! - DescribeVolumes (API_DescribeVolumes.html): each instance's root volume (from its image's snapshot)
//!   is `in-use` and attached while the instance is not terminated; filters `volume-id`,
//!   `attachment.instance-id`, `status`.
//!
//! - DescribeSubnets (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSubnets.html):
//!   `SubnetId.N` and filters `subnet-id`, `vpc-id`; a named subnet that does not exist fails the
//!   call with `InvalidSubnetID.NotFound` ("The subnet ID 'subnet-…' does not exist"). Subnets exist
//!   only as the account's network is set up ([`crate::Sim::provide_network`]): the sim has no
//!   CreateVpc/CreateSubnet.
//!
//! What aws-sim cannot know: key material is random text, not a usable key; the default VPC is one
//! made-up id per region; RunInstances does not check its security group ids (the sim has no VPC
//! model, and recipes name groups that exist only in the user's account).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::protocol::{Call, Xml, filters, list, tag_specs};
use crate::world::World;

/// A key pair.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyPair {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub region: String,
    pub key_type: String,
    pub fingerprint: String,
    pub tags: BTreeMap<String, String>,
}

/// One ingress rule: protocol, ports and a CIDR range.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rule {
    pub protocol: String,
    pub from: String,
    pub to: String,
    pub cidr: String,
}

/// A security group.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner: String,
    pub region: String,
    pub vpc_id: String,
    pub ingress: Vec<Rule>,
    pub tags: BTreeMap<String, String>,
}

/// A subnet of the account's network.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Subnet {
    pub id: String,
    pub owner: String,
    pub region: String,
    pub vpc_id: String,
    pub cidr: String,
    /// `MapPublicIpOnLaunch`: true in the default VPC's subnets, false in CreateSubnet's.
    pub map_public_ip: bool,
}

/// The made-up default VPC of a region.
pub fn default_vpc(region: &str) -> String {
    let n: u32 = region.bytes().map(u32::from).sum();
    format!("vpc-{n:08x}")
}

pub(crate) fn required<'a>(c: &'a Call, name: &str) -> Result<&'a str, ApiError> {
    c.params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ApiError::client(
                "MissingParameter",
                format!("The request must contain the parameter {name}"),
            )
        })
}

fn ok(op: &str, rid: &str) -> String {
    let mut x = Xml::response(op, rid);
    x.text("return", "true");
    x.finish(op)
}

/// Handle a key pair, security group or volume call; `None` if `c` is none of them.
pub fn handle(w: &mut World, c: &Call, rid: &str) -> Option<Result<String, ApiError>> {
    Some(match c.op.as_str() {
        "CreateKeyPair" => create_key_pair(w, c, rid),
        "DeleteKeyPair" => Ok(delete_key_pair(w, c, rid)),
        "DescribeKeyPairs" => describe_key_pairs(w, c, rid),
        "CreateSecurityGroup" => create_security_group(w, c, rid),
        "DescribeSecurityGroups" => describe_security_groups(w, c, rid),
        "AuthorizeSecurityGroupIngress" => authorize_ingress(w, c, rid),
        "DeleteSecurityGroup" => delete_security_group(w, c, rid),
        "DescribeVolumes" => Ok(describe_volumes(w, c, rid)),
        "DescribeSubnets" => describe_subnets(w, c, rid),
        "DescribeVpcs" => Ok(describe_vpcs(w, c, rid)),
        "DeleteVpc" => delete_vpc(w, c, rid),
        "CreateDefaultVpc" => create_default_vpc(w, c, rid),
        _ => return None,
    })
}

fn mine<'a>(c: &'a Call) -> impl Fn(&str, &str) -> bool + 'a {
    move |owner, region| owner == c.account && region == c.region
}

fn create_key_pair(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let name = required(c, "KeyName")?.to_string();
    if name.len() > 255 || !name.is_ascii() {
        return Err(ApiError::client(
            "InvalidParameterValue",
            "Key names are up to 255 ASCII characters",
        ));
    }
    let key_type = c.params.get("KeyType").map_or("rsa", String::as_str);
    if !matches!(key_type, "rsa" | "ed25519") {
        return Err(ApiError::client(
            "InvalidParameterValue",
            format!("Invalid key type '{key_type}'"),
        ));
    }
    let is_mine = mine(c);
    if w.ec2
        .key_pairs
        .values()
        .any(|k| k.name == name && is_mine(&k.owner, &k.region))
    {
        return Err(ApiError::client(
            "InvalidKeyPair.Duplicate",
            format!("The keypair '{name}' already exists."),
        ));
    }
    let id = w.id("key-", 17);
    let material = w.id("", 32);
    // A SHA-1 fingerprint's shape: 20 bytes as colon-separated hex.
    let hex = format!("{}{}", w.id("", 32), w.id("", 8));
    let fingerprint = hex
        .as_bytes()
        .chunks(2)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let key = KeyPair {
        fingerprint,
        id: id.clone(),
        name,
        owner: c.account.clone(),
        region: c.region.clone(),
        key_type: key_type.to_string(),
        tags: tag_specs(&c.params, "key-pair"),
    };
    let mut x = Xml::response("CreateKeyPair", rid);
    x.text("keyName", &key.name)
        .text("keyFingerprint", &key.fingerprint)
        .text(
            "keyMaterial",
            &format!("-----BEGIN RSA PRIVATE KEY-----\n{material}\n-----END RSA PRIVATE KEY-----"),
        )
        .text("keyPairId", &key.id);
    if !key.tags.is_empty() {
        x.tags(&key.tags);
    }
    w.ec2.key_pairs.insert(id, key);
    Ok(x.finish("CreateKeyPair"))
}

fn delete_key_pair(w: &mut World, c: &Call, rid: &str) -> String {
    let (name, id) = (c.params.get("KeyName"), c.params.get("KeyPairId"));
    let is_mine = mine(c);
    w.ec2.key_pairs.retain(|_, k| {
        let named = name == Some(&k.name) || id == Some(&k.id);
        !(named && is_mine(&k.owner, &k.region))
    });
    ok("DeleteKeyPair", rid)
}

fn describe_key_pairs(w: &World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let (names, ids) = (list(&c.params, "KeyName"), list(&c.params, "KeyPairId"));
    let is_mine = mine(c);
    let found: Vec<&KeyPair> = w
        .ec2
        .key_pairs
        .values()
        .filter(|k| is_mine(&k.owner, &k.region))
        .filter(|k| names.is_empty() || names.contains(&k.name))
        .filter(|k| ids.is_empty() || ids.contains(&k.id))
        .collect();
    if let Some(missing) = names.iter().find(|n| !found.iter().any(|k| &k.name == *n)) {
        return Err(ApiError::client(
            "InvalidKeyPair.NotFound",
            format!("The key pair '{missing}' does not exist"),
        ));
    }
    let mut x = Xml::response("DescribeKeyPairs", rid);
    x.open("keySet");
    for k in found {
        x.open("item")
            .text("keyPairId", &k.id)
            .text("keyName", &k.name)
            .text("keyType", &k.key_type)
            .text("keyFingerprint", &k.fingerprint);
        if !k.tags.is_empty() {
            x.tags(&k.tags);
        }
        x.close("item");
    }
    x.close("keySet");
    Ok(x.finish("DescribeKeyPairs"))
}

/// Whether the key pair `name` exists for the caller (RunInstances checks its `KeyName`).
pub fn key_exists(w: &World, c: &Call, name: &str) -> bool {
    let is_mine = mine(c);
    w.ec2
        .key_pairs
        .values()
        .any(|k| k.name == name && is_mine(&k.owner, &k.region))
}

fn create_security_group(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let name = required(c, "GroupName")?.to_string();
    let description = required(c, "GroupDescription")?.to_string();
    if name.len() > 255 || description.len() > 255 || name.starts_with("sg-") {
        return Err(ApiError::client(
            "InvalidParameterValue",
            "Group names and descriptions are up to 255 characters, and a name may not start with sg-",
        ));
    }
    let vpc_id = c
        .params
        .get("VpcId")
        .cloned()
        .unwrap_or_else(|| default_vpc(&c.region));
    let is_mine = mine(c);
    if w.ec2
        .security_groups
        .values()
        .any(|g| g.name == name && g.vpc_id == vpc_id && is_mine(&g.owner, &g.region))
    {
        return Err(ApiError::client(
            "InvalidGroup.Duplicate",
            format!("The security group '{name}' already exists for VPC '{vpc_id}'"),
        ));
    }
    let id = w.id("sg-", 17);
    let group = SecurityGroup {
        id: id.clone(),
        name,
        description,
        owner: c.account.clone(),
        region: c.region.clone(),
        vpc_id,
        ingress: Vec::new(),
        tags: tag_specs(&c.params, "security-group"),
    };
    let mut x = Xml::response("CreateSecurityGroup", rid);
    x.text("return", "true").text("groupId", &id);
    if !group.tags.is_empty() {
        x.tags(&group.tags);
    }
    w.ec2.security_groups.insert(id, group);
    Ok(x.finish("CreateSecurityGroup"))
}

/// The group a call names by `GroupId` or `GroupName`.
fn named_group<'a>(w: &'a mut World, c: &Call) -> Result<&'a mut SecurityGroup, ApiError> {
    let (id, name) = (c.params.get("GroupId"), c.params.get("GroupName"));
    let shown = id.or(name).cloned().unwrap_or_default();
    let is_mine = mine(c);
    w.ec2
        .security_groups
        .values_mut()
        .find(|g| {
            (id == Some(&g.id) || (id.is_none() && name == Some(&g.name)))
                && is_mine(&g.owner, &g.region)
        })
        .ok_or_else(|| {
            ApiError::client(
                "InvalidGroup.NotFound",
                format!("The security group '{shown}' does not exist"),
            )
        })
}

fn describe_security_groups(w: &World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let (ids, names) = (list(&c.params, "GroupId"), list(&c.params, "GroupName"));
    let fs = filters(&c.params);
    let is_mine = mine(c);
    let found: Vec<&SecurityGroup> = w
        .ec2
        .security_groups
        .values()
        .filter(|g| is_mine(&g.owner, &g.region))
        .filter(|g| ids.is_empty() || ids.contains(&g.id))
        .filter(|g| names.is_empty() || names.contains(&g.name))
        .filter(|g| group_matches(g, &fs))
        .collect();
    if let Some(missing) = ids.iter().find(|i| !found.iter().any(|g| &g.id == *i)) {
        return Err(ApiError::client(
            "InvalidGroup.NotFound",
            format!("The security group '{missing}' does not exist"),
        ));
    }
    let mut x = Xml::response("DescribeSecurityGroups", rid);
    x.open("securityGroupInfo");
    for g in found {
        group_xml(&mut x, g);
    }
    x.close("securityGroupInfo");
    Ok(x.finish("DescribeSecurityGroups"))
}

fn describe_subnets(w: &World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let ids = list(&c.params, "SubnetId");
    let fs = filters(&c.params);
    let is_mine = mine(c);
    let found: Vec<&Subnet> = w
        .ec2
        .subnets
        .values()
        .filter(|s| is_mine(&s.owner, &s.region))
        .filter(|s| ids.is_empty() || ids.contains(&s.id))
        .filter(|s| {
            fs.iter().all(|(name, values)| match name.as_str() {
                "subnet-id" => values.contains(&s.id),
                "vpc-id" => values.contains(&s.vpc_id),
                _ => true,
            })
        })
        .collect();
    if let Some(missing) = ids.iter().find(|i| !found.iter().any(|s| &s.id == *i)) {
        return Err(ApiError::client(
            "InvalidSubnetID.NotFound",
            format!("The subnet ID '{missing}' does not exist"),
        ));
    }
    let mut x = Xml::response("DescribeSubnets", rid);
    x.open("subnetSet");
    for s in found {
        x.open("item")
            .text("subnetId", &s.id)
            .text("vpcId", &s.vpc_id)
            .text("cidrBlock", &s.cidr)
            .text("ownerId", &s.owner)
            .text("state", "available")
            .text(
                "mapPublicIpOnLaunch",
                if s.map_public_ip { "true" } else { "false" },
            )
            .close("item");
    }
    x.close("subnetSet");
    Ok(x.finish("DescribeSubnets"))
}

fn group_matches(g: &SecurityGroup, fs: &[(String, Vec<String>)]) -> bool {
    fs.iter().all(|(name, values)| {
        let field = match name.as_str() {
            "group-id" => g.id.as_str(),
            "group-name" => g.name.as_str(),
            "vpc-id" => g.vpc_id.as_str(),
            n => match n.strip_prefix("tag:") {
                Some(k) => g.tags.get(k).map_or("", String::as_str),
                None => return true,
            },
        };
        values.iter().any(|v| v == field)
    })
}

fn group_xml(x: &mut Xml, g: &SecurityGroup) {
    x.open("item")
        .text("ownerId", &g.owner)
        .text("groupId", &g.id)
        .text("groupName", &g.name)
        .text("groupDescription", &g.description)
        .text("vpcId", &g.vpc_id)
        .open("ipPermissions");
    for r in &g.ingress {
        x.open("item").text("ipProtocol", &r.protocol);
        if r.protocol != "-1" {
            x.text("fromPort", &r.from).text("toPort", &r.to);
        }
        x.open("ipRanges")
            .open("item")
            .text("cidrIp", &r.cidr)
            .close("item")
            .close("ipRanges")
            .close("item");
    }
    x.close("ipPermissions")
        .open("ipPermissionsEgress")
        .open("item")
        .text("ipProtocol", "-1")
        .open("ipRanges")
        .open("item")
        .text("cidrIp", "0.0.0.0/0")
        .close("item")
        .close("ipRanges")
        .close("item")
        .close("ipPermissionsEgress");
    if !g.tags.is_empty() {
        x.tags(&g.tags);
    }
    x.close("item");
}

/// The rules of an AuthorizeSecurityGroupIngress call, in either of its two shapes.
fn rules(c: &Call) -> Vec<Rule> {
    let get = |k: &str| c.params.get(k).cloned().unwrap_or_default();
    let mut out = Vec::new();
    if c.params.contains_key("IpProtocol") {
        out.push(Rule {
            protocol: get("IpProtocol"),
            from: get("FromPort"),
            to: get("ToPort"),
            cidr: c
                .params
                .get("CidrIp")
                .cloned()
                .unwrap_or_else(|| "0.0.0.0/0".into()),
        });
    }
    for i in 1.. {
        let base = format!("IpPermissions.{i}");
        let Some(protocol) = c.params.get(&format!("{base}.IpProtocol")) else {
            break;
        };
        for cidr in cidrs(c, &base) {
            out.push(Rule {
                protocol: protocol.clone(),
                from: get(&format!("{base}.FromPort")),
                to: get(&format!("{base}.ToPort")),
                cidr,
            });
        }
    }
    out
}

fn cidrs(c: &Call, base: &str) -> Vec<String> {
    let listed: Vec<String> = (1..)
        .map_while(|j| {
            c.params
                .get(&format!("{base}.IpRanges.{j}.CidrIp"))
                .cloned()
        })
        .collect();
    if listed.is_empty() {
        vec!["0.0.0.0/0".into()]
    } else {
        listed
    }
}

fn authorize_ingress(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let new = rules(c);
    if new.is_empty() {
        return Err(ApiError::client(
            "MissingParameter",
            "The request must contain the parameter IpPermissions",
        ));
    }
    let g = named_group(w, c)?;
    if let Some(dup) = new.iter().find(|r| g.ingress.contains(r)) {
        return Err(ApiError::client(
            "InvalidPermission.Duplicate",
            format!(
                "the specified rule \"peer: {}, {}, from port: {}, to port: {}, ALLOW\" already exists",
                dup.cidr, dup.protocol, dup.from, dup.to
            ),
        ));
    }
    g.ingress.extend(new);
    Ok(ok("AuthorizeSecurityGroupIngress", rid))
}

fn delete_security_group(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let id = named_group(w, c)?.id.clone();
    let in_use = w
        .ec2
        .instances
        .values()
        .any(|i| i.state != "terminated" && i.security_groups.contains(&id));
    if in_use {
        return Err(ApiError::client(
            "DependencyViolation",
            format!("resource {id} has a dependent object"),
        ));
    }
    w.ec2.security_groups.remove(&id);
    Ok(ok("DeleteSecurityGroup", rid))
}

/// The root volume id of an instance.
fn volume_of(instance: &str) -> String {
    format!("vol-{}", instance.trim_start_matches("i-"))
}

fn describe_volumes(w: &World, c: &Call, rid: &str) -> String {
    let ids = list(&c.params, "VolumeId");
    let fs = filters(&c.params);
    let is_mine = mine(c);
    let mut x = Xml::response("DescribeVolumes", rid);
    x.open("volumeSet");
    for i in w.ec2.instances.values() {
        let vol = volume_of(&i.id);
        if !is_mine(&i.owner, &i.region) || i.state == "terminated" {
            continue;
        }
        let fields = [
            ("volume-id", vol.as_str()),
            ("attachment.instance-id", i.id.as_str()),
            ("status", "in-use"),
        ];
        let matches = fs.iter().all(|(name, values)| {
            fields
                .iter()
                .find(|(f, _)| f == name)
                .is_none_or(|(_, v)| values.iter().any(|p| p == v))
        });
        if !matches || (!ids.is_empty() && !ids.contains(&vol)) {
            continue;
        }
        volume_xml(&mut x, w, i, &vol);
    }
    x.close("volumeSet");
    x.finish("DescribeVolumes")
}

fn volume_xml(x: &mut Xml, w: &World, i: &crate::ec2::Instance, vol: &str) {
    let snapshot = w
        .ec2
        .images
        .get(&i.image_id)
        .and_then(|img| img.snapshot_ids.first().cloned())
        .unwrap_or_default();
    x.open("item")
        .text("volumeId", vol)
        .text("size", "8")
        .text("snapshotId", &snapshot)
        .text("availabilityZone", &format!("{}a", i.region))
        .text("status", "in-use")
        .text("createTime", &crate::clock::rfc3339(i.launch_ms))
        .text("volumeType", "gp3")
        .text("encrypted", "false")
        .open("attachmentSet")
        .open("item")
        .text("volumeId", vol)
        .text("instanceId", &i.id)
        .text("device", "/dev/xvda")
        .text("status", "attached")
        .text("deleteOnTermination", "true")
        .close("item")
        .close("attachmentSet")
        .close("item");
}

/// Whether the caller's account still has its default VPC in the call's region.
pub fn has_default_vpc(w: &World, account: &str, region: &str) -> bool {
    !w.ec2
        .no_default_vpc
        .contains(&format!("{account}/{region}"))
}

/// DescribeVpcs: the default VPC (172.31.0.0/16, "Default VPCs", VPC User Guide) while it exists;
/// filters `is-default`, `isDefault` and `vpc-id`.
fn describe_vpcs(w: &World, c: &Call, rid: &str) -> String {
    let ids = list(&c.params, "VpcId");
    let fs = filters(&c.params);
    let vpc = default_vpc(&c.region);
    let keep = has_default_vpc(w, &c.account, &c.region)
        && (ids.is_empty() || ids.contains(&vpc))
        && fs.iter().all(|(name, values)| match name.as_str() {
            "is-default" | "isDefault" => values.iter().any(|v| v == "true"),
            "vpc-id" => values.contains(&vpc),
            _ => true,
        });
    let mut x = Xml::response("DescribeVpcs", rid);
    x.open("vpcSet");
    if keep {
        x.open("item")
            .text("vpcId", &vpc)
            .text("ownerId", &c.account)
            .text("state", "available")
            .text("cidrBlock", "172.31.0.0/16")
            .text("isDefault", "true")
            .close("item");
    }
    for v in w.ec2.net.vpcs.values() {
        let wanted = v.owner == c.account
            && v.region == c.region
            && (ids.is_empty() || ids.contains(&v.id))
            && fs.iter().all(|(name, values)| match name.as_str() {
                "is-default" | "isDefault" => values.iter().any(|x| x == "false"),
                "vpc-id" => values.contains(&v.id),
                _ => true,
            });
        if wanted {
            x.open("item")
                .text("vpcId", &v.id)
                .text("ownerId", &v.owner)
                .text("state", "available")
                .text("cidrBlock", &v.cidr)
                .text("isDefault", "false")
                .close("item");
        }
    }
    x.close("vpcSet");
    x.finish("DescribeVpcs")
}

/// DeleteVpc of the default VPC (the only VPC aws-sim has): refused while subnets are in it
/// (`DependencyViolation`, API_DeleteVpc: "you must … delete all … resources that are associated
/// with the VPC").
fn delete_vpc(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let id = required(c, "VpcId")?;
    if id != default_vpc(&c.region) || !has_default_vpc(w, &c.account, &c.region) {
        return Err(ApiError::client(
            "InvalidVpcID.NotFound",
            format!("The vpc ID '{id}' does not exist"),
        ));
    }
    let mine = mine(c);
    if w.ec2
        .subnets
        .values()
        .any(|s| mine(&s.owner, &s.region) && s.vpc_id == id)
    {
        return Err(ApiError::client(
            "DependencyViolation",
            format!("The vpc '{id}' has dependencies and cannot be deleted."),
        ));
    }
    w.ec2
        .no_default_vpc
        .insert(format!("{}/{}", c.account, c.region));
    Ok(ok("DeleteVpc", rid))
}

/// CreateDefaultVpc: gives a region its default VPC back (`DefaultVpcAlreadyExists` if it has one).
fn create_default_vpc(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    if !w
        .ec2
        .no_default_vpc
        .remove(&format!("{}/{}", c.account, c.region))
    {
        return Err(ApiError::client(
            "DefaultVpcAlreadyExists",
            "A Default VPC already exists for this account in this region.",
        ));
    }
    let mut x = Xml::response("CreateDefaultVpc", rid);
    x.open("vpc")
        .text("vpcId", &default_vpc(&c.region))
        .text("cidrBlock", "172.31.0.0/16")
        .text("isDefault", "true")
        .close("vpc");
    Ok(x.finish("CreateDefaultVpc"))
}
