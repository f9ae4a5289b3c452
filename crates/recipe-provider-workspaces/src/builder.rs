//! The builder WorkSpace and the SSM hybrid activation that brings it under Run Command.
//!
//! Launch creates the WorkSpace (ALWAYS_ON, tagged with the recipe and build; an earlier attempt's
//! WorkSpace for the same user is adopted when it carries this build's tag), waits for AVAILABLE,
//! creates an activation (one registration, 24 hours, `DefaultInstanceName` = the WorkSpace id) and
//! waits for the agent on the WorkSpace to register with it. Registration is done on the machine
//! (`amazon-ssm-agent -register`); the gate says exactly what to run and where. Terminate removes the
//! managed node, the activation and the WorkSpace.

use aws_sdk_workspaces::types::{
    RunningMode, StartRequest, TerminateRequest, WorkspaceProperties, WorkspaceRequest,
    WorkspaceState,
};
use recipe_aws::{AwsError, Context};
use recipe_engine::{ActionError, ApplyContext, BoxFuture, Leftover, RecipeOutputs, Released};
use recipe_model::{Base, Os};
use recipe_ssm::hybrid::{self, deregister, forget};
use recipe_ssm::{Hybrid, NodeCheck, Session};

use crate::actions::Act;

use crate::{WorkspacesProvider, poll, tag, tag_list};

impl NodeCheck for Act<'_> {
    /// A builder WorkSpace that is stopped (AUTO_STOP) is started; one that is gone never comes back.
    fn usable<'a>(&'a self, _node: &'a str) -> BoxFuture<'a, Result<(), ActionError>> {
        Box::pin(self.ensure_running(self.builder()))
    }
}

