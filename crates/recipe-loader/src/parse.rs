//! YAML → model, strictly: unknown fields, duplicate keys and alias bombs are refused with a span.

use std::sync::Arc;

use recipe_model::Span;
use serde::de::DeserializeOwned;
use serde_saphyr::Error as YamlError;

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, SourceFile};
use crate::suggest::did_you_mean;

/// Parser options: duplicate keys are errors, booleans are strict, and aliases are budgeted.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        strict_booleans: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        budget: serde_saphyr::budget! {
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_depth: 64,
            max_nodes: 250_000,
            max_documents: 1,
            max_total_scalar_bytes: 8 * 1024 * 1024,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 100_000,
            max_replay_stack_depth: 16,
            max_alias_expansions_per_anchor: 1_000,
        },
    }
}

/// Deserialize a document of type `T` from a source file. On failure, one diagnostic that points at
/// the offending node and names its path.
pub fn parse<T: DeserializeOwned>(source: &Arc<SourceFile>) -> Result<T, Diagnostic> {
    let mut path = String::new();
    let result = serde_saphyr::with_deserializer_from_str_with_options(&source.text, options(), |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = clean_path(&e.path().to_string());
            e.into_inner()
        })
    });
    result.map_err(|e| to_diagnostic(e, &path, source))
}

/// serde_path_to_error shows `Node<T>` as a `.value` segment; users never write it.
fn clean_path(path: &str) -> String {
    let p = path.replace(".value", "");
    if p == "?" || p == "." { String::new() } else { p }
}

fn unwrap(mut e: &YamlError) -> &YamlError {
    loop {
        match e {
            YamlError::WithSnippet { error, .. } | YamlError::AliasError { error, .. } => e = error,
            _ => return e,
        }
    }
}

fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn to_diagnostic(err: YamlError, path: &str, source: &Arc<SourceFile>) -> Diagnostic {
    let span = err.location().map(|l| Span::from_location(&l)).unwrap_or(Span::UNKNOWN);
    let inner = unwrap(&err);
    let at = if path.is_empty() { String::new() } else { format!(" at `{path}`") };
    let diag = match inner {
        YamlError::SerdeUnknownField { field, expected, .. } => {
            let help = match did_you_mean(field, expected.iter().copied()) {
                Some(s) => format!("did you mean `{s}`? The keys allowed here are: {}", expected.join(", ")),
                None => format!("remove it; the keys allowed here are: {}", expected.join(", ")),
            };
            Diagnostic::new(Code::UnknownField, format!("unknown field `{field}`{at}"))
                .help(help)
                .label("not a field here")
        }
        YamlError::SerdeUnknownVariant { variant, expected, .. } => {
            let is_step = expected.contains(&"shell") && expected.contains(&"reboot");
            let (code, what) = if is_step { (Code::UnknownStep, "step kind") } else { (Code::UnknownValue, "value") };
            let help = match did_you_mean(variant, expected.iter().copied()) {
                Some(s) => format!("did you mean `{s}`? Expected one of: {}", expected.join(", ")),
                None => format!("expected one of: {}", expected.join(", ")),
            };
            Diagnostic::new(code, format!("unknown {what} `{variant}`{at}"))
                .help(help)
                .label(format!("unknown {what}"))
        }
        YamlError::SerdeMissingField { field, .. } => {
            let parent = if path.is_empty() { "the document".to_string() } else { format!("`{path}`") };
            Diagnostic::new(Code::MissingField, format!("missing field `{field}` in {parent}"))
                .help(format!("add `{field}:`; see docs/recipes.md for what it takes"))
                .label(format!("`{field}` is required here"))
        }
        YamlError::DuplicateMappingKey { key, .. } => {
            let k = key.clone().unwrap_or_else(|| "?".into());
            Diagnostic::new(Code::DuplicateKey, format!("duplicate key `{k}`"))
                .help("remove one of the two: YAML would silently keep only one of them")
                .label("second occurrence")
        }
        YamlError::Budget { .. }
        | YamlError::AliasReplayLimitExceeded { .. }
        | YamlError::AliasExpansionLimitExceeded { .. }
        | YamlError::AliasReplayStackDepthExceeded { .. }
        | YamlError::AliasReplayCounterOverflow { .. } => Diagnostic::new(
            Code::AliasLimit,
            format!("the document exceeds the parser's safety budget: {}", strip_location(&inner.to_string())),
        )
        .help("recipes are small: expand fewer aliases, or split the file into components")
        .label("budget exceeded here"),
        YamlError::SerdeInvalidType { unexpected, expected, .. } => {
            Diagnostic::new(Code::InvalidType, format!("expected {expected}, found {unexpected}{at}"))
                .help(format!("write {expected} here"))
                .label("wrong type")
        }
        YamlError::SerdeInvalidValue { .. } | YamlError::Message { .. } | YamlError::InvalidScalar { .. } => {
            let msg = strip_location(&inner.to_string());
            let (code, help) = classify_message(&msg);
            Diagnostic::new(code, format!("{msg}{at}")).help(help).label("here")
        }
        other => {
            let msg = strip_location(&other.to_string());
            let (code, help) = classify_message(&msg);
            Diagnostic::new(code, format!("{msg}{at}")).help(help).label("here")
        }
    };
    diag.at(source, fill_len(source, span))
}

