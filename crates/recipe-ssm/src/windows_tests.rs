//! Rendered scripts read as their shell reads them: every PowerShell script parsed with the real
//! grammar, every bash script run by bash, over a corpus of hard values and the shipped Windows
//! examples.

use std::collections::BTreeMap;
use std::path::PathBuf;

use recipe_loader::LoadedRecipe;
use recipe_model::Os;

use crate::render::{self, BuildValues, Staged};

/// Values that break naive quoting.
const HARD: [&str; 9] = [
    "two words",
    "it's",
    "say \"hi\"",
    "$HOME and $env:PATH",
    "back`tick",
    "caf\u{e9} \u{1f680}",
    "line one\nline two",
    "",
    "trailing\\",
];

pub(crate) fn recipe(os: &str, steps: &str) -> LoadedRecipe {
    let text = format!(
        "name: quoting\ntarget: ec2-ami\nstrategy: full\nos: {os}\nversion: 1.0.0\nsecrets:\n  token: {{ ssm-parameter: /hr/api-token }}\n  pw: {{ secrets-manager: hr/db-password }}\nbase: {{ image-id: ami-0123456789abcdef0 }}\nbuilder: {{ region: eu-west-1 }}\nimage: {{ name: quoting }}\nsteps:\n{steps}"
    );
    let dir = tempfile_dir();
    std::fs::write(dir.join("configure.ps1"), "param($a)\n").unwrap();
    let set = recipe_loader::load_str(
        dir.join("quoting.yaml"),
        text,
        &recipe_targets::load_options(),
    );
    let errors: Vec<String> = set
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{d:?}"))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    set.recipes.into_iter().next().expect("one recipe")
}

pub(crate) fn rendered(r: &LoadedRecipe) -> Vec<String> {
    let files = render::files_of(r);
    let values = BuildValues::new(jiff::Timestamp::UNIX_EPOCH, "b-1");
    r.steps
        .iter()
        .chain(&r.tests)
        .filter(|s| !matches!(s.step.value, recipe_model::Step::Manual(_)))
        .filter_map(|s| {
            render::step_script(
                &s.step.value,
                r,
                &files,
                &BTreeMap::<String, Staged>::new(),
                &values,
            )
            .expect("renders")
        })
        .collect()
}

/// The value of a PowerShell single-quoted literal that starts `text`.
fn ps_literal(text: &str) -> String {
    let body = text.strip_prefix('\'').expect("a quoted literal");
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
                out.push('\'');
                continue;
            }
            return out;
        }
        out.push(c);
    }
    panic!("unterminated literal in {text}")
}

#[test]
fn windows_values_parse_and_keep_their_text_and_their_lookups_live() {
    let mut steps = String::new();
    for (i, v) in HARD.iter().enumerate() {
        steps.push_str(&format!(
            "  - powershell:\n      name: value {i}\n      run: Write-Output $env:V\n      env:\n        V: {}\n        AUTH: \"Bearer ${{secret.token}}:${{secret.pw}}\"\n",
            serde_json::to_string(v).unwrap()
        ));
    }
    let r = recipe("windows", &steps);
    for (i, script) in rendered(&r).iter().enumerate() {
        recipe_powershell::parse(script).unwrap_or_else(|e| panic!("{script}\n{e}"));
        let line = script.lines().find(|l| l.starts_with("$env:V = ")).unwrap();
        let value = &script[script.find(line).unwrap() + "$env:V = ".len()..];
        assert_eq!(ps_literal(value), HARD[i], "{script}");
        assert!(
            script.contains(
                "$env:AUTH = ('Bearer ' + ${recipe_secret_token} + ':' + ${recipe_secret_pw})"
            ),
            "{script}"
        );
        assert!(script.contains("${recipe_secret_token} = (Get-SSMParameter -Name '/hr/api-token' -WithDecryption $true -ErrorAction Stop).Value\n"));
        assert!(script.contains("${recipe_secret_pw} = (Get-SECSecretValue -SecretId 'hr/db-password' -ErrorAction Stop).SecretString\n"));
    }
}

#[test]
fn windows_script_arguments_keep_secrets_live() {
    let r = recipe(
        "windows",
        "  - script:\n      path: configure.ps1\n      args: ['--token', '${secret.token}', \"it's a test\", 'x=${secret.pw}']\n",
    );
    let files = render::files_of(&r);
    let values = BuildValues::new(jiff::Timestamp::UNIX_EPOCH, "b-1");
    let script = render::step_script(
        &r.steps[0].step.value,
        &r,
        &files,
        &BTreeMap::new(),
        &values,
    )
    .unwrap()
    .unwrap();
    recipe_powershell::parse(&script).unwrap_or_else(|e| panic!("{script}\n{e}"));
    assert!(
        script.contains(
            "& $f '--token' ${recipe_secret_token} 'it''s a test' ('x=' + ${recipe_secret_pw})"
        ),
        "{script}"
    );
}

