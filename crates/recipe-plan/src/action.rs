//! Actions: the nodes of a plan's graph, with their estimated durations.

use std::collections::BTreeMap;
use std::fmt;

use recipe_loader::RolloutKind;
use serde::{Deserialize, Serialize};

/// What an action does. Serialized with a `kind` tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ActionKind {
    /// Resolve the base image (an SSM parameter, filters, or the parent recipe's new image).
    ResolveBase,
    /// Start the temporary builder (instance, WorkSpace or image builder).
    LaunchBuilder,
    /// Run a batch of steps on the builder (a batch ends at a reboot).
    RunSteps {
        /// Step labels, in order.
        steps: Vec<String>,
        /// The steps' positions in the recipe's resolved step list.
        indices: Vec<usize>,
    },
    /// Reboot the builder and wait for it.
    Reboot,
    /// Install the first-boot runner with the launch-stage steps.
    InstallFirstBoot {
        /// Step labels deferred to launch.
        steps: Vec<String>,
    },
    /// Run the tests on the builder.
    RunTests {
        /// How many tests.
        count: usize,
    },
    /// Run the cleanup preset.
    Cleanup {
        /// The preset (read by name, declared or not: a plan is data, checked against the recipes
        /// before it is applied).
        #[serde(deserialize_with = "recipe_model::CleanupPreset::read_any")]
        preset: recipe_model::CleanupPreset,
    },
    /// Write the image's version file (recipe, version, build, fingerprint, base, time) on the
    /// builder: the last step before capture (seed 000, "create/update a version control file on
    /// the image").
    VersionFile {
        /// Where: `/etc/recipe-image.json`, or `C:\ProgramData\recipe\image.json` on Windows.
        path: String,
        /// The fingerprint the image is built at.
        fingerprint: String,
    },
    /// Generalise (Windows sysprep) and stop.
    Sysprep,
    /// Create the image from the builder.
    Capture {
        /// The new version's build id.
        build_id: String,
        /// Its fingerprint.
        fingerprint: String,
    },
    /// Wait for the image to become available.
    WaitAvailable,
    /// Tag the image and its snapshots.
    Tag,
    /// Terminate the builder and temporary resources.
    TerminateBuilder,
    /// Copy the image to a region (called in the destination region for EC2 and WorkSpaces).
    Copy {
        /// Destination region.
        region: String,
    },
    /// Grant use of the image in a region to principals: one call carries them all.
    Share {
        /// Accounts, organizations and OUs, sorted.
        principals: Vec<String>,
        /// Region.
        region: String,
        /// AppStream: the accounts among `principals` that may use the image in fleets.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fleet: Vec<String>,
        /// AppStream: the accounts among `principals` that may start image builders from it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        image_builder: Vec<String>,
    },
    /// Revoke principals' use of the image in a region: one call carries them all.
    Unshare {
        /// Accounts, organizations and OUs, sorted.
        principals: Vec<String>,
        /// Region.
        region: String,
    },
    /// Remove the image from a region no longer listed.
    RemoveCopy {
        /// Region.
        region: String,
        /// Image id there.
        image_id: String,
    },
    /// Point a rollout target at the new image (a kind its target declares: an SSM parameter, a
    /// launch template, a bundle, a fleet).
    Rollout {
        /// What is updated.
        target: RolloutTarget,
        /// The region of the target, when it is not the build region (a bundle made on a copy).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
    },
    /// Rebuild the machines launched from an earlier image that carry the rollout tags, in
    /// batches (WorkSpaces on the recipe's bundle).
    Rebuild {
        /// The machines, as the plan names them.
        machines: String,
        /// The tags a machine must carry, key to value (a key may itself hold `=`).
        tagged: BTreeMap<String, String>,
        /// Batch size.
        batch: u32,
    },
    /// Deprecate an old version.
    Deprecate {
        /// Build id.
        build_id: String,
    },
    /// Tag the current version's images and snapshots, in every region, with the recipe's changed
    /// `image.tags` (no rebuild: tags are not part of the fingerprint).
    Retag {
        /// The tags as written in the recipe (build-time placeholders resolved per version).
        tags: BTreeMap<String, String>,
        /// Keys no longer in the recipe, removed.
        remove: Vec<String>,
        /// The regions the recipe keeps images in (not a copy the same plan removes).
        regions: Vec<String>,
    },
    /// Retire an old version (deregister and delete its snapshots, in every region).
    Retire {
        /// Build id.
        build_id: String,
        /// Its version.
        version: String,
    },
}

