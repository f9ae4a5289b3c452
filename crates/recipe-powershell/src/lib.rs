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
    let mut readable = worked_around(text);
    loop {
        let tree = parser
            .parse(&readable, None)
            .expect("a parser with a language and no timeout returns a tree");
        let script = Script {
            text: text.to_string(),
            tree,
        };
        let Some(node) = first_error(script.root()) else {
            return Ok(script);
        };
        let range = node.byte_range();
        if let Some(fixed) = split_joined_string(&readable, range.clone())
            .or_else(|| separate_param_block(&readable, range))
        {
            readable = fixed;
            continue;
        }
        // A script that is only a `param(...)` block (with its attributes): the grammar wants a
        // statement after it. An empty statement at the end changes no offset; the error stays
        // the script's own unless that alone makes it parse.
        let ended = format!("{readable}\n;");
        if node.is_missing()
            && let Some(tree) = parser.parse(&ended, None)
            && !tree.root_node().has_error()
        {
            return Ok(Script {
                text: text.to_string(),
                tree,
            });
        }
        return Err(syntax_error(&script, node));
    }
}

/// A bare word joined to a double-quoted string that holds a subexpression (`/subcategory:"$($a)"`,
/// `--name="$(hostname)"`) on the lines of `range`, split by a space in place of the word's last character
/// (same offsets): the grammar refuses the joined argument, powershell.exe passes it as one. Only
/// called where the grammar found an error, so text that parses is never changed; `None` when
/// there is no such argument (the error is the script's).
fn split_joined_string(text: &str, range: std::ops::Range<usize>) -> Option<String> {
    let bytes = text.as_bytes();
    let line = text[..range.start].rfind('\n').map_or(0, |p| p + 1);
    let end = text[range.end..]
        .find('\n')
        .map_or(text.len(), |p| range.end + p);
    let quote = (line.max(1)..end)
        .find(|&i| bytes[i] == b'"' && joined_to_word(bytes, i) && holds_subexpression(bytes, i))?;
    let mut out = bytes.to_vec();
    out[quote - 1] = b' ';
    String::from_utf8(out).ok()
}

/// A `param(...)` block followed on its line by a statement (`function f { param($a) $a }`): the
/// grammar wants a separator after the block, powershell.exe does not. The blank after the block's
/// `)` is read as `;` (same offsets). Only on the lines of an error, as for [`split_joined_string`].
fn separate_param_block(text: &str, range: std::ops::Range<usize>) -> Option<String> {
    let line = text[..range.start].rfind('\n').map_or(0, |p| p + 1);
    let end = text[range.end..]
        .find('\n')
        .map_or(text.len(), |p| range.end + p);
    let lower = text[line..end].to_ascii_lowercase();
    let bytes = text.as_bytes();
    for (at, _) in lower.match_indices("param(") {
        let mut depth = 0usize;
        let open = line + at + "param".len();
        let close = (open..end).find(|&i| {
            match bytes[i] {
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
            depth == 0
        })?;
        let next = close + 1;
        if matches!(bytes.get(next), Some(b' ' | b'\t'))
            && bytes
                .get(next + 1)
                .is_some_and(|b| !b.is_ascii_whitespace() && *b != b'}')
        {
            let mut out = bytes.to_vec();
            out[next] = b';';
            return String::from_utf8(out).ok();
        }
    }
    None
}

/// Whether the `"` at `i` ends a bare word (not a variable, string or expression).
fn joined_to_word(bytes: &[u8], i: usize) -> bool {
    let prev = bytes[i - 1];
    if prev.is_ascii_whitespace() || b"\"'`$(){}[];,|&@".contains(&prev) {
        return false;
    }
    let start = bytes[..i]
        .iter()
        .rposition(u8::is_ascii_whitespace)
        .map_or(0, |p| p + 1);
    !b"$\"'(@".contains(&bytes[start])
}

/// Whether the double-quoted string opening at `i` holds `$(` before it closes.
fn holds_subexpression(bytes: &[u8], i: usize) -> bool {
    let mut j = i + 1;
    while j < bytes.len() && bytes[j] != b'"' {
        if bytes[j] == b'`' {
            j += 1;
        } else if bytes[j] == b'$' && bytes.get(j + 1) == Some(&b'(') {
            return true;
        }
        j += 1;
    }
    false
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
            "auditpol.exe /set /subcategory:\"$($a[0])\" /success:enable | Out-Null",
            "foo --name=\"x$(hostname)y\" /b",
            "param($a)\n",
            "function f { param($a) $a }",
            "[CmdletBinding()]\nparam([string]$Site = 'x')\n",
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok).err());
        }
    }

    /// The joined-argument workaround changes only what does not parse, and a real error next to
    /// a joined argument is still reported.
    #[test]
    fn joined_arguments_parse_and_errors_beside_them_stay() {
        let e = parse("foo /a:\"$($y)\"\nif ($x) {")
            .err()
            .expect("unclosed");
        assert_eq!(e.line, 2, "{e}");
        assert!(parse("foo /a:\"$($y)\" )").is_err(), "a stray parenthesis");
        let joined = "foo /a:\"$($y)\"";
        let tree = parse(joined).unwrap();
        assert_eq!(tree.text, joined, "the script's own text is kept");
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
