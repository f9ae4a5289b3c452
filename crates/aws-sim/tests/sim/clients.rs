//! A second client: boto3 (botocore, which the AWS CLI v1 is built on) drives what aws-sim serves for
//! issue 23 (`tests/clients/boto3_hard_aws.py`), so the wire shapes are AWS's, not only what the Rust
//! SDK accepts. boto3 comes with moto in the repository's `.venv` (`./just setup`); in CI (`CI` set) a
//! missing one fails the test, elsewhere it is skipped with a message, as for moto.

use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::print_stderr,
    reason = "say why the test is skipped outside CI"
)]
async fn boto3_drives_the_new_services_as_aws_answers_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs .venv (./just setup)"
        );
        eprintln!("skipped: no .venv/bin/python with boto3 (run ./just setup)");
        return;
    }
    let s = aws_sim::Sim::start(aws_sim::Config {
        durations: aws_sim::Durations::instant(),
        ..Default::default()
    })
    .await
    .unwrap();
    let script = root.join("tests/clients/boto3_hard_aws.py");
    let url = s.url().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .arg(url)
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("every call as AWS answers it"), "{text}");
    s.stop().await;
}
