//! Directories registered with WorkSpaces ("Register a directory with WorkSpaces", Administration
//! Guide): a Directory Service directory (`ds.rs`) the account registers before any WorkSpace can be
//! launched in it.
//!
//! - RegisterWorkspaceDirectory (API_RegisterWorkspaceDirectory.html): `DirectoryId` of an Active
//!   directory of the caller's in the region (`ResourceNotFoundException`; one still being created is
//!   `InvalidResourceStateException`). "If this is the first time you are registering a directory,
//!   you will need to create the workspaces_DefaultRole role": without it,
//!   `WorkspacesDefaultRoleNotFoundException`. The directory is REGISTERING, then REGISTERED.
//! - DeregisterWorkspaceDirectory: a directory with WorkSpaces is `InvalidResourceStateException`.
//! - DescribeWorkspaceDirectories (API_DescribeWorkspaceDirectories.html): the registered directories,
//!   or those of `DirectoryIds` (at most 25) that are registered.
//! - CreateWorkspaces in a directory that is not REGISTERED fails that request. AWS does not document
//!   the error code for it: aws-sim answers `ResourceNotFound.Directory`, as for an unknown directory.
//!
//! How long registration takes is not documented: `workspace-start-ms` here.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ApiError;
use crate::clock::Durations;
use crate::members::str_list;
use crate::protocol::Call;
use crate::world::World;

use super::model::{BAD_STATE, NOT_FOUND};
use super::wire::{invalid, required};

/// A directory's registration with WorkSpaces.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Registration {
    pub id: String,
    pub subnet_ids: Vec<String>,
    /// When it is REGISTERED.
    pub ready_at: u64,
}

fn key(account: &str, region: &str, id: &str) -> String {
    format!("{account}/{region}/{id}")
}

/// Whether `id` is REGISTERED for `account` in `region` at `now`.
pub(crate) fn registered(w: &World, account: &str, region: &str, id: &str, now: u64) -> bool {
    w.workspaces
        .directories
        .get(&key(account, region, id))
        .is_some_and(|r| now >= r.ready_at)
}

/// RegisterWorkspaceDirectory.
pub(super) fn register(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let id = required(&c.body, "DirectoryId")?.to_string();
    let dir = crate::ds::find(w, &c.account, &c.region, &id).ok_or_else(|| {
        ApiError::client(NOT_FOUND, format!("The directory {id} could not be found."))
    })?;
    if dir.stage(now) != "Active" {
        return Err(ApiError::client(
            BAD_STATE,
            format!("The directory {id} is not Active yet ({}).", dir.stage(now)),
        ));
    }
    if !w
        .setup
        .roles
        .contains_key(&format!("{}/workspaces_DefaultRole", c.account))
    {
        return Err(ApiError::client(
            "WorkspacesDefaultRoleNotFoundException",
            "The workspaces_DefaultRole role could not be found. If this is the first time you are registering a directory, you will need to create the workspaces_DefaultRole role before you can register a directory.",
        ));
    }
    let k = key(&c.account, &c.region, &id);
    if w.workspaces.directories.contains_key(&k) {
        return Err(ApiError::client(
            "ResourceAlreadyExistsException",
            format!("The directory {id} is already registered."),
        ));
    }
    let subnet_ids = str_list(c.body.get("SubnetIds"));
    let reg = Registration {
        id,
        subnet_ids,
        ready_at: now + d.workspace_start_ms,
    };
    w.workspaces.directories.insert(k, reg);
    Ok(json!({}))
}

/// DeregisterWorkspaceDirectory.
pub(super) fn deregister(w: &mut World, c: &Call) -> Result<Value, ApiError> {
    let id = required(&c.body, "DirectoryId")?.to_string();
    let in_use = w.workspaces.workspaces.values().any(|ws| {
        ws.account == c.account
            && ws.region == c.region
            && ws.directory_id == id
            && !matches!(ws.state.as_str(), "TERMINATED")
    });
    if in_use {
        return Err(ApiError::client(
            BAD_STATE,
            format!("The directory {id} has WorkSpaces: terminate them first."),
        ));
    }
    w.workspaces
        .directories
        .remove(&key(&c.account, &c.region, &id));
    Ok(json!({}))
}

/// DescribeWorkspaceDirectories.
pub(super) fn describe(w: &World, c: &Call, now: u64) -> Result<Value, ApiError> {
    let asked = str_list(c.body.get("DirectoryIds"));
    if asked.len() > 25 {
        return Err(invalid("DirectoryIds holds at most 25 ids."));
    }
    let prefix = format!("{}/{}/", c.account, c.region);
    let dirs: Vec<Value> = w
        .workspaces
        .directories
        .iter()
        .filter(|(k, r)| k.starts_with(&prefix) && (asked.is_empty() || asked.contains(&r.id)))
        .map(|(_, r)| {
            let name = crate::ds::find(w, &c.account, &c.region, &r.id).map_or("", |d| d.name.as_str());
            json!({
                "DirectoryId": r.id,
                "Alias": r.id,
                "DirectoryName": name,
                "RegistrationCode": format!("SLiad+{}", r.id.trim_start_matches("d-").to_uppercase()),
                "State": if now >= r.ready_at { "REGISTERED" } else { "REGISTERING" },
                "DirectoryType": "SIMPLE_AD",
                "SubnetIds": r.subnet_ids,
                "WorkspaceCreationProperties": { "EnableInternetAccess": false, "UserEnabledAsLocalAdministrator": false },
            })
        })
        .collect();
    Ok(json!({ "Directories": dirs }))
}
