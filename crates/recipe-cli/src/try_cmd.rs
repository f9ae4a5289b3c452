//! `recipe try`: run a recipe's steps, tests and cleanup in a fresh sandbox root filesystem, without
//! the rest of the pipeline (no builder, image or state), printing each step's output as it comes.
//! The steps are rendered exactly as a builder gets them (docs/sandbox.md).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sim::machine::RootSource;
use recipe_loader::{LoadedRecipe, ResolvedStep};
use recipe_model::{Base, Os, Stage, Step};
use recipe_ssm::render;

use crate::exit::Exit;

/// `recipe try`.
#[derive(clap::Args)]
pub struct TryArgs {
    /// The recipe file.
    pub recipe: PathBuf,
    /// Only these steps, by number as the plan counts them: `3`, `2..5`, `..4`. Tests and cleanup
    /// run only when the last step does.
    #[arg(long, value_name = "N..M", value_parser = parse_range)]
    pub step: Option<(usize, usize)>,
    /// Keep the root filesystem afterwards (it is kept anyway when a step fails), and say how to get
    /// a shell in it.
    #[arg(long)]
    pub keep: bool,
    /// Set a variable: `--var name=value` (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = crate::parse_var)]
    pub vars: Vec<(String, String)>,
}

fn parse_range(s: &str) -> Result<(usize, usize), String> {
    let num = |t: &str, default: usize| -> Result<usize, String> {
        if t.is_empty() {
            return Ok(default);
        }
        t.parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("`{t}` is not a step number (1, 2, …)"))
    };
    match s.split_once("..") {
        Some((a, b)) => Ok((num(a, 1)?, num(b, usize::MAX)?)),
        None => num(s, 1).map(|n| (n, n)),
    }
}

