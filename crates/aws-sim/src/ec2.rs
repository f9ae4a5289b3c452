//! EC2 over ec2Query: images (create, copy, share, deprecate, deregister), instances, snapshots, tags.
//!
//! Fidelity notes are in docs/aws-sim.md. Public base images (Amazon Linux 2023, Amazon Linux 2,
//! Windows Server 2022) exist in every region, with the SSM public parameters that name them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::clock::{Durations, parse_rfc3339, rfc3339};
use crate::protocol::{Call, Output, Xml, filters, list, tag_specs};
use crate::world::World;

/// The account that owns the public Amazon images.
pub const AMAZON: &str = "137112412989";

/// A public base image every region has: SSM parameter path, name, platform.
pub const PUBLIC_IMAGES: &[(&str, &str, &str)] = &[
    (
        "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
        "al2023-ami-2023.6.20260101.0-kernel-6.1-x86_64",
        "Linux/UNIX",
    ),
    (
        "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
        "al2023-ami-2023.6.20260101.0-kernel-6.1-arm64",
        "Linux/UNIX",
    ),
    (
        "/aws/service/ami-amazon-linux-latest/amzn2-ami-hvm-x86_64-gp2",
        "amzn2-ami-hvm-2.0.20260101.0-x86_64-gp2",
        "Linux/UNIX",
    ),
    (
        "/aws/service/ami-windows-latest/Windows_Server-2022-English-Full-Base",
        "Windows_Server-2022-English-Full-Base-2026.01.01",
        "Windows",
    ),
    // The other supported Windows Server releases, each with the launch agent it ships
    // (`windows::launch_agent_files`): EC2Launch v2 on 2025, EC2Launch v1 on 2019 and 2016.
    (
        "/aws/service/ami-windows-latest/Windows_Server-2025-English-Full-Base",
        "Windows_Server-2025-English-Full-Base-2026.01.01",
        "Windows",
    ),
    (
        "/aws/service/ami-windows-latest/Windows_Server-2019-English-Full-Base",
        "Windows_Server-2019-English-Full-Base-2026.01.01",
        "Windows",
    ),
    (
        "/aws/service/ami-windows-latest/Windows_Server-2016-English-Full-Base",
        "Windows_Server-2016-English-Full-Base-2026.01.01",
        "Windows",
    ),
    // UEFI boot with NitroTPM 2.0, as the TPM-prefixed Windows AMIs are
    // (https://docs.aws.amazon.com/ec2/latest/windows-ami-reference/ami-windows-tpm.html).
    (
        "/aws/service/ami-windows-latest/TPM-Windows_Server-2022-English-Full-Base",
        "TPM-Windows_Server-2022-English-Full-Base-2026.01.01",
        "Windows",
    ),
];

/// The account that publishes Debian's official AMIs (Debian wiki, Cloud/AmazonEC2Image).
pub const DEBIAN: &str = "136693071363";

/// Debian's public AMIs in every region: the SSM parameter Debian publishes for each release
/// (`/aws/service/debian/release/<suite>/latest/<arch>`), and the image name.
pub const DEBIAN_IMAGES: &[(&str, &str)] = &[(
    "/aws/service/debian/release/bookworm/latest/amd64",
    "debian-12-amd64-20260101-2000",
)];

/// A third party's account that publishes a public AMI named like Amazon's, newer than Amazon's: the
/// AMI name-confusion pattern ("Understand AMI name confusion", EC2 User Guide). Anyone may publish
/// a public AMI under any free name; only `owners` in DescribeImages keeps it out.
pub const SQUATTER: &str = "666677778888";

/// The squatter's image: Amazon Linux 2023's name pattern, a later release.
pub const SQUATTER_IMAGE: &str = "al2023-ami-2023.9.20261201.0-kernel-6.1-x86_64";

/// An image.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Image {
    pub id: String,
    pub owner: String,
    pub region: String,
    pub name: String,
    pub description: String,
    /// pending, available, failed, deregistered.
    pub state: String,
    pub ready_at: u64,
    pub created_ms: u64,
    pub tags: BTreeMap<String, String>,
    /// `user:<id>`, `group:all`, `org:<arn>`, `ou:<arn>`.
    pub launch_permissions: BTreeSet<String>,
    pub snapshot_ids: Vec<String>,
    pub source_image: Option<String>,
    pub deprecation_ms: Option<u64>,
    pub encrypted: bool,
    pub kms_key: Option<String>,
    pub platform: String,
    /// `uefi` for UEFI boot with NitroTPM 2.0 (the TPM-prefixed public Windows AMIs and images made
    /// from them); empty for the legacy BIOS the other public AMIs boot with.
    pub boot_mode: String,
    pub public: bool,
    /// Injected: the image ends in `failed` instead of `available`.
    pub fail: bool,
    /// Sandbox machines: the root filesystem captured as a tarball (`machine.rs`).
    pub artifact: Option<String>,
    /// Sandbox machines: the artifact is being written (the image stays pending until it is).
    pub capturing: bool,
    /// Sandbox machines: the instance it is captured from.
    pub source_instance: Option<String>,
}

