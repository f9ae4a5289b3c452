//! `recipe plan`, `recipe graph` and `recipe state` through the binary, against a local state folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use recipe_plan::Plan;
use recipe_state::{LocalStore, RecipeState, StateStore};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn recipe(state: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_recipe"));
    cmd.args(args)
        .current_dir(root())
        .env("RECIPE_STATE", state)
        .env("RECIPE_REFRESH", "false")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws/credentials",
        );
    outcome(cmd)
}

/// Run `cmd` without colour: its exit code, standard output and standard error.
fn outcome(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.env("NO_COLOR", "1").output().expect("run recipe");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn build_ids(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("[b2") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(']').map_or(rest.len(), |e| i + e + 1);
        out.push_str("[BUILD-ID]");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out.lines()
        .map(|l| {
            if let Some(at) = l.find(" [BUILD-ID]").filter(|_| l.contains("+ image ")) {
                // `name-1.0.0-YYYYMMDDhhmmss [BUILD-ID]`: the timestamp is the plan's.
                let name = &l[..at];
                let cut = name.rfind('-').map_or(name.len(), |d| d + 1);
                format!("{}TIMESTAMP{}", &name[..cut], &l[at..])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// How many example recipes there are, as `recipe validate` counts them.
fn examples(state: &Path) -> usize {
    let (code, stdout, _) = recipe(state, &["validate", "--format", "json", "recipes"]);
    assert_eq!(code, 0, "{stdout}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    doc["recipes"].as_array().unwrap().len()
}

#[test]
fn first_plan_builds_everything_and_exits_2_with_detailed_exitcode() {
    let state = tempfile::tempdir().unwrap();
    let n = examples(state.path());
    let (code, stdout, _) = recipe(
        state.path(),
        &["plan", "--refresh=false", "recipes", "--detailed-exitcode"],
    );
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "Plan: {n} to build, 0 to update, 0 to retire, 0 unchanged."
        )),
        "{stdout}"
    );
    let (code, _, _) = recipe(state.path(), &["plan", "--refresh=false", "recipes"]);
    assert_eq!(
        code, 0,
        "without --detailed-exitcode a successful plan exits 0"
    );
    let (_, stdout, _) = recipe(
        state.path(),
        &["plan", "--refresh=false", "recipes/layered"],
    );
    insta::assert_snapshot!("plan_layered_human", build_ids(&stdout));
    let (_, stdout, _) = recipe(
        state.path(),
        &["plan", "recipes/layered", "--format", "markdown"],
    );
    assert!(stdout.starts_with("### recipe plan"), "{stdout}");
    assert!(stdout.contains("| + | `web-on-baseline` |"), "{stdout}");
}

#[test]
fn saved_plan_is_json_with_its_basis_and_round_trips() {
    let state = tempfile::tempdir().unwrap();
    let out = state.path().join("plan.json");
    let o = out.to_string_lossy().into_owned();
    let (code, stdout, stderr) = recipe(
        state.path(),
        &["plan", "recipes", "--format", "json", "--out", &o],
    );
    assert_eq!(code, 0, "{stderr}");
    let printed: Plan = serde_json::from_str(&stdout).expect("stdout is the plan");
    let saved: Plan = serde_json::from_str(&std::fs::read_to_string(&out).unwrap())
        .expect("the file is the plan");
    assert_eq!(printed, saved);
    assert_eq!(saved.basis.fingerprints.len(), examples(state.path()));
    assert!(
        saved.basis.state.values().all(Option::is_none),
        "no state yet"
    );
    assert!(stderr.contains("saved the plan to"), "{stderr}");
}

#[test]
fn target_selects_a_recipe_and_its_parents() {
    let state = tempfile::tempdir().unwrap();
    let (code, stdout, _) = recipe(
        state.path(),
        &[
            "plan",
            "recipes",
            "--target",
            "web-on-baseline",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0);
    let plan: Plan = serde_json::from_str(&stdout).unwrap();
    let names: Vec<&str> = plan.recipes.iter().map(|r| r.recipe.as_str()).collect();
    assert_eq!(names, ["linux-baseline", "web-on-baseline"]);
    let (code, _, stderr) = recipe(
        state.path(),
        &["plan", "recipes", "--target", "web-on-basline"],
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no recipe named `web-on-basline`"),
        "{stderr}"
    );
}

/// `--target` is repeatable: each target with its parents, once; `--quiet` prints the summary line.
#[test]
fn targets_can_be_given_more_than_once() {
    let state = tempfile::tempdir().unwrap();
    let args = [
        "plan",
        "recipes",
        "--target",
        "web-on-baseline",
        "--target",
        "web-storefront",
        "--target",
        "linux-baseline",
    ];
    let (code, stdout, _) = recipe(state.path(), &[&args[..], &["--format", "json"]].concat());
    assert_eq!(code, 0);
    let plan: Plan = serde_json::from_str(&stdout).unwrap();
    let mut names: Vec<&str> = plan.recipes.iter().map(|r| r.recipe.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["linux-baseline", "web-on-baseline", "web-storefront"]
    );
    let (code, stdout, _) = recipe(state.path(), &[&args[..], &["--quiet"]].concat());
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "Plan: 3 to build, 0 to update, 0 to retire, 0 unchanged.\n"
    );
}

#[test]
fn invalid_recipes_are_reported_and_nothing_is_planned() {
    let state = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = recipe(
        state.path(),
        &[
            "plan",
            "crates/recipe-loader/tests/fixtures/invalid/duplicate-key.yaml",
        ],
    );
    assert_eq!(code, 1);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("recipe::parse::duplicate-key"), "{stderr}");
}

#[test]
fn estimates_are_configurable_and_checked() {
    let state = tempfile::tempdir().unwrap();
    let plan = |extra: &[&str]| {
        let mut args = vec![
            "plan",
            "--refresh=false",
            "recipes/layered",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = recipe(state.path(), &args);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str::<Plan>(&stdout).unwrap()
    };
    let base = plan(&[]).critical_path.total_secs;
    let slower = plan(&["--estimate", "wait-available=2h"])
        .critical_path
        .total_secs;
    assert!(slower > base, "{slower} > {base}");
    let (code, _, stderr) = recipe(
        state.path(),
        &["plan", "recipes", "--estimate", "teleport=1m"],
    );
    assert_eq!(code, 64);
    assert!(
        stderr.contains("unknown action kind `teleport`"),
        "{stderr}"
    );
}

#[test]
fn graph_prints_dot_and_mermaid() {
    let state = tempfile::tempdir().unwrap();
    let (code, dot, _) = recipe(
        state.path(),
        &["graph", "--refresh=false", "recipes/layered"],
    );
    assert_eq!(code, 0);
    assert!(dot.starts_with("digraph plan {"), "{dot}");
    assert!(
        dot.contains("style=bold, color=red"),
        "the critical path is marked"
    );
    let (code, mermaid, _) = recipe(
        state.path(),
        &["graph", "recipes/layered", "--format", "mermaid"],
    );
    assert_eq!(code, 0);
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    assert!(mermaid.contains("subgraph web-on-baseline"), "{mermaid}");
}

#[test]
fn after_the_builds_are_recorded_nothing_changes_and_state_commands_show_them() {
    let state = tempfile::tempdir().unwrap();
    let (_, stdout, _) = recipe(
        state.path(),
        &["plan", "recipes/layered", "--format", "json"],
    );
    let plan: Plan = serde_json::from_str(&stdout).unwrap();
    // Record each planned build as completed, as the engine will.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = LocalStore::new(state.path());
    // Every action succeeded; each region got an image.
    let mut outputs = recipe_plan::Outputs::default();
    for (n, rp) in plan.recipes.iter().enumerate() {
        let b = rp.build.as_ref().unwrap();
        for (i, r) in b.regions.iter().enumerate() {
            let id = format!("ami-{:017x}", n * 10 + i);
            outputs.add(&rp.recipe, &recipe_plan::RecipeOutputs::image(r, id));
        }
    }
    let succeeded = plan.actions.iter().map(|a| a.id).collect();
    let applied = recipe_plan::Applied {
        succeeded: &succeeded,
        outputs: &outputs,
        now: plan.created_at,
    };
    for doc in recipe_plan::record(&plan, &applied, &BTreeMap::new()) {
        rt.block_on(store.save(&doc, None)).unwrap();
    }
    let (code, stdout, _) = recipe(
        state.path(),
        &["plan", "recipes/layered", "--detailed-exitcode"],
    );
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("No changes"), "{stdout}");
    // The saved plan is now stale.
    let fresh = recipe(
        state.path(),
        &["plan", "recipes/layered", "--format", "json"],
    )
    .1;
    let fresh: Plan = serde_json::from_str(&fresh).unwrap();
    assert!(plan.check_fresh(&fresh).is_err());

    let (code, list, _) = recipe(state.path(), &["state", "list"]);
    assert_eq!(code, 0);
    assert!(
        list.contains("linux-baseline") && list.contains("web-on-baseline"),
        "{list}"
    );
    let (code, show, _) = recipe(
        state.path(),
        &["state", "show", "web-on-baseline", "--format", "json"],
    );
    assert_eq!(code, 0);
    let doc: RecipeState = serde_json::from_str(&show).unwrap();
    assert_eq!(doc.versions.len(), 1);
    let (code, _, stderr) = recipe(state.path(), &["state", "show", "nope"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no state for `nope`"), "{stderr}");
}

#[test]
fn state_unlock_removes_a_dead_runs_lock_and_corruption_is_reported() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        state.path().join("web.lock"),
        r#"{"owner":"ci@runner-7","pid":4242,"host":"runner-7","operation":"apply","since":"2026-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let (code, stdout, _) = recipe(state.path(), &["state", "unlock", "web"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("held by ci@runner-7 (pid 4242, apply"),
        "{stdout}"
    );
    assert!(!state.path().join("web.lock").exists());
    let (_, stdout, _) = recipe(state.path(), &["state", "unlock", "web"]);
    assert!(stdout.contains("was not locked"), "{stdout}");

    std::fs::write(
        state.path().join("linux-baseline.json"),
        "{\"format\": 1, \"revision\": 3, \"checksum\": \"sha256:00\", \"state\": {}}",
    )
    .unwrap();
    let (code, _, stderr) = recipe(
        state.path(),
        &["plan", "--refresh=false", "recipes/layered"],
    );
    assert_eq!(code, 4);
    assert!(stderr.contains("recipe::state::corrupt"), "{stderr}");
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
}

#[test]
fn s3_state_through_the_standard_aws_environment() {
    let Some(moto) = recipe_testkit::moto() else {
        return;
    };
    assert_eq!(
        moto.request("PUT", "/recipe-state"),
        Some(200),
        "create the bucket"
    );
    let run = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_recipe"));
        cmd.args(args)
            .current_dir(root())
            .env("AWS_ENDPOINT_URL_S3", &moto.url)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("RECIPE_REFRESH", "false")
            .env_remove("RECIPE_STATE");
        outcome(cmd)
    };
    let (code, stdout, stderr) = run(&[
        "plan",
        "recipes/layered",
        "--state",
        "s3://recipe-state/ci",
        "--detailed-exitcode",
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.contains("2 to build"), "{stdout}");
    let (code, stdout, _) = run(&["state", "list", "--state", "s3://recipe-state/ci"]);
    assert_eq!(code, 0);
    assert_eq!(stdout.trim(), "no state yet");
    // A bucket that does not exist is a clear error, not an empty plan.
    let (code, _, stderr) = run(&[
        "plan",
        "recipes/layered",
        "--state",
        "s3://no-such-bucket/ci",
    ]);
    assert_eq!(code, 4);
    assert!(
        stderr.contains("recipe::state::backend") && stderr.contains("NoSuchBucket"),
        "{stderr}"
    );
}

const NO_REGION: &str = "name: anywhere\ndescription: a recipe without builder.region\ntarget: ec2-ami\nstrategy: zero\nos: linux\nversion: 1.0.0\nbase: { image-id: ami-0123456789abcdef0 }\nimage: { name: \"anywhere-${build_id}\" }\n";

const AWS_CONFIG: &str =
    "[default]\nregion = us-west-2\n\n[profile dev]\nregion = ap-southeast-2\n";

/// `recipe plan` of a recipe without `builder.region`, with only `env` set of the AWS environment.
fn plan_where(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("anywhere.yaml"), NO_REGION).unwrap();
    let config = dir.path().join("aws-config");
    std::fs::write(&config, AWS_CONFIG).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_recipe"));
    c.arg("plan")
        .arg(dir.path().join("anywhere.yaml"))
        .arg("--refresh=false")
        .args(args)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("RECIPE_STATE", dir.path().join("state"))
        .env("HOME", dir.path())
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .env_remove("RECIPE_REFRESH");
    for v in ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"] {
        c.env_remove(v);
    }
    c.envs(env.iter().copied());
    if !args.contains(&"--format") {
        c.args(["--format", "json"]);
    }
    outcome(c)
}

