//! AppStream images: the managed update and the import from an AMI, describe, copy, delete,
//! permissions.

use super::*;

/// Managed image update: a new image from one of the caller's images, with `dryRun` answering whether
/// it can be updated (always, here). Members of this operation are lowerCamelCase.
pub(super) fn create_updated_image(
    a: &mut Appstream,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let existing = req_str(c, "existingImageName")?;
    let new_name = req_str(c, "newImageName")?;
    check_image_name("newImageName", new_name)?;
    let tags = tag_map(c.body.get("newImageTags"))?;
    let src = a
        .images
        .get(&scoped(&c.account, &c.region, existing))
        .ok_or_else(|| not_found("image", existing))?;
    if src.state != "AVAILABLE" {
        return Err(ApiError::client(
            "OperationNotPermittedException",
            format!(
                "The image {existing} is {}; only an AVAILABLE image can be updated.",
                src.state
            ),
        ));
    }
    // "Keep your AppStream 2.0 image up to date" (managed image updates) covers Windows images;
    // API_CreateUpdatedImage names IncompatibleImageException for an image it cannot update.
    if !src.platform.starts_with("WINDOWS") {
        return Err(ApiError::client(
            "IncompatibleImageException",
            format!(
                "The image {existing} is {}: managed image updates apply to Windows images only.",
                src.platform
            ),
        ));
    }
    if !src.source_ami.is_empty() {
        return Err(ApiError::client(
            "IncompatibleImageException",
            format!(
                "The image {existing} was imported from an AMI; managed updates apply to images built on AppStream base images."
            ),
        ));
    }
    let nk = scoped(&c.account, &c.region, new_name);
    if a.images.contains_key(&nk) {
        return Err(ApiError::client(
            "ResourceAlreadyExistsException",
            format!("An image named {new_name} already exists."),
        ));
    }
    // API_CreateUpdatedImage: `canUpdateImage` says whether an update exists. The code for asking
    // an update of an up-to-date image is not documented; this one is the simulator's choice.
    let can = src.updatable();
    if opt_bool(c, "dryRun") == Some(true) {
        return Ok(json!({ "image": image_json(src, &c.account), "canUpdateImage": can }));
    }
    if !can {
        return Err(ApiError::client(
            "OperationNotPermittedException",
            format!("The image {existing} is up to date: there is no update to apply."),
        ));
    }
    let image = Image {
        name: new_name.into(),
        owner: c.account.clone(),
        region: c.region.clone(),
        arn: arn(&c.region, &c.account, "image", new_name),
        base_image_arn: src.arn.clone(),
        display_name: opt_str(c, "newImageDisplayName").unwrap_or_default().into(),
        description: opt_str(c, "newImageDescription").unwrap_or_default().into(),
        state: "CREATING".into(),
        ready_at: now.saturating_add(d.appstream_image_ms),
        created_ms: now,
        platform: src.platform.clone(),
        tags,
        ..Default::default()
    };
    let out = json!({ "image": image_json(&image, &c.account), "canUpdateImage": false });
    a.images.insert(nk, image);
    Ok(out)
}

/// An EC2 AMI (visible to the caller, available, Windows) becomes an AppStream image: IMPORTING → AVAILABLE.
pub(super) fn create_imported_image(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    check_image_name("Name", name)?;
    let tags = tag_map(c.body.get("Tags"))?;
    let ami = match (opt_str(c, "SourceAmiId"), opt_str(c, "WorkspaceImageId")) {
        (Some(ami), None) => ami,
        (None, Some(_)) => {
            return Err(invalid_combination(
                "aws-sim imports EC2 AMIs only (SourceAmiId); WorkspaceImageId is not modelled.",
            ));
        }
        _ => {
            return Err(invalid_combination(
                "Specify exactly one of SourceAmiId and WorkspaceImageId.",
            ));
        }
    };
    let Some(role) = check_role(c)? else {
        return Err(ApiError::client(
            "InvalidRoleException",
            "An IAM role (IamRoleArn) is required to import an AMI.",
        ));
    };
    let source = w
        .ec2
        .images
        .get(ami)
        .filter(|i| {
            i.region == c.region && i.state != "deregistered" && Ec2::visible(i, &c.account)
        })
        .ok_or_else(|| not_found("AMI", ami))?;
    if source.state != "available" {
        return Err(ApiError::client(
            "IncompatibleImageException",
            format!("The AMI {ami} is {}, not available.", source.state),
        ));
    }
    if source.platform != "Windows" {
        return Err(ApiError::client(
            "IncompatibleImageException",
            format!("The AMI {ami} is not a Windows Server AMI."),
        ));
    }
    // "Import image" prerequisites: boot mode UEFI and TPM support v2.0 are required.
    if source.boot_mode != "uefi" {
        return Err(ApiError::client(
            "IncompatibleImageException",
            format!(
                "The AMI {ami} does not boot in UEFI mode with TPM 2.0, which an imported image requires: start from a TPM-enabled Windows Server 2022 AMI."
            ),
        ));
    }
    let k = scoped(&c.account, &c.region, name);
    if w.appstream.images.contains_key(&k) {
        return Err(ApiError::client(
            "ResourceAlreadyExistsException",
            format!("An image named {name} already exists."),
        ));
    }
    if opt_bool(c, "DryRun") == Some(true) {
        return Err(ApiError::client(
            "DryRunOperationException",
            format!("The import of {ami} as {name} with role {role} would have succeeded."),
        ));
    }
    let image = Image {
        name: name.into(),
        owner: c.account.clone(),
        region: c.region.clone(),
        arn: arn(&c.region, &c.account, "image", name),
        display_name: opt_str(c, "DisplayName").unwrap_or_default().into(),
        description: opt_str(c, "Description").unwrap_or_default().into(),
        // RuntimeValidationConfig: the image is validated on the intended instance type first.
        state: if c
            .body
            .get("RuntimeValidationConfig")
            .is_some_and(Value::is_object)
        {
            "VALIDATING"
        } else {
            "IMPORTING"
        }
        .into(),
        ready_at: now.saturating_add(d.appstream_image_ms),
        created_ms: now,
        platform: "WINDOWS_SERVER_2022".into(),
        source_ami: ami.into(),
        tags,
        applications: app_catalog(c),
        ..Default::default()
    };
    let out = json!({ "Image": image_json(&image, &c.account) });
    w.appstream.images.insert(k, image);
    Ok(out)
}

