//! What aws-sim models and moto does not: pending phases, preconditions, shares visible across
//! accounts, deprecation, SSM commands.

use aws_sdk_ec2::types::{LaunchPermission, LaunchPermissionModifications};

use crate::common::{clients, code, eventually, sim};
use crate::conformance::{available, running_instance};

const REGION: &str = "us-east-1";
const OWNER: &str = "123456789012";
const FRIEND: &str = "111122223333";

#[tokio::test]
async fn images_are_pending_before_available_and_names_are_unique() {
    let s = sim().await;
    let c = clients(s.url(), REGION, OWNER);
    let instance = running_instance(&c).await;
    let image = c
        .ec2
        .create_image()
        .instance_id(&instance)
        .name("web-1")
        .send()
        .await
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();
    let first = c
        .ec2
        .describe_images()
        .image_ids(&image)
        .send()
        .await
        .unwrap();
    assert_eq!(
        first.images()[0].state().unwrap().as_str(),
        "pending",
        "a new image is pending first"
    );
    // Copying a pending image is refused, as in EC2.
    let dest = clients(s.url(), "eu-west-1", OWNER);
    let early = dest
        .ec2
        .copy_image()
        .source_image_id(&image)
        .source_region(REGION)
        .name("web-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&early), "IncorrectState");
    available(&c, &image).await;
    let dup = c
        .ec2
        .create_image()
        .instance_id(&instance)
        .name("web-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&dup), "InvalidAMIName.Duplicate");
    let bad = c
        .ec2
        .create_image()
        .instance_id(&instance)
        .name("no")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&bad), "InvalidAMIName.Malformed");
    // A client token makes a copy idempotent.
    let a = dest
        .ec2
        .copy_image()
        .source_image_id(&image)
        .source_region(REGION)
        .name("web-1")
        .client_token("t1")
        .send()
        .await
        .unwrap();
    let b = dest
        .ec2
        .copy_image()
        .source_image_id(&image)
        .source_region(REGION)
        .name("web-1")
        .client_token("t1")
        .send()
        .await
        .unwrap();
    assert_eq!(a.image_id(), b.image_id());
    // A snapshot behind a registered image cannot be deleted.
    let snaps = c
        .ec2
        .describe_snapshots()
        .owner_ids("self")
        .send()
        .await
        .unwrap();
    let snap = snaps
        .snapshots()
        .iter()
        .find(|s| s.description().is_some_and(|d| d.contains(&image)))
        .unwrap()
        .snapshot_id()
        .unwrap()
        .to_string();
    let in_use = c
        .ec2
        .delete_snapshot()
        .snapshot_id(&snap)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&in_use), "InvalidSnapshot.InUse");
    c.ec2
        .deregister_image()
        .image_id(&image)
        .delete_associated_snapshots(true)
        .send()
        .await
        .unwrap();
    let after = c.ec2.describe_snapshots().snapshot_ids(&snap).send().await;
    assert!(
        after.map(|o| o.snapshots().is_empty()).unwrap_or(true),
        "snapshots go with the image"
    );
}

#[tokio::test]
async fn a_shared_image_is_visible_to_the_other_account_only_while_shared() {
    let s = sim().await;
    let owner = clients(s.url(), REGION, OWNER);
    let friend = clients(s.url(), REGION, FRIEND);
    let instance = running_instance(&owner).await;
    let image = owner
        .ec2
        .create_image()
        .instance_id(&instance)
        .name("shared")
        .send()
        .await
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();
    available(&owner, &image).await;
    let seen = |c: &crate::common::Clients| {
        let ec2 = c.ec2.clone();
        let image = image.clone();
        async move {
            ec2.describe_images()
                .executable_users("self")
                .send()
                .await
                .unwrap()
                .images()
                .iter()
                .any(|i| i.image_id() == Some(image.as_str()))
        }
    };
    assert!(!seen(&friend).await, "not shared yet");
    let share = |add: bool| {
        let p = LaunchPermission::builder().user_id(FRIEND).build();
        let m = if add {
            LaunchPermissionModifications::builder().add(p).build()
        } else {
            LaunchPermissionModifications::builder().remove(p).build()
        };
        owner
            .ec2
            .modify_image_attribute()
            .image_id(&image)
            .launch_permission(m)
            .send()
    };
    share(true).await.unwrap();
    assert!(seen(&friend).await, "the friend sees the shared image");
    // The friend can launch it but not change it.
    let denied = friend
        .ec2
        .deregister_image()
        .image_id(&image)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&denied), "AuthFailure");
    share(false).await.unwrap();
    assert!(!seen(&friend).await, "revoked");
    // Another region does not see it either way.
    let elsewhere = clients(s.url(), "eu-west-1", OWNER);
    assert!(
        elsewhere
            .ec2
            .describe_images()
            .image_ids(&image)
            .send()
            .await
            .map(|o| o.images().is_empty())
            .unwrap_or(true)
    );
}

