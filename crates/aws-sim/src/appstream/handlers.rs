//! One function per AppStream operation (the Image Assistant, run on a builder, is in `assistant.rs`).

use serde_json::{Value, json};

use crate::ApiError;
use crate::clock::Durations;
use crate::ec2::Ec2;
use crate::members::{is_account, scoped, str_list, ts};
use crate::protocol::{Call, Output};
use crate::world::World;

use super::model::*;
use super::state::*;
use super::wire::*;

/// Handle one AppStream call.
pub fn handle(w: &mut World, c: &Call, now: u64, d: &Durations) -> Result<Output, ApiError> {
    w.appstream.seed(&c.region);
    let out = match c.op.as_str() {
        "CreateImageBuilder" => create_image_builder(&mut w.appstream, c, now, d)?,
        "DescribeImageBuilders" => describe_image_builders(&w.appstream, c)?,
        "StartImageBuilder" | "StopImageBuilder" | "DeleteImageBuilder" => {
            change_image_builder(&mut w.appstream, c, now, d)?
        }
        "CreateImageBuilderStreamingURL" => streaming_url(w, c, now)?,
        "CreateUpdatedImage" => create_updated_image(&mut w.appstream, c, now, d)?,
        "CreateImportedImage" => create_imported_image(w, c, now, d)?,
        "DescribeImages" => describe_images(&w.appstream, c)?,
        "CopyImage" => copy_image(&mut w.appstream, c, now, d)?,
        "DeleteImage" => delete_image(&mut w.appstream, c)?,
        "UpdateImagePermissions" => update_image_permissions(&mut w.appstream, c)?,
        "DeleteImagePermissions" => delete_image_permissions(&mut w.appstream, c)?,
        "DescribeImagePermissions" => describe_image_permissions(&w.appstream, c)?,
        "CreateFleet" => create_fleet(&mut w.appstream, c, now)?,
        "DescribeFleets" => describe_fleets(&w.appstream, c, now)?,
        "UpdateFleet" => {
            let failing = w.take_failure("appstream-fleet");
            update_fleet(&mut w.appstream, c, now, d, failing)?
        }
        "StartFleet" | "StopFleet" => change_fleet(&mut w.appstream, c, now, d)?,
        "DeleteFleet" => delete_fleet(&mut w.appstream, c)?,
        "TagResource" | "UntagResource" | "ListTagsForResource" => tags(&mut w.appstream, c)?,
        op => return Err(ApiError::unsupported("appstream", op)),
    };
    Ok(Output::Value(out))
}

fn create_image_builder(
    a: &mut Appstream,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    check_name("name", name)?;
    let instance_type = req_str(c, "InstanceType")?;
    check_instance_type(instance_type)?;
    let role = check_role(c)?;
    let tags = tag_map(c.body.get("Tags"))?;
    let k = scoped(&c.account, &c.region, name);
    if a.builders.contains_key(&k) {
        return Err(ApiError::client(
            "ResourceAlreadyExistsException",
            format!("An image builder named {name} already exists."),
        ));
    }
    let image = a.source_image(c, Purpose::ImageBuilder)?;
    let (subnet_ids, security_group_ids) = vpc(c);
    // API_VpcConfig: "Fleet instances use one or more subnets. Image builder instances use one
    // subnet." The error code for more than one is not documented; this is the simulator's choice.
    if subnet_ids.len() > 1 {
        return Err(invalid_combination(format!(
            "An image builder takes one subnet; {} were given.",
            subnet_ids.len()
        )));
    }
    let builder = ImageBuilder {
        name: name.into(),
        account: c.account.clone(),
        region: c.region.clone(),
        arn: arn(&c.region, &c.account, "image-builder", name),
        image_arn: image.arn.clone(),
        description: opt_str(c, "Description").unwrap_or_default().into(),
        display_name: opt_str(c, "DisplayName").unwrap_or_default().into(),
        instance_type: instance_type.into(),
        platform: image.platform.clone(),
        iam_role_arn: role.unwrap_or_default(),
        subnet_ids,
        security_group_ids,
        internet_access: opt_bool(c, "EnableDefaultInternetAccess").unwrap_or(false),
        state: "PENDING".into(),
        ready_at: now.saturating_add(d.builder_start_ms),
        created_ms: now,
        tags,
        // API_CreateImageBuilder: AppstreamAgentVersion `[LATEST]` (or `LATEST`) asks for the latest
        // agent; absent, the builder keeps its image's.
        agent_version: match opt_str(c, "AppstreamAgentVersion") {
            Some("LATEST" | "[LATEST]") => AGENT_VERSION.to_string(),
            Some(v) => v.to_string(),
            None => image.agent().to_string(),
        },
        bootstrap: image.bootstrap,
        ..Default::default()
    };
    let out = json!({ "ImageBuilder": builder_json(&builder) });
    a.builders.insert(k, builder);
    Ok(out)
}

