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

/// Handle one WorkSpaces call.
pub fn handle(w: &mut World, c: &Call, now: u64, d: &Durations) -> Result<Output, ApiError> {
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
        "DescribeWorkspaceDirectories" => super::lifecycle::describe_directories(w, c)?,
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
        op => return Err(ApiError::unsupported("workspaces", op)),
    };
    Ok(Output::Value(out))
}

/// A failed request inside a 200: error code and message.
type Failure = (String, String);

fn fail(code: &str, message: impl Into<String>) -> Failure {
    (code.to_string(), message.into())
}

fn create_workspaces(w: &mut World, c: &Call, now: u64, d: &Durations) -> Result<Value, ApiError> {
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

fn create_workspace(
    w: &mut World,
    c: &Call,
    r: &Value,
    now: u64,
    d: &Durations,
) -> Result<Value, Failure> {
    let directory_id = opt_str(r, "DirectoryId").unwrap_or_default();
    if directory_id.len() < 3 || !directory_id.starts_with("d-") {
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

fn describe_workspaces(w: &World, c: &Call, now: u64) -> Result<Value, ApiError> {
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

fn live_workspace_mut<'a>(w: &'a mut World, c: &Call, id: &str) -> Option<&'a mut Workspace> {
    w.workspaces
        .workspaces
        .get_mut(id)
        .filter(|ws| ws.account == c.account && ws.region == c.region && ws.state != "TERMINATED")
}

fn terminate_workspaces(
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

fn rebuild_workspaces(w: &mut World, c: &Call, now: u64, d: &Durations) -> Result<Value, ApiError> {
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

fn create_workspace_image(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let b = &c.body;
    let name = required(b, "Name")?;
    check_image_name(name)?;
    let description = required(b, "Description")?;
    check_image_description("Description", description)?;
    let ws_id = required(b, "WorkspaceId")?;
    let tags = tags_in(b.get("Tags"))?;
    let ws = w
        .workspaces
        .workspaces
        .get(ws_id)
        .filter(|ws| ws.account == c.account && ws.region == c.region && ws.state != "TERMINATED")
        .ok_or_else(|| {
            ApiError::client(NOT_FOUND, "The specified WorkSpace cannot be found. Confirm that the workspace exists in your AWS account, and try again.")
        })?;
    if ws.state != "AVAILABLE" {
        return Err(ApiError::client(
            BAD_STATE,
            format!(
                "The WorkSpace {ws_id} must be AVAILABLE to create an image from it; it is {}.",
                ws.state
            ),
        ));
    }
    if ws.root_volume_encrypted || ws.user_volume_encrypted {
        return Err(ApiError::client(
            UNSUPPORTED,
            format!(
                "The WorkSpace {ws_id} is encrypted: images cannot be created from encrypted WorkSpaces."
            ),
        ));
    }
    let (os, os_version, tenancy) = (ws.os.clone(), ws.os_version.clone(), ws.tenancy.clone());
    let bootstrap = ws.bootstrap;
    w.workspaces.check_new_image(&c.account, &c.region, name)?;
    let id = w.id("wsi-", 9);
    let ready_at = now + d.workspace_image_ms;
    let img = Image {
        id: id.clone(),
        owner: c.account.clone(),
        region: c.region.clone(),
        name: name.into(),
        description: description.into(),
        os,
        os_version,
        state: "PENDING".into(),
        tenancy,
        ready_at,
        created_ms: now,
        tags,
        source: ws_id.into(),
        bootstrap,
        ..Default::default()
    };
    let out = image_json(&img);
    w.workspaces.images.insert(id.clone(), img);
    crate::machine::capture_workspace(w, &id, ws_id);
    if let Some(ws) = w.workspaces.workspaces.get_mut(ws_id) {
        ws.state = "SUSPENDED".into();
        ws.ready_at = ready_at;
    }
    Ok(out)
}

fn describe_workspace_images(w: &World, c: &Call) -> Result<Value, ApiError> {
    let b = &c.body;
    let ids = str_list(b.get("ImageIds"));
    if ids.len() > 25 {
        return Err(invalid("ImageIds can hold at most 25 ids."));
    }
    let kind = opt_str(b, "ImageType");
    if let Some(k) = kind
        && !matches!(k, "OWNED" | "SHARED")
    {
        return Err(invalid(format!(
            "ImageType must be OWNED or SHARED, not {k}."
        )));
    }
    let limit = page_size(b, "MaxResults", 25)?;
    let mut items: Vec<Value> = w
        .workspaces
        .images
        .values()
        .filter(|i| {
            let owned = i.owner == c.account;
            let shared = !owned && i.shared_with.contains(&c.account);
            let wanted = match kind {
                Some("OWNED") => owned,
                Some(_) => shared,
                None => owned || shared,
            };
            i.region == c.region && wanted && (ids.is_empty() || ids.contains(&i.id))
        })
        .map(image_json)
        .collect();
    if kind.is_none() {
        // The public images behind the AMAZON bundles, when asked for by id.
        items.extend(
            ids.iter()
                .filter_map(|id| public_image(&c.region, id))
                .map(|i| image_json(&i)),
        );
    }
    let (items, next) = page(items, opt_str(b, "NextToken"), limit)?;
    Ok(json!({ "Images": items, "NextToken": next }))
}

fn copy_workspace_image(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let b = &c.body;
    let name = required(b, "Name")?;
    check_image_name(name)?;
    let description = opt_str(b, "Description").unwrap_or_default();
    if !description.is_empty() {
        check_length("Description", description, 256)?;
    }
    let source_id = required(b, "SourceImageId")?;
    let source_region = required(b, "SourceRegion")?;
    let tags = tags_in(b.get("Tags"))?;
    let src = w
        .workspaces
        .images
        .get(source_id)
        .filter(|i| {
            i.region == source_region
                && (i.owner == c.account || i.shared_with.contains(&c.account))
        })
        .cloned()
        .ok_or_else(|| {
            ApiError::client(
                NOT_FOUND,
                format!("The image {source_id} could not be found in {source_region}."),
            )
        })?;
    if src.state != "AVAILABLE" {
        return Err(ApiError::client(
            UNAVAILABLE,
            format!("The image {source_id} is not AVAILABLE ({}).", src.state),
        ));
    }
    w.workspaces.check_new_image(&c.account, &c.region, name)?;
    let id = w.id("wsi-", 9);
    w.workspaces.images.insert(
        id.clone(),
        Image {
            id: id.clone(),
            owner: c.account.clone(),
            region: c.region.clone(),
            name: name.into(),
            description: description.into(),
            os: src.os,
            os_version: src.os_version,
            state: "PENDING".into(),
            tenancy: src.tenancy,
            ready_at: now + d.workspace_image_ms,
            created_ms: now,
            tags,
            source: source_id.into(),
            artifact: src.artifact,
            bootstrap: src.bootstrap,
            ..Default::default()
        },
    );
    Ok(json!({ "ImageId": id }))
}

/// ImportCustomWorkspaceImage (API_ImportCustomWorkspaceImage): every member but `Tags` is required;
/// `ComputeType` is BASE, GRAPHICS_G4DN or GRAPHICS_G6; `Protocol` is PCOIP, DCV or BYOP, and "Windows
/// 11 does not support PCOIP protocol"; `Platform` is WINDOWS; `OsVersion` Windows_10 or Windows_11.
/// An `ImageSource.Ec2ImageId` AMI is then checked and imported as ImportWorkspaceImage does (the
/// other sources, an import task or an Image Builder version, are not modelled).
fn import_custom_workspace_image(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let b = &c.body;
    for m in [
        "ImageName",
        "ImageDescription",
        "ComputeType",
        "Protocol",
        "InfrastructureConfigurationArn",
        "Platform",
        "OsVersion",
    ] {
        required(b, m)?;
    }
    let one_of = |m: &str, allowed: &[&str]| -> Result<String, ApiError> {
        let v = required(b, m)?;
        if allowed.contains(&v) {
            Ok(v.to_string())
        } else {
            Err(invalid(format!(
                "{m} must be one of {}, not {v}.",
                allowed.join(", ")
            )))
        }
    };
    let arn = required(b, "InfrastructureConfigurationArn")?;
    if !infrastructure_configuration_arn(arn) {
        return Err(invalid(format!(
            "InfrastructureConfigurationArn {arn} does not match ^arn:aws[^:]*:imagebuilder:[^:]+:(?:[0-9]{{12}}|aws):infrastructure-configuration/[a-z0-9-_]+$."
        )));
    }
    one_of("ComputeType", &["BASE", "GRAPHICS_G4DN", "GRAPHICS_G6"])?;
    let protocol = one_of("Protocol", &["PCOIP", "DCV", "BYOP"])?;
    one_of("Platform", &["WINDOWS"])?;
    let os_version = one_of("OsVersion", &["Windows_10", "Windows_11"])?;
    if os_version == "Windows_11" && protocol == "PCOIP" {
        return Err(invalid(
            "Windows 11 does not support the PCOIP protocol: use DCV.",
        ));
    }
    let ami = b
        .get("ImageSource")
        .and_then(|s| s.get("Ec2ImageId"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::client(
                UNSUPPORTED,
                "aws-sim imports custom images from an ImageSource.Ec2ImageId only",
            )
        })?;
    let mut inner = c.clone();
    inner.body = serde_json::json!({
        "Ec2ImageId": ami,
        "IngestionProcess": if protocol == "DCV" { "BYOL_REGULAR_WSP" } else { "BYOL_REGULAR" },
        "ImageName": b.get("ImageName").cloned().unwrap_or(Value::Null),
        "ImageDescription": b.get("ImageDescription").cloned().unwrap_or(Value::Null),
        "Tags": b.get("Tags").cloned().unwrap_or(Value::Null),
    });
    let out = import_workspace_image(w, &inner, now, d)?;
    let id = out
        .get("ImageId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(img) = w.workspaces.images.get_mut(&id) {
        img.os_version = os_version.replace('_', " ");
    }
    Ok(serde_json::json!({ "ImageId": id, "State": "PENDING" }))
}

/// API_ImportCustomWorkspaceImage's pattern for InfrastructureConfigurationArn:
/// `^arn:aws[^:]*:imagebuilder:[^:]+:(?:[0-9]{12}|aws):infrastructure-configuration/[a-z0-9-_]+$`.
fn infrastructure_configuration_arn(arn: &str) -> bool {
    let p: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_, partition, service, region, account, resource] = p.as_slice() else {
        return false;
    };
    let name = resource.strip_prefix("infrastructure-configuration/");
    *arn_ == "arn"
        && partition.starts_with("aws")
        && *service == "imagebuilder"
        && !region.is_empty()
        && (*account == "aws"
            || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
        && name.is_some_and(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
}

/// The OS versions CreateUpdatedWorkspaceImage takes: "Only Windows 10, Windows Server 2016, and
/// Windows Server 2019 WorkSpace images can be programmatically updated at this time"
/// (API_CreateUpdatedWorkspaceImage).
pub(super) const UPDATABLE: &[&str] = &["Windows 10", "Windows Server 2016", "Windows Server 2019"];

/// CreateUpdatedWorkspaceImage: a new image from an owned, AVAILABLE one of an updatable Windows
/// version that DescribeWorkspaceImages reports an update for, with its WorkSpaces components brought
/// up to date (here: the same content under a new id, with no update left).
fn create_updated_workspace_image(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let b = &c.body;
    let source = required(b, "SourceImageId")?.to_string();
    let name = required(b, "Name")?.to_string();
    check_image_name(&name)?;
    let description = required(b, "Description")?.to_string();
    check_image_description("Description", &description)?;
    let tags = tags_in(b.get("Tags"))?;
    let src = owned_image_mut(w, c, &source)?.clone();
    if src.state != "AVAILABLE" {
        return Err(invalid(format!(
            "The image {source} is not AVAILABLE ({}).",
            src.state
        )));
    }
    if !UPDATABLE.contains(&src.os_version.as_str()) {
        return Err(ApiError::client(
            UNSUPPORTED,
            format!(
                "The image {source} runs {}: only Windows 10, Windows Server 2016 and Windows Server 2019 images can be updated.",
                if src.os_version.is_empty() {
                    "an unknown OS version"
                } else {
                    &src.os_version
                }
            ),
        ));
    }
    if !src.update_available {
        return Err(invalid(format!(
            "The image {source} has no updates available."
        )));
    }
    w.workspaces.check_new_image(&c.account, &c.region, &name)?;
    let id = w.id("wsi-", 9);
    let image = Image {
        id: id.clone(),
        name,
        description,
        state: "PENDING".into(),
        ready_at: now + d.workspace_image_ms,
        created_ms: now,
        tags,
        shared_with: Default::default(),
        source: source.clone(),
        update_available: false,
        ..src
    };
    w.workspaces.images.insert(id.clone(), image);
    Ok(serde_json::json!({ "ImageId": id }))
}

fn import_workspace_image(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let b = &c.body;
    let ami = required(b, "Ec2ImageId")?;
    let process = required(b, "IngestionProcess")?;
    if !INGESTION_PROCESSES.contains(&process) {
        return Err(invalid(format!("IngestionProcess {process} is not valid.")));
    }
    let name = required(b, "ImageName")?;
    check_image_name(name)?;
    let description = required(b, "ImageDescription")?;
    check_image_description("ImageDescription", description)?;
    let tags = tags_in(b.get("Tags"))?;
    let img = w
        .ec2
        .images
        .get(ami)
        .filter(|i| {
            i.region == c.region && i.state != "deregistered" && Ec2::visible(i, &c.account)
        })
        .ok_or_else(|| {
            ApiError::client(
                NOT_FOUND,
                format!("The EC2 image {ami} could not be found in {}.", c.region),
            )
        })?;
    if img.state != "available" {
        return Err(invalid(format!(
            "The EC2 image {ami} is not available ({}).",
            img.state
        )));
    }
    if img.platform != "Windows" {
        return Err(ApiError::client(
            UNSUPPORTED,
            format!(
                "The EC2 image {ami} is not a Windows image: only Windows BYOL images can be imported."
            ),
        ));
    }
    w.workspaces.check_new_image(&c.account, &c.region, name)?;
    let id = w.id("wsi-", 9);
    w.workspaces.images.insert(
        id.clone(),
        Image {
            id: id.clone(),
            owner: c.account.clone(),
            region: c.region.clone(),
            name: name.into(),
            description: description.into(),
            os: "WINDOWS".into(),
            state: "PENDING".into(),
            os_version: "Windows 10".into(),
            // BYOL images run on dedicated hardware.
            tenancy: "DEDICATED".into(),
            ready_at: now + d.workspace_image_ms,
            created_ms: now,
            tags,
            source: ami.into(),
            ..Default::default()
        },
    );
    Ok(json!({ "ImageId": id }))
}

fn delete_workspace_image(w: &mut World, c: &Call) -> Result<Value, ApiError> {
    let id = required(&c.body, "ImageId")?;
    let denied = || {
        ApiError::client(
            DENIED,
            format!("The image {id} is not owned by your account."),
        )
    };
    let Some(img) = w.workspaces.images.get(id).filter(|i| i.region == c.region) else {
        // Deleting an image that is not there succeeds; a public image is not yours to delete.
        return if public_image(&c.region, id).is_some() {
            Err(denied())
        } else {
            Ok(json!({}))
        };
    };
    if img.owner != c.account {
        return if img.shared_with.contains(&c.account) {
            Err(denied())
        } else {
            Ok(json!({}))
        };
    }
    if img.state == "PENDING" {
        return Err(ApiError::client(
            BAD_STATE,
            format!("The image {id} is still being created."),
        ));
    }
    if let Some(bundle) = w.workspaces.bundles.values().find(|b| b.image_id == id) {
        return Err(ApiError::client(
            ASSOCIATED,
            format!(
                "The image {id} is used by bundle {}: delete the bundle first.",
                bundle.id
            ),
        ));
    }
    if !img.shared_with.is_empty() {
        return Err(ApiError::client(
            ASSOCIATED,
            format!(
                "The image {id} is shared with {} account(s): unshare it first.",
                img.shared_with.len()
            ),
        ));
    }
    w.workspaces.images.remove(id);
    Ok(json!({}))
}

fn owned_image_mut<'a>(w: &'a mut World, c: &Call, id: &str) -> Result<&'a mut Image, ApiError> {
    match w.workspaces.images.get_mut(id) {
        Some(img) if img.region == c.region && img.owner == c.account => Ok(img),
        Some(img) if img.region == c.region && img.shared_with.contains(&c.account) => {
            Err(ApiError::client(
                DENIED,
                format!("The image {id} is not owned by your account."),
            ))
        }
        _ => Err(ApiError::client(
            NOT_FOUND,
            format!("The image {id} could not be found."),
        )),
    }
}

fn update_workspace_image_permission(w: &mut World, c: &Call) -> Result<Value, ApiError> {
    let b = &c.body;
    let id = required(b, "ImageId")?;
    let allow = b
        .get("AllowCopyImage")
        .and_then(Value::as_bool)
        .ok_or_else(|| invalid("The parameter AllowCopyImage is required."))?;
    let account = required(b, "SharedAccountId")?;
    if !is_account(account) {
        return Err(invalid(format!(
            "SharedAccountId {account} is not a 12-digit account id."
        )));
    }
    if account == c.account {
        return Err(invalid("You cannot share an image with your own account."));
    }
    let img = owned_image_mut(w, c, id)?;
    if img.state != "AVAILABLE" {
        return Err(ApiError::client(
            UNAVAILABLE,
            format!("The image {id} is not AVAILABLE ({}).", img.state),
        ));
    }
    if allow {
        img.shared_with.insert(account.to_string());
    } else {
        img.shared_with.remove(account);
    }
    Ok(json!({}))
}

fn describe_workspace_image_permissions(w: &mut World, c: &Call) -> Result<Value, ApiError> {
    let b = &c.body;
    let id = required(b, "ImageId")?;
    let limit = page_size(b, "MaxResults", 25)?;
    let img = owned_image_mut(w, c, id)?;
    let items: Vec<Value> = img
        .shared_with
        .iter()
        .map(|a| json!({ "SharedAccountId": a }))
        .collect();
    let (items, next) = page(items, opt_str(b, "NextToken"), limit)?;
    Ok(json!({ "ImageId": id, "ImagePermissions": items, "NextToken": next }))
}

/// `{name}.Capacity` (a string of GB; a number is accepted too).
fn capacity(b: &Value, name: &str) -> Result<Option<u32>, ApiError> {
    let Some(cap) = b
        .get(name)
        .and_then(|v| v.get("Capacity"))
        .filter(|v| !v.is_null())
    else {
        return Ok(None);
    };
    let parsed = match cap {
        Value::String(s) => s.trim().parse::<u32>().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| invalid(format!("{name}.Capacity must be a whole number of GB.")))
}

/// The root/user groups of the Administration Guide (Modify a WorkSpace,
/// <https://docs.aws.amazon.com/workspaces/latest/adminguide/modify-workspaces.html>): [80, 10],
/// [80, 50], [80, 100] and [175 to 2000, 100 to 2000]; "Graphics and GraphicsPro WorkSpaces can have
/// the root and user volumes both set to 100 GB minimum". The guide names no other rule for the G4dn,
/// G6 and GeneralPurpose types: the G4dn and G6 kinds are taken as GPU bundles, GeneralPurpose as the
/// rest (docs/aws-sim.md lists this as undocumented).
fn check_volumes(compute: &str, root: u32, user: u32) -> Result<(), ApiError> {
    let gpu = compute.starts_with("GRAPHICS");
    let ok = if gpu {
        (100..=2000).contains(&root) && (100..=2000).contains(&user)
    } else {
        (root == 80 && matches!(user, 10 | 50 | 100))
            || ((175..=2000).contains(&root) && (100..=2000).contains(&user))
    };
    match (ok, gpu) {
        (true, _) => Ok(()),
        (false, true) => Err(invalid(format!(
            "Invalid volume sizes for {compute}: root {root} GB with user {user} GB. Graphics bundles take a root volume of 100 to 2000 GB with a user volume of 100 to 2000 GB."
        ))),
        (false, false) => Err(invalid(format!(
            "Invalid volume sizes: root {root} GB with user {user} GB. Use a root volume of 80 GB with a user volume of 10, 50 or 100 GB, or a root volume of 175 to 2000 GB with a user volume of 100 to 2000 GB."
        ))),
    }
}

fn owned_bundle_mut<'a>(w: &'a mut World, c: &Call, id: &str) -> Result<&'a mut Bundle, ApiError> {
    if public_bundle(&c.region, id).is_some() {
        return Err(ApiError::client(
            DENIED,
            format!("The bundle {id} belongs to AMAZON and cannot be changed."),
        ));
    }
    w.workspaces
        .bundles
        .get_mut(id)
        .filter(|b| b.region == c.region && b.owner == c.account)
        .ok_or_else(|| ApiError::client(NOT_FOUND, format!("The bundle {id} could not be found.")))
}

fn create_workspace_bundle(w: &mut World, c: &Call, now: u64) -> Result<Value, ApiError> {
    let b = &c.body;
    let name = required(b, "BundleName")?;
    if !valid_name(name) {
        return Err(invalid(format!(
            "The bundle name '{name}' is not valid: use 1 to 64 letters, digits and _ . / ( ) -."
        )));
    }
    let description = required(b, "BundleDescription")?;
    // API_CreateWorkspaceBundle: 1-255 characters of ^[a-zA-Z0-9_./() -]+$.
    check_length("BundleDescription", description, 255)?;
    check_image_description(
        "BundleDescription",
        &description.chars().take(256).collect::<String>(),
    )?;
    let image_id = required(b, "ImageId")?;
    let compute = b
        .get("ComputeType")
        .and_then(|v| opt_str(v, "Name"))
        .ok_or_else(|| invalid("The parameter ComputeType.Name is required."))?;
    if !COMPUTE_TYPES.contains(&compute) {
        return Err(invalid(format!("ComputeType {compute} is not valid.")));
    }
    let user_gib = capacity(b, "UserStorage")?
        .ok_or_else(|| invalid("The parameter UserStorage.Capacity is required."))?;
    let root_gib = capacity(b, "RootStorage")?.unwrap_or(if compute.starts_with("GRAPHICS") {
        100
    } else {
        80
    });
    check_volumes(compute, root_gib, user_gib)?;
    let tags = tags_in(b.get("Tags"))?;
    let state = &w.workspaces;
    state.image_for_bundle(c, image_id)?;
    let owned = move || {
        state
            .bundles
            .values()
            .filter(move |x| x.owner == c.account && x.region == c.region)
    };
    if owned().any(|x| x.name == name) {
        return Err(ApiError::client(
            EXISTS,
            format!("A bundle named {name} already exists."),
        ));
    }
    if state
        .deleted_names
        .get(&scoped(&c.account, &c.region, name))
        .is_some_and(|t| now < *t + NAME_HOLD_MS)
    {
        return Err(ApiError::client(
            EXISTS,
            format!(
                "A bundle named {name} was deleted less than 2 hours ago; its name is not yet free."
            ),
        ));
    }
    if owned().count() >= BUNDLE_QUOTA {
        return Err(ApiError::client(
            LIMIT,
            format!(
                "Your account can hold at most {BUNDLE_QUOTA} bundles in {}.",
                c.region
            ),
        ));
    }
    let id = w.id("wsb-", 9);
    let bundle = Bundle {
        id: id.clone(),
        owner: c.account.clone(),
        region: c.region.clone(),
        name: name.into(),
        description: description.into(),
        image_id: image_id.into(),
        compute: compute.into(),
        root_gib,
        user_gib,
        created_ms: now,
        updated_ms: now,
        tags,
    };
    let out = json!({ "WorkspaceBundle": bundle_json(&bundle) });
    w.workspaces.bundles.insert(id, bundle);
    Ok(out)
}

fn update_workspace_bundle(w: &mut World, c: &Call, now: u64) -> Result<Value, ApiError> {
    let b = &c.body;
    let bundle_id = required(b, "BundleId")?;
    let image_id = required(b, "ImageId")?;
    // The bundle first (not found / not yours), then the image.
    owned_bundle_mut(w, c, bundle_id)?;
    w.workspaces.image_for_bundle(c, image_id)?;
    // Existing WorkSpaces keep their image until they are rebuilt.
    let bundle = owned_bundle_mut(w, c, bundle_id)?;
    bundle.image_id = image_id.into();
    bundle.updated_ms = now;
    Ok(json!({}))
}

fn delete_workspace_bundle(w: &mut World, c: &Call, now: u64) -> Result<Value, ApiError> {
    let bundle_id = required(&c.body, "BundleId")?;
    let name = owned_bundle_mut(w, c, bundle_id)?.name.clone();
    if let Some(ws) =
        w.workspaces.workspaces.values().find(|ws| {
            ws.account == c.account && ws.bundle_id == bundle_id && ws.state != "TERMINATED"
        })
    {
        return Err(ApiError::client(
            ASSOCIATED,
            format!("The bundle {bundle_id} is used by WorkSpace {}.", ws.id),
        ));
    }
    w.workspaces.bundles.remove(bundle_id);
    w.workspaces
        .deleted_names
        .insert(scoped(&c.account, &c.region, &name), now);
    Ok(json!({}))
}

fn describe_workspace_bundles(w: &World, c: &Call) -> Result<Value, ApiError> {
    let b = &c.body;
    let ids = str_list(b.get("BundleIds"));
    let owner = opt_str(b, "Owner");
    if !ids.is_empty() && owner.is_some() {
        return Err(invalid("BundleIds and Owner cannot be combined."));
    }
    if ids.len() > 25 {
        return Err(invalid("BundleIds can hold at most 25 ids."));
    }
    let items: Vec<Value> = if !ids.is_empty() {
        ids.iter()
            .filter_map(|id| w.workspaces.visible_bundle(&c.account, &c.region, id))
            .map(|x| bundle_json(&x))
            .collect()
    } else if owner == Some("AMAZON") {
        PUBLIC_BUNDLES
            .iter()
            .filter_map(|p| w.workspaces.public_bundle_now(&c.region, p.id))
            .map(|x| bundle_json(&x))
            .collect()
    } else {
        w.workspaces
            .bundles
            .values()
            .filter(|x| {
                x.owner == c.account && x.region == c.region && owner.is_none_or(|o| o == c.account)
            })
            .map(bundle_json)
            .collect()
    };
    let (items, next) = page(items, opt_str(b, "NextToken"), None)?;
    Ok(json!({ "Bundles": items, "NextToken": next }))
}

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
