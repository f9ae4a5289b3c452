//! One scenario, run against aws-sim and against moto (the independent emulator) with the same code:
//! a recipe is planned and applied through the engine and the provider (launch, capture, tag, copy
//! across regions, share with an account), then the results are read back through the SDK; then
//! what uses an image, deregistering a copy, and sweeping what a killed run left.
//!
//! moto does not emulate SSM agents (DescribeInstanceInformation answers 500), so the recipe has no
//! steps: the builder is launched, captured and terminated without running a command.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::types::{Filter, Tag};
use recipe_aws::{Aws, AwsOptions, Credentials};
use recipe_engine::{
    Action, ActionKind, ApplyContext, CancelToken, EngineOptions, Event, Events, Journal, Outputs,
    Provider, Registry, Routed, SweepRequest,
};
use recipe_plan::{CloudInfo, Observations, PlanOptions};
use recipe_provider_ec2::{Ec2Provider, Options};

const ACCOUNT: &str = "123456789012";
const GRANTEE: &str = "111122223333";

enum Backend {
    Sim(aws_sim::Sim),
    Moto(recipe_testkit::Moto),
}

impl Backend {
    async fn sim() -> Backend {
        let mut d = aws_sim::Durations::instant();
        d.image_create_ms = 100;
        d.image_copy_ms = 100;
        Backend::Sim(
            aws_sim::Sim::start(aws_sim::Config {
                durations: d,
                ..Default::default()
            })
            .await
            .unwrap(),
        )
    }

    /// moto, with the instance profile builders are launched with (moto checks that it exists).
    fn moto() -> Option<Backend> {
        let m = recipe_testkit::moto()?;
        assert_eq!(
            m.query(
                "iam",
                "Action=CreateInstanceProfile&InstanceProfileName=recipe-builder&Version=2010-05-08"
            ),
            Some(200)
        );
        Some(Backend::Moto(m))
    }

    fn url(&self) -> String {
        match self {
            Backend::Sim(s) => s.url().to_string(),
            Backend::Moto(m) => m.url.clone(),
        }
    }
}

async fn aws(url: &str) -> Aws {
    let opts = AwsOptions {
        endpoint_url: Some(url.to_string()),
        region: Some("eu-west-2".into()),
        credentials: Some(Credentials::new(ACCOUNT, "test", None, None, "test")),
        ..Default::default()
    };
    Aws::load(&opts).await.unwrap()
}

fn ec2(aws: &Aws, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&aws.regional(region))
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

pub(crate) async fn a_base_image(client: &aws_sdk_ec2::Client) -> String {
    let out = client
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap();
    out.images()
        .iter()
        .find(|i| i.architecture().map(|a| a.as_str()) == Some("x86_64"))
        .or_else(|| out.images().first())
        .and_then(|i| i.image_id())
        .expect("an amazon-owned image")
        .to_string()
}

async fn live_images(client: &aws_sdk_ec2::Client, id: &str) -> usize {
    client
        .describe_images()
        .filters(filter("image-id", id))
        .send()
        .await
        .unwrap()
        .images()
        .iter()
        .filter(|i| i.state().map(|s| s.as_str()) != Some("deregistered"))
        .count()
}

async fn instance_state(client: &aws_sdk_ec2::Client, id: &str) -> String {
    let out = client
        .describe_instances()
        .instance_ids(id)
        .send()
        .await
        .unwrap();
    out.reservations()[0].instances()[0]
        .state()
        .and_then(|s| s.name())
        .map(|n| n.as_str().to_string())
        .unwrap_or_default()
}

async fn launch_tagged(client: &aws_sdk_ec2::Client, base: &str, tags: &[(&str, &str)]) -> String {
    let spec = aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
                .collect(),
        ))
        .build();
    let out = client
        .run_instances()
        .image_id(base)
        .min_count(1)
        .max_count(1)
        .tag_specifications(spec)
        .send()
        .await
        .unwrap();
    out.instances()[0].instance_id().unwrap().to_string()
}

