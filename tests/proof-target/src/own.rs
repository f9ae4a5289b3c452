//! What the kiosk adds to the recipe language, declared through its spec: a `screen` section of its
//! own type, a `kiosk-catalog` base kind, and a `kiosk-linux` clean-up preset.

use recipe_model::{
    BaseKindDef, CleanupItem, Node, Os, PresetDef, SectionDef, SectionKey, SectionType,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kiosk's screen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Screen {
    /// Which way the screen stands.
    pub orientation: Node<Orientation>,
    /// The page the kiosk browser opens (takes `${variables}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_page: Option<Node<String>>,
}

/// Which way a kiosk screen stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Orientation {
    /// Taller than wide.
    Portrait,
    /// Wider than tall.
    Landscape,
}

impl SectionType for Screen {
    fn strings_mut(&mut self) -> Vec<&mut Node<String>> {
        self.home_page.iter_mut().collect()
    }
}

/// `screen`.
pub static SCREEN_SECTION: SectionDef =
    SectionDef::of::<Screen>("", "screen", "The kiosk's screen (target `kiosk`).");
/// A recipe's `screen`.
pub const SCREEN: SectionKey<Screen> = SectionKey::new(&SCREEN_SECTION);

/// `base: { kiosk-catalog }`: a catalog image, by name.
pub static CATALOG_BASE: BaseKindDef = BaseKindDef {
    name: "kiosk-catalog",
    summary: "A kiosk catalog image, by name (`kiosk`).",
};

const ITEMS: &[CleanupItem] = &[CleanupItem::new(
    "the kiosk browser's profile",
    "rm -rf /home/kiosk/.config/browser",
    "kiosk practice",
)];

/// `kiosk-linux`.
pub static KIOSK_LINUX: PresetDef = PresetDef {
    name: "kiosk-linux",
    summary: "Linux kiosk image: the browser profile.",
    os: Some(Os::Linux),
    items: ITEMS,
};
