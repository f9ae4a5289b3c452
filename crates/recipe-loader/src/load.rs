//! Loading a recipe set: files and directories, variables, includes, referenced files, and the links
//! between recipes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use recipe_model::{Base, Component, Node, Recipe, Stage, Step, effective_stage};

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, SourceFile};
use crate::interpolate::Scope;
use crate::parse::parse;
use crate::suggest::did_you_mean;
use crate::walk::{recipe_texts_mut, step_texts_mut};

/// What the caller sets when loading.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `--var name=value` overrides, applied to every recipe that declares the variable.
    pub vars: BTreeMap<String, String>,
    /// Regions allowed besides [`recipe_model::regions::REGIONS`] (`--allow-region`), for a region
    /// AWS opened after this version of recipe.
    pub allow_regions: Vec<String>,
    /// The targets recipes may name, with their rules. A load with none refuses every recipe's
    /// `target:`.
    pub targets: crate::Targets,
}

/// A step after includes are expanded, with the file it was written in and its effective stage.
#[derive(Clone, Debug)]
pub struct ResolvedStep {
    /// The step, with variables substituted.
    pub step: Node<Step>,
    /// The file the step is written in (the recipe or a component).
    pub source: Arc<SourceFile>,
    /// Baked (`image`) or deferred (`launch`), after the strategy's default.
    pub stage: Stage,
    /// The chain of component files that led here, outermost first (empty when written in the recipe).
    pub included_from: Vec<PathBuf>,
}

/// A file a step references (a `script` or a `file` source).
#[derive(Clone, Debug)]
pub struct ReferencedFile {
    /// The path as resolved from the referencing file.
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Arc<Vec<u8>>,
}

/// One recipe, loaded and resolved.
#[derive(Clone, Debug)]
pub struct LoadedRecipe {
    /// The recipe, with variables substituted in its recipe-level strings.
    pub recipe: Recipe,
    /// The recipe file.
    pub source: Arc<SourceFile>,
    /// The steps with includes expanded.
    pub steps: Vec<ResolvedStep>,
    /// The tests with includes expanded.
    pub tests: Vec<ResolvedStep>,
    /// Steps and tests for the other operating system (`os:` on the step), which never run here.
    pub skipped: Vec<ResolvedStep>,
    /// Every script and file the steps and tests reference, in order, once each.
    pub files: Vec<ReferencedFile>,
    /// Variable values after defaults and overrides.
    pub vars: BTreeMap<String, String>,
    /// Index (in the set) of the recipe this one is layered on, if any.
    pub parent: Option<usize>,
}

/// A loaded set of recipes and every diagnostic found while loading and checking it.
#[derive(Debug, Default)]
pub struct RecipeSet {
    /// How many recipe files were read.
    pub files: usize,
    /// The recipes that parsed, in path order.
    pub recipes: Vec<LoadedRecipe>,
    /// Every error and warning, in the order found.
    pub diagnostics: Vec<Diagnostic>,
    /// The targets the set was loaded with.
    pub targets: crate::Targets,
}