/// The scenario; `who` names the backend in failure messages.
async fn scenario(backend: &Backend, who: &str) {
    let aws = aws(&backend.url()).await;
    let home = ec2(&aws, "eu-west-2");
    let west1 = ec2(&aws, "eu-west-1");
    let base = a_base_image(&home).await;

    // Plan and apply a stepless recipe: launch, capture, tag, copy, share, terminate.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("conformance.yaml"),
        format!(
            "name: conformance\ndescription: provider conformance\ntarget: ec2-ami\nstrategy: zero\nos: linux\nversion: 1.0.0\n\
             base: {{ image-id: {base} }}\nbuilder: {{ region: eu-west-2, instance-type: t3.micro }}\n\
             image:\n  name: conformance-${{version}}-${{timestamp}}\n  tags: {{ Team: platform }}\n\
             distribute:\n  regions: [eu-west-1]\n  share: {{ accounts: [\"{GRANTEE}\"] }}\n"
        ),
    )
    .unwrap();
    let set = recipe_loader::load(&[dir.path().to_path_buf()], &recipe_targets::load_options());
    assert!(
        !set.has_errors(),
        "{:?}",
        set.diagnostics
            .iter()
            .map(|d| &d.message)
            .collect::<Vec<_>>()
    );
    let plan = recipe_plan::compute(
        &set,
        &BTreeMap::new(),
        &Observations::default(),
        &PlanOptions {
            estimates: Default::default(),
            targets: vec![],
            unfinished: Default::default(),
            now: jiff::Timestamp::now(),
            cloud: CloudInfo {
                account: Some(ACCOUNT.into()),
                region: "eu-west-2".into(),
                region_source: "--region".into(),
                ..Default::default()
            },
        },
    )
    .unwrap();
    let build_id = plan.recipes[0].build.as_ref().unwrap().build_id.clone();
    let provider = Arc::new(Ec2Provider::new(
        aws.clone(),
        Options::every(Duration::from_millis(20)),
    ));
    let mut registry = Registry::new();
    registry.register(provider.clone());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cx = Arc::new(ApplyContext::new(
        &set,
        plan.clone(),
        BTreeMap::new(),
        Events::new(tx.clone()),
    ));
    let mut journal = Journal::in_memory();
    let report = recipe_engine::execute(
        &plan,
        Arc::new(Routed::new(registry, Arc::clone(&cx))),
        &mut journal,
        &EngineOptions::default(),
        &tx,
        &CancelToken::new(),
    )
    .await
    .unwrap();
    drop(tx);
    drop(cx);
    let mut outputs = Outputs::default();
    let mut failures = Vec::new();
    let mut waited = Vec::new();
    while let Some(e) = rx.recv().await {
        match e {
            Event::Succeeded { id, outputs: o, .. } => outputs.add(&plan.actions[id].recipe, &o),
            Event::Failed { id, error } => {
                failures.push(format!("{}: {error}", plan.actions[id].action))
            }
            Event::Waiting { on, .. } => waited.push(on),
            _ => {}
        }
    }
    assert!(report.ok(), "{who}: {failures:?}");
    let image = outputs
        .image("conformance", "eu-west-2")
        .unwrap()
        .to_string();
    let copy = outputs
        .image("conformance", "eu-west-1")
        .unwrap()
        .to_string();
    assert_ne!(image, copy);
    assert!(
        waited.iter().any(|w| w.contains(&image)),
        "{who}: the wait for the image was reported"
    );

    // The image carries the recipe's tags, the build's, and the user's.
    let d = home
        .describe_images()
        .image_ids(&image)
        .send()
        .await
        .unwrap();
    let img = &d.images()[0];
    let tag = |k: &str| {
        img.tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    assert_eq!(tag("recipe:name").as_deref(), Some("conformance"), "{who}");
    assert_eq!(tag("recipe:build-id"), Some(build_id.clone()), "{who}");
    assert_eq!(tag("Team").as_deref(), Some("platform"), "{who}");
    assert_eq!(img.state().map(|s| s.as_str()), Some("available"), "{who}");
    assert_eq!(
        live_images(&west1, &copy).await,
        1,
        "{who}: the copy exists"
    );

    // Shared with the account in both regions, snapshots included.
    for (client, id) in [(&home, &image), (&west1, &copy)] {
        let attr = client
            .describe_image_attribute()
            .image_id(id)
            .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
            .send()
            .await
            .unwrap();
        assert!(
            attr.launch_permissions()
                .iter()
                .any(|p| p.user_id() == Some(GRANTEE)),
            "{who}: {id} is shared"
        );
    }
    let snap = img.block_device_mappings()[0]
        .ebs()
        .and_then(|e| e.snapshot_id())
        .unwrap()
        .to_string();
    let perms = home
        .describe_snapshot_attribute()
        .snapshot_id(&snap)
        .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
        .send()
        .await
        .unwrap();
    assert!(
        perms
            .create_volume_permissions()
            .iter()
            .any(|p| p.user_id() == Some(GRANTEE)),
        "{who}: the snapshot is shared with the account"
    );

    // The builder is gone.
    let builders = home
        .describe_instances()
        .filters(filter("tag:recipe:role", "builder"))
        .send()
        .await
        .unwrap();
    let states: Vec<String> = builders
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| {
            i.state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string())
        })
        .collect();
    assert!(!states.is_empty(), "{who}: a builder was launched");
    assert!(
        states
            .iter()
            .all(|s| s == "terminated" || s == "shutting-down"),
        "{who}: builders {states:?}"
    );

    // What uses an image: an instance launched from it, a launch template's default version.
    let user = launch_tagged(&home, &image, &[("Name", "consumer")]).await;
    west1
        .create_launch_template()
        .launch_template_name("consumers")
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id(&copy)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let used = recipe_provider_ec2::images_in_use(&home, &[image.clone(), base.clone()])
        .await
        .unwrap();
    assert_eq!(
        used.get(&image),
        Some(&vec![format!("instance {user}")]),
        "{who}: {used:?}"
    );
    let used = recipe_provider_ec2::images_in_use(&west1, std::slice::from_ref(&copy))
        .await
        .unwrap();
    assert!(
        used.get(&copy)
            .is_some_and(|u| u.iter().any(|x| x.starts_with("launch template consumers"))),
        "{who}: {used:?}"
    );

    // Removing a copy deregisters it.
    let remove = Action {
        id: 0,
        recipe: "conformance".into(),
        action: ActionKind::RemoveCopy {
            region: "eu-west-1".into(),
            image_id: copy.clone(),
        },
        reason: "test".into(),
        depends_on: vec![],
        estimate_secs: 0,
    };
    let cx = ApplyContext::new(&set, plan.clone(), BTreeMap::new(), Events::discard());
    provider
        .run(&cx, &remove, &Outputs::default())
        .await
        .unwrap();
    assert_eq!(
        live_images(&west1, &copy).await,
        0,
        "{who}: the copy is gone"
    );

    // A sweep terminates a builder of a build nobody runs, keeps one kept for debugging, and
    // deregisters an abandoned build's unrecorded image, never a recorded one.
    let stray = launch_tagged(
        &home,
        &base,
        &[
            ("recipe:name", "conformance"),
            ("recipe:role", "builder"),
            ("recipe:build-id", "b-dead"),
        ],
    )
    .await;
    let kept = launch_tagged(
        &home,
        &base,
        &[
            ("recipe:name", "conformance"),
            ("recipe:role", "builder"),
            ("recipe:build-id", "b-debug"),
            ("recipe:keep", "debug"),
        ],
    )
    .await;
    let abandoned = home
        .create_image()
        .instance_id(&stray)
        .name("conformance-abandoned")
        .tag_specifications(
            aws_sdk_ec2::types::TagSpecification::builder()
                .resource_type(aws_sdk_ec2::types::ResourceType::Image)
                .tags(
                    Tag::builder()
                        .key("recipe:name")
                        .value("conformance")
                        .build(),
                )
                .tags(
                    Tag::builder()
                        .key("recipe:build-id")
                        .value("b-dead")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();
    let request = SweepRequest {
        scopes: vec![],
        current: BTreeSet::from([build_id.clone()]),
        abandoned: BTreeSet::from(["b-dead".to_string()]),
        recorded: BTreeSet::from([image.clone()]),
    };
    let swept =
        recipe_provider_ec2::sweep_orphans(&provider, "eu-west-2", &["conformance"], &request)
            .await;
    assert!(swept.problems.is_empty(), "{who}: {:?}", swept.problems);
    assert_eq!(swept.builders.len(), 1, "{who}: {:?}", swept.builders);
    assert!(swept.builders[0].contains(&stray), "{who}");
    assert!(
        matches!(
            instance_state(&home, &stray).await.as_str(),
            "shutting-down" | "terminated"
        ),
        "{who}"
    );
    assert_eq!(instance_state(&home, &kept).await, "running", "{who}");
    assert_eq!(swept.images.len(), 1, "{who}: {:?}", swept.images);
    assert_eq!(live_images(&home, &abandoned).await, 0, "{who}");
    assert_eq!(
        live_images(&home, &image).await,
        1,
        "{who}: the recorded image stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_aws_sim() {
    let b = Backend::sim().await;
    scenario(&b, "aws-sim").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_moto() {
    let Some(b) = Backend::moto() else { return };
    scenario(&b, "moto").await;
}