fn out(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Why a recipe cannot be tried, with the fix.
fn refuse(why: &str, fix: &str) -> Exit {
    let _ = writeln!(std::io::stderr().lock(), "error: {why}\n  help: {fix}");
    Exit::Invalid
}

pub fn run(args: &TryArgs) -> std::io::Result<Exit> {
    let options = recipe_loader::LoadOptions {
        vars: args.vars.iter().cloned().collect(),
        ..Default::default()
    };
    let set = recipe_loader::load(std::slice::from_ref(&args.recipe), &options);
    if set.has_errors() {
        return crate::render::validate(&set, crate::Format::Human);
    }
    let Some(r) = set.recipes.iter().find(|r| r.source.path == args.recipe) else {
        return Ok(refuse("no recipe in that file", "name a recipe file"));
    };
    let source = match root_of(r) {
        Ok(s) => s,
        Err(exit) => return Ok(exit),
    };
    let dir = crate::root::dot_recipe(std::slice::from_ref(&args.recipe))
        .join("try")
        .join(&r.recipe.name.value);
    let root = dir.join("root");
    let config = aws_sim::MachineConfig::under(dir.join("machines"));
    out(&format!(
        "root: {} from {}",
        crate::root::shown(&root),
        describe(&source)
    ));
    if let Err(e) = aws_sim::machine_jobs::make_root(&config, &root, &source) {
        return Ok(refuse(&e, "see docs/sandbox.md for what the sandbox needs"));
    }
    let ok = Tried { r, root: &root }.all(args.step)?;
    if args.keep || !ok {
        out(&format!("root kept: {}", crate::root::shown(&root)));
        out(&format!(
            "  a shell in it: sudo bwrap --bind {} / --proc /proc --dev /dev --ro-bind /etc/resolv.conf /etc/resolv.conf /bin/bash",
            root.display()
        ));
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(if ok { Exit::Ok } else { Exit::Invalid })
}

/// The sandbox root a recipe starts from, or why it has none.
fn root_of(r: &LoadedRecipe) -> Result<RootSource, Exit> {
    if r.recipe.os.value != Os::Linux {
        return Err(refuse(
            "`recipe try` runs Linux recipes; the sandbox does not model Windows",
            "try the steps on a Windows builder with `recipe apply --keep-on-error`",
        ));
    }
    let found = match &r.recipe.base.value {
        Base::SsmParameter(p) => aws_sim::machine::root_for_parameter(&p.value),
        _ => None,
    };
    found.ok_or_else(|| {
        refuse(
            "this recipe's base has no sandbox root",
            "start from Debian's public parameter `/aws/service/debian/release/bookworm/latest/amd64`, or name a root tarball for the base's image with RECIPE_SANDBOX_ROOT_<NAME PREFIX> (docs/sandbox.md)",
        )
    })
}

fn describe(s: &RootSource) -> String {
    match s {
        RootSource::Debian { suite } => format!("Debian {suite} (mmdebstrap minbase, cached)"),
        RootSource::Tarball { path } | RootSource::Artifact { path } => path.clone(),
    }
}

struct Tried<'a> {
    r: &'a LoadedRecipe,
    root: &'a Path,
}

impl Tried<'_> {
    /// The steps in `range`, then (when the last step ran) the tests and the cleanup. False at the
    /// first failure.
    fn all(&self, range: Option<(usize, usize)>) -> std::io::Result<bool> {
        let (from, to) = range.unwrap_or((1, usize::MAX));
        let files = render::files_of(self.r);
        let total = self.r.steps.len();
        for (i, s) in self.r.steps.iter().enumerate() {
            let n = i + 1;
            if n < from || n > to {
                continue;
            }
            if !self.step(&format!("step {n}/{total}"), s, &files)? {
                return Ok(false);
            }
        }
        if to < total {
            return Ok(true);
        }
        for (i, t) in self.r.tests.iter().enumerate() {
            if !self.step(&format!("test {}/{}", i + 1, self.r.tests.len()), t, &files)? {
                return Ok(false);
            }
        }
        match &self.r.recipe.cleanup {
            Some(c) if c.value != recipe_model::CleanupPreset::None => {
                let script = render::cleanup_script(c.value, Os::Linux);
                self.script(&format!("cleanup ({})", c.as_str()), &script, 1800)
            }
            _ => Ok(true),
        }
    }

    fn step(
        &self,
        at: &str,
        s: &ResolvedStep,
        files: &BTreeMap<String, Vec<u8>>,
    ) -> std::io::Result<bool> {
        let label = format!("{at}: {}", recipe_plan::step_label(s));
        match &s.step.value {
            _ if s.stage == Stage::Launch => {
                out(&format!(
                    "── {label}\n   skipped: it runs at first boot (stage: launch)"
                ));
                return Ok(true);
            }
            Step::Reboot(_) => {
                out(&format!(
                    "── {label}\n   nothing to restart here; the next steps go on"
                ));
                return Ok(true);
            }
            Step::Manual(m) => {
                out(&format!(
                    "── {label}\n   a person would now: {}",
                    m.instructions.value.trim()
                ));
                return Ok(false);
            }
            _ => {}
        }
        let staged = self.stage(&s.step.value, files)?;
        let values = recipe_plan::BuildValues::new(jiff::Timestamp::now(), "try");
        let script = match render::step_script(&s.step.value, self.r, files, &staged, &values) {
            Ok(Some(script)) => script,
            Ok(None) => return Ok(true),
            Err(e) => {
                out(&format!("── {label}\n   cannot render: {e}"));
                return Ok(false);
            }
        };
        let timeout = s
            .step
            .common()
            .and_then(|c| c.timeout())
            .map_or(3600, |t| t.as_secs());
        self.script(&label, &script, timeout)
    }

    /// A payload too large to inline is put in the root first, as the builder's upload is.
    fn stage(
        &self,
        step: &Step,
        files: &BTreeMap<String, Vec<u8>>,
    ) -> std::io::Result<BTreeMap<String, render::Staged>> {
        let mut staged = BTreeMap::new();
        if let Some((path, bytes)) = render::payload(step, files) {
            let inside = "/var/tmp/recipe-try-payload";
            let text = render::base64(bytes);
            std::fs::create_dir_all(self.root.join("var/tmp"))?;
            std::fs::write(self.root.join(inside.trim_start_matches('/')), text)?;
            let s = render::Staged {
                path: inside.into(),
                consume: true,
            };
            staged.insert(path.to_string(), s);
        }
        Ok(staged)
    }

    fn script(&self, label: &str, script: &str, timeout: u64) -> std::io::Result<bool> {
        out(&format!("── {label}"));
        let mut show = |l: &str| out(&format!("   │ {l}"));
        let code = aws_sim::machine_jobs::run_live(
            self.root,
            &render::in_bash(script),
            Duration::from_secs(timeout),
            &mut show,
        )?;
        match code {
            Some(0) => Ok(true),
            Some(n) => {
                out(&format!("   ✗ exit {n}"));
                Ok(false)
            }
            None => {
                out(&format!("   ✗ timed out after {timeout}s"));
                Ok(false)
            }
        }
    }
}
