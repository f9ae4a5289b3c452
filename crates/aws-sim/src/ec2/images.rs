//! EC2 images: describe (owners, filters, public and shared images), create from an instance,
//! copy, deregister, launch permissions and deprecation.

use super::*;

/// EC2 refuses a second image of the same name in one account and region.
fn check_name_free(w: &World, c: &Call, name: &str) -> Result<(), ApiError> {
    let taken = w.ec2.images.values().any(|i| {
        i.owner == c.account && i.region == c.region && i.name == name && i.state != "deregistered"
    });
    if taken {
        return Err(ApiError::client(
            "InvalidAMIName.Duplicate",
            format!("AMI name {name} is already in use by an AMI in this account and region"),
        ));
    }
    Ok(())
}

/// Register a new pending image owned by the caller, with its snapshot; `image` carries the fields
/// that differ between CreateImage and CopyImage. Returns the image id.
fn register_pending(
    w: &mut World,
    c: &Call,
    now: u64,
    ready_at: u64,
    snapshot_tags: BTreeMap<String, String>,
    image: Image,
) -> String {
    let id = w.id("ami-", 17);
    let snap = w.id("snap-", 17);
    w.ec2.snapshots.insert(
        snap.clone(),
        Snapshot {
            id: snap.clone(),
            owner: c.account.clone(),
            region: c.region.clone(),
            image_id: id.clone(),
            size_gib: 8,
            tags: snapshot_tags,
            start_ms: now,
            ..Default::default()
        },
    );
    // `ec2-copy` fails only copies; `ec2-image` fails the next image of either kind.
    let fail =
        (image.source_image.is_some() && w.take_failure("ec2-copy")) || w.take_failure("ec2-image");
    w.ec2.images.insert(
        id.clone(),
        Image {
            id: id.clone(),
            owner: c.account.clone(),
            region: c.region.clone(),
            description: opt(c, "Description").unwrap_or_default().into(),
            state: "pending".into(),
            ready_at,
            created_ms: now,
            snapshot_ids: vec![snap],
            fail,
            ..image
        },
    );
    id
}

fn valid_image_name(name: &str) -> bool {
    (3..=128).contains(&name.chars().count())
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "()[] ./-'@_".contains(ch))
}

fn image_xml(x: &mut Xml, img: &Image) {
    x.open("item")
        .text("imageId", &img.id)
        .text("imageLocation", &format!("{}/{}", img.owner, img.name))
        .text("imageState", &img.state)
        .text("imageOwnerId", &img.owner)
        .text("creationDate", &rfc3339(img.created_ms))
        .text(
            "isPublic",
            if img.launch_permissions.contains("group:all") {
                "true"
            } else {
                "false"
            },
        )
        .text(
            "architecture",
            if img.name.contains("arm64") {
                "arm64"
            } else {
                "x86_64"
            },
        )
        .text("imageType", "machine")
        .text("name", &img.name)
        .text("description", &img.description)
        .text("rootDeviceType", "ebs")
        .text("rootDeviceName", "/dev/xvda")
        .text("virtualizationType", "hvm")
        .text("hypervisor", "xen")
        .text("platformDetails", &platform_details(img))
        .text("usageOperation", usage_operation(img));
    if img.platform == "Windows" {
        x.text("platform", "windows");
    }
    if img.boot_mode == "uefi" {
        x.text("bootMode", "uefi").text("tpmSupport", "v2.0");
    }
    if img.public && img.owner == AMAZON {
        x.text("imageOwnerAlias", "amazon");
    }
    x.open("blockDeviceMapping");
    for s in &img.snapshot_ids {
        x.open("item")
            .text("deviceName", "/dev/xvda")
            .open("ebs")
            .text("snapshotId", s)
            .text("volumeSize", "8")
            .text("deleteOnTermination", "true")
            .text("volumeType", "gp3")
            .text("encrypted", if img.encrypted { "true" } else { "false" })
            .close("ebs")
            .close("item");
    }
    x.close("blockDeviceMapping");
    if let Some(ms) = img.deprecation_ms {
        x.text("deprecationTime", &rfc3339(ms));
    }
    // Image.StateReason (API_Image, API_StateReason: a code and a message) says why an image
    // failed; aws-sim gives one only where it knows, with the generic server code.
    if let Some(why) = img.fail_reason.as_ref().filter(|_| img.state == "failed") {
        x.open("stateReason")
            .text("code", "Server.InternalError")
            .text("message", why)
            .close("stateReason");
    }
    if !img.tags.is_empty() {
        x.tags(&img.tags);
    }
    x.close("item");
}

