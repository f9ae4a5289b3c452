//! WorkSpaces applies against aws-sim (the person at the builder played by the simulator): failed
//! preconditions, a rollout with an unhealthy batch, retention with an image a bundle uses, and kill -9
//! mid-apply followed by a re-apply.

use aws_sdk_workspaces::types::{WorkspaceProperties, WorkspaceRequest};

use super::Env;

const DESK: &str = r#"
name: desk
target: workspaces
strategy: full
os: linux
version: 1.0.0
base: { bundle: wsb-clj85qzj1 }
builder:
  region: eu-west-2
  directory-id: d-906734325
  user-name: desk-builder
steps:
  - shell: { run: "echo step one" }
  - shell: { run: "echo step two" }
cleanup: workspaces-linux
image:
  name: desk-${version}
  description: Desk ${version}
bundle:
  name: desk
  description: Desk bundle
  compute: STANDARD
  root-volume-gib: 80
  user-volume-gib: 10
rollout:
  rebuild-workspaces:
    tagged: { Persona: desk }
    batch: 2
retain:
  keep: 1
"#;

/// An aws-sim that registers agents on builder WorkSpaces, and a folder with the `desk` recipe.
async fn ws_env() -> Env {
    let mut d = aws_sim::Durations::instant();
    d.workspace_start_ms = 30;
    d.workspace_image_ms = 60;
    let e = super::operator_env(d).await;
    let dir = e.dir.path();
    std::fs::create_dir_all(dir.join("recipes")).unwrap();
    std::fs::write(dir.join("recipes/desk.yaml"), DESK).unwrap();
    e
}

impl Env {
    fn set_version(&self, v: &str) {
        let text = DESK.replace("version: 1.0.0", &format!("version: {v}"));
        std::fs::write(self.dir.path().join("recipes/desk.yaml"), text).unwrap();
    }

    pub(super) fn workspaces(&self) -> aws_sdk_workspaces::Client {
        let creds = aws_sdk_workspaces::config::Credentials::new(
            aws_sim::DEFAULT_ACCOUNT,
            "test",
            None,
            None,
            "test",
        );
        let conf = aws_sdk_workspaces::Config::builder()
            .behavior_version(aws_sdk_workspaces::config::BehaviorVersion::latest())
            .endpoint_url(self.sim.url())
            .region(aws_sdk_workspaces::config::Region::new("eu-west-2"))
            .credentials_provider(creds)
            .build();
        aws_sdk_workspaces::Client::from_conf(conf)
    }

    /// WorkSpaces not terminated, and SSM activations and managed nodes left.
    fn leftovers(&self) -> (usize, usize, usize) {
        let w = self.sim.world();
        let live = w.workspaces.workspaces.values();
        let live = live
            .filter(|x| !matches!(x.state.as_str(), "TERMINATED" | "TERMINATING"))
            .filter(|x| x.user_name == "desk-builder")
            .count();
        (live, w.ssm.activations.len(), w.ssm.nodes.len())
    }

