//! Reading AppStream requests (RPC v2 CBOR members decoded to JSON, pages, tags) and writing its answers.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::ApiError;
use crate::members::{self, is_account, str_list, ts};
use crate::protocol::Call;

use super::model::*;

pub(super) fn arn(region: &str, account: &str, kind: &str, name: &str) -> String {
    format!("arn:aws:appstream:{region}:{account}:{kind}/{name}")
}

pub(super) fn not_found(kind: &str, name: &str) -> ApiError {
    ApiError::client(
        "ResourceNotFoundException",
        format!("The {kind} {name} does not exist."),
    )
}

pub(super) fn invalid_combination(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidParameterCombinationException", message)
}

pub(super) fn validation(message: impl Into<String>) -> ApiError {
    ApiError::client("ValidationException", message)
}

pub(super) fn opt_str<'a>(c: &'a Call, name: &str) -> Option<&'a str> {
    members::opt_str(&c.body, name)
}

pub(super) fn req_str<'a>(c: &'a Call, name: &str) -> Result<&'a str, ApiError> {
    opt_str(c, name).ok_or_else(|| {
        validation(format!("1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"))
    })
}

pub(super) fn opt_bool(c: &Call, name: &str) -> Option<bool> {
    c.body.get(name).and_then(Value::as_bool)
}

pub(super) fn opt_i64(c: &Call, name: &str) -> Option<i64> {
    c.body.get(name).and_then(Value::as_i64)
}

/// `VpcConfig`: subnets and security groups.
pub(super) fn vpc(c: &Call) -> (Vec<String>, Vec<String>) {
    let v = c.body.get("VpcConfig");
    (
        str_list(v.and_then(|v| v.get("SubnetIds"))),
        str_list(v.and_then(|v| v.get("SecurityGroupIds"))),
    )
}

/// `ComputeCapacity`: desired instances (or sessions, for multi-session fleets).
pub(super) fn capacity(c: &Call) -> Option<i64> {
    let cc = c.body.get("ComputeCapacity")?;
    cc.get("DesiredInstances")
        .or_else(|| cc.get("DesiredSessions"))
        .and_then(Value::as_i64)
}

pub(super) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|ch| ch.is_ascii_alphanumeric());
    first_ok
        && name.len() <= 101
        && chars.all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
}

pub(super) fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: {NAME_PATTERN}"
        )))
    }
}

/// An image name: the name pattern, and none of the reserved prefixes (case-sensitive).
pub(super) fn check_image_name(field: &str, name: &str) -> Result<(), ApiError> {
    check_name(field, name)?;
    match RESERVED_PREFIXES.iter().copied().find(|p| {
        name.to_ascii_lowercase()
            .starts_with(&p.to_ascii_lowercase())
    }) {
        Some(prefix) => Err(invalid_combination(format!(
            "The image name {name} is not valid: image names cannot begin with {prefix}."
        ))),
        None => Ok(()),
    }
}

pub(super) fn check_instance_type(instance_type: &str) -> Result<(), ApiError> {
    if instance_type
        .strip_prefix("stream.")
        .is_some_and(|rest| rest.contains('.'))
    {
        Ok(())
    } else {
        Err(invalid_combination(format!(
            "The instance type {instance_type} is not supported: AppStream 2.0 instance types look like stream.standard.medium."
        )))
    }
}

