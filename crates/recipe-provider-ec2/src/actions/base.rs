//! Resolve the base image: an SSM parameter, AMI filters, an image id, or the parent recipe's image in
//! this recipe's build region (made by whichever provider built the parent).

use aws_sdk_ec2::types::Filter;
use recipe_aws::Context;
use recipe_engine::{ActionError, RecipeOutputs};
use recipe_model::{AmiFilter, Base};

use super::Act;

impl Act<'_> {
    pub(super) async fn resolve_base(&self) -> Result<RecipeOutputs, ActionError> {
        let base = match &self.r.recipe.base.value {
            Base::SsmParameter(p) => self.ssm_parameter(&p.value).await?,
            Base::ImageId(id) => id.value.clone(),
            Base::AmiFilter(f) => self.filtered(f).await?,
            Base::Recipe(parent) => self
                .inputs
                .image(&parent.value, &self.home)
                .map(str::to_string)
                .or_else(|| {
                    self.cx
                        .current(&parent.value)
                        .and_then(|v| v.images.get(&self.home))
                        .map(|i| i.image_id.clone())
                })
                .ok_or_else(|| {
                    ActionError::fatal(format!(
                        "the parent recipe `{}` has no image in {}; add {} to its distribute.regions",
                        parent.value, self.home, self.home
                    ))
                })?,
            other => {
                return Err(ActionError::fatal(format!(
                    "an ec2-ami recipe cannot start from a {} base",
                    other.kind()
                )));
            }
        };
        if base.is_empty() {
            return Err(ActionError::fatal("the base resolved to nothing"));
        }
        Ok(RecipeOutputs::base(base))
    }

    async fn ssm_parameter(&self, name: &str) -> Result<String, ActionError> {
        let got = self.ssm.get_parameter().name(name).send().await;
        let got = got.ctx("ssm", "GetParameter").map_err(|e| {
            if e.is("ParameterNotFound") {
                e.with_help(format!(
                    "the base names the SSM parameter `{name}`, which does not exist in {}: check its name and region",
                    self.home
                ))
            } else {
                e
            }
        })?;
        Ok(got
            .parameter()
            .and_then(|p| p.value())
            .unwrap_or_default()
            .to_string())
    }

    async fn filtered(&self, f: &AmiFilter) -> Result<String, ActionError> {
        let mut req = self.ec2.describe_images();
        for (k, v) in &f.filters {
            req = req.filters(Filter::builder().name(k).values(&v.value).build());
        }
        for o in &f.owners {
            req = req.owners(&o.value);
        }
        let found = req.send().await.ctx("ec2", "DescribeImages")?;
        let mut images: Vec<_> = found
            .images()
            .iter()
            .filter(|i| i.state() == Some(&aws_sdk_ec2::types::ImageState::Available))
            .collect();
        if images.len() > 1 && !f.most_recent {
            return Err(ActionError::fatal(format!(
                "{} images match the filters; set `most-recent: true` or narrow them",
                images.len()
            )));
        }
        images.sort_by_key(|i| i.creation_date().unwrap_or("").to_string());
        let id = images.last().and_then(|i| i.image_id());
        id.map(str::to_string)
            .ok_or_else(|| ActionError::fatal("no available image matches the filters"))
    }
}