    fn desk_images(&self) -> Vec<String> {
        let w = self.sim.world();
        let mut names: Vec<String> = w
            .workspaces
            .images
            .values()
            .filter(|i| i.name.starts_with("desk-"))
            .map(|i| format!("{} {}", i.name, i.region))
            .collect();
        names.sort();
        names
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_pre_capture_check_stops_before_any_image_and_leaves_nothing() {
    let e = ws_env().await;
    e.sim.script_command(aws_sim::CommandScript {
        contains: "df --output=pcent".into(),
        status: "Failed".into(),
        stdout: "pre-capture check failed: the root volume is 98% full; WorkSpaces needs it under 97%: remove files or caches from /\n".into(),
        response_code: 1,
        ..Default::default()
    });
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 5, "{stdout}\n{stderr}");
    assert!(stdout.contains("98% full"), "{stdout}");
    assert_eq!(e.sim.requests().count("workspaces:CreateWorkspaceImage"), 0);
    assert!(e.desk_images().is_empty());
    assert_eq!(
        e.leftovers(),
        (0, 0, 0),
        "builder, activation and node are gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_workspace_is_refused_before_capture() {
    let e = ws_env().await;
    let req = WorkspaceRequest::builder()
        .directory_id("d-906734325")
        .user_name("encrypted-user")
        .bundle_id("wsb-clj85qzj1")
        .root_volume_encryption_enabled(true)
        .volume_encryption_key("alias/aws/workspaces")
        .workspace_properties(WorkspaceProperties::builder().build())
        .build()
        .unwrap();
    let out = e
        .workspaces()
        .create_workspaces()
        .workspaces(req)
        .send()
        .await
        .unwrap();
    let ws = out.pending_requests()[0]
        .workspace_id()
        .unwrap()
        .to_string();
    let text = DESK.replace(
        "base: { bundle: wsb-clj85qzj1 }",
        &format!("base: {{ workspace: {ws} }}"),
    );
    std::fs::write(e.dir.path().join("recipes/desk.yaml"), text).unwrap();
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 5, "{stdout}\n{stderr}");
    assert!(stdout.contains("encrypted volumes"), "{stdout}");
    assert_eq!(e.sim.requests().count("workspaces:CreateWorkspaceImage"), 0);
    let w = e.sim.world();
    assert_eq!(
        w.workspaces.workspaces[&ws].state, "AVAILABLE",
        "an existing WorkSpace is never terminated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_stops_at_the_first_unhealthy_batch() {
    let e = ws_env().await;
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let bundle = e
        .sim
        .world()
        .workspaces
        .bundles
        .values()
        .find(|b| b.name == "desk")
        .unwrap()
        .id
        .clone();
    let client = e.workspaces();
    for user in ["ann", "bob", "cyd"] {
        let tag = aws_sdk_workspaces::types::Tag::builder()
            .key("Persona")
            .value("desk")
            .build()
            .unwrap();
        let req = WorkspaceRequest::builder()
            .directory_id("d-906734325")
            .user_name(user)
            .bundle_id(&bundle)
            .tags(tag)
            .build()
            .unwrap();
        client
            .create_workspaces()
            .workspaces(req)
            .send()
            .await
            .unwrap();
    }
    e.set_version("1.1.0");
    let (_, plan, _) = e.run(&["plan", "recipes"]).await;
    assert!(
        plan.contains("3 WorkSpace(s) on the bundle carry the tags"),
        "the plan counts them:\n{plan}"
    );
    e.sim.fail_next("workspaces-rebuild", 1);
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 5, "{stdout}\n{stderr}");
    assert!(stdout.contains("unhealthy batch"), "{stdout}");
    assert!(stdout.contains("1 not started"), "{stdout}");
    assert_eq!(
        e.sim.requests().count("workspaces:RebuildWorkspaces"),
        2,
        "the third WorkSpace is not touched"
    );
    assert_eq!(e.leftovers(), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_an_image_a_bundle_uses_and_retires_it_once_released() {
    let e = ws_env().await;
    assert_eq!(e.run(&["apply", "recipes", "--auto-approve"]).await.0, 0);
    let v1 = e
        .sim
        .world()
        .workspaces
        .images
        .values()
        .find(|i| i.name == "desk-1.0.0")
        .unwrap()
        .id
        .clone();
    let client = e.workspaces();
    let compute = aws_sdk_workspaces::types::ComputeType::builder()
        .name(aws_sdk_workspaces::types::Compute::Standard)
        .build();
    let other = client
        .create_workspace_bundle()
        .bundle_name("other")
        .bundle_description("another team")
        .image_id(&v1)
        .compute_type(compute)
        .user_storage(
            aws_sdk_workspaces::types::UserStorage::builder()
                .capacity("10")
                .build()
                .unwrap(),
        )
        .root_storage(
            aws_sdk_workspaces::types::RootStorage::builder()
                .capacity("80")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    e.set_version("2.0.0");
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        e.desk_images(),
        ["desk-1.0.0 eu-west-2", "desk-2.0.0 eu-west-2"],
        "1.0.0 is kept: bundle `other` uses it"
    );
    let id = other.workspace_bundle().unwrap().bundle_id().unwrap();
    client
        .delete_workspace_bundle()
        .bundle_id(id)
        .send()
        .await
        .unwrap();
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        e.desk_images(),
        ["desk-2.0.0 eu-west-2"],
        "released, 1.0.0 is retired:\n{stdout}"
    );
}

/// A killed run whose recipe then changes cannot be resumed: the next apply sweeps what it left
/// (its builder, with its activation and node, and its unrecorded image) before building anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_of_a_killed_run_that_cannot_resume_are_swept() {
    let e = ws_env().await;
    assert!(super::kill_9_json_after(&e, "wait-available").await);
    assert_eq!(e.desk_images(), ["desk-1.0.0 eu-west-2"]);
    e.set_version("1.0.1");
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        e.desk_images(),
        ["desk-1.0.1 eu-west-2"],
        "the abandoned image is gone:\n{stdout}"
    );
    assert_eq!(e.leftovers(), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_mid_apply_the_next_apply_makes_no_second_image_and_leaves_no_builder() {
    let e = ws_env().await;
    let hit = super::kill_9_json_after(&e, "capture").await;
    assert!(hit, "the apply got to the capture");
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(e.desk_images(), ["desk-1.0.0 eu-west-2"], "one image");
    assert_eq!(e.sim.requests().count("workspaces:CreateWorkspaceImage"), 1);
    assert_eq!(e.leftovers(), (0, 0, 0));
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
  ami-filter: { filters: { name: "import-ami-*" }, owners: [self], most-recent: true }
builder:
  region: eu-west-2
  instance-profile: recipe-builder
steps:
  - powershell: { run: "Write-Output baseline" }
image:
  name: win-base-${version}
"#;

/// The platform team's one-time BYOL set-up in eu-west-2, as the WorkSpaces guide has it: the
/// account enabled for BYOL, and its Windows 10 VM imported (S3, the vmimport role, ImportImage).
async fn byol_account(e: &Env) {
    let account = aws_sim::DEFAULT_ACCOUNT;
    e.sim.enable_byol(account, "eu-west-2").unwrap();
    let task = e
        .sim
        .import_vm(account, "eu-west-2", "Windows 10 Enterprise 22H2")
        .unwrap();
    let mut ami = None;
    for _ in 0..200 {
        ami = e.sim.imported_image(&task);
        if ami.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(matches!(ami, Some(Ok(_))), "the VM was imported: {ami:?}");
}

const WIN_DESK: &str = r#"
name: win-desk
target: workspaces
strategy: thin
os: windows
version: 1.0.0
base: { recipe: win-base }
builder:
  region: eu-west-2
  directory-id: d-906734325
  user-name: win-builder
steps:
  - powershell: { run: "Write-Output desk" }
cleanup: workspaces-windows
image:
  name: win-desk-${version}
  description: Windows desk ${version}
bundle:
  name: win-desk
  description: Windows desk
  compute: PERFORMANCE
  root-volume-gib: 80
  user-volume-gib: 10
"#;

/// One EC2 bake feeds WorkSpaces: the AMI recipe is built, its AMI imported (BYOL) as the WorkSpaces
/// recipe's base, a temporary bundle wraps the import for the builder, the image is captured and
/// bundled; the import and the temporary bundle go with the builder, and a second plan has no change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_apply_imports_the_ami_recipe_into_workspaces() {
    let e = ws_env().await;
    byol_account(&e).await;
    std::fs::remove_file(e.dir.path().join("recipes/desk.yaml")).unwrap();
    std::fs::write(e.dir.path().join("recipes/win-base.yaml"), WIN_AMI).unwrap();
    std::fs::write(e.dir.path().join("recipes/win-desk.yaml"), WIN_DESK).unwrap();
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(e.sim.requests().count("workspaces:ImportWorkspaceImage"), 1);
    let w = e.sim.world();
    let images: Vec<&str> = w
        .workspaces
        .images
        .values()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(
        images,
        ["win-desk-1.0.0"],
        "the import is removed once the image is made"
    );
    let bundles: Vec<&str> = w
        .workspaces
        .bundles
        .values()
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(bundles, ["win-desk"], "the temporary bundle is gone");
    let desk = w.workspaces.images.values().next().unwrap();
    assert_eq!(
        (desk.os.as_str(), desk.tenancy.as_str()),
        ("WINDOWS", "DEDICATED")
    );
    let (code, stdout, _) = e.run(&["plan", "recipes", "--detailed-exitcode"]).await;
    assert_eq!(code, 0, "{stdout}");

    // AWS publishes driver and agent updates for the image: the next plan makes a new version with
    // CreateUpdatedWorkspaceImage (no builder), and the bundle moves to it.
    assert!(e.sim.publish_workspaces_update(&desk.id));
    let (code, stdout, _) = e.run(&["plan", "recipes", "--detailed-exitcode"]).await;
    assert_eq!(code, 2, "{stdout}");
    assert!(stdout.contains("service updates are available"), "{stdout}");
    assert!(
        !stdout.contains("launch-builder"),
        "no builder for an update:\n{stdout}"
    );
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        e.sim
            .requests()
            .count("workspaces:CreateUpdatedWorkspaceImage"),
        1
    );
    assert_eq!(
        e.sim.requests().count("workspaces:CreateWorkspaces"),
        1,
        "no second builder"
    );
    let w = e.sim.world();
    let bundle = w
        .workspaces
        .bundles
        .values()
        .find(|b| b.name == "win-desk")
        .unwrap();
    assert_ne!(
        bundle.image_id, desk.id,
        "the bundle moved to the updated image"
    );
    let (code, stdout, _) = e.run(&["plan", "recipes", "--detailed-exitcode"]).await;
    assert_eq!(code, 0, "no update left, no change:\n{stdout}");
}

/// The import route on an account that is not enabled for BYOL: the plan names the problem and its
/// fix, and apply changes nothing (before this check, the apply built the AMI and failed at
/// ImportWorkspaceImage). Importing a license-included Windows Server base is refused by validate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_without_byol_is_a_plan_problem_and_apply_changes_nothing() {
    let e = ws_env().await;
    std::fs::remove_file(e.dir.path().join("recipes/desk.yaml")).unwrap();
    std::fs::write(e.dir.path().join("recipes/win-base.yaml"), WIN_AMI).unwrap();
    std::fs::write(e.dir.path().join("recipes/win-desk.yaml"), WIN_DESK).unwrap();
    let line = "problem: the account is not enabled for WorkSpaces BYOL in eu-west-2";
    e.assert_plan_problem("recipes", line).await;
}

/// A builder directory that is not registered with WorkSpaces in the build region is a plan problem
/// with the command that registers it, and apply changes nothing (before, CreateWorkspaces failed the
/// builder mid-apply).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_directory_is_a_plan_problem() {
    let e = ws_env().await;
    let text = DESK.replace("d-906734325", "d-9067aaaaaa");
    std::fs::write(e.dir.path().join("recipes/desk.yaml"), text).unwrap();
    let line = "problem: the directory d-9067aaaaaa is not registered with WorkSpaces in eu-west-2";
    e.assert_plan_problem("recipes", line).await;
}

