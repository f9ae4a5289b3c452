//! The recipe language as plain Rust types.
//!
//! A [`Recipe`] describes one machine image as an ordered list of [`Step`]s, built with one of three
//! [`Strategy`]s. This crate holds what every target shares; each target's crate declares the rest
//! (its [`section`]s, base kinds and clean-up presets) when its spec is registered, so no target is
//! named here. Every type is read strictly (unknown fields are rejected) and derives
//! `schemars::JsonSchema`, so `schemas/recipe.schema.json` is generated from this crate and the
//! declarations.
//!
//! Values the checks point at are wrapped in [`Node`], which keeps the source [`Span`] they came
//! from. This crate does no I/O; reading files is `recipe-loader`'s job.

mod base;
mod cleanup;
mod duration;
mod recipe;
mod schema;
pub mod section;
mod span;
mod step;
mod target;

pub use base::{AmiFilter, Base, BaseKind, BaseKindDef};
pub use cleanup::{CleanupItem, CleanupPreset, PresetDef};
pub use duration::{Duration, DurationParseError};
pub use recipe::*;
pub mod patterns;
pub mod regions;
pub use schema::{TargetSchema, component_schema, recipe_schema};
pub use section::{SectionDef, SectionKey, SectionType, Sections};
pub use span::{Node, Span};
pub use step::*;
pub use target::{Target, intern};
