//! The account's IAM roles and instance profiles and its KMS keys: made through the calls a platform
//! team makes (IAM CreateRole, CreateInstanceProfile, AddRoleToInstanceProfile, AttachRolePolicy,
//! PutRolePolicy; KMS CreateKey, CreateAlias), or by [`crate::Sim::provide_instance_profile`] and
//! [`crate::Sim::provide_kms_key`] through the same functions; and the reads a plan's preflight makes.
//!
//! - CreateRole (API_CreateRole.html): `RoleName` and `AssumeRolePolicyDocument` required; a name taken
//!   is `EntityAlreadyExists` (409). CreateInstanceProfile likewise. AddRoleToInstanceProfile: a
//!   profile holds one role (`LimitExceeded`, "Cannot exceed quota for
//!   InstanceSessionsPerInstanceProfile: 1"); unknown names are `NoSuchEntity`. AttachRolePolicy
//!   (`PolicyArn`) and PutRolePolicy (`PolicyName`, `PolicyDocument`) add to the role.
//! - KMS (CreateKey, CreateAlias, DescribeKey, GetPublicKey, Sign, Verify) is in `kms.rs`; its keys
//!   are kept here, with the account's other setup.
//!
//! IAM over awsQuery (https://docs.aws.amazon.com/IAM/latest/APIReference/):
//! - GetInstanceProfile (API_GetInstanceProfile.html): `InstanceProfileName`; an unknown name is
//!   `NoSuchEntity` (404), "Instance Profile NAME cannot be found."; the answer lists its roles.
//! - GetRole (API_GetRole.html): `RoleName`; `NoSuchEntity` for an unknown one; the trust policy
//!   URL-encoded.
//! - ListAttachedRolePolicies (API_ListAttachedRolePolicies.html) and ListRolePolicies
//!   (API_ListRolePolicies.html): `RoleName`; an unknown role is `NoSuchEntity`.
//!
//! IAM is global: the region of the call does not matter, the account does.
//!
//! What aws-sim cannot know: policy documents are not evaluated (a role's policies are names and
//! ARNs); role and profile ids are made up.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ApiError;
use crate::protocol::{Call, Output, xml_escape};
use crate::world::World;

const XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// An instance profile and its one role.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceProfile {
    /// The profile's name.
    pub name: String,
    /// Its role's name.
    pub role: String,
    /// ARNs of the managed policies attached to the role.
    pub managed: Vec<String>,
    /// Names of the role's inline policies.
    pub inline: Vec<String>,
}

/// A role's policies.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Role {
    /// Its trust policy (AssumeRolePolicyDocument), as given.
    pub assume_policy: String,
    /// ARNs of the managed policies attached to it.
    pub managed: Vec<String>,
    /// Names of its inline policies.
    pub inline: Vec<String>,
}

/// IAM and KMS as the account's platform team set them up.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Setup {
    /// `account/name` → profile (its role's policies are in `roles`; the profile's own `managed`
    /// and `inline` are those of worlds saved before roles were kept apart).
    pub profiles: BTreeMap<String, InstanceProfile>,
    /// `account/name` → role.
    pub roles: BTreeMap<String, Role>,
    /// `account/region/key` (a key id, key ARN, alias name or alias ARN) → the key's ARN.
    pub kms_keys: BTreeMap<String, String>,
    /// Key ARN → an asymmetric key's spec, usage and private key (symmetric keys have none).
    pub kms_material: BTreeMap<String, crate::kms::KeyMaterial>,
}

fn no_such(what: &str) -> ApiError {
    ApiError {
        status: 404,
        code: "NoSuchEntity".into(),
        message: format!("{what} cannot be found."),
    }
}

fn answer(op: &str, result: &str, rid: &str) -> Output {
    Output::Xml(format!(
        "<{op}Response xmlns=\"{XMLNS}\"><{op}Result>{result}</{op}Result><ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata></{op}Response>"
    ))
}

fn param<'a>(c: &'a Call, name: &str) -> Result<&'a str, ApiError> {
    c.params.get(name).map(String::as_str).ok_or_else(|| {
        ApiError::client(
            "ValidationError",
            format!("1 validation error detected: {name} must not be null"),
        )
    })
}

