//! State in an S3 bucket, shared by many CI runners.
//!
//! - `<prefix>/<recipe>.json`: the document, in the same checksummed envelope as the local store. A save
//!   is a conditional PutObject: `If-None-Match: *` to create, `If-Match: <ETag>` to replace, so a writer
//!   holding a stale revision gets a conflict instead of overwriting (optimistic concurrency). The ETag is
//!   the revision.
//! - `<prefix>/<recipe>.lock`: created with `If-None-Match: *`, holding the holder's [`LockInfo`];
//!   released with `If-Match` on its ETag. Locks do not expire on their own (an apply can run for
//!   hours); `recipe state unlock` removes a dead run's lock.
//! - `<prefix>/runs/<run>/<seq>.json`: an apply's journal, one object per record (S3 objects cannot be
//!   appended to), each created with `If-None-Match: *` and never rewritten. Reading a run lists its
//!   prefix; the zero-padded sequence number keeps the listing in append order.
//!
//! The SDK retries requests, so a conditional write whose response was lost may come back as 412 on the
//! retry. On a 412 the store re-reads the object: if it holds what this process wrote, the write
//! succeeded.
//!
//! Path-style addressing is used when a custom endpoint is configured (`AWS_ENDPOINT_URL_S3` or
//! `AWS_ENDPOINT_URL`), as local S3 emulators need.

use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use recipe_aws::AwsError;
use recipe_state::{
    LockInfo, RecipeState, Revision, StateError, StateStore, Stored, decode, encode,
};

/// State in `s3://bucket/prefix`.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
}

/// Split `s3://bucket/prefix` into bucket and prefix.
pub fn parse_url(url: &str) -> Result<(String, String), StateError> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| StateError::backend(format!("`{url}` is not an s3:// URL")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.len() < 3 {
        return Err(StateError::backend(format!(
            "`{url}` names no bucket: write s3://BUCKET/PREFIX"
        )));
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// A failed S3 call, said as `recipe-aws` says every AWS error (code, message, request id, help),
/// kept as the cause.
fn backend<E>(what: &str, operation: &'static str, e: &SdkError<E, HttpResponse>) -> StateError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let aws = AwsError::from_sdk("s3", operation, e);
    StateError::backend_caused_by(format!("{what}: {}", aws.message_and_help()), aws)
}

fn precondition_failed<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    match e {
        SdkError::ServiceError(se) => {
            se.err().code() == Some("PreconditionFailed") || se.raw().status().as_u16() == 412
        }
        _ => false,
    }
}

/// The object is missing (not the bucket: `NoSuchBucket` is an error worth reporting).
fn not_found<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    match e {
        SdkError::ServiceError(se) => match se.err().code() {
            Some(code) => matches!(code, "NoSuchKey" | "NotFound"),
            None => se.raw().status().as_u16() == 404,
        },
        _ => false,
    }
}

