//! SSM hybrid activations: how a builder that is not an EC2 instance (a WorkSpace, an AppStream image
//! builder) comes under Run Command. One activation per builder, one registration, 24 hours, with
//! `DefaultInstanceName` = the builder's id or name, so that it is found again after a crash
//! (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CreateActivation.html).
//! The agent registers on the machine (`amazon-ssm-agent -register`); the managed node (`mi-…`) is
//! found through its activation, and removed with it.

use std::collections::BTreeMap;
use std::sync::Arc;

use recipe_aws::{AwsError, Context, Poller, Probe, Probed, WaitError};
use recipe_engine::{ActionError, ActionScope};
use recipe_model::Os;

/// The tag on an activation that names the SSM parameter holding its id and code.
pub const PARAMETER_TAG: &str = "recipe:activation-parameter";

/// The SecureString parameter that holds the id and code (`<id> <code>`) of the activation for
/// the machine that knows itself as `name` (a WorkSpace's computer name, an image builder's name).
/// The recipe bootstrap on the machine reads it, and so can a person with their own credentials.
pub fn parameter_name(name: &str) -> String {
    format!("/recipe/activation/{name}")
}

/// An activation found again: its id and the parameter that holds its code, if it was recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The activation id.
    pub id: String,
    /// The parameter named by its [`PARAMETER_TAG`].
    pub parameter: Option<String>,
}

/// The activation created for builder `machine` (its `DefaultInstanceName`).
pub async fn activation_of(
    ssm: &aws_sdk_ssm::Client,
    machine: &str,
) -> Result<Option<String>, ActionError> {
    Ok(find_activation(ssm, machine).await?.map(|f| f.id))
}

/// The activation created for builder `machine`, with the parameter that holds its code.
pub async fn find_activation(
    ssm: &aws_sdk_ssm::Client,
    machine: &str,
) -> Result<Option<Found>, ActionError> {
    let f = aws_sdk_ssm::types::DescribeActivationsFilter::builder()
        .filter_key(aws_sdk_ssm::types::DescribeActivationsFilterKeys::DefaultInstanceName)
        .filter_values(machine)
        .build();
    let mut pages = ssm
        .describe_activations()
        .filters(f)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.ctx("ssm", "DescribeActivations")?;
        if let Some(a) = page.activation_list().first() {
            let parameter = a
                .tags()
                .iter()
                .find(|t| t.key() == PARAMETER_TAG)
                .map(|t| t.value().to_string());
            return Ok(a.activation_id().map(|id| Found {
                id: id.to_string(),
                parameter,
            }));
        }
    }
    Ok(None)
}

/// What a new activation is for.
pub struct ActivationFor<'a> {
    /// The builder it is found again by (`DefaultInstanceName`): a WorkSpace id, a builder name.
    pub machine: &'a str,
    /// The name the machine knows itself by, which names the parameter ([`parameter_name`]).
    pub name: &'a str,
    /// The IAM service role of the managed node.
    pub role: &'a str,
    /// Its description.
    pub description: &'a str,
    /// Its tags (the build's).
    pub tags: &'a BTreeMap<String, String>,
}

/// The activation for a builder: an earlier attempt's whose code was kept, or a new one whose id
/// and code go into a SecureString parameter ([`parameter_name`]), the only place the code is ever
/// written. An earlier activation whose code was lost (a crash between the two calls) is replaced:
/// AWS returns the code once, at creation.
pub async fn ensure_activation(
    ssm: &aws_sdk_ssm::Client,
    a: &ActivationFor<'_>,
) -> Result<String, ActionError> {
    if let Some(found) = find_activation(ssm, a.machine).await? {
        if let Some(p) = &found.parameter
            && parameter_exists(ssm, p).await?
        {
            return Ok(found.id);
        }
        delete_activation(ssm, &found.id).await?;
    }
    let parameter = parameter_name(a.name);
    let mut tags = a.tags.clone();
    tags.insert(PARAMETER_TAG.to_string(), parameter.clone());
    let ssm_tags: Vec<_> = tags
        .iter()
        .filter_map(|(k, v)| {
            aws_sdk_ssm::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .ok()
        })
        .collect();
    let out = ssm
        .create_activation()
        .iam_role(a.role)
        .default_instance_name(a.machine)
        .description(a.description)
        .registration_limit(1)
        .set_tags(Some(ssm_tags))
        .send()
        .await
        .ctx("ssm", "CreateActivation")?;
    let id = out
        .activation_id()
        .ok_or_else(|| AwsError::missing("ssm", "CreateActivation", "ActivationId"))?;
    let code = out
        .activation_code()
        .ok_or_else(|| AwsError::missing("ssm", "CreateActivation", "ActivationCode"))?;
    keep_code(ssm, &parameter, id, code, a.machine).await?;
    Ok(id.to_string())
}