#[test]
fn linux_values_reach_the_step_unchanged_and_a_failed_lookup_fails_it() {
    let mut steps = String::new();
    for (i, v) in HARD.iter().enumerate() {
        steps.push_str(&format!(
            "  - shell:\n      name: value {i}\n      run: printf '%s' \"$V\"\n      env:\n        V: {}\n",
            serde_json::to_string(v).unwrap()
        ));
    }
    steps.push_str("  - shell:\n      name: lookup\n      run: echo never\n      env:\n        T: \"Bearer ${secret.token}\"\n");
    let r = recipe("linux", &steps);
    let scripts = rendered(&r);
    for (i, v) in HARD.iter().enumerate() {
        let out = std::process::Command::new("bash")
            .args(["-c", &scripts[i]])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), *v, "{}", scripts[i]);
    }
    // An `aws` that fails as a throttled or denied call does.
    let bin = tempfile_dir();
    std::fs::write(
        bin.join("aws"),
        "#!/bin/sh\necho 'An error occurred (ThrottlingException)' >&2\nexit 254\n",
    )
    .unwrap();
    std::fs::set_permissions(
        bin.join("aws"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = std::process::Command::new("bash")
        .args(["-c", scripts.last().unwrap()])
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "the step went on"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("recipe: cannot read secret token (SSM parameter /hr/api-token)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("recipe-ssm-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn s3_downloads_on_windows_read_the_object_with_the_aws_tools() {
    let r = recipe(
        "windows",
        "  - download:\n      url: s3://acme-build/tools/it's.exe\n      dest: 'C:\\Windows\\Temp\\it''s.exe'\n      sha256: a9b10d3bb62e120a45dee69d7e17bec69497a59d7ff31e5360af1cbf51ea2ae5\n  - download:\n      url: https://example.com/x.msi\n      dest: 'C:\\x.msi'\n      sha256: a9b10d3bb62e120a45dee69d7e17bec69497a59d7ff31e5360af1cbf51ea2ae5\n",
    );
    let scripts = rendered(&r);
    for s in &scripts {
        recipe_powershell::parse(s).unwrap_or_else(|e| panic!("{s}\n{e}"));
    }
    assert!(
        scripts[0].contains("Read-S3Object -BucketName 'acme-build' -Key 'tools/it''s.exe' -File 'C:\\Windows\\Temp\\it''s.exe'"),
        "{}",
        scripts[0]
    );
    assert!(!scripts[0].contains("Invoke-WebRequest"));
    assert!(
        scripts[1].contains("Invoke-WebRequest -UseBasicParsing -Uri 'https://example.com/x.msi'")
    );
}

#[test]
fn reboots_and_sysprep_parse() {
    for s in [
        render::reboot_script(Os::Windows, "a-1/reboot"),
        render::sysprep_script(),
    ] {
        recipe_powershell::parse(&s).unwrap_or_else(|e| panic!("{s}\n{e}"));
    }
    let win = render::reboot_script(Os::Windows, "a-1/reboot");
    assert!(win.ends_with("exit 3010"), "{win}");
    assert!(win.starts_with("if (Test-Path 'C:\\ProgramData\\recipe\\reboot-a-1_reboot') {"));
    let linux = render::reboot_script(Os::Linux, "a-1");
    assert!(linux.ends_with("exit 194"));
}

/// The shipped Windows examples, loaded as `recipe plan` loads them.
fn windows_examples() -> Vec<LoadedRecipe> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../recipes");
    let mut paths = Vec::new();
    for dir in ["ec2", "appstream", "workspaces"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yaml") {
                paths.push(p);
            }
        }
    }
    let set = recipe_loader::load(&paths, &recipe_targets::load_options());
    set.recipes
        .into_iter()
        .filter(|r| r.recipe.os.value == Os::Windows)
        .collect()
}

#[test]
fn every_powershell_command_of_the_windows_examples_parses_and_fetches_what_it_can() {
    let examples = windows_examples();
    assert!(examples.len() >= 3, "{}", examples.len());
    for r in &examples {
        let name = &r.recipe.name.value;
        let mut scripts = rendered(r);
        let launch: Vec<String> = scripts.clone();
        scripts.push(render::launch_installer(
            &launch,
            Os::Windows,
            r.recipe.target.value,
        ));
        if let Some(c) = &r.recipe.cleanup {
            scripts.push(render::cleanup_script(c.value, Os::Windows));
        }
        for s in &scripts {
            if let Err(e) = recipe_powershell::parse(s) {
                panic!("{name}: a command does not parse:\n{s}\n{e}");
            }
            assert!(!s.contains("-Uri 's3://"), "{name}: {s}");
            assert!(!s.contains("$((Get-SSMParameterValue"), "{name}: {s}");
        }
    }
}

#[test]
fn every_windows_cleanup_preset_parses_and_cleans_every_kept_profile() {
    recipe_targets::targets(); // declares the targets' presets
    let windows: Vec<_> = recipe_model::CleanupPreset::all()
        .into_iter()
        .filter(|p| p.name.contains("windows"))
        .map(recipe_model::CleanupPreset::of)
        .collect();
    assert!(windows.len() >= 3);
    for p in windows {
        let s = render::cleanup_script(p, Os::Windows);
        recipe_powershell::parse(&s).unwrap_or_else(|e| panic!("{}: {s}\n{e}", p.as_str()));
        assert!(
            !s.contains("$env:LOCALAPPDATA"),
            "{}: LocalSystem's own profile",
            p.as_str()
        );
        assert!(
            !s.contains("'HKCU:"),
            "{}: LocalSystem's own hive",
            p.as_str()
        );
    }
}