pub(super) fn owned_image<'a>(
    w: &'a mut World,
    c: &Call,
    id: &str,
) -> Result<&'a mut Image, ApiError> {
    match w.ec2.images.get_mut(id) {
        Some(img)
            if img.region == c.region && img.state != "deregistered" && img.owner == c.account =>
        {
            Ok(img)
        }
        Some(img)
            if img.region == c.region
                && img.state != "deregistered"
                && Ec2::visible(img, &c.account) =>
        {
            Err(ApiError::client(
                "AuthFailure",
                format!("Not authorized for image:{id}"),
            ))
        }
        _ => Err(not_found("AMI", id)),
    }
}

pub(super) fn describe_images(w: &World, c: &Call, rid: &str) -> String {
    let ids = list(&c.params, "ImageId");
    let owners = list(&c.params, "Owner");
    let executable_by = list(&c.params, "ExecutableBy");
    let fs = filters(&c.params);
    let include_deprecated = opt(c, "IncludeDeprecated") == Some("true");
    let mut x = Xml::response("DescribeImages", rid);
    x.open("imagesSet");
    for img in w.ec2.images.values() {
        if img.region != c.region || img.state == "deregistered" || !Ec2::visible(img, &c.account) {
            continue;
        }
        if !ids.is_empty() && !ids.contains(&img.id) {
            continue;
        }
        if !owners.is_empty()
            && !owners.iter().any(|o| {
                o == &img.owner
                    || (o == "self" && img.owner == c.account)
                    || (o == "amazon" && img.owner == AMAZON)
            })
        {
            continue;
        }
        if !executable_by.is_empty()
            && !executable_by.iter().any(|e| {
                let who = if e == "self" {
                    c.account.as_str()
                } else {
                    e.as_str()
                };
                img.owner != who
                    && (img.launch_permissions.contains(&format!("user:{who}"))
                        || (e == "all" && img.public))
            })
        {
            continue;
        }
        let deprecated = img
            .deprecation_ms
            .is_some_and(|d| d <= crate::clock::now_ms(w.offset_ms));
        if deprecated && img.owner != c.account && ids.is_empty() && !include_deprecated {
            continue;
        }
        let fields = [
            ("name", img.name.as_str()),
            ("state", img.state.as_str()),
            ("image-id", img.id.as_str()),
            ("owner-id", img.owner.as_str()),
        ];
        if !matches_filters(&img.tags, &fields, &fs) {
            continue;
        }
        image_xml(&mut x, img);
    }
    x.close("imagesSet");
    x.finish("DescribeImages")
}

pub(super) fn create_image(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
    rid: &str,
) -> Result<String, ApiError> {
    let instance_id = p(c, "InstanceId")?.to_string();
    let name = p(c, "Name")?.to_string();
    if !valid_image_name(&name) {
        return Err(ApiError::client(
            "InvalidAMIName.Malformed",
            "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/', '_', '[', ']', ' ', ''' and '@'",
        ));
    }
    let inst = w
        .ec2
        .instances
        .get(&instance_id)
        .filter(|i| i.region == c.region && i.owner == c.account);
    let Some(inst) = inst.cloned() else {
        return Err(not_found("Instance", &instance_id));
    };
    if !matches!(inst.state.as_str(), "running" | "stopped") {
        return Err(ApiError::client(
            "IncorrectInstanceState",
            format!(
                "The instance '{instance_id}' is not in a state from which it can be imaged ({})",
                inst.state
            ),
        ));
    }
    check_name_free(w, c, &name)?;
    let source = w.ec2.images.get(&inst.image_id);
    let image = Image {
        name,
        tags: tag_specs(&c.params, "image"),
        source_image: Some(inst.image_id.clone()),
        platform: source.map_or("Linux/UNIX".into(), |i| i.platform.clone()),
        boot_mode: source.map(|i| i.boot_mode.clone()).unwrap_or_default(),
        license_type: source.map(|i| i.license_type.clone()).unwrap_or_default(),
        guest_os: source.map(|i| i.guest_os.clone()).unwrap_or_default(),
        ..Default::default()
    };
    let id = register_pending(
        w,
        c,
        now,
        now + d.image_create_ms,
        tag_specs(&c.params, "snapshot"),
        image,
    );
    crate::machine::capture(w, &id, &instance_id);
    if let Some(disk) = w.windows.get(&instance_id).cloned() {
        w.windows.insert(id.clone(), disk);
    }
    let mut x = Xml::response("CreateImage", rid);
    x.text("imageId", &id);
    Ok(x.finish("CreateImage"))
}

