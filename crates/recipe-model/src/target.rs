//! The kind of image a recipe builds, as an open name.
//!
//! The language does not list its targets: each target's crate declares its name (a
//! `recipe_loader::TargetSpec`), and a registry says which are served. A recipe names one as
//! `target: <name>`; the loader refuses names no registered target has.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A target's name, as written in YAML (`ec2-ami`, ...). Cheap to copy and compare.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target(&'static str);

/// Names read from documents, interned once each so that [`Target`] stays `Copy`.
static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

/// How many distinct names are kept; past that, a name read is stored as [`Target::UNKNOWN`]
/// (no registered target has it, and the loader reports the text at its span).
const MAX_NAMES: usize = 256;

impl Target {
    /// What an unregisterable name reads as once [`MAX_NAMES`] distinct names were seen.
    pub const UNKNOWN: Target = Target("<unknown>");

    /// A target with a fixed name: how a target's crate declares it.
    pub const fn new(name: &'static str) -> Target {
        Target(name)
    }

    /// Make a declared target's name always readable, however many other names were read before.
    pub fn declare(target: Target) {
        let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
        names.insert(target.0);
    }

    /// The target a document names, whether or not any target is registered under it.
    pub fn named(name: &str) -> Target {
        intern(&NAMES, name, MAX_NAMES).map_or(Target::UNKNOWN, Target)
    }

    /// The name as written in YAML.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

/// `name` as a `&'static str` kept in `names`: the one already there, or a new one while fewer than
/// `max` are kept (`None` past that). Open names (targets, rollout kinds) are read from documents
/// and compared often; interning keeps them `Copy` without leaking one string per read.
pub fn intern(
    names: &Mutex<BTreeSet<&'static str>>,
    name: &str,
    max: usize,
) -> Option<&'static str> {
    let mut names = names.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = names.get(name) {
        return Some(known);
    }
    if names.len() >= max {
        return None;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.insert(leaked);
    Some(leaked)
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({})", self.0)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Target::named(&name))
    }
}

impl JsonSchema for Target {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Target".into()
    }

    /// A name; the schema command lists the registered targets in place of this.
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "description": "The kind of image a recipe builds." })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_read_twice_is_one_target() {
        let a = Target::named("kiosk-test-target");
        let b: Target = serde_json::from_str("\"kiosk-test-target\"").expect("a string");
        assert_eq!(a, b);
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        assert_eq!(
            serde_json::to_string(&b).expect("serializes"),
            "\"kiosk-test-target\""
        );
    }

    #[test]
    fn a_declared_target_equals_the_same_name_read() {
        const DECLARED: Target = Target::new("declared-test-target");
        assert_eq!(Target::named("declared-test-target"), DECLARED);
        assert_ne!(Target::named("other-test-target"), DECLARED);
    }
}
