//! The clean-down lists behind `cleanup:` presets, from the seed documents.
//!
//! Each item says what it removes, the command that does it (bash on Linux, PowerShell on Windows),
//! and where the practice comes from. The engine runs them in order on the builder after the tests and
//! before capture; `docs/recipes.md` lists them (generated).

use crate::{CleanupPreset, Os};

/// One clean-down action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CleanupItem {
    /// What it removes.
    pub what: &'static str,
    /// The command (bash for Linux presets, PowerShell for Windows presets).
    pub command: &'static str,
    /// Where the practice comes from.
    pub source: &'static str,
}

const fn item(what: &'static str, command: &'static str, source: &'static str) -> CleanupItem {
    CleanupItem {
        what,
        command,
        source,
    }
}

const WS_LINUX_SEED: &str = "WorkSpaces: Create a custom bundle (Linux image creation)";
const LINUX_SEED: &str = "WorkSpaces Linux best practices: clean down the image";

const LINUX: &[CleanupItem] = &[
    item(
        "temporary install files",
        "rm -rf /tmp/* /tmp/.[!.]* /var/tmp/* /var/tmp/.[!.]*",
        LINUX_SEED,
    ),
    item(
        "package manager caches",
        "if command -v dnf >/dev/null; then dnf clean all; elif command -v yum >/dev/null; then yum clean all; elif command -v apt-get >/dev/null; then apt-get clean && rm -rf /var/lib/apt/lists/*; fi",
        WS_LINUX_SEED,
    ),
    item(
        "logs (rotated files deleted, live files truncated, journal vacuumed)",
        "find /var/log -type f \\( -name '*.gz' -o -name '*.[0-9]' -o -name '*.old' \\) -delete; find /var/log -type f -exec truncate -s 0 {} +; journalctl --rotate >/dev/null 2>&1 && journalctl --vacuum-time=1s >/dev/null 2>&1 || true",
        LINUX_SEED,
    ),
    item(
        "SSH host keys (regenerated at first boot)",
        "shred -u /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub 2>/dev/null || rm -f /etc/ssh/ssh_host_*",
        WS_LINUX_SEED,
    ),
    item(
        "cloud-init state, so per-instance modules run again (its scripts, the first-boot runner among them, are kept)",
        "find /var/lib/cloud -mindepth 1 -maxdepth 1 ! -name scripts ! -name seed -exec rm -rf {} + 2>/dev/null; rm -f /var/log/cloud-init*.log",
        WS_LINUX_SEED,
    ),
    item(
        "DHCP leases",
        "rm -rf /var/lib/dhcp/* /var/lib/dhclient/* /var/lib/NetworkManager/*.lease",
        WS_LINUX_SEED,
    ),
    item(
        "persistent network names",
        "rm -f /etc/udev/rules.d/70-persistent-net.rules /etc/network/interfaces.d/50-cloud-init.cfg",
        WS_LINUX_SEED,
    ),
    item(
        "mail spool and backups",
        "rm -rf /var/spool/mail/* /var/backups/*",
        WS_LINUX_SEED,
    ),
    item(
        "machine-id (emptied, regenerated at boot)",
        "truncate -s 0 /etc/machine-id; rm -f /var/lib/dbus/machine-id",
        "good practice",
    ),
    item(
        "shell history",
        "rm -f /root/.bash_history /home/*/.bash_history; unset HISTFILE",
        "good practice",
    ),
    item(
        "authorized keys (the launch key is injected again)",
        "rm -f /root/.ssh/authorized_keys /home/*/.ssh/authorized_keys",
        "WorkSpaces Linux best practices: no keys in the image",
    ),
    item(
        "credentials left by the build",
        "rm -rf /root/.aws /home/*/.aws /root/.netrc /home/*/.netrc /root/.docker/config.json",
        "WorkSpaces Linux best practices: no keys in the image",
    ),
    item("buffers flushed", "sync", "good practice"),
];

