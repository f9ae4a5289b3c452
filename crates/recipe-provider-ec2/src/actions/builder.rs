//! The temporary builder: launched from the base (IMDSv2 required, tagged with the recipe and build,
//! an idempotent client token), terminated once the image is captured.

use aws_sdk_ec2::types::{
    HttpTokensState, IamInstanceProfileSpecification, InstanceMetadataEndpointState,
    InstanceMetadataOptionsRequest, InstanceType, ResourceType, TagSpecification,
};
use recipe_aws::{AwsError, Context};
use recipe_engine::{ActionError, RecipeOutputs};

use super::Act;
use crate::tag_list;

impl Act<'_> {
    pub(super) async fn launch_builder(&self) -> Result<RecipeOutputs, ActionError> {
        let base = self
            .inputs
            .base(self.name)
            .ok_or_else(|| ActionError::fatal("no resolved base"))?;
        let v = self.values();
        let b = &self.r.recipe.builder;
        let instance_type = b
            .instance_type
            .as_ref()
            .map_or(crate::DEFAULT_INSTANCE_TYPE, |t| t.value.as_str());
        let profile = b
            .instance_profile
            .as_ref()
            .map_or("recipe-builder", |p| p.value.as_str());
        let tags = recipe_aws::tags::builder_tags(self.name, &v.build_id);
        let mut req = self
            .ec2
            .run_instances()
            .image_id(base)
            .instance_type(InstanceType::from(instance_type))
            .min_count(1)
            .max_count(1)
            .client_token(format!("{}-builder", v.build_id))
            .metadata_options(
                InstanceMetadataOptionsRequest::builder()
                    .http_tokens(HttpTokensState::Required)
                    .http_endpoint(InstanceMetadataEndpointState::Enabled)
                    .build(),
            )
            .iam_instance_profile(
                IamInstanceProfileSpecification::builder()
                    .name(profile)
                    .build(),
            )
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .set_tags(Some(tag_list(&tags)))
                    .build(),
            );
        if let Some(s) = &b.subnet_id {
            req = req.subnet_id(&s.value);
        }
        for g in &b.security_group_ids {
            req = req.security_group_ids(&g.value);
        }
        let launched = self.launch_when_room(req).await?;
        let id = launched
            .instances()
            .first()
            .and_then(|i| i.instance_id())
            .filter(|i| !i.is_empty())
            .ok_or_else(|| AwsError::missing("ec2", "RunInstances", "InstanceId"))?
            .to_string();
        self.waiting(format!("the builder {id} to run"));
        let running = aws_sdk_ec2::types::InstanceStateName::Running;
        self.instance_until(&id, running).await?;
        Ok(RecipeOutputs::builder(id))
    }

    pub(super) async fn terminate_builder(&self) -> Result<(), ActionError> {
        let instance = self.instance();
        if !instance.is_empty() {
            self.ec2
                .terminate_instances()
                .instance_ids(&instance)
                .send()
                .await
                .ctx("ec2", "TerminateInstances")?;
        }
        Ok(())
    }
}

/// Errors that mean "not now": the account's vCPU or instance quota is used up by what runs, or the
/// zone has no capacity (EC2 API, "Error codes"). A launch that meets one waits for room.
const NO_ROOM: &[&str] = &[
    "VcpuLimitExceeded",
    "InstanceLimitExceeded",
    "InsufficientInstanceCapacity",
];

impl Act<'_> {
    /// RunInstances, queued while the account has no room for the builder: each refusal for room
    /// waits six poll intervals and tries again, until the action's timeout. The client token makes
    /// the retry launch one instance at most.
    async fn launch_when_room(
        &self,
        req: aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder,
    ) -> Result<aws_sdk_ec2::operation::run_instances::RunInstancesOutput, ActionError> {
        loop {
            match req.clone().send().await.ctx("ec2", "RunInstances") {
                Err(e) if NO_ROOM.iter().any(|c| e.is(c)) => {
                    self.waiting(format!(
                        "room for the builder in {}: {e} (queued until builders of this or other work end; raise the quota with `aws service-quotas request-service-quota-increase --service-code ec2 --quota-code L-1216C47A`)",
                        self.home
                    ));
                    recipe_engine::idle(tokio::time::sleep(self.p.nodes.poll * 6)).await;
                }
                other => return Ok(other?),
            }
        }
    }
}
