//! `recipe verify RECIPE[@BUILD-ID|@VERSION]`: check an image version's kept evidence (issue 28).
//!
//! Each check is one line, `ok` or `FAILED` with what failed: the provenance envelope's signature
//! (with `--key`), its statement against what the state records now (each region's image and
//! snapshots, the recipe, version and fingerprint), each artifact's SHA-256 where the file is on
//! this machine (the sandbox's), and the SBOM against the digest the provenance names. Exit 0 when
//! every check passes, 7 when one fails.

use std::io::Write;
use std::path::PathBuf;

use recipe_provenance::dsse::Envelope;
use recipe_provenance::statement::Statement;
use recipe_state::{ImageVersion, StateStore};
use sha2::{Digest, Sha256};

use crate::evidence::{PROVENANCE, SBOM, facts_of, file_sha256};
use crate::exit::Exit;
use crate::state_cmd::StateWhere;
use crate::store::AnyStore;
use crate::verify_policy::{Evidence, Policy};

/// `recipe verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The recipe, or `RECIPE@BUILD-ID` or `RECIPE@VERSION` (default: its current version).
    #[arg(value_name = "RECIPE[@BUILD]", required_unless_present = "all")]
    which: Option<String>,
    /// Every recipe with state: each one's current version.
    #[arg(long, conflicts_with = "which")]
    all: bool,
    /// The key that signed (its public key, or the private key itself), PEM. With --sandbox, the
    /// sandbox's own key by default.
    #[arg(long, env = "RECIPE_VERIFY_KEY", value_name = "FILE")]
    key: Option<PathBuf>,
    /// The AWS KMS key that signed (id, ARN or alias): its public key is read with GetPublicKey
    /// (with --sandbox, from the sandbox's KMS).
    #[arg(long, conflicts_with = "key", value_name = "KEY-ID")]
    kms_key: Option<String>,
    /// What else to require (YAML or JSON): `signed-by` keys, `fingerprints` per recipe,
    /// `require-sbom`, `deny-packages` (docs/supply-chain.md).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    #[command(flatten)]
    at: StateWhere,
}

/// Checks so far: each line, and whether one failed.
#[derive(Default)]
pub(crate) struct Checks {
    lines: Vec<String>,
    failed: bool,
}

impl Checks {
    pub(crate) fn ok(&mut self, what: String) {
        self.lines.push(format!("ok      {what}"));
    }
    pub(crate) fn fail(&mut self, what: String) {
        self.failed = true;
        self.lines.push(format!("FAILED  {what}"));
    }
    pub(crate) fn note(&mut self, what: String) {
        self.lines.push(format!("note    {what}"));
    }
}

pub fn run(args: &VerifyArgs) -> std::io::Result<Exit> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(verify(args))
}

async fn verify(args: &VerifyArgs) -> std::io::Result<Exit> {
    let store = match crate::state_cmd::open(&args.at.at()).await {
        Ok(s) => s,
        Err(exit) => return Ok(exit),
    };
    let which: Vec<String> = match (&args.which, args.all) {
        (Some(w), _) => vec![w.clone()],
        (None, _) => match store.list().await {
            Ok(all) => all,
            Err(e) => return Ok(crate::render::report(&e)),
        },
    };
    let key = public_key(args).await?;
    let policy = match args.policy.as_deref().map(Policy::read).transpose() {
        Ok(p) => p,
        Err(e) => {
            writeln!(std::io::stderr(), "{e}")?;
            return Ok(Exit::Invalid);
        }
    };
    let mut failed = false;
    let mut out = std::io::stdout().lock();
    for w in &which {
        let (recipe, wanted) = match w.split_once('@') {
            Some((r, w)) => (r, Some(w)),
            None => (w.as_str(), None),
        };
        let mut checks = Checks::default();
        if let Some(v) = version(&store, recipe, wanted, &mut checks).await {
            let with = With {
                key: &key,
                policy: policy.as_ref(),
            };
            check_version(&store, recipe, &v, &with, &mut checks).await;
        }
        if which.len() > 1 {
            writeln!(out, "{recipe}")?;
        }
        for l in &checks.lines {
            writeln!(out, "{l}")?;
        }
        failed |= checks.failed;
    }
    Ok(if failed { Exit::Unverified } else { Exit::Ok })
}

/// The version asked for: by build id or version, else the current one.
async fn version(
    store: &AnyStore,
    recipe: &str,
    wanted: Option<&str>,
    checks: &mut Checks,
) -> Option<ImageVersion> {
    let state = match store.load(recipe).await {
        Ok(Some(s)) => s.state,
        Ok(None) => {
            checks.fail(format!(
                "no state for `{recipe}`: nothing was built to verify"
            ));
            return None;
        }
        Err(e) => {
            checks.fail(format!("state of `{recipe}`: {e}"));
            return None;
        }
    };
    let found = match wanted {
        Some(w) => state
            .versions
            .iter()
            .rev()
            .find(|v| v.build_id == w || v.version == w),
        None => state.current(),
    };
    if found.is_none() {
        checks.fail(format!(
            "`{recipe}` has no version {}",
            wanted.unwrap_or("in use")
        ));
    }
    found.cloned()
}

