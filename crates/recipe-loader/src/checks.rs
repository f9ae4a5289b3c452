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

mod builder;
mod distribute;
mod image;
mod import;
mod powershell;
mod steps;

use builder::*;
use distribute::*;
use image::*;
use steps::*;

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
    if ok && cx.target == Target::Workspaces && parent == Target::Ec2Ami {
        import::check_parent_licence(cx, &set.recipes[p].recipe);
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