/// `IamRoleArn`, when given, must be an IAM role ARN of the caller's account (IAM passes only roles of
/// the account, "Grant a user permissions to pass a role to an AWS service") whose trust policy lets
/// `appstream.amazonaws.com` assume it ("Using an IAM role to grant permissions to applications and
/// scripts running on AppStream 2.0 streaming instances"); otherwise `InvalidRoleException`, "The
/// specified role is invalid" (API_CreateImageBuilder, API_CreateFleet, API_CreateImportedImage).
pub(super) fn check_role_in(w: &crate::world::World, c: &Call) -> Result<Option<String>, ApiError> {
    let Some(role) = opt_str(c, "IamRoleArn") else {
        return Ok(None);
    };
    let parts = role
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(":role/"))
        .filter(|(account, name)| is_account(account) && !name.is_empty());
    let refuse = |why: String| Err(ApiError::client("InvalidRoleException", why));
    let Some((account, path)) = parts else {
        return refuse(format!(
            "AppStream 2.0 cannot assume the role {role}: it is not an IAM role ARN."
        ));
    };
    if account != c.account {
        return refuse(format!(
            "The role {role} belongs to account {account}: AppStream 2.0 in {} can be passed only a role of its own account.",
            c.account
        ));
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    if !crate::iam_kms::role_trusts(w, account, name, "appstream.amazonaws.com") {
        return refuse(format!(
            "The specified role is invalid: {role} does not exist or does not trust appstream.amazonaws.com."
        ));
    }
    Ok(Some(role.to_string()))
}

/// `IamRoleArn`'s shape alone (the handlers that have no IAM view; the account's view was checked
/// before them by [`check_role_in`]).
pub(super) fn check_role(c: &Call) -> Result<Option<String>, ApiError> {
    Ok(opt_str(c, "IamRoleArn").map(str::to_string))
}

pub(super) fn valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// AppStream tags: keys of 1 to 128 characters, values of at most 256, 50 per resource
/// (https://docs.aws.amazon.com/appstream2/latest/APIReference/API_TagResource.html).
pub(super) const TAG_RULES: members::TagRules = members::TagRules {
    key_max: 128,
    value_max: 256,
    max_tags: MAX_TAGS,
};

pub(super) fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), ApiError> {
    members::check_tags(tags, TAG_RULES).map_err(|p| match p {
        members::TagProblem::Invalid(m) => validation(m),
        members::TagProblem::TooMany(m) => ApiError::client("LimitExceededException", m),
    })
}

/// A `Tags` map from the request, checked.
pub(super) fn tag_map(v: Option<&Value>) -> Result<BTreeMap<String, String>, ApiError> {
    let tags: BTreeMap<String, String> = v
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    check_tags(&tags)?;
    Ok(tags)
}

