//! The image builder and the SSM hybrid activation that brings it under Run Command.
//!
//! Launch creates the builder (named after the build, tagged with the recipe and build; an earlier
//! attempt's builder is adopted), waits for RUNNING, creates an activation (one registration, 24
//! hours, `DefaultInstanceName` = the builder's name) and waits for the agent on the builder to
//! register with it. Registration is done on the machine (`amazon-ssm-agent -register`); the wait says
//! exactly what to run. AppStream gives no user data and no API to run a command on a builder, so
//! this is the way that needs no person once the base image carries the registration bootstrap (see
//! docs/appstream.md). Delete waits until the builder is STOPPED (it stops by itself once its image is
//! made), then removes the managed node, the activation and the builder.

use aws_sdk_appstream::types::{ImageBuilderState, ImageState, VpcConfig};
use recipe_aws::{AwsError, Context};
use recipe_engine::{ActionError, ApplyContext, BoxFuture, Leftover, RecipeOutputs, Released};
use recipe_model::Base;
use recipe_ssm::hybrid;
use recipe_ssm::{Hybrid, NodeCheck, Session};

use crate::actions::{Act, builder_name};

use crate::{AppstreamProvider, poll};

impl NodeCheck for Act<'_> {
    /// A builder that was stopped is started again; one that is gone or FAILED never comes back.
    fn usable<'a>(&'a self, _node: &'a str) -> BoxFuture<'a, Result<(), ActionError>> {
        Box::pin(self.ensure_running())
    }
}

impl Hybrid for Act<'_> {
    fn builder(&self) -> String {
        Act::builder(self)
    }

    /// Where a person connects: a streaming URL is a bearer credential for the builder, so it is
    /// not put in the gate's text (which goes to logs and the journal): the text says how to make
    /// one (CreateImageBuilderStreamingURL), on the person's own terminal.
    fn words(&self, name: &str) -> (String, String) {
        let home = &self.home;
        let connect = format!(
            "the image builder {name} in {home}: open the URL that `aws appstream create-image-builder-streaming-url --name {name} --validity 3600 --region {home} --query StreamingURL --output text` prints (or the console's Images > Image builder > Connect)"
        );
        (format!("the image builder {name}"), connect)
    }
}