/// Write `<id> <code>` to the SecureString `parameter` (overwriting what a crashed attempt left).
async fn keep_code(
    ssm: &aws_sdk_ssm::Client,
    parameter: &str,
    id: &str,
    code: &str,
    machine: &str,
) -> Result<(), ActionError> {
    ssm.put_parameter()
        .name(parameter)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(format!("{id} {code}"))
        .description(format!(
            "recipe: the SSM activation id and code for builder {machine}; removed with the activation"
        ))
        .overwrite(true)
        .send()
        .await
        .ctx("ssm", "PutParameter")?;
    Ok(())
}

/// Whether parameter `name` exists (its value is not read).
async fn parameter_exists(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<bool, ActionError> {
    let f = aws_sdk_ssm::types::ParameterStringFilter::builder()
        .key("Name")
        .option("Equals")
        .values(name)
        .build()
        .map_err(|e| ActionError::fatal(e.to_string()))?;
    let out = ssm
        .describe_parameters()
        .parameter_filters(f)
        .send()
        .await
        .ctx("ssm", "DescribeParameters")?;
    Ok(!out.parameters().is_empty())
}

/// Delete parameter `name` (one already gone counts as done).
async fn delete_parameter(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<(), ActionError> {
    match ssm
        .delete_parameter()
        .name(name)
        .send()
        .await
        .ctx("ssm", "DeleteParameter")
    {
        Err(e) if e.is("ParameterNotFound") => Ok(()),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// Delete activation `id` (one already gone counts as done).
async fn delete_activation(ssm: &aws_sdk_ssm::Client, id: &str) -> Result<(), ActionError> {
    match ssm
        .delete_activation()
        .activation_id(id)
        .send()
        .await
        .ctx("ssm", "DeleteActivation")
    {
        Err(e) if e.is("InvalidActivationId") => Ok(()),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// The managed node registered through `activation`.
pub async fn node_of(
    ssm: &aws_sdk_ssm::Client,
    activation: &str,
) -> Result<Option<String>, ActionError> {
    Ok(node_info(ssm, activation).await?.map(|n| n.id))
}

/// A managed node as its agent reports it (DescribeInstanceInformation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The `mi-` id.
    pub id: String,
    /// `ComputerName`: the name the machine knows itself by.
    pub computer_name: String,
    /// `IPAddress`: the machine's private address.
    pub ip_address: String,
}

/// The managed node registered through `activation`, as its agent reports it.
pub async fn node_info(
    ssm: &aws_sdk_ssm::Client,
    activation: &str,
) -> Result<Option<NodeInfo>, ActionError> {
    let f = aws_sdk_ssm::types::InstanceInformationStringFilter::builder()
        .key("ActivationIds")
        .values(activation)
        .build()
        .map_err(|e| ActionError::fatal(e.to_string()))?;
    let out = ssm
        .describe_instance_information()
        .filters(f)
        .send()
        .await
        .ctx("ssm", "DescribeInstanceInformation")?;
    Ok(out.instance_information_list().iter().find_map(|i| {
        Some(NodeInfo {
            id: i.instance_id()?.to_string(),
            computer_name: i.computer_name().unwrap_or_default().to_string(),
            ip_address: i.ip_address().unwrap_or_default().to_string(),
        })
    }))
}

/// Deregister a managed node (one already gone counts as done).
pub async fn deregister(ssm: &aws_sdk_ssm::Client, node: &str) -> Result<(), ActionError> {
    match ssm
        .deregister_managed_instance()
        .instance_id(node)
        .send()
        .await
        .ctx("ssm", "DeregisterManagedInstance")
    {
        Err(e) if e.is("InvalidInstanceId") => Ok(()),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// Remove the managed node, the activation of builder `machine` and the parameter with its code.
pub async fn forget(ssm: &aws_sdk_ssm::Client, machine: &str) -> Result<(), ActionError> {
    let Some(found) = find_activation(ssm, machine).await? else {
        return Ok(());
    };
    if let Some(node) = node_of(ssm, &found.id).await? {
        deregister(ssm, &node).await?;
    }
    if let Some(p) = &found.parameter {
        delete_parameter(ssm, p).await?;
    }
    delete_activation(ssm, &found.id).await
}

/// Wait until a managed node registered through `activation` reports Online.
pub async fn wait_registered(
    poller: &Arc<Poller>,
    region: &str,
    ssm: aws_sdk_ssm::Client,
    activation: &str,
) -> Result<(), WaitError> {
    let probe: Probe = Arc::new(move |ids: Vec<String>| {
        let ssm = ssm.clone();
        Box::pin(async move {
            let f = aws_sdk_ssm::types::InstanceInformationStringFilter::builder()
                .key("ActivationIds")
                .set_values(Some(ids.clone()))
                .build()
                .map_err(|e| e.to_string())?;
            let out = ssm
                .describe_instance_information()
                .filters(f)
                .send()
                .await
                .ctx("ssm", "DescribeInstanceInformation")?;
            Ok(out
                .instance_information_list()
                .iter()
                .filter(|i| crate::poll::online(i))
                .filter_map(|i| Some((i.activation_id()?.to_string(), Probed::Done)))
                .collect())
        })
    });
    poller
        .wait(format!("activation/{region}"), activation, probe)
        .await
}

/// Say what the action waits on ([`registration_wait`]: the agent on `builder`, known to itself as
/// `machine`, registering with `activation`; `doc` tells how it gets there), then wait on the shared
/// poller until it has registered.
pub async fn await_registration(
    s: &ActionScope<'_>,
    ssm: &aws_sdk_ssm::Client,
    nodes: &crate::Nodes,
    builder: &str,
    machine: &str,
    activation: &str,
    doc: &str,
) -> Result<(), ActionError> {
    let (home, os) = (&s.home, s.r.recipe.os.value);
    let parameter = parameter_name(machine);
    s.waiting(registration_wait(
        builder, activation, &parameter, home, os, doc,
    ));
    wait_registered(&nodes.poller, home, ssm.clone(), activation).await?;
    Ok(())
}

/// What the apply waits on while the agent on `builder` registers with `activation`: both routes,
/// the bootstrap and a person's, with the commands for the person. The code itself is never shown:
/// the person reads it from the parameter with their own credentials.
pub fn registration_wait(
    builder: &str,
    activation: &str,
    parameter: &str,
    region: &str,
    os: Os,
    doc: &str,
) -> String {
    let register = match os {
        Os::Linux => format!(
            "sudo amazon-ssm-agent -register -y -id {activation} -code CODE -region {region} && sudo systemctl restart amazon-ssm-agent"
        ),
        Os::Windows => format!(
            "& \"$env:ProgramFiles\\Amazon\\SSM\\amazon-ssm-agent.exe\" -register -y -id {activation} -code CODE -region {region}; Restart-Service AmazonSSMAgent"
        ),
    };
    format!(
        "the SSM agent on {builder} to register with activation {activation}. The recipe bootstrap in its base image does this by itself ({doc}). Otherwise a person does: `aws ssm get-parameter --name {parameter} --with-decryption --region {region} --query Parameter.Value --output text` prints the activation id and CODE; on the builder run `{register}`"
    )
}

/// Stop the agent and remove its hybrid registration a few seconds after this command has reported,
/// so that the image carries no registration (each machine made from it would share the `mi-` id).
pub fn forget_registration(os: Os) -> &'static str {
    match os {
        Os::Linux => {
            "nohup sh -c 'sleep 5; systemctl stop amazon-ssm-agent; rm -rf /var/lib/amazon/ssm/registration /var/lib/amazon/ssm/Vault/Store/RegistrationKey /var/lib/amazon/ssm/mi-*' >/dev/null 2>&1 &"
        }
        Os::Windows => {
            "Start-Process powershell -WindowStyle Hidden -ArgumentList '-Command', 'Start-Sleep 5; Stop-Service AmazonSSMAgent -Force; Remove-Item \"$env:ProgramData\\Amazon\\SSM\\registration\",\"$env:ProgramData\\Amazon\\SSM\\InstanceData\" -Recurse -Force -ErrorAction SilentlyContinue'"
        }
    }
}

/// Remove the hybrid registration from disk at once, leaving the agent running: it keeps its
/// credentials in memory long enough to report the command this runs in, and the disk (so an image
/// made from it) no longer holds the registration or its key.
pub fn remove_registration_now(os: Os) -> &'static str {
    match os {
        Os::Linux => {
            "rm -rf /var/lib/amazon/ssm/registration /var/lib/amazon/ssm/Vault/Store/RegistrationKey"
        }
        Os::Windows => {
            // The Windows agent keeps its registration (and its key) under InstanceData (the
            // agent's constants for Windows: `%ProgramData%\Amazon\SSM\InstanceData\`).
            "Remove-Item \"$env:ProgramData\\Amazon\\SSM\\InstanceData\" -Recurse -Force -ErrorAction SilentlyContinue"
        }
    }
}
