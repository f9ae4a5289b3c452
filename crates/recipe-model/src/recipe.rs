//! The recipe document and its sections.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Base, CleanupPreset, Duration, Node, Sections, Step, Target};

/// Where a recipe sits on the image design spectrum: what is baked and what runs at first launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Fully baked: every step runs on the builder; nothing runs at launch.
    Full,
    /// Hybrid: steps are baked unless they say `stage: launch`.
    Thin,
    /// OS-only (JeOS): steps run at first launch unless they say `stage: image`.
    Zero,
}

impl Strategy {
    /// The name as written in YAML.
    pub fn as_str(&self) -> &'static str {
        match self {
            Strategy::Full => "full",
            Strategy::Thin => "thin",
            Strategy::Zero => "zero",
        }
    }
}

/// An operating system family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Os {
    /// Linux: steps run through bash.
    Linux,
    /// Windows: steps run through PowerShell.
    Windows,
}

impl Os {
    /// The name as written in YAML.
    pub fn as_str(&self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Windows => "windows",
        }
    }
}

/// A recipe: one image, how to build it, and where it goes.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(deny_unknown_fields)]
#[schemars(title = "recipe")]
pub struct Recipe {
    /// Unique name of the recipe within its set: lowercase letters, digits and `-`.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,62}$"), example = &"web-baseline")]
    pub name: Node<String>,
    /// What the image is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Node<String>>,
    /// The kind of image to build.
    pub target: Node<Target>,
    /// Fully baked (`full`), hybrid (`thin`) or OS-only (`zero`).
    pub strategy: Node<Strategy>,
    /// The operating system family of the image.
    pub os: Node<Os>,
    /// The recipe's version, semantic versioning recommended. Available as `${version}`.
    #[schemars(example = &"1.4.0")]
    pub version: Node<String>,
    /// Variables available to the recipe as `${name}`. Values come from `default` or `--var name=value`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, Node<Variable>>,
    /// Secrets, passed to steps as references (`${secret.name}`) and resolved on the builder: their
    /// values never appear in recipes, plans, state or logs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Node<SecretRef>>,
    /// The image to start from.
    pub base: Node<Base>,
    /// Settings of the temporary builder (instance, WorkSpace or image builder).
    #[serde(default)]
    pub builder: Builder,
    /// The ordered steps. The strategy decides each step's default stage.
    #[serde(default)]
    pub steps: Vec<Node<Step>>,
    /// Checks run on the builder after the steps and before cleanup; never baked into the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<Node<Step>>,
    /// A built-in clean-down list run before capture (temporary files, logs, host keys, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<Node<CleanupPreset>>,
    /// The image to produce.
    pub image: Image,
    /// Regions to copy to and principals to share with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribute: Option<Distribute>,
    /// Where a new image version goes once it is built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Node<Rollout>>,
    /// How many versions to keep, and when to deprecate them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain: Option<Node<Retain>>,
    /// `recipe lint` for this recipe: rules switched off, each with the reason (kept in git with the
    /// recipe, so a reviewer sees why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lint: Option<Lint>,
    /// The sections its target declares (`bundle`, …), see [`crate::section`].
    #[serde(flatten)]
    #[schemars(skip)]
    pub sections: Sections,
}

/// `recipe lint` settings for one recipe.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Lint {
    /// Rules switched off for this recipe: they are neither scored nor reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<Node<LintIgnore>>,
}

/// A lint rule switched off, e.g. `{ rule: no-pcoip-policy, reason: "streams over WSP only" }`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LintIgnore {
    /// The rule: the last part of its code (`no-security-agent` for `recipe::lint::no-security-agent`).
    pub rule: Node<String>,
    /// Why it does not apply to this recipe.
    #[schemars(length(min = 1))]
    pub reason: Node<String>,
}

impl Recipe {
    /// The regions the image is in: the build region `home` first, then `distribute.regions`.
    pub fn image_regions(&self, home: &str) -> Vec<String> {
        let mut out = vec![home.to_string()];
        for r in self.distribute.iter().flat_map(|d| d.regions.iter()) {
            if !out.contains(&r.value) {
                out.push(r.value.clone());
            }
        }
        out
    }

    /// The regions `rollout.ssm-parameter` and `rollout.launch-templates` are updated in:
    /// `rollout.regions`, or every region the image is in.
    pub fn rollout_regions(&self, home: &str) -> Vec<String> {
        let listed = self.rollout.iter().flat_map(|r| r.value.regions.iter());
        let listed: Vec<String> = listed.map(|r| r.value.clone()).collect();
        if listed.is_empty() {
            self.image_regions(home)
        } else {
            listed
        }
    }
}

