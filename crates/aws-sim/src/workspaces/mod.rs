//! Amazon WorkSpaces over awsJson1_1: WorkSpaces, images (create, copy, import, share, delete), bundles
//! and tags.
//!
//! Everything is scoped by account and region. WorkSpaces go PENDING → AVAILABLE and REBUILDING →
//! AVAILABLE after `workspace-start-ms`, TERMINATING → TERMINATED after the same time (and then leave
//! every answer). Images go PENDING → AVAILABLE after `workspace-image-ms`; the WorkSpace an image is
//! made from shows SUSPENDED meanwhile. Every region has a few public AMAZON bundles (`PUBLIC_BUNDLES`),
//! each with a public image behind it. Fidelity notes are in docs/aws-sim.md.

mod handlers;
mod lifecycle;
mod model;
mod state;
mod wire;

pub use handlers::handle;
pub use state::Workspaces;