/// Pick a code for errors that only carry a message.
fn classify_message(msg: &str) -> (Code, String) {
    if msg.starts_with("expected") || msg.contains("invalid type") {
        (Code::InvalidType, "check the value's type against docs/recipes.md".into())
    } else if msg.starts_with("invalid duration") {
        (Code::InvalidValue, "write a duration such as `30m`, `2h` or `90d`".into())
    } else if msg.starts_with("invalid") {
        (Code::InvalidValue, "check the value against docs/recipes.md".into())
    } else {
        (Code::Syntax, "fix the YAML syntax at this position".into())
    }
}

/// A span with no length gets the length of the token under it, so the label underlines something.
fn fill_len(source: &SourceFile, span: Span) -> Span {
    if !span.is_known() || span.len > 0 {
        return span;
    }
    let rest = &source.text[span.offset.min(source.text.len())..];
    let len = rest.find(|c: char| c.is_whitespace() || c == ',' || c == '}' || c == ']').unwrap_or(rest.len());
    Span { len, ..span }
}

#[cfg(test)]
mod tests {
    use recipe_model::Recipe;

    use super::*;

    const BASE: &str = "name: a\ntarget: ec2-ami\nstrategy: full\nos: linux\nversion: '1'\nbase: { ssm-parameter: /x }\nimage: { name: x }\n";

    fn err(extra: &str) -> Diagnostic {
        let src = SourceFile::new("t.yaml", format!("{BASE}{extra}"));
        parse::<Recipe>(&src).expect_err("should fail")
    }

    #[test]
    fn unknown_field_has_path_and_suggestion() {
        let d = err("steps:\n  - shell: { run: ls, retires: 1 }\n");
        assert_eq!(d.code, Code::UnknownField);
        assert_eq!(d.message, "unknown field `retires` at `steps[0].shell.retires`");
        assert!(d.help.starts_with("did you mean `retries`?"), "{}", d.help);
        assert_eq!((d.span.line, d.span.column), (9, 23));
    }

    #[test]
    fn unknown_step_kind() {
        let d = err("steps:\n  - shel: { run: ls }\n");
        assert_eq!(d.code, Code::UnknownStep);
        assert!(d.help.starts_with("did you mean `shell`?"));
    }

    #[test]
    fn duplicate_key() {
        let d = err("name: b\n");
        assert_eq!(d.code, Code::DuplicateKey);
        assert_eq!(d.span.line, 8);
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut y = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 { "a".to_string() } else { format!("l{}", i - 1) };
            y.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let src = SourceFile::new("bomb.yaml", y);
        let d = parse::<serde_json::Value>(&src).expect_err("alias bomb must fail");
        assert_eq!(d.code, Code::AliasLimit);
    }
}