impl RecipeSet {
    /// The diagnostics in the order they are reported: by file, line, column, then code.
    pub fn sorted_diagnostics(&self) -> Vec<&Diagnostic> {
        let mut ds: Vec<&Diagnostic> = self.diagnostics.iter().collect();
        ds.sort_by(|a, b| {
            let key = |d: &Diagnostic| {
                (
                    d.path().map(Path::to_path_buf),
                    d.span.line,
                    d.span.column,
                    d.code,
                )
            };
            key(a).cmp(&key(b))
        });
        ds
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The recipe with this name.
    pub fn get(&self, name: &str) -> Option<&LoadedRecipe> {
        self.recipes.iter().find(|r| r.recipe.name.value == name)
    }
}

/// A component file and what it parsed to.
type ParsedComponent = (Arc<SourceFile>, Arc<Component>);

/// Caches shared by every recipe of a load: a component or file read once serves them all.
#[derive(Default)]
struct Cache {
    components: HashMap<PathBuf, Option<ParsedComponent>>,
    files: HashMap<PathBuf, Option<Arc<Vec<u8>>>>,
    reported: BTreeSet<PathBuf>,
}

/// Load every recipe under `paths` (files, or directories searched recursively for `*.yaml` and
/// `*.yml`, skipping `components/` folders and hidden folders), then check the set.
pub fn load(paths: &[PathBuf], options: &LoadOptions) -> RecipeSet {
    let mut set = RecipeSet {
        targets: options.targets.clone(),
        ..RecipeSet::default()
    };
    let mut files = Vec::new();
    for path in paths {
        match collect(path, &mut files) {
            Ok(0) => set.diagnostics.push(
                Diagnostic::new(
                    Code::SetEmpty,
                    format!("no recipe files under `{}`", path.display()),
                )
                .help("point at a recipe file or a folder holding `*.yaml` recipes")
                .in_file(&SourceFile::new(path.clone(), "")),
            ),
            Ok(_) => {}
            Err(e) => set.diagnostics.push(
                Diagnostic::new(
                    Code::IoRead,
                    format!("cannot read `{}`: {e}", path.display()),
                )
                .help("check the path and its permissions")
                .in_file(&SourceFile::new(path.clone(), "")),
            ),
        }
    }
    files.sort();
    files.dedup();
    let mut cache = Cache::default();
    // Reading and parsing is most of a load: on every core, in the files' order.
    for read in crate::cores::map_on_cores(files, read_one) {
        match read {
            Read::Unreadable(d) => set.diagnostics.push(d),
            Read::Invalid(found) => {
                set.files += 1;
                set.diagnostics.extend(found);
            }
            Read::Parsed(source, recipe) => {
                set.files += 1;
                let loaded = resolve(*recipe, &source, options, &mut cache, &mut set.diagnostics);
                set.recipes.push(loaded);
            }
        }
    }
    link(&mut set);
    for name in options.vars.keys() {
        if !set
            .recipes
            .iter()
            .any(|r| r.recipe.variables.contains_key(name))
        {
            set.diagnostics.push(
                Diagnostic::new(Code::VariableOverrideUnused, format!("no recipe declares variable `{name}` given with --var"))
                    .help("check the spelling, or declare it under `variables:` in the recipes that use it"),
            );
        }
    }
    crate::checks::check_set(&mut set, options);
    set
}

/// Load a single recipe from text (for tests, benchmarks and the fuzzer). Referenced files are
/// resolved relative to `path`'s folder.
pub fn load_str(
    path: impl Into<PathBuf>,
    text: impl Into<String>,
    options: &LoadOptions,
) -> RecipeSet {
    let source = SourceFile::new(path, text);
    let mut set = RecipeSet {
        files: 1,
        targets: options.targets.clone(),
        ..RecipeSet::default()
    };
    match parse::<Recipe>(&source) {
        Ok(recipe) => {
            let loaded = resolve(
                recipe,
                &source,
                options,
                &mut Cache::default(),
                &mut set.diagnostics,
            );
            set.recipes.push(loaded);
        }
        Err(found) => set.diagnostics.extend(found),
    }
    link(&mut set);
    crate::checks::check_set(&mut set, options);
    set
}

/// A recipe file read and parsed.
enum Read {
    /// Could not be read.
    Unreadable(Diagnostic),
    /// Read, but not a valid recipe document: why (every unknown field, or the first other error).
    Invalid(Vec<Diagnostic>),
    /// A recipe.
    Parsed(Arc<SourceFile>, Box<Recipe>),
}

fn read_one(file: PathBuf) -> Read {
    let text = match crate::encoding::read_text(&file) {
        Ok(t) => t,
        Err(Ok(not_utf8)) => return Read::Unreadable(*not_utf8),
        Err(Err(e)) => {
            return Read::Unreadable(
                Diagnostic::new(
                    Code::IoRead,
                    format!("cannot read `{}`: {e}", file.display()),
                )
                .help("check the file's permissions and that it is UTF-8 text")
                .in_file(&SourceFile::new(file.clone(), "")),
            );
        }
    };
    let source = SourceFile::new(file, text);
    match parse::<Recipe>(&source) {
        Ok(recipe) => Read::Parsed(source, Box::new(recipe)),
        Err(d) => Read::Invalid(d),
    }
}

/// Folders a directory load does not search for recipes: components, and the files and scripts
/// that recipes reference (which may be YAML data of their own).
pub const SKIPPED_FOLDERS: &[&str] = &["components", "files", "scripts", "templates"];

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<usize> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(1);
    }
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let p = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir() {
            if name.starts_with('.') || SKIPPED_FOLDERS.contains(&name.as_ref()) {
                continue;
            }
            n += collect(&p, out)?;
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            out.push(p);
            n += 1;
        }
    }
    Ok(n)
}

