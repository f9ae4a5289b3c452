//! Supply-chain evidence of each image version an apply records (issue 28): its signed provenance
//! and, where the image's root file system is at hand (the sandbox's artifacts), its SBOM. Both are
//! kept beside the state (`evidence/<recipe>/<build id>.*`); `recipe verify` checks them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use recipe_engine::apply::ApplyReport;
use recipe_loader::{LoadedRecipe, RecipeSet};
use recipe_model::{Stage, Step};
use recipe_provenance::dsse::{Envelope, IN_TOTO, LocalKey};
use recipe_provenance::image::{ImageFacts, statement_of};
use recipe_provenance::sbom::{Package, PlacedFile};
use recipe_state::{ImageVersion, StateStore};
use sha2::{Digest, Sha256};

use crate::store::AnyStore;

/// The provenance document's kind in the store.
pub const PROVENANCE: &str = "provenance.dsse.json";
/// The SBOM's kind in the store.
pub const SBOM: &str = "sbom.cdx.json";

/// How provenance is signed: a local P-256 key (PKCS#8 PEM), an AWS KMS key, or not at all.
pub enum Signer {
    /// Not signed.
    None,
    /// A local key.
    Local(LocalKey),
    /// An `ECC_NIST_P256` `SIGN_VERIFY` KMS key: its client, its ARN and its public key.
    Kms(aws_sdk_kms::Client, String, Vec<u8>),
}

impl Signer {
    /// The key in the PEM file at `path`, if one is given.
    pub fn from_path(path: Option<&Path>) -> Result<Signer, String> {
        let Some(path) = path else {
            return Ok(Signer::None);
        };
        let pem = std::fs::read_to_string(path)
            .map_err(|e| format!("reading the signing key {}: {e}", path.display()))?;
        let key = LocalKey::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Signer::Local(key))
    }

    /// The KMS key `key_id` (id, ARN or alias), in its ARN's region or the configured one; its
    /// public key is read once (GetPublicKey) to name and check it.
    pub async fn kms(sdk: &aws_config::SdkConfig, key_id: &str) -> Result<Signer, String> {
        let client = kms_client(sdk, key_id);
        let (arn, der) = public_key(&client, key_id).await?;
        Ok(Signer::Kms(client, arn, der))
    }

    /// `payload` in a signed envelope (no signature with [`Signer::None`]).
    async fn envelope(&self, payload: &[u8]) -> Result<Envelope, String> {
        match self {
            Signer::Local(key) => Ok(key.sign(IN_TOTO, payload)),
            Signer::Kms(client, arn, _) => {
                // DIGEST: KMS signs the SHA-256 of the encoding, which is what ECDSA_SHA_256 over the
                // encoding signs; a RAW message is limited to 4096 bytes (API_Sign).
                let pae = recipe_provenance::dsse::pae(IN_TOTO, payload);
                let digest = Sha256::digest(&pae).to_vec();
                let out = (client.sign().key_id(arn))
                    .message(aws_sdk_kms::primitives::Blob::new(digest))
                    .message_type(aws_sdk_kms::types::MessageType::Digest)
                    .signing_algorithm(aws_sdk_kms::types::SigningAlgorithmSpec::EcdsaSha256)
                    .send()
                    .await
                    .map_err(|e| {
                        recipe_aws::AwsError::from_sdk("kms", "Sign", &e).message_and_help()
                    })?;
                let sig = out.signature.map(|b| b.into_inner()).unwrap_or_default();
                Ok(Envelope::signed(IN_TOTO, payload, arn, &sig))
            }
            Signer::None => {
                let mut e = Envelope::signed(IN_TOTO, payload, "", &[]);
                e.signatures.clear();
                Ok(e)
            }
        }
    }

    fn says(&self) -> String {
        let id = |der: &[u8]| recipe_provenance::dsse::key_id(der)[..16].to_string();
        match self {
            Signer::Local(k) => format!("signed by key {}", id(&k.public_der())),
            Signer::Kms(_, arn, der) => format!("signed by KMS key {arn} ({})", id(der)),
            Signer::None => "unsigned (give --sign-key or --sign-kms-key to sign)".into(),
        }
    }
}

/// A KMS client in the key ARN's region, or the configuration's.
pub fn kms_client(sdk: &aws_config::SdkConfig, key_id: &str) -> aws_sdk_kms::Client {
    let region = key_id
        .strip_prefix("arn:")
        .and_then(|a| a.split(':').nth(2));
    let mut conf = aws_sdk_kms::config::Builder::from(sdk);
    if let Some(r) = region.filter(|r| !r.is_empty()) {
        conf = conf.region(aws_config::Region::new(r.to_string()));
    }
    aws_sdk_kms::Client::from_conf(conf.build())
}

