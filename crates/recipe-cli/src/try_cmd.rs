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
    /// Stop after step M (`..M`, or `M`), or run steps N to M (`N..M`) on the root as steps before N
    /// left it. Steps are numbered as the plan counts them. Tests and cleanup run only when the last
    /// step does.
    #[arg(long, value_name = "N..M", value_parser = parse_range)]
    pub step: Option<(Option<usize>, usize)>,
    /// Keep the root filesystem afterwards (it is kept anyway when a step fails), and say how to get
    /// a shell in it.
    #[arg(long)]
    pub keep: bool,
    /// Set a variable: `--var name=value` (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = crate::parse_var)]
    pub vars: Vec<(String, String)>,
}

fn parse_range(s: &str) -> Result<(Option<usize>, usize), String> {
    let num = |t: &str| -> Result<usize, String> {
        t.parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("`{t}` is not a step number (1, 2, …)"))
    };
    match s.split_once("..") {
        Some(("", b)) => Ok((None, num(b)?)),
        Some((a, "")) => Ok((Some(num(a)?), usize::MAX)),
        Some((a, b)) => Ok((Some(num(a)?), num(b)?)),
        None => num(s).map(|n| (Some(n), n)),
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
        targets: crate::served::targets(),
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
    out(&format!(
        "root: {} from {}",
        crate::root::shown(&root),
        describe(&source)
    ));
    let tried = Tried {
        r,
        root: &root,
        cache: dir.join("checkpoints"),
        source,
    };
    let ok = match tried.all(args.step) {
        Ok(ok) => ok,
        Err(e) if e.kind() == std::io::ErrorKind::Other => {
            return Ok(refuse(
                &e.to_string(),
                "see docs/sandbox.md for what the sandbox needs",
            ));
        }
        Err(e) => return Err(e),
    };
    if args.keep || !ok {
        out(&format!("root kept: {}", crate::root::shown(&root)));
        out(&format!(
            "  a shell in it: sudo bwrap --bind {} / --proc /proc --dev /dev --ro-bind /etc/resolv.conf /etc/resolv.conf /bin/bash",
            root.display()
        ));
    } else {
        let _ = std::fs::remove_dir_all(&root);
        let _ = std::fs::remove_dir_all(dir.join("run"));
    }
    Ok(if ok { Exit::Ok } else { Exit::Failed })
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
    /// Where checkpoints of the root are kept between runs.
    cache: PathBuf,
    /// What the root starts from (part of every checkpoint's key).
    source: RootSource,
}

/// One step as `try` runs it.
enum Planned {
    /// A script, with a payload too large to inline (put in the root first).
    Script {
        label: String,
        script: String,
        timeout: u64,
        payload: Option<Vec<u8>>,
    },
    /// Nothing to run here, and why.
    Note { label: String, note: String },
    /// A person must act (or the step cannot render): the run stops.
    Stop { label: String, note: String },
}

/// Where a staged payload waits in the root.
const PAYLOAD: &str = "/var/tmp/recipe-try-payload";

impl Planned {
    /// The step's part of its checkpoint key.
    fn key_part(&self) -> Vec<u8> {
        match self {
            Planned::Script {
                label,
                script,
                payload,
                ..
            } => [
                label.as_bytes(),
                script.as_bytes(),
                payload.as_deref().unwrap_or_default(),
            ]
            .concat(),
            Planned::Note { label, .. } | Planned::Stop { label, .. } => label.as_bytes().to_vec(),
        }
    }
}

/// Steps that took at least this long leave a checkpoint (quicker ones are as quick to run again).
const CHECKPOINT_AFTER: Duration = Duration::from_secs(2);

