//! SSM over awsJson1_1: parameters (with the public AMI aliases), and Run Command.
//!
//! SendCommand records the command and its targets; each invocation goes Pending → InProgress →
//! Success after `ssm-command-ms`, unless a scripted outcome matches (see [`CommandScript`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ApiError;
use crate::clock::{Durations, rfc3339};
use crate::ec2::Ec2;
use crate::protocol::{Call, Output};
use crate::world::World;

mod parameters;

use parameters::*;

/// A parameter.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Parameter {
    pub name: String,
    pub value: String,
    pub kind: String,
    pub data_type: String,
    pub version: u64,
    pub modified_ms: u64,
}

/// One instance's run of a command.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Invocation {
    pub instance_id: String,
    /// Pending, InProgress, Success, Failed, TimedOut, Cancelled.
    pub status: String,
    pub done_at: u64,
    pub final_status: String,
    pub response_code: i64,
    pub stdout: String,
    pub stderr: String,
    /// It runs on a sandbox machine: the machine worker ends it, not the clock.
    pub exec: bool,
}

/// A command.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Command {
    pub id: String,
    pub account: String,
    pub region: String,
    pub document: String,
    pub parameters: BTreeMap<String, Vec<String>>,
    pub comment: String,
    pub requested_ms: u64,
    pub timeout_secs: u64,
    pub invocations: Vec<Invocation>,
}

/// A scripted outcome: the first command whose commands contain `contains` ends with this status
/// and output (once, unless `repeat`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct CommandScript {
    /// Matched against the joined `commands` parameter.
    pub contains: String,
    /// `Failed`, `TimedOut` or `Success`.
    pub status: String,
    /// Standard output to report.
    pub stdout: String,
    /// Standard error to report.
    pub stderr: String,
    /// The exit code.
    pub response_code: i64,
    /// Keep matching after the first use.
    pub repeat: bool,
}

/// SSM's state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Ssm {
    /// `account/region/name` → parameter (public parameters use account `aws`).
    pub parameters: BTreeMap<String, Parameter>,
    pub commands: BTreeMap<String, Command>,
    pub scripts: Vec<CommandScript>,
    /// Hybrid activations by id (`ssm_hybrid.rs`).
    pub activations: BTreeMap<String, crate::ssm_hybrid::Activation>,
    /// Managed nodes (`mi-…`) by id.
    pub nodes: BTreeMap<String, crate::ssm_hybrid::ManagedNode>,
}

/// Output of an invocation is truncated like SSM does.
const MAX_OUTPUT: usize = 24_000;

impl Ssm {
    /// Record a public parameter (the AMI aliases under /aws/service/).
    pub fn put_public(&mut self, region: &str, name: &str, value: &str, now: u64) {
        self.parameters.insert(
            format!("aws/{region}/{name}"),
            Parameter {
                name: name.into(),
                value: value.into(),
                kind: "String".into(),
                data_type: "aws:ec2:image".into(),
                version: 1,
                modified_ms: now,
            },
        );
    }

    /// Advance invocations.
    pub fn tick(&mut self, now: u64, _d: &Durations, _ec2: &Ec2) {
        for cmd in self.commands.values_mut() {
            for inv in &mut cmd.invocations {
                if inv.exec {
                    inv.status = "InProgress".into();
                } else if matches!(inv.status.as_str(), "Pending" | "InProgress") {
                    inv.status = if now >= inv.done_at {
                        inv.final_status.clone()
                    } else {
                        "InProgress".into()
                    };
                }
            }
        }
    }

    /// A parameter's value (RunInstances' `resolve:ssm:` image ids).
    pub fn resolve(&self, account: &str, region: &str, name: &str) -> Option<String> {
        self.get(account, region, name).map(|p| p.value.clone())
    }

    fn get(&self, account: &str, region: &str, name: &str) -> Option<&Parameter> {
        let key = |owner: &str| format!("{owner}/{region}/{name}");
        self.parameters
            .get(&key(account))
            .or_else(|| self.parameters.get(&key("aws")))
    }
}

fn s<'a>(body: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    body.get(name).and_then(Value::as_str).filter(|v| !v.is_empty()).ok_or_else(|| {
        ApiError::client("ValidationException", format!("1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"))
    })
}

fn ts(ms: u64) -> Value {
    json!({ "$ts": ms as f64 / 1000.0 })
}