/// A KMS key's ARN and public key (DER SubjectPublicKeyInfo), by GetPublicKey.
pub async fn public_key(
    client: &aws_sdk_kms::Client,
    key_id: &str,
) -> Result<(String, Vec<u8>), String> {
    let out = client.get_public_key().key_id(key_id).send().await;
    let out = out.map_err(|e| {
        recipe_aws::AwsError::from_sdk("kms", "GetPublicKey", &e).message_and_help()
    })?;
    let der = out.public_key.map(|b| b.into_inner()).unwrap_or_default();
    Ok((out.key_id.unwrap_or_else(|| key_id.to_string()), der))
}

/// The sandbox's own signing key in `.recipe/sandbox/provenance.pem`, made on first use (readable
/// by its owner only): the sandbox's images are signed with no key to give.
pub fn sandbox_key(dot_recipe: &Path) -> Result<PathBuf, String> {
    let path = dot_recipe.join("sandbox").join("provenance.pem");
    if path.exists() {
        return Ok(path);
    }
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(path.parent().expect("a folder"))?;
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let mut f = open.open(&path)?;
        std::io::Write::write_all(&mut f, LocalKey::generate().to_pkcs8_pem().as_bytes())
    };
    write().map_err(|e| format!("making the sandbox's signing key {}: {e}", path.display()))?;
    Ok(path)
}

/// Where the sandbox keeps each image's root file system, if this apply ran in it.
pub type Artifacts<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Record the evidence of each version this apply built; one line per version says what was kept.
pub async fn record(
    store: &AnyStore,
    set: &RecipeSet,
    done: &ApplyReport,
    artifacts: Option<Artifacts<'_>>,
    signer: &Signer,
) -> Vec<String> {
    let mut lines = Vec::new();
    for (recipe, outputs) in &done.outputs.0 {
        let built: Vec<&String> = outputs.images.values().collect();
        if built.is_empty() {
            continue;
        }
        let Ok(Some(stored)) = store.load(recipe).await else {
            continue;
        };
        let version = stored
            .state
            .versions
            .iter()
            .rev()
            .find(|v| v.images.values().any(|i| built.contains(&&i.image_id)));
        if let Some(v) = version {
            let loaded = set.recipes.iter().find(|r| r.recipe.name.value == *recipe);
            lines.push(one(store, (recipe, loaded), v, artifacts, signer).await);
        }
    }
    lines
}

async fn one(
    store: &AnyStore,
    (recipe, loaded): (&str, Option<&LoadedRecipe>),
    v: &ImageVersion,
    artifacts: Option<Artifacts<'_>>,
    signer: &Signer,
) -> String {
    let mut facts = facts_of(recipe, v);
    if let Some(at) = artifacts {
        facts.artifacts = artifact_digests(v, at);
    }
    let mut sbom_says = String::from("no SBOM (no packages or placed files known)");
    if let Some((sbom, says)) = sbom_of(recipe, v, loaded, artifacts) {
        facts.sbom_sha256 = Some(recipe_state::hex(&Sha256::digest(sbom.as_bytes())));
        let kept = (store.put_evidence(recipe, &v.build_id, SBOM, sbom.as_bytes())).await;
        sbom_says = match kept {
            Ok(()) => says,
            Err(e) => format!("SBOM not kept: {e}"),
        };
    }
    let envelope = match signer.envelope(&statement_of(&facts).to_bytes()).await {
        Ok(e) => e,
        Err(e) => return format!("  {recipe} {}: provenance not signed: {e}", v.build_id),
    };
    let bytes = serde_json::to_vec_pretty(&envelope).expect("an envelope serializes");
    let kept = store
        .put_evidence(recipe, &v.build_id, PROVENANCE, &bytes)
        .await;
    let provenance = match kept {
        Ok(()) => format!("provenance {}", signer.says()),
        Err(e) => format!("provenance not kept: {e}"),
    };
    format!("  {recipe} {}: {provenance}, {sbom_says}", v.build_id)
}

/// What the state records of `v`, as the statement says it (no artifacts, no SBOM).
pub fn facts_of(recipe: &str, v: &ImageVersion) -> ImageFacts {
    let images = (v.images.iter())
        .map(|(r, i)| (r.clone(), (i.image_id.clone(), i.snapshot_ids.clone())))
        .collect();
    let steps = (v.fingerprint_parts.iter())
        .filter_map(|(k, d)| {
            Some((
                k.strip_prefix("detail:step:")?.to_string(),
                d.trim_start_matches("sha256:").to_string(),
            ))
        })
        .collect();
    ImageFacts {
        recipe: recipe.to_string(),
        version: v.version.clone(),
        target: v.target.as_str().to_string(),
        fingerprint: v.fingerprint.clone(),
        build_id: v.build_id.clone(),
        home_region: v.home_region.clone(),
        images,
        artifacts: BTreeMap::new(),
        base_image: v.base_image.clone(),
        parent: v
            .parent
            .as_ref()
            .map(|p| (p.recipe.clone(), p.build_id.clone())),
        steps,
        started: v.created_at.to_string(),
        finished: v.updated_at.to_string(),
        builder: format!("recipe@{}", env!("CARGO_PKG_VERSION")),
        ci: ci_facts(),
        sbom_sha256: None,
    }
}

