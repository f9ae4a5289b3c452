//! The first-boot runner: a thin or zero image's launch-stage steps, run once on each machine made
//! from the image, and never on the builder.
//!
//! - **EC2, Linux**: a cloud-init per-instance script (`/var/lib/cloud/scripts/per-instance/`),
//!   which cloud-init runs once per instance id.
//! - **WorkSpaces, Linux**: image creation removes `/var/lib/cloud` (seed 001, "Image Creation for
//!   Amazon Linux WorkSpaces"), so the runner lives in `/usr/local/lib/recipe/`, started at each
//!   boot by a systemd unit after cloud-init (which seed 001 lists as required on Linux
//!   WorkSpaces). It runs the steps when the instance id cloud-init records in
//!   `/var/lib/cloud/data/instance-id` is not the one it last ran for.
//! - **Windows**: a startup scheduled task, keyed the same way to the machine's identity: the EC2
//!   instance id (instance metadata, IMDSv2) on EC2; on WorkSpaces the machine SID, which Sysprep
//!   replaces when WorkSpaces makes the image (seed 001: images must be compatible with Sysprep).
//!
//! Keyed runners record the builder's own identity when they are installed, so a reboot of the
//! builder (a later `reboot` step, the capture's own restart) does not run the launch steps there
//! and bake their marker into the image. A run that fails records nothing, so the next boot
//! tries again.

use recipe_model::{Os, Target};

use crate::render::base64;

const LINUX_DIR: &str = "/usr/local/lib/recipe";
const LINUX_DONE: &str = "/var/lib/recipe/first-boot.done";
const UNIT: &str = "recipe-first-boot.service";
const WINDOWS_DIR: &str = "C:\\ProgramData\\recipe";

/// The script that installs the runner of `target` with the launch-stage `scripts` on a builder
/// of `os` (AppStream uses session scripts instead: `render::session_start_installer`).
pub fn installer(scripts: &[String], os: Os, target: Target) -> String {
    match (os, target) {
        (Os::Linux, recipe_targets::WORKSPACES) => systemd_installer(scripts),
        (Os::Linux, _) => cloud_init_installer(scripts),
        (Os::Windows, _) => windows_installer(scripts, target),
    }
}

/// EC2 Linux: cloud-init's per-instance scripts, run once per instance id.
fn cloud_init_installer(scripts: &[String]) -> String {
    let dir = "/var/lib/cloud/scripts/per-instance";
    let runner = format!(
        "#!/bin/bash\n# Installed by recipe: the launch-stage steps, once per instance.\n{}\n",
        scripts.join("\n")
    );
    format!(
        "set -euo pipefail\ninstall -d {dir}\necho {} | base64 -d > {dir}/recipe-first-boot.sh\nchmod 0755 {dir}/recipe-first-boot.sh",
        base64(runner.as_bytes())
    )
}

/// The keyed Linux runner: `--identity` prints the machine's identity; otherwise it runs the steps
/// unless they last ran for this identity, and records it once they succeed.
fn linux_runner() -> String {
    format!(
        "#!/bin/bash\n\
         # Installed by recipe: the launch-stage steps, once on each machine made from the image.\n\
         set -euo pipefail\n\
         identity() {{ cat /var/lib/cloud/data/instance-id 2>/dev/null || cat /etc/machine-id; }}\n\
         if [ \"${{1:-}}\" = --identity ]; then identity; exit 0; fi\n\
         if [ \"$(cat {LINUX_DONE} 2>/dev/null || true)\" = \"$(identity)\" ]; then exit 0; fi\n\
         bash {LINUX_DIR}/first-boot-steps.sh\n\
         install -d \"$(dirname {LINUX_DONE})\"\n\
         identity > {LINUX_DONE}\n"
    )
}

