//! WorkSpaces images: create from a WorkSpace, copy, the BYOL and custom imports, the updated image of a
//! public bundle, delete, permissions.

use super::*;

pub(super) fn create_workspace_image(
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

pub(super) fn describe_workspace_images(w: &World, c: &Call) -> Result<Value, ApiError> {
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

pub(super) fn copy_workspace_image(
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
pub(super) fn import_custom_workspace_image(
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
        "IngestionProcess": match protocol.as_str() {
            "DCV" => "BYOL_REGULAR_WSP",
            "BYOP" => "BYOL_REGULAR_BYOP",
            _ => "BYOL_REGULAR",
        },
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
pub(super) fn infrastructure_configuration_arn(arn: &str) -> bool {
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

/// CreateUpdatedWorkspaceImage: a new image from an owned, AVAILABLE one of an updatable Windows
/// version that DescribeWorkspaceImages reports an update for, with its WorkSpaces components brought
/// up to date (here: the same content under a new id, with no update left).
pub(super) fn create_updated_workspace_image(
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

pub(super) fn import_workspace_image(
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
    let os_version = byol_source(w, c, ami, now)?;
    if os_version == "Windows 11" && !process.ends_with("_WSP") {
        return Err(invalid(format!(
            "Windows 11 does not support the PCOIP protocol: use an ingestion process that ends in _WSP, not {process}."
        )));
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
            os_version,
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

/// The Windows version of the AMI an import names, if WorkSpaces takes it: the account enabled for
/// BYOL, and the image "an already licensed Amazon EC2 image that is in your Amazon Web Services
/// account, and you must own the image" (API_ImportWorkspaceImage) of a Windows 10 or 11 licence the
/// account brings (its billing shows `Windows BYOL`, "Understand AMI billing information"): never
/// AWS's license-included Windows Server images, nor another account's.
fn byol_source(w: &World, c: &Call, ami: &str, now: u64) -> Result<String, ApiError> {
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
    if !super::super::account::byol_enabled(w, c, now) {
        return Err(super::super::account::not_enabled(c));
    }
    if img.owner != c.account {
        return Err(invalid(format!(
            "The EC2 image {ami} belongs to {}: import an image your account owns.",
            img.owner
        )));
    }
    if img.state != "available" {
        return Err(invalid(format!(
            "The EC2 image {ami} is not available ({}).",
            img.state
        )));
    }
    let byol = crate::ec2::platform_details(img) == "Windows BYOL";
    let client = ["Windows 10", "Windows 11"]
        .iter()
        .find(|v| img.guest_os.starts_with(*v));
    match (byol, client) {
        (true, Some(v)) => Ok((*v).to_string()),
        _ => Err(ApiError::client(
            UNSUPPORTED,
            format!(
                "The EC2 image {ami} is {} ({}): only Windows 10 and 11 images of your own licence (Windows BYOL, from VM Import) can be imported.",
                crate::ec2::platform_details(img),
                if img.guest_os.is_empty() {
                    "not a Windows 10 or 11 system"
                } else {
                    &img.guest_os
                }
            ),
        )),
    }
}

pub(super) fn delete_workspace_image(w: &mut World, c: &Call) -> Result<Value, ApiError> {
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

pub(super) fn owned_image_mut<'a>(
    w: &'a mut World,
    c: &Call,
    id: &str,
) -> Result<&'a mut Image, ApiError> {
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

pub(super) fn update_workspace_image_permission(
    w: &mut World,
    c: &Call,
) -> Result<Value, ApiError> {
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

pub(super) fn describe_workspace_image_permissions(
    w: &mut World,
    c: &Call,
) -> Result<Value, ApiError> {
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
