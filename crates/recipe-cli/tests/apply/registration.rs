//! How a builder's SSM agent registers on an account where nobody plays the person (issue 23): the
//! activation code is kept in a SecureString parameter that the apply names; a person follows the
//! apply's own wait line, or the recipe bootstrap in the base image does it, across the activation's
//! expiry. Nothing registers by itself, and the code is written nowhere else.

use std::io::BufRead;
use std::process::Stdio;

use super::Env;

const BASE: &str = r#"
name: desk-base
target: workspaces
strategy: full
os: linux
version: 1.0.0
base: { bundle: wsb-clj85qzj1 }
builder:
  region: eu-west-2
  directory-id: d-906734325
  user-name: base-builder
steps:
  - script: { name: the recipe SSM bootstrap, path: files/bootstrap.sh }
image:
  name: desk-base-${version}
  description: Desk base ${version}
bundle:
  name: desk-base
  description: Desk base with the recipe SSM bootstrap
  compute: STANDARD
  root-volume-gib: 80
  user-volume-gib: 10
"#;

const DESK: &str = r#"
name: desk
target: workspaces
strategy: full
os: linux
version: 1.0.0
base: { bundle: BUNDLE }
builder:
  region: eu-west-2
  directory-id: d-906734325
  user-name: desk-builder
steps:
  - shell: { run: "echo desk" }
image:
  name: desk-${version}
  description: Desk ${version}
"#;

/// An aws-sim that plays no person, WorkSpaces and image builders taking a moment per state.
async fn nobody_env() -> Env {
    let mut d = aws_sim::Durations::instant();
    d.workspace_start_ms = 30;
    d.workspace_image_ms = 60;
    d.builder_start_ms = 30;
    d.appstream_image_ms = 60;
    let e = super::account_env(d, false).await;
    std::fs::create_dir_all(e.dir.path().join("recipes/files")).unwrap();
    e
}

/// What the wait line of a launch names: the builder, the activation and the parameter.
#[derive(Debug)]
struct WaitLine {
    builder: String,
    activation: String,
    parameter: String,
}

fn word_after<'a>(line: &'a str, before: &str) -> Option<&'a str> {
    let rest = &line[line.find(before)? + before.len()..];
    rest.split([' ', '`', '.']).find(|w| !w.is_empty())
}

fn parse_wait(on: &str) -> Option<WaitLine> {
    let builder = match word_after(on, "the SSM agent on ")? {
        "image" => word_after(on, "the SSM agent on image builder ")?,
        ws => ws,
    };
    Some(WaitLine {
        builder: builder.to_string(),
        activation: word_after(on, "with activation ")?.to_string(),
        parameter: word_after(on, "get-parameter --name ")?.to_string(),
    })
}

impl Env {
    fn ssm(&self) -> aws_sdk_ssm::Client {
        let creds =
            aws_sdk_ssm::config::Credentials::new(aws_sim::DEFAULT_ACCOUNT, "x", None, None, "t");
        let conf = aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            .endpoint_url(self.sim.url())
            .region(aws_sdk_ssm::config::Region::new("eu-west-2"))
            .credentials_provider(creds)
            .build();
        aws_sdk_ssm::Client::from_conf(conf)
    }

    /// Copy the example recipes `examples` of `recipes/<target>` (with their files) and the shared
    /// components into this folder's `recipes/`, each example's `public` base replaced by `prepared`.
    fn copy_examples(&self, target: &str, examples: &[&str], public: &str, prepared: &str) {
        let dir = self.dir.path();
        for sub in [target, "components"] {
            let src = super::root().join("recipes").join(sub);
            for f in super::walk(&src) {
                let rel = f.strip_prefix(&src).unwrap();
                let top = rel.parent() == Some(std::path::Path::new(""));
                let name = rel.to_string_lossy();
                if sub == target && top && !examples.contains(&name.as_ref()) {
                    continue;
                }
                let to = dir.join("recipes").join(sub).join(rel);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(&f, &to).unwrap();
            }
        }
        for example in examples {
            let recipe = dir.join("recipes").join(target).join(example);
            let text = std::fs::read_to_string(&recipe).unwrap();
            assert!(text.contains(public), "{example} starts from {public}");
            std::fs::write(&recipe, text.replace(public, prepared)).unwrap();
        }
    }