/// An optional string member: absent when empty.
pub(super) fn nz(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

pub(super) fn vpc_json(subnets: &[String], security_groups: &[String]) -> Value {
    if subnets.is_empty() && security_groups.is_empty() {
        Value::Null
    } else {
        json!({ "SubnetIds": subnets, "SecurityGroupIds": security_groups })
    }
}

pub(super) fn perms_json(p: &Permissions) -> Value {
    json!({ "allowFleet": p.allow_fleet, "allowImageBuilder": p.allow_image_builder })
}

/// An `Image` as `viewer` sees it.
pub(super) fn image_json(img: &Image, viewer: &str) -> Value {
    let owner = img.owner == viewer;
    let builder_name = if owner { nz(&img.builder_name) } else { None };
    let permissions = if owner || img.public() {
        None
    } else {
        img.shared_with.get(viewer).map(perms_json)
    };
    let shared_with_others = if img.shared_with.is_empty() {
        "FALSE"
    } else {
        "TRUE"
    };
    let released = img.public().then(|| ts(img.created_ms));
    json!({
        "Name": img.name,
        "Arn": img.arn,
        "BaseImageArn": nz(&img.base_image_arn),
        "DisplayName": nz(&img.display_name),
        "State": img.state,
        "Visibility": img.visibility(viewer),
        "ImageBuilderSupported": true,
        "ImageBuilderName": builder_name,
        "Platform": img.platform,
        "Description": nz(&img.description),
        "Applications": img.applications.iter().map(application_json).collect::<Vec<_>>(),
        "CreatedTime": ts(img.created_ms),
        "PublicBaseImageReleasedDate": released,
        "AppstreamAgentVersion": img.agent(),
        "ImagePermissions": permissions,
        "ImageSharedWithOthers": owner.then_some(shared_with_others),
    })
}

/// An `Application` of DescribeImages.
pub(super) fn application_json(a: &Application) -> Value {
    json!({
        "Name": a.name,
        "DisplayName": nz(&a.display_name),
        "LaunchPath": a.path,
        "LaunchParameters": nz(&a.launch_parameters),
        "WorkingDirectory": nz(&a.working_directory),
        "IconURL": nz(&a.icon_path),
        "Enabled": true,
    })
}

pub(super) fn builder_json(b: &ImageBuilder) -> Value {
    json!({
        "Name": b.name,
        "Arn": b.arn,
        "ImageArn": b.image_arn,
        "Description": nz(&b.description),
        "DisplayName": nz(&b.display_name),
        "VpcConfig": vpc_json(&b.subnet_ids, &b.security_group_ids),
        "InstanceType": b.instance_type,
        "Platform": b.platform,
        "IamRoleArn": nz(&b.iam_role_arn),
        "State": b.state,
        "CreatedTime": ts(b.created_ms),
        "EnableDefaultInternetAccess": b.internet_access,
        "AppstreamAgentVersion": if b.agent_version.is_empty() { AGENT_VERSION } else { &b.agent_version },
        // API_NetworkAccessConfiguration: the interface the builder streams and reaches the VPC by.
        "NetworkAccessConfiguration": if b.eni_ip.is_empty() {
            Value::Null
        } else {
            json!({ "EniPrivateIpAddress": b.eni_ip, "EniId": b.eni_id })
        },
    })
}

pub(super) fn fleet_json(f: &Fleet, now: u64) -> Value {
    let failed = f.failing && now >= f.replaced_at;
    let running = if f.state == "RUNNING" && !failed {
        f.desired
    } else {
        0
    };
    let errors: Vec<Value> = if failed {
        vec![json!({
            "ErrorCode": "INTERNAL_SERVICE_ERROR",
            "ErrorMessage": format!("Instances on image {} failed to start.", f.image_name),
        })]
    } else {
        vec![]
    };
    json!({
        "Arn": f.arn,
        "Name": f.name,
        "DisplayName": nz(&f.display_name),
        "Description": nz(&f.description),
        "ImageName": nz(&f.image_name),
        "ImageArn": nz(&f.image_arn),
        "InstanceType": f.instance_type,
        "FleetType": f.fleet_type,
        "ComputeCapacityStatus": { "Desired": f.desired, "Running": running, "InUse": 0, "Available": running },
        "MaxUserDurationInSeconds": f.max_user_duration_secs,
        "DisconnectTimeoutInSeconds": f.disconnect_timeout_secs,
        "IdleDisconnectTimeoutInSeconds": f.idle_disconnect_timeout_secs,
        "State": f.state,
        "VpcConfig": vpc_json(&f.subnet_ids, &f.security_group_ids),
        "CreatedTime": ts(f.created_ms),
        "EnableDefaultInternetAccess": f.internet_access,
        "IamRoleArn": nz(&f.iam_role_arn),
        "StreamView": f.stream_view,
        "Platform": nz(&f.platform),
        "MaxConcurrentSessions": f.max_concurrent_sessions,
        "FleetErrors": errors,
    })
}

/// One page of a list (the shared pagination): `NextToken` is the offset of the next page,
/// `MaxResults` its size.
/// One page of `items` under `list`: `MaxResults` a page, or `default` when it is absent.
pub(super) fn page(
    c: &Call,
    list: &str,
    items: Vec<Value>,
    default: Option<usize>,
) -> Result<Value, ApiError> {
    let size = opt_i64(c, "MaxResults")
        .and_then(|m| usize::try_from(m).ok())
        .filter(|m| *m > 0)
        .or(default);
    let (items, next) =
        members::paginate(items, opt_str(c, "NextToken"), size).map_err(validation)?;
    let mut out = Map::new();
    out.insert(list.to_string(), Value::Array(items));
    if let Some(next) = next {
        out.insert("NextToken".into(), Value::String(next));
    }
    Ok(Value::Object(out))
}