async fn check_version(
    store: &AnyStore,
    recipe: &str,
    v: &ImageVersion,
    with: &With<'_>,
    checks: &mut Checks,
) {
    let kept = store.get_evidence(recipe, &v.build_id, PROVENANCE).await;
    let Some(bytes) = kept.ok().flatten() else {
        checks.fail(format!("no provenance kept for {recipe} {}", v.build_id));
        return;
    };
    let Some(statement) = signed_statement(&bytes, with.key, checks) else {
        return;
    };
    check_subjects(recipe, v, &statement, checks);
    check_sbom(store, recipe, v, &statement, checks).await;
    if let (Some(policy), Ok((_, signer))) = (with.policy, with.key) {
        let sbom = store.get_evidence(recipe, &v.build_id, SBOM).await;
        let named = (statement.predicate.run_details.byproducts.iter()).any(|b| b.name == "sbom");
        let sbom = sbom.ok().flatten().filter(|_| named);
        let evidence = Evidence {
            signer,
            statement: &statement,
            sbom: sbom.as_deref(),
        };
        policy.check(recipe, &evidence, checks);
    }
}

/// The public key's DER and ids, or why there is none.
type Key = Result<(Vec<u8>, Vec<String>), String>;

/// What each version is checked with: the key and the policy.
struct With<'a> {
    key: &'a Key,
    policy: Option<&'a Policy>,
}

/// The envelope's statement, once its signature verifies with `--key`.
fn signed_statement(bytes: &[u8], key: &Key, checks: &mut Checks) -> Option<Statement> {
    let envelope: Envelope = match serde_json::from_slice(bytes) {
        Ok(e) => e,
        Err(e) => {
            checks.fail(format!("the provenance is not a DSSE envelope: {e}"));
            return None;
        }
    };
    let der = match key {
        Ok((d, _)) => d,
        Err(e) => {
            checks.fail(e.clone());
            return None;
        }
    };
    let payload = match envelope.verify(der) {
        Ok(p) => p,
        Err(e) => {
            checks.fail(format!("the provenance's {e}"));
            return None;
        }
    };
    let id = recipe_provenance::dsse::key_id(der);
    checks.ok(format!("signature of the provenance, by key {}", &id[..16]));
    match serde_json::from_slice(&payload) {
        Ok(s) => Some(s),
        Err(e) => {
            checks.fail(format!(
                "the signed payload is not an in-toto statement: {e}"
            ));
            None
        }
    }
}

/// The public key to check signatures with (DER): `--kms-key`'s from KMS, `--key`'s file, or the
/// sandbox's own key; `Err` says why there is none (every version then fails its signature check).
async fn public_key(args: &VerifyArgs) -> std::io::Result<Key> {
    if let Some(id) = &args.kms_key {
        let cloud = crate::cloud::CloudArgs {
            sandbox: args.at.is_sandbox(),
            refresh: true,
            profile: None,
            region: None,
            endpoint_url: None,
        };
        let dot = args.at.dot_recipe();
        let cloud = match crate::cloud::Cloud::connect(&cloud, &dot).await? {
            Ok(c) => c,
            Err(e) => return Ok(Err(format!("the KMS key {id}: {}", e.message_and_help()))),
        };
        let client = crate::evidence::kms_client(&cloud.aws.sdk, id);
        let key = crate::evidence::public_key(&client, id).await;
        let ids = |arn: String, der: &[u8]| vec![recipe_provenance::dsse::key_id(der), arn];
        let key = key.map(|(arn, der)| (der.clone(), ids(arn, &der)));
        return Ok(key.map_err(|e| format!("the KMS key {id}: {e}")));
    }
    let Some(path) = args.key.clone().or_else(|| args.at.sandbox_key()) else {
        return Ok(Err(
            "no key to check the signature with: give --key (PEM) or --kms-key".into(),
        ));
    };
    let pem = std::fs::read_to_string(&path).map_err(|e| e.to_string());
    let der = pem
        .and_then(|p| recipe_provenance::dsse::public_der_from_pem(&p).map_err(|e| e.to_string()));
    let der = der.map(|d| (d.clone(), vec![recipe_provenance::dsse::key_id(&d)]));
    Ok(der.map_err(|e| format!("the key {}: {e}", path.display())))
}

/// The statement's subjects and parameters against the state, and each artifact against its file.
fn check_subjects(recipe: &str, v: &ImageVersion, s: &Statement, checks: &mut Checks) {
    let mut now = facts_of(recipe, v);
    for subject in &s.subject {
        let Some(said) = subject.digest.get("sha256") else {
            continue;
        };
        match file_sha256(std::path::Path::new(&subject.name)) {
            Some(sha) => {
                now.artifacts.insert(subject.name.clone(), sha);
            }
            None => {
                checks.note(format!(
                    "{} is not on this machine: its SHA-256 is not checked",
                    subject.name
                ));
                now.artifacts.insert(subject.name.clone(), said.clone());
            }
        }
    }
    let differences = recipe_provenance::image::differences(s, &now);
    if differences.is_empty() {
        let n = s.subject.len();
        checks.ok(format!(
            "{n} subjects and the build parameters match what is recorded for {recipe} {}",
            v.build_id
        ));
    }
    for d in differences {
        checks.fail(d);
    }
}

/// The kept SBOM is the one the provenance names.
async fn check_sbom(
    store: &AnyStore,
    recipe: &str,
    v: &ImageVersion,
    s: &Statement,
    checks: &mut Checks,
) {
    let named = s
        .predicate
        .run_details
        .byproducts
        .iter()
        .find(|b| b.name == "sbom");
    let Some(want) = named.and_then(|b| b.digest.get("sha256")) else {
        checks.note("the provenance names no SBOM".into());
        return;
    };
    match store.get_evidence(recipe, &v.build_id, SBOM).await {
        Ok(Some(bytes)) if recipe_state::hex(&Sha256::digest(&bytes)) == *want => {
            checks.ok("the SBOM is the one the provenance names".into());
        }
        Ok(Some(_)) => checks
            .fail("the SBOM kept is not the one the provenance names (its SHA-256 differs)".into()),
        Ok(None) => checks.fail("the provenance names an SBOM, and none is kept".into()),
        Err(e) => checks.fail(format!("the SBOM: {e}")),
    }
}
