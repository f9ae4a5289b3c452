//! The provenance of an image version: an in-toto Statement v1
//! (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md) whose predicate is SLSA
//! Provenance v1 (https://slsa.dev/spec/v1.0/provenance): what was built (the subjects: each
//! region's image and snapshots, the sandbox artifact's SHA-256), from what (the recipe, its
//! fingerprint, the base image, the parent version, each step's script digest and exit status), by
//! whom and when.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The statement's `_type`.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of SLSA Provenance v1.
pub const SLSA_PROVENANCE: &str = "https://slsa.dev/provenance/v1";
/// How recipe builds an image: the build type a verifier checks.
pub const BUILD_TYPE: &str = "https://github.com/recipe-images/recipe/build-types/image/v1";

/// An in-toto statement with a SLSA Provenance v1 predicate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// What was built.
    pub subject: Vec<Subject>,
    /// [`SLSA_PROVENANCE`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// How.
    pub predicate: Provenance,
}

/// A built artifact and its digests (`sha256`, or for a cloud image the provider's own id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// `ami-0abc… in eu-west-2`, a snapshot id, the sandbox artifact's path.
    pub name: String,
    /// Algorithm → value: `sha256` for bytes, `awsImageId` / `awsSnapshotId` for what AWS names.
    pub digest: BTreeMap<String, String>,
}

/// SLSA Provenance v1's predicate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// What was asked and from what.
    pub build_definition: BuildDefinition,
    /// Who ran it and when.
    pub run_details: RunDetails,
}

/// The inputs of the build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    /// [`BUILD_TYPE`].
    pub build_type: String,
    /// The recipe's name, version, target and fingerprint, and the git commit where CI gives it.
    pub external_parameters: BTreeMap<String, String>,
    /// What the tool decided: the build id, the strategy.
    pub internal_parameters: BTreeMap<String, String>,
    /// The base image and the parent version.
    pub resolved_dependencies: Vec<Dependency>,
}

/// An input artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// `ami-…`, `recipe:<name>@<version>`.
    pub name: String,
    /// Its digests, as for a subject.
    pub digest: BTreeMap<String, String>,
}

/// Who built it, when, and what each step did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    /// The builder: the tool and the machine it built on.
    pub builder: Builder,
    /// The run's id and times.
    pub metadata: RunMetadata,
    /// Each step's rendered script digest and exit status.
    pub byproducts: Vec<StepRecord>,
}

/// The entity that ran the build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Builder {
    /// `recipe@<version>` on `<builder machine>`, and the CI run where given.
    pub id: String,
}

/// The run's id and times (RFC 3339).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunMetadata {
    /// The build id, or the CI pipeline's run id with it.
    pub invocation_id: String,
    /// When the build started.
    pub started_on: String,
    /// When it finished.
    pub finished_on: String,
}

/// One step as it ran: its label, its rendered script's SHA-256 and its exit status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// `step:<label>`.
    pub name: String,
    /// `sha256` of the rendered script (never the script: it may name secrets' references).
    pub digest: BTreeMap<String, String>,
    /// `exitStatus`.
    pub annotations: BTreeMap<String, i64>,
}

impl Statement {
    /// A statement of `subject`, built as `predicate` says.
    pub fn new(subject: Vec<Subject>, predicate: Provenance) -> Statement {
        Statement {
            statement_type: STATEMENT_TYPE.into(),
            subject,
            predicate_type: SLSA_PROVENANCE.into(),
            predicate,
        }
    }

    /// The statement's canonical bytes (what the envelope carries).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a statement serializes")
    }
}