/// The Image Builder import route and a bundle in a copy region: ImportCustomWorkspaceImage with the
/// recipe's members (never ImportWorkspaceImage), the image copied to eu-west-1, and the bundle made
/// in both regions on each region's image. A second plan has no change; a new version moves both
/// bundles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_import_feeds_a_bundle_made_in_the_build_and_a_copy_region() {
    let e = ws_env().await;
    byol_account(&e).await;
    std::fs::remove_file(e.dir.path().join("recipes/desk.yaml")).unwrap();
    std::fs::write(e.dir.path().join("recipes/win-base.yaml"), WIN_AMI).unwrap();
    let desk = |version: &str| {
        WIN_DESK
            .replace("version: 1.0.0", &format!("version: {version}"))
            .replace(
                "  user-name: win-builder\n",
                "  user-name: win-builder\n  import:\n    infrastructure-configuration-arn: arn:aws:imagebuilder:eu-west-2:123456789012:infrastructure-configuration/ws-import\n    os-version: Windows_10\n",
            )
            .replace("  user-volume-gib: 10\n", "  user-volume-gib: 10\n  regions: [eu-west-1]\ndistribute:\n  regions: [eu-west-1]\n")
    };
    std::fs::write(e.dir.path().join("recipes/win-desk.yaml"), desk("1.0.0")).unwrap();
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let requests = e.sim.requests();
    assert_eq!(requests.count("workspaces:ImportCustomWorkspaceImage"), 1);
    assert_eq!(requests.count("workspaces:ImportWorkspaceImage"), 0);
    let bundles_on_images = || {
        let w = e.sim.world();
        let mut v: Vec<(String, String)> = w
            .workspaces
            .bundles
            .values()
            .filter(|b| b.name == "win-desk")
            .map(|b| {
                let img = &w.workspaces.images[&b.image_id];
                (b.region.clone(), format!("{} {}", img.name, img.region))
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        bundles_on_images(),
        [
            (
                "eu-west-1".to_string(),
                "win-desk-1.0.0 eu-west-1".to_string()
            ),
            (
                "eu-west-2".to_string(),
                "win-desk-1.0.0 eu-west-2".to_string()
            ),
        ]
    );
    let (code, stdout, _) = e.run(&["plan", "recipes", "--detailed-exitcode"]).await;
    assert_eq!(code, 0, "no change after the apply:\n{stdout}");

    std::fs::write(e.dir.path().join("recipes/win-desk.yaml"), desk("1.1.0")).unwrap();
    let (code, stdout, _) = e.run(&["plan", "recipes"]).await;
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("roll out to bundle win-desk in eu-west-1"),
        "{stdout}"
    );
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let moved = bundles_on_images();
    assert_eq!(
        moved,
        [
            (
                "eu-west-1".to_string(),
                "win-desk-1.1.0 eu-west-1".to_string()
            ),
            (
                "eu-west-2".to_string(),
                "win-desk-1.1.0 eu-west-2".to_string()
            ),
        ]
    );
}