fn resolve(
    mut recipe: Recipe,
    source: &Arc<SourceFile>,
    options: &LoadOptions,
    cache: &mut Cache,
    diags: &mut Vec<Diagnostic>,
) -> LoadedRecipe {
    // Variable values: defaults, then overrides; then the load-time built-ins.
    let mut values = BTreeMap::new();
    let mut unset = BTreeSet::new();
    for (name, var) in &recipe.variables {
        if let Some(v) = options.vars.get(name) {
            values.insert(name.clone(), v.clone());
        } else if let Some(d) = &var.default {
            values.insert(name.clone(), d.value.clone());
        } else {
            unset.insert(name.clone());
            diags.push(
                Diagnostic::new(
                    Code::VariableNoValue,
                    format!("variable `{name}` has no value"),
                )
                .help(format!(
                    "give it a default (`default: …`) or pass `--var {name}=…`"
                ))
                .label("no default")
                .at(source, var.span),
            );
        }
    }
    let vars = values.clone();
    values.insert("name".into(), recipe.name.value.clone());
    values.insert("version".into(), recipe.version.value.clone());
    values.insert("target".into(), recipe.target.as_str().into());
    values.insert("strategy".into(), recipe.strategy.as_str().into());
    values.insert("os".into(), recipe.os.as_str().into());

    let secrets = recipe.secrets.clone();
    let scope = Scope {
        values: &values,
        secrets: &secrets,
        unset,
        used: Default::default(),
    };
    for text in recipe_texts_mut(&mut recipe) {
        scope.apply(text, source, diags);
    }
    let strategy = recipe.strategy.value;
    let mut files = Vec::new();
    let mut seen_files = BTreeSet::new();
    let mut ctx = Expand {
        scope: &scope,
        strategy,
        cache,
        diags,
        files: &mut files,
        seen_files: &mut seen_files,
    };
    let mut steps = Vec::new();
    ctx.expand(&recipe.steps, source, &mut Vec::new(), &mut steps);
    let mut tests = Vec::new();
    ctx.expand(&recipe.tests, source, &mut Vec::new(), &mut tests);
    let os = recipe.os.value;
    let for_other_os = |s: &ResolvedStep| {
        s.step
            .common()
            .and_then(|c| c.os())
            .is_some_and(|o| o.value != os)
    };
    let (skipped_steps, steps): (Vec<_>, Vec<_>) = steps.into_iter().partition(for_other_os);
    let (skipped_tests, tests): (Vec<_>, Vec<_>) = tests.into_iter().partition(for_other_os);
    let skipped = skipped_steps.into_iter().chain(skipped_tests).collect();

    let used = scope.used.into_inner();
    for (name, var) in &recipe.variables {
        if !used.contains(name) {
            diags.push(
                Diagnostic::new(
                    Code::VariableUnused,
                    format!("variable `{name}` is never used"),
                )
                .help(format!("use it as `${{{name}}}`, or remove it"))
                .label("declared here")
                .at(source, var.span),
            );
        }
    }
    LoadedRecipe {
        recipe,
        source: Arc::clone(source),
        steps,
        tests,
        skipped,
        files,
        vars,
        parent: None,
    }
}

struct Expand<'a, 'b> {
    scope: &'a Scope<'b>,
    strategy: recipe_model::Strategy,
    cache: &'a mut Cache,
    diags: &'a mut Vec<Diagnostic>,
    files: &'a mut Vec<ReferencedFile>,
    seen_files: &'a mut BTreeSet<PathBuf>,
}