/// A recipe variable.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Variable {
    /// The value used when `--var` does not set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Node<String>>,
    /// What the variable means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Where a secret lives. Only the reference is stored; the builder resolves it at run time.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum SecretRef {
    /// An SSM Parameter Store SecureString, by name.
    #[schemars(example = &"/builds/licence-key")]
    SsmParameter(Node<String>),
    /// An AWS Secrets Manager secret, by name or ARN.
    SecretsManager(Node<String>),
}

/// Settings of the temporary builder. Which fields apply depends on the target.
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(deny_unknown_fields)]
pub struct Builder {
    /// Region to build in. Defaults to the AWS configuration's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"eu-west-2")]
    pub region: Option<Node<String>>,
    /// EC2 instance type (`ec2-ami`) or AppStream instance type (`appstream`, `stream.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"t3.small")]
    pub instance_type: Option<Node<String>>,
    /// Subnet to launch the builder in (`ec2-ami`, `appstream`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<Node<String>>,
    /// Security groups for the builder (`ec2-ami`, `appstream`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_group_ids: Vec<Node<String>>,
    /// Instance profile with SSM permissions (`ec2-ami`). Steps run through SSM: no SSH keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile: Option<Node<String>>,
    /// IAM role ARN for the image builder (`appstream`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam_role_arn: Option<Node<String>>,
    /// Root volume size in GiB (`ec2-ami`); defaults to the base image's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_size_gib: Option<Node<u32>>,
    /// WorkSpaces directory the builder WorkSpace joins (`workspaces`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"d-906734325")]
    pub directory_id: Option<Node<String>>,
    /// Directory user the builder WorkSpace is created for (`workspaces`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<Node<String>>,
    /// Give the builder internet access (`appstream` default internet access).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internet_access: Option<Node<bool>>,
    /// Join the image builder to an Active Directory domain (`appstream`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_join: Option<Node<DomainJoin>>,
    /// The AppStream agent version of the image builder: `LATEST`, or a released version
    /// (`appstream`). Defaults to the base image's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"LATEST")]
    pub agent_version: Option<Node<String>>,
    /// The sections its target declares (`import`, …), see [`crate::section`].
    #[serde(flatten)]
    #[schemars(skip)]
    pub sections: Sections,
}

/// An Active Directory domain for an AppStream image builder (a Directory Config must exist).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DomainJoin {
    /// The fully qualified directory name, e.g. `corp.example.com`.
    pub directory_name: Node<String>,
    /// The organizational unit for the builder's computer object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizational_unit: Option<Node<String>>,
}

/// The image to produce.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Image {
    /// Name template. Variables, `${name}`, `${version}`, and the build-time `${timestamp}`
    /// (UTC, `YYYYMMDDhhmmss`) and `${date}` (`YYYY-MM-DD`) may be used.
    #[schemars(example = &"web-baseline-${version}-${timestamp}")]
    pub name: Node<String>,
    /// Image description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Node<String>>,
    /// The name users see (`appstream`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<Node<String>>,
    /// Make the builder's Template User profile the default profile before the image is made: the
    /// Image Assistant's `update-default-profile` (`appstream`, Windows, image-builder route).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_default_profile: Option<Node<bool>>,
    /// Tags on the image and its snapshots. The tool adds its own `recipe:*` tags. Recommended keys:
    /// Name, Version, Software, Role, System, Project, CostCenter, Stage, Confidentiality, Compliance.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(example = tags_example())]
    pub tags: BTreeMap<Node<String>, Node<String>>,
}

/// The schema's example of a region list (also for targets' sections).
pub fn regions_example() -> Vec<&'static str> {
    vec!["eu-west-2", "ap-northeast-1"]
}

/// The schema's example of tags (also for targets' sections).
pub fn tags_example() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("Role".to_string(), "web".to_string()),
        ("Stage".to_string(), "dev".to_string()),
        ("Project".to_string(), "storefront".to_string()),
    ])
}

/// Regions to copy to and principals to share with.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Distribute {
    /// Regions to copy the image to, besides the build region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(example = regions_example())]
    pub regions: Vec<Node<String>>,
    /// Who may use the image. WorkSpaces and AppStream share per region, in every region listed.
    #[serde(default)]
    pub share: Share,
    /// KMS key per region for encrypted AMI copies (`ec2-ami`), region to key ARN or alias.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kms_keys: BTreeMap<Node<String>, Node<String>>,
    /// Encrypt AMI copies (`ec2-ami`). With `kms-keys`, each region's key is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<Node<bool>>,
}

/// Principals to share an image with.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Share {
    /// AWS account ids (12 digits). On AppStream, an entry may also say which permissions to grant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<Node<AccountShare>>,
    /// AWS Organizations organization ARNs (`ec2-ami`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<Node<String>>,
    /// Organizational unit ARNs (`ec2-ami`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizational_units: Vec<Node<String>>,
}

