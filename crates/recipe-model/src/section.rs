//! Target sections: recipe keys a target's crate owns, with types of its own.
//!
//! The language's structs hold what every target shares. A target that needs more (WorkSpaces'
//! `bundle`, `builder.import`) declares a [`SectionDef`] for each key, through its `TargetSpec`: the
//! struct it lives in (its *host*), the key, and the Rust type it reads as. The hosts' readers take a
//! declared key as that type, with spans, in the same pass as the rest of the document; a key that
//! is neither a field nor a declared section is an unknown field, as before. Code reads a section
//! back typed, with a [`SectionKey`].
//!
//! A section is read through `erased-serde` (its type is the target's, not known here), which keeps
//! spans but not the structure of an error. So when one fails, [`take_failed`] names it, and
//! [`SectionDef::reparse`] reads the document again for that key alone, natively: the loader reports
//! that error, at its own line and column.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Mutex, PoisonError};

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserializer, Serialize, Serializer};

use crate::{Node, Span};

/// A type a target reads one of its sections as.
pub trait SectionType:
    Clone + fmt::Debug + PartialEq + Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static
{
    /// The strings in it that take `${variable}`s (the loader fills them in).
    fn strings_mut(&mut self) -> Vec<&mut Node<String>> {
        Vec::new()
    }
}

impl SectionType for bool {}

/// A section's value as read: a `Node<T>` of its declared type.
trait Value: Any + Send + Sync + fmt::Debug {
    fn as_any(&self) -> &dyn Any;
    fn clone_box(&self) -> Box<dyn Value>;
    fn eq_dyn(&self, other: &dyn Value) -> bool;
    fn to_json(&self) -> serde_json::Value;
    fn strings(&mut self) -> Vec<&mut Node<String>>;
    fn span(&self) -> Span;
}

impl<T: SectionType> Value for Node<T> {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn clone_box(&self) -> Box<dyn Value> {
        Box::new(self.clone())
    }
    fn eq_dyn(&self, other: &dyn Value) -> bool {
        other.as_any().downcast_ref::<Node<T>>() == Some(self)
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.value).expect("a section serializes")
    }
    fn strings(&mut self) -> Vec<&mut Node<String>> {
        self.value.strings_mut()
    }
    fn span(&self) -> Span {
        self.span
    }
}

/// A section's reader: `None` for a null value (the key reads as absent, as an `Option` field's).
type Read = fn(
    &mut dyn erased_serde::Deserializer<'_>,
) -> Result<Option<Box<dyn Value>>, erased_serde::Error>;
type Reparse = fn(&str, serde_saphyr::Options, &[&str]) -> Option<(serde_saphyr::Error, String)>;

/// A key a target adds to one of the language's structs, and the type it reads as.
pub struct SectionDef {
    /// The struct it is a key of: `""` for the recipe itself, `"builder"`, or `"rollout"`.
    pub host: &'static str,
    /// The key, as written.
    pub key: &'static str,
    /// What it is for: the schema's description of the key.
    pub summary: &'static str,
    read: Read,
    schema: fn(&mut SchemaGenerator) -> Schema,
    reparse: Reparse,
}

impl fmt::Debug for SectionDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SectionDef({})", self.path())
    }
}

/// The structs that take sections, by their key in the recipe.
pub const HOSTS: [&str; 3] = ["", "builder", "rollout"];

impl SectionDef {
    /// The section `key` of `host`, read as `T`.
    pub const fn of<T: SectionType>(
        host: &'static str,
        key: &'static str,
        summary: &'static str,
    ) -> SectionDef {
        SectionDef {
            host,
            key,
            summary,
            read: read::<T>,
            schema: schema::<T>,
            reparse: reparse::<T>,
        }
    }

    /// The key's path from the recipe: `bundle`, `builder.import`.
    pub fn path(&self) -> String {
        match self.host {
            "" => self.key.to_string(),
            host => format!("{host}.{}", self.key),
        }
    }

    /// The schema of the key's value.
    pub fn schema(&self, generator: &mut SchemaGenerator) -> Schema {
        (self.schema)(generator)
    }

    /// Read `text` again for this key alone, natively: the error reading it, and its path.
    pub fn reparse(
        &self,
        text: &str,
        options: serde_saphyr::Options,
    ) -> Option<(serde_saphyr::Error, String)> {
        let mut path: Vec<&str> = self.host.split('.').filter(|s| !s.is_empty()).collect();
        path.push(self.key);
        (self.reparse)(text, options, &path)
    }

    /// Make the section readable. Declaring the same path twice keeps the first.
    pub fn declare(def: &'static SectionDef) {
        let mut defs = DECLARED.lock().unwrap_or_else(PoisonError::into_inner);
        if !defs.iter().any(|d| d.host == def.host && d.key == def.key) {
            defs.push(def);
        }
    }

