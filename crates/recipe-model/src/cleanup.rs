//! `cleanup:` presets: open names, and the clean-down lists behind them, from the seed documents.
//!
//! The language has the generic presets (`linux`, `windows`, `none`); a target's crate declares its
//! own ([`CleanupPreset::declare`], through its `TargetSpec`). Each item says what it removes, the
//! command that does it (bash on Linux, PowerShell on Windows), and where the practice comes from.
//! The engine runs them in order on the builder after the tests and before capture;
//! `docs/recipes.md` lists them (generated).

use std::fmt;
use std::sync::{Mutex, PoisonError};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Os;

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

impl CleanupItem {
    /// An item: what it removes, the command, and where the practice comes from.
    pub const fn new(what: &'static str, command: &'static str, source: &'static str) -> Self {
        CleanupItem {
            what,
            command,
            source,
        }
    }
}

const fn item(what: &'static str, command: &'static str, source: &'static str) -> CleanupItem {
    CleanupItem::new(what, command, source)
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

/// A preset: its name, what it is for, the operating system its commands are written for (`None`
/// for `none`), and its items in the order they run.
#[derive(Debug)]
pub struct PresetDef {
    /// The name as written in YAML.
    pub name: &'static str,
    /// What it is for (the schema's and the docs' description).
    pub summary: &'static str,
    /// The operating system of its commands.
    pub os: Option<Os>,
    /// The clean-down actions, in order.
    pub items: &'static [CleanupItem],
}

static GENERIC_LINUX: PresetDef = PresetDef {
    name: "linux",
    summary: "Generic Linux AMI: package caches, temporary files, logs, shell history, SSH host keys, machine-id and cloud-init state.",
    os: Some(Os::Linux),
    items: LINUX,
};

static GENERIC_WINDOWS: PresetDef = PresetDef {
    name: "windows",
    summary: "Generic Windows AMI: temporary files, event logs, caches (sysprep handles identity).",
    os: Some(Os::Windows),
    items: WINDOWS,
};

static NO_CLEANUP: PresetDef = PresetDef {
    name: "none",
    summary: "No clean-down (not recommended: the linter flags it).",
    os: None,
    items: &[],
};

/// The presets targets declared, in the order they were declared.
static DECLARED: Mutex<Vec<&'static PresetDef>> = Mutex::new(Vec::new());

/// A built-in clean-down list, run on the builder before capture, by name (`linux`,
/// `workspaces-windows`, …). Cheap to copy and compare.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CleanupPreset(&'static str);

impl CleanupPreset {
    /// Generic Linux AMI.
    pub const LINUX: CleanupPreset = CleanupPreset("linux");
    /// Generic Windows AMI.
    pub const WINDOWS: CleanupPreset = CleanupPreset("windows");
    /// No clean-down.
    pub const NONE: CleanupPreset = CleanupPreset("none");

    /// The preset a definition names: how a target's crate refers to its own.
    pub const fn of(def: &'static PresetDef) -> CleanupPreset {
        CleanupPreset(def.name)
    }

    /// Make a target's preset known: its name reads as it, and its items run. Declaring the same
    /// name twice keeps the first.
    pub fn declare(def: &'static PresetDef) {
        let mut declared = DECLARED.lock().unwrap_or_else(PoisonError::into_inner);
        if !declared.iter().any(|d| d.name == def.name) {
            declared.push(def);
        }
    }

    /// The preset named `name`, if one is built in or declared.
    pub fn named(name: &str) -> Option<CleanupPreset> {
        Self::all()
            .iter()
            .find(|d| d.name == name)
            .map(|d| CleanupPreset(d.name))
    }

    /// A preset by name whether or not one is declared under it (an undeclared one runs nothing):
    /// for data written by the tool, such as a saved plan, read where no target may be registered.
    pub fn read_any<'de, D: Deserializer<'de>>(d: D) -> Result<CleanupPreset, D::Error> {
        static NAMES: Mutex<std::collections::BTreeSet<&'static str>> =
            Mutex::new(std::collections::BTreeSet::new());
        let name = String::deserialize(d)?;
        if let Some(known) = Self::named(&name) {
            return Ok(known);
        }
        Ok(crate::intern(&NAMES, &name, 256).map_or(CleanupPreset("<unknown>"), CleanupPreset))
    }

    /// The name as written in YAML.
    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// Its definition (every value read is a built-in or declared preset; one made with
    /// [`CleanupPreset::of`] of an undeclared definition has none).
    pub fn def(&self) -> Option<&'static PresetDef> {
        Self::all().into_iter().find(|d| d.name == self.0)
    }

    /// The clean-down actions of the preset, in the order they run.
    pub fn items(&self) -> &'static [CleanupItem] {
        self.def().map_or(&[], |d| d.items)
    }

    /// The operating system the preset's commands are written for (`None` for `none`).
    pub fn os(&self) -> Option<Os> {
        self.def().and_then(|d| d.os)
    }

    /// Every preset, in documentation order: the generic ones, the declared ones, then `none`.
    pub fn all() -> Vec<&'static PresetDef> {
        let declared = DECLARED.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<&'static PresetDef> = vec![&GENERIC_LINUX, &GENERIC_WINDOWS];
        out.extend(declared.iter().copied());
        out.push(&NO_CLEANUP);
        out
    }
}

