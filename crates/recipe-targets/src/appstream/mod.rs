//! `appstream`: an Amazon AppStream 2.0 image captured on an image builder, imported from an AMI
//! recipe (CreateImportedImage), or made by AppStream's managed image update.

use recipe_loader::{
    BuildRoute, Check, Code, RolloutAction, RolloutKind, RolloutOrder, RolloutStep, Section,
    TargetCode, TargetSpec,
};
use recipe_model::{
    BaseKind, BaseKindDef, CleanupPreset, Os, PresetDef, Recipe, SectionDef, SectionKey, Step,
    Target,
};

use crate::{EC2_AMI, re};

mod cleanup;

/// `managed-update`.
pub static MANAGED_UPDATE_SECTION: SectionDef = SectionDef::of::<bool>(
    "",
    "managed-update",
    "AppStream: make each version with AppStream's managed image update (CreateUpdatedImage) of the base image, then of the current version, instead of an image builder. A version is built only when AppStream has an update for the image (agent, Windows patches); the recipe has no steps.",
);
/// A recipe's `managed-update`.
pub const MANAGED_UPDATE_OF: SectionKey<bool> = SectionKey::new(&MANAGED_UPDATE_SECTION);

/// Whether the recipe asks for AppStream's managed image update.
pub fn managed_update(r: &Recipe) -> bool {
    MANAGED_UPDATE_OF.of(&r.sections).is_some_and(|m| m.value)
}

/// `base: { appstream-image }`: an AppStream 2.0 image, by name or ARN.
pub static IMAGE_BASE: BaseKindDef = BaseKindDef {
    name: "appstream-image",
    summary: "An AppStream 2.0 image, by name or ARN (`appstream`).",
};
/// The target's name.
pub const APPSTREAM: Target = Target::new("appstream");
/// `rollout.fleets`: a fleet whose image is replaced (created stopped when missing).
pub const FLEET: RolloutKind = RolloutKind::new("fleet");

recipe_loader::target_codes! {
    IMPORT_STEPS = ("recipe::appstream::import-steps", Error, "An AppStream recipe imported from an AMI recipe has steps, tests or a cleanup preset (anything but `app` steps): nothing runs them, as the import route has no builder."),
    DEFAULT_PROFILE = ("recipe::appstream::default-profile", Error, "`image.update-default-profile` on a recipe that is not a Windows AppStream image."),
    MANAGED_UPDATE = ("recipe::appstream::managed-update", Error, "`managed-update` on a recipe that is not a Windows AppStream image, that does not start from an AppStream image, or that has steps or tests."),
    RESERVED = ("recipe::name::appstream-reserved", Error, "An AppStream image name that begins with Amazon, AWS or AppStream."),
}

/// What the plan says of a fleet that does not exist yet.
const MISSING_FLEET: &str = "the fleet does not exist yet: it is created stopped (On-Demand, one instance), to be sized and started by you";

/// The AppStream rules.
pub struct Appstream;

impl TargetSpec for Appstream {
    fn target(&self) -> Target {
        APPSTREAM
    }