    /// The person registers the build's activation on `machine`, another machine than the builder:
    /// the build fails before any step is sent, and the stray node is deregistered.
    async fn assert_stray_node_refused(&self, machine: &str) {
        let before = self.sim.requests().count("ssm:SendCommand");
        let (status, out, _) = self.apply_registering_on(Some(machine)).await;
        assert_eq!(status, 5, "{out}");
        assert!(out.contains("it is another machine"), "{out}");
        let sent = self.sim.requests().count("ssm:SendCommand");
        assert_eq!(sent, before, "no step was sent");
        assert!(
            self.sim.world().ssm.nodes.is_empty(),
            "the stray node is deregistered"
        );
    }

    /// The person's route, from the apply's own output: run the apply, read its wait line, read the
    /// parameter it names with the SDK (their own credentials), and register on the builder it
    /// names. Returns the apply's exit code, its output and the code the person used.
    async fn apply_as_person(&self) -> (i32, String, String) {
        self.apply_registering_on(None).await
    }

    /// As [`Env::apply_as_person`], the person registering on `machine` instead of the builder the
    /// wait line names, when one is given.
    async fn apply_registering_on(&self, machine: Option<&str>) -> (i32, String, String) {
        let mut child = self
            .cmd(&["apply", "recipes", "--auto-approve", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let mut seen = String::new();
        let mut code = String::new();
        while let Some(line) = rx.recv().await {
            seen.push_str(&line);
            seen.push('\n');
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            let on = v["on"].as_str().unwrap_or_default();
            if v["event"] != "waiting" || !on.contains("get-parameter") || !code.is_empty() {
                continue;
            }
            let w =
                parse_wait(on).unwrap_or_else(|| panic!("a wait line a person can follow: {on}"));
            let value = self
                .ssm()
                .get_parameter()
                .name(&w.parameter)
                .with_decryption(true)
                .send()
                .await
                .expect("the parameter the wait line names")
                .parameter
                .and_then(|p| p.value)
                .unwrap();
            let (id, c) = value.split_once(' ').expect("`<id> <code>`");
            assert_eq!(id, w.activation, "the parameter holds the activation named");
            let wrong = self.sim.register_agent(id, "not-the-code", &w.builder);
            assert!(wrong.is_err(), "a wrong code is refused: {wrong:?}");
            self.sim
                .register_agent(id, c, machine.unwrap_or(&w.builder))
                .expect("the agent registers with the id and code");
            code = c.to_string();
        }
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        reader.join().unwrap();
        let all = format!("{seen}{}", String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), all, code)
    }

    /// Activations, managed nodes and activation parameters left in the sim.
    fn registration_leftovers(&self) -> (usize, usize, usize) {
        let w = self.sim.world();
        let params = w
            .ssm
            .parameters
            .keys()
            .filter(|k| k.contains("/recipe/activation/"))
            .count();
        (w.ssm.activations.len(), w.ssm.nodes.len(), params)
    }

    /// Every file under the folder (state, journals, saved plans), as text.
    fn files_text(&self) -> String {
        super::walk(self.dir.path())
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_registers_a_builder_by_itself() {
    let e = nobody_env().await;
    let dir = e.dir.path();
    std::fs::write(
        dir.join("recipes/desk.yaml"),
        DESK.replace("BUNDLE", "wsb-clj85qzj1"),
    )
    .unwrap();
    let mut child = e
        .cmd(&["apply", "recipes", "--auto-approve", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let waited = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("\"waiting\"") && l.contains("get-parameter"))
    })
    .await
    .unwrap();
    assert!(
        waited.is_some(),
        "the apply waits on the agent, naming the route"
    );
    // Time passes on the simulated clock: still nobody registers the public bundle's WorkSpace.
    e.sim.advance(2 * 3_600_000);
    let ssm = e.ssm();
    let info = ssm.describe_instance_information().send().await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(info.instance_information_list().is_empty(), "{info:?}");
    assert!(e.sim.world().ssm.nodes.is_empty());
}

impl Env {
    /// The one-time preparation of the unattended route: `recipe bootstrap` baked into a base
    /// bundle made from the public Amazon Linux 2 bundle, whose builder a person registers (the public
    /// bundle has no bootstrap). Checks that the code is written nowhere and nothing is left; answers
    /// the prepared bundle's id.
    async fn prepared_linux_bundle(&self) -> String {
        self.prepared_bundle("linux", BASE, "desk-base").await
    }

    /// As [`Env::prepared_linux_bundle`], for `os` with the base recipe `base` whose bundle is
    /// `bundle_name`.
    async fn prepared_bundle(&self, os: &str, base: &str, bundle_name: &str) -> String {
        let dir = self.dir.path();
        let args = [
            "bootstrap",
            "--target",
            "workspaces",
            "--os",
            os,
            "--region",
            "eu-west-2",
        ];
        let bootstrap = self.run(&args).await;
        assert_eq!(bootstrap.0, 0, "{}", bootstrap.2);
        let file = if os == "linux" {
            "bootstrap.sh"
        } else {
            "bootstrap.ps1"
        };
        std::fs::create_dir_all(dir.join("recipes/files")).unwrap();
        std::fs::write(dir.join("recipes/files").join(file), &bootstrap.1).unwrap();
        std::fs::write(dir.join("recipes/desk-base.yaml"), base).unwrap();
        let (status, out, code) = self.apply_as_person().await;
        assert_eq!(status, 0, "{out}");
        assert!(!code.is_empty(), "the person registered: {out}");
        assert!(
            !out.contains(&code) && !self.files_text().contains(&code),
            "the code is never written"
        );
        assert_eq!(
            self.registration_leftovers(),
            (0, 0, 0),
            "activation, node and parameter are gone"
        );
        let w = self.sim.world();
        let bundle = w
            .workspaces
            .bundles
            .values()
            .find(|b| b.name == bundle_name)
            .expect("the base bundle");
        assert!(
            w.workspaces.images[&bundle.image_id].bootstrap,
            "the base image carries the bootstrap"
        );
        std::fs::remove_file(dir.join("recipes/desk-base.yaml")).unwrap();
        bundle.id.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_registers_the_first_base_and_its_bootstrap_registers_every_later_build() {
    let e = nobody_env().await;
    let dir = e.dir.path();
    let bundle_id = e.prepared_linux_bundle().await;

    // Every later build on that bundle registers with no person, also past any activation's expiry.
    for (version, later_ms) in [("1.0.0", 0), ("1.1.0", 60 * 24 * 3_600_000)] {
        e.sim.advance(later_ms);
        let desk = DESK.replace("BUNDLE", &bundle_id).replace("1.0.0", version);
        std::fs::write(dir.join("recipes/desk.yaml"), desk).unwrap();
        let registered = e.sim.requests().records.len();
        let (code, stdout, stderr) = e.run(&["apply", "recipes", "--auto-approve"]).await;
        assert_eq!(code, 0, "{version}: {stdout}\n{stderr}");
        let images = e.sim.world().workspaces.images.into_values();
        assert!(
            images
                .into_iter()
                .any(|i| i.name == format!("desk-{version}") && i.state == "AVAILABLE")
        );
        assert!(e.sim.requests().records.len() > registered);
        assert_eq!(e.registration_leftovers(), (0, 0, 0), "{version}");
    }
}

const APPS_BASE: &str = r#"
name: apps-base
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
  - script: { name: the recipe SSM bootstrap, path: files/bootstrap.sh }
image:
  name: apps-base-${version}
"#;

/// The AppStream route: a person registers the builder of the base once; the image it makes
/// carries the bootstrap, which registers every later builder with the builder's IAM role, and a
/// builder without a role (no credentials to read its activation) is never registered by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appstream_base_with_the_bootstrap_registers_builders_that_have_a_role() {
    let e = nobody_env().await;
    let dir = e.dir.path();
    e.prepared_appstream_image().await;
    let child = APPS_BASE
        .replace("name: apps-base\n", "name: apps\n")
        .replace("AppStream-AmazonLinux2-06-17-2025", "apps-base-1.0.0")
        .replace(
            "  - script: { name: the recipe SSM bootstrap, path: files/bootstrap.sh }",
            "  - shell: { run: \"echo apps\" }",
        )
        .replace("name: apps-base-${version}", "name: apps-${version}");
    std::fs::write(dir.join("recipes/apps.yaml"), &child).unwrap();
    let (status, out, err) = e.run(&["apply", "recipes", "--auto-approve"]).await;
    assert_eq!(status, 0, "no person needed:\n{out}\n{err}");
    assert_eq!(e.registration_leftovers(), (0, 0, 0));

    // Without a role the bootstrap has no credentials: the builder waits, unregistered.
    let roleless = child
        .replace(
            "  iam-role-arn: arn:aws:iam::123456789012:role/appstream-builder\n",
            "",
        )
        .replace("version: 1.0.0", "version: 1.1.0");
    std::fs::write(dir.join("recipes/apps.yaml"), roleless).unwrap();
    let mut apply = e
        .cmd(&["apply", "recipes", "--auto-approve", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = apply.stdout.take().unwrap();
    let waited = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("\"waiting\"") && l.contains("get-parameter"))
    })
    .await
    .unwrap();
    assert!(waited, "the launch waits for a registration");
    e.sim.advance(3_600_000);
    let info = e
        .ssm()
        .describe_instance_information()
        .send()
        .await
        .unwrap();
    let _ = apply.kill();
    let _ = apply.wait();
    assert!(info.instance_information_list().is_empty(), "{info:?}");
}

/// The activation's code used on another machine (another user's WorkSpace): the node it makes
/// reports that machine's computer name, so the build deregisters it and fails before any step, or
/// secret, is sent to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_used_on_another_machine_gets_no_step() {
    let e = nobody_env().await;
    let dir = e.dir.path();
    std::fs::write(
        dir.join("recipes/desk.yaml"),
        DESK.replace("BUNDLE", "wsb-clj85qzj1"),
    )
    .unwrap();
    let ws = e.workspaces();
    let req = aws_sdk_workspaces::types::WorkspaceRequest::builder()
        .directory_id("d-906734325")
        .user_name("someone-else")
        .bundle_id("wsb-clj85qzj1")
        .build()
        .unwrap();
    let out = ws.create_workspaces().workspaces(req).send().await.unwrap();
    let other = out.pending_requests()[0]
        .workspace_id()
        .unwrap()
        .to_string();
    e.assert_stray_node_refused(&other).await;
}

/// The AppStream builder's activation code used on another image builder: the node it makes reports
/// that builder's address, not this one's (DescribeImageBuilders `NetworkAccessConfiguration`), so
/// the build deregisters it and fails before any step, or secret, is sent to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appstream_code_used_on_another_builder_gets_no_step() {
    let e = nobody_env().await;
    let dir = e.dir.path();
    let recipe = APPS_BASE.replace(
        "  - script: { name: the recipe SSM bootstrap, path: files/bootstrap.sh }\n",
        "  - shell: { run: \"echo step\" }\n",
    );
    std::fs::write(dir.join("recipes/apps.yaml"), recipe).unwrap();
    let apps = e.appstream();
    apps.create_image_builder()
        .name("someone-elses")
        .image_name("AppStream-AmazonLinux2-06-17-2025")
        .instance_type("stream.standard.medium")
        .send()
        .await
        .unwrap();
    e.assert_stray_node_refused("someone-elses").await;
}

