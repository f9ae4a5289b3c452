//! `recipe verify --policy FILE`: what an organisation requires of an image version's evidence
//! beyond a good signature (issue 28), as YAML or JSON:
//!
//! ```yaml
//! signed-by: [3f2a9c41d0e8b7a6]        # key ids (or a prefix of 16+ hex digits), or KMS key ARNs
//! fingerprints: { web: "sha256:…" }    # a recipe's version must have been built from exactly this
//! require-sbom: true                   # an SBOM must be kept and named by the provenance
//! deny-packages: [telnetd, "openssl@1.1"]  # no SBOM component with this name (and version prefix)
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use recipe_provenance::statement::Statement;
use serde::Deserialize;

use crate::verify_cmd::Checks;

/// A verification policy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Policy {
    /// The keys allowed to sign: key ids (the SHA-256 of the public key, hex, or a prefix of at
    /// least 16 digits) or KMS key ARNs.
    #[serde(default)]
    signed_by: Vec<String>,
    /// Recipe → the fingerprint its verified version must have.
    #[serde(default)]
    fingerprints: BTreeMap<String, String>,
    /// An SBOM must be kept, and named by the provenance.
    #[serde(default)]
    require_sbom: bool,
    /// Packages no image may hold: `name`, or `name@version-prefix`.
    #[serde(default)]
    deny_packages: Vec<String>,
}

/// What a policy is checked against: the verifying key's ids, the statement, the SBOM kept.
pub struct Evidence<'a> {
    /// The ids of the key that verified the signature (its hex id; a KMS key's ARN too).
    pub signer: &'a [String],
    /// The verified statement.
    pub statement: &'a Statement,
    /// The SBOM kept, if any.
    pub sbom: Option<&'a [u8]>,
}

impl Policy {
    /// The policy in `path` (YAML or JSON).
    pub fn read(path: &Path) -> Result<Policy, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_saphyr::from_str(&text).map_err(|e| format!("the policy {}: {e}", path.display()))
    }

    /// Each rule of the policy, one check line each.
    pub fn check(&self, recipe: &str, e: &Evidence<'_>, checks: &mut Checks) {
        if !self.signed_by.is_empty() {
            let allowed = |id: &String| self.signed_by.iter().any(|p| allows(p, id));
            match e.signer.iter().find(|id| allowed(id)) {
                Some(id) => checks.ok(format!("policy: signed by an allowed key ({id})")),
                None => checks.fail(format!(
                    "policy: the signing key ({}) is not one `signed-by` allows",
                    e.signer.join(", ")
                )),
            }
        }
        if let Some(want) = self.fingerprints.get(recipe) {
            let params = &e.statement.predicate.build_definition.external_parameters;
            match params.get("fingerprint") {
                Some(have) if have == want => checks.ok(format!(
                    "policy: {recipe} was built from fingerprint {want}"
                )),
                have => checks.fail(format!(
                    "policy: {recipe} was built from {}, not {want}",
                    have.map_or("no fingerprint", String::as_str)
                )),
            }
        }
        self.check_sbom(e, checks);
    }

    fn check_sbom(&self, e: &Evidence<'_>, checks: &mut Checks) {
        if self.require_sbom && e.sbom.is_none() {
            checks.fail("policy: an SBOM is required and none is kept".into());
        }
        if self.deny_packages.is_empty() {
            return;
        }
        let Some(sbom) = e.sbom else {
            checks.fail("policy: packages are denied and there is no SBOM to check them in".into());
            return;
        };
        let found = denied(sbom, &self.deny_packages);
        if found.is_empty() {
            checks.ok(format!(
                "policy: none of the {} denied packages is in the SBOM",
                self.deny_packages.len()
            ));
        }
        for f in found {
            checks.fail(format!(
                "policy: the image holds {f}, which `deny-packages` denies"
            ));
        }
    }
}

/// A policy entry allows a key id: equal, or a prefix of 16+ characters of it.
fn allows(entry: &str, id: &str) -> bool {
    entry == id || (entry.len() >= 16 && id.starts_with(entry))
}

/// The SBOM's components that a `deny` entry matches, as `name@version`.
fn denied(sbom: &[u8], deny: &[String]) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_slice(sbom).unwrap_or_default();
    let components = doc["components"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for c in components {
        let (name, version) = (
            c["name"].as_str().unwrap_or(""),
            c["version"].as_str().unwrap_or(""),
        );
        let hit = deny.iter().any(|d| match d.split_once('@') {
            Some((n, v)) => n == name && version.starts_with(v),
            None => d == name,
        });
        if hit {
            out.push(format!("{name}@{version}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_packages_match_by_name_and_version_prefix() {
        let sbom = br#"{"components":[{"name":"openssl","version":"1.1.1w-0"},{"name":"nginx","version":"1.22.1"}]}"#;
        let deny = |d: &[&str]| denied(sbom, &d.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(deny(&["openssl@1.1"]), ["openssl@1.1.1w-0"]);
        assert!(deny(&["openssl@3"]).is_empty());
        assert_eq!(deny(&["nginx"]), ["nginx@1.22.1"]);
        assert!(allows("3f2a9c41d0e8b7a6", "3f2a9c41d0e8b7a6ff00"));
        assert!(
            !allows("3f2a", "3f2a9c41d0e8b7a6ff00"),
            "too short a prefix"
        );
    }
}
