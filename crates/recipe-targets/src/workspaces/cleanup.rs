//! The WorkSpaces clean-down presets (seed 000's clean-down list and seed 001's best practices).

use recipe_model::{CleanupItem, Os, PresetDef};

const LINUX_SEED: &str = "WorkSpaces Linux best practices: clean down the image";

/// `workspaces-linux`.
pub static LINUX: PresetDef = PresetDef {
    name: "workspaces-linux",
    summary: "Linux WorkSpaces image: the Linux list plus what WorkSpaces image creation needs.",
    os: Some(Os::Linux),
    items: WORKSPACES_LINUX,
};

/// `workspaces-windows`.
pub static WINDOWS: PresetDef = PresetDef {
    name: "workspaces-windows",
    summary: "Windows WorkSpaces image.",
    os: Some(Os::Windows),
    items: WORKSPACES_WINDOWS,
};

const WORKSPACES_LINUX: &[CleanupItem] = &[
    CleanupItem::new(
        "temporary install files outside what capture removes",
        "rm -rf /opt/recipe-build /root/recipe-build",
        LINUX_SEED,
    ),
    CleanupItem::new(
        "logs the service does not remove (agent logs are left for it)",
        "find /var/log \\( -path /var/log/amazon -o -path '/var/log/pcoip-agent*' -o -path '/var/log/skylight*' \\) -prune -o -type f -exec truncate -s 0 {} +",
        LINUX_SEED,
    ),
    CleanupItem::new(
        "root's history, keys and credentials (root is on the captured volume)",
        "rm -f /root/.bash_history /root/.ssh/authorized_keys; rm -rf /root/.aws /root/.netrc",
        "WorkSpaces Linux best practices: no keys in the image",
    ),
    CleanupItem::new("buffers flushed", "sync", "good practice"),
];

const WORKSPACES_WINDOWS: &[CleanupItem] = &[
    CleanupItem::new(
        "temporary files",
        "Remove-Item \"$env:windir\\Temp\\*\",\"$env:TEMP\\*\" -Recurse -Force -ErrorAction SilentlyContinue",
        "WorkSpaces: Create a custom bundle (best practices)",
    ),
    CleanupItem::new(
        "browser caches, cookies, history and temporary files of every kept profile",
        // Run Command runs as LocalSystem, whose $env:LOCALAPPDATA is not a user's: every profile
        // the image keeps is cleaned (the default profile, and the users' folders on C: and on D:,
        // where WorkSpaces keeps the user profile it captures).
        "foreach ($p in @(Get-ChildItem 'C:\\Users','D:\\Users' -Directory -Force -ErrorAction SilentlyContinue)) { $l = Join-Path $p.FullName 'AppData\\Local'; Remove-Item \"$l\\Microsoft\\Edge\\User Data\\*\\Cache\",\"$l\\Microsoft\\Edge\\User Data\\*\\Cookies\",\"$l\\Microsoft\\Edge\\User Data\\*\\History\",\"$l\\Google\\Chrome\\User Data\\*\\Cache\",\"$l\\Temp\\*\" -Recurse -Force -ErrorAction SilentlyContinue }",
        "WorkSpaces: Create a custom bundle (best practices)",
    ),
    CleanupItem::new(
        "email profiles, in every kept profile's registry hive",
        // HKCU is LocalSystem's: each kept profile's hive is loaded (or found loaded) instead.
        "foreach ($p in @(Get-ChildItem 'C:\\Users','D:\\Users' -Directory -Force -ErrorAction SilentlyContinue)) { $hive = Join-Path $p.FullName 'NTUSER.DAT'; if (-not (Test-Path $hive)) { continue }; reg load 'HKU\\recipe-clean' $hive 2>$null | Out-Null; if ($LASTEXITCODE -eq 0) { Remove-Item 'Registry::HKEY_USERS\\recipe-clean\\Software\\Microsoft\\Office\\16.0\\Outlook\\Profiles' -Recurse -Force -ErrorAction SilentlyContinue; [gc]::Collect(); reg unload 'HKU\\recipe-clean' | Out-Null } }\nGet-ChildItem 'Registry::HKEY_USERS' | Where-Object { $_.PSChildName -match '^S-1-5-21-[0-9-]+$' } | ForEach-Object { Remove-Item \"Registry::$($_.Name)\\Software\\Microsoft\\Office\\16.0\\Outlook\\Profiles\" -Recurse -Force -ErrorAction SilentlyContinue }",
        "WorkSpaces: Create a custom bundle (best practices)",
    ),
    CleanupItem::new(
        "static addresses (back to DHCP)",
        "Get-NetIPInterface -AddressFamily IPv4 | Set-NetIPInterface -Dhcp Enabled",
        "WorkSpaces: Create a custom bundle (best practices)",
    ),
    CleanupItem::new(
        "PowerShell history",
        "Remove-Item (Get-PSReadLineOption).HistorySavePath -Force -ErrorAction SilentlyContinue",
        "good practice",
    ),
];
