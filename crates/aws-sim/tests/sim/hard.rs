//! Where AWS is hard and aws-sim must be too (issue 23): nothing registers an agent by itself, an
//! AUTO_STOP WorkSpace nobody uses stops and loses its command, lists come in pages, activations
//! expire, a stale stored state never decides a registration, and public AMIs named like Amazon's
//! may be anybody's.

use aws_sdk_workspaces::types::{RunningMode, WorkspaceProperties, WorkspaceRequest};

use crate::common::{Clients, admin_post, clients, eventually};

const REGION: &str = "us-east-1";
const OWNER: &str = "123456789012";

async fn sim_with(d: aws_sim::Durations) -> aws_sim::Sim {
    let s = aws_sim::Sim::start(aws_sim::Config {
        durations: d,
        ..Default::default()
    })
    .await
    .unwrap();
    crate::common::with_directory(&s);
    s
}

/// Create a WorkSpace for `user` with these properties; its id.
async fn create(c: &Clients, user: &str, props: WorkspaceProperties) -> String {
    let req = WorkspaceRequest::builder()
        .directory_id("d-906734325")
        .user_name(user)
        .bundle_id("wsb-clj85qzj1")
        .workspace_properties(props)
        .build()
        .unwrap();
    let out = c
        .workspaces
        .create_workspaces()
        .workspaces(req)
        .send()
        .await
        .unwrap();
    out.pending_requests()[0]
        .workspace_id()
        .unwrap()
        .to_string()
}

async fn state(c: &Clients, ws: &str) -> String {
    let d = c
        .workspaces
        .describe_workspaces()
        .workspace_ids(ws)
        .send()
        .await
        .unwrap();
    d.workspaces()[0].state().unwrap().as_str().to_string()
}

/// An activation for `machine`: (id, code).
async fn activation(c: &Clients, machine: &str) -> (String, String) {
    let a = c
        .ssm
        .create_activation()
        .iam_role("recipe-workspaces-builder")
        .default_instance_name(machine)
        .send()
        .await
        .unwrap();
    (
        a.activation_id().unwrap().into(),
        a.activation_code().unwrap().into(),
    )
}

#[tokio::test]
async fn an_auto_stop_workspace_nobody_uses_stops_after_its_timeout_and_loses_its_command() {
    let mut d = aws_sim::Durations::instant();
    d.ssm_command_ms = 2 * 3_600_000;
    let s = sim_with(d).await;
    let c = clients(s.url(), REGION, OWNER);
    let auto = WorkspaceProperties::builder()
        .running_mode(RunningMode::AutoStop)
        .running_mode_auto_stop_timeout_in_minutes(60)
        .build();
    let ws = create(&c, "auto", auto).await;
    let always = create(&c, "always", WorkspaceProperties::builder().build()).await;
    assert_eq!(state(&c, &ws).await, "AVAILABLE");
    let (id, code) = activation(&c, &ws).await;
    let node = s.register_agent(&id, &code, &ws).unwrap();
    let sent = c
        .ssm
        .send_command()
        .document_name("AWS-RunShellScript")
        .instance_ids(&node)
        .parameters("commands", vec!["sleep 7200".into()])
        .send()
        .await
        .unwrap();
    let command = sent.command().unwrap().command_id().unwrap().to_string();
    s.advance(59 * 60_000);
    assert_eq!(state(&c, &ws).await, "AVAILABLE", "before its timeout");
    s.advance(2 * 60_000);
    assert_eq!(state(&c, &ws).await, "STOPPED", "after its timeout");
    s.advance(3 * 3_600_000);
    assert_eq!(
        state(&c, &always).await,
        "AVAILABLE",
        "ALWAYS_ON never stops"
    );
    let inv = c
        .ssm
        .get_command_invocation()
        .command_id(&command)
        .instance_id(&node)
        .send()
        .await
        .unwrap();
    assert_eq!(inv.status().unwrap().as_str(), "TimedOut", "{inv:?}");
    s.stop().await;
}