/// The Linux WorkSpaces examples themselves, on an account where nobody plays the person: once their
/// public base bundle is replaced by one prepared with the bootstrap (the documented one-time
/// preparation, docs/workspaces.md), every builder registers by itself and both examples build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_linux_workspaces_examples_build_unattended_on_a_prepared_base() {
    let e = nobody_env().await;
    let bundle = e.prepared_linux_bundle().await;
    let examples = [
        "contractor-desktop-al2-zero.yaml",
        "dev-desktop-al2-full.yaml",
    ];
    let public = "bundle: wsb-clj85qzj1";
    e.copy_examples(
        "workspaces",
        &examples,
        public,
        &format!("bundle: {bundle}"),
    );
    let before = e.sim.requests().count("ssm:SendCommand");
    let (code, stdout, stderr) = e
        .run(&["apply", "recipes/workspaces", "--auto-approve"])
        .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let w = e.sim.world();
    for name in ["contractor-desktop-al2", "dev-desktop-al2"] {
        assert!(
            w.workspaces.images.values().any(|i| {
                i.tags.get("recipe:name").map(String::as_str) == Some(name)
                    && i.state == "AVAILABLE"
            }),
            "{name} was built"
        );
    }
    assert!(
        e.sim.requests().count("ssm:SendCommand") > before,
        "steps ran"
    );
    assert_eq!(e.registration_leftovers(), (0, 0, 0));
}

