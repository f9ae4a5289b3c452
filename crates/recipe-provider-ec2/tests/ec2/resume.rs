//! Actions run again after kill -9 or a retry. Sysprep stops the builder at its end, so a resumed
//! sysprep finds it stopped: it must wait for the stop, not for an SSM agent that will not come back,
//! and any command for a builder that is not running fails at once, naming its state. A run-steps run
//! again waits for the command already sent instead of sending a second.

use std::collections::BTreeMap;
use std::time::Duration;

use recipe_aws::{Aws, AwsOptions, Credentials};
use recipe_engine::{ActionKind, ApplyContext, Events, Outputs, Provider, RecipeOutputs};
use recipe_loader::RecipeSet;
use recipe_plan::{CloudInfo, Observations, Plan, PlanOptions};
use recipe_provider_ec2::{Ec2Provider, Options};

const RECIPE: &str = "name: win\ndescription: sysprep resume\ntarget: ec2-ami\nstrategy: full\nos: windows\nversion: 1.0.0\nbase: { image-id: BASE }\nbuilder: { region: eu-west-2, instance-type: m6i.large }\nsteps:\n  - powershell: { run: \"Write-Host baked\" }\n  - sysprep: {}\nimage: { name: \"win-${build_id}\" }\n";

/// aws-sim with `durations`, an SDK configuration for it, and a base image.
struct Bench {
    sim: aws_sim::Sim,
    aws: Aws,
    ec2: aws_sdk_ec2::Client,
    base: String,
}

async fn bench(durations: aws_sim::Durations) -> Bench {
    let sim = aws_sim::Sim::start(aws_sim::Config {
        durations,
        ..Default::default()
    })
    .await
    .unwrap();
    let opts = AwsOptions {
        endpoint_url: Some(sim.url().to_string()),
        region: Some("eu-west-2".into()),
        credentials: Some(Credentials::new("123456789012", "t", None, None, "t")),
        ..Default::default()
    };
    let aws = Aws::load(&opts).await.unwrap();
    let ec2 = aws_sdk_ec2::Client::new(&aws.sdk);
    let base = crate::conformance::a_base_image(&ec2).await;
    Bench {
        sim,
        aws,
        ec2,
        base,
    }
}

impl Bench {
    /// The recipe `yaml` (its `BASE` replaced by the base image), loaded and planned with no state.
    fn plan(&self, dir: &std::path::Path, yaml: &str) -> (RecipeSet, Plan) {
        std::fs::write(dir.join("r.yaml"), yaml.replace("BASE", &self.base)).unwrap();
        let set = recipe_loader::load(&[dir.to_path_buf()], &recipe_targets::load_options());
        let errors: Vec<String> = set
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        let options = PlanOptions {
            estimates: Default::default(),
            targets: vec![],
            unfinished: Default::default(),
            now: jiff::Timestamp::now(),
            cloud: CloudInfo {
                account: None,
                region: "eu-west-2".into(),
                region_source: "--region".into(),
                ..Default::default()
            },
        };
        let state = BTreeMap::new();
        let plan = recipe_plan::compute(&set, &state, &Observations::default(), &options).unwrap();
        (set, plan)
    }

    fn provider(&self) -> Ec2Provider {
        let poll = Duration::from_millis(20);
        Ec2Provider::new(self.aws.clone(), Options::every(poll))
    }
}

fn action<'p>(plan: &'p Plan, name: &str) -> &'p recipe_plan::Action {
    plan.actions
        .iter()
        .find(|a| a.action.name() == name)
        .unwrap()
}

