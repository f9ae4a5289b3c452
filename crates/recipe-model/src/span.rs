//! Source spans and the [`Node`] wrapper that carries them.

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a value came from in its YAML source: a byte range plus a 1-based line and column.
///
/// A span of `len` 0 marks a position (the start of a node) rather than a range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// Byte offset of the first byte of the node.
    pub offset: usize,
    /// Length in bytes (0 when only the start is known).
    pub len: usize,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl Span {
    /// A span for values that did not come from a file (defaults, generated values).
    pub const UNKNOWN: Span = Span {
        offset: 0,
        len: 0,
        line: 0,
        column: 0,
    };

    /// Whether this span points into a source.
    pub fn is_known(&self) -> bool {
        self.line > 0
    }

    /// Build a span from a serde-saphyr location.
    pub fn from_location(loc: &serde_saphyr::Location) -> Span {
        if loc.line() == 0 {
            return Span::UNKNOWN;
        }
        let s = loc.span();
        Span {
            offset: s.byte_offset().map_or(0, |b| b as usize),
            len: s.byte_len().map_or(0, |b| b as usize),
            line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
            column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A value together with the [`Span`] of the YAML node it was read from.
///
/// Serializes, compares and hashes as the bare value: spans never reach plans, state or
/// fingerprints. Its JSON Schema is the schema of `T`.
#[derive(Clone, Debug)]
pub struct Node<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub span: Span,
}

impl<T> Node<T> {
    /// Wrap a value with a span.
    pub fn new(value: T, span: Span) -> Self {
        Node { value, span }
    }

    /// Wrap a value that has no source location.
    pub fn synthetic(value: T) -> Self {
        Node {
            value,
            span: Span::UNKNOWN,
        }
    }
}

impl<T> std::ops::Deref for Node<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> std::ops::DerefMut for Node<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: PartialEq> PartialEq for Node<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Node<T> {}

impl<T: PartialOrd> PartialOrd for Node<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.value.partial_cmp(&other.value)
    }
}

impl<T: Ord> Ord for Node<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

/// Lets maps keyed by `Node<String>` be looked up by `&str`: order, equality and hash are the
/// value's, so they agree with `str`'s.
impl std::borrow::Borrow<str> for Node<String> {
    fn borrow(&self) -> &str {
        &self.value
    }
}

impl<T: std::hash::Hash> std::hash::Hash for Node<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl<T: fmt::Display> fmt::Display for Node<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Node<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        Ok(Node {
            span: Span::from_location(&spanned.referenced),
            value: spanned.value,
        })
    }
}

impl<T: Serialize> Serialize for Node<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<T: JsonSchema> JsonSchema for Node<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}
