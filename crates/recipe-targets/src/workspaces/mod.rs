//! `workspaces`: an Amazon WorkSpaces image captured from a builder WorkSpace, wrapped in a custom
//! bundle; or imported from a Windows AMI recipe (BYOL).

use std::sync::LazyLock;

use recipe_loader::{
    Check, Code, LintFailure, LintRule, LoadedRecipe, ResolvedStep, RolloutAction, RolloutKind,
    RolloutOrder, RolloutStep, Section, TargetCode, TargetSpec,
};
use recipe_model::{
    Base, BaseKind, BaseKindDef, CleanupPreset, Node, Os, PresetDef, Recipe, Stage, Target,
};
use regex::Regex;

use crate::{EC2_AMI, re};

mod cleanup;
mod import;
pub mod sections;

use sections::{
    BUNDLE_OF, BUNDLE_SECTION, Bundle, IMPORT_OF, IMPORT_SECTION, REBUILD_OF, REBUILD_SECTION,
};
mod text;

/// The target's name.
pub const WORKSPACES: Target = Target::new("workspaces");
/// `base: { bundle }`: a WorkSpaces bundle whose image the builder WorkSpace starts from.
pub static BUNDLE_BASE: BaseKindDef = BaseKindDef {
    name: "bundle",
    summary: "A WorkSpaces bundle whose image the builder WorkSpace starts from (`workspaces`).",
};
/// `base: { workspace }`: an existing WorkSpace to capture from.
pub static WORKSPACE_BASE: BaseKindDef = BaseKindDef {
    name: "workspace",
    summary: "An existing WorkSpace to capture from (`workspaces`).",
};
/// The recipe's `bundle`: created the first time, then updated to each new image.
pub const BUNDLE: RolloutKind = RolloutKind::new("bundle");

recipe_loader::target_codes! {
    IMPORT = ("recipe::workspaces::import", Error, "`builder.import` where nothing is imported, or with members the chosen import call does not take."),
    BYOL_BASE = ("recipe::workspaces::byol-base", Error, "A WorkSpaces recipe imports an AMI recipe built on AWS's license-included Windows: WorkSpaces imports only Windows 10/11 images of your own licence (VM Import, BYOL)."),
    BUNDLE_REGION = ("recipe::workspaces::bundle-region", Error, "A `bundle.regions` entry where the image is not copied (not in `distribute.regions`)."),
    VOLUME_SIZE = ("recipe::workspaces::volume-size", Error, "A WorkSpaces root/user volume combination that cannot be made."),
    SHARED_BUILDER_USER = ("recipe::workspaces::shared-builder-user", Error, "Two WorkSpaces recipes build as the same user in the same directory (one WorkSpace per user and directory)."),
    TEXT = ("recipe::workspaces::text", Error, "A WorkSpaces image or bundle name or description that the API refuses."),
    HOME_WRITE = ("recipe::workspaces::home-write", Warning, "A step writes under /home in a Linux WorkSpaces image: image capture removes /home."),
}

