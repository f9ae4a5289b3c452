//! WorkSpaces records (WorkSpaces, images, bundles), their limits and error codes, and the public
//! AMAZON bundles and images every region has.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ec2::AMAZON;

pub(super) const INVALID: &str = "InvalidParameterValuesException";
pub(super) const NOT_FOUND: &str = "ResourceNotFoundException";
pub(super) const BAD_STATE: &str = "InvalidResourceStateException";
pub(super) const LIMIT: &str = "ResourceLimitExceededException";
pub(super) const EXISTS: &str = "ResourceAlreadyExistsException";
pub(super) const ASSOCIATED: &str = "ResourceAssociatedException";
pub(super) const UNSUPPORTED: &str = "OperationNotSupportedException";
pub(super) const DENIED: &str = "AccessDeniedException";
pub(super) const UNAVAILABLE: &str = "ResourceUnavailableException";

/// Images an account may own in one region (the default quota).
pub(super) const IMAGE_QUOTA: usize = 20;
/// Custom bundles an account may own in one region.
pub(super) const BUNDLE_QUOTA: usize = 50;
/// Tags a resource may carry.
pub(super) const MAX_TAGS: usize = 50;
/// How long a deleted bundle's name stays taken: 2 hours.
pub(super) const NAME_HOLD_MS: u64 = 2 * 60 * 60 * 1000;
/// Creation time shown for the public bundles and images (2024-01-01).
pub(super) const PUBLIC_CREATED_MS: u64 = 1_704_067_200_000;

/// The `Compute` values the SDK knows.
pub(super) const COMPUTE_TYPES: &[&str] = &[
    "VALUE",
    "STANDARD",
    "PERFORMANCE",
    "POWER",
    "POWERPRO",
    "GRAPHICS",
    "GRAPHICSPRO",
    "GRAPHICS_G4DN",
    "GRAPHICSPRO_G4DN",
    "GENERALPURPOSE_4XLARGE",
    "GENERALPURPOSE_8XLARGE",
    "GRAPHICS_G6_XLARGE",
    "GRAPHICS_G6_2XLARGE",
    "GRAPHICS_G6_4XLARGE",
    "GRAPHICS_G6_8XLARGE",
    "GRAPHICS_G6_16XLARGE",
    "GRAPHICS_G6F_LARGE",
    "GRAPHICS_G6F_XLARGE",
    "GRAPHICS_G6F_2XLARGE",
    "GRAPHICS_G6F_4XLARGE",
    "GRAPHICS_GR6_4XLARGE",
    "GRAPHICS_GR6_8XLARGE",
    "GRAPHICS_GR6F_4XLARGE",
    "GRAPHICS_G7_2XLARGE",
    "GRAPHICS_G7_4XLARGE",
    "GRAPHICS_G7_8XLARGE",
    "GRAPHICS_G7_12XLARGE",
];

/// The `WorkspaceImageIngestionProcess` values the SDK knows.
pub(super) const INGESTION_PROCESSES: &[&str] = &[
    "BYOL_REGULAR",
    "BYOL_GRAPHICS",
    "BYOL_GRAPHICSPRO",
    "BYOL_GRAPHICS_G4DN",
    "BYOL_REGULAR_WSP",
    "BYOL_GRAPHICS_G4DN_WSP",
    "BYOL_REGULAR_BYOP",
    "BYOL_GRAPHICS_G4DN_BYOP",
];

/// A public bundle every region has, and the public image behind it.
pub(super) struct PublicBundle {
    pub(super) id: &'static str,
    pub(super) name: &'static str,
    pub(super) description: &'static str,
    pub(super) compute: &'static str,
    pub(super) root_gib: u32,
    pub(super) user_gib: u32,
    pub(super) image_id: &'static str,
    pub(super) image_name: &'static str,
    pub(super) os: &'static str,
    pub(super) os_version: &'static str,
}

