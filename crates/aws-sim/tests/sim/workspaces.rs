//! The WorkSpaces operations a builder WorkSpace goes through (start, stop, reboot, modify,
//! directories), the image rules (descriptions, custom imports, updates) and SSM hybrid activations,
//! through the real SDK clients.

use aws_sdk_workspaces::types::{
    Compute, CustomImageProtocol, ImageComputeType, ImageSourceIdentifier, OsVersion, Platform,
    RebootRequest, RunningMode, StartRequest, StopRequest, WorkspaceProperties, WorkspaceRequest,
    WorkspaceState,
};

use crate::common::{Clients, admin_post, clients, eventually, sim};

const REGION: &str = "us-east-1";
const OWNER: &str = "123456789012";

async fn state(c: &Clients, ws: &str) -> Option<WorkspaceState> {
    let d = c
        .workspaces
        .describe_workspaces()
        .workspace_ids(ws)
        .send()
        .await
        .ok()?;
    d.workspaces().first()?.state().cloned()
}

async fn wait_for(c: &Clients, ws: &str, want: WorkspaceState) {
    eventually(&format!("{ws} to be {want:?}"), 30, || async {
        (state(c, ws).await? == want).then_some(())
    })
    .await;
}

/// A WorkSpace for `user` from the public Amazon Linux 2 bundle, AVAILABLE.
async fn workspace(c: &Clients, user: &str, mode: RunningMode) -> String {
    let req = WorkspaceRequest::builder()
        .directory_id("d-906734325")
        .user_name(user)
        .bundle_id("wsb-clj85qzj1")
        .workspace_properties(WorkspaceProperties::builder().running_mode(mode).build())
        .build()
        .unwrap();
    let out = c
        .workspaces
        .create_workspaces()
        .workspaces(req)
        .send()
        .await
        .unwrap();
    let ws = out.pending_requests()[0]
        .workspace_id()
        .unwrap()
        .to_string();
    wait_for(c, &ws, WorkspaceState::Available).await;
    ws
}

/// An image of WorkSpace `ws` named `name`, AVAILABLE.
async fn available_image(c: &Clients, ws: &str, name: &str) -> String {
    let img = c
        .workspaces
        .create_workspace_image()
        .name(name)
        .description(name)
        .workspace_id(ws)
        .send()
        .await
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();
    eventually(&format!("{img} to be AVAILABLE"), 30, || async {
        let d = c
            .workspaces
            .describe_workspace_images()
            .image_ids(&img)
            .send()
            .await
            .ok()?;
        (d.images().first()?.state()?.as_str() == "AVAILABLE").then_some(())
    })
    .await;
    img
}