impl ActionKind {
    /// The kind's short name, as used for estimates and in graphs.
    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::ResolveBase => "resolve-base",
            ActionKind::LaunchBuilder => "launch-builder",
            ActionKind::RunSteps { .. } => "run-steps",
            ActionKind::Reboot => "reboot",
            ActionKind::InstallFirstBoot { .. } => "install-first-boot",
            ActionKind::RunTests { .. } => "run-tests",
            ActionKind::Cleanup { .. } => "cleanup",
            ActionKind::VersionFile { .. } => "version-file",
            ActionKind::Sysprep => "sysprep",
            ActionKind::Capture { .. } => "capture",
            ActionKind::WaitAvailable => "wait-available",
            ActionKind::Tag => "tag",
            ActionKind::TerminateBuilder => "terminate-builder",
            ActionKind::Copy { .. } => "copy",
            ActionKind::Share { .. } => "share",
            ActionKind::Unshare { .. } => "unshare",
            ActionKind::RemoveCopy { .. } => "remove-copy",
            ActionKind::Rollout { .. } => "rollout",
            ActionKind::Rebuild { .. } => "rebuild",
            ActionKind::Deprecate { .. } => "deprecate",
            ActionKind::Retire { .. } => "retire",
            ActionKind::Retag { .. } => "retag",
        }
    }

    /// `+` creates, `~` changes, `-` removes, ` ` is a transient step of a build.
    pub fn marker(&self) -> char {
        match self {
            ActionKind::Capture { .. } | ActionKind::Copy { .. } | ActionKind::Share { .. } => '+',
            ActionKind::Unshare { .. }
            | ActionKind::RemoveCopy { .. }
            | ActionKind::Retire { .. } => '-',
            ActionKind::Rollout { .. }
            | ActionKind::Rebuild { .. }
            | ActionKind::Deprecate { .. }
            | ActionKind::Retag { .. } => '~',
            _ => ' ',
        }
    }

    /// Every kind name, for `--estimate` validation and docs.
    pub const NAMES: &'static [&'static str] = &[
        "resolve-base",
        "launch-builder",
        "run-steps",
        "reboot",
        "install-first-boot",
        "run-tests",
        "cleanup",
        "version-file",
        "sysprep",
        "capture",
        "wait-available",
        "tag",
        "terminate-builder",
        "copy",
        "share",
        "unshare",
        "remove-copy",
        "rollout",
        "rebuild",
        "deprecate",
        "retire",
        "retag",
    ];
}

/// A step label cut to fit a log line: a long path keeps its last component (`…/nginx.json`), other
/// long text is cut with `…`.
fn short(label: &str) -> String {
    const MAX: usize = 32;
    if label.chars().count() <= MAX {
        return label.to_string();
    }
    let last = label.rsplit(' ').next().unwrap_or(label);
    let seps = last.matches(['/', '\\']).count();
    if let Some((_, file)) = last.rsplit_once(['/', '\\'])
        && seps >= 2
        && !file.is_empty()
        && file.chars().count() < MAX
    {
        return file.to_string();
    }
    let cut: String = label.chars().take(MAX - 1).collect();
    format!("{}…", cut.trim_end())
}

/// `1-18 (update-os … nginx.json)`: the steps' positions (from 1) and their first and last labels.
fn step_range(steps: &[String], indices: &[usize]) -> String {
    let span = match (indices.first(), indices.last()) {
        (Some(a), Some(b)) if a == b => format!("{} ", a + 1),
        (Some(a), Some(b)) => format!("{}-{} ", a + 1, b + 1),
        _ => String::new(),
    };
    let names = match steps {
        [] => String::new(),
        [one] => short(one),
        [a, b] => format!("{}, {}", short(a), short(b)),
        [a, .., b] => format!("{} … {}", short(a), short(b)),
    };
    format!("{span}({names})")
}

/// `444455556666` for one short principal, `3 principals` otherwise.
fn principals_short(principals: &[String]) -> String {
    match principals {
        [one] if one.len() <= 40 => one.clone(),
        _ => format!("{} principals", principals.len()),
    }
}

/// A short label for logs, progress and graphs: the kind and what tells two of a recipe's actions
/// apart, never a whole list (the plan and `--json` carry those).
impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionKind::RunSteps { steps, indices } => {
                write!(f, "run-steps {}", step_range(steps, indices))
            }
            ActionKind::InstallFirstBoot { steps } => {
                let s = if steps.len() == 1 { "" } else { "s" };
                write!(f, "install-first-boot ({} launch step{s})", steps.len())
            }
            ActionKind::RunTests { count } => write!(f, "run-tests ({count})"),
            ActionKind::Cleanup { preset } => write!(f, "cleanup ({})", preset.as_str()),
            ActionKind::VersionFile { path, .. } => write!(f, "version-file ({path})"),
            ActionKind::Capture { build_id, .. } => write!(f, "capture {build_id}"),
            ActionKind::Copy { region } => write!(f, "copy to {region}"),
            ActionKind::Share {
                principals, region, ..
            } => write!(f, "share in {region} with {}", principals_short(principals)),
            ActionKind::Unshare { principals, region } => {
                write!(
                    f,
                    "revoke in {region} from {}",
                    principals_short(principals)
                )
            }
            ActionKind::RemoveCopy { region, image_id } => {
                write!(f, "remove copy {image_id} in {region}")
            }
            ActionKind::Rollout {
                target,
                region: None,
            } => write!(f, "roll out to {target}"),
            ActionKind::Rollout {
                target,
                region: Some(r),
            } => write!(f, "roll out to {target} in {r}"),
            ActionKind::Rebuild {
                machines,
                tagged,
                batch,
            } => {
                let tags: Vec<String> = tagged.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let tags = tags.join(", ");
                write!(f, "rebuild {machines} tagged {tags} ({batch} at a time)")
            }
            ActionKind::Deprecate { build_id } => write!(f, "deprecate {build_id}"),
            ActionKind::Retire { build_id, version } => write!(f, "retire {version} ({build_id})"),
            ActionKind::Retag { regions, .. } => write!(f, "retag in {} region(s)", regions.len()),
            other => f.write_str(other.name()),
        }
    }
}