impl Act<'_> {
    /// The base: a bundle (the builder is created from it), an existing WorkSpace, a WorkSpaces image
    /// (a temporary bundle wraps it at launch), or an AMI recipe's image, imported (BYOL).
    pub(crate) async fn resolve_base(&self) -> Result<RecipeOutputs, ActionError> {
        let id = match &self.r.recipe.base.value {
            // A bundle or an existing WorkSpace, the kinds the WorkSpaces target declares.
            Base::Declared(_, id) => id.value.clone(),
            Base::ImageId(i) => i.value.clone(),
            Base::Recipe(parent) => self.import(&parent.value).await?,
            _ => return Err(self.unusable_base("a WorkSpaces builder")),
        };
        Ok(RecipeOutputs::base(id))
    }

    /// The parent recipe's AMI imported in this build region: ImportCustomWorkspaceImage when the
    /// recipe names an Image Builder infrastructure configuration, ImportWorkspaceImage (BYOL)
    /// otherwise. An earlier attempt's import (same name) is adopted. It goes with the builder.
    async fn import(&self, parent: &str) -> Result<String, ActionError> {
        // Built in this apply, or the parent's current version when it is up to date.
        let ami = self.image_of(parent).ok_or_else(|| {
            ActionError::fatal(format!("no image of `{parent}` in {} to import", self.home))
        })?;
        let ami = ami.as_str();
        let name = temp_name(&self.values().build_id);
        let id = match crate::image::owned_named(&self.ws, &name).await? {
            Some(found) => found,
            None => {
                let how = recipe_targets::IMPORT_OF.of(&self.r.recipe.builder.sections);
                let how = how.map(|i| &i.value);
                let description = format!("recipe import of {ami} for {}", self.name);
                match how {
                    Some(i) if i.infrastructure_configuration_arn.is_some() => {
                        self.import_custom(i, ami, &name, &description).await?
                    }
                    _ => self.import_byol(how, ami, &name, &description).await?,
                }
            }
        };
        self.waiting(format!("the import {id} of {ami} to become AVAILABLE"));
        poll::wait_image(self.p.on(&self.home, self.ws.clone()), &id).await?;
        Ok(id)
    }

    async fn import_byol(
        &self,
        how: Option<&recipe_targets::WorkspacesImport>,
        ami: &str,
        name: &str,
        description: &str,
    ) -> Result<String, ActionError> {
        use aws_sdk_workspaces::types::WorkspaceImageIngestionProcess as P;
        let process = how
            .and_then(|i| i.ingestion_process.as_ref())
            .map_or("BYOL_REGULAR", |p| p.value.api_name());
        let out = self
            .ws
            .import_workspace_image()
            .ec2_image_id(ami)
            .ingestion_process(P::from(process))
            .image_name(name)
            .image_description(description)
            .set_tags(Some(self.build_tags()))
            .send()
            .await
            .ctx("workspaces", "ImportWorkspaceImage")?;
        let id = out
            .image_id()
            .ok_or_else(|| AwsError::missing("workspaces", "ImportWorkspaceImage", "ImageId"))?;
        Ok(id.to_string())
    }

    /// ImportCustomWorkspaceImage with every member it requires (API reference): the image source
    /// is the AMI, the platform Windows; protocol and compute default to DCV and BASE.
    async fn import_custom(
        &self,
        i: &recipe_targets::WorkspacesImport,
        ami: &str,
        name: &str,
        description: &str,
    ) -> Result<String, ActionError> {
        use aws_sdk_workspaces::types::{
            CustomImageProtocol, ImageComputeType, ImageSourceIdentifier, OsVersion, Platform,
        };
        use recipe_targets::{ImportCompute, ImportOsVersion, ImportProtocol};
        let arn = i
            .infrastructure_configuration_arn
            .as_ref()
            .map(|a| a.value.as_str());
        let os = match i.os_version.as_ref().map(|o| o.value) {
            Some(ImportOsVersion::Windows10) => OsVersion::Windows10,
            Some(ImportOsVersion::Windows11) | None => OsVersion::Windows11,
        };
        let protocol = match i.protocol.as_ref().map(|p| p.value) {
            Some(ImportProtocol::Pcoip) => CustomImageProtocol::Pcoip,
            Some(ImportProtocol::Byop) => CustomImageProtocol::Byop,
            Some(ImportProtocol::Dcv) | None => CustomImageProtocol::Dcv,
        };
        let compute = match i.compute.as_ref().map(|c| c.value) {
            Some(ImportCompute::GraphicsG4dn) => ImageComputeType::GraphicsG4Dn,
            Some(ImportCompute::GraphicsG6) => ImageComputeType::from("GRAPHICS_G6"),
            Some(ImportCompute::Base) | None => ImageComputeType::Base,
        };
        let out = self
            .ws
            .import_custom_workspace_image()
            .image_name(name)
            .image_description(description)
            .compute_type(compute)
            .protocol(protocol)
            .image_source(ImageSourceIdentifier::Ec2ImageId(ami.to_string()))
            .set_infrastructure_configuration_arn(arn.map(str::to_string))
            .platform(Platform::Windows)
            .os_version(os)
            .set_tags(Some(self.build_tags()))
            .send()
            .await
            .ctx("workspaces", "ImportCustomWorkspaceImage")?;
        let id = out.image_id().ok_or_else(|| {
            AwsError::missing("workspaces", "ImportCustomWorkspaceImage", "ImageId")
        })?;
        Ok(id.to_string())
    }

    /// The tags of what the build makes around its image (found again by the sweep).
    fn build_tags(&self) -> Vec<aws_sdk_workspaces::types::Tag> {
        tag_list(&recipe_aws::tags::builder_tags(
            self.name,
            &self.values().build_id,
        ))
    }

    /// A temporary bundle around image `image`, for the builder (an earlier attempt's is adopted).
    async fn temp_bundle(&self, image: &str) -> Result<String, ActionError> {
        let name = temp_name(&self.values().build_id);
        if let Some((id, _)) = crate::rollout::bundle_named(&self.ws, &name).await? {
            return Ok(id);
        }
        let compute = recipe_targets::BUNDLE_OF
            .of(&self.r.recipe.sections)
            .map_or("STANDARD".to_string(), |b| {
                crate::rollout::compute_name(&b.compute.value)
            });
        let storage = |gib: &str| {
            aws_sdk_workspaces::types::UserStorage::builder()
                .capacity(gib)
                .build()
        };
        let out = self
            .ws
            .create_workspace_bundle()
            .bundle_name(&name)
            .bundle_description(format!("recipe builder bundle for {}", self.name))
            .image_id(image)
            .compute_type(
                aws_sdk_workspaces::types::ComputeType::builder()
                    .name(aws_sdk_workspaces::types::Compute::from(compute.as_str()))
                    .build(),
            )
            .user_storage(storage("10").map_err(|e| ActionError::fatal(e.to_string()))?)
            .root_storage(
                aws_sdk_workspaces::types::RootStorage::builder()
                    .capacity("80")
                    .build()
                    .map_err(|e| ActionError::fatal(e.to_string()))?,
            )
            .set_tags(Some(tag_list(&recipe_aws::tags::builder_tags(
                self.name,
                &self.values().build_id,
            ))))
            .send()
            .await
            .ctx("workspaces", "CreateWorkspaceBundle")?;
        let id = out.workspace_bundle().and_then(|b| b.bundle_id());
        Ok(id
            .ok_or_else(|| AwsError::missing("workspaces", "CreateWorkspaceBundle", "BundleId"))?
            .to_string())
    }

    pub(crate) async fn launch_builder(&self) -> Result<RecipeOutputs, ActionError> {
        let base = self
            .inputs
            .base(self.name)
            .ok_or_else(|| ActionError::fatal("no resolved base"))?;
        let ws = if base.starts_with("ws-") {
            base.to_string()
        } else if base.starts_with("wsi-") {
            let bundle = self.temp_bundle(base).await?;
            self.create_workspace(&bundle).await?
        } else {
            self.create_workspace(base).await?
        };
        self.ensure_running(ws.clone()).await?;
        let name = self.computer_name(&ws).await?;
        let activation = self.activation(&ws, &name).await?;
        let doc = "docs/workspaces.md, \"How the SSM agent gets onto the builder\"";
        let nodes = &self.p.nodes;
        hybrid::await_registration(&self.s, &self.ssm, nodes, &ws, &name, &activation, doc).await?;
        self.check_node(&ws, &name, &activation).await?;
        Ok(RecipeOutputs::builder(ws))
    }

    /// The builder WorkSpace of this build for the recipe's user, created unless an earlier attempt
    /// made it.
    async fn create_workspace(&self, bundle: &str) -> Result<String, ActionError> {
        let b = &self.r.recipe.builder;
        let (Some(dir), Some(user)) = (&b.directory_id, &b.user_name) else {
            return Err(ActionError::fatal(
                "builder.directory-id and builder.user-name are needed to create the builder WorkSpace",
            ));
        };
        let build = self.values().build_id;
        if let Some(found) = self.find_builder(&dir.value, &user.value, &build).await? {
            return Ok(found);
        }
        let tags = recipe_aws::tags::builder_tags(self.name, &build);
        // ALWAYS_ON: nobody signs in to a builder, and an AUTO_STOP WorkSpace with no user session
        // stops after its timeout (API_WorkspaceProperties), taking the command in flight with it.
        let props = WorkspaceProperties::builder()
            .running_mode(RunningMode::AlwaysOn)
            .build();
        let req = WorkspaceRequest::builder()
            .directory_id(&dir.value)
            .user_name(&user.value)
            .bundle_id(bundle)
            .workspace_properties(props)
            .set_tags(Some(tag_list(&tags)))
            .build()
            .map_err(|e| ActionError::fatal(e.to_string()))?;
        let out = self
            .ws
            .create_workspaces()
            .workspaces(req)
            .send()
            .await
            .ctx("workspaces", "CreateWorkspaces")?;
        if let Some(f) = out.failed_requests().first() {
            return Err(ActionError::fatal(format!(
                "CreateWorkspaces refused the builder for {} in {}: {} ({}). Check that the directory is registered with WorkSpaces, the user exists in it and has no WorkSpace yet, and the bundle is in {}",
                user.value,
                dir.value,
                f.error_message().unwrap_or("no message"),
                f.error_code().unwrap_or("no code"),
                self.home
            )));
        }
        let id = out
            .pending_requests()
            .first()
            .and_then(|w| w.workspace_id());
        let id =
            id.ok_or_else(|| AwsError::missing("workspaces", "CreateWorkspaces", "WorkspaceId"))?;
        Ok(id.to_string())
    }

    /// A WorkSpace of `user` in `dir` tagged with this build (an earlier attempt's).
    async fn find_builder(
        &self,
        dir: &str,
        user: &str,
        build: &str,
    ) -> Result<Option<String>, ActionError> {
        let call = self
            .ws
            .describe_workspaces()
            .directory_id(dir)
            .user_name(user);
        for w in &crate::poll::all_workspaces(call).await? {
            let Some(id) = w.workspace_id() else { continue };
            let tagged = crate::sweep::tag_of(&self.ws, id, recipe_aws::tags::BUILD_ID).await?;
            if tagged.as_deref() == Some(build) {
                return Ok(Some(id.to_string()));
            }
            // The user's earlier builder (swept, or an earlier build's) holds the user until it is
            // gone: WorkSpaces gives a user one WorkSpace per directory.
            if w.state() == Some(&WorkspaceState::Terminating) {
                self.waiting(format!(
                    "{id}, the earlier WorkSpace of {user}, to be terminated"
                ));
                self.workspace_until(id, WorkspaceState::Terminated).await?;
            }
        }
        Ok(None)
    }

    /// Wait until `ws` is AVAILABLE, starting it first when it is stopped (AUTO_STOP).
    pub(crate) async fn ensure_running(&self, ws: String) -> Result<(), ActionError> {
        let state = self.state_of(&ws).await?;
        if matches!(state, WorkspaceState::Stopped | WorkspaceState::Stopping) {
            if state == WorkspaceState::Stopping {
                self.workspace_until(&ws, WorkspaceState::Stopped).await?;
            }
            let out = self
                .ws
                .start_workspaces()
                .start_workspace_requests(StartRequest::builder().workspace_id(&ws).build())
                .send()
                .await
                .ctx("workspaces", "StartWorkspaces")?;
            if let Some(f) = out.failed_requests().first() {
                return Err(ActionError::fatal(format!(
                    "the builder {ws} could not be started: {}",
                    f.error_message().unwrap_or("no message")
                )));
            }
        }
        self.waiting(format!("the builder WorkSpace {ws} to be AVAILABLE"));
        self.workspace_until(&ws, WorkspaceState::Available).await?;
        Ok(())
    }

    /// WorkSpace `ws` as DescribeWorkspaces answers it (an error when it no longer exists).
    pub(crate) async fn describe(
        &self,
        ws: &str,
    ) -> Result<aws_sdk_workspaces::types::Workspace, ActionError> {
        let out = self
            .ws
            .describe_workspaces()
            .workspace_ids(ws)
            .send()
            .await
            .ctx("workspaces", "DescribeWorkspaces")?;
        out.workspaces().first().cloned().ok_or_else(|| {
            ActionError::fatal(format!("the builder WorkSpace {ws} no longer exists"))
        })
    }

    /// A WorkSpace's state (`AVAILABLE`, `STOPPED`, …).
    /// The state of WorkSpace `ws` (`Unknown("")` when the answer has none).
    pub(crate) async fn state_of(&self, ws: &str) -> Result<WorkspaceState, ActionError> {
        let w = self.describe(ws).await?;
        Ok(w.state()
            .cloned()
            .unwrap_or_else(|| WorkspaceState::from("")))
    }

    /// The name WorkSpace `ws` knows itself by: its computer name, "as seen by the operating
    /// system" (API_Workspace), which names the parameter the bootstrap on it reads.
    async fn computer_name(&self, ws: &str) -> Result<String, ActionError> {
        let w = self.describe(ws).await?;
        w.computer_name().map(str::to_uppercase).ok_or_else(|| {
            AwsError::missing("workspaces", "DescribeWorkspaces", "ComputerName").into()
        })
    }

    /// The node registered with the builder's activation must be the builder: its agent reports the
    /// WorkSpace's computer name. A node on another machine (someone used the code elsewhere) is
    /// deregistered and the build fails before any step, or secret, reaches it.
    async fn check_node(&self, ws: &str, name: &str, activation: &str) -> Result<(), ActionError> {
        let Some(hybrid::NodeInfo {
            id: node,
            computer_name: computer,
            ..
        }) = hybrid::node_info(&self.ssm, activation).await?
        else {
            return Ok(());
        };
        if computer.eq_ignore_ascii_case(name) {
            return Ok(());
        }
        deregister(&self.ssm, &node).await?;
        Err(ActionError::fatal(format!(
            "the node {node} registered with the activation of {ws} reports computer {computer}, not {name}: it is another machine, so it was deregistered and no step was sent (the activation's code was used outside the builder: check who can read {})",
            hybrid::parameter_name(name)
        )))
    }

    /// The activation for `ws` (computer name `name`): an earlier attempt's, or a new one.
    async fn activation(&self, ws: &str, name: &str) -> Result<String, ActionError> {
        let build = self.values().build_id;
        let tags = recipe_aws::tags::builder_tags(self.name, &build);
        let description = format!("recipe builder {ws} of {} ({build})", self.name);
        let a = hybrid::ActivationFor {
            machine: ws,
            name,
            role: &self.p.agent_role,
            description: &description,
            tags: &tags,
        };
        hybrid::ensure_activation(&self.ssm, &a).await
    }

    /// A session on the builder WorkSpace's managed node.
    pub(crate) async fn session(&self) -> Result<Session<'_>, ActionError> {
        let ssm = self.ssm.clone();
        Session::on_hybrid(&self.s, ssm, &self.p.nodes, self).await
    }

    /// Run one script on the builder (a session of its own).
    pub(crate) async fn script(&self, label: &str, script: &str) -> Result<(), ActionError> {
        self.session().await?.run_script(label, script, 1800).await
    }

    /// Whether the recipe builds a Windows image.
    pub(crate) fn os(&self) -> Os {
        self.r.recipe.os.value
    }

    /// Stop the agent's registration from reaching the image, and remove the managed node.
    pub(crate) async fn detach_agent(&self, ws: &str) -> Result<(), ActionError> {
        let Some(node) = self.p.nodes.on_builder(&self.ssm, ws).await? else {
            return Ok(());
        };
        self.script(
            "forget the SSM registration",
            hybrid::forget_registration(self.os()),
        )
        .await?;
        deregister(&self.ssm, &node).await?;
        self.p.nodes.forget(ws);
        Ok(())
    }

    /// Terminate the builder once no image is being made from it, and remove its node and activation.
    pub(crate) async fn terminate_builder(&self) -> Result<(), ActionError> {
        let ws = self.builder();
        if ws.is_empty()
            || self
                .r
                .recipe
                .base
                .declared(recipe_model::BaseKind::of(&recipe_targets::WORKSPACE_BASE))
                .is_some()
        {
            return Ok(());
        }
        if self.state_of(&ws).await.ok() == Some(WorkspaceState::Suspended) {
            self.waiting(format!(
                "the image to be made from {ws} before it is terminated"
            ));
            self.workspace_until(&ws, WorkspaceState::Available).await?;
        }
        forget(&self.ssm, &ws).await?;
        terminate(&self.ws, &ws).await?;
        drop_temp(self.p, &self.home, &ws, &self.values().build_id).await
    }
}