/// The plan's default region and its source, and the build's home region.
fn where_it_builds(stdout: &str) -> (String, String, String) {
    let plan: Plan = serde_json::from_str(stdout).unwrap();
    let home = plan.recipes[0].build.as_ref().unwrap().home_region.clone();
    (plan.cloud.region, plan.cloud.region_source, home)
}

#[test]
fn the_build_region_comes_from_the_standard_aws_chain() {
    let (code, out, err) = plan_where(&[], &[("AWS_DEFAULT_REGION", "eu-west-3")]);
    assert_eq!(code, 0, "{err}");
    let want = (
        "eu-west-3".to_string(),
        "AWS_DEFAULT_REGION".to_string(),
        "eu-west-3".to_string(),
    );
    assert_eq!(where_it_builds(&out), want);
    // AWS_REGION wins over AWS_DEFAULT_REGION, --region over both.
    let env = [
        ("AWS_REGION", "eu-central-1"),
        ("AWS_DEFAULT_REGION", "eu-west-3"),
    ];
    let (_, out, _) = plan_where(&[], &env);
    assert_eq!(where_it_builds(&out).1, "AWS_REGION");
    let (_, out, _) = plan_where(&["--region", "sa-east-1"], &env);
    assert_eq!(where_it_builds(&out).2, "sa-east-1");
    // No environment: the default profile's region.
    let (_, out, _) = plan_where(&[], &[]);
    assert_eq!(where_it_builds(&out).0, "us-west-2");
}