pub(super) fn copy_image(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
    rid: &str,
) -> Result<String, ApiError> {
    if let Some(id) = idempotent(w, c, "CopyImage") {
        let mut x = Xml::response("CopyImage", rid);
        x.text("imageId", &id);
        return Ok(x.finish("CopyImage"));
    }
    let source_id = p(c, "SourceImageId")?.to_string();
    let source_region = p(c, "SourceRegion")?.to_string();
    let name = p(c, "Name")?.to_string();
    if !valid_image_name(&name) {
        return Err(ApiError::client(
            "InvalidAMIName.Malformed",
            "AMI names must be between 3 and 128 characters long",
        ));
    }
    let src = w
        .ec2
        .images
        .get(&source_id)
        .filter(|i| {
            i.region == source_region && i.state != "deregistered" && Ec2::visible(i, &c.account)
        })
        .cloned()
        .ok_or_else(|| not_found("AMI", &source_id))?;
    if src.state != "available" {
        return Err(ApiError::client(
            "IncorrectState",
            format!(
                "Image {source_id} is not in the 'available' state ({})",
                src.state
            ),
        ));
    }
    check_name_free(w, c, &name)?;
    let encrypted = opt(c, "Encrypted") == Some("true") || src.encrypted;
    let kms_key = opt(c, "KmsKeyId").map(str::to_string);
    if let Some(k) = &kms_key
        && k.starts_with("arn:")
        && !k.contains(&format!(":{}:", c.region))
    {
        return Err(ApiError::client(
            "InvalidParameterValue",
            format!("KMS key {k} is not in the destination region {}", c.region),
        ));
    }
    let mut tags = if opt(c, "CopyImageTags") == Some("true") {
        src.tags.clone()
    } else {
        BTreeMap::new()
    };
    tags.extend(tag_specs(&c.params, "image"));
    let image = Image {
        name,
        tags,
        source_image: Some(source_id),
        encrypted,
        kms_key,
        platform: src.platform.clone(),
        license_type: src.license_type.clone(),
        guest_os: src.guest_os.clone(),
        boot_mode: src.boot_mode.clone(),
        artifact: src.artifact.clone(),
        ..Default::default()
    };
    let id = register_pending(w, c, now, now + d.image_copy_ms, BTreeMap::new(), image);
    remember(w, c, "CopyImage", &id);
    let mut x = Xml::response("CopyImage", rid);
    x.text("imageId", &id);
    Ok(x.finish("CopyImage"))
}

pub(super) fn deregister_image(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let id = p(c, "ImageId")?.to_string();
    let img = owned_image(w, c, &id)?;
    img.state = "deregistered".into();
    let snaps = img.snapshot_ids.clone();
    if opt(c, "DeleteAssociatedSnapshots") == Some("true") {
        for s in snaps {
            w.ec2.snapshots.remove(&s);
        }
    }
    Ok(ok_return("DeregisterImage", rid))
}

/// Launch permission changes from either request shape the SDK can send.
fn permission_changes(c: &Call, kind: &str) -> Vec<String> {
    let mut out = Vec::new();
    for i in 1.. {
        let base = format!("LaunchPermission.{kind}.{i}");
        let found = [
            ("UserId", "user"),
            ("Group", "group"),
            ("OrganizationArn", "org"),
            ("OrganizationalUnitArn", "ou"),
        ]
        .iter()
        .filter_map(|(k, p)| {
            c.params
                .get(&format!("{base}.{k}"))
                .map(|v| format!("{p}:{v}"))
        })
        .collect::<Vec<_>>();
        if found.is_empty() {
            break;
        }
        out.extend(found);
    }
    if opt(c, "Attribute") == Some("launchPermission")
        && opt(c, "OperationType").is_some_and(|o| o.eq_ignore_ascii_case(kind))
    {
        out.extend(
            list(&c.params, "UserId")
                .into_iter()
                .map(|u| format!("user:{u}")),
        );
        out.extend(
            list(&c.params, "UserGroup")
                .into_iter()
                .map(|g| format!("group:{g}")),
        );
    }
    out
}

pub(super) fn modify_image_attribute(
    w: &mut World,
    c: &Call,
    rid: &str,
) -> Result<String, ApiError> {
    let id = p(c, "ImageId")?.to_string();
    let add = permission_changes(c, "Add");
    let remove = permission_changes(c, "Remove");
    let description = opt(c, "Description.Value").map(str::to_string);
    let img = owned_image(w, c, &id)?;
    if !add.is_empty()
        && img.encrypted
        && img.kms_key.as_deref().is_none_or(|k| k == "alias/aws/ebs")
    {
        return Err(ApiError::client(
            "InvalidParameter",
            "Snapshots encrypted with the AWS Managed CMK can't be shared. Specify another snapshot.",
        ));
    }
    // A request is applied whole or not at all: every item is checked before any is applied. (The
    // API reference does not say so; it is aws-sim's assumption, listed in docs/aws-sim.md.)
    if let Some(acct) = add
        .iter()
        .filter_map(|a| a.strip_prefix("user:"))
        .find(|acct| !(acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit())))
    {
        return Err(ApiError::client(
            "InvalidAMIAttributeItemValue",
            format!("Invalid attribute item value \"{acct}\" for userId item type."),
        ));
    }
    let mut after = img.launch_permissions.clone();
    after.extend(add);
    for r in &remove {
        after.remove(r);
    }
    // Quota: 1,000 sharing entities per AMI
    // (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/sharingamis-explicit.html).
    if after.len() > 1000 {
        return Err(ApiError::client(
            "InvalidParameterValue",
            "An image can be shared with at most 1000 entities",
        ));
    }
    img.launch_permissions = after;
    if let Some(dsc) = description {
        img.description = dsc;
    }
    Ok(ok_return("ModifyImageAttribute", rid))
}

