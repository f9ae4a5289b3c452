//! CLI tests: run the `recipe` binary and snapshot exit code, stdout and stderr.
//!
//! - every fixture under `tests/fixtures/invalid/` (a top-level file, or a top-level folder loaded as
//!   one set) exits 1, names `file:line:col`, and its rendered diagnostics match a snapshot;
//! - every valid fixture and the example recipes exit 0;
//! - `--format json` carries the same diagnostics as data;
//! - the committed schemas match the model.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn recipe(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_recipe"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run recipe");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn entries(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join(dir))
        .expect("fixture folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .map(|p| format!("{dir}/{}", p.file_name().expect("name").to_string_lossy()))
        .collect();
    v.sort();
    v
}

fn expected_codes(path: &str) -> Vec<String> {
    let full = root().join(path);
    let file = if full.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&full)
            .expect("case folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files.into_iter().next().expect("case folder has a file")
    } else {
        full
    };
    let text = std::fs::read_to_string(file).expect("fixture text");
    let first = text.lines().next().unwrap_or_default();
    let Some(rest) = first.strip_prefix("# expect:") else {
        return vec![];
    };
    rest.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| w.starts_with("recipe::"))
        .map(|w| w.trim_matches(|c: char| c == '`' || c == '.').to_string())
        .collect()
}

/// Validate every case in a fixture folder: expected codes, exit code, located findings with help, and
/// a snapshot of the rendered output.
fn check_fixtures(dir: &str, expect_errors: bool) -> usize {
    let cases = entries(dir);
    let kind = dir.rsplit('/').next().expect("folder name");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(format!("snapshots/{kind}"));
    settings.set_prepend_module_to_snapshot(false);
    let _guard = settings.bind_to_scope();
    for case in &cases {
        let human = recipe(&["validate", case]);
        let json = recipe(&["validate", "--format", "json", case]);
        let doc: serde_json::Value =
            serde_json::from_str(&json.stdout).expect("json output parses");
        let diags = doc["diagnostics"].as_array().expect("diagnostics");
        let codes: Vec<&str> = diags
            .iter()
            .map(|d| d["code"].as_str().expect("code"))
            .collect();
        let expected = expected_codes(case);
        assert!(
            !expected.is_empty(),
            "{case}: first line must say `# expect: <code>`"
        );
        for code in &expected {
            assert!(
                codes.contains(&code.as_str()),
                "{case}: expected {code}, got {codes:?}"
            );
        }
        let errors = doc["errors"].as_u64().expect("errors");
        if expect_errors {
            assert!(
                errors > 0,
                "{case}: an invalid fixture must have an error, got {codes:?}"
            );
            assert_eq!(human.code, 1, "{case}: exit code");
            assert_eq!(json.code, 1, "{case}: exit code with --format json");
        } else {
            assert_eq!(
                errors, 0,
                "{case}: a warning fixture must have no error, got {codes:?}"
            );
            assert_eq!(human.code, 0, "{case}: warnings alone exit 0");
        }
        // Every diagnostic names its file; all but whole-file I/O errors name a line and column.
        for d in diags {
            assert!(d.get("file").is_some(), "{case}: {d} names no file");
            if !d["code"]
                .as_str()
                .unwrap_or_default()
                .starts_with("recipe::io::")
            {
                assert!(
                    d["line"].as_u64().is_some_and(|l| l > 0),
                    "{case}: {d} has no line"
                );
                assert!(
                    d["column"].as_u64().is_some_and(|c| c > 0),
                    "{case}: {d} has no column"
                );
                let file = d["file"].as_str().expect("file");
                let loc = format!("{file}:{}:{}", d["line"], d["column"]);
                assert!(
                    human.stderr.contains(&loc),
                    "{case}: human output lacks {loc}:\n{}",
                    human.stderr
                );
            }
            assert!(
                !d["help"].as_str().unwrap_or_default().is_empty(),
                "{case}: {d} has no help"
            );
        }
        let name = case
            .trim_start_matches(&format!("{dir}/"))
            .trim_end_matches(".yaml")
            .replace('/', "__");
        insta::assert_snapshot!(name, format!("exit: {}\n{}", human.code, human.stderr));
    }
    cases.len()
}

#[test]
fn invalid_fixtures_fail_with_located_diagnostics() {
    let n = check_fixtures("tests/fixtures/invalid", true);
    assert!(n >= 40, "expected at least 40 invalid fixtures, found {n}");
}

#[test]
fn warning_fixtures_pass_with_located_warnings() {
    let n = check_fixtures("tests/fixtures/warnings", false);
    assert!(n >= 5, "expected the warning fixtures, found {n}");
}