static WSI_ID: LazyLock<Regex> = LazyLock::new(|| re(r"^wsi-[0-9a-z]{9,63}$"));
static NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-zA-Z0-9_./()-]{1,64}$"));
static HOME_PATH: LazyLock<Regex> =
    LazyLock::new(|| re(r#"(^|[\s"'=:>(])(/home(/|\s|$|["'])|~/|\$HOME\b|\$\{HOME\})"#));

/// The WorkSpaces rules.
pub struct Workspaces;

impl TargetSpec for Workspaces {
    fn target(&self) -> Target {
        WORKSPACES
    }

    fn summary(&self) -> &'static str {
        "An Amazon WorkSpaces image captured from a builder WorkSpace, wrapped in a custom bundle."
    }

    fn service(&self) -> &'static str {
        "WorkSpaces"
    }

    fn update_reason(&self) -> Option<&'static str> {
        Some(
            "service updates are available for the current image (WorkSpaces: drivers and agents, applied by CreateUpdatedWorkspaceImage)",
        )
    }

    fn rollout_kinds(&self) -> &'static [(RolloutKind, &'static str)] {
        &[(BUNDLE, "bundle")]
    }

    /// The bundle first, in the build region and each of `bundle.regions` (WorkSpaces are launched
    /// and rebuilt from it); then `rollout.rebuild-workspaces`.
    fn rollouts(&self, r: &Recipe, home: &str) -> Vec<RolloutStep> {
        let Some(bundle) = BUNDLE_OF.of(&r.sections) else {
            return Vec::new();
        };
        let mut regions = vec![home.to_string()];
        for region in &bundle.value.regions {
            if !regions.contains(&region.value) {
                regions.push(region.value.clone());
            }
        }
        let mut out: Vec<RolloutStep> = (regions.into_iter())
            .map(|region| RolloutStep {
                action: RolloutAction::Point {
                    kind: BUNDLE,
                    name: bundle.value.name.value.clone(),
                    missing: None,
                },
                region,
                order: RolloutOrder::First,
                why: "the bundle wraps the new image; WorkSpaces already launched keep theirs until rebuilt".into(),
                counted: None,
            })
            .collect();
        out.extend(rebuild_step(r, home));
        out
    }

    fn bases(&self) -> &'static [&'static str] {
        &["bundle", "workspace", "image-id", "recipe"]
    }

    fn builder_fields(&self) -> &'static [&'static str] {
        &["region", "directory-id", "user-name", "import"]
    }

    fn sections(&self) -> &'static [Section] {
        const LIST: &[Section] = &[
            Section::typed("bundle", &BUNDLE_SECTION),
            Section::typed("builder.import", &IMPORT_SECTION),
            Section::typed("rollout.rebuild-workspaces", &REBUILD_SECTION),
        ];
        LIST
    }

    fn cleanup(&self, os: Os) -> CleanupPreset {
        match os {
            Os::Linux => CleanupPreset::of(&cleanup::LINUX),
            Os::Windows => CleanupPreset::of(&cleanup::WINDOWS),
        }
    }

    fn base_kinds(&self) -> &'static [&'static BaseKindDef] {
        const LIST: &[&BaseKindDef] = &[&BUNDLE_BASE, &WORKSPACE_BASE];
        LIST
    }

    fn presets(&self) -> &'static [&'static PresetDef] {
        const LIST: &[&PresetDef] = &[&cleanup::LINUX, &cleanup::WINDOWS];
        LIST
    }

    /// WorkSpaces imports only Windows AMIs (bring your own licence).
    fn layers_on(&self, parent: &Recipe, os: Os) -> bool {
        let t = parent.target.value;
        t == WORKSPACES || (t == EC2_AMI && os == Os::Windows)
    }

    /// Seed 000: a Linux WorkSpaces image configures its PCoIP agent.
    fn lints(&self, os: Os) -> &'static [&'static str] {
        match os {
            Os::Linux => &["no-pcoip-policy"],
            Os::Windows => &[],
        }
    }

    fn layering_help(&self) -> &'static str {
        crate::LAYERING_HELP
    }

    /// Seed 000, checklist 3: a bundle starts from the smallest disks its compute type allows.
    fn lint_rules(&self, r: &Recipe) -> Vec<LintRule> {
        let Some(b) = BUNDLE_OF.of(&r.sections) else {
            return Vec::new();
        };
        let (root, user) = b.compute.value.smallest_volumes();
        let (has_root, has_user) = (b.root_volume_gib.value, b.user_volume_gib.value);
        let failure = ((root, user) != (has_root, has_user)).then(|| LintFailure {
            span: b.span,
            message: format!("bundle volumes are {has_root} GiB root and {has_user} GiB user"),
            help: format!("start from {root} GiB root and {user} GiB user: users can grow volumes later, and larger bundles cost more for every WorkSpace"),
        });
        vec![LintRule {
            code: Code::LintVolumeSize,
            principles: &["Cost Optimization"],
            failure,
        }]
    }

    fn image_name(&self, name: &str) -> Result<(), &'static str> {
        NAME.is_match(name)
            .then_some(())
            .ok_or("1-64 characters: letters, digits and _ . / ( ) -")
    }

    fn codes(&self) -> &'static [&'static TargetCode] {
        CODES
    }

    fn check(&self, cx: &mut Check<'_>) {
        base_and_builder(cx);
        builder_user(cx);
        text::check(cx);
        if let Some(b) = BUNDLE_OF.of(&cx.r.recipe.sections) {
            bundle(cx, b);
        }
        rebuild(cx);
        home_writes(cx);
        import::check(cx);
        parent(cx);
    }
}

