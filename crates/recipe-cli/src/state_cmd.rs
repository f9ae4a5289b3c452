//! `recipe state list | show | unlock`.

use std::io::Write;

use recipe_state::StateStore;

use crate::exit::Exit;
use crate::render;
use crate::store::StateArgs;

#[derive(clap::Subcommand)]
pub enum StateCommand {
    /// List the recipes that have state, with their current version and regions.
    List {
        #[command(flatten)]
        state: StateArgs,
    },
    /// Show every recorded version of a recipe (JSON with --format json).
    Show {
        /// The recipe.
        recipe: String,
        #[command(flatten)]
        state: StateArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = crate::Format::Human)]
        format: crate::Format,
    },
    /// Remove a recipe's lock left by a run that died. Use only when no run is active.
    Unlock {
        /// The recipe.
        recipe: String,
        #[command(flatten)]
        state: StateArgs,
    },
}

/// The store; S3 with the AWS configuration from the standard chain.
async fn open(state: &StateArgs) -> Result<crate::store::AnyStore, Exit> {
    let aws = if state.is_s3() {
        match recipe_aws::Aws::load(&recipe_aws::AwsOptions::default()).await {
            Ok(aws) => Some(aws),
            Err(e) => return Err(render::report(&e)),
        }
    } else {
        None
    };
    state.open(aws.as_ref()).map_err(|e| render::report(&e))
}

pub fn run(cmd: &StateCommand) -> std::io::Result<Exit> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(cmd))
}

async fn run_async(cmd: &StateCommand) -> std::io::Result<Exit> {
    let mut out = std::io::stdout().lock();
    match cmd {
        StateCommand::List { state } => {
            let store = match open(state).await {
                Ok(s) => s,
                Err(exit) => return Ok(exit),
            };
            let names = match store.list().await {
                Ok(n) => n,
                Err(e) => return Ok(render::report(&e)),
            };
            if names.is_empty() {
                writeln!(out, "no state yet")?;
            }
            for name in names {
                match store.load(&name).await {
                    Ok(Some(s)) => {
                        let live = s
                            .state
                            .versions
                            .iter()
                            .filter(|v| v.status.is_live())
                            .count();
                        match s.state.current() {
                            Some(v) => {
                                let regions: Vec<&str> = v.regions().collect();
                                writeln!(
                                    out,
                                    "{name:<28} {:<10} {:<28} {live} live  {}",
                                    v.version,
                                    v.build_id,
                                    regions.join(", ")
                                )?;
                            }
                            None => writeln!(out, "{name:<28} (no usable version)")?,
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        render::report(&e);
                    }
                }
            }
        }
        StateCommand::Show {
            recipe,
            state,
            format,
        } => {
            let store = match open(state).await {
                Ok(s) => s,
                Err(exit) => return Ok(exit),
            };
            let stored = match store.load(recipe).await {
                Ok(Some(s)) => s,
                Ok(None) => {
                    writeln!(std::io::stderr(), "no state for `{recipe}`")?;
                    return Ok(Exit::Invalid);
                }
                Err(e) => return Ok(render::report(&e)),
            };
            if *format == crate::Format::Json {
                serde_json::to_writer_pretty(&mut out, &stored.state)?;
                writeln!(out)?;
                return Ok(Exit::Ok);
            }
            writeln!(out, "{recipe} (revision {})", stored.revision)?;
            for v in stored.state.versions.iter().rev() {
                writeln!(
                    out,
                    "  {} {:<10} {:<10} built {}",
                    v.build_id,
                    v.version,
                    v.status.as_str(),
                    v.created_at.strftime("%Y-%m-%d %H:%M")
                )?;
                for (region, img) in &v.images {
                    writeln!(out, "      {region:<16} {}", img.image_id)?;
                }
                let principals: std::collections::BTreeSet<&str> =
                    v.shares.iter().map(|s| s.principal.as_str()).collect();
                if !principals.is_empty() {
                    writeln!(
                        out,
                        "      shared with {}",
                        principals.into_iter().collect::<Vec<_>>().join(", ")
                    )?;
                }
            }
        }
        StateCommand::Unlock { recipe, state } => match open(state).await {
            Err(exit) => return Ok(exit),
            Ok(store) => match store.force_unlock(recipe).await {
                Ok(Some(h)) => writeln!(
                    out,
                    "removed the lock on `{recipe}` held by {}",
                    h.describe()
                )?,
                Ok(None) => writeln!(out, "`{recipe}` was not locked")?,
                Err(e) => return Ok(render::report(&e)),
            },
        },
    }
    Ok(Exit::Ok)
}