impl Act<'_> {
    /// The base image, by name or ARN: it must be visible to the account and AVAILABLE.
    pub(crate) async fn resolve_base(&self) -> Result<RecipeOutputs, ActionError> {
        let image = match &self.r.recipe.base.value {
            Base::Declared(kind, i) if kind.as_str() == recipe_targets::IMAGE_BASE.name => {
                i.value.clone()
            }
            // The parent's image here: an AMI (the import route) or an AppStream image.
            Base::Recipe(parent) => {
                // Built in this apply, or the parent's current version when it is up to date.
                let image = self.image_of(&parent.value).ok_or_else(|| {
                    let (parent, home) = (&parent.value, &self.home);
                    ActionError::fatal(format!("no image of `{parent}` in {home} to start from"))
                })?;
                if image.starts_with("ami-") {
                    return Ok(RecipeOutputs::base(image));
                }
                image
            }
            _ => return Err(self.unusable_base("an AppStream image builder")),
        };
        let found = crate::image::describe(&self.apps, &image).await?;
        match found.as_ref().and_then(|i| i.state()) {
            Some(ImageState::Available) => Ok(RecipeOutputs::base(image)),
            Some(other) => Err(ActionError::fatal(format!(
                "the base image {image} in {} is {other}; a builder needs an AVAILABLE image",
                self.home
            ))),
            None => Err(ActionError::fatal(format!(
                "no AppStream image {image} is visible in {}: check the name (`aws appstream describe-images --type PUBLIC --region {}` lists the base images) and that a shared image allows image builders",
                self.home, self.home
            ))),
        }
    }

    /// The builder of this build (created unless an earlier attempt made it), RUNNING, with its
    /// agent registered.
    pub(crate) async fn launch_builder(&self) -> Result<RecipeOutputs, ActionError> {
        let name = builder_name(&self.values().build_id);
        if self.state_of(&name).await?.is_none() {
            self.create_builder(&name).await?;
        }
        self.ensure_running().await?;
        let build = self.values().build_id;
        let tags = recipe_aws::tags::builder_tags(self.name, &build);
        let description = format!("recipe image builder {name} of {} ({build})", self.name);
        // The builder knows itself by its name (`AppStream_Resource_Name`, "User and Instance
        // Metadata for AppStream 2.0 Fleets"), which names the parameter its bootstrap reads.
        let a = hybrid::ActivationFor {
            machine: &name,
            name: &name,
            role: &self.p.agent_role,
            description: &description,
            tags: &tags,
        };
        let activation = hybrid::ensure_activation(&self.ssm, &a).await?;
        let builder = format!("image builder {name}");
        let doc = "docs/appstream.md, \"How the SSM agent gets onto the builder\"";
        let nodes = &self.p.nodes;
        hybrid::await_registration(&self.s, &self.ssm, nodes, &builder, &name, &activation, doc)
            .await?;
        self.check_node(&name, &activation).await?;
        Ok(RecipeOutputs::builder(name))
    }

    /// The node registered with the builder's activation must be the builder: its agent reports the
    /// private address of the builder's network interface (DescribeImageBuilders
    /// `NetworkAccessConfiguration.EniPrivateIpAddress`). A node on another machine (the code was used
    /// elsewhere) is deregistered and the build fails before any step, or secret, reaches it. A
    /// builder that reports no address cannot be checked this way, and is not.
    async fn check_node(&self, name: &str, activation: &str) -> Result<(), ActionError> {
        let Some(node) = hybrid::node_info(&self.ssm, activation).await? else {
            return Ok(());
        };
        let found = poll::builder(&self.apps, name).await?;
        let eni = (found.as_ref())
            .and_then(|b| b.network_access_configuration())
            .and_then(|n| n.eni_private_ip_address())
            .unwrap_or_default();
        if eni.is_empty() || node.ip_address == eni {
            return Ok(());
        }
        hybrid::deregister(&self.ssm, &node.id).await?;
        Err(ActionError::fatal(format!(
            "the node {} registered with the activation of image builder {name} reports address {}, not the builder's {eni}: it is another machine, so it was deregistered and no step was sent (the activation's code was used outside the builder: check who can read {})",
            node.id,
            if node.ip_address.is_empty() {
                "none"
            } else {
                &node.ip_address
            },
            hybrid::parameter_name(name)
        )))
    }

    async fn create_builder(&self, name: &str) -> Result<(), ActionError> {
        let b = &self.r.recipe.builder;
        let base = self
            .inputs
            .base(self.name)
            .ok_or_else(|| ActionError::fatal("no resolved base"))?;
        let instance_type = b
            .instance_type
            .as_ref()
            .map_or("stream.standard.medium", |t| t.value.as_str());
        let vpc = VpcConfig::builder()
            .set_subnet_ids(b.subnet_id.as_ref().map(|s| vec![s.value.clone()]))
            .set_security_group_ids(Some(
                b.security_group_ids
                    .iter()
                    .map(|s| s.value.clone())
                    .collect(),
            ))
            .build();
        let tags = recipe_aws::tags::builder_tags(self.name, &self.values().build_id);
        let call = self
            .apps
            .create_image_builder()
            .name(name)
            .instance_type(instance_type)
            .description(format!("recipe builder of {}", self.name))
            .set_image_arn(base.starts_with("arn:").then(|| base.to_string()))
            .set_image_name((!base.starts_with("arn:")).then(|| base.to_string()))
            .set_vpc_config(b.subnet_id.is_some().then_some(vpc))
            .set_iam_role_arn(b.iam_role_arn.as_ref().map(|r| r.value.clone()))
            .set_enable_default_internet_access(b.internet_access.as_ref().map(|i| i.value))
            .set_domain_join_info(b.domain_join.as_ref().map(|d| {
                aws_sdk_appstream::types::DomainJoinInfo::builder()
                    .directory_name(&d.value.directory_name.value)
                    .set_organizational_unit_distinguished_name(
                        d.value
                            .organizational_unit
                            .as_ref()
                            .map(|o| o.value.clone()),
                    )
                    .build()
            }))
            .set_appstream_agent_version(b.agent_version.as_ref().map(|v| v.value.clone()))
            .set_tags(Some(tags.into_iter().collect()));
        match call.send().await.ctx("appstream", "CreateImageBuilder") {
            Ok(_) => Ok(()),
            Err(e) if e.is("ResourceAlreadyExistsException") => Ok(()),
            Err(e) => Err(e
                .with_help("check builder.instance-type (stream.*), the subnet, security groups and IAM role, and the account's image builder quota in this region")
                .into()),
        }
    }

    /// The builder's state (`None`: it does not exist).
    pub(crate) async fn state_of(
        &self,
        name: &str,
    ) -> Result<Option<ImageBuilderState>, ActionError> {
        let found = poll::builder(&self.apps, name).await?;
        Ok(found.and_then(|b| b.state))
    }

    /// Wait until the builder is RUNNING, starting it when it was stopped.
    pub(crate) async fn ensure_running(&self) -> Result<(), ActionError> {
        let name = self.builder();
        match self.state_of(&name).await? {
            None => {
                return Err(ActionError::fatal(format!(
                    "the image builder {name} no longer exists; apply again to start a new build"
                )));
            }
            Some(ImageBuilderState::Stopping) => {
                self.builder_until(&name, ImageBuilderState::Stopped)
                    .await?;
                self.start(&name).await?;
            }
            Some(ImageBuilderState::Stopped) => self.start(&name).await?,
            Some(_) => {}
        }
        self.waiting(format!("the image builder {name} to be RUNNING"));
        self.builder_until(&name, ImageBuilderState::Running)
            .await?;
        Ok(())
    }

    async fn start(&self, name: &str) -> Result<(), ActionError> {
        self.apps
            .start_image_builder()
            .name(name)
            .send()
            .await
            .ctx("appstream", "StartImageBuilder")?;
        Ok(())
    }

    /// A session on the builder's managed node.
    pub(crate) async fn session(&self) -> Result<Session<'_>, ActionError> {
        Session::on_hybrid(&self.s, self.ssm.clone(), &self.p.nodes, self).await
    }

    /// Delete the builder once no image is being made on it: wait for the build's image to be made
    /// and the builder STOPPED (it stops by itself after `create-image`), then remove its node,
    /// activation and the builder.
    pub(crate) async fn terminate_builder(&self) -> Result<(), ActionError> {
        let name = self.builder();
        hybrid::forget(&self.ssm, &name).await?;
        if self.state_of(&name).await?.is_none() {
            return Ok(());
        }
        // StopImageBuilder while the builder snapshots would cut the image short, and right after
        // `create-image` DescribeImageBuilders may still say RUNNING: the image ends first.
        if let Some(image) = self.image_in(&self.home) {
            self.waiting(format!(
                "the image {image} to be made before {name} is stopped"
            ));
            let made = poll::wait_image(self.p.on(&self.home, self.apps.clone()), &image);
            // A FAILED image is the wait-available action's to report; the builder goes either way.
            let _ = made.await;
        }
        self.waiting(format!(
            "the image builder {name} to stop before it is deleted"
        ));
        stop_and_delete(self.p, &self.home, &name).await
    }
}

