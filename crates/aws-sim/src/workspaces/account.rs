//! The account's BYOL setting, per region: what "Step 1: Enable BYOL for your account" of "Bring
//! Your Own Windows desktop licenses" (WorkSpaces Administration Guide) does through the API.
//!
//! - ListAvailableManagementCidrRanges (API_ListAvailableManagementCidrRanges.html):
//!   `ManagementCidrRangeConstraint` (required) is one of the private ranges the guide names
//!   (10.0.0.0/8, 100.64.0.0/10, 172.16.0.0/12, 192.168.0.0/16, 198.18.0.0/15); the answer is /16
//!   ranges inside it, at most `MaxResults` (1–5) a page.
//! - ModifyAccount (API_ModifyAccount.html): `DedicatedTenancySupport` ENABLED with a /16
//!   `DedicatedTenancyManagementCidrRange` that ListAvailableManagementCidrRanges offers. The change
//!   is asynchronous: DescribeAccountModifications shows it PENDING, then COMPLETED, and only then
//!   does DescribeAccount (API_DescribeAccount.html) answer `DedicatedTenancySupport: ENABLED`.
//! - ImportWorkspaceImage and ImportCustomWorkspaceImage need the account enabled (the guide's
//!   step 1 comes before step 5). The error AWS answers on an account that is not is not documented:
//!   aws-sim answers `OperationNotSupportedException`, saying why.
//!
//! How long the modification takes is not documented either: `workspace-image-ms` here.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ApiError;
use crate::clock::Durations;
use crate::members::opt_str;
use crate::protocol::Call;
use crate::world::World;

use super::model::UNSUPPORTED;
use super::wire::{invalid, required};

/// One account's BYOL setting in one region.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Byol {
    /// The management network range.
    pub cidr: String,
    /// When the modification completes.
    pub enabled_at: u64,
    /// When it was asked for.
    pub asked_at: u64,
}

const CONSTRAINTS: [&str; 5] = [
    "10.0.0.0/8",
    "100.64.0.0/10",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "198.18.0.0/15",
];

/// The /16 ranges inside a constraint: first octet fixed, second from the constraint's start.
fn ranges(constraint: &str) -> Vec<String> {
    let (base, bits) = constraint.split_once('/').unwrap_or((constraint, "16"));
    let octets: Vec<u32> = base.split('.').filter_map(|o| o.parse().ok()).collect();
    let bits: u32 = bits.parse().unwrap_or(16);
    let (Some(a), Some(b)) = (octets.first(), octets.get(1)) else {
        return vec![];
    };
    let count = 1u32 << 16u32.saturating_sub(bits).min(8);
    (0..count)
        .map(|i| format!("{a}.{}.0.0/16", b + i))
        .collect()
}

fn key(c: &Call) -> String {
    format!("{}/{}", c.account, c.region)
}

/// Whether the caller's account is enabled for BYOL in the call's region at `now`.
pub(super) fn byol_enabled(w: &World, c: &Call, now: u64) -> bool {
    w.workspaces
        .byol
        .get(&key(c))
        .is_some_and(|b| now >= b.enabled_at)
}

/// The refusal of an import on an account that is not enabled for BYOL.
pub(super) fn not_enabled(c: &Call) -> ApiError {
    ApiError::client(
        UNSUPPORTED,
        format!(
            "The account {} is not enabled for BYOL in {}: enable it first (ModifyAccount with DedicatedTenancySupport ENABLED).",
            c.account, c.region
        ),
    )
}

/// ListAvailableManagementCidrRanges.
pub(super) fn list_ranges(w: &World, c: &Call) -> Result<Value, ApiError> {
    let constraint = required(&c.body, "ManagementCidrRangeConstraint")?;
    if !CONSTRAINTS.contains(&constraint) {
        return Err(invalid(format!(
            "ManagementCidrRangeConstraint must be one of {}.",
            CONSTRAINTS.join(", ")
        )));
    }
    let used: Vec<&str> = w
        .workspaces
        .byol
        .values()
        .map(|b| b.cidr.as_str())
        .collect();
    let max = c
        .body
        .get("MaxResults")
        .and_then(Value::as_u64)
        .unwrap_or(5);
    if !(1..=5).contains(&max) {
        return Err(invalid("MaxResults must be between 1 and 5."));
    }
    let free: Vec<String> = ranges(constraint)
        .into_iter()
        .filter(|r| !used.contains(&r.as_str()))
        .take(max as usize)
        .collect();
    Ok(json!({ "ManagementCidrRanges": free }))
}

/// ModifyAccount.
pub(super) fn modify(w: &mut World, c: &Call, now: u64, d: &Durations) -> Result<Value, ApiError> {
    let support = opt_str(&c.body, "DedicatedTenancySupport").unwrap_or_default();
    if support != "ENABLED" {
        return Err(invalid("DedicatedTenancySupport must be ENABLED."));
    }
    let cidr = required(&c.body, "DedicatedTenancyManagementCidrRange")?;
    let offered = CONSTRAINTS
        .iter()
        .flat_map(|k| ranges(k))
        .any(|r| r == cidr);
    if !offered {
        return Err(invalid(format!(
            "{cidr} is not a /16 range ListAvailableManagementCidrRanges offers."
        )));
    }
    w.workspaces.byol.insert(
        key(c),
        Byol {
            cidr: cidr.into(),
            enabled_at: now + d.workspace_image_ms,
            asked_at: now,
        },
    );
    Ok(json!({}))
}

/// DescribeAccount.
pub(super) fn describe(w: &World, c: &Call, now: u64) -> Value {
    match w
        .workspaces
        .byol
        .get(&key(c))
        .filter(|_| byol_enabled(w, c, now))
    {
        Some(b) => json!({
            "DedicatedTenancySupport": "ENABLED",
            "DedicatedTenancyManagementCidrRange": b.cidr,
            "DedicatedTenancyAccountType": "SOURCE_ACCOUNT",
        }),
        None => json!({ "DedicatedTenancySupport": "DISABLED" }),
    }
}

/// DescribeAccountModifications.
pub(super) fn modifications(w: &World, c: &Call, now: u64) -> Value {
    let items: Vec<Value> = w
        .workspaces
        .byol
        .get(&key(c))
        .map(|b| {
            json!({
                "ModificationState": if now >= b.enabled_at { "COMPLETED" } else { "PENDING" },
                "DedicatedTenancySupport": "ENABLED",
                "DedicatedTenancyManagementCidrRange": b.cidr,
                "StartTime": { "$ts": b.asked_at / 1000 },
            })
        })
        .into_iter()
        .collect();
    json!({ "AccountModifications": items })
}