pub(super) fn describe_image_attribute(
    w: &mut World,
    c: &Call,
    rid: &str,
) -> Result<String, ApiError> {
    let id = p(c, "ImageId")?.to_string();
    let attr = p(c, "Attribute")?.to_string();
    let img = owned_image(w, c, &id)?.clone();
    let mut x = Xml::response("DescribeImageAttribute", rid);
    x.text("imageId", &img.id);
    match attr.as_str() {
        "launchPermission" => {
            x.open("launchPermission");
            for perm in &img.launch_permissions {
                let (k, v) = perm.split_once(':').unwrap_or(("user", perm));
                let tag = match k {
                    "user" => "userId",
                    "group" => "group",
                    "org" => "organizationArn",
                    _ => "organizationalUnitArn",
                };
                x.open("item").text(tag, v).close("item");
            }
            x.close("launchPermission");
        }
        "description" => {
            x.open("description")
                .text("value", &img.description)
                .close("description");
        }
        other => {
            return Err(ApiError::client(
                "InvalidParameterValue",
                format!("aws-sim does not serve the image attribute {other}"),
            ));
        }
    }
    Ok(x.finish("DescribeImageAttribute"))
}

pub(super) fn enable_image_deprecation(
    w: &mut World,
    c: &Call,
    now: u64,
    rid: &str,
) -> Result<String, ApiError> {
    let id = p(c, "ImageId")?.to_string();
    let at = p(c, "DeprecateAt")?;
    let ms = parse_rfc3339(at).ok_or_else(|| {
        ApiError::client(
            "InvalidParameterValue",
            format!("DeprecateAt {at} is not a valid time"),
        )
    })?;
    // Minute precision: seconds are rounded down.
    let ms = ms - ms % 60_000;
    if ms + 60_000 < now {
        return Err(ApiError::client(
            "InvalidParameterValue",
            "The deprecation time cannot be in the past.",
        ));
    }
    if ms > now + 10 * 366 * 86_400_000 {
        return Err(ApiError::client(
            "InvalidParameterValue",
            "The deprecation time must be at most 10 years in the future.",
        ));
    }
    owned_image(w, c, &id)?.deprecation_ms = Some(ms);
    Ok(ok_return("EnableImageDeprecation", rid))
}

/// An image's `platformDetails` ("AMI billing information fields", EC2 User Guide): `Windows BYOL`
/// for a Windows image of a license the account brings.
pub(crate) fn platform_details(img: &Image) -> String {
    if img.platform == "Windows" && img.license_type == "BYOL" {
        "Windows BYOL".into()
    } else {
        img.platform.clone()
    }
}

/// An image's `usageOperation` (the same page): `RunInstances:0002` for license-included Windows,
/// `RunInstances:0800` for Windows BYOL, `RunInstances` for Linux/UNIX.
pub(crate) fn usage_operation(img: &Image) -> &'static str {
    match platform_details(img).as_str() {
        "Windows" => "RunInstances:0002",
        "Windows BYOL" => "RunInstances:0800",
        _ => "RunInstances",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(img: &Image) -> String {
        let mut x = Xml::response("DescribeImages", "r");
        image_xml(&mut x, img);
        x.finish("DescribeImages")
    }

    #[test]
    fn a_failed_image_says_why_when_aws_sim_knows() {
        let mut img = Image {
            id: "ami-1".into(),
            state: "failed".into(),
            fail_reason: Some("[sandbox] the machine's root filesystem was not made: `mmdebstrap` is not installed".into()),
            ..Image::default()
        };
        let xml = described(&img);
        let reason = "<stateReason><code>Server.InternalError</code><message>[sandbox] the machine";
        assert!(xml.contains(reason), "{xml}");
        assert!(
            xml.contains("`mmdebstrap` is not installed</message></stateReason>"),
            "{xml}"
        );
        img.state = "available".into();
        assert!(
            !described(&img).contains("stateReason"),
            "only a failed image has a reason"
        );
        img.state = "failed".into();
        img.fail_reason = None;
        assert!(
            !described(&img).contains("stateReason"),
            "no reason is made up"
        );
    }
}
