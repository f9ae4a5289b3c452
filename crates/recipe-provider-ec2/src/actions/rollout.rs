//! Rollout: point an SSM parameter (`aws:ec2:image`) or a launch template's default version at the
//! new image, in each region of `rollout.regions` (default: every region the image is in), each at
//! that region's AMI.

use aws_sdk_ec2::types::RequestLaunchTemplateData;
use aws_sdk_ssm::types::ParameterType;
use recipe_aws::Context;
use recipe_engine::{ActionError, Rollout};
use recipe_targets::{LAUNCH_TEMPLATE, SSM_PARAMETER};

use super::Act;

impl Act<'_> {
    pub(super) async fn rollout(&self, to: Rollout<'_>) -> Result<(), ActionError> {
        let region = to.region.unwrap_or(&self.home);
        let (kind, name) = (to.target.kind, &to.target.name);
        if kind == SSM_PARAMETER {
            self.put_parameter(name, region).await
        } else if kind == LAUNCH_TEMPLATE {
            self.launch_template(name, region).await
        } else {
            Err(to.refused("an ec2-ami recipe", "launch templates and SSM parameters"))
        }
    }

    async fn put_parameter(&self, name: &str, region: &str) -> Result<(), ActionError> {
        let id = self.need_image(region, "roll out")?;
        self.p
            .ssm(region)
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

    /// A new default version with the image; the template is created if it does not exist yet. Both
    /// creates carry a client token made from the template and the image, so a retry after a lost
    /// answer (or a resumed rollout) gets what the first call made instead of a second version or an
    /// "already exists".
    async fn launch_template(&self, name: &str, region: &str) -> Result<(), ActionError> {
        let id = self.need_image(region, "roll out")?;
        let ec2 = self.p.ec2(region);
        let data = RequestLaunchTemplateData::builder().image_id(&id).build();
        let version = ec2
            .create_launch_template_version()
            .launch_template_name(name)
            .client_token(token("version", name, &id))
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
                ec2.create_launch_template()
                    .launch_template_name(name)
                    .client_token(token("template", name, &id))
                    .launch_template_data(data)
                    .send()
                    .await
                    .ctx("ec2", "CreateLaunchTemplate")?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        ec2.modify_launch_template()
            .launch_template_name(name)
            .default_version(n.to_string())
            .send()
            .await
            .ctx("ec2", "ModifyLaunchTemplate")?;
        Ok(())
    }
}

/// A client token (at most 64 characters) for `kind` of `template` with `image`: FNV-1a of the three.
fn token(kind: &str, template: &str, image: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in template.bytes().chain([0]).chain(image.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("recipe-{kind}-{image}-{h:016x}")
}