/// AWS answers DescribeWorkspaces 25 a page: a bundle with 60 tagged WorkSpaces is counted whole by
/// the plan and rebuilt whole, in batches of 20.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_workspaces_on_a_bundle_are_counted_and_rebuilt_in_batches_of_20() {
    let e = ws_env().await;
    assert_eq!(e.run(&["apply", "recipes", "--auto-approve"]).await.0, 0);
    let w = e.sim.world();
    let bundle = w
        .workspaces
        .bundles
        .values()
        .find(|b| b.name == "desk")
        .unwrap();
    let bundle = bundle.id.clone();
    let client = e.workspaces();
    let tag = aws_sdk_workspaces::types::Tag::builder()
        .key("Persona")
        .value("desk")
        .build()
        .unwrap();
    let users: Vec<String> = (0..60).map(|i| format!("user{i:02}")).collect();
    for chunk in users.chunks(25) {
        let reqs = chunk.iter().map(|u| {
            WorkspaceRequest::builder()
                .directory_id("d-906734325")
                .user_name(u)
                .bundle_id(&bundle)
                .tags(tag.clone())
                .build()
                .unwrap()
        });
        let out = client
            .create_workspaces()
            .set_workspaces(Some(reqs.collect()))
            .send()
            .await
            .unwrap();
        assert!(out.failed_requests().is_empty(), "{out:?}");
    }
    let text = DESK
        .replace("version: 1.0.0", "version: 1.1.0")
        .replace("batch: 2", "batch: 20");
    std::fs::write(e.dir.path().join("recipes/desk.yaml"), text).unwrap();
    let (_, plan, _) = e.run(&["plan", "recipes"]).await;
    assert!(
        plan.contains("60 WorkSpace(s) on the bundle carry the tags"),
        "{plan}"
    );
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(e.sim.requests().count("workspaces:RebuildWorkspaces"), 60);
    let w = e.sim.world();
    let new = w
        .workspaces
        .images
        .values()
        .find(|i| i.name == "desk-1.1.0")
        .unwrap();
    let rebuilt = w
        .workspaces
        .workspaces
        .values()
        .filter(|ws| ws.bundle_id == bundle && ws.user_name.starts_with("user"))
        .filter(|ws| ws.image_id == new.id)
        .count();
    assert_eq!(rebuilt, 60, "every WorkSpace runs the new image");
    assert_eq!(e.leftovers(), (0, 0, 0));
}

