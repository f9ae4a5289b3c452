//! A fourth target, for tests only: `kiosk`, a disk image for kiosk machines, built on a builder of
//! an in-memory [`FakeCloud`]. It exists to prove that a target is pluggable: this crate is all
//! there is to it, besides one line where a registry is made. Nothing in recipe-model,
//! recipe-loader, recipe-plan, recipe-state or recipe-engine names it.
//!
//! - [`Kiosk`] is its `TargetSpec`: what it starts from, its builder settings, its clean-up, its
//!   image names, and its own checks with their codes.
//! - It adds to the language a `screen` section of its own type, a `kiosk-catalog` base kind and a
//!   `kiosk-linux` clean-up preset.
//! - [`KioskProvider`] is its `Provider`: it serves the planned actions against the fake cloud.

mod cloud;
mod own;
mod provider;
mod spec;

pub use cloud::{FakeCloud, KioskImage};
pub use own::{CATALOG_BASE, KIOSK_LINUX, Orientation, SCREEN, Screen};
pub use provider::KioskProvider;
pub use spec::{KIOSK, Kiosk};
