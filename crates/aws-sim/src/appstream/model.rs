//! AppStream 2.0 records (images, image builders, fleets, permissions), their limits, and the public
//! base images every region has.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The owner recorded for AWS's public base images (their ARNs name no account).
pub const AWS_OWNER: &str = "aws";

/// The public base images every region has: name, platform, description, release date (ms since the
/// epoch; the date in the name).
pub const PUBLIC_IMAGES: &[(&str, &str, &str, u64)] = &[
    (
        "AppStream-WinServer2022-06-17-2025",
        "WINDOWS_SERVER_2022",
        "Windows Server 2022 base image with the AppStream 2.0 agent",
        PUBLIC_RELEASED_MS,
    ),
    (
        "AppStream-WinServer2019-06-17-2025",
        "WINDOWS_SERVER_2019",
        "Windows Server 2019 base image with the AppStream 2.0 agent",
        PUBLIC_RELEASED_MS,
    ),
    (
        "AppStream-AmazonLinux2-06-17-2025",
        "AMAZON_LINUX2",
        "Amazon Linux 2 base image with the AppStream 2.0 agent",
        PUBLIC_RELEASED_MS,
    ),
    // Earlier releases stay available next to the latest, as AWS keeps them.
    (
        "AppStream-WinServer2022-01-13-2025",
        "WINDOWS_SERVER_2022",
        "Windows Server 2022 base image with the AppStream 2.0 agent (January 2025)",
        1_736_726_400_000,
    ),
    (
        "AppStream-AmazonLinux2-02-11-2025",
        "AMAZON_LINUX2",
        "Amazon Linux 2 base image with the AppStream 2.0 agent (February 2025)",
        1_739_232_000_000,
    ),
];

/// The regions AppStream 2.0 serves (the `appstream2` endpoints of the AWS General Reference,
/// https://docs.aws.amazon.com/general/latest/gr/appstream2.html). CopyImage refuses any other
/// destination.
pub const APPSTREAM_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "il-central-1",
    "us-gov-west-1",
    "us-gov-east-1",
];

/// When the public base images were released: 2025-06-17T00:00:00Z, in ms since the epoch.
pub(super) const PUBLIC_RELEASED_MS: u64 = 1_750_118_400_000;
/// The agent version images and builders report.
pub(super) const AGENT_VERSION: &str = "06-17-2025";
/// Image copies to one destination region that may run at once, per account.
pub(super) const MAX_CONCURRENT_COPIES: usize = 2;
/// Tags one resource may carry.
pub(super) const MAX_TAGS: usize = 50;
/// The state of an image captured on a builder until it is AVAILABLE.
pub(super) const CAPTURE_STATE: &str = "PENDING";
/// Image states that end by themselves, in AVAILABLE.
pub(super) const IMAGE_PENDING_STATES: &[&str] =
    &["PENDING", "CREATING", "COPYING", "IMPORTING", "VALIDATING"];
/// The pattern of builder, fleet and image names.
pub(super) const NAME_PATTERN: &str = "^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$";
/// Prefixes an image name may not begin with, compared without regard to case: AWS-FACTS.md and the
/// API reference write them `Amazon`, `AWS`, `AppStream`; the Image Assistant CLI reference writes them
/// in lower case (`aws`, `appstream`, `amazon`). Refusing both spellings is the reading under which
/// nothing this simulator accepts is refused by AWS.
pub(super) const RESERVED_PREFIXES: &[&str] = &["Amazon", "AWS", "AppStream"];

/// An application in an image builder's catalog (Image Assistant `add-application`), carried into
/// the images made on it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Application {
    /// `--name`.
    pub name: String,
    /// `--display-name`.
    pub display_name: String,
    /// `--absolute-app-path`.
    pub path: String,
    /// `--launch-parameters`.
    pub launch_parameters: String,
    /// `--working-directory`.
    pub working_directory: String,
    /// `--absolute-icon-path`.
    pub icon_path: String,
}

/// What an image's owner lets another account do with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Permissions {
    /// Launch fleets from the image.
    pub allow_fleet: bool,
    /// Launch image builders from the image.
    pub allow_image_builder: bool,
}

impl Permissions {
    /// What an owner may do with its image (and anyone with a public one).
    const ALL: Permissions = Permissions {
        allow_fleet: true,
        allow_image_builder: true,
    };
}

/// An image.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Image {
    /// The name, unique per owner and region.
    pub name: String,
    /// The owning account ([`AWS_OWNER`] for the public base images).
    pub owner: String,
    /// The region.
    pub region: String,
    /// `arn:aws:appstream:<region>:<owner>:image/<name>` (no account for public images).
    pub arn: String,
    /// The image this one was made from (empty for base images).
    pub base_image_arn: String,
    /// The name to display.
    pub display_name: String,
    /// The description.
    pub description: String,
    /// PENDING, CREATING, COPYING, IMPORTING, AVAILABLE or FAILED.
    pub state: String,
    /// When the pending state ends, in ms.
    pub ready_at: u64,
    /// When it was created, in ms.
    pub created_ms: u64,
    /// `WINDOWS_SERVER_2022`, `AMAZON_LINUX2`, ...
    pub platform: String,
    /// The builder it was captured on (empty otherwise).
    pub builder_name: String,
    /// The AMI it was imported from (empty otherwise).
    pub source_ami: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// The accounts it is shared with, and what each may do.
    pub shared_with: BTreeMap<String, Permissions>,
    /// The application catalog (from the builder it was made on).
    pub applications: Vec<Application>,
    /// The AppStream agent version it carries (empty: the latest, [`AGENT_VERSION`]).
    pub agent_version: String,
    /// Sandbox machines: the root filesystem captured as a tarball (`machine.rs`).
    pub artifact: Option<String>,
    /// Sandbox machines: the artifact is being written (the image stays pending until it is).
    pub capturing: bool,
    /// It carries the recipe SSM bootstrap (captured from a builder that had it; `ssm_hybrid.rs`).
    pub bootstrap: bool,
}

