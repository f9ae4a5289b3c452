//! Old versions: deprecated when `deprecate-after` has passed, retired (deregistered with their
//! snapshots, in every region) beyond `retain.keep`, never while in use.

use recipe_aws::Context;
use recipe_engine::ActionError;
use recipe_state::ImageVersion;

use super::Act;
use crate::images_in_use;

impl Act<'_> {
    fn version(&self, build_id: &str) -> Result<&ImageVersion, ActionError> {
        self.cx
            .state
            .get(self.name)
            .and_then(|s| s.version(build_id))
            .ok_or_else(|| ActionError::fatal(format!("no recorded version {build_id}")))
    }

    pub(super) async fn deprecate(&self, build_id: &str) -> Result<(), ActionError> {
        let at = jiff::Timestamp::now().as_second() + 60;
        for (region, img) in &self.version(build_id)?.images {
            self.p
                .ec2(region)
                .enable_image_deprecation()
                .image_id(&img.image_id)
                .deprecate_at(aws_sdk_ec2::primitives::DateTime::from_secs(at))
                .send()
                .await
                .ctx("ec2", "EnableImageDeprecation")?;
        }
        Ok(())
    }

    /// The plan kept versions in use when it was made; this checks again right before deregistering,
    /// since an instance may have been launched since.
    pub(super) async fn retire(&self, build_id: &str) -> Result<(), ActionError> {
        let version = self.version(build_id)?;
        for (region, img) in &version.images {
            let users =
                images_in_use(&self.p.ec2(region), std::slice::from_ref(&img.image_id)).await?;
            if let Some(by) = users.get(&img.image_id) {
                return Err(ActionError::fatal(format!(
                    "{} in {region} is in use by {}: not retired (it is retired by a later apply once nothing uses it)",
                    img.image_id,
                    by.join(", ")
                )));
            }
        }
        for (region, img) in &version.images {
            self.p.deregister(region, &img.image_id).await?;
        }
        Ok(())
    }
}