impl Env {
    /// The AppStream one-time preparation: the bootstrap baked into an image made from the public
    /// Amazon Linux 2 image, whose builder a person registers. Answers the image's name.
    async fn prepared_appstream_image(&self) -> String {
        self.prepared_appstream("linux", APPS_BASE).await
    }

    /// As [`Env::prepared_appstream_image`], for `os` with the base recipe `base` (its image is named
    /// `apps-base-1.0.0`).
    async fn prepared_appstream(&self, os: &str, base: &str) -> String {
        let dir = self.dir.path();
        let args = [
            "bootstrap",
            "--target",
            "appstream",
            "--os",
            os,
            "--region",
            "eu-west-2",
        ];
        let (status, script, err) = self.run(&args).await;
        assert_eq!(status, 0, "{err}");
        assert!(script.contains("appstream_machine_role"), "{script}");
        let file = if os == "linux" {
            "bootstrap.sh"
        } else {
            "bootstrap.ps1"
        };
        std::fs::create_dir_all(dir.join("recipes/files")).unwrap();
        std::fs::write(dir.join("recipes/files").join(file), &script).unwrap();
        std::fs::write(dir.join("recipes/apps-base.yaml"), base).unwrap();
        let (status, out, code) = self.apply_as_person().await;
        assert_eq!(status, 0, "{out}");
        assert!(
            !code.is_empty() && !out.contains(&code),
            "registered by the person, code unseen"
        );
        let w = self.sim.world();
        let base = w
            .appstream
            .images
            .values()
            .find(|i| i.name == "apps-base-1.0.0")
            .unwrap();
        assert!(base.bootstrap, "the base image carries the bootstrap");
        std::fs::remove_file(dir.join("recipes/apps-base.yaml")).unwrap();
        base.name.clone()
    }
}