#[tokio::test]
async fn describe_workspaces_answers_25_a_page_and_the_rest_after_the_token() {
    let s = sim_with(aws_sim::Durations::instant()).await;
    let c = clients(s.url(), REGION, OWNER);
    for i in 0..30 {
        create(
            &c,
            &format!("user{i}"),
            WorkspaceProperties::builder().build(),
        )
        .await;
    }
    let first = c
        .workspaces
        .describe_workspaces()
        .bundle_id("wsb-clj85qzj1")
        .send()
        .await
        .unwrap();
    assert_eq!(first.workspaces().len(), 25);
    assert!(first.next_token().is_some());
    let mut pages = c
        .workspaces
        .describe_workspaces()
        .bundle_id("wsb-clj85qzj1")
        .into_paginator()
        .send();
    let mut all = 0;
    while let Some(p) = pages.next().await {
        all += p.unwrap().workspaces().len();
    }
    assert_eq!(all, 30);
    s.stop().await;
}

#[tokio::test]
async fn an_expired_activation_and_a_wrong_code_are_refused_and_nothing_registers_by_itself() {
    let s = sim_with(aws_sim::Durations::instant()).await;
    let c = clients(s.url(), REGION, OWNER);
    let ws = create(&c, "builder", WorkspaceProperties::builder().build()).await;
    let (id, code) = activation(&c, &ws).await;
    s.advance(3_600_000);
    let info = c.ssm.describe_instance_information().send().await.unwrap();
    assert!(info.instance_information_list().is_empty(), "{info:?}");
    assert!(
        s.register_agent(&id, "wrong", &ws)
            .unwrap_err()
            .contains("do not match")
    );
    s.advance(25 * 3_600_000);
    let late = s.register_agent(&id, &code, &ws).unwrap_err();
    assert!(late.contains("expired"), "{late}");
    s.stop().await;
}

#[tokio::test]
async fn a_builder_that_reached_running_on_the_clock_registers_and_is_online() {
    let mut d = aws_sim::Durations::instant();
    d.builder_start_ms = 60_000;
    d.ssm_online_ms = 1_000;
    let s = sim_with(d).await;
    let c = clients(s.url(), REGION, OWNER);
    c.appstream
        .create_image_builder()
        .name("b1")
        .image_name("AppStream-AmazonLinux2-06-17-2025")
        .instance_type("stream.standard.medium")
        .send()
        .await
        .unwrap();
    let (id, code) = activation(&c, "b1").await;
    // RUNNING by the clock, with no request in between: the stored state still says PENDING.
    s.advance(120_000);
    let body =
        serde_json::json!({ "activation-id": id, "activation-code": code, "image-builder": "b1" });
    let ok = admin_post(s.url(), "/_sim/ssm/register", body).await;
    assert!(ok.contains("\"instance-id\":\"mi-"), "{ok}");
    s.advance(2_000);
    let node = eventually("the node online", 10, || async {
        let d = c.ssm.describe_instance_information().send().await.ok()?;
        let i = d.instance_information_list().first()?;
        (i.ping_status()?.as_str() == "Online").then(|| i.instance_id().unwrap().to_string())
    })
    .await;
    let sent = c
        .ssm
        .send_command()
        .document_name("AWS-RunShellScript")
        .instance_ids(&node)
        .parameters("commands", vec!["true".into()])
        .send()
        .await;
    assert!(sent.is_ok(), "{sent:?}");
    s.stop().await;
}

