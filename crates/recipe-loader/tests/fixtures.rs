//! The loader's fixtures, one test each (a failure does not hide the others), without building the
//! CLI or the AWS SDK:
//!
//! - `fixtures/invalid/`: each top-level file, or top-level folder loaded as one set, has an error;
//! - `fixtures/warnings/`: warnings and no error;
//! - `fixtures/valid/`: nothing at all.
//!
//! An invalid or warning fixture's first line says `# expect: <codes>`; the test checks those codes,
//! that every finding has a file, a line, a column (except whole-file I/O errors) and help, and
//! snapshots the findings rendered as `recipe validate` renders them.

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use miette::{GraphicalReportHandler, GraphicalTheme};
use recipe_loader::{RecipeSet, Severity};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Invalid,
    Warnings,
    Valid,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Invalid => "invalid",
            Kind::Warnings => "warnings",
            Kind::Valid => "valid",
        }
    }
}

/// The cases of a fixture folder, as paths relative to the crate (how they are rendered).
fn cases(kind: Kind) -> Vec<PathBuf> {
    let dir = Path::new("tests/fixtures").join(kind.dir());
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    v.sort();
    v
}

/// The codes the case's first file says it expects.
fn expected_codes(case: &Path) -> Vec<String> {
    let file = if case.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(case)
            .expect("case folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files.into_iter().next().expect("case folder has a file")
    } else {
        case.to_path_buf()
    };
    let text = std::fs::read_to_string(file).expect("fixture text");
    let first = text.lines().next().unwrap_or_default();
    let Some(rest) = first.strip_prefix("# expect:") else {
        return vec![];
    };
    rest.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| w.starts_with("recipe::"))
        .map(|w| w.trim_matches(|c: char| c == '`' || c == '.').to_string())
        .collect()
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// What `recipe validate` prints on standard error without colour, with its exit code on top.
fn rendered(set: &RecipeSet) -> String {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .with_context_lines(1);
    let ds = set.sorted_diagnostics();
    let errors = ds.iter().filter(|d| d.severity == Severity::Error).count();
    let mut out = format!("exit: {}\n", u8::from(errors > 0));
    for d in &ds {
        let _ = handler.render_report(&mut out, *d);
        if !d.span.is_known() && !d.location().is_empty() {
            out.push_str(&format!("  in {}\n", d.location()));
        }
    }
    out.push_str(&format!(
        "{}: {} checked, {}, {}\n",
        if errors == 0 { "valid" } else { "invalid" },
        plural(set.files, "recipe file"),
        plural(errors, "error"),
        plural(ds.len() - errors, "warning")
    ));
    out
}

fn ensure(ok: bool, why: impl FnOnce() -> String) -> Result<(), Failed> {
    if ok { Ok(()) } else { Err(why().into()) }
}

/// Every finding names its file; all but whole-file I/O errors a line and a column; all have help.
fn located(set: &RecipeSet) -> Result<(), Failed> {
    for d in &set.diagnostics {
        let code = d.code.as_str();
        ensure(d.path().is_some(), || format!("{code} names no file"))?;
        if !code.starts_with("recipe::io::") {
            ensure(d.span.line > 0 && d.span.column > 0, || {
                format!("{code} has no line and column")
            })?;
        }
        ensure(!d.help.is_empty(), || format!("{code} has no help"))?;
    }
    Ok(())
}

fn check(kind: Kind, case: &Path) -> Result<(), Failed> {
    let set = recipe_loader::load(&[case.to_path_buf()], &recipe_targets::load_options());
    let codes: Vec<&str> = set.diagnostics.iter().map(|d| d.code.as_str()).collect();
    let errors = set.diagnostics.iter().filter(|d| d.is_error()).count();
    if kind == Kind::Valid {
        return ensure(codes.is_empty(), || {
            format!("expected nothing, got {codes:?}")
        });
    }
    let expected = expected_codes(case);
    ensure(!expected.is_empty(), || {
        "the first line must say `# expect: <code>`".into()
    })?;
    for code in &expected {
        ensure(codes.contains(&code.as_str()), || {
            format!("expected {code}, got {codes:?}")
        })?;
    }
    match kind {
        Kind::Invalid => ensure(errors > 0, || format!("no error, got {codes:?}"))?,
        _ => ensure(errors == 0, || {
            format!("a warning fixture has errors: {codes:?}")
        })?,
    }
    located(&set)?;
    snapshot(kind, case, &rendered(&set))
}

