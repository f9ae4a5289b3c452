//! `base:`, the image a recipe starts from: the generic kinds, and the kinds targets declare.
//!
//! The language has the kinds every AMI-based build knows (`ssm-parameter`, `ami-filter`,
//! `image-id`) and layering (`recipe`). A target's crate declares the kinds only its service has
//! (a WorkSpaces `bundle`, an AppStream `appstream-image`) with [`BaseKind::declare`], through its
//! `TargetSpec`: each is one string, read as `Base::Declared`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use schemars::JsonSchema;
use serde::de::{EnumAccess, Error, VariantAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Node;

/// The image a recipe starts from.
#[derive(Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Base {
    /// An SSM public parameter that names the latest AMI (`ec2-ami`).
    #[schemars(example = &"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")]
    SsmParameter(Node<String>),
    /// The most recent AMI that matches filters (`ec2-ami`).
    AmiFilter(AmiFilter),
    /// A fixed image id: `ami-…` (`ec2-ami`) or `wsi-…` (`workspaces`).
    ImageId(Node<String>),
    /// Another recipe's image (layering). The other recipe is built first.
    Recipe(Node<String>),
    /// A kind a target declares, with its one string (the schema lists each declared kind).
    #[schemars(skip)]
    Declared(BaseKind, Node<String>),
}

/// A base kind a target declares: its key and what it names, for the schema and docs.
#[derive(Debug)]
pub struct BaseKindDef {
    /// The key, as written under `base:`.
    pub name: &'static str,
    /// What the string names (the schema's description).
    pub summary: &'static str,
}

/// The declared kinds, in the order they were declared.
static DECLARED: Mutex<Vec<&'static BaseKindDef>> = Mutex::new(Vec::new());

/// A declared base kind, by name. Cheap to copy and compare.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BaseKind(&'static str);

/// The generic kinds, as written in YAML.
const GENERIC: [&str; 4] = ["ssm-parameter", "ami-filter", "image-id", "recipe"];

impl BaseKind {
    /// The kind a definition names: how a target's crate refers to its own.
    pub const fn of(def: &'static BaseKindDef) -> BaseKind {
        BaseKind(def.name)
    }

    /// Make a target's kind readable under `base:`. Declaring a name twice keeps the first.
    pub fn declare(def: &'static BaseKindDef) {
        let mut declared = DECLARED.lock().unwrap_or_else(PoisonError::into_inner);
        if !GENERIC.contains(&def.name) && !declared.iter().any(|d| d.name == def.name) {
            declared.push(def);
        }
    }

    /// Every declared kind, in declaration order.
    pub fn declared() -> Vec<&'static BaseKindDef> {
        DECLARED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn named(name: &str) -> Option<BaseKind> {
        let declared = Self::declared();
        declared
            .iter()
            .find(|d| d.name == name)
            .map(|d| BaseKind(d.name))
    }

    /// The key as written in YAML.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl fmt::Debug for BaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BaseKind({})", self.0)
    }
}

/// The string of a base written as one string, or `None`.
macro_rules! single_string {
    ($base:expr) => {
        match $base {
            Base::SsmParameter(s) | Base::ImageId(s) | Base::Declared(_, s) => Some(s),
            Base::AmiFilter(_) | Base::Recipe(_) => None,
        }
    };
}

impl Base {
    /// The value of a base written as one string (an image id, a bundle, a parameter name, …);
    /// `None` for filters and for a recipe.
    pub fn single(&self) -> Option<&Node<String>> {
        single_string!(self)
    }

    /// [`Base::single`], to change.
    pub fn single_mut(&mut self) -> Option<&mut Node<String>> {
        single_string!(self)
    }

    /// The string of a base of the declared kind `kind`.
    pub fn declared(&self, kind: BaseKind) -> Option<&Node<String>> {
        match self {
            Base::Declared(k, s) if *k == kind => Some(s),
            _ => None,
        }
    }