const WINDOWS: &[CleanupItem] = &[
    item(
        "temporary files",
        "Remove-Item \"$env:windir\\Temp\\*\",\"$env:TEMP\\*\" -Recurse -Force -ErrorAction SilentlyContinue",
        "good practice",
    ),
    item(
        "Windows Update download cache",
        "Stop-Service wuauserv -Force; Remove-Item \"$env:windir\\SoftwareDistribution\\Download\\*\" -Recurse -Force -ErrorAction SilentlyContinue; Start-Service wuauserv",
        "good practice",
    ),
    item(
        "PowerShell history",
        "Remove-Item (Get-PSReadLineOption).HistorySavePath -Force -ErrorAction SilentlyContinue",
        "good practice",
    ),
    item(
        "recycle bin",
        "Clear-RecycleBin -Force -ErrorAction SilentlyContinue",
        "good practice",
    ),
    item(
        "credentials left by the build",
        "Remove-Item \"$env:USERPROFILE\\.aws\" -Recurse -Force -ErrorAction SilentlyContinue",
        "AMI design: no secrets in images",
    ),
];

const WORKSPACES_LINUX: &[CleanupItem] = &[
    item(
        "temporary install files outside what capture removes",
        "rm -rf /opt/recipe-build /root/recipe-build",
        LINUX_SEED,
    ),
    item(
        "logs the service does not remove (agent logs are left for it)",
        "find /var/log \\( -path /var/log/amazon -o -path '/var/log/pcoip-agent*' -o -path '/var/log/skylight*' \\) -prune -o -type f -exec truncate -s 0 {} +",
        LINUX_SEED,
    ),
    item(
        "root's history, keys and credentials (root is on the captured volume)",
        "rm -f /root/.bash_history /root/.ssh/authorized_keys; rm -rf /root/.aws /root/.netrc",
        "WorkSpaces Linux best practices: no keys in the image",
    ),
    item("buffers flushed", "sync", "good practice"),
];

const WORKSPACES_WINDOWS: &[CleanupItem] = &[
    item(
        "temporary files",
        "Remove-Item \"$env:windir\\Temp\\*\",\"$env:TEMP\\*\" -Recurse -Force -ErrorAction SilentlyContinue",
        "WorkSpaces: Create a custom bundle (best practices)",
    ),
    item(
        "browser caches, cookies, history and temporary files of every kept profile",
        // Run Command runs as LocalSystem, whose $env:LOCALAPPDATA is not a user's: every profile
        // the image keeps is cleaned (the default profile, and the users' folders on C: and on D:,
        // where WorkSpaces keeps the user profile it captures).
        "foreach ($p in @(Get-ChildItem 'C:\\Users','D:\\Users' -Directory -Force -ErrorAction SilentlyContinue)) { $l = Join-Path $p.FullName 'AppData\\Local'; Remove-Item \"$l\\Microsoft\\Edge\\User Data\\*\\Cache\",\"$l\\Microsoft\\Edge\\User Data\\*\\Cookies\",\"$l\\Microsoft\\Edge\\User Data\\*\\History\",\"$l\\Google\\Chrome\\User Data\\*\\Cache\",\"$l\\Temp\\*\" -Recurse -Force -ErrorAction SilentlyContinue }",
        "WorkSpaces: Create a custom bundle (best practices)",
    ),
    item(
        "email profiles, in every kept profile's registry hive",
        // HKCU is LocalSystem's: each kept profile's hive is loaded (or found loaded) instead.
        "foreach ($p in @(Get-ChildItem 'C:\\Users','D:\\Users' -Directory -Force -ErrorAction SilentlyContinue)) { $hive = Join-Path $p.FullName 'NTUSER.DAT'; if (-not (Test-Path $hive)) { continue }; reg load 'HKU\\recipe-clean' $hive 2>$null | Out-Null; if ($LASTEXITCODE -eq 0) { Remove-Item 'Registry::HKEY_USERS\\recipe-clean\\Software\\Microsoft\\Office\\16.0\\Outlook\\Profiles' -Recurse -Force -ErrorAction SilentlyContinue; [gc]::Collect(); reg unload 'HKU\\recipe-clean' | Out-Null } }\nGet-ChildItem 'Registry::HKEY_USERS' | Where-Object { $_.PSChildName -match '^S-1-5-21-[0-9-]+$' } | ForEach-Object { Remove-Item \"Registry::$($_.Name)\\Software\\Microsoft\\Office\\16.0\\Outlook\\Profiles\" -Recurse -Force -ErrorAction SilentlyContinue }",
        "WorkSpaces: Create a custom bundle (best practices)",
    ),
    item(
        "static addresses (back to DHCP)",
        "Get-NetIPInterface -AddressFamily IPv4 | Set-NetIPInterface -Dhcp Enabled",
        "WorkSpaces: Create a custom bundle (best practices)",
    ),
    item(
        "PowerShell history",
        "Remove-Item (Get-PSReadLineOption).HistorySavePath -Force -ErrorAction SilentlyContinue",
        "good practice",
    ),
];

