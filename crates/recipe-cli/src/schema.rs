//! `recipe schema`: write the JSON Schemas and the generated parts of docs/, or check them for drift.

use std::io::Write;
use std::path::PathBuf;

use crate::exit::Exit;
use crate::reference;

#[derive(clap::Args)]
pub struct SchemaArgs {
    /// Folder to write `recipe.schema.json` and `component.schema.json` into.
    #[arg(long, default_value = "schemas")]
    dir: PathBuf,
    /// Folder whose `recipes.md` and `diagnostics.md` get their generated sections.
    #[arg(long, default_value = "docs")]
    docs: PathBuf,
    /// Do not write: exit 1 if the files differ from what the model generates.
    #[arg(long)]
    check: bool,
}

/// The generated files: path and full text.
fn generated(args: &SchemaArgs) -> std::io::Result<Vec<(PathBuf, String)>> {
    let pretty = |v: &serde_json::Value| {
        serde_json::to_string_pretty(v).expect("a schema serializes") + "\n"
    };
    let recipe = crate::served::targets().schema();
    let mut files = vec![
        (args.dir.join("recipe.schema.json"), pretty(&recipe)),
        (
            args.dir.join("component.schema.json"),
            pretty(&recipe_model::component_schema()),
        ),
    ];
    for (file, marker, body) in [
        (
            "recipes.md",
            "reference",
            reference::language_reference(&recipe),
        ),
        ("recipes.md", "cleanup", reference::cleanup_presets()),
        ("diagnostics.md", "codes", reference::diagnostic_codes()),
    ] {
        let path = args.docs.join(file);
        // A file spliced twice builds on the first splice.
        let pending = files.iter().position(|(p, _)| *p == path);
        let current = match pending {
            Some(i) => Ok(files.remove(i).1),
            None => std::fs::read_to_string(&path),
        };
        let doc = match current {
            Ok(doc) => doc,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let spliced = reference::splice(&doc, marker, &body).ok_or_else(|| {
            std::io::Error::other(format!(
                "{} lacks the `<!-- {marker}:start -->` / `<!-- {marker}:end -->` markers",
                path.display()
            ))
        })?;
        files.push((path, spliced));
    }
    Ok(files)
}

pub fn run(args: &SchemaArgs) -> std::io::Result<Exit> {
    let mut err = std::io::stderr().lock();
    let mut drift = false;
    for (path, text) in generated(args)? {
        if args.check {
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            if current != text {
                drift = true;
                writeln!(
                    err,
                    "{} is out of date: run `recipe schema` (or `just schema`) and commit it",
                    path.display()
                )?;
            }
        } else {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, text)?;
            writeln!(err, "wrote {}", path.display())?;
        }
    }
    if args.check && !drift {
        writeln!(err, "schemas are up to date")?;
    }
    Ok(if drift { Exit::Invalid } else { Exit::Ok })
}
