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
mod powershell;
mod steps;

use builder::*;
pub use distribute::SECTIONS;
use distribute::*;
pub use image::sample_name;
use image::*;
use steps::*;

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, SourceFile};
use crate::interpolate::BUILD_TIME;
use crate::load::{LoadedRecipe, RecipeSet, ResolvedStep};
use crate::secrets;
use crate::target::TargetSpec;

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
static FILE_MODE: LazyLock<Regex> = LazyLock::new(|| re(r"^0?[0-7]{3,4}$"));
static SHA256: LazyLock<Regex> = LazyLock::new(|| re(r"^[0-9a-fA-F]{64}$"));
const MAX_RETRIES: u8 = 10;
static TAG_CHARS: LazyLock<Regex> = LazyLock::new(|| re(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$"));

/// What a check sees: one recipe of a loaded set, and where its findings go. A target's
/// [`crate::TargetSpec::check`] gets one too.
pub struct Check<'a> {
    /// The recipe checked.
    pub r: &'a LoadedRecipe,
    /// Its target.
    pub target: Target,
    /// The set it was loaded in (its parent, the recipes before it).
    pub set: &'a RecipeSet,
    src: &'a Arc<SourceFile>,
    out: &'a mut Vec<Diagnostic>,
    /// Regions allowed besides the known ones.
    allow_regions: &'a [String],
}

impl<'a> Check<'a> {
    /// A finding at `span` in the recipe's file.
    pub fn push(
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

    /// A finding at `span` in the file `step` is written in (the recipe or a component).
    pub fn push_in_step(
        &mut self,
        step: &ResolvedStep,
        code: Code,
        span: Span,
        message: impl Into<String>,
        help: impl Into<String>,
        label: &str,
    ) {
        let d = Diagnostic::new(code, message).help(help).label(label);
        self.out.push(d.at(&step.source, span));
    }

    /// How many findings there are so far (to tell whether a check found something).
    pub fn found(&self) -> usize {
        self.out.len()
    }

    /// The recipe this one is layered on.
    pub fn parent(&self) -> Option<&'a LoadedRecipe> {
        let set = self.set;
        self.r.parent.map(|p| &set.recipes[p])
    }

    /// The recipes of the set before this one.
    pub fn earlier(&self) -> impl Iterator<Item = &'a LoadedRecipe> + use<'a> {
        let r = self.r;
        self.set
            .recipes
            .iter()
            .take_while(move |o| !std::ptr::eq(*o, r))
    }

    /// `what` does not apply to this recipe's target: it is for `allowed`.
    pub fn wrong_target(&mut self, span: Span, what: &str, allowed: &str) {
        let t = self.target.as_str();
        self.push(
            Code::SectionTarget,
            span,
            format!("`{what}` does not apply to target `{t}`"),
            format!("remove it: it is for {allowed}"),
            "not for this target",
        );
    }

    /// The target needs `builder.<field>`, and the recipe has none: `why` says what for.
    pub fn missing_builder(&mut self, field: &str, why: &str) {
        let span = self.r.recipe.target.span;
        self.push(
            Code::BuilderMissing,
            span,
            format!("target `{}` needs `builder.{field}`", self.target.as_str()),
            format!("add `builder: {{ {field}: … }}`: {why}"),
            "this target",
        );
    }

    /// `node` is not what it should be (`want`, e.g. "an AMI id `ami-…`"), reported with `code`.
    pub fn malformed(&mut self, code: Code, node: &Node<String>, want: &str, label: &str) {
        self.push(
            code,
            node.span,
            format!("`{}` is not {want}", node.value),
            format!("write {want}"),
            label,
        );
    }

    /// A region code: its shape, and that AWS has it.
    pub fn region(&mut self, r: &Node<String>) {
        check_region(self, r);
    }

    /// Tags as AWS takes them.
    pub fn tags<'t>(&mut self, tags: impl Iterator<Item = (&'t Node<String>, &'t Node<String>)>) {
        check_tags(self, tags);
    }

    /// Each of `regions` is one the image is in (the build region, or `distribute.regions`).
    pub fn image_regions(&mut self, regions: &[Node<String>], code: Code, what: &str) {
        check_image_regions(self, regions, code, what);
    }
}

