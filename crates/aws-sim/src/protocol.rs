//! The wire protocols: decoding requests and encoding answers the way the SDK clients expect.
//!
//! - ec2Query: `POST /`, form-encoded `Action=…&Version=…&…`; XML answers; errors as
//!   `<Response><Errors><Error><Code>…`.
//! - awsJson1_1 (SSM, WorkSpaces): `X-Amz-Target: <Service>.<Op>`; JSON; errors `{"__type", "message"}`.
//! - Smithy RPC v2 CBOR (AppStream): `POST /service/<Service>/operation/<Op>`; CBOR both ways;
//!   `smithy-protocol: rpc-v2-cbor`; errors carry `__type` as a shape id.
//!
//! Handlers for the JSON and CBOR services take and return `serde_json::Value`; a timestamp is written
//! as `{"$ts": <epoch seconds>}` and rendered natively by each protocol (a number in JSON, tag 1 in CBOR).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::ApiError;

/// Which protocol a request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// ec2Query.
    Query,
    /// awsJson1_1.
    Json,
    /// Smithy RPC v2 CBOR.
    Cbor,
    /// REST-XML (S3): the operation from method and path, the payload raw.
    RestXml,
}

/// A decoded request.
#[derive(Clone, Debug)]
pub struct Call {
    /// `ec2`, `ssm`, `workspaces`, `appstream`.
    pub service: String,
    /// The operation name.
    pub op: String,
    /// The protocol.
    pub protocol: Protocol,
    /// Region from the SigV4 scope.
    pub region: String,
    /// Account from the access key id.
    pub account: String,
    /// Query parameters (ec2Query).
    pub params: BTreeMap<String, String>,
    /// The body (JSON and CBOR).
    pub body: Value,
    /// The payload as sent (REST-XML: an object's bytes, a bucket's configuration).
    pub raw: Vec<u8>,
}

/// A call as every service's [`Handler`] receives it: the decoded request, the sandbox clock's
/// time, the simulated durations, and the request id.
pub struct Req<'a> {
    /// The request.
    pub call: &'a Call,
    /// The sandbox clock, in milliseconds.
    pub now: u64,
    /// How long simulated work takes.
    pub durations: &'a crate::clock::Durations,
    /// The request id the response carries.
    pub request_id: &'a str,
}

