//! PowerShell that does not parse: a `powershell` step's `run`, and the `.ps1` scripts a Windows
//! recipe references, read with PowerShell's grammar (`recipe-powershell`). powershell.exe refuses
//! such a script before it runs a line of it, so the builder would fail the step after minutes of
//! work; validate says so at once, where the mistake is.

use std::collections::HashSet;
use std::path::PathBuf;

use recipe_model::{Os, Span, Step};
use recipe_powershell::SyntaxError;

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, SourceFile};
use crate::load::LoadedRecipe;

/// The scripts already parsed (a component's step or a script file is shared by the recipes that
/// use it, and is reported once).
#[derive(Default)]
pub(super) struct Parsed {
    seen: HashSet<(PathBuf, usize)>,
}

impl Parsed {
    /// Every syntax error in the PowerShell `r` sends, one per script.
    pub(super) fn check(&mut self, r: &LoadedRecipe, out: &mut Vec<Diagnostic>) {
        if r.recipe.os.value != Os::Windows {
            return;
        }
        for s in r.steps.iter().chain(&r.tests) {
            if let Step::PowerShell(p) = &s.step.value
                && self.seen.insert((s.source.path.clone(), p.run.span.offset))
                && let Err(e) = recipe_powershell::parse(&p.run.value)
            {
                let at = locate(&s.source, p.run.span, &p.run.value, &e);
                out.push(finding(&s.source, at, &e, "the step's `run`"));
            }
        }
        for f in &r.files {
            let ps1 = f
                .path
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("ps1"));
            if let (true, Ok(text)) = (ps1, std::str::from_utf8(&f.bytes))
                && self.seen.insert((f.path.clone(), 0))
                && let Err(e) = recipe_powershell::parse(text)
            {
                let source = SourceFile::new(f.path.clone(), text);
                let at = locate(&source, source.span(0, text.len()), text, &e);
                out.push(finding(&source, at, &e, "this script"));
            }
        }
    }
}

fn finding(
    source: &std::sync::Arc<SourceFile>,
    at: Span,
    e: &SyntaxError,
    what: &str,
) -> Diagnostic {
    Diagnostic::new(
        Code::PowerShellSyntax,
        format!("PowerShell cannot parse {what}: {} (script line {}, char {})", e.message, e.line, e.column),
        )
        .help("fix the script here: powershell.exe refuses it before running any of it, so the builder would fail the step")
        .label(&e.message)
        .at(source, at)
}

/// Where in `source` the `script` found in `within` goes wrong: its lines up to the error's are
/// found in order in the source text (a block scalar keeps them verbatim, indented), then the
/// error's column in its line. A script whose lines are not in the source as written (escapes in a
/// quoted scalar) gets `within` whole.
fn locate(source: &SourceFile, within: Span, script: &str, e: &SyntaxError) -> Span {
    let end = if within.len == 0 {
        source.text.len()
    } else {
        within.offset + within.len
    };
    let Some(region) = source.text.get(within.offset..end.min(source.text.len())) else {
        return within;
    };
    let mut cursor = 0;
    let mut line_at = None;
    for line in script.lines().take(e.line) {
        let Some(found) = region[cursor..].find(line) else {
            return within;
        };
        line_at = Some(cursor + found);
        cursor += found + line.len();
    }
    let Some(start) = line_at else {
        return within;
    };
    let column: usize = e
        .text
        .chars()
        .take(e.column.saturating_sub(1))
        .map(char::len_utf8)
        .sum();
    source.span(within.offset + start + column, 0)
}
