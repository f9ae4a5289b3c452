//! Finding secrets written where they would end up in git or in an image.
//!
//! Looks for AWS access key ids, AWS secret access keys, private key blocks and password-like
//! assignments with a literal value. A line that contains `recipe:allow-secret` is skipped, for the
//! rare false positive.

use std::sync::{Arc, LazyLock};

use regex::{Regex, RegexSet};

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, SourceFile};

struct Pattern {
    what: &'static str,
    re: Regex,
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let p = |what, re: &str| Pattern {
        what,
        re: Regex::new(re).expect("secret pattern compiles"),
    };
    vec![
        p(
            "an AWS access key id",
            r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b",
        ),
        p(
            "an AWS secret access key",
            r#"(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?[A-Za-z0-9/+=]{40}"#,
        ),
        p(
            "a private key",
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        ),
        p(
            "a password literal",
            r#"(?i)[a-z_]*(?:password|passwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token)["']?[ \t]*[:=][ \t]*["']?([^\s"'$%<{(\[:=][^\s"']{3,})"#,
        ),
        p(
            "a password on a command line",
            r#"(?i)--password[= ]["']?([^\s"'$%<{(-][^\s"']{3,})"#,
        ),
    ]
});

/// Every pattern at once, over a whole file: most files have no secret, and one pass over the text
/// says so. (A match within a line is a match within the file, so nothing is missed.)
static ANY: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(PATTERNS.iter().map(|p| p.re.as_str())).expect("secret patterns compile")
});

/// Report every secret in `source` under `code`.
pub fn scan(source: &Arc<SourceFile>, code: Code, diags: &mut Vec<Diagnostic>) {
    let text = &source.text;
    if !ANY.is_match(text) {
        return;
    }
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        if !line.contains("recipe:allow-secret") {
            let mut taken: Vec<std::ops::Range<usize>> = Vec::new();
            for p in PATTERNS.iter() {
                for m in p.re.captures_iter(line) {
                    let whole = m.get(0).expect("match 0 exists");
                    let hit = m.get(1).unwrap_or(whole);
                    if taken
                        .iter()
                        .any(|r| r.start < whole.end() && whole.start() < r.end)
                    {
                        continue;
                    }
                    taken.push(whole.range());
                    let span = source.span(line_start + hit.start(), hit.len());
                    let (message, help) = match code {
                        Code::SecretInFile => (
                            format!("{} in a file that would be baked into the image", p.what),
                            "remove it: pass it as a secret reference (`secrets:` in the recipe, `${secret.name}` in the step) so it is resolved on the builder and never stored",
                        ),
                        _ => (
                            format!("{} written into a recipe", p.what),
                            "move it to SSM Parameter Store or Secrets Manager and refer to it with `secrets:` and `${secret.name}`; rotate it, since it is in git history",
                        ),
                    };
                    diags.push(
                        Diagnostic::new(code, message)
                            .help(help)
                            .label("secret")
                            .at(source, span),
                    );
                }
            }
        }
        line_start += line.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> usize {
        let mut d = Vec::new();
        scan(&SourceFile::new("x", text), Code::SecretInRecipe, &mut d);
        d.len()
    }

    #[test]
    fn finds_secrets() {
        assert_eq!(found("key: AKIAIOSFODNN7EXAMPLE\n"), 1);
        assert_eq!(found("-----BEGIN OPENSSH PRIVATE KEY-----\n"), 1);
        assert_eq!(found("-----BEGIN RSA PRIVATE KEY-----\n"), 1);
        assert_eq!(found("DB_PASSWORD: hunter22\n"), 1);
        assert_eq!(found("mysql --password=hunter22 -e 'select 1'\n"), 1);
        assert_eq!(
            found("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"),
            1
        );
    }

    #[test]
    fn ignores_references_and_allowed_lines() {
        assert_eq!(found("DB_PASSWORD: ${secret.db}\n"), 0);
        assert_eq!(found("password: \"$DB_PASSWORD\"\n"), 0);
        assert_eq!(found("PasswordAuthentication no\n"), 0);
        assert_eq!(found("DB_PASSWORD: example # recipe:allow-secret\n"), 0);
        assert_eq!(
            found("secrets: { db_password: { ssm-parameter: /x } }\n"),
            0
        );
    }
}
