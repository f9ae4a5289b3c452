//! The same tests against aws-sim and moto.

pub use aws_sdk_ec2::types::{
    Filter, InstanceStateName, LaunchPermission, LaunchPermissionModifications, ResourceType, Tag,
    TagSpecification,
};

use crate::common::{Clients, clients, code, eventually, sim};

const REGION: &str = "us-east-1";
const OTHER: &str = "eu-west-2";
const ACCOUNT: &str = "123456789012";

/// An available public image to start from (both backends ship Amazon images).
pub async fn base_image(c: &Clients) -> String {
    let out = c
        .ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .expect("describe amazon images");
    out.images()
        .iter()
        .find(|i| {
            i.state().map(|s| s.as_str()) == Some("available")
                && i.name()
                    .is_some_and(|n| n.contains("x86_64") || n.contains("amzn"))
        })
        .or_else(|| out.images().first())
        .and_then(|i| i.image_id())
        .expect("an amazon image")
        .to_string()
}

pub async fn running_instance(c: &Clients) -> String {
    let image = base_image(c).await;
    let out = c
        .ec2
        .run_instances()
        .image_id(&image)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Small)
        .min_count(1)
        .max_count(1)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(Tag::builder().key("recipe:name").value("web").build())
                .build(),
        )
        .send()
        .await
        .expect("run instances");
    let id = out.instances()[0]
        .instance_id()
        .expect("instance id")
        .to_string();
    let ec2 = c.ec2.clone();
    let id2 = id.clone();
    eventually("the instance to run", 30, || {
        let ec2 = ec2.clone();
        let id = id2.clone();
        async move {
            let d = ec2
                .describe_instances()
                .instance_ids(&id)
                .send()
                .await
                .ok()?;
            let state = d
                .reservations()
                .first()?
                .instances()
                .first()?
                .state()?
                .name()?
                .clone();
            (state == InstanceStateName::Running).then_some(())
        }
    })
    .await;
    id
}

pub async fn available(c: &Clients, image: &str) {
    let ec2 = c.ec2.clone();
    let image = image.to_string();
    eventually("the image to be available", 30, || {
        let ec2 = ec2.clone();
        let image = image.clone();
        async move {
            let d = ec2.describe_images().image_ids(&image).send().await.ok()?;
            (d.images().first()?.state()?.as_str() == "available").then_some(())
        }
    })
    .await;
}

/// Launch, tag, capture, copy across regions, share, look up by tag, deregister, terminate.
async fn image_lifecycle(url: &str) {
    let c = clients(url, REGION, ACCOUNT);
    let instance = running_instance(&c).await;
    let tagged = c
        .ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:recipe:name")
                .values("web")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(
        tagged
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .any(|i| i.instance_id() == Some(instance.as_str()))
    );

    let name = format!("web-1.0.0-{}", std::process::id());
    let image = c
        .ec2
        .create_image()
        .instance_id(&instance)
        .name(&name)
        .description("conformance")
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Image)
                .tags(Tag::builder().key("recipe:build-id").value("b1").build())
                .build(),
        )
        .send()
        .await
        .expect("create image")
        .image_id()
        .expect("image id")
        .to_string();
    available(&c, &image).await;
    // Found by its tag.
    let by_tag = c
        .ec2
        .describe_images()
        .owners("self")
        .filters(
            Filter::builder()
                .name("tag:recipe:build-id")
                .values("b1")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_tag
            .images()
            .iter()
            .filter_map(|i| i.image_id())
            .collect::<Vec<_>>(),
        [image.as_str()]
    );

    // Copy: called in the destination region.
    let dest = clients(url, OTHER, ACCOUNT);
    let copy = dest
        .ec2
        .copy_image()
        .source_image_id(&image)
        .source_region(REGION)
        .name(&name)
        .send()
        .await
        .expect("copy image")
        .image_id()
        .unwrap()
        .to_string();
    assert_ne!(copy, image);
    available(&dest, &copy).await;
    // The copy lives in the destination region only.
    assert!(
        c.ec2
            .describe_images()
            .image_ids(&copy)
            .send()
            .await
            .map(|o| o.images().is_empty())
            .unwrap_or(true)
    );

    // Launch permissions.
    c.ec2
        .modify_image_attribute()
        .image_id(&image)
        .launch_permission(
            LaunchPermissionModifications::builder()
                .add(LaunchPermission::builder().user_id("111122223333").build())
                .build(),
        )
        .send()
        .await
        .expect("share");
    let attr = c
        .ec2
        .describe_image_attribute()
        .image_id(&image)
        .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
        .send()
        .await
        .unwrap();
    let users: Vec<&str> = attr
        .launch_permissions()
        .iter()
        .filter_map(|p| p.user_id())
        .collect();
    assert_eq!(users, ["111122223333"]);
    c.ec2
        .modify_image_attribute()
        .image_id(&image)
        .launch_permission(
            LaunchPermissionModifications::builder()
                .remove(LaunchPermission::builder().user_id("111122223333").build())
                .build(),
        )
        .send()
        .await
        .expect("unshare");
    let attr = c
        .ec2
        .describe_image_attribute()
        .image_id(&image)
        .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
        .send()
        .await
        .unwrap();
    assert!(attr.launch_permissions().is_empty());

    // Deregister with its snapshots; the image is gone.
    c.ec2
        .deregister_image()
        .image_id(&image)
        .send()
        .await
        .expect("deregister");
    let gone = c.ec2.describe_images().image_ids(&image).send().await;
    assert!(
        gone.map(|o| o.images().is_empty()).unwrap_or(true),
        "a deregistered image is not listed"
    );
    let missing = c
        .ec2
        .deregister_image()
        .image_id("ami-0123456789abcdef0")
        .send()
        .await
        .unwrap_err();
    assert!(
        code(&missing).starts_with("InvalidAMIID"),
        "{}",
        code(&missing)
    );

    c.ec2
        .terminate_instances()
        .instance_ids(&instance)
        .send()
        .await
        .expect("terminate");
}

