//! `recipe plan`, `recipe graph` and `recipe state` through the binary, against a local state folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use recipe_plan::Plan;
use recipe_state::{LocalStore, RecipeState, RegionImage, StateStore};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn recipe(state: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_recipe"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("RECIPE_STATE", state)
        .env("RECIPE_REFRESH", "false")
        .env_remove("AWS_REGION")
        .output()
        .expect("run recipe");
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
            if l.contains("image b2") {
                "    + image BUILD-ID  (captured, tagged, then copied and shared)"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn first_plan_builds_everything_and_exits_2_with_detailed_exitcode() {
    let state = tempfile::tempdir().unwrap();
    let (code, stdout, _) = recipe(
        state.path(),
        &["plan", "--refresh=false", "recipes", "--detailed-exitcode"],
    );
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stdout.contains("Plan: 11 to build, 0 to update, 0 to retire, 0 unchanged."),
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
    assert_eq!(saved.basis.fingerprints.len(), 11);
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

#[test]
fn invalid_recipes_are_reported_and_nothing_is_planned() {
    let state = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = recipe(
        state.path(),
        &["plan", "tests/fixtures/invalid/duplicate-key.yaml"],
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
    for (n, rp) in plan.recipes.iter().enumerate() {
        let b = rp.build.as_ref().unwrap();
        let images: BTreeMap<String, RegionImage> = b
            .regions
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    r.clone(),
                    RegionImage {
                        image_id: format!("ami-{:017x}", n * 10 + i),
                        snapshot_ids: vec![],
                    },
                )
            })
            .collect();
        let v = recipe_plan::record::completed_version(rp, images, None, plan.created_at).unwrap();
        let doc = RecipeState {
            recipe: rp.recipe.clone(),
            versions: vec![v],
        };
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
    assert!(plan.check_fresh(&fresh.basis).is_err());

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
    assert_eq!(code, 1);
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
        let out = Command::new(env!("CARGO_BIN_EXE_recipe"))
            .args(args)
            .current_dir(root())
            .env("NO_COLOR", "1")
            .env("AWS_ENDPOINT_URL_S3", &moto.url)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("RECIPE_REFRESH", "false")
            .env_remove("RECIPE_STATE")
            .output()
            .expect("run recipe");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
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
    assert_eq!(code, 1);
    assert!(
        stderr.contains("recipe::state::backend") && stderr.contains("NoSuchBucket"),
        "{stderr}"
    );
}