/// The bundle carries the image's tags (seed 000's structure), its own `Name` and `bundle.tags`,
/// never a builder's; and it follows each build: after 1.1.0 its tags name 1.1.0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundle_carries_the_image_tags_of_the_build_it_holds() {
    let e = ws_env().await;
    let tagged = |v: &str| {
        DESK.replace("version: 1.0.0", &format!("version: {v}"))
            .replace(
                "  description: Desk ${version}\n",
                "  description: Desk ${version}\n  tags: { Software: firefox, Role: desk }\n",
            )
            .replace(
                "  user-volume-gib: 10\n",
                "  user-volume-gib: 10\n  tags: { CostCenter: \"5100\", Stage: prod }\n",
            )
    };
    let tags = |e: &Env| {
        let w = e.sim.world();
        let b = w
            .workspaces
            .bundles
            .values()
            .find(|b| b.name == "desk")
            .unwrap();
        b.tags.clone()
    };
    for version in ["1.0.0", "1.1.0"] {
        std::fs::write(e.dir.path().join("recipes/desk.yaml"), tagged(version)).unwrap();
        let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        let t = tags(&e);
        assert_eq!(
            t.get("recipe:version").map(String::as_str),
            Some(version),
            "{t:?}"
        );
        assert_eq!(t.get("Version").map(String::as_str), Some(version));
        assert_eq!(t.get("Name").map(String::as_str), Some("desk"));
        assert_eq!(t.get("Software").map(String::as_str), Some("firefox"));
        assert_eq!(t.get("Stage").map(String::as_str), Some("prod"));
        assert!(t.contains_key("recipe:fingerprint"), "{t:?}");
        assert_eq!(
            t.get("recipe:base").map(String::as_str),
            Some("wsb-clj85qzj1")
        );
        assert!(
            !t.contains_key("recipe:role"),
            "not a builder's tags: {t:?}"
        );
    }
}

/// AWS patches its public bundles in place: once the base bundle is moved to a newer image after
/// the current version was built, the plan says so and how to build on it (a note, no rebuild).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_notes_an_aws_update_of_the_base_bundle() {
    let e = ws_env().await;
    let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (_, plan, _) = e.run(&["plan", "recipes"]).await;
    assert!(!plan.contains("AWS updated bundle"), "{plan}");
    e.sim.advance(2_000);
    assert!(e.sim.publish_bundle_update("wsb-clj85qzj1"));
    let (code, plan, _) = e.run(&["plan", "recipes", "--detailed-exitcode"]).await;
    assert_eq!(code, 0, "a note, not a change: {plan}");
    assert!(
        plan.contains("AWS updated bundle wsb-clj85qzj1 to wsi-amznlnx2au1 after version 1.0.0 was built from it"),
        "{plan}"
    );
}