/// What CI says of the run: GitHub Actions' and GitLab CI's commit and run.
fn ci_facts() -> BTreeMap<String, String> {
    let pairs = [
        ("gitCommit", ["GITHUB_SHA", "CI_COMMIT_SHA"]),
        ("pipelineRun", ["GITHUB_RUN_ID", "CI_PIPELINE_ID"]),
    ];
    let mut out = BTreeMap::new();
    for (key, vars) in pairs {
        if let Some(v) = vars.iter().find_map(|v| std::env::var(v).ok()) {
            out.insert(key.to_string(), v);
        }
    }
    out
}

/// Each region's artifact, named by its path (relative to the current folder when under it), with
/// its SHA-256.
pub fn artifact_digests(v: &ImageVersion, at: Artifacts<'_>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for i in v.images.values() {
        if let Some(path) = at(&i.image_id)
            && let Some(sha) = file_sha256(Path::new(&path))
        {
            out.insert(shown(&path), sha);
        }
    }
    out
}

/// The SHA-256 of a file, read in pieces.
pub fn file_sha256(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            return Some(recipe_state::hex(&h.finalize()));
        }
        h.update(&buf[..n]);
    }
}

/// `path` relative to the current folder when it is under it.
pub fn shown(path: &str) -> String {
    let p = PathBuf::from(path);
    let cwd = std::env::current_dir().ok();
    let rel = cwd.and_then(|c| p.strip_prefix(c).ok().map(Path::to_path_buf));
    rel.unwrap_or(p).display().to_string()
}

/// The dpkg packages of a sandbox artifact (a zstd tar of the root file system), with the
/// distribution its `os-release` names; `None` when it has no dpkg database.
fn packages_of(artifact: &Path) -> Option<(Vec<Package>, String)> {
    let member = |name: &str| {
        let out = std::process::Command::new("tar")
            .args(["--zstd", "-xOf"])
            .arg(artifact)
            .arg(name)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let packages = recipe_provenance::sbom::dpkg_packages(&member("./var/lib/dpkg/status")?);
    // `/etc/os-release` is a link to `/usr/lib/os-release` on Debian.
    let os = member("./usr/lib/os-release")
        .or_else(|| member("./etc/os-release"))
        .unwrap_or_default();
    let distro = os.lines().find_map(|l| l.strip_prefix("ID="));
    let distro = distro.unwrap_or("debian").trim_matches('"').to_string();
    Some((packages, distro))
}

/// The files the recipe's baked `file` and `download` steps place, with their SHA-256: a `file`'s
/// from its source (what is copied), a `download`'s as the recipe requires it (the step fails on
/// any other).
pub fn placed_files(r: &LoadedRecipe) -> Vec<PlacedFile> {
    let sources = recipe_ssm::render::files_of(r);
    let baked = r.steps.iter().filter(|s| s.stage == Stage::Image);
    let placed = baked.filter_map(|s| match &s.step.value {
        Step::File(f) => (sources.get(&f.src.value)).map(|b| PlacedFile {
            path: f.dest.value.clone(),
            sha256: recipe_state::hex(&Sha256::digest(b)),
        }),
        Step::Download(d) => Some(PlacedFile {
            path: d.dest.value.clone(),
            sha256: d.sha256.value.to_ascii_lowercase(),
        }),
        _ => None,
    });
    placed.collect()
}

/// The version's SBOM: the packages of its sandbox artifact (when it has one) and the files its
/// recipe placed; `None` when it has neither. Also what it lists, in words.
fn sbom_of(
    recipe: &str,
    v: &ImageVersion,
    loaded: Option<&LoadedRecipe>,
    artifacts: Option<Artifacts<'_>>,
) -> Option<(String, String)> {
    let home = v.images.get(&v.home_region);
    let artifact = home.and_then(|i| artifacts.and_then(|at| at(&i.image_id)));
    let (packages, distro) = artifact
        .and_then(|a| packages_of(Path::new(&a)))
        .unwrap_or_default();
    let files = loaded.map(placed_files).unwrap_or_default();
    if packages.is_empty() && files.is_empty() {
        return None;
    }
    let name = (recipe, v.version.as_str());
    let sbom = recipe_provenance::sbom::cyclonedx(name, &distro, &packages, &files).ok()?;
    let says = format!(
        "SBOM of {} packages and {} placed files",
        packages.len(),
        files.len()
    );
    Some((sbom, says))
}
