//! Run journals on local disk: `<state>/runs/<run>.jsonl`, one record per line. An append writes one
//! line and flushes it to disk (fdatasync) before it returns; nothing is ever rewritten, so a record
//! costs the same at the end of a long apply as at its start.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The journal file of `run` in `dir`.
pub(crate) fn path(dir: &Path, run: &str) -> PathBuf {
    dir.join(format!("{run}.jsonl"))
}

/// Append one record as a line, durably.
pub(crate) fn append(dir: &Path, run: &str, record: &[u8]) -> io::Result<()> {
    if record.contains(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a journal record holds a newline",
        ));
    }
    fs::create_dir_all(dir)?;
    let path = path(dir, run);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(&path)?;
    let created = f.metadata()?.len() == 0;
    drop_torn_tail(&mut f)?;
    let mut line = Vec::with_capacity(record.len() + 1);
    line.extend_from_slice(record);
    line.push(b'\n');
    f.write_all(&line)?;
    f.sync_data()?;
    if created {
        // Make the new file's name durable too.
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// A crash in the middle of an append leaves a line with no newline: cut it off, so the next record
/// starts on its own line. Its append never returned, so nothing acted on it.
fn drop_torn_tail(f: &mut File) -> io::Result<()> {
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8];
    f.seek(SeekFrom::End(-1))?;
    f.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    let mut all = Vec::new();
    f.seek(SeekFrom::Start(0))?;
    f.read_to_end(&mut all)?;
    let keep = all.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    f.set_len(keep as u64)
}

/// The records of `run`, in order, without a torn last line.
pub(crate) fn read(dir: &Path, run: &str) -> io::Result<Vec<Vec<u8>>> {
    let bytes = match fs::read(path(dir, run)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let complete = bytes
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(&bytes[..0], |i| &bytes[..=i]);
    Ok(complete
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

/// The runs with a journal in `dir`.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut runs: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name();
            name.to_str()?.strip_suffix(".jsonl").map(str::to_string)
        })
        .collect();
    runs.sort();
    Ok(runs)
}

/// Remove a run's journal (gone already is fine).
pub(crate) fn remove(dir: &Path, run: &str) -> io::Result<()> {
    match fs::remove_file(path(dir, run)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_read_back_in_order_and_a_torn_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), "r1", b"{\"a\":1}").unwrap();
        append(dir.path(), "r1", b"{\"a\":2}").unwrap();
        // A crash in the middle of the third append.
        let p = path(dir.path(), "r1");
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"a\":").unwrap();
        drop(f);
        assert_eq!(read(dir.path(), "r1").unwrap().len(), 2);
        append(dir.path(), "r1", b"{\"a\":3}").unwrap();
        let back: Vec<String> = read(dir.path(), "r1")
            .unwrap()
            .into_iter()
            .map(|l| String::from_utf8(l).unwrap())
            .collect();
        assert_eq!(back, ["{\"a\":1}", "{\"a\":2}", "{\"a\":3}"]);
        assert_eq!(list(dir.path()).unwrap(), ["r1"]);
        remove(dir.path(), "r1").unwrap();
        remove(dir.path(), "r1").unwrap();
        assert!(list(dir.path()).unwrap().is_empty());
        assert!(append(dir.path(), "r2", b"a\nb").is_err());
    }
}