fn snapshot(kind: Kind, case: &Path, text: &str) -> Result<(), Failed> {
    let dir = Path::new("tests/fixtures").join(kind.dir());
    let name = case
        .strip_prefix(&dir)
        .unwrap_or(case)
        .to_string_lossy()
        .trim_end_matches(".yaml")
        .replace('/', "__");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(format!("snapshots/{}", kind.dir()));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(name.clone(), text));
    }));
    result.map_err(|_| {
        Failed::from(format!(
            "the rendered findings differ from snapshots/{}/{name}.snap",
            kind.dir()
        ))
    })
}

/// `fixtures/lint/pass/<case>/`: recipes that meet every checklist item lint reads, so lint has no
/// finding; `fixtures/lint/fail/<rule>.yaml`: one per rule, whose first line names the rule's code,
/// which lint must report with the checklist item it enforces. Both validate without error.
fn check_lint(case: &Path, failing: bool) -> Result<(), Failed> {
    let set = recipe_loader::load(&[case.to_path_buf()], &recipe_targets::load_options());
    let errors: Vec<&str> = (set.diagnostics.iter())
        .filter(|d| d.is_error())
        .map(|d| d.code.as_str())
        .collect();
    ensure(errors.is_empty(), || {
        format!("the fixture does not validate: {errors:?}")
    })?;
    let lints = recipe_loader::lint(&set);
    let findings: Vec<&recipe_loader::Diagnostic> =
        lints.iter().flat_map(|l| &l.findings).collect();
    let codes: Vec<&str> = findings.iter().map(|d| d.code.as_str()).collect();
    if !failing {
        return ensure(codes.is_empty(), || {
            format!("expected no finding, got {codes:?}")
        });
    }
    let expected = expected_codes(case);
    ensure(expected.len() == 1, || {
        "the first line must say `# expect: <code>`".into()
    })?;
    let want = expected[0].as_str();
    ensure(codes == [want], || {
        format!("expected only {want}, got {codes:?}")
    })?;
    let named = want == "recipe::lint::no-retention" || findings[0].help.contains("(checklist: ");
    ensure(named, || {
        format!(
            "{want} does not name its checklist item: {}",
            findings[0].help
        )
    })
}

/// Every lint rule has a failing fixture named for it.
fn lint_rules_have_fixtures() -> Result<(), Failed> {
    let rules: Vec<String> = (recipe_loader::Code::ALL.iter())
        .map(|c| c.as_str())
        .filter(|c| c.starts_with("recipe::lint::") && *c != "recipe::lint::ignore")
        .map(|c| c.trim_start_matches("recipe::lint::").to_string())
        .collect();
    for rule in rules {
        let path = Path::new("tests/fixtures/lint/fail").join(format!("{rule}.yaml"));
        ensure(path.exists(), || format!("no failing fixture for {rule}"))?;
    }
    Ok(())
}

fn lint_trials() -> Vec<Trial> {
    let mut trials = vec![Trial::test(
        "lint::every-rule-has-a-fixture",
        lint_rules_have_fixtures,
    )];
    for (dir, failing) in [("pass", false), ("fail", true)] {
        let root = Path::new("tests/fixtures/lint").join(dir);
        let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
            .expect("lint fixtures")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                if failing {
                    p.extension().is_some_and(|e| e == "yaml")
                } else {
                    p.is_dir()
                }
            })
            .collect();
        cases.sort();
        for case in cases {
            let name = format!(
                "lint::{dir}::{}",
                case.file_name().unwrap().to_string_lossy()
            );
            trials.push(Trial::test(name, move || check_lint(&case, failing)));
        }
    }
    trials
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = lint_trials();
    for kind in [Kind::Invalid, Kind::Warnings, Kind::Valid] {
        let found = cases(kind);
        assert!(found.len() >= 3, "the {} fixtures are missing", kind.dir());
        for case in found {
            let name = format!(
                "{}::{}",
                kind.dir(),
                case.file_name().unwrap().to_string_lossy()
            );
            trials.push(Trial::test(name, move || check(kind, &case)));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
