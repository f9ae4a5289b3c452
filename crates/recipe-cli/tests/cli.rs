//! CLI tests: run the `recipe` binary and snapshot exit code, stdout and stderr.
//!
//! - a few loader fixtures, rendered end to end (every fixture is tested in `recipe-loader`);
//! - the example recipes exit 0;
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

const FIXTURES: &str = "crates/recipe-loader/tests/fixtures";

/// The binary renders what the loader found with file:line:col and help, exits 1 on errors and 0 on
/// warnings alone. (Every fixture is checked, one test each, in the loader's own tests; these few
/// cases check the rendering end to end.)
#[test]
fn the_binary_renders_findings_with_their_location() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots/rendered");
    settings.set_prepend_module_to_snapshot(false);
    let _guard = settings.bind_to_scope();
    for (case, exit) in [
        ("invalid/duplicate-key.yaml", 1),
        ("invalid/unknown-field-in-builder.yaml", 1),
        ("warnings/distribute-duplicate-region-warning.yaml", 0),
    ] {
        let path = format!("{FIXTURES}/{case}");
        let human = recipe(&["validate", &path]);
        assert_eq!(human.code, exit, "{case}: {}", human.stderr);
        let json = recipe(&["validate", "--format", "json", &path]);
        let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("json output");
        for d in doc["diagnostics"].as_array().expect("diagnostics") {
            let loc = format!(
                "{}:{}:{}",
                d["file"].as_str().unwrap(),
                d["line"],
                d["column"]
            );
            assert!(
                human.stderr.contains(&loc),
                "{case}: no {loc} in\n{}",
                human.stderr
            );
        }
        let name = case.trim_end_matches(".yaml").replace('/', "__");
        insta::assert_snapshot!(name, format!("exit: {}\n{}", human.code, human.stderr));
    }
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
            "crates/recipe-loader/tests/fixtures/invalid",
            "crates/recipe-loader/tests/fixtures/warnings",
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
fn the_examples_pass() {
    let run = recipe(&["validate", "recipes"]);
    assert_eq!(run.code, 0, "the examples should validate:\n{}", run.stderr);
    assert!(run.stderr.contains("valid:"), "{}", run.stderr);
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

/// `recipe completions SHELL` prints a script that completes the subcommands, for each shell.
#[test]
fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _recipe"),
        ("zsh", "#compdef recipe"),
        ("fish", "complete -c recipe"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let run = recipe(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(run.stdout.contains(marker), "{shell}:\n{}", run.stdout);
        assert!(
            run.stdout.contains("apply"),
            "{shell} completes the subcommands"
        );
    }
    assert_eq!(recipe(&["completions", "tcsh"]).code, 64);
}

/// A file that is not UTF-8 is located (line and column of the first invalid byte) and its likely
/// encoding named with the command that converts it; nothing else is reported about it.
#[test]
fn a_file_that_is_not_utf8_is_located_and_its_encoding_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latin.yaml");
    std::fs::write(&file, b"name: latin\ndescription: caf\xe9 menu\n").unwrap();
    let run = recipe(&["validate", "--format", "json", file.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let d = &doc["diagnostics"][0];
    assert_eq!(d["code"], "recipe::io::not-utf8", "{d}");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(2), Some(17)),
        "{d}"
    );
    assert!(
        d["help"]
            .as_str()
            .unwrap()
            .contains("iconv -f LATIN1 -t UTF-8"),
        "{d}"
    );
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
        let overall = r["overall"].as_f64().expect("the overall score");
        assert!((1.0..=5.0).contains(&overall), "{r}");
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
    let run = recipe(&["lint", "crates/recipe-loader/tests/fixtures/lint/bare.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("lint-bare", run.stdout);
}

const LINTED: &str = r#"name: linted
description: a web server
target: ec2-ami
strategy: full
os: linux
version: 1.0.0
base: { ssm-parameter: BASE }
steps:
  - packages: { install: [amazon-cloudwatch-agent, osquery] }
  - shell: { run: "amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c ssm:/cw/web && echo --tls_hostname=fleet > /etc/osquery/osquery.flags" }
tests:
  - shell: { run: "true" }
cleanup: linux
image:
  name: "linted-${version}"
  tags: { Software: nginx, Role: web, System: shop, Project: shop, CostCenter: "1", Stage: prod, Confidentiality: internal, Compliance: none }
retain: { keep: 3 }
"#;

/// Findings come from facts: Amazon Linux 2023 ships the SSM Agent, so its recipe is not told to
/// install a configuration-management agent, while a Debian one is; a rule switched off with a reason
/// is neither scored nor reported; `--min-score` fails CI below the score and passes at or above it.
#[test]
fn lint_uses_base_facts_rule_switches_and_gates_on_a_minimum_score() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    };
    let al = write(
        "al.yaml",
        LINTED.replace(
            "BASE",
            "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
        ),
    );
    let run = recipe(&["lint", &al]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains("no-cm-agent"), "{}", run.stdout);
    let debian = write(
        "debian.yaml",
        LINTED.replace("BASE", "/aws/service/debian/release/bookworm/latest/amd64"),
    );
    let run = recipe(&["lint", &debian]);
    assert!(
        run.stdout.contains("[recipe::lint::no-cm-agent]"),
        "{}",
        run.stdout
    );
    let low = recipe(&["lint", &debian, "--min-score", "5"]);
    assert_eq!(low.code, 1, "{}", low.stdout);
    assert!(
        low.stderr
            .contains("below the minimum score 5.0: linted (4."),
        "{}",
        low.stderr
    );
    assert_eq!(recipe(&["lint", &debian, "--min-score", "4"]).code, 0);
    let ignored = write(
        "ignored.yaml",
        format!(
            "{}lint:\n  ignore:\n    - {{ rule: no-cm-agent, reason: the platform configures these servers through its own pipeline }}\n",
            LINTED.replace("BASE", "/aws/service/debian/release/bookworm/latest/amd64")
        ),
    );
    let run = recipe(&["lint", &ignored, "--min-score", "5"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "switched off: no-cm-agent (the platform configures these servers through its own pipeline)"
        ),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("[recipe::lint::no-cm-agent]"),
        "{}",
        run.stdout
    );
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

/// A default region from `--region` or the environment is checked like a recipe's: a typo is
/// refused with a did-you-mean and where it came from, before anything is asked of the cloud.
#[test]
fn a_misspelt_region_from_the_command_line_or_environment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = "name: r\ntarget: ec2-ami\nstrategy: full\nos: linux\nversion: 1.0.0\nbase: { image-id: ami-0123456789abcdef0 }\nsteps:\n  - shell: { run: \"true\" }\nimage: { name: \"r-${version}\" }\n";
    std::fs::write(dir.path().join("r.yaml"), recipe).unwrap();
    let run = |args: &[&str], env: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_recipe"));
        c.args(args).current_dir(dir.path()).env("NO_COLOR", "1");
        c.env_remove("AWS_REGION").env_remove("AWS_DEFAULT_REGION");
        if let Some(region) = env {
            c.env("AWS_REGION", region);
        }
        c.output().unwrap()
    };
    let out = run(
        &["plan", "r.yaml", "--sandbox", "--region", "eu-wset-1"],
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("there is no AWS region `eu-wset-1` (from --region)"),
        "{err}"
    );
    assert!(err.contains("did you mean `eu-west-1`?"), "{err}");
    let out = run(&["plan", "r.yaml", "--sandbox"], Some("us-est-1"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("(from AWS_REGION)"), "{err}");
    let allowed = run(
        &[
            "plan",
            "r.yaml",
            "--sandbox",
            "--region",
            "eu-wset-1",
            "--allow-region",
            "eu-wset-1",
        ],
        None,
    );
    assert!(
        !String::from_utf8_lossy(&allowed.stderr).contains("there is no AWS region"),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
}

/// A plan saved from the sandbox records it, so the command its hint prints applies it there,
/// without `--sandbox` and without AWS settings.
#[test]
fn a_saved_sandbox_plan_applies_with_the_command_its_hint_prints() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("recipes");
    std::fs::create_dir_all(&work).unwrap();
    let recipe = "name: saved\ntarget: ec2-ami\nstrategy: full\nos: linux\nversion: 1.0.0\nbase: { ssm-parameter: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64 }\nbuilder: { region: eu-west-2 }\nsteps:\n  - shell: { run: \"true\" }\nimage: { name: \"saved-${version}-${timestamp}\" }\n";
    std::fs::write(work.join("saved.yaml"), recipe).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_recipe"))
            .args(args)
            .current_dir(&work)
            .env("NO_COLOR", "1")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_ENDPOINT_URL")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let (code, text) = run(&["plan", "saved.yaml", "--sandbox", "--out", "../plan.json"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("apply it with `recipe apply ../plan.json`"),
        "{text}"
    );
    let (code, text) = run(&["apply", "../plan.json", "--auto-approve"]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = run(&["plan", "saved.yaml", "--sandbox", "--detailed-exitcode"]);
    assert_eq!(code, Some(0), "applied in the sandbox: {text}");
}
