//! The coalesced poller against aws-sim, which counts the calls.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use recipe_aws::Poller;
use recipe_provider_ec2::poll;

async fn image_ids(client: &aws_sdk_ec2::Client, n: usize) -> Vec<String> {
    let base = client
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap();
    let base = base
        .images()
        .iter()
        .find(|i| {
            i.name()
                .is_some_and(|n| n.starts_with("al2023") && n.ends_with("x86_64"))
        })
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();
    let run = client
        .run_instances()
        .image_id(&base)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let instance = run.instances()[0].instance_id().unwrap().to_string();
    let mut ids = Vec::new();
    for i in 0..n {
        let made = client
            .create_image()
            .instance_id(&instance)
            .name(format!("poll-{i}"))
            .send()
            .await
            .unwrap();
        ids.push(made.image_id().unwrap().to_string());
    }
    ids
}

/// Waiting for many images costs one DescribeImages per tick, not one per image per tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_coalesces_describe_calls() {
    let mut d = aws_sim::Durations::instant();
    d.image_create_ms = 400;
    let sim = aws_sim::Sim::start(aws_sim::Config {
        durations: d,
        ..Default::default()
    })
    .await
    .unwrap();
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(sim.url())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("123456789012", "x", None, None, "test"))
        .build();
    let client = aws_sdk_ec2::Client::from_conf(conf);
    let ids = image_ids(&client, 12).await;
    let before = sim.requests().count("ec2:DescribeImages");
    let poller = Poller::new(Duration::from_millis(50));
    let start = std::time::Instant::now();
    let waits: Vec<_> = ids
        .iter()
        .map(|id| {
            let poller = poller.clone();
            let client = client.clone();
            let id = id.clone();
            tokio::spawn(async move { poll::wait_available(on(&poller, client), &id).await })
        })
        .collect();
    for w in waits {
        w.await.unwrap().expect("every image becomes available");
    }
    let calls = sim.requests().count("ec2:DescribeImages") - before;
    // At most one call per 50 ms tick, whatever the number of images (12 pollers would make ~12 per
    // tick), plus the first check right away.
    let ticks = u64::try_from(start.elapsed().as_millis() / 50).unwrap() + 2;
    assert!(
        calls <= ticks,
        "{calls} DescribeImages calls in {ticks} ticks for {} images",
        ids.len()
    );
    assert!(calls >= 2, "the poller polled");
}

/// Run `waits` at once and return how many `operation` calls they made, against the ticks elapsed.
async fn coalesced<F>(sim: &aws_sim::Sim, operation: &str, waits: Vec<F>) -> (u64, u64)
where
    F: std::future::Future<Output = Result<(), recipe_aws::WaitError>> + Send + 'static,
{
    let before = sim.requests().count(operation);
    let start = std::time::Instant::now();
    let handles: Vec<_> = waits.into_iter().map(tokio::spawn).collect();
    for h in handles {
        h.await.unwrap().expect("every wait ends well");
    }
    let calls = sim.requests().count(operation) - before;
    // One call per 50 ms tick, plus the first check right away.
    let ticks = u64::try_from(start.elapsed().as_millis() / 50).unwrap() + 2;
    (calls, ticks)
}

