//! The requirements of "Create a custom WorkSpaces image and bundle" (seed 001) as checks run on the
//! builder before any image is attempted. Each failed check prints one line that says what is wrong
//! and what to do; the script fails if any did.
//!
//! What the API can tell (AVAILABLE with modification state NONE, unencrypted volumes) is checked in
//! `image.rs` from DescribeWorkspaces; what only the machine can tell is checked here.

use recipe_model::Os;

/// Linux: the root volume under 97% full; no applications under /home (the user volume, which
/// capture does not keep); cloud-init and the Skylight agent present. (The PCoIP agent is not checked:
/// a DCV bundle has none.)
const LINUX: &str = r#"set -u
fail=0
say() { echo "pre-capture check failed: $*"; fail=1; }
used=$(df --output=pcent / | tail -1 | tr -dc 0-9)
[ "${used:-0}" -lt 97 ] || say "the root volume is ${used}% full; WorkSpaces needs it under 97%: remove files or caches from /"
apps=$(find /home -mindepth 2 -maxdepth 5 \( -name '*.desktop' -o \( -type f -perm -u+x -path '*/bin/*' \) \) 2>/dev/null | head -5 | tr '\n' ' ')
[ -z "$apps" ] || say "applications are installed under /home, which the image does not keep: $apps- install them outside /home"
command -v cloud-init >/dev/null 2>&1 || rpm -q cloud-init >/dev/null 2>&1 || say "cloud-init is missing; WorkSpaces launched from the image will not work"
[ -d /var/lib/skylight ] || say "the Skylight agent (/var/lib/skylight) is missing; WorkSpaces launched from the image will not work"
exit $fail
"#;

/// Windows: the default profile under 10 GB, room on C: for it plus 2 GB, services running as local
/// accounts, no Windows feature upgrade applied, and seed 001's required components that have a
/// stable marker: PowerShell (the script runs in it), Remote Desktop Services (`TermService`), the AWS
/// PV drivers (`HKLM:\SOFTWARE\Amazon\PVDriver`), EC2Config or EC2Launch (v1's module folder or
/// the `Ec2Config`/`AmazonEC2Launch` service), WinRM with EC2Launch v1, and the Skylight agent
/// (`SkyLight*` services). The PCoIP and STXHD agents and drivers and the certificates depend on the
/// bundle's protocol and have no documented marker; they are not checked (docs/workspaces.md).
const WINDOWS: &str = r#"$fail = $false
function Say($m) { Write-Output "pre-capture check failed: $m"; $script:fail = $true }
$profileBytes = (Get-ChildItem 'C:\Users\Default' -Recurse -Force -ErrorAction SilentlyContinue | Measure-Object Length -Sum).Sum
if ($profileBytes -ge 10GB) { Say "the default profile is $([math]::Round($profileBytes / 1GB, 1)) GB; WorkSpaces needs it under 10 GB" }
if ((Get-PSDrive C).Free -lt ($profileBytes + 2GB)) { Say 'C: needs free space for the profile plus 2 GB' }
$domain = Get-CimInstance Win32_Service | Where-Object { $_.StartName -and $_.StartName -notmatch '^(LocalSystem|NT AUTHORITY\\|NT SERVICE\\|\.\\)' }
if ($domain) { Say "services run with domain credentials, which image creation does not allow: $($domain.Name -join ' ') - run them as LocalSystem" }
if (-not (Get-Service TermService -ErrorAction SilentlyContinue)) { Say 'Remote Desktop Services is missing' }
if (-not (Test-Path 'HKLM:\SOFTWARE\Amazon\PVDriver')) { Say 'the AWS PV drivers are missing; WorkSpaces launched from the image will not work' }
$launchV1 = Test-Path 'C:\ProgramData\Amazon\EC2-Windows\Launch\Module'
if (-not ($launchV1 -or (Get-Service Ec2Config, AmazonEC2Launch -ErrorAction SilentlyContinue))) { Say 'neither EC2Config nor EC2Launch is installed' }
if ($launchV1 -and -not (Get-Service WinRM -ErrorAction SilentlyContinue)) { Say 'Windows Remote Management (WinRM) is missing, which EC2Launch v1 needs' }
if (-not (Get-Service 'SkyLight*' -ErrorAction SilentlyContinue)) { Say 'the Skylight agent is missing; WorkSpaces launched from the image will not work' }
if (Test-Path 'HKLM:\SYSTEM\Setup\Source OS*') { Say 'a Windows feature (version) upgrade was applied; WorkSpaces cannot create an image after one: start again from the base' }
if ($fail) { exit 1 }
"#;

/// The check script for `os`.
pub fn script(os: Os) -> &'static str {
    match os {
        Os::Linux => LINUX,
        Os::Windows => WINDOWS,
    }
}