/// The Linux AppStream example itself, with nobody playing the person: on an image prepared with the
/// bootstrap (its public base image replaced by it), its builder registers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_linux_appstream_example_builds_unattended_on_a_prepared_image() {
    let e = nobody_env().await;
    let image = e.prepared_appstream_image().await;
    let public = "appstream-image: AppStream-AmazonLinux2-02-11-2025";
    let prepared = format!("appstream-image: {image}");
    e.copy_examples("appstream", &["data-science-zero.yaml"], public, &prepared);
    let (code, stdout, stderr) = e
        .run(&["apply", "recipes/appstream", "--auto-approve"])
        .await;
    assert_eq!(code, 0, "no person needed:\n{stdout}\n{stderr}");
    let w = e.sim.world();
    assert!(
        w.appstream
            .images
            .values()
            .any(|i| i.name.starts_with("datasci-workbench-") && i.state == "AVAILABLE"),
        "the example was built"
    );
    assert_eq!(e.registration_leftovers(), (0, 0, 0));
}

const WIN_BASE: &str = r#"
name: win-desk-base
target: workspaces
strategy: full
os: windows
version: 1.0.0
base: { bundle: wsb-gk1wpk43z }
builder:
  region: eu-west-2
  directory-id: d-906734325
  user-name: winbase-builder