/// SSM parameters: put, get, overwrite rules.
async fn parameters(url: &str) {
    let c = clients(url, REGION, ACCOUNT);
    let name = format!("/images/web/latest-{}", std::process::id());
    c.ssm
        .put_parameter()
        .name(&name)
        .value("ami-0123456789abcdef0")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("put");
    let again = c
        .ssm
        .put_parameter()
        .name(&name)
        .value("ami-1")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_ssm::error::ProvideErrorMetadata::code(&again.into_service_error()),
        Some("ParameterAlreadyExists")
    );
    let v = c
        .ssm
        .put_parameter()
        .name(&name)
        .value("ami-1")
        .overwrite(true)
        .send()
        .await
        .expect("overwrite");
    assert_eq!(v.version(), 2);
    let got = c.ssm.get_parameter().name(&name).send().await.expect("get");
    assert_eq!(got.parameter().and_then(|p| p.value()), Some("ami-1"));
    let missing = c
        .ssm
        .get_parameter()
        .name("/no/such/parameter")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_ssm::error::ProvideErrorMetadata::code(&missing.into_service_error()),
        Some("ParameterNotFound")
    );
}

#[tokio::test]
async fn image_lifecycle_on_aws_sim() {
    let s = sim().await;
    image_lifecycle(s.url()).await;
}

#[tokio::test]
async fn image_lifecycle_on_moto() {
    let Some(m) = recipe_testkit::moto() else {
        return;
    };
    image_lifecycle(&m.url).await;
}

#[tokio::test]
async fn parameters_on_aws_sim() {
    let s = sim().await;
    parameters(s.url()).await;
}

#[tokio::test]
async fn parameters_on_moto() {
    let Some(m) = recipe_testkit::moto() else {
        return;
    };
    parameters(&m.url).await;
}

/// A WorkSpace to make images of: on aws-sim any `d-…` directory is taken; on moto the directory is
/// a Directory Service directory in a VPC, registered with WorkSpaces first.
async fn a_workspace(c: &Clients, directory: &str) -> String {
    let req = aws_sdk_workspaces::types::WorkspaceRequest::builder()
        .directory_id(directory)
        .user_name("image-builder")
        .bundle_id("wsb-clj85qzj1")
        .build()
        .unwrap();
    let out = c
        .workspaces
        .create_workspaces()
        .workspaces(req)
        .send()
        .await
        .unwrap();
    assert!(
        out.failed_requests().is_empty(),
        "{:?}",
        out.failed_requests()
    );
    out.pending_requests()[0]
        .workspace_id()
        .unwrap()
        .to_string()
}

