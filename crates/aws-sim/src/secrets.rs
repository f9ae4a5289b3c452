//! AWS Secrets Manager over awsJson1_1 (`secretsmanager.<Operation>`), for the calls the providers,
//! the builders and a platform team make (https://docs.aws.amazon.com/secretsmanager/latest/apireference/):
//!
//! - CreateSecret (API_CreateSecret.html): `Name` required; a name in use is
//!   `ResourceExistsException`, a name scheduled for deletion `InvalidRequestException`. The ARN
//!   ends in `-` and six random characters. `SecretString` makes the first version (`AWSCURRENT`).
//! - DescribeSecret (API_DescribeSecret.html): `SecretId` is the name or the ARN; an unknown one is
//!   `ResourceNotFoundException`, "Secrets Manager can't find the specified secret.". No value is
//!   returned; a secret scheduled for deletion has a `DeletedDate`.
//! - GetSecretValue (API_GetSecretValue.html): the `AWSCURRENT` value; a secret scheduled for
//!   deletion is `InvalidRequestException`; one with no value `ResourceNotFoundException`.
//! - PutSecretValue (API_PutSecretValue.html): a new `AWSCURRENT` version.
//! - DeleteSecret (API_DeleteSecret.html): `RecoveryWindowInDays` (7–30, default 30) schedules the
//!   deletion; `ForceDeleteWithoutRecovery` deletes at once; both together are
//!   `InvalidParameterException`.
//! - ListSecrets (API_ListSecrets.html): `MaxResults` 1–100 with `NextToken`; secrets scheduled for
//!   deletion only with `IncludePlannedDeletion`.
//! - TagResource / UntagResource (API_TagResource.html, API_UntagResource.html).
//!
//! What aws-sim cannot know: resource policies and KMS key permissions are not evaluated;
//! rotation is not served.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ApiError;
use crate::protocol::Call;
use crate::world::World;

/// A secret.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Secret {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// The description.
    pub description: String,
    /// The KMS key named at creation (empty: `aws/secretsmanager`).
    pub kms_key: String,
    /// The `AWSCURRENT` value, if any.
    pub value: Option<String>,
    /// The `AWSCURRENT` version id.
    pub version: String,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// When it was created and last changed, in ms.
    pub created_ms: u64,
    /// When it was last changed, in ms.
    pub changed_ms: u64,
    /// When its scheduled deletion takes effect, in ms.
    pub deletion_ms: Option<u64>,
}

fn not_found() -> ApiError {
    ApiError::client(
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret.",
    )
}

fn invalid(code: &str, message: &str) -> ApiError {
    ApiError::client(code, message)
}

fn text<'a>(c: &'a Call, name: &str) -> Result<&'a str, ApiError> {
    c.body
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::missing(name))
}