/// The name of a build's temporary bundle and imported image.
fn temp_name(build_id: &str) -> String {
    format!("recipe-{build_id}")
}

/// Once builder `ws` is gone, remove the build's temporary bundle, then its imported image (each
/// used by the one before, so in this order). Nothing to do when the base was a bundle.
pub(crate) async fn drop_temp(
    p: &WorkspacesProvider,
    region: &str,
    ws: &str,
    build_id: &str,
) -> Result<(), ActionError> {
    let client = p.workspaces(region);
    let name = temp_name(build_id);
    let bundle = crate::rollout::bundle_named(&client, &name).await?;
    let image = crate::image::owned_named(&client, &name).await?;
    if bundle.is_none() && image.is_none() {
        return Ok(());
    }
    let gone = WorkspaceState::Terminated;
    poll::wait_workspace(p.on(region, client.clone()), ws, gone).await?;
    if let Some((id, _)) = bundle {
        client
            .delete_workspace_bundle()
            .bundle_id(id)
            .send()
            .await
            .ctx("workspaces", "DeleteWorkspaceBundle")?;
    }
    if let Some(id) = image {
        crate::image::delete_image(p, region, &id).await?;
    }
    Ok(())
}

/// Terminate WorkSpace `ws` (a refusal inside the 200 is an error; one already gone is done).
pub(crate) async fn terminate(
    client: &aws_sdk_workspaces::Client,
    ws: &str,
) -> Result<(), ActionError> {
    let req = TerminateRequest::builder()
        .workspace_id(ws)
        .build()
        .map_err(|e| ActionError::fatal(e.to_string()))?;
    let out = client
        .terminate_workspaces()
        .terminate_workspace_requests(req)
        .send()
        .await
        .ctx("workspaces", "TerminateWorkspaces")?;
    match out.failed_requests().first() {
        Some(f) if f.error_code() != Some("ResourceNotFound.WorkSpace") => {
            Err(ActionError::fatal(format!(
                "the builder {ws} could not be terminated: {} ({})",
                f.error_message().unwrap_or("no message"),
                f.error_code().unwrap_or("no code")
            )))
        }
        _ => Ok(()),
    }
}

