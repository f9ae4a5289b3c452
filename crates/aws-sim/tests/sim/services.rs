//! WorkSpaces (awsJson1_1) and AppStream 2.0 (RPC v2 CBOR) through the real SDK clients.

use aws_sdk_appstream::types::ImagePermissions;
use aws_sdk_workspaces::types::{
    ComputeType, RootStorage, UserStorage, WorkspaceRequest, WorkspaceState,
};

use crate::common::{clients, eventually, sim};
use crate::conformance::available;

const REGION: &str = "us-east-1";
const OWNER: &str = "123456789012";
const FRIEND: &str = "111122223333";

fn ws_code<E: aws_sdk_workspaces::error::ProvideErrorMetadata + std::fmt::Debug>(
    e: &aws_sdk_workspaces::error::SdkError<E>,
) -> String {
    match e {
        aws_sdk_workspaces::error::SdkError::ServiceError(se) => {
            se.err().code().unwrap_or("").to_string()
        }
        other => format!("{other:?}"),
    }
}

fn as_code<E: aws_sdk_appstream::error::ProvideErrorMetadata + std::fmt::Debug>(
    e: &aws_sdk_appstream::error::SdkError<E>,
) -> String {
    match e {
        aws_sdk_appstream::error::SdkError::ServiceError(se) => {
            se.err().code().unwrap_or("").to_string()
        }
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn workspaces_image_bundle_copy_share_and_rebuild() {
    let s = sim().await;
    let c = clients(s.url(), REGION, OWNER);
    let out = c
        .workspaces
        .create_workspaces()
        .workspaces(
            WorkspaceRequest::builder()
                .directory_id("d-906734325")
                .user_name("image-builder")
                .bundle_id("wsb-clj85qzj1")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create workspaces");
    assert!(
        out.failed_requests().is_empty(),
        "{:?}",
        out.failed_requests()
    );
    let ws = out.pending_requests()[0]
        .workspace_id()
        .unwrap()
        .to_string();
    let wait_state = |want: WorkspaceState| {
        let client = c.workspaces.clone();
        let ws = ws.clone();
        async move {
            eventually("the WorkSpace state", 30, || {
                let client = client.clone();
                let ws = ws.clone();
                let want = want.clone();
                async move {
                    let d = client
                        .describe_workspaces()
                        .workspace_ids(&ws)
                        .send()
                        .await
                        .ok()?;
                    (d.workspaces().first()?.state()? == &want).then_some(())
                }
            })
            .await
        }
    };
    wait_state(WorkspaceState::Available).await;
    let image = c
        .workspaces
        .create_workspace_image()
        .name("dev-desktop-1.0.0")
        .description("recipe dev-desktop 1.0.0")
        .workspace_id(&ws)
        .send()
        .await
        .expect("create image")
        .image_id()
        .unwrap()
        .to_string();
    let during = c
        .workspaces
        .describe_workspaces()
        .workspace_ids(&ws)
        .send()
        .await
        .unwrap();
    assert_eq!(
        during.workspaces()[0].state(),
        Some(&WorkspaceState::Suspended),
        "the WorkSpace is suspended while imaged"
    );
    let ws_client = c.workspaces.clone();
    let img = image.clone();
    eventually("the image to be AVAILABLE", 30, || {
        let client = ws_client.clone();
        let img = img.clone();
        async move {
            let d = client
                .describe_workspace_images()
                .image_ids(&img)
                .send()
                .await
                .ok()?;
            (d.images().first()?.state()?.as_str() == "AVAILABLE").then_some(())
        }
    })
    .await;
    wait_state(WorkspaceState::Available).await;

    // Bundle volume rules.
    let bad = c
        .workspaces
        .create_workspace_bundle()
        .bundle_name("dev")
        .bundle_description("dev desktop")
        .image_id(&image)
        .compute_type(
            ComputeType::builder()
                .name(aws_sdk_workspaces::types::Compute::Standard)
                .build(),
        )
        .user_storage(UserStorage::builder().capacity("20").build().unwrap())
        .root_storage(RootStorage::builder().capacity("80").build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(ws_code(&bad), "InvalidParameterValuesException");
    let bundle = c
        .workspaces
        .create_workspace_bundle()
        .bundle_name("dev")
        .bundle_description("dev desktop")
        .image_id(&image)
        .compute_type(
            ComputeType::builder()
                .name(aws_sdk_workspaces::types::Compute::Standard)
                .build(),
        )
        .user_storage(UserStorage::builder().capacity("10").build().unwrap())
        .root_storage(RootStorage::builder().capacity("80").build().unwrap())
        .send()
        .await
        .expect("bundle")
        .workspace_bundle()
        .unwrap()
        .bundle_id()
        .unwrap()
        .to_string();
    // The image cannot go while a bundle uses it.
    let in_use = c
        .workspaces
        .delete_workspace_image()
        .image_id(&image)
        .send()
        .await
        .unwrap_err();
    assert_eq!(ws_code(&in_use), "ResourceAssociatedException");

    // Copy: called in the destination region.
    let dest = clients(s.url(), "eu-west-1", OWNER);
    let copy = dest
        .workspaces
        .copy_workspace_image()
        .name("dev-desktop-1.0.0")
        .source_image_id(&image)
        .source_region(REGION)
        .send()
        .await
        .expect("copy");
    assert!(copy.image_id().is_some_and(|i| i.starts_with("wsi-")));

    // Share in the same region: the friend sees it.
    c.workspaces
        .update_workspace_image_permission()
        .image_id(&image)
        .allow_copy_image(true)
        .shared_account_id(FRIEND)
        .send()
        .await
        .expect("share");
    let friend = clients(s.url(), REGION, FRIEND);
    let shared = friend
        .workspaces
        .describe_workspace_images()
        .image_type(aws_sdk_workspaces::types::ImageType::Shared)
        .send()
        .await
        .unwrap();
    assert!(
        shared
            .images()
            .iter()
            .any(|i| i.image_id() == Some(image.as_str()))
    );
    let perms = c
        .workspaces
        .describe_workspace_image_permissions()
        .image_id(&image)
        .send()
        .await
        .unwrap();
    assert_eq!(
        perms
            .image_permissions()
            .iter()
            .filter_map(|p| p.shared_account_id())
            .collect::<Vec<_>>(),
        [FRIEND]
    );

    // Rebuild on the bundle's image.
    c.workspaces
        .update_workspace_bundle()
        .bundle_id(&bundle)
        .image_id(&image)
        .send()
        .await
        .expect("update bundle");
    let rebuild = c
        .workspaces
        .rebuild_workspaces()
        .rebuild_workspace_requests(
            aws_sdk_workspaces::types::RebuildRequest::builder()
                .workspace_id(&ws)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        rebuild.failed_requests().is_empty(),
        "{:?}",
        rebuild.failed_requests()
    );
}

#[tokio::test]
async fn appstream_builder_import_copy_share_and_fleet() {
    let s = sim().await;
    s.provide_role("123456789012", "import", "appstream.amazonaws.com");
    let c = clients(s.url(), REGION, OWNER);
    let builder = c
        .appstream
        .create_image_builder()
        .name("finance-builder")
        .image_name("AppStream-WinServer2022-06-17-2025")
        .instance_type("stream.standard.medium")
        .send()
        .await
        .expect("create image builder");
    assert_eq!(
        builder
            .image_builder()
            .and_then(|b| b.state())
            .map(|s| s.as_str()),
        Some("PENDING")
    );
    let client = c.appstream.clone();
    eventually("the builder to run", 30, || {
        let client = client.clone();
        async move {
            let d = client
                .describe_image_builders()
                .names("finance-builder")
                .send()
                .await
                .ok()?;
            (d.image_builders().first()?.state()?.as_str() == "RUNNING").then_some(())
        }
    })
    .await;
    let bad = c
        .appstream
        .create_image_builder()
        .name("b2")
        .image_name("AppStream-WinServer2022-06-17-2025")
        .instance_type("t3.small")
        .send()
        .await;
    assert!(bad.is_err(), "an EC2 instance type is refused");

    // Import a Windows AMI built on EC2 (the path that needs no command channel to the builder).
    let windows = c
        .ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap();
    let windows = windows
        .images()
        .iter()
        .find(|i| {
            i.name()
                .is_some_and(|n| n.starts_with("TPM-Windows_Server"))
        })
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();
    let run = c
        .ec2
        .run_instances()
        .image_id(&windows)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let instance = run.instances()[0].instance_id().unwrap().to_string();
    let ec2 = c.ec2.clone();
    let i2 = instance.clone();
    eventually("the Windows builder instance to run", 30, || {
        let ec2 = ec2.clone();
        let i = i2.clone();
        async move {
            let d = ec2
                .describe_instances()
                .instance_ids(&i)
                .send()
                .await
                .ok()?;
            (d.reservations()
                .first()?
                .instances()
                .first()?
                .state()?
                .name()?
                .as_str()
                == "running")
                .then_some(())
        }
    })
    .await;
    let ami = c
        .ec2
        .create_image()
        .instance_id(&instance)
        .name("finance-apps-ami")
        .send()
        .await
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();
    available(&c, &ami).await;
    let reserved = c
        .appstream
        .create_imported_image()
        .name("AppStream-finance")
        .source_ami_id(&ami)
        .iam_role_arn("arn:aws:iam::123456789012:role/import")
        .send()
        .await
        .unwrap_err();
    assert!(
        !as_code(&reserved).is_empty(),
        "a reserved name prefix is refused"
    );
    c.appstream
        .create_imported_image()
        .name("finance-apps-4.1.0")
        .source_ami_id(&ami)
        .iam_role_arn("arn:aws:iam::123456789012:role/import")
        .send()
        .await
        .expect("import");
    let client = c.appstream.clone();
    eventually("the imported image to be available", 30, || {
        let client = client.clone();
        async move {
            let d = client
                .describe_images()
                .names("finance-apps-4.1.0")
                .send()
                .await
                .ok()?;
            (d.images().first()?.state()?.as_str() == "AVAILABLE").then_some(())
        }
    })
    .await;

    // CopyImage is called in the source region.
    let copied = c
        .appstream
        .copy_image()
        .source_image_name("finance-apps-4.1.0")
        .destination_image_name("finance-apps-4.1.0")
        .destination_region("eu-west-1")
        .send()
        .await
        .expect("copy");
    assert_eq!(copied.destination_image_name(), Some("finance-apps-4.1.0"));
    let dest = clients(s.url(), "eu-west-1", OWNER);
    let there = dest
        .appstream
        .describe_images()
        .names("finance-apps-4.1.0")
        .send()
        .await
        .unwrap();
    assert_eq!(there.images().len(), 1);

    // Share per account, same region.
    c.appstream
        .update_image_permissions()
        .name("finance-apps-4.1.0")
        .shared_account_id(FRIEND)
        .image_permissions(
            ImagePermissions::builder()
                .allow_fleet(true)
                .allow_image_builder(false)
                .build(),
        )
        .send()
        .await
        .expect("share");
    let friend = clients(s.url(), REGION, FRIEND);
    let seen = friend
        .appstream
        .describe_images()
        .r#type(aws_sdk_appstream::types::VisibilityType::Shared)
        .send()
        .await
        .unwrap();
    assert!(
        seen.images()
            .iter()
            .any(|i| i.name() == Some("finance-apps-4.1.0"))
    );

    // A fleet on the image; the image cannot be deleted while in use.
    c.appstream
        .create_fleet()
        .name("finance-fleet")
        .image_name("finance-apps-4.1.0")
        .instance_type("stream.standard.medium")
        .fleet_type(aws_sdk_appstream::types::FleetType::AlwaysOn)
        .compute_capacity(
            aws_sdk_appstream::types::ComputeCapacity::builder()
                .desired_instances(2)
                .build(),
        )
        .send()
        .await
        .expect("fleet");
    let in_use = c
        .appstream
        .delete_image()
        .name("finance-apps-4.1.0")
        .send()
        .await
        .unwrap_err();
    assert_eq!(as_code(&in_use), "ResourceInUseException");
}