/// An instance.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Instance {
    pub id: String,
    pub owner: String,
    pub region: String,
    pub image_id: String,
    pub instance_type: String,
    /// pending, running, stopping, stopped, shutting-down, terminated.
    pub state: String,
    pub next_at: u64,
    pub launch_ms: u64,
    pub running_since: Option<u64>,
    pub tags: BTreeMap<String, String>,
    pub subnet_id: String,
    pub security_groups: Vec<String>,
    pub instance_profile: String,
    pub http_tokens: String,
    pub platform: String,
}

/// A snapshot.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Snapshot {
    pub id: String,
    pub owner: String,
    pub region: String,
    pub image_id: String,
    pub size_gib: u32,
    pub tags: BTreeMap<String, String>,
    pub create_volume_permissions: BTreeSet<String>,
    pub start_ms: u64,
}

/// EC2's state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Ec2 {
    pub images: BTreeMap<String, Image>,
    pub instances: BTreeMap<String, Instance>,
    pub snapshots: BTreeMap<String, Snapshot>,
    /// Idempotency: `account/region/op/token` → resource id.
    pub tokens: BTreeMap<String, String>,
    /// Regions whose public images exist.
    pub seeded: BTreeSet<String>,
    /// Launch templates by id.
    pub launch_templates: BTreeMap<String, LaunchTemplate>,
    /// Key pairs by id.
    pub key_pairs: BTreeMap<String, crate::ec2_access::KeyPair>,
    /// Security groups by id.
    pub security_groups: BTreeMap<String, crate::ec2_access::SecurityGroup>,
    /// Subnets of the account's network, by id.
    pub subnets: BTreeMap<String, crate::ec2_access::Subnet>,
    /// `account/region` pairs whose default VPC was deleted (DeleteVpc): every other account has
    /// one in every region, as accounts made since 2013 do.
    pub no_default_vpc: BTreeSet<String>,
    /// VPCs, gateways, route tables and endpoints made through the API (`ec2_net.rs`).
    pub net: crate::ec2_net::Net,
}

/// A launch template and its versions.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LaunchTemplate {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub region: String,
    pub created_ms: u64,
    pub default_version: u64,
    /// (version number, image id, instance type, description), oldest first.
    pub versions: Vec<(u64, String, String, String)>,
}

impl Ec2 {
    /// Advance pending phases.
    pub fn tick(&mut self, now: u64, d: &Durations) {
        for img in self.images.values_mut() {
            if img.state == "pending" && now >= img.ready_at && !img.capturing {
                img.state = if img.fail { "failed" } else { "available" }.into();
            }
        }
        for i in self.instances.values_mut() {
            if now < i.next_at {
                continue;
            }
            let next = match i.state.as_str() {
                "pending" => Some("running"),
                "stopping" => Some("stopped"),
                "shutting-down" => Some("terminated"),
                _ => None,
            };
            if let Some(n) = next {
                i.state = n.into();
                if n == "running" {
                    i.running_since = Some(i.next_at);
                }
            }
        }
        let _ = d;
    }

    /// Whether an image is visible to an account (owned, or shared with it or with everyone).
    pub fn visible(img: &Image, account: &str) -> bool {
        img.owner == account
            || img.launch_permissions.contains("group:all")
            || img.launch_permissions.contains(&format!("user:{account}"))
    }
}

/// Create the public base images (and their SSM parameters) of a region on first use.
pub(crate) fn ensure_public_images(w: &mut World, region: &str, now: u64) {
    if w.ec2.seeded.contains(region) {
        return;
    }
    w.ec2.seeded.insert(region.to_string());
    let debian = DEBIAN_IMAGES
        .iter()
        .map(|(p, n)| (DEBIAN, *p, *n, "Linux/UNIX"));
    let amazon = PUBLIC_IMAGES.iter().map(|(p, n, pl)| (AMAZON, *p, *n, *pl));
    let squatter = std::iter::once((SQUATTER, "", SQUATTER_IMAGE, "Linux/UNIX"));
    for (owner, param, name, platform) in amazon.chain(debian).chain(squatter) {
        let id = w.id("ami-", 17);
        let snap = w.id("snap-", 17);
        w.ec2.snapshots.insert(
            snap.clone(),
            Snapshot {
                id: snap.clone(),
                owner: owner.into(),
                region: region.into(),
                image_id: id.clone(),
                size_gib: 8,
                ..Default::default()
            },
        );
        w.ec2.images.insert(
            id.clone(),
            Image {
                id: id.clone(),
                owner: owner.into(),
                region: region.into(),
                name: name.into(),
                description: format!(
                    "{name} provided by {}",
                    match owner {
                        AMAZON => "Amazon",
                        DEBIAN => "Debian",
                        _ => "a third party",
                    }
                ),
                state: "available".into(),
                // The squatter's is the newest match of Amazon's name pattern.
                created_ms: if owner == SQUATTER { now + 1_000 } else { now },
                launch_permissions: BTreeSet::from(["group:all".to_string()]),
                snapshot_ids: vec![snap],
                platform: platform.into(),
                boot_mode: if name.starts_with("TPM-") { "uefi" } else { "" }.into(),
                public: true,
                ..Default::default()
            },
        );
        if !param.is_empty() {
            w.ssm.put_public(region, param, &id, now);
        }
    }
}