/// Every service's entry point: one call against the world.
pub type Handler = fn(&mut crate::world::World, &Req<'_>) -> Result<Output, crate::ApiError>;

/// Region, signing service and access key from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, …`.
pub fn credential_scope(auth: &str) -> Option<(String, String, String)> {
    let cred = auth.split("Credential=").nth(1)?.split([',', ' ']).next()?;
    let mut parts = cred.split('/');
    let key = parts.next()?.to_string();
    let _date = parts.next()?;
    let region = parts.next()?.to_string();
    let service = parts.next()?.to_string();
    Some((key, region, service))
}

/// The account an access key id acts as.
pub fn account_of(access_key: &str) -> String {
    if access_key.len() == 12 && access_key.bytes().all(|b| b.is_ascii_digit()) {
        access_key.to_string()
    } else {
        crate::DEFAULT_ACCOUNT.to_string()
    }
}

pub(crate) fn percent_decode(s: &str) -> String {
    decode_percent(s, true)
}

/// Percent-decode a URI path, where `+` is itself.
pub(crate) fn percent_decode_path(s: &str) -> String {
    decode_percent(s, false)
}

fn decode_percent(s: &str, plus_is_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse a form-encoded body.
pub fn form(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn cbor_to_json(v: ciborium::Value) -> Value {
    use ciborium::Value as C;
    match v {
        C::Null => Value::Null,
        C::Bool(b) => Value::Bool(b),
        C::Integer(i) => {
            let n: i128 = i.into();
            i64::try_from(n).map(Value::from).unwrap_or(Value::Null)
        }
        C::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        C::Text(t) => Value::String(t),
        C::Bytes(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
        C::Array(a) => Value::Array(a.into_iter().map(cbor_to_json).collect()),
        C::Map(m) => Value::Object(
            m.into_iter()
                .filter_map(|(k, v)| match k {
                    C::Text(k) => Some((k, cbor_to_json(v))),
                    _ => None,
                })
                .collect(),
        ),
        C::Tag(_, inner) => cbor_to_json(*inner),
        _ => Value::Null,
    }
}

fn json_to_cbor(v: &Value) -> ciborium::Value {
    use ciborium::Value as C;
    match v {
        Value::Null => C::Null,
        Value::Bool(b) => C::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => C::Integer(i.into()),
            (None, Some(f)) => C::Float(f),
            _ => C::Null,
        },
        Value::String(s) => C::Text(s.clone()),
        Value::Array(a) => C::Array(a.iter().map(json_to_cbor).collect()),
        Value::Object(o) => {
            if let (1, Some(ts)) = (o.len(), o.get("$ts").and_then(Value::as_f64)) {
                return C::Tag(1, Box::new(C::Float(ts)));
            }
            C::Map(
                o.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (C::Text(k.clone()), json_to_cbor(v)))
                    .collect(),
            )
        }
    }
}

fn json_plain(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(json_plain).collect()),
        Value::Object(o) => {
            if let (1, Some(ts)) = (o.len(), o.get("$ts")) {
                return ts.clone();
            }
            Value::Object(
                o.iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), json_plain(v)))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

/// Decode a CBOR body to JSON.
pub fn decode_cbor(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    ciborium::from_reader::<ciborium::Value, _>(body)
        .map(cbor_to_json)
        .map_err(|e| {
            ApiError::client(
                "SerializationException",
                format!("the body is not CBOR: {e}"),
            )
        })
}

/// An encoded answer: status, headers, body.
pub struct Encoded {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// What a handler returns: XML text for ec2Query, a JSON value for the others.
pub enum Output {
    /// A complete XML document.
    Xml(String),
    /// A JSON value (with `$ts` timestamps).
    Value(Value),
}

/// Encode a handler's result for the call's protocol.
pub fn encode(call: &Call, result: Result<Output, ApiError>, request_id: &str) -> Encoded {
    match (call.protocol, result) {
        (Protocol::RestXml, result) => crate::s3::encode(call, result, request_id),
        (Protocol::Query, Ok(Output::Xml(xml))) => Encoded {
            status: 200,
            content_type: "text/xml;charset=UTF-8",
            headers: vec![],
            body: xml.into_bytes(),
        },
        (Protocol::Query, Ok(Output::Value(_))) => encode(
            call,
            Err(ApiError {
                status: 500,
                code: "InternalError".into(),
                message: "handler returned JSON for a query call".into(),
            }),
            request_id,
        ),
        (Protocol::Query, Err(e)) if call.service == "sts" || call.service == "iam" => Encoded {
            status: e.status,
            content_type: "text/xml",
            headers: vec![("x-amzn-requestid", request_id.into())],
            body: crate::sts::error_xml(&e.code, &e.message, request_id, e.status).into_bytes(),
        },
        (Protocol::Query, Err(e)) => {
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>",
                xml_escape(&e.code),
                xml_escape(&e.message)
            );
            Encoded {
                status: e.status,
                content_type: "text/xml;charset=UTF-8",
                headers: vec![],
                body: xml.into_bytes(),
            }
        }
        (Protocol::Json, Ok(out)) => {
            let v = match out {
                Output::Value(v) => json_plain(&v),
                Output::Xml(_) => Value::Object(Default::default()),
            };
            Encoded {
                status: 200,
                content_type: "application/x-amz-json-1.1",
                headers: vec![("x-amzn-requestid", request_id.into())],
                body: serde_json::to_vec(&v).expect("JSON encodes"),
            }
        }
        (Protocol::Json, Err(e)) => Encoded {
            status: e.status,
            content_type: "application/x-amz-json-1.1",
            headers: vec![
                ("x-amzn-requestid", request_id.into()),
                ("x-amzn-errortype", e.code.clone()),
            ],
            body: serde_json::to_vec(
                &serde_json::json!({ "__type": e.code, "message": e.message }),
            )
            .expect("JSON encodes"),
        },
        (Protocol::Cbor, result) => {
            let (status, value) = match result {
                Ok(Output::Value(v)) => (200, v),
                Ok(Output::Xml(_)) => (200, Value::Object(Default::default())),
                Err(e) => (
                    e.status,
                    serde_json::json!({ "__type": format!("com.amazonaws.appstream#{}", e.code), "message": e.message }),
                ),
            };
            let mut body = Vec::new();
            ciborium::into_writer(&json_to_cbor(&value), &mut body).expect("CBOR encodes");
            Encoded {
                status,
                content_type: "application/cbor",
                headers: vec![
                    ("smithy-protocol", "rpc-v2-cbor".into()),
                    ("x-amzn-requestid", request_id.into()),
                ],
                body,
            }
        }
    }
}

/// Escape text for XML.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Read `Prefix.1`, `Prefix.2`, … from query parameters.
pub fn list(params: &BTreeMap<String, String>, prefix: &str) -> Vec<String> {
    (1..)
        .map_while(|i| params.get(&format!("{prefix}.{i}")).cloned())
        .collect()
}

/// Read `Filter.N.Name` / `Filter.N.Value.M` filters.
pub fn filters(params: &BTreeMap<String, String>) -> Vec<(String, Vec<String>)> {
    (1..)
        .map_while(|i| {
            let name = params.get(&format!("Filter.{i}.Name"))?;
            Some((name.clone(), list(params, &format!("Filter.{i}.Value"))))
        })
        .collect()
}

/// Read `TagSpecification.N.ResourceType` / `.Tag.M.Key` / `.Tag.M.Value` for one resource type.
pub fn tag_specs(
    params: &BTreeMap<String, String>,
    resource_type: &str,
) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    for i in 1.. {
        let Some(rt) = params.get(&format!("TagSpecification.{i}.ResourceType")) else {
            break;
        };
        if rt != resource_type {
            continue;
        }
        for j in 1.. {
            let Some(k) = params.get(&format!("TagSpecification.{i}.Tag.{j}.Key")) else {
                break;
            };
            let v = params
                .get(&format!("TagSpecification.{i}.Tag.{j}.Value"))
                .cloned()
                .unwrap_or_default();
            tags.insert(k.clone(), v);
        }
    }
    tags
}