impl S3Store {
    /// A store on an existing client.
    pub fn new(client: Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        S3Store {
            client,
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    /// A store for `s3://bucket/prefix` with the command's AWS configuration (the standard chain:
    /// environment, profile, SSO, instance role) and the endpoint it names.
    pub fn from_url(url: &str, shared: &aws_config::SdkConfig) -> Result<Self, StateError> {
        let (bucket, prefix) = parse_url(url)?;
        let custom_endpoint = shared.endpoint_url().is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3")
                .or_else(|| std::env::var_os("AWS_ENDPOINT_URL"))
                .is_some();
        let conf = aws_sdk_s3::config::Builder::from(shared)
            .force_path_style(custom_endpoint)
            .build();
        Ok(S3Store::new(Client::from_conf(conf), bucket, prefix))
    }

    /// `name` under the store's prefix.
    fn key_of(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    fn key(&self, recipe: &str, ext: &str) -> String {
        if self.prefix.is_empty() {
            format!("{recipe}.{ext}")
        } else {
            format!("{}/{recipe}.{ext}", self.prefix)
        }
    }

    /// The object's bytes and ETag, or `None` if it does not exist.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StateError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_string();
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| {
                        StateError::backend(format!("reading s3://{}/{key}: {e}", self.bucket))
                    })?
                    .into_bytes()
                    .to_vec();
                Ok(Some((bytes, etag)))
            }
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(backend(
                &format!("reading s3://{}/{key}", self.bucket),
                "GetObject",
                &e,
            )),
        }
    }

    /// A conditional put; `Ok(None)` when the condition failed and the object is not ours.
    async fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        if_match: Option<&str>,
    ) -> Result<Option<String>, StateError> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body.clone()));
        req = match if_match {
            Some(etag) => req.if_match(etag),
            None => req.if_none_match("*"),
        };
        match req.send().await {
            Ok(out) => Ok(Some(out.e_tag().unwrap_or_default().to_string())),
            Err(e) if precondition_failed(&e) || (if_match.is_some() && not_found(&e)) => {
                // Our own write, retried by the SDK after its response was lost?
                match self.get(key).await? {
                    Some((bytes, etag)) if bytes == body => Ok(Some(etag)),
                    _ => Ok(None),
                }
            }
            Err(e) => Err(backend(
                &format!("writing s3://{}/{key}", self.bucket),
                "PutObject",
                &e,
            )),
        }
    }

    fn runs_prefix(&self) -> String {
        if self.prefix.is_empty() {
            "runs/".into()
        } else {
            format!("{}/runs/", self.prefix)
        }
    }

    /// Every key under `prefix`, in order; with `folders`, the sub-prefixes one level down instead.
    async fn keys(&self, prefix: &str, folders: bool) -> Result<Vec<String>, StateError> {
        let mut req = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix);
        if folders {
            req = req.delimiter("/");
        }
        let mut pages = req.into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                backend(
                    &format!("listing s3://{}/{prefix}", self.bucket),
                    "ListObjectsV2",
                    &e,
                )
            })?;
            if folders {
                keys.extend(
                    page.common_prefixes()
                        .iter()
                        .filter_map(|p| p.prefix())
                        .map(String::from),
                );
            } else {
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key())
                        .map(String::from),
                );
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete_keys(&self, keys: &[String]) -> Result<(), StateError> {
        use aws_sdk_s3::types::{Delete, ObjectIdentifier};
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StateError::backend(e.to_string()))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| StateError::backend(e.to_string()))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| {
                    backend(
                        &format!("deleting from s3://{}", self.bucket),
                        "DeleteObjects",
                        &e,
                    )
                })?;
            if let Some(e) = out.errors().first() {
                return Err(StateError::backend(format!(
                    "deleting s3://{}/{}: {}",
                    self.bucket,
                    e.key().unwrap_or_default(),
                    e.message().unwrap_or("no message")
                )));
            }
        }
        Ok(())
    }

    async fn delete_if(&self, key: &str, etag: &str) -> Result<(), StateError> {
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .if_match(etag)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(backend(
                &format!("deleting s3://{}/{key}", self.bucket),
                "DeleteObject",
                &e,
            )),
        }
    }
}

fn check_name(recipe: &str) -> Result<(), StateError> {
    let ok = !recipe.is_empty()
        && recipe.len() <= 63
        && !recipe.starts_with('-')
        && recipe
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(StateError::BadName(recipe.into()))
    }
}

impl StateStore for S3Store {
    async fn put_evidence(
        &self,
        recipe: &str,
        build_id: &str,
        kind: &str,
        bytes: &[u8],
    ) -> Result<(), StateError> {
        let key = self.key_of(&recipe_state::evidence_name(recipe, build_id, kind)?);
        let put = self.client.put_object().bucket(&self.bucket).key(&key);
        let put = put.body(bytes.to_vec().into()).send().await;
        let writing = format!("writing s3://{}/{key}", self.bucket);
        put.map(|_| ())
            .map_err(|e| backend(&writing, "PutObject", &e))
    }

    async fn get_evidence(
        &self,
        recipe: &str,
        build_id: &str,
        kind: &str,
    ) -> Result<Option<Vec<u8>>, StateError> {
        let key = self.key_of(&recipe_state::evidence_name(recipe, build_id, kind)?);
        Ok(self.get(&key).await?.map(|(bytes, _)| bytes))
    }

    async fn list(&self) -> Result<Vec<String>, StateError> {
        let prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        // Keys come sorted; a state document is `PREFIX/NAME.json`, not in a sub-folder.
        let names = (self.keys(&prefix, false).await?.iter())
            .filter_map(|k| k.strip_prefix(&prefix)?.strip_suffix(".json"))
            .filter(|name| !name.contains('/'))
            .map(str::to_string)
            .collect();
        Ok(names)
    }

