//! Printing diagnostics and reports: human (miette) and JSON.

use std::io::{IsTerminal, Write};

use miette::{GraphicalReportHandler, GraphicalTheme};
use recipe_loader::{Diagnostic, RecipeSet, Severity};
use serde_json::json;

use crate::Format;
use crate::exit::Exit;

fn handler() -> GraphicalReportHandler {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    // Long words (paths, commands' arguments) are never split across lines: a help's command stays
    // copy-pasteable.
    GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_break_words(false)
        .with_context_lines(1)
        // Messages are complete in themselves; a typed cause is kept for programs, not printed twice.
        .without_cause_chain()
}

/// Render one diagnostic as text (also used by snapshot tests through the binary).
fn render(d: &Diagnostic) -> String {
    let mut out = String::new();
    let _ = handler().render_report(&mut out, d);
    if !d.span.is_known() && !d.location().is_empty() {
        out.push_str(&format!("  in {}\n", d.location()));
    }
    out
}

fn counts(ds: &[&Diagnostic]) -> (usize, usize) {
    let errors = ds.iter().filter(|d| d.severity == Severity::Error).count();
    (errors, ds.len() - errors)
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `recipe validate`.
pub fn validate(set: &RecipeSet, format: Format) -> std::io::Result<Exit> {
    let ds = set.sorted_diagnostics();
    let (errors, warnings) = counts(&ds);
    let exit = if errors > 0 { Exit::Invalid } else { Exit::Ok };
    match format {
        Format::Json => {
            let doc = json!({
                "valid": errors == 0,
                "recipes": set.recipes.iter().map(|r| json!({
                    "name": r.recipe.name.value,
                    "file": r.source.path.display().to_string(),
                    "target": r.recipe.target.as_str(),
                    "strategy": r.recipe.strategy.as_str(),
                })).collect::<Vec<_>>(),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": ds.iter().map(|d| d.to_record()).collect::<Vec<_>>(),
            });
            json_out(&doc)?;
        }
        Format::Human => {
            let mut err = std::io::stderr().lock();
            for d in &ds {
                write!(err, "{}", render(d))?;
            }
            let status = if errors == 0 { "valid" } else { "invalid" };
            writeln!(
                err,
                "{status}: {} checked, {}, {}",
                plural(set.files, "recipe file"),
                plural(errors, "error"),
                plural(warnings, "warning")
            )?;
        }
    }
    Ok(exit)
}

/// `recipe lint`: validation errors first (a recipe that does not validate is not scored), then
/// the checklist scores and what to change.
pub fn lint(set: &RecipeSet, format: Format, min_score: Option<f32>) -> std::io::Result<Exit> {
    if set.has_errors() {
        validate(set, format)?;
        return Ok(Exit::Invalid);
    }
    let reports = recipe_loader::lint(set);
    match format {
        Format::Json => {
            let doc =
                json!({ "recipes": reports.iter().map(|r| r.to_record()).collect::<Vec<_>>() });
            json_out(&doc)?;
        }
        Format::Human => {
            let mut out = std::io::stdout().lock();
            for (report, loaded) in reports.iter().zip(&set.recipes) {
                let overall = report.overall().map_or("-".into(), |o| format!("{o:.1}"));
                writeln!(
                    out,
                    "{} ({}): {overall}/5",
                    report.recipe,
                    loaded.source.path.display()
                )?;
                for p in &report.principles {
                    let score = p.score.map_or("  n/a".to_string(), |s| format!("{s}/5  "));
                    let bar = p
                        .score
                        .map_or(String::new(), |s| "█".repeat(usize::from(s)));
                    writeln!(
                        out,
                        "  {:<18} {score} {bar:<5}  {}/{} practices",
                        p.principle, p.passed, p.applicable
                    )?;
                }
                for i in &report.ignored {
                    writeln!(out, "  switched off: {} ({})", i.rule, i.reason)?;
                }
                if report.findings.is_empty() {
                    writeln!(out, "  nothing to change")?;
                } else {
                    writeln!(out, "  to change:")?;
                    for f in &report.findings {
                        writeln!(
                            out,
                            "    - {} [{}]\n      {}\n      at {}",
                            f.message,
                            f.code.as_str(),
                            f.help,
                            f.location()
                        )?;
                    }
                }
                writeln!(out)?;
            }
            let findings: usize = reports.iter().map(|r| r.findings.len()).sum();
            writeln!(
                out,
                "linted {}: {}",
                plural(reports.len(), "recipe"),
                plural(findings, "finding")
            )?;
        }
    }
    Ok(below_min_score(&reports, min_score))
}

/// `--min-score`: exit 1, naming each recipe scored below it.
fn below_min_score(reports: &[recipe_loader::RecipeLint], min: Option<f32>) -> Exit {
    let Some(min) = min else {
        return Exit::Ok;
    };
    let below: Vec<String> = reports
        .iter()
        .filter_map(|r| {
            let score = r.overall()?;
            (score < min).then(|| format!("{} ({score:.1})", r.recipe))
        })
        .collect();
    if below.is_empty() {
        return Exit::Ok;
    }
    let _ = writeln!(
        std::io::stderr(),
        "error: below the minimum score {min:.1}: {}\n  help: make the changes listed under \"to change\", or switch a rule off in the recipe with `lint: {{ ignore: [{{ rule: …, reason: … }}] }}`",
        below.join(", ")
    );
    Exit::Invalid
}

/// Print the warnings of a set that has no errors (before a plan).
pub fn warnings(set: &RecipeSet) -> std::io::Result<()> {
    let mut err = std::io::stderr().lock();
    for d in set.sorted_diagnostics() {
        write!(err, "{}", render(d))?;
    }
    Ok(())
}

/// Render any miette diagnostic (state, planner) to standard error; returns the exit code for it.
pub fn report(e: &dyn miette::Diagnostic) -> Exit {
    report_as(e, Exit::Invalid)
}

/// Print an error as a diagnostic; the exit code of its kind.
pub fn report_as(e: &dyn miette::Diagnostic, exit: Exit) -> Exit {
    let mut out = String::new();
    let _ = handler().render_report(&mut out, e);
    let _ = write!(std::io::stderr(), "{out}");
    exit
}

/// An error that ended a command before it could report normally.
pub fn error(e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return;
    }
    let _ = writeln!(std::io::stderr(), "error: {e}");
}

/// A JSON document on standard output, buffered (standard output alone flushes every line).
pub fn json_out(doc: &impl serde::Serialize) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, doc)?;
    writeln!(out)?;
    out.flush()
}
