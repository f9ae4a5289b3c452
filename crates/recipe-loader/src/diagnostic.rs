//! Diagnostics: what the loader, the checks and the linter report, with a code, a span and a fix.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{LabeledSpan, SourceCode, SourceSpan};
use recipe_model::Span;
use serde::Serialize;

use crate::codes::Code;

/// A file the loader read, kept so diagnostics can show it.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user gave it (relative to the working directory when possible).
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
}

impl SourceFile {
    /// A source file from a path and its text.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Arc<SourceFile> {
        Arc::new(SourceFile {
            path: path.into(),
            text: text.into(),
        })
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(&self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(col).unwrap_or(u32::MAX),
        )
    }

    /// A zero-length span widened to the token that starts there (up to whitespace, `,`, `}` or `]`;
    /// a key and its `:` count as one token).
    pub fn token(&self, span: Span) -> Span {
        if !span.is_known() || span.len > 0 || span.offset >= self.text.len() {
            return span;
        }
        let rest = &self.text[span.offset..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == ',' || c == '}' || c == ']')
            .unwrap_or(rest.len());
        Span {
            len: end.max(1).min(rest.len()),
            ..span
        }
    }

    /// The span of the first line that is neither blank nor a comment: where a document starts.
    pub fn first_content(&self) -> Span {
        let mut offset = 0;
        for line in self.text.split_inclusive('\n') {
            let t = line.trim_start();
            if !t.is_empty() && !t.starts_with('#') && !t.starts_with("---") {
                let lead = line.len() - t.len();
                return self.token(self.span(offset + lead, 0));
            }
            offset += line.len();
        }
        self.span(0, 0)
    }

    /// A span for a byte range of this file.
    pub fn span(&self, offset: usize, len: usize) -> Span {
        let (line, column) = self.line_col(offset);
        Span {
            offset,
            len,
            line,
            column,
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The recipe set is invalid; nothing is planned or applied.
    Error,
    /// Allowed, but probably a mistake or against the seed documents' advice.
    Warning,
}

/// One finding: an error or a warning, with where it is and how to fix it.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    /// Stable code, e.g. `recipe::parse::unknown-field`.
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, as a lowercase fragment.
    pub message: String,
    /// How to fix it.
    pub help: String,
    /// The file it is in, if any.
    pub source: Option<Arc<SourceFile>>,
    /// Where in the file.
    pub span: Span,
    /// The text under the span.
    pub label: String,
}

impl Diagnostic {
    /// A new diagnostic with the code's default severity.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: code.severity(),
            code,
            message: message.into(),
            help: String::new(),
            source: None,
            span: Span::UNKNOWN,
            label: String::new(),
        }
    }

    /// Point the diagnostic at a span of a file. A span without a length underlines the token there.
    pub fn at(mut self, source: &Arc<SourceFile>, span: Span) -> Self {
        self.source = Some(Arc::clone(source));
        self.span = source.token(span);
        self
    }

    /// Name a file without a position.
    pub fn in_file(mut self, source: &Arc<SourceFile>) -> Self {
        self.source = Some(Arc::clone(source));
        self
    }

    /// Set the help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = help.into();
        self
    }

    /// Set the label under the span.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// The file's path, if any.
    pub fn path(&self) -> Option<&Path> {
        self.source.as_ref().map(|s| s.path.as_path())
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The diagnostic as plain data, for `--format json`.
    pub fn to_record(&self) -> DiagnosticRecord {
        DiagnosticRecord {
            code: self.code.as_str().to_string(),
            severity: self.severity,
            message: self.message.clone(),
            help: self.help.clone(),
            file: self.path().map(|p| p.display().to_string()),
            line: self.span.is_known().then_some(self.span.line),
            column: self.span.is_known().then_some(self.span.column),
            label: (!self.label.is_empty()).then(|| self.label.clone()),
        }
    }

    /// `file:line:col` (or as much of it as is known).
    pub fn location(&self) -> String {
        match (self.path(), self.span.is_known()) {
            (Some(p), true) => format!("{}:{}:{}", p.display(), self.span.line, self.span.column),
            (Some(p), false) => p.display().to_string(),
            (None, _) => String::new(),
        }
    }
}

/// A diagnostic as data: what `--format json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct DiagnosticRecord {
    /// Stable code.
    pub code: String,
    /// `error` or `warning`.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
    /// File path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// Text under the offending node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code.as_str()))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        (!self.help.is_empty()).then(|| Box::new(&self.help) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref()?;
        if !self.span.is_known() {
            return None;
        }
        Some(self)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.source.is_none() || !self.span.is_known() {
            return None;
        }
        let span = SourceSpan::new(self.span.offset.into(), self.span.len.max(1));
        let label = (!self.label.is_empty()).then(|| self.label.clone());
        Some(Box::new(std::iter::once(
            LabeledSpan::new_primary_with_span(label, span),
        )))
    }
}

impl SourceCode for Diagnostic {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let Some(source) = &self.source else {
            return Err(miette::MietteError::OutOfBounds);
        };
        let contents = source
            .text
            .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            source.path.display().to_string(),
            contents.data(),
            *contents.span(),
            contents.line(),
            contents.column(),
            contents.line_count(),
        )))
    }
}
