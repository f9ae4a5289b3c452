//! AppStream image builders as a real client drives them: the builder rules, the Image Assistant run
//! through SSM on a builder registered with a hybrid activation, CopyImage's destination and what a
//! RUNNING fleet accepts.

use aws_sdk_appstream::types::{ComputeCapacity, FleetType, VpcConfig};

use crate::common::{Clients, admin_post, clients, eventually, sim};

const REGION: &str = "eu-west-2";
const OWNER: &str = "123456789012";
const LINUX: &str = "AppStream-AmazonLinux2-06-17-2025";

fn code<E: aws_sdk_appstream::error::ProvideErrorMetadata + std::fmt::Debug>(
    e: &aws_sdk_appstream::error::SdkError<E>,
) -> String {
    match e {
        aws_sdk_appstream::error::SdkError::ServiceError(se) => {
            se.err().code().unwrap_or_default().to_string()
        }
        other => format!("{other:?}"),
    }
}

async fn builder_state(c: &Clients, name: &str) -> Option<String> {
    let d = c
        .appstream
        .describe_image_builders()
        .names(name)
        .send()
        .await
        .ok()?;
    Some(d.image_builders().first()?.state()?.as_str().to_string())
}

async fn wait_builder(c: &Clients, name: &str, want: &str) {
    eventually(&format!("{name} to be {want}"), 30, || async {
        (builder_state(c, name).await? == want).then_some(())
    })
    .await;
}

/// A RUNNING builder `name` in one subnet.
async fn builder(c: &Clients, name: &str) {
    c.appstream
        .create_image_builder()
        .name(name)
        .image_name(LINUX)
        .instance_type("stream.standard.medium")
        .vpc_config(VpcConfig::builder().subnet_ids("subnet-1").build())
        .send()
        .await
        .expect("create image builder");
    wait_builder(c, name, "RUNNING").await;
}

#[tokio::test]
async fn builders_take_one_subnet_and_are_deleted_only_once_stopped() {
    let s = sim().await;
    let c = clients(s.url(), REGION, OWNER);
    let two = c
        .appstream
        .create_image_builder()
        .name("two-subnets")
        .image_name(LINUX)
        .instance_type("stream.standard.medium")
        .vpc_config(
            VpcConfig::builder()
                .subnet_ids("subnet-1")
                .subnet_ids("subnet-2")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&two), "InvalidParameterCombinationException");
    builder(&c, "b1").await;
    let running = c
        .appstream
        .delete_image_builder()
        .name("b1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&running), "OperationNotPermittedException");
    c.appstream
        .stop_image_builder()
        .name("b1")
        .send()
        .await
        .unwrap();
    wait_builder(&c, "b1", "STOPPED").await;
    c.appstream
        .delete_image_builder()
        .name("b1")
        .send()
        .await
        .expect("a stopped builder is deleted");
    s.stop().await;
}

/// Register an SSM agent on builder `name` through a new activation; the managed node's id.
async fn register(c: &Clients, url: &str, name: &str) -> String {
    let act = c
        .ssm
        .create_activation()
        .iam_role("recipe-appstream-builder")
        .default_instance_name(name)
        .send()
        .await
        .unwrap();
    let ok = admin_post(
        url,
        "/_sim/ssm/register",
        serde_json::json!({
            "activation-id": act.activation_id().unwrap(),
            "activation-code": act.activation_code().unwrap(),
            "image-builder": name,
        }),
    )
    .await;
    let body = ok.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(body).expect(&ok);
    v["instance-id"].as_str().expect(&ok).to_string()
}

/// Run `script` on `node` and wait for it: status and output.
async fn run(c: &Clients, node: &str, script: &str) -> (String, String) {
    let sent = eventually("the command to be accepted", 30, || async {
        c.ssm
            .send_command()
            .document_name("AWS-RunShellScript")
            .instance_ids(node)
            .parameters("commands", vec![script.to_string()])
            .send()
            .await
            .ok()
    })
    .await;
    let id = sent.command().unwrap().command_id().unwrap().to_string();
    eventually("the command to finish", 30, || async {
        let i = c
            .ssm
            .get_command_invocation()
            .command_id(&id)
            .instance_id(node)
            .send()
            .await
            .ok()?;
        let status = i.status()?.as_str().to_string();
        (!matches!(status.as_str(), "Pending" | "InProgress")).then(|| {
            (
                status,
                i.standard_output_content().unwrap_or("").to_string(),
            )
        })
    })
    .await
}

