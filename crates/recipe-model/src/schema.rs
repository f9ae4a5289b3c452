//! JSON Schema generation for recipes and components.

use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::patterns;

use crate::{Component, Recipe};

fn settings() -> SchemaSettings {
    SchemaSettings::draft07()
}

/// The JSON Schema of a recipe document, as written to `schemas/recipe.schema.json`.
pub fn recipe_schema() -> serde_json::Value {
    let mut schema = settings().into_generator().into_root_schema_for::<Recipe>();
    schema.insert(
        "$id".into(),
        "https://recipe.dev/schemas/recipe.schema.json".into(),
    );
    let mut value = schema.to_value();
    refine(&mut value);
    polish(&mut value);
    value
}

/// What editors show: each one-key alternative (a base kind, a step kind) titled by its key, with
/// its description and examples on the key too, so completion lists `ssm-parameter`, `recipe`, …
/// and hover on the key explains it; descriptions as prose (doc-comment line breaks joined), with a
/// `markdownDescription` for editors that render code spans.
fn polish(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for key in ["oneOf", "anyOf"] {
                if let Some(Value::Array(alts)) = map.get_mut(key) {
                    alts.iter_mut().for_each(title_by_key);
                }
            }
            if let Some(Value::String(d)) = map.get("description") {
                let prose = join_lines(d);
                map.insert("markdownDescription".into(), prose.clone().into());
                map.insert("description".into(), prose.replace('`', "").into());
            }
            for (k, child) in map.iter_mut() {
                if k != "examples" && k != "enum" && k != "const" {
                    polish(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(polish),
        _ => {}
    }
}

/// A one-key alternative: titled by its key; the key gets its description and examples.
fn title_by_key(alt: &mut Value) {
    let Some(props) = alt.get("properties").and_then(Value::as_object) else {
        return;
    };
    if props.len() != 1 {
        return;
    }
    let key = props.keys().next().cloned().unwrap_or_default();
    let (desc, examples) = (
        alt.get("description").cloned(),
        alt.get("examples").cloned(),
    );
    alt["title"] = key.clone().into();
    let prop = &mut alt["properties"][&key];
    if prop.get("$ref").is_some() {
        // A `$ref` takes no siblings in draft-07: wrap it.
        *prop = json!({ "allOf": [prop.take()] });
    }
    for (name, value) in [("description", desc), ("examples", examples)] {
        if let Some(value) = value
            && prop.get(name).is_none()
        {
            prop[name] = value;
        }
    }
}

/// Doc-comment text as prose: single line breaks become spaces, paragraphs stay.
fn join_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// What `recipe validate` checks and the derived schema cannot say: region names, identifier
/// shapes, and the sections and steps that belong to one target.
fn refine(schema: &mut Value) {
    let regions = json!({ "type": "string", "enum": crate::regions::REGIONS });
    let defs = &mut schema["definitions"];
    defs["Builder"]["properties"]["region"] =
        with_description(regions.clone(), &defs["Builder"]["properties"]["region"]);
    let distribute = &mut defs["Distribute"]["properties"];
    distribute["regions"]["items"] = regions.clone();
    distribute["kms-keys"]["propertyNames"] = regions.clone();
    defs["Bundle"]["properties"]["regions"]["items"] = regions;
    defs["WorkspacesImport"]["properties"]["infrastructure-configuration-arn"]["pattern"] =
        patterns::INFRASTRUCTURE_CONFIGURATION_ARN.into();
    let share = &mut defs["Share"]["properties"];
    share["organizations"]["items"]["pattern"] = patterns::ORG_ARN.into();
    share["organizational-units"]["items"]["pattern"] = patterns::OU_ARN.into();
    defs["AccountShare"]["anyOf"][0]["pattern"] = patterns::ACCOUNT.into();
    defs["AccountPermissions"]["properties"]["id"]["pattern"] = patterns::ACCOUNT.into();
    schema["allOf"] = target_rules();
}

fn with_description(mut v: Value, from: &Value) -> Value {
    if let Some(d) = from.get("description") {
        v["description"] = d.clone();
    }
    v
}

/// `if target is not T then X is not allowed`, for each section or step kind that only target T
/// takes (a `false` schema: present is an error, on the key's line).
fn target_rules() -> Value {
    let only = |target: &str, then: Value| {
        json!({
            "if": { "type": "object", "required": ["target"], "properties": { "target": { "not": { "const": target } } } },
            "then": then
        })
    };
    let no_key = |key: &str| json!({ "type": "object", "properties": { key: false } });
    let no_step = |kind: &str| {
        let item = json!({ "type": "array", "items": no_key(kind) });
        json!({ "type": "object", "properties": { "steps": item.clone(), "tests": item } })
    };
    json!([
        only("workspaces", no_key("bundle")),
        only("appstream", no_key("managed-update")),
        only("appstream", no_step("app")),
        only("ec2-ami", no_step("sysprep")),
        only(
            "ec2-ami",
            json!({ "type": "object", "properties": { "retain": no_key("deprecate-after") } })
        ),
    ])
}

/// The JSON Schema of a component document, as written to `schemas/component.schema.json`.
pub fn component_schema() -> serde_json::Value {
    let mut schema = settings()
        .into_generator()
        .into_root_schema_for::<Component>();
    schema.insert(
        "$id".into(),
        "https://recipe.dev/schemas/component.schema.json".into(),
    );
    let mut value = schema.to_value();
    polish(&mut value);
    value
}
