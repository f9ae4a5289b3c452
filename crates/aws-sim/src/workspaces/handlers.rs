//! One function per WorkSpaces operation.

use serde_json::{Map, Value, json};

use crate::ApiError;
use crate::clock::Durations;
use crate::ec2::Ec2;
use crate::members::{is_account, opt_str, scoped, str_list};
use crate::protocol::{Call, Output};
use crate::world::World;

use super::model::*;
use super::wire::*;

mod bundles;
mod images;
mod machines;

use bundles::*;
use images::*;
use machines::*;

/// Handle one WorkSpaces call.
pub fn handle(w: &mut World, r: &crate::protocol::Req<'_>) -> Result<Output, ApiError> {
    let (c, now, d) = (r.call, r.now, r.durations);
    let out = handle_op(w, c, now, d)?;
    // Injected failures: a new image ends in ERROR instead of AVAILABLE.
    if let Output::Value(v) = &out
        && let Some(id) = v.get("ImageId").and_then(Value::as_str)
        && c.op != "DescribeWorkspaceImagePermissions"
        && w.take_failure("workspaces-image")
        && let Some(img) = w.workspaces.images.get_mut(id)
    {
        img.fail = true;
    }
    Ok(out)
}

fn handle_op(w: &mut World, c: &Call, now: u64, d: &Durations) -> Result<Output, ApiError> {
    let out = match c.op.as_str() {
        "CreateWorkspaces" => create_workspaces(w, c, now, d)?,
        "DescribeWorkspaces" => describe_workspaces(w, c, now)?,
        "TerminateWorkspaces" => terminate_workspaces(w, c, now, d)?,
        "RebuildWorkspaces" => rebuild_workspaces(w, c, now, d)?,
        "StartWorkspaces" => super::lifecycle::start(w, c, now, d)?,
        "StopWorkspaces" => super::lifecycle::stop(w, c, now, d)?,
        "RebootWorkspaces" => super::lifecycle::reboot(w, c, now, d)?,
        "ModifyWorkspaceProperties" => super::lifecycle::modify(w, c, now, d)?,
        "DescribeWorkspaceDirectories" => super::directories::describe(w, c, now)?,
        "RegisterWorkspaceDirectory" => super::directories::register(w, c, now, d)?,
        "DeregisterWorkspaceDirectory" => super::directories::deregister(w, c)?,
        "CreateWorkspaceImage" => create_workspace_image(w, c, now, d)?,
        "DescribeWorkspaceImages" => describe_workspace_images(w, c)?,
        "CopyWorkspaceImage" => copy_workspace_image(w, c, now, d)?,
        "ImportWorkspaceImage" => import_workspace_image(w, c, now, d)?,
        "CreateUpdatedWorkspaceImage" => create_updated_workspace_image(w, c, now, d)?,
        "ImportCustomWorkspaceImage" => import_custom_workspace_image(w, c, now, d)?,
        "DeleteWorkspaceImage" => delete_workspace_image(w, c)?,
        "UpdateWorkspaceImagePermission" => update_workspace_image_permission(w, c)?,
        "DescribeWorkspaceImagePermissions" => describe_workspace_image_permissions(w, c)?,
        "CreateWorkspaceBundle" => create_workspace_bundle(w, c, now)?,
        "UpdateWorkspaceBundle" => update_workspace_bundle(w, c, now)?,
        "DeleteWorkspaceBundle" => delete_workspace_bundle(w, c, now)?,
        "DescribeWorkspaceBundles" => describe_workspace_bundles(w, c)?,
        "CreateTags" | "DeleteTags" | "DescribeTags" => tags(w, c)?,
        "DescribeAccount" => super::account::describe(w, c, now),
        "DescribeAccountModifications" => super::account::modifications(w, c, now),
        "ModifyAccount" => super::account::modify(w, c, now, d)?,
        "ListAvailableManagementCidrRanges" => super::account::list_ranges(w, c)?,
        op => return Err(ApiError::unsupported("workspaces", op)),
    };
    Ok(Output::Value(out))
}

/// A failed request inside a 200: error code and message.
type Failure = (String, String);

fn fail(code: &str, message: impl Into<String>) -> Failure {
    (code.to_string(), message.into())
}

/// The `WorkspaceId`s of `TerminateWorkspaceRequests` / `RebuildWorkspaceRequests`.
fn request_ids(b: &Value, name: &str, max: usize) -> Result<Vec<String>, ApiError> {
    let ids: Vec<String> = b
        .get(name)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| opt_str(r, "WorkspaceId"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() || ids.len() > max {
        return Err(invalid(format!(
            "{name} must hold 1 to {max} requests, each with a WorkspaceId."
        )));
    }
    Ok(ids)
}

fn change_failure(id: &str, code: &str, message: &str) -> Value {
    json!({ "WorkspaceId": id, "ErrorCode": code, "ErrorMessage": message })
}

/// The OS versions CreateUpdatedWorkspaceImage takes: "Only Windows 10, Windows Server 2016, and
/// Windows Server 2019 WorkSpace images can be programmatically updated at this time"
/// (API_CreateUpdatedWorkspaceImage).
pub(super) const UPDATABLE: &[&str] = &["Windows 10", "Windows Server 2016", "Windows Server 2019"];

fn tags(w: &mut World, c: &Call) -> Result<Value, ApiError> {
    let b = &c.body;
    let id = required(b, "ResourceId")?;
    let state = &mut w.workspaces;
    let found = if id.starts_with("wsi-") {
        state
            .images
            .get_mut(id)
            .filter(|i| i.owner == c.account && i.region == c.region)
            .map(|i| &mut i.tags)
    } else if id.starts_with("wsb-") {
        state
            .bundles
            .get_mut(id)
            .filter(|x| x.owner == c.account && x.region == c.region)
            .map(|x| &mut x.tags)
    } else if id.starts_with("ws-") {
        state
            .workspaces
            .get_mut(id)
            .filter(|ws| {
                ws.account == c.account && ws.region == c.region && ws.state != "TERMINATED"
            })
            .map(|ws| &mut ws.tags)
    } else {
        None
    };
    let tags = found.ok_or_else(|| {
        ApiError::client(NOT_FOUND, format!("The resource {id} could not be found."))
    })?;
    let out = match c.op.as_str() {
        "DescribeTags" => json!({ "TagList": tags_json(tags) }),
        "DeleteTags" => {
            for key in str_list(b.get("TagKeys")) {
                tags.remove(&key);
            }
            json!({})
        }
        _ => {
            let mut merged = tags.clone();
            merged.extend(tags_in(b.get("Tags"))?);
            if merged.len() > MAX_TAGS {
                return Err(ApiError::client(
                    LIMIT,
                    format!("A resource can have at most {MAX_TAGS} tags."),
                ));
            }
            *tags = merged;
            json!({})
        }
    };
    Ok(out)
}
