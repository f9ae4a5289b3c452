//! Steps on a managed node through SSM Run Command, shared by the providers whose builders SSM
//! reaches: EC2 instances (`i-…`), and WorkSpaces and AppStream image builders registered through a
//! hybrid activation (`mi-…`).
//!
//! - [`render`]: steps as scripts (bash or PowerShell), payloads, AppStream session scripts;
//! - [`first_boot`]: the runner of launch-stage steps on machines made from the image;
//! - [`Session`]: one action's commands on one node, each sent once under a key and waited for;
//! - [`poll`]: the agent and command waits on the shared poller;
//! - [`hybrid`]: activations and the managed nodes registered with them;
//! - [`ProviderCore`]: what every SSM-driven provider holds once (configuration, SSM clients, nodes).

/// What this crate's macros name.
#[doc(hidden)]
pub mod reexport {
    pub use recipe_aws::Aws;
}

pub mod bootstrap;
pub mod first_boot;
pub mod hybrid;
mod observing;
pub mod poll;
mod provider_core;
pub mod render;
pub mod secrets;
mod session;

pub use observing::{Observed, Observing, tagged_image};
pub use provider_core::{Options, ProviderCore, image_available, until_available};
pub use session::{Hybrid, NodeCheck, Nodes, Session};

#[cfg(test)]
mod image_tests;
#[cfg(test)]
mod windows_tests;
