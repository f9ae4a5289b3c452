//! AppStream applies against aws-sim (the person at the builder played by the simulator): a failed
//! step cleaned up, the two-copy ceiling, fleets in order behind the first, retention with an image a
//! fleet uses, revoking a fleet permission, kill -9 mid-apply, and one EC2 bake imported into
//! AppStream.

use aws_sdk_appstream::types::{ComputeCapacity, FleetType};

use super::Env;

const APPS: &str = r#"
name: apps
target: appstream
strategy: full
os: linux
version: 1.0.0
base: { appstream-image: AppStream-AmazonLinux2-06-17-2025 }
builder:
  region: eu-west-2
  instance-type: stream.standard.medium
  subnet-id: subnet-0a1b2c3d4e5f60718
  iam-role-arn: arn:aws:iam::123456789012:role/appstream-builder
steps:
  - shell: { run: "echo step one" }
  - app: { id: terminal, path: /usr/bin/xterm, display-name: Terminal }
cleanup: appstream-linux
image:
  name: apps-${version}
distribute:
  share:
    accounts:
      - { id: "444455556666", fleet: true, image-builder: false }
rollout:
  fleets: [apps-staging, apps-prod]
retain:
  keep: 1
"#;

/// An aws-sim that registers agents on image builders, and a folder with the `apps` recipe.
async fn as_env() -> Env {
    let mut d = aws_sim::Durations::instant();
    d.builder_start_ms = 30;
    d.appstream_image_ms = 120;
    d.image_create_ms = 60;
    let e = super::operator_env(d).await;
    let dir = e.dir.path();
    std::fs::create_dir_all(dir.join("recipes")).unwrap();
    std::fs::write(dir.join("recipes/apps.yaml"), APPS).unwrap();
    e
}

impl Env {
    fn write_apps(&self, text: &str) {
        std::fs::write(self.dir.path().join("recipes/apps.yaml"), text).unwrap();
    }

    pub(super) fn appstream(&self) -> aws_sdk_appstream::Client {
        let creds = aws_sdk_appstream::config::Credentials::new(
            aws_sim::DEFAULT_ACCOUNT,
            "test",
            None,
            None,
            "test",
        );
        let conf = aws_sdk_appstream::Config::builder()
            .behavior_version(aws_sdk_appstream::config::BehaviorVersion::latest())
            .endpoint_url(self.sim.url())
            .region(aws_sdk_appstream::config::Region::new("eu-west-2"))
            .credentials_provider(creds)
            .build();
        aws_sdk_appstream::Client::from_conf(conf)
    }

    /// Image builders not deleted, SSM activations and managed nodes left.
    fn as_leftovers(&self) -> (usize, usize, usize) {
        let w = self.sim.world();
        let builders = w.appstream.builders.values();
        let live = builders.filter(|b| b.state != "DELETING").count();
        (live, w.ssm.activations.len(), w.ssm.nodes.len())
    }

    /// `name region` of the account's images whose name starts with `prefix`.
    fn as_images(&self, prefix: &str) -> Vec<String> {
        let w = self.sim.world();
        let mut names: Vec<String> = (w.appstream.images.values())
            .filter(|i| i.owner == aws_sim::DEFAULT_ACCOUNT && i.name.starts_with(prefix))
            .map(|i| format!("{} {}", i.name, i.region))
            .collect();
        names.sort();
        names
    }

    /// The image fleet `name` runs.
    fn fleet_image(&self, name: &str) -> Option<String> {
        let w = self.sim.world();
        let f = w.appstream.fleets.values().find(|f| f.name == name)?;
        Some(f.image_name.clone())
    }

    async fn fleet(&self, name: &str, image: &str, kind: FleetType) {
        let mut call = self
            .appstream()
            .create_fleet()
            .name(name)
            .instance_type("stream.standard.medium")
            .fleet_type(kind.clone());
        call = if kind == FleetType::Elastic {
            call.platform(aws_sdk_appstream::types::PlatformType::AmazonLinux2)
                .max_concurrent_sessions(2)
                .vpc_config(
                    aws_sdk_appstream::types::VpcConfig::builder()
                        .subnet_ids("subnet-0a1b2c3d4e5f60718")
                        .build(),
                )
        } else {
            call.image_name(image)
                .compute_capacity(ComputeCapacity::builder().desired_instances(1).build())
        };
        call.send().await.unwrap();
    }
}