/// A `wsi-` image id; a builder WorkSpace (not a captured one) needs a directory and a user.
fn base_and_builder(cx: &mut Check<'_>) {
    let rec = &cx.r.recipe;
    if let Base::ImageId(id) = &rec.base.value
        && !WSI_ID.is_match(id)
    {
        cx.malformed(
            Code::ImageId,
            id,
            "a WorkSpaces image id `wsi-…`",
            "malformed id",
        );
    }
    if rec.base.declared(BaseKind::of(&WORKSPACE_BASE)).is_some() {
        return;
    }
    if rec.builder.directory_id.is_none() {
        cx.missing_builder(
            "directory-id",
            "the builder WorkSpace is created in a directory",
        );
    }
    if rec.builder.user_name.is_none() {
        cx.missing_builder(
            "user-name",
            "the builder WorkSpace is created for a directory user",
        );
    }
}

/// A bundle is made on the image's copy in each region it lists; its volumes are ones its compute
/// type allows.
fn bundle(cx: &mut Check<'_>, b: &Node<Bundle>) {
    let code = Code::Target(&BUNDLE_REGION);
    cx.image_regions(&b.regions, code, "the bundle is to be made");
    cx.tags(b.tags.iter());
    let (root, user) = (b.root_volume_gib.value, b.user_volume_gib.value);
    let compute = b.compute.value;
    if !compute.volumes_allowed(root, user) {
        let span = b.root_volume_gib.span;
        cx.push(
            Code::Target(&VOLUME_SIZE),
            span,
            format!("WorkSpaces cannot make a {} bundle with volumes of {root} GiB (root) and {user} GiB (user)", compute.api_name()),
            compute.volume_rule(),
            "impossible volume sizes",
        );
    }
}

/// `rollout.rebuild-workspaces`: 1 to 100 at a time, onto the recipe's bundle.
fn rebuild(cx: &mut Check<'_>) {
    let rec = &cx.r.recipe;
    let Some(rw) = rec
        .rollout
        .as_ref()
        .and_then(|r| REBUILD_OF.of(&r.value.sections))
    else {
        return;
    };
    if !(1..=100).contains(&rw.batch) {
        cx.push(
            Code::InvalidValue,
            rw.span,
            format!("a rebuild batch of {} WorkSpaces", rw.batch),
            "rebuild 1 to 100 WorkSpaces at a time",
            "batch out of range",
        );
    }
    if BUNDLE_OF.of(&rec.sections).is_none() {
        cx.push(
            Code::SectionTarget,
            rw.span,
            "rebuilding WorkSpaces needs a bundle to rebuild them on",
            "add a `bundle:` section",
            "no bundle",
        );
    }
}

/// Linux WorkSpaces image capture removes /home: a baked step that writes there is lost.
fn home_writes(cx: &mut Check<'_>) {
    if cx.r.recipe.os.value != Os::Linux {
        return;
    }
    let r: &LoadedRecipe = cx.r;
    for s in r.steps.iter().filter(|s| s.stage == Stage::Image) {
        home_write(cx, s);
    }
}

