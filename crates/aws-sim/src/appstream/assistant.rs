//! The Image Assistant CLI on an image builder, reached through SSM Run Command on the builder's
//! managed node: `add-application`, `remove-application`, `list-applications`,
//! `update-default-profile` and `create-image`, with their documented effect and JSON output
//! (https://docs.aws.amazon.com/appstream2/latest/developerguide/programmatically-create-image.html).
//!
//! AWS has no API that turns a builder into an image; `create-image` does it: the builder goes
//! SNAPSHOTTING while the image is PENDING, then the image is AVAILABLE and the builder stops by
//! itself. Each call prints `{"status": 0, "message": "Success"}` and exits 0, or a non-zero status
//! with the reason and exits 1. Where the CLI reference is silent (the exact wording of a failure), the
//! message here is the simulator's own.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::clock::Durations;
use crate::members::scoped;

use super::model::*;
use super::state::Appstream;

/// What one command did: SSM's status, the exit code and the output.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: &'static str,
    pub code: i64,
    pub stdout: String,
}

fn ok(extra: Value) -> Outcome {
    let mut v = json!({ "status": 0, "message": "Success" });
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    Outcome {
        status: "Success",
        code: 0,
        stdout: v.to_string(),
    }
}

fn failed(message: impl Into<String>) -> Outcome {
    Outcome {
        status: "Failed",
        code: 1,
        stdout: json!({ "status": 1, "message": message.into() }).to_string(),
    }
}

/// The Image Assistant calls in a script, in order: operation and `--flag value` arguments.
pub fn calls(script: &str) -> Vec<(String, BTreeMap<String, Vec<String>>)> {
    script
        .lines()
        .filter_map(|line| {
            let at = [
                "AppStreamImageAssistant ",
                "image-assistant.exe' ",
                "image-assistant.exe ",
            ]
            .iter()
            .find_map(|p| line.find(p).map(|i| i + p.len()))?;
            let words = split(&line[at..]);
            let (op, rest) = words.split_first()?;
            Some((op.clone(), flags(rest)))
        })
        .collect()
}

/// Split a command line into words: single quotes (with `''` or `'\''` for a quote, as PowerShell
/// and sh write it), double quotes, and backslash escapes outside quotes. Stops at `;`, `&&` or `|`.
fn split(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = cur.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            w.push('\'');
                        }
                        Some('\'') | None => break,
                        Some(x) => w.push(x),
                    }
                }
            }
            '"' => {
                let w = cur.get_or_insert_with(String::new);
                for x in chars.by_ref() {
                    if x == '"' {
                        break;
                    }
                    w.push(x);
                }
            }
            '\\' => cur.get_or_insert_with(String::new).extend(chars.next()),
            ';' | '|' | '&' => break,
            c if c.is_whitespace() => words.extend(cur.take()),
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(cur);
    words
}

/// `--flag v1 v2 --other v` as flag → values.
fn flags(words: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut key = String::new();
    for w in words {
        if let Some(k) = w.strip_prefix("--") {
            key = k.to_string();
            out.entry(key.clone()).or_default();
        } else if !key.is_empty() {
            out.entry(key.clone()).or_default().push(w.clone());
        }
    }
    out
}

fn one<'a>(f: &'a BTreeMap<String, Vec<String>>, k: &str) -> &'a str {
    f.get(k).and_then(|v| v.first()).map_or("", String::as_str)
}

/// Run one Image Assistant call on builder `builder` (a key of [`Appstream::builders`]).
pub fn run(
    a: &mut Appstream,
    builder: &str,
    op: &str,
    f: &BTreeMap<String, Vec<String>>,
    now: u64,
    d: &Durations,
) -> Outcome {
    let Some(b) = a.builders.get_mut(builder) else {
        return failed("The image builder no longer exists.");
    };
    if b.state != "RUNNING" {
        return failed(format!("The image builder is {}.", b.state));
    }
    match op {
        "add-application" => add_application(b, f),
        "remove-application" => {
            let before = b.applications.len();
            b.applications.retain(|x| x.name != one(f, "name"));
            if b.applications.len() == before {
                failed(format!(
                    "No application named {} is in the catalog.",
                    one(f, "name")
                ))
            } else {
                ok(json!({}))
            }
        }
        "list-applications" => {
            let apps: Vec<Value> = b
                .applications
                .iter()
                .map(super::wire::application_json)
                .collect();
            ok(json!({ "applications": apps }))
        }
        "update-default-profile" if b.platform.starts_with("WINDOWS") => {
            b.default_profile = true;
            ok(json!({}))
        }
        "update-default-profile" => failed("update-default-profile is for Windows image builders."),
        "create-image" => create_image(a, builder, f, now, d),
        other => failed(format!("Unknown operation {other}.")),
    }
}

