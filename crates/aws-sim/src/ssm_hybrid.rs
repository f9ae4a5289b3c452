//! SSM hybrid activations and the managed nodes (`mi-…`) registered with them: how a machine that is
//! not an EC2 instance (a WorkSpace, an AppStream image builder) comes under Run Command.
//!
//! - CreateActivation / DescribeActivations / DeleteActivation, with the documented defaults and
//!   limits: https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CreateActivation.html
//!   (RegistrationLimit 1-1000, default 1; ExpirationDate at most 30 days ahead, default 24 hours).
//!   The `ActivationCode` is in CreateActivation's answer only: no call reads it back
//!   (API_DescribeActivations' `Activation` has no code).
//! - Registration is what `amazon-ssm-agent -register -code … -id … -region …` does on the machine:
//!   https://docs.aws.amazon.com/systems-manager/latest/userguide/hybrid-multicloud-ssm-agent-install-linux.html
//!   It needs the activation's id and code; a wrong pair, an expired activation or one whose
//!   registration limit is reached is refused. No API call registers, so nothing registers by
//!   itself here. What runs on a machine does, by one of the two routes recipe documents
//!   (docs/workspaces.md, docs/appstream.md), each reading the id and code where the provider keeps
//!   them, the SecureString parameter `/recipe/activation/<the machine's name>`:
//!   - **the bootstrap**: a machine whose disk carries the recipe SSM bootstrap (installed by a Run
//!     Command whose script carries [`BOOTSTRAP_MARKER`], and captured into images made from it)
//!     reads the parameter with the machine's own credentials and registers, once it is up. On an
//!     AppStream image builder those credentials are its IAM role (`IamRoleArn`: the
//!     `appstream_machine_role` profile, "Using an IAM Role with AppStream 2.0 Streaming
//!     Instances"), so a builder without a role cannot read it. On a WorkSpace they are the profile
//!     the preparation set up (WorkSpaces has no role): aws-sim cannot know them and assumes they work.
//!   - **a person**: `POST /_sim/ssm/register` with the id and code they read (any test), or, with
//!     [`crate::World::operator`] (the sandbox), a person who follows the apply's wait line for each
//!     unused activation: reads the parameter of the machine the activation names and registers there.
//! - A machine's name is what it knows itself by: a WorkSpace's `ComputerName` ("the name of the
//!   WorkSpace, as seen by the operating system", API_Workspace), an image builder's name
//!   (`AppStream_Resource_Name`, "User and Instance Metadata for AppStream 2.0 Fleets").
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
    /// What it knows itself by (ComputerName, or the builder's name).
    name: String,
    /// Its disk carries the recipe SSM bootstrap.
    bootstrap: bool,
    /// The bootstrap has credentials to read its parameter.
    credentials: bool,
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
            name: ws.computer_name.to_uppercase(),
            bootstrap: ws.bootstrap,
            credentials: true,
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
        name: b.name.clone(),
        bootstrap: b.bootstrap,
        credentials: !b.iam_role_arn.is_empty(),
        workspace_id: String::new(),
        image_builder: key,
        ip_address: b.eni_ip.clone(),
        computer_name: format!("IB-{}", b.name.chars().take(12).collect::<String>()),
        windows: b.platform.starts_with("WINDOWS"),
        up: b.state == "RUNNING",
    })
}

