//! WorkSpaces themselves: create (from a bundle, in a registered directory), describe, terminate,
//! rebuild.

use super::*;

pub(super) fn create_workspaces(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let requests = c
        .body
        .get("Workspaces")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if requests.is_empty() || requests.len() > 25 {
        return Err(invalid("Workspaces must hold 1 to 25 WorkSpace requests."));
    }
    let mut failed = Vec::new();
    let mut pending = Vec::new();
    for r in requests {
        match create_workspace(w, c, &r, now, d) {
            Ok(ws) => pending.push(ws),
            Err((code, message)) => failed
                .push(json!({ "WorkspaceRequest": r, "ErrorCode": code, "ErrorMessage": message })),
        }
    }
    Ok(json!({ "FailedRequests": failed, "PendingRequests": pending }))
}

pub(super) fn create_workspace(
    w: &mut World,
    c: &Call,
    r: &Value,
    now: u64,
    d: &Durations,
) -> Result<Value, Failure> {
    let directory_id = opt_str(r, "DirectoryId").unwrap_or_default();
    if !super::super::directories::registered(w, &c.account, &c.region, directory_id, now) {
        return Err(fail(
            "ResourceNotFound.Directory",
            "The specified directory could not be found in the specified region.",
        ));
    }
    let user_name = opt_str(r, "UserName").ok_or_else(|| {
        fail(
            "ResourceNotFound.User",
            "The specified user could not be found in the directory.",
        )
    })?;
    let bundle_id = opt_str(r, "BundleId").unwrap_or_default();
    let bundle = w
        .workspaces
        .visible_bundle(&c.account, &c.region, bundle_id)
        .ok_or_else(|| {
            fail(
                "ResourceNotFound.Bundle",
                format!("The specified bundle '{bundle_id}' could not be found."),
            )
        })?;
    let image = w
        .workspaces
        .visible_image(&c.account, &c.region, &bundle.image_id)
        .filter(|i| i.state == "AVAILABLE")
        .ok_or_else(|| {
            fail(
                "ResourceNotFound.Image",
                format!(
                    "The image {} of bundle {bundle_id} is not available.",
                    bundle.image_id
                ),
            )
        })?;
    let taken = w.workspaces.workspaces.values().any(|ws| {
        ws.account == c.account
            && ws.region == c.region
            && ws.directory_id == directory_id
            && ws.user_name.eq_ignore_ascii_case(user_name)
            && ws.state != "TERMINATED"
    });
    if taken {
        return Err(fail(
            "ResourceExists.WorkSpace",
            "A WorkSpace already exists for the specified user.",
        ));
    }
    let mut props: Map<String, Value> = r
        .get("WorkspaceProperties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mode = props
        .get("RunningMode")
        .and_then(Value::as_str)
        .unwrap_or("ALWAYS_ON")
        .to_string();
    if mode == "ALWAYS_ON"
        && props
            .get("RunningModeAutoStopTimeoutInMinutes")
            .is_some_and(|v| !v.is_null())
    {
        return Err(fail(
            "AutoStopTimeoutIsNotApplicableForAnAlwaysOnWorkspace",
            "RunningModeAutoStopTimeoutInMinutes is not applicable for WorkSpace with running mode set to ALWAYS_ON.",
        ));
    }
    if mode == "AUTO_STOP" {
        props
            .entry("RunningModeAutoStopTimeoutInMinutes")
            .or_insert(json!(60));
    }
    props.insert("RunningMode".into(), json!(mode));
    props
        .entry("RootVolumeSizeGib")
        .or_insert(json!(bundle.root_gib));
    props
        .entry("UserVolumeSizeGib")
        .or_insert(json!(bundle.user_gib));
    props
        .entry("ComputeTypeName")
        .or_insert(json!(bundle.compute));
    let tags = tags_in(r.get("Tags")).map_err(|e| (e.code, e.message))?;

    let id = w.id("ws-", 9);
    let n = w.seq;
    let host = w.id("", 8).to_ascii_uppercase();
    let ws = Workspace {
        id: id.clone(),
        account: c.account.clone(),
        region: c.region.clone(),
        directory_id: directory_id.into(),
        user_name: user_name.into(),
        name: opt_str(r, "WorkspaceName").map(str::to_string),
        bundle_id: bundle_id.into(),
        bootstrap: image.bootstrap,
        image_id: image.id,
        computer_name: if image.os == "WINDOWS" {
            format!("WSAMZN-{host}")
        } else {
            format!("A-{host}")
        },
        os: image.os,
        os_version: image.os_version,
        tenancy: image.tenancy,
        state: "PENDING".into(),
        ready_at: now + d.workspace_start_ms,
        created_ms: now,
        ip_address: format!("10.0.{}.{}", (n / 250) % 250, n % 250 + 4),
        properties: Value::Object(props),
        root_volume_encrypted: r
            .get("RootVolumeEncryptionEnabled")
            .and_then(Value::as_bool)
            == Some(true),
        user_volume_encrypted: r
            .get("UserVolumeEncryptionEnabled")
            .and_then(Value::as_bool)
            == Some(true),
        volume_encryption_key: opt_str(r, "VolumeEncryptionKey").map(str::to_string),
        tags,
        ..Default::default()
    };
    let out = workspace_json(&ws, now);
    w.workspaces.workspaces.insert(id.clone(), ws);
    // A WorkSpace is a machine that boots from its bundle's image (with sandbox machines on, when
    // the image has a root): its first boot runs what the image starts at boot.
    crate::machine::attach_workspace(w, &id);
    Ok(out)
}

pub(super) fn describe_workspaces(w: &World, c: &Call, now: u64) -> Result<Value, ApiError> {
    let b = &c.body;
    let ids = str_list(b.get("WorkspaceIds"));
    let directory = opt_str(b, "DirectoryId");
    let bundle = opt_str(b, "BundleId");
    let user = opt_str(b, "UserName");
    let name = opt_str(b, "WorkspaceName");
    if [!ids.is_empty(), directory.is_some(), bundle.is_some()]
        .iter()
        .filter(|set| **set)
        .count()
        > 1
    {
        return Err(invalid(
            "An invalid number of parameters provided with DescribeWorkspaces. Only one of the following are allowed to be specified: BundleId, DirectoryId, WorkSpaceIds, Filters.",
        ));
    }
    if user.is_some() && directory.is_none() {
        return Err(invalid(
            "The DirectoryId parameter is required when UserName is used.",
        ));
    }
    if ids.len() > 25 {
        return Err(invalid("WorkspaceIds can hold at most 25 ids."));
    }
    let limit = page_size(b, "Limit", 25)?;
    let items: Vec<Value> = w
        .workspaces
        .workspaces
        .values()
        .filter(|ws| {
            ws.account == c.account
                && ws.region == c.region
                && ws.state != "TERMINATED"
                && (ids.is_empty() || ids.contains(&ws.id))
                && directory.is_none_or(|dir| ws.directory_id == dir)
                && bundle.is_none_or(|bid| ws.bundle_id == bid)
                && user.is_none_or(|u| ws.user_name.eq_ignore_ascii_case(u))
                && name.is_none_or(|n| ws.name.as_deref() == Some(n))
        })
        .map(|ws| workspace_json(ws, now))
        .collect();
    let (items, next) = page(items, opt_str(b, "NextToken"), limit)?;
    Ok(json!({ "Workspaces": items, "NextToken": next }))
}

pub(super) fn live_workspace_mut<'a>(
    w: &'a mut World,
    c: &Call,
    id: &str,
) -> Option<&'a mut Workspace> {
    w.workspaces
        .workspaces
        .get_mut(id)
        .filter(|ws| ws.account == c.account && ws.region == c.region && ws.state != "TERMINATED")
}

