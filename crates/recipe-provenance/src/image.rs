//! An image version's provenance from what the tool recorded of it, and the check of a statement
//! against what is recorded (or found) now.

use std::collections::BTreeMap;

use crate::statement::{
    BUILD_TYPE, BuildDefinition, Builder, Dependency, Provenance, RunDetails, RunMetadata,
    Statement, StepRecord, Subject,
};

/// What the tool knows of one image version, as the statement says it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageFacts {
    /// The recipe's name.
    pub recipe: String,
    /// Its version.
    pub version: String,
    /// Its target.
    pub target: String,
    /// The fingerprint of everything that went into the image.
    pub fingerprint: String,
    /// The build id.
    pub build_id: String,
    /// The build region.
    pub home_region: String,
    /// Each region's image id and snapshot ids.
    pub images: BTreeMap<String, (String, Vec<String>)>,
    /// Artifacts with their SHA-256 (the sandbox image's root file system), by name.
    pub artifacts: BTreeMap<String, String>,
    /// The base image (an id or name), as resolved.
    pub base_image: String,
    /// The parent version for a layered image: its recipe and build id.
    pub parent: Option<(String, String)>,
    /// Each step by its label, with the SHA-256 of its resolved definition.
    pub steps: Vec<(String, String)>,
    /// When the build started and finished (RFC 3339).
    pub started: String,
    /// When it finished.
    pub finished: String,
    /// The tool: `recipe@<version>`.
    pub builder: String,
    /// What CI says of the run (`gitCommit`, `pipelineRun`), where it says it.
    pub ci: BTreeMap<String, String>,
    /// The SHA-256 of the image's SBOM, when one was made.
    pub sbom_sha256: Option<String>,
}

fn digest(alg: &str, value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(alg.to_string(), value.to_string())])
}

/// The subjects: each region's image and snapshots, and each artifact.
fn subjects(f: &ImageFacts) -> Vec<Subject> {
    let mut out = Vec::new();
    for (region, (image, snapshots)) in &f.images {
        let name = format!("{image} in {region}");
        out.push(Subject {
            name,
            digest: digest("awsImageId", image),
        });
        for s in snapshots {
            let name = format!("{s} in {region}");
            out.push(Subject {
                name,
                digest: digest("awsSnapshotId", s),
            });
        }
    }
    for (name, sha) in &f.artifacts {
        out.push(Subject {
            name: name.clone(),
            digest: digest("sha256", sha),
        });
    }
    out
}

/// The statement of `f`: subjects, build definition and run details (SLSA Provenance v1).
pub fn statement_of(f: &ImageFacts) -> Statement {
    let mut external = BTreeMap::from([
        ("recipe".to_string(), f.recipe.clone()),
        ("version".to_string(), f.version.clone()),
        ("target".to_string(), f.target.clone()),
        ("fingerprint".to_string(), f.fingerprint.clone()),
    ]);
    external.extend(f.ci.clone());
    let internal = BTreeMap::from([
        ("buildId".to_string(), f.build_id.clone()),
        ("homeRegion".to_string(), f.home_region.clone()),
    ]);
    let mut deps = vec![Dependency {
        name: f.base_image.clone(),
        digest: digest("imageId", &f.base_image),
    }];
    if let Some((recipe, build)) = &f.parent {
        let name = format!("recipe:{recipe}@{build}");
        deps.push(Dependency {
            name,
            digest: digest("buildId", build),
        });
    }
    let mut byproducts: Vec<StepRecord> = (f.steps.iter())
        .map(|(label, sha)| StepRecord {
            name: format!("step:{label}"),
            digest: digest("sha256", sha),
            // A version is recorded only when every step exited successfully.
            annotations: BTreeMap::from([("exitStatus".to_string(), 0)]),
        })
        .collect();
    if let Some(sha) = &f.sbom_sha256 {
        let sbom = StepRecord {
            name: "sbom".into(),
            digest: digest("sha256", sha),
            annotations: BTreeMap::new(),
        };
        byproducts.push(sbom);
    }
    let predicate = Provenance {
        build_definition: BuildDefinition {
            build_type: BUILD_TYPE.into(),
            external_parameters: external,
            internal_parameters: internal,
            resolved_dependencies: deps,
        },
        run_details: RunDetails {
            builder: Builder {
                id: f.builder.clone(),
            },
            metadata: RunMetadata {
                invocation_id: f.build_id.clone(),
                started_on: f.started.clone(),
                finished_on: f.finished.clone(),
            },
            byproducts,
        },
    };
    Statement::new(subjects(f), predicate)
}

/// What differs between a statement and the facts now: one line per subject missing on either
/// side, and per build parameter that changed. Empty: they agree.
pub fn differences(s: &Statement, now: &ImageFacts) -> Vec<String> {
    let mut out = Vec::new();
    let said: Vec<&Subject> = s.subject.iter().collect();
    let have = subjects(now);
    for subject in &said {
        if !have.contains(subject) {
            out.push(format!(
                "subject {} ({}) is not what is recorded or found now",
                subject.name,
                show(&subject.digest)
            ));
        }
    }
    for subject in &have {
        if !said.contains(&subject) {
            out.push(format!(
                "{} ({}) is not a subject of the statement",
                subject.name,
                show(&subject.digest)
            ));
        }
    }
    let params = &s.predicate.build_definition.external_parameters;
    for (key, value) in [
        ("recipe", &now.recipe),
        ("version", &now.version),
        ("fingerprint", &now.fingerprint),
    ] {
        if params.get(key) != Some(value) {
            let said = params.get(key).map_or("nothing", String::as_str);
            out.push(format!(
                "the statement says {key} {said}, the state {value}"
            ));
        }
    }
    out
}

fn show(d: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = d.iter().map(|(k, v)| format!("{k} {v}")).collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> ImageFacts {
        ImageFacts {
            recipe: "web".into(),
            version: "1.0.0".into(),
            target: "ec2-ami".into(),
            fingerprint: "sha256:ab".into(),
            build_id: "b1".into(),
            home_region: "eu-west-2".into(),
            images: BTreeMap::from([("eu-west-2".into(), ("ami-1".into(), vec!["snap-1".into()]))]),
            artifacts: BTreeMap::from([("root.tar.zst".into(), "cd".into())]),
            base_image: "ami-0".into(),
            steps: vec![("nginx".into(), "ef".into())],
            ..ImageFacts::default()
        }
    }

    #[test]
    fn a_statement_agrees_with_its_facts_and_names_each_difference() {
        let f = facts();
        let s = statement_of(&f);
        assert_eq!(s.subject.len(), 3);
        assert!(differences(&s, &f).is_empty());
        let mut moved = f.clone();
        moved.images.get_mut("eu-west-2").unwrap().1 = vec!["snap-2".into()];
        moved.fingerprint = "sha256:00".into();
        let d = differences(&s, &moved);
        assert!(
            d.iter()
                .any(|l| l.starts_with("subject snap-1 in eu-west-2")),
            "{d:?}"
        );
        assert!(
            d.iter().any(|l| l.starts_with("snap-2 in eu-west-2")),
            "{d:?}"
        );
        assert!(d.iter().any(|l| l.contains("fingerprint")), "{d:?}");
    }
}