/// Handle an IAM call.
pub fn iam(w: &mut World, r: &crate::protocol::Req<'_>) -> Result<Output, ApiError> {
    let (c, rid) = (r.call, r.request_id);
    if let Some(r) = iam_write(w, c, rid) {
        return r;
    }
    let w: &World = w;
    match c.op.as_str() {
        "GetInstanceProfile" => {
            let name = param(c, "InstanceProfileName")?;
            let p = w
                .setup
                .profiles
                .get(&format!("{}/{name}", c.account))
                .ok_or_else(|| no_such(&format!("Instance Profile {name}")))?;
            Ok(answer(
                "GetInstanceProfile",
                &profile_xml(p, &c.account),
                rid,
            ))
        }
        "GetRole" => {
            let name = param(c, "RoleName")?;
            let r = w
                .setup
                .roles
                .get(&format!("{}/{name}", c.account))
                .ok_or_else(|| no_such(&format!("The role with name {name}")))?;
            Ok(answer("GetRole", &role_xml(name, r, &c.account), rid))
        }
        "ListAttachedRolePolicies" => {
            let p = role(w, c)?;
            let members: String = p
                .managed
                .iter()
                .map(|arn| {
                    let name = arn.rsplit('/').next().unwrap_or(arn);
                    format!(
                        "<member><PolicyName>{}</PolicyName><PolicyArn>{}</PolicyArn></member>",
                        xml_escape(name),
                        xml_escape(arn)
                    )
                })
                .collect();
            let result = format!(
                "<AttachedPolicies>{members}</AttachedPolicies><IsTruncated>false</IsTruncated>"
            );
            Ok(answer("ListAttachedRolePolicies", &result, rid))
        }
        "ListRolePolicies" => {
            let p = role(w, c)?;
            let members: String = p
                .inline
                .iter()
                .map(|n| format!("<member>{}</member>", xml_escape(n)))
                .collect();
            let result =
                format!("<PolicyNames>{members}</PolicyNames><IsTruncated>false</IsTruncated>");
            Ok(answer("ListRolePolicies", &result, rid))
        }
        op => Err(ApiError::unsupported("iam", op)),
    }
}

/// Whether `account`'s role `name` exists and its trust policy names `principal` (a service
/// principal such as `vmie.amazonaws.com`). Trust policies are read for the principal only.
pub(crate) fn role_trusts(w: &World, account: &str, name: &str, principal: &str) -> bool {
    w.setup
        .roles
        .get(&format!("{account}/{name}"))
        .is_some_and(|r| r.assume_policy.contains(principal))
}

/// The role `RoleName` names (or, in a world saved before roles were kept apart, its profile's).
fn role(w: &World, c: &Call) -> Result<Role, ApiError> {
    let name = param(c, "RoleName")?;
    if let Some(r) = w.setup.roles.get(&format!("{}/{name}", c.account)) {
        return Ok(r.clone());
    }
    let mine = format!("{}/", c.account);
    w.setup
        .profiles
        .iter()
        .find(|(k, p)| k.starts_with(&mine) && p.role == name)
        .map(|(_, p)| Role {
            managed: p.managed.clone(),
            inline: p.inline.clone(),
            ..Role::default()
        })
        .ok_or_else(|| no_such(&format!("The role with name {name}")))
}

fn taken(what: &str) -> ApiError {
    ApiError {
        status: 409,
        code: "EntityAlreadyExists".into(),
        message: format!("{what} already exists."),
    }
}

/// CreateRole.
pub(crate) fn create_role(
    w: &mut World,
    account: &str,
    name: &str,
    assume_policy: &str,
) -> Result<(), ApiError> {
    let key = format!("{account}/{name}");
    if w.setup.roles.contains_key(&key) {
        return Err(taken(&format!("Role with name {name}")));
    }
    let role = Role {
        assume_policy: assume_policy.into(),
        ..Role::default()
    };
    w.setup.roles.insert(key, role);
    Ok(())
}

/// CreateInstanceProfile.
pub(crate) fn create_profile(w: &mut World, account: &str, name: &str) -> Result<(), ApiError> {
    let key = format!("{account}/{name}");
    if w.setup.profiles.contains_key(&key) {
        return Err(taken(&format!("Instance Profile {name}")));
    }
    let p = InstanceProfile {
        name: name.into(),
        ..Default::default()
    };
    w.setup.profiles.insert(key, p);
    Ok(())
}

/// AddRoleToInstanceProfile: one role a profile.
pub(crate) fn add_role(
    w: &mut World,
    account: &str,
    profile: &str,
    role: &str,
) -> Result<(), ApiError> {
    if !w.setup.roles.contains_key(&format!("{account}/{role}")) {
        return Err(no_such(&format!("The role with name {role}")));
    }
    let p = w
        .setup
        .profiles
        .get_mut(&format!("{account}/{profile}"))
        .ok_or_else(|| no_such(&format!("Instance Profile {profile}")))?;
    if !p.role.is_empty() {
        return Err(ApiError {
            status: 409,
            code: "LimitExceeded".into(),
            message: "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1".into(),
        });
    }
    p.role = role.into();
    Ok(())
}

