//! JSON Schema generation for recipes and components.

use schemars::generate::SchemaSettings;

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
    schema.to_value()
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
    schema.to_value()
}
