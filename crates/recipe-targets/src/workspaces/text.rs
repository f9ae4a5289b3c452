//! Image and bundle names and descriptions as WorkSpaces takes them.

use std::sync::LazyLock;

use recipe_loader::{Check, Code};
use recipe_model::Node;
use regex::Regex;

use super::TEXT;
use crate::re;

static WS_IMAGE_NAME_CHARS: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-zA-Z0-9_./()-]+$"));
/// WorkSpaces image and bundle descriptions (API_CreateWorkspaceImage, API_CreateWorkspaceBundle):
/// letters, digits, spaces and `_ . / ( ) -`; so no `:`, `#` or `,`.
static WS_DESCRIPTION: LazyLock<Regex> = LazyLock::new(|| re(r"^[a-zA-Z0-9_./() -]+$"));

/// A WorkSpaces text checked against the API's pattern and length, as it will be sent (build-time
/// placeholders filled with samples).
fn check_ws_text(
    cx: &mut Check<'_>,
    what: &str,
    text: &Node<String>,
    max: usize,
    rule: (&Regex, &str),
) {
    let sample = recipe_loader::sample_name(text);
    if sample.contains("${") {
        return; // an unknown variable, already reported
    }
    let count = sample.chars().count();
    if (1..=max).contains(&count) && rule.0.is_match(&sample) {
        return;
    }
    let mut bad: Vec<String> = sample
        .chars()
        .filter(|c| !rule.0.is_match(&c.to_string()))
        .map(|c| {
            if c == ' ' {
                "space".to_string()
            } else {
                format!("`{c}`")
            }
        })
        .collect();
    bad.dedup();
    let bad = bad.join(", ");
    let why = if count > max {
        format!("it has {count} characters, and WorkSpaces takes at most {max}")
    } else {
        format!("WorkSpaces refuses {bad} in it")
    };
    cx.push(
        Code::Target(&TEXT),
        text.span,
        format!("the {what} `{sample}` would be refused by WorkSpaces: {why}"),
        format!("use 1-{max} characters: {}", rule.1),
        "refused by WorkSpaces",
    );
}

const WS_DESCRIPTION_RULE: &str = "letters, digits, spaces and _ . / ( ) - (no `:`, `#` or `,`)";
const WS_NAME_RULE: &str = "letters, digits and _ . / ( ) -";

pub(super) fn check(cx: &mut Check<'_>) {
    let rec = &cx.r.recipe;
    if let Some(d) = &rec.image.description {
        check_ws_text(
            cx,
            "image description",
            d,
            256,
            (&WS_DESCRIPTION, WS_DESCRIPTION_RULE),
        );
    }
    if let Some(b) = super::sections::BUNDLE_OF.of(&rec.sections) {
        check_ws_text(
            cx,
            "bundle name",
            &b.name,
            64,
            (&WS_IMAGE_NAME_CHARS, WS_NAME_RULE),
        );
        if let Some(d) = &b.description {
            check_ws_text(
                cx,
                "bundle description",
                d,
                255,
                (&WS_DESCRIPTION, WS_DESCRIPTION_RULE),
            );
        }
    }
}
