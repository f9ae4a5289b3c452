//! Everything the endpoint holds, across accounts and regions. Serializable, so it can persist.

use serde::{Deserialize, Serialize};

use crate::clock::Durations;

/// The simulated cloud.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct World {
    /// EC2 images, instances and snapshots.
    pub ec2: crate::ec2::Ec2,
    /// SSM parameters and commands.
    pub ssm: crate::ssm::Ssm,
    /// WorkSpaces, images, bundles.
    pub workspaces: crate::workspaces::Workspaces,
    /// AppStream image builders, images, fleets.
    pub appstream: crate::appstream::Appstream,
    /// IAM instance profiles and KMS keys, as the account was set up.
    pub setup: crate::iam_kms::Setup,
    /// Service Quotas values raised by RequestServiceQuotaIncrease, by `account/region/code`.
    pub quotas: std::collections::BTreeMap<String, u64>,
    /// Every account's Standard On-Demand vCPU quota until raised ([`crate::Config::vcpu_quota`]).
    pub vcpu_quota: u64,
    /// Counter behind generated ids.
    pub seq: u64,
    /// Manual clock offset (`/_sim/advance`), in ms.
    pub offset_ms: u64,
    /// Injected failures: the next `n` resources of a kind (`ec2-image`, `ec2-copy`, `workspaces-image`) end in
    /// their failed state instead of becoming available; `workspaces-rebuild`: the next `n` rebuilds end
    /// UNHEALTHY.
    pub fail_next: std::collections::BTreeMap<String, u32>,
    /// Play the person at each builder: follow the apply's wait line, reading each activation's id
    /// and code where the provider keeps them (the sandbox sets this; see `ssm_hybrid.rs`).
    pub operator: bool,
    /// Directory Service directories by `account/region/id` (`ds.rs`).
    pub directories: std::collections::BTreeMap<String, crate::ds::Directory>,
    /// S3 buckets by name (names are global), with their objects (`s3.rs`).
    pub s3: std::collections::BTreeMap<String, crate::s3::Bucket>,
    /// Secrets Manager secrets by `account/region/name` (`secrets.rs`).
    pub secrets: std::collections::BTreeMap<String, crate::secrets::Secret>,
    /// Windows machines' files as far as commands name them (`windows.rs`): by instance, WorkSpace
    /// or image builder, and by image for the images captured from them (EC2 image id, or an
    /// AppStream image's `account/region/name`).
    pub windows: std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
    /// Sandbox machines by instance id (`machine.rs`).
    pub machines: std::collections::BTreeMap<String, crate::machine::Machine>,
    /// Where machine roots go, when machines are on ([`crate::MachineConfig`]).
    #[serde(skip)]
    pub machine_dir: Option<std::path::PathBuf>,
    /// Work queued for the machine worker by the request being handled.
    #[serde(skip)]
    pub jobs: Vec<crate::machine::Job>,
}

impl World {
    /// A fresh id: `prefix` and `digits` lowercase hex digits, unique in this world.
    pub fn id(&mut self, prefix: &str, digits: usize) -> String {
        self.seq += 1;
        // Spread the sequence so ids look like AWS's without colliding.
        let mixed = self.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (self.seq << 7);
        let hex = format!("{mixed:016x}{:016x}", self.seq);
        format!("{prefix}{}", &hex[hex.len() - digits..])
    }

    /// Take one injected failure of a kind, if any is pending.
    pub fn take_failure(&mut self, kind: &str) -> bool {
        match self.fail_next.get_mut(kind) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    /// Move every resource whose pending phase has ended to its next state.
    pub fn tick(&mut self, now: u64, d: &Durations) {
        self.ec2.tick(now, d);
        crate::ec2::import::tick(self, now);
        self.workspaces.tick(now, d);
        crate::ssm_hybrid::lose_commands(self);
        self.ssm.tick(now, d, &self.ec2);
        self.appstream.tick(now, d);
        crate::ssm_hybrid::run_bootstraps(self, now);
        if self.operator {
            crate::ssm_hybrid::operate(self, now);
        }
        if self.machine_dir.is_some() {
            crate::machine::release_gone_builders(self);
        }
    }
}
