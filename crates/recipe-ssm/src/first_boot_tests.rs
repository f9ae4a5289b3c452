//! The first-boot runners: where they live, what keys them, and the order the installers act in.

use recipe_model::Os;

use super::installer;

/// The files an installer writes, decoded (`echo B64 | base64 -d > PATH`, or PowerShell's
/// `WriteAllBytes('PATH', …FromBase64String('B64'))`).
fn written(installer: &str) -> Vec<(String, String)> {
    let decode = |b: &str| String::from_utf8(decode_base64(b)).unwrap();
    installer
        .lines()
        .filter_map(|l| {
            if let Some(rest) = l.strip_prefix("echo ") {
                let (b, path) = rest.split_once(" | base64 -d > ")?;
                return Some((path.to_string(), decode(b)));
            }
            let rest = l.strip_prefix("[IO.File]::WriteAllBytes('")?;
            let (path, rest) = rest.split_once("', [Convert]::FromBase64String('")?;
            Some((path.to_string(), decode(rest.trim_end_matches("'))"))))
        })
        .collect()
}

/// Standard base64, as the builders' `base64 -d` and `FromBase64String` read it.
fn decode_base64(text: &str) -> Vec<u8> {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ABC.iter().position(|a| *a == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// What WorkSpaces image creation removes from a Linux WorkSpace (seed 001), as path prefixes.
const WORKSPACES_REMOVES: &[&str] = &[
    "/tmp",
    "/var/spool/mail",
    "/var/tmp",
    "/var/lib/dhcp",
    "/var/lib/cloud",
    "/var/cache",
    "/var/backups",
    "/etc/sudoers.d",
    "/etc/security/access.conf",
    "/var/log/amazon/ssm",
    "/home",
];

#[test]
fn the_linux_workspaces_runner_lives_where_image_creation_keeps_it_and_skips_the_builder() {
    let scripts = vec!["echo launch >> /var/log/launch.log".to_string()];
    let i = installer(&scripts, Os::Linux, recipe_targets::WORKSPACES);
    let files = written(&i);
    assert_eq!(files.len(), 3, "{i}");
    for (path, _) in &files {
        assert!(
            !WORKSPACES_REMOVES.iter().any(|gone| path.starts_with(gone)),
            "{path} would be removed at capture"
        );
    }
    let steps = &files
        .iter()
        .find(|(p, _)| p.ends_with("first-boot-steps.sh"))
        .unwrap()
        .1;
    assert!(steps.contains("echo launch >> /var/log/launch.log"));
    let unit = &files
        .iter()
        .find(|(p, _)| p.ends_with(".service"))
        .unwrap()
        .1;
    assert!(
        unit.contains("ExecStart=/usr/local/lib/recipe/first-boot.sh"),
        "{unit}"
    );
    assert!(unit.contains("After=network-online.target cloud-final.service"));
    assert!(i.contains(
        "ln -sf ../recipe-first-boot.service /etc/systemd/system/multi-user.target.wants/"
    ));
    // The builder's identity is recorded last, once everything it names is in place.
    assert!(
        i.trim_end().ends_with(
            "/usr/local/lib/recipe/first-boot.sh --identity > /var/lib/recipe/first-boot.done"
        ),
        "{i}"
    );
    let ec2 = installer(&scripts, Os::Linux, recipe_targets::EC2_AMI);
    assert!(ec2.contains("/var/lib/cloud/scripts/per-instance/recipe-first-boot.sh"));
}

/// The Linux runner, run for real in a scratch root: the steps run on a new identity, not again
/// on the same one, and not on the builder whose identity the installer recorded.
#[test]
fn the_linux_runner_runs_once_per_identity() {
    let root = std::env::temp_dir().join(format!("recipe-first-boot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let scripts = vec![format!("echo ran >> {}/ran.log", root.display())];
    let files = written(&installer(&scripts, Os::Linux, recipe_targets::WORKSPACES));
    let at = |p: &str| root.join(p.trim_start_matches('/'));
    for (path, text) in &files {
        std::fs::create_dir_all(at(path).parent().unwrap()).unwrap();
        // The runner's own paths, moved under the scratch root.
        let text = text
            .replace(
                "/usr/local/lib/recipe",
                &at("/usr/local/lib/recipe").display().to_string(),
            )
            .replace("/var/lib/", &format!("{}/var/lib/", root.display()))
            .replace(
                "/etc/machine-id",
                &at("/etc/machine-id").display().to_string(),
            );
        std::fs::write(at(path), text).unwrap();
    }
    let boot = |id: &str| {
        std::fs::create_dir_all(at("/var/lib/cloud/data")).unwrap();
        std::fs::write(at("/var/lib/cloud/data/instance-id"), id).unwrap();
        let runner = at("/usr/local/lib/recipe/first-boot.sh");
        let out = std::process::Command::new("bash")
            .arg(runner)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(root.join("ran.log"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    // The installer recorded the builder (i-builder) as done.
    std::fs::create_dir_all(at("/var/lib/recipe")).unwrap();
    std::fs::write(at("/var/lib/recipe/first-boot.done"), "i-builder\n").unwrap();
    assert_eq!(boot("i-builder"), 0, "never on the builder");
    assert_eq!(boot("i-new"), 1, "once on a new machine");
    assert_eq!(boot("i-new"), 1, "not again after a restart");
    assert_eq!(boot("i-other"), 2, "and once on the next");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn windows_runners_are_keyed_to_the_machine_and_record_the_builder_after_registering() {
    let scripts = vec!["Write-Output 'join the domain'".to_string()];
    for (target, identity) in [
        (recipe_targets::EC2_AMI, "latest/meta-data/instance-id"),
        (recipe_targets::WORKSPACES, "AccountDomainSid"),
    ] {
        let i = installer(&scripts, Os::Windows, target);
        recipe_powershell::parse(&i).unwrap_or_else(|e| panic!("{i}\n{e}"));
        let files = written(&i);
        for (path, text) in &files {
            recipe_powershell::parse(text).unwrap_or_else(|e| panic!("{path}: {text}\n{e}"));
        }
        let runner = &files
            .iter()
            .find(|(p, _)| p.ends_with("first-boot.ps1"))
            .unwrap()
            .1;
        assert!(runner.contains(identity), "{runner}");
        let check = runner
            .find("-eq (Get-RecipeIdentity))) { exit 0 }")
            .expect(runner);
        let steps = runner.find("first-boot-steps.ps1").unwrap();
        let record = runner.find("Set-Content -Path $done").unwrap();
        assert!(check < steps && steps < record, "{runner}");
        let register = i.find("Register-ScheduledTask").unwrap();
        let builder = i.find("first-boot.done' -Value (& ").expect(&i);
        assert!(
            register < builder,
            "the builder is recorded once the task exists: {i}"
        );
        assert!(!i.contains("New-Item C:\\ProgramData\\recipe\\first-boot.done"));
    }
}
