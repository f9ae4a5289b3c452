//! SSM hybrid activations: how a builder that is not an EC2 instance (a WorkSpace, an AppStream image
//! builder) comes under Run Command. One activation per builder, one registration, 24 hours, with
//! `DefaultInstanceName` = the builder's id or name, so that it is found again after a crash
//! (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CreateActivation.html).
//! The agent registers on the machine (`amazon-ssm-agent -register`); the managed node (`mi-…`) is
//! found through its activation, and removed with it.

use std::collections::BTreeMap;
use std::sync::Arc;

use recipe_aws::{AwsError, Context, Poller, Probe, Probed, WaitError};
use recipe_engine::ActionError;
use recipe_model::Os;

/// The activation created for builder `machine` (its `DefaultInstanceName`).
pub async fn activation_of(
    ssm: &aws_sdk_ssm::Client,
    machine: &str,
) -> Result<Option<String>, ActionError> {
    let f = aws_sdk_ssm::types::DescribeActivationsFilter::builder()
        .filter_key(aws_sdk_ssm::types::DescribeActivationsFilterKeys::DefaultInstanceName)
        .filter_values(machine)
        .build();
    let out = ssm
        .describe_activations()
        .filters(f)
        .send()
        .await
        .ctx("ssm", "DescribeActivations")?;
    Ok(out
        .activation_list()
        .iter()
        .find_map(|a| a.activation_id())
        .map(str::to_string))
}

/// The activation for `machine`: an earlier attempt's, or a new one for `role`, tagged `tags`.
pub async fn ensure_activation(
    ssm: &aws_sdk_ssm::Client,
    machine: &str,
    role: &str,
    description: &str,
    tags: &BTreeMap<String, String>,
) -> Result<String, ActionError> {
    if let Some(found) = activation_of(ssm, machine).await? {
        return Ok(found);
    }
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
        .iam_role(role)
        .default_instance_name(machine)
        .description(description)
        .registration_limit(1)
        .set_tags(Some(ssm_tags))
        .send()
        .await
        .ctx("ssm", "CreateActivation")?;
    let id = out
        .activation_id()
        .ok_or_else(|| AwsError::missing("ssm", "CreateActivation", "ActivationId"))?;
    Ok(id.to_string())
}

/// The managed node registered through `activation`.
pub async fn node_of(
    ssm: &aws_sdk_ssm::Client,
    activation: &str,
) -> Result<Option<String>, ActionError> {
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
    Ok(out
        .instance_information_list()
        .iter()
        .find_map(|i| i.instance_id())
        .map(str::to_string))
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

/// Remove the managed node and the activation of builder `machine`.
pub async fn forget(ssm: &aws_sdk_ssm::Client, machine: &str) -> Result<(), ActionError> {
    let Some(activation) = activation_of(ssm, machine).await? else {
        return Ok(());
    };
    if let Some(node) = node_of(ssm, &activation).await? {
        deregister(ssm, &node).await?;
    }
    match ssm
        .delete_activation()
        .activation_id(&activation)
        .send()
        .await
        .ctx("ssm", "DeleteActivation")
    {
        Err(e) if e.is("InvalidActivationId") => Ok(()),
        other => other.map(|_| ()).map_err(Into::into),
    }
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
                .filter(|i| i.ping_status().map(|p| p.as_str()) == Some("Online"))
                .filter_map(|i| Some((i.activation_id()?.to_string(), Probed::Done)))
                .collect())
        })
    });
    poller
        .wait(format!("activation/{region}"), activation, probe)
        .await
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
            "Remove-Item \"$env:ProgramData\\Amazon\\SSM\\registration\" -Force -ErrorAction SilentlyContinue"
        }
    }
}