    async fn load(&self, recipe: &str) -> Result<Option<Stored>, StateError> {
        check_name(recipe)?;
        let Some((bytes, etag)) = self.get(&self.key(recipe, "json")).await? else {
            return Ok(None);
        };
        let key = self.key(recipe, "json");
        let (state, _) = decode(recipe, &bytes).map_err(|e| {
            recipe_state::with_fix(e, || {
                format!(
                    "restore an earlier version of s3://{}/{key} (if the bucket keeps versions), or delete the object to plan the recipe anew",
                    self.bucket
                )
            })
        })?;
        Ok(Some(Stored {
            revision: Revision(etag),
            state,
        }))
    }

    async fn save(
        &self,
        state: &RecipeState,
        expected: Option<&Revision>,
    ) -> Result<Revision, StateError> {
        check_name(&state.recipe)?;
        let key = self.key(&state.recipe, "json");
        let body = encode(state, 0);
        match self
            .put_if(&key, body, expected.map(|r| r.0.as_str()))
            .await?
        {
            Some(etag) => Ok(Revision(etag)),
            None => {
                let found = self
                    .get(&key)
                    .await?
                    .map_or("none".to_string(), |(_, etag)| etag);
                Err(StateError::Conflict {
                    recipe: state.recipe.clone(),
                    expected: expected.map_or("none".into(), ToString::to_string),
                    found,
                })
            }
        }
    }

    async fn lock(
        &self,
        recipe: &str,
        info: &LockInfo,
        timeout: Duration,
    ) -> Result<(), StateError> {
        check_name(recipe)?;
        let key = self.key(recipe, "lock");
        let body = serde_json::to_vec(info).expect("lock info serializes");
        let start = Instant::now();
        loop {
            if self.put_if(&key, body.clone(), None).await?.is_some() {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                let holder = self
                    .get(&key)
                    .await?
                    .and_then(|(b, _)| serde_json::from_slice::<LockInfo>(&b).ok())
                    .map_or("an unknown holder".into(), |h| h.describe());
                return Err(StateError::Locked {
                    recipe: recipe.into(),
                    holder,
                    waited_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn unlock(&self, recipe: &str) -> Result<(), StateError> {
        check_name(recipe)?;
        let key = self.key(recipe, "lock");
        if let Some((bytes, etag)) = self.get(&key).await? {
            let mine = serde_json::from_slice::<LockInfo>(&bytes).is_ok_and(|h| {
                h.pid == std::process::id() && h.host == LockInfo::for_this_process("").host
            });
            if mine {
                self.delete_if(&key, &etag).await?;
            }
        }
        Ok(())
    }

    async fn force_unlock(&self, recipe: &str) -> Result<Option<LockInfo>, StateError> {
        check_name(recipe)?;
        let key = self.key(recipe, "lock");
        let Some((bytes, etag)) = self.get(&key).await? else {
            return Ok(None);
        };
        self.delete_if(&key, &etag).await?;
        Ok(serde_json::from_slice(&bytes).ok())
    }

    async fn runs(&self) -> Result<Vec<String>, StateError> {
        let base = self.runs_prefix();
        Ok(self
            .keys(&base, true)
            .await?
            .iter()
            .filter_map(|p| p.strip_prefix(&base)?.strip_suffix('/'))
            .map(String::from)
            .collect())
    }

    async fn read_run(&self, run: &str) -> Result<Vec<Vec<u8>>, StateError> {
        recipe_state::check_run(run)?;
        let mut records = Vec::new();
        for key in self
            .keys(&format!("{}{run}/", self.runs_prefix()), false)
            .await?
        {
            if let Some((bytes, _)) = self.get(&key).await? {
                records.push(bytes);
            }
        }
        Ok(records)
    }

    async fn append_run(&self, run: &str, seq: u64, record: &[u8]) -> Result<(), StateError> {
        recipe_state::check_run(run)?;
        let key = format!("{}{run}/{seq:010}.json", self.runs_prefix());
        match self.put_if(&key, record.to_vec(), None).await? {
            Some(_) => Ok(()),
            None => Err(StateError::backend(format!(
                "s3://{}/{key} already holds another record: two processes are writing the journal of run {run}",
                self.bucket
            ))),
        }
    }

    async fn remove_run(&self, run: &str) -> Result<(), StateError> {
        recipe_state::check_run(run)?;
        let keys = self
            .keys(&format!("{}{run}/", self.runs_prefix()), false)
            .await?;
        self.delete_keys(&keys).await
    }
}
