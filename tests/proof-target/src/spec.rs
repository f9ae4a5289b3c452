//! The kiosk target's rules.

use std::sync::LazyLock;

use recipe_loader::{Check, Code, Section, TargetCode, TargetSpec};
use recipe_model::{Base, BaseKindDef, CleanupPreset, Os, PresetDef, Target};

use crate::own::{CATALOG_BASE, KIOSK_LINUX, SCREEN_SECTION};
use regex::Regex;

/// The target's name.
pub const KIOSK: Target = Target::new("kiosk");

recipe_loader::target_codes! {
    SCREEN = ("recipe::kiosk::screen", Error, "A kiosk builder that is not a `kiosk.*` machine (only they drive a touch screen)."),
    BASE = ("recipe::kiosk::base", Error, "A kiosk image started from an id that is not a kiosk image (`kio-…`)."),
}

static IMAGE_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^kio-[0-9a-f]{8}$").expect("pattern"));
static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z][a-z0-9-]{2,39}$").expect("pattern"));

/// The kiosk rules.
pub struct Kiosk;

impl TargetSpec for Kiosk {
    fn target(&self) -> Target {
        KIOSK
    }

    fn summary(&self) -> &'static str {
        "A kiosk disk image, built on a fake cloud's builder (a test-only target)."
    }

    fn bases(&self) -> &'static [&'static str] {
        &["image-id", "recipe", "kiosk-catalog"]
    }

    fn base_kinds(&self) -> &'static [&'static BaseKindDef] {
        const LIST: &[&BaseKindDef] = &[&CATALOG_BASE];
        LIST
    }

    fn sections(&self) -> &'static [Section] {
        const LIST: &[Section] = &[Section::typed("screen", &SCREEN_SECTION)];
        LIST
    }

    fn presets(&self) -> &'static [&'static PresetDef] {
        const LIST: &[&PresetDef] = &[&KIOSK_LINUX];
        LIST
    }

    fn builder_fields(&self) -> &'static [&'static str] {
        &["region", "instance-type"]
    }

    fn cleanup(&self, os: Os) -> CleanupPreset {
        match os {
            Os::Linux => CleanupPreset::of(&KIOSK_LINUX),
            Os::Windows => CleanupPreset::WINDOWS,
        }
    }

    fn image_name(&self, name: &str) -> Result<(), &'static str> {
        let rule = "3-40 characters: lowercase letters, digits and -, starting with a letter";
        NAME.is_match(name).then_some(()).ok_or(rule)
    }

    fn codes(&self) -> &'static [&'static TargetCode] {
        CODES
    }

    fn check(&self, cx: &mut Check<'_>) {
        if let Base::ImageId(id) = &cx.r.recipe.base.value
            && !IMAGE_ID.is_match(id)
        {
            let want = "a kiosk image id `kio-` and 8 hexadecimal digits";
            cx.malformed(Code::Target(&BASE), id, want, "not a kiosk image");
        }
        match &cx.r.recipe.builder.instance_type {
            Some(it) if !it.starts_with("kiosk.") => {
                let want = "a kiosk machine, e.g. `kiosk.touch`";
                cx.malformed(Code::Target(&SCREEN), it, want, "no touch screen");
            }
            None => cx.missing_builder("instance-type", "kiosk builders are `kiosk.*` machines"),
            Some(_) => {}
        }
    }
}
