//! WorkSpaces BYOL imports take only what AWS takes: a Windows 10 or 11 AMI of the account's own
//! licence (VM Import, `Windows BYOL`), on an account enabled for BYOL. Driven with the Rust SDK's
//! S3, IAM, EC2 and WorkSpaces clients.

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_workspaces::types::WorkspaceImageIngestionProcess as Ingest;

use crate::common::{Clients, clients, code, eventually, sim};

const REGION: &str = "eu-west-2";
const ACCOUNT: &str = "123456789012";

fn s3(url: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(ACCOUNT, "secret", None, None, "test"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

fn iam(url: &str) -> aws_sdk_iam::Client {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(ACCOUNT, "secret", None, None, "test"))
        .build();
    aws_sdk_iam::Client::from_conf(conf)
}

/// Put a disk whose system is `os` in S3 (none: a disk with no system aws-sim can find).
async fn put_disk(url: &str, key: &str, os: Option<&str>) {
    let s3 = s3(url);
    let conf = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(REGION))
        .build();
    let made = s3
        .create_bucket()
        .bucket("acme-vm-exports")
        .create_bucket_configuration(conf)
        .send()
        .await;
    if let Err(e) = made {
        assert_eq!(code(&e), "BucketAlreadyOwnedByYou");
    }
    let body = os.map_or("just bytes".to_string(), |o| {
        format!("aws-sim-guest-os: {o}\n")
    });
    s3.put_object()
        .bucket("acme-vm-exports")
        .key(key)
        .body(body.clone().into_bytes().into())
        .send()
        .await
        .unwrap();
    let back = s3
        .get_object()
        .bucket("acme-vm-exports")
        .key(key)
        .send()
        .await
        .unwrap();
    let bytes = back.body.collect().await.unwrap().into_bytes();
    assert_eq!(
        bytes.as_ref(),
        body.as_bytes(),
        "the object reads back as put"
    );
}

async fn vmimport_role(url: &str) {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"vmie.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam(url)
        .create_role()
        .role_name("vmimport")
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap();
}

fn disk(key: &str) -> aws_sdk_ec2::types::ImageDiskContainer {
    aws_sdk_ec2::types::ImageDiskContainer::builder()
        .format("VHD")
        .user_bucket(
            aws_sdk_ec2::types::UserBucket::builder()
                .s3_bucket("acme-vm-exports")
                .s3_key(key)
                .build(),
        )
        .build()
}

/// Import the disk at `key`: the task's final status, message and AMI.
async fn import(c: &Clients, key: &str) -> (String, String, Option<String>) {
    let task = c
        .ec2
        .import_image()
        .license_type("BYOL")
        .disk_containers(disk(key))
        .send()
        .await
        .unwrap();
    let id = task.import_task_id().unwrap().to_string();
    eventually("the import task ends", 10, || async {
        let out = c
            .ec2
            .describe_import_image_tasks()
            .import_task_ids(&id)
            .send()
            .await
            .unwrap();
        let t = out.import_image_tasks()[0].clone();
        (t.status() != Some("active")).then(|| {
            (
                t.status().unwrap_or_default().to_string(),
                t.status_message().unwrap_or_default().to_string(),
                t.image_id().map(str::to_string),
            )
        })
    })
    .await
}

async fn import_into_workspaces(c: &Clients, ami: &str, ingest: Ingest) -> Result<String, String> {
    c.workspaces
        .import_workspace_image()
        .ec2_image_id(ami)
        .ingestion_process(ingest)
        .image_name(format!("byol-{}", &ami[4..10]))
        .image_description("BYOL desktop")
        .send()
        .await
        .map(|o| o.image_id().unwrap_or_default().to_string())
        .map_err(|e| code(&e))
}