steps:
  - script: { name: the recipe SSM bootstrap, path: files/bootstrap.ps1 }
cleanup: workspaces-windows
image:
  name: win-desk-base-${version}
  description: Windows desk base ${version}
bundle:
  name: win-desk-base
  description: Windows desk base with the recipe SSM bootstrap
  compute: PERFORMANCE
  root-volume-gib: 80
  user-volume-gib: 10
"#;

/// The Windows WorkSpaces example with nobody playing the person: its public Windows bundle replaced
/// by one prepared once with the Windows bootstrap (a start-up task), its builder registers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_windows_workspaces_example_builds_unattended_on_a_prepared_base() {
    let e = nobody_env().await;
    let bundle = e
        .prepared_bundle("windows", WIN_BASE, "win-desk-base")
        .await;
    let public = "bundle: wsb-gk1wpk43z";
    let prepared = format!("bundle: {bundle}");
    e.copy_examples(
        "workspaces",
        &["office-desktop-win-thin.yaml"],
        public,
        &prepared,
    );
    let (code, stdout, stderr) = e
        .run(&["apply", "recipes/workspaces", "--auto-approve"])
        .await;
    assert_eq!(code, 0, "no person needed:\n{stdout}\n{stderr}");
    let w = e.sim.world();
    assert!(
        w.workspaces.images.values().any(|i| {
            i.tags.get("recipe:name").map(String::as_str) == Some("office-desktop-win")
                && i.state == "AVAILABLE"
        }),
        "the example was built"
    );
    assert_eq!(e.registration_leftovers(), (0, 0, 0));
}

const WIN_APPS_BASE: &str = r#"
name: apps-base
target: appstream
strategy: full
os: windows
version: 1.0.0
base: { appstream-image: AppStream-WinServer2022-01-13-2025 }
builder:
  region: eu-west-2
  instance-type: stream.standard.medium
  subnet-id: subnet-0a1b2c3d4e5f60718
  iam-role-arn: arn:aws:iam::123456789012:role/appstream-builder
steps:
  - script: { name: the recipe SSM bootstrap, path: files/bootstrap.ps1 }
image:
  name: apps-base-${version}
"#;

/// The Windows AppStream examples with nobody playing the person: their public Windows image replaced
/// by one prepared once with the Windows bootstrap, each builder registers with its IAM role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_windows_appstream_examples_build_unattended_on_a_prepared_image() {
    let e = nobody_env().await;
    let image = e.prepared_appstream("windows", WIN_APPS_BASE).await;
    let examples = ["finance-apps-full.yaml", "gis-workstation-thin.yaml"];
    let public = "appstream-image: AppStream-WinServer2022-01-13-2025";
    let prepared = format!("appstream-image: {image}");
    e.copy_examples("appstream", &examples, public, &prepared);
    let before = e.sim.requests().count("ssm:SendCommand");
    let (code, stdout, stderr) = e
        .run(&["apply", "recipes/appstream", "--auto-approve"])
        .await;
    assert!(
        matches!(code, 0 | 3),
        "no person needed (3: the finance gate):\n{stdout}\n{stderr}"
    );
    assert!(
        e.sim.requests().count("ssm:SendCommand") > before,
        "steps ran on builders nobody registered by hand"
    );
    let w = e.sim.world();
    assert!(
        w.appstream
            .images
            .values()
            .any(|i| i.name.starts_with("gis-workstation-") && i.state == "AVAILABLE"),
        "the GIS example was built"
    );
}
