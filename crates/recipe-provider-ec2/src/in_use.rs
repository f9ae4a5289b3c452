//! Images still in use: by instances that are not terminated, and by the `$Default` or `$Latest`
//! version of any launch template. The planner keeps them past retention; retire checks again.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::InstanceStateName;
use recipe_aws::Context;
use recipe_engine::ActionError;

use crate::filter;

/// Instance states that hold on to their image.
pub(crate) static LIVE_INSTANCE: [InstanceStateName; 4] = [
    InstanceStateName::Pending,
    InstanceStateName::Running,
    InstanceStateName::Stopping,
    InstanceStateName::Stopped,
];

/// Which of `images` (in the client's region) are in use, and by what: instances that are not
/// terminated, and the `$Default` or `$Latest` version of any launch template.
pub async fn images_in_use(
    client: &aws_sdk_ec2::Client,
    images: &[String],
) -> Result<BTreeMap<String, Vec<String>>, ActionError> {
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if images.is_empty() {
        return Ok(users);
    }
    for chunk in images.chunks(200) {
        let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let mut token = None;
        loop {
            let out = client
                .describe_instances()
                .filters(filter("image-id", &ids))
                .filters(filter("instance-state-name", &LIVE_INSTANCE))
                .set_next_token(token)
                .send()
                .await
                .ctx("ec2", "DescribeInstances")?;
            for i in out.reservations().iter().flat_map(|r| r.instances()) {
                if let (Some(img), Some(id)) = (i.image_id(), i.instance_id()) {
                    users
                        .entry(img.to_string())
                        .or_default()
                        .push(format!("instance {id}"));
                }
            }
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    let mut token = None;
    loop {
        let out = client
            .describe_launch_template_versions()
            .versions("$Default")
            .versions("$Latest")
            .set_next_token(token)
            .send()
            .await
            .ctx("ec2", "DescribeLaunchTemplateVersions")?;
        for v in out.launch_template_versions() {
            let Some(img) = v.launch_template_data().and_then(|d| d.image_id()) else {
                continue;
            };
            if images.iter().any(|x| x == img) {
                let who = format!(
                    "launch template {} (version {})",
                    v.launch_template_name().unwrap_or("?"),
                    v.version_number().unwrap_or_default()
                );
                let list = users.entry(img.to_string()).or_default();
                if !list.contains(&who) {
                    list.push(who);
                }
            }
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(users)
}