fn param_json(p: &Parameter, region: &str, account: &str) -> Value {
    json!({
        "Name": p.name,
        "Type": p.kind,
        "Value": p.value,
        "Version": p.version,
        "LastModifiedDate": ts(p.modified_ms),
        "ARN": format!("arn:aws:ssm:{region}:{account}:parameter{}", if p.name.starts_with('/') { p.name.clone() } else { format!("/{}", p.name) }),
        "DataType": p.data_type,
    })
}

/// Whether an instance is online for Run Command: running, with an instance profile, in a subnet
/// that reaches Systems Manager (`ec2_net.rs`), for a moment.
fn online(w: &World, c: &Call, id: &str, now: u64, d: &Durations) -> bool {
    w.ec2.instances.get(id).is_some_and(|i| {
        i.owner == c.account
            && i.region == c.region
            && i.state == "running"
            && !i.instance_profile.is_empty()
            && i.running_since.is_some_and(|t| now >= t + d.ssm_online_ms)
            && crate::ec2_net::reaches_ssm(w, &i.subnet_id, None)
    })
}

/// The values of the DescribeInstanceInformation filters named `keys` (`Filters` or the older
/// `InstanceInformationFilterList`).
fn info_filter(b: &Value, keys: &[&str]) -> Vec<String> {
    b.get("Filters")
        .or_else(|| b.get("InstanceInformationFilterList"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|f| {
            f.get("Key")
                .and_then(Value::as_str)
                .is_some_and(|k| keys.contains(&k))
        })
        .flat_map(|f| {
            f.get("Values")
                .or_else(|| f.get("valueSet"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// A SecureString's value as GetParameter returns it without decryption: a ciphertext-like blob,
/// never the value (aws-sim's blob is a digest; AWS's is the KMS ciphertext).
fn sealed(value: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(value.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("AQICAHsealed{hex}")
}

/// Handle one SSM call.
pub fn handle(w: &mut World, r: &crate::protocol::Req<'_>) -> Result<Output, ApiError> {
    let (c, now, d) = (r.call, r.now, r.durations);
    let out = match c.op.as_str() {
        "GetParameter" => get_parameter(w, c)?,
        "GetParameters" => get_parameters(w, c)?,
        "PutParameter" => put_parameter(w, c, now)?,
        "DeleteParameter" => delete_parameter(w, c)?,
        "DescribeInstanceInformation" => describe_instance_information(w, c, now, d)?,
        "DescribeParameters" => describe_parameters(w, c)?,
        "CreateActivation" => crate::ssm_hybrid::create_activation(w, c, now)?,
        "DescribeActivations" => crate::ssm_hybrid::describe_activations(w, c, now),
        "DeleteActivation" => crate::ssm_hybrid::delete_activation(w, c)?,
        "DeregisterManagedInstance" => crate::ssm_hybrid::deregister(w, c)?,
        "SendCommand" => send_command(w, c, now, d)?,
        "GetCommandInvocation" => get_command_invocation(w, c)?,
        "ListCommandInvocations" => list_command_invocations(w, c)?,
        other => return Err(ApiError::unsupported("ssm", other)),
    };
    Ok(Output::Value(out))
}

fn describe_instance_information(
    w: &World,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<Value, ApiError> {
    let b = &c.body;
    let wanted = info_filter(b, &["InstanceIds", "instanceIds"]);
    let activations = info_filter(b, &["ActivationIds", "activationIds"]);
    let mut list: Vec<Value> = if activations.is_empty() {
        w.ec2
            .instances
            .values()
            .filter(|i| wanted.is_empty() || wanted.contains(&i.id))
            .filter(|i| online(w, c, &i.id, now, d))
            .map(|i| {
                json!({
                    "InstanceId": i.id,
                    "PingStatus": "Online",
                    "LastPingDateTime": ts(now),
                    "AgentVersion": "3.3.0.0",
                    "IsLatestVersion": true,
                    "PlatformType": if i.platform == "Windows" { "Windows" } else { "Linux" },
                    "ResourceType": "EC2Instance",
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    list.extend(crate::ssm_hybrid::information(
        w,
        c,
        &wanted,
        &activations,
        now,
        d,
    ));
    Ok(json!({ "InstanceInformationList": list }))
}

fn get_command_invocation(w: &World, c: &Call) -> Result<Value, ApiError> {
    let b = &c.body;
    let id = s(b, "CommandId")?;
    let instance = s(b, "InstanceId")?;
    let cmd = w
        .ssm
        .commands
        .get(id)
        .filter(|x| x.account == c.account && x.region == c.region);
    let inv = cmd.and_then(|x| x.invocations.iter().find(|i| i.instance_id == instance));
    let (Some(cmd), Some(inv)) = (cmd, inv) else {
        return Err(ApiError::client(
            "InvocationDoesNotExist",
            "An error occurred (InvocationDoesNotExist)",
        ));
    };
    let finished = !matches!(inv.status.as_str(), "Pending" | "InProgress");
    Ok(json!({
        "CommandId": cmd.id,
        "InstanceId": inv.instance_id,
        "DocumentName": cmd.document,
        "Comment": cmd.comment,
        "Status": inv.status,
        "StatusDetails": inv.status,
        "ResponseCode": if finished { inv.response_code } else { -1 },
        "ExecutionStartDateTime": rfc3339(cmd.requested_ms),
        "ExecutionEndDateTime": if finished { rfc3339(inv.done_at) } else { String::new() },
        "StandardOutputContent": if finished { inv.stdout.as_str() } else { "" },
        "StandardErrorContent": if finished { inv.stderr.as_str() } else { "" },
    }))
}

fn list_command_invocations(w: &World, c: &Call) -> Result<Value, ApiError> {
    let b = &c.body;
    let id = b.get("CommandId").and_then(Value::as_str);
    let instance = b.get("InstanceId").and_then(Value::as_str);
    let details = b.get("Details").and_then(Value::as_bool).unwrap_or(false);
    let mut list = Vec::new();
    for cmd in w
        .ssm
        .commands
        .values()
        .filter(|x| x.account == c.account && x.region == c.region)
    {
        if id.is_some_and(|i| i != cmd.id) {
            continue;
        }
        for inv in cmd
            .invocations
            .iter()
            .filter(|i| instance.is_none_or(|want| want == i.instance_id))
        {
            // CommandInvocation carries the command's Comment:
            // https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CommandInvocation.html
            let mut v = json!({
                "CommandId": cmd.id,
                "InstanceId": inv.instance_id,
                "Comment": cmd.comment,
                "DocumentName": cmd.document,
                "Status": inv.status,
                "StatusDetails": inv.status,
                "RequestedDateTime": ts(cmd.requested_ms),
            });
            if details {
                v["CommandPlugins"] = json!([{ "Name": "aws:runShellScript", "Status": inv.status, "ResponseCode": inv.response_code, "Output": inv.stdout }]);
            }
            list.push(v);
        }
    }
    Ok(json!({ "CommandInvocations": list }))
}

/// The Image Assistant calls of a script sent to a node on an AppStream image builder, run in order
/// until one fails (`None` when the node is not on a builder or the script makes no call).
/// An image the Image Assistant made on a builder with a sandbox machine waits for its artifact.
fn captured(w: &mut World, builder: &str, flags: &BTreeMap<String, Vec<String>>) {
    let Some(b) = w.appstream.builders.get(builder) else {
        return;
    };
    let name = flags
        .get("name")
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_default();
    let image = crate::members::scoped(&b.account, &b.region, &name);
    crate::ssm_windows::capture(w, builder, &image);
    crate::machine::capture_builder(w, builder, &image);
}

fn image_assistant(
    w: &mut World,
    node: &str,
    script: &str,
    now: u64,
    d: &Durations,
) -> Option<crate::appstream::assistant::Outcome> {
    use crate::appstream::assistant;
    let builder = w.ssm.nodes.get(node)?.image_builder.clone();
    let calls = assistant::calls(script);
    if builder.is_empty() || calls.is_empty() {
        return None;
    }
    let mut outputs = Vec::new();
    let mut last = None;
    for (op, flags) in calls {
        let o = assistant::run(&mut w.appstream, &builder, &op, &flags, now, d);
        outputs.push(o.stdout.clone());
        let failed = o.code != 0;
        if !failed && op == "create-image" && !flags.contains_key("dry-run") {
            captured(w, &builder, &flags);
        }
        last = Some(o);
        if failed {
            break;
        }
    }
    last.map(|mut o| {
        o.stdout = outputs.join("\n");
        o
    })
}

/// The `executionTimeout` parameter of AWS-RunShellScript and AWS-RunPowerShellScript (default
/// 3600 seconds).
fn execution_timeout(parameters: &BTreeMap<String, Vec<String>>) -> u64 {
    parameters
        .get("executionTimeout")
        .and_then(|v| v.first())
        .and_then(|v| v.parse().ok())
        .unwrap_or(3600)
}

/// Invocations on sandbox machines really run: the machine worker runs the script and ends them
/// (`machine.rs`), with AWS-RunShellScript's `executionTimeout` (default 3600 seconds).
fn queue_on_machines(
    w: &mut World,
    command: &str,
    invocations: &mut [Invocation],
    assisted: &BTreeMap<String, crate::appstream::assistant::Outcome>,
    parameters: &BTreeMap<String, Vec<String>>,
    script: &str,
) {
    let timeout_secs = execution_timeout(parameters);
    for inv in invocations.iter_mut() {
        if assisted.contains_key(&inv.instance_id) {
            continue;
        }
        let Some(machine) = crate::machine::machine_of(w, &inv.instance_id) else {
            continue;
        };
        inv.exec = true;
        w.jobs.push(crate::machine::Job::Run {
            command: command.into(),
            instance: machine,
            target: inv.instance_id.clone(),
            script: script.into(),
            timeout_secs,
        });
    }
}

/// SendCommand: one invocation per instance, each with the outcome the node gives the script (a
/// scripted outcome, the Windows model, the Image Assistant, or a sandbox machine that runs it).
fn send_command(w: &mut World, c: &Call, now: u64, d: &Durations) -> Result<Value, ApiError> {
    let b = &c.body;
    let (document, instances) = command_target(w, c, now, d)?;
    let parameters = command_parameters(b);
    let joined = parameters
        .get("commands")
        .map(|c| c.join("\n"))
        .unwrap_or_default();
    for i in &instances {
        crate::ssm_hybrid::note_install(w, i, &joined);
    }
    let outcome = scripted_outcome(w, &joined);
    let id = command_id(w);
    let powershell = document == "AWS-RunPowerShellScript" && outcome.is_none();
    let on_windows: BTreeMap<String, crate::windows::Ran> = (instances.iter())
        .filter(|_| powershell)
        .filter_map(|i| {
            let ran = crate::ssm_windows::run(w, &c.account, &c.region, i, &joined)?;
            crate::ssm_windows::settle(w, i, &ran, now, d);
            Some((i.clone(), ran))
        })
        .collect();
    let assisted: BTreeMap<String, crate::appstream::assistant::Outcome> = (instances.iter())
        .filter(|i| on_windows.get(*i).is_none_or(|r| r.status == "Success"))
        .filter_map(|i| Some((i.clone(), image_assistant(w, i, &joined, now, d)?)))
        .collect();
    let ran = Ran {
        outcome: outcome.as_ref(),
        on_windows: &on_windows,
        assisted: &assisted,
    };
    let timeout = execution_timeout(&parameters);
    let mut invocations: Vec<Invocation> = (instances.iter())
        .map(|i| ran.invocation(i, now, d, timeout))
        .collect();
    let timeout_secs = b
        .get("TimeoutSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(3600);
    if outcome.is_none() {
        queue_on_machines(w, &id, &mut invocations, &assisted, &parameters, &joined);
    }
    let comment = b.get("Comment").and_then(Value::as_str).unwrap_or_default();
    let cmd = Command {
        id: id.clone(),
        account: c.account.clone(),
        region: c.region.clone(),
        document: document.clone(),
        parameters: parameters.clone(),
        comment: comment.into(),
        requested_ms: now,
        timeout_secs,
        invocations,
    };
    w.ssm.commands.insert(id.clone(), cmd);
    Ok(json!({
        "Command": {
            "CommandId": id,
            "DocumentName": document,
            "Parameters": parameters,
            "InstanceIds": instances,
            "Status": "Pending",
            "RequestedDateTime": ts(now),
            "TimeoutSeconds": timeout_secs,
        }
    }))
}

/// The document and the instances of a SendCommand, checked: a document aws-sim runs, at least one
/// instance, every one online (API_SendCommand: `InvalidInstanceId` otherwise).
fn command_target(
    w: &World,
    c: &Call,
    now: u64,
    d: &Durations,
) -> Result<(String, Vec<String>), ApiError> {
    let b = &c.body;
    let document = s(b, "DocumentName")?.to_string();
    if !matches!(
        document.as_str(),
        "AWS-RunShellScript" | "AWS-RunPowerShellScript"
    ) {
        return Err(ApiError::client(
            "InvalidDocument",
            format!("aws-sim runs AWS-RunShellScript and AWS-RunPowerShellScript, not {document}"),
        ));
    }
    let instances = strings(b.get("InstanceIds"));
    if instances.is_empty() {
        return Err(ApiError::client(
            "ValidationException",
            "InstanceIds must not be empty",
        ));
    }
    for i in &instances {
        if !online(w, c, i, now, d) && !crate::ssm_hybrid::online(w, c, i, now, d) {
            return Err(ApiError::client(
                "InvalidInstanceId",
                format!(
                    "Instance {i} is not in a valid state for account {}",
                    c.account
                ),
            ));
        }
    }
    Ok((document, instances))
}

/// The strings of a JSON array (none when it is not one).
fn strings(v: Option<&Value>) -> Vec<String> {
    (v.and_then(Value::as_array).into_iter().flatten())
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// A SendCommand's `Parameters`: name to values.
fn command_parameters(b: &Value) -> BTreeMap<String, Vec<String>> {
    (b.get("Parameters")
        .and_then(Value::as_object)
        .into_iter()
        .flatten())
    .map(|(k, v)| (k.clone(), strings(Some(v))))
    .collect()
}

/// The scripted outcome (`POST /_sim/ssm/scripts`) whose text the command contains, used up unless
/// it repeats.
fn scripted_outcome(w: &mut World, joined: &str) -> Option<CommandScript> {
    let i = (w.ssm.scripts.iter()).position(|sc| joined.contains(&sc.contains))?;
    let found = w.ssm.scripts[i].clone();
    if !found.repeat {
        w.ssm.scripts.remove(i);
    }
    Some(found)
}

/// A new command id, shaped as SSM's (a UUID).
fn command_id(w: &mut World) -> String {
    let raw = w.id("", 32);
    format!(
        "{}-{}-{}-{}-{}",
        &raw[0..8],
        &raw[8..12],
        &raw[12..16],
        &raw[16..20],
        &raw[20..32]
    )
}

/// What the nodes of one command made of it, before any sandbox machine runs it.
struct Ran<'a> {
    outcome: Option<&'a CommandScript>,
    on_windows: &'a BTreeMap<String, crate::windows::Ran>,
    assisted: &'a BTreeMap<String, crate::appstream::assistant::Outcome>,
}

impl Ran<'_> {
    /// The invocation on instance `i`: pending until `done_at`, then what the node made of it.
    fn invocation(&self, i: &str, now: u64, d: &Durations, timeout_secs: u64) -> Invocation {
        let (status, code, stdout, stderr) = self.result(i);
        // A command whose machine went down or rebooted behind the agent's back never reports:
        // it ends at its execution timeout.
        let never = (self.on_windows.get(i)).is_some_and(|r| r.status == "InProgress");
        let done_at = if never {
            now + timeout_secs * 1000
        } else {
            now + d.ssm_command_ms
        };
        Invocation {
            instance_id: i.to_string(),
            status: "Pending".into(),
            done_at,
            final_status: status,
            response_code: code,
            stdout: stdout.chars().take(MAX_OUTPUT).collect(),
            stderr: stderr.chars().take(MAX_OUTPUT).collect(),
            exec: false,
        }
    }

    /// Status, exit code, output and error output on instance `i`.
    fn result(&self, i: &str) -> (String, i64, String, String) {
        let windows = (self.on_windows.get(i))
            .filter(|r| r.status != "Success" || !self.assisted.contains_key(i));
        match (self.assisted.get(i), self.outcome) {
            _ if let Some(r) = windows => {
                let status = if r.status == "InProgress" {
                    "TimedOut"
                } else {
                    r.status
                };
                let (out, err) = (r.stdout.clone(), r.stderr.clone());
                (status.to_string(), r.code, out, err)
            }
            (Some(a), _) => (
                a.status.to_string(),
                a.code,
                a.stdout.clone(),
                String::new(),
            ),
            (None, Some(o)) => (
                o.status.clone(),
                o.response_code,
                o.stdout.clone(),
                o.stderr.clone(),
            ),
            (None, None) => ("Success".to_string(), 0, String::new(), String::new()),
        }
    }
}
