//! The protocols other clients speak, on the wire as the AWS CLI and boto3 send them (checked by
//! hand with both; these tests keep it true without Python in the test run):
//! - STS GetCallerIdentity over awsQuery, and its error shape;
//! - AppStream 2.0 over awsJson1_1 (`X-Amz-Target: PhotonAdminProxyService.<Op>`), which the CLI and
//!   boto3 use where the Rust SDK uses RPC v2 CBOR.

fn post(url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!(
        "POST / HTTP/1.0\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

fn auth(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=210987654321/20261127/eu-west-2/{service}/aws4_request, SignedHeaders=host, Signature=x"
    )
}

async fn sim() -> aws_sim::Sim {
    aws_sim::Sim::start(aws_sim::Config::default())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_answers_over_aws_query_with_its_own_error_shape() {
    let s = sim().await;
    let sts = auth("sts");
    let form = [
        ("authorization", sts.as_str()),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
    ];
    let (status, body) = post(
        s.url(),
        &form,
        "Action=GetCallerIdentity&Version=2011-06-15",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Account>210987654321</Account>"), "{body}");
    assert!(
        body.contains("<Arn>arn:aws:iam::210987654321:root</Arn>"),
        "{body}"
    );
    let (status, body) = post(s.url(), &form, "Action=AssumeRole&Version=2011-06-15");
    assert_eq!(status, 400);
    assert!(
        body.starts_with("<ErrorResponse"),
        "STS's error shape: {body}"
    );
    assert!(
        body.contains("<Type>Sender</Type><Code>InvalidAction</Code>"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appstream_answers_over_aws_json_as_over_cbor() {
    let s = sim().await;
    let appstream = auth("appstream");
    let json = |op: &'static str| {
        [
            ("authorization", appstream.clone()),
            ("content-type", "application/x-amz-json-1.1".to_string()),
            ("x-amz-target", format!("PhotonAdminProxyService.{op}")),
        ]
    };
    let headers = json("DescribeImages");
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = post(s.url(), &h, r#"{"Type":"PUBLIC"}"#);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let images = v["Images"].as_array().unwrap();
    assert_eq!(images.len(), 5, "{body}");
    assert!(
        images[0]["CreatedTime"].is_number(),
        "epoch seconds in awsJson: {body}"
    );
    // The shared paging rules hold on this protocol too.
    let (status, body) = post(s.url(), &h, r#"{"NextToken":"999"}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("ValidationException"), "{body}");
    assert_eq!(s.requests().count("appstream:DescribeImages"), 2);
}

/// POST raw bytes to `path`; the status and the body's bytes.
fn post_bytes(url: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.0\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&out[..end]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, out[end + 4..].to_vec())
}

/// Newer aws-sdk-workspaces releases speak Smithy RPC v2 CBOR: aws-sim routes
/// `/service/WorkspacesService/operation/<op>` to WorkSpaces (by the service in the path, as it routes
/// AppStream's), and answers in CBOR what it answers in awsJson1_1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_answers_over_cbor_as_over_aws_json() {
    let s = sim().await;
    let auth = auth("workspaces");
    let cbor = [
        ("authorization", auth.as_str()),
        ("content-type", "application/cbor"),
        ("accept", "application/cbor"),
        ("smithy-protocol", "rpc-v2-cbor"),
    ];
    let mut body = Vec::new();
    let owner = ciborium::Value::Map(vec![(
        ciborium::Value::Text("Owner".into()),
        ciborium::Value::Text("AMAZON".into()),
    )]);
    ciborium::into_writer(&owner, &mut body).unwrap();
    let path = "/service/WorkspacesService/operation/DescribeWorkspaceBundles";
    let (status, out) = post_bytes(s.url(), path, &cbor, &body);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let v: ciborium::Value = ciborium::from_reader(out.as_slice()).unwrap();
    let bundles = v
        .as_map()
        .and_then(|m| m.iter().find(|(k, _)| k.as_text() == Some("Bundles")))
        .and_then(|(_, b)| b.as_array().cloned())
        .expect("Bundles in the CBOR answer");
    let json = [
        ("authorization", auth.as_str()),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "WorkspacesService.DescribeWorkspaceBundles"),
    ];
    let (status, text) = post(s.url(), &json, r#"{"Owner":"AMAZON"}"#);
    assert_eq!(status, 200, "{text}");
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(bundles.len(), j["Bundles"].as_array().unwrap().len());
    assert_eq!(s.requests().count("workspaces:DescribeWorkspaceBundles"), 2);
    assert_eq!(s.requests().count("appstream:DescribeWorkspaceBundles"), 0);
}