    /// Every declared section, in declaration order.
    pub fn declared() -> Vec<&'static SectionDef> {
        DECLARED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

static DECLARED: Mutex<Vec<&'static SectionDef>> = Mutex::new(Vec::new());

fn read<T: SectionType>(
    d: &mut dyn erased_serde::Deserializer<'_>,
) -> Result<Option<Box<dyn Value>>, erased_serde::Error> {
    let node: Option<Node<T>> = erased_serde::deserialize(d)?;
    Ok(node.map(|n| Box::new(n) as Box<dyn Value>))
}

/// As an optional field's: the type, or null.
fn schema<T: SectionType>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<Option<T>>()
}

thread_local! {
    static FAILED: Cell<Option<&'static SectionDef>> = const { Cell::new(None) };
}

/// The section whose reading failed last on this thread, if any (and forget it).
pub fn take_failed() -> Option<&'static SectionDef> {
    FAILED.with(Cell::take)
}

/// Typed access to one declared section.
pub struct SectionKey<T> {
    def: &'static SectionDef,
    ty: PhantomData<fn() -> T>,
}

impl<T: SectionType> SectionKey<T> {
    /// Access to `def`, which must read as `T`.
    pub const fn new(def: &'static SectionDef) -> Self {
        SectionKey {
            def,
            ty: PhantomData,
        }
    }

    /// The section in `sections`, if the recipe has it.
    pub fn of<'a>(&self, sections: &'a Sections) -> Option<&'a Node<T>> {
        let value = sections.get(self.def.key)?;
        let node = value.as_any().downcast_ref::<Node<T>>();
        Some(node.expect("a section reads as its declared type"))
    }

    /// The section's definition.
    pub fn def(&self) -> &'static SectionDef {
        self.def
    }
}

/// The sections a struct of the language was written with, in the order they were written.
#[derive(Default)]
pub struct Sections(Vec<(&'static str, Box<dyn Value>)>);

impl Sections {
    fn get(&self, key: &str) -> Option<&dyn Value> {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Each section's key and where its value is written.
    pub fn spans(&self) -> impl Iterator<Item = (&'static str, Span)> + '_ {
        self.0.iter().map(|(k, v)| (*k, v.span()))
    }

    /// The strings in every section that take `${variable}`s.
    pub fn strings_mut(&mut self) -> Vec<&mut Node<String>> {
        self.0.iter_mut().flat_map(|(_, v)| v.strings()).collect()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Read the value of `key` from `map`: a declared section of `host`. `None` when no section of
    /// `host` is declared under `key` (the caller reports an unknown field).
    pub fn read_value<'de, A: MapAccess<'de>>(
        &mut self,
        host: &str,
        key: &'static str,
        map: &mut A,
    ) -> Result<(), A::Error> {
        let def = find(host, key).expect("read_value is called for declared keys");
        if self.get(key).is_some() {
            return Err(serde::de::Error::duplicate_field(key));
        }
        if let Some(value) = map.next_value_seed(Erased(def))? {
            self.0.push((def.key, value));
        }
        Ok(())
    }
}

/// The declared section `key` of `host`.
pub fn find(host: &str, key: &str) -> Option<&'static SectionDef> {
    let defs = DECLARED.lock().unwrap_or_else(PoisonError::into_inner);
    defs.iter()
        .copied()
        .find(|d| d.host == host && d.key == key)
}

struct Erased(&'static SectionDef);

impl<'de> DeserializeSeed<'de> for Erased {
    type Value = Option<Box<dyn Value>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let mut erased = <dyn erased_serde::Deserializer>::erase(d);
        (self.0.read)(&mut erased).map_err(|e| {
            FAILED.with(|f| f.set(Some(self.0)));
            serde::de::Error::custom(e)
        })
    }
}

impl Clone for Sections {
    fn clone(&self) -> Self {
        Sections(self.0.iter().map(|(k, v)| (*k, v.clone_box())).collect())
    }
}

impl PartialEq for Sections {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && (self.0.iter()).all(|(k, v)| other.get(k).is_some_and(|o| v.eq_dyn(o)))
    }
}

impl fmt::Debug for Sections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

/// As a map of key to value: flattened into its host, a section serializes where it was a field.
impl Serialize for Sections {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, &v.to_json())?;
        }
        map.end()
    }
}

/// The document again, for the key at `path` alone (every other key skipped), read as `T`.
fn reparse<T: SectionType>(
    text: &str,
    options: serde_saphyr::Options,
    path: &[&str],
) -> Option<(serde_saphyr::Error, String)> {
    let mut at = String::new();
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        let seed = AtPath::<T>(path, PhantomData);
        let mut track = serde_path_to_error::Track::new();
        let de = serde_path_to_error::Deserializer::new(de, &mut track);
        seed.deserialize(de)
            .inspect_err(|_| at = track.path().to_string())
    });
    result.err().map(|e| (e, at))
}