#[tokio::test]
async fn the_newest_public_ami_named_like_amazons_is_a_third_partys() {
    let s = sim_with(aws_sim::Durations::instant()).await;
    let c = clients(s.url(), REGION, OWNER);
    let newest = |owners: Vec<String>| {
        let ec2 = c.ec2.clone();
        async move {
            let f = aws_sdk_ec2::types::Filter::builder()
                .name("name")
                .values("al2023-ami-2023.*-x86_64")
                .build();
            let out = ec2
                .describe_images()
                .filters(f)
                .set_owners((!owners.is_empty()).then_some(owners))
                .send()
                .await
                .unwrap();
            let mut images = out.images().to_vec();
            images.sort_by(|a, b| a.creation_date().cmp(&b.creation_date()));
            images.last().unwrap().owner_id().unwrap().to_string()
        }
    };
    assert_eq!(newest(vec![]).await, aws_sim::SQUATTER_ACCOUNT);
    assert_eq!(newest(vec!["amazon".into()]).await, aws_sim::AMAZON_ACCOUNT);
    s.stop().await;
}

#[tokio::test]
async fn without_a_default_vpc_a_launch_needs_a_subnet() {
    let s = sim_with(aws_sim::Durations::instant()).await;
    let c = clients(s.url(), REGION, OWNER);
    let vpcs = c.ec2.describe_vpcs().send().await.unwrap();
    let default = vpcs.vpcs()[0].vpc_id().unwrap().to_string();
    assert_eq!(vpcs.vpcs()[0].is_default(), Some(true));
    c.ec2.delete_vpc().vpc_id(&default).send().await.unwrap();
    assert!(
        c.ec2
            .describe_vpcs()
            .send()
            .await
            .unwrap()
            .vpcs()
            .is_empty()
    );
    let image = crate::common::amazon_image(&c.ec2).await;
    let run = |subnet: Option<&str>| {
        c.ec2
            .run_instances()
            .image_id(&image)
            .min_count(1)
            .max_count(1)
            .set_subnet_id(subnet.map(str::to_string))
            .send()
    };
    let refused = run(None).await.unwrap_err();
    assert_eq!(crate::common::code(&refused), "VPCIdNotSpecified");
    assert!(run(Some("subnet-0a1b2c3d4e5f60718")).await.is_ok());
    c.ec2.create_default_vpc().send().await.unwrap();
    assert!(run(None).await.is_ok());
    s.stop().await;
}

/// A private subnet made through the API: an instance there never reports Online until the subnet
/// reaches Systems Manager (a NAT route, or the three interface endpoints).
#[tokio::test]
async fn an_agent_in_a_subnet_without_a_route_to_ssm_is_never_online() {
    let s = sim_with(aws_sim::Durations::instant()).await;
    let c = clients(s.url(), REGION, OWNER);
    s.provide_instance_profile(OWNER, "recipe-builder", &[]);
    let vpc = c
        .ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let subnet = c
        .ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.0.1.0/24")
        .send()
        .await
        .unwrap();
    let subnet = subnet.subnet().unwrap().subnet_id().unwrap().to_string();
    let image = crate::common::amazon_image(&c.ec2).await;
    let profile = aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
        .name("recipe-builder")
        .build();
    let run = c
        .ec2
        .run_instances()
        .image_id(&image)
        .min_count(1)
        .max_count(1)
        .subnet_id(&subnet)
        .iam_instance_profile(profile)
        .send()
        .await
        .unwrap();
    let id = run.instances()[0].instance_id().unwrap().to_string();
    let online = || async {
        let d = c.ssm.describe_instance_information().send().await.unwrap();
        d.instance_information_list()
            .iter()
            .any(|i| i.instance_id() == Some(id.as_str()))
    };
    s.advance(3_600_000);
    assert!(!online().await, "no route: never Online");
    for svc in ["ssm", "ec2messages"] {
        c.ec2
            .create_vpc_endpoint()
            .vpc_id(&vpc)
            .service_name(format!("com.amazonaws.{REGION}.{svc}"))
            .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
            .send()
            .await
            .unwrap();
    }
    assert!(!online().await, "two of the three endpoints are not enough");
    c.ec2
        .create_vpc_endpoint()
        .vpc_id(&vpc)
        .service_name(format!("com.amazonaws.{REGION}.ssmmessages"))
        .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Interface)
        .send()
        .await
        .unwrap();
    assert!(online().await, "the three endpoints reach SSM");
    s.stop().await;
}