#[tokio::test]
async fn deprecation_is_validated_and_reported() {
    let s = sim().await;
    let c = clients(s.url(), REGION, OWNER);
    let instance = running_instance(&c).await;
    let image = c
        .ec2
        .create_image()
        .instance_id(&instance)
        .name("old")
        .send()
        .await
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();
    available(&c, &image).await;
    let past = aws_sdk_ec2::primitives::DateTime::from_secs(1_000_000_000);
    let err = c
        .ec2
        .enable_image_deprecation()
        .image_id(&image)
        .deprecate_at(past)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterValue");
    let soon = aws_sdk_ec2::primitives::DateTime::from_secs(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        )
        .unwrap()
            + 3600,
    );
    c.ec2
        .enable_image_deprecation()
        .image_id(&image)
        .deprecate_at(soon)
        .send()
        .await
        .unwrap();
    let d = c
        .ec2
        .describe_images()
        .image_ids(&image)
        .send()
        .await
        .unwrap();
    assert!(d.images()[0].deprecation_time().is_some());
}

#[tokio::test]
async fn ssm_commands_run_on_online_instances_and_scripted_failures_report_output() {
    let s = sim().await;
    let c = clients(s.url(), REGION, OWNER);
    // The base image resolves through the public parameter.
    let p = c
        .ssm
        .get_parameter()
        .name("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")
        .send()
        .await
        .unwrap();
    let base = p.parameter().unwrap().value().unwrap().to_string();
    assert!(base.starts_with("ami-"));
    let out = c
        .ec2
        .run_instances()
        .image_id(&base)
        .min_count(1)
        .max_count(1)
        .iam_instance_profile(
            aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                .name("recipe-builder")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let instance = out.instances()[0].instance_id().unwrap().to_string();
    // Not online yet: SendCommand is refused until the agent is online.
    let early = c
        .ssm
        .send_command()
        .document_name("AWS-RunShellScript")
        .instance_ids(&instance)
        .parameters("commands", vec!["true".into()])
        .send()
        .await;
    assert!(early.is_err());
    let ssm = c.ssm.clone();
    let i2 = instance.clone();
    eventually("SSM online", 30, || {
        let ssm = ssm.clone();
        let i = i2.clone();
        async move {
            let info = ssm
                .describe_instance_information()
                .filters(
                    aws_sdk_ssm::types::InstanceInformationStringFilter::builder()
                        .key("InstanceIds")
                        .values(&i)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .ok()?;
            (!info.instance_information_list().is_empty()).then_some(())
        }
    })
    .await;
    s.script_command(aws_sim::CommandScript {
        contains: "dnf -y install nginx".into(),
        status: "Failed".into(),
        stdout: "No package nginx available.".into(),
        response_code: 1,
        ..Default::default()
    });
    let run = |cmd: &'static str| {
        let ssm = c.ssm.clone();
        let instance = instance.clone();
        async move {
            let id = ssm
                .send_command()
                .document_name("AWS-RunShellScript")
                .instance_ids(&instance)
                .parameters("commands", vec![cmd.into()])
                .send()
                .await
                .unwrap()
                .command()
                .unwrap()
                .command_id()
                .unwrap()
                .to_string();
            eventually("the command to finish", 30, || {
                let ssm = ssm.clone();
                let id = id.clone();
                let instance = instance.clone();
                async move {
                    let inv = ssm
                        .get_command_invocation()
                        .command_id(&id)
                        .instance_id(&instance)
                        .send()
                        .await
                        .ok()?;
                    let status = inv.status()?.as_str().to_string();
                    (status != "Pending" && status != "InProgress").then(|| {
                        (
                            status,
                            inv.standard_output_content().unwrap_or("").to_string(),
                            inv.response_code(),
                        )
                    })
                }
            })
            .await
        }
    };
    let (status, _, code) = run("systemctl enable sshd").await;
    assert_eq!((status.as_str(), code), ("Success", 0));
    let (status, out, code) = run("dnf -y install nginx").await;
    assert_eq!(
        (status.as_str(), out.as_str(), code),
        ("Failed", "No package nginx available.", 1)
    );
    // Every command is recorded with its document and parameters.
    let world = s.world();
    assert_eq!(world.ssm.commands.len(), 2);
    assert!(
        world
            .ssm
            .commands
            .values()
            .all(|c| c.document == "AWS-RunShellScript")
    );
}

#[tokio::test]
async fn an_injected_failure_leaves_the_image_failed() {
    let s = sim().await;
    let c = clients(s.url(), REGION, OWNER);
    let instance = running_instance(&c).await;
    s.fail_next("ec2-image", 1);
    let image = c
        .ec2
        .create_image()
        .instance_id(&instance)
        .name("doomed")
        .send()
        .await
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();
    let ec2 = c.ec2.clone();
    let state = eventually("the image to settle", 30, || {
        let ec2 = ec2.clone();
        let image = image.clone();
        async move {
            let d = ec2.describe_images().image_ids(&image).send().await.ok()?;
            let st = d.images().first()?.state()?.as_str().to_string();
            (st != "pending").then_some(st)
        }
    })
    .await;
    assert_eq!(state, "failed");
    // Only one failure was asked for.
    let next = c
        .ec2
        .create_image()
        .instance_id(&instance)
        .name("fine")
        .send()
        .await
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();
    available(&c, &next).await;
}