/// Validation is pure: no socket is even opened. Runs the binary under strace over every fixture.
#[test]
#[expect(
    clippy::print_stderr,
    reason = "say why the check is skipped outside CI"
)]
fn validate_makes_no_network_call() {
    let have_strace = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_strace {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have strace (.ci/run installs it)"
        );
        eprintln!("strace not installed: skipping the no-network check");
        return;
    }
    let log = std::env::temp_dir().join(format!("recipe-strace-{}", std::process::id()));
    let out = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=socket,connect,sendto,sendmsg",
            "-o",
        ])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_recipe"))
        .args([
            "validate",
            "--format",
            "json",
            "tests/fixtures/invalid",
            "tests/fixtures/warnings",
            "recipes",
        ])
        .current_dir(root())
        .output()
        .expect("run strace");
    assert_eq!(
        out.status.code(),
        Some(1),
        "the invalid fixtures make the run invalid"
    );
    let trace = std::fs::read_to_string(&log).expect("strace log");
    let _ = std::fs::remove_file(&log);
    let calls: Vec<&str> = trace
        .lines()
        .filter(|l| !l.contains("+++") && !l.contains("---"))
        .collect();
    assert!(
        calls.is_empty(),
        "validate made network system calls:\n{}",
        calls.join("\n")
    );
}

#[test]
fn valid_fixtures_and_examples_pass() {
    for case in entries("tests/fixtures/valid")
        .into_iter()
        .chain(["recipes".to_string()])
    {
        let run = recipe(&["validate", &case]);
        assert_eq!(run.code, 0, "{case} should validate:\n{}", run.stderr);
        assert!(run.stderr.contains("valid:"), "{case}: {}", run.stderr);
    }
}

#[test]
fn examples_cover_every_target_and_strategy() {
    let run = recipe(&["validate", "--format", "json", "recipes"]);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let recipes = doc["recipes"].as_array().expect("recipes");
    for target in ["ec2-ami", "workspaces", "appstream"] {
        for strategy in ["full", "thin", "zero"] {
            assert!(
                recipes
                    .iter()
                    .any(|r| r["target"] == target && r["strategy"] == strategy),
                "no example recipe for {target} × {strategy}"
            );
        }
    }
    for r in recipes {
        let file = root().join(r["file"].as_str().expect("file"));
        let text = std::fs::read_to_string(&file).expect("recipe text");
        assert!(
            text.starts_with("# yaml-language-server: $schema="),
            "{} lacks the schema modeline",
            file.display()
        );
    }
}

#[test]
fn committed_schemas_match_the_model() {
    let run = recipe(&["schema", "--check"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn schema_check_detects_drift() {
    let dir = std::env::temp_dir().join(format!("recipe-schema-drift-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("recipe.schema.json"), "{}\n").expect("write");
    let d = dir.to_string_lossy().into_owned();
    let run = recipe(&["schema", "--check", "--dir", &d]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("out of date"), "{}", run.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    let run = recipe(&["validate", "--no-such-flag"]);
    assert_eq!(run.code, 64, "{}", run.stderr);
    let run = recipe(&["--help"]);
    assert_eq!(run.code, 0);
    insta::assert_snapshot!("help", run.stdout);
    let run = recipe(&["--version"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("recipe "), "{}", run.stdout);
}

#[test]
fn missing_path_is_reported() {
    let run = recipe(&["validate", "no/such/dir"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("cannot read `no/such/dir`"),
        "{}",
        run.stderr
    );
}

#[test]
fn var_overrides_reach_the_recipe() {
    // Without a value the variable is an error; `--var` supplies it.
    let dir = std::env::temp_dir().join(format!("recipe-var-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("v.yaml");
    std::fs::write(
        &file,
        "name: v\ntarget: ec2-ami\nstrategy: full\nos: linux\nversion: 1.0.0\nvariables:\n  size: {}\nbase: { image-id: ami-0123456789abcdef0 }\nbuilder: { instance-type: \"${size}\" }\nimage: { name: \"v-${size}\" }\n",
    )
    .expect("write");
    let f = file.to_string_lossy().into_owned();
    let without = recipe(&["validate", "--format", "json", &f]);
    assert_eq!(without.code, 1);
    assert!(
        without.stdout.contains("recipe::var::no-value"),
        "{}",
        without.stdout
    );
    let with = recipe(&["validate", "--var", "size=t3.large", &f]);
    assert_eq!(with.code, 0, "{}", with.stderr);
    let bad = recipe(&["validate", "--var", "size=stream.standard.small", &f]);
    assert_eq!(
        bad.code, 1,
        "the override must be checked like a literal: {}",
        bad.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lint_scores_examples_by_principle() {
    let run = recipe(&["lint", "--format", "json", "recipes"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let recipes = doc["recipes"].as_array().expect("recipes");
    assert!(!recipes.is_empty());
    for r in recipes {
        let principles: Vec<&str> = r["principles"]
            .as_array()
            .expect("principles")
            .iter()
            .map(|p| p["principle"].as_str().expect("name"))
            .collect();
        assert_eq!(
            principles,
            [
                "Automation",
                "Cost Optimization",
                "Efficient",
                "Flexibility",
                "Productivity",
                "Scalability",
                "Security",
                "Supportability"
            ]
        );
    }
}

#[test]
fn lint_reports_what_to_change() {
    let run = recipe(&["lint", "tests/fixtures/lint/bare.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("lint-bare", run.stdout);
}

#[test]
fn var_override_for_no_recipe_is_a_warning() {
    let run = recipe(&[
        "validate",
        "--format",
        "json",
        "--var",
        "no_such_var=1",
        "recipes",
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("recipe::var::override-unused"),
        "{}",
        run.stdout
    );
}