    /// The kind's name as written in YAML.
    pub fn kind(&self) -> &'static str {
        match self {
            Base::SsmParameter(_) => GENERIC[0],
            Base::AmiFilter(_) => GENERIC[1],
            Base::ImageId(_) => GENERIC[2],
            Base::Recipe(_) => GENERIC[3],
            Base::Declared(kind, _) => kind.as_str(),
        }
    }
}

impl Serialize for Base {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Base::AmiFilter(f) => s.serialize_newtype_variant("Base", 1, "ami-filter", f),
            other => {
                let value = other.single().or(match other {
                    Base::Recipe(r) => Some(r),
                    _ => None,
                });
                let value = &value.expect("every other kind is one string").value;
                s.serialize_newtype_variant("Base", 0, other.kind(), value)
            }
        }
    }
}

/// Read as an externally tagged enum of the generic and declared kinds: an unknown kind is refused
/// as an unknown variant, at its key, with the known kinds.
impl<'de> Deserialize<'de> for Base {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_enum("Base", kind_names(), BaseVisitor)
    }
}

struct BaseVisitor;

impl<'de> Visitor<'de> for BaseVisitor {
    type Value = Base;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a base: one of its kinds as the only key")
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Base, A::Error> {
        let (kind, v) = data.variant::<Kind>()?;
        Ok(match kind.0 {
            "ssm-parameter" => Base::SsmParameter(v.newtype_variant()?),
            "ami-filter" => Base::AmiFilter(v.newtype_variant()?),
            "image-id" => Base::ImageId(v.newtype_variant()?),
            "recipe" => Base::Recipe(v.newtype_variant()?),
            declared => {
                let kind = BaseKind::named(declared).expect("Kind reads known names only");
                Base::Declared(kind, v.newtype_variant()?)
            }
        })
    }
}

/// A kind's key, refused while it is read when no kind has it.
struct Kind(&'static str);

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = Kind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base kind")
            }
            fn visit_str<E: Error>(self, name: &str) -> Result<Kind, E> {
                let names = kind_names();
                let known = names.iter().find(|n| **n == name);
                known
                    .map(|n| Kind(n))
                    .ok_or_else(|| E::unknown_variant(name, names))
            }
        }
        d.deserialize_identifier(Name)
    }
}

/// The generic and declared kinds' names, for an enum's variant list: made again (and the old list
/// leaked) only when a kind was declared since.
fn kind_names() -> &'static [&'static str] {
    static NAMES: Mutex<&'static [&'static str]> = Mutex::new(&GENERIC);
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    let declared = BaseKind::declared();
    if names.len() != GENERIC.len() + declared.len() {
        let list = GENERIC
            .iter()
            .copied()
            .chain(declared.iter().map(|d| d.name));
        *names = Box::leak(list.collect::<Vec<_>>().into_boxed_slice());
    }
    *names
}

/// The schema's alternatives for the declared kinds, after the generic ones (`recipe_schema` adds
/// them; the derived schema has only the generic kinds).
pub(crate) fn declared_schemas() -> Vec<serde_json::Value> {
    let one = |d: &BaseKindDef| {
        serde_json::json!({
            "type": "object",
            "properties": { d.name: { "type": "string" } },
            "required": [d.name],
            "additionalProperties": false,
            "description": d.summary,
        })
    };
    BaseKind::declared().into_iter().map(one).collect()
}

/// Filters that select an AMI; the newest match wins when `most-recent` is true.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(extend("required" = ["filters", "owners"]))]
pub struct AmiFilter {
    /// DescribeImages filters, name to value (wildcards allowed).
    #[schemars(example = filter_example())]
    pub filters: BTreeMap<String, Node<String>>,
    /// Owners: account ids, `self`, `amazon` or `aws-marketplace`. Required: without them any
    /// account's public AMI whose name matches would do (AMI name confusion).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1))]
    pub owners: Vec<Node<String>>,
    /// Pick the newest match (otherwise more than one match is an error).
    #[serde(default)]
    pub most_recent: bool,
}

fn filter_example() -> BTreeMap<String, String> {
    BTreeMap::from([("name".to_string(), "al2023-ami-2023.*-x86_64".to_string())])
}
