//! The embedded default store: one JSON file per recipe on local disk.
//!
//! - `<recipe>.json` is replaced atomically (write a temporary file, fsync, rename, fsync the folder),
//!   so a reader or a `kill -9` mid-write leaves the previous document intact;
//! - `<recipe>.json.bak` keeps the document before the last save;
//! - `<recipe>.lock` is created exclusively and holds the holder's [`LockInfo`]; a lock whose holder
//!   process is gone (same host) is taken over.
//!
//! - `runs/<run>.jsonl` is an apply's journal (see [`crate::StateStore::append_run`]).
//!
//! State and lock operations are quick and run inline in the async methods; journal appends, which
//! wait for the disk on every record, run on tokio's blocking pool.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::store::{check_name, check_run};
use crate::{LockInfo, RecipeState, Revision, StateError, StateStore, Stored, decode, encode};

/// State in a local folder (by default `.recipe/state`).
#[derive(Clone, Debug)]
pub struct LocalStore {
    dir: PathBuf,
}

impl LocalStore {
    /// A store in `dir` (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalStore { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, recipe: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("{recipe}.{ext}"))
    }

    fn runs_dir(&self) -> PathBuf {
        self.dir.join("runs")
    }

    /// Run a journal file operation on the blocking pool.
    async fn on_disk<T: Send + 'static>(
        &self,
        run: &str,
        op: impl FnOnce(&Path) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, StateError> {
        let dir = self.runs_dir();
        let path = crate::runlog::path(&dir, run);
        let joined = tokio::task::spawn_blocking(move || op(&dir)).await;
        let io = |error| StateError::Io { path, error };
        match joined {
            Ok(r) => r.map_err(io),
            Err(e) => Err(io(std::io::Error::other(e.to_string()))),
        }
    }

    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
        let path = path.to_path_buf();
        move |error| StateError::Io { path, error }
    }

    /// How to repair `recipe`'s damaged document: from its backup when one exists.
    fn fix(&self, recipe: &str) -> String {
        let doc = self.path(recipe, "json");
        let bak = self.path(recipe, "json.bak");
        match decode(recipe, &std::fs::read(&bak).unwrap_or_default()) {
            Ok(_) => format!(
                "restore the document before the last save: `cp {} {}`",
                bak.display(),
                doc.display()
            ),
            Err(_) => format!(
                "no usable backup exists (`{}` is kept from the second save on): move `{}` aside and plan again; the recipe is then built anew, and its earlier images stay in the cloud with their recipe:* tags",
                bak.display(),
                doc.display()
            ),
        }
    }

    fn read(&self, recipe: &str) -> Result<Option<(RecipeState, u64)>, StateError> {
        let path = self.path(recipe, "json");
        match std::fs::read(&path) {
            Ok(bytes) => decode(recipe, &bytes)
                .map(Some)
                .map_err(|e| crate::store::with_fix(e, || self.fix(recipe))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(&path)(e)),
        }
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), StateError> {
        std::fs::create_dir_all(&self.dir).map_err(self.io(&self.dir))?;
        let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
        let mut f = std::fs::File::create(&tmp).map_err(self.io(&tmp))?;
        f.write_all(bytes).map_err(self.io(&tmp))?;
        f.sync_all().map_err(self.io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(self.io(path))?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn read_lock(&self, path: &Path) -> Option<LockInfo> {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// A lock whose holder is gone: a dead process on this host, or an unreadable lock file that
    /// nobody finished writing in a while.
    fn is_stale(&self, path: &Path, info: Option<&LockInfo>, me: &LockInfo) -> bool {
        match info {
            Some(h) => h.host == me.host && h.pid != me.pid && !process_alive(h.pid),
            None => std::fs::metadata(path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(10)),
        }
    }
}

fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

impl StateStore for LocalStore {
    async fn put_evidence(
        &self,
        recipe: &str,
        build_id: &str,
        kind: &str,
        bytes: &[u8],
    ) -> Result<(), StateError> {
        let path = self.dir.join(crate::evidence_name(recipe, build_id, kind)?);
        let dir = path.parent().expect("an evidence path has a folder");
        std::fs::create_dir_all(dir).map_err(self.io(dir))?;
        // Written beside and renamed: a reader sees the old document or the new one.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(self.io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(self.io(&path))
    }

    async fn get_evidence(
        &self,
        recipe: &str,
        build_id: &str,
        kind: &str,
    ) -> Result<Option<Vec<u8>>, StateError> {
        let path = self.dir.join(crate::evidence_name(recipe, build_id, kind)?);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(&path)(e)),
        }
    }

    async fn list(&self) -> Result<Vec<String>, StateError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(&self.dir)(e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".json"))
                    .map(str::to_string)
            })
            .collect();
        names.sort();
        Ok(names)
    }

    async fn load(&self, recipe: &str) -> Result<Option<Stored>, StateError> {
        check_name(recipe)?;
        Ok(self.read(recipe)?.map(|(state, rev)| Stored {
            revision: Revision(rev.to_string()),
            state,
        }))
    }

    async fn save(
        &self,
        state: &RecipeState,
        expected: Option<&Revision>,
    ) -> Result<Revision, StateError> {
        let recipe = state.recipe.as_str();
        check_name(recipe)?;
        let current = self.read(recipe);
        let current_rev = match &current {
            Ok(Some((_, rev))) => Some(*rev),
            Ok(None) => None,
            // A corrupt document can be replaced only by a caller that knows it is replacing it.
            Err(e) if expected.is_some() => return Err(StateError::backend(e.to_string())),
            Err(_) => None,
        };
        let found = current_rev.map(|r| Revision(r.to_string()));
        if found.as_ref() != expected {
            return Err(StateError::Conflict {
                recipe: recipe.into(),
                expected: expected.map_or("none".into(), ToString::to_string),
                found: found.map_or("none".into(), |r| r.0),
            });
        }
        let next = current_rev.unwrap_or(0) + 1;
        let path = self.path(recipe, "json");
        if current_rev.is_some() {
            let bak = self.path(recipe, "json.bak");
            if let Ok(bytes) = std::fs::read(&path) {
                self.write_atomic(&bak, &bytes)?;
            }
        }
        self.write_atomic(&path, &encode(state, next))?;
        Ok(Revision(next.to_string()))
    }

    async fn lock(
        &self,
        recipe: &str,
        info: &LockInfo,
        timeout: Duration,
    ) -> Result<(), StateError> {
        check_name(recipe)?;
        std::fs::create_dir_all(&self.dir).map_err(self.io(&self.dir))?;
        let path = self.path(recipe, "lock");
        let body = serde_json::to_vec(info).expect("lock info serializes");
        let start = Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    f.write_all(&body).map_err(self.io(&path))?;
                    f.sync_all().map_err(self.io(&path))?;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = self.read_lock(&path);
                    if self.is_stale(&path, holder.as_ref(), info) {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if start.elapsed() >= timeout {
                        return Err(StateError::Locked {
                            recipe: recipe.into(),
                            holder: holder.map_or("an unknown holder".into(), |h| h.describe()),
                            waited_ms: u64::try_from(start.elapsed().as_millis())
                                .unwrap_or(u64::MAX),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Err(e) => return Err(self.io(&path)(e)),
            }
        }
    }

    async fn unlock(&self, recipe: &str) -> Result<(), StateError> {
        check_name(recipe)?;
        let path = self.path(recipe, "lock");
        match self.read_lock(&path) {
            Some(h) if h.pid == std::process::id() => {
                std::fs::remove_file(&path).map_err(self.io(&path))
            }
            _ => Ok(()),
        }
    }

    async fn force_unlock(&self, recipe: &str) -> Result<Option<LockInfo>, StateError> {
        check_name(recipe)?;
        let path = self.path(recipe, "lock");
        let holder = self.read_lock(&path);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(holder),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(&path)(e)),
        }
    }

    async fn runs(&self) -> Result<Vec<String>, StateError> {
        let dir = self.runs_dir();
        crate::runlog::list(&dir).map_err(self.io(&dir))
    }

    async fn read_run(&self, run: &str) -> Result<Vec<Vec<u8>>, StateError> {
        check_run(run)?;
        let run = run.to_string();
        self.on_disk(&run.clone(), move |d| crate::runlog::read(d, &run))
            .await
    }

    async fn append_run(&self, run: &str, _seq: u64, record: &[u8]) -> Result<(), StateError> {
        check_run(run)?;
        let (run, record) = (run.to_string(), record.to_vec());
        self.on_disk(&run.clone(), move |d| {
            crate::runlog::append(d, &run, &record)
        })
        .await
    }

    async fn remove_run(&self, run: &str) -> Result<(), StateError> {
        check_run(run)?;
        let run = run.to_string();
        self.on_disk(&run.clone(), move |d| crate::runlog::remove(d, &run))
            .await
    }
}
