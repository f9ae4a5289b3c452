//! Start, stop, reboot and modify a WorkSpace.
//!
//! - StartWorkspaces: "You cannot start a WorkSpace unless it has a running mode of AutoStop or
//!   Manual and a state of STOPPED" (API_StartWorkspaces). STARTING → AVAILABLE.
//! - StopWorkspaces: "…a running mode of AutoStop or Manual and a state of AVAILABLE, IMPAIRED,
//!   UNHEALTHY, or ERROR" (API_StopWorkspaces). STOPPING → STOPPED.
//! - RebootWorkspaces: "You cannot reboot a WorkSpace unless its state is AVAILABLE, UNHEALTHY, or
//!   REBOOTING" (API_RebootWorkspaces). REBOOTING → AVAILABLE.
//!
//!   Each takes 1-25 requests and reports refusals in `FailedRequests` inside a 200.
//! - ModifyWorkspaceProperties (API_ModifyWorkspaceProperties): the running mode changes at once;
//!   a compute type or volume change shows in `ModificationStates` (`UPDATE_IN_PROGRESS`) until it is
//!   done (API_ModificationState), and another change meanwhile gives
//!   `OperationInProgressException`. Only an AVAILABLE or STOPPED WorkSpace is modified (the
//!   administration guide: "Modify a WorkSpace"); otherwise `InvalidResourceStateException`.
//!
//! Each state takes `workspace-start-ms` to pass: AWS documents no durations.

use serde_json::{Value, json};

use crate::ApiError;
use crate::clock::Durations;
use crate::protocol::Call;
use crate::world::World;

use super::model::*;
use super::wire::*;

/// The running mode of a WorkSpace (`ALWAYS_ON`, `AUTO_STOP`, `MANUAL`).
fn running_mode(ws: &Workspace) -> &str {
    ws.properties
        .get("RunningMode")
        .and_then(Value::as_str)
        .unwrap_or("ALWAYS_ON")
}

/// The ids in `list` of `{WorkspaceId}` requests, 1-25 of them.
fn ids(c: &Call, list: &str) -> Result<Vec<String>, ApiError> {
    let reqs = c
        .body
        .get(list)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if reqs.is_empty() || reqs.len() > 25 {
        return Err(invalid(format!("{list} must hold 1 to 25 requests.")));
    }
    Ok(reqs
        .iter()
        .filter_map(|r| r.get("WorkspaceId").and_then(Value::as_str))
        .map(str::to_string)
        .collect())
}

/// Move each WorkSpace whose state `allowed` accepts into `next`, for `d` ms; the others fail.
fn change(
    w: &mut World,
    c: &Call,
    list: &str,
    now: u64,
    d: &Durations,
    allowed: impl Fn(&Workspace) -> bool,
    next: &str,
) -> Result<Value, ApiError> {
    let mut failed = Vec::new();
    let mut booted = Vec::new();
    for id in ids(c, list)? {
        let ws = w.workspaces.workspaces.get_mut(&id).filter(|ws| {
            ws.account == c.account && ws.region == c.region && ws.state != "TERMINATED"
        });
        match ws {
            None => failed.push(json!({ "WorkspaceId": id, "ErrorCode": "ResourceNotFound.WorkSpace", "ErrorMessage": format!("The WorkSpace {id} could not be found.") })),
            Some(ws) if !allowed(ws) => {
                let message = format!(
                    "The WorkSpace {id} cannot go to {next} from state {} (running mode {}).",
                    ws.state,
                    running_mode(ws)
                );
                failed.push(json!({ "WorkspaceId": id, "ErrorCode": "InvalidResourceState", "ErrorMessage": message }));
            }
            Some(ws) => {
                ws.shown = std::mem::replace(&mut ws.state, next.into());
                ws.seen_from = now + d.state_lag_ms;
                // The change itself outlasts the time it takes to show.
                ws.ready_at = now + d.workspace_start_ms.max(d.state_lag_ms + 1);
                booted.push(id);
            }
        }
    }
    // A WorkSpace started or rebooted boots its machine again (per-boot work; per-instance work
    // and the runners keyed to the machine do not run twice).
    if matches!(next, "STARTING" | "REBOOTING") {
        for id in booted.into_iter().filter(|id| w.machines.contains_key(id)) {
            w.jobs.push(crate::machine::Job::Boot { instance: id });
        }
    }
    Ok(json!({ "FailedRequests": failed }))
}

