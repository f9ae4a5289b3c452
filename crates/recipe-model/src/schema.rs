//! JSON Schema generation for recipes and components.

use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::patterns;

use crate::{Component, Recipe};

fn settings() -> SchemaSettings {
    SchemaSettings::draft07()
}

/// What the recipe schema says of one target: its name and summary, and the keys and step kinds
/// only some targets take.
#[derive(Clone, Debug, Default)]
pub struct TargetSchema {
    /// The name written as `target:`.
    pub name: &'static str,
    /// What it builds.
    pub summary: &'static str,
    /// The paths of target-owned keys it takes (`["retain", "deprecate-after"]`).
    pub keys: Vec<Vec<&'static str>>,
    /// The target-owned step kinds it runs.
    pub steps: Vec<&'static str>,
}

/// The JSON Schema of a recipe document, as written to `schemas/recipe.schema.json`: `target`
/// lists `targets`, and a key or step kind that `owned` lists is allowed only on the targets that
/// take it.
pub fn recipe_schema(targets: &[TargetSchema], owned: &[Vec<&'static str>]) -> Value {
    let mut generator = settings().into_generator();
    let sections: Vec<_> = (crate::section::HOSTS.iter())
        .map(|host| (*host, crate::section::host_properties(host, &mut generator)))
        .collect();
    let mut schema = generator.into_root_schema_for::<Recipe>();
    schema.insert(
        "$id".into(),
        "https://recipe.dev/schemas/recipe.schema.json".into(),
    );
    let mut value = schema.to_value();
    for (host, properties) in sections {
        let at = match host {
            "" => &mut value,
            host => &mut value["definitions"][host_definition(host)],
        };
        for (key, schema) in properties {
            at["properties"][key] = schema.to_value();
        }
    }
    refine(&mut value);
    if let Some(Value::Array(kinds)) = value["definitions"]["Base"].get_mut("oneOf") {
        kinds.extend(crate::base::declared_schemas());
    }
    value["definitions"]["Target"] = target_names(targets);
    value["allOf"] = target_rules(targets, owned);
    polish(&mut value);
    value
}

/// The definition of the struct at a section host's key (`builder` → `Builder`).
fn host_definition(host: &str) -> String {
    let mut chars = host.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// `target`: one of the registered names, each with its summary.
fn target_names(targets: &[TargetSchema]) -> Value {
    let names = targets
        .iter()
        .map(|t| json!({ "type": "string", "const": t.name, "description": t.summary }));
    json!({
        "oneOf": names.collect::<Vec<_>>(),
        "description": "The kind of image a recipe builds."
    })
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
    distribute["kms-keys"]["propertyNames"] = regions;
    let share = &mut defs["Share"]["properties"];
    share["organizations"]["items"]["pattern"] = patterns::ORG_ARN.into();
    share["organizational-units"]["items"]["pattern"] = patterns::OU_ARN.into();
    defs["AccountShare"]["anyOf"][0]["pattern"] = patterns::ACCOUNT.into();
    defs["AccountPermissions"]["properties"]["id"]["pattern"] = patterns::ACCOUNT.into();
}

fn with_description(mut v: Value, from: &Value) -> Value {
    if let Some(d) = from.get("description") {
        v["description"] = d.clone();
    }
    v
}

/// `if target is none of T… then X is not allowed`, for each key or step kind only targets T…
/// take (a `false` schema: present is an error, on the key's line).
fn target_rules(targets: &[TargetSchema], owned: &[Vec<&'static str>]) -> Value {
    let only = |takers: Vec<&str>, then: Value| {
        let mut not: Vec<Value> = takers.iter().map(|t| json!({ "const": t })).collect();
        let not = match not.len() {
            1 => not.remove(0),
            _ => json!({ "anyOf": not }),
        };
        json!({
            "if": { "type": "object", "required": ["target"], "properties": { "target": { "not": not } } },
            "then": then
        })
    };
    let mut rules = Vec::new();
    for path in owned {
        let takers = targets.iter().filter(|t| t.keys.contains(path));
        rules.push(only(takers.map(|t| t.name).collect(), no_key(path)));
    }
    let mut kinds: Vec<&str> = targets
        .iter()
        .flat_map(|t| t.steps.iter().copied())
        .collect();
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        let takers = targets.iter().filter(|t| t.steps.contains(&kind));
        let item = json!({ "type": "array", "items": no_key(&[kind]) });
        let then =
            json!({ "type": "object", "properties": { "steps": item.clone(), "tests": item } });
        rules.push(only(takers.map(|t| t.name).collect(), then));
    }
    Value::Array(rules)
}

/// A schema under which the key at `path` may not be present.
fn no_key(path: &[&str]) -> Value {
    let (last, outer) = path.split_last().expect("a key path has a key");
    let mut v = json!({ "type": "object", "properties": { *last: false } });
    for key in outer.iter().rev() {
        v = json!({ "type": "object", "properties": { *key: v } });
    }
    v
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