/// What a rollout points at the new image: a kind its target declares (`fleet`,
/// `launch-template`, …) and a name. Typed, so that no provider parses display text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutTarget {
    /// The kind.
    #[serde(rename = "type")]
    pub kind: RolloutKind,
    /// The target's name.
    pub name: String,
}

impl RolloutTarget {
    /// A target of `kind` named `name`.
    pub fn new(kind: RolloutKind, name: impl Into<String>) -> RolloutTarget {
        RolloutTarget {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for RolloutTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.words(), self.name)
    }
}

/// Estimated duration per action kind, in seconds: the typical AWS timing of each kind
/// ([`ActionKind::typical_secs`]), or an override (`--estimate KIND=DURATION`) keyed by the kind's
/// name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estimates(pub BTreeMap<String, u64>);

impl Estimates {
    /// Seconds for a kind.
    pub fn of(&self, kind: &ActionKind) -> u64 {
        (self.0.get(kind.name()).copied()).unwrap_or_else(|| kind.typical_secs())
    }
}

impl ActionKind {
    /// How long the kind typically takes on AWS, in seconds (every kind has its own figure).
    pub fn typical_secs(&self) -> u64 {
        match self {
            ActionKind::ResolveBase
            | ActionKind::Tag
            | ActionKind::Share { .. }
            | ActionKind::Unshare { .. }
            | ActionKind::Deprecate { .. }
            | ActionKind::Retag { .. } => 5,
            ActionKind::VersionFile { .. } => 10,
            ActionKind::InstallFirstBoot { .. }
            | ActionKind::RemoveCopy { .. }
            | ActionKind::Retire { .. } => 30,
            ActionKind::RunTests { .. }
            | ActionKind::Cleanup { .. }
            | ActionKind::Capture { .. }
            | ActionKind::TerminateBuilder
            | ActionKind::Rollout { .. } => 60,
            ActionKind::RunSteps { .. } | ActionKind::Reboot => 120,
            ActionKind::LaunchBuilder => 180,
            ActionKind::Sysprep => 600,
            ActionKind::WaitAvailable => 900,
            ActionKind::Copy { .. } => 1200,
            ActionKind::Rebuild { .. } => 3600,
        }
    }
}

/// One node of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Index in the plan's action list.
    pub id: usize,
    /// The recipe it belongs to.
    pub recipe: String,
    /// What it does.
    pub action: ActionKind,
    /// Why, in words.
    pub reason: String,
    /// Actions that must finish first.
    pub depends_on: Vec<usize>,
    /// Estimated seconds.
    pub estimate_secs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_batch_of_steps_is_labelled_by_its_span_and_ends() {
        let long = ActionKind::RunSteps {
            steps: steps(&[
                "update-os",
                "audit, logging and file-integrity tools",
                "file /opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.d/nginx.json",
            ]),
            indices: vec![0, 9, 17],
        };
        assert_eq!(long.to_string(), "run-steps 1-18 (update-os … nginx.json)");
        let one = ActionKind::RunSteps {
            steps: steps(&["a step whose description goes on and on and on"]),
            indices: vec![4],
        };
        assert_eq!(
            one.to_string(),
            "run-steps 5 (a step whose description goes o…)"
        );
        let windows = ActionKind::RunSteps {
            steps: steps(&[
                "disable SMBv1, LLMNR and NetBIOS over TCP/IP",
                r"download C:\Windows\Temp\amazon-cloudwatch-agent.msi",
            ]),
            indices: vec![2, 3],
        };
        assert_eq!(
            windows.to_string(),
            "run-steps 3-4 (disable SMBv1, LLMNR and NetBIO…, amazon-cloudwatch-agent.msi)"
        );
    }

    #[test]
    fn shares_name_one_principal_and_count_many() {
        let one = ActionKind::Share {
            principals: steps(&["444455556666"]),
            region: "eu-west-1".into(),
            fleet: vec![],
            image_builder: vec![],
        };
        assert_eq!(one.to_string(), "share in eu-west-1 with 444455556666");
        let many = ActionKind::Unshare {
            principals: steps(&[
                "444455556666",
                "arn:aws:organizations::123456789012:organization/o-exampleorgid",
            ]),
            region: "eu-west-1".into(),
        };
        assert_eq!(many.to_string(), "revoke in eu-west-1 from 2 principals");
    }
}
