//! The store contract, and the on-disk envelope every backend writes.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{RecipeState, StateError};

/// An opaque revision: what a save must name to replace a document (a counter locally, an ETag on S3).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Revision(pub String);

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A document with the revision it was read at.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    /// The revision.
    pub revision: Revision,
    /// The document.
    pub state: RecipeState,
}

/// Who holds a lock, written into the lock so a waiting run can say who it waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// `user@host`.
    pub owner: String,
    /// Process id of the holder.
    pub pid: u32,
    /// Host name of the holder.
    pub host: String,
    /// What the holder is doing (`apply`, `state rm`, ...).
    pub operation: String,
    /// When the lock was taken.
    pub since: jiff::Timestamp,
}

impl LockInfo {
    /// A lock record for this process.
    pub fn for_this_process(operation: &str) -> LockInfo {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "localhost".into());
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        LockInfo {
            owner: format!("{user}@{host}"),
            pid: std::process::id(),
            host,
            operation: operation.into(),
            since: jiff::Timestamp::now(),
        }
    }

    /// How the holder reads in an error.
    pub fn describe(&self) -> String {
        format!(
            "{} (pid {}, {} since {})",
            self.owner, self.pid, self.operation, self.since
        )
    }
}

/// A state backend: one document per recipe, a lock per recipe, optimistic concurrency.
///
/// Implementations make `save` atomic: a reader sees the old document or the new one, never a mix,
/// even if the writer is killed mid-write.
pub trait StateStore: Send + Sync {
    /// The recipes that have state.
    fn list(&self) -> impl Future<Output = Result<Vec<String>, StateError>> + Send;

    /// A recipe's document and its revision, or `None` when it has none. Corruption is an error.
    fn load(&self, recipe: &str)
    -> impl Future<Output = Result<Option<Stored>, StateError>> + Send;

    /// Replace a recipe's document. `expected` is the revision it was read at (`None`: it must not
    /// exist yet); a different current revision is a [`StateError::Conflict`].
    fn save(
        &self,
        state: &RecipeState,
        expected: Option<&Revision>,
    ) -> impl Future<Output = Result<Revision, StateError>> + Send;

