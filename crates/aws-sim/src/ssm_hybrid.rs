//! SSM hybrid activations and the managed nodes (`mi-…`) registered with them: how a machine that is
//! not an EC2 instance (a WorkSpace, an AppStream image builder) comes under Run Command.
//!
//! - CreateActivation / DescribeActivations / DeleteActivation, with the documented defaults and
//!   limits: https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CreateActivation.html
//!   (RegistrationLimit 1-1000, default 1; ExpirationDate at most 30 days ahead, default 24 hours).
//! - Registration is what `amazon-ssm-agent -register -code … -id … -region …` does on the machine:
//!   https://docs.aws.amazon.com/systems-manager/latest/userguide/hybrid-multicloud-ssm-agent-install-linux.html
//!   No API call does it, so the simulator offers it as the admin route `POST /_sim/ssm/register`
//!   (the person at the machine), or, with [`crate::World::operator`] set (the sandbox), registers
//!   each activation on the machine its `DefaultInstanceName` names (a WorkSpace id, or an image
//!   builder's name in the activation's account and region) once that machine is up (AVAILABLE,
//!   RUNNING).
//! - Deleting an activation does not deregister the nodes registered with it (API_DeleteActivation:
//!   "Deleting an activation doesn't de-register managed nodes"); DeregisterManagedInstance does.
//! - A node is Online while the machine under it is up (a WorkSpace AVAILABLE, an image builder
//!   RUNNING), from `ssm-online-ms` after it registered; otherwise ConnectionLost.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ApiError;
use crate::clock::Durations;
use crate::protocol::Call;
use crate::world::World;

/// An activation.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Activation {
    pub id: String,
    pub code: String,
    pub account: String,
    pub region: String,
    pub iam_role: String,
    pub description: String,
    pub default_instance_name: String,
    pub registration_limit: u64,
    pub registrations: u64,
    pub expires_ms: u64,
    pub created_ms: u64,
    pub tags: Vec<Value>,
}

/// A managed node registered through an activation.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ManagedNode {
    pub id: String,
    pub account: String,
    pub region: String,
    pub activation_id: String,
    pub name: String,
    /// The WorkSpace the agent runs on (empty on an image builder).
    pub workspace_id: String,
    /// The AppStream image builder the agent runs on (its `account/region/name` key; empty on a
    /// WorkSpace).
    pub image_builder: String,
    pub ip_address: String,
    pub computer_name: String,
    pub platform: String,
    pub registered_ms: u64,
}

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

fn invalid(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::client(code, message)
}

