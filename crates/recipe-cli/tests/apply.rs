//! `recipe apply` end to end: the binary against an aws-sim started by the test (so its faults and its
//! world are in reach), with the standard AWS environment pointing at it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[path = "apply/workspaces.rs"]
mod workspaces;

#[path = "apply/appstream.rs"]
mod appstream;

#[path = "apply/reliability.rs"]
mod reliability;

#[path = "apply/iam.rs"]
mod iam;

#[path = "apply/machines.rs"]
mod machines;

#[path = "apply/registration.rs"]
mod registration;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// How a killed apply went: whether the awaited event came, whether it ended by itself first, and
/// what it wrote to stderr.
struct Killed {
    hit: bool,
    ended: bool,
    stderr: String,
}

struct Env {
    dir: tempfile::TempDir,
    sim: aws_sim::Sim,
    /// Variables every command gets besides the sandbox's (e.g. an S3 state location).
    vars: std::sync::Mutex<Vec<(String, String)>>,
}

async fn env() -> Env {
    let mut d = aws_sim::Durations::instant();
    d.image_create_ms = 100;
    d.image_copy_ms = 100;
    env_with(d).await
}

/// What the examples' builders name exists in the test account (eu-west-2), as its platform team
/// would have set it up: the subnet, the security groups, the `recipe-builder` instance profile
/// with AmazonSSMManagedInstanceCore, the WorkSpaces directory, and the AppStream roles the tests'
/// recipes name.
fn provide_examples_account(sim: &aws_sim::Sim) {
    let account = aws_sim::DEFAULT_ACCOUNT;
    let groups = ["sg-0123456789abcdef0".into(), "sg-0fedcba9876543210".into()];
    sim.provide_network(
        account,
        "eu-west-2",
        &["subnet-0a1b2c3d4e5f60718".into()],
        &groups,
    );
    let ssm = ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore".to_string()];
    sim.provide_instance_profile(account, "recipe-builder", &ssm);
    sim.provide_directory(account, "eu-west-2", "d-906734325")
        .expect("register the directory");
    for role in [
        "appstream-builder",
        "appstream-import",
        "appstream-image-builder",
    ] {
        sim.provide_role(account, role, "appstream.amazonaws.com");
    }
    for (id, manager) in [
        ("/puppet/autosign-challenge", false),
        ("/ad/orders-api/join-user", false),
        ("builds/artifactory-read-token", true),
        ("ad/orders-api/join-password", true),
    ] {
        sim.provide_secret(account, "eu-west-2", id, manager, "example value");
    }
}

/// An aws-sim that plays the person registering builders with SSM (the sandbox does), with the
/// examples' account set up, and a fresh folder.
async fn operator_env(d: aws_sim::Durations) -> Env {
    account_env(d, true).await
}

/// An aws-sim with the examples' account set up, playing the person who registers builders or
/// not, and a fresh folder.
async fn account_env(d: aws_sim::Durations, operator: bool) -> Env {
    let sim = aws_sim::Sim::start(aws_sim::Config {
        durations: d,
        operator,
        ..Default::default()
    })
    .await
    .unwrap();
    provide_examples_account(&sim);
    Env {
        dir: tempfile::tempdir().unwrap(),
        sim,
        vars: Default::default(),
    }
}

/// The layered examples against an aws-sim that takes `d` for each state change.
async fn env_with(d: aws_sim::Durations) -> Env {
    env_config(aws_sim::Config {
        durations: d,
        ..Default::default()
    })
    .await
}

/// The layered examples against an aws-sim started with `config`.
async fn env_config(config: aws_sim::Config) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let copy = |from: &str| {
        let to = dir.path().join(from);
        std::fs::create_dir_all(&to).unwrap();
        for e in walk(&root().join(from)) {
            let rel = e.strip_prefix(root().join(from)).unwrap();
            let dest = to.join(rel);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&e, dest).unwrap();
        }
    };
    copy("recipes/layered");
    copy("recipes/components");
    let sim = aws_sim::Sim::start(config).await.unwrap();
    provide_examples_account(&sim);
    Env {
        dir,
        sim,
        vars: Default::default(),
    }
}

/// Start an apply (`--json`) and kill -9 it once `action` succeeded; whether it got there.
async fn kill_9_json_after(e: &Env, action: &str) -> bool {
    let mut child = e
        .cmd(&["apply", "recipes", "--auto-approve", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let action = action.to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok);
        let hit = lines.any(|l| l.contains("\"succeeded\"") && l.contains(&action));
        let _ = child.kill();
        let _ = child.wait();
        hit
    })
    .await
    .unwrap()
}

/// The id of one of Amazon's public images in the client's region.
async fn amazon_image(ec2: &aws_sdk_ec2::Client) -> String {
    let out = ec2.describe_images().owners("amazon").send().await.unwrap();
    out.images()[0].image_id().unwrap().to_string()
}

/// An EC2 client of the aws-sim at `url`, as the default account, in `region`.
async fn ec2_client(url: &str, region: &str) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&sim_aws(url, region).await.sdk)
}

/// The AWS configuration for the aws-sim at `url`, as the default account, in `region`.
async fn sim_aws(url: &str, region: &str) -> recipe_aws::Aws {
    let opts = recipe_aws::AwsOptions {
        endpoint_url: Some(url.to_string()),
        region: Some(region.to_string()),
        credentials: Some(recipe_aws::Credentials::new(
            aws_sim::DEFAULT_ACCOUNT,
            "test",
            None,
            None,
            "test",
        )),
        ..Default::default()
    };
    recipe_aws::Aws::load(&opts).await.unwrap()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

impl Env {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_recipe"));
        c.args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("AWS_ENDPOINT_URL", self.sim.url())
            .env("AWS_ACCESS_KEY_ID", aws_sim::DEFAULT_ACCOUNT)
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "eu-west-2")
            .env_remove("RECIPE_STATE")
            .env_remove("RECIPE_REFRESH")
            .stdin(Stdio::null());
        for (k, v) in self.vars.lock().unwrap().iter() {
            c.env(k, v);
        }
        if args.first() == Some(&"apply") {
            c.args(["--poll-interval-ms", "20"]);
        }
        c
    }

    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut c = self.cmd(args);
        let out = tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `plan <dir>` reports `line` (a preflight problem, exit 4) and `apply <dir>` refuses with the
    /// same exit, making no write call.
    async fn assert_plan_problem(&self, dir: &str, line: &str) {
        let (code, plan, err) = self.run(&["plan", dir]).await;
        assert_eq!(code, 4, "{plan}\n{err}");
        assert!(plan.contains(line), "{line}:\n{plan}");
        let before = self.sim.requests().records.len();
        let (code, out, err) = self.run(&["apply", dir, "--auto-approve"]).await;
        assert_eq!(code, 4, "{out}\n{err}");
        assert_eq!(self.writes_since(before), Vec::<String>::new());
    }

    /// The calls after the first `n` of the request log that may change something (not
    /// Describe, Get or List).
    fn writes_since(&self, n: usize) -> Vec<String> {
        let log = self.sim.requests();
        log.records[n..]
            .iter()
            .map(|r| r.operation.clone())
            .filter(|op| {
                let name = op.split(':').nth(1).unwrap_or_default();
                !["Describe", "Get", "List"]
                    .iter()
                    .any(|p| name.starts_with(p))
            })
            .collect()
    }

    fn builders_running(&self) -> usize {
        self.sim
            .world()
            .ec2
            .instances
            .values()
            .filter(|i| {
                i.tags.get("recipe:role").map(String::as_str) == Some("builder")
                    && i.state != "terminated"
                    && i.state != "shutting-down"
            })
            .count()
    }

    fn images_named(&self, prefix: &str) -> usize {
        self.sim
            .world()
            .ec2
            .images
            .values()
            .filter(|i| i.state != "deregistered" && i.name.starts_with(prefix))
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_builds_copies_and_shares_then_nothing_changes() {
    let e = env().await;
    let (code, stdout, stderr) = e
        .run(&["apply", "recipes/layered", "--auto-approve", "--json"])
        .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let done: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "done")
        .expect("a done event");
    assert_eq!(done["ok"], true);
    assert!(
        done["images"]["web-on-baseline"]["eu-west-1"]
            .as_str()
            .is_some_and(|i| i.starts_with("ami-")),
        "{done}"
    );
    assert_eq!(e.builders_running(), 0, "builders are terminated");
    let (code, stdout, _) = e
        .run(&["plan", "recipes/layered", "--detailed-exitcode"])
        .await;
    assert_eq!(code, 0, "nothing changes after an apply:\n{stdout}");
    let (code, stdout, _) = e.run(&["apply", "recipes/layered", "--auto-approve"]).await;
    assert_eq!(code, 0);
    assert!(stdout.contains("Nothing to do"), "{stdout}");
    // Images carry the tags that find them again.
    let w = e.sim.world();
    let tagged = w
        .ec2
        .images
        .values()
        .filter(|i| {
            i.tags.contains_key("recipe:build-id") && i.tags.contains_key("recipe:fingerprint")
        })
        .count();
    assert!(tagged >= 3, "{tagged} tagged images");
    // And the base each started from, as their version files say: an AMI for the baseline, the
    // baseline's image for the layered recipe.
    let bases: Vec<&String> = (w.ec2.images.values())
        .filter(|i| i.tags.contains_key("recipe:build-id"))
        .filter_map(|i| i.tags.get("recipe:base"))
        .collect();
    assert!(
        bases.len() >= 3 && bases.iter().all(|b| b.starts_with("ami-")),
        "{bases:?}"
    );
    // Every snapshot behind the recipes' images carries the build's tags, copies' included.
    let untagged: Vec<String> = w
        .ec2
        .snapshots
        .values()
        .filter(|s| {
            w.ec2
                .images
                .get(&s.image_id)
                .is_some_and(|i| i.tags.contains_key("recipe:build-id"))
        })
        .filter(|s| !s.tags.contains_key("recipe:build-id"))
        .map(|s| format!("{} in {}", s.id, s.region))
        .collect();
    assert!(untagged.is_empty(), "untagged snapshots: {untagged:?}");
    assert!(
        w.ec2
            .snapshots
            .values()
            .any(|s| s.region == "eu-west-1" && s.tags.contains_key("recipe:build-id")),
        "the copy's snapshots are tagged"
    );
}