    /// Take the recipe's lock, waiting up to `timeout`. Fails with [`StateError::Locked`].
    fn lock(
        &self,
        recipe: &str,
        info: &LockInfo,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Release a lock this process holds.
    fn unlock(&self, recipe: &str) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Remove a lock whoever holds it (`recipe state unlock`); returns who held it.
    fn force_unlock(
        &self,
        recipe: &str,
    ) -> impl Future<Output = Result<Option<LockInfo>, StateError>> + Send;

    /// The runs whose journal is kept beside the state: applies that have not finished, live or
    /// dead. The records are the engine's; the store only keeps them in order.
    fn runs(&self) -> impl Future<Output = Result<Vec<String>, StateError>> + Send;

    /// A run's records in the order they were appended. A record a crash cut short is left out: its
    /// append never returned, so nothing acted on it.
    fn read_run(&self, run: &str) -> impl Future<Output = Result<Vec<Vec<u8>>, StateError>> + Send;

    /// Append record number `seq` (0, 1, …) to a run's journal; it is durable when this returns.
    /// Records are never rewritten. A record holds no newline.
    fn append_run(
        &self,
        run: &str,
        seq: u64,
        record: &[u8],
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Forget a run's journal (its apply finished and recorded state).
    fn remove_run(&self, run: &str) -> impl Future<Output = Result<(), StateError>> + Send;

    /// Keep one evidence document of an image version beside the state (its SBOM, its signed
    /// provenance: `kind` names which, see [`evidence_name`]). Writing it again replaces it.
    fn put_evidence(
        &self,
        recipe: &str,
        build_id: &str,
        kind: &str,
        bytes: &[u8],
    ) -> impl Future<Output = Result<(), StateError>> + Send;

    /// An evidence document of an image version, or `None` when none was kept.
    fn get_evidence(
        &self,
        recipe: &str,
        build_id: &str,
        kind: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StateError>> + Send;
}

/// Where an evidence document lives, relative to the store: `evidence/<recipe>/<build id>.<kind>`,
/// once the three parts are checked to be plain names (no `/`, no `..`).
pub fn evidence_name(recipe: &str, build_id: &str, kind: &str) -> Result<String, StateError> {
    check_name(recipe)?;
    let plain = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && (s.bytes()).all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    if !plain(build_id) || !plain(kind) {
        return Err(StateError::BadName(format!("{build_id}.{kind}")));
    }
    Ok(format!("evidence/{recipe}/{build_id}.{kind}"))
}

/// Run ids double as file and object names: `r`, then lowercase letters, digits and `-`.
pub fn check_run(run: &str) -> Result<(), StateError> {
    let ok = run.starts_with('r')
        && run.len() <= 64
        && run
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(StateError::BadName(run.into()))
    }
}

/// The envelope written to disk or S3: a format number, the document and its checksum.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    format: u32,
    revision: u64,
    checksum: String,
    state: serde_json::Value,
}

const FORMAT: u32 = 1;

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// `sha256:<hex>` of the document's canonical JSON.
pub fn checksum(state: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(state).expect("a JSON value serializes");
    format!("sha256:{}", hex(&Sha256::digest(&bytes)))
}

/// Serialize a document with its revision number and checksum.
pub fn encode(state: &RecipeState, revision: u64) -> Vec<u8> {
    let value = serde_json::to_value(state).expect("state serializes");
    let env = Envelope {
        format: FORMAT,
        revision,
        checksum: checksum(&value),
        state: value,
    };
    let mut out = serde_json::to_vec_pretty(&env).expect("envelope serializes");
    out.push(b'\n');
    out
}

/// Give a corruption error the store's own fix; other errors pass through.
pub fn with_fix(e: StateError, fix: impl FnOnce() -> String) -> StateError {
    match e {
        StateError::Corrupt { recipe, detail, .. } => StateError::Corrupt {
            recipe,
            detail,
            fix: fix(),
        },
        other => other,
    }
}

/// Parse and verify a stored document; returns it with its revision number.
pub fn decode(recipe: &str, bytes: &[u8]) -> Result<(RecipeState, u64), StateError> {
    let corrupt = |detail: String| StateError::Corrupt {
        recipe: recipe.into(),
        detail,
        fix: String::new(),
    };
    let env: Envelope =
        serde_json::from_slice(bytes).map_err(|e| corrupt(format!("not a state document: {e}")))?;
    if env.format != FORMAT {
        return Err(corrupt(format!(
            "format {} is not supported (this build reads format {FORMAT})",
            env.format
        )));
    }
    let sum = checksum(&env.state);
    if sum != env.checksum {
        return Err(corrupt(format!(
            "checksum mismatch: stored {}, computed {sum}",
            env.checksum
        )));
    }
    let state: RecipeState = serde_json::from_value(env.state)
        .map_err(|e| corrupt(format!("unreadable document: {e}")))?;
    if state.recipe != recipe {
        return Err(corrupt(format!("the document is for `{}`", state.recipe)));
    }
    Ok((state, env.revision))
}

/// Recipe names double as file and object names: refuse anything else.
pub(crate) fn check_name(recipe: &str) -> Result<(), StateError> {
    let ok = !recipe.is_empty()
        && recipe.len() <= 63
        && recipe
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !recipe.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(StateError::BadName(recipe.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_and_tamper_detection() {
        let state = RecipeState::new("web");
        let bytes = encode(&state, 3);
        let (back, rev) = decode("web", &bytes).expect("round trip");
        assert_eq!((back, rev), (state, 3));
        let tampered = String::from_utf8(bytes)
            .unwrap()
            .replace("\"versions\": []", "\"versions\": [ ]")
            .replace("\"web\"", "\"wab\"");
        assert!(matches!(
            decode("web", tampered.as_bytes()),
            Err(StateError::Corrupt { .. })
        ));
        assert!(matches!(
            decode("web", b"{\"format\": 1, \"revi"),
            Err(StateError::Corrupt { .. })
        ));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("web-1").is_ok());
        for bad in ["", "../x", "Web", "-x", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
