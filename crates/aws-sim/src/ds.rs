//! AWS Directory Service, as far as WorkSpaces needs a directory: CreateDirectory (Simple AD) and
//! DescribeDirectories, over awsJson1_1 (`DirectoryService_20150416.<Op>`).
//!
//! - CreateDirectory (API_CreateDirectory.html): `Name` (a fully qualified domain name), `Password`
//!   and `Size` (`Small` | `Large`) are required, and `VpcSettings` with the VPC and two of its
//!   subnets ("The subnets must be in different Availability Zones"); an unknown VPC or subnet is
//!   `ClientException`. The directory is `Creating`, then `Active` (DirectoryDescription `Stage`).
//! - DescribeDirectories (API_DescribeDirectories.html): the caller's directories in the region, or
//!   those `DirectoryIds` names; an unknown id is `EntityDoesNotExistException`.
//!
//! Not modelled: Availability Zones (two distinct subnets of the VPC are taken), AD Connector
//! (ConnectDirectory) and Managed Microsoft AD, users. How long a directory takes to become Active is
//! not documented: `workspace-start-ms` here.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ApiError;
use crate::members::{opt_str, str_list};
use crate::protocol::{Output, Req};
use crate::world::World;

/// A directory.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Directory {
    pub id: String,
    pub owner: String,
    pub region: String,
    pub name: String,
    pub size: String,
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    /// When it becomes Active.
    pub active_at: u64,
}

impl Directory {
    /// Its stage at `now`.
    pub fn stage(&self, now: u64) -> &'static str {
        if now >= self.active_at {
            "Active"
        } else {
            "Creating"
        }
    }
}

/// Directories are kept by `account/region/id` (the sandbox records the ids its recipes name in
/// every account and region it needs them; AWS's own ids are unique).
pub(crate) fn key(account: &str, region: &str, id: &str) -> String {
    format!("{account}/{region}/{id}")
}

/// The caller's directory `id` in `region`.
pub(crate) fn find<'a>(
    w: &'a World,
    account: &str,
    region: &str,
    id: &str,
) -> Option<&'a Directory> {
    w.directories.get(&key(account, region, id))
}

fn client_error(message: impl Into<String>) -> ApiError {
    ApiError::client("ClientException", message)
}

/// Handle a Directory Service call.
pub fn handle(w: &mut World, r: &Req<'_>) -> Result<Output, ApiError> {
    let out = match r.call.op.as_str() {
        "CreateDirectory" => create(w, r)?,
        "DescribeDirectories" => describe(w, r)?,
        op => return Err(ApiError::unsupported("ds", op)),
    };
    Ok(Output::Value(out))
}

fn create(w: &mut World, r: &Req<'_>) -> Result<Value, ApiError> {
    let (c, b) = (r.call, &r.call.body);
    let required = |m: &str| {
        opt_str(b, m).ok_or_else(|| {
            ApiError::client("InvalidParameterException", format!("{m} is required."))
        })
    };
    let name = required("Name")?.to_string();
    required("Password")?;
    let size = required("Size")?.to_string();
    if !["Small", "Large"].contains(&size.as_str()) {
        return Err(ApiError::client(
            "InvalidParameterException",
            format!("Size must be Small or Large, not {size}."),
        ));
    }
    let vpc = b.get("VpcSettings").cloned().unwrap_or(Value::Null);
    let vpc_id = opt_str(&vpc, "VpcId").unwrap_or_default().to_string();
    let subnets = str_list(vpc.get("SubnetIds"));
    check_subnets(w, &c.account, &c.region, &vpc_id, &subnets)?;
    let id = w.id("d-", 10);
    let dir = Directory {
        id: id.clone(),
        owner: c.account.clone(),
        region: c.region.clone(),
        name,
        size,
        vpc_id,
        subnet_ids: subnets,
        active_at: r.now + r.durations.workspace_start_ms,
    };
    w.directories.insert(key(&c.account, &c.region, &id), dir);
    Ok(json!({ "DirectoryId": id }))
}

/// Two distinct subnets of the VPC, both the caller's in the region.
fn check_subnets(
    w: &World,
    account: &str,
    region: &str,
    vpc: &str,
    subnets: &[String],
) -> Result<(), ApiError> {
    let mut distinct = subnets.to_vec();
    distinct.sort();
    distinct.dedup();
    if distinct.len() != 2 {
        return Err(client_error(
            "VpcSettings.SubnetIds must name two subnets, in different Availability Zones.",
        ));
    }
    for s in subnets {
        let found = crate::ec2_net::subnet_of(w, account, region, s);
        if found.is_none_or(|v| v != vpc) {
            return Err(client_error(format!(
                "Invalid subnet ID(s). They must correspond to two subnets in different Availability Zones in the VPC {vpc}: {s}."
            )));
        }
    }
    Ok(())
}

fn describe(w: &World, r: &Req<'_>) -> Result<Value, ApiError> {
    let c = r.call;
    let asked = str_list(c.body.get("DirectoryIds"));
    let mine = |d: &&Directory| d.owner == c.account && d.region == c.region;
    for id in &asked {
        if find(w, &c.account, &c.region, id).is_none() {
            return Err(ApiError::client(
                "EntityDoesNotExistException",
                format!("Directory {id} does not exist."),
            ));
        }
    }
    let dirs: Vec<Value> = w
        .directories
        .values()
        .filter(mine)
        .filter(|d| asked.is_empty() || asked.contains(&d.id))
        .map(|d| {
            json!({
                "DirectoryId": d.id,
                "Name": d.name,
                "Size": d.size,
                "Type": "SimpleAD",
                "Stage": d.stage(r.now),
                "VpcSettings": { "VpcId": d.vpc_id, "SubnetIds": d.subnet_ids },
            })
        })
        .collect();
    Ok(json!({ "DirectoryDescriptions": dirs }))
}