/// The public AMAZON bundles of every region. The first two ids are the ones recipes name; the other
/// ids and the image ids are the simulator's own.
pub(super) const PUBLIC_BUNDLES: &[PublicBundle] = &[
    PublicBundle {
        id: "wsb-clj85qzj1",
        name: "Standard with Amazon Linux 2",
        description: "Standard with Amazon Linux 2 (English)",
        compute: "STANDARD",
        root_gib: 80,
        user_gib: 50,
        image_id: "wsi-amznlnx2a",
        image_name: "Amazon Linux 2 (English)",
        os: "LINUX",
        os_version: "Amazon Linux 2",
    },
    PublicBundle {
        id: "wsb-gk1wpk43z",
        name: "Standard with Windows 10 (Server 2022 based)",
        description: "Standard with Windows 10 (Server 2022 based) (English)",
        compute: "STANDARD",
        root_gib: 80,
        user_gib: 50,
        image_id: "wsi-win2022en",
        image_name: "Windows 10 (Server 2022 based) (English)",
        os: "WINDOWS",
        os_version: "Windows Server 2022",
    },
    PublicBundle {
        id: "wsb-8vbljg4r6",
        name: "Performance with Amazon Linux 2",
        description: "Performance with Amazon Linux 2 (English)",
        compute: "PERFORMANCE",
        root_gib: 80,
        user_gib: 100,
        image_id: "wsi-amznlnx2a",
        image_name: "Amazon Linux 2 (English)",
        os: "LINUX",
        os_version: "Amazon Linux 2",
    },
    PublicBundle {
        id: "wsb-1pzkp0bx4",
        name: "Performance with Windows 10 (Server 2022 based)",
        description: "Performance with Windows 10 (Server 2022 based) (English)",
        compute: "PERFORMANCE",
        root_gib: 80,
        user_gib: 100,
        image_id: "wsi-win2022en",
        image_name: "Windows 10 (Server 2022 based) (English)",
        os: "WINDOWS",
        os_version: "Windows Server 2022",
    },
];

/// A WorkSpace.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Workspace {
    /// `ws-` and 9 characters.
    pub id: String,
    /// Owning account.
    pub account: String,
    /// Region.
    pub region: String,
    /// Directory it was launched in.
    pub directory_id: String,
    /// The user it belongs to.
    pub user_name: String,
    /// Optional `WorkspaceName`.
    pub name: Option<String>,
    /// The bundle it was launched from.
    pub bundle_id: String,
    /// The image it runs (the bundle's image at launch or at the last rebuild).
    pub image_id: String,
    /// `LINUX` or `WINDOWS`, from its image.
    pub os: String,
    /// Its image's OS version.
    pub os_version: String,
    /// `DEFAULT` or `DEDICATED`, from its image.
    pub tenancy: String,
    /// PENDING, AVAILABLE, REBUILDING, SUSPENDED, TERMINATING, TERMINATED, ...
    pub state: String,
    /// When the current pending phase ends (ms).
    pub ready_at: u64,
    /// When it was created (ms).
    pub created_ms: u64,
    /// Private IP address.
    pub ip_address: String,
    /// Computer name.
    pub computer_name: String,
    /// `WorkspaceProperties` as answered (request values with the bundle's defaults).
    pub properties: Value,
    /// `RootVolumeEncryptionEnabled`.
    pub root_volume_encrypted: bool,
    /// `UserVolumeEncryptionEnabled`.
    pub user_volume_encrypted: bool,
    /// `VolumeEncryptionKey`.
    pub volume_encryption_key: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Resources a ModifyWorkspaceProperties is changing (`COMPUTE_TYPE`, `ROOT_VOLUME`, ...).
    pub modifications: Vec<String>,
    /// When that change is done (ms).
    pub modified_until: u64,
    /// Injected: the current rebuild ends UNHEALTHY instead of AVAILABLE.
    pub rebuild_fails: bool,
    /// Its disk carries the recipe SSM bootstrap (from its image, or installed by a command on it):
    /// see `ssm_hybrid.rs`.
    pub bootstrap: bool,
    /// The state DescribeWorkspaces still shows after a Start, Stop or Reboot, until `seen_from`.
    pub shown: String,
    /// From when DescribeWorkspaces shows the state the call made (`state-lag-ms` after it).
    pub seen_from: u64,
}

impl Workspace {
    /// The state DescribeWorkspaces answers at `now`: the one before a Start, Stop or Reboot for
    /// `state-lag-ms` after the call. The WorkSpaces API is eventually consistent; how long a change
    /// takes to show is not documented, so the lag is configurable (`Durations::state_lag_ms`).
    pub fn state_seen(&self, now: u64) -> &str {
        if now < self.seen_from && !self.shown.is_empty() {
            &self.shown
        } else {
            &self.state
        }
    }
}

