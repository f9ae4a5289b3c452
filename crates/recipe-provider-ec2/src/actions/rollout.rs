//! Rollout: point an SSM parameter (`aws:ec2:image`) or a launch template's default version at the
//! new image in the build region.

use aws_sdk_ec2::types::RequestLaunchTemplateData;
use aws_sdk_ssm::types::ParameterType;
use recipe_aws::Context;
use recipe_engine::ActionError;
use recipe_plan::RolloutTarget;

use super::Act;

impl Act<'_> {
    pub(super) async fn rollout(&self, target: &RolloutTarget) -> Result<(), ActionError> {
        match target {
            RolloutTarget::SsmParameter(name) => self.put_parameter(name).await,
            RolloutTarget::LaunchTemplate(name) => self.launch_template(name).await,
            RolloutTarget::Bundle(_) | RolloutTarget::Fleet(_) => Err(ActionError::fatal(format!(
                "an ec2-ami recipe cannot roll out to a {target}: bundles belong to WorkSpaces recipes and fleets to AppStream recipes"
            ))),
        }
    }

    async fn put_parameter(&self, name: &str) -> Result<(), ActionError> {
        let id = self.need_image(&self.home, "roll out")?;
        self.ssm
            .put_parameter()
            .name(name)
            .value(&id)
            .r#type(ParameterType::String)
            .data_type("aws:ec2:image")
            .overwrite(true)
            .send()
            .await
            .ctx("ssm", "PutParameter")?;
        Ok(())
    }

    /// A new default version with the image; the template is created if it does not exist yet.
    async fn launch_template(&self, name: &str) -> Result<(), ActionError> {
        let id = self.need_image(&self.home, "roll out")?;
        let data = RequestLaunchTemplateData::builder().image_id(&id).build();
        let version = self
            .ec2
            .create_launch_template_version()
            .launch_template_name(name)
            .source_version("$Default")
            .version_description(format!(
                "recipe {} {}",
                self.name, self.r.recipe.version.value
            ))
            .launch_template_data(data.clone())
            .send()
            .await
            .ctx("ec2", "CreateLaunchTemplateVersion");
        let n = match version {
            Ok(v) => v
                .launch_template_version()
                .and_then(|v| v.version_number())
                .unwrap_or(1),
            Err(e) if e.is_not_found() => {
                self.ec2
                    .create_launch_template()
                    .launch_template_name(name)
                    .launch_template_data(data)
                    .send()
                    .await
                    .ctx("ec2", "CreateLaunchTemplate")?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        self.ec2
            .modify_launch_template()
            .launch_template_name(name)
            .default_version(n.to_string())
            .send()
            .await
            .ctx("ec2", "ModifyLaunchTemplate")?;
        Ok(())
    }
}
