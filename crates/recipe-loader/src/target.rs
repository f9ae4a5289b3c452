//! What a target's crate tells the loader: the [`TargetSpec`] contract, and the [`Targets`]
//! registry a load runs with.
//!
//! The loader's own checks are the same for every target. Whatever differs by target (which bases
//! it starts from, which builder settings and sections it takes, its clean-up preset, what it can
//! be layered on, its own rules and their codes) comes from the target's spec. Adding a target is a
//! crate that implements [`TargetSpec`] and one line where the registry is made: no edit here.

use std::sync::Arc;

use recipe_model::{
    BaseKind, BaseKindDef, CleanupPreset, Os, PresetDef, Recipe, SectionDef, Target, TargetSchema,
};

use crate::checks::Check;
use crate::codes::TargetCode;
use crate::rollout::{RolloutKind, RolloutStep};

/// A target's codes: one [`TargetCode`] constant each, and `CODES`, the list its
/// [`TargetSpec::codes`] returns.
///
/// ```ignore
/// recipe_loader::target_codes! {
///     SCREEN = ("recipe::kiosk::screen", Error, "A kiosk builder that is not a `kiosk.*` machine."),
/// }
/// ```
#[macro_export]
macro_rules! target_codes {
    ($($name:ident = ($code:literal, $sev:ident, $summary:literal),)*) => {
        $(const $name: $crate::TargetCode = $crate::TargetCode {
            code: $code,
            severity: $crate::Severity::$sev,
            summary: $summary,
        };)*
        const CODES: &[&$crate::TargetCode] = &[$(&$name,)*];
    };
}

/// A recipe key only some targets take: one of the language's own (`rollout.fleets`,
/// `retain.deprecate-after`, …: the loader's `SECTIONS`), or one the target declares with its own
/// type (`bundle`: a [`SectionDef`]), with what to add after "it is for `<target>` recipes".
#[derive(Clone, Copy, Debug)]
pub struct Section {
    /// The key, as the loader names it (a declared section: its path, `builder.import`).
    pub key: &'static str,
    /// Said after the targets that take it, e.g. ` (only AMIs can be deprecated)`.
    pub note: &'static str,
    /// The target's own section, for a key the language does not have.
    pub def: Option<&'static SectionDef>,
}

impl Section {
    /// A section with nothing more to say.
    pub const fn key(key: &'static str) -> Section {
        Section {
            key,
            note: "",
            def: None,
        }
    }

    /// A section with what to add after the targets that take it.
    pub const fn noted(key: &'static str, note: &'static str) -> Section {
        Section {
            key,
            note,
            def: None,
        }
    }

    /// A section the target declares: `key` is its path.
    pub const fn typed(key: &'static str, def: &'static SectionDef) -> Section {
        Section {
            key,
            note: "",
            def: Some(def),
        }
    }

    /// Its path, as keys from the recipe (`["builder", "import"]`).
    pub(crate) fn path(&self) -> Option<Vec<&'static str>> {
        match self.def {
            Some(_) => Some(self.key.split('.').collect()),
            None => crate::checks::SECTIONS
                .iter()
                .find(|(k, _)| *k == self.key)?
                .1
                .map(<[_]>::to_vec),
        }
    }
}

/// How a build makes its image: on a builder, by importing its parent's image, or by the
/// service's own update of the current image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildRoute<'a> {
    /// On a temporary builder, through the steps.
    Builder,
    /// From the parent recipe's image, with no builder.
    Import {
        /// The parent recipe.
        parent: &'a str,
    },
    /// The service's update of the current image.
    Update,
}