/// A WorkSpaces image.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Image {
    /// `wsi-` and 9 characters.
    pub id: String,
    /// Owning account.
    pub owner: String,
    /// Region.
    pub region: String,
    /// Name, unique per account and region.
    pub name: String,
    /// Description (may be empty for copies).
    pub description: String,
    /// `LINUX` or `WINDOWS`.
    pub os: String,
    /// PENDING, AVAILABLE, ERROR.
    pub state: String,
    /// `DEFAULT`, or `DEDICATED` for BYOL images.
    pub tenancy: String,
    /// When PENDING ends (ms).
    pub ready_at: u64,
    /// When it was created (ms).
    pub created_ms: u64,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Accounts it is shared with (same region).
    pub shared_with: BTreeSet<String>,
    /// What it was made from: a WorkSpace, an image or an AMI id.
    pub source: String,
    /// Injected: the image ends in ERROR instead of AVAILABLE.
    pub fail: bool,
    /// Why it fails, when aws-sim knows (a sandbox machine whose root could not be captured): its
    /// `ErrorMessage`.
    pub fail_reason: Option<String>,
    /// Sandbox machines: the root filesystem captured as a tarball (`machine.rs`).
    pub artifact: Option<String>,
    /// Sandbox machines: the artifact is being written (the image stays PENDING until it is).
    pub capturing: bool,
    /// The OS version (`Windows 10`, `Windows Server 2019`, `Windows 11`, `Amazon Linux 2`, ...): what
    /// CreateUpdatedWorkspaceImage accepts depends on it.
    pub os_version: String,
    /// WorkSpaces component updates are available (set with `POST /_sim/workspaces/updates`).
    pub update_available: bool,
    /// It carries the recipe SSM bootstrap (captured from a WorkSpace that had it; `ssm_hybrid.rs`).
    pub bootstrap: bool,
}

/// A custom bundle (the public AMAZON ones are not stored).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Bundle {
    /// `wsb-` and 9 characters.
    pub id: String,
    /// Owning account (`AMAZON` for the public ones).
    pub owner: String,
    /// Region.
    pub region: String,
    /// Name, unique per account and region.
    pub name: String,
    /// Description.
    pub description: String,
    /// Its current image.
    pub image_id: String,
    /// Compute type name (`STANDARD`, ...).
    pub compute: String,
    /// Root volume, GB.
    pub root_gib: u32,
    /// User volume, GB.
    pub user_gib: u32,
    /// When it was created (ms).
    pub created_ms: u64,
    /// When its image last changed (ms).
    pub updated_ms: u64,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}
pub(super) fn public_bundle_of(region: &str, p: &PublicBundle) -> Bundle {
    Bundle {
        id: p.id.into(),
        owner: "AMAZON".into(),
        region: region.into(),
        name: p.name.into(),
        description: p.description.into(),
        image_id: p.image_id.into(),
        compute: p.compute.into(),
        root_gib: p.root_gib,
        user_gib: p.user_gib,
        created_ms: PUBLIC_CREATED_MS,
        updated_ms: PUBLIC_CREATED_MS,
        tags: BTreeMap::new(),
    }
}

pub(super) fn public_bundle(region: &str, id: &str) -> Option<Bundle> {
    PUBLIC_BUNDLES
        .iter()
        .find(|p| p.id == id)
        .map(|p| public_bundle_of(region, p))
}

/// A public image by id: a bundle's release image, or a newer one AWS moved the bundle to
/// (`<release id>u<n>`, the same OS and name).
pub(super) fn public_image(region: &str, id: &str) -> Option<Image> {
    let newer = |p: &&PublicBundle| {
        id.strip_prefix(p.image_id)
            .and_then(|rest| rest.strip_prefix('u'))
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    PUBLIC_BUNDLES
        .iter()
        .find(|p| p.image_id == id || newer(p))
        .map(|p| Image {
            id: id.into(),
            owner: AMAZON.into(),
            region: region.into(),
            name: p.image_name.into(),
            description: format!("{} provided by Amazon", p.image_name),
            os: p.os.into(),
            os_version: p.os_version.into(),
            state: "AVAILABLE".into(),
            tenancy: "DEFAULT".into(),
            created_ms: PUBLIC_CREATED_MS,
            ..Default::default()
        })
}