fn not_found(kind: &str, id: &str) -> ApiError {
    ApiError::client(
        &format!("Invalid{kind}ID.NotFound"),
        format!("The {} ID '{id}' does not exist", kind.to_lowercase()),
    )
}

fn p<'a>(c: &'a Call, name: &str) -> Result<&'a str, ApiError> {
    c.params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::missing(name))
}

fn opt<'a>(c: &'a Call, name: &str) -> Option<&'a str> {
    c.params.get(name).map(String::as_str)
}

fn idempotent(w: &World, c: &Call, op: &str) -> Option<String> {
    let token = opt(c, "ClientToken")?;
    w.ec2
        .tokens
        .get(&format!("{}/{}/{op}/{token}", c.account, c.region))
        .cloned()
}

fn remember(w: &mut World, c: &Call, op: &str, id: &str) {
    if let Some(token) = opt(c, "ClientToken") {
        w.ec2.tokens.insert(
            format!("{}/{}/{op}/{token}", c.account, c.region),
            id.to_string(),
        );
    }
}

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

/// EC2 filter wildcards: `*` matches any run of characters, `?` any one character.
fn wildcard(value: &str, pattern: &str) -> bool {
    let (v, p): (Vec<char>, Vec<char>) = (value.chars().collect(), pattern.chars().collect());
    // Greedy matching with backtracking to the last `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < v.len() {
        if j < p.len() && (p[j] == '?' || p[j] == v[i]) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == '*' {
            star = Some((j, i));
            j += 1;
        } else if let Some((sj, si)) = star {
            j = sj + 1;
            i = si + 1;
            star = Some((sj, si + 1));
        } else {
            return false;
        }
    }
    p[j..].iter().all(|c| *c == '*')
}

fn matches_filters(
    tags: &BTreeMap<String, String>,
    fields: &[(&str, &str)],
    fs: &[(String, Vec<String>)],
) -> bool {
    fs.iter().all(|(name, values)| {
        let glob = |v: &str, pat: &str| wildcard(v, pat);
        if let Some(k) = name.strip_prefix("tag:") {
            return tags
                .get(k)
                .is_some_and(|v| values.iter().any(|p| glob(v, p)));
        }
        if name == "tag-key" {
            return values.iter().any(|k| tags.contains_key(k));
        }
        match fields.iter().find(|(f, _)| f == name) {
            Some((_, v)) => values.iter().any(|p| glob(v, p)),
            None => true,
        }
    })
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
        .text("platformDetails", &img.platform);
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
    if !img.tags.is_empty() {
        x.tags(&img.tags);
    }
    x.close("item");
}

fn instance_state_code(state: &str) -> &'static str {
    match state {
        "pending" => "0",
        "running" => "16",
        "shutting-down" => "32",
        "terminated" => "48",
        "stopping" => "64",
        _ => "80",
    }
}

fn instance_xml(x: &mut Xml, i: &Instance) {
    x.open("item")
        .text("instanceId", &i.id)
        .text("imageId", &i.image_id)
        .open("instanceState")
        .text("code", instance_state_code(&i.state))
        .text("name", &i.state)
        .close("instanceState")
        .text("instanceType", &i.instance_type)
        .text("launchTime", &rfc3339(i.launch_ms))
        .open("placement")
        .text("availabilityZone", &format!("{}a", i.region))
        .close("placement")
        .text("subnetId", &i.subnet_id)
        .text("architecture", "x86_64")
        .text("rootDeviceType", "ebs")
        .text("rootDeviceName", "/dev/xvda");
    if i.platform == "Windows" {
        x.text("platform", "windows");
    }
    if !i.instance_profile.is_empty() {
        x.open("iamInstanceProfile")
            .text(
                "arn",
                &format!(
                    "arn:aws:iam::{}:instance-profile/{}",
                    i.owner, i.instance_profile
                ),
            )
            .close("iamInstanceProfile");
    }
    x.open("metadataOptions")
        .text("state", "applied")
        .text("httpTokens", &i.http_tokens)
        .text("httpEndpoint", "enabled")
        .close("metadataOptions");
    x.open("groupSet");
    for g in &i.security_groups {
        x.open("item").text("groupId", g).close("item");
    }
    x.close("groupSet");
    if !i.tags.is_empty() {
        x.tags(&i.tags);
    }
    x.close("item");
}

