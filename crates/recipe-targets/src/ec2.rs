//! `ec2-ami`: an Amazon Machine Image built on a temporary EC2 instance.

use std::sync::LazyLock;

use recipe_loader::{
    Check, Code, RolloutAction, RolloutKind, RolloutOrder, RolloutStep, Section, TargetCode,
    TargetSpec,
};
use recipe_model::{Base, CleanupPreset, Os, Recipe, Step, Target};
use regex::Regex;

use crate::re;

/// The target's name.
pub const EC2_AMI: Target = Target::new("ec2-ami");
/// `rollout.ssm-parameter`: an SSM parameter of data type `aws:ec2:image` that holds the AMI id.
pub const SSM_PARAMETER: RolloutKind = RolloutKind::new("ssm-parameter");
/// `rollout.launch-templates`: a new default version of the template, with the AMI.
pub const LAUNCH_TEMPLATE: RolloutKind = RolloutKind::new("launch-template");

recipe_loader::target_codes! {
    NO_SYSPREP = ("recipe::windows::no-sysprep", Warning, "A Windows AMI without a `sysprep` step."),
}

/// An AMI id (API_Image: `ami-` and 8 or 17 hexadecimal digits).
pub(crate) static AMI_ID: LazyLock<Regex> = LazyLock::new(|| re(r"^ami-[0-9a-f]{8,17}$"));
static EC2_TYPE: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"));
/// API_CreateImage: 3-128 characters of these.
static NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z0-9()\[\] ./'@_-]{3,128}$"));

/// The EC2 rules.
pub struct Ec2Ami;

impl TargetSpec for Ec2Ami {
    fn target(&self) -> Target {
        EC2_AMI
    }

    fn summary(&self) -> &'static str {
        "An Amazon Machine Image, built on a temporary EC2 instance."
    }

    fn service(&self) -> &'static str {
        "EC2"
    }

    fn rollout_kinds(&self) -> &'static [(RolloutKind, &'static str)] {
        &[
            (SSM_PARAMETER, "SSM parameter"),
            (LAUNCH_TEMPLATE, "launch template"),
        ]
    }

    /// Each launch template and the SSM parameter, in every rollout region (each AMI copy has its
    /// own id), once the image is there.
    fn rollouts(&self, r: &Recipe, home: &str) -> Vec<RolloutStep> {
        let Some(ro) = &r.rollout else {
            return Vec::new();
        };
        let templates = ro
            .value
            .launch_templates
            .iter()
            .map(|t| (LAUNCH_TEMPLATE, t));
        let params = ro.value.ssm_parameter.iter().map(|p| (SSM_PARAMETER, p));
        let targets: Vec<_> = templates.chain(params).collect();
        let mut out = Vec::new();
        for region in r.rollout_regions(home) {
            for (kind, name) in &targets {
                out.push(RolloutStep {
                    action: RolloutAction::Point {
                        kind: *kind,
                        name: name.value.clone(),
                        missing: None,
                    },
                    region: region.clone(),
                    order: RolloutOrder::InRegion,
                    why: "listed in rollout".into(),
                    counted: None,
                });
            }
        }
        out
    }

    fn bases(&self) -> &'static [&'static str] {
        &["ssm-parameter", "ami-filter", "image-id", "recipe"]
    }

    fn builder_fields(&self) -> &'static [&'static str] {
        &[
            "region",
            "instance-type",
            "subnet-id",
            "security-group-ids",
            "instance-profile",
            "volume-size-gib",
        ]
    }

    fn sections(&self) -> &'static [Section] {
        const SHARE: &str = ": WorkSpaces and AppStream share with accounts";
        const LIST: &[Section] = &[
            Section::key("kms-keys"),
            Section::noted(
                "encrypted",
                " (WorkSpaces images must not be encrypted; encrypt WorkSpaces at deployment)",
            ),
            Section::noted("share.organizations", SHARE),
            Section::noted("share.organizational-units", SHARE),
            Section::noted("rollout.regions", " (SSM parameter, launch templates)"),
            Section::key("rollout.launch-templates"),
            Section::key("rollout.ssm-parameter"),
            Section::noted("retain.deprecate-after", " (only AMIs can be deprecated)"),
        ];
        LIST
    }

    fn steps(&self) -> &'static [Section] {
        const LIST: &[Section] = &[Section::noted(
            "sysprep",
            ": WorkSpaces and AppStream generalise the image themselves when they capture it",
        )];
        LIST
    }

    fn cleanup(&self, os: Os) -> CleanupPreset {
        match os {
            Os::Linux => CleanupPreset::LINUX,
            Os::Windows => CleanupPreset::WINDOWS,
        }
    }

    fn layering_help(&self) -> &'static str {
        crate::LAYERING_HELP
    }

    fn image_name(&self, name: &str) -> Result<(), &'static str> {
        NAME.is_match(name)
            .then_some(())
            .ok_or("3-128 characters: letters, digits, spaces and ( ) [ ] . / - ' @ _")
    }

    fn codes(&self) -> &'static [&'static TargetCode] {
        CODES
    }

    fn check(&self, cx: &mut Check<'_>) {
        if let Base::ImageId(id) = &cx.r.recipe.base.value
            && !AMI_ID.is_match(id)
        {
            let want = "an AMI id `ami-` and 8 or 17 hexadecimal digits";
            cx.malformed(Code::ImageId, id, want, "malformed id");
        }
        if let Some(it) = &cx.r.recipe.builder.instance_type
            && (it.starts_with("stream.") || !EC2_TYPE.is_match(it))
        {
            let want = "an EC2 instance type, e.g. `t3.small`";
            cx.malformed(Code::InstanceType, it, want, "wrong instance type");
        }
        sysprep(cx);
    }
}

/// A Windows AMI is generalised by a `sysprep` step, or every instance shares its SID and name.
fn sysprep(cx: &mut Check<'_>) {
    let rec = &cx.r.recipe;
    let has =
        cx.r.steps
            .iter()
            .any(|s| matches!(s.step.value, Step::Sysprep(_)));
    if rec.os.value == Os::Windows && !has {
        let span = rec.os.span;
        cx.push(
            Code::Target(&NO_SYSPREP),
            span,
            "a Windows AMI without `sysprep`",
            "add `- sysprep: {}` as the last step so instances launched from the image get a new SID and computer name",
            "Windows AMI",
        );
    }
}
