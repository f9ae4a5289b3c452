//! EC2 over ec2Query: images (create, copy, share, deprecate, deregister), instances, snapshots, tags.
//!
//! [`handle`] routes each operation: [`images`], [`instances`], [`snapshots`] and [`templates`] hold
//! one resource each; the VPC, subnets and security groups are in `ec2_access`, what decides whether
//! a subnet reaches Systems Manager in `ec2_net`. Tags, regions and the shared lookups live here.
//!
//! Fidelity notes are in docs/aws-sim.md. Public base images (Amazon Linux 2023, Amazon Linux 2,
//! Windows Server 2022) exist in every region, with the SSM public parameters that name them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::clock::{Durations, parse_rfc3339, rfc3339};
use crate::protocol::{Call, Output, Req, Xml, filters, list, tag_specs};
use crate::world::World;

mod images;
pub(crate) mod import;
pub(crate) use images::platform_details;
mod instances;
mod snapshots;
mod templates;

use images::{
    copy_image, create_image, deregister_image, describe_image_attribute, describe_images,
    enable_image_deprecation, modify_image_attribute, owned_image,
};
use instances::{change_instances, describe_instances, run_instances};
use snapshots::{
    delete_snapshot, describe_snapshot_attribute, describe_snapshots, modify_snapshot_attribute,
};
use templates::launch_templates;

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
    /// `BYOL` for an image VM Import made with a license the account brings (`ec2/import.rs`), and
    /// every image made or copied from it; empty for the license-included and Linux images. EC2
    /// keeps an AMI's billing information through CreateImage and CopyImage ("Understand AMI
    /// billing information", EC2 User Guide).
    pub license_type: String,
    /// The operating system VM Import found on the disk (`Windows 10`, …); empty otherwise.
    pub guest_os: String,
    /// `uefi` for UEFI boot with NitroTPM 2.0 (the TPM-prefixed public Windows AMIs and images made
    /// from them); empty for the legacy BIOS the other public AMIs boot with.
    pub boot_mode: String,
    pub public: bool,
    /// Injected: the image ends in `failed` instead of `available`.
    pub fail: bool,
    /// Why it fails, when aws-sim knows (a sandbox machine whose root could not be captured): its
    /// `stateReason` message.
    pub fail_reason: Option<String>,
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
    /// VM Import's image import tasks by id (`import.rs`).
    pub import_tasks: BTreeMap<String, import::ImportTask>,
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

/// Handle one EC2 call.
pub fn handle(w: &mut World, r: &Req<'_>) -> Result<Output, ApiError> {
    let (c, now, d, rid) = (r.call, r.now, r.durations, r.request_id);
    let op = c.op.as_str();
    let xml = match op {
        "DescribeImages" => describe_images(w, c, rid),
        "ImportImage" => import::import_image(w, c, now, d.vm_import_ms, rid)?,
        "DescribeImportImageTasks" => import::describe_import_image_tasks(w, c, rid),
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
