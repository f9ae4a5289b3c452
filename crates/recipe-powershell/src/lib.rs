//! PowerShell read with a real grammar ([tree-sitter-powershell]): whether a script parses, and
//! where it does not, as powershell.exe reports it before running anything (a parse error runs no
//! line of the script and exits 1).
//!
//! The grammar refuses a few things powershell.exe accepts; [`parse`] works around each, and
//! docs/sandbox.md lists them.
//!
//! [tree-sitter-powershell]: https://github.com/airbus-cert/tree-sitter-powershell

pub use tree_sitter::{Node, Tree};

/// Where and why a script does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The text of that line.
    pub text: String,
    /// What the parser found there.
    pub message: String,
}

impl std::fmt::Display for SyntaxError {
    /// As powershell.exe prints a parse error: `At line:L char:C`, the line, and the reason.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "At line:{} char:{}\n+ {}\n{}\n    + CategoryInfo          : ParserError: (:) [], ParentContainsErrorRecordException\n    + FullyQualifiedErrorId : {}",
            self.line,
            self.column,
            self.text,
            self.message,
            if self.message.starts_with("Missing") {
                "MissingToken"
            } else {
                "UnexpectedToken"
            }
        )
    }
}

/// A parsed script.
pub struct Script {
    /// The text, as parsed.
    pub text: String,
    /// Its syntax tree.
    pub tree: Tree,
}

impl Script {
    /// The root node.
    pub fn root(&self) -> Node<'_> {
        self.tree.root_node()
    }

    /// The text of `node`.
    pub fn text_of(&self, node: Node<'_>) -> &str {
        node.utf8_text(self.text.as_bytes()).unwrap_or_default()
    }
}

/// Parse `text`; the first syntax error if it has one.
pub fn parse(text: &str) -> Result<Script, SyntaxError> {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_powershell::LANGUAGE.into())
        .expect("the PowerShell grammar matches the tree-sitter version");
    let tree = parser
        .parse(worked_around(text), None)
        .expect("a parser with a language and no timeout returns a tree");
    let script = Script {
        text: text.to_string(),
        tree,
    };
    match first_error(script.root()) {
        Some(node) => Err(syntax_error(&script, node)),
        None => Ok(script),
    }
}

/// `text` as the grammar can read it, at the same offsets. Each change works around a construct
/// the grammar refuses and powershell.exe accepts:
/// - a numeric multiplier suffix in capitals after an operator (`-ge 10GB`): the grammar reads
///   only lower-case ones there, and PowerShell's suffixes are case-insensitive, so they are
///   lowered.
fn worked_around(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit() && (i == 0 || !word(bytes[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'.') {
            j += 1;
        }
        let suffix = bytes.get(j..j + 2).map(<[u8]>::to_ascii_lowercase);
        let ends = bytes.get(j + 2).is_none_or(|b| !word(*b));
        if ends
            && suffix
                .as_deref()
                .is_some_and(|s| [b"kb", b"mb", b"gb", b"tb", b"pb"].iter().any(|m| s == *m))
        {
            out[j] = out[j].to_ascii_lowercase();
            out[j + 1] = out[j + 1].to_ascii_lowercase();
        }
        i = j.max(i + 1);
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// The first ERROR or MISSING node, in document order.
fn first_error(node: Node<'_>) -> Option<Node<'_>> {
    if !node.has_error() {
        return None;
    }
    if node.is_error() || node.is_missing() {
        return Some(node);
    }
    let mut cursor = node.walk();
    let children: Vec<Node<'_>> = node.children(&mut cursor).collect();
    children.into_iter().find_map(first_error).or(Some(node))
}

fn syntax_error(script: &Script, node: Node<'_>) -> SyntaxError {
    let at = node.start_position();
    let line_text = script.text.lines().nth(at.row).unwrap_or_default();
    let column = line_text
        .get(..at.column)
        .map_or(at.column, |s| s.chars().count())
        + 1;
    let message = if node.is_missing() {
        format!("Missing '{}' in the statement.", node.kind())
    } else {
        let found = script.text_of(node).chars().take(40).collect::<String>();
        let found = found.lines().next().unwrap_or_default().to_string();
        format!("Unexpected token '{found}' in expression or statement.")
    };
    SyntaxError {
        line: at.row + 1,
        column,
        text: line_text.to_string(),
        message,
    }
}

/// The nodes under `node` (itself included) in document order, not descending into kinds `skip`
/// names.
pub fn descendants<'t>(node: Node<'t>, skip: &[&str]) -> Vec<Node<'t>> {
    let mut out = vec![node];
    let mut i = 0;
    while i < out.len() {
        let n = out[i];
        i += 1;
        if n != node && skip.contains(&n.kind()) {
            continue;
        }
        let mut cursor = n.walk();
        let kids: Vec<Node<'t>> = n.children(&mut cursor).collect();
        out.extend(kids);
    }
    out.sort_by_key(Node::start_byte);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_scripts_parse() {
        for ok in [
            "$ErrorActionPreference = 'Stop'\nWrite-Output 'it''s'",
            "Get-Process |\n  Select-Object Name",
            "git config --global user.name=foo",
            "if ($LASTEXITCODE -ne 0) { throw \"failed ($LASTEXITCODE)\" }",
            "$x = @\"\nhi \"there\"\n\"@",
            "& 'C:\\Program Files\\x.exe' --flag=value 'a b'",
            "Write-Host \"h\u{e9}llo `\"q`\"\"",
            "if ($bytes -ge 10GB) { throw 'too big' }",
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok).err());
        }
    }

    #[test]
    fn a_lookup_quoted_inside_a_quoted_value_does_not_parse() {
        let bad = "$ErrorActionPreference = 'Stop'\n$env:DB = '$((Get-SSMParameterValue -Name '/hr/db' -WithDecryption $true).Parameters[0].Value)'";
        let e = parse(bad).err().expect("a syntax error");
        assert_eq!(e.line, 2, "{e}");
        assert!(e.to_string().starts_with("At line:2 char:"), "{e}");
        let open = parse("if ($x) {\n  Write-Output 1\n")
            .err()
            .expect("unclosed");
        assert!(
            open.message.contains("Missing") || open.message.contains("Unexpected"),
            "{open}"
        );
    }
}