pub(super) fn terminate_workspaces(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let ids = request_ids(&c.body, "TerminateWorkspaceRequests", 25)?;
    let mut failed = Vec::new();
    let mut gone = Vec::new();
    for id in ids {
        let Some(ws) = live_workspace_mut(w, c, &id) else {
            failed.push(change_failure(
                &id,
                "ResourceNotFound.WorkSpace",
                &format!("The WorkSpace {id} could not be found."),
            ));
            continue;
        };
        match ws.state.as_str() {
            "TERMINATING" => {}
            "SUSPENDED" => failed.push(change_failure(
                &id,
                "InvalidResourceState",
                &format!("The WorkSpace {id} cannot be terminated while an image is being created from it."),
            )),
            _ => {
                ws.state = "TERMINATING".into();
                ws.ready_at = now + d.workspace_start_ms;
                gone.push(id.clone());
            }
        }
    }
    for id in gone {
        crate::machine::release_workspace(w, &id);
    }
    Ok(json!({ "FailedRequests": failed }))
}

pub(super) fn rebuild_workspaces(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let ids = request_ids(&c.body, "RebuildWorkspaceRequests", 1)?;
    let mut failed = Vec::new();
    for id in ids {
        let Some(ws) = live_workspace_mut(w, c, &id) else {
            failed.push(change_failure(
                &id,
                "ResourceNotFound.WorkSpace",
                &format!("The WorkSpace {id} could not be found."),
            ));
            continue;
        };
        if !matches!(
            ws.state.as_str(),
            "AVAILABLE" | "ERROR" | "UNHEALTHY" | "STOPPED" | "REBOOTING"
        ) {
            let message = format!(
                "The WorkSpace {id} cannot be rebuilt from state {}.",
                ws.state
            );
            failed.push(change_failure(&id, "InvalidResourceState", &message));
            continue;
        }
        let bundle_id = ws.bundle_id.clone();
        // The WorkSpace takes its bundle's current image.
        let image = w
            .workspaces
            .visible_bundle(&c.account, &c.region, &bundle_id)
            .and_then(|b| {
                w.workspaces
                    .visible_image(&c.account, &c.region, &b.image_id)
            });
        // Injected: this rebuild ends UNHEALTHY (`fail-next workspaces-rebuild`).
        let fails = w.take_failure("workspaces-rebuild");
        if let Some(ws) = live_workspace_mut(w, c, &id) {
            ws.rebuild_fails = fails;
            if let Some(image) = image {
                ws.bootstrap = image.bootstrap;
                ws.image_id = image.id;
                ws.os = image.os;
                ws.tenancy = image.tenancy;
            }
            ws.state = "REBUILDING".into();
            ws.ready_at = now + d.workspace_start_ms;
        }
    }
    Ok(json!({ "FailedRequests": failed }))
}