/// `AppCatalogConfig` of CreateImportedImage: the image's application catalog
/// (https://docs.aws.amazon.com/appstream2/latest/APIReference/API_ApplicationConfig.html).
pub(super) fn app_catalog(c: &Call) -> Vec<Application> {
    let list = c.body.get("AppCatalogConfig").and_then(Value::as_array);
    let field = |a: &Value, k: &str| {
        a.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    list.into_iter()
        .flatten()
        .map(|a| Application {
            name: field(a, "Name"),
            display_name: field(a, "DisplayName"),
            path: field(a, "AbsoluteAppPath"),
            launch_parameters: field(a, "LaunchParameters"),
            working_directory: field(a, "WorkingDirectory"),
            icon_path: field(a, "AbsoluteIconPath"),
        })
        .collect()
}

pub(super) fn describe_images(a: &Appstream, c: &Call) -> Result<Value, ApiError> {
    let names = str_list(c.body.get("Names"));
    let arns = str_list(c.body.get("Arns"));
    if !names.is_empty() && !arns.is_empty() {
        return Err(invalid_combination("Specify Names or Arns, not both."));
    }
    let kind = opt_str(c, "Type");
    if kind.is_some_and(|t| !matches!(t, "PUBLIC" | "PRIVATE" | "SHARED")) {
        return Err(validation("Type must be PUBLIC, PRIVATE or SHARED."));
    }
    let visible: Vec<&Image> = a
        .images
        .values()
        .filter(|i| i.region == c.region && i.permissions(&c.account).is_some())
        .filter(|i| kind.is_none_or(|t| i.visibility(&c.account) == t))
        .collect();
    if let Some(missing) = names
        .iter()
        .find(|n| !visible.iter().any(|i| i.name == **n))
    {
        return Err(not_found("image", missing));
    }
    if let Some(missing) = arns.iter().find(|n| !visible.iter().any(|i| i.arn == **n)) {
        return Err(not_found("image", missing));
    }
    let items = visible
        .into_iter()
        .filter(|i| {
            (names.is_empty() || names.contains(&i.name))
                && (arns.is_empty() || arns.contains(&i.arn))
        })
        .map(|i| image_json(i, &c.account))
        .collect();
    // API_DescribeImages: MaxResults 0-25; absent, a page holds 25.
    page(c, "Images", items, Some(25))
}

/// CopyImage, called in the source region: the copy is COPYING in the destination, then AVAILABLE.
pub(super) fn copy_image(
    a: &mut Appstream,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let source_name = req_str(c, "SourceImageName")?;
    let dest_name = req_str(c, "DestinationImageName")?;
    check_image_name("DestinationImageName", dest_name)?;
    let dest_region = req_str(c, "DestinationRegion")?;
    if !valid_region(dest_region) {
        return Err(validation(format!(
            "The destination region {dest_region} is not a region name."
        )));
    }
    // The answer for a well-formed region AppStream does not serve is not documented; this code is
    // the simulator's choice.
    if !APPSTREAM_REGIONS.contains(&dest_region) {
        return Err(invalid_combination(format!(
            "AppStream 2.0 is not available in the destination region {dest_region}."
        )));
    }
    let source = a
        .images
        .get(&scoped(&c.account, &c.region, source_name))
        .ok_or_else(|| not_found("image", source_name))?
        .clone();
    if source.state != "AVAILABLE" {
        return Err(ApiError::client(
            "ResourceNotAvailableException",
            format!(
                "The image {source_name} is {}; only an AVAILABLE image can be copied.",
                source.state
            ),
        ));
    }
    a.seed(dest_region);
    let dk = scoped(&c.account, dest_region, dest_name);
    if a.images.contains_key(&dk) {
        return Err(ApiError::client(
            "ResourceAlreadyExistsException",
            format!("An image named {dest_name} already exists in {dest_region}."),
        ));
    }
    let copying = a
        .images
        .values()
        .filter(|i| i.owner == c.account && i.region == dest_region && i.state == "COPYING")
        .count();
    if copying >= MAX_CONCURRENT_COPIES {
        return Err(ApiError::client(
            "LimitExceededException",
            format!(
                "At most {MAX_CONCURRENT_COPIES} image copies to {dest_region} can run at once."
            ),
        ));
    }
    let description =
        opt_str(c, "DestinationImageDescription").map_or(source.description, str::to_string);
    a.images.insert(
        dk,
        Image {
            name: dest_name.into(),
            owner: c.account.clone(),
            region: dest_region.into(),
            arn: arn(dest_region, &c.account, "image", dest_name),
            base_image_arn: source.base_image_arn,
            display_name: source.display_name,
            description,
            state: "COPYING".into(),
            ready_at: now.saturating_add(d.appstream_image_ms),
            created_ms: now,
            platform: source.platform,
            source_ami: source.source_ami,
            agent_version: source.agent_version,
            bootstrap: source.bootstrap,
            ..Default::default()
        },
    );
    Ok(json!({ "DestinationImageName": dest_name }))
}

pub(super) fn delete_image(a: &mut Appstream, c: &Call) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    let k = scoped(&c.account, &c.region, name);
    let img = a.images.get(&k).ok_or_else(|| not_found("image", name))?;
    if !matches!(img.state.as_str(), "AVAILABLE" | "FAILED") {
        return Err(ApiError::client(
            "ConcurrentModificationException",
            format!(
                "The image {name} is {}; try again when it is AVAILABLE.",
                img.state
            ),
        ));
    }
    if !img.shared_with.is_empty() {
        return Err(ApiError::client(
            "ResourceInUseException",
            format!(
                "The image {name} is shared with {} account(s); delete its image permissions first.",
                img.shared_with.len()
            ),
        ));
    }
    if let Some(f) = a.fleets.values().find(|f| f.image_arn == img.arn) {
        return Err(ApiError::client(
            "ResourceInUseException",
            format!("The image {name} is used by the fleet {}.", f.name),
        ));
    }
    let Some(mut img) = a.images.remove(&k) else {
        return Err(not_found("image", name));
    };
    img.state = "DELETING".into();
    Ok(json!({ "Image": image_json(&img, &c.account) }))
}