/// The systemd unit that starts the runner at each boot, once cloud-init has recorded the
/// instance id.
fn unit() -> String {
    format!(
        "[Unit]\n\
         Description=recipe: the image's launch-stage steps, once on each new machine\n\
         Wants=network-online.target\n\
         After=network-online.target cloud-final.service\n\n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart={LINUX_DIR}/first-boot.sh\n\
         TimeoutStartSec=0\n\n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    )
}

/// WorkSpaces Linux: the runner and its steps under `/usr/local/lib/recipe`, the unit enabled as
/// `systemctl enable` does (a link in `multi-user.target.wants`), and the builder's identity
/// recorded as done.
fn systemd_installer(scripts: &[String]) -> String {
    let steps = format!("#!/bin/bash\n{}\n", scripts.join("\n"));
    let wants = "/etc/systemd/system/multi-user.target.wants";
    format!(
        "set -euo pipefail\n\
         install -d {LINUX_DIR} \"$(dirname {LINUX_DONE})\" {wants}\n\
         echo {} | base64 -d > {LINUX_DIR}/first-boot-steps.sh\n\
         echo {} | base64 -d > {LINUX_DIR}/first-boot.sh\n\
         chmod 0755 {LINUX_DIR}/first-boot.sh {LINUX_DIR}/first-boot-steps.sh\n\
         echo {} | base64 -d > /etc/systemd/system/{UNIT}\n\
         ln -sf ../{UNIT} {wants}/{UNIT}\n\
         {LINUX_DIR}/first-boot.sh --identity > {LINUX_DONE}",
        base64(steps.as_bytes()),
        base64(linux_runner().as_bytes()),
        base64(unit().as_bytes()),
    )
}

/// How a Windows machine of `target` names itself: the instance id on EC2 (IMDSv2), the machine
/// SID elsewhere (replaced by the Sysprep of image creation).
fn windows_identity(target: Target) -> &'static str {
    match target {
        recipe_targets::EC2_AMI => {
            "$t = Invoke-RestMethod -Method Put -Uri 'http://169.254.169.254/latest/api/token' -Headers @{ 'X-aws-ec2-metadata-token-ttl-seconds' = '60' }\n  Invoke-RestMethod -Uri 'http://169.254.169.254/latest/meta-data/instance-id' -Headers @{ 'X-aws-ec2-metadata-token' = $t }"
        }
        _ => "(Get-LocalUser | Select-Object -First 1).SID.AccountDomainSid.Value",
    }
}

/// The keyed Windows runner (`-Identity` prints the machine's identity).
fn windows_runner(target: Target) -> String {
    let done = format!("{WINDOWS_DIR}\\first-boot.done");
    format!(
        "# Installed by recipe: the launch-stage steps, once on each machine made from the image.\n\
         param([switch]$Identity)\n\
         $ErrorActionPreference = 'Stop'\n\
         function Get-RecipeIdentity {{\n  {}\n}}\n\
         if ($Identity) {{ Get-RecipeIdentity; exit 0 }}\n\
         $done = '{done}'\n\
         if ((Test-Path $done) -and ((Get-Content -Raw $done).Trim() -eq (Get-RecipeIdentity))) {{ exit 0 }}\n\
         & powershell.exe -NoProfile -ExecutionPolicy Bypass -File '{WINDOWS_DIR}\\first-boot-steps.ps1'\n\
         if ($LASTEXITCODE -ne 0) {{ exit $LASTEXITCODE }}\n\
         Set-Content -Path $done -Value (Get-RecipeIdentity)\n",
        windows_identity(target)
    )
}

/// Windows: the runner and its steps, the startup task, and the builder's identity recorded as
/// done, in that order.
fn windows_installer(scripts: &[String], target: Target) -> String {
    let steps = format!("$ErrorActionPreference = 'Stop'\n{}\n", scripts.join("\n"));
    let runner = format!("{WINDOWS_DIR}\\first-boot.ps1");
    format!(
        "$ErrorActionPreference = 'Stop'\n\
         New-Item -ItemType Directory -Force -Path '{WINDOWS_DIR}' | Out-Null\n\
         [IO.File]::WriteAllBytes('{WINDOWS_DIR}\\first-boot-steps.ps1', [Convert]::FromBase64String('{}'))\n\
         [IO.File]::WriteAllBytes('{runner}', [Convert]::FromBase64String('{}'))\n\
         $a = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument '-NoProfile -ExecutionPolicy Bypass -File {runner}'\n\
         Register-ScheduledTask -TaskName 'recipe-first-boot' -Action $a -Trigger (New-ScheduledTaskTrigger -AtStartup) -User SYSTEM -Force | Out-Null\n\
         Set-Content -Path '{WINDOWS_DIR}\\first-boot.done' -Value (& '{runner}' -Identity)",
        base64(steps.as_bytes()),
        base64(windows_runner(target).as_bytes()),
    )
}

#[cfg(test)]
#[path = "first_boot_tests.rs"]
mod tests;
