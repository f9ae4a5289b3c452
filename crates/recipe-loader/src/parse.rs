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

/// How many unknown fields one file reports at once, at most.
const MAX_UNKNOWN_FIELDS: usize = 50;

/// Deserialize a document of type `T` from a source file. On failure, diagnostics that point at the
/// offending nodes and name their paths: every unknown field of the file at once (each is set aside
/// and the document parsed again), or the first other error.
pub fn parse<T: DeserializeOwned>(source: &Arc<SourceFile>) -> Result<T, Vec<Diagnostic>> {
    // Fast path: most documents are valid, and tracking the path costs an allocation per node. Only a
    // document that fails is parsed again, to name where.
    let plain =
        serde_saphyr::with_deserializer_from_str_with_options(&source.text, options(), |de| {
            T::deserialize(de)
        });
    if let Ok(value) = plain {
        return Ok(value);
    }
    let mut found = Vec::new();
    let mut text = source.text.clone();
    while found.len() < MAX_UNKNOWN_FIELDS {
        let Err(failed) = parse_tracked::<T>(&text) else {
            break;
        };
        let (e, path) = *failed;
        let unknown = matches!(unwrap(&e), YamlError::SerdeUnknownField { .. });
        // Once a field is set aside, another kind of error may only follow from its removal (a
        // mapping left empty): the next run reports it, if it is real.
        if !unknown && !found.is_empty() {
            break;
        }
        let at = e
            .location()
            .map(|l| locate(source, Span::from_location(&l)));
        found.push(to_diagnostic(e, &path, source));
        match at
            .filter(|_| unknown)
            .and_then(|at| without_entry(&text, at))
        {
            Some(shorter) => text = shorter,
            None => break,
        }
    }
    Err(found)
}

/// Parse with the path of the failing node tracked. A target's section that fails (read through
/// `erased-serde`, its error is only text) is read again alone, for its own error and path.
fn parse_tracked<T: DeserializeOwned>(text: &str) -> Result<T, Box<(YamlError, String)>> {
    let mut path = String::new();
    recipe_model::section::take_failed();
    serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = clean_path(&e.path().to_string());
            e.into_inner()
        })
    })
    .map_err(|e| {
        let section = recipe_model::section::take_failed();
        match section.and_then(|def| def.reparse(text, options())) {
            Some((e, at)) => Box::new((e, clean_path(&at))),
            None => Box::new((e, path)),
        }
    })
}

/// `text` with the block-mapping entry whose key starts at `key` blanked out: the key's line from the
/// key on, and the lines of its value (more indented, or a sequence at the key's own indentation).
/// Blanks keep every other line and column where it was. `None` in flow style (`{ a: 1 }`).
fn without_entry(text: &str, key: Span) -> Option<String> {
    let start = key.offset.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..start];
    if !before.chars().all(|c| c == ' ' || c == '-') || text[start..].starts_with(['{', '[']) {
        return None;
    }
    let column = before.chars().count();
    let mut end = text[start..]
        .find('\n')
        .map_or(text.len(), |i| start + i + 1);
    for line in text[end..].split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start_matches(' ').len();
        let rest = body.trim_start_matches(' ');
        let inside = rest.is_empty()
            || rest.starts_with('#')
            || indent > column
            || (indent == column && (rest == "-" || rest.starts_with("- ")));
        if !inside {
            break;
        }
        end += line.len();
    }
    let blank: String = text[start..end]
        .chars()
        .map(|c| if c == '\n' || c == '\r' { c } else { ' ' })
        .collect();
    Some(format!("{}{blank}{}", &text[..start], &text[end..]))
}

/// serde_path_to_error shows `Node<T>` as a `.value` segment; users never write it.
fn clean_path(path: &str) -> String {
    let p = path.replace(".value", "");
    let p = p
        .trim_end_matches(".?")
        .trim_end_matches('?')
        .trim_end_matches('.');
    p.to_string()
}

