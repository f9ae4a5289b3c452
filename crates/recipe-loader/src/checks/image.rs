//! The checks of the image section: names and descriptions as each service allows them, tags.

use super::*;

/// A name or text as it will be sent: build-time placeholders filled with samples.
pub fn sample_name(template: &str) -> String {
    let mut s = template.to_string();
    for (b, v) in BUILD_TIME {
        s = s.replace(&format!("${{{b}}}"), v);
    }
    s
}

pub(super) fn check_image(cx: &mut Check<'_>, spec: &dyn TargetSpec) {
    let img = &cx.r.recipe.image;
    let name = sample_name(&img.name);
    check_tags(cx, img.tags.iter());
    if name.contains("${") {
        return; // an unknown variable, already reported
    }
    if let Err(rule) = spec.image_name(&name) {
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
}

pub(super) fn check_tags<'a>(
    cx: &mut Check<'_>,
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
