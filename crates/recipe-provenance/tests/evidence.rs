//! Supply-chain evidence end to end, with checks by tools that did not make it: a statement signed
//! into a DSSE envelope verifies, a flipped byte anywhere fails, Python's `cryptography` verifies
//! the signature, cyclonedx-python-lib validates the SBOM against CycloneDX 1.5, and the SBOM of
//! this machine's own Debian root lists what `dpkg-query -W` lists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use recipe_provenance::dsse::{Envelope, IN_TOTO, LocalKey};
use recipe_provenance::sbom::{PlacedFile, cyclonedx, dpkg_packages};
use recipe_provenance::statement::*;

fn key(seed: u8) -> LocalKey {
    LocalKey::from_bytes(&[seed; 32]).unwrap()
}

fn statement() -> Statement {
    let digest = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
    let predicate = Provenance {
        build_definition: BuildDefinition {
            build_type: BUILD_TYPE.into(),
            external_parameters: BTreeMap::from([("recipe".into(), "web@1.0.0".into())]),
            internal_parameters: BTreeMap::new(),
            resolved_dependencies: vec![Dependency {
                name: "ami-0123456789abcdef0".into(),
                digest: digest("awsImageId", "ami-0123456789abcdef0"),
            }],
        },
        run_details: RunDetails {
            builder: Builder {
                id: "recipe@0.1.0".into(),
            },
            metadata: RunMetadata {
                invocation_id: "b-1".into(),
                started_on: "2026-12-07T21:00:00Z".into(),
                finished_on: "2026-12-07T21:20:00Z".into(),
            },
            byproducts: vec![StepRecord {
                name: "step:nginx".into(),
                digest: digest("sha256", &"0".repeat(64)),
                annotations: BTreeMap::from([("exitStatus".into(), 0)]),
            }],
        },
    };
    let subject = Subject {
        name: "ami-0fedcba9876543210 in eu-west-2".into(),
        digest: digest("awsImageId", "ami-0fedcba9876543210"),
    };
    Statement::new(vec![subject], predicate)
}

/// `envelope` with byte `at` of its decoded `field` (payload or signature) flipped.
fn flipped(envelope: &Envelope, payload: bool, at: usize) -> Envelope {
    let mut e = envelope.clone();
    let text = if payload {
        &mut e.payload
    } else {
        &mut e.signatures[0].sig
    };
    let mut bytes = B64.decode(&*text).unwrap();
    let i = at % bytes.len();
    bytes[i] ^= 1;
    *text = B64.encode(bytes);
    e
}

#[test]
fn a_signed_statement_verifies_and_any_flipped_byte_fails() {
    let (signer, other) = (key(7), key(9));
    let envelope = signer.sign(IN_TOTO, &statement().to_bytes());
    let payload = envelope.verify(&signer.public_der()).expect("it verifies");
    let back: Statement = serde_json::from_slice(&payload).unwrap();
    assert_eq!(back, statement());
    for at in [0, 17, 200] {
        let bad = flipped(&envelope, true, at).verify(&signer.public_der());
        assert!(bad.is_err(), "a flipped payload byte {at} verified");
        let bad = flipped(&envelope, false, at).verify(&signer.public_der());
        assert!(bad.is_err(), "a flipped signature byte {at} verified");
    }
    let wrong = envelope.verify(&other.public_der()).unwrap_err();
    assert!(wrong.to_string().contains("no signature"), "{wrong}");
    let mut retyped = envelope.clone();
    retyped.payload_type = "application/json".into();
    assert!(
        retyped.verify(&signer.public_der()).is_err(),
        "the type is signed too"
    );
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `.venv/bin/python`, or `None` (skipped, with why) outside CI when `./just setup` was not run.
#[expect(
    clippy::print_stderr,
    reason = "say why the test is skipped outside CI"
)]
fn python() -> Option<PathBuf> {
    let path = root().join(".venv/bin/python");
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI needs .venv (./just setup)"
    );
    eprintln!("skipped: no .venv/bin/python (run ./just setup)");
    None
}

#[test]
fn python_cryptography_verifies_the_envelope_and_cyclonedx_validates_the_sbom() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let signer = key(3);
    let envelope = signer.sign(IN_TOTO, &statement().to_bytes());
    let files = [PlacedFile {
        path: "/etc/nginx/nginx.conf".into(),
        sha256: "ab".repeat(32),
    }];
    let status = "Package: nginx\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.22.1-9+deb12u1\n";
    let sbom = cyclonedx(("web", "1.0.0"), "debian", &dpkg_packages(status), &files).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let args = [
        root()
            .join("tests/clients/provenance_check.py")
            .display()
            .to_string(),
        write("envelope.json", &serde_json::to_vec(&envelope).unwrap()),
        write("key.der", &signer.public_der()),
        write("sbom.json", sbom.as_bytes()),
    ];
    let out = std::process::Command::new(python)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("verified https://slsa.dev/provenance/v1"),
        "{text}"
    );
}

/// The SBOM of this machine's root (a Debian system) lists at least 99% of what `dpkg-query -W`
/// lists, each with its exact version.
#[test]
fn the_sbom_of_a_debian_root_lists_what_dpkg_query_lists() {
    let status = Path::new("/var/lib/dpkg/status");
    let Ok(text) = std::fs::read_to_string(status) else {
        assert!(std::env::var_os("CI").is_none(), "CI runs on Debian");
        return;
    };
    let out = std::process::Command::new("dpkg-query")
        .args([
            "--admindir=/var/lib/dpkg",
            "-W",
            "-f",
            "${Package} ${Version}\\n",
        ])
        .output()
        .unwrap();
    let listed: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, v)| !v.is_empty())
        .map(|(p, v)| (p.to_string(), v.to_string()))
        .collect();
    assert!(listed.len() > 50, "{} packages", listed.len());
    let ours = dpkg_packages(&text);
    let have: std::collections::BTreeSet<(String, String)> = ours
        .iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    let found = listed.iter().filter(|pv| have.contains(*pv)).count();
    assert!(
        found * 100 >= listed.len() * 99,
        "{found} of {}",
        listed.len()
    );
    let sbom = cyclonedx(("host", "0"), "debian", &ours, &[]).unwrap();
    let v: serde_json::Value = serde_json::from_str(&sbom).unwrap();
    assert_eq!(v["components"].as_array().unwrap().len(), ours.len());
}