/// Handle one EC2 call.
pub fn handle(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
    rid: &str,
) -> Result<Output, ApiError> {
    let op = c.op.as_str();
    let xml = match op {
        "DescribeImages" => describe_images(w, c, rid),
        "CreateImage" => create_image(w, c, now, d, rid)?,
        "CopyImage" => copy_image(w, c, now, d, rid)?,
        "DeregisterImage" => deregister_image(w, c, rid)?,
        "ModifyImageAttribute" => modify_image_attribute(w, c, rid)?,
        "DescribeImageAttribute" => describe_image_attribute(w, c, rid)?,
        "EnableImageDeprecation" => enable_image_deprecation(w, c, now, rid)?,
        "DisableImageDeprecation" => {
            let img = owned_image(w, c, p(c, "ImageId")?)?;
            img.deprecation_ms = None;
            ok_return(op, rid)
        }
        "RunInstances" => run_instances(w, c, now, d, rid)?,
        "DescribeInstances" => describe_instances(w, c, rid),
        "StopInstances" | "StartInstances" | "TerminateInstances" => {
            change_instances(w, c, now, d, rid)?
        }
        "CreateTags" | "DeleteTags" => tags(w, c, rid)?,
        "DescribeSnapshots" => describe_snapshots(w, c, rid),
        "DeleteSnapshot" => delete_snapshot(w, c, rid)?,
        "ModifySnapshotAttribute" => modify_snapshot_attribute(w, c, rid)?,
        "DescribeSnapshotAttribute" => describe_snapshot_attribute(w, c, rid)?,
        "DescribeRegions" => describe_regions(rid),
        "DescribeInstanceTypes" => crate::quotas::describe_instance_types(c, rid),
        "CreateLaunchTemplate"
        | "CreateLaunchTemplateVersion"
        | "ModifyLaunchTemplate"
        | "DescribeLaunchTemplates"
        | "DescribeLaunchTemplateVersions" => launch_templates(w, c, now, rid)?,
        _ => match crate::ec2_access::handle(w, c, rid)
            .or_else(|| crate::ec2_net::handle(w, c, rid))
        {
            Some(xml) => xml?,
            None => return Err(ApiError::unsupported("ec2", op)),
        },
    };
    Ok(Output::Xml(xml))
}

fn ok_return(op: &str, rid: &str) -> String {
    let mut x = Xml::response(op, rid);
    x.text("return", "true");
    x.finish(op)
}

fn owned_image<'a>(w: &'a mut World, c: &Call, id: &str) -> Result<&'a mut Image, ApiError> {
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

