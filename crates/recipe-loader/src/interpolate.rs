//! `${name}` interpolation.
//!
//! Recipe variables and the load-time built-ins (`name`, `version`, `target`, `strategy`, `os`) are
//! substituted when a recipe loads. The build-time built-ins (`timestamp`, `date`, `build_id`) and
//! secret references (`${secret.NAME}`) stay as written: the engine fills them in on the builder, so a
//! secret's value never passes through a plan. `$${` writes a literal `${`.

use std::collections::BTreeMap;
use std::sync::Arc;

use recipe_model::{Node, Span};

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, SourceFile};
use crate::suggest::did_you_mean;

/// Built-ins resolved when the image is built, with a sample value for name checks.
pub const BUILD_TIME: &[(&str, &str)] = &[
    ("timestamp", "20260101000000"),
    ("date", "2026-01-01"),
    ("build_id", "b0123456789"),
];

/// What `${…}` can refer to in one recipe.
pub struct Scope<'a> {
    /// Variable and load-time built-in values.
    pub values: &'a BTreeMap<String, String>,
    /// Declared secret names.
    pub secrets: &'a BTreeMap<String, Node<recipe_model::SecretRef>>,
    /// Declared variables that have no value (already reported): known, left as written.
    pub unset: std::collections::BTreeSet<String>,
    /// Variables referenced so far (to report unused ones).
    pub used: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl Scope<'_> {
    /// Substitute every reference in `node`, reporting unknown names into `diags`.
    pub fn apply(
        &self,
        node: &mut Node<String>,
        source: &Arc<SourceFile>,
        diags: &mut Vec<Diagnostic>,
    ) {
        if !node.value.contains('$') {
            return;
        }
        let text = &node.value;
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i..];
            if let Some(stripped) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = stripped;
                continue;
            }
            let Some(body) = after.strip_prefix("${") else {
                out.push('$');
                rest = &after[1..];
                continue;
            };
            let Some(end) = body.find('}') else {
                diags.push(
                    Diagnostic::new(Code::UnknownVariable, "unclosed `${` in a string")
                        .help("close the reference with `}`, or write `$${` for a literal `${`")
                        .label("unclosed reference")
                        .at(source, locate(source, node.span, "${")),
                );
                out.push_str(after);
                rest = "";
                break;
            };
            let name = &body[..end];
            let whole = &after[..end + 3];
            rest = &body[end + 1..];
            if let Some(v) = self.values.get(name) {
                self.used.borrow_mut().insert(name.to_string());
                out.push_str(v);
            } else if self.unset.contains(name) {
                self.used.borrow_mut().insert(name.to_string());
                out.push_str(whole);
            } else if BUILD_TIME.iter().any(|(b, _)| *b == name) {
                out.push_str(whole);
            } else if let Some(secret) = name.strip_prefix("secret.") {
                if !self.secrets.contains_key(secret) {
                    let help = match did_you_mean(secret, self.secrets.keys().map(String::as_str)) {
                        Some(s) => format!("did you mean `${{secret.{s}}}`?"),
                        None => format!(
                            "declare it under `secrets:`, e.g. `secrets: {{ {secret}: {{ ssm-parameter: /path }} }}`"
                        ),
                    };
                    diags.push(
                        Diagnostic::new(Code::UnknownSecret, format!("unknown secret `{secret}`"))
                            .help(help)
                            .label("not declared under `secrets`")
                            .at(source, locate(source, node.span, whole)),
                    );
                }
                out.push_str(whole);
            } else {
                let known = self
                    .values
                    .keys()
                    .map(String::as_str)
                    .chain(BUILD_TIME.iter().map(|(b, _)| *b));
                let help = match did_you_mean(name, known) {
                    Some(s) => format!("did you mean `${{{s}}}`?"),
                    None => format!(
                        "declare it under `variables:` (`{name}: {{ default: … }}`), or write `$${{{name}}}` for a literal"
                    ),
                };
                diags.push(
                    Diagnostic::new(Code::UnknownVariable, format!("unknown variable `{name}`"))
                        .help(help)
                        .label("not a variable, built-in or secret")
                        .at(source, locate(source, node.span, whole)),
                );
                out.push_str(whole);
            }
        }
        out.push_str(rest);
        node.value = out;
    }
}

/// The span of `needle` inside the node's source text, or the node's own span.
pub fn locate(source: &SourceFile, node: Span, needle: &str) -> Span {
    if !node.is_known() {
        return node;
    }
    let start = node.offset.min(source.text.len());
    let window = if node.len > 0 { node.len } else { 64 * 1024 };
    let end = start.saturating_add(window).min(source.text.len());
    let end = (end..=source.text.len())
        .find(|&e| source.text.is_char_boundary(e))
        .unwrap_or(source.text.len());
    match source.text[start..end].find(needle) {
        Some(i) => source.span(start + i, needle.len()),
        None => node,
    }
}