/// Issue 28: with `--sign-kms-key`, each new version's provenance is signed by KMS (Sign, on the
/// SHA-256 of the envelope's encoding) and `recipe verify --kms-key` checks it with the key's
/// GetPublicKey; another key fails every version, naming the signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provenance_signed_with_kms_verifies_with_its_public_key_only() {
    let e = env().await;
    let kms = aws_sdk_kms::Client::new(&sim_aws(e.sim.url(), "eu-west-2").await.sdk);
    let mut keys = Vec::new();
    for _ in 0..2 {
        let out = (kms.create_key())
            .key_spec(aws_sdk_kms::types::KeySpec::EccNistP256)
            .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
            .send()
            .await
            .unwrap();
        keys.push(out.key_metadata.unwrap().arn.unwrap());
    }
    let apply = [
        "apply",
        "recipes/layered",
        "--auto-approve",
        "--sign-kms-key",
        &keys[0],
    ];
    let (code, out, err) = e.run(&apply).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("provenance signed by KMS key arn:aws:kms:"),
        "{out}"
    );
    assert!(e.sim.requests().count("kms:Sign") >= 2);
    let (code, out, err) = e.run(&["verify", "--all", "--kms-key", &keys[0]]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        out.matches("ok      signature of the provenance").count(),
        2,
        "{out}"
    );
    let (code, out, _) = e.run(&["verify", "--all", "--kms-key", &keys[1]]).await;
    assert_eq!(code, 7, "{out}");
    assert_eq!(
        out.matches("FAILED  the provenance's signature").count(),
        2,
        "{out}"
    );

    // A policy: the allowed signers, and a recipe's fingerprint.
    let policy = |text: String| {
        std::fs::write(e.dir.path().join("policy.yaml"), text).unwrap();
        [
            "verify",
            "--all",
            "--kms-key",
            &keys[0],
            "--policy",
            "policy.yaml",
        ]
    };
    let (code, out, err) = e
        .run(&policy(format!("signed-by: [\"{}\"]\n", keys[0])))
        .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        out.matches("ok      policy: signed by an allowed key")
            .count(),
        2,
        "{out}"
    );
    let (code, out, _) = e
        .run(&policy("signed-by: [0123456789abcdef]\n".into()))
        .await;
    assert_eq!(code, 7, "{out}");
    assert!(out.contains("FAILED  policy: the signing key"), "{out}");
    let pinned = "fingerprints: { linux-baseline: \"sha256:00\" }\n".to_string();
    let (code, out, _) = e.run(&policy(pinned)).await;
    assert_eq!(code, 7, "{out}");
    assert!(
        out.contains("FAILED  policy: linux-baseline was built from sha256:"),
        "{out}"
    );
    let (code, _, err) = e.run(&policy("sigend-by: []\n".into())).await;
    assert_eq!(code, 1, "a policy with an unknown key is refused: {err}");
    assert!(err.contains("sigend-by"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_refuses_without_a_terminal_unless_auto_approved() {
    let e = env().await;
    let (code, _, stderr) = e.run(&["apply", "recipes/layered"]).await;
    assert_eq!(code, 6);
    assert!(stderr.contains("pass --auto-approve"), "{stderr}");
    assert_eq!(
        e.images_named(""),
        e.sim
            .world()
            .ec2
            .images
            .values()
            .filter(|i| i.public)
            .count(),
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_errors_are_shown_with_their_context_and_help_that_fits() {
    let e = env().await;
    let dir = e.dir.path().join("recipes/ssm");
    std::fs::create_dir_all(&dir).unwrap();
    let recipe = "name: from-param\ndescription: a base that does not exist\ntarget: ec2-ami\nstrategy: zero\nos: linux\nversion: 1.0.0\nbase: { ssm-parameter: /golden/does-not-exist }\nbuilder: { region: eu-west-2 }\nimage: { name: \"from-param-${build_id}\" }\n";
    std::fs::write(dir.join("from-param.yaml"), recipe).unwrap();
    // A missing SSM parameter is named, with its region; nothing about credentials.
    let (code, _, stderr) = e.run(&["plan", "recipes/ssm"]).await;
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("ssm GetParameter failed: ParameterNotFound"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`/golden/does-not-exist`, which does not exist in eu-west-2"),
        "{stderr}"
    );
    assert!(stderr.contains("request id"), "{stderr}");
    assert!(!stderr.contains("check the credentials"), "{stderr}");
    assert!(!stderr.contains("ServiceError"), "no debug dump: {stderr}");
    // Credentials the service refuses: the help says to check them.
    e.sim.set_faults(aws_sim::Faults {
        scripted: vec![aws_sim::ScriptedFault {
            operation: "sts:GetCallerIdentity".into(),
            nth: 2,
            status: 403,
            code: "InvalidClientTokenId".into(),
            message: "The security token included in the request is invalid.".into(),
            ..Default::default()
        }],
        ..Default::default()
    });
    let (code, _, stderr) = e.run(&["plan", "recipes/layered"]).await;
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("sts GetCallerIdentity failed: InvalidClientTokenId"),
        "{stderr}"
    );
    assert!(stderr.contains("check the credentials"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_step_fails_the_build_cleans_up_the_builder_and_records_the_failure() {
    let e = env().await;
    e.sim.script_command(aws_sim::CommandScript {
        contains: "aide".into(),
        status: "Failed".into(),
        stdout: "aide: database initialisation failed".into(),
        response_code: 2,
        repeat: true,
        ..Default::default()
    });
    let (code, stdout, _) = e.run(&["apply", "recipes/layered", "--auto-approve"]).await;
    assert_eq!(code, 5, "{stdout}");
    assert!(
        stdout.contains("aide: database initialisation failed"),
        "the step's output is shown:\n{stdout}"
    );
    assert!(
        stdout.contains("skipped"),
        "dependents are skipped:\n{stdout}"
    );
    assert_eq!(
        e.builders_running(),
        0,
        "the failed build's builder is terminated:\n{stdout}"
    );
    assert_eq!(e.images_named("linux-baseline"), 0, "no image was captured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_saved_plan_is_refused_and_a_fresh_one_applies() {
    let e = env().await;
    let (code, _, stderr) = e
        .run(&["plan", "recipes/layered", "--out", "plan.json"])
        .await;
    assert_eq!(code, 0, "{stderr}");
    let (code, _, _) = e
        .run(&[
            "apply",
            "recipes/layered",
            "--target",
            "linux-baseline",
            "--auto-approve",
        ])
        .await;
    assert_eq!(code, 0);
    let (code, _, stderr) = e
        .run(&[
            "apply",
            "recipes/layered",
            "--plan",
            "plan.json",
            "--auto-approve",
        ])
        .await;
    assert_eq!(code, 4);
    assert!(
        stderr.contains("recipe::plan::stale")
            && stderr.contains("state of `linux-baseline` changed"),
        "{stderr}"
    );
    // A fresh saved plan, given as the path, applies exactly that plan.
    let (code, _, stderr) = e
        .run(&["plan", "recipes/layered", "--out", "plan2.json"])
        .await;
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, stderr) = e.run(&["apply", "plan2.json", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("Apply complete"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_the_next_apply_resumes_without_duplicating_images() {
    let e = env().await;
    let killed = e.kill_9_after("linux-baseline: capture").await;
    assert!(killed, "the run reached the capture");
    assert_eq!(e.images_named("linux-baseline"), 1);
    let (code, stdout, stderr) = e.run(&["apply", "recipes/layered", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("done in an earlier run"),
        "the journal was used:\n{stdout}"
    );
    assert_eq!(
        e.images_named("linux-baseline"),
        1,
        "the captured image was not made twice"
    );
    assert_eq!(e.builders_running(), 0);
}

/// Whether an `apply --json` line says a step of the baseline was sent to its builder.
fn step_sent(line: &str) -> bool {
    line.contains(r#""event":"waiting""#)
        && line.contains(r#""recipe":"linux-baseline""#)
        && line.contains(" on i-")
        && !line.contains("SSM agent")
}

/// The first Ctrl-C stops new work: the step in flight finishes, no later step of its batch is sent,
/// the builder is terminated, and the next apply finishes. `signals` SIGINTs are sent at once, as
/// GNU `timeout -s INT` does (to the process and to its group): they count as one.
async fn interrupt_once(signals: usize) {
    let e = env().await;
    let mut d = aws_sim::Durations::instant();
    d.image_create_ms = 100;
    d.image_copy_ms = 100;
    // The first step is still running when the interrupt comes.
    d.ssm_command_ms = 5_000;
    e.sim.set_durations(d.clone());
    let mut child = e
        .cmd(&["apply", "recipes/layered", "--auto-approve", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let stdout = child.stdout.take().unwrap();
    let (at, code, stderr) = tokio::task::block_in_place(|| {
        let mut at = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if at.is_none() && step_sent(&line) {
                at = Some(e.sim.requests().records.len());
                for _ in 0..signals {
                    // SIGINT, as a terminal's Ctrl-C sends.
                    Command::new("kill").args(["-INT", &pid]).status().unwrap();
                }
            }
        }
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        (at, status.code(), err)
    });
    let at = at.expect("the run sent a step");
    assert_eq!(
        code,
        Some(130),
        "an interrupted apply is not complete, and not cut short:\n{stderr}"
    );
    assert!(
        stderr.contains("interrupted: finishing running actions"),
        "{stderr}"
    );
    assert!(!stderr.contains("exiting now"), "{stderr}");
    let sent: Vec<String> = e
        .writes_since(at)
        .into_iter()
        .filter(|op| op == "ssm:SendCommand")
        .collect();
    assert!(
        sent.len() <= 1,
        "no step after the one in flight (one may have been sent as the signal came): {sent:?}"
    );
    assert_eq!(
        e.builders_running(),
        0,
        "the builder of the unfinished build was terminated"
    );
    d.ssm_command_ms = 0;
    e.sim.set_durations(d);
    let (code, stdout, stderr) = e.run(&["apply", "recipes/layered", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(e.images_named("linux-baseline"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_ctrl_c_stops_new_work_cleans_up_and_the_next_apply_finishes() {
    interrupt_once(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_interrupt_delivered_twice_at_once_is_one_ctrl_c() {
    interrupt_once(2).await;
}

/// Read `stderr` line by line until a line contains `until`; the lines read, and the rest of the
/// stream to read later.
async fn stderr_until(
    stderr: std::process::ChildStderr,
    until: &'static str,
) -> (String, BufReader<std::process::ChildStderr>) {
    tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stderr);
        let mut seen = String::new();
        let mut line = String::new();
        while lines.read_line(&mut line).unwrap_or(0) > 0 {
            seen.push_str(&std::mem::take(&mut line));
            if seen.lines().last().is_some_and(|l| l.contains(until)) {
                break;
            }
        }
        (seen, lines)
    })
    .await
    .unwrap()
}

/// The rest of a child's stderr, and how it exited.
async fn finish(
    child: std::process::Child,
    mut rest: BufReader<std::process::ChildStderr>,
) -> (std::process::Output, String) {
    tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut rest, &mut text).unwrap();
        (child.wait_with_output().unwrap(), text)
    })
    .await
    .unwrap()
}

/// A CI job queued behind another: it waits for the lock, then plans again against what the first
/// one recorded, and finds nothing to do (Terraform's habit), instead of failing as stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_apply_plans_again_once_it_holds_the_lock() {
    let mut d = aws_sim::Durations::instant();
    // The first apply's image stays pending until the test moves the simulated clock.
    d.image_create_ms = 3_600_000;
    d.image_copy_ms = 100;
    let e = env_with(d).await;
    // The baseline alone: one image, which the test makes available.
    let apply = [
        "apply",
        "recipes/layered",
        "--target",
        "linux-baseline",
        "--auto-approve",
        "--lock-timeout",
        "5m",
    ];
    let mut first = e
        .cmd(&apply)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Polled: the first apply holds its locks once it has asked for the image.
    while e.images_named("linux-baseline") == 0 {
        if let Some(status) = first.try_wait().unwrap() {
            panic!("the first apply ended before making its image: {status}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut second = e
        .cmd(&apply)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (waited, rest) = stderr_until(
        second.stderr.take().unwrap(),
        "for the lock on `linux-baseline`",
    )
    .await;
    assert!(
        waited.contains("waiting up to 5m for the lock on `linux-baseline`"),
        "{waited}"
    );
    e.sim.advance(3_600_000);
    let first = tokio::task::spawn_blocking(move || first.wait_with_output().unwrap());
    let first = first.await.unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let (out, rest) = finish(second, rest).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{rest}");
    assert!(
        rest.contains("state of `linux-baseline` changed while waiting for its lock")
            && rest.contains("planning again now that the locks are held"),
        "{rest}"
    );
    assert!(stdout.contains("Nothing to do"), "{stdout}");
    assert_eq!(e.images_named("linux-baseline"), 1, "built once");
}

/// A saved plan is applied as it was reviewed, or not at all: state saved by another run while it
/// waited for the lock makes it stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_saved_by_another_run_while_waiting_for_the_lock_makes_a_saved_plan_stale() {
    use recipe_state::StateStore;
    let e = env().await;
    let (code, _, stderr) = e
        .run(&["plan", "recipes/layered", "--out", "plan.json"])
        .await;
    assert_eq!(code, 0, "{stderr}");
    let store = recipe_state::LocalStore::new(e.dir.path().join(".recipe/state"));
    // Another run holds the baseline's lock.
    store
        .lock(
            "linux-baseline",
            &recipe_state::LockInfo::for_this_process("other apply"),
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
    let mut child = e
        .cmd(&[
            "apply",
            "plan.json",
            "--auto-approve",
            "--lock-timeout",
            "60s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The apply asks for the locks before it prints a plan, and says whom it waits for (it does not
    // claim to resume anything).
    let (said, rest) = stderr_until(
        child.stderr.take().unwrap(),
        "for the lock on `linux-baseline`",
    )
    .await;
    assert!(
        said.contains("waiting up to 1m for the lock on `linux-baseline`, held by"),
        "{said}"
    );
    assert!(said.contains("other apply"), "names the holder: {said}");
    assert!(!said.contains("resuming"), "{said}");
    // The other run records a version and leaves.
    let lock_file = e.dir.path().join(".recipe/state/linux-baseline.lock");
    store
        .save(&recipe_state::RecipeState::new("linux-baseline"), None)
        .await
        .unwrap();
    store.unlock("linux-baseline").await.unwrap();
    assert!(!lock_file.exists());
    let (out, rest) = finish(child, rest).await;
    assert_eq!(out.status.code(), Some(4), "{rest}");
    assert!(
        rest.contains("recipe::plan::stale") && rest.contains("changed while waiting for its lock"),
        "{rest}"
    );
    assert!(!rest.contains("planning again"), "{rest}");
    assert_eq!(
        e.images_named("linux-baseline"),
        0,
        "nothing was built on a stale plan"
    );
}

impl Env {
    /// Apply the baseline alone, expecting success; its output.
    async fn apply_baseline(&self) -> String {
        let (code, stdout, stderr) = self
            .run(&[
                "apply",
                "recipes/layered",
                "--target",
                "linux-baseline",
                "--auto-approve",
            ])
            .await;
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        stdout
    }

    /// Start an apply and kill -9 it once the action named `action` has succeeded; whether it got
    /// there.
    async fn kill_9_after(&self, action: &str) -> bool {
        let action = action.to_string();
        let seen = move |l: &str| l.contains("\"succeeded\"") && l.contains(&action);
        self.kill_9_when(seen, 0).await.hit
    }

    /// Start an apply (`--json`), read its events until `until` says so, wait `jitter_ms` more, then
    /// kill -9 it.
    async fn kill_9_when(
        &self,
        mut until: impl FnMut(&str) -> bool + Send + 'static,
        jitter_ms: u64,
    ) -> Killed {
        let mut child = self
            .cmd(&["apply", "recipes/layered", "--auto-approve", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            let hit = lines.any(|l| until(&l));
            std::thread::sleep(std::time::Duration::from_millis(jitter_ms));
            let ended = child.try_wait().unwrap().is_some();
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            Killed { hit, ended, stderr }
        })
        .await
        .unwrap()
    }

    /// Apply the layered recipes (with `extra` arguments), expecting success; stdout and stderr.
    async fn apply_ok(&self, extra: &[&str]) -> (String, String) {
        let mut args = vec!["apply", "recipes/layered", "--auto-approve"];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = self.run(&args).await;
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        (stdout, stderr)
    }

    /// Images left pending or failed: what a failure must not leave behind.
    fn images_unfinished(&self) -> Vec<String> {
        self.sim
            .world()
            .ec2
            .images
            .values()
            .filter(|i| i.state == "pending" || i.state == "failed")
            .map(|i| format!("{} {} {}", i.id, i.name, i.state))
            .collect()
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.dir.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} lacks {from:?}");
        std::fs::write(path, text.replace(from, to)).unwrap();
    }

    /// Apply, expect a failure, and check that nothing is left running or half-made.
    async fn apply_fails_cleanly(&self) -> String {
        let (code, stdout, stderr) = self
            .run(&["apply", "recipes/layered", "--auto-approve"])
            .await;
        assert_eq!(code, 5, "{stdout}\n{stderr}");
        assert_eq!(
            self.builders_running(),
            0,
            "builders are terminated:\n{stdout}"
        );
        assert_eq!(
            self.images_unfinished(),
            Vec::<String>::new(),
            "no image is left pending or failed:\n{stdout}"
        );
        stdout
    }

    /// The next apply finishes the job, with one image per recipe in the build region.
    async fn next_apply_finishes(&self) {
        let (code, stdout, stderr) = self
            .run(&["apply", "recipes/layered", "--auto-approve"])
            .await;
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        assert_eq!(self.builders_running(), 0);
        assert_eq!(self.images_unfinished(), Vec::<String>::new());
        let (code, stdout, _) = self
            .run(&["plan", "recipes/layered", "--detailed-exitcode"])
            .await;
        assert_eq!(code, 0, "nothing left to do:\n{stdout}");
    }
}

fn scripted(operation: &str, code: &str, message: &str) -> aws_sim::Faults {
    aws_sim::Faults {
        scripted: vec![aws_sim::ScriptedFault {
            operation: operation.into(),
            nth: 1,
            status: 400,
            code: code.into(),
            message: message.into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_launch_skips_the_build_and_leaves_nothing() {
    let e = env().await;
    e.sim.set_faults(scripted(
        "ec2:RunInstances",
        "InvalidParameterValue",
        "Value (recipe-builder) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name",
    ));
    let stdout = e.apply_fails_cleanly().await;
    assert!(
        stdout.contains("Invalid IAM Instance Profile name"),
        "the cause is shown:\n{stdout}"
    );
    assert_eq!(
        e.images_named(""),
        e.sim
            .world()
            .ec2
            .images
            .values()
            .filter(|i| i.public)
            .count()
    );
    e.next_apply_finishes().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_capture_deregisters_the_image_and_terminates_the_builder() {
    let e = env().await;
    e.sim.fail_next("ec2-image", 1);
    let stdout = e.apply_fails_cleanly().await;
    assert!(
        stdout.contains("deregistered and its snapshots deleted"),
        "{stdout}"
    );
    assert_eq!(e.images_named("linux-baseline"), 0);
    let w = e.sim.world();
    assert!(
        w.ec2.snapshots.values().all(|s| w
            .ec2
            .images
            .get(&s.image_id)
            .is_none_or(|i| i.state != "deregistered")),
        "the failed image's snapshots are deleted"
    );
    e.next_apply_finishes().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_copy_is_deregistered_the_build_is_kept_and_the_next_apply_copies() {
    let e = env().await;
    e.sim.fail_next("ec2-copy", 1);
    let stdout = e.apply_fails_cleanly().await;
    assert!(stdout.contains("copy to"), "{stdout}");
    // The build itself finished: the next plan only copies (and what follows), it does not rebuild.
    let (code, plan, _) = e
        .run(&["plan", "recipes/layered", "--detailed-exitcode"])
        .await;
    assert_eq!(code, 2, "{plan}");
    assert!(plan.contains("copy to"), "{plan}");
    let before = e.images_named("linux-baseline");
    e.next_apply_finishes().await;
    assert!(
        e.images_named("linux-baseline") > before,
        "the missing copy was made"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_share_keeps_the_images_and_the_next_apply_shares() {
    let e = env().await;
    e.sim.set_faults(scripted(
        "ec2:ModifyImageAttribute",
        "InvalidParameter",
        "The organization is not in the same AWS Organization as this account",
    ));
    let stdout = e.apply_fails_cleanly().await;
    assert!(stdout.contains("same AWS Organization"), "{stdout}");
    let images = e.images_named("linux-baseline");
    assert!(images >= 1, "the images are kept");
    e.next_apply_finishes().await;
    assert_eq!(
        e.images_named("linux-baseline"),
        images,
        "nothing was built twice"
    );
    let w = e.sim.world();
    assert!(
        w.ec2
            .images
            .values()
            .filter(|i| i.name.starts_with("linux-baseline") && i.state == "available")
            .all(|i| !i.launch_permissions.is_empty()),
        "every baseline image is shared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_exits_at_once_naming_the_builder_and_the_next_apply_resumes() {
    let e = env().await;
    // Commands take long enough that the run is still busy when the second Ctrl-C comes.
    let mut d = aws_sim::Durations::instant();
    d.image_create_ms = 100;
    d.image_copy_ms = 100;
    d.ssm_command_ms = 5_000;
    e.sim.set_durations(d.clone());
    let mut child = e
        .cmd(&["apply", "recipes/layered", "--auto-approve", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let ended = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        // A step is in flight (its command takes 5 s), so the run is still busy a second later.
        let reached = lines.by_ref().map_while(Result::ok).any(|l| step_sent(&l));
        // Keep draining stdout so the child never blocks on it.
        let drain = std::thread::spawn(move || lines.for_each(drop));
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let mut err = String::new();
        let mut second = false;
        let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
        for line in lines.by_ref() {
            let first_said = line.starts_with("interrupted:");
            err.push_str(&line);
            err.push('\n');
            if first_said {
                break;
            }
        }
        // A second Ctrl-C within a second of the first is the same one: press again until it
        // counts (every 200 ms), as a person would.
        let said = std::thread::spawn(move || lines.collect::<Vec<_>>().join("\n"));
        while child.try_wait().unwrap().is_none() {
            Command::new("kill").args(["-INT", &pid]).status().unwrap();
            second = true;
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        err.push_str(&said.join().unwrap());
        let status = child.wait().unwrap();
        let _ = drain.join();
        (reached, second, status.code(), err)
    })
    .await
    .unwrap();
    let (reached, second, code, stderr) = ended;
    assert!(reached && second, "{stderr}");
    assert_eq!(code, Some(130), "{stderr}");
    assert!(
        stderr.contains("exiting now. May be left: builders i-"),
        "it says what may be left:\n{stderr}"
    );
    d.ssm_command_ms = 0;
    e.sim.set_durations(d);
    let (code, stdout, stderr) = e.run(&["apply", "recipes/layered", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(e.builders_running(), 0);
    assert_eq!(e.images_named("linux-baseline"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_of_a_killed_run_that_cannot_resume_are_swept() {
    let e = env().await;
    // The builder is terminated right after the capture; under load that can land before the kill.
    // Refusing TerminateInstances in the killed run makes sure it leaves its builder.
    let refused = (1..=20).map(|nth| aws_sim::ScriptedFault {
        operation: "ec2:TerminateInstances".into(),
        nth,
        code: "UnauthorizedOperation".into(),
        message: "You are not authorized to perform this operation.".into(),
        ..Default::default()
    });
    e.sim.set_faults(aws_sim::Faults {
        scripted: refused.collect(),
        ..Default::default()
    });
    let killed = e.kill_9_after("linux-baseline: capture").await;
    e.sim.set_faults(aws_sim::Faults::default());
    assert!(killed, "the run reached the capture");
    assert_eq!(e.builders_running(), 1, "the killed run left its builder");
    assert_eq!(e.images_named("linux-baseline"), 1, "and its image");
    // The recipe changes, so the interrupted plan cannot be resumed.
    e.edit(
        "recipes/layered/linux-baseline.yaml",
        "install: [amazon-ssm-agent, jq, tmux,",
        "install: [amazon-ssm-agent, jq, tmux, htop,",
    );
    let (code, stdout, stderr) = e.run(&["apply", "recipes/layered", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("terminated a builder left by an earlier run"),
        "{stdout}"
    );
    assert!(
        stdout.contains("deregistered an image left by an interrupted apply"),
        "{stdout}"
    );
    assert_eq!(e.builders_running(), 0);
    assert_eq!(
        e.images_named("linux-baseline"),
        1,
        "only the new build's image is left"
    );
}

/// A builder's subnet, security group, SSM-less instance profile or missing KMS key is a finding in the plan (read-only),
/// with its fix; apply refuses the build and changes nothing; once the network exists the plan is
/// clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_subnet_or_security_group_is_a_plan_finding_not_a_failed_apply() {
    let e = env().await;
    let recipe = "recipes/layered/linux-baseline.yaml";
    e.edit(
        recipe,
        "subnet-0a1b2c3d4e5f60718",
        "subnet-0ffffffffffffffff",
    );
    e.edit(recipe, "sg-0123456789abcdef0", "sg-0ffffffffffffffff");
    e.edit(
        recipe,
        "instance-profile: recipe-builder",
        "instance-profile: no-ssm",
    );
    e.edit(
        recipe,
        "distribute:\n",
        "distribute:\n  regions: [eu-west-1]\n  encrypted: true\n  kms-keys: { eu-west-1: \"arn:aws:kms:eu-west-1:123456789012:alias/missing\" }\n",
    );
    let bare: Vec<String> = vec!["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess".into()];
    e.sim
        .provide_instance_profile(aws_sim::DEFAULT_ACCOUNT, "no-ssm", &bare);
    let args = ["recipes/layered", "--target", "linux-baseline"];
    let (code, plan, err) = e.run(&[&["plan"], &args[..]].concat()).await;
    assert_eq!(
        code, 4,
        "a gate on plan stops where apply would:\n{plan}\n{err}"
    );
    let detailed = [&["plan", "--detailed-exitcode"], &args[..]].concat();
    assert_eq!(
        e.run(&detailed).await.0,
        4,
        "not 2: the changes cannot be applied"
    );
    assert!(
        plan.contains("problem: the subnet subnet-0ffffffffffffffff does not exist in eu-west-2 (fix: create it, or name one that exists in `builder.subnet-id`)"),
        "{plan}"
    );
    assert!(
        plan.contains(
            "problem: the security group sg-0ffffffffffffffff does not exist in eu-west-2"
        ),
        "{plan}"
    );
    assert!(
        plan.contains(
            "problem: the role no-ssm of the instance profile no-ssm cannot use Systems Manager"
        ),
        "{plan}"
    );

    assert!(
        plan.contains("problem: the KMS key arn:aws:kms:eu-west-1:123456789012:alias/missing does not exist in eu-west-1"),
        "{plan}"
    );
    assert!(plan.contains("Preflight: 4 problem(s)"), "{plan}");
    let before = e.sim.requests().records.len();
    let (code, out, err) = e
        .run(&[&["apply", "--auto-approve"], &args[..]].concat())
        .await;
    assert_eq!(code, 4, "{out}\n{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(e.writes_since(before), Vec::<String>::new());
    let (subnets, groups) = (
        ["subnet-0ffffffffffffffff".to_string()],
        ["sg-0ffffffffffffffff".to_string()],
    );
    e.sim
        .provide_network(aws_sim::DEFAULT_ACCOUNT, "eu-west-2", &subnets, &groups);
    let ssm = ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore".to_string()];
    e.sim
        .provide_instance_profile(aws_sim::DEFAULT_ACCOUNT, "no-ssm", &ssm);
    let key = "arn:aws:kms:eu-west-1:123456789012:alias/missing";
    e.sim
        .provide_kms_key(aws_sim::DEFAULT_ACCOUNT, "eu-west-1", key);
    let (code, plan, _) = e.run(&[&["plan"], &args[..]].concat()).await;
    assert_eq!(code, 0);
    assert!(!plan.contains("problem:"), "{plan}");
}

/// A secret the recipe names that does not exist in its build region is a plan finding (read
/// without its value: DescribeParameters, DescribeSecret), and apply changes nothing; once the
/// team creates it, the plan is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_is_a_plan_finding_and_apply_changes_nothing() {
    let e = env().await;
    let recipe = "recipes/layered/linux-baseline.yaml";
    e.edit(
        recipe,
        "\nbase:",
        "\nsecrets:\n  token: { ssm-parameter: /app/missing-token }\n  key: { secrets-manager: app/missing-key }\nbase:",
    );
    let args = ["recipes/layered", "--target", "linux-baseline"];
    let (code, plan, err) = e.run(&[&["plan"], &args[..]].concat()).await;
    assert_eq!(code, 4, "{plan}\n{err}");
    for line in [
        "problem: the SSM parameter /app/missing-token does not exist in eu-west-2 (fix: create it, or name one that exists in `secrets.token`)",
        "problem: the Secrets Manager secret app/missing-key does not exist in eu-west-2 (fix: create it, or name one that exists in `secrets.key`)",
    ] {
        assert!(plan.contains(line), "{plan}");
    }
    let reads = e.sim.requests();
    assert_eq!(
        reads.count("secretsmanager:GetSecretValue"),
        0,
        "no value is read"
    );
    let before = e.sim.requests().records.len();
    let (code, out, err) = e
        .run(&[&["apply", "--auto-approve"], &args[..]].concat())
        .await;
    assert_eq!(code, 4, "{out}\n{err}");
    assert_eq!(e.writes_since(before), Vec::<String>::new());
    let account = aws_sim::DEFAULT_ACCOUNT;
    e.sim
        .provide_secret(account, "eu-west-2", "/app/missing-token", false, "v");
    e.sim
        .provide_secret(account, "eu-west-2", "app/missing-key", true, "v");
    let (code, plan, _) = e.run(&[&["plan"], &args[..]].concat()).await;
    assert_eq!(code, 0);
    assert!(!plan.contains("problem:"), "{plan}");
}

/// Declining the confirmation on a terminal exits 6 (declined, not failed) and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declining_the_confirmation_exits_6_and_changes_nothing() {
    let e = env().await;
    let bin = env!("CARGO_BIN_EXE_recipe");
    let cmd = format!("{bin} apply recipes/layered --target linux-baseline");
    let c = e.cmd(&[]);
    let mut script = Command::new("script");
    script
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(e.dir.path())
        .envs(
            c.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let before = e.sim.requests().records.len();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = script.spawn().unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"no\n").unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(6), "{text}");
    assert!(text.contains("not applied"), "{text}");
    assert_eq!(e.writes_since(before), Vec::<String>::new());
}

/// `--quiet`: the plan's summary line, no line per action, then the run's summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_apply_prints_only_the_summaries() {
    let e = env().await;
    let args = [
        "apply",
        "recipes/layered",
        "--target",
        "linux-baseline",
        "--auto-approve",
        "-q",
    ];
    let (code, stdout, stderr) = e.run(&args).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("Plan: 1 to build"), "{stdout}");
    assert!(!stdout.contains(" ✓ "), "no line per action:\n{stdout}");
    assert!(stdout.contains("\nSummary ("), "{stdout}");
    assert!(stdout.contains("\n  linux-baseline 2025."), "{stdout}");
    assert!(
        lines.last().unwrap().starts_with("Apply complete"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_apply_shows_a_live_view_and_in_a_pipe_plain_lines() {
    let e = env().await;
    // `script` gives the command a pseudo-terminal, as a person's shell would.
    let bin = env!("CARGO_BIN_EXE_recipe");
    let cmd = format!(
        "{bin} apply recipes/layered --target linux-baseline --auto-approve --poll-interval-ms 20"
    );
    let mut c = e.cmd(&[]);
    let c = c
        .env("TERM", "xterm-256color")
        .env_remove("CI")
        .env_remove("NO_COLOR");
    let mut script = Command::new("script");
    script
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(e.dir.path())
        .envs(
            c.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env_remove("CI")
        .stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || script.output().unwrap())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Apply complete"), "{text}");
    assert!(
        text.contains("\u{1b}["),
        "the live view draws with terminal escapes:\n{text}"
    );
    assert!(
        text.contains("actions"),
        "the progress bar counts actions:\n{text}"
    );
    // Without a terminal: plain timestamped lines that fit, no escapes.
    let (_, plan, _) = e
        .run(&["plan", "recipes/layered", "--format", "json"])
        .await;
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let (code, stdout, _) = e.run(&["apply", "recipes/layered", "--auto-approve"]).await;
    assert_eq!(code, 0);
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
    assert_logs_fit(&stdout, plan["actions"].as_array().unwrap().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_tags_retag_every_region_without_a_rebuild() {
    let e = env().await;
    let recipe = "recipes/layered/web-on-baseline.yaml";
    let (code, stdout, stderr) = e.run(&["apply", "recipes/layered", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    e.edit(recipe, "Stage: prod", "Stage: test");
    e.edit(recipe, "    Compliance: CIS-L1\n", "");
    let (code, plan, _) = e
        .run(&["plan", "recipes/layered", "--detailed-exitcode"])
        .await;
    assert_eq!(code, 2, "{plan}");
    assert!(
        plan.contains(
            r#"image.tags changed (~Stage: "prod" → "test", -Compliance (was "CIS-L1"))"#
        ),
        "{plan}"
    );
    assert!(plan.contains("0 to build"), "{plan}");
    let (code, stdout, stderr) = e.run(&["apply", "recipes/layered", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let w = e.sim.world();
    let images: Vec<_> = w
        .ec2
        .images
        .values()
        .filter(|i| i.name.starts_with("web-on-baseline") && i.state == "available")
        .collect();
    let regions: std::collections::BTreeSet<&str> =
        images.iter().map(|i| i.region.as_str()).collect();
    assert_eq!(regions.len(), 2, "the image and its copy:\n{stdout}");
    for i in &images {
        assert_eq!(
            i.tags.get("Stage").map(String::as_str),
            Some("test"),
            "{}",
            i.id
        );
        assert!(!i.tags.contains_key("Compliance"), "{}", i.id);
        for s in &i.snapshot_ids {
            assert_eq!(
                w.ec2.snapshots[s].tags.get("Stage").map(String::as_str),
                Some("test")
            );
        }
    }
    assert_eq!(
        e.images_named("web-on-baseline"),
        images.len(),
        "nothing was rebuilt"
    );
    let (code, plan, _) = e
        .run(&["plan", "recipes/layered", "--detailed-exitcode"])
        .await;
    assert_eq!(code, 0, "{plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_too_large_to_inline_is_uploaded_in_chunks_first() {
    let e = env().await;
    let path = e
        .dir
        .path()
        .join("recipes/layered/scripts/baseline-system.sh");
    let mut script = std::fs::read_to_string(&path).unwrap();
    for i in 0..3000 {
        script.push_str(&format!(
            "# padding line {i:05} to make the script larger than one command\n"
        ));
    }
    std::fs::write(&path, &script).unwrap();
    e.apply_baseline().await;
    let w = e.sim.world();
    let mut uploads: Vec<(usize, String)> = w
        .ssm
        .commands
        .values()
        .filter_map(|c| {
            let k = c
                .comment
                .split_once("upload scripts/baseline-system.sh (")?
                .1
                .split_once('/')?
                .0
                .parse()
                .ok()?;
            let text = c.parameters["commands"].join("\n");
            let chunk = text
                .rsplit_once("printf '%s' '")?
                .1
                .split_once('\'')?
                .0
                .to_string();
            Some((k, chunk))
        })
        .collect();
    uploads.sort();
    assert!(uploads.len() > 1, "{} upload commands", uploads.len());
    let joined: String = uploads.into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        joined,
        recipe_provider_ec2::render::base64(script.as_bytes()),
        "the chunks are the script"
    );
    let step = w
        .ssm
        .commands
        .values()
        .map(|c| c.parameters["commands"].join("\n"))
        .find(|t| t.contains("base64 -d '/var/lib/recipe/stage/step-linux-baseline-"))
        .expect("the step decodes its upload");
    assert!(
        step.contains("\nrm -f '/var/lib/recipe/stage/"),
        "and removes it:\n{step}"
    );
    assert!(step.len() < 4096, "the step command itself stays small");
}

impl Env {
    /// An EC2 client for the test's own calls (what a user does outside recipe).
    async fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        ec2_client(self.sim.url(), region).await
    }

    /// The baseline's images in the home region, oldest first (two builds may share a second, so
    /// not by name).
    fn baseline_images(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .sim
            .world()
            .ec2
            .images
            .values()
            .filter(|i| i.name.starts_with("linux-baseline"))
            .map(|i| (i.created_ms, i.name.clone(), i.state.clone()))
            .collect();
        v.sort();
        v.into_iter().map(|(_, n, s)| (n, s)).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_never_retires_a_version_in_use_and_retires_it_once_released() {
    let e = env().await;
    let recipe = "recipes/layered/linux-baseline.yaml";
    // The base found by filters, newest first, as a team pins "the latest AL2023".
    e.edit(
        recipe,
        "  ssm-parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
        "  ami-filter:\n    owners: [amazon]\n    filters: { name: al2023-ami-*-x86_64 }\n    most-recent: true",
    );
    e.edit(recipe, "keep: 3", "keep: 2");
    // Three builds within seconds: names unique per build, not per second.
    e.edit(
        recipe,
        "name: linux-baseline-${version}-${timestamp}",
        "name: linux-baseline-${version}-${build_id}",
    );
    e.apply_baseline().await;
    let first = e
        .sim
        .world()
        .ec2
        .images
        .values()
        .find(|i| i.name.starts_with("linux-baseline"))
        .map(|i| i.id.clone())
        .unwrap();
    // Someone runs an instance from the first version.
    let ec2 = e.ec2("eu-west-2").await;
    let run = ec2
        .run_instances()
        .image_id(&first)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let user = run.instances()[0].instance_id().unwrap().to_string();
    for n in 1..=2 {
        e.edit(
            "recipes/layered/scripts/baseline-system.sh",
            "\n",
            &format!("\n# revision {n}\n"),
        );
        let stdout = e.apply_baseline().await;
        if n == 2 {
            assert!(
                stdout.contains("past retention but still in use: kept"),
                "{stdout}"
            );
        }
    }
    // `keep` counts every live version: the first is in use, so the next oldest went instead.
    let state = |e: &Env| e.baseline_images();
    let images = state(&e);
    assert_eq!(
        images.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>(),
        ["available", "deregistered", "available"],
        "{images:?}"
    );
    // Released, the first version is the oldest and goes at the next build.
    ec2.terminate_instances()
        .instance_ids(&user)
        .send()
        .await
        .unwrap();
    e.edit(
        "recipes/layered/scripts/baseline-system.sh",
        "\n",
        "\n# revision 3\n",
    );
    let stdout = e.apply_baseline().await;
    assert!(stdout.contains("retire"), "{stdout}");
    let w = e.sim.world();
    assert_eq!(
        w.ec2.images[&first].state,
        "deregistered",
        "{:?}",
        state(&e)
    );
    assert!(
        w.ec2.snapshots.values().all(|s| s.image_id != first),
        "its snapshots are deleted"
    );
    assert_eq!(
        state(&e).iter().filter(|(_, s)| s == "available").count(),
        2
    );
}

/// `recipe <verb> <recipes> --sandbox` in `dir`, with no terminal: exit code, stdout, stderr.
fn sandbox(dir: &Path, verb: &[&str], recipes: &[&str]) -> (Option<i32>, String, String) {
    recipe_in(dir, &[verb, recipes, &["--sandbox"]].concat())
}

/// The sandbox's world, as it persisted it.
fn sandbox_world(dir: &Path) -> serde_json::Value {
    let bytes = std::fs::read(dir.join(".recipe/sandbox/cloud/world.json")).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// WorkSpaces that are not terminated (or terminating).
fn live_workspaces(world: &serde_json::Value) -> Vec<String> {
    let all = world["workspaces"]["workspaces"].as_object().unwrap();
    all.values()
        .filter(|w| !matches!(w["state"].as_str(), Some("TERMINATED" | "TERMINATING")))
        .map(|w| w["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

const GATED: &str = r#"
name: gated-desktop
target: workspaces
strategy: thin
os: linux
version: 1.0.0
base: { bundle: wsb-clj85qzj1 }
builder:
  region: eu-west-2
  directory-id: d-906734325
  user-name: gatekeeper
steps:
  - shell: { run: "echo before the gate" }
  - manual:
      instructions: accept the vendor licence in the app's first-run dialog
      timeout: 1h
  - shell: { run: "echo after the gate" }
cleanup: workspaces-linux
image:
  name: gated-desktop-${version}
  description: Gated desktop ${version}
"#;

/// A `manual` step stops the apply (exit 3) with what to do and where to connect; the builder
/// WorkSpace is kept and nothing is recorded. The next apply goes on past the gate on the same
/// builder, captures, and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_gate_stops_the_apply_and_the_next_apply_goes_on_from_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gated.yaml"), GATED).unwrap();
    let run = |verb: &[&str]| sandbox(dir.path(), verb, &["gated.yaml"]);
    let (code, stdout, stderr) = tokio::task::block_in_place(|| run(&["apply", "--auto-approve"]));
    assert_eq!(code, Some(3), "{stdout}\n{stderr}");
    assert!(stdout.contains("accept the vendor licence"), "{stdout}");
    assert!(
        stdout.contains("sign in with the WorkSpaces client as gatekeeper"),
        "{stdout}"
    );
    assert!(stdout.contains("Apply paused at 1 gate(s)"), "{stdout}");
    let builders = live_workspaces(&sandbox_world(dir.path()));
    assert_eq!(
        builders.len(),
        1,
        "the builder is kept while the gate is open"
    );
    let (code, stdout, stderr) = tokio::task::block_in_place(|| run(&["apply", "--auto-approve"]));
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("gate passed"), "{stdout}");
    let world = sandbox_world(dir.path());
    assert!(live_workspaces(&world).is_empty(), "the builder is gone");
    let images = world["workspaces"]["images"].as_object().unwrap();
    assert_eq!(images.len(), 1, "one image: {images:?}");
    let (code, stdout, _) = tokio::task::block_in_place(|| run(&["plan", "--detailed-exitcode"]));
    assert_eq!(code, Some(0), "nothing left to do:\n{stdout}");
}

/// Every paused record of the journals under `dir` dated `ago` earlier (as if the person never came).
fn age_paused_gates(dir: &Path, ago: jiff::SignedDuration) {
    let at = (jiff::Timestamp::now() - ago).to_string();
    let mut aged = 0;
    for f in walk(dir)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "jsonl"))
    {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut out = String::new();
        for line in text.lines() {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["entry"]["status"] == "paused" {
                v["entry"]["at"] = serde_json::Value::String(at.clone());
                aged += 1;
            }
            out.push_str(&v.to_string());
            out.push('\n');
        }
        std::fs::write(&f, out).unwrap();
    }
    assert!(
        aged > 0,
        "no paused gate found in a journal under {}",
        dir.display()
    );
}

/// A gate's `timeout` counts from when it was shown: an apply that resumes after it fails the build
/// and releases the builder, instead of going on as if someone had acted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_gate_left_past_its_timeout_releases_the_builder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gated.yaml"), GATED).unwrap();
    let run = |verb: &[&str]| sandbox(dir.path(), verb, &["gated.yaml"]);
    let (code, stdout, stderr) = tokio::task::block_in_place(|| run(&["apply", "--auto-approve"]));
    assert_eq!(code, Some(3), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("within 1h"),
        "the gate says how long it waits:\n{stdout}"
    );
    age_paused_gates(dir.path(), jiff::SignedDuration::from_hours(2));
    let (code, stdout, stderr) = tokio::task::block_in_place(|| run(&["apply", "--auto-approve"]));
    assert_eq!(code, Some(5), "{stdout}\n{stderr}");
    assert!(stdout.contains("its timeout (1h) passed"), "{stdout}");
    assert!(!stdout.contains("gate passed"), "{stdout}");
    let world = sandbox_world(dir.path());
    assert!(
        live_workspaces(&world).is_empty(),
        "the builder is released"
    );
    let images = world["workspaces"]["images"].as_object().unwrap();
    assert!(images.is_empty(), "no image: {images:?}");
}

/// The WorkSpaces examples in the sandbox: each builder WorkSpace is created, registered with SSM
/// through its activation (the sandbox plays the person who runs the registration), built, checked,
/// cleaned, restarted and imaged; the image is tagged, copied, shared and put in its bundle; then
/// nothing is left behind (no builder, activation or managed node) and a second plan has no change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_job_builds_the_workspaces_examples_in_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["recipes/workspaces", "recipes/components"] {
        for f in walk(&root().join(sub)) {
            let to = dir.path().join(f.strip_prefix(root()).unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&f, to).unwrap();
        }
    }
    let recipes = ["recipes/workspaces"];
    let run = |verb: &[&str]| sandbox(dir.path(), verb, &recipes);
    // `--json`: the waiting events say what each action waited for (the log lines do not).
    let (code, stdout, stderr) =
        tokio::task::block_in_place(|| run(&["apply", "--auto-approve", "--json"]));
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    for step in [
        "pre-capture checks (seed 001)",
        "cleanup (workspaces-linux)",
        "cleanup (workspaces-windows)",
        "install the first-boot runner",
        "to restart",
    ] {
        assert!(stdout.contains(step), "{step}:\n{stdout}");
    }
    let world = sandbox_world(dir.path());
    let ws = &world["workspaces"];
    let images: Vec<&serde_json::Value> = ws["images"].as_object().unwrap().values().collect();
    let built = |recipe: &str, region: &str| {
        images.iter().any(|i| {
            i["tags"]["recipe:name"] == recipe && i["region"] == region && i["state"] == "AVAILABLE"
        })
    };
    for (recipe, region) in [
        ("dev-desktop-al2", "eu-west-2"),
        ("dev-desktop-al2", "eu-west-1"),
        ("contractor-desktop-al2", "eu-west-2"),
        ("office-desktop-win", "eu-west-2"),
    ] {
        assert!(built(recipe, region), "{recipe} in {region}: {images:?}");
    }
    let live = live_workspaces(&world);
    assert!(live.is_empty(), "builders left: {live:?}");
    assert!(
        world["ssm"]["activations"].as_object().unwrap().is_empty(),
        "activations left"
    );
    assert!(
        world["ssm"]["nodes"].as_object().unwrap().is_empty(),
        "managed nodes left"
    );
    let bundles: Vec<&serde_json::Value> = ws["bundles"].as_object().unwrap().values().collect();
    assert!(
        bundles.iter().any(|b| b["name"] == "dev-desktop-al2"),
        "{bundles:?}"
    );
    let shared = images.iter().any(|i| {
        i["shared_with"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "444455556666"))
    });
    assert!(shared, "the image is shared: {images:?}");
    let (code, stdout, _) = tokio::task::block_in_place(|| run(&["plan", "--detailed-exitcode"]));
    assert_eq!(code, Some(0), "nothing left to do:\n{stdout}");
}

/// The line mode, as a CI log shows it: a timestamp on each event line, no line over 200 characters,
/// at most three lines per action besides heartbeats, and a summary.
fn assert_logs_fit(stdout: &str, actions: usize) {
    let long: Vec<&str> = stdout.lines().filter(|l| l.chars().count() > 200).collect();
    assert!(long.is_empty(), "lines over 200 characters: {long:#?}");
    let stamped = |l: &&str| {
        let b = l.as_bytes();
        b.len() > 9
            && b[2] == b':'
            && b[5] == b':'
            && b[8] == b' '
            && b[..2].iter().all(u8::is_ascii_digit)
    };
    let events: Vec<&str> = stdout
        .lines()
        .filter(stamped)
        .filter(|l| !l.contains(" ⋯ "))
        .collect();
    assert!(
        !events.is_empty(),
        "event lines carry a timestamp:\n{stdout}"
    );
    assert!(
        events.len() <= 3 * actions,
        "{} event lines for {actions} actions:\n{stdout}",
        events.len()
    );
    assert!(stdout.contains("\nSummary ("), "{stdout}");
}

/// While an action waits, the line mode prints a heartbeat saying on what and for how long, as
/// Terraform's "Still creating... [2m10s elapsed]"; `--json` keeps the waiting events themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_wait_prints_a_heartbeat_in_logs() {
    let mut d = aws_sim::Durations::instant();
    d.image_create_ms = 2_500;
    let e = env_with(d).await;
    let args = [
        "apply",
        "recipes/layered",
        "--target",
        "linux-baseline",
        "--auto-approve",
    ];
    let (code, stdout, stderr) = e.run(&[&args[..], &["--heartbeat", "1s"]].concat()).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let beats: Vec<&str> = stdout.lines().filter(|l| l.contains(" ⋯ ")).collect();
    assert!(
        beats.iter().any(
            |l| l.contains("linux-baseline: wait-available: still waiting for ami-")
                && l.contains("to become available [")
                && l.contains("elapsed; running ")
        ),
        "{stdout}"
    );
}

/// `recipe` in `cwd` with the sandbox's environment.
fn recipe_in(cwd: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_recipe"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("RECIPE_STATE")
        .env_remove("RECIPE_REFRESH")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// State follows the recipes: a plan run from another folder finds it (and says which it uses).
/// With the state lost, the plan adopts the tagged images instead of building them again, `state
/// import` records them, and `state list`/`show --sandbox` read the sandbox's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_follows_the_recipes_and_lost_state_is_adopted_from_tags() {
    let top = tempfile::tempdir().unwrap();
    let repo = top.path().join("infra");
    for sub in ["recipes/layered", "recipes/components"] {
        for f in walk(&root().join(sub)) {
            let to = repo.join(f.strip_prefix(root()).unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&f, to).unwrap();
        }
    }
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    let run = |cwd: &Path, args: &[&str]| tokio::task::block_in_place(|| recipe_in(cwd, args));
    let (code, out, err) = run(
        &repo,
        &["apply", "recipes/layered", "--sandbox", "--auto-approve"],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    // From elsewhere: the same state, named on standard error.
    let (code, out, err) = run(
        top.path(),
        &[
            "plan",
            "infra/recipes/layered",
            "--sandbox",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(
        code,
        Some(0),
        "nothing to do from another folder:\n{out}\n{err}"
    );
    assert!(
        err.contains("state: infra/.recipe/sandbox/state (the sandbox's)"),
        "{err}"
    );
    // Lost state: the plan adopts what the tags say, and builds nothing.
    std::fs::remove_dir_all(repo.join(".recipe/sandbox/state")).unwrap();
    let (_, out, err) = run(&repo, &["plan", "recipes/layered", "--sandbox"]);
    assert!(out.contains("Plan: 0 to build"), "{out}\n{err}");
    assert!(
        out.contains("note: no state yet: adopted 1 version found by their tags"),
        "{out}"
    );
    // Applying the adoption records the adopted version with its updates ...
    let (code, out, err) = run(
        &repo,
        &[
            "apply",
            "recipes/layered",
            "--sandbox",
            "--auto-approve",
            "--target",
            "linux-baseline",
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let (_, shown, _) = run(&repo, &["state", "show", "linux-baseline", "--sandbox"]);
    assert!(
        shown.contains("2025.6.0"),
        "the adopted version is recorded:\n{shown}"
    );
    // ... and `state import` records the rest without applying.
    let (code, out, err) = run(&repo, &["state", "import", "recipes/layered", "--sandbox"]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("imported web-on-baseline: 1.7.1"), "{out}");
    assert!(
        !out.contains("imported linux-baseline"),
        "it has state now: {out}"
    );
    let (code, out, _) = run(&repo.join("recipes"), &["state", "list", "--sandbox"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("linux-baseline") && out.contains("web-on-baseline"),
        "{out}"
    );
    let (code, out, err) = run(
        top.path(),
        &["state", "list", "infra/recipes/layered", "--sandbox"],
    );
    assert_eq!(code, Some(0));
    assert!(
        out.contains("web-on-baseline"),
        "from elsewhere, by path: {out}"
    );
    assert!(err.contains("state: infra/.recipe/sandbox/state"), "{err}");
    let (code, out, _) = run(&repo, &["state", "show", "web-on-baseline", "--sandbox"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("1.7.1") && out.contains("eu-west-1"), "{out}");
    let (code, _, _) = run(&repo, &["state", "list"]);
    assert_eq!(code, Some(0), "the account's state is another store");
    // An apply records the adoption's remaining updates; then nothing is left to do.
    let (code, out, err) = run(
        &repo,
        &["apply", "recipes/layered", "--sandbox", "--auto-approve"],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let (code, out, _) = run(
        &repo,
        &[
            "plan",
            "recipes/layered",
            "--sandbox",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_job_builds_every_ec2_example_in_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["recipes/ec2", "recipes/layered", "recipes/components"] {
        for f in walk(&root().join(sub)) {
            let to = dir.path().join(f.strip_prefix(root()).unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&f, to).unwrap();
        }
    }
    let run = |args: &[&str]| recipe_in(dir.path(), args);

    let both = ["recipes/ec2", "recipes/layered", "--sandbox"];
    let (_, plan, _) =
        tokio::task::block_in_place(|| run(&[&["plan", "--format", "json"], &both[..]].concat()));
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let actions = plan["actions"].as_array().unwrap().len();
    let (code, stdout, stderr) =
        tokio::task::block_in_place(|| run(&[&["apply", "--auto-approve"], &both[..]].concat()));
    assert_eq!(
        code,
        Some(0),
        "{stdout}
{stderr}"
    );
    assert_logs_fit(&stdout, actions);
    for recipe in [
        "jeos-puppet",
        "orders-api-windows",
        "web-storefront",
        "linux-baseline",
        "web-on-baseline",
    ] {
        let at = stdout
            .find(&format!("\n  {recipe} "))
            .unwrap_or_else(|| panic!("{recipe} in the summary:\n{stdout}"));
        let image = stdout[at..].lines().nth(2).unwrap_or_default();
        assert!(image.contains(" ami-"), "{recipe} has images:\n{stdout}");
    }
    assert!(
        stdout.contains("sysprep"),
        "the Windows recipe is generalised:\n{stdout}"
    );
    let (code, stdout, _) = tokio::task::block_in_place(|| {
        run(&[
            "plan",
            "recipes/ec2",
            "recipes/layered",
            "--sandbox",
            "--detailed-exitcode",
        ])
    });
    assert_eq!(code, Some(0), "nothing left to do:\n{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_name_taken_by_another_build_is_never_adopted() {
    let e = env().await;
    let recipe = "recipes/layered/linux-baseline.yaml";
    e.edit(
        recipe,
        "name: linux-baseline-${version}-${timestamp}",
        "name: linux-baseline-fixed",
    );
    let args = [
        "apply",
        "recipes/layered",
        "--target",
        "linux-baseline",
        "--auto-approve",
    ];
    let (code, stdout, stderr) = e.run(&args).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    e.edit(
        "recipes/layered/scripts/baseline-system.sh",
        "\n",
        "\n# changed\n",
    );
    let (code, stdout, _) = e.run(&args).await;
    assert_eq!(code, 5, "{stdout}");
    assert!(
        stdout.contains("an image named linux-baseline-fixed already exists, from build"),
        "{stdout}"
    );
    assert_eq!(
        e.images_named("linux-baseline"),
        1,
        "the first build's image only"
    );
    assert_eq!(e.builders_running(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_copy_already_deregistered_by_hand_counts_as_done() {
    let e = env().await;
    let (code, stdout, stderr) = e.run(&["apply", "recipes/layered", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let copy = e
        .sim
        .world()
        .ec2
        .images
        .values()
        .find(|i| i.region == "eu-west-1" && i.name.starts_with("web-on-baseline"))
        .map(|i| i.id.clone())
        .expect("the copy in eu-west-1");
    let west1 = e.ec2("eu-west-1").await;
    west1
        .deregister_image()
        .image_id(&copy)
        .send()
        .await
        .unwrap();
    // The recipe no longer lists eu-west-1: the removal finds the copy gone and is done.
    let path = e.dir.path().join("recipes/layered/web-on-baseline.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("  regions: [eu-west-1]\n", "")).unwrap();
    let (code, stdout, stderr) = e.run(&["apply", "recipes/layered", "--auto-approve"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("remove copy {copy} in eu-west-1")),
        "{stdout}"
    );
    assert!(
        !stdout.contains("retrying"),
        "not retried as if it might appear: {stdout}"
    );
    let (code, stdout, _) = e
        .run(&["plan", "recipes/layered", "--detailed-exitcode"])
        .await;
    assert_eq!(code, 0, "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_that_is_missing_old_or_edited_is_refused_naming_the_file() {
    let e = env().await;
    let (code, _, stderr) = e
        .run(&["apply", "--plan", "nowhere.json", "--auto-approve"])
        .await;
    assert_eq!(code, 1, "an input error, not an output one: {stderr}");
    assert!(stderr.contains("`nowhere.json`"), "{stderr}");
    let (code, _, stderr) = e
        .run(&["plan", "recipes/layered", "--out", "plan.json"])
        .await;
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(e.dir.path().join("plan.json")).unwrap();
    let current = format!("\"format\": {}", recipe_plan::PLAN_FORMAT);
    let old = text.replacen(&current, "\"format\": 999", 1);
    std::fs::write(e.dir.path().join("old.json"), old).unwrap();
    let (code, _, stderr) = e.run(&["apply", "old.json", "--auto-approve"]).await;
    assert_eq!(code, 1);
    assert!(
        stderr.contains("`old.json` is a plan of format 999"),
        "{stderr}"
    );
    let edited = text.replacen("\"estimate_secs\": 5", "\"estimate_secs\": \"soon\"", 1);
    std::fs::write(e.dir.path().join("edited.json"), edited).unwrap();
    let (code, _, stderr) = e
        .run(&["apply", "--plan", "edited.json", "--auto-approve"])
        .await;
    assert_eq!(code, 1);
    assert!(stderr.contains("edited.json:"), "located: {stderr}");
    assert_eq!(e.builders_running(), 0);
    assert_eq!(e.images_named("linux-baseline"), 0, "nothing was built");
    // `--plan FILE` without paths plans the recipes the saved plan names.
    let (code, stdout, stderr) = e
        .run(&["apply", "--plan", "plan.json", "--auto-approve"])
        .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("Apply complete"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_that_cannot_be_written_fails_the_apply_and_releases_the_locks() {
    let e = env().await;
    // The journal's folder cannot be made: reading it, under the locks, fails.
    let blocker = e.dir.path().join(".recipe/state/runs");
    std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
    std::fs::write(&blocker, "not a folder").unwrap();
    let (code, stdout, stderr) = e.run(&["apply", "recipes/layered", "--auto-approve"]).await;
    assert_eq!(code, 4, "{stdout}\n{stderr}");
    assert!(stderr.contains("journal"), "{stderr}");
    assert!(stderr.contains("writable"), "says what to do: {stderr}");
    assert_eq!(e.builders_running(), 0, "nothing started");
    // No lock was left behind: the next apply takes them at once.
    std::fs::remove_file(&blocker).unwrap();
    let (code, stdout, stderr) = e
        .run(&[
            "apply",
            "recipes/layered",
            "--auto-approve",
            "--lock-timeout",
            "2s",
        ])
        .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_journal_says_what_to_do_and_nothing_changes() {
    let e = env().await;
    let journal = e.dir.path().join(".recipe/state/runs/r1-dead.jsonl");
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
    std::fs::write(
        &journal,
        "{ \"record\": \"begin\", \"format\": 3, \"plan\": 7 }\n",
    )
    .unwrap();
    let (code, stdout, stderr) = e.run(&["apply", "recipes/layered", "--auto-approve"]).await;
    assert_eq!(code, 4, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("runs/r1-dead.jsonl"),
        "names the file: {stderr}"
    );
    assert!(stderr.contains("to start afresh"), "{stderr}");
    assert_eq!(e.builders_running(), 0);
    assert_eq!(e.images_named("linux-baseline"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_that_failed_is_planned_again_and_repaired() {
    let e = env().await;
    e.sim.set_faults(aws_sim::Faults {
        scripted: vec![aws_sim::ScriptedFault {
            operation: "ssm:PutParameter".into(),
            nth: 1,
            status: 400,
            code: "AccessDeniedException".into(),
            message: "not allowed (injected)".into(),
            ..Default::default()
        }],
        ..Default::default()
    });
    let args = [
        "apply",
        "recipes/layered",
        "--target",
        "linux-baseline",
        "--auto-approve",
    ];
    let (code, stdout, stderr) = e.run(&args).await;
    assert_eq!(code, 5, "the rollout failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("roll out to SSM parameter /images/linux-baseline/latest"),
        "{stdout}"
    );
    // The image is built and recorded; the plan sees the parameter missing and rolls out again.
    let (code, stdout, _) = e
        .run(&["plan", "recipes/layered", "--target", "linux-baseline"])
        .await;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("SSM parameter /images/linux-baseline/latest does not exist"),
        "{stdout}"
    );
    assert!(!stdout.contains("build 1."), "no rebuild: {stdout}");
    let (code, stdout, stderr) = e.run(&args).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let (code, stdout, _) = e
        .run(&[
            "plan",
            "recipes/layered",
            "--target",
            "linux-baseline",
            "--detailed-exitcode",
        ])
        .await;
    assert_eq!(code, 0, "converged: {stdout}");
    // The parameter now holds the image.
    let ssm_value = |w: &aws_sim::World| {
        w.ssm
            .parameters
            .values()
            .find(|p| p.name == "/images/linux-baseline/latest")
            .map(|p| p.value.clone())
    };
    assert!(ssm_value(&e.sim.world()).is_some_and(|v| v.starts_with("ami-")));
}

/// Rollouts are per region: with a copy in eu-west-1, the SSM parameter there holds the copy's AMI
/// id and the one in the build region the original's (each AMI is regional); a second plan, which
/// reads the parameter in each region, has nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ssm_parameter_is_published_in_each_region_with_that_regions_ami() {
    let e = env().await;
    let path = e.dir.path().join("recipes/layered/linux-baseline.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let copied = text.replace(
        "distribute:\n  share:",
        "distribute:\n  regions: [eu-west-1]\n  share:",
    );
    assert_ne!(copied, text);
    std::fs::write(&path, copied).unwrap();
    let args = [
        "apply",
        "recipes/layered",
        "--target",
        "linux-baseline",
        "--auto-approve",
    ];
    let (code, stdout, stderr) = e.run(&args).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("roll out to SSM parameter /images/linux-baseline/latest in eu-west-1"),
        "{stdout}"
    );
    let w = e.sim.world();
    let published: Vec<(String, String)> = (w.ssm.parameters.iter())
        .filter(|(_, p)| p.name == "/images/linux-baseline/latest")
        .map(|(key, p)| (key.split('/').nth(1).unwrap().to_string(), p.value.clone()))
        .collect();
    assert_eq!(published.len(), 2, "{published:?}");
    for (region, ami) in &published {
        assert_eq!(&w.ec2.images[ami].region, region, "{published:?}");
    }
    let plan = [
        "plan",
        "recipes/layered",
        "--target",
        "linux-baseline",
        "--detailed-exitcode",
    ];
    let (code, stdout, _) = e.run(&plan).await;
    assert_eq!(code, 0, "converged: {stdout}");
}

/// Save a plan of the layered recipes, edit its JSON with `edit`, and apply it: refused with `exit`
/// (1: it contradicts itself; 4: it is not what the recipes and state give now), naming why, before
/// anything changes.
async fn edited_plan_is_refused(
    e: &Env,
    edit: impl Fn(&mut serde_json::Value),
    why: &str,
    exit: i32,
) {
    let (code, _, stderr) = e
        .run(&["plan", "recipes/layered", "--out", "plan.json"])
        .await;
    assert_eq!(code, 0, "{stderr}");
    let path = e.dir.path().join("plan.json");
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut plan);
    std::fs::write(&path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    let before = e.sim.requests().records.len();
    let (code, stdout, stderr) = e.run(&["apply", "plan.json", "--auto-approve"]).await;
    assert_eq!(code, exit, "{stdout}\n{stderr}");
    assert!(stderr.contains(why), "expected `{why}` in:\n{stderr}");
    let writes = e.writes_since(before);
    assert!(
        writes.is_empty(),
        "nothing changes in the cloud: {writes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_edited_saved_plan_is_refused_before_anything_changes() {
    let e = env().await;
    // A share with an account no recipe names.
    edited_plan_is_refused(
        &e,
        |p| {
            let share = p["actions"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .find(|a| a["action"]["kind"] == "share")
                .expect("a share action");
            share["action"]["principals"][0] = "999999999999".into();
        },
        "is not what the recipes give",
        4,
    )
    .await;
    // A dropped action (the last one, so ids stay in place).
    edited_plan_is_refused(
        &e,
        |p| {
            p["actions"].as_array_mut().unwrap().pop();
        },
        "actions where the recipes give",
        4,
    )
    .await;
    // A dependency on a later action: a cycle, or one that dangles.
    edited_plan_is_refused(
        &e,
        |p| {
            p["actions"][0]["depends_on"] = serde_json::json!([1]);
        },
        "which does not come before it",
        1,
    )
    .await;
    assert_eq!(e.builders_running(), 0);
}

/// A CI runner dies mid-build with state in S3; the next runner has nothing on its disk (another
/// machine) and finds the dead run's journal beside the state in S3: once the dead runner's lock is
/// removed, it resumes the run without making the captured image twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_killed_with_s3_state_is_resumed_by_the_next_from_the_journal_in_s3() {
    let Some(moto) = recipe_testkit::moto() else {
        return;
    };
    assert_eq!(
        moto.request("PUT", "/ci-state"),
        Some(200),
        "create the bucket"
    );
    let e = env().await;
    e.vars.lock().unwrap().extend([
        (
            "RECIPE_STATE".to_string(),
            "s3://ci-state/images".to_string(),
        ),
        ("AWS_ENDPOINT_URL_S3".to_string(), moto.url.clone()),
    ]);
    assert!(e.kill_9_after("linux-baseline: capture").await);
    assert_eq!(e.images_named("linux-baseline"), 1);
    // The next runner: a fresh checkout, nothing local.
    let _ = std::fs::remove_dir_all(e.dir.path().join(".recipe"));
    let (code, stdout, stderr) = e
        .run(&[
            "apply",
            "recipes/layered",
            "--auto-approve",
            "--lock-timeout",
            "1s",
        ])
        .await;
    assert_eq!(
        code, 4,
        "the dead runner's S3 lock is in the way: {stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("recipe state unlock linux-baseline"),
        "{stderr}"
    );
    for r in ["linux-baseline", "web-on-baseline"] {
        let (code, _, stderr) = e.run(&["state", "unlock", r]).await;
        assert_eq!(code, 0, "{stderr}");
    }
    let (stdout, stderr) = e.apply_ok(&[]).await;
    assert!(
        stderr.contains("resuming the apply interrupted"),
        "{stderr}"
    );
    assert!(stdout.contains("done in an earlier run"), "{stdout}");
    assert_eq!(e.images_named("linux-baseline"), 1, "not captured twice");
    assert_eq!(e.builders_running(), 0);
    e.assert_nothing_to_do().await;
}

impl Env {
    /// A plan of the recipes finds nothing to do.
    async fn assert_nothing_to_do(&self) {
        let (code, stdout, _) = self
            .run(&["plan", "recipes/layered", "--detailed-exitcode"])
            .await;
        assert_eq!(code, 0, "nothing left to do: {stdout}");
    }

    /// What a run must never leave: two live images with one name in a region, two builders of one
    /// build, two commands with one key.
    fn duplicates(&self) -> Vec<String> {
        let w = self.sim.world();
        let mut seen = std::collections::BTreeMap::<String, usize>::new();
        let images = w.ec2.images.values().filter(|i| i.state != "deregistered");
        for i in images.filter(|i| i.tags.contains_key("recipe:build-id")) {
            *seen
                .entry(format!("image {} {}", i.region, i.name))
                .or_default() += 1;
        }
        for i in w.ec2.instances.values() {
            if let Some(b) = i.tags.get("recipe:build-id") {
                *seen.entry(format!("builder of {b}")).or_default() += 1;
            }
        }
        for t in w.ec2.launch_templates.values() {
            for v in &t.versions {
                *seen
                    .entry(format!("version of {} with {}", t.name, v.1))
                    .or_default() += 1;
            }
        }
        for c in w.ssm.commands.values() {
            let key = c.comment.split(' ').next().unwrap_or_default();
            *seen.entry(format!("command {key}")).or_default() += 1;
        }
        seen.into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect()
    }
}

/// The fault only client tokens and idempotent retries survive: a call takes effect and its answer is
/// lost (a 500). Once for each call that makes something: no duplicate builder, image, copy or
/// command, and the apply succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_make_no_duplicate_builder_image_copy_or_command() {
    let e = env().await;
    let lost = |operation: &str, code: &str| aws_sim::ScriptedFault {
        operation: operation.into(),
        nth: 1,
        taken: true,
        status: 500,
        code: code.into(),
        ..Default::default()
    };
    e.sim.set_faults(aws_sim::Faults {
        scripted: vec![
            lost("ec2:RunInstances", "InternalError"),
            lost("ec2:CreateImage", "InternalError"),
            lost("ec2:CopyImage", "InternalError"),
            lost("ssm:SendCommand", "InternalServerError"),
            lost("ec2:TerminateInstances", "InternalError"),
        ],
        ..Default::default()
    });
    e.apply_ok(&[]).await;
    let log = e.sim.requests();
    let taken = log
        .records
        .iter()
        .filter(|r| r.fault.as_deref().is_some_and(|f| f.ends_with("(taken)")));
    assert_eq!(taken.count(), 5, "every lost answer was injected");
    assert_eq!(e.duplicates(), Vec::<String>::new());
    assert_eq!(e.builders_running(), 0);
    e.assert_nothing_to_do().await;
}

/// An answer without the id it always carries fails the action at once, naming the call (not a wait
/// on an empty id until the action times out hours later); the next apply converges and the image
/// the call did make is swept, not kept twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_missing_its_id_fails_naming_the_call_and_the_next_apply_converges() {
    let e = env().await;
    e.sim.set_faults(aws_sim::Faults {
        scripted: vec![aws_sim::ScriptedFault {
            operation: "ec2:CreateImage".into(),
            drop_member: Some("imageId".into()),
            ..Default::default()
        }],
        ..Default::default()
    });
    let (code, stdout, stderr) = e.run(&["apply", "recipes/layered", "--auto-approve"]).await;
    assert_eq!(code, 5, "{stdout}\n{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains("CreateImage") && all.contains("ImageId"),
        "{all}"
    );
    assert_eq!(e.builders_running(), 0);
    e.apply_ok(&[]).await;
    assert_eq!(e.duplicates(), Vec::<String>::new());
    e.assert_nothing_to_do().await;
}

/// An account without a default VPC refuses a launch that names no subnet (`VPCIdNotSpecified`):
/// the plan says so with the fix, apply changes nothing, and once the default VPC is back (through
/// CreateDefaultVpc, as a person would) the plan is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_default_vpc_for_a_builder_without_a_subnet_is_a_plan_finding() {
    let e = env().await;
    let recipe = "recipes/layered/linux-baseline.yaml";
    e.edit(recipe, "  subnet-id: subnet-0a1b2c3d4e5f60718\n", "");
    let ec2 = e.ec2("eu-west-2").await;
    let vpc = ec2.describe_vpcs().send().await.unwrap();
    let default = vpc.vpcs()[0].vpc_id().unwrap().to_string();
    let busy = ec2.delete_vpc().vpc_id(&default).send().await.unwrap_err();
    assert!(
        format!("{busy:?}").contains("DependencyViolation"),
        "{busy:?}"
    );
    e.sim.reset();
    ec2.delete_vpc().vpc_id(&default).send().await.unwrap();
    provide_examples_account(&e.sim);
    let args = ["recipes/layered", "--target", "linux-baseline"];
    let (code, plan, err) = e.run(&[&["plan"], &args[..]].concat()).await;
    assert_eq!(code, 4, "a problem apply would refuse: {plan}\n{err}");
    assert!(
        plan.contains("problem: the account has no default VPC in eu-west-2, where a builder without `builder.subnet-id` is launched"),
        "{plan}"
    );
    let before = e.sim.requests().records.len();
    let (code, out, err) = e
        .run(&[&["apply", "--auto-approve"], &args[..]].concat())
        .await;
    assert_eq!(code, 4, "{out}\n{err}");
    assert_eq!(e.writes_since(before), Vec::<String>::new());
    ec2.create_default_vpc().send().await.unwrap();
    let (_, plan, _) = e.run(&[&["plan"], &args[..]].concat()).await;
    assert!(!plan.contains("problem:"), "{plan}");
}

/// A builder subnet with no way to Systems Manager (a private subnet with no NAT route and no VPC
/// endpoints) is a plan finding with its fix, not a launch that waits for its timeout; with a NAT
/// route the plan is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_builder_subnet_without_a_route_to_ssm_is_a_plan_finding() {
    let e = env().await;
    let ec2 = e.ec2("eu-west-2").await;
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.1.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.1.1.0/24")
        .send()
        .await;
    let subnet = subnet
        .unwrap()
        .subnet()
        .unwrap()
        .subnet_id()
        .unwrap()
        .to_string();
    let recipe = "recipes/layered/linux-baseline.yaml";
    e.edit(recipe, "subnet-0a1b2c3d4e5f60718", &subnet);
    let args = ["recipes/layered", "--target", "linux-baseline"];
    let (code, plan, err) = e.run(&[&["plan"], &args[..]].concat()).await;
    assert_eq!(code, 4, "a problem apply would refuse: {plan}\n{err}");
    let want = format!("problem: the subnet {subnet} in eu-west-2 has no route to Systems Manager");
    assert!(plan.contains(&want), "{plan}");
    let before = e.sim.requests().records.len();
    let (code, _, err) = e
        .run(&[&["apply", "--auto-approve"], &args[..]].concat())
        .await;
    assert_eq!(code, 4, "{err}");
    assert_eq!(e.writes_since(before), Vec::<String>::new());
    // A NAT gateway and a route to it, as a platform team would add them.
    let nat = ec2
        .create_nat_gateway()
        .subnet_id(&subnet)
        .send()
        .await
        .unwrap();
    let nat = nat
        .nat_gateway()
        .unwrap()
        .nat_gateway_id()
        .unwrap()
        .to_string();
    let rtb = ec2.create_route_table().vpc_id(&vpc).send().await.unwrap();
    let rtb = rtb
        .route_table()
        .unwrap()
        .route_table_id()
        .unwrap()
        .to_string();
    let route = ec2
        .create_route()
        .route_table_id(&rtb)
        .destination_cidr_block("0.0.0.0/0");
    route.nat_gateway_id(&nat).send().await.unwrap();
    let assoc = ec2
        .associate_route_table()
        .route_table_id(&rtb)
        .subnet_id(&subnet);
    assoc.send().await.unwrap();
    let (_, plan, _) = e.run(&[&["plan"], &args[..]].concat()).await;
    assert!(!plan.contains("problem:"), "{plan}");
}

/// A new account's small vCPU quota, already used by an instance that is not a builder: the plan
/// reads the room (Service Quotas, DescribeInstances, DescribeInstanceTypes), the launch refused
/// with `VcpuLimitExceeded` waits for room instead of failing, and goes on once the other instance
/// is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_past_the_vcpu_quota_waits_for_room_instead_of_failing() {
    let mut d = aws_sim::Durations::instant();
    d.image_create_ms = 100;
    let e = env_config(aws_sim::Config {
        durations: d,
        vcpu_quota: 2,
        ..Default::default()
    })
    .await;
    let ec2 = e.ec2("eu-west-2").await;
    let image = amazon_image(&ec2).await;
    let other = ec2
        .run_instances()
        .image_id(&image)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Small)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let other = other.instances()[0].instance_id().unwrap().to_string();
    let mut child = e
        .cmd(&[
            "apply",
            "recipes/layered",
            "--target",
            "linux-baseline",
            "--auto-approve",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let queued = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        // Read up to the wait only: the rest comes once the apply ends, after the room is made.
        lines.any(|l| l.contains("\"waiting\"") && l.contains("room for the builder"))
    });
    let waited = tokio::time::timeout(std::time::Duration::from_secs(60), queued).await;
    assert!(matches!(waited, Ok(Ok(true))), "the launch waits for room");
    let refused = e
        .sim
        .requests()
        .records
        .iter()
        .filter(|r| r.operation == "ec2:RunInstances" && r.status == 400)
        .count();
    assert!(refused >= 1, "the quota refused the launch at least once");
    ec2.terminate_instances()
        .instance_ids(&other)
        .send()
        .await
        .unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(e.images_named("linux-baseline-"), 1);
}

/// Three builds in a region whose vCPU quota has room for two builders: the plan reads the room,
/// the third launch is queued by the apply until a builder ends, and the quota never refuses one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builders_are_bounded_by_the_room_the_vcpu_quota_leaves() {
    let mut d = aws_sim::Durations::instant();
    d.image_create_ms = 100;
    let e = env_config(aws_sim::Config {
        durations: d,
        vcpu_quota: 4,
        ..Default::default()
    })
    .await;
    let dir = e.dir.path().join("recipes/trio");
    std::fs::create_dir_all(&dir).unwrap();
    for n in ["one", "two", "three"] {
        let text = format!(
            "name: box-{n}\ntarget: ec2-ami\nstrategy: full\nos: linux\nversion: 1.0.0\nbase: {{ ssm-parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64 }}\nbuilder: {{ region: eu-west-2, instance-type: t3.small, subnet-id: subnet-0a1b2c3d4e5f60718, instance-profile: recipe-builder }}\nsteps:\n  - shell: {{ run: \"echo {n}\" }}\nimage: {{ name: \"box-{n}-${{version}}\" }}\n"
        );
        std::fs::write(dir.join(format!("{n}.yaml")), text).unwrap();
    }
    let (code, out, err) = e.run(&["apply", "recipes/trio", "--auto-approve"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(e.images_named("box-"), 3);
    let log = e.sim.requests();
    let refused = log
        .records
        .iter()
        .filter(|r| r.operation == "ec2:RunInstances" && r.status != 200);
    assert_eq!(refused.count(), 0, "the apply kept within the quota's room");
    assert!(log.count("servicequotas:GetServiceQuota") >= 1);
}

/// The plan's preflight reads each prerequisite once, however many recipes name it: 20 EC2 recipes
/// launched in the default VPC of one region with one instance profile make one DescribeVpcs and
/// one GetInstanceProfile (before, one of each per recipe).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preflight_reads_a_shared_prerequisite_once() {
    let e = env().await;
    let dir = e.dir.path().join("many");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..20 {
        let text = format!(
            "name: many-{i}\ntarget: ec2-ami\nstrategy: full\nos: linux\nversion: 1.0.0\nbase:\n  ssm-parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64\nbuilder:\n  region: eu-west-2\n  instance-profile: recipe-builder\nsteps:\n  - shell: {{ run: \"echo {i}\" }}\nimage:\n  name: many-{i}-${{version}}\n"
        );
        std::fs::write(dir.join(format!("many-{i}.yaml")), text).unwrap();
    }
    let (code, plan, err) = e.run(&["plan", "many"]).await;
    assert_eq!(code, 0, "{plan}\n{err}");
    let log = e.sim.requests();
    assert_eq!(log.count("ec2:DescribeVpcs"), 1, "{plan}");
    assert_eq!(log.count("iam:GetInstanceProfile"), 1, "{plan}");
}