/// The Standard On-Demand vCPU quota: read through Service Quotas, enforced by RunInstances with
/// `VcpuLimitExceeded` (stopped instances do not count), raised by RequestServiceQuotaIncrease.
#[tokio::test]
async fn launches_past_the_vcpu_quota_are_refused_until_it_is_raised() {
    let s = aws_sim::Sim::start(aws_sim::Config {
        durations: aws_sim::Durations::instant(),
        vcpu_quota: 5,
        ..Default::default()
    })
    .await
    .unwrap();
    let c = clients(s.url(), REGION, OWNER);
    let sq = {
        let creds = aws_sdk_servicequotas::config::Credentials::new(OWNER, "x", None, None, "t");
        let conf = aws_sdk_servicequotas::Config::builder()
            .behavior_version(aws_sdk_servicequotas::config::BehaviorVersion::latest())
            .endpoint_url(s.url())
            .region(aws_sdk_servicequotas::config::Region::new(REGION))
            .credentials_provider(creds)
            .build();
        aws_sdk_servicequotas::Client::from_conf(conf)
    };
    let q = sq
        .get_service_quota()
        .service_code("ec2")
        .quota_code("L-1216C47A")
        .send()
        .await
        .unwrap();
    assert_eq!(q.quota().unwrap().value(), Some(5.0));
    let image = crate::common::amazon_image(&c.ec2).await;
    let run = || {
        c.ec2
            .run_instances()
            .image_id(&image)
            .instance_type(aws_sdk_ec2::types::InstanceType::M6iLarge)
            .min_count(1)
            .max_count(1)
            .send()
    };
    let first = run().await.unwrap().instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    run().await.unwrap();
    let third = run().await.unwrap_err();
    assert_eq!(crate::common::code(&third), "VcpuLimitExceeded");
    c.ec2
        .stop_instances()
        .instance_ids(&first)
        .send()
        .await
        .unwrap();
    assert!(run().await.is_ok(), "a stopped instance does not count");
    assert!(run().await.is_err());
    sq.request_service_quota_increase()
        .service_code("ec2")
        .quota_code("L-1216C47A")
        .desired_value(64.0)
        .send()
        .await
        .unwrap();
    assert!(run().await.is_ok(), "the raised quota allows it");
    s.stop().await;
}

/// An account is set up through IAM and KMS as a platform team does it, and the preflight's reads
/// see the result: a role with its policy in a profile (one role a profile), a key found by alias.
#[tokio::test]
async fn roles_profiles_keys_and_aliases_are_made_through_the_api() {
    let s = sim_with(aws_sim::Durations::instant()).await;
    macro_rules! client {
        ($k:ident, $region:expr) => {
            $k::Client::from_conf(
                $k::Config::builder()
                    .behavior_version($k::config::BehaviorVersion::latest())
                    .endpoint_url(s.url())
                    .region($k::config::Region::new($region))
                    .credentials_provider($k::config::Credentials::new(OWNER, "x", None, None, "t"))
                    .build(),
            )
        };
    }
    let iam = client!(aws_sdk_iam, "us-east-1");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    for role in ["builder", "other"] {
        iam.create_role()
            .role_name(role)
            .assume_role_policy_document(trust)
            .send()
            .await
            .unwrap();
    }
    let again = iam
        .create_role()
        .role_name("builder")
        .assume_role_policy_document(trust)
        .send()
        .await;
    assert!(format!("{again:?}").contains("EntityAlreadyExists"));
    iam.create_instance_profile()
        .instance_profile_name("builder")
        .send()
        .await
        .unwrap();
    iam.add_role_to_instance_profile()
        .instance_profile_name("builder")
        .role_name("builder")
        .send()
        .await
        .unwrap();
    let second = iam
        .add_role_to_instance_profile()
        .instance_profile_name("builder")
        .role_name("other")
        .send()
        .await;
    assert!(
        format!("{second:?}").contains("LimitExceeded"),
        "{second:?}"
    );
    let ssm = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";
    iam.attach_role_policy()
        .role_name("builder")
        .policy_arn(ssm)
        .send()
        .await
        .unwrap();
    let p = iam
        .get_instance_profile()
        .instance_profile_name("builder")
        .send()
        .await
        .unwrap();
    assert_eq!(
        p.instance_profile().unwrap().roles()[0].role_name(),
        "builder"
    );
    let attached = iam
        .list_attached_role_policies()
        .role_name("builder")
        .send()
        .await
        .unwrap();
    assert_eq!(attached.attached_policies()[0].policy_arn(), Some(ssm));

    let kms = client!(aws_sdk_kms, REGION);
    let key = kms.create_key().send().await.unwrap();
    let id = key.key_metadata().unwrap().key_id().to_string();
    let reserved = kms
        .create_alias()
        .alias_name("alias/aws/ebs")
        .target_key_id(&id)
        .send()
        .await;
    assert!(format!("{reserved:?}").contains("ValidationException"));
    kms.create_alias()
        .alias_name("alias/ami-copies")
        .target_key_id(&id)
        .send()
        .await
        .unwrap();
    let found = kms
        .describe_key()
        .key_id("alias/ami-copies")
        .send()
        .await
        .unwrap();
    assert_eq!(found.key_metadata().unwrap().key_id(), id);
    s.stop().await;
}