fn home_write(cx: &mut Check<'_>, s: &ResolvedStep) {
    let texts = recipe_loader::step_texts(&s.step);
    let Some(t) = texts.into_iter().find(|t| HOME_PATH.is_match(t)) else {
        return;
    };
    let label = match s.step.common().and_then(|c| c.name()) {
        Some(n) => format!("`{}` step `{}`", s.step.kind(), n.value),
        None => format!("`{}` step", s.step.kind()),
    };
    cx.push_in_step(
        s,
        Code::Target(&HOME_WRITE),
        t.span,
        format!("{label} writes under /home, which WorkSpaces image capture removes"),
        "install to a system path (/opt, /usr/local, /etc/skel for per-user defaults), or add `stage: launch`",
        "lost when the image is captured",
    );
}

/// On a parent recipe: an AMI is imported (`builder.import`, its licence); a WorkSpaces image is
/// used as it is.
fn parent(cx: &mut Check<'_>) {
    let Some(parent) = cx.parent().map(|p| &p.recipe) else {
        return;
    };
    let windows = cx.r.recipe.os.value == Os::Windows;
    if parent.target.value == EC2_AMI && windows {
        import::check_parent_licence(cx, parent);
    }
    if let Some(import) = IMPORT_OF.of(&cx.r.recipe.builder.sections)
        && parent.target.value != EC2_AMI
    {
        cx.push(
            Code::Target(&IMPORT),
            import.span,
            "`builder.import` imports an `ec2-ami` parent, but this recipe is layered on a WorkSpaces image",
            "remove `builder.import`: a WorkSpaces parent's image is used as it is",
            "nothing is imported",
        );
    }
}

/// WorkSpaces gives a user one WorkSpace per directory: two recipes building as the same user in the
/// same directory and region would refuse each other's builder. Reported on the later recipe.
fn builder_user(cx: &mut Check<'_>) {
    let key = |r: &LoadedRecipe| {
        let b = &r.recipe.builder;
        let user = b.user_name.as_ref()?;
        let dir = b.directory_id.as_ref()?;
        let region = b.region.as_ref().map(|n| n.value.clone());
        Some((dir.value.clone(), user.value.to_lowercase(), region))
    };
    let Some(mine) = key(cx.r) else { return };
    let earlier = cx
        .earlier()
        .filter(|o| o.recipe.target.value == WORKSPACES)
        .find(|o| key(o).as_ref() == Some(&mine));
    let (Some(other), Some(user)) = (earlier, &cx.r.recipe.builder.user_name) else {
        return;
    };
    let span = user.span;
    cx.push(
        Code::Target(&SHARED_BUILDER_USER),
        span,
        format!(
            "`{}` builds as `{}` in directory {}, as `{}` does: WorkSpaces gives a user one WorkSpace per directory, so one build would refuse the other's builder",
            cx.r.recipe.name.value, user.value, mine.0, other.recipe.name.value
        ),
        "give each WorkSpaces recipe its own builder user (`builder.user-name`)",
        "already the builder user of another recipe",
    );
}

/// `rollout.rebuild-workspaces`: the WorkSpaces on the bundle that carry the tags, rebuilt from the
/// new image in batches.
fn rebuild_step(r: &Recipe, home: &str) -> Option<RolloutStep> {
    let rw = REBUILD_OF.of(&r.rollout.as_ref()?.value.sections)?;
    let tagged = (rw.value.tagged.iter())
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    Some(RolloutStep {
        action: RolloutAction::Rebuild {
            machines: "WorkSpaces",
            tagged,
            batch: rw.value.batch,
        },
        region: home.to_string(),
        order: RolloutOrder::AfterFirst,
        why: "rollout.rebuild-workspaces".into(),
        counted: Some("rollout.rebuild-workspaces: {n} WorkSpace(s) on the bundle carry the tags; each is rebuilt from the new image and its user volume goes back to its last snapshot".into()),
    })
}