/// One target's rules, for validation and for the generated schema.
pub trait TargetSpec: Send + Sync {
    /// The name recipes write as `target:`.
    fn target(&self) -> Target;
    /// The service's name, as plans say it (`AppStream`).
    fn service(&self) -> &'static str {
        "the service"
    }
    /// One line for the schema and docs: what the target builds.
    fn summary(&self) -> &'static str;
    /// The base kinds a recipe of this target starts from (`ssm-parameter`, `recipe`, …).
    fn bases(&self) -> &'static [&'static str];
    /// The base kinds the target brings, besides the generic ones (each is one string).
    fn base_kinds(&self) -> &'static [&'static BaseKindDef] {
        &[]
    }
    /// The `builder` settings it takes (`region`, `instance-type`, …).
    fn builder_fields(&self) -> &'static [&'static str];
    /// The target-owned sections it takes (see [`Section`]).
    fn sections(&self) -> &'static [Section] {
        &[]
    }
    /// The step kinds only some targets run that this one runs (`sysprep`, `app`), each with what
    /// to say to a recipe of another target that has one.
    fn steps(&self) -> &'static [Section] {
        &[]
    }
    /// The clean-up preset for an image of this target and operating system.
    fn cleanup(&self, os: Os) -> CleanupPreset;
    /// The clean-up presets the target brings, besides the generic `linux`, `windows` and `none`.
    fn presets(&self) -> &'static [&'static PresetDef] {
        &[]
    }
    /// Whether a recipe of this target and `os` can be layered on `parent` (`base: { recipe }`).
    fn layers_on(&self, parent: &Recipe, _os: Os) -> bool {
        parent.target.value == self.target()
    }
    /// Whether a recipe on `parent` has no builder of its own: its image is the parent's, brought
    /// in as it is (AppStream's import of an AMI). Its tests and clean-up are the parent's.
    fn imports(&self, _parent: &Recipe) -> bool {
        false
    }
    /// What the plan says of an import's capture (see [`TargetSpec::imports`]).
    fn import_words(&self) -> &'static str {
        "the parent's image is imported as it is"
    }
    /// The optional `recipe lint` rules that apply to an image of this target and `os` (by the
    /// last part of their codes: `no-pcoip-policy`).
    fn lints(&self, _os: Os) -> &'static [&'static str] {
        &[]
    }
    /// The target's own `recipe lint` rules that apply to `r`, each passed or failed.
    fn lint_rules(&self, _r: &Recipe) -> Vec<crate::lint::LintRule> {
        Vec::new()
    }
    /// Whether `r` is made only by the service's own update of its image: no builder, and a
    /// version only when the service has an update for it (AppStream's managed image update).
    fn updates_only(&self, _r: &Recipe) -> bool {
        false
    }
    /// Why a version is made by the service's own update of the current image, when it has one
    /// (the plan's reason); `None` says it in general words.
    fn update_reason(&self) -> Option<&'static str> {
        None
    }
    /// The plan's words for how a build makes its image, where the target has more than one way
    /// worth saying (`None`: nothing to say).
    fn route(&self, _route: BuildRoute<'_>) -> Option<String> {
        None
    }
    /// The rollout kinds this target has, with the words plans use for them.
    fn rollout_kinds(&self) -> &'static [(RolloutKind, &'static str)] {
        &[]
    }
    /// The rollout actions a new version of `r` (built in `home`) gets, in the order the plan adds
    /// them (see [`RolloutStep`]).
    fn rollouts(&self, _r: &Recipe, _home: &str) -> Vec<RolloutStep> {
        Vec::new()
    }
    /// What a share with a bare account id grants, as (fleet, image builder) permissions.
    fn account_share(&self) -> (bool, bool) {
        (false, false)
    }
    /// The help under "an `x` image cannot be built on a `y` recipe".
    fn layering_help(&self) -> &'static str {
        "layer on a recipe of the same target"
    }
    /// Whether an image name is one the target's API takes; `Err` says the rule.
    fn image_name(&self, name: &str) -> Result<(), &'static str>;
    /// The codes [`TargetSpec::check`] reports, for docs/diagnostics.md.
    fn codes(&self) -> &'static [&'static TargetCode] {
        &[]
    }
    /// The target's own checks of one recipe (and its parent, and the rest of the set).
    fn check(&self, _cx: &mut Check<'_>) {}
}

/// The targets a load accepts, in the order they are listed (the schema's, the docs').
#[derive(Clone, Default)]
pub struct Targets {
    specs: Vec<Arc<dyn TargetSpec>>,
}

impl Targets {
    /// A registry of `specs`. Their names stay readable however many other names a run reads.
    pub fn new(specs: Vec<Arc<dyn TargetSpec>>) -> Targets {
        for spec in &specs {
            Target::declare(spec.target());
            for preset in spec.presets() {
                CleanupPreset::declare(preset);
            }
            for kind in spec.base_kinds() {
                BaseKind::declare(kind);
            }
            for def in spec.sections().iter().filter_map(|s| s.def) {
                debug_assert!(spec.sections().iter().any(|s| s.key == def.path()));
                SectionDef::declare(def);
            }
            for (kind, words) in spec.rollout_kinds() {
                RolloutKind::declare(*kind, words);
            }
        }
        Targets { specs }
    }

    /// The spec registered for `target`.
    pub fn get(&self, target: Target) -> Option<&dyn TargetSpec> {
        let spec = self.specs.iter().find(|s| s.target() == target);
        spec.map(|s| s.as_ref())
    }

    /// Every registered spec.
    pub fn iter(&self) -> impl Iterator<Item = &dyn TargetSpec> {
        self.specs.iter().map(|s| s.as_ref())
    }

    /// The registered names, as `a, b, c`.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.iter().map(|s| s.target().as_str()).collect();
        names.join(", ")
    }

    /// The recipe schema, with these targets (`recipe schema` writes it).
    pub fn schema(&self) -> serde_json::Value {
        let targets: Vec<TargetSchema> = self
            .iter()
            .map(|s| TargetSchema {
                name: s.target().as_str(),
                summary: s.summary(),
                keys: s.sections().iter().filter_map(Section::path).collect(),
                steps: s.steps().iter().map(|k| k.key).collect(),
            })
            .collect();
        let mut owned: Vec<Vec<&str>> = (crate::checks::SECTIONS.iter())
            .filter_map(|s| s.1.map(<[_]>::to_vec))
            .collect();
        let declared = self.iter().flat_map(|s| s.sections().iter());
        owned.extend(
            declared
                .filter(|s| s.def.is_some())
                .filter_map(Section::path),
        );
        owned.dedup();
        recipe_model::recipe_schema(&targets, &owned)
    }

    /// "`a` recipes", "`a` or `b` recipes": the targets whose `owned` lists have `key`.
    pub(crate) fn owners(&self, key: &str, owned: fn(&dyn TargetSpec) -> &[Section]) -> String {
        let mut names = Vec::new();
        let mut note = "";
        for spec in self.iter() {
            if let Some(s) = owned(spec).iter().find(|s| s.key == key) {
                names.push(format!("`{}`", spec.target()));
                note = if note.is_empty() { s.note } else { note };
            }
        }
        format!("{} recipes{note}", names.join(" or "))
    }
}

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Targets[{}]", self.names())
    }
}