impl Expand<'_, '_> {
    fn expand(
        &mut self,
        steps: &[Node<Step>],
        source: &Arc<SourceFile>,
        stack: &mut Vec<PathBuf>,
        out: &mut Vec<ResolvedStep>,
    ) {
        let dir = source
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for step in steps {
            if let Step::Include(path) = &step.value {
                self.include(path, &dir, source, stack, out);
                continue;
            }
            let mut step = step.clone();
            for text in step_texts_mut(&mut step.value) {
                self.scope.apply(text, source, self.diags);
            }
            match &step.value {
                Step::Script(s) => self.reference(&s.path, &dir, source, "script"),
                Step::File(f) => self.reference(&f.src, &dir, source, "file"),
                _ => {}
            }
            let explicit = step.common().and_then(|c| c.stage()).map(|s| s.value);
            out.push(ResolvedStep {
                stage: effective_stage(self.strategy, explicit),
                step,
                source: Arc::clone(source),
                included_from: stack.clone(),
            });
        }
    }

    fn include(
        &mut self,
        path: &Node<String>,
        dir: &Path,
        source: &Arc<SourceFile>,
        stack: &mut Vec<PathBuf>,
        out: &mut Vec<ResolvedStep>,
    ) {
        let mut path = path.clone();
        self.scope.apply(&mut path, source, self.diags);
        let full = normalize(&dir.join(&path.value));
        if let Some(pos) = stack.iter().position(|p| *p == full) {
            let mut cycle: Vec<String> = stack[pos..]
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            cycle.push(full.display().to_string());
            self.diags.push(
                Diagnostic::new(
                    Code::IncludeCycle,
                    format!("components include each other: {}", cycle.join(" → ")),
                )
                .help("remove one of the includes so the chain ends")
                .label("this include closes the cycle")
                .at(source, path.span),
            );
            return;
        }
        let entry = match self.cache.components.get(&full) {
            Some(e) => e.clone(),
            None => {
                let loaded = match crate::encoding::read_text(&full) {
                    Err(Ok(not_utf8)) => {
                        self.diags.push(*not_utf8);
                        self.cache.components.insert(full.clone(), None);
                        return;
                    }
                    Err(Err(e)) if full.exists() => {
                        self.diags.push(
                            Diagnostic::new(
                                Code::IoRead,
                                format!("cannot read component `{}`: {e}", path.value),
                            )
                            .help("an include names one UTF-8 YAML file with `steps:`")
                            .label("unreadable component")
                            .at(source, path.span),
                        );
                        self.cache.components.insert(full.clone(), None);
                        return;
                    }
                    Ok(text) => {
                        let csource = SourceFile::new(full.clone(), text);
                        match parse::<Component>(&csource) {
                            Ok(c) => Some((csource, Arc::new(c))),
                            Err(found) => {
                                if self.cache.reported.insert(full.clone()) {
                                    self.diags.extend(found);
                                }
                                None
                            }
                        }
                    }
                    Err(_) => None,
                };
                if loaded.is_none() && !full.exists() {
                    self.diags.push(
                        Diagnostic::new(
                            Code::IncludeMissing,
                            format!("component `{}` does not exist", path.value),
                        )
                        .help(format!(
                            "create `{}`, or fix the path (it is relative to this file)",
                            full.display()
                        ))
                        .label("no such file")
                        .at(source, path.span),
                    );
                    return;
                }
                self.cache.components.insert(full.clone(), loaded.clone());
                loaded
            }
        };
        let Some((csource, component)) = entry else {
            return;
        };
        stack.push(full);
        self.expand(&component.steps, &csource, stack, out);
        stack.pop();
    }