fn describe_image_builders(a: &Appstream, c: &Call) -> Result<Value, ApiError> {
    let names = str_list(c.body.get("Names"));
    if let Some(missing) = names
        .iter()
        .find(|n| !a.builders.contains_key(&scoped(&c.account, &c.region, n)))
    {
        return Err(not_found("image builder", missing));
    }
    let items = a
        .builders
        .values()
        .filter(|b| {
            b.account == c.account
                && b.region == c.region
                && (names.is_empty() || names.contains(&b.name))
        })
        .map(builder_json)
        .collect();
    page(c, "ImageBuilders", items, None)
}

/// StartImageBuilder (STOPPED → PENDING → RUNNING), StopImageBuilder (RUNNING → STOPPING → STOPPED),
/// DeleteImageBuilder (→ DELETING → gone).
fn change_image_builder(
    a: &mut Appstream,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    let b = a
        .builders
        .get_mut(&scoped(&c.account, &c.region, name))
        .ok_or_else(|| not_found("image builder", name))?;
    let next = match (c.op.as_str(), b.state.as_str()) {
        ("StartImageBuilder", "STOPPED") => Some("PENDING"),
        ("StopImageBuilder", "RUNNING") => Some("STOPPING"),
        // AWS-FACTS.md and the console: an image builder is deleted once it is STOPPED (a FAILED one
        // cannot be stopped, so it is deleted as it is).
        ("DeleteImageBuilder", "STOPPED" | "FAILED") => Some("DELETING"),
        ("DeleteImageBuilder", "RUNNING") => {
            return Err(ApiError::client(
                "OperationNotPermittedException",
                format!("The image builder {name} is RUNNING; stop it before deleting it."),
            ));
        }
        ("StartImageBuilder", "RUNNING" | "PENDING")
        | ("StopImageBuilder", "STOPPED" | "STOPPING") => None,
        ("StartImageBuilder", "FAILED") => {
            return Err(ApiError::client(
                "ResourceNotAvailableException",
                format!("The image builder {name} has FAILED; delete it."),
            ));
        }
        ("StopImageBuilder", "FAILED") => {
            return Err(ApiError::client(
                "OperationNotPermittedException",
                format!("The image builder {name} has FAILED and cannot be stopped."),
            ));
        }
        (_, state) => {
            return Err(ApiError::client(
                "ConcurrentModificationException",
                format!(
                    "The image builder {name} is {state}; try again when it is RUNNING or STOPPED."
                ),
            ));
        }
    };
    if let Some(state) = next {
        b.state = state.into();
        b.ready_at = now.saturating_add(d.builder_start_ms);
    }
    Ok(json!({ "ImageBuilder": builder_json(b) }))
}

fn streaming_url(w: &mut World, c: &Call, now: u64) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    let validity = opt_i64(c, "Validity").unwrap_or(3600);
    if !(1..=604_800).contains(&validity) {
        return Err(validation(format!(
            "Validity {validity} is not between 1 and 604800 seconds."
        )));
    }
    let state = w
        .appstream
        .builders
        .get(&scoped(&c.account, &c.region, name))
        .map(|b| b.state.clone())
        .ok_or_else(|| not_found("image builder", name))?;
    if state != "RUNNING" {
        return Err(ApiError::client(
            "OperationNotPermittedException",
            format!("The image builder {name} is {state}; it must be RUNNING to stream from it."),
        ));
    }
    let parameters = w.id("", 32);
    let signature = w.id("", 32);
    let expires = now.saturating_add(
        u64::try_from(validity)
            .unwrap_or_default()
            .saturating_mul(1000),
    );
    Ok(json!({
        "StreamingURL": format!("https://appstream2.{}.aws.amazon.com/authenticate?parameters={parameters}&signature={signature}", c.region),
        "Expires": ts(expires),
    }))
}

