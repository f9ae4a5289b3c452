//! Amazon S3, as far as a platform team's one-time set-up needs it: a bucket and the objects put in
//! it, here a VM's disk for VM Import (`ec2::import`). REST-XML, path-style addressing
//! (`/<bucket>/<key>`; clients: the Rust SDK with `force_path_style(true)`, boto3 and the AWS CLI
//! with `addressing_style: path`, which they take by themselves for a custom endpoint).
//!
//! Rules, from the Amazon S3 API reference:
//! - CreateBucket (API_CreateBucket.html): names are 3–63 characters of lower-case letters, digits,
//!   dots and hyphens, beginning and ending with a letter or digit ("General purpose bucket naming
//!   rules"); a name is global: one another account holds is `BucketAlreadyExists` (409), one you
//!   hold is `BucketAlreadyOwnedByYou` (409; us-east-1 answers 200 for it, as the reference says).
//!   Outside us-east-1 the request must carry `LocationConstraint` equal to the endpoint's region,
//!   or it is `IllegalLocationConstraintException` (400).
//! - PutObject (API_PutObject.html) into a missing bucket is `NoSuchBucket` (404); the answer carries
//!   the object's `ETag`. Bodies sent `aws-chunked` (the SDKs' streaming signatures and checksum
//!   trailers) are decoded.
//! - GetObject / HeadObject (API_GetObject.html, API_HeadObject.html): a missing key is `NoSuchKey`
//!   (404; a HEAD answer has no body). DeleteObject of a missing key succeeds (204).
//! - Buckets are private ("Blocking public access", on by default): another account's calls are
//!   `AccessDenied` (403).
//!
//! What aws-sim cannot know: bucket policies and ACLs are not modelled (only the owner reaches a
//! bucket, and VM Import's service role reads it); no versioning, no multipart upload.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::ApiError;
use crate::protocol::{Call, Encoded, Output, Req, xml_escape};
use crate::world::World;

/// A bucket and its objects.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Bucket {
    /// The owning account.
    pub owner: String,
    /// Where it was made.
    pub region: String,
    /// Objects by key.
    pub objects: BTreeMap<String, Vec<u8>>,
}

/// The S3 operation a REST request names: method and path.
pub(crate) fn operation(method: &str, bucket: &str, key: &str) -> &'static str {
    match (method, bucket.is_empty(), key.is_empty()) {
        ("GET", true, _) => "ListBuckets",
        ("PUT", false, true) => "CreateBucket",
        ("HEAD", false, true) => "HeadBucket",
        ("DELETE", false, true) => "DeleteBucket",
        ("PUT", false, false) => "PutObject",
        ("GET", false, false) => "GetObject",
        ("HEAD", false, false) => "HeadObject",
        ("DELETE", false, false) => "DeleteObject",
        _ => "",
    }
}

/// Bucket and key from a path-style path, the key percent-decoded.
pub(crate) fn bucket_and_key(path: &str) -> (String, String) {
    let path = path.trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    (
        crate::protocol::percent_decode(bucket),
        crate::protocol::percent_decode_path(key),
    )
}

/// The payload of an `aws-chunked` body: `<hex size>[;ext]\r\n<data>\r\n` chunks up to a zero-size
/// one, then trailers.
pub(crate) fn dechunk(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let head = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(head.split(';').next().unwrap_or("").trim(), 16);
        let Ok(size) = size else { break };
        if size == 0 {
            break;
        }
        let start = eol + 2;
        let end = (start + size).min(rest.len());
        out.extend_from_slice(&rest[start..end]);
        rest = rest.get(end + 2..).unwrap_or_default();
    }
    out
}

fn error(status: u16, code: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code: code.into(),
        message: message.into(),
    }
}

fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// The bucket a call names, if the caller may reach it.
fn bucket<'a>(w: &'a mut World, c: &Call, name: &str) -> Result<&'a mut Bucket, ApiError> {
    match w.s3.get_mut(name) {
        None => Err(error(
            404,
            "NoSuchBucket",
            "The specified bucket does not exist",
        )),
        Some(b) if b.owner != c.account => Err(error(403, "AccessDenied", "Access Denied")),
        Some(b) => Ok(b),
    }
}