/// What an enumeration is called in messages, recognised by one of its values.
fn enum_noun(expected: &[&str]) -> (&'static str, Code) {
    let has = |v: &str| expected.contains(&v);
    if has("shell") && has("reboot") {
        ("step kind", Code::UnknownStep)
    } else if has("ssm-parameter") {
        ("base kind", Code::UnknownValue)
    } else if has("ec2-ami") {
        ("target", Code::UnknownValue)
    } else if has("thin") {
        ("strategy", Code::UnknownValue)
    } else if has("launch") {
        ("stage", Code::UnknownValue)
    } else if has("linux") && has("windows") && expected.len() == 2 {
        ("operating system", Code::UnknownValue)
    } else {
        ("value", Code::UnknownValue)
    }
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
    let span = err
        .location()
        .map(|l| Span::from_location(&l))
        .unwrap_or(Span::UNKNOWN);
    let inner = unwrap(&err);
    let at = if path.is_empty() {
        String::new()
    } else {
        format!(" at `{path}`")
    };
    let diag = match inner {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => {
            let help = match did_you_mean(field, expected.iter().copied()) {
                Some(s) => format!(
                    "did you mean `{s}`? The keys allowed here are: {}",
                    expected.join(", ")
                ),
                None => format!(
                    "remove it; the keys allowed here are: {}",
                    expected.join(", ")
                ),
            };
            Diagnostic::new(Code::UnknownField, format!("unknown field `{field}`{at}"))
                .help(help)
                .label("not a field here")
        }
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let (what, code) = enum_noun(expected);
            let help = match did_you_mean(variant, expected.iter().copied()) {
                Some(s) => format!(
                    "did you mean `{s}`? Expected one of: {}",
                    expected.join(", ")
                ),
                None => format!("expected one of: {}", expected.join(", ")),
            };
            Diagnostic::new(code, format!("unknown {what} `{variant}`{at}"))
                .help(help)
                .label(format!("unknown {what}"))
        }
        YamlError::SerdeMissingField { field, .. } if path.is_empty() => {
            let d = Diagnostic::new(Code::MissingField, format!("missing field `{field}`"))
                .help(format!(
                    "add `{field}:` at the top level of the recipe; docs/recipes.md says what it takes"
                ))
                .label(format!("this document has no `{field}`"));
            return d.at(source, source.first_content());
        }
        YamlError::SerdeMissingField { field, .. } => Diagnostic::new(
            Code::MissingField,
            format!("missing field `{field}` in `{path}`"),
        )
        .help(format!(
            "add `{field}:` to `{path}`; docs/recipes.md says what it takes"
        ))
        .label(format!("the mapping without `{field}` ends here")),
        YamlError::DuplicateMappingKey { key, .. } => {
            let k = key.clone().unwrap_or_else(|| "?".into());
            Diagnostic::new(Code::DuplicateKey, format!("duplicate key `{k}`"))
                .help("remove one of the two: YAML would silently keep only one of them")
                .label("second occurrence")
        }
        YamlError::Budget { breach, .. } => {
            let what = format!("{breach:?}");
            let (kind, n) = what
                .split_once(" { ")
                .map(|(k, rest)| {
                    (
                        k.to_string(),
                        rest.rsplit(": ")
                            .next()
                            .unwrap_or("")
                            .trim_end_matches(" }")
                            .to_string(),
                    )
                })
                .unwrap_or((what.clone(), String::new()));
            Diagnostic::new(Code::AliasLimit, format!("the document exceeds the parser's safety budget for {} ({n})", kind.to_lowercase()))
                .help("recipes are small: expand fewer aliases and anchors, or split the file into components")
                .label("budget exceeded here")
        }
        YamlError::AliasReplayLimitExceeded { .. }
        | YamlError::AliasExpansionLimitExceeded { .. }
        | YamlError::AliasReplayStackDepthExceeded { .. }
        | YamlError::AliasReplayCounterOverflow { .. } => Diagnostic::new(
            Code::AliasLimit,
            format!(
                "the document exceeds the parser's safety budget: {}",
                strip_location(&inner.to_string())
            ),
        )
        .help("recipes are small: expand fewer aliases, or split the file into components")
        .label("budget exceeded here"),
        YamlError::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => Diagnostic::new(
            Code::InvalidType,
            format!("expected {expected}, found {unexpected}{at}"),
        )
        .help(format!("write {expected} here"))
        .label("wrong type"),
        YamlError::InvalidBooleanStrict { .. } => Diagnostic::new(
            Code::InvalidType,
            format!("expected true or false{at}"),
        )
        .help(
            "write `true` or `false` (YAML 1.1 spellings such as yes, no, on and off are refused)",
        )
        .label("not a boolean"),
        other => {
            let msg = strip_location(&other.to_string());
            let serde_side = matches!(
                other,
                YamlError::SerdeInvalidValue { .. } | YamlError::InvalidScalar { .. }
            ) || (matches!(other, YamlError::Message { .. }) && !path.is_empty());
            let numeric = scalar_at(source, span).parse::<i128>().is_ok();
            classify(&msg, serde_side, numeric, &at)
        }
    };
    let span = locate(source, span);
    if diag.code == Code::Syntax && diag.message.contains("tab") {
        return on_the_tab(diag, source, span);
    }
    diag.at(source, span)
}