/// An image builder's subnet or security group that does not exist is a plan finding, and apply
/// makes no image builder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_builder_network_is_a_plan_finding() {
    let e = as_env().await;
    e.write_apps(&APPS.replace(
        "  subnet-id: subnet-0a1b2c3d4e5f60718\n",
        "  subnet-id: subnet-0eeeeeeeeeeeeeeee\n  security-group-ids: [sg-0fedcba9876543210]\n",
    ));
    let (code, plan, err) = e.run(&["plan", "recipes"]).await;
    assert_eq!(code, 4, "a problem apply would refuse: {plan}\n{err}");
    assert!(
        plan.contains("problem: the subnet subnet-0eeeeeeeeeeeeeeee does not exist in eu-west-2"),
        "{plan}"
    );
    assert!(
        !plan.contains("sg-0fedcba9876543210 does not exist"),
        "{plan}"
    );
    let before = e.sim.requests().records.len();
    let (code, out, err) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 4, "{out}\n{err}");
    assert_eq!(e.writes_since(before), Vec::<String>::new());
}

/// The builder's role: one of another account, one that does not exist, and one AppStream may not
/// assume are plan findings with their fix (before, CreateImageBuilder answered
/// InvalidRoleException mid-apply); apply makes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_builder_role_appstream_cannot_assume_is_a_plan_finding() {
    let e = as_env().await;
    e.sim
        .provide_role(aws_sim::DEFAULT_ACCOUNT, "ec2-only", "ec2.amazonaws.com");
    let cases = [
        (
            "arn:aws:iam::111122223333:role/appstream-builder",
            "problem: `builder.iam-role-arn` names arn:aws:iam::111122223333:role/appstream-builder, but this",
        ),
        (
            "arn:aws:iam::123456789012:role/nobody",
            "problem: the IAM role nobody does not exist in this account (fix: create it, or name one",
        ),
        (
            "arn:aws:iam::123456789012:role/ec2-only",
            "problem: the IAM role ec2-only does not trust appstream.amazonaws.com",
        ),
    ];
    for (arn, line) in cases {
        e.write_apps(&APPS.replace("arn:aws:iam::123456789012:role/appstream-builder", arn));
        e.assert_plan_problem("recipes", line).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_leaves_no_image_no_builder_and_no_activation() {
    let e = as_env().await;
    e.sim.script_command(aws_sim::CommandScript {
        contains: "echo step one".into(),
        status: "Failed".into(),
        stdout: "no space left on device\n".into(),
        response_code: 1,
        ..Default::default()
    });
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 5, "{stdout}\n{stderr}");
    assert!(stdout.contains("no space left on device"), "{stdout}");
    assert!(e.as_images("apps-").is_empty());
    assert_eq!(
        e.as_leftovers(),
        (0, 0, 0),
        "builder, activation and node are gone:\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_is_made_by_the_image_assistant_and_a_second_plan_has_no_change() {
    let e = as_env().await;
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let w = e.sim.world();
    let img = w.appstream.images.values().find(|i| i.name == "apps-1.0.0");
    let img = img.expect("the image");
    let apps: Vec<&str> = img.applications.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(apps, ["terminal"], "the app step is in the catalog");
    assert_eq!(
        img.tags.get("recipe:name").map(String::as_str),
        Some("apps")
    );
    assert_eq!(
        img.shared_with.get("444455556666").map(|p| p.allow_fleet),
        Some(true)
    );
    assert_eq!(
        e.as_leftovers(),
        (0, 0, 0),
        "the builder is deleted once stopped"
    );
    for fleet in ["apps-staging", "apps-prod"] {
        assert_eq!(
            e.fleet_image(fleet).as_deref(),
            Some("apps-1.0.0"),
            "{fleet} was created on it"
        );
    }
    let (code, stdout, _) = e.run(&["plan", "recipes", "--detailed-exitcode"]).await;
    assert_eq!(code, 0, "no change:\n{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_to_one_region_never_exceed_two_at_once() {
    let e = as_env().await;
    for n in ["a", "b", "c"] {
        let text = APPS
            .replace("name: apps", &format!("name: apps-{n}"))
            .replace("apps-${version}", &format!("apps-{n}-${{version}}"))
            .replace("rollout:\n  fleets: [apps-staging, apps-prod]\n", "")
            .replace("distribute:\n", "distribute:\n  regions: [eu-west-1]\n");
        std::fs::write(e.dir.path().join(format!("recipes/apps-{n}.yaml")), text).unwrap();
    }
    std::fs::remove_file(e.dir.path().join("recipes/apps.yaml")).unwrap();
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let copies: Vec<String> = e
        .as_images("apps-")
        .into_iter()
        .filter(|i| i.ends_with("eu-west-1"))
        .collect();
    assert_eq!(copies.len(), 3, "{copies:?}");
    let log = e.sim.requests();
    let refused = log
        .records
        .iter()
        .filter(|r| r.operation == "appstream:CopyImage" && r.status != 200)
        .count();
    assert_eq!(refused, 0, "no copy met the two-copy ceiling");
    assert_eq!(log.count("appstream:CopyImage"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_that_fails_its_rollout_stops_the_fleets_after_it() {
    let e = as_env().await;
    e.fleet("apps-staging", "", FleetType::Elastic).await;
    e.fleet(
        "apps-prod",
        "AppStream-AmazonLinux2-06-17-2025",
        FleetType::AlwaysOn,
    )
    .await;
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 5, "{stdout}\n{stderr}");
    assert!(stdout.contains("Elastic fleet"), "{stdout}");
    assert!(
        stdout.contains("roll out to fleet apps-prod (skipped"),
        "{stdout}"
    );
    assert_eq!(e.sim.requests().count("appstream:UpdateFleet"), 0);
    assert_eq!(
        e.fleet_image("apps-prod").as_deref(),
        Some("AppStream-AmazonLinux2-06-17-2025"),
        "production keeps its image"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_an_image_a_fleet_uses_and_revoking_warns_of_fleets_at_zero() {
    let e = as_env().await;
    assert_eq!(e.run(&["apply", "recipes", "--auto-approve"]).await.0, 0);
    e.fleet("other-team", "apps-1.0.0", FleetType::OnDemand)
        .await;
    e.write_apps(&APPS.replace("version: 1.0.0", "version: 2.0.0"));
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        e.as_images("apps-"),
        ["apps-1.0.0 eu-west-2", "apps-2.0.0 eu-west-2"],
        "1.0.0 is kept: fleet other-team uses it"
    );
    let unshared = APPS
        .replace("version: 1.0.0", "version: 2.0.0")
        .replace(
            "distribute:\n  share:\n    accounts:\n      - { id: \"444455556666\", fleet: true, image-builder: false }\n",
            "",
        );
    e.write_apps(&unshared);
    let (_, plan, _) = e.run(&["plan", "recipes"]).await;
    assert!(
        plan.contains("warning: 444455556666 loses fleet use of the image"),
        "{plan}"
    );
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let w = e.sim.world();
    let v2 = w.appstream.images.values().find(|i| i.name == "apps-2.0.0");
    assert!(v2.unwrap().shared_with.is_empty(), "the share is revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_mid_apply_the_next_apply_makes_no_second_image_and_leaves_no_builder() {
    let e = as_env().await;
    assert!(
        super::kill_9_json_after(&e, "capture").await,
        "the apply got to the capture"
    );
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(e.as_images("apps-"), ["apps-1.0.0 eu-west-2"], "one image");
    assert_eq!(e.as_leftovers(), (0, 0, 0));
    let (code, stdout, _) = e.run(&["plan", "recipes", "--detailed-exitcode"]).await;
    assert_eq!(code, 0, "{stdout}");
}

const WIN_AMI: &str = r#"
name: win-base
target: ec2-ami
strategy: full
os: windows
version: 1.0.0
base:
  ssm-parameter: /aws/service/ami-windows-latest/TPM-Windows_Server-2022-English-Full-Base
builder:
  region: eu-west-2
  instance-profile: recipe-builder
steps:
  - powershell: { run: "Write-Output baseline" }
image:
  name: win-base-${version}
"#;

const WIN_APPS: &str = r#"
name: win-apps
target: appstream
strategy: full
os: windows
version: 1.0.0
base: { recipe: win-base }
builder:
  region: eu-west-2
  instance-type: stream.standard.medium
  iam-role-arn: arn:aws:iam::123456789012:role/appstream-import
steps:
  - app: { id: notepad, path: 'C:\Windows\System32\notepad.exe', display-name: Notepad }
image:
  name: win-apps-${version}
  display-name: Windows apps
"#;

/// One EC2 bake feeds AppStream: the AMI recipe is built, and CreateImportedImage (after its dry
/// run) turns its AMI into the AppStream image with the `app` steps as the catalog; no image
/// builder; a second plan has no change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_apply_imports_the_ami_recipe_into_appstream() {
    let e = as_env().await;
    std::fs::remove_file(e.dir.path().join("recipes/apps.yaml")).unwrap();
    std::fs::write(e.dir.path().join("recipes/win-base.yaml"), WIN_AMI).unwrap();
    std::fs::write(e.dir.path().join("recipes/win-apps.yaml"), WIN_APPS).unwrap();
    let (_, plan, _) = e.run(&["plan", "recipes"]).await;
    assert!(
        plan.contains("import route"),
        "the plan names the route:\n{plan}"
    );
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        e.sim.requests().count("appstream:CreateImportedImage"),
        2,
        "dry run, then the import"
    );
    assert_eq!(e.sim.requests().count("appstream:CreateImageBuilder"), 0);
    let w = e.sim.world();
    let img = w
        .appstream
        .images
        .values()
        .find(|i| i.name == "win-apps-1.0.0");
    let img = img.expect("the imported image");
    assert!(img.source_ami.starts_with("ami-"), "{}", img.source_ami);
    let apps: Vec<&str> = img.applications.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(apps, ["notepad"]);
    let source = img.source_ami.clone();
    let (code, stdout, _) = e.run(&["plan", "recipes", "--detailed-exitcode"]).await;
    assert_eq!(code, 0, "{stdout}");

    // A new version of the AppStream recipe alone imports the parent's current AMI again.
    let v2 = WIN_APPS.replace("version: 1.0.0", "version: 1.1.0");
    std::fs::write(e.dir.path().join("recipes/win-apps.yaml"), v2).unwrap();
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let w = e.sim.world();
    let img = w
        .appstream
        .images
        .values()
        .find(|i| i.name == "win-apps-1.1.0");
    assert_eq!(img.expect("version 1.1.0").source_ami, source);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_gate_says_how_to_reach_the_builder_and_the_next_apply_goes_on() {
    let e = as_env().await;
    e.write_apps(&APPS.replace(
        "  - app: {",
        "  - manual: { instructions: \"Open the app once and save its settings.\" }\n  - app: {",
    ));
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 3, "paused:\n{stdout}\n{stderr}");
    assert!(stdout.contains("Open the app once"), "{stdout}");
    assert!(
        stdout.contains("aws appstream create-image-builder-streaming-url --name recipe-b"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("authenticate?parameters="),
        "no live URL in logs"
    );
    assert_eq!(e.as_leftovers().0, 1, "the builder is kept at the gate");
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(e.as_images("apps-"), ["apps-1.0.0 eu-west-2"]);
    assert_eq!(e.as_leftovers(), (0, 0, 0));
}

const REFRESH: &str = r#"
name: apps-refresh
target: appstream
strategy: full
os: windows
version: 1.0.0
base: { appstream-image: apps-1.0.0 }
managed-update: true
builder: { region: eu-west-2 }
image:
  name: apps-refresh-${version}
"#;

/// The managed-update route: CreateUpdatedImage's dry run says whether AppStream has an update for
/// the image; with one, a version is made from it (no builder), and then there is nothing left to
/// update; with none, the plan has no change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_managed_update_builds_only_when_appstream_has_an_update() {
    let e = as_env().await;
    // Managed image updates are for Windows images (a Linux recipe is refused by validate).
    let plain = |base: &str| {
        APPS.replace("AppStream-AmazonLinux2-06-17-2025", base)
            .replace("rollout:\n  fleets: [apps-staging, apps-prod]\n", "")
            .replace("os: linux", "os: windows")
            .replace(
                "shell: { run: \"echo step one\" }",
                "powershell: { run: \"Write-Output one\" }",
            )
            .replace(
                "path: /usr/bin/xterm",
                "path: 'C:\\Windows\\System32\\cmd.exe'",
            )
            .replace("cleanup: appstream-linux", "cleanup: appstream-windows")
    };
    // An image on the January base carries an older agent: AppStream has an update for it.
    e.write_apps(&plain("AppStream-WinServer2022-01-13-2025"));
    assert_eq!(e.run(&["apply", "recipes", "--auto-approve"]).await.0, 0);
    std::fs::write(e.dir.path().join("recipes/apps-refresh.yaml"), REFRESH).unwrap();
    let (_, plan, _) = e.run(&["plan", "recipes"]).await;
    assert!(plan.contains("route: managed update"), "{plan}");
    assert!(
        plan.contains("AppStream has an update for the image"),
        "{plan}"
    );
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        e.sim.requests().count("appstream:CreateImageBuilder"),
        1,
        "only the first recipe's"
    );
    let refreshed = e.as_images("apps-refresh-1.0.0-b");
    assert_eq!(refreshed.len(), 1, "{refreshed:?}");
    let (code, stdout, _) = e.run(&["plan", "recipes", "--detailed-exitcode"]).await;
    assert_eq!(code, 0, "the new version is up to date:\n{stdout}");
    assert!(stdout.contains("no update for the image"), "{stdout}");

    // An image on the latest base has no update: nothing to build.
    let e2 = super::operator_env(aws_sim::Durations::instant()).await;
    std::fs::create_dir_all(e2.dir.path().join("recipes")).unwrap();
    e2.write_apps(&plain("AppStream-WinServer2022-06-17-2025"));
    assert_eq!(e2.run(&["apply", "recipes", "--auto-approve"]).await.0, 0);
    std::fs::write(e2.dir.path().join("recipes/apps-refresh.yaml"), REFRESH).unwrap();
    let (code, stdout, _) = e2.run(&["plan", "recipes", "--detailed-exitcode"]).await;
    assert_eq!(code, 0, "no update, no change:\n{stdout}");
    assert_eq!(
        e2.sim.requests().count("appstream:CreateUpdatedImage"),
        1,
        "the dry run only"
    );
}

/// A Windows builder with `image.update-default-profile`: the Image Assistant's
/// `update-default-profile` runs before `create-image`, in the capture's one command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_profile_is_saved_before_the_image_is_made() {
    let e = as_env().await;
    let windows = APPS
        .replace("os: linux", "os: windows")
        .replace(
            "AppStream-AmazonLinux2-06-17-2025",
            "AppStream-WinServer2022-06-17-2025",
        )
        .replace(
            "shell: { run: \"echo step one\" }",
            "powershell: { run: \"Write-Output one\" }",
        )
        .replace(
            "path: /usr/bin/xterm",
            "path: 'C:\\Windows\\System32\\notepad.exe'",
        )
        .replace("cleanup: appstream-linux", "cleanup: appstream-windows")
        .replace(
            "  name: apps-${version}\n",
            "  name: apps-${version}\n  update-default-profile: true\n",
        );
    e.write_apps(&windows);
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let w = e.sim.world();
    let capture = w
        .ssm
        .commands
        .values()
        .flat_map(|c| c.parameters.get("commands").into_iter().flatten())
        .find(|c| c.contains("create-image"))
        .expect("the capture command");
    let profile = capture.find("update-default-profile").expect(capture);
    assert!(profile < capture.find("create-image").unwrap(), "{capture}");
    assert_eq!(e.as_images("apps-"), ["apps-1.0.0 eu-west-2"]);
    // The builder's disk started with the agent's registration (aws-sim gives every Windows node
    // one); the image keeps the disk as the capture left it, so it must carry none.
    let (_, disk) = w
        .windows
        .iter()
        .find(|(k, _)| k.ends_with("/eu-west-2/apps-1.0.0"))
        .expect("the image's disk");
    assert!(!disk.contains(aws_sim::WINDOWS_REGISTRATION), "{disk:?}");
}

/// The import's dry run refuses an AMI that does not meet AppStream's requirements (here: legacy BIOS
/// boot, no TPM) before anything AppStream is made, and says what to start from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ami_appstream_cannot_import_is_refused_by_the_dry_run() {
    let e = as_env().await;
    std::fs::remove_file(e.dir.path().join("recipes/apps.yaml")).unwrap();
    let bios = WIN_AMI.replace("TPM-Windows_Server", "Windows_Server");
    std::fs::write(e.dir.path().join("recipes/win-base.yaml"), bios).unwrap();
    std::fs::write(e.dir.path().join("recipes/win-apps.yaml"), WIN_APPS).unwrap();
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(
        code, 5,
        "{stdout}
{stderr}"
    );
    assert!(stdout.contains("UEFI mode with TPM 2.0"), "{stdout}");
    assert!(
        stdout.contains("dry run"),
        "the help names the dry run: {stdout}"
    );
    assert_eq!(
        e.sim.requests().count("appstream:CreateImportedImage"),
        1,
        "the dry run only"
    );
    assert!(e.as_images("win-apps").is_empty());
}

/// The staging gate on running fleets: AppStream replaces instances after UpdateFleet, and an image
/// whose instances fail shows in FleetErrors only then. The gate watches the first fleet, fails the
/// rollout naming the error, and leaves production on its image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staging_fleet_whose_replaced_instances_fail_stops_the_rollout() {
    let mut d = aws_sim::Durations::instant();
    d.builder_start_ms = 30;
    d.appstream_image_ms = 120;
    d.fleet_replace_ms = 200;
    let e = super::operator_env(d).await;
    std::fs::create_dir_all(e.dir.path().join("recipes")).unwrap();
    std::fs::write(e.dir.path().join("recipes/apps.yaml"), APPS).unwrap();
    let old = "AppStream-AmazonLinux2-06-17-2025";
    for fleet in ["apps-staging", "apps-prod"] {
        e.fleet(fleet, old, FleetType::AlwaysOn).await;
        e.appstream()
            .start_fleet()
            .name(fleet)
            .send()
            .await
            .unwrap();
    }
    e.sim.fail_next("appstream-fleet", 1);
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 5, "{stdout}\n{stderr}");
    assert!(stdout.contains("INTERNAL_SERVICE_ERROR"), "{stdout}");
    assert!(
        stdout.contains("roll out to fleet apps-prod (skipped"),
        "{stdout}"
    );
    assert_eq!(
        e.sim.requests().count("appstream:UpdateFleet"),
        1,
        "only staging"
    );
    assert_eq!(
        e.fleet_image("apps-prod").as_deref(),
        Some(old),
        "production keeps its image"
    );
}

