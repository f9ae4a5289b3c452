//! The AppStream 2.0 clean-down presets (seed 002: administer your images).

use recipe_model::{CleanupItem, Os, PresetDef};

/// `appstream-windows`.
pub static WINDOWS: PresetDef = PresetDef {
    name: "appstream-windows",
    summary: "Windows AppStream 2.0 image.",
    os: Some(Os::Windows),
    items: APPSTREAM_WINDOWS,
};

/// `appstream-linux`.
pub static LINUX: PresetDef = PresetDef {
    name: "appstream-linux",
    summary: "Linux AppStream 2.0 image.",
    os: Some(Os::Linux),
    items: APPSTREAM_LINUX,
};

const APPSTREAM_WINDOWS: &[CleanupItem] = &[
    CleanupItem::new(
        "Windows Update off (Image Assistant disables it at capture)",
        "Set-Service wuauserv -StartupType Disabled; Stop-Service wuauserv -Force",
        "AppStream: administer your images (Windows Update)",
    ),
    CleanupItem::new(
        "temporary files",
        "Remove-Item \"$env:windir\\Temp\\*\",\"$env:TEMP\\*\" -Recurse -Force -ErrorAction SilentlyContinue",
        "good practice",
    ),
    CleanupItem::new(
        "PowerShell history",
        "Remove-Item (Get-PSReadLineOption).HistorySavePath -Force -ErrorAction SilentlyContinue",
        "good practice",
    ),
    CleanupItem::new(
        "credentials left by the build",
        "Remove-Item \"$env:USERPROFILE\\.aws\" -Recurse -Force -ErrorAction SilentlyContinue",
        "good practice",
    ),
];

const APPSTREAM_LINUX: &[CleanupItem] = &[
    CleanupItem::new(
        "temporary files",
        "rm -rf /tmp/* /var/tmp/*",
        "good practice",
    ),
    CleanupItem::new(
        "logs",
        "find /var/log -type f -exec truncate -s 0 {} +",
        "good practice",
    ),
    CleanupItem::new(
        "shell history and credentials",
        "rm -f /root/.bash_history; rm -rf /root/.aws",
        "good practice",
    ),
];