/// Builders starting and their agents coming online are each polled with one call per tick, whatever
/// the number of builders; their commands with one call per waiting command a tick, whatever else runs
/// in the region.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_agents_and_commands_are_polled_together() {
    let mut d = aws_sim::Durations::instant();
    d.instance_start_ms = 300;
    d.ssm_online_ms = 300;
    d.ssm_command_ms = 300;
    let sim = aws_sim::Sim::start(aws_sim::Config {
        durations: d,
        ..Default::default()
    })
    .await
    .unwrap();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(sim.url())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("123456789012", "x", None, None, "test"))
        .load()
        .await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let base = ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap()
        .images()[0]
        .image_id()
        .unwrap()
        .to_string();
    let run = ec2
        .run_instances()
        .image_id(&base)
        .min_count(10)
        .max_count(10)
        .iam_instance_profile(
            aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
                .name("recipe-builder")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ids: Vec<String> = run
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 10);
    let poller = Poller::new(Duration::from_millis(50));

    let waits = ids
        .iter()
        .map(|id| {
            let (p, c, id) = (poller.clone(), ec2.clone(), id.clone());
            async move {
                let running = aws_sdk_ec2::types::InstanceStateName::Running;
                poll::wait_instance(on(&p, c), &id, running).await
            }
        })
        .collect();
    let (calls, ticks) = coalesced(&sim, "ec2:DescribeInstances", waits).await;
    assert!(
        calls <= ticks && calls >= 2,
        "{calls} DescribeInstances in {ticks} ticks"
    );

    let waits = ids
        .iter()
        .map(|id| {
            let (p, c, id) = (poller.clone(), ssm.clone(), id.clone());
            async move { poll::wait_agent(on(&p, c), &id).await }
        })
        .collect();
    let (calls, ticks) = coalesced(&sim, "ssm:DescribeInstanceInformation", waits).await;
    assert!(
        calls <= ticks && calls >= 2,
        "{calls} DescribeInstanceInformation in {ticks} ticks"
    );

    // 500 invocations that are not ours (State Manager, Patch Manager, other tools) cost nothing:
    // each waiting command is read by its id.
    for _ in 0..50 {
        ssm.send_command()
            .document_name("AWS-RunShellScript")
            .set_instance_ids(Some(ids.clone()))
            .parameters("commands", vec!["true".to_string()])
            .send()
            .await
            .unwrap();
    }
    // Five of ours: each costs one call a tick (the old region-wide listing paged 11 a tick).
    let mut commands = Vec::new();
    for id in ids.iter().take(5) {
        let sent = ssm
            .send_command()
            .document_name("AWS-RunShellScript")
            .instance_ids(id)
            .parameters("commands", vec!["true".to_string()])
            .send()
            .await
            .unwrap();
        commands.push(sent.command().unwrap().command_id().unwrap().to_string());
    }
    let waits = commands
        .iter()
        .map(|id| {
            let (p, c, id) = (poller.clone(), ssm.clone(), id.clone());
            async move { poll::wait_command(on(&p, c), &id).await }
        })
        .collect();
    let n = u64::try_from(commands.len()).unwrap();
    let (calls, ticks) = coalesced(&sim, "ssm:ListCommandInvocations", waits).await;
    assert!(
        calls >= n && calls <= ticks * n,
        "{calls} ListCommandInvocations in {ticks} ticks for {n} commands"
    );
    assert_eq!(
        sim.requests().count("ssm:GetCommandInvocation"),
        0,
        "waiting asks for no invocation one by one"
    );
}

/// A describe call that keeps failing fails the waiters instead of leaving them to the action timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_fail_when_polling_keeps_failing() {
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:1")
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("123456789012", "x", None, None, "test"))
        .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
        .build();
    let client = aws_sdk_ec2::Client::from_conf(conf);
    let poller = Poller::new(Duration::from_millis(5));
    let waited = tokio::time::timeout(
        Duration::from_secs(30),
        poll::wait_available(on(&poller, client), "ami-0123456789abcdef0"),
    )
    .await
    .expect("the wait ends on its own");
    let err = waited.expect_err("nothing answers");
    assert!(
        err.to_string().contains("polling failed 10 times in a row"),
        "{err}"
    );
    assert!(matches!(err, recipe_aws::WaitError::Polling(_)), "{err:?}");
}

/// Waits in us-east-1 on `poller`.
fn on<C>(poller: &Arc<Poller>, client: C) -> recipe_aws::On<'_, C> {
    recipe_aws::On {
        poller,
        region: "us-east-1",
        client,
    }
}
