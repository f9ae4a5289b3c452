//! The `recipe` command. The libraries return data; this crate is where output is printed.

mod apply_cmd;
mod bootstrap_cmd;
mod cloud;
mod evidence;
mod exit;
mod plan_cmd;
mod progress;
mod reference;
mod render;
mod root;
mod schema;
mod served;
mod state_cmd;
mod store;
mod summary;
mod try_cmd;
mod verify_cmd;
mod verify_policy;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use recipe_loader::{LoadOptions, RecipeSet};

use crate::exit::Exit;

/// Build machine images on AWS (EC2 AMIs, WorkSpaces, AppStream 2.0) from YAML recipes.
#[derive(Parser)]
#[command(name = "recipe", version, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check recipes: syntax, references, and every rule. Pure: no network, no credentials.
    Validate(CheckArgs),
    /// Score recipes against the image design checklist and say what to change.
    Lint(LintArgs),
    /// Show what apply would change: builds, copies, shares, retention, with reasons. Reads only.
    Plan(plan_cmd::PlanArgs),
    /// Make the plan real: build, copy, share, retire. Asks first on a terminal.
    Apply(apply_cmd::ApplyArgs),
    /// Print the plan's action graph (DOT or Mermaid).
    Graph(plan_cmd::GraphArgs),
    /// Inspect and repair recorded state.
    #[command(subcommand)]
    State(state_cmd::StateCommand),
    /// Write the JSON Schemas and the generated reference docs, or check them for drift.
    Schema(schema::SchemaArgs),
    /// Run a recipe's steps, tests and cleanup in a fresh sandbox root filesystem, printing each
    /// step's output: the fast loop for writing steps (Linux; docs/sandbox.md).
    Try(try_cmd::TryArgs),
    /// Check an image version's evidence: its provenance's signature (`--key`), its subjects against
    /// what the state records and, in the sandbox, the artifact's SHA-256; its SBOM. Exit 7 when a
    /// check fails (docs/supply-chain.md).
    Verify(verify_cmd::VerifyArgs),
    /// Print the installer of the SSM bootstrap a WorkSpaces or AppStream base image carries, so that
    /// its builders register with no person: `recipe bootstrap --target workspaces --os linux
    /// --region eu-west-2 > bootstrap.sh` (docs/workspaces.md).
    Bootstrap(bootstrap_cmd::BootstrapArgs),
    /// Print a shell completion script: `recipe completions bash > /etc/bash_completion.d/recipe`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// How diagnostics and results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Rendered for people, with the source under each finding.
    Human,
    /// JSON on standard output, for tools and CI.
    Json,
}

#[derive(clap::Args)]
pub(crate) struct LoadArgs {
    /// Recipe files or folders. Folders are searched recursively, skipping hidden ones and those named
    /// components, files, scripts and templates.
    #[arg(default_value = "recipes")]
    pub(crate) paths: Vec<PathBuf>,
    /// Set a variable: `--var name=value` (repeatable). Overrides the variable's default.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub(crate) vars: Vec<(String, String)>,
    /// Allow a region this version of recipe does not know yet (AWS opened it later); repeatable.
    #[arg(
        long = "allow-region",
        value_name = "REGION",
        env = "RECIPE_ALLOW_REGIONS",
        value_delimiter = ','
    )]
    pub(crate) allow_regions: Vec<String>,
}

#[derive(clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    load: LoadArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(clap::Args)]
struct LintArgs {
    #[command(flatten)]
    check: CheckArgs,
    /// Exit 1 when a recipe's overall score (1-5) is below this, to gate CI.
    #[arg(long, value_name = "SCORE", value_parser = parse_score)]
    min_score: Option<f32>,
}

fn parse_score(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (1.0..=5.0).contains(&v) => Ok(v),
        _ => Err(format!("expected a score from 1 to 5, got `{s}`")),
    }
}

pub(crate) fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{s}`")),
    }
}

impl LoadArgs {
    fn load(&self) -> RecipeSet {
        let options = LoadOptions {
            vars: self.vars.iter().cloned().collect(),
            allow_regions: self.allow_regions.clone(),
            targets: crate::served::targets(),
        };
        let mut set = recipe_loader::load(&self.paths, &options);
        name_the_default_path(&mut set);
        set
    }
}

/// `recipes`, the path taken when none is given, missing from the working folder: the finding says
/// it was the default, and what to pass instead.
fn name_the_default_path(set: &mut recipe_loader::RecipeSet) {
    let default = std::path::Path::new("recipes");
    let missing = set.diagnostics.iter_mut().find(|d| {
        d.code == recipe_loader::Code::IoRead && d.path() == Some(default) && !default.exists()
    });
    if let Some(d) = missing {
        d.help = "`recipes` is the folder read when no PATHS are given: run from the folder that holds `recipes/`, or name the recipe files or folders (`.` for this one)".into();
    }
}

/// `recipe completions SHELL`.
fn completions(shell: clap_complete::Shell) -> std::io::Result<Exit> {
    use clap::CommandFactory;
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "recipe", &mut out);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &out)?;
    Ok(Exit::Ok)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok
            };
            let _ = e.print();
            return code.into();
        }
    };
    let result = match cli.command {
        Command::Validate(args) => render::validate(&args.load.load(), args.format),
        Command::Lint(args) => {
            render::lint(&args.check.load.load(), args.check.format, args.min_score)
        }
        Command::Plan(args) => plan_cmd::plan(&args),
        Command::Graph(args) => plan_cmd::graph(&args),
        Command::Apply(args) => apply_cmd::apply(&args),
        Command::State(cmd) => state_cmd::run(&cmd),
        Command::Schema(args) => schema::run(&args),
        Command::Try(args) => try_cmd::run(&args),
        Command::Verify(args) => verify_cmd::run(&args),
        Command::Bootstrap(args) => Ok(bootstrap_cmd::run(&args)),
        Command::Completions { shell } => completions(shell),
    };
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            render::error(&e);
            Exit::Io.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