/// Managed image update: a new image from one of the caller's images, with `dryRun` answering whether
/// it can be updated (always, here). Members of this operation are lowerCamelCase.
fn create_updated_image(
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
fn create_imported_image(
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
fn app_catalog(c: &Call) -> Vec<Application> {
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

fn describe_images(a: &Appstream, c: &Call) -> Result<Value, ApiError> {
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
fn copy_image(a: &mut Appstream, c: &Call, now: u64, d: &Durations) -> Result<Value, ApiError> {
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

fn delete_image(a: &mut Appstream, c: &Call) -> Result<Value, ApiError> {
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

fn update_image_permissions(a: &mut Appstream, c: &Call) -> Result<Value, ApiError> {
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

fn delete_image_permissions(a: &mut Appstream, c: &Call) -> Result<Value, ApiError> {
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

fn describe_image_permissions(a: &Appstream, c: &Call) -> Result<Value, ApiError> {
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

fn create_fleet(a: &mut Appstream, c: &Call, now: u64) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    check_name("name", name)?;
    let instance_type = req_str(c, "InstanceType")?;
    check_instance_type(instance_type)?;
    let fleet_type = opt_str(c, "FleetType").unwrap_or("ON_DEMAND");
    if !matches!(fleet_type, "ALWAYS_ON" | "ON_DEMAND" | "ELASTIC") {
        return Err(validation(format!(
            "FleetType {fleet_type} is not ALWAYS_ON, ON_DEMAND or ELASTIC."
        )));
    }
    let role = check_role(c)?;
    let tags = tag_map(c.body.get("Tags"))?;
    let k = scoped(&c.account, &c.region, name);
    if a.fleets.contains_key(&k) {
        return Err(ApiError::client(
            "ResourceAlreadyExistsException",
            format!("A fleet named {name} already exists."),
        ));
    }
    let desired = capacity(c);
    let (subnet_ids, security_group_ids) = vpc(c);
    let (image_name, image_arn, platform) = if fleet_type == "ELASTIC" {
        if opt_str(c, "ImageName").is_some() || opt_str(c, "ImageArn").is_some() {
            return Err(invalid_combination(
                "Elastic fleets stream app blocks, not images: ImageName and ImageArn are not allowed.",
            ));
        }
        if desired.is_some() {
            return Err(invalid_combination(
                "ComputeCapacity is not allowed for Elastic fleets.",
            ));
        }
        if opt_i64(c, "MaxConcurrentSessions").is_none() {
            return Err(invalid_combination(
                "MaxConcurrentSessions is required for Elastic fleets.",
            ));
        }
        if subnet_ids.is_empty() {
            return Err(invalid_combination(
                "VpcConfig with subnets is required for Elastic fleets.",
            ));
        }
        let platform = opt_str(c, "Platform")
            .ok_or_else(|| invalid_combination("Platform is required for Elastic fleets."))?;
        (String::new(), String::new(), platform.to_string())
    } else {
        if desired.is_none() {
            return Err(invalid_combination(
                "ComputeCapacity is required for Always-On and On-Demand fleets.",
            ));
        }
        let img = a.source_image(c, Purpose::Fleet)?;
        (img.name.clone(), img.arn.clone(), img.platform.clone())
    };
    let fleet = Fleet {
        name: name.into(),
        account: c.account.clone(),
        region: c.region.clone(),
        arn: arn(&c.region, &c.account, "fleet", name),
        image_name,
        image_arn,
        instance_type: instance_type.into(),
        fleet_type: fleet_type.into(),
        desired: desired.unwrap_or(0),
        state: "STOPPED".into(),
        ready_at: now,
        created_ms: now,
        description: opt_str(c, "Description").unwrap_or_default().into(),
        display_name: opt_str(c, "DisplayName").unwrap_or_default().into(),
        subnet_ids,
        security_group_ids,
        internet_access: opt_bool(c, "EnableDefaultInternetAccess").unwrap_or(false),
        iam_role_arn: role.unwrap_or_default(),
        stream_view: opt_str(c, "StreamView").unwrap_or("APP").into(),
        platform,
        max_user_duration_secs: opt_i64(c, "MaxUserDurationInSeconds").unwrap_or(57_600),
        disconnect_timeout_secs: opt_i64(c, "DisconnectTimeoutInSeconds").unwrap_or(900),
        idle_disconnect_timeout_secs: opt_i64(c, "IdleDisconnectTimeoutInSeconds").unwrap_or(0),
        max_concurrent_sessions: opt_i64(c, "MaxConcurrentSessions"),
        tags,
        replaced_at: now,
        failing: false,
    };
    let out = json!({ "Fleet": fleet_json(&fleet, now) });
    a.fleets.insert(k, fleet);
    Ok(out)
}

fn describe_fleets(a: &Appstream, c: &Call, now: u64) -> Result<Value, ApiError> {
    let names = str_list(c.body.get("Names"));
    if let Some(missing) = names
        .iter()
        .find(|n| !a.fleets.contains_key(&scoped(&c.account, &c.region, n)))
    {
        return Err(not_found("fleet", missing));
    }
    let items = a
        .fleets
        .values()
        .filter(|f| {
            f.account == c.account
                && f.region == c.region
                && (names.is_empty() || names.contains(&f.name))
        })
        .map(|f| fleet_json(f, now))
        .collect();
    page(c, "Fleets", items, None)
}

/// UpdateFleet: a new image for an Always-On or On-Demand fleet that is RUNNING or STOPPED (never an
/// Elastic one), capacity, instance type, VPC, role and the session settings.
/// What UpdateFleet may change in each state
/// (https://docs.aws.amazon.com/appstream2/latest/APIReference/API_UpdateFleet.html): anything but
/// the name when STOPPED; when RUNNING, only DisplayName, ComputeCapacity, ImageArn, ImageName and
/// the two disconnect timeouts (Always-On, On-Demand), or DisplayName, the timeouts,
/// MaxConcurrentSessions, SessionScriptS3Location and UsbDeviceFilterStrings (Elastic); nothing
/// while STARTING or STOPPING. The error code for a refused attribute is not documented; this one is
/// the simulator's choice.
fn check_fleet_update(c: &Call, name: &str, elastic: bool, state: &str) -> Result<(), ApiError> {
    let allowed: &[&str] = match (state, elastic) {
        ("STOPPED", _) => return Ok(()),
        ("RUNNING", false) => &[
            "DisplayName",
            "ComputeCapacity",
            "ImageArn",
            "ImageName",
            "IdleDisconnectTimeoutInSeconds",
            "DisconnectTimeoutInSeconds",
        ],
        ("RUNNING", true) => &[
            "DisplayName",
            "IdleDisconnectTimeoutInSeconds",
            "DisconnectTimeoutInSeconds",
            "MaxConcurrentSessions",
            "SessionScriptS3Location",
            "UsbDeviceFilterStrings",
        ],
        _ => {
            return Err(ApiError::client(
                "ConcurrentModificationException",
                format!("The fleet {name} is {state}; update it when it is RUNNING or STOPPED."),
            ));
        }
    };
    let members = c.body.as_object().into_iter().flat_map(|o| o.keys());
    let refused: Vec<&str> = members
        .map(String::as_str)
        .filter(|k| *k != "Name" && !allowed.contains(k))
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(invalid_combination(format!(
        "The fleet {name} is RUNNING: {} cannot be changed until it is STOPPED.",
        refused.join(", ")
    )))
}

fn update_fleet(
    a: &mut Appstream,
    c: &Call,
    now: u64,
    d: &Durations,
    failing: bool,
) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    let k = scoped(&c.account, &c.region, name);
    let Some(fleet) = a.fleets.get(&k) else {
        return Err(not_found("fleet", name));
    };
    let elastic = fleet.fleet_type == "ELASTIC";
    let state = fleet.state.clone();
    check_fleet_update(c, name, elastic, &state)?;
    let new_image = if opt_str(c, "ImageName").is_some() || opt_str(c, "ImageArn").is_some() {
        if elastic {
            return Err(invalid_combination(format!(
                "The fleet {name} is an Elastic fleet; its image cannot be changed."
            )));
        }
        if !matches!(state.as_str(), "RUNNING" | "STOPPED") {
            return Err(ApiError::client(
                "ConcurrentModificationException",
                format!(
                    "The fleet {name} is {state}; change its image when it is RUNNING or STOPPED."
                ),
            ));
        }
        let img = a.source_image(c, Purpose::Fleet)?;
        Some((img.name.clone(), img.arn.clone(), img.platform.clone()))
    } else {
        None
    };
    let desired = capacity(c);
    if elastic && desired.is_some() {
        return Err(invalid_combination(
            "ComputeCapacity is not allowed for Elastic fleets.",
        ));
    }
    if let Some(t) = opt_str(c, "InstanceType") {
        check_instance_type(t)?;
    }
    let role = check_role(c)?;
    let deleted = str_list(c.body.get("AttributesToDelete"));
    let (subnet_ids, security_group_ids) = vpc(c);
    let f = a
        .fleets
        .get_mut(&k)
        .ok_or_else(|| not_found("fleet", name))?;
    if let Some((image_name, image_arn, platform)) = new_image {
        f.image_name = image_name;
        f.image_arn = image_arn;
        f.platform = platform;
        // A running fleet's instances move to the new image as they are replaced; a stopped one
        // starts on it (API_UpdateFleet).
        let running = f.state == "RUNNING";
        f.replaced_at = if running {
            now + d.fleet_replace_ms
        } else {
            now
        };
        f.failing = failing;
    }
    if let Some(n) = desired {
        f.desired = n;
    }
    if let Some(t) = opt_str(c, "InstanceType") {
        f.instance_type = t.into();
    }
    if let Some(r) = role {
        f.iam_role_arn = r;
    }
    if c.body.get("VpcConfig").is_some_and(Value::is_object) {
        f.subnet_ids = subnet_ids;
        f.security_group_ids = security_group_ids;
    }
    if opt_bool(c, "DeleteVpcConfig") == Some(true)
        || deleted.iter().any(|x| x == "VPC_CONFIGURATION")
    {
        f.subnet_ids.clear();
        f.security_group_ids.clear();
    }
    if deleted
        .iter()
        .any(|x| x == "VPC_CONFIGURATION_SECURITY_GROUP_IDS")
    {
        f.security_group_ids.clear();
    }
    if deleted.iter().any(|x| x == "IAM_ROLE_ARN") {
        f.iam_role_arn.clear();
    }
    if let Some(s) = opt_str(c, "Description") {
        f.description = s.into();
    }
    if let Some(s) = opt_str(c, "DisplayName") {
        f.display_name = s.into();
    }
    if let Some(s) = opt_str(c, "StreamView") {
        f.stream_view = s.into();
    }
    if let Some(b) = opt_bool(c, "EnableDefaultInternetAccess") {
        f.internet_access = b;
    }
    if let Some(n) = opt_i64(c, "MaxUserDurationInSeconds") {
        f.max_user_duration_secs = n;
    }
    if let Some(n) = opt_i64(c, "DisconnectTimeoutInSeconds") {
        f.disconnect_timeout_secs = n;
    }
    if let Some(n) = opt_i64(c, "IdleDisconnectTimeoutInSeconds") {
        f.idle_disconnect_timeout_secs = n;
    }
    if let Some(n) = opt_i64(c, "MaxConcurrentSessions") {
        f.max_concurrent_sessions = Some(n);
    }
    Ok(json!({ "Fleet": fleet_json(f, now) }))
}

/// StartFleet (STOPPED → STARTING → RUNNING) and StopFleet (→ STOPPING → STOPPED).
fn change_fleet(a: &mut Appstream, c: &Call, now: u64, d: &Durations) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    let f = a
        .fleets
        .get_mut(&scoped(&c.account, &c.region, name))
        .ok_or_else(|| not_found("fleet", name))?;
    let next = match (c.op.as_str(), f.state.as_str()) {
        ("StartFleet", "STOPPED") => Some("STARTING"),
        ("StopFleet", "RUNNING" | "STARTING") => Some("STOPPING"),
        ("StartFleet", "RUNNING" | "STARTING") | ("StopFleet", "STOPPED" | "STOPPING") => None,
        (_, state) => {
            return Err(ApiError::client(
                "ConcurrentModificationException",
                format!("The fleet {name} is {state}; try again when it is RUNNING or STOPPED."),
            ));
        }
    };
    if let Some(state) = next {
        f.state = state.into();
        f.ready_at = now.saturating_add(d.builder_start_ms);
    }
    Ok(json!({}))
}

fn delete_fleet(a: &mut Appstream, c: &Call) -> Result<Value, ApiError> {
    let name = req_str(c, "Name")?;
    let k = scoped(&c.account, &c.region, name);
    let f = a.fleets.get(&k).ok_or_else(|| not_found("fleet", name))?;
    if f.state != "STOPPED" {
        return Err(ApiError::client(
            "ResourceInUseException",
            format!(
                "The fleet {name} is {}; stop it before deleting it.",
                f.state
            ),
        ));
    }
    a.fleets.remove(&k);
    Ok(json!({}))
}

/// TagResource, UntagResource and ListTagsForResource on the caller's images, image builders and fleets.
fn tags(a: &mut Appstream, c: &Call) -> Result<Value, ApiError> {
    let resource = req_str(c, "ResourceArn")?;
    let tags = a.tags_of(c, resource).ok_or_else(|| {
        ApiError::client(
            "ResourceNotFoundException",
            format!("The resource {resource} does not exist."),
        )
    })?;
    match c.op.as_str() {
        "TagResource" => {
            let mut merged = tags.clone();
            merged.extend(tag_map(c.body.get("Tags"))?);
            check_tags(&merged)?;
            *tags = merged;
            Ok(json!({}))
        }
        "UntagResource" => {
            for k in str_list(c.body.get("TagKeys")) {
                tags.remove(&k);
            }
            Ok(json!({}))
        }
        _ => Ok(json!({ "Tags": &*tags })),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::protocol::Protocol;

    const NOW: u64 = 1_800_000_000_000;
    const A: &str = "111111111111";
    const B: &str = "222222222222";
    const BASE: &str = "AppStream-WinServer2022-06-17-2025";

    fn run(
        w: &mut World,
        d: &Durations,
        account: &str,
        op: &str,
        body: Value,
    ) -> Result<Value, ApiError> {
        let call = Call {
            service: "appstream".into(),
            op: op.into(),
            protocol: Protocol::Cbor,
            region: "us-east-1".into(),
            account: account.into(),
            params: BTreeMap::new(),
            body,
        };
        w.appstream.tick(NOW, d);
        match handle(w, &call, NOW, d)? {
            Output::Value(v) => Ok(v),
            Output::Xml(_) => panic!("AppStream answers JSON values"),
        }
    }

    /// Account A captures `app-1` on builder `b1` (instant phases).
    fn captured(w: &mut World) {
        let d = Durations::instant();
        let b = run(
            w,
            &d,
            A,
            "CreateImageBuilder",
            json!({ "Name": "b1", "ImageName": BASE, "InstanceType": "stream.standard.medium" }),
        )
        .unwrap();
        assert_eq!(b["ImageBuilder"]["State"], "PENDING");
        assert_eq!(assistant_create(w, "app-1").status, "Success");
    }

    /// The Image Assistant's `create-image --name <name>` on builder `b1` of account A.
    fn assistant_create(w: &mut World, name: &str) -> super::super::assistant::Outcome {
        let d = Durations::instant();
        w.appstream.tick(NOW, &d);
        let script = format!("AppStreamImageAssistant create-image --name '{name}'");
        let (op, flags) = super::super::assistant::calls(&script).remove(0);
        let key = scoped(A, "us-east-1", "b1");
        super::super::assistant::run(&mut w.appstream, &key, &op, &flags, NOW, &d)
    }

    #[test]
    fn a_builder_captures_an_image_and_stops() {
        let mut w = World::default();
        let d = Durations::instant();
        captured(&mut w);
        let images = run(
            &mut w,
            &d,
            A,
            "DescribeImages",
            json!({ "Names": ["app-1"] }),
        )
        .unwrap();
        assert_eq!(images["Images"][0]["State"], "AVAILABLE");
        assert_eq!(images["Images"][0]["Visibility"], "PRIVATE");
        assert_eq!(images["Images"][0]["ImageBuilderName"], "b1");
        let builders = run(&mut w, &d, A, "DescribeImageBuilders", json!({})).unwrap();
        assert_eq!(builders["ImageBuilders"][0]["State"], "STOPPED");
        let stopped = assistant_create(&mut w, "app-2");
        assert_eq!(stopped.code, 1, "a STOPPED builder runs nothing");
        assert!(stopped.stdout.contains("STOPPED"), "{}", stopped.stdout);
        let e = run(
            &mut w,
            &d,
            A,
            "CreateImageBuilder",
            json!({ "Name": "b1", "ImageName": BASE, "InstanceType": "stream.standard.medium" }),
        )
        .unwrap_err();
        assert_eq!(e.code, "ResourceAlreadyExistsException");
    }

    #[test]
    fn sharing_is_per_account_and_revoking_drains_fleets() {
        let mut w = World::default();
        let d = Durations::instant();
        captured(&mut w);
        let fleet = json!({ "Name": "f", "ImageName": "app-1", "InstanceType": "stream.standard.small", "FleetType": "ALWAYS_ON", "ComputeCapacity": { "DesiredInstances": 2 } });
        assert_eq!(
            run(&mut w, &d, B, "CreateFleet", fleet.clone())
                .unwrap_err()
                .code,
            "ResourceNotFoundException"
        );
        run(&mut w, &d, A, "UpdateImagePermissions", json!({ "Name": "app-1", "SharedAccountId": B, "ImagePermissions": { "allowFleet": true, "allowImageBuilder": false } })).unwrap();
        let shared = run(&mut w, &d, B, "DescribeImages", json!({ "Type": "SHARED" })).unwrap();
        assert_eq!(shared["Images"][0]["Name"], "app-1");
        assert_eq!(
            shared["Images"][0]["ImagePermissions"],
            json!({ "allowFleet": true, "allowImageBuilder": false })
        );
        run(&mut w, &d, B, "CreateFleet", fleet).unwrap();
        let e = run(
            &mut w,
            &d,
            B,
            "CreateImageBuilder",
            json!({ "Name": "b", "ImageName": "app-1", "InstanceType": "stream.standard.medium" }),
        )
        .unwrap_err();
        assert_eq!(e.code, "OperationNotPermittedException");
        assert_eq!(
            run(&mut w, &d, A, "DeleteImage", json!({ "Name": "app-1" }))
                .unwrap_err()
                .code,
            "ResourceInUseException"
        );
        run(
            &mut w,
            &d,
            A,
            "DeleteImagePermissions",
            json!({ "Name": "app-1", "SharedAccountId": B }),
        )
        .unwrap();
        let fleets = run(&mut w, &d, B, "DescribeFleets", json!({ "Names": ["f"] })).unwrap();
        assert_eq!(fleets["Fleets"][0]["ComputeCapacityStatus"]["Desired"], 0);
        assert_eq!(
            run(&mut w, &d, B, "DescribeImages", json!({ "Type": "SHARED" })).unwrap()["Images"],
            json!([])
        );
    }

    #[test]
    fn copies_run_two_at_a_time_per_destination_and_drop_tags() {
        let mut w = World::default();
        captured(&mut w);
        let slow = Durations {
            appstream_image_ms: 60_000,
            ..Durations::instant()
        };
        let arn = format!("arn:aws:appstream:us-east-1:{A}:image/app-1");
        run(
            &mut w,
            &slow,
            A,
            "TagResource",
            json!({ "ResourceArn": arn, "Tags": { "team": "x" } }),
        )
        .unwrap();
        for (i, want) in [(1, None), (2, None), (3, Some("LimitExceededException"))] {
            let r = run(
                &mut w,
                &slow,
                A,
                "CopyImage",
                json!({ "SourceImageName": "app-1", "DestinationImageName": format!("copy-{i}"), "DestinationRegion": "eu-west-2" }),
            );
            assert_eq!(r.err().map(|e| e.code), want.map(str::to_string));
        }
        let copy = &w.appstream.images[&scoped(A, "eu-west-2", "copy-1")];
        assert_eq!(copy.state, "COPYING");
        assert!(copy.tags.is_empty());
    }
}