#[test]
fn a_profile_by_flag_or_environment_gives_its_region() {
    let (code, out, err) = plan_where(&["--profile", "dev"], &[]);
    assert_eq!(code, 0, "{err}");
    let want = (
        "ap-southeast-2".to_string(),
        "profile dev".to_string(),
        "ap-southeast-2".to_string(),
    );
    assert_eq!(where_it_builds(&out), want);
    let (_, out, _) = plan_where(&[], &[("AWS_PROFILE", "dev")]);
    assert_eq!(where_it_builds(&out).0, "ap-southeast-2");
    // The human plan says where it builds.
    let (_, human, _) = plan_where(&["--profile", "dev", "--format", "human"], &[]);
    assert!(
        human.contains("Default build region ap-southeast-2 (from profile dev)"),
        "{human}"
    );
}

#[test]
fn a_missing_profile_or_region_is_an_error_that_says_what_to_set() {
    let (code, out, err) = plan_where(&["--profile", "prod"], &[]);
    assert_eq!(code, 4, "{out}");
    assert!(
        err.contains("the AWS profile `prod` is not defined"),
        "{err}"
    );
    assert!(
        err.contains("default, dev;"),
        "the profiles that exist are named: {err}"
    );
    assert!(!err.contains("check the credentials"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let (code, _, err) = plan_where(&[], &[("AWS_CONFIG_FILE", empty.to_str().unwrap())]);
    assert_eq!(code, 4);
    assert!(err.contains("no AWS region is set"), "{err}");
    assert!(err.contains("AWS_DEFAULT_REGION"), "{err}");
}

/// A state document that cannot be read is reported once, with why (not the cause a second time).
#[test]
fn an_unreadable_state_document_is_reported_once() {
    let state = tempfile::tempdir().unwrap();
    // A folder where the document should be: unreadable as a file even for root.
    std::fs::create_dir(state.path().join("linux-baseline.json")).unwrap();
    let (code, _, stderr) = recipe(
        state.path(),
        &["plan", "--refresh=false", "recipes/layered"],
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("recipe::state::io"), "{stderr}");
    let why = "Is a directory";
    assert_eq!(stderr.matches(why).count(), 1, "{stderr}");
}

/// Run where there is no `recipes` folder and with no PATHS, the finding says `recipes` was the
/// default and what to pass instead.
#[test]
fn a_missing_default_path_says_it_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_recipe"))
        .arg("validate")
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`recipes` is the folder read when no PATHS are given"),
        "{stderr}"
    );
}