/// Whether the machine under node `n` is up, and reaches Systems Manager: an image builder with
/// default internet access does, else through its subnet (`ec2_net.rs`); a WorkSpace's directory
/// network is not modelled.
fn machine_up(w: &World, n: &ManagedNode) -> bool {
    if n.image_builder.is_empty() {
        w.workspaces
            .workspaces
            .get(&n.workspace_id)
            .is_some_and(|ws| ws.state == "AVAILABLE")
    } else {
        w.appstream.builders.get(&n.image_builder).is_some_and(|b| {
            let reaches = b.internet_access
                || b.subnet_ids
                    .first()
                    .is_none_or(|s| crate::ec2_net::reaches_ssm(w, s, Some(false)));
            b.state == "RUNNING" && reaches
        })
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

/// The marker of the recipe SSM bootstrap's installer (`recipe bootstrap` prints it): a machine
/// that runs a command carrying it has the bootstrap on its disk from then on.
pub const BOOTSTRAP_MARKER: &str = "recipe-ssm-bootstrap:install";

/// The parameter where recipe keeps the id and code of the activation for machine `name`.
fn parameter(name: &str) -> String {
    format!("/recipe/activation/{name}")
}

/// The id and code kept for machine `name` in `account` and `region`, if any.
fn kept_activation(w: &World, account: &str, region: &str, name: &str) -> Option<(String, String)> {
    let value = w.ssm.resolve(account, region, &parameter(name))?;
    let mut words = value.split_whitespace();
    Some((words.next()?.to_string(), words.next()?.to_string()))
}

/// Whether an agent on the machine (a WorkSpace id or a builder key) is registered.
fn has_node(w: &World, m: &Machine) -> bool {
    w.ssm.nodes.values().any(|n| {
        (!m.workspace_id.is_empty() && n.workspace_id == m.workspace_id)
            || (!m.image_builder.is_empty() && n.image_builder == m.image_builder)
    })
}

/// Machines that are up and unregistered, whose disk carries the bootstrap and who can read:
/// (account, region, the machine as `register` names it, its name).
fn bootstrapping(w: &World) -> Vec<(String, String, String, String)> {
    let workspaces = w.workspaces.workspaces.values().map(|ws| {
        let m = machine(w, &ws.account, &ws.region, &ws.id);
        (ws.account.clone(), ws.region.clone(), ws.id.clone(), m)
    });
    let builders = w.appstream.builders.values().map(|b| {
        let m = machine(w, &b.account, &b.region, &b.name);
        (b.account.clone(), b.region.clone(), b.name.clone(), m)
    });
    workspaces
        .chain(builders)
        .filter_map(|(account, region, id, m)| {
            let m = m?;
            let ready = m.up && m.bootstrap && m.credentials && !has_node(w, &m);
            ready.then_some((account, region, id, m.name))
        })
        .collect()
}

/// The recipe bootstrap on each machine that carries it: once the machine is up and its agent
/// unregistered, it reads its activation's id and code and registers. A refusal (a used-up or
/// expired activation) leaves it unregistered; it tries again at the next tick, as its loop does.
pub fn run_bootstraps(w: &mut World, now: u64) {
    for (account, region, id, name) in bootstrapping(w) {
        if let Some((activation, code)) = kept_activation(w, &account, &region, &name) {
            let _ = register(w, &activation, &code, &id, now);
        }
    }
}

/// The sandbox's person: for each unused activation whose machine is up, does what the apply's
/// wait line says: reads the id and code from the machine's parameter with their own credentials,
/// and runs the registration on the machine the activation names. Without the parameter (a
/// provider that did not keep the code) there is nothing to register with.
pub fn operate(w: &mut World, now: u64) {
    let due: Vec<(String, String, String)> = w
        .ssm
        .activations
        .values()
        .filter(|a| a.registrations == 0 && now < a.expires_ms)
        .filter_map(|a| {
            let m = machine(w, &a.account, &a.region, &a.default_instance_name)?;
            let (id, code) = kept_activation(w, &a.account, &a.region, &m.name)?;
            (m.up && id == a.id).then(|| (id, code, a.default_instance_name.clone()))
        })
        .collect();
    for (id, code, machine) in due {
        let _ = register(w, &id, &code, &machine, now);
    }
}

/// Whether `script` writes the bootstrap's installer: it carries the marker as text, or in one of
/// the base64 blobs it decodes onto the disk (how recipe and most tools ship a script through Run
/// Command).
fn installs_bootstrap(script: &str) -> bool {
    script.contains(BOOTSTRAP_MARKER)
        || script
            .split(|c: char| c.is_whitespace() || c == '\'' || c == '"')
            .filter(|t| t.len() >= 24)
            .filter_map(decode_base64)
            .any(|bytes| String::from_utf8_lossy(&bytes).contains(BOOTSTRAP_MARKER))
}

/// Standard base64 (with padding), or `None` when `text` is not that.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let body = text.trim_end_matches('=').as_bytes();
    if !text.len().is_multiple_of(4) || text.len() - body.len() > 2 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in body {
        acc = (acc << 6) | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// A command sent to node `node` whose script installs the bootstrap puts it on the machine's disk.
pub fn note_install(w: &mut World, node: &str, script: &str) {
    if !installs_bootstrap(script) {
        return;
    }
    let Some(n) = w.ssm.nodes.get(node).cloned() else {
        return;
    };
    if let Some(ws) = w.workspaces.workspaces.get_mut(&n.workspace_id) {
        ws.bootstrap = true;
    }
    if let Some(b) = w.appstream.builders.get_mut(&n.image_builder) {
        b.bootstrap = true;
    }
}

/// A command in flight on a WorkSpace that stopped or went away (an AUTO_STOP WorkSpace nobody
/// used) is lost: the agent never reports it, and Run Command ends it `TimedOut` when
/// its time is up ("Understanding command statuses": Delivery Timed Out / Execution Timed Out),
/// never `Success`.
pub fn lose_commands(w: &mut World) {
    let gone = |ws: &str| {
        w.workspaces.workspaces.get(ws).is_none_or(|ws| {
            matches!(
                ws.state.as_str(),
                "STOPPING" | "STOPPED" | "TERMINATING" | "TERMINATED"
            )
        })
    };
    let down: Vec<String> = w
        .ssm
        .nodes
        .values()
        .filter(|n| !n.workspace_id.is_empty() && gone(&n.workspace_id))
        .map(|n| n.id.clone())
        .collect();
    if down.is_empty() {
        return;
    }
    for cmd in w.ssm.commands.values_mut() {
        for inv in &mut cmd.invocations {
            let in_flight = matches!(inv.status.as_str(), "Pending" | "InProgress");
            if in_flight && !inv.exec && down.contains(&inv.instance_id) {
                inv.final_status = "TimedOut".into();
                inv.response_code = -1;
                inv.stdout.clear();
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bootstrap_is_seen_as_text_or_in_a_base64_blob() {
        let installer = format!("#!/bin/bash\n# {BOOTSTRAP_MARKER} (v1)\n");
        // "#!/bin/bash\n# recipe-ssm-bootstrap:install (v1)\n", standard base64.
        let blob = "IyEvYmluL2Jhc2gKIyByZWNpcGUtc3NtLWJvb3RzdHJhcDppbnN0YWxsICh2MSkK";
        assert_eq!(decode_base64(blob).as_deref(), Some(installer.as_bytes()));
        assert!(installs_bootstrap(&installer));
        assert!(installs_bootstrap(&format!(
            "echo {blob} | base64 -d > /tmp/b.sh"
        )));
        assert!(!installs_bootstrap(
            "echo aGVsbG8gd29ybGQgaGVsbG8gd29ybGQK | base64 -d"
        ));
        assert!(!installs_bootstrap("systemctl enable recipe-ssm-bootstrap"));
    }
}
