//! Key pairs, security groups and volumes (what Packer's amazon-ebs builder makes around its instance),
//! the same test against aws-sim and moto.

use aws_sdk_ec2::types::{IpPermission, IpRange};

use crate::common::{clients, code, sim};
use crate::conformance::running_instance;

async fn key_pairs_groups_and_volumes(url: &str) {
    let c = clients(url, "us-east-1", "123456789012");
    let made = c
        .ec2
        .create_key_pair()
        .key_name("bench-key")
        .send()
        .await
        .unwrap();
    assert!(made.key_material().is_some_and(|m| !m.is_empty()));
    let again = c.ec2.create_key_pair().key_name("bench-key").send().await;
    assert_eq!(code(&again.unwrap_err()), "InvalidKeyPair.Duplicate");
    let listed = c
        .ec2
        .describe_key_pairs()
        .key_names("bench-key")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_pairs()[0].key_pair_id(), made.key_pair_id());

    let group = c
        .ec2
        .create_security_group()
        .group_name("bench-sg")
        .description("temporary")
        .send()
        .await
        .unwrap();
    let group = group.group_id().unwrap().to_string();
    let ssh = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build();
    let authorize = || {
        c.ec2
            .authorize_security_group_ingress()
            .group_id(&group)
            .ip_permissions(ssh.clone())
            .send()
    };
    authorize().await.unwrap();
    assert_eq!(
        code(&authorize().await.unwrap_err()),
        "InvalidPermission.Duplicate"
    );
    let described = c
        .ec2
        .describe_security_groups()
        .group_ids(&group)
        .send()
        .await
        .unwrap();
    let g = &described.security_groups()[0];
    assert_eq!(g.group_name(), Some("bench-sg"));
    assert_eq!(g.ip_permissions()[0].from_port(), Some(22));

    // An instance's root volume is attached while it runs.
    let instance = running_instance(&c).await;
    let vols = c
        .ec2
        .describe_volumes()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("attachment.instance-id")
                .values(&instance)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(vols.volumes().len(), 1, "{vols:?}");
    assert_eq!(
        vols.volumes()[0].attachments()[0].instance_id(),
        Some(instance.as_str())
    );

    c.ec2
        .delete_security_group()
        .group_id(&group)
        .send()
        .await
        .unwrap();
    let gone = c
        .ec2
        .describe_security_groups()
        .group_ids(&group)
        .send()
        .await;
    assert_eq!(code(&gone.unwrap_err()), "InvalidGroup.NotFound");
    c.ec2
        .delete_key_pair()
        .key_name("bench-key")
        .send()
        .await
        .unwrap();
    let gone = c
        .ec2
        .describe_key_pairs()
        .key_names("bench-key")
        .send()
        .await;
    assert_eq!(code(&gone.unwrap_err()), "InvalidKeyPair.NotFound");
}

#[tokio::test]
async fn key_pairs_groups_and_volumes_on_aws_sim() {
    let s = sim().await;
    key_pairs_groups_and_volumes(s.url()).await;
}

#[tokio::test]
async fn key_pairs_groups_and_volumes_on_moto() {
    let Some(m) = recipe_testkit::moto() else {
        return;
    };
    key_pairs_groups_and_volumes(&m.url).await;
}

/// What only aws-sim checks: a group in use by an instance cannot be deleted, and an instance
/// cannot name a key pair that does not exist.
#[tokio::test]
async fn a_group_in_use_stays_and_an_unknown_key_is_refused() {
    let s = sim().await;
    let c = clients(s.url(), "us-east-1", "123456789012");
    let group = c
        .ec2
        .create_security_group()
        .group_name("in-use")
        .description("d")
        .send()
        .await
        .unwrap();
    let group = group.group_id().unwrap().to_string();
    let image = crate::conformance::base_image(&c).await;
    let run = |key: Option<&str>| {
        c.ec2
            .run_instances()
            .image_id(&image)
            .min_count(1)
            .max_count(1)
            .security_group_ids(&group)
            .set_key_name(key.map(str::to_string))
            .send()
    };
    let refused = run(Some("nobody")).await.unwrap_err();
    assert_eq!(code(&refused), "InvalidKeyPair.NotFound");
    run(None).await.unwrap();
    let busy = c.ec2.delete_security_group().group_id(&group).send().await;
    assert_eq!(code(&busy.unwrap_err()), "DependencyViolation");
}

/// DescribeSubnets: a named subnet that does not exist is `InvalidSubnetID.NotFound`; once the
/// account's network is provided, it is found, in its region only.
#[tokio::test]
async fn subnets_exist_only_as_the_network_is_provided() {
    let s = sim().await;
    let c = clients(s.url(), "eu-west-2", aws_sim::DEFAULT_ACCOUNT);
    let missing = c
        .ec2
        .describe_subnets()
        .subnet_ids("subnet-0abc")
        .send()
        .await;
    assert_eq!(code(&missing.unwrap_err()), "InvalidSubnetID.NotFound");
    s.provide_network(
        aws_sim::DEFAULT_ACCOUNT,
        "eu-west-2",
        &["subnet-0abc".into()],
        &["sg-0abc".into()],
    );
    let found = c
        .ec2
        .describe_subnets()
        .subnet_ids("subnet-0abc")
        .send()
        .await
        .unwrap();
    assert_eq!(found.subnets()[0].subnet_id(), Some("subnet-0abc"));
    let groups = c
        .ec2
        .describe_security_groups()
        .group_ids("sg-0abc")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.security_groups()[0].group_id(), Some("sg-0abc"));
    let elsewhere = clients(s.url(), "eu-west-1", aws_sim::DEFAULT_ACCOUNT);
    let other = elsewhere
        .ec2
        .describe_subnets()
        .subnet_ids("subnet-0abc")
        .send()
        .await;
    assert_eq!(code(&other.unwrap_err()), "InvalidSubnetID.NotFound");
}
