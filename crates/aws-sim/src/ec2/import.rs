//! VM Import/Export's image import: how an account gets a Windows 10 or 11 AMI of its own licence,
//! the only source of a BYOL image WorkSpaces imports ("Bring Your Own Windows desktop licenses",
//! WorkSpaces Administration Guide, step 4: "Import the VM as an image into Amazon EC2").
//!
//! - ImportImage (API_ImportImage.html) takes one disk (`DiskContainer.1`) from S3 (`UserBucket`, or
//!   an `s3://` `Url`) in a format of OVA, VHD, VHDX, VMDK or RAW (API_ImageDiskContainer.html). The
//!   service reads it through a service role, `vmimport` unless `RoleName` names another, that
//!   trusts `vmie.amazonaws.com` ("Required service role", VM Import/Export User Guide); without it
//!   the call is refused: "The service role vmimport provided does not exist or does not have
//!   sufficient permissions" (InvalidParameter).
//! - The task is `active` (`pending`, then converting) and ends `completed` with an `imageId`, or
//!   `deleted` with the reason in `statusMessage` (DescribeImportImageTasks,
//!   API_ImportImageTask.html). A disk whose operating system cannot be found ends
//!   `ClientError: Unknown OS / Missing OS files.` ("Troubleshooting VM Import/Export").
//! - Licensing ("Licensing options", VM Import/Export User Guide): Windows client systems (10, 11)
//!   import only with `BYOL`; `LicenseType` unset picks BYOL for them and AWS for Windows Server.
//!   The AMI's billing fields follow (`Windows BYOL`, `RunInstances:0800`).
//! - Import installs the Systems Manager agent on the VM ("Programmatic modifications made to VMs
//!   by VM Import/Export"); it installs no EC2 launch agent on a Windows client system.
//!
//! What aws-sim cannot know, and models instead: the operating system on a disk. It reads it from a
//! line `aws-sim-guest-os: <system>` in the object (for example `Windows 10 Enterprise 22H2`); a
//! disk without one has no operating system it can find. Whether a missing S3 object fails the call
//! or the task is not documented: aws-sim refuses the call (InvalidParameter).

use serde::{Deserialize, Serialize};

use super::{Image, Snapshot, opt, tag_specs};
use crate::ApiError;
use crate::protocol::{Call, Xml, list};
use crate::world::World;

/// An import image task.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportTask {
    pub id: String,
    pub owner: String,
    pub region: String,
    pub description: String,
    /// active, completed, deleted.
    pub status: String,
    pub status_message: String,
    pub ready_at: u64,
    /// BYOL or AWS.
    pub license_type: String,
    /// The system found on the disk; empty when none was found.
    pub guest_os: String,
    /// Why the task will end `deleted`, once it ends.
    pub failure: Option<String>,
    pub image_id: Option<String>,
    pub tags: std::collections::BTreeMap<String, String>,
}

const FORMATS: [&str; 5] = ["OVA", "VHD", "VHDX", "VMDK", "RAW"];

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidParameter", message)
}

/// Bucket and key of `DiskContainer.1`.
fn disk_location(c: &Call) -> Result<(String, String), ApiError> {
    let get = |m: &str| opt(c, &format!("DiskContainer.1.{m}")).unwrap_or_default();
    if !get("SnapshotId").is_empty() {
        return Err(ApiError::client(
            "UnsupportedOperation",
            "aws-sim imports disks from S3 only (DiskContainer.1.UserBucket or an s3:// Url)",
        ));
    }
    let format = get("Format").to_ascii_uppercase();
    if !FORMATS.contains(&format.as_str()) {
        return Err(invalid(format!(
            "DiskContainer.1.Format must be one of {}, not '{format}'.",
            FORMATS.join(", ")
        )));
    }
    let (bucket, key) = (get("UserBucket.S3Bucket"), get("UserBucket.S3Key"));
    if !bucket.is_empty() && !key.is_empty() {
        return Ok((bucket.into(), key.into()));
    }
    get("Url")
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(b, k)| (b.to_string(), k.to_string()))
        .ok_or_else(|| {
            invalid("DiskContainer.1 needs a UserBucket (S3Bucket, S3Key) or an s3:// Url.")
        })
}