    fn summary(&self) -> &'static str {
        "An Amazon AppStream 2.0 image captured on an image builder."
    }

    fn service(&self) -> &'static str {
        "AppStream"
    }

    fn rollout_kinds(&self) -> &'static [(RolloutKind, &'static str)] {
        &[(FLEET, "fleet")]
    }

    /// The fleets in the order listed, each after the one before is healthy on the new image: the
    /// first (staging) is the gate for the rest.
    fn rollouts(&self, r: &Recipe, home: &str) -> Vec<RolloutStep> {
        let fleets = r.rollout.iter().flat_map(|ro| ro.value.fleets.iter());
        let mut before: Option<&str> = None;
        let mut out = Vec::new();
        for fleet in fleets {
            let why = match before {
                None => "listed in rollout".to_string(),
                Some(b) => format!("listed in rollout, after {b} is healthy"),
            };
            out.push(RolloutStep {
                action: RolloutAction::Point {
                    kind: FLEET,
                    name: fleet.value.clone(),
                    missing: Some(MISSING_FLEET),
                },
                region: home.to_string(),
                order: RolloutOrder::Chained,
                why,
                counted: None,
            });
            before = Some(&fleet.value);
        }
        out
    }

    fn bases(&self) -> &'static [&'static str] {
        &["appstream-image", "recipe"]
    }

    fn builder_fields(&self) -> &'static [&'static str] {
        &[
            "region",
            "instance-type",
            "subnet-id",
            "security-group-ids",
            "iam-role-arn",
            "internet-access",
            "domain-join",
            "agent-version",
        ]
    }

    fn sections(&self) -> &'static [Section] {
        const LIST: &[Section] = &[
            Section::typed("managed-update", &MANAGED_UPDATE_SECTION),
            Section::key("image.display-name"),
            Section::key("image.update-default-profile"),
            Section::key("fleet / image-builder permissions"),
            Section::key("rollout.fleets"),
        ];
        LIST
    }

    fn steps(&self) -> &'static [Section] {
        const LIST: &[Section] = &[Section::noted(
            "app",
            ": `app` steps register AppStream 2.0 applications, and other targets have no application catalog",
        )];
        LIST
    }

    fn cleanup(&self, os: Os) -> CleanupPreset {
        match os {
            Os::Linux => CleanupPreset::of(&cleanup::LINUX),
            Os::Windows => CleanupPreset::of(&cleanup::WINDOWS),
        }
    }

    fn base_kinds(&self) -> &'static [&'static BaseKindDef] {
        const LIST: &[&BaseKindDef] = &[&IMAGE_BASE];
        LIST
    }

    fn presets(&self) -> &'static [&'static PresetDef] {
        const LIST: &[&PresetDef] = &[&cleanup::WINDOWS, &cleanup::LINUX];
        LIST
    }

    fn updates_only(&self, r: &Recipe) -> bool {
        managed_update(r)
    }

    fn layers_on(&self, parent: &Recipe, _os: Os) -> bool {
        [APPSTREAM, EC2_AMI].contains(&parent.target.value)
    }

    fn import_words(&self) -> &'static str {
        "CreateImportedImage turns the AMI into an AppStream image, its `app` steps the catalog"
    }

    /// CreateImportedImage: an AppStream image made from the parent's AMI, with no image builder.
    fn imports(&self, parent: &Recipe) -> bool {
        parent.target.value == EC2_AMI
    }

    fn update_reason(&self) -> Option<&'static str> {
        Some(
            "AppStream has an update for the image (agent, Windows patches): a managed image update (CreateUpdatedImage)",
        )
    }

    fn route(&self, route: BuildRoute<'_>) -> Option<String> {
        Some(match route {
            BuildRoute::Builder => {
                "image builder (steps through SSM, Image Assistant create-image)".into()
            }
            BuildRoute::Import { parent } => {
                format!("import route (CreateImportedImage of `{parent}`'s AMI)")
            }
            BuildRoute::Update => "managed update (CreateUpdatedImage of the current image)".into(),
        })
    }

    /// A share with an account lets it use the image for fleets (API_UpdateImagePermissions).
    fn account_share(&self) -> (bool, bool) {
        (true, false)
    }

    fn layering_help(&self) -> &'static str {
        crate::LAYERING_HELP
    }

    fn image_name(&self, name: &str) -> Result<(), &'static str> {
        static NAME: std::sync::LazyLock<regex::Regex> =
            std::sync::LazyLock::new(|| re(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$"));
        NAME.is_match(name)
            .then_some(())
            .ok_or("1-100 characters, starting with a letter or digit: letters, digits and _ . -")
    }

    fn codes(&self) -> &'static [&'static TargetCode] {
        CODES
    }

    fn check(&self, cx: &mut Check<'_>) {
        builder(cx);
        reserved_name(cx);
        default_profile(cx);
        check_managed_update(cx);
        let parent = cx
            .parent()
            .map(|p| &p.recipe)
            .filter(|p| p.target.value == EC2_AMI);
        if let Some(p) = parent {
            let gib = p.builder.volume_size_gib.as_ref().map(|g| g.value);
            let name = p.name.value.clone();
            import_route(cx, &name, gib);
        }
    }
}

/// An image builder needs a `stream.*` instance type (a managed update has no builder).
fn builder(cx: &mut Check<'_>) {
    let b = &cx.r.recipe.builder;
    if b.instance_type.is_none() && !managed_update(&cx.r.recipe) {
        let why = "image builders need a `stream.*` instance type";
        cx.missing_builder("instance-type", why);
    }
    if let Some(it) = b
        .instance_type
        .as_ref()
        .filter(|it| !it.starts_with("stream."))
    {
        let want = "an AppStream instance type, e.g. `stream.standard.medium`";
        cx.malformed(Code::InstanceType, it, want, "wrong instance type");
    }
}

/// AppStream reserves names that begin with Amazon, AWS or AppStream (API_CreateImageBuilder).
fn reserved_name(cx: &mut Check<'_>) {
    let name = recipe_loader::sample_name(&cx.r.recipe.image.name);
    if name.contains("${") {
        return; // an unknown variable, already reported
    }
    let lower = name.to_ascii_lowercase();
    let prefixes = ["Amazon", "AWS", "AppStream"].iter();
    let Some(prefix) = prefixes
        .into_iter()
        .find(|p| lower.starts_with(&p.to_ascii_lowercase()))
    else {
        return;
    };
    let span = cx.r.recipe.image.name.span;
    cx.push(
        Code::Target(&RESERVED),
        span,
        format!("AppStream image names cannot begin with `{prefix}`"),
        "AppStream reserves names that begin with Amazon, AWS or AppStream (in any case): start with your team or app name",
        "reserved prefix",
    );
}