async fn enable_byol(c: &Clients) {
    let ranges = c
        .workspaces
        .list_available_management_cidr_ranges()
        .management_cidr_range_constraint("10.0.0.0/8")
        .send()
        .await
        .unwrap();
    let cidr = ranges.management_cidr_ranges()[0].clone();
    c.workspaces
        .modify_account()
        .dedicated_tenancy_support(aws_sdk_workspaces::types::DedicatedTenancySupportEnum::Enabled)
        .dedicated_tenancy_management_cidr_range(cidr)
        .send()
        .await
        .unwrap();
    eventually("the account is enabled for BYOL", 10, || async {
        let a = c.workspaces.describe_account().send().await.unwrap();
        (a.dedicated_tenancy_support()
            == Some(&aws_sdk_workspaces::types::DedicatedTenancySupportResultEnum::Enabled))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn vm_import_of_a_windows_10_disk_makes_a_byol_ami_that_workspaces_imports() {
    let sim = sim().await;
    let c = clients(sim.url(), REGION, ACCOUNT);
    put_disk(sim.url(), "win10.vhd", Some("Windows 10 Enterprise 22H2")).await;
    let refused = c
        .ec2
        .import_image()
        .disk_containers(disk("win10.vhd"))
        .send()
        .await;
    assert_eq!(
        refused.map(|_| ()).map_err(|e| code(&e)),
        Err("InvalidParameter".into()),
        "no vmimport role yet"
    );
    vmimport_role(sim.url()).await;
    let (status, _, ami) = import(&c, "win10.vhd").await;
    assert_eq!(status, "completed");
    let ami = ami.unwrap();
    let img = c
        .ec2
        .describe_images()
        .image_ids(&ami)
        .send()
        .await
        .unwrap();
    let img = &img.images()[0];
    assert_eq!(
        (
            img.platform_details(),
            img.usage_operation(),
            img.owner_id()
        ),
        (
            Some("Windows BYOL"),
            Some("RunInstances:0800"),
            Some(ACCOUNT)
        )
    );

    assert_eq!(
        import_into_workspaces(&c, &ami, Ingest::ByolRegularWsp).await,
        Err("OperationNotSupportedException".into()),
        "the account is not enabled for BYOL yet"
    );
    let a = c.workspaces.describe_account().send().await.unwrap();
    assert_eq!(
        a.dedicated_tenancy_support(),
        Some(&aws_sdk_workspaces::types::DedicatedTenancySupportResultEnum::Disabled)
    );
    enable_byol(&c).await;
    let wsi = import_into_workspaces(&c, &ami, Ingest::ByolRegularWsp).await;
    assert!(
        wsi.as_deref().is_ok_and(|i| i.starts_with("wsi-")),
        "{wsi:?}"
    );
}

#[tokio::test]
async fn license_included_windows_and_other_accounts_images_are_refused() {
    let sim = sim().await;
    let c = clients(sim.url(), REGION, ACCOUNT);
    enable_byol(&c).await;
    let public = c
        .ec2
        .describe_images()
        .owners("amazon")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("name")
                .values("Windows_Server-2022-*")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let public = &public.images()[0];
    assert_eq!(
        (public.platform_details(), public.usage_operation()),
        (Some("Windows"), Some("RunInstances:0002"))
    );
    let public = public.image_id().unwrap().to_string();
    assert_eq!(
        import_into_workspaces(&c, &public, Ingest::ByolRegular).await,
        Err("InvalidParameterValuesException".into()),
        "not the account's image"
    );
    // An image the account makes from a license-included instance keeps that licence.
    let run = c
        .ec2
        .run_instances()
        .image_id(&public)
        .min_count(1)
        .max_count(1)
        .instance_type(aws_sdk_ec2::types::InstanceType::M5Large)
        .send()
        .await
        .unwrap();
    let instance = run.instances()[0].instance_id().unwrap().to_string();
    eventually("the instance runs", 10, || async {
        let d = c
            .ec2
            .describe_instances()
            .instance_ids(&instance)
            .send()
            .await
            .unwrap();
        let state = d.reservations()[0].instances()[0]
            .state()
            .unwrap()
            .name()
            .cloned();
        (state == Some(aws_sdk_ec2::types::InstanceStateName::Running)).then_some(())
    })
    .await;
    let own = c
        .ec2
        .create_image()
        .instance_id(&instance)
        .name("server-base")
        .send()
        .await
        .unwrap();
    let own = own.image_id().unwrap().to_string();
    eventually("the image is available", 10, || async {
        let d = c
            .ec2
            .describe_images()
            .image_ids(&own)
            .send()
            .await
            .unwrap();
        (d.images()[0].state() == Some(&aws_sdk_ec2::types::ImageState::Available)).then_some(())
    })
    .await;
    assert_eq!(
        import_into_workspaces(&c, &own, Ingest::ByolRegular).await,
        Err("OperationNotSupportedException".into()),
        "a Windows Server image of AWS's licence"
    );
}

#[tokio::test]
async fn windows_11_needs_dcv_and_a_disk_without_a_system_fails_its_import() {
    let sim = sim().await;
    let c = clients(sim.url(), REGION, ACCOUNT);
    enable_byol(&c).await;
    vmimport_role(sim.url()).await;
    put_disk(sim.url(), "blank.vhd", None).await;
    let (status, message, ami) = import(&c, "blank.vhd").await;
    assert_eq!(
        (status.as_str(), message.as_str(), ami),
        (
            "deleted",
            "ClientError: Unknown OS / Missing OS files.",
            None
        )
    );
    put_disk(sim.url(), "win11.vhd", Some("Windows 11 Enterprise 23H2")).await;
    let (_, _, ami) = import(&c, "win11.vhd").await;
    let ami = ami.unwrap();
    assert_eq!(
        import_into_workspaces(&c, &ami, Ingest::ByolRegular).await,
        Err("InvalidParameterValuesException".into()),
        "PCoIP on Windows 11"
    );
    assert!(
        import_into_workspaces(&c, &ami, Ingest::ByolRegularWsp)
            .await
            .is_ok()
    );
}
