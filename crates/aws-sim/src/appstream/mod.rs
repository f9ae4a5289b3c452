//! AppStream 2.0 over Smithy RPC v2 CBOR: image builders, images, fleets, image sharing and tags.
//!
//! AWS has no API that turns a builder into an image: the Image Assistant's `create-image`, run on the
//! builder (here: through SSM Run Command on the builder's managed node, see [`assistant`]), does it.
//! The builder goes SNAPSHOTTING while the image is PENDING, then the image is AVAILABLE and the
//! builder stops by itself. The public base images
//! ([`PUBLIC_IMAGES`]) exist in every region. Every resource belongs to one account and region; a shared
//! image is visible to the accounts it is shared with, in its own region only. CopyImage is called in the
//! source region. Fidelity notes are in docs/aws-sim-appstream.md.

pub mod assistant;
mod handlers;
mod model;
mod state;
mod wire;

pub use handlers::handle;
pub use state::Appstream;
