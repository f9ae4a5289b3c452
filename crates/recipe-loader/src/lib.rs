//! Loads recipe sets from YAML and checks them.
//!
//! The loader is pure apart from reading the files it is pointed at: no network, no credentials.
//! It parses strictly (unknown fields, duplicate keys and alias bombs are refused), resolves
//! `${var}` interpolation and `include` components, links recipes layered on each other, then runs
//! the semantic checks and reports every [`Diagnostic`] at once.

mod checks;
pub mod codes;
mod cores;
pub mod diagnostic;
mod encoding;
mod facts;
mod interpolate;
mod lint;
mod lint_content;
mod load;
mod parse;
mod rollout;
mod secrets;
mod suggest;
pub mod synthetic;
mod target;
mod walk;

pub use checks::{Check, article, sample_name};
pub use codes::{Code, TargetCode};
pub use cores::map_on_cores;
pub use diagnostic::{Diagnostic, DiagnosticRecord, Severity, SourceFile};
pub use interpolate::BUILD_TIME;
pub use lint::{
    LintFailure, LintRule, Outcome, PRINCIPLES, PrincipleScore, RECOMMENDED_TAGS, RecipeLint,
    RecipeLintRecord, lint, lint_recipe,
};
pub use load::{
    LoadOptions, LoadedRecipe, RecipeSet, ReferencedFile, ResolvedStep, SKIPPED_FOLDERS, load,
    load_str,
};
pub use parse::parse;
pub use rollout::{RolloutAction, RolloutKind, RolloutOrder, RolloutStep};
pub use suggest::{did_you_mean, unknown_region_help};
pub use target::{BuildRoute, Section, TargetSpec, Targets};
pub use walk::step_texts;