const APPSTREAM_WINDOWS: &[CleanupItem] = &[
    item(
        "Windows Update off (Image Assistant disables it at capture)",
        "Set-Service wuauserv -StartupType Disabled; Stop-Service wuauserv -Force",
        "AppStream: administer your images (Windows Update)",
    ),
    item(
        "temporary files",
        "Remove-Item \"$env:windir\\Temp\\*\",\"$env:TEMP\\*\" -Recurse -Force -ErrorAction SilentlyContinue",
        "good practice",
    ),
    item(
        "PowerShell history",
        "Remove-Item (Get-PSReadLineOption).HistorySavePath -Force -ErrorAction SilentlyContinue",
        "good practice",
    ),
    item(
        "credentials left by the build",
        "Remove-Item \"$env:USERPROFILE\\.aws\" -Recurse -Force -ErrorAction SilentlyContinue",
        "good practice",
    ),
];

const APPSTREAM_LINUX: &[CleanupItem] = &[
    item(
        "temporary files",
        "rm -rf /tmp/* /var/tmp/*",
        "good practice",
    ),
    item(
        "logs",
        "find /var/log -type f -exec truncate -s 0 {} +",
        "good practice",
    ),
    item(
        "shell history and credentials",
        "rm -f /root/.bash_history; rm -rf /root/.aws",
        "good practice",
    ),
];

impl CleanupPreset {
    /// The clean-down actions of the preset, in the order they run.
    pub fn items(&self) -> &'static [CleanupItem] {
        match self {
            CleanupPreset::Linux => LINUX,
            CleanupPreset::Windows => WINDOWS,
            CleanupPreset::WorkspacesLinux => WORKSPACES_LINUX,
            CleanupPreset::WorkspacesWindows => WORKSPACES_WINDOWS,
            CleanupPreset::AppstreamWindows => APPSTREAM_WINDOWS,
            CleanupPreset::AppstreamLinux => APPSTREAM_LINUX,
            CleanupPreset::None => &[],
        }
    }

    /// The operating system the preset's commands are written for (`None` for `none`).
    pub fn os(&self) -> Option<Os> {
        match self {
            CleanupPreset::Linux
            | CleanupPreset::WorkspacesLinux
            | CleanupPreset::AppstreamLinux => Some(Os::Linux),
            CleanupPreset::Windows
            | CleanupPreset::WorkspacesWindows
            | CleanupPreset::AppstreamWindows => Some(Os::Windows),
            CleanupPreset::None => None,
        }
    }

    /// Every preset, in documentation order.
    pub const ALL: &'static [CleanupPreset] = &[
        CleanupPreset::Linux,
        CleanupPreset::Windows,
        CleanupPreset::WorkspacesLinux,
        CleanupPreset::WorkspacesWindows,
        CleanupPreset::AppstreamWindows,
        CleanupPreset::AppstreamLinux,
        CleanupPreset::None,
    ];
}
