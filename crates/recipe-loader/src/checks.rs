//! Semantic checks: what parses but cannot be built, or goes against the seed documents' advice.
//!
//! Every check is pure: it reads the loaded set and pushes diagnostics, each with a span and a fix.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::{Arc, LazyLock};

use recipe_model::{
    AccountShare, Base, CleanupPreset, Node, Os, Span, Stage, Step, Strategy, Target,
};
use regex::Regex;

mod import;
mod powershell;

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, SourceFile};
use crate::interpolate::BUILD_TIME;
use crate::load::{LoadedRecipe, RecipeSet, ResolvedStep};
use crate::secrets;

fn re(s: &str) -> Regex {
    Regex::new(s).expect("check pattern compiles")
}

static RECIPE_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z0-9][a-z0-9-]{0,62}$"));
static SEMVER: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
});
static REGION: LazyLock<Regex> = LazyLock::new(|| re(recipe_model::patterns::REGION));
static ACCOUNT: LazyLock<Regex> = LazyLock::new(|| re(recipe_model::patterns::ACCOUNT));
static ORG_ARN: LazyLock<Regex> = LazyLock::new(|| re(recipe_model::patterns::ORG_ARN));
static OU_ARN: LazyLock<Regex> = LazyLock::new(|| re(recipe_model::patterns::OU_ARN));
static ROLE_ARN: LazyLock<Regex> =
    LazyLock::new(|| re(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$"));
static KMS_KEY: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[\w/-]+|alias/[\w/-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$",
    )
});
static EC2_TYPE: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"));
static AMI_ID: LazyLock<Regex> = LazyLock::new(|| re(r"^ami-[0-9a-f]{8,17}$"));
static WSI_ID: LazyLock<Regex> = LazyLock::new(|| re(r"^wsi-[0-9a-z]{9,63}$"));
static EC2_IMAGE_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Za-z0-9()\[\] ./'@_-]{3,128}$"));
static WS_IMAGE_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-zA-Z0-9_./()-]{1,64}$"));
static WS_IMAGE_NAME_CHARS: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-zA-Z0-9_./()-]+$"));
/// WorkSpaces image and bundle descriptions (API_CreateWorkspaceImage, API_CreateWorkspaceBundle):
/// letters, digits, spaces and `_ . / ( ) -`; so no `:`, `#` or `,`.
static WS_DESCRIPTION: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-zA-Z0-9_./() -]+$"));
static AS_IMAGE_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$"));
static HOME_PATH: LazyLock<Regex> =
    LazyLock::new(|| re(r#"(^|[\s"'=:>(])(/home(/|\s|$|["'])|~/|\$HOME\b|\$\{HOME\})"#));
static FILE_MODE: LazyLock<Regex> = LazyLock::new(|| re(r"^0?[0-7]{3,4}$"));
static SHA256: LazyLock<Regex> = LazyLock::new(|| re(r"^[0-9a-fA-F]{64}$"));
const MAX_RETRIES: u8 = 10;
static TAG_CHARS: LazyLock<Regex> = LazyLock::new(|| re(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$"));

struct Ctx<'a> {
    r: &'a LoadedRecipe,
    src: &'a Arc<SourceFile>,
    target: Target,
    out: &'a mut Vec<Diagnostic>,
    /// Regions allowed besides the known ones.
    allow_regions: &'a [String],
}

impl Ctx<'_> {
    fn push(
        &mut self,
        code: Code,
        span: Span,
        message: impl Into<String>,
        help: impl Into<String>,
        label: &str,
    ) {
        self.out.push(
            Diagnostic::new(code, message)
                .help(help)
                .label(label)
                .at(self.src, span),
        );
    }

    fn wrong_target(&mut self, span: Span, what: &str, allowed: &str) {
        let t = self.target.as_str();
        self.push(
            Code::SectionTarget,
            span,
            format!("`{what}` does not apply to target `{t}`"),
            format!("remove it: it is for {allowed}"),
            "not for this target",
        );
    }
}

/// WorkSpaces gives a user one WorkSpace per directory: two recipes building as the same user in the
/// same directory and region would refuse each other's builder. Reported on the later recipe.
fn check_builder_user(cx: &mut Ctx<'_>, set: &RecipeSet) {
    let key = |r: &LoadedRecipe| {
        let b = &r.recipe.builder;
        let user = b.user_name.as_ref()?;
        let dir = b.directory_id.as_ref()?;
        let region = b.region.as_ref().map(|n| n.value.clone());
        Some((dir.value.clone(), user.value.to_lowercase(), region))
    };
    if cx.target != Target::Workspaces {
        return;
    }
    let Some(mine) = key(cx.r) else { return };
    let earlier = set
        .recipes
        .iter()
        .take_while(|o| !std::ptr::eq(*o, cx.r))
        .filter(|o| o.recipe.target.value == Target::Workspaces)
        .find(|o| key(o).as_ref() == Some(&mine));
    let (Some(other), Some(user)) = (earlier, &cx.r.recipe.builder.user_name) else {
        return;
    };
    let span = user.span;
    cx.push(
        Code::SharedBuilderUser,
        span,
        format!(
            "`{}` builds as `{}` in directory {}, as `{}` does: WorkSpaces gives a user one WorkSpace per directory, so one build would refuse the other's builder",
            cx.r.recipe.name.value, user.value, mine.0, other.recipe.name.value
        ),
        "give each WorkSpaces recipe its own builder user (`builder.user-name`)",
        "already the builder user of another recipe",
    );
}

/// Run every check over a loaded set.
pub(crate) fn check_set(set: &mut RecipeSet, options: &crate::LoadOptions) {
    let mut out = Vec::new();
    // Sources are shared (one per file), so their addresses say which were scanned.
    let mut scanned: HashSet<*const SourceFile> = HashSet::new();
    let mut scanned_files: HashSet<&Path> = HashSet::new();
    let mut parsed = powershell::Parsed::default();
    for r in &set.recipes {
        let mut cx = Ctx {
            r,
            src: &r.source,
            target: r.recipe.target.value,
            out: &mut out,
            allow_regions: &options.allow_regions,
        };
        check_recipe(&mut cx);
        check_layering(&mut cx, set);
        check_managed_update(&mut cx);
        check_default_profile(&mut cx);
        check_builder_user(&mut cx, set);
        parsed.check(r, &mut out);
        // Secrets: the recipe and its components (once each), and every referenced file.
        if scanned.insert(Arc::as_ptr(&r.source)) {
            secrets::scan(&r.source, Code::SecretInRecipe, &mut out);
        }
        for s in r.steps.iter().chain(&r.tests).chain(&r.skipped) {
            if scanned.insert(Arc::as_ptr(&s.source)) {
                secrets::scan(&s.source, Code::SecretInRecipe, &mut out);
            }
        }
        for f in &r.files {
            if scanned_files.insert(f.path.as_path())
                && let Ok(text) = std::str::from_utf8(&f.bytes)
            {
                secrets::scan(
                    &SourceFile::new(f.path.clone(), text),
                    Code::SecretInFile,
                    &mut out,
                );
            }
        }
    }
    set.diagnostics.extend(out);
}

fn check_layering(cx: &mut Ctx<'_>, set: &RecipeSet) {
    let Some(p) = cx.r.parent else { return };
    let parent = set.recipes[p].recipe.target.value;
    // WorkSpaces imports only Windows AMIs (bring your own licence).
    let windows = cx.r.recipe.os.value == Os::Windows;
    let ok = matches!(
        (cx.target, parent),
        (Target::Ec2Ami, Target::Ec2Ami)
            | (Target::Workspaces, Target::Workspaces)
            | (Target::Appstream, Target::Appstream | Target::Ec2Ami)
    ) || (cx.target == Target::Workspaces && parent == Target::Ec2Ami && windows);
    let parent_os = set.recipes[p].recipe.os.value;
    if ok && parent_os != cx.r.recipe.os.value {
        let span = cx.r.recipe.base.span;
        cx.push(
            Code::IncompatibleBase,
            span,
            format!(
                "{} {} image cannot be built on a {} recipe",
                article(cx.r.recipe.os.as_str()),
                cx.r.recipe.os.as_str(),
                parent_os.as_str()
            ),
            format!(
                "layer on a {} recipe, or change `os:` to match the image it is built on",
                cx.r.recipe.os.as_str()
            ),
            "different operating system",
        );
    }
    if let Some(import) = &cx.r.recipe.builder.import
        && parent != Target::Ec2Ami
    {
        let span = import.span;
        cx.push(
            Code::WorkspacesImport,
            span,
            "`builder.import` imports an `ec2-ami` parent, but this recipe is layered on a WorkSpaces image",
            "remove `builder.import`: a WorkSpaces parent's image is used as it is",
            "nothing is imported",
        );
    }
    if ok && cx.target == Target::Appstream && parent == Target::Ec2Ami {
        let pr = &set.recipes[p].recipe;
        let gib = pr.builder.volume_size_gib.as_ref().map(|g| g.value);
        check_import_route(cx, &pr.name.value, gib);
    }
    if !ok {
        let span = cx.r.recipe.base.span;
        cx.push(
            Code::IncompatibleBase,
            span,
            format!("{} `{}` image cannot be built on {} `{}` recipe", article(cx.target.as_str()), cx.target.as_str(), article(parent.as_str()), parent.as_str()),
            "layer on a recipe of the same target, or on an `ec2-ami` recipe (AppStream imports AMIs; WorkSpaces imports Windows AMIs only)",
            "incompatible base",
        );
    }
}

/// The import route (an AppStream recipe on an AMI recipe): CreateImportedImage takes Windows AMIs,
/// and there is no builder, so the recipe's own steps can only be `app` steps (the catalog) and it
/// can have no tests.
fn check_import_route(cx: &mut Ctx<'_>, parent: &str, parent_gib: Option<u32>) {
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
                .filter(|c| c.value != recipe_model::CleanupPreset::None)
                .map(|_| "`cleanup`".to_string()),
        )
        .collect();
    if !others.is_empty() {
        cx.push(
            Code::ImportSteps,
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
fn check_default_profile(cx: &mut Ctx<'_>) {
    let Some(u) =
        cx.r.recipe
            .image
            .update_default_profile
            .as_ref()
            .filter(|u| u.value)
    else {
        return;
    };
    let ok = cx.target == Target::Appstream && cx.r.recipe.os.value == Os::Windows;
    if !ok {
        cx.push(
            Code::DefaultProfile,
            u.span,
            "`update-default-profile` runs on Windows AppStream image builders only".to_string(),
            "remove it: Linux AppStream images and other targets have no default profile to update",
            "no default profile here",
        );
    }
}

/// `managed-update: true`: AppStream's CreateUpdatedImage of an AppStream image, with nothing to run.
fn check_managed_update(cx: &mut Ctx<'_>) {
    let Some(m) = cx.r.recipe.managed_update.as_ref().filter(|m| m.value) else {
        return;
    };
    let span = m.span;
    let problem = if cx.target != Target::Appstream {
        Some((
            format!(
                "`managed-update` is AppStream's (CreateUpdatedImage), not `{}`'s",
                cx.target.as_str()
            ),
            "remove `managed-update`".to_string(),
        ))
    } else if !matches!(cx.r.recipe.base.value, Base::AppstreamImage(_)) {
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
        cx.push(Code::ManagedUpdate, span, message, help, "managed update");
    }
}

fn check_recipe(cx: &mut Ctx<'_>) {
    let rec = &cx.r.recipe;
    if !RECIPE_NAME.is_match(&rec.name) {
        cx.push(
            Code::RecipeName,
            rec.name.span,
            format!(
                "recipe name `{}` is not lowercase letters, digits and `-`",
                rec.name.value
            ),
            format!("rename it, e.g. `{}`", slug(&rec.name)),
            "invalid name",
        );
    }
    if !SEMVER.is_match(&rec.version) {
        cx.push(
            Code::NotSemver,
            rec.version.span,
            format!("version `{}` is not semantic versioning", rec.version.value),
            "write MAJOR.MINOR.PATCH, e.g. `1.4.0`, so versions sort and compare",
            "not MAJOR.MINOR.PATCH",
        );
    }
    check_base(cx);
    check_builder(cx);
    check_steps(cx);
    check_image(cx);
    check_distribute(cx);
    check_target_sections(cx);
    import::check(cx);
    check_cleanup(cx);
    check_lint_ignore(cx);
}

/// Each `lint.ignore` entry names a lint rule and says why.
fn check_lint_ignore(cx: &mut Ctx<'_>) {
    let Some(lint) = &cx.r.recipe.lint else {
        return;
    };
    for entry in &lint.ignore {
        let rule = &entry.value.rule;
        if !crate::lint::RULES.contains(&rule.value.as_str()) {
            let help =
                match crate::suggest::did_you_mean(&rule.value, crate::lint::RULES.iter().copied())
                {
                    Some(near) => format!(
                        "did you mean `{near}`? The rules are: {}",
                        crate::lint::RULES.join(", ")
                    ),
                    None => format!("the rules are: {}", crate::lint::RULES.join(", ")),
                };
            cx.push(
                Code::LintIgnoreRule,
                rule.span,
                format!("`{}` is not a lint rule", rule.value),
                help,
                "unknown rule",
            );
        }
        let reason = &entry.value.reason;
        if reason.value.trim().is_empty() {
            cx.push(
                Code::LintIgnoreRule,
                reason.span,
                format!("switching off `{}` needs a reason", rule.value),
                "say why the rule does not apply to this recipe, for the reviewers who read it in git",
                "empty reason",
            );
        }
    }
}

/// The preset written for a target and operating system.
pub(crate) fn preset_for(target: Target, os: Os) -> CleanupPreset {
    match (target, os) {
        (Target::Ec2Ami, Os::Linux) => CleanupPreset::Linux,
        (Target::Ec2Ami, Os::Windows) => CleanupPreset::Windows,
        (Target::Workspaces, Os::Linux) => CleanupPreset::WorkspacesLinux,
        (Target::Workspaces, Os::Windows) => CleanupPreset::WorkspacesWindows,
        (Target::Appstream, Os::Linux) => CleanupPreset::AppstreamLinux,
        (Target::Appstream, Os::Windows) => CleanupPreset::AppstreamWindows,
    }
}

fn check_cleanup(cx: &mut Ctx<'_>) {
    let Some(c) = &cx.r.recipe.cleanup else {
        return;
    };
    let want = preset_for(cx.target, cx.r.recipe.os.value);
    if c.value != CleanupPreset::None && c.value != want {
        cx.push(
            Code::CleanupMismatch,
            c.span,
            format!(
                "cleanup preset `{}` is not for a {} `{}` image",
                c.as_str(),
                cx.r.recipe.os.as_str(),
                cx.target.as_str()
            ),
            format!("use `cleanup: {}`", want.as_str()),
            "wrong preset",
        );
    }
}

fn check_base(cx: &mut Ctx<'_>) {
    let base = &cx.r.recipe.base;
    let t = cx.target;
    let allowed: &[&str] = match t {
        Target::Ec2Ami => &["ssm-parameter", "ami-filter", "image-id", "recipe"],
        Target::Workspaces => &["bundle", "workspace", "image-id", "recipe"],
        Target::Appstream => &["appstream-image", "recipe"],
    };
    if !allowed.contains(&base.kind()) {
        cx.push(
            Code::BaseTarget,
            base.span,
            format!(
                "{} `{}` recipe cannot start from {} `{}` base",
                article(t.as_str()),
                t.as_str(),
                article(base.kind()),
                base.kind()
            ),
            format!("use one of: {}", allowed.join(", ")),
            "wrong base for this target",
        );
        return;
    }
    if let Base::ImageId(id) = &base.value {
        let (ok, want) = match t {
            Target::Workspaces => (WSI_ID.is_match(id), "a WorkSpaces image id `wsi-…`"),
            _ => (
                AMI_ID.is_match(id),
                "an AMI id `ami-` and 8 or 17 hexadecimal digits",
            ),
        };
        if !ok {
            cx.push(
                Code::ImageId,
                id.span,
                format!("`{}` is not {want}", id.value),
                format!("write {want}"),
                "malformed id",
            );
        }
    }
    if let Base::AmiFilter(f) = &base.value {
        if f.owners.is_empty() {
            // Anyone can publish an AMI named like Amazon's: without owners, DescribeImages matches
            // every public AMI ("Understand AMI name confusion", EC2 User Guide).
            cx.push(
                Code::AmiOwners,
                base.span,
                "an `ami-filter` base without `owners` takes the newest public AMI of any account whose name matches",
                "add `owners: [amazon]` (Amazon's AMIs), `[aws-marketplace]`, or the 12-digit account id that publishes the base",
                "no owners",
            );
        }
        for o in &f.owners {
            if !(ACCOUNT.is_match(o) || ["self", "amazon", "aws-marketplace"].contains(&o.as_str()))
            {
                cx.push(
                    Code::AccountId,
                    o.span,
                    format!("owner `{}` is not an account id or alias", o.value),
                    "write a 12-digit account id, `self`, `amazon` or `aws-marketplace`",
                    "invalid owner",
                );
            }
        }
    }
}

fn check_builder(cx: &mut Ctx<'_>) {
    let b = &cx.r.recipe.builder;
    let t = cx.target;
    let present: [(&str, Option<Span>); 12] = [
        ("region", b.region.as_ref().map(|n| n.span)),
        ("instance-type", b.instance_type.as_ref().map(|n| n.span)),
        ("subnet-id", b.subnet_id.as_ref().map(|n| n.span)),
        (
            "security-group-ids",
            b.security_group_ids.first().map(|n| n.span),
        ),
        (
            "instance-profile",
            b.instance_profile.as_ref().map(|n| n.span),
        ),
        ("iam-role-arn", b.iam_role_arn.as_ref().map(|n| n.span)),
        (
            "volume-size-gib",
            b.volume_size_gib.as_ref().map(|n| n.span),
        ),
        ("directory-id", b.directory_id.as_ref().map(|n| n.span)),
        ("user-name", b.user_name.as_ref().map(|n| n.span)),
        (
            "internet-access",
            b.internet_access.as_ref().map(|n| n.span),
        ),
        ("domain-join", b.domain_join.as_ref().map(|n| n.span)),
        ("agent-version", b.agent_version.as_ref().map(|n| n.span)),
    ];
    let allowed: &[&str] = match t {
        Target::Ec2Ami => &[
            "region",
            "instance-type",
            "subnet-id",
            "security-group-ids",
            "instance-profile",
            "volume-size-gib",
        ],
        Target::Workspaces => &["region", "directory-id", "user-name"],
        Target::Appstream => &[
            "region",
            "instance-type",
            "subnet-id",
            "security-group-ids",
            "iam-role-arn",
            "internet-access",
            "domain-join",
            "agent-version",
        ],
    };
    for (name, span) in present {
        if let Some(span) = span
            && !allowed.contains(&name)
        {
            cx.push(
                Code::BuilderTarget,
                span,
                format!(
                    "builder setting `{name}` does not apply to target `{}`",
                    t.as_str()
                ),
                format!(
                    "remove it; the builder settings for `{}` are: {}",
                    t.as_str(),
                    allowed.join(", ")
                ),
                "not used by this target",
            );
        }
    }
    let missing = |cx: &mut Ctx<'_>, field: &str, why: &str| {
        let span = cx.r.recipe.target.span;
        cx.push(
            Code::BuilderMissing,
            span,
            format!("target `{}` needs `builder.{field}`", cx.target.as_str()),
            format!("add `builder: {{ {field}: … }}`: {why}"),
            "this target",
        );
    };
    match t {
        Target::Workspaces if !matches!(cx.r.recipe.base.value, Base::Workspace(_)) => {
            if b.directory_id.is_none() {
                missing(
                    cx,
                    "directory-id",
                    "the builder WorkSpace is created in a directory",
                );
            }
            if b.user_name.is_none() {
                missing(
                    cx,
                    "user-name",
                    "the builder WorkSpace is created for a directory user",
                );
            }
        }
        // A managed update has no builder.
        Target::Appstream if b.instance_type.is_none() && !cx.r.recipe.managed_update() => {
            missing(
                cx,
                "instance-type",
                "image builders need a `stream.*` instance type",
            );
        }
        _ => {}
    }
    if let Some(it) = &b.instance_type {
        let bad = match t {
            Target::Appstream => (!it.starts_with("stream."))
                .then_some("an AppStream instance type, e.g. `stream.standard.medium`"),
            _ => (it.starts_with("stream.") || !EC2_TYPE.is_match(it))
                .then_some("an EC2 instance type, e.g. `t3.small`"),
        };
        if let Some(want) = bad {
            cx.push(
                Code::InstanceType,
                it.span,
                format!("`{}` is not {want}", it.value),
                format!("write {want}"),
                "wrong instance type",
            );
        }
    }
    if let Some(r) = &b.region {
        check_region(cx, r);
    }
    if let Some(arn) = &b.iam_role_arn
        && !ROLE_ARN.is_match(arn)
    {
        cx.push(
            Code::Arn,
            arn.span,
            format!("`{}` is not an IAM role ARN", arn.value),
            "write `arn:aws:iam::<12-digit account>:role/<name>`",
            "malformed ARN",
        );
    }
}

fn check_region(cx: &mut Ctx<'_>, r: &Node<String>) {
    check_region_as(
        cx,
        r,
        "write a region code such as `eu-west-2` or `us-east-1`",
    );
}

/// A region code: its shape, then that AWS has such a region (or the user allowed it).
fn check_region_as(cx: &mut Ctx<'_>, r: &Node<String>, shape_help: &str) {
    if !REGION.is_match(r) {
        cx.push(
            Code::Region,
            r.span,
            format!("`{}` is not an AWS region", r.value),
            shape_help,
            "not a region",
        );
        return;
    }
    let Some(help) = crate::suggest::unknown_region_help(r, cx.allow_regions) else {
        return;
    };
    cx.push(
        Code::UnknownRegion,
        r.span,
        format!("there is no AWS region `{}`", r.value),
        help,
        "unknown region",
    );
}

/// Whether the scalar at `span` is written quoted in `text` (a span that is not known counts as
/// quoted: a synthetic value has no source to be unquoted in).
fn quoted(text: &str, span: Span) -> bool {
    !span.is_known() || text[span.offset.min(text.len())..].starts_with(['"', '\''])
}

/// A display name for a step in messages.
fn step_label(s: &ResolvedStep) -> String {
    match s.step.common().and_then(|c| c.name()) {
        Some(n) => format!("`{}` step `{}`", s.step.kind(), n.value),
        None => format!("`{}` step", s.step.kind()),
    }
}

fn check_steps(cx: &mut Ctx<'_>) {
    let rec = &cx.r.recipe;
    let os = rec.os.value;
    let strategy = rec.strategy.value;
    let mut has_sysprep = false;
    let all =
        cx.r.steps
            .iter()
            .map(|s| (s, false))
            .chain(cx.r.tests.iter().map(|s| (s, true)));
    let mut out = Vec::new();
    for (s, is_test) in all {
        let push = |out: &mut Vec<Diagnostic>,
                    code: Code,
                    span: Span,
                    msg: String,
                    help: String,
                    label: &str| {
            out.push(
                Diagnostic::new(code, msg)
                    .help(help)
                    .label(label)
                    .at(&s.source, span),
            );
        };
        let common = s.step.common();

        let stage = common.and_then(|c| c.stage());
        if let Some(st) = stage
            && st.value == Stage::Launch
        {
            if is_test {
                push(
                    &mut out,
                    Code::TestAtLaunch,
                    st.span,
                    format!("a test cannot run at launch ({})", step_label(s)),
                    "remove `stage: launch`: tests run on the builder before capture".into(),
                    "tests run on the builder",
                );
            } else if strategy == Strategy::Full {
                push(&mut out, Code::LaunchInFull, st.span, format!("{} is deferred to launch in a `full` recipe", step_label(s)),
                    "remove `stage: launch`, or make the recipe `strategy: thin` to defer some steps to first boot".into(),
                    "`full` bakes every step");
            }
        }
        if let Some(native) = s.step.native_os()
            && native != os
        {
            push(&mut out, Code::WrongOs, s.step.span, format!("{} is for {} but the recipe is `os: {}`", step_label(s), native.as_str(), os.as_str()),
                match (native, &s.step.value) {
                    (_, Step::Sysprep(_)) => "remove it: Linux images are generalised by the cleanup preset (`cleanup: linux`)".into(),
                    (Os::Linux, _) => "use `powershell` on Windows, or add `os: linux` to skip this step on Windows".into(),
                    (Os::Windows, _) => "use `shell` on Linux, or add `os: windows` to skip this step on Linux".into(),
                },
                "wrong operating system");
        }
        match &s.step.value {
            Step::App(_) if cx.target != Target::Appstream => {
                push(
                    &mut out,
                    Code::StepTarget,
                    s.step.span,
                    "`app` steps register AppStream 2.0 applications".into(),
                    format!(
                        "remove it: target `{}` has no application catalog",
                        cx.target.as_str()
                    ),
                    "AppStream only",
                );
            }
            Step::Sysprep(_) if cx.target != Target::Ec2Ami => {
                push(&mut out, Code::StepTarget, s.step.span, format!("`sysprep` does not apply to target `{}`", cx.target.as_str()),
                    "remove it: WorkSpaces and AppStream generalise the image themselves when they capture it".into(), "not for this target");
            }
            Step::Sysprep(_) => has_sysprep = true,
            Step::Packages(p)
                if p.manager
                    .as_ref()
                    .is_some_and(|m| m.value == recipe_model::PackageManager::Winget) =>
            {
                let at = p.manager.as_ref().map_or(s.step.span, |m| m.span);
                push(&mut out, Code::Winget, at, "winget cannot install packages here: steps run as LocalSystem, which has no winget, and Windows Server does not ship it".into(),
                    "use `manager: choco` (Chocolatey runs as LocalSystem), or a `download` of the installer and a `powershell` step that runs it silently (AppStream: then an `app` step)".into(), "not available to SYSTEM");
            }
            Step::File(f) => {
                check_dest(&mut out, s, &f.dest, os);
                if let Some(mode) = &f.mode
                    && !quoted(&s.source.text, mode.span)
                {
                    // YAML 1.1 tools read an unquoted 0644 as the number 420; the schema wants a
                    // string, so the editor and validate both refuse it.
                    push(
                        &mut out,
                        Code::InvalidType,
                        mode.span,
                        format!("file mode {} is a number, not a string", mode.value),
                        format!(
                            "quote it, `mode: \"{}\"`: an unquoted 0644 is octal to some YAML readers and decimal to others",
                            mode.value
                        ),
                        "unquoted",
                    );
                } else if let Some(mode) = &f.mode
                    && !FILE_MODE.is_match(mode)
                {
                    push(
                        &mut out,
                        Code::InvalidValue,
                        mode.span,
                        format!("file mode `{}` is not an octal mode", mode.value),
                        "write three or four octal digits as a quoted string, e.g. \"0644\"".into(),
                        "not octal",
                    );
                }
            }
            Step::Download(d) => {
                check_dest(&mut out, s, &d.dest, os);
                if !SHA256.is_match(&d.sha256) {
                    push(
                        &mut out,
                        Code::InvalidValue,
                        d.sha256.span,
                        format!("`{}` is not a SHA-256 checksum", d.sha256.value),
                        "write the file's SHA-256 as 64 hexadecimal digits (`sha256sum FILE`)"
                            .into(),
                        "not 64 hex digits",
                    );
                }
                if !(d.url.starts_with("https://") || d.url.starts_with("s3://")) {
                    push(
                        &mut out,
                        Code::StepPath,
                        d.url.span,
                        format!("download URL `{}` is not https:// or s3://", d.url.value),
                        "download over https:// or from s3:// so the transfer is authenticated"
                            .into(),
                        "insecure or unknown scheme",
                    );
                }
            }
            Step::Manual(_) if s.stage == Stage::Launch => {
                push(
                    &mut out,
                    Code::ManualAtLaunch,
                    s.step.span,
                    format!("{} would run at launch", step_label(s)),
                    "add `stage: image` so the gate runs on the builder, or script the task".into(),
                    "nobody is there at first boot",
                );
            }
            Step::Manual(m) if m.timeout.is_none() => {
                push(&mut out, Code::ManualNoTimeout, s.step.span, "a `manual` gate without a timeout waits forever".into(),
                    "add `timeout: 2h` (or what the task needs) so an unattended build fails instead of hanging".into(), "no timeout");
                let _ = m;
            }
            _ => {}
        }
        if let Some(r) = common.and_then(|c| c.retries())
            && r.value > MAX_RETRIES
        {
            push(
                &mut out,
                Code::InvalidValue,
                r.span,
                format!("{} retries is too many", r.value),
                format!(
                    "retry at most {MAX_RETRIES} times; a step that fails more often needs fixing, not retrying"
                ),
                "too many retries",
            );
        }
        if !is_test
            && s.stage == Stage::Image
            && !matches!(s.step.value, Step::Sysprep(_))
            && has_sysprep
        {
            push(
                &mut out,
                Code::AfterSysprep,
                s.step.span,
                format!("{} comes after `sysprep`", step_label(s)),
                "move `sysprep` to the end: it generalises and shuts the builder down (tests and cleanup run before it)".into(),
                "after sysprep",
            );
        }
        if cx.target == Target::Workspaces && os == Os::Linux && s.stage == Stage::Image && !is_test
        {
            check_home_write(&mut out, s);
        }
    }
    cx.out.extend(out);
    if cx.target == Target::Ec2Ami && os == Os::Windows && !has_sysprep {
        let span = rec.os.span;
        cx.push(
            Code::NoSysprep,
            span,
            "a Windows AMI without `sysprep`",
            "add `- sysprep: {}` as the last step so instances launched from the image get a new SID and computer name",
            "Windows AMI",
        );
    }
}

fn check_dest(out: &mut Vec<Diagnostic>, s: &ResolvedStep, dest: &Node<String>, os: Os) {
    let d = dest.value.as_str();
    let absolute = match os {
        Os::Linux => d.starts_with('/'),
        Os::Windows => {
            let b = d.as_bytes();
            b.len() >= 3
                && b[0].is_ascii_alphabetic()
                && b[1] == b':'
                && (b[2] == b'\\' || b[2] == b'/')
        }
    };
    if !absolute {
        let example = if os == Os::Linux {
            "/opt/app/config.yaml"
        } else {
            r"C:\ProgramData\app\config.yaml"
        };
        out.push(
            Diagnostic::new(
                Code::StepPath,
                format!("destination `{d}` is not an absolute path"),
            )
            .help(format!(
                "write the full path on the builder, e.g. `{example}`"
            ))
            .label("relative path")
            .at(&s.source, dest.span),
        );
    }
}

fn check_home_write(out: &mut Vec<Diagnostic>, s: &ResolvedStep) {
    let hit = crate::walk::step_texts(&s.step)
        .into_iter()
        .find(|t| HOME_PATH.is_match(t));
    if let Some(t) = hit {
        out.push(
            Diagnostic::new(Code::HomeWrite, format!("{} writes under /home, which WorkSpaces image capture removes", step_label(s)))
                .help("install to a system path (/opt, /usr/local, /etc/skel for per-user defaults), or add `stage: launch`")
                .label("lost when the image is captured")
                .at(&s.source, t.span),
        );
    }
}

fn sample_name(template: &str) -> String {
    let mut s = template.to_string();
    for (b, v) in BUILD_TIME {
        s = s.replace(&format!("${{{b}}}"), v);
    }
    s
}

/// A WorkSpaces text checked against the API's pattern and length, as it will be sent (build-time
/// placeholders filled with samples).
fn check_ws_text(
    cx: &mut Ctx<'_>,
    what: &str,
    text: &Node<String>,
    max: usize,
    rule: (&Regex, &str),
) {
    let sample = sample_name(text);
    if sample.contains("${") {
        return; // an unknown variable, already reported
    }
    let count = sample.chars().count();
    if (1..=max).contains(&count) && rule.0.is_match(&sample) {
        return;
    }
    let mut bad: Vec<String> = sample
        .chars()
        .filter(|c| !rule.0.is_match(&c.to_string()))
        .map(|c| {
            if c == ' ' {
                "space".to_string()
            } else {
                format!("`{c}`")
            }
        })
        .collect();
    bad.dedup();
    let bad = bad.join(", ");
    let why = if count > max {
        format!("it has {count} characters, and WorkSpaces takes at most {max}")
    } else {
        format!("WorkSpaces refuses {bad} in it")
    };
    cx.push(
        Code::WsText,
        text.span,
        format!("the {what} `{sample}` would be refused by WorkSpaces: {why}"),
        format!("use 1-{max} characters: {}", rule.1),
        "refused by WorkSpaces",
    );
}

const WS_DESCRIPTION_RULE: &str = "letters, digits, spaces and _ . / ( ) - (no `:`, `#` or `,`)";
const WS_NAME_RULE: &str = "letters, digits and _ . / ( ) -";

fn check_ws_texts(cx: &mut Ctx<'_>) {
    let rec = &cx.r.recipe;
    if let Some(d) = &rec.image.description {
        check_ws_text(
            cx,
            "image description",
            d,
            256,
            (&WS_DESCRIPTION, WS_DESCRIPTION_RULE),
        );
    }
    if let Some(b) = &rec.bundle {
        check_ws_text(
            cx,
            "bundle name",
            &b.name,
            64,
            (&WS_IMAGE_NAME_CHARS, WS_NAME_RULE),
        );
        if let Some(d) = &b.description {
            check_ws_text(
                cx,
                "bundle description",
                d,
                255,
                (&WS_DESCRIPTION, WS_DESCRIPTION_RULE),
            );
        }
    }
}

fn check_image(cx: &mut Ctx<'_>) {
    if cx.target == Target::Workspaces {
        check_ws_texts(cx);
    }
    let img = &cx.r.recipe.image;
    let name = sample_name(&img.name);
    if let Some(d) = &img.display_name
        && cx.target != Target::Appstream
    {
        cx.wrong_target(d.span, "image.display-name", "`appstream` recipes");
    }
    check_tags(cx, img.tags.iter());
    if name.contains("${") {
        return; // an unknown variable, already reported
    }
    let (ok, rule) = match cx.target {
        Target::Ec2Ami => (
            EC2_IMAGE_NAME.is_match(&name),
            "3-128 characters: letters, digits, spaces and ( ) [ ] . / - ' @ _",
        ),
        Target::Workspaces => (
            WS_IMAGE_NAME.is_match(&name),
            "1-64 characters: letters, digits and _ . / ( ) -",
        ),
        Target::Appstream => (
            AS_IMAGE_NAME.is_match(&name),
            "1-100 characters, starting with a letter or digit: letters, digits and _ . -",
        ),
    };
    if !ok {
        let span = img.name.span;
        cx.push(
            Code::ImageName,
            span,
            format!(
                "image name `{name}` is not valid for `{}`",
                cx.target.as_str()
            ),
            format!("image names for this target are {rule}"),
            "invalid image name",
        );
    }
    if cx.target == Target::Appstream
        && let Some(prefix) = ["Amazon", "AWS", "AppStream"].iter().find(|p| {
            name.to_ascii_lowercase()
                .starts_with(&p.to_ascii_lowercase())
        })
    {
        let span = img.name.span;
        cx.push(
            Code::AppstreamReserved,
            span,
            format!("AppStream image names cannot begin with `{prefix}`"),
            "AppStream reserves names that begin with Amazon, AWS or AppStream (in any case): start with your team or app name",
            "reserved prefix",
        );
    }
}

fn check_tags<'a>(
    cx: &mut Ctx<'_>,
    tags: impl Iterator<Item = (&'a Node<String>, &'a Node<String>)>,
) {
    for (key, v) in tags {
        let k = key.value.as_str();
        let bad_key = if k.is_empty() || k.chars().count() > 128 {
            Some("a tag key has 1-128 characters".to_string())
        } else if k.to_ascii_lowercase().starts_with("aws:") {
            Some("the `aws:` prefix is reserved for AWS".to_string())
        } else if k.starts_with("recipe:") {
            Some("the `recipe:` prefix is reserved for the tags this tool adds".to_string())
        } else if !TAG_CHARS.is_match(k) {
            Some("tag keys use letters, digits, spaces and _ . : / = + - @".to_string())
        } else {
            None
        };
        if let Some(why) = bad_key {
            cx.push(
                Code::Tag,
                key.span,
                format!("invalid tag key `{k}`"),
                format!("rename the key: {why}"),
                "invalid tag key",
            );
        }
        if v.chars().count() > 256 || !TAG_CHARS.is_match(&sample_name(v)) {
            cx.push(
                Code::Tag,
                v.span,
                format!("invalid value for tag `{k}`"),
                "tag values have at most 256 characters: letters, digits, spaces and _ . : / = + - @",
                "invalid tag value",
            );
        }
    }
}

fn check_distribute(cx: &mut Ctx<'_>) {
    let Some(d) = &cx.r.recipe.distribute else {
        return;
    };
    let mut seen = BTreeSet::new();
    for r in &d.regions {
        check_region(cx, r);
        if !seen.insert(r.value.clone()) {
            cx.push(
                Code::DuplicateRegion,
                r.span,
                format!("region `{}` is listed twice", r.value),
                "remove the second entry",
                "duplicate",
            );
        }
    }
    let build_region = cx.r.recipe.builder.region.as_ref().map(|r| r.value.clone());
    for (region, key) in &d.kms_keys {
        let before = cx.out.len();
        check_region_as(
            cx,
            region,
            "key `kms-keys` by region code, e.g. `eu-west-2`",
        );
        if cx.out.len() > before {
            continue;
        } else if !seen.contains(region.value.as_str())
            && build_region.as_deref() != Some(region.as_str())
        {
            cx.push(
                Code::KmsUnusedRegion,
                key.span,
                format!("a KMS key for `{region}`, where the image is not copied"),
                format!("add `{region}` to `distribute.regions`, or remove the key"),
                "unused key",
            );
        }
        if !KMS_KEY.is_match(key) {
            cx.push(
                Code::Arn,
                key.span,
                format!("`{}` is not a KMS key ARN, alias or id", key.value),
                "write `arn:aws:kms:<region>:<account>:key/<id>`, `alias/<name>` or a key id",
                "malformed key",
            );
        }
    }
    for a in &d.share.accounts {
        if !ACCOUNT.is_match(a.id()) {
            cx.push(
                Code::AccountId,
                a.span,
                format!("`{}` is not an AWS account id", a.id()),
                "write the 12-digit account id as a quoted string, e.g. \"111122223333\"",
                "not 12 digits",
            );
        }
        if matches!(a.value, AccountShare::WithPermissions(_)) && cx.target != Target::Appstream {
            cx.wrong_target(
                a.span,
                "fleet / image-builder permissions",
                "`appstream` recipes",
            );
        }
    }
    for o in &d.share.organizations {
        if cx.target != Target::Ec2Ami {
            cx.wrong_target(
                o.span,
                "share.organizations",
                "`ec2-ami` recipes: WorkSpaces and AppStream share with accounts",
            );
        } else if !ORG_ARN.is_match(o) {
            cx.push(
                Code::Arn,
                o.span,
                format!("`{}` is not an organization ARN", o.value),
                "write `arn:aws:organizations::<management account>:organization/o-<id>`",
                "malformed ARN",
            );
        }
    }
    for o in &d.share.organizational_units {
        if cx.target != Target::Ec2Ami {
            cx.wrong_target(
                o.span,
                "share.organizational-units",
                "`ec2-ami` recipes: WorkSpaces and AppStream share with accounts",
            );
        } else if !OU_ARN.is_match(o) {
            cx.push(
                Code::Arn,
                o.span,
                format!("`{}` is not an organizational unit ARN", o.value),
                "write `arn:aws:organizations::<management account>:ou/o-<id>/ou-<id>`",
                "malformed ARN",
            );
        }
    }
    if cx.target != Target::Ec2Ami {
        if let Some((_, k)) = d.kms_keys.iter().next() {
            cx.wrong_target(k.span, "kms-keys", "`ec2-ami` recipes");
        }
        if let Some(e) = &d.encrypted {
            cx.wrong_target(e.span, "encrypted", "`ec2-ami` recipes (WorkSpaces images must not be encrypted; encrypt WorkSpaces at deployment)");
        }
    }
}

/// A bundle is made on the image's copy in each region it lists, so each must be a copy region.
fn check_bundle_regions(cx: &mut Ctx<'_>, regions: &[Node<String>]) {
    check_image_regions(cx, regions, Code::BundleRegion, "the bundle is to be made");
}

/// `rollout.regions`: `ec2-ami` only, each a region the image is in.
fn check_rollout_regions(cx: &mut Ctx<'_>) {
    let Some(ro) = &cx.r.recipe.rollout else {
        return;
    };
    let regions = &ro.value.regions;
    if let Some(first) = regions.first()
        && cx.target != Target::Ec2Ami
    {
        cx.push(
            Code::RolloutRegion,
            first.span,
            "`rollout.regions` applies to `ec2-ami` rollouts (SSM parameter, launch templates)",
            "remove it: bundles follow `bundle.regions`, fleets are in the build region",
            "not for this target",
        );
        return;
    }
    check_image_regions(
        cx,
        regions,
        Code::RolloutRegion,
        "the rollout is to be made",
    );
}

/// Each of `regions` is the build region or one of `distribute.regions`.
fn check_image_regions(cx: &mut Ctx<'_>, regions: &[Node<String>], code: Code, what: &str) {
    let copied: BTreeSet<String> = (cx.r.recipe.distribute.iter())
        .flat_map(|d| d.regions.iter().map(|r| r.value.clone()))
        .collect();
    let build = cx.r.recipe.builder.region.as_ref().map(|r| r.value.clone());
    for r in regions {
        let before = cx.out.len();
        check_region(cx, r);
        if cx.out.len() > before || copied.contains(&r.value) || build.as_ref() == Some(&r.value) {
            continue;
        }
        cx.push(
            code,
            r.span,
            format!("{what} in `{}`, where the image is not copied", r.value),
            format!(
                "add `{}` to `distribute.regions`, or remove it here",
                r.value
            ),
            "no image here",
        );
    }
}

fn check_target_sections(cx: &mut Ctx<'_>) {
    check_rollout_regions(cx);
    let rec = &cx.r.recipe;
    if let Some(b) = &rec.bundle {
        if cx.target != Target::Workspaces {
            cx.wrong_target(b.span, "bundle", "`workspaces` recipes");
        } else {
            check_bundle_regions(cx, &b.regions);
            check_tags(cx, b.tags.iter());
            let (root, user) = (b.root_volume_gib.value, b.user_volume_gib.value);
            let compute = b.compute.value;
            if !compute.volumes_allowed(root, user) {
                let span = b.root_volume_gib.span;
                cx.push(
                    Code::VolumeSize,
                    span,
                    format!("WorkSpaces cannot make a {} bundle with volumes of {root} GiB (root) and {user} GiB (user)", compute.api_name()),
                    compute.volume_rule(),
                    "impossible volume sizes",
                );
            }
        }
    }
    if let Some(ro) = &rec.rollout {
        let v = &ro.value;
        let checks: [(bool, Option<Span>, &str, &str); 4] = [
            (
                cx.target == Target::Ec2Ami,
                v.launch_templates.first().map(|n| n.span),
                "rollout.launch-templates",
                "`ec2-ami` recipes",
            ),
            (
                cx.target == Target::Ec2Ami,
                v.ssm_parameter.as_ref().map(|n| n.span),
                "rollout.ssm-parameter",
                "`ec2-ami` recipes",
            ),
            (
                cx.target == Target::Workspaces,
                v.rebuild_workspaces.as_ref().map(|n| n.span),
                "rollout.rebuild-workspaces",
                "`workspaces` recipes",
            ),
            (
                cx.target == Target::Appstream,
                v.fleets.first().map(|n| n.span),
                "rollout.fleets",
                "`appstream` recipes",
            ),
        ];
        for (ok, span, what, allowed) in checks {
            if let Some(span) = span
                && !ok
            {
                cx.wrong_target(span, what, allowed);
            }
        }
        if let Some(rw) = &v.rebuild_workspaces
            && !(1..=100).contains(&rw.batch)
        {
            cx.push(
                Code::InvalidValue,
                rw.span,
                format!("a rebuild batch of {} WorkSpaces", rw.batch),
                "rebuild 1 to 100 WorkSpaces at a time",
                "batch out of range",
            );
        }
        if let Some(rw) = &v.rebuild_workspaces
            && rec.bundle.is_none()
        {
            cx.push(
                Code::SectionTarget,
                rw.span,
                "rebuilding WorkSpaces needs a bundle to rebuild them on",
                "add a `bundle:` section",
                "no bundle",
            );
        }
    }
    if let Some(ret) = &rec.retain {
        if let Some(k) = &ret.keep
            && k.value == 0
        {
            cx.push(
                Code::KeepZero,
                k.span,
                "`keep: 0` would retire every version, the new one too",
                "keep at least 1",
                "keep at least 1",
            );
        }
        if let Some(d) = &ret.deprecate_after
            && cx.target != Target::Ec2Ami
        {
            cx.wrong_target(
                d.span,
                "retain.deprecate-after",
                "`ec2-ami` recipes (only AMIs can be deprecated)",
            );
        }
    }
}

/// `a` or `an` before a word, by its first sound as this tool's names are spoken.
fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u' | 'A' | 'E' | 'I' | 'O' | 'U') => "an",
        _ => "a",
    }
}

fn slug(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').chars().take(63).collect()
}