struct AtPath<'p, T>(&'p [&'p str], PhantomData<T>);

impl<'de, T: SectionType> DeserializeSeed<'de> for AtPath<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: SectionType> Visitor<'de> for AtPath<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (first, rest) = self.0.split_first().expect("a path has a key");
        while let Some(key) = map.next_key::<String>()? {
            if key != *first {
                map.next_value::<IgnoredAny>()?;
            } else if rest.is_empty() {
                map.next_value::<Option<Node<T>>>()?;
            } else {
                map.next_value_seed(AtPath::<T>(rest, PhantomData))?;
            }
        }
        Ok(())
    }
}

/// A host's key: one of its `fields`, or a section declared for `host`; anything else is refused
/// as an unknown field while the key is read, so the error points at it.
pub struct HostKey {
    /// The struct's key in the recipe (see [`HOSTS`]).
    pub host: &'static str,
    /// Its own fields, in declaration order.
    pub fields: &'static [&'static str],
}

impl<'de> DeserializeSeed<'de> for HostKey {
    type Value = &'static str;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'static str, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl Visitor<'_> for HostKey {
    type Value = &'static str;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<&'static str, E> {
        if let Some(field) = self.fields.iter().find(|f| **f == key) {
            return Ok(field);
        }
        if let Some(def) = find(self.host, key) {
            return Ok(def.key);
        }
        Err(E::unknown_field(key, expected(self.host, self.fields)))
    }
}

/// A host's fields and then its declared sections, for an unknown field's list: made again (and
/// the old list leaked) only when a section was declared since.
fn expected(host: &str, fields: &'static [&'static str]) -> &'static [&'static str] {
    type Lists = Vec<(&'static str, usize, &'static [&'static str])>;
    static LISTS: Mutex<Lists> = Mutex::new(Vec::new());
    let sections: Vec<&'static str> = (SectionDef::declared().into_iter())
        .filter(|d| d.host == host)
        .map(|d| d.key)
        .collect();
    let mut lists = LISTS.lock().unwrap_or_else(PoisonError::into_inner);
    let n = fields.len() + sections.len();
    if let Some((_, _, list)) = lists.iter().find(|(h, len, _)| *h == host && *len == n) {
        return list;
    }
    let list: Vec<&'static str> = fields.iter().copied().chain(sections).collect();
    let list: &'static [&'static str] = Box::leak(list.into_boxed_slice());
    let host = HOSTS.iter().find(|h| **h == host).copied().unwrap_or("");
    lists.push((host, n, list));
    list
}

/// Each host's reader: the fields it names and the declared sections of its host, read in one
/// pass. `$required` fields must be present; the others default.
#[macro_export]
#[doc(hidden)]
macro_rules! host_reader {
    ($ty:ident at $host:literal, expecting $what:literal,
     { $($field:ident: $key:literal $(, $required:ident)?;)* }) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                const FIELDS: &[&str] = &[$($key),*];
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$ty, A::Error> {
                        $(let mut $field = None;)*
                        let mut sections = $crate::Sections::default();
                        let seed = || $crate::section::HostKey { host: $host, fields: FIELDS };
                        while let Some(key) = map.next_key_seed(seed())? {
                            match key {
                                $($key => {
                                    if $field.is_some() {
                                        return Err(serde::de::Error::duplicate_field($key));
                                    }
                                    $field = Some(map.next_value()?);
                                })*
                                other => sections.read_value($host, other, &mut map)?,
                            }
                        }
                        Ok($ty {
                            $($field: $crate::host_reader!(@take $field, $key $(, $required)?),)*
                            sections,
                        })
                    }
                }
                d.deserialize_struct(stringify!($ty), FIELDS, V)
            }
        }
    };
    (@take $field:ident, $key:literal, required) => {
        $field.ok_or_else(|| serde::de::Error::missing_field($key))?
    };
    (@take $field:ident, $key:literal) => {
        $field.unwrap_or_default()
    };
}

/// The schema's properties for the sections declared for `host`, each with its description (a
/// reference is wrapped: draft-07 gives a `$ref` no siblings).
pub fn host_properties(host: &str, generator: &mut SchemaGenerator) -> Vec<(String, Schema)> {
    let defs = SectionDef::declared()
        .into_iter()
        .filter(|d| d.host == host);
    let describe = |d: &SectionDef, generator: &mut SchemaGenerator| {
        let mut s = d.schema(generator);
        if s.get("$ref").is_some() {
            s = schemars::json_schema!({ "allOf": [s] });
        }
        s.insert("description".into(), d.summary.into());
        (d.key.to_string(), s)
    };
    defs.map(|d| describe(d, generator)).collect()
}
