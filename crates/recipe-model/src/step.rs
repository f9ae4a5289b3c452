//! Steps: the ordered work a recipe does on its builder, and the tests that check it.
//!
//! Steps are externally tagged (`- shell: { run: ... }`): the key names the kind, and the body holds
//! the kind's fields plus the options every step shares (`name`, `stage`, `timeout`, `retries`, `os`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Duration, Node, Os};

/// When a step runs: while the image is built, or at the first launch of every instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Baked into the image on the builder.
    Image,
    /// Rendered into the first-boot runner and run once per instance at first launch.
    Launch,
}

/// Generates a step body struct with the fields every step shares appended to its own.
macro_rules! step_body {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty, )* }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        pub struct $name {
            $( $(#[$fmeta])* pub $field : $ty, )*
            /// A short name for logs and the plan. Defaults to the step kind and its position.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub name: Option<Node<String>>,
            /// `image` bakes the step; `launch` defers it to first boot. Defaults from the strategy:
            /// `full` bakes everything, `thin` bakes unless a step says `launch`, `zero` defers unless a
            /// step says `image`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub stage: Option<Node<Stage>>,
            /// How long the step may run before it fails, e.g. `10m`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(example = &"10m")]
            pub timeout: Option<Node<Duration>>,
            /// How many times to retry the step after a failure (0 by default).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(range(max = 10))]
            pub retries: Option<Node<u8>>,
            /// Run the step only on this operating system (for components shared across systems).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub os: Option<Node<Os>>,
        }

        impl StepCommon for $name {
            fn name(&self) -> Option<&Node<String>> { self.name.as_ref() }
            fn stage(&self) -> Option<&Node<Stage>> { self.stage.as_ref() }
            fn timeout(&self) -> Option<&Node<Duration>> { self.timeout.as_ref() }
            fn retries(&self) -> Option<&Node<u8>> { self.retries.as_ref() }
            fn os(&self) -> Option<&Node<Os>> { self.os.as_ref() }
        }
    };
}

/// The options every step body carries.
pub trait StepCommon {
    /// The step's display name, if set.
    fn name(&self) -> Option<&Node<String>>;
    /// The explicit stage, if set.
    fn stage(&self) -> Option<&Node<Stage>>;
    /// The explicit timeout, if set.
    fn timeout(&self) -> Option<&Node<Duration>>;
    /// The explicit retry count, if set.
    fn retries(&self) -> Option<&Node<u8>>;
    /// The operating system filter, if set.
    fn os(&self) -> Option<&Node<Os>>;
}

step_body! {
    /// Run a shell script (Linux, `/bin/bash -euo pipefail`) on the builder.
    pub struct Shell {
        /// The commands to run.
        #[schemars(example = &"systemctl enable --now amazon-ssm-agent")]
        pub run: Node<String>,
        /// Environment variables for the commands.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub env: BTreeMap<String, Node<String>>,
    }
}

step_body! {
    /// Run a PowerShell script (Windows) on the builder.
    pub struct PowerShell {
        /// The commands to run.
        #[schemars(example = &"choco install -y 7zip")]
        pub run: Node<String>,
        /// Environment variables for the commands.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub env: BTreeMap<String, Node<String>>,
    }
}

step_body! {
    /// Run a script file from the repository, relative to the recipe. Its content is part of the
    /// recipe's fingerprint, so editing it means a new image version.
    pub struct Script {
        /// Path of the script, relative to the file that names it.
        #[schemars(example = &"scripts/install-app.sh")]
        pub path: Node<String>,
        /// Arguments passed to the script.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub args: Vec<Node<String>>,
        /// Environment variables for the script.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub env: BTreeMap<String, Node<String>>,
    }
}

step_body! {
    /// Copy a file from the repository onto the builder.
    pub struct File {
        /// Source path, relative to the file that names it.
        #[schemars(example = &"files/motd")]
        pub src: Node<String>,
        /// Absolute destination path on the builder.
        #[schemars(example = &"/etc/motd")]
        pub dest: Node<String>,
        /// Octal file mode (Linux), e.g. `"0644"`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(regex(pattern = r"^0?[0-7]{3,4}$"), example = &"0644")]
        pub mode: Option<Node<String>>,
        /// Owner as `user` or `user:group` (Linux).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(example = &"root:root")]
        pub owner: Option<Node<String>>,
    }
}

/// Which package manager installs packages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PackageManager {
    /// Detect from the operating system (dnf, yum, apt, zypper on Linux; Chocolatey on Windows).
    Auto,
    /// dnf (Amazon Linux 2023, RHEL).
    Dnf,
    /// yum (Amazon Linux 2).
    Yum,
    /// apt (Ubuntu, Debian).
    Apt,
    /// zypper (SUSE).
    Zypper,
    /// Chocolatey (Windows).
    Choco,
    /// winget (Windows).
    Winget,
}

step_body! {
    /// Install or remove operating-system packages.
    pub struct Packages {
        /// Packages to install.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(example = packages_example())]
        pub install: Vec<Node<String>>,
        /// Packages to remove.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub remove: Vec<Node<String>>,
        /// The package manager (detected when not set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub manager: Option<Node<PackageManager>>,
    }
}

fn packages_example() -> Vec<&'static str> {
    vec!["amazon-cloudwatch-agent", "git"]
}

step_body! {
    /// Apply operating-system updates (dnf/yum/apt upgrade; Windows Update on Windows).
    pub struct UpdateOs {
        /// Only security updates.
        #[serde(default)]
        pub security_only: bool,
        /// Packages to hold back.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub exclude: Vec<Node<String>>,
    }
}

