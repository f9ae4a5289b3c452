//! Every diagnostic code the loader, the checks and the linter can report.
//!
//! Codes are stable: tools and CI may match on them. `docs/diagnostics.md` lists them.

use crate::diagnostic::Severity;

/// A code a target's spec declares for its own checks (`recipe::<target>::<rule>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetCode {
    /// The code as printed.
    pub code: &'static str,
    /// The default severity.
    pub severity: Severity,
    /// One line on what the code means.
    pub summary: &'static str,
}

macro_rules! codes {
    ( $( $(#[$m:meta])* $variant:ident = ($code:literal, $sev:ident, $summary:literal), )* ) => {
        /// A diagnostic code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( $(#[$m])* #[doc = $summary] $variant, )*
            /// A code of a target's own checks (its spec's).
            Target(&'static TargetCode),
        }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The code as printed, e.g. `recipe::parse::unknown-field`.
            pub fn as_str(&self) -> &'static str {
                match self { $( Code::$variant => $code, )* Code::Target(c) => c.code }
            }

            /// The default severity.
            pub fn severity(&self) -> Severity {
                match self { $( Code::$variant => Severity::$sev, )* Code::Target(c) => c.severity }
            }

            /// One line on what the code means.
            pub fn summary(&self) -> &'static str {
                match self { $( Code::$variant => $summary, )* Code::Target(c) => c.summary }
            }
        }
    };
}

