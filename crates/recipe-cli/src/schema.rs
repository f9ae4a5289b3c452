//! `recipe schema`: write the JSON Schemas, or check the committed ones for drift.

use std::io::Write;
use std::path::PathBuf;

use crate::exit::Exit;

#[derive(clap::Args)]
pub struct SchemaArgs {
    /// Folder to write `recipe.schema.json` and `component.schema.json` into.
    #[arg(long, default_value = "schemas")]
    dir: PathBuf,
    /// Do not write: exit 1 if the files differ from what the model generates.
    #[arg(long)]
    check: bool,
}

/// The generated files: name and pretty JSON with a final newline.
fn generated() -> Vec<(&'static str, String)> {
    let pretty = |v: serde_json::Value| serde_json::to_string_pretty(&v).expect("a schema serializes") + "\n";
    vec![
        ("recipe.schema.json", pretty(recipe_model::recipe_schema())),
        ("component.schema.json", pretty(recipe_model::component_schema())),
    ]
}

pub fn run(args: &SchemaArgs) -> std::io::Result<Exit> {
    let mut err = std::io::stderr().lock();
    let mut drift = false;
    for (name, text) in generated() {
        let path = args.dir.join(name);
        if args.check {
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            if current != text {
                drift = true;
                writeln!(err, "{} is out of date: run `recipe schema` (or `just schema`) and commit it", path.display())?;
            }
        } else {
            std::fs::create_dir_all(&args.dir)?;
            std::fs::write(&path, text)?;
            writeln!(err, "wrote {}", path.display())?;
        }
    }
    if args.check && !drift {
        writeln!(err, "schemas are up to date")?;
    }
    Ok(if drift { Exit::Invalid } else { Exit::Ok })
}