/// A tab error pointed at the tab itself: on the reported line, or the nearest line above it that
/// holds one (the parser may stop after the line that broke the indentation), or else the line after
/// it (with CRLF line ends the parser may stop at the end of the line before the tab).
fn on_the_tab(diag: Diagnostic, source: &Arc<SourceFile>, span: Span) -> Diagnostic {
    let text = &source.text;
    let offset = span.offset.min(text.len());
    let end_of = |from: usize| text[from..].find('\n').map_or(text.len(), |i| from + i + 1);
    let line_end = end_of(offset);
    let next_end = end_of(line_end);
    let after = || text[line_end..next_end].find('\t').map(|i| line_end + i);
    let Some(tab) = text[..line_end].rfind('\t').or_else(after) else {
        return diag.at(source, span);
    };
    let line = text[..tab].matches('\n').count() + 1;
    let column = text[..tab]
        .rsplit('\n')
        .next()
        .map_or(0, |l| l.chars().count())
        + 1;
    let at = Span {
        offset: tab,
        len: 1,
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
    };
    Diagnostic::new(Code::Syntax, format!("invalid YAML: a tab at line {line}, column {column}: YAML indents with spaces only"))
        .help("replace the tab with spaces (two per level, as the rest of the file); many editors do it with \"convert indentation to spaces\"")
        .label("a tab")
        .at(source, at)
}

/// Pick a code, message and help for errors that only carry a message.
fn classify(msg: &str, serde_side: bool, numeric: bool, at: &str) -> Diagnostic {
    let number = |kind: &str| match kind {
        "u8" => Some("a whole number from 0 to 255"),
        "u16" => Some("a whole number from 0 to 65535"),
        "u32" => Some("a whole number from 0 to 4294967295"),
        "u64" | "usize" => Some("a whole number, 0 or more"),
        "i32" | "i64" => Some("a whole number"),
        _ => None,
    };
    if let Some(want) = msg.strip_prefix("invalid ").and_then(number) {
        if numeric {
            return Diagnostic::new(
                Code::InvalidValue,
                format!("number out of range{at}: expected {want}"),
            )
            .help(format!("write {want}"))
            .label("out of range");
        }
        return Diagnostic::new(Code::InvalidType, format!("expected {want}{at}"))
            .help(format!("write {want}, without quotes"))
            .label("not a number");
    }
    if msg.starts_with("invalid duration") {
        return Diagnostic::new(Code::InvalidValue, format!("{msg}{at}"))
            .help("write a duration such as `30m`, `2h`, `1h30m` or `90d`")
            .label("not a duration");
    }
    if msg.starts_with("expected") || msg.contains("invalid type") {
        return Diagnostic::new(Code::InvalidType, format!("{msg}{at}"))
            .help("check the value's type in docs/recipes.md")
            .label("wrong type");
    }
    if serde_side {
        return Diagnostic::new(Code::InvalidValue, format!("{msg}{at}"))
            .help("check the value against docs/recipes.md")
            .label("invalid value");
    }
    Diagnostic::new(Code::Syntax, format!("invalid YAML: {msg}"))
        .help("fix the YAML at this position: check indentation (spaces, not tabs), quotes around values containing `: ` or `#`, and closing brackets")
        .label("the parser stopped here")
}

/// Complete a parser span: scanner errors carry a line and column but no byte offset, and a span with
/// no length gets the length of the token under it, so the label underlines something.
fn locate(source: &SourceFile, span: Span) -> Span {
    if !span.is_known() {
        return span;
    }
    let mut span = span;
    if span.offset == 0 && (span.line > 1 || span.column > 1) {
        span.offset = offset_of(&source.text, span.line, span.column);
    }
    if span.len > 0 {
        return span;
    }
    source.token(span)
}

