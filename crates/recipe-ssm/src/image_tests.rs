//! What the image keeps from a build: `update-os` that leaves nothing pending (seed 000 step 2) and
//! the version file (seed 000 step 9).

use std::path::Path;

use crate::render;
use crate::windows_tests::{recipe, rendered, tempfile_dir};

/// A fake `name` command in `dir` that exits with `upgrade` for its upgrade and `check` for
/// `check-update`.
fn fake(dir: &Path, name: &str, upgrade: i32, check: i32) {
    let path = dir.join(name);
    let body = format!(
        "#!/bin/sh\ncase \"$*\" in *check-update*) exit {check};; *) echo upgraded; exit {upgrade};; esac\n"
    );
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[test]
fn update_os_fails_while_updates_are_still_pending() {
    let r = recipe("linux", "  - update-os: { security-only: true }\n");
    let script = &rendered(&r)[0];
    for (check, ok) in [(0, true), (100, false)] {
        let bin = tempfile_dir().join(format!("dnf-{check}"));
        std::fs::create_dir_all(&bin).unwrap();
        fake(&bin, "dnf", 0, check);
        let out = std::process::Command::new("bash")
            .args(["-c", script])
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.success(),
            ok,
            "check-update {check}: {err}\n{script}"
        );
        if !ok {
            assert!(
                err.contains(
                    "updates are still pending after the upgrade (dnf check-update exit 100)"
                ),
                "{err}"
            );
        }
    }
    assert!(
        script.contains("dnf -q check-update --security"),
        "{script}"
    );
}

#[test]
fn the_version_file_names_the_build_and_nothing_secret() {
    let r = recipe("linux", "  - shell: { run: \"echo ${secret.token}\" }\n");
    let values = render::BuildValues::new(jiff::Timestamp::UNIX_EPOCH, "b-7");
    let record = render::version_record(&r, &values, "fp-1", Some("ami-0abc"));
    let v: serde_json::Value = serde_json::from_str(&record).unwrap();
    assert_eq!(v["recipe"], "quoting");
    assert_eq!(v["version"], "1.0.0");
    assert_eq!(v["build_id"], "b-7");
    assert_eq!(v["fingerprint"], "fp-1");
    assert_eq!(v["base_image"], "ami-0abc");
    assert_eq!(v["built_at"], "1970-01-01T00:00:00Z");
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 8, "{keys:?}");
    assert!(
        !record.contains("token") && !record.contains("/hr/"),
        "{record}"
    );
    let linux = render::version_file_script(recipe_model::Os::Linux, &record);
    assert!(
        linux.ends_with("mv -f /etc/recipe-image.json.tmp /etc/recipe-image.json"),
        "{linux}"
    );
    let windows = render::version_file_script(recipe_model::Os::Windows, &record);
    recipe_powershell::parse(&windows).unwrap_or_else(|e| panic!("{windows}\n{e}"));
    assert!(
        windows.contains("C:\\ProgramData\\recipe\\image.json"),
        "{windows}"
    );
}