fn etag(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let hex: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Handle an S3 call.
pub fn handle(w: &mut World, r: &Req<'_>) -> Result<Output, ApiError> {
    let c = r.call;
    let name = c.params.get("Bucket").cloned().unwrap_or_default();
    let key = c.params.get("Key").cloned().unwrap_or_default();
    match c.op.as_str() {
        "CreateBucket" => create_bucket(w, c, &name),
        "HeadBucket" => bucket(w, c, &name).map(|_| headers(&[])),
        "DeleteBucket" => {
            let b = bucket(w, c, &name)?;
            if !b.objects.is_empty() {
                return Err(error(
                    409,
                    "BucketNotEmpty",
                    "The bucket you tried to delete is not empty",
                ));
            }
            w.s3.remove(&name);
            Ok(headers(&[]))
        }
        "PutObject" => {
            let b = bucket(w, c, &name)?;
            let tag = etag(&c.raw);
            b.objects.insert(key, c.raw.clone());
            Ok(headers(&[("etag", tag)]))
        }
        "GetObject" | "HeadObject" => {
            let b = bucket(w, c, &name)?;
            let obj = b
                .objects
                .get(&key)
                .ok_or_else(|| error(404, "NoSuchKey", "The specified key does not exist."))?;
            let mut out = headers(&[
                ("etag", etag(obj)),
                ("content-length", obj.len().to_string()),
            ]);
            if c.op == "GetObject"
                && let Output::Value(v) = &mut out
            {
                v["body"] = json!(obj.iter().map(|b| format!("{b:02x}")).collect::<String>());
            }
            Ok(out)
        }
        "DeleteObject" => {
            bucket(w, c, &name)?.objects.remove(&key);
            Ok(headers(&[]))
        }
        "ListBuckets" => Ok(Output::Xml(list_buckets(w, &c.account))),
        op => Err(ApiError::unsupported("s3", op)),
    }
}

fn create_bucket(w: &mut World, c: &Call, name: &str) -> Result<Output, ApiError> {
    if !valid_name(name) {
        return Err(error(
            400,
            "InvalidBucketName",
            "The specified bucket is not valid.",
        ));
    }
    let body = String::from_utf8_lossy(&c.raw);
    let constraint = body
        .split("<LocationConstraint>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or("");
    let wanted = if constraint.is_empty() {
        "us-east-1"
    } else {
        constraint
    };
    if wanted != c.region {
        return Err(error(
            400,
            "IllegalLocationConstraintException",
            format!(
                "The {} location constraint is incompatible for the region specific endpoint this request was sent to.",
                if constraint.is_empty() {
                    "unspecified"
                } else {
                    constraint
                }
            ),
        ));
    }
    match w.s3.get(name) {
        Some(b) if b.owner != c.account => Err(error(
            409,
            "BucketAlreadyExists",
            "The requested bucket name is not available.",
        )),
        Some(_) if c.region != "us-east-1" => Err(error(
            409,
            "BucketAlreadyOwnedByYou",
            "Your previous request to create the named bucket succeeded and you already own it.",
        )),
        _ => {
            w.s3.entry(name.to_string()).or_insert_with(|| Bucket {
                owner: c.account.clone(),
                region: c.region.clone(),
                objects: BTreeMap::new(),
            });
            Ok(headers(&[("location", format!("/{name}"))]))
        }
    }
}

fn list_buckets(w: &World, account: &str) -> String {
    let items: String = w
        .s3
        .iter()
        .filter(|(_, b)| b.owner == account)
        .map(|(n, _)| {
            format!(
                "<Bucket><Name>{}</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket>",
                xml_escape(n)
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>{account}</ID></Owner><Buckets>{items}</Buckets></ListAllMyBucketsResult>"
    )
}

fn headers(h: &[(&str, String)]) -> Output {
    let map: serde_json::Map<String, Value> = h
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::String(v.clone())))
        .collect();
    Output::Value(json!({ "headers": map }))
}

/// The object bytes of `bucket/key`, if the account may read them (VM Import reads through its
/// service role in the bucket owner's account).
pub(crate) fn object<'a>(w: &'a World, account: &str, bucket: &str, key: &str) -> Option<&'a [u8]> {
    w.s3.get(bucket)
        .filter(|b| b.owner == account)
        .and_then(|b| b.objects.get(key))
        .map(Vec::as_slice)
}

/// Encode an S3 answer: headers and a body (raw bytes or XML); errors as `<Error>` documents, with
/// no body for HEAD.
pub(crate) fn encode(call: &Call, result: Result<Output, ApiError>, request_id: &str) -> Encoded {
    let mut extra = vec![("x-amz-request-id", request_id.to_string())];
    match result {
        Ok(Output::Xml(xml)) => Encoded {
            status: 200,
            content_type: "application/xml",
            headers: extra,
            body: xml.into_bytes(),
        },
        Ok(Output::Value(v)) => {
            if let Some(h) = v.get("headers").and_then(Value::as_object) {
                for (k, val) in h {
                    let k: &'static str = match k.as_str() {
                        "etag" => "etag",
                        "content-length" => "content-length",
                        "location" => "location",
                        _ => continue,
                    };
                    extra.push((k, val.as_str().unwrap_or_default().to_string()));
                }
            }
            let body = v
                .get("body")
                .and_then(Value::as_str)
                .map(unhex)
                .unwrap_or_default();
            let status = if call.op == "DeleteObject" || call.op == "DeleteBucket" {
                204
            } else {
                200
            };
            Encoded {
                status,
                content_type: "application/octet-stream",
                headers: extra,
                body: if call.op == "HeadObject" {
                    vec![]
                } else {
                    body
                },
            }
        }
        Err(e) => {
            let body = if call.op.starts_with("Head") {
                vec![]
            } else {
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{request_id}</RequestId></Error>",
                    xml_escape(&e.code),
                    xml_escape(&e.message)
                )
                .into_bytes()
            };
            Encoded {
                status: e.status,
                content_type: "application/xml",
                headers: extra,
                body,
            }
        }
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}