/// The plain scalar that starts at a span, for telling "out of range" from "not a number".
fn scalar_at(source: &SourceFile, span: Span) -> &str {
    let span = locate(source, span);
    let start = span.offset.min(source.text.len());
    let rest = &source.text[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == ',' || c == '}' || c == ']')
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Byte offset of a 1-based line and character column.
fn offset_of(text: &str, line: u32, column: u32) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line as usize {
            let col = l
                .char_indices()
                .nth(column.saturating_sub(1) as usize)
                .map_or(l.len(), |(b, _)| b);
            return offset + col;
        }
        offset += l.len();
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use recipe_model::Recipe;

    use super::*;

    const BASE: &str = "name: a\ntarget: ec2-ami\nstrategy: full\nos: linux\nversion: '1'\nbase: { ssm-parameter: /x }\nimage: { name: x }\n";

    fn err(extra: &str) -> Diagnostic {
        let src = SourceFile::new("t.yaml", format!("{BASE}{extra}"));
        parse::<Recipe>(&src).expect_err("should fail").remove(0)
    }

    fn all(text: &str) -> Vec<Diagnostic> {
        parse::<Recipe>(&SourceFile::new("t.yaml", text)).expect_err("should fail")
    }

    #[test]
    fn every_unknown_field_at_once() {
        let text = "name: a\ntarget: ec2-ami\nstrategy: full\nos: linux\nversion: '1'\n\
            base: { ssm-parameter: /x }\nimage: { name: x }\nbuilder:\n  instnce-type: t3.small\n  \
            subnet: subnet-1\n  region: eu-west-1\nsteps:\n  - shell:\n      run: ls\n      \
            tmeout: 5m\ntgs:\n- a: b\n- c: d\n";
        let found = all(text);
        let said: Vec<(&str, u32, u32)> = found
            .iter()
            .map(|d| (d.message.as_str(), d.span.line, d.span.column))
            .collect();
        assert_eq!(
            said,
            [
                (
                    "unknown field `instnce-type` at `builder.instnce-type`",
                    9,
                    3
                ),
                ("unknown field `subnet` at `builder.subnet`", 10, 3),
                ("unknown field `tmeout` at `steps[0].shell.tmeout`", 15, 7),
                ("unknown field `tgs` at `tgs`", 16, 1),
            ]
        );
        assert!(found[0].help.starts_with("did you mean `instance-type`?"));
    }

    #[test]
    fn an_entry_set_aside_leaves_no_error_of_its_own() {
        // Without its only key `builder` is empty (null): that is not reported with the typo.
        let text = format!("{BASE}builder:\n  instnce-type: t3.small\n");
        let found = all(&text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].code, Code::UnknownField);
    }

    #[test]
    fn an_unknown_field_in_flow_style_is_reported_alone() {
        let found = all(&format!(
            "{BASE}steps:\n  - shell: {{ run: ls, retires: 1, tmeout: 1 }}\n"
        ));
        assert_eq!(found.len(), 1, "{found:?}");
    }

    #[test]
    fn setting_an_entry_aside_keeps_lines_and_columns() {
        // The key `bad` at a byte offset, at the start of its line.
        let bad = |text: &str| {
            let offset = text.find("bad").unwrap();
            let line = u32::try_from(text[..offset].lines().count()).unwrap() + 1;
            let key = Span {
                offset,
                len: 3,
                line,
                column: 1,
            };
            without_entry(text, key).unwrap()
        };
        let text = "a: 1\nbad:\n  - x\n  - y\n# note\nb: 2\r\n";
        assert_eq!(bad(text), "a: 1\n    \n     \n     \n      \nb: 2\r\n");
        assert_eq!(bad("bad:\n- x\n- y\nb: 2\n"), "    \n   \n   \nb: 2\n");
    }

    #[test]
    fn a_tab_after_a_crlf_line_is_reported_at_the_tab() {
        for eol in ["\n", "\r\n"] {
            let text = format!("name: a{eol}target: ec2-ami{eol}\tstrategy: full{eol}");
            let d = all(&text).remove(0);
            assert_eq!(d.code, Code::Syntax, "{eol:?}: {d:?}");
            assert_eq!(
                (d.span.line, d.span.column),
                (3, 1),
                "{eol:?}: {}",
                d.message
            );
        }
    }

    #[test]
    fn unknown_field_has_path_and_suggestion() {
        let d = err("steps:\n  - shell: { run: ls, retires: 1 }\n");
        assert_eq!(d.code, Code::UnknownField);
        assert_eq!(
            d.message,
            "unknown field `retires` at `steps[0].shell.retires`"
        );
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
    fn scanner_errors_point_at_their_line() {
        let d = err("steps:\n  - shell: { run: \"dnf\" -y install nginx }\n");
        assert_eq!(d.code, Code::Syntax);
        assert_eq!(d.span.line, 9);
        assert_eq!(
            &d.source.as_ref().unwrap().text[d.span.offset - d.span.column as usize + 1..][..9],
            "  - shell"
        );
    }

    #[test]
    fn numbers_say_their_range() {
        let d = err("retain: { keep: many }\n");
        assert_eq!(d.code, Code::InvalidType);
        assert!(
            d.message
                .starts_with("expected a whole number from 0 to 4294967295"),
            "{}",
            d.message
        );
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut y = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            y.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let src = SourceFile::new("bomb.yaml", y);
        let d = parse::<serde_json::Value>(&src)
            .expect_err("alias bomb must fail")
            .remove(0);
        assert_eq!(d.code, Code::AliasLimit);
    }
}