/// StartWorkspaces.
pub(super) fn start(w: &mut World, c: &Call, now: u64, d: &Durations) -> Result<Value, ApiError> {
    let ok = |ws: &Workspace| running_mode(ws) != "ALWAYS_ON" && ws.state == "STOPPED";
    change(w, c, "StartWorkspaceRequests", now, d, ok, "STARTING")
}

/// StopWorkspaces.
pub(super) fn stop(w: &mut World, c: &Call, now: u64, d: &Durations) -> Result<Value, ApiError> {
    let ok = |ws: &Workspace| {
        running_mode(ws) != "ALWAYS_ON"
            && matches!(
                ws.state.as_str(),
                "AVAILABLE" | "IMPAIRED" | "UNHEALTHY" | "ERROR"
            )
    };
    change(w, c, "StopWorkspaceRequests", now, d, ok, "STOPPING")
}

/// RebootWorkspaces.
pub(super) fn reboot(w: &mut World, c: &Call, now: u64, d: &Durations) -> Result<Value, ApiError> {
    let ok = |ws: &Workspace| matches!(ws.state.as_str(), "AVAILABLE" | "UNHEALTHY" | "REBOOTING");
    change(w, c, "RebootWorkspaceRequests", now, d, ok, "REBOOTING")
}

/// The `WorkspaceProperties` members whose change takes time (and shows in ModificationStates).
const SLOW: &[(&str, &str)] = &[
    ("ComputeTypeName", "COMPUTE_TYPE"),
    ("RootVolumeSizeGib", "ROOT_VOLUME"),
    ("UserVolumeSizeGib", "USER_VOLUME"),
];

/// ModifyWorkspaceProperties.
pub(super) fn modify(w: &mut World, c: &Call, now: u64, d: &Durations) -> Result<Value, ApiError> {
    let id = required(&c.body, "WorkspaceId")?.to_string();
    let props = c
        .body
        .get("WorkspaceProperties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let ws = w
        .workspaces
        .workspaces
        .get_mut(&id)
        .filter(|ws| ws.account == c.account && ws.region == c.region && ws.state != "TERMINATED")
        .ok_or_else(|| {
            ApiError::client(NOT_FOUND, format!("The WorkSpace {id} could not be found."))
        })?;
    if !matches!(ws.state.as_str(), "AVAILABLE" | "STOPPED") {
        return Err(ApiError::client(
            BAD_STATE,
            format!(
                "The WorkSpace {id} is {}: only an AVAILABLE or STOPPED WorkSpace can be modified.",
                ws.state
            ),
        ));
    }
    if !ws.modifications.is_empty() && now < ws.modified_until {
        return Err(ApiError::client(
            "OperationInProgressException",
            format!("The WorkSpace {id} is being modified."),
        ));
    }
    let mut slow = Vec::new();
    for (k, v) in props {
        if let Some((_, resource)) = SLOW.iter().find(|(m, _)| *m == k)
            && ws.properties.get(&k) != Some(&v)
        {
            slow.push((*resource).to_string());
        }
        if k == "RunningMode" && v == "ALWAYS_ON" {
            ws.properties
                .as_object_mut()
                .map(|p| p.remove("RunningModeAutoStopTimeoutInMinutes"));
        }
        if let Some(p) = ws.properties.as_object_mut() {
            p.insert(k, v);
        }
    }
    ws.modified_until = now + d.workspace_start_ms;
    ws.modifications = slow;
    Ok(json!({}))
}

/// The `ModificationStates` of a WorkSpace at `now`.
pub(super) fn modification_states(ws: &Workspace, now: u64) -> Value {
    if now >= ws.modified_until {
        return json!([]);
    }
    Value::Array(
        ws.modifications
            .iter()
            .map(|r| json!({ "Resource": r, "State": "UPDATE_IN_PROGRESS" }))
            .collect(),
    )
}