/// The system a disk carries, read from its `aws-sim-guest-os:` line.
pub(crate) fn guest_os(disk: &[u8]) -> Option<String> {
    String::from_utf8_lossy(disk)
        .lines()
        .find_map(|l| l.trim().strip_prefix("aws-sim-guest-os:"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn is_windows_client(os: &str) -> bool {
    os.starts_with("Windows 10") || os.starts_with("Windows 11")
}

/// The licence the image gets, or why the task fails.
fn licence(requested: &str, os: &str) -> Result<String, String> {
    match (requested, is_windows_client(os)) {
        ("AWS", true) => Err(format!(
            "ClientError: {os} can be imported only with LicenseType BYOL."
        )),
        ("BYOL" | "AWS", _) => Ok(requested.into()),
        (_, true) => Ok("BYOL".into()),
        (_, false) => Ok("AWS".into()),
    }
}

/// ImportImage.
pub(crate) fn import_image(
    w: &mut World,
    c: &Call,
    now: u64,
    ms: u64,
    rid: &str,
) -> Result<String, ApiError> {
    let role = opt(c, "RoleName")
        .filter(|r| !r.is_empty())
        .unwrap_or("vmimport");
    if !crate::iam_kms::role_trusts(w, &c.account, role, "vmie.amazonaws.com") {
        return Err(invalid(format!(
            "The service role {role} provided does not exist or does not have sufficient permissions"
        )));
    }
    let requested = opt(c, "LicenseType").unwrap_or_default().to_string();
    if !["", "AWS", "BYOL"].contains(&requested.as_str()) {
        return Err(invalid(format!(
            "LicenseType must be AWS or BYOL, not '{requested}'."
        )));
    }
    let (bucket, key) = disk_location(c)?;
    let disk = crate::s3::object(w, &c.account, &bucket, &key).ok_or_else(|| {
        invalid(format!(
            "The disk s3://{bucket}/{key} does not exist or cannot be read."
        ))
    })?;
    let os = guest_os(disk);
    let (failure, license) = match &os {
        None => (
            Some("ClientError: Unknown OS / Missing OS files.".to_string()),
            requested.clone(),
        ),
        Some(os) => match licence(&requested, os) {
            Ok(l) => (None, l),
            Err(e) => (Some(e), requested.clone()),
        },
    };
    let id = w.id("import-ami-", 17);
    let task = ImportTask {
        id: id.clone(),
        owner: c.account.clone(),
        region: c.region.clone(),
        description: opt(c, "Description").unwrap_or_default().into(),
        status: "active".into(),
        status_message: "pending".into(),
        ready_at: now + ms,
        license_type: license,
        guest_os: os.unwrap_or_default(),
        failure,
        image_id: None,
        tags: tag_specs(&c.params, "import-image-task"),
    };
    let mut x = Xml::response("ImportImage", rid);
    x.text("importTaskId", &id)
        .text("status", "active")
        .text("statusMessage", "pending")
        .text("progress", "2")
        .text("description", &task.description);
    if !task.license_type.is_empty() {
        x.text("licenseType", &task.license_type);
    }
    w.ec2.import_tasks.insert(id, task);
    Ok(x.finish("ImportImage"))
}

/// End the tasks whose time has come: an AMI (and its snapshot) of the caller's, or `deleted`.
pub(crate) fn tick(w: &mut World, now: u64) {
    let due: Vec<String> = w
        .ec2
        .import_tasks
        .values()
        .filter(|t| t.status == "active" && now >= t.ready_at)
        .map(|t| t.id.clone())
        .collect();
    for id in due {
        let t = w.ec2.import_tasks[&id].clone();
        if let Some(reason) = t.failure.clone() {
            let t = w.ec2.import_tasks.get_mut(&id).expect("due task");
            t.status = "deleted".into();
            t.status_message = reason;
            continue;
        }
        let image = register(w, &t, now);
        let t = w.ec2.import_tasks.get_mut(&id).expect("due task");
        t.status = "completed".into();
        t.status_message = String::new();
        t.image_id = Some(image);
    }
}

fn register(w: &mut World, t: &ImportTask, now: u64) -> String {
    let ami = w.id("ami-", 17);
    let snap = w.id("snap-", 17);
    w.ec2.snapshots.insert(
        snap.clone(),
        Snapshot {
            id: snap.clone(),
            owner: t.owner.clone(),
            region: t.region.clone(),
            image_id: ami.clone(),
            size_gib: 8,
            start_ms: now,
            ..Default::default()
        },
    );
    let windows = t.guest_os.starts_with("Windows");
    w.ec2.images.insert(
        ami.clone(),
        Image {
            id: ami.clone(),
            owner: t.owner.clone(),
            region: t.region.clone(),
            // Imported AMIs are named for their task.
            name: t.id.clone(),
            description: t.description.clone(),
            state: "available".into(),
            created_ms: now,
            tags: t.tags.clone(),
            snapshot_ids: vec![snap],
            platform: if windows { "Windows" } else { "Linux/UNIX" }.into(),
            license_type: if t.license_type == "BYOL" {
                "BYOL".into()
            } else {
                String::new()
            },
            guest_os: t.guest_os.clone(),
            ..Default::default()
        },
    );
    ami
}

/// DescribeImportImageTasks: the caller's tasks in the region, or those `ImportTaskId.N` names.
pub(crate) fn describe_import_image_tasks(w: &World, c: &Call, rid: &str) -> String {
    let ids = list(&c.params, "ImportTaskId");
    let mut x = Xml::response("DescribeImportImageTasks", rid);
    x.open("importImageTaskSet");
    for t in w.ec2.import_tasks.values().filter(|t| {
        t.owner == c.account && t.region == c.region && (ids.is_empty() || ids.contains(&t.id))
    }) {
        x.open("item")
            .text("importTaskId", &t.id)
            .text("status", &t.status)
            .text("description", &t.description);
        if !t.status_message.is_empty() {
            x.text("statusMessage", &t.status_message);
        }
        if !t.license_type.is_empty() {
            x.text("licenseType", &t.license_type);
        }
        if let Some(img) = &t.image_id {
            x.text("imageId", img).text(
                "platform",
                if t.guest_os.starts_with("Windows") {
                    "Windows"
                } else {
                    "Linux"
                },
            );
        }
        x.tags(&t.tags).close("item");
    }
    x.close("importImageTaskSet");
    x.finish("DescribeImportImageTasks")
}
