//! Clients for a backend, and polling with a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};

#[allow(
    dead_code,
    reason = "WorkSpaces and AppStream clients are used as those services land"
)]
pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub workspaces: aws_sdk_workspaces::Client,
    pub appstream: aws_sdk_appstream::Client,
}

/// Clients for an endpoint, region and account (the access key id names the account in aws-sim;
/// moto ignores it).
pub fn clients(url: &str, region: &str, account: &str) -> Clients {
    let creds = Credentials::new(account, "secret", None, None, "test");
    let region = Region::new(region.to_string());
    macro_rules! client {
        ($krate:ident) => {
            $krate::Client::from_conf(
                $krate::Config::builder()
                    .behavior_version(BehaviorVersion::latest())
                    .endpoint_url(url)
                    .region(region.clone())
                    .credentials_provider(creds.clone())
                    .build(),
            )
        };
    }
    Clients {
        ec2: client!(aws_sdk_ec2),
        ssm: client!(aws_sdk_ssm),
        workspaces: client!(aws_sdk_workspaces),
        appstream: client!(aws_sdk_appstream),
    }
}

/// An in-process aws-sim with short phases.
pub async fn sim() -> aws_sim::Sim {
    let mut d = aws_sim::Durations::instant();
    d.instance_start_ms = 50;
    d.image_create_ms = 80;
    d.image_copy_ms = 80;
    d.workspace_start_ms = 50;
    d.workspace_image_ms = 80;
    d.builder_start_ms = 50;
    d.appstream_image_ms = 80;
    let s = aws_sim::Sim::start(aws_sim::Config {
        durations: d,
        ..Default::default()
    })
    .await
    .expect("start aws-sim");
    with_directory(&s);
    s
}

/// The tests' account has the directory `d-906734325` registered with WorkSpaces in us-east-1, as
/// WorkSpaces needs before any WorkSpace is launched in it.
pub fn with_directory(s: &aws_sim::Sim) {
    s.provide_directory("123456789012", "us-east-1", "d-906734325")
        .expect("register the directory");
}

/// Poll `check` until it yields `Some`, for at most `secs` seconds. A timeout fails the test.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The error code of an SDK error.
pub fn code<E: aws_sdk_ec2::error::ProvideErrorMetadata + std::fmt::Debug>(
    e: &aws_sdk_ec2::error::SdkError<E>,
) -> String {
    match e {
        aws_sdk_ec2::error::SdkError::ServiceError(se) => se.err().code().unwrap_or("").to_string(),
        other => format!("{other:?}"),
    }
}

/// POST `body` (JSON) to an admin route of the aws-sim at `url`; the answer's body.
pub async fn admin_post(url: &str, path: &str, body: serde_json::Value) -> String {
    use std::io::{Read, Write};
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        let body = body.to_string();
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let head = format!(
            "POST {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap()
}

/// The id of one of Amazon's public images in the client's region.
pub async fn amazon_image(ec2: &aws_sdk_ec2::Client) -> String {
    let out = ec2.describe_images().owners("amazon").send().await.unwrap();
    out.images()[0].image_id().unwrap().to_string()
}