fn failed_codes(f: &[aws_sdk_workspaces::types::FailedWorkspaceChangeRequest]) -> Vec<String> {
    f.iter()
        .map(|x| x.error_code().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn auto_stop_workspaces_stop_and_start_and_always_on_ones_refuse() {
    let s = sim().await;
    let c = clients(s.url(), REGION, OWNER);
    let auto = workspace(&c, "auto", RunningMode::AutoStop).await;
    let always = workspace(&c, "always", RunningMode::AlwaysOn).await;
    let stop = |id: &str| StopRequest::builder().workspace_id(id).build();
    let out = c
        .workspaces
        .stop_workspaces()
        .stop_workspace_requests(stop(&auto))
        .stop_workspace_requests(stop(&always))
        .send()
        .await
        .unwrap();
    assert_eq!(
        failed_codes(out.failed_requests()),
        ["InvalidResourceState"],
        "only the ALWAYS_ON one fails"
    );
    assert_eq!(
        out.failed_requests()[0].workspace_id(),
        Some(always.as_str())
    );
    wait_for(&c, &auto, WorkspaceState::Stopped).await;
    // A stopped WorkSpace cannot be rebooted; it can be started.
    let reboot = c
        .workspaces
        .reboot_workspaces()
        .reboot_workspace_requests(
            RebootRequest::builder()
                .workspace_id(&auto)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        failed_codes(reboot.failed_requests()),
        ["InvalidResourceState"]
    );
    let start = c
        .workspaces
        .start_workspaces()
        .start_workspace_requests(StartRequest::builder().workspace_id(&auto).build())
        .send()
        .await
        .unwrap();
    assert!(start.failed_requests().is_empty());
    assert_eq!(state(&c, &auto).await, Some(WorkspaceState::Starting));
    wait_for(&c, &auto, WorkspaceState::Available).await;
    // Starting an AVAILABLE one fails inside the 200.
    let again = c
        .workspaces
        .start_workspaces()
        .start_workspace_requests(StartRequest::builder().workspace_id(&auto).build())
        .send()
        .await
        .unwrap();
    assert_eq!(
        failed_codes(again.failed_requests()),
        ["InvalidResourceState"]
    );
    s.stop().await;
}

#[tokio::test]
async fn reboot_passes_through_rebooting_and_modify_shows_its_modification_state() {
    let s = sim().await;
    let c = clients(s.url(), REGION, OWNER);
    let ws = workspace(&c, "builder", RunningMode::AlwaysOn).await;
    let out = c
        .workspaces
        .reboot_workspaces()
        .reboot_workspace_requests(RebootRequest::builder().workspace_id(&ws).build().unwrap())
        .send()
        .await
        .unwrap();
    assert!(out.failed_requests().is_empty());
    assert_eq!(state(&c, &ws).await, Some(WorkspaceState::Rebooting));
    wait_for(&c, &ws, WorkspaceState::Available).await;
    c.workspaces
        .modify_workspace_properties()
        .workspace_id(&ws)
        .workspace_properties(
            WorkspaceProperties::builder()
                .root_volume_size_gib(175)
                .user_volume_size_gib(100)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let d = c
        .workspaces
        .describe_workspaces()
        .workspace_ids(&ws)
        .send()
        .await
        .unwrap();
    let w = &d.workspaces()[0];
    let resources: Vec<&str> = w
        .modification_states()
        .iter()
        .filter_map(|m| m.resource().map(|r| r.as_str()))
        .collect();
    assert_eq!(resources, ["ROOT_VOLUME", "USER_VOLUME"]);
    assert_eq!(
        w.workspace_properties()
            .and_then(|p| p.root_volume_size_gib()),
        Some(175)
    );
    let busy = c
        .workspaces
        .modify_workspace_properties()
        .workspace_id(&ws)
        .workspace_properties(
            WorkspaceProperties::builder()
                .compute_type_name(Compute::Performance)
                .build(),
        )
        .send()
        .await;
    let code = busy.unwrap_err().into_service_error();
    assert!(code.is_operation_in_progress_exception(), "{code:?}");
    eventually("the modification to finish", 30, || async {
        let d = c
            .workspaces
            .describe_workspaces()
            .workspace_ids(&ws)
            .send()
            .await
            .ok()?;
        d.workspaces()[0]
            .modification_states()
            .is_empty()
            .then_some(())
    })
    .await;
    let dirs = c
        .workspaces
        .describe_workspace_directories()
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = dirs
        .directories()
        .iter()
        .filter_map(|d| d.directory_id())
        .collect();
    assert_eq!(ids, ["d-906734325"], "the directory the WorkSpace is in");
    assert_eq!(
        dirs.directories()[0].state().map(|s| s.as_str()),
        Some("REGISTERED")
    );
    s.stop().await;
}

#[tokio::test]
async fn image_descriptions_follow_the_documented_pattern() {
    let s = sim().await;
    let c = clients(s.url(), REGION, OWNER);
    let ws = workspace(&c, "builder", RunningMode::AlwaysOn).await;
    for bad in ["release: 1.0", "build #4"] {
        let e = c
            .workspaces
            .create_workspace_image()
            .name("img-1")
            .description(bad)
            .workspace_id(&ws)
            .send()
            .await
            .unwrap_err();
        assert!(
            e.into_service_error()
                .is_invalid_parameter_values_exception(),
            "{bad}"
        );
    }
    c.workspaces
        .create_workspace_image()
        .name("img-1")
        .description("dev desktop 1.0 (AL2)")
        .workspace_id(&ws)
        .send()
        .await
        .unwrap();
    s.stop().await;
}

/// The bundle volume groups of the Administration Guide: GPU bundles start at 100/100 GB, the rest at
/// 80 GB root with 10, 50 or 100 GB user (or 175+ with 100+).
#[tokio::test]
async fn bundle_volumes_follow_each_compute_types_groups() {
    let s = sim().await;
    let c = clients(s.url(), REGION, OWNER);
    let ws = workspace(&c, "builder", RunningMode::AlwaysOn).await;
    let image = available_image(&c, &ws, "gpu-1").await;
    let bundle = |name: &str, compute: Compute, root: &str, user: &str| {
        c.workspaces
            .create_workspace_bundle()
            .bundle_name(name)
            .bundle_description("gpu desktop")
            .image_id(&image)
            .compute_type(
                aws_sdk_workspaces::types::ComputeType::builder()
                    .name(compute)
                    .build(),
            )
            .root_storage(
                aws_sdk_workspaces::types::RootStorage::builder()
                    .capacity(root)
                    .build()
                    .unwrap(),
            )
            .user_storage(
                aws_sdk_workspaces::types::UserStorage::builder()
                    .capacity(user)
                    .build()
                    .unwrap(),
            )
            .send()
    };
    for (compute, root, user) in [
        (Compute::Graphicspro, "80", "10"),
        (Compute::GraphicsG4Dn, "100", "50"),
        (Compute::Standard, "100", "100"),
    ] {
        let e = bundle("bad", compute.clone(), root, user)
            .await
            .unwrap_err();
        assert!(
            e.into_service_error()
                .is_invalid_parameter_values_exception(),
            "{compute:?} {root}/{user}"
        );
    }
    bundle("gpu", Compute::GraphicsG4Dn, "100", "100")
        .await
        .expect("GPU bundle at 100/100");
    bundle("std", Compute::Standard, "80", "10")
        .await
        .expect("standard bundle at 80/10");
    s.stop().await;
}

#[tokio::test]
async fn import_custom_image_needs_every_member_and_no_pcoip_on_windows_11() {
    let s = sim().await;
    let c = clients(s.url(), REGION, OWNER);
    let full = || {
        c.workspaces
            .import_custom_workspace_image()
            .image_name("office-win11")
            .image_description("office desktop")
            .compute_type(ImageComputeType::Base)
            .protocol(CustomImageProtocol::Dcv)
            .image_source(ImageSourceIdentifier::Ec2ImageId(
                "ami-0123456789abcdef0".into(),
            ))
            .infrastructure_configuration_arn(
                "arn:aws:imagebuilder:us-east-1:123456789012:infrastructure-configuration/ws",
            )
            .platform(Platform::Windows)
            .os_version(OsVersion::Windows11)
    };
    // Without the infrastructure configuration the SDK refuses to send it; on the wire aws-sim does too.
    let e = full()
        .protocol(CustomImageProtocol::Pcoip)
        .send()
        .await
        .unwrap_err();
    assert!(
        e.into_service_error()
            .is_invalid_parameter_values_exception()
    );
    // The infrastructure configuration ARN follows the API's pattern.
    let e = full()
        .infrastructure_configuration_arn(
            "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/ws",
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        e.into_service_error()
            .is_invalid_parameter_values_exception()
    );
    // Every member present: the AMI is then looked up (this one does not exist).
    let e = full().send().await.unwrap_err();
    assert!(e.into_service_error().is_resource_not_found_exception());
    s.stop().await;
}

#[tokio::test]
async fn updated_images_only_for_updatable_windows_versions_with_an_update() {
    let s = sim().await;
    let c = clients(s.url(), REGION, OWNER);
    let ws = workspace(&c, "builder", RunningMode::AlwaysOn).await;
    let img = available_image(&c, &ws, "al2-img").await;
    let d = c
        .workspaces
        .describe_workspace_images()
        .image_ids(&img)
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.images()[0].updates().and_then(|u| u.update_available()),
        Some(false)
    );
    admin_post(
        s.url(),
        "/_sim/workspaces/updates",
        serde_json::json!({ "image-id": img }),
    )
    .await;
    let d = c
        .workspaces
        .describe_workspace_images()
        .image_ids(&img)
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.images()[0].updates().and_then(|u| u.update_available()),
        Some(true)
    );
    // Amazon Linux 2 is not among the versions the API reference lists.
    let e = c
        .workspaces
        .create_updated_workspace_image()
        .name("al2-img-2")
        .description("updated")
        .source_image_id(&img)
        .send()
        .await
        .unwrap_err();
    assert!(
        e.into_service_error()
            .is_operation_not_supported_exception()
    );
    s.stop().await;
}

#[tokio::test]
async fn a_hybrid_activation_registers_one_workspace_as_a_managed_node_that_runs_commands() {
    let s = sim().await;
    let c = clients(s.url(), REGION, OWNER);
    let ws = workspace(&c, "builder", RunningMode::AlwaysOn).await;
    let act = c
        .ssm
        .create_activation()
        .iam_role("recipe-workspaces-builder")
        .default_instance_name(&ws)
        .registration_limit(1)
        .send()
        .await
        .unwrap();
    let (id, code) = (
        act.activation_id().unwrap().to_string(),
        act.activation_code().unwrap().to_string(),
    );
    let wrong = admin_post(
        s.url(),
        "/_sim/ssm/register",
        serde_json::json!({ "activation-id": id, "activation-code": "nope", "workspace-id": ws }),
    )
    .await;
    assert!(wrong.contains("do not match"), "{wrong}");
    let ok = admin_post(
        s.url(),
        "/_sim/ssm/register",
        serde_json::json!({ "activation-id": id, "activation-code": code, "workspace-id": ws }),
    )
    .await;
    assert!(ok.contains("\"instance-id\":\"mi-"), "{ok}");
    let again = admin_post(
        s.url(),
        "/_sim/ssm/register",
        serde_json::json!({ "activation-id": id, "activation-code": code, "workspace-id": ws }),
    )
    .await;
    assert!(again.contains("registration limit"), "{again}");
    let filter = aws_sdk_ssm::types::InstanceInformationStringFilter::builder()
        .key("ActivationIds")
        .values(&id)
        .build()
        .unwrap();
    let node = eventually("the node to be online", 30, || async {
        let d = c
            .ssm
            .describe_instance_information()
            .filters(filter.clone())
            .send()
            .await
            .ok()?;
        let i = d.instance_information_list().first()?;
        (i.ping_status().map(|p| p.as_str()) == Some("Online"))
            .then(|| i.instance_id().unwrap().to_string())
    })
    .await;
    assert!(node.starts_with("mi-"));
    let sent = c
        .ssm
        .send_command()
        .document_name("AWS-RunShellScript")
        .instance_ids(&node)
        .parameters("commands", vec!["true".into()])
        .send()
        .await;
    assert!(sent.is_ok(), "{sent:?}");
    // Deleting the activation leaves the node; deregistering removes it.
    c.ssm
        .delete_activation()
        .activation_id(&id)
        .send()
        .await
        .unwrap();
    let d = c.ssm.describe_activations().send().await.unwrap();
    assert!(d.activation_list().is_empty());
    let d = c
        .ssm
        .describe_instance_information()
        .filters(filter.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(d.instance_information_list().len(), 1);
    c.ssm
        .deregister_managed_instance()
        .instance_id(&node)
        .send()
        .await
        .unwrap();
    let e = c
        .ssm
        .send_command()
        .document_name("AWS-RunShellScript")
        .instance_ids(&node)
        .parameters("commands", vec!["true".into()])
        .send()
        .await
        .unwrap_err();
    assert!(format!("{e:?}").contains("InvalidInstanceId"));
    s.stop().await;
}

/// AWS patching a public bundle in place: the bundle keeps its id, its `ImageId` and
/// `LastUpdatedTime` change, the new image is described like the release one, and a WorkSpace made
/// from the bundle now runs it.
#[tokio::test]
async fn a_public_bundle_updated_by_aws_points_at_its_newer_image() {
    let s = sim().await;
    let c = clients(s.url(), REGION, OWNER);
    let bundle = |c: &Clients| {
        let w = c.workspaces.clone();
        async move {
            let out = w
                .describe_workspace_bundles()
                .bundle_ids("wsb-clj85qzj1")
                .send()
                .await
                .unwrap();
            let b = out.bundles()[0].clone();
            (
                b.image_id().unwrap().to_string(),
                b.last_updated_time().unwrap().secs(),
            )
        }
    };
    let (before, released) = bundle(&c).await;
    admin_post(
        s.url(),
        "/_sim/workspaces/bundle-updates",
        serde_json::json!({ "bundle-id": "wsb-clj85qzj1" }),
    )
    .await;
    let (after, updated) = bundle(&c).await;
    assert_ne!(before, after);
    assert!(updated > released, "now, not the release date: {updated}");
    let img = c
        .workspaces
        .describe_workspace_images()
        .image_ids(&after)
        .send()
        .await
        .unwrap();
    assert_eq!(
        img.images()[0]
            .operating_system()
            .and_then(|o| o.r#type())
            .map(|t| t.as_str()),
        Some("LINUX")
    );
    s.stop().await;
}