fn add_application(b: &mut ImageBuilder, f: &BTreeMap<String, Vec<String>>) -> Outcome {
    let (name, path) = (one(f, "name"), one(f, "absolute-app-path"));
    if name.is_empty() || path.is_empty() {
        return failed("add-application needs --name and --absolute-app-path.");
    }
    if b.applications.iter().any(|x| x.name == name) {
        return failed(format!(
            "An application named {name} is already in the catalog."
        ));
    }
    b.applications.push(Application {
        name: name.into(),
        display_name: one(f, "display-name").into(),
        path: path.into(),
        launch_parameters: one(f, "launch-parameters").into(),
        working_directory: one(f, "working-directory").into(),
        icon_path: one(f, "absolute-icon-path").into(),
    });
    ok(json!({}))
}

/// `create-image --name N [--display-name] [--description] [--tags k v …] [--dry-run]`.
fn create_image(
    a: &mut Appstream,
    builder: &str,
    f: &BTreeMap<String, Vec<String>>,
    now: u64,
    d: &Durations,
) -> Outcome {
    let name = one(f, "name");
    if let Err(e) = super::wire::check_image_name("--name", name) {
        return failed(e.message);
    }
    let tags = f.get("tags").cloned().unwrap_or_default();
    if tags.len() % 2 != 0 {
        return failed("--tags takes pairs of key and value.");
    }
    let Some(b) = a.builders.get(builder).cloned() else {
        return failed("The image builder no longer exists.");
    };
    let ik = scoped(&b.account, &b.region, name);
    if a.images.contains_key(&ik) {
        return failed(format!("An image named {name} already exists."));
    }
    if f.contains_key("dry-run") {
        return ok(json!({}));
    }
    let ready_at = now.saturating_add(d.appstream_image_ms);
    let image = Image {
        name: name.into(),
        owner: b.account.clone(),
        region: b.region.clone(),
        arn: format!("arn:aws:appstream:{}:{}:image/{name}", b.region, b.account),
        base_image_arn: b.image_arn.clone(),
        display_name: one(f, "display-name").into(),
        description: one(f, "description").into(),
        state: CAPTURE_STATE.into(),
        ready_at,
        created_ms: now,
        platform: b.platform.clone(),
        builder_name: b.name.clone(),
        tags: tags
            .chunks(2)
            .map(|kv| (kv[0].clone(), kv[1].clone()))
            .collect(),
        applications: b.applications.clone(),
        agent_version: b.agent_version.clone(),
        bootstrap: b.bootstrap,
        ..Default::default()
    };
    a.images.insert(ik, image);
    if let Some(b) = a.builders.get_mut(builder) {
        b.state = "SNAPSHOTTING".into();
        b.ready_at = ready_at;
    }
    ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_found_in_bash_and_powershell_with_their_quoting() {
        let sh = "set -euo pipefail\nAppStreamImageAssistant add-application --name 'qgis' --absolute-app-path '/opt/q gis' --display-name 'it'\\''s'";
        let c = calls(sh);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].0, "add-application");
        assert_eq!(one(&c[0].1, "absolute-app-path"), "/opt/q gis");
        assert_eq!(one(&c[0].1, "display-name"), "it's");
        let ps = "& 'C:\\Program Files\\Amazon\\Photon\\ConsoleImageBuilder\\image-assistant.exe' create-image --name 'x-1' --tags 'Team' 'GIS''s' 'recipe:build-id' 'b1'\nif ($LASTEXITCODE -ne 0) { throw }";
        let c = calls(ps);
        assert_eq!(c[0].0, "create-image");
        assert_eq!(c[0].1["tags"], ["Team", "GIS's", "recipe:build-id", "b1"]);
        assert!(calls("echo hello").is_empty());
    }
}