    fn reference(&mut self, path: &Node<String>, dir: &Path, source: &Arc<SourceFile>, what: &str) {
        let full = normalize(&dir.join(&path.value));
        if full.is_dir() {
            self.diags.push(
                Diagnostic::new(
                    Code::FileMissing,
                    format!("{what} `{}` is a folder, not a file", path.value),
                )
                .help("name one file; to copy a folder, archive it and unpack it in a step")
                .label("a folder")
                .at(source, path.span),
            );
            return;
        }
        let bytes = match self.cache.files.get(&full) {
            Some(b) => b.clone(),
            None => {
                let b = std::fs::read(&full).ok().map(Arc::new);
                self.cache.files.insert(full.clone(), b.clone());
                b
            }
        };
        match bytes {
            Some(bytes) => {
                if self.seen_files.insert(full.clone()) {
                    self.files.push(ReferencedFile { path: full, bytes });
                }
            }
            None => self.diags.push(
                Diagnostic::new(
                    Code::FileMissing,
                    format!("{what} `{}` does not exist", path.value),
                )
                .help(format!(
                    "create `{}`, or fix the path (it is relative to this file)",
                    full.display()
                ))
                .label("no such file")
                .at(source, path.span),
            ),
        }
    }
}

/// Remove `.` and `a/..` segments without touching the filesystem, so one file has one key.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Link recipes layered on each other; report duplicates, unknown names and cycles.
fn link(set: &mut RecipeSet) {
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (i, r) in set.recipes.iter().enumerate() {
        let name = &r.recipe.name;
        if let Some(&first) = by_name.get(&name.value) {
            let other = &set.recipes[first].source.path;
            set.diagnostics.push(
                Diagnostic::new(
                    Code::DuplicateRecipe,
                    format!("two recipes are named `{}`", name.value),
                )
                .help(format!(
                    "rename one: `{}` already uses this name",
                    other.display()
                ))
                .label("second recipe with this name")
                .at(&r.source, name.span),
            );
        } else {
            by_name.insert(name.value.clone(), i);
        }
    }
    for i in 0..set.recipes.len() {
        let r = &set.recipes[i];
        let Base::Recipe(parent) = &r.recipe.base.value else {
            continue;
        };
        match by_name.get(&parent.value) {
            Some(&p) => set.recipes[i].parent = Some(p),
            None => {
                let help = match did_you_mean(&parent.value, by_name.keys().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`? Recipes named in `base` must be loaded in the same set"),
                    None => "load the recipe it is layered on in the same run (pass its folder), or fix the name".into(),
                };
                let d = Diagnostic::new(
                    Code::UnknownRecipe,
                    format!("no recipe named `{}` in this set", parent.value),
                )
                .help(help)
                .label("unknown recipe")
                .at(&r.source, parent.span);
                set.diagnostics.push(d);
            }
        }
    }
    // Each recipe has at most one parent, so following parents finds every cycle.
    let mut reported = BTreeSet::new();
    for start in 0..set.recipes.len() {
        let mut path = vec![start];
        let mut cur = start;
        while let Some(p) = set.recipes[cur].parent {
            if let Some(pos) = path.iter().position(|&x| x == p) {
                let cycle = &path[pos..];
                let key: BTreeSet<usize> = cycle.iter().copied().collect();
                if reported.insert(key.iter().copied().collect::<Vec<_>>()) {
                    let first = cycle.iter().copied().min().unwrap_or(p);
                    let at = cycle.iter().position(|&x| x == first).unwrap_or(0);
                    let mut names: Vec<&str> = cycle[at..]
                        .iter()
                        .chain(&cycle[..at])
                        .map(|&x| set.recipes[x].recipe.name.value.as_str())
                        .collect();
                    names.push(set.recipes[first].recipe.name.value.as_str());
                    let r = &set.recipes[first];
                    let d = Diagnostic::new(Code::RecipeCycle, format!("recipes are layered in a cycle: {}", names.join(" → ")))
                        .help("a recipe cannot be built on itself: change one `base` to an image or another recipe")
                        .label("this base closes the cycle")
                        .at(&r.source, r.recipe.base.span);
                    set.diagnostics.push(d);
                }
                for &x in cycle {
                    set.recipes[x].parent = None;
                }
                break;
            }
            path.push(p);
            cur = p;
        }
    }
}