/// A share with one account: a bare account id, or (AppStream) an id with permissions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum AccountShare {
    /// An account id.
    Id(String),
    /// An account id with AppStream permissions.
    WithPermissions(AccountPermissions),
}

impl AccountShare {
    /// The account id.
    pub fn id(&self) -> &str {
        match self {
            AccountShare::Id(id) => id,
            AccountShare::WithPermissions(p) => &p.id,
        }
    }
}

/// An account id with the AppStream 2.0 permissions to grant.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AccountPermissions {
    /// The account id (12 digits).
    pub id: String,
    /// The account may use the image in its fleets.
    #[serde(default = "yes")]
    pub fleet: bool,
    /// The account may start image builders from the image.
    #[serde(default)]
    pub image_builder: bool,
}

fn yes() -> bool {
    true
}

impl<'de> Deserialize<'de> for AccountShare {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = AccountShare;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a 12-digit account id as a quoted string (\"111122223333\"), or a mapping with `id`, `fleet` and `image-builder`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AccountShare, E> {
                Ok(AccountShare::Id(v.to_string()))
            }
            // No `visit_u64`: an unquoted id is refused, as the schema refuses it. It may have lost
            // its leading zeros, and padding would name another account.
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<AccountShare, A::Error> {
                AccountPermissions::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(AccountShare::WithPermissions)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Where a new image version goes once it is built.
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(deny_unknown_fields)]
pub struct Rollout {
    /// Launch templates whose default version moves to the new AMI (`ec2-ami`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub launch_templates: Vec<Node<String>>,
    /// An SSM parameter to publish the new AMI id in (`ec2-ami`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssm_parameter: Option<Node<String>>,
    /// AppStream fleets to switch to the new image (`appstream`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fleets: Vec<Node<String>>,
    /// Regions whose `ssm-parameter` and `launch-templates` get the image's id there (`ec2-ami`;
    /// each AMI copy has its own id). Default: every region the image is in, the build region and
    /// `distribute.regions`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(example = regions_example())]
    pub regions: Vec<Node<String>>,
    /// The sections its target declares (`rebuild-workspaces`, …), see [`crate::section`].
    #[serde(flatten)]
    #[schemars(skip)]
    pub sections: Sections,
}

/// Retention: how many versions to keep and when to deprecate them.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Retain {
    /// Versions to keep; older ones are retired (never one still used by a bundle, fleet or launch
    /// template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub keep: Option<Node<u32>>,
    /// Deprecate each version this long after it was built (`ec2-ami`), e.g. `90d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecate_after: Option<Node<Duration>>,
    /// Rebuild when the current version is older than this, though nothing changed (seed 003: images
    /// have a shelf life; seed 002: update images regularly), e.g. `90d`. The rebuild picks up the
    /// base's and the packages' updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Node<Duration>>,
}

/// The strategy's answer for a step: baked or deferred to first launch.
pub fn effective_stage(strategy: Strategy, explicit: Option<crate::Stage>) -> crate::Stage {
    use crate::Stage;
    match (strategy, explicit) {
        (Strategy::Full, _) => Stage::Image,
        (_, Some(stage)) => stage,
        (Strategy::Thin, None) => Stage::Image,
        (Strategy::Zero, None) => Stage::Launch,
    }
}

/// Steps as written in a recipe: used where a caller needs the step list type by name.
pub type Steps = Vec<Node<Step>>;

crate::host_reader!(Recipe at "", expecting "struct Recipe", {
    name: "name", required;
    description: "description";
    target: "target", required;
    strategy: "strategy", required;
    os: "os", required;
    version: "version", required;
    variables: "variables";
    secrets: "secrets";
    base: "base", required;
    builder: "builder";
    steps: "steps";
    tests: "tests";
    cleanup: "cleanup";
    image: "image", required;
    distribute: "distribute";
    rollout: "rollout";
    retain: "retain";
    lint: "lint";
});

crate::host_reader!(Builder at "builder", expecting "struct Builder", {
    region: "region";
    instance_type: "instance-type";
    subnet_id: "subnet-id";
    security_group_ids: "security-group-ids";
    instance_profile: "instance-profile";
    iam_role_arn: "iam-role-arn";
    volume_size_gib: "volume-size-gib";
    directory_id: "directory-id";
    user_name: "user-name";
    internet_access: "internet-access";
    domain_join: "domain-join";
    agent_version: "agent-version";
});

crate::host_reader!(Rollout at "rollout", expecting "struct Rollout", {
    launch_templates: "launch-templates";
    ssm_parameter: "ssm-parameter";
    fleets: "fleets";
    regions: "regions";
});
