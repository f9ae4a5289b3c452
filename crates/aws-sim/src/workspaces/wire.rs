//! Reading WorkSpaces requests (awsJson1_1 members, pages, tags) and writing its answers.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::ApiError;
use crate::members::{self, opt_str, ts};

use super::model::*;

pub(super) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::client(INVALID, message)
}

pub(super) fn required<'a>(v: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    opt_str(v, name).ok_or_else(|| invalid(format!("The parameter {name} is required.")))
}

/// An optional page size between 1 and `max`.
pub(super) fn page_size(v: &Value, name: &str, max: u64) -> Result<Option<usize>, ApiError> {
    // Absent, AWS answers pages of the most it allows (DescribeWorkspaces: `Limit` 1-25;
    // DescribeWorkspaceImages, DescribeWorkspaceImagePermissions: `MaxResults` 1-25), never the
    // whole list.
    match v.get(name).and_then(Value::as_u64) {
        None => Ok(usize::try_from(max).ok()),
        Some(n) if (1..=max).contains(&n) => Ok(usize::try_from(n).ok()),
        Some(n) => Err(invalid(format!(
            "{name} must be between 1 and {max}, not {n}."
        ))),
    }
}

/// One page of `items` (the shared pagination, with WorkSpaces' error code).
pub(super) fn page(
    items: Vec<Value>,
    token: Option<&str>,
    limit: Option<usize>,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    members::paginate(items, token, limit).map_err(invalid)
}

pub(super) fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_./()-".contains(ch))
}

pub(super) fn check_image_name(name: &str) -> Result<(), ApiError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(invalid(format!(
            "The image name '{name}' is not valid: use 1 to 64 letters, digits and _ . / ( ) -."
        )))
    }
}

/// A description as CreateWorkspaceImage, CreateUpdatedWorkspaceImage and the imports take it:
/// 1-256 characters of `^[a-zA-Z0-9_./() -]+$` (API_CreateWorkspaceImage), so no `:` or `#`.
pub(super) fn check_image_description(what: &str, text: &str) -> Result<(), ApiError> {
    check_length(what, text, 256)?;
    if text
        .chars()
        .all(|ch| ch.is_ascii_alphanumeric() || "_./() -".contains(ch))
    {
        Ok(())
    } else {
        Err(invalid(format!(
            "1 validation error detected: Value '{text}' at '{}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_./() -]+$",
            what.to_lowercase()
        )))
    }
}

pub(super) fn check_length(what: &str, text: &str, max: usize) -> Result<(), ApiError> {
    if (1..=max).contains(&text.chars().count()) {
        Ok(())
    } else {
        Err(invalid(format!(
            "{what} must be 1 to {max} characters long."
        )))
    }
}

/// WorkSpaces tags: keys of 1 to 127 characters, values of at most 255, 50 per resource
/// (https://docs.aws.amazon.com/workspaces/latest/api/API_Tag.html).
pub(super) const TAG_RULES: members::TagRules = members::TagRules {
    key_max: 127,
    value_max: 255,
    max_tags: MAX_TAGS,
};

/// `Tags: [{Key, Value}]` from a request, checked.
pub(super) fn tags_in(v: Option<&Value>) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for t in v.and_then(Value::as_array).into_iter().flatten() {
        let key = opt_str(t, "Key").ok_or_else(|| invalid("Every tag needs a Key."))?;
        let value = t.get("Value").and_then(Value::as_str).unwrap_or_default();
        out.insert(key.to_string(), value.to_string());
    }
    members::check_tags(&out, TAG_RULES).map_err(|p| match p {
        members::TagProblem::Invalid(m) => invalid(m),
        members::TagProblem::TooMany(m) => ApiError::client(LIMIT, m),
    })?;
    Ok(out)
}

pub(super) fn tags_json(tags: &BTreeMap<String, String>) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({ "Key": k, "Value": v }))
            .collect(),
    )
}

pub(super) fn workspace_json(ws: &Workspace, now: u64) -> Value {
    let placed = ws.state != "PENDING";
    json!({
        "WorkspaceId": ws.id,
        "DirectoryId": ws.directory_id,
        "UserName": ws.user_name,
        "IpAddress": placed.then_some(&ws.ip_address),
        "State": ws.state_seen(now),
        "BundleId": ws.bundle_id,
        "ComputerName": placed.then_some(&ws.computer_name),
        "VolumeEncryptionKey": ws.volume_encryption_key,
        "UserVolumeEncryptionEnabled": ws.user_volume_encrypted,
        "RootVolumeEncryptionEnabled": ws.root_volume_encrypted,
        "WorkspaceName": ws.name,
        "WorkspaceProperties": ws.properties,
        "ModificationStates": super::lifecycle::modification_states(ws, now),
    })
}

pub(super) fn image_json(img: &Image) -> Value {
    let failed = img.state == "ERROR";
    json!({
        "ImageId": img.id,
        "Name": img.name,
        "Description": (!img.description.is_empty()).then_some(&img.description),
        "OperatingSystem": { "Type": img.os },
        "State": img.state,
        "RequiredTenancy": img.tenancy,
        "ErrorCode": failed.then_some("InternalServiceError"),
        "ErrorMessage": failed.then(|| img.fail_reason.as_deref().unwrap_or("The image could not be created (injected by aws-sim).")),
        "Created": ts(img.created_ms),
        "OwnerAccountId": img.owner,
        // WorkspaceImage.Updates (API_UpdateResult): whether WorkSpaces component updates are available.
        "Updates": if img.update_available {
            json!({ "UpdateAvailable": true, "Description": "Updated WorkSpaces components and drivers are available" })
        } else {
            json!({ "UpdateAvailable": false })
        },
    })
}

pub(super) fn bundle_json(b: &Bundle) -> Value {
    json!({
        "BundleId": b.id,
        "Name": b.name,
        "Owner": b.owner,
        "Description": b.description,
        "ImageId": b.image_id,
        "RootStorage": { "Capacity": b.root_gib.to_string() },
        "UserStorage": { "Capacity": b.user_gib.to_string() },
        "ComputeType": { "Name": b.compute },
        "State": "AVAILABLE",
        "BundleType": "REGULAR",
        "LastUpdatedTime": ts(b.updated_ms),
        "CreationTime": ts(b.created_ms),
    })
}