/// `recipe` in `cwd` with no state location given (it is found from the paths).
fn recipe_in(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_recipe"));
    cmd.args(args).current_dir(cwd).env_remove("RECIPE_STATE");
    outcome(cmd)
}

/// Without `.git` or `.recipe/` above the recipes, state is in the current folder and said to be;
/// `state list PATHS` reads the state of those recipes from any folder.
#[test]
fn state_is_found_from_the_paths_and_its_place_is_named() {
    let top = tempfile::tempdir().unwrap();
    let recipes = top.path().join("infra/recipes");
    std::fs::create_dir_all(&recipes).unwrap();
    std::fs::write(recipes.join("a.yaml"), "name: a\n").unwrap();
    let (code, out, err) = recipe_in(top.path(), &["state", "list", "infra/recipes"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("no state yet"), "{out}");
    assert!(
        err.contains("state: .recipe/state (in the current folder, as no `.git` or `.recipe/` is above the recipes"),
        "{err}"
    );
    let store = LocalStore::new(top.path().join("infra/.recipe/state"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(store.save(&RecipeState::new("a"), None))
        .unwrap();
    let (code, out, err) = recipe_in(top.path(), &["state", "list", "infra/recipes"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("no state yet"), "{out}");
    assert!(
        err.contains(
            "state: infra/.recipe/state (next to the recipes: the nearest `.recipe/` above them)"
        ),
        "{err}"
    );
    let (_, out, _) = recipe_in(top.path(), &["state", "list"]);
    assert!(out.contains("no state yet"), "the current folder's: {out}");
}
