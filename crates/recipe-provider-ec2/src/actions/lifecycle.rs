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
        let p = self.p;
        let used_by = |region: String, image: String| async move {
            let users = images_in_use(&p.ec2(&region), std::slice::from_ref(&image)).await?;
            Ok(users.get(&image).map(|by| by.join(", ")))
        };
        let delete =
            |region: String, image: String| async move { Ok(p.deregister(&region, &image).await?) };
        self.retire_with(build_id, used_by, delete).await
    }
}
