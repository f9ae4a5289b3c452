//! The EC2 provider's parts against aws-sim (the end-to-end apply tests live in recipe-cli).

use std::time::Duration;

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use recipe_provider_ec2::ImagePoller;

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
    let poller = ImagePoller::new(Duration::from_millis(50));
    let start = std::time::Instant::now();
    let waits = ids.iter().map(|id| {
        let poller = poller.clone();
        let client = client.clone();
        let id = id.clone();
        tokio::spawn(async move { poller.wait_available("us-east-1", client, &id).await })
    });
    for w in waits {
        w.await.unwrap().expect("every image becomes available");
    }
    let calls = sim.requests().count("ec2:DescribeImages") - before;
    // At most one call per 50 ms tick, whatever the number of images (12 pollers would make ~12 per tick).
    let ticks = u64::try_from(start.elapsed().as_millis() / 50).unwrap() + 1;
    assert!(
        calls <= ticks,
        "{calls} DescribeImages calls in {ticks} ticks for {} images",
        ids.len()
    );
    assert!(calls >= 2, "the poller polled");
}