step_body! {
    /// Download a file onto the builder and verify its checksum.
    pub struct Download {
        /// An `https://` or `s3://` URL.
        #[schemars(example = &"https://example.com/agent-1.2.3.rpm")]
        pub url: Node<String>,
        /// Absolute destination path on the builder.
        pub dest: Node<String>,
        /// Expected SHA-256 of the file: 64 hexadecimal digits (variables allowed). Required: a build
        /// must be reproducible.
        pub sha256: Node<String>,
    }
}

step_body! {
    /// Reboot the builder and wait for it to come back before the next step.
    pub struct Reboot {}
}

step_body! {
    /// Add an application to the AppStream 2.0 application catalog (Image Assistant `add-application`).
    pub struct App {
        /// Unique application name in the catalog (letters, digits, `_`, `.`, `-`).
        #[schemars(example = &"excel")]
        pub id: Node<String>,
        /// Absolute path of the executable on the image builder.
        pub path: Node<String>,
        /// The name users see in the catalog.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub display_name: Option<Node<String>>,
        /// Launch parameters passed to the executable.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub launch_parameters: Option<Node<String>>,
        /// Working directory for the application.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub working_directory: Option<Node<String>>,
        /// Path of an icon file on the image builder.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub icon_path: Option<Node<String>>,
    }
}

step_body! {
    /// A human gate: the apply stops here, saying what to do and where to connect to the builder
    /// (kept meanwhile); the next `recipe apply` goes on past the gate.
    pub struct Manual {
        /// What the person must do before approving.
        pub instructions: Node<String>,
    }
}

step_body! {
    /// Generalise a Windows image before capture (EC2Launch v2 sysprep with shutdown).
    pub struct Sysprep {}
}

/// One step of a recipe or component.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[schemars(transform = one_key_object)]
pub enum Step {
    /// Run shell commands (Linux).
    Shell(Shell),
    /// Run PowerShell commands (Windows).
    #[serde(rename = "powershell")]
    PowerShell(PowerShell),
    /// Run a script file from the repository.
    Script(Script),
    /// Copy a file from the repository onto the builder.
    File(File),
    /// Install or remove packages.
    Packages(Packages),
    /// Apply operating-system updates.
    UpdateOs(UpdateOs),
    /// Download a file and verify its SHA-256.
    Download(Download),
    /// Reboot the builder.
    Reboot(Reboot),
    /// Insert the steps of a component file (path relative to the file that names it).
    #[schemars(example = &"components/cis-hardening.yaml")]
    Include(Node<String>),
    /// Register an AppStream 2.0 application.
    App(App),
    /// Pause for a human.
    Manual(Manual),
    /// Generalise a Windows image.
    Sysprep(Sysprep),
}

/// Rewrite an externally tagged enum's `oneOf` of one-key objects as a single object whose properties
/// are the kinds, with exactly one allowed. Validation is the same; editors complete a half-typed kind
/// (`- sh` offers `shell`) and report an unknown kind as one clear error instead of twelve.
fn one_key_object(schema: &mut schemars::Schema) {
    let Some(branches) = schema.get("oneOf").and_then(|v| v.as_array()).cloned() else {
        return;
    };
    let mut properties = serde_json::Map::new();
    for branch in branches {
        let Some(props) = branch.get("properties").and_then(|p| p.as_object()) else {
            return;
        };
        for (key, value) in props {
            let mut value = value.clone();
            if let (Some(obj), Some(desc)) = (value.as_object_mut(), branch.get("description")) {
                obj.entry("description").or_insert_with(|| desc.clone());
            }
            properties.insert(key.clone(), value);
        }
    }
    schema.remove("oneOf");
    schema.insert("type".into(), "object".into());
    schema.insert("properties".into(), properties.into());
    schema.insert("additionalProperties".into(), false.into());
    schema.insert("minProperties".into(), 1.into());
    schema.insert("maxProperties".into(), 1.into());
}

impl Step {
    /// The kind's name as written in YAML.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Shell(_) => "shell",
            Step::PowerShell(_) => "powershell",
            Step::Script(_) => "script",
            Step::File(_) => "file",
            Step::Packages(_) => "packages",
            Step::UpdateOs(_) => "update-os",
            Step::Download(_) => "download",
            Step::Reboot(_) => "reboot",
            Step::Include(_) => "include",
            Step::App(_) => "app",
            Step::Manual(_) => "manual",
            Step::Sysprep(_) => "sysprep",
        }
    }

    /// The shared options of the step; `None` for `include`, which has none.
    pub fn common(&self) -> Option<&dyn StepCommon> {
        Some(match self {
            Step::Shell(s) => s,
            Step::PowerShell(s) => s,
            Step::Script(s) => s,
            Step::File(s) => s,
            Step::Packages(s) => s,
            Step::UpdateOs(s) => s,
            Step::Download(s) => s,
            Step::Reboot(s) => s,
            Step::Include(_) => return None,
            Step::App(s) => s,
            Step::Manual(s) => s,
            Step::Sysprep(s) => s,
        })
    }

    /// The operating system a step kind is written for, if it is specific to one.
    pub fn native_os(&self) -> Option<Os> {
        match self {
            Step::Shell(_) => Some(Os::Linux),
            Step::PowerShell(_) | Step::Sysprep(_) => Some(Os::Windows),
            _ => None,
        }
    }
}

/// A reusable component: a named list of steps that recipes `include`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Component {
    /// What the component does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The steps, in order. Components may include other components.
    pub steps: Vec<Node<Step>>,
}
