//! The recipe language as plain Rust types.
//!
//! A [`Recipe`] describes one machine image (an EC2 AMI, an Amazon WorkSpaces image and bundle, or an
//! Amazon AppStream 2.0 image) as an ordered list of [`Step`]s, built with one of three
//! [`Strategy`]s. Every type derives `serde::Deserialize` (strictly: unknown fields are rejected) and
//! `schemars::JsonSchema`, so `schemas/recipe.schema.json` is generated from this crate.
//!
//! Values the checks point at are wrapped in [`Node`], which keeps the source [`Span`] they came
//! from. This crate does no I/O; reading files is `recipe-loader`'s job.

mod base;
mod cleanup;
mod duration;
mod recipe;
mod schema;
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
pub use span::{Node, Span};
pub use step::*;
pub use target::{Target, intern};