#[tokio::test]
async fn the_image_assistant_through_ssm_builds_the_catalog_and_creates_the_image() {
    let s = sim().await;
    let c = clients(s.url(), REGION, OWNER);
    builder(&c, "ds-builder").await;
    let node = register(&c, s.url(), "ds-builder").await;
    let (status, out) = run(
        &c,
        &node,
        "set -euo pipefail\nAppStreamImageAssistant add-application --name 'jupyterlab' --absolute-app-path '/opt/launchers/jupyterlab' --display-name 'JupyterLab'\nAppStreamImageAssistant list-applications",
    )
    .await;
    assert_eq!(status, "Success", "{out}");
    assert!(out.contains("\"Name\":\"jupyterlab\""), "{out}");
    let (status, out) = run(
        &c,
        &node,
        "AppStreamImageAssistant add-application --name 'jupyterlab' --absolute-app-path '/x'",
    )
    .await;
    assert_eq!(status, "Failed", "a duplicate application fails: {out}");
    let (status, out) = run(
        &c,
        &node,
        "AppStreamImageAssistant create-image --name 'appstream-lower-case'",
    )
    .await;
    assert_eq!(status, "Failed", "a reserved prefix in any case: {out}");
    assert_eq!(builder_state(&c, "ds-builder").await.unwrap(), "RUNNING");
    let (status, out) = run(
        &c,
        &node,
        "AppStreamImageAssistant create-image --name 'ds-0.9.0' --display-name 'Data science' --tags 'recipe:build-id' 'b1'",
    )
    .await;
    assert_eq!(status, "Success", "{out}");
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        answer,
        serde_json::json!({ "status": 0, "message": "Success" })
    );
    assert_eq!(
        builder_state(&c, "ds-builder").await.unwrap(),
        "SNAPSHOTTING"
    );
    let image = eventually("the image to be AVAILABLE", 30, || async {
        let d = c
            .appstream
            .describe_images()
            .names("ds-0.9.0")
            .send()
            .await
            .ok()?;
        let i = d.images().first()?.clone();
        (i.state()?.as_str() == "AVAILABLE").then_some(i)
    })
    .await;
    assert_eq!(image.image_builder_name(), Some("ds-builder"));
    let apps: Vec<_> = image
        .applications()
        .iter()
        .filter_map(|a| a.name())
        .collect();
    assert_eq!(apps, ["jupyterlab"]);
    let tags = c
        .appstream
        .list_tags_for_resource()
        .resource_arn(image.arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags.tags()
            .and_then(|t| t.get("recipe:build-id"))
            .map(String::as_str),
        Some("b1")
    );
    wait_builder(&c, "ds-builder", "STOPPED").await;
    s.stop().await;
}

#[tokio::test]
async fn copies_go_to_appstream_regions_and_a_running_fleet_takes_only_what_the_api_allows() {
    let s = sim().await;
    let c = clients(s.url(), REGION, OWNER);
    let e = c
        .appstream
        .copy_image()
        .source_image_name(LINUX)
        .destination_image_name("x")
        .destination_region("eu-south-9")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterCombinationException");
    c.appstream
        .create_fleet()
        .name("f1")
        .image_name(LINUX)
        .instance_type("stream.standard.medium")
        .fleet_type(FleetType::AlwaysOn)
        .compute_capacity(ComputeCapacity::builder().desired_instances(1).build())
        .send()
        .await
        .unwrap();
    c.appstream.start_fleet().name("f1").send().await.unwrap();
    eventually("the fleet to run", 30, || async {
        let d = c
            .appstream
            .describe_fleets()
            .names("f1")
            .send()
            .await
            .ok()?;
        (d.fleets().first()?.state()?.as_str() == "RUNNING").then_some(())
    })
    .await;
    let e = c
        .appstream
        .update_fleet()
        .name("f1")
        .image_name("AppStream-AmazonLinux2-02-11-2025")
        .instance_type("stream.standard.large")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidParameterCombinationException");
    assert!(format!("{e:?}").contains("InstanceType"), "{e:?}");
    c.appstream
        .update_fleet()
        .name("f1")
        .image_name("AppStream-AmazonLinux2-02-11-2025")
        .send()
        .await
        .expect("a running fleet takes a new image");
    s.stop().await;
}