pub(super) fn update_image_permissions(a: &mut Appstream, c: &Call) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    let account = req_str(c, "SharedAccountId")?;
    if !is_account(account) {
        return Err(validation(format!(
            "SharedAccountId {account} is not a 12-digit AWS account id."
        )));
    }
    let p = c.body.get("ImagePermissions").filter(|v| v.is_object()).ok_or_else(|| {
        validation("1 validation error detected: Value null at 'ImagePermissions' failed to satisfy constraint: Member must not be null")
    })?;
    let perms = Permissions {
        allow_fleet: p
            .get("allowFleet")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        allow_image_builder: p
            .get("allowImageBuilder")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    let img = a
        .images
        .get_mut(&scoped(&c.account, &c.region, name))
        .ok_or_else(|| not_found("image", name))?;
    if img.state != "AVAILABLE" {
        return Err(ApiError::client(
            "ResourceNotAvailableException",
            format!("The image {name} is {}, not AVAILABLE.", img.state),
        ));
    }
    img.shared_with.insert(account.to_string(), perms);
    let image_arn = img.arn.clone();
    if !perms.allow_fleet {
        a.drain_fleets(&image_arn, account);
    }
    Ok(json!({}))
}

pub(super) fn delete_image_permissions(a: &mut Appstream, c: &Call) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    let account = req_str(c, "SharedAccountId")?;
    let img = a
        .images
        .get_mut(&scoped(&c.account, &c.region, name))
        .ok_or_else(|| not_found("image", name))?;
    if img.shared_with.remove(account).is_none() {
        return Err(ApiError::client(
            "ResourceNotFoundException",
            format!("The image {name} is not shared with account {account}."),
        ));
    }
    let image_arn = img.arn.clone();
    a.drain_fleets(&image_arn, account);
    Ok(json!({}))
}

pub(super) fn describe_image_permissions(a: &Appstream, c: &Call) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    let img = a
        .images
        .get(&scoped(&c.account, &c.region, name))
        .ok_or_else(|| not_found("image", name))?;
    let only = str_list(c.body.get("SharedAwsAccountIds"));
    let items = img
        .shared_with
        .iter()
        .filter(|(account, _)| only.is_empty() || only.contains(account))
        .map(
            |(account, p)| json!({ "sharedAccountId": account, "imagePermissions": perms_json(p) }),
        )
        .collect();
    let mut out = page(c, "SharedImagePermissionsList", items, None)?;
    out["Name"] = Value::String(name.to_string());
    Ok(out)
}