impl fmt::Debug for CleanupPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CleanupPreset({})", self.0)
    }
}

impl fmt::Display for CleanupPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for CleanupPreset {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

/// Read as a unit-variant enum of the known names: a name no preset has is refused as an unknown
/// variant, at the value, with the known names.
impl<'de> Deserialize<'de> for CleanupPreset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{EnumAccess, Error, VariantAccess, Visitor};
        struct Name;
        impl<'de> Visitor<'de> for Name {
            type Value = CleanupPreset;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a cleanup preset name")
            }
            fn visit_str<E: Error>(self, name: &str) -> Result<CleanupPreset, E> {
                CleanupPreset::named(name).ok_or_else(|| E::unknown_variant(name, names()))
            }
            fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<CleanupPreset, A::Error> {
                let (preset, rest) = data.variant_seed(std::marker::PhantomData::<Named>)?;
                rest.unit_variant()?;
                Ok(preset.0)
            }
        }
        struct Named(CleanupPreset);
        impl<'de> Deserialize<'de> for Named {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_identifier(Name).map(Named)
            }
        }
        d.deserialize_enum("CleanupPreset", names(), Name)
    }
}

/// Every preset's name, for an enum's variant list: made again (and the old list leaked) only when
/// a preset was declared since, so reading documents leaks nothing.
fn names() -> &'static [&'static str] {
    static NAMES: Mutex<&'static [&'static str]> = Mutex::new(&[]);
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    let all = CleanupPreset::all();
    if names.len() != all.len() {
        let list: Vec<&'static str> = all.iter().map(|p| p.name).collect();
        *names = Box::leak(list.into_boxed_slice());
    }
    *names
}

impl JsonSchema for CleanupPreset {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CleanupPreset".into()
    }

    /// The presets known when the schema is made, each with its summary.
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<serde_json::Value> = (Self::all().iter())
            .map(|d| serde_json::json!({ "type": "string", "const": d.name, "description": d.summary }))
            .collect();
        json_schema!({
            "oneOf": names,
            "description": "A built-in clean-down list, run on the builder before capture."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_preset_reads_as_itself_and_runs_its_items() {
        const ITEMS: &[CleanupItem] = &[CleanupItem::new("x", "true", "test")];
        static DEF: PresetDef = PresetDef {
            name: "declared-test-preset",
            summary: "test",
            os: Some(Os::Linux),
            items: ITEMS,
        };
        let text = "\"declared-test-preset\"";
        let before = serde_json::from_str::<CleanupPreset>(text);
        let refused = before
            .expect_err("an undeclared name is refused")
            .to_string();
        assert!(
            refused.contains("expected one of `linux`, `windows`"),
            "{refused}"
        );
        assert_eq!(CleanupPreset::named("declared-test-preset"), None);
        CleanupPreset::declare(&DEF);
        let read: CleanupPreset = serde_json::from_str(text).expect("a declared name");
        assert_eq!(read, CleanupPreset::of(&DEF));
        assert_eq!(read.items(), ITEMS);
        assert_eq!(read.os(), Some(Os::Linux));
        let names: Vec<&str> = CleanupPreset::all().iter().map(|d| d.name).collect();
        assert_eq!(names.first(), Some(&"linux"));
        assert_eq!(names.last(), Some(&"none"));
        assert!(names.contains(&"declared-test-preset"));
    }

    #[test]
    fn data_the_tool_wrote_reads_any_preset_name() {
        let mut de = serde_json::Deserializer::from_str("\"undeclared-test-preset\"");
        let read = CleanupPreset::read_any(&mut de).expect("any name");
        assert_eq!(read.as_str(), "undeclared-test-preset");
        assert!(read.items().is_empty());
        assert!(serde_json::from_str::<CleanupPreset>("\"undeclared-test-preset\"").is_err());
    }
}
