//! Supply-chain evidence for an image version (issue 28):
//!
//! - [`sbom`]: its CycloneDX 1.5 SBOM: OS packages with purls, the files the recipe placed;
//! - [`statement`]: its provenance, an in-toto Statement v1 with a SLSA Provenance v1 predicate;
//! - [`dsse`]: the DSSE envelope that carries the statement, signed and verified (ECDSA P-256 with
//!   SHA-256, as AWS KMS signs with an `ECC_NIST_P256` key, or a local PEM key).
//!
//! No SDK: the KMS signer is the providers'; it signs [`dsse::pae`] and builds the envelope with
//! [`dsse::Envelope::signed`].

pub mod dsse;
pub mod image;
pub mod sbom;
pub mod statement;

/// What went wrong making or checking evidence.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SBOM could not be written.
    #[error("SBOM: {0}")]
    Sbom(String),
    /// A key could not be read.
    #[error("key: {0}")]
    Key(String),
    /// An envelope is malformed.
    #[error("envelope: {0}")]
    Envelope(String),
    /// No signature verifies.
    #[error("signature: {0}")]
    Signature(String),
}