fn secs(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// The key of the secret `id` (a name or an ARN) names, in `account` and `region`.
fn key_of(w: &World, account: &str, region: &str, id: &str) -> Option<String> {
    let prefix = format!("{account}/{region}/");
    if id.starts_with("arn:") {
        return w
            .secrets
            .iter()
            .find(|(k, s)| k.starts_with(&prefix) && s.arn == id)
            .map(|(k, _)| k.clone());
    }
    let key = format!("{prefix}{id}");
    w.secrets.contains_key(&key).then_some(key)
}

/// Whether the secret `id` exists and its value can be read (not scheduled for deletion, has a
/// value): what a builder's GetSecretValue needs.
pub fn readable(w: &World, account: &str, region: &str, id: &str) -> bool {
    key_of(w, account, region, id)
        .and_then(|k| w.secrets.get(&k))
        .is_some_and(|s| s.deletion_ms.is_none() && s.value.is_some())
}

/// Handle one Secrets Manager call.
pub fn handle(
    w: &mut World,
    r: &crate::protocol::Req<'_>,
) -> Result<crate::protocol::Output, ApiError> {
    op(w, r.call, r.now).map(crate::protocol::Output::Value)
}

fn op(w: &mut World, c: &Call, now: u64) -> Result<Value, ApiError> {
    w.secrets
        .retain(|_, s| s.deletion_ms.is_none_or(|at| at > now));
    match c.op.as_str() {
        "CreateSecret" => create(w, c, now),
        "DescribeSecret" => {
            let s = found(w, c)?;
            Ok(describe(&w.secrets[&s]))
        }
        "GetSecretValue" => get_value(w, c),
        "PutSecretValue" => put_value(w, c, now),
        "DeleteSecret" => delete(w, c, now),
        "ListSecrets" => list(w, c),
        "TagResource" | "UntagResource" => tag(w, c),
        op => Err(ApiError::unsupported("secretsmanager", op)),
    }
}

fn found(w: &World, c: &Call) -> Result<String, ApiError> {
    let id = text(c, "SecretId")?;
    key_of(w, &c.account, &c.region, id).ok_or_else(not_found)
}

fn create(w: &mut World, c: &Call, now: u64) -> Result<Value, ApiError> {
    let name = text(c, "Name")?.to_string();
    let key = format!("{}/{}/{name}", c.account, c.region);
    if let Some(s) = w.secrets.get(&key) {
        return Err(match s.deletion_ms {
            Some(_) => invalid(
                "InvalidRequestException",
                "You can't create this secret because a secret with this name is already scheduled for deletion.",
            ),
            None => invalid(
                "ResourceExistsException",
                &format!("The operation failed because the secret {name} already exists."),
            ),
        });
    }
    let suffix: String = w.id("", 6);
    let arn = format!(
        "arn:aws:secretsmanager:{}:{}:secret:{name}-{suffix}",
        c.region, c.account
    );
    let value = c.body.get("SecretString").and_then(Value::as_str);
    let version = if value.is_some() {
        w.id("", 32)
    } else {
        String::new()
    };
    let secret = Secret {
        name: name.clone(),
        arn: arn.clone(),
        description: str_of(c, "Description"),
        kms_key: str_of(c, "KmsKeyId"),
        value: value.map(str::to_string),
        version: version.clone(),
        tags: tags_of(c.body.get("Tags")),
        created_ms: now,
        changed_ms: now,
        deletion_ms: None,
    };
    w.secrets.insert(key, secret);
    let mut out = json!({ "ARN": arn, "Name": name });
    if !version.is_empty() {
        out["VersionId"] = json!(version);
    }
    Ok(out)
}

fn str_of(c: &Call, name: &str) -> String {
    c.body
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn tags_of(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let k = t.get("Key")?.as_str()?;
            let v = t.get("Value").and_then(Value::as_str).unwrap_or_default();
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

fn describe(s: &Secret) -> Value {
    let tags: Vec<Value> = s
        .tags
        .iter()
        .map(|(k, v)| json!({ "Key": k, "Value": v }))
        .collect();
    let mut out = json!({
        "ARN": s.arn,
        "Name": s.name,
        "CreatedDate": secs(s.created_ms),
        "LastChangedDate": secs(s.changed_ms),
        "Tags": tags,
    });
    if !s.description.is_empty() {
        out["Description"] = json!(s.description);
    }
    if !s.kms_key.is_empty() {
        out["KmsKeyId"] = json!(s.kms_key);
    }
    if !s.version.is_empty() {
        out["VersionIdsToStages"] = json!({ s.version.clone(): ["AWSCURRENT"] });
    }
    if let Some(at) = s.deletion_ms {
        out["DeletedDate"] = secs(at);
    }
    out
}

fn get_value(w: &World, c: &Call) -> Result<Value, ApiError> {
    let s = &w.secrets[&found(w, c)?];
    if s.deletion_ms.is_some() {
        return Err(invalid(
            "InvalidRequestException",
            "You can't perform this operation on the secret because it was marked for deletion.",
        ));
    }
    let value = s.value.as_ref().ok_or_else(|| {
        invalid(
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
        )
    })?;
    Ok(json!({
        "ARN": s.arn,
        "Name": s.name,
        "VersionId": s.version,
        "SecretString": value,
        "VersionStages": ["AWSCURRENT"],
        "CreatedDate": secs(s.changed_ms),
    }))
}

fn put_value(w: &mut World, c: &Call, now: u64) -> Result<Value, ApiError> {
    let key = found(w, c)?;
    let value = text(c, "SecretString")?.to_string();
    let version = w.id("", 32);
    let s = w.secrets.get_mut(&key).expect("found above");
    if s.deletion_ms.is_some() {
        return Err(invalid(
            "InvalidRequestException",
            "You can't perform this operation on the secret because it was marked for deletion.",
        ));
    }
    s.value = Some(value);
    s.version = version.clone();
    s.changed_ms = now;
    Ok(
        json!({ "ARN": s.arn, "Name": s.name, "VersionId": version, "VersionStages": ["AWSCURRENT"] }),
    )
}

fn delete(w: &mut World, c: &Call, now: u64) -> Result<Value, ApiError> {
    let key = found(w, c)?;
    let force = c
        .body
        .get("ForceDeleteWithoutRecovery")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let window = c.body.get("RecoveryWindowInDays").and_then(Value::as_u64);
    if force && window.is_some() {
        return Err(invalid(
            "InvalidParameterException",
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        ));
    }
    let days = window.unwrap_or(30);
    if !(7..=30).contains(&days) {
        return Err(invalid(
            "InvalidParameterException",
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
        ));
    }
    let at = if force { now } else { now + days * 86_400_000 };
    let s = w.secrets.get_mut(&key).expect("found above");
    s.deletion_ms = Some(at);
    let out = json!({ "ARN": s.arn, "Name": s.name, "DeletionDate": secs(at) });
    if force {
        w.secrets.remove(&key);
    }
    Ok(out)
}

fn list(w: &World, c: &Call) -> Result<Value, ApiError> {
    let max = c
        .body
        .get("MaxResults")
        .and_then(Value::as_u64)
        .unwrap_or(100);
    if !(1..=100).contains(&max) {
        return Err(invalid(
            "InvalidParameterException",
            "MaxResults must be between 1 and 100.",
        ));
    }
    let planned = c
        .body
        .get("IncludePlannedDeletion")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let prefix = format!("{}/{}/", c.account, c.region);
    let items: Vec<Value> = w
        .secrets
        .iter()
        .filter(|(k, s)| k.starts_with(&prefix) && (planned || s.deletion_ms.is_none()))
        .map(|(_, s)| describe(s))
        .collect();
    let token = c.body.get("NextToken").and_then(Value::as_str);
    let (page, next) = crate::members::paginate(items, token, usize::try_from(max).ok())
        .map_err(|m| invalid("InvalidNextTokenException", &m))?;
    let mut out = json!({ "SecretList": page });
    if let Some(n) = next {
        out["NextToken"] = json!(n);
    }
    Ok(out)
}

fn tag(w: &mut World, c: &Call) -> Result<Value, ApiError> {
    let key = found(w, c)?;
    let add = tags_of(c.body.get("Tags"));
    let remove = crate::members::str_list(c.body.get("TagKeys"));
    let s = w.secrets.get_mut(&key).expect("found above");
    s.tags.extend(add);
    for k in remove {
        s.tags.remove(&k);
    }
    Ok(json!({}))
}