/// The import route (an AppStream recipe on an AMI recipe): CreateImportedImage takes Windows AMIs,
/// and there is no builder, so the recipe's own steps can only be `app` steps (the catalog) and it
/// can have no tests.
fn import_route(cx: &mut Check<'_>, parent: &str, parent_gib: Option<u32>) {
    let span = cx.r.recipe.base.span;
    if let Some(gib) = parent_gib.filter(|g| *g > 500) {
        cx.push(
            Code::IncompatibleBase,
            span,
            format!(
                "AppStream imports AMIs of at most 500 GB, and `{parent}` makes one of {gib} GiB"
            ),
            format!("set `builder.volume-size-gib` of `{parent}` to 500 or less"),
            "AMI too large to import",
        );
    }
    if cx.r.recipe.os.value != Os::Windows {
        cx.push(
            Code::IncompatibleBase,
            span,
            "AppStream imports Windows AMIs only (CreateImportedImage)".to_string(),
            "build the Linux image on an AppStream image builder: `base: { appstream-image: AppStream-AmazonLinux2-… }`",
            "Linux import",
        );
    }
    let others: Vec<String> = (cx.r.steps.iter())
        .filter(|s| !matches!(s.step.value, Step::App(_)))
        .map(|s| format!("`{}`", s.step.value.kind()))
        .chain((!cx.r.tests.is_empty()).then(|| "`tests`".to_string()))
        .chain(
            (cx.r.recipe.cleanup.as_ref())
                .filter(|c| c.value != recipe_model::CleanupPreset::NONE)
                .map(|_| "`cleanup`".to_string()),
        )
        .collect();
    if !others.is_empty() {
        cx.push(
            Code::Target(&IMPORT_STEPS),
            span,
            format!(
                "an AppStream image imported from `{parent}` runs no steps of its own, but this recipe has {}",
                others.join(", ")
            ),
            format!("move them into the AMI recipe `{parent}` (its bake feeds this image), or build on an image builder with `base: {{ appstream-image: … }}`; only `app` steps stay here, as the image's catalog"),
            "imported from an AMI recipe",
        );
    }
}

/// `image.update-default-profile`: the Image Assistant's, on a Windows AppStream image builder.
fn default_profile(cx: &mut Check<'_>) {
    let Some(u) =
        cx.r.recipe
            .image
            .update_default_profile
            .as_ref()
            .filter(|u| u.value)
    else {
        return;
    };
    if cx.r.recipe.os.value != Os::Windows {
        cx.push(
            Code::Target(&DEFAULT_PROFILE),
            u.span,
            "`update-default-profile` runs on Windows AppStream image builders only".to_string(),
            "remove it: Linux AppStream images and other targets have no default profile to update",
            "no default profile here",
        );
    }
}

/// `managed-update: true`: AppStream's CreateUpdatedImage of an AppStream image, with nothing to run.
fn check_managed_update(cx: &mut Check<'_>) {
    let Some(m) = MANAGED_UPDATE_OF
        .of(&cx.r.recipe.sections)
        .filter(|m| m.value)
    else {
        return;
    };
    let span = m.span;
    let problem = if (cx.r.recipe.base.value.declared(BaseKind::of(&IMAGE_BASE))).is_none() {
        Some((
            "a managed update starts from an AppStream image".to_string(),
            "start from `base: { appstream-image: <your image> }`".to_string(),
        ))
    } else if cx.r.recipe.os.value == recipe_model::Os::Linux {
        // API_CreateUpdatedImage answers IncompatibleImageException for an image it cannot update;
        // managed image updates are for Windows images ("Keep Your AppStream 2.0 Image Up-to-Date").
        Some((
            "AppStream's managed image updates (CreateUpdatedImage) apply to Windows images only"
                .to_string(),
            "remove `managed-update`, and rebuild the Linux image on an image builder with an `update-os` step"
                .to_string(),
        ))
    } else if !cx.r.steps.is_empty() || !cx.r.tests.is_empty() {
        Some((
            "a managed update runs no steps or tests: AppStream updates the image itself"
                .to_string(),
            "remove `steps` and `tests`, or remove `managed-update` to build on an image builder"
                .to_string(),
        ))
    } else {
        None
    };
    if let Some((message, help)) = problem {
        cx.push(
            Code::Target(&MANAGED_UPDATE),
            span,
            message,
            help,
            "managed update",
        );
    }
}