/// A tiny XML writer for ec2Query answers.
pub struct Xml(String);

impl Xml {
    /// Start `<{op}Response xmlns=…><requestId>…</requestId>`.
    pub fn response(op: &str, request_id: &str) -> Xml {
        Xml(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{op}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>{request_id}</requestId>"
        ))
    }

    /// `<name>text</name>` (skipped when `text` is empty).
    pub fn text(&mut self, name: &str, text: &str) -> &mut Self {
        if !text.is_empty() {
            self.0
                .push_str(&format!("<{name}>{}</{name}>", xml_escape(text)));
        }
        self
    }

    /// Open `<name>`.
    pub fn open(&mut self, name: &str) -> &mut Self {
        self.0.push_str(&format!("<{name}>"));
        self
    }

    /// Close `</name>`.
    pub fn close(&mut self, name: &str) -> &mut Self {
        self.0.push_str(&format!("</{name}>"));
        self
    }

    /// `<tagSet><item><key>k</key><value>v</value></item>…</tagSet>`.
    pub fn tags(&mut self, tags: &BTreeMap<String, String>) -> &mut Self {
        self.open("tagSet");
        for (k, v) in tags {
            self.open("item").text("key", k);
            self.0
                .push_str(&format!("<value>{}</value>", xml_escape(v)));
            self.close("item");
        }
        self.close("tagSet")
    }

    /// Finish the document.
    pub fn finish(mut self, op: &str) -> String {
        self.0.push_str(&format!("</{op}Response>"));
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_and_form() {
        let auth = "AWS4-HMAC-SHA256 Credential=111122223333/20260101/eu-west-2/ec2/aws4_request, SignedHeaders=host, Signature=x";
        assert_eq!(
            credential_scope(auth),
            Some(("111122223333".into(), "eu-west-2".into(), "ec2".into()))
        );
        assert_eq!(account_of("111122223333"), "111122223333");
        assert_eq!(account_of("AKIDEXAMPLE"), crate::DEFAULT_ACCOUNT);
        let f = form(b"Action=DescribeImages&ImageId.1=ami-1&Filter.1.Name=tag%3Arecipe&Filter.1.Value.1=a+b");
        assert_eq!(list(&f, "ImageId"), ["ami-1"]);
        assert_eq!(
            filters(&f),
            [("tag:recipe".to_string(), vec!["a b".to_string()])]
        );
    }

    #[test]
    fn cbor_round_trip_keeps_timestamps_as_tag_1() {
        let v = serde_json::json!({ "Name": "x", "CreatedTime": { "$ts": 1700000000.5 }, "N": 3 });
        let c = json_to_cbor(&v);
        let mut bytes = Vec::new();
        ciborium::into_writer(&c, &mut bytes).unwrap();
        let back: ciborium::Value = ciborium::from_reader(bytes.as_slice()).unwrap();
        let map = back.as_map().unwrap();
        let created = map
            .iter()
            .find(|(k, _)| k.as_text() == Some("CreatedTime"))
            .unwrap();
        assert!(matches!(created.1, ciborium::Value::Tag(1, _)));
    }
}