impl Tried<'_> {
    /// The steps asked for (reusing the checkpoint of the longest unchanged prefix), then, when the
    /// last step ran, the tests and the cleanup. False at the first failure.
    fn all(&self, range: Option<(Option<usize>, usize)>) -> std::io::Result<bool> {
        let files = render::files_of(self.r);
        let total = self.r.steps.len();
        let planned: Vec<Planned> = (self.r.steps.iter().enumerate())
            .map(|(i, s)| self.plan(&format!("step {}/{total}", i + 1), s, &files))
            .collect();
        let keys = self.keys(&planned);
        let (from, to) = range.map_or((None, total), |(f, t)| (f, t.min(total)));
        let reuse_upto = from.map_or(to, |f| f.saturating_sub(1)).min(to);
        let start = self.restore(&keys, reuse_upto)?;
        if start > 0 {
            let steps = if start == 1 {
                "step 1".to_string()
            } else {
                format!("steps 1-{start}")
            };
            out(&format!(
                "── {steps}: unchanged, taken from the checkpoint after step {start}"
            ));
        }
        for (n, p) in planned
            .iter()
            .enumerate()
            .take(to)
            .skip(start)
            .map(|(i, p)| (i + 1, p))
        {
            let began = std::time::Instant::now();
            if !self.run_planned(p)? {
                return Ok(false);
            }
            if began.elapsed() >= CHECKPOINT_AFTER && n < total {
                self.checkpoint(&keys[n])?;
            }
        }
        if to < total {
            return Ok(true);
        }
        self.tests_and_cleanup(&files)
    }

    fn tests_and_cleanup(&self, files: &BTreeMap<String, Vec<u8>>) -> std::io::Result<bool> {
        let n = self.r.tests.len();
        for (i, t) in self.r.tests.iter().enumerate() {
            if !self.run_planned(&self.plan(&format!("test {}/{n}", i + 1), t, files))? {
                return Ok(false);
            }
        }
        match &self.r.recipe.cleanup {
            Some(c) if c.value != recipe_model::CleanupPreset::NONE => {
                let script = render::cleanup_script(c.value, Os::Linux);
                self.script(&format!("cleanup ({})", c.as_str()), &script, 1800)
            }
            _ => Ok(true),
        }
    }

    /// The key of the root after each step: a hash chained from the source through every step's
    /// rendered script (`keys[0]`: the base root).
    fn keys(&self, planned: &[Planned]) -> Vec<String> {
        use sha2::Digest;
        let mut keys = vec![hex(&sha2::Sha256::digest(
            describe(&self.source).as_bytes(),
        ))];
        for p in planned {
            let mut h = sha2::Sha256::new();
            h.update(keys.last().map(String::as_bytes).unwrap_or_default());
            h.update(p.key_part());
            keys.push(hex(&h.finalize()));
        }
        keys
    }

    /// Make the root: the checkpoint of the longest prefix (up to step `upto`) that has one, or
    /// the base root; checkpoints of other chains are dropped. Returns how many steps it holds.
    fn restore(&self, keys: &[String], upto: usize) -> std::io::Result<usize> {
        let _ = std::fs::create_dir_all(&self.cache);
        for e in std::fs::read_dir(&self.cache)?.flatten() {
            let name = e.file_name().to_string_lossy().replace(".tar.zst", "");
            if !keys.contains(&name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let found = (1..=upto)
            .rev()
            .find(|n| self.checkpoint_of(&keys[*n]).exists());
        let (n, source) = match found {
            Some(n) => {
                let path = self.checkpoint_of(&keys[n]).to_string_lossy().into_owned();
                (n, RootSource::Tarball { path })
            }
            None => (0, self.source.clone()),
        };
        let config = aws_sim::MachineConfig::under(self.cache.clone());
        aws_sim::machine_jobs::make_root(&config, self.root, &source)
            .map_err(std::io::Error::other)?;
        Ok(n)
    }

    fn checkpoint_of(&self, key: &str) -> PathBuf {
        self.cache.join(format!("{key}.tar.zst"))
    }

    fn checkpoint(&self, key: &str) -> std::io::Result<()> {
        let tmp = self.cache.join(format!(".{key}.tmp"));
        aws_sim::machine_jobs::archive(self.root, &tmp).map_err(std::io::Error::other)?;
        std::fs::rename(tmp, self.checkpoint_of(key))
    }

    fn plan(&self, at: &str, s: &ResolvedStep, files: &BTreeMap<String, Vec<u8>>) -> Planned {
        let label = format!("{at}: {}", recipe_plan::step_label(s));
        let note = |note: &str| Planned::Note {
            label: label.clone(),
            note: note.into(),
        };
        match &s.step.value {
            _ if s.stage == Stage::Launch => {
                return note("skipped: it runs at first boot (stage: launch)");
            }
            Step::Reboot(_) => return note("nothing to restart here; the next steps go on"),
            Step::Manual(m) => {
                let note = format!("a person would now: {}", m.instructions.value.trim());
                return Planned::Stop { label, note };
            }
            _ => {}
        }
        let payload = render::payload(&s.step.value, files)
            .map(|(path, bytes)| (path.to_string(), bytes.to_vec()));
        let staged: BTreeMap<String, render::Staged> = (payload.iter())
            .map(|(path, _)| {
                (
                    path.clone(),
                    render::Staged {
                        path: PAYLOAD.into(),
                        consume: true,
                    },
                )
            })
            .collect();
        let values = recipe_plan::BuildValues::new(jiff::Timestamp::now(), "try");
        match render::step_script(&s.step.value, self.r, files, &staged, &values) {
            Ok(Some(script)) => Planned::Script {
                label,
                script,
                timeout: s
                    .step
                    .common()
                    .and_then(|c| c.timeout())
                    .map_or(3600, |t| t.as_secs()),
                payload: payload.map(|(_, b)| b),
            },
            Ok(None) => note("nothing to run"),
            Err(e) => Planned::Stop {
                label,
                note: format!("cannot render: {e}"),
            },
        }
    }

    fn run_planned(&self, p: &Planned) -> std::io::Result<bool> {
        match p {
            Planned::Note { label, note } => {
                out(&format!("── {label}\n   {note}"));
                Ok(true)
            }
            Planned::Stop { label, note } => {
                out(&format!("── {label}\n   {note}"));
                Ok(false)
            }
            Planned::Script {
                label,
                script,
                timeout,
                payload,
            } => {
                if let Some(bytes) = payload {
                    let at = self.root.join(PAYLOAD.trim_start_matches('/'));
                    std::fs::create_dir_all(at.parent().unwrap_or(self.root))?;
                    std::fs::write(at, render::base64(bytes))?;
                }
                self.script(label, script, *timeout)
            }
        }
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