async fn stopped_builder(ec2: &aws_sdk_ec2::Client, base: &str) -> String {
    let out = ec2
        .run_instances()
        .image_id(base)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let id = out.instances()[0].instance_id().unwrap().to_string();
    ec2.stop_instances().instance_ids(&id).send().await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysprep_on_a_stopped_builder_waits_for_the_stop_not_for_its_agent() {
    let b = bench(aws_sim::Durations::instant()).await;
    let builder = stopped_builder(&b.ec2, &b.base).await;
    let dir = tempfile::tempdir().unwrap();
    let (set, plan) = b.plan(dir.path(), RECIPE);
    let cx = ApplyContext::new(&set, plan.clone(), BTreeMap::new(), Events::discard());
    let mut inputs = Outputs::default();
    inputs.add("win", &RecipeOutputs::builder(&builder));
    let provider = b.provider();

    // The resumed sysprep finds the builder stopped: done, without a command.
    let sysprep = action(&plan, "sysprep");
    assert_eq!(sysprep.action, ActionKind::Sysprep);
    let run = provider.run(&cx, sysprep, &inputs);
    let done = tokio::time::timeout(Duration::from_secs(20), run).await;
    done.expect("does not wait for the agent")
        .expect("sysprep is done");
    assert_eq!(b.sim.requests().count("ssm:SendCommand"), 0);

    // A command for a builder that is not running fails at once, naming its state.
    let steps = provider.run(&cx, action(&plan, "run-steps"), &inputs);
    let err = tokio::time::timeout(Duration::from_secs(20), steps)
        .await
        .expect("fails at once")
        .unwrap_err();
    assert!(
        err.message
            .contains(&format!("the builder {builder} is stopped")),
        "{}",
        err.message
    );
}

const STEPS: &str = "name: lin\ndescription: retried steps\ntarget: ec2-ami\nstrategy: full\nos: linux\nversion: 1.0.0\nbase: { image-id: BASE }\nbuilder: { region: eu-west-2, instance-type: t3.small }\nsteps:\n  - shell: { run: \"echo one\" }\n  - shell: { run: \"echo two\" }\nimage: { name: \"lin-${build_id}\" }\n";

/// A run-steps killed while its first command runs, then run again (a resume, or the engine's retry):
/// it waits for the command already sent instead of sending a second one, and does not repeat it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_run_steps_waits_for_the_command_already_sent_and_sends_no_second() {
    let mut durations = aws_sim::Durations::instant();
    durations.ssm_command_ms = 400;
    let b = bench(durations).await;
    // SSM reaches an instance with an instance profile (the agent's credentials).
    let profile = aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
        .name("recipe-builder")
        .build();
    let out = b
        .ec2
        .run_instances()
        .image_id(&b.base)
        .min_count(1)
        .max_count(1)
        .iam_instance_profile(profile)
        .send()
        .await
        .unwrap();
    let builder = out.instances()[0].instance_id().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (set, plan) = b.plan(dir.path(), STEPS);
    let steps = action(&plan, "run-steps");
    let cx = ApplyContext::new(&set, plan.clone(), BTreeMap::new(), Events::discard());
    let mut inputs = Outputs::default();
    inputs.add("lin", &RecipeOutputs::builder(&builder));
    let provider = b.provider();
    let sent = || b.sim.requests().count("ssm:SendCommand");

    // The first run is dropped ("killed") once its first command is sent and still running.
    let first = provider.run(&cx, steps, &inputs);
    let killed = async {
        while sent() == 0 {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let first_run = async {
        tokio::select! {
            r = first => panic!("the command takes 400 ms; the action cannot have ended: {r:?}"),
            () = killed => {}
        }
    };
    tokio::time::timeout(Duration::from_secs(20), first_run)
        .await
        .expect("the first command is sent");
    assert_eq!(sent(), 1);
    // Run again: it waits for that command, then sends only the second step's.
    tokio::time::timeout(Duration::from_secs(20), provider.run(&cx, steps, &inputs))
        .await
        .expect("finishes")
        .expect("succeeds");
    assert_eq!(sent(), 2, "one command per step, none sent twice");
    // And once more (a resume after both finished): nothing is sent.
    provider.run(&cx, steps, &inputs).await.unwrap();
    assert_eq!(sent(), 2);
}

/// A running builder of AWS's public Windows Server `version` AMI, with an instance profile.
async fn windows_builder(ec2: &aws_sdk_ec2::Client, version: &str) -> (String, String) {
    let images = ec2
        .describe_images()
        .owners("amazon")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("name")
                .values(format!("Windows_Server-{version}-English-Full-Base-*"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ami = images.images()[0].image_id().unwrap().to_string();
    let profile = aws_sdk_ec2::types::IamInstanceProfileSpecification::builder()
        .name("recipe-builder")
        .build();
    let out = ec2
        .run_instances()
        .image_id(&ami)
        .min_count(1)
        .max_count(1)
        .iam_instance_profile(profile)
        .send()
        .await
        .unwrap();
    (ami, out.instances()[0].instance_id().unwrap().to_string())
}

/// Sysprep by the launch agent each Windows Server release ships (EC2Launch v2 on 2022 and 2025,
/// EC2Launch v1 on 2016 and 2019): the builder shuts itself down and the action ends with it stopped,
/// though the command never reports Success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysprep_uses_the_launch_agent_of_each_windows_server_release() {
    let b = bench(aws_sim::Durations::instant()).await;
    for version in ["2016", "2019", "2022", "2025"] {
        let (ami, builder) = windows_builder(&b.ec2, version).await;
        let dir = tempfile::tempdir().unwrap();
        let (set, plan) = b.plan(
            dir.path(),
            &RECIPE.replace(&b.base, &ami).replace("BASE", &ami),
        );
        let cx = ApplyContext::new(&set, plan.clone(), BTreeMap::new(), Events::discard());
        let mut inputs = Outputs::default();
        inputs.add("win", &RecipeOutputs::builder(&builder));
        let provider = b.provider();
        let run = provider.run(&cx, action(&plan, "sysprep"), &inputs);
        tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .unwrap_or_else(|_| {
                panic!("{version}: sysprep does not wait for a Success that never comes")
            })
            .unwrap_or_else(|e| panic!("{version}: {}", e.message));
        let state = b
            .ec2
            .describe_instances()
            .instance_ids(&builder)
            .send()
            .await
            .unwrap();
        let state = state.reservations()[0].instances()[0]
            .state()
            .unwrap()
            .name()
            .unwrap()
            .as_str()
            .to_string();
        assert_eq!(state, "stopped", "{version}");
        let world = b.sim.world();
        let sent = world
            .ssm
            .commands
            .values()
            .find(|c| c.invocations.iter().any(|i| i.instance_id == builder));
        let sent = sent.expect("sysprep was sent");
        assert_ne!(
            sent.invocations[0].final_status, "Success",
            "{version}: a machine that shuts itself down does not report"
        );
    }
}

/// A Windows builder with no launch agent the script knows (EC2Launch removed from it by a command)
/// fails the sysprep at once, saying why, instead of waiting for a stop that never comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysprep_without_a_launch_agent_fails_saying_so() {
    let b = bench(aws_sim::Durations::instant()).await;
    let (_, builder) = windows_builder(&b.ec2, "2022").await;
    let ssm = aws_sdk_ssm::Client::new(&b.aws.sdk);
    ssm.send_command()
        .document_name("AWS-RunPowerShellScript")
        .instance_ids(&builder)
        .parameters(
            "commands",
            vec!["Remove-Item 'C:\\Program Files\\Amazon\\EC2Launch' -Recurse -Force".to_string()],
        )
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (set, plan) = b.plan(dir.path(), RECIPE);
    let cx = ApplyContext::new(&set, plan.clone(), BTreeMap::new(), Events::discard());
    let mut inputs = Outputs::default();
    inputs.add("win", &RecipeOutputs::builder(&builder));
    let provider = b.provider();
    let run = provider.run(&cx, action(&plan, "sysprep"), &inputs);
    let err = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("fails at once")
        .unwrap_err();
    assert!(
        err.message
            .contains("neither EC2Launch v2, EC2Launch v1 nor EC2Config is installed"),
        "{}",
        err.message
    );
}

const SECRET: &str = "name: win\ndescription: a secret in env\ntarget: ec2-ami\nstrategy: full\nos: windows\nversion: 1.0.0\nsecrets:\n  token: { ssm-parameter: /hr/api-token }\nbase: { image-id: BASE }\nbuilder: { region: eu-west-2, instance-type: m6i.large }\nsteps:\n  - powershell:\n      env: { TOKEN: \"Bearer ${secret.token}\" }\n      run: \"if (-not $env:TOKEN.StartsWith('Bearer ')) { exit 1 }\"\nimage: { name: \"win-${build_id}\" }\n";

/// A Windows step whose secret lookup fails (the parameter is gone by the time the step runs) fails,
/// naming the parameter and never a value; once the parameter exists, the same step succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_windows_step_whose_secret_lookup_fails_fails_naming_it() {
    let b = bench(aws_sim::Durations::instant()).await;
    let dir = tempfile::tempdir().unwrap();
    let (ami, missing) = windows_builder(&b.ec2, "2022").await;
    let (set, plan) = b.plan(dir.path(), &SECRET.replace("BASE", &ami));
    let cx = ApplyContext::new(&set, plan.clone(), BTreeMap::new(), Events::discard());
    let provider = b.provider();
    let steps = action(&plan, "run-steps");
    let mut inputs = Outputs::default();
    inputs.add("win", &RecipeOutputs::builder(&missing));
    let run = provider.run(&cx, steps, &inputs);
    let err = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("fails at once")
        .unwrap_err();
    assert!(err.message.contains("/hr/api-token"), "{}", err.message);

    let ssm = aws_sdk_ssm::Client::new(&b.aws.sdk);
    ssm.put_parameter()
        .name("/hr/api-token")
        .value("t0ken")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let (_, present) = windows_builder(&b.ec2, "2022").await;
    let mut inputs = Outputs::default();
    inputs.add("win", &RecipeOutputs::builder(&present));
    let run = provider.run(&cx, steps, &inputs);
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("finishes")
        .unwrap_or_else(|e| panic!("{}", e.message));
}