fn describe_images(w: &World, c: &Call, rid: &str) -> String {
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

fn create_image(
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
    let (platform, boot_mode) = w
        .ec2
        .images
        .get(&inst.image_id)
        .map_or(("Linux/UNIX".to_string(), String::new()), |i| {
            (i.platform.clone(), i.boot_mode.clone())
        });
    let image = Image {
        name,
        tags: tag_specs(&c.params, "image"),
        source_image: Some(inst.image_id.clone()),
        platform,
        boot_mode,
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

fn copy_image(
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

fn deregister_image(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
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

fn modify_image_attribute(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
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

fn describe_image_attribute(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
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

fn enable_image_deprecation(
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

fn run_instances(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
    rid: &str,
) -> Result<String, ApiError> {
    let reservation = w.id("r-", 17);
    let ids: Vec<String> = match idempotent(w, c, "RunInstances") {
        Some(ids) => ids.split(',').map(str::to_string).collect(),
        None => {
            // With no subnet, EC2 launches into the default VPC; an account without one is refused
            // (API_RunInstances: "If you don't specify a subnet ID, we choose a default subnet from
            // your default VPC"; error `VPCIdNotSpecified`).
            let subnet = c
                .params
                .get("SubnetId")
                .or_else(|| c.params.get("NetworkInterface.1.SubnetId"));
            if subnet.is_none() && !crate::ec2_access::has_default_vpc(w, &c.account, &c.region) {
                return Err(ApiError::client(
                    "VPCIdNotSpecified",
                    "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.",
                ));
            }
            let mut image_id = p(c, "ImageId")?.to_string();
            if let Some(param) = image_id.strip_prefix("resolve:ssm:") {
                image_id = w.ssm.resolve(&c.account, &c.region, param).ok_or_else(|| {
                    ApiError::client(
                        "InvalidParameterValue",
                        format!("SSM parameter {param} does not exist"),
                    )
                })?;
            }
            let img = w
                .ec2
                .images
                .get(&image_id)
                .filter(|i| {
                    i.region == c.region && i.state != "deregistered" && Ec2::visible(i, &c.account)
                })
                .cloned()
                .ok_or_else(|| not_found("AMI", &image_id))?;
            // A named key pair must exist (API_RunInstances.html, KeyName).
            if let Some(key) = opt(c, "KeyName")
                && !crate::ec2_access::key_exists(w, c, key)
            {
                return Err(ApiError::client(
                    "InvalidKeyPair.NotFound",
                    format!("The key pair '{key}' does not exist"),
                ));
            }
            if img.state != "available" {
                return Err(ApiError::client(
                    "InvalidAMIID.Unavailable",
                    format!(
                        "The image id '[{image_id}]' is not available ({})",
                        img.state
                    ),
                ));
            }
            let count: usize = opt(c, "MinCount")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1)
                .max(1);
            let instance_type = opt(c, "InstanceType").unwrap_or("m1.small");
            crate::quotas::check_launch(w, c, instance_type, count as u64)?;
            let sgs = list(&c.params, "SecurityGroupId");
            let profile = opt(c, "IamInstanceProfile.Name")
                .map(str::to_string)
                .or_else(|| {
                    opt(c, "IamInstanceProfile.Arn")
                        .and_then(|a| a.rsplit('/').next())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            let mut ids = Vec::new();
            for _ in 0..count {
                let id = w.id("i-", 17);
                w.ec2.instances.insert(
                    id.clone(),
                    Instance {
                        id: id.clone(),
                        owner: c.account.clone(),
                        region: c.region.clone(),
                        image_id: image_id.clone(),
                        instance_type: opt(c, "InstanceType").unwrap_or("m1.small").into(),
                        state: "pending".into(),
                        next_at: now + d.instance_start_ms,
                        launch_ms: now,
                        tags: tag_specs(&c.params, "instance"),
                        subnet_id: opt(c, "SubnetId").unwrap_or("subnet-00000000").into(),
                        security_groups: sgs.clone(),
                        instance_profile: profile.clone(),
                        http_tokens: opt(c, "MetadataOptions.HttpTokens")
                            .unwrap_or("optional")
                            .into(),
                        platform: img.platform.clone(),
                        ..Default::default()
                    },
                );
                crate::machine::attach(w, &id, &img);
                ids.push(id);
            }
            remember(w, c, "RunInstances", &ids.join(","));
            ids
        }
    };
    let mut x = Xml::response("RunInstances", rid);
    x.text("reservationId", &reservation)
        .text("ownerId", &c.account)
        .open("instancesSet");
    for id in &ids {
        if let Some(i) = w.ec2.instances.get(id) {
            instance_xml(&mut x, i);
        }
    }
    x.close("instancesSet");
    Ok(x.finish("RunInstances"))
}

fn describe_instances(w: &World, c: &Call, rid: &str) -> String {
    let ids = list(&c.params, "InstanceId");
    let fs = filters(&c.params);
    let mut x = Xml::response("DescribeInstances", rid);
    x.open("reservationSet");
    for i in w.ec2.instances.values() {
        if i.region != c.region || i.owner != c.account || (!ids.is_empty() && !ids.contains(&i.id))
        {
            continue;
        }
        let fields = [
            ("instance-state-name", i.state.as_str()),
            ("instance-id", i.id.as_str()),
            ("image-id", i.image_id.as_str()),
        ];
        if !matches_filters(&i.tags, &fields, &fs) {
            continue;
        }
        x.open("item")
            .text("reservationId", &format!("r-{}", &i.id[2..]))
            .text("ownerId", &i.owner)
            .open("instancesSet");
        instance_xml(&mut x, i);
        x.close("instancesSet").close("item");
    }
    x.close("reservationSet");
    x.finish("DescribeInstances")
}

fn change_instances(
    w: &mut World,
    c: &Call,
    now: u64,
    d: &Durations,
    rid: &str,
) -> Result<String, ApiError> {
    let ids = list(&c.params, "InstanceId");
    if ids.is_empty() {
        return Err(ApiError::missing("InstanceId"));
    }
    for id in &ids {
        if !w
            .ec2
            .instances
            .get(id)
            .is_some_and(|i| i.region == c.region && i.owner == c.account)
        {
            return Err(not_found("Instance", id));
        }
    }
    let (set, target, wait) = match c.op.as_str() {
        "StopInstances" => ("stoppingInstances", "stopping", d.instance_stop_ms),
        "StartInstances" => ("startingInstances", "pending", d.instance_start_ms),
        _ => ("terminatingInstances", "shutting-down", d.instance_stop_ms),
    };
    let mut x = Xml::response(&c.op, rid);
    x.open(set);
    for id in &ids {
        let i = w.ec2.instances.get_mut(id).expect("checked above");
        let previous = i.state.clone();
        let settled = matches!(
            (c.op.as_str(), previous.as_str()),
            ("StopInstances", "stopped" | "terminated")
                | ("StartInstances", "running")
                | ("TerminateInstances", "terminated")
        );
        if c.op == "StartInstances" && previous == "terminated" {
            return Err(ApiError::client(
                "IncorrectInstanceState",
                format!("The instance '{id}' is not in a state from which it can be started."),
            ));
        }
        if !settled {
            i.state = target.into();
            i.next_at = now + wait;
            i.running_since = None;
            if c.op == "StartInstances" && w.machines.contains_key(id) {
                w.jobs.push(crate::machine::Job::Boot {
                    instance: id.clone(),
                });
            }
            if target == "shutting-down" && w.machines.contains_key(id) {
                w.jobs.push(crate::machine::Job::Remove {
                    instance: id.clone(),
                });
            }
        }
        x.open("item")
            .text("instanceId", id)
            .open("currentState")
            .text("code", instance_state_code(&i.state))
            .text("name", &i.state)
            .close("currentState")
            .open("previousState")
            .text("code", instance_state_code(&previous))
            .text("name", &previous)
            .close("previousState")
            .close("item");
    }
    x.close(set);
    Ok(x.finish(&c.op))
}

fn tags(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let resources = list(&c.params, "ResourceId");
    let mut pairs = Vec::new();
    for i in 1.. {
        let Some(k) = c.params.get(&format!("Tag.{i}.Key")) else {
            break;
        };
        pairs.push((k.clone(), c.params.get(&format!("Tag.{i}.Value")).cloned()));
    }
    let delete = c.op == "DeleteTags";
    for r in &resources {
        let tags = if r.starts_with("ami-") {
            w.ec2
                .images
                .get_mut(r)
                .filter(|i| i.owner == c.account && i.region == c.region)
                .map(|i| &mut i.tags)
        } else if r.starts_with("i-") {
            w.ec2
                .instances
                .get_mut(r)
                .filter(|i| i.owner == c.account && i.region == c.region)
                .map(|i| &mut i.tags)
        } else if r.starts_with("snap-") {
            w.ec2
                .snapshots
                .get_mut(r)
                .filter(|i| i.owner == c.account && i.region == c.region)
                .map(|i| &mut i.tags)
        } else {
            None
        };
        let Some(tags) = tags else {
            let kind = if r.starts_with("ami-") {
                "AMI"
            } else if r.starts_with("i-") {
                "Instance"
            } else {
                "Snapshot"
            };
            return Err(not_found(kind, r));
        };
        for (k, v) in &pairs {
            if delete {
                tags.remove(k);
            } else {
                if k.to_ascii_lowercase().starts_with("aws:") {
                    return Err(ApiError::client(
                        "InvalidParameterValue",
                        "Tag keys starting with 'aws:' are reserved for internal use",
                    ));
                }
                tags.insert(k.clone(), v.clone().unwrap_or_default());
            }
        }
        if !delete && tags.len() > 50 {
            return Err(ApiError::client(
                "TagLimitExceeded",
                "a resource can have at most 50 tags",
            ));
        }
    }
    Ok(ok_return(&c.op, rid))
}

fn describe_snapshots(w: &World, c: &Call, rid: &str) -> String {
    let ids = list(&c.params, "SnapshotId");
    let owners = list(&c.params, "Owner");
    let fs = filters(&c.params);
    let mut x = Xml::response("DescribeSnapshots", rid);
    x.open("snapshotSet");
    for s in w.ec2.snapshots.values() {
        let visible = s.owner == c.account
            || s.create_volume_permissions.contains(&c.account)
            || s.create_volume_permissions.contains("all");
        if s.region != c.region || !visible || (!ids.is_empty() && !ids.contains(&s.id)) {
            continue;
        }
        if !owners.is_empty()
            && !owners
                .iter()
                .any(|o| o == &s.owner || (o == "self" && s.owner == c.account))
        {
            continue;
        }
        if !matches_filters(&s.tags, &[("snapshot-id", s.id.as_str())], &fs) {
            continue;
        }
        x.open("item")
            .text("snapshotId", &s.id)
            .text("volumeId", "vol-ffffffff")
            .text("status", "completed")
            .text("startTime", &rfc3339(s.start_ms))
            .text("progress", "100%")
            .text("ownerId", &s.owner)
            .text("volumeSize", &s.size_gib.to_string())
            .text(
                "description",
                &format!("Created by CreateImage for {}", s.image_id),
            )
            .text("encrypted", "false");
        if !s.tags.is_empty() {
            x.tags(&s.tags);
        }
        x.close("item");
    }
    x.close("snapshotSet");
    x.finish("DescribeSnapshots")
}

fn delete_snapshot(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let id = p(c, "SnapshotId")?.to_string();
    if !w
        .ec2
        .snapshots
        .get(&id)
        .is_some_and(|s| s.owner == c.account && s.region == c.region)
    {
        return Err(not_found("Snapshot", &id));
    }
    if let Some(img) = w
        .ec2
        .images
        .values()
        .find(|i| i.state != "deregistered" && i.snapshot_ids.contains(&id))
    {
        return Err(ApiError::client(
            "InvalidSnapshot.InUse",
            format!("The snapshot {id} is currently in use by {}", img.id),
        ));
    }
    w.ec2.snapshots.remove(&id);
    Ok(ok_return("DeleteSnapshot", rid))
}

fn modify_snapshot_attribute(w: &mut World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let id = p(c, "SnapshotId")?.to_string();
    let s = w
        .ec2
        .snapshots
        .get_mut(&id)
        .filter(|s| s.owner == c.account && s.region == c.region)
        .ok_or_else(|| not_found("Snapshot", &id))?;
    for i in 1.. {
        let add = c
            .params
            .get(&format!("CreateVolumePermission.Add.{i}.UserId"));
        let remove = c
            .params
            .get(&format!("CreateVolumePermission.Remove.{i}.UserId"));
        if add.is_none() && remove.is_none() {
            break;
        }
        if let Some(a) = add {
            s.create_volume_permissions.insert(a.clone());
        }
        if let Some(r) = remove {
            s.create_volume_permissions.remove(r);
        }
    }
    for u in list(&c.params, "UserId") {
        if opt(c, "OperationType") == Some("remove") {
            s.create_volume_permissions.remove(&u);
        } else {
            s.create_volume_permissions.insert(u);
        }
    }
    Ok(ok_return("ModifySnapshotAttribute", rid))
}

fn describe_snapshot_attribute(w: &World, c: &Call, rid: &str) -> Result<String, ApiError> {
    let id = p(c, "SnapshotId")?;
    let s = w
        .ec2
        .snapshots
        .get(id)
        .filter(|s| s.owner == c.account && s.region == c.region)
        .ok_or_else(|| not_found("Snapshot", id))?;
    if p(c, "Attribute")? != "createVolumePermission" {
        return Err(ApiError::client(
            "InvalidParameterValue",
            "aws-sim describes only the createVolumePermission attribute of snapshots",
        ));
    }
    let mut x = Xml::response("DescribeSnapshotAttribute", rid);
    x.text("snapshotId", id).open("createVolumePermission");
    for u in &s.create_volume_permissions {
        x.open("item").text("userId", u).close("item");
    }
    x.close("createVolumePermission");
    Ok(x.finish("DescribeSnapshotAttribute"))
}

fn describe_regions(rid: &str) -> String {
    let mut x = Xml::response("DescribeRegions", rid);
    x.open("regionInfo");
    for r in [
        "us-east-1",
        "us-east-2",
        "us-west-2",
        "eu-west-1",
        "eu-west-2",
        "eu-central-1",
        "ap-northeast-1",
        "ap-southeast-2",
    ] {
        x.open("item")
            .text("regionName", r)
            .text("regionEndpoint", &format!("ec2.{r}.amazonaws.com"))
            .text("optInStatus", "opt-in-not-required")
            .close("item");
    }
    x.close("regionInfo");
    x.finish("DescribeRegions")
}

fn template_xml(x: &mut Xml, t: &LaunchTemplate) {
    x.text("launchTemplateId", &t.id)
        .text("launchTemplateName", &t.name)
        .text("createTime", &rfc3339(t.created_ms))
        .text("createdBy", &format!("arn:aws:iam::{}:root", t.owner))
        .text("defaultVersionNumber", &t.default_version.to_string())
        .text(
            "latestVersionNumber",
            &t.versions.last().map_or(0, |v| v.0).to_string(),
        );
}

fn version_xml(x: &mut Xml, t: &LaunchTemplate, v: &(u64, String, String, String)) {
    x.text("launchTemplateId", &t.id)
        .text("launchTemplateName", &t.name)
        .text("versionNumber", &v.0.to_string())
        .text("versionDescription", &v.3)
        .text("createTime", &rfc3339(t.created_ms))
        .text(
            "defaultVersion",
            if v.0 == t.default_version {
                "true"
            } else {
                "false"
            },
        )
        .open("launchTemplateData")
        .text("imageId", &v.1)
        .text("instanceType", &v.2)
        .close("launchTemplateData");
}

/// Launch templates: create, add versions, set the default, describe.
fn launch_templates(w: &mut World, c: &Call, now: u64, rid: &str) -> Result<String, ApiError> {
    let op = c.op.as_str();
    let by_name = |w: &World, name: &str| {
        w.ec2
            .launch_templates
            .values()
            .find(|t| t.owner == c.account && t.region == c.region && t.name == name)
            .map(|t| t.id.clone())
    };
    let find = |w: &World| -> Result<String, ApiError> {
        if let Some(id) = opt(c, "LaunchTemplateId") {
            return w
                .ec2
                .launch_templates
                .get(id)
                .filter(|t| t.owner == c.account && t.region == c.region)
                .map(|t| t.id.clone())
                .ok_or_else(|| {
                    ApiError::client(
                        "InvalidLaunchTemplateId.NotFound",
                        format!(
                            "The specified launch template, with template ID {id}, does not exist."
                        ),
                    )
                });
        }
        let name = p(c, "LaunchTemplateName")?;
        by_name(w, name).ok_or_else(|| {
            ApiError::client(
                "InvalidLaunchTemplateName.NotFoundException",
                format!(
                    "The specified launch template, with template name {name}, does not exist."
                ),
            )
        })
    };
    let data = |c: &Call| {
        (
            opt(c, "LaunchTemplateData.ImageId")
                .unwrap_or_default()
                .to_string(),
            opt(c, "LaunchTemplateData.InstanceType")
                .unwrap_or_default()
                .to_string(),
        )
    };
    let mut x = Xml::response(op, rid);
    match op {
        // A ClientToken makes both creates idempotent: the same token answers with what the first
        // call made. https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplate.html
        // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplateVersion.html
        "CreateLaunchTemplate" if idempotent(w, c, op).is_some() => {
            let id = idempotent(w, c, op).expect("checked");
            let t = w.ec2.launch_templates.get(&id).ok_or_else(|| {
                ApiError::client(
                    "IdempotentParameterMismatch",
                    "the token's template is gone",
                )
            })?;
            x.open("launchTemplate");
            template_xml(&mut x, t);
            x.close("launchTemplate");
        }
        "CreateLaunchTemplateVersion" if idempotent(w, c, op).is_some() => {
            let made = idempotent(w, c, op).expect("checked");
            let (id, n) = made.split_once(':').unwrap_or_default();
            let t = w.ec2.launch_templates.get(id);
            let v = t.and_then(|t| t.versions.iter().find(|v| v.0.to_string() == n));
            let (Some(t), Some(v)) = (t, v) else {
                return Err(ApiError::client(
                    "IdempotentParameterMismatch",
                    "the token's version is gone",
                ));
            };
            x.open("launchTemplateVersion");
            version_xml(&mut x, t, v);
            x.close("launchTemplateVersion");
        }
        "CreateLaunchTemplate" => {
            let name = p(c, "LaunchTemplateName")?.to_string();
            if by_name(w, &name).is_some() {
                return Err(ApiError::client(
                    "InvalidLaunchTemplateName.AlreadyExistsException",
                    format!("Launch template name already in use: {name}"),
                ));
            }
            let (image, itype) = data(c);
            let id = w.id("lt-", 17);
            let t = LaunchTemplate {
                id: id.clone(),
                name,
                owner: c.account.clone(),
                region: c.region.clone(),
                created_ms: now,
                default_version: 1,
                versions: vec![(
                    1,
                    image,
                    itype,
                    opt(c, "VersionDescription").unwrap_or_default().to_string(),
                )],
            };
            x.open("launchTemplate");
            template_xml(&mut x, &t);
            x.close("launchTemplate");
            remember(w, c, op, &id);
            w.ec2.launch_templates.insert(id, t);
        }
        "CreateLaunchTemplateVersion" => {
            let id = find(w)?;
            let (image, itype) = data(c);
            let t = w.ec2.launch_templates.get_mut(&id).expect("found above");
            let source = match opt(c, "SourceVersion") {
                Some("$Default") | None => t.default_version,
                Some("$Latest") => t.versions.last().map_or(1, |v| v.0),
                Some(n) => n.parse().unwrap_or(t.default_version),
            };
            let base = t
                .versions
                .iter()
                .find(|v| v.0 == source)
                .cloned()
                .unwrap_or_default();
            let number = t.versions.last().map_or(1, |v| v.0 + 1);
            let v = (
                number,
                if image.is_empty() { base.1 } else { image },
                if itype.is_empty() { base.2 } else { itype },
                opt(c, "VersionDescription").unwrap_or_default().to_string(),
            );
            t.versions.push(v.clone());
            x.open("launchTemplateVersion");
            version_xml(&mut x, t, &v);
            x.close("launchTemplateVersion");
            remember(w, c, op, &format!("{id}:{number}"));
        }
        "ModifyLaunchTemplate" => {
            let id = find(w)?;
            let t = w.ec2.launch_templates.get_mut(&id).expect("found above");
            if let Some(v) = opt(c, "SetDefaultVersion") {
                let n: u64 = v.parse().map_err(|_| {
                    ApiError::client(
                        "InvalidLaunchTemplateVersion",
                        format!("version {v} is not a number"),
                    )
                })?;
                if !t.versions.iter().any(|x| x.0 == n) {
                    return Err(ApiError::client(
                        "InvalidLaunchTemplateId.VersionNotFound",
                        format!("Could not find launch template version {n}"),
                    ));
                }
                t.default_version = n;
            }
            x.open("launchTemplate");
            template_xml(&mut x, t);
            x.close("launchTemplate");
        }
        "DescribeLaunchTemplates" => {
            let names = list(&c.params, "LaunchTemplateName");
            x.open("launchTemplates");
            for t in w.ec2.launch_templates.values().filter(|t| {
                t.owner == c.account
                    && t.region == c.region
                    && (names.is_empty() || names.contains(&t.name))
            }) {
                x.open("item");
                template_xml(&mut x, t);
                x.close("item");
            }
            x.close("launchTemplates");
        }
        _ => {
            let wanted = list(&c.params, "LaunchTemplateVersion");
            // Without a template, AWS describes the $Latest and/or $Default version of every template.
            let whole_account =
                opt(c, "LaunchTemplateId").is_none() && opt(c, "LaunchTemplateName").is_none();
            let ids: Vec<String> = if whole_account {
                if wanted.is_empty() || wanted.iter().any(|v| v != "$Latest" && v != "$Default") {
                    return Err(ApiError::client(
                        "InvalidParameterCombination",
                        "Without a launch template id or name, only the $Latest and $Default versions can be described.",
                    ));
                }
                w.ec2
                    .launch_templates
                    .iter()
                    .filter(|(_, t)| t.owner == c.account && t.region == c.region)
                    .map(|(id, _)| id.clone())
                    .collect()
            } else {
                vec![find(w)?]
            };
            x.open("launchTemplateVersionSet");
            for id in ids {
                let t = &w.ec2.launch_templates[&id];
                for v in &t.versions {
                    let keep = wanted.is_empty()
                        || wanted.iter().any(|w| {
                            w == &v.0.to_string()
                                || (w == "$Default" && v.0 == t.default_version)
                                || (w == "$Latest" && Some(v.0) == t.versions.last().map(|l| l.0))
                        });
                    if keep {
                        x.open("item");
                        version_xml(&mut x, t, v);
                        x.close("item");
                    }
                }
            }
            x.close("launchTemplateVersionSet");
        }
    }
    Ok(x.finish(op))
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn filter_wildcards_match_anywhere() {
        assert!(wildcard(
            "al2023-ami-2023.6.2-kernel-6.1-x86_64",
            "al2023-ami-*-x86_64"
        ));
        assert!(wildcard(
            "al2023-ami-2023.6.2-kernel-6.1-x86_64",
            "al2023-*"
        ));
        assert!(wildcard("abc", "a?c"));
        assert!(wildcard("abc", "*"));
        assert!(wildcard("", "*"));
        assert!(!wildcard("al2023-ami-2023-arm64", "al2023-ami-*-x86_64"));
        assert!(!wildcard("abc", "a?"));
        assert!(!wildcard("abcd", "abc"));
        assert!(wildcard("a*b", "a*b"));
    }
}
