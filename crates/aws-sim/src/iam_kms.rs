//! The read calls a plan's preflight makes about the account's IAM and KMS set-up: what the
//! account's platform team made, as [`crate::Sim::provide_instance_profile`] and
//! [`crate::Sim::provide_kms_key`] record it (the sim creates no roles or keys through the API).
//!
//! IAM over awsQuery (https://docs.aws.amazon.com/IAM/latest/APIReference/):
//! - GetInstanceProfile (API_GetInstanceProfile.html): `InstanceProfileName`; an unknown name is
//!   `NoSuchEntity` (404), "Instance Profile NAME cannot be found."; the answer lists its roles.
//! - ListAttachedRolePolicies (API_ListAttachedRolePolicies.html) and ListRolePolicies
//!   (API_ListRolePolicies.html): `RoleName`; an unknown role is `NoSuchEntity`.
//!
//! IAM is global: the region of the call does not matter, the account does.
//!
//! KMS over awsJson1_1 (`TrentService.DescribeKey`, API_DescribeKey.html): `KeyId` is a key id, key
//! ARN, alias name or alias ARN; an unknown one is `NotFoundException`. Keys are per region.
//!
//! What aws-sim cannot know: policy documents are not evaluated (a role's policies are names and
//! ARNs); role and profile ids are made up.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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

/// IAM and KMS as the account's platform team set them up.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Setup {
    /// `account/name` → profile.
    pub profiles: BTreeMap<String, InstanceProfile>,
    /// `account/region/key` (a key id, key ARN, alias name or alias ARN) → present.
    pub kms_keys: BTreeMap<String, String>,
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
pub fn iam(w: &World, c: &Call, rid: &str) -> Result<Output, ApiError> {
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

/// The profile whose role `RoleName` names.
fn role<'w>(w: &'w World, c: &Call) -> Result<&'w InstanceProfile, ApiError> {
    let name = param(c, "RoleName")?;
    let mine = format!("{}/", c.account);
    w.setup
        .profiles
        .iter()
        .find(|(k, p)| k.starts_with(&mine) && p.role == name)
        .map(|(_, p)| p)
        .ok_or_else(|| no_such(&format!("The role with name {name}")))
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

/// Handle a KMS call.
pub fn kms(w: &World, c: &Call) -> Result<Output, ApiError> {
    match c.op.as_str() {
        "DescribeKey" => {
            let key = c
                .body
                .get("KeyId")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let found = w
                .setup
                .kms_keys
                .get(&format!("{}/{}/{key}", c.account, c.region));
            let Some(arn) = found else {
                return Err(ApiError::client(
                    "NotFoundException",
                    format!("Key '{key}' does not exist"),
                ));
            };
            let id = arn.rsplit('/').next().unwrap_or(arn);
            Ok(Output::Value(json!({ "KeyMetadata": {
                "KeyId": id, "Arn": arn, "Enabled": true, "KeyState": "Enabled",
                "KeyUsage": "ENCRYPT_DECRYPT", "KeyManager": "CUSTOMER", "AWSAccountId": c.account,
                "CreationDate": { "$ts": 1_767_225_600 }
            }})))
        }
        op => Err(ApiError::unsupported("kms", op)),
    }
}
