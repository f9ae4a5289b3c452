//! The checks of the image section: names and descriptions as each service allows them, tags.

use super::*;

pub(super) fn sample_name(template: &str) -> String {
    let mut s = template.to_string();
    for (b, v) in BUILD_TIME {
        s = s.replace(&format!("${{{b}}}"), v);
    }
    s
}

/// A WorkSpaces text checked against the API's pattern and length, as it will be sent (build-time
/// placeholders filled with samples).
pub(super) fn check_ws_text(
    cx: &mut Ctx<'_>,
    what: &str,
    text: &Node<String>,
    max: usize,
    rule: (&Regex, &str),
) {
    let sample = sample_name(text);
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
        Code::WsText,
        text.span,
        format!("the {what} `{sample}` would be refused by WorkSpaces: {why}"),
        format!("use 1-{max} characters: {}", rule.1),
        "refused by WorkSpaces",
    );
}

pub(super) const WS_DESCRIPTION_RULE: &str =
    "letters, digits, spaces and _ . / ( ) - (no `:`, `#` or `,`)";
const WS_NAME_RULE: &str = "letters, digits and _ . / ( ) -";

pub(super) fn check_ws_texts(cx: &mut Ctx<'_>) {
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
    if let Some(b) = &rec.bundle {
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

pub(super) fn check_image(cx: &mut Ctx<'_>) {
    if cx.target == Target::Workspaces {
        check_ws_texts(cx);
    }
    let img = &cx.r.recipe.image;
    let name = sample_name(&img.name);
    if let Some(d) = &img.display_name
        && cx.target != Target::Appstream
    {
        cx.wrong_target(d.span, "image.display-name", "`appstream` recipes");
    }
    check_tags(cx, img.tags.iter());
    if name.contains("${") {
        return; // an unknown variable, already reported
    }
    let (ok, rule) = match cx.target {
        Target::Ec2Ami => (
            EC2_IMAGE_NAME.is_match(&name),
            "3-128 characters: letters, digits, spaces and ( ) [ ] . / - ' @ _",
        ),
        Target::Workspaces => (
            WS_IMAGE_NAME.is_match(&name),
            "1-64 characters: letters, digits and _ . / ( ) -",
        ),
        Target::Appstream => (
            AS_IMAGE_NAME.is_match(&name),
            "1-100 characters, starting with a letter or digit: letters, digits and _ . -",
        ),
    };
    if !ok {
        let span = img.name.span;
        cx.push(
            Code::ImageName,
            span,
            format!(
                "image name `{name}` is not valid for `{}`",
                cx.target.as_str()
            ),
            format!("image names for this target are {rule}"),
            "invalid image name",
        );
    }
    if cx.target == Target::Appstream
        && let Some(prefix) = ["Amazon", "AWS", "AppStream"].iter().find(|p| {
            name.to_ascii_lowercase()
                .starts_with(&p.to_ascii_lowercase())
        })
    {
        let span = img.name.span;
        cx.push(
            Code::AppstreamReserved,
            span,
            format!("AppStream image names cannot begin with `{prefix}`"),
            "AppStream reserves names that begin with Amazon, AWS or AppStream (in any case): start with your team or app name",
            "reserved prefix",
        );
    }
}

pub(super) fn check_tags<'a>(
    cx: &mut Ctx<'_>,
    tags: impl Iterator<Item = (&'a Node<String>, &'a Node<String>)>,
) {
    for (key, v) in tags {
        let k = key.value.as_str();
        let bad_key = if k.is_empty() || k.chars().count() > 128 {
            Some("a tag key has 1-128 characters".to_string())
        } else if k.to_ascii_lowercase().starts_with("aws:") {
            Some("the `aws:` prefix is reserved for AWS".to_string())
        } else if k.starts_with("recipe:") {
            Some("the `recipe:` prefix is reserved for the tags this tool adds".to_string())
        } else if !TAG_CHARS.is_match(k) {
            Some("tag keys use letters, digits, spaces and _ . : / = + - @".to_string())
        } else {
            None
        };
        if let Some(why) = bad_key {
            cx.push(
                Code::Tag,
                key.span,
                format!("invalid tag key `{k}`"),
                format!("rename the key: {why}"),
                "invalid tag key",
            );
        }
        if v.chars().count() > 256 || !TAG_CHARS.is_match(&sample_name(v)) {
            cx.push(
                Code::Tag,
                v.span,
                format!("invalid value for tag `{k}`"),
                "tag values have at most 256 characters: letters, digits, spaces and _ . : / = + - @",
                "invalid tag value",
            );
        }
    }
}