codes! {
    IoRead = ("recipe::io::read", Error, "A recipe, component or referenced file could not be read."),
    NotUtf8 = ("recipe::io::not-utf8", Error, "A recipe or component is not UTF-8 text: the first invalid byte's line and column, and the likely encoding."),
    SetEmpty = ("recipe::io::no-recipes", Error, "A path given on the command line holds no recipe files."),
    Syntax = ("recipe::parse::syntax", Error, "The file is not valid YAML."),
    UnknownField = ("recipe::parse::unknown-field", Error, "A key that the recipe language does not have."),
    UnknownStep = ("recipe::parse::unknown-step", Error, "A step kind that does not exist."),
    UnknownValue = ("recipe::parse::unknown-value", Error, "A value outside an enumeration (target, strategy, os, stage, ...)."),
    InvalidType = ("recipe::parse::invalid-type", Error, "A value of the wrong type (a list where a string belongs, ...)."),
    InvalidValue = ("recipe::parse::invalid-value", Error, "A value of the right type that does not parse (a duration, a number out of range)."),
    MissingField = ("recipe::parse::missing-field", Error, "A required key is missing."),
    DuplicateKey = ("recipe::parse::duplicate-key", Error, "The same key twice in one mapping."),
    AliasLimit = ("recipe::parse::alias-limit", Error, "YAML anchors and aliases expand beyond the safety budget (an alias bomb)."),
    UnknownVariable = ("recipe::var::unknown", Error, "`${name}` names no variable, built-in or secret."),
    VariableNoValue = ("recipe::var::no-value", Error, "A variable has no default and no `--var` value."),
    VariableOverrideUnused = ("recipe::var::override-unused", Warning, "A `--var` names a variable that no loaded recipe declares."),
    VariableUnused = ("recipe::var::unused", Warning, "A declared variable is never used."),
    UnknownSecret = ("recipe::var::unknown-secret", Error, "`${secret.name}` names no entry under `secrets`."),
    IncludeMissing = ("recipe::include::missing", Error, "An included component file does not exist."),
    IncludeCycle = ("recipe::include::cycle", Error, "Components include each other in a cycle."),
    FileMissing = ("recipe::file::missing", Error, "A script or file a step names does not exist."),
    UnknownRecipe = ("recipe::ref::unknown-recipe", Error, "`base: { recipe: … }` names no recipe in the set."),
    RecipeCycle = ("recipe::ref::cycle", Error, "Recipes are layered on each other in a cycle."),
    DuplicateRecipe = ("recipe::ref::duplicate-name", Error, "Two recipes in a set share a name."),
    IncompatibleBase = ("recipe::ref::incompatible-base", Error, "A recipe is layered on a recipe of a target it cannot import."),
    AmiOwners = ("recipe::base::ami-owners", Error, "An `ami-filter` base without `owners`: the newest public AMI of any account whose name matches would be taken (AMI name confusion)."),
    ParentRegion = ("recipe::ref::parent-region", Error, "At plan time: a layered recipe builds in a region where its parent will have no image."),
    LaunchInFull = ("recipe::stage::launch-in-full", Error, "A `stage: launch` step in a `full` recipe, which bakes everything."),
    TestAtLaunch = ("recipe::stage::test-at-launch", Error, "A test with `stage: launch`: tests run on the builder."),
    RecipeName = ("recipe::name::recipe", Error, "A recipe name that is not lowercase letters, digits and `-`."),
    ImageName = ("recipe::name::image", Error, "An image name the target's API would refuse (characters, length)."),
    RolloutRegion = ("recipe::rollout::region", Error, "A `rollout.regions` entry where the image is not (not the build region, not in `distribute.regions`), or on a target whose rollouts have no region."),
    PowerShellSyntax = ("recipe::powershell::syntax", Error, "PowerShell that does not parse (a `powershell` step's `run`, or a `.ps1` script): powershell.exe refuses it before running a line."),
    Winget = ("recipe::windows::winget", Error, "`manager: winget`: Run Command runs steps as LocalSystem, which has no winget (a per-user app Windows Server does not ship)."),
    WrongOs = ("recipe::step::wrong-os", Error, "A step for one operating system in a recipe for the other."),
    StepTarget = ("recipe::step::wrong-target", Error, "A step kind the target cannot run (an `app` step where the target has no application catalog)."),
    StepPath = ("recipe::step::path", Error, "A destination path that is not absolute, or a download URL that is not https:// or s3://."),
    ManualAtLaunch = ("recipe::step::manual-at-launch", Error, "A `manual` gate at launch stage: nobody is there at every first boot."),
    ManualNoTimeout = ("recipe::step::manual-no-timeout", Warning, "A `manual` gate without a timeout would wait forever."),
    ImageId = ("recipe::base::image-id", Error, "A malformed image id in `base`."),
    AfterSysprep = ("recipe::step::after-sysprep", Error, "Steps after `sysprep`, which generalises and shuts the builder down."),
    BaseTarget = ("recipe::base::wrong-target", Error, "A base kind the target cannot start from."),
    BuilderTarget = ("recipe::builder::wrong-target", Error, "A builder setting the target does not use."),
    BuilderMissing = ("recipe::builder::missing", Error, "A builder setting the target needs is missing."),
    SectionTarget = ("recipe::section::wrong-target", Error, "A section or field the target does not support (a bundle on an AMI, ...)."),
    AccountId = ("recipe::aws::account-id", Error, "An AWS account id that is not 12 digits."),
    Region = ("recipe::aws::region", Error, "A string that is not an AWS region name."),
    UnknownRegion = ("recipe::aws::unknown-region", Error, "A well-formed region code that is not an AWS region (a typo, or a region newer than this recipe: `--allow-region`)."),
    Arn = ("recipe::aws::arn", Error, "A malformed ARN (organization, OU, IAM role, KMS key)."),
    Tag = ("recipe::aws::tag", Error, "A tag key or value AWS would refuse."),
    InstanceType = ("recipe::aws::instance-type", Error, "An instance type of the wrong family for the target."),
    CleanupMismatch = ("recipe::cleanup::wrong-preset", Error, "A cleanup preset written for another operating system or target."),
    KeepZero = ("recipe::retain::keep-zero", Error, "`retain.keep: 0` would retire the image just built."),
    SecretInRecipe = ("recipe::secret::in-recipe", Error, "A secret (access key, private key, password literal) written into a recipe."),
    SecretInFile = ("recipe::secret::in-file", Error, "A secret written into a script or file that would be baked into the image."),
    NotSemver = ("recipe::version::not-semver", Warning, "A version that is not semantic versioning."),
    DuplicateRegion = ("recipe::distribute::duplicate-region", Warning, "A region listed twice."),
    KmsUnusedRegion = ("recipe::distribute::kms-unused", Warning, "A KMS key for a region the image is not copied to."),
    LintIgnoreRule = ("recipe::lint::ignore", Error, "`lint.ignore` names a rule that does not exist, or gives no reason."),
    LintManualStep = ("recipe::lint::manual-step", Warning, "Checklist 1, 12: image configuration relies on a manual step."),
    LintVolumeSize = ("recipe::lint::volume-size", Warning, "Checklist 3: the bundle's disks are larger than the smallest its compute type allows (80 GiB root and 10 GiB user; 100 and 100 for GPU bundles)."),
    LintLicence = ("recipe::lint::licence-in-image", Warning, "Checklist 4: a licence key appears to be baked into the image."),
    LintNoCmAgent = ("recipe::lint::no-cm-agent", Warning, "Checklist 7, 14: a thin or zero image without a configuration-management agent."),
    LintNoBootstrap = ("recipe::lint::no-bootstrap", Warning, "Checklist 8: a thin or zero image with nothing to run at launch."),
    LintNoTests = ("recipe::lint::no-tests", Warning, "Checklist 10: no tests validate the image before capture."),
    LintNoComponents = ("recipe::lint::no-components", Warning, "Checklist 11: long inline step lists instead of reusable components or scripts."),
    LintNoCleanup = ("recipe::lint::no-cleanup", Warning, "Checklist 15: no clean-down before capture (keys, logs, temporary files stay in the image)."),
    LintNoSecurityAgent = ("recipe::lint::no-security-agent", Warning, "Checklist 16: no security agent is installed."),
    LintNoLogAgent = ("recipe::lint::no-log-agent", Warning, "Checklist 17, 19: no log or monitoring agent is installed."),
    LintNoPcoipPolicy = ("recipe::lint::no-pcoip-policy", Warning, "Checklist 18: a Linux image streamed over PCoIP (its target switches the rule on) without a PCoIP agent configuration."),
    LintNoDescription = ("recipe::lint::no-description", Warning, "Checklist 21: the recipe does not say what the image is for."),
    LintMissingTags = ("recipe::lint::missing-tags", Warning, "Checklist 9, 22: the image lacks some of the recommended tags."),
    LintNoRetention = ("recipe::lint::no-retention", Warning, "Cost: old versions are never retired, so their snapshots are paid for forever."),
}
