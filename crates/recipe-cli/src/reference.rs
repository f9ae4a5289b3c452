//! Generated documentation: the language reference (from the JSON Schema) and the diagnostic codes
//! (from the code registry). Written between markers in docs/, checked for drift like the schemas.

use serde_json::Value;

/// Replace the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` in `doc`.
pub fn splice(doc: &str, name: &str, body: &str) -> Option<String> {
    let start = format!("<!-- {name}:start -->");
    let end = format!("<!-- {name}:end -->");
    let s = doc.find(&start)? + start.len();
    let e = doc[s..].find(&end)? + s;
    Some(format!("{}\n{}\n{}", &doc[..s], body.trim_end(), &doc[e..]))
}

/// A node's description as Markdown (the schema keeps a plain one for editors without Markdown).
fn description(v: &Value) -> &str {
    v.get("markdownDescription")
        .or_else(|| v.get("description"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn escape(s: &str) -> String {
    s.replace('\n', " ").replace('|', "\\|")
}

fn type_of(v: &Value) -> String {
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("[{name}](#{})", name.to_lowercase());
    }
    if let Some(all) = v.get("allOf").and_then(Value::as_array)
        && let Some(first) = all.first()
    {
        return type_of(first);
    }
    if let Some(any) = v.get("anyOf").and_then(Value::as_array) {
        let parts: Vec<String> = any
            .iter()
            .filter(|x| x.get("type") != Some(&Value::from("null")))
            .map(type_of)
            .collect();
        return parts.join(" or ");
    }
    match v.get("type") {
        Some(Value::String(t)) if t == "array" => {
            format!("list of {}", v.get("items").map_or("any".into(), type_of))
        }
        Some(Value::String(t)) if t == "object" => match v.get("additionalProperties") {
            Some(inner @ Value::Object(_)) => format!("map of {}", type_of(inner)),
            _ => "mapping".into(),
        },
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".into(),
    }
}

fn example(v: &Value) -> String {
    v.get("examples")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
        .map(|e| format!("`{}`", escape(&e.to_string())))
        .unwrap_or_default()
}

fn object_table(out: &mut String, def: &Value) {
    let required: Vec<&str> = def
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("| field | type | required | description | example |\n|---|---|---|---|---|\n");
    if let Some(props) = def.get("properties").and_then(Value::as_object) {
        for (name, p) in props {
            let desc = description(p);
            let req = if required.contains(&name.as_str()) {
                "yes"
            } else {
                ""
            };
            out.push_str(&format!(
                "| `{name}` | {} | {req} | {} | {} |\n",
                type_of(p),
                escape(desc),
                example(p)
            ));
        }
    }
}

fn variants_table(out: &mut String, variants: &[Value]) {
    out.push_str("| value | description |\n|---|---|\n");
    for v in variants {
        let desc = description(v);
        if let Some(c) = v
            .get("const")
            .or_else(|| v.get("enum").and_then(|e| e.get(0)))
        {
            out.push_str(&format!(
                "| `{}` | {} |\n",
                c.as_str().unwrap_or_default(),
                escape(desc)
            ));
        } else if let Some(props) = v.get("properties").and_then(Value::as_object)
            && let Some((key, inner)) = props.iter().next()
        {
            out.push_str(&format!(
                "| `{key}:` {} | {} |\n",
                type_of(inner),
                escape(desc)
            ));
        } else {
            // A form of the value: a bare string, or another definition.
            out.push_str(&format!("| {} | {} |\n", type_of(v), escape(desc)));
        }
    }
}

/// The language reference as Markdown, from the recipe schema.
pub fn language_reference(schema: &Value) -> String {
    let mut out = String::from("### Recipe (top level)\n\n");
    object_table(&mut out, schema);
    let Some(defs) = schema.get("definitions").and_then(Value::as_object) else {
        return out;
    };
    for (name, def) in defs {
        out.push_str(&format!("\n### {name}\n\n"));
        if let Some(d) = Some(description(def)).filter(|d| !d.is_empty()) {
            out.push_str(&format!("{}\n\n", d.replace('\n', " ")));
        }
        if def.get("properties").is_some() {
            if def.get("maxProperties") == Some(&Value::from(1)) {
                out.push_str("Exactly one of these keys:\n\n");
            }
            object_table(&mut out, def);
        } else if let Some(vs) = def
            .get("oneOf")
            .or_else(|| def.get("anyOf"))
            .and_then(Value::as_array)
        {
            variants_table(&mut out, vs);
        } else if let Some(e) = def.get("enum").and_then(Value::as_array) {
            let vals: Vec<String> = e
                .iter()
                .filter_map(Value::as_str)
                .map(|s| format!("`{s}`"))
                .collect();
            out.push_str(&format!("One of: {}\n", vals.join(", ")));
        } else {
            out.push_str(&format!("Type: {}\n", type_of(def)));
        }
    }
    out
}

/// The cleanup presets and their commands as Markdown.
pub fn cleanup_presets() -> String {
    let mut out = String::new();
    for p in recipe_model::CleanupPreset::all() {
        let items = p.items;
        if items.is_empty() {
            out.push_str(&format!(
                "#### `{}`\n\nRuns nothing (the linter flags it).\n\n",
                p.name
            ));
            continue;
        }
        let shell = if p.os == Some(recipe_model::Os::Windows) {
            "PowerShell"
        } else {
            "bash"
        };
        out.push_str(&format!(
            "#### `{}`\n\n| removes | command ({shell}) | source |\n|---|---|---|\n",
            p.name
        ));
        for i in items {
            out.push_str(&format!(
                "| {} | `{}` | {} |\n",
                escape(i.what),
                escape(i.command),
                escape(i.source)
            ));
        }
        out.push('\n');
    }
    out
}

/// The diagnostic codes as a Markdown table.
pub fn diagnostic_codes() -> String {
    let mut out = String::from("| code | severity | meaning |\n|---|---|---|\n");
    let builtin = recipe_loader::Code::ALL.iter().copied();
    let targets = crate::served::targets();
    let own = targets
        .iter()
        .flat_map(|t| t.codes().iter().map(|c| recipe_loader::Code::Target(c)));
    for c in builtin.chain(own.collect::<Vec<_>>()) {
        let sev = match c.severity() {
            recipe_loader::Severity::Error => "error",
            recipe_loader::Severity::Warning => "warning",
        };
        out.push_str(&format!(
            "| `{}` | {sev} | {} |\n",
            c.as_str(),
            escape(c.summary())
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_between_markers_only() {
        let doc = "a\n<!-- x:start -->\nold\n<!-- x:end -->\nb\n";
        assert_eq!(
            splice(doc, "x", "new\n").as_deref(),
            Some("a\n<!-- x:start -->\nnew\n<!-- x:end -->\nb\n")
        );
        assert_eq!(splice(doc, "y", "new"), None);
    }

    #[test]
    fn no_table_of_the_reference_is_empty() {
        let r = language_reference(&crate::served::targets().schema());
        let lines: Vec<&str> = r.lines().collect();
        for (i, w) in lines.windows(3).enumerate() {
            if w[1].starts_with("|---") {
                assert!(
                    w[2].starts_with('|'),
                    "the table at line {} has no row:\n{}",
                    i + 1,
                    lines[i.saturating_sub(6)..i + 2].join("\n")
                );
            }
        }
        assert!(r.contains("### AccountShare"));
        assert!(r.contains("| string | An account id. |"), "{r}");
    }

    #[test]
    fn reference_lists_every_step_kind() {
        let r = language_reference(&crate::served::targets().schema());
        let step = &r[r.find("### Step\n").expect("a Step section")..];
        assert!(step.contains("Exactly one of these keys"));
        let kinds = [
            "shell",
            "powershell",
            "script",
            "file",
            "packages",
            "update-os",
        ];
        let more = ["download", "reboot", "include", "app", "manual", "sysprep"];
        for kind in kinds.iter().chain(&more) {
            assert!(
                step.contains(&format!("| `{kind}` |")),
                "reference lacks {kind}"
            );
        }
    }
}