/// Images and image permissions, the calls the WorkSpaces provider shares and unshares with: the
/// same code on both backends.
async fn workspaces_images_and_permissions(c: &Clients, ws: &str) {
    let out = c
        .workspaces
        .create_workspace_image()
        .name("desk-1.0.0")
        .description("Desk 1.0.0")
        .workspace_id(ws)
        .send()
        .await
        .expect("create image");
    let image = out.image_id().unwrap().to_string();
    let state = |c: &Clients, id: String| {
        let ws = c.workspaces.clone();
        async move {
            let d = ws
                .describe_workspace_images()
                .image_ids(id)
                .send()
                .await
                .ok()?;
            d.images().first()?.state().map(|s| s.as_str().to_string())
        }
    };
    eventually("the image to be AVAILABLE", 30, || async {
        (state(c, image.clone()).await.as_deref() == Some("AVAILABLE")).then_some(())
    })
    .await;
    let owned = c
        .workspaces
        .describe_workspace_images()
        .image_type(aws_sdk_workspaces::types::ImageType::Owned)
        .send()
        .await
        .unwrap();
    assert!(
        owned
            .images()
            .iter()
            .any(|i| i.image_id() == Some(image.as_str()))
    );
    let dup = c
        .workspaces
        .create_workspace_image()
        .name("desk-1.0.0")
        .description("again")
        .workspace_id(ws)
        .send()
        .await;
    let dup = dup.unwrap_err().into_service_error();
    assert!(dup.is_resource_already_exists_exception(), "{dup:?}");
    let share = |allow: bool| {
        c.workspaces
            .update_workspace_image_permission()
            .image_id(&image)
            .allow_copy_image(allow)
            .shared_account_id("111122223333")
            .send()
    };
    share(true).await.expect("share");
    let perms = |c: &Clients| {
        let (ws, id) = (c.workspaces.clone(), image.clone());
        async move {
            let p = ws
                .describe_workspace_image_permissions()
                .image_id(id)
                .send()
                .await
                .unwrap();
            p.image_permissions()
                .iter()
                .filter_map(|p| p.shared_account_id().map(str::to_string))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(perms(c).await, ["111122223333"]);
    share(false).await.expect("unshare");
    assert!(perms(c).await.is_empty());
}

#[tokio::test]
async fn workspaces_images_and_permissions_on_aws_sim() {
    let s = sim().await;
    let c = clients(s.url(), REGION, ACCOUNT);
    let ws = a_workspace(&c, "d-906734325").await;
    eventually("the WorkSpace to be AVAILABLE", 30, || async {
        let d = c
            .workspaces
            .describe_workspaces()
            .workspace_ids(&ws)
            .send()
            .await
            .ok()?;
        (d.workspaces()[0].state().map(|s| s.as_str()) == Some("AVAILABLE")).then_some(())
    })
    .await;
    workspaces_images_and_permissions(&c, &ws).await;
}

#[tokio::test]
async fn workspaces_images_and_permissions_on_moto() {
    let Some(m) = recipe_testkit::moto() else {
        return;
    };
    let c = clients(&m.url, REGION, ACCOUNT);
    let vpc = c
        .ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let mut subnets = Vec::new();
    for (cidr, az) in [("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")] {
        let s = c
            .ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .availability_zone(az)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().unwrap().subnet_id().unwrap().to_string());
    }
    let body = format!(
        r#"{{"Name":"corp.example.com","Password":"Passw0rd!2026","Size":"Small","VpcSettings":{{"VpcId":"{vpc}","SubnetIds":["{}","{}"]}}}}"#,
        subnets[0], subnets[1]
    );
    let (status, out) = m
        .json("ds", "DirectoryService_20150416.CreateDirectory", &body)
        .expect("create a directory");
    assert_eq!(status, 200, "{out}");
    let dir: serde_json::Value = serde_json::from_str(&out).unwrap();
    let dir = dir["DirectoryId"].as_str().unwrap().to_string();
    c.workspaces
        .register_workspace_directory()
        .directory_id(&dir)
        .send()
        .await
        .expect("register the directory");
    let ws = a_workspace(&c, &dir).await;
    workspaces_images_and_permissions(&c, &ws).await;
}