/// Stop builder `name` unless it is stopping by itself (SNAPSHOTTING), wait for STOPPED, delete it.
pub(crate) async fn stop_and_delete(
    p: &AppstreamProvider,
    region: &str,
    name: &str,
) -> Result<(), ActionError> {
    let client = p.appstream(region);
    let stop = client.stop_image_builder().name(name).send().await;
    match stop.ctx("appstream", "StopImageBuilder") {
        Ok(_) => {}
        Err(e) if e.is("ResourceNotFoundException") => return Ok(()),
        // SNAPSHOTTING or PENDING: it stops by itself, or can be stopped once RUNNING.
        Err(e) if e.is("ConcurrentModificationException") => {}
        // FAILED: it cannot be stopped, and is deleted as it is.
        Err(e) if e.is("OperationNotPermittedException") => return delete(&client, name).await,
        Err(e) => return Err(e.into()),
    }
    let stopped = ImageBuilderState::Stopped;
    poll::wait_builder(p.on(region, client.clone()), name, stopped).await?;
    delete(&client, name).await
}

async fn delete(client: &aws_sdk_appstream::Client, name: &str) -> Result<(), ActionError> {
    match client
        .delete_image_builder()
        .name(name)
        .send()
        .await
        .ctx("appstream", "DeleteImageBuilder")
    {
        Err(e) if e.is("ResourceNotFoundException") => Ok(()),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// Delete (or, with `keep`, mark) the builder of a failed build, with its node and activation.
pub(crate) async fn release_one(
    p: &AppstreamProvider,
    cx: &ApplyContext,
    l: &Leftover,
    keep: bool,
) -> Released {
    let builder = l.builder.as_str();
    let mark = |region: String| async move { Ok(mark_kept(&p.appstream(&region), builder).await?) };
    let remove = |region: String| async move {
        hybrid::forget(&p.ssm(&region), builder).await?;
        stop_and_delete(p, &region, builder).await
    };
    cx.release_with((l, keep), mark, remove).await
}

/// Tag a kept builder `recipe:keep=debug`.
async fn mark_kept(client: &aws_sdk_appstream::Client, name: &str) -> Result<(), AwsError> {
    let found = poll::builder(client, name).await?;
    let arn = (found.and_then(|b| b.arn))
        .ok_or_else(|| AwsError::missing("appstream", "DescribeImageBuilders", "Arn"))?;
    client
        .tag_resource()
        .resource_arn(arn)
        .tags(recipe_aws::tags::KEEP, "debug")
        .send()
        .await
        .ctx("appstream", "TagResource")?;
    Ok(())
}