/// AppStream assumes only a role of the caller's account that trusts appstream.amazonaws.com:
/// another account's, a missing one and one for EC2 are `InvalidRoleException` at
/// CreateImageBuilder; the right one is taken.
#[tokio::test]
async fn an_image_builder_takes_only_a_role_appstream_may_assume() {
    let s = crate::common::sim().await;
    let c = clients(s.url(), "eu-west-2", "123456789012");
    s.provide_role("123456789012", "ec2-only", "ec2.amazonaws.com");
    s.provide_role("123456789012", "builder", "appstream.amazonaws.com");
    s.provide_role("111122223333", "builder", "appstream.amazonaws.com");
    let create = |role: &'static str| {
        c.appstream
            .create_image_builder()
            .name(format!("b-{}", role.len()))
            .image_name("AppStream-AmazonLinux2-06-17-2025")
            .instance_type("stream.standard.medium")
            .iam_role_arn(role)
            .send()
    };
    for role in [
        "arn:aws:iam::111122223333:role/builder",
        "arn:aws:iam::123456789012:role/nobody",
        "arn:aws:iam::123456789012:role/ec2-only",
    ] {
        let e = create(role).await.unwrap_err();
        let code = e.as_service_error().and_then(|x| {
            aws_sdk_appstream::error::ProvideErrorMetadata::code(x).map(str::to_string)
        });
        assert_eq!(code.as_deref(), Some("InvalidRoleException"), "{role}");
    }
    create("arn:aws:iam::123456789012:role/builder")
        .await
        .expect("a role of the account that trusts AppStream");
}

/// A WorkSpace is launched only in a directory registered with WorkSpaces in its region.
#[tokio::test]
async fn a_workspace_needs_a_registered_directory() {
    let s = crate::common::sim().await;
    let c = clients(s.url(), "eu-west-1", OWNER);
    let req = WorkspaceRequest::builder()
        .directory_id("d-906734325")
        .user_name("alice")
        .bundle_id("wsb-clj85qzj1")
        .build()
        .unwrap();
    let out = c
        .workspaces
        .create_workspaces()
        .workspaces(req.clone())
        .send()
        .await
        .unwrap();
    let failed = out.failed_requests();
    assert_eq!(failed.len(), 1, "registered in us-east-1 only");
    assert_eq!(failed[0].error_code(), Some("ResourceNotFound.Directory"));
    let dirs = c
        .workspaces
        .describe_workspace_directories()
        .send()
        .await
        .unwrap();
    assert!(dirs.directories().is_empty());
    s.provide_directory(OWNER, "eu-west-1", "d-906734325")
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
}