/// A base that is not AWS's newest release of its line gets a plan note naming the newer one (a
/// note, not a rebuild); on the newest release there is none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_notes_a_newer_aws_release_of_the_base() {
    let e = as_env().await;
    let old = APPS.replace(
        "AppStream-AmazonLinux2-06-17-2025",
        "AppStream-AmazonLinux2-02-11-2025",
    );
    assert_ne!(old, APPS, "the recipe names the newest release");
    e.write_apps(&old);
    let (code, stdout, stderr) = e.run(&["plan", "recipes"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "AWS published AppStream-AmazonLinux2-06-17-2025, newer than this recipe's base"
        ),
        "{stdout}"
    );
    e.write_apps(APPS);
    let (_, stdout, _) = e.run(&["plan", "recipes"]).await;
    assert!(!stdout.contains("AWS published"), "{stdout}");
}

/// A changed tag retags the current image without a rebuild, and the tags' build-time placeholders
/// take the version's own values, not their `${…}` text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_tags_retag_the_image_with_its_build_values() {
    let e = as_env().await;
    let tagged = "  name: apps-${version}\n  tags: { Stage: prod, Built: \"${date}\", Build: \"${build_id}\" }\n";
    e.write_apps(&APPS.replace("  name: apps-${version}\n", tagged));
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let tags_of = |w: &aws_sim::World| {
        let img = w.appstream.images.values().find(|i| i.name == "apps-1.0.0");
        img.expect("the image").tags.clone()
    };
    let built = tags_of(&e.sim.world());
    e.edit("recipes/apps.yaml", "Stage: prod", "Stage: test");
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("retag"), "{stdout}");
    let now = tags_of(&e.sim.world());
    assert_eq!(now.get("Stage").map(String::as_str), Some("test"));
    for key in ["Built", "Build"] {
        assert!(!now[key].contains("${"), "{key} = {}", now[key]);
        assert_eq!(now[key], built[key], "{key} keeps the version's value");
    }
    assert_eq!(e.as_images("apps-"), ["apps-1.0.0 eu-west-2"], "no rebuild");
}
