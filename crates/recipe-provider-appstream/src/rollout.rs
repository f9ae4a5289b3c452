//! Fleets: UpdateFleet points a listed fleet at the new image, sending only what a RUNNING fleet
//! accepts (the image name), then checks the fleet is healthy on it before the next fleet in the
//! list is touched (the planner chains them: the first is the staging gate). A fleet that does not
//! exist is created stopped, as EC2 launch templates are created; an Elastic fleet has no image and
//! is refused with what to do instead.

use aws_sdk_appstream::Client;
use aws_sdk_appstream::operation::describe_fleets::DescribeFleetsOutput;
use aws_sdk_appstream::types::{ComputeCapacity, Fleet, FleetState, FleetType, VpcConfig};
use recipe_aws::{AwsError, Context, every_page};
use recipe_engine::{ActionError, Rollout};

use crate::actions::Act;
use crate::poll;

/// Poll intervals a running fleet is watched after it takes a new image.
const SOAK_POLLS: u32 = 60;

impl Act<'_> {
    /// Point the fleet at the new image. Sessions already running keep their instance; AppStream
    /// replaces idle instances over time (API_UpdateFleet).
    /// Fleets are in the build region: the plan gives no region.
    pub(crate) async fn rollout(&self, to: Rollout<'_>) -> Result<(), ActionError> {
        if to.target.kind != recipe_targets::FLEET {
            return Err(to.refused("an appstream recipe", "fleets"));
        }
        let fleet = &to.target.name;
        let image = self.need_image(&self.home, "roll out")?;
        let Some(f) = describe_fleet(&self.apps, fleet).await? else {
            return self.create_fleet(fleet, &image).await;
        };
        if f.fleet_type() == Some(&FleetType::Elastic) {
            return Err(ActionError::fatal(format!(
                "fleet {fleet} is an Elastic fleet: Elastic fleets run app blocks, not images; remove it from `rollout.fleets`"
            )));
        }
        if f.image_name() != Some(image.as_str()) {
            self.waiting(format!("fleet {fleet} to be RUNNING or STOPPED"));
            poll::wait_fleet(self.p.on(&self.home, self.apps.clone()), fleet).await?;
            self.apps
                .update_fleet()
                .name(fleet)
                .image_name(&image)
                .send()
                .await
                .ctx("appstream", "UpdateFleet")?;
        }
        let running = describe_fleet(&self.apps, fleet).await?;
        if running.is_some_and(|f| f.state() == Some(&FleetState::Running)) {
            return self.soak(fleet, &image).await;
        }
        self.healthy(fleet, &image).await
    }

    /// The gate on a running fleet: AppStream moves its instances to the new image as they are
    /// replaced (API_UpdateFleet), so what goes wrong shows in `FleetErrors` only then. The fleet is
    /// watched for [`SOAK_POLLS`] poll intervals (5 minutes against AWS); any error fails the
    /// rollout, naming it, and the fleets after it are not touched.
    async fn soak(&self, fleet: &str, image: &str) -> Result<(), ActionError> {
        let poll = self.p.nodes.poll;
        self.waiting(format!(
            "fleet {fleet} to run {image} on replaced instances with no errors ({}s)",
            (poll * SOAK_POLLS).as_secs()
        ));
        for _ in 0..SOAK_POLLS {
            self.healthy(fleet, image).await?;
            recipe_engine::idle(tokio::time::sleep(poll)).await;
        }
        self.healthy(fleet, image).await
    }

    /// The fleet runs `image` and reports no fleet errors.
    async fn healthy(&self, fleet: &str, image: &str) -> Result<(), ActionError> {
        let f = describe_fleet(&self.apps, fleet).await?;
        let Some(f) = f else {
            return Err(ActionError::fatal(format!(
                "fleet {fleet} disappeared during the rollout"
            )));
        };
        if f.image_name() != Some(image) {
            return Err(ActionError::fatal(format!(
                "fleet {fleet} runs {}, not {image}, after UpdateFleet",
                f.image_name().unwrap_or("no image")
            )));
        }
        let errors: Vec<String> = f
            .fleet_errors()
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e.error_code().map_or("", |c| c.as_str()),
                    e.error_message().unwrap_or("")
                )
            })
            .collect();
        if errors.is_empty() {
            return Ok(());
        }
        Err(ActionError::fatal(format!(
            "fleet {fleet} reports errors on {image}: {}; the fleets after it in `rollout.fleets` are left as they are",
            errors.join("; ")
        )))
    }

    /// Create a missing fleet stopped (On-Demand, one instance) on the new image, with the builder's
    /// instance type and network: nothing runs, or costs, until a person sizes and starts it.
    async fn create_fleet(&self, fleet: &str, image: &str) -> Result<(), ActionError> {
        let b = &self.r.recipe.builder;
        let vpc = VpcConfig::builder()
            .set_subnet_ids(b.subnet_id.as_ref().map(|s| vec![s.value.clone()]))
            .set_security_group_ids(Some(
                b.security_group_ids
                    .iter()
                    .map(|s| s.value.clone())
                    .collect(),
            ))
            .build();
        let mut tags = recipe_aws::tags::builder_tags(self.name, &self.values().build_id);
        tags.insert(recipe_aws::tags::ROLE.into(), "fleet".into());
        tags.insert("Name".into(), format!("recipe fleet: {}", self.name));
        self.apps
            .create_fleet()
            .name(fleet)
            .image_name(image)
            .instance_type(
                b.instance_type
                    .as_ref()
                    .map_or("stream.standard.medium", |t| t.value.as_str()),
            )
            .fleet_type(FleetType::OnDemand)
            .compute_capacity(ComputeCapacity::builder().desired_instances(1).build())
            .set_vpc_config(b.subnet_id.is_some().then_some(vpc))
            .description(format!("created by recipe for {}", self.name))
            .set_tags(Some(tags.into_iter().collect()))
            .send()
            .await
            .ctx("appstream", "CreateFleet")?;
        Ok(())
    }
}

/// Fleet `name` in the client's region (`None`: no such fleet).
pub(crate) async fn describe_fleet(client: &Client, name: &str) -> Result<Option<Fleet>, AwsError> {
    match client
        .describe_fleets()
        .names(name)
        .send()
        .await
        .ctx("appstream", "DescribeFleets")
    {
        Ok(out) => Ok(out.fleets().first().cloned()),
        Err(e) if e.is("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every fleet of the account in the client's region.
pub(crate) async fn fleets(client: &Client) -> Result<Vec<Fleet>, AwsError> {
    let page = |t| client.describe_fleets().set_next_token(t).send();
    let split = |o: DescribeFleetsOutput| (o.fleets, o.next_token);
    every_page(("appstream", "DescribeFleets"), page, split).await
}

/// The fleets in the client's region that run image `image`.
pub(crate) async fn fleets_using(client: &Client, image: &str) -> Result<Vec<String>, AwsError> {
    let all = fleets(client).await?;
    Ok((all.iter())
        .filter(|f| f.image_name() == Some(image))
        .filter_map(|f| f.name().map(str::to_string))
        .collect())
}