/// AttachRolePolicy (`managed`) or PutRolePolicy (`inline`).
pub(crate) fn add_policy(
    w: &mut World,
    account: &str,
    role: &str,
    policy: &str,
    managed: bool,
) -> Result<(), ApiError> {
    let r = w
        .setup
        .roles
        .get_mut(&format!("{account}/{role}"))
        .ok_or_else(|| no_such(&format!("The role with name {role}")))?;
    let list = if managed {
        &mut r.managed
    } else {
        &mut r.inline
    };
    if !list.iter().any(|p| p == policy) {
        list.push(policy.into());
    }
    Ok(())
}

/// The IAM calls that set an account up.
fn iam_write(w: &mut World, c: &Call, rid: &str) -> Option<Result<Output, ApiError>> {
    let done = |op: &str| Ok(answer(op, "", rid));
    let r = match c.op.as_str() {
        "CreateRole" => param(c, "AssumeRolePolicyDocument")
            .and_then(|doc| Ok((doc, param(c, "RoleName")?)))
            .and_then(|(doc, n)| create_role(w, &c.account, n, doc).map(|()| n.to_string()))
            .map(|n| {
                let xml = format!(
                    "<Role><Path>/</Path><RoleName>{0}</RoleName><Arn>arn:aws:iam::{1}:role/{0}</Arn><RoleId>AROA{2}</RoleId><CreateDate>2026-01-01T00:00:00Z</CreateDate></Role>",
                    xml_escape(&n),
                    c.account,
                    n.len() * 7919
                );
                answer("CreateRole", &xml, rid)
            }),
        "CreateInstanceProfile" => param(c, "InstanceProfileName").and_then(|n| {
            create_profile(w, &c.account, n)?;
            let p = &w.setup.profiles[&format!("{}/{n}", c.account)];
            Ok(answer("CreateInstanceProfile", &profile_xml(p, &c.account), rid))
        }),
        "AddRoleToInstanceProfile" => param(c, "InstanceProfileName")
            .and_then(|p| add_role(w, &c.account, p, param(c, "RoleName")?))
            .and_then(|()| done("AddRoleToInstanceProfile")),
        "AttachRolePolicy" => param(c, "RoleName")
            .and_then(|r| add_policy(w, &c.account, r, param(c, "PolicyArn")?, true))
            .and_then(|()| done("AttachRolePolicy")),
        "PutRolePolicy" => param(c, "RoleName")
            .and_then(|r| {
                param(c, "PolicyDocument")?;
                add_policy(w, &c.account, r, param(c, "PolicyName")?, false)
            })
            .and_then(|()| done("PutRolePolicy")),
        _ => return None,
    };
    Some(r)
}

/// GetRole's `Role` (API_GetRole.html): the trust policy URL-encoded, as IAM returns policy
/// documents ("IAM policy documents are returned URL-encoded", API_Role.html).
fn role_xml(name: &str, r: &Role, account: &str) -> String {
    let doc: String = r
        .assume_policy
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!(
        "<Role><Path>/</Path><RoleName>{0}</RoleName><Arn>arn:aws:iam::{account}:role/{0}</Arn><RoleId>AROA{1}</RoleId><CreateDate>2026-01-01T00:00:00Z</CreateDate><AssumeRolePolicyDocument>{doc}</AssumeRolePolicyDocument></Role>",
        xml_escape(name),
        name.len() * 7919
    )
}

fn profile_xml(p: &InstanceProfile, account: &str) -> String {
    let created = "2026-01-01T00:00:00Z";
    format!(
        "<InstanceProfile><InstanceProfileId>AIPA{id}</InstanceProfileId><Roles><member><Path>/</Path><Arn>arn:aws:iam::{account}:role/{role}</Arn><RoleName>{role}</RoleName><CreateDate>{created}</CreateDate><RoleId>AROA{id}</RoleId></member></Roles><InstanceProfileName>{name}</InstanceProfileName><Path>/</Path><Arn>arn:aws:iam::{account}:instance-profile/{name}</Arn><CreateDate>{created}</CreateDate></InstanceProfile>",
        id = p.name.len() * 7919,
        role = xml_escape(&p.role),
        name = xml_escape(&p.name),
    )
}
