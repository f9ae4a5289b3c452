//! Fault injection, the request log, the admin API and persistence.

use crate::common::{clients, code};

const REGION: &str = "us-east-1";

#[tokio::test]
async fn scripted_faults_fail_the_nth_call_and_are_logged() {
    let s = crate::common::sim().await;
    s.set_faults(aws_sim::Faults {
        scripted: vec![aws_sim::ScriptedFault {
            operation: "ec2:DescribeImages".into(),
            nth: 2,
            status: 400,
            code: "InvalidAMIID.NotFound".into(),
            message: String::new(),
            ..Default::default()
        }],
        ..Default::default()
    });
    let c = clients(s.url(), REGION, "123456789012");
    c.ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .expect("first call");
    let err = c
        .ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidAMIID.NotFound");
    c.ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .expect("third call");
    let log = s.requests();
    assert_eq!(log.count("ec2:DescribeImages"), 3);
    assert_eq!(log.records.iter().filter(|r| r.fault.is_some()).count(), 1);
}

#[tokio::test]
async fn throttling_and_5xx_at_a_rate_are_retried_by_the_sdk() {
    let s = crate::common::sim().await;
    s.set_faults(aws_sim::Faults {
        throttle_rate: 0.2,
        error_rate: 0.05,
        seed: 7,
        ..Default::default()
    });
    let c = clients(s.url(), REGION, "123456789012");
    // The SDK's standard retry absorbs them (3 attempts); most calls succeed.
    let mut ok = 0;
    for _ in 0..40 {
        if c.ec2
            .describe_images()
            .owners("amazon")
            .send()
            .await
            .is_ok()
        {
            ok += 1;
        }
    }
    let log = s.requests();
    let faults = log.records.iter().filter(|r| r.fault.is_some()).count();
    assert!(faults > 0, "faults were injected");
    assert!(
        log.count("ec2:DescribeImages") > 40,
        "failed attempts were retried: {} calls",
        log.count("ec2:DescribeImages")
    );
    assert!(ok >= 36, "retries hide most faults: {ok}/40 succeeded");
    let throttled = log
        .records
        .iter()
        .filter(|r| r.fault.as_deref() == Some("RequestLimitExceeded"))
        .count();
    assert!(throttled > 0 && throttled < faults + 1);
}

#[tokio::test]
async fn latency_is_added() {
    let s = crate::common::sim().await;
    s.set_faults(aws_sim::Faults {
        latency_ms: 150,
        ..Default::default()
    });
    let c = clients(s.url(), REGION, "123456789012");
    let start = std::time::Instant::now();
    c.ssm
        .get_parameter()
        .name("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")
        .send()
        .await
        .ok();
    assert!(start.elapsed() >= std::time::Duration::from_millis(150));
}

#[tokio::test]
async fn the_admin_api_and_persistence() {
    let dir = std::env::temp_dir().join(format!("aws-sim-persist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = || aws_sim::Config {
        durations: aws_sim::Durations::instant(),
        state_dir: Some(dir.clone()),
        ..Default::default()
    };
    let s = aws_sim::Sim::start(config()).await.unwrap();
    let c = clients(s.url(), REGION, "123456789012");
    c.ssm
        .put_parameter()
        .name("/kept")
        .value("v1")
        .send()
        .await
        .unwrap();
    // Admin over HTTP: the log.
    let port: u16 = s.url().rsplit(':').next().unwrap().parse().unwrap();
    let body = tokio::task::spawn_blocking(move || http_get(port, "/_sim/requests"))
        .await
        .unwrap();
    assert!(body.contains("\"ssm:PutParameter\":1"), "{body}");
    s.stop().await;
    // A new endpoint on the same folder has the parameter.
    let s2 = aws_sim::Sim::start(config()).await.unwrap();
    let c2 = clients(s2.url(), REGION, "123456789012");
    let got = c2.ssm.get_parameter().name("/kept").send().await.unwrap();
    assert_eq!(got.parameter().unwrap().value(), Some("v1"));
    s2.reset();
    assert!(
        c2.ssm.get_parameter().name("/kept").send().await.is_err(),
        "reset forgets everything"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// "Effect taken, response lost": RunInstances launches, then answers 500. The SDK retries with the
/// same client token (it makes one up when the caller gives none), and the retry returns the
/// instance the first call launched: one instance per launch. CreateImage has no client token: its
/// retry finds the name taken by the image the lost call made, which a client must then adopt.
#[tokio::test]
async fn a_lost_response_is_absorbed_by_a_client_token_and_a_create_image_retry_finds_its_name_taken()
 {
    let s = crate::common::sim().await;
    let c = clients(s.url(), REGION, "123456789012");
    let image = crate::conformance::base_image(&c).await;
    let lost = |nth| aws_sim::ScriptedFault {
        operation: "ec2:RunInstances".into(),
        nth,
        taken: true,
        status: 500,
        code: "InternalError".into(),
        ..Default::default()
    };
    s.set_faults(aws_sim::Faults {
        scripted: vec![
            lost(1),
            lost(3),
            aws_sim::ScriptedFault {
                operation: "ec2:CreateImage".into(),
                ..lost(1)
            },
        ],
        ..Default::default()
    });
    let launch = |token: Option<&str>| {
        c.ec2
            .run_instances()
            .image_id(&image)
            .min_count(1)
            .max_count(1)
            .set_client_token(token.map(str::to_string))
            .send()
    };
    let first = launch(Some("lost-1"))
        .await
        .expect("the SDK's retry succeeds");
    assert_eq!(s.requests().count("ec2:RunInstances"), 2, "retried once");
    let running = |s: &aws_sim::Sim| s.world().ec2.instances.len();
    assert_eq!(running(&s), 1, "one instance for one token");
    let id = first.instances()[0].instance_id().unwrap().to_string();
    assert!(s.world().ec2.instances.contains_key(&id));
    launch(None).await.expect("the SDK's retry succeeds");
    assert_eq!(
        running(&s),
        2,
        "the SDK's own token covers a launch without one"
    );
    let err = c
        .ec2
        .create_image()
        .instance_id(&id)
        .name("lost-image")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidAMIName.Duplicate");
    let named = |n: &str| {
        s.world()
            .ec2
            .images
            .values()
            .filter(|i| i.name == n)
            .count()
    };
    assert_eq!(named("lost-image"), 1, "the lost call made it");
    let log = s.requests();
    let taken: Vec<_> = log.records.iter().filter_map(|r| r.fault.clone()).collect();
    assert_eq!(taken, ["InternalError (taken)"; 3]);
}

/// A member dropped from an answer: the call succeeds, the field is absent, the rest is there.
#[tokio::test]
async fn a_dropped_member_is_missing_from_the_answer() {
    let s = crate::common::sim().await;
    let c = clients(s.url(), REGION, "123456789012");
    let image = crate::conformance::base_image(&c).await;
    s.set_faults(aws_sim::Faults {
        scripted: vec![aws_sim::ScriptedFault {
            operation: "ec2:RunInstances".into(),
            drop_member: Some("instanceId".into()),
            ..Default::default()
        }],
        ..Default::default()
    });
    let out = c
        .ec2
        .run_instances()
        .image_id(&image)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let i = &out.instances()[0];
    assert_eq!(i.instance_id(), None);
    assert_eq!(i.image_id(), Some(image.as_str()));
    assert_eq!(
        s.world().ec2.instances.len(),
        1,
        "the call itself took effect"
    );
}
