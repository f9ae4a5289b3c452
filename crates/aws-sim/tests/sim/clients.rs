//! Second clients: boto3 (botocore, which the AWS CLI v1 is built on) and the AWS CLI itself drive
//! what aws-sim serves for issues 23 and 24 (`tests/clients/boto3_hard_aws.py`), so the wire shapes
//! are AWS's, not only what the Rust SDK accepts. Both come in the repository's `.venv`
//! (`./just setup`); in CI (`CI` set) a missing one fails the test, elsewhere it is skipped with a
//! message, as for moto.

use std::path::{Path, PathBuf};
use std::process::Output;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `.venv/bin/<tool>`, or `None` (skipped, with why) outside CI when `./just setup` was not run.
#[expect(
    clippy::print_stderr,
    reason = "say why the test is skipped outside CI"
)]
fn venv(tool: &str) -> Option<PathBuf> {
    let path = root().join(".venv/bin").join(tool);
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI needs .venv/bin/{tool} (./just setup)"
    );
    eprintln!("skipped: no .venv/bin/{tool} (run ./just setup)");
    None
}

async fn sim() -> aws_sim::Sim {
    aws_sim::Sim::start(aws_sim::Config {
        durations: aws_sim::Durations::instant(),
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Run `program args…` with no profile or config of the machine's, and the sandbox's keys.
async fn run(program: PathBuf, args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(program)
            .args(args)
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_ACCESS_KEY_ID", "123456789012")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .env("AWS_MAX_ATTEMPTS", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `aws <args> --endpoint-url <sim> --region eu-west-2 --output json`.
fn aws_cli(
    aws: &Path,
    s: &aws_sim::Sim,
    args: &[&str],
) -> impl std::future::Future<Output = Output> + use<> {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let to = [
        "--endpoint-url",
        s.url(),
        "--region",
        "eu-west-2",
        "--output",
        "json",
    ];
    all.extend(to.map(String::from));
    run(aws.to_path_buf(), all)
}

/// The command's JSON output (it failed the test, with its output, if it is none).
fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(out)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_drives_the_new_services_as_aws_answers_them() {
    let Some(python) = venv("python") else {
        return;
    };
    let s = sim().await;
    let script = root().join("tests/clients/boto3_hard_aws.py");
    let args = vec![script.display().to_string(), s.url().to_string()];
    let out = run(python, args).await;
    let text = text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("every call as AWS answers it"), "{text}");
    s.stop().await;
}

/// The AWS CLI drives Secrets Manager and the SSM parameter reads that the secrets preflight and
/// the builders use: a value goes in and comes back, a missing secret is the CLI's
/// `ResourceNotFoundException` (a failed exit: 255 from the CLI v1, 254 from v2), and a deleted one is no longer readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_drives_secrets_manager_and_parameters() {
    let Some(aws) = venv("aws") else {
        return;
    };
    let s = sim().await;
    let cli = |args: &[&str]| aws_cli(&aws, &s, args);
    let made = cli(&[
        "secretsmanager",
        "create-secret",
        "--name",
        "ops/db",
        "--secret-string",
        "p@ss w'rd",
    ])
    .await;
    assert!(made.status.success(), "{}", text(&made));
    let value = cli(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "ops/db",
    ])
    .await;
    let value = json(&value);
    assert_eq!(value["SecretString"], "p@ss w'rd");
    let missing = cli(&[
        "secretsmanager",
        "describe-secret",
        "--secret-id",
        "ops/none",
    ])
    .await;
    assert!(!missing.status.success(), "{}", text(&missing));
    assert!(
        text(&missing).contains("ResourceNotFoundException"),
        "{}",
        text(&missing)
    );
    let gone = cli(&[
        "secretsmanager",
        "delete-secret",
        "--secret-id",
        "ops/db",
        "--force-delete-without-recovery",
    ])
    .await;
    assert!(gone.status.success(), "{}", text(&gone));
    let after = cli(&[
        "secretsmanager",
        "get-secret-value",
        "--secret-id",
        "ops/db",
    ])
    .await;
    assert!(
        text(&after).contains("ResourceNotFoundException"),
        "{}",
        text(&after)
    );
    let put = cli(&[
        "ssm",
        "put-parameter",
        "--name",
        "/ops/key",
        "--type",
        "SecureString",
        "--value",
        "k",
    ])
    .await;
    assert!(put.status.success(), "{}", text(&put));
    let found = cli(&[
        "ssm",
        "describe-parameters",
        "--parameter-filters",
        "Key=Name,Option=Equals,Values=/ops/key",
    ])
    .await;
    let found = json(&found);
    assert_eq!(found["Parameters"][0]["Name"], "/ops/key");
    assert!(found["Parameters"][0].get("Value").is_none());
    s.stop().await;
}

/// boto3 drives KMS signing keys, and Python's `cryptography` verifies their signatures with the
/// public key GetPublicKey gives (`tests/clients/kms_sign.py`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_signs_with_kms_and_cryptography_verifies() {
    let Some(python) = venv("python") else {
        return;
    };
    let s = sim().await;
    let script = root().join("tests/clients/kms_sign.py");
    let out = run(
        python,
        vec![script.display().to_string(), s.url().to_string()],
    )
    .await;
    let text = text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("every KMS call as AWS answers it"), "{text}");
    s.stop().await;
}

/// The AWS CLI creates a signing key, signs a file (`fileb://`), and verifies the signature; a
/// changed file is `KMSInvalidSignatureException` (a failed exit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_signs_and_verifies_with_kms() {
    let Some(aws) = venv("aws") else {
        return;
    };
    let s = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        format!("fileb://{}", path.display())
    };
    let cli = |args: &[&str]| aws_cli(&aws, &s, args);
    let made = cli(&[
        "kms",
        "create-key",
        "--key-spec",
        "ECC_NIST_P256",
        "--key-usage",
        "SIGN_VERIFY",
    ])
    .await;
    let key = json(&made)["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let message = file("statement.json", b"{\"subject\":[]}");
    let alg = ["--signing-algorithm", "ECDSA_SHA_256"];
    let signed = cli(&[
        &["kms", "sign", "--key-id", &key, "--message", &message],
        &alg[..],
    ]
    .concat())
    .await;
    let signature = json(&signed)["Signature"].as_str().unwrap().to_string();
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&signature)
        .unwrap();
    let signature = file("statement.sig", &raw);
    let verify = |message: String| {
        let args = [
            "kms",
            "verify",
            "--key-id",
            &key,
            "--message",
            &message,
            "--signature",
            &signature,
        ];
        cli(&[&args[..], &alg[..]].concat())
    };
    let ok = verify(message.clone()).await;
    assert_eq!(json(&ok)["SignatureValid"], true, "{}", text(&ok));
    let changed = verify(file("changed.json", b"{\"subject\":[1]}")).await;
    assert!(!changed.status.success(), "{}", text(&changed));
    assert!(
        text(&changed).contains("KMSInvalidSignatureException"),
        "{}",
        text(&changed)
    );
    s.stop().await;
}