/// Terminate (or, with `keep`, mark) the builder of a failed build, with its activation and the
/// temporary import and bundle it was made from. A builder that is the user's WorkSpace
/// (`base: { workspace: … }`) is left running: only what the build added goes.
pub(crate) async fn release_one(
    p: &WorkspacesProvider,
    cx: &ApplyContext,
    l: &Leftover,
    keep: bool,
) -> Released {
    let builder = l.builder.as_str();
    let users = cx.recipe(&l.recipe);
    if users.is_ok_and(|r| {
        r.recipe
            .base
            .declared(recipe_model::BaseKind::of(&recipe_targets::WORKSPACE_BASE))
            .is_some()
    }) {
        let forgot = cx.home_region(&l.recipe).map(|region| p.ssm(&region));
        return match forgot {
            Ok(ssm) => match forget(&ssm, builder).await {
                Ok(()) => Released::Untouched,
                Err(e) => Released::Failed(e),
            },
            Err(e) => Released::Failed(e),
        };
    }
    let mark = |region: String| async move {
        let call = p.workspaces(&region).create_tags().resource_id(builder);
        let call = call.tags(tag(recipe_aws::tags::KEEP, "debug")).send().await;
        call.ctx("workspaces", "CreateTags")?;
        Ok(())
    };
    let build = cx.build(&l.recipe);
    let remove = |region: String| async move {
        forget(&p.ssm(&region), builder).await?;
        terminate(&p.workspaces(&region), builder).await?;
        match build {
            Some(b) => drop_temp(p, &region, builder, &b.build_id).await,
            None => Ok(()),
        }
    };
    cx.release_with((l, keep), mark, remove).await
}

impl Hybrid for Act<'_> {
    fn builder(&self) -> String {
        Act::builder(self)
    }

    /// Where a person connects: the WorkSpaces client, as the builder's user.
    fn words(&self, ws: &str) -> (String, String) {
        let b = &self.r.recipe.builder;
        let user = b
            .user_name
            .as_ref()
            .map_or("its user", |u| u.value.as_str());
        let dir = b.directory_id.as_ref();
        let dir = dir.map_or("its directory", |d| d.value.as_str());
        let (what, home) = (format!("the builder {ws}"), &self.home);
        (
            what,
            format!(
                "the builder WorkSpace {ws} in {home}: sign in with the WorkSpaces client as {user} of directory {dir} (the directory's registration code is in `aws workspaces describe-workspace-directories --directory-ids {dir} --region {home}`)"
            ),
        )
    }
}