impl Image {
    /// The agent version the image carries.
    pub(super) fn agent(&self) -> &str {
        if self.agent_version.is_empty() {
            AGENT_VERSION
        } else {
            &self.agent_version
        }
    }

    /// Whether a managed image update (CreateUpdatedImage) has something to apply: an agent older
    /// than the latest. (AWS also counts Windows patches released since the image; aws-sim's only
    /// signal is the agent, from the base image's release.)
    pub(super) fn updatable(&self) -> bool {
        self.agent() != AGENT_VERSION
    }

    /// A public base image, owned by AWS.
    pub(super) fn public(&self) -> bool {
        self.owner == AWS_OWNER
    }

    /// What `account` may do with the image, if it may see it at all.
    pub(super) fn permissions(&self, account: &str) -> Option<Permissions> {
        if self.owner == account || self.public() {
            Some(Permissions::ALL)
        } else {
            self.shared_with.get(account).copied()
        }
    }

    /// PUBLIC, PRIVATE (owned by `viewer`) or SHARED (with `viewer`).
    pub(super) fn visibility(&self, viewer: &str) -> &'static str {
        if self.public() {
            "PUBLIC"
        } else if self.owner == viewer {
            "PRIVATE"
        } else {
            "SHARED"
        }
    }
}

/// An image builder.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageBuilder {
    /// The name, unique per account and region.
    pub name: String,
    /// The owning account.
    pub account: String,
    /// The region.
    pub region: String,
    /// `arn:aws:appstream:<region>:<account>:image-builder/<name>`.
    pub arn: String,
    /// The image it was launched from.
    pub image_arn: String,
    /// The description.
    pub description: String,
    /// The name to display.
    pub display_name: String,
    /// A `stream.*` instance type.
    pub instance_type: String,
    /// The platform of its image.
    pub platform: String,
    /// The IAM role it runs with (empty for none).
    pub iam_role_arn: String,
    /// VPC subnets.
    pub subnet_ids: Vec<String>,
    /// VPC security groups.
    pub security_group_ids: Vec<String>,
    /// Default internet access.
    pub internet_access: bool,
    /// PENDING, RUNNING, SNAPSHOTTING, STOPPING, STOPPED, DELETING or FAILED.
    pub state: String,
    /// When the pending state ends, in ms.
    pub ready_at: u64,
    /// When it was created, in ms.
    pub created_ms: u64,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// The application catalog built with the Image Assistant.
    pub applications: Vec<Application>,
    /// Whether `update-default-profile` ran.
    pub default_profile: bool,
    /// The AppStream agent version, its image's (empty: the latest).
    pub agent_version: String,
    /// Its disk carries the recipe SSM bootstrap (from its image, or installed by a command on it).
    pub bootstrap: bool,
    /// The private IPv4 address of its network interface (`NetworkAccessConfiguration`), which its
    /// SSM agent reports as `IPAddress`.
    pub eni_ip: String,
    /// The id of that interface.
    pub eni_id: String,
}

/// A fleet.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Fleet {
    /// The name, unique per account and region.
    pub name: String,
    /// The owning account.
    pub account: String,
    /// The region.
    pub region: String,
    /// `arn:aws:appstream:<region>:<account>:fleet/<name>`.
    pub arn: String,
    /// The name of its image (empty for Elastic fleets).
    pub image_name: String,
    /// The ARN of its image (empty for Elastic fleets).
    pub image_arn: String,
    /// A `stream.*` instance type.
    pub instance_type: String,
    /// ALWAYS_ON, ON_DEMAND or ELASTIC.
    pub fleet_type: String,
    /// Desired instances (or sessions); revoking the image's fleet permission sets it to 0.
    pub desired: i64,
    /// STARTING, RUNNING, STOPPING or STOPPED.
    pub state: String,
    /// When the pending state ends, in ms.
    pub ready_at: u64,
    /// When it was created, in ms.
    pub created_ms: u64,
    /// The description.
    pub description: String,
    /// The name to display.
    pub display_name: String,
    /// VPC subnets.
    pub subnet_ids: Vec<String>,
    /// VPC security groups.
    pub security_group_ids: Vec<String>,
    /// Default internet access.
    pub internet_access: bool,
    /// The IAM role its instances run with (empty for none).
    pub iam_role_arn: String,
    /// APP or DESKTOP.
    pub stream_view: String,
    /// The platform of its image (or the one asked for, for Elastic fleets).
    pub platform: String,
    /// Longest streaming session, in seconds.
    pub max_user_duration_secs: i64,
    /// How long a disconnected session is kept, in seconds.
    pub disconnect_timeout_secs: i64,
    /// Idle time before a disconnect, in seconds (0: never).
    pub idle_disconnect_timeout_secs: i64,
    /// Concurrent sessions (Elastic fleets).
    pub max_concurrent_sessions: Option<i64>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// When a running fleet's instances have been replaced after its image changed (API_UpdateFleet:
    /// instances are replaced as they are freed, so what goes wrong on the new image shows then).
    pub replaced_at: u64,
    /// The instances on the new image fail to start (`fail-next appstream-fleet`): FleetErrors from
    /// `replaced_at` on.
    pub failing: bool,
}