/// Run every check over a loaded set.
pub(crate) fn check_set(set: &mut RecipeSet, options: &crate::LoadOptions) {
    let mut out = Vec::new();
    // Sources are shared (one per file), so their addresses say which were scanned.
    let mut scanned: HashSet<*const SourceFile> = HashSet::new();
    let mut scanned_files: HashSet<&Path> = HashSet::new();
    let mut parsed = powershell::Parsed::default();
    let all: &RecipeSet = set;
    for r in &all.recipes {
        let mut cx = Check {
            r,
            src: &r.source,
            target: r.recipe.target.value,
            set: all,
            out: &mut out,
            allow_regions: &options.allow_regions,
        };
        check_recipe(&mut cx);
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

/// `base: { recipe }`: the parent's target is one this target is built on (the spec says), with
/// the same operating system.
fn check_layering(cx: &mut Check<'_>, spec: &dyn TargetSpec) {
    let Some(parent) = cx.parent() else { return };
    let (parent, os) = (&parent.recipe, cx.r.recipe.os.value);
    let ok = spec.layers_on(parent, os);
    let parent_os = parent.os.value;
    let span = cx.r.recipe.base.span;
    if ok && parent_os != os {
        cx.push(
            Code::IncompatibleBase,
            span,
            format!(
                "{} {} image cannot be built on a {} recipe",
                article(os.as_str()),
                os.as_str(),
                parent_os.as_str()
            ),
            format!(
                "layer on a {} recipe, or change `os:` to match the image it is built on",
                os.as_str()
            ),
            "different operating system",
        );
    }
    if !ok {
        let (t, p) = (cx.target.as_str(), parent.target.value.as_str());
        cx.push(
            Code::IncompatibleBase,
            span,
            format!(
                "{} `{t}` image cannot be built on {} `{p}` recipe",
                article(t),
                article(p)
            ),
            spec.layering_help(),
            "incompatible base",
        );
    }
}

/// A recipe whose `target:` no registered target has: nothing more can be checked by target.
fn unknown_target(cx: &mut Check<'_>) {
    let t = &cx.r.recipe.target;
    let text = cx.src.text.get(t.span.offset..t.span.offset + t.span.len);
    let name = text
        .unwrap_or(t.value.as_str())
        .trim_matches(['"', '\''])
        .to_string();
    let names = cx.set.targets.names();
    let help = match crate::suggest::did_you_mean(
        &name,
        cx.set.targets.iter().map(|s| s.target().as_str()),
    ) {
        Some(near) => format!("did you mean `{near}`? expected one of: {names}"),
        None if names.is_empty() => "no target is registered with this build of recipe".to_string(),
        None => format!("expected one of: {names}"),
    };
    cx.push(
        Code::UnknownValue,
        t.span,
        format!("unknown target `{name}` at `target`"),
        help,
        "unknown target",
    );
}

fn check_recipe(cx: &mut Check<'_>) {
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
    check_lint_ignore(cx);
    // The set outlives the check: the spec borrows it, not `cx`.
    let set = cx.set;
    let Some(spec) = set.targets.get(cx.target) else {
        unknown_target(cx);
        return;
    };
    check_base(cx, spec);
    check_builder(cx, spec);
    check_steps(cx, spec);
    check_image(cx, spec);
    check_distribute(cx);
    check_sections(cx, spec);
    check_layering(cx, spec);
    check_cleanup(cx, spec);
    spec.check(cx);
}

/// Each `lint.ignore` entry names a lint rule and says why.
fn check_lint_ignore(cx: &mut Check<'_>) {
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

fn check_cleanup(cx: &mut Check<'_>, spec: &dyn TargetSpec) {
    let Some(c) = &cx.r.recipe.cleanup else {
        return;
    };
    let want = spec.cleanup(cx.r.recipe.os.value);
    if c.value != CleanupPreset::NONE && c.value != want {
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
pub fn article(word: &str) -> &'static str {
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
