//! Reading a file as UTF-8 text, and saying where and why when it is not.

use std::path::Path;
use std::sync::Arc;

use recipe_model::Span;

use crate::codes::Code;
use crate::diagnostic::{Diagnostic, SourceFile};

/// The file's text, or `Err(Some(diagnostic))` when it is not UTF-8 (the line and column of the first
/// invalid byte, and the likely encoding), or `Err(None)` with the I/O error when it cannot be read.
pub fn read_text(path: &Path) -> Result<String, Result<Box<Diagnostic>, std::io::Error>> {
    let bytes = std::fs::read(path).map_err(Err)?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => Err(Ok(Box::new(not_utf8(
            path,
            e.as_bytes(),
            e.utf8_error().valid_up_to(),
        )))),
    }
}

/// A diagnostic at the first byte that is not UTF-8, shown in the file with the bytes replaced.
fn not_utf8(path: &Path, bytes: &[u8], at: usize) -> Diagnostic {
    let shown = String::from_utf8_lossy(bytes).into_owned();
    let before = &shown[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let span = Span {
        offset: at,
        len: shown[at..].chars().next().map_or(1, char::len_utf8),
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
    };
    let (encoding, from) = likely_encoding(bytes);
    let file = path.display();
    Diagnostic::new(
        Code::NotUtf8,
        format!("`{file}` is not UTF-8: byte 0x{:02X} at line {line}, column {column}", bytes[at]),
    )
    .help(format!(
        "it looks like {encoding}; convert it with `iconv -f {from} -t UTF-8 {file} > {file}.utf8` and replace the file"
    ))
    .label("not UTF-8")
    .at(&Arc::new(SourceFile { path: path.to_path_buf(), text: shown }), span)
}

/// The encoding the bytes most likely are in, and its `iconv` name.
fn likely_encoding(bytes: &[u8]) -> (&'static str, &'static str) {
    match bytes {
        [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..] => {
            ("UTF-16 (it starts with a byte-order mark)", "UTF-16")
        }
        _ if bytes
            .utf8_chunks()
            .any(|c| c.invalid().iter().any(|b| (0x80..0xA0).contains(b))) =>
        {
            (
                "Windows-1252 (bytes 0x80-0x9F are its punctuation)",
                "WINDOWS-1252",
            )
        }
        _ => ("Latin-1 (ISO-8859-1)", "LATIN1"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_invalid_byte_is_located_and_the_encoding_guessed() {
        let bytes = b"name: q\ndescription: caf\xe9 menu\n";
        let d = not_utf8(Path::new("r.yaml"), bytes, 24);
        assert_eq!((d.span.line, d.span.column), (2, 17));
        assert!(
            d.message.contains("byte 0xE9 at line 2, column 17"),
            "{}",
            d.message
        );
        assert!(
            d.help.contains("Latin-1") && d.help.contains("iconv -f LATIN1"),
            "{}",
            d.help
        );
        assert_eq!(likely_encoding(b"a \x93quoted\x94").1, "WINDOWS-1252");
        assert_eq!(likely_encoding(b"\xff\xfea\x00").1, "UTF-16");
        // Valid UTF-8 elsewhere in the file (an em dash has 0x80 in it) does not count.
        assert_eq!(
            likely_encoding(
                "— caf\u{e9}"
                    .as_bytes()
                    .iter()
                    .take(7)
                    .copied()
                    .chain([0xE9])
                    .collect::<Vec<u8>>()
                    .as_slice()
            )
            .1,
            "LATIN1"
        );
    }
}