/// CreateActivation.
pub fn create_activation(w: &mut World, c: &Call, now: u64) -> Result<Value, ApiError> {
    let b = &c.body;
    let role = b.get("IamRole").and_then(Value::as_str).unwrap_or_default();
    if role.is_empty() {
        return Err(invalid("ValidationException", "IamRole is required."));
    }
    let limit = b
        .get("RegistrationLimit")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    if !(1..=1000).contains(&limit) {
        return Err(invalid(
            "ValidationException",
            "RegistrationLimit must be between 1 and 1000.",
        ));
    }
    let expires_ms = match b.get("ExpirationDate").and_then(Value::as_f64) {
        Some(secs) => (secs * 1000.0) as u64,
        None => now + DAY_MS,
    };
    if expires_ms <= now || expires_ms > now + 30 * DAY_MS {
        return Err(invalid(
            "InvalidParameters",
            "ExpirationDate must be in the future and at most 30 days ahead.",
        ));
    }
    let id = format!(
        "{}-{}-{}-{}-{}",
        &w.id("", 8),
        &w.id("", 4),
        &w.id("", 4),
        &w.id("", 4),
        &w.id("", 12)
    );
    let code = w.id("", 20);
    let text = |k: &str| {
        b.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let a = Activation {
        id: id.clone(),
        code: code.clone(),
        account: c.account.clone(),
        region: c.region.clone(),
        iam_role: role.to_string(),
        description: text("Description"),
        default_instance_name: text("DefaultInstanceName"),
        registration_limit: limit,
        registrations: 0,
        expires_ms,
        created_ms: now,
        tags: b
            .get("Tags")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    };
    w.ssm.activations.insert(id.clone(), a);
    Ok(json!({ "ActivationId": id, "ActivationCode": code }))
}

fn ts(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

fn activation_json(a: &Activation, now: u64) -> Value {
    json!({
        "ActivationId": a.id,
        "Description": a.description,
        "DefaultInstanceName": a.default_instance_name,
        "IamRole": a.iam_role,
        "RegistrationLimit": a.registration_limit,
        "RegistrationsCount": a.registrations,
        "ExpirationDate": ts(a.expires_ms),
        "Expired": now >= a.expires_ms,
        "CreatedDate": ts(a.created_ms),
        "Tags": a.tags,
    })
}

/// Values of the filters named `key` in `Filters: [{FilterKey, FilterValues}]`.
fn filter_values(b: &Value, key: &str) -> Option<Vec<String>> {
    let list = b.get("Filters").and_then(Value::as_array)?;
    let values: Vec<String> = list
        .iter()
        .filter(|f| f.get("FilterKey").and_then(Value::as_str) == Some(key))
        .flat_map(|f| {
            f.get("FilterValues")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    (!values.is_empty()).then_some(values)
}

/// DescribeActivations (filters: ActivationIds, DefaultInstanceName, IamRole).
pub fn describe_activations(w: &World, c: &Call, now: u64) -> Value {
    let ids = filter_values(&c.body, "ActivationIds");
    let names = filter_values(&c.body, "DefaultInstanceName");
    let roles = filter_values(&c.body, "IamRole");
    let keep = |wanted: &Option<Vec<String>>, v: &str| {
        wanted.as_ref().is_none_or(|l| l.iter().any(|x| x == v))
    };
    let list: Vec<Value> = w
        .ssm
        .activations
        .values()
        .filter(|a| a.account == c.account && a.region == c.region)
        .filter(|a| {
            keep(&ids, &a.id) && keep(&names, &a.default_instance_name) && keep(&roles, &a.iam_role)
        })
        .map(|a| activation_json(a, now))
        .collect();
    json!({ "ActivationList": list })
}

/// DeleteActivation: the nodes registered with it stay registered.
pub fn delete_activation(w: &mut World, c: &Call) -> Result<Value, ApiError> {
    let id = c
        .body
        .get("ActivationId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mine = w
        .ssm
        .activations
        .get(id)
        .is_some_and(|a| a.account == c.account && a.region == c.region);
    if !mine {
        return Err(invalid(
            "InvalidActivationId",
            format!(
                "Activation ID {id} is not valid. Verify that you entered the correct ID and try again."
            ),
        ));
    }
    w.ssm.activations.remove(id);
    Ok(json!({}))
}

/// DeregisterManagedInstance.
pub fn deregister(w: &mut World, c: &Call) -> Result<Value, ApiError> {
    let id = c
        .body
        .get("InstanceId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mine = w
        .ssm
        .nodes
        .get(id)
        .is_some_and(|n| n.account == c.account && n.region == c.region);
    if !mine {
        return Err(invalid(
            "InvalidInstanceId",
            format!("Instance {id} is not registered."),
        ));
    }
    w.ssm.nodes.remove(id);
    Ok(json!({}))
}

/// A machine an agent can run on.
struct Machine {
    workspace_id: String,
    image_builder: String,
    ip_address: String,
    computer_name: String,
    windows: bool,
    /// AVAILABLE (a WorkSpace) or RUNNING (an image builder).
    up: bool,
}

/// The machine `name` names in `account` and `region`: a WorkSpace id, or an image builder's name.
fn machine(w: &World, account: &str, region: &str, name: &str) -> Option<Machine> {
    if let Some(ws) = w
        .workspaces
        .workspaces
        .get(name)
        .filter(|ws| ws.account == account && ws.region == region)
    {
        return Some(Machine {
            workspace_id: ws.id.clone(),
            image_builder: String::new(),
            ip_address: ws.ip_address.clone(),
            computer_name: ws.computer_name.clone(),
            windows: ws.os == "WINDOWS",
            up: ws.state == "AVAILABLE",
        });
    }
    let key = crate::members::scoped(account, region, name);
    let b = w.appstream.builders.get(&key)?;
    Some(Machine {
        workspace_id: String::new(),
        image_builder: key,
        ip_address: String::new(),
        computer_name: format!("IB-{}", b.name.chars().take(12).collect::<String>()),
        windows: b.platform.starts_with("WINDOWS"),
        up: b.state == "RUNNING",
    })
}

/// Whether the machine under node `n` is up.
fn machine_up(w: &World, n: &ManagedNode) -> bool {
    if n.image_builder.is_empty() {
        w.workspaces
            .workspaces
            .get(&n.workspace_id)
            .is_some_and(|ws| ws.state == "AVAILABLE")
    } else {
        w.appstream
            .builders
            .get(&n.image_builder)
            .is_some_and(|b| b.state == "RUNNING")
    }
}

/// Register the agent on machine `workspace` (a WorkSpace id or an image builder's name) with an
/// activation, as `amazon-ssm-agent -register` does.
pub fn register(
    w: &mut World,
    activation_id: &str,
    code: &str,
    workspace: &str,
    now: u64,
) -> Result<String, String> {
    let a = w
        .ssm
        .activations
        .get(activation_id)
        .filter(|a| a.code == code)
        .cloned()
        .ok_or("the activation id and code do not match an activation")?;
    if now >= a.expires_ms {
        return Err("the activation has expired".into());
    }
    if a.registrations >= a.registration_limit {
        return Err("the activation's registration limit is reached".into());
    }
    let machine = machine(w, &a.account, &a.region, workspace)
        .filter(|m| m.up)
        .ok_or_else(|| {
            format!(
                "no AVAILABLE WorkSpace or RUNNING image builder {workspace} in the activation's account and region"
            )
        })?;
    let id = w.id("mi-", 17);
    let node = ManagedNode {
        id: id.clone(),
        account: a.account.clone(),
        region: a.region.clone(),
        activation_id: a.id.clone(),
        name: a.default_instance_name.clone(),
        workspace_id: machine.workspace_id,
        image_builder: machine.image_builder,
        ip_address: machine.ip_address,
        computer_name: machine.computer_name,
        platform: if machine.windows { "Windows" } else { "Linux" }.into(),
        registered_ms: now,
    };
    let linux_workspace =
        (!machine.windows && !node.workspace_id.is_empty()).then(|| node.workspace_id.clone());
    let linux_builder =
        (!machine.windows && !node.image_builder.is_empty()).then(|| node.image_builder.clone());
    w.ssm.nodes.insert(id.clone(), node);
    if let Some(a) = w.ssm.activations.get_mut(activation_id) {
        a.registrations += 1;
    }
    if let Some(ws) = linux_workspace {
        crate::machine::attach_workspace(w, &ws);
    }
    if let Some(b) = linux_builder {
        crate::machine::attach_builder(w, &b);
    }
    Ok(id)
}

/// The sandbox's operator: registers each unused activation on the machine its
/// `DefaultInstanceName` names, once that machine is up.
pub fn operate(w: &mut World, now: u64) {
    let due: Vec<(String, String, String)> = w
        .ssm
        .activations
        .values()
        .filter(|a| a.registrations == 0 && now < a.expires_ms)
        .filter(|a| {
            machine(w, &a.account, &a.region, &a.default_instance_name).is_some_and(|m| m.up)
        })
        .map(|a| {
            (
                a.id.clone(),
                a.code.clone(),
                a.default_instance_name.clone(),
            )
        })
        .collect();
    for (id, code, ws) in due {
        let _ = register(w, &id, &code, &ws, now);
    }
}

/// Whether node `id` is online: its machine is up, a moment after it registered.
pub fn online(w: &World, c: &Call, id: &str, now: u64, d: &Durations) -> bool {
    w.ssm.nodes.get(id).is_some_and(|n| {
        n.account == c.account
            && n.region == c.region
            && now >= n.registered_ms + d.ssm_online_ms
            && machine_up(w, n)
    })
}

/// The InstanceInformation of the caller's managed nodes among `wanted` (all when empty), in
/// activations `activations` (any when empty).
pub fn information(
    w: &World,
    c: &Call,
    wanted: &[String],
    activations: &[String],
    now: u64,
    d: &Durations,
) -> Vec<Value> {
    w.ssm
        .nodes
        .values()
        .filter(|n| n.account == c.account && n.region == c.region)
        .filter(|n| wanted.is_empty() || wanted.contains(&n.id))
        .filter(|n| activations.is_empty() || activations.contains(&n.activation_id))
        .map(|n| {
            let ping = if online(w, c, &n.id, now, d) {
                "Online"
            } else {
                "ConnectionLost"
            };
            json!({
                "InstanceId": n.id,
                "PingStatus": ping,
                "LastPingDateTime": ts(now),
                "AgentVersion": "3.3.0.0",
                "IsLatestVersion": true,
                "PlatformType": n.platform,
                "ActivationId": n.activation_id,
                "IamRole": w.ssm.activations.get(&n.activation_id).map(|a| a.iam_role.clone()),
                "RegistrationDate": ts(n.registered_ms),
                "ResourceType": "ManagedInstance",
                "Name": n.name,
                "IPAddress": n.ip_address,
                "ComputerName": n.computer_name,
            })
        })
        .collect()
}
