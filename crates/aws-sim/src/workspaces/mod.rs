//! Amazon WorkSpaces over awsJson1_1: WorkSpaces, images (create, copy, import, share, delete), bundles
//! and tags.
//!
//! Everything is scoped by account and region. WorkSpaces go PENDING → AVAILABLE and REBUILDING →
//! AVAILABLE after `workspace-start-ms`, TERMINATING → TERMINATED after the same time (and then leave
//! every answer). Images go PENDING → AVAILABLE after `workspace-image-ms`; the WorkSpace an image is
//! made from shows SUSPENDED meanwhile. Every region has a few public AMAZON bundles (`PUBLIC_BUNDLES`),
//! each with a public image behind it. Fidelity notes are in docs/aws-sim.md.

mod account;
pub(crate) mod directories;
mod handlers;
mod lifecycle;
mod model;
mod state;
mod wire;

pub use handlers::handle;
pub use state::Workspaces;

/// AWS moves the public bundle `bundle` to a newer image at `now` (ms), as it does when it patches
/// its public bundles in place. `false` for an id that is not a public bundle.
pub(crate) fn publish_bundle_update(w: &mut Workspaces, bundle: &str, now: u64) -> bool {
    if model::PUBLIC_BUNDLES.iter().all(|p| p.id != bundle) {
        return false;
    }
    let entry = w
        .public_updates
        .entry(bundle.to_string())
        .or_insert((0, now));
    *entry = (entry.0 + 1, now);
    true
}
