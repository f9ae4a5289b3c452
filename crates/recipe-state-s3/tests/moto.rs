//! The S3 store against moto's S3 (an independent emulator), with the real SDK client.
//!
//! Each test starts its own `moto_server` (see recipe-testkit).

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use recipe_state::{LockInfo, RecipeState, StateError, StateStore};
use recipe_state_s3::S3Store;

use recipe_testkit::{Moto, moto};

async fn store(moto: &Moto, bucket: &str) -> S3Store {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&moto.url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .force_path_style(true)
        .build();
    let client = Client::from_conf(conf);
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create bucket");
    S3Store::new(client, bucket, "state/prod")
}

#[tokio::test]
async fn create_replace_and_an_identical_retry() {
    let Some(moto) = moto() else { return };
    let store = store(&moto, "state-occ").await;
    assert!(store.load("web").await.unwrap().is_none());
    let r1 = store.save(&with_marker("one"), None).await.unwrap();
    // The same create again (as when the SDK retries a write whose response was lost) finds its own
    // bytes in place and succeeds with the same revision.
    assert_eq!(store.save(&with_marker("one"), None).await.unwrap(), r1);
    let r2 = store.save(&with_marker("two"), Some(&r1)).await.unwrap();
    assert_ne!(r1, r2);
    let loaded = store.load("web").await.unwrap().unwrap();
    assert_eq!((loaded.revision, loaded.state), (r2, with_marker("two")));
    assert_eq!(store.list().await.unwrap(), vec!["web".to_string()]);
}

#[tokio::test]
async fn a_writer_with_a_stale_revision_is_refused() {
    let Some(moto) = moto() else { return };
    let store = store(&moto, "state-stale").await;
    let r1 = store.save(&with_marker("first"), None).await.unwrap();
    // Someone else saves a different document.
    let other = S3Store::clone(&store);
    let r2 = other.save(&with_marker("second"), Some(&r1)).await.unwrap();
    assert_ne!(r1, r2);
    // Our writer still holds r1 and writes something else: refused, nothing changes.
    let err = store
        .save(&with_marker("third"), Some(&r1))
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::Conflict { .. }), "{err}");
    let now = store.load("web").await.unwrap().unwrap();
    assert_eq!(now.revision, r2);
    assert_eq!(now.state, with_marker("second"));
    // Creating what already exists is refused too.
    assert!(matches!(
        store.save(&with_marker("fourth"), None).await,
        Err(StateError::Conflict { .. })
    ));
}

/// A document distinguishable by content.
fn with_marker(marker: &str) -> RecipeState {
    let t: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    RecipeState {
        recipe: "web".into(),
        versions: vec![recipe_state::ImageVersion {
            build_id: marker.into(),
            version: "1.0.0".into(),
            target: recipe_model::Target::new("ec2-ami"),
            fingerprint: "sha256:x".into(),
            fingerprint_parts: Default::default(),
            base_image: "ami-0123456789abcdef0".into(),
            parent: None,
            status: recipe_state::VersionStatus::Available,
            home_region: "us-east-1".into(),
            images: Default::default(),
            shares: Default::default(),
            rollout: vec![],
            created_at: t,
            updated_at: t,
            deprecated_at: None,
            image_tags: None,
        }],
    }
}

#[tokio::test]
async fn locks_exclude_a_second_holder_until_released() {
    let Some(moto) = moto() else { return };
    let store = store(&moto, "state-lock").await;
    let me = LockInfo::for_this_process("apply");
    store
        .lock("web", &me, Duration::from_secs(5))
        .await
        .unwrap();
    let other = LockInfo {
        owner: "ci@runner-2".into(),
        pid: 1,
        host: "runner-2".into(),
        operation: "apply".into(),
        since: me.since,
    };
    let err = store
        .lock("web", &other, Duration::from_millis(500))
        .await
        .unwrap_err();
    match &err {
        StateError::Locked { holder, .. } => assert!(holder.contains(&me.owner), "{holder}"),
        e => panic!("expected Locked, got {e}"),
    }
    store.unlock("web").await.unwrap();
    store
        .lock("web", &other, Duration::from_secs(5))
        .await
        .unwrap();
    // Our unlock does not remove someone else's lock; force_unlock does, and says whose it was.
    store.unlock("web").await.unwrap();
    let held = store
        .force_unlock("web")
        .await
        .unwrap()
        .expect("a lock was held");
    assert_eq!(held.owner, "ci@runner-2");
    assert!(store.force_unlock("web").await.unwrap().is_none());
}

#[tokio::test]
async fn a_damaged_object_is_reported_as_corrupt() {
    let Some(moto) = moto() else { return };
    let store = store(&moto, "state-corrupt").await;
    store.save(&with_marker("one"), None).await.unwrap();
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(&moto.url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .force_path_style(true)
        .build();
    Client::from_conf(conf)
        .put_object()
        .bucket("state-corrupt")
        .key("state/prod/web.json")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"{\"format\": 1, \"revision\": 0",
        ))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        store.load("web").await,
        Err(StateError::Corrupt { .. })
    ));
}

/// A run's journal lives beside the state: appended record by record, read back in order (past ten
/// records, so the order is the sequence number's, not the key's first digit), listed among runs,
/// never mistaken for a recipe, and forgotten as a whole.
#[tokio::test]
async fn run_journals_append_read_back_in_order_and_are_forgotten() {
    let Some(moto) = moto() else { return };
    let store = store(&moto, "state-runs").await;
    store.save(&with_marker("one"), None).await.unwrap();
    for seq in 0..12u64 {
        let record = format!("{{\"n\":{seq}}}");
        store
            .append_run("r1-a", seq, record.as_bytes())
            .await
            .unwrap();
    }
    store.append_run("r2-b", 0, b"{}").await.unwrap();
    assert_eq!(store.runs().await.unwrap(), ["r1-a", "r2-b"]);
    assert_eq!(store.list().await.unwrap(), ["web"], "runs are not recipes");
    let back: Vec<String> = store
        .read_run("r1-a")
        .await
        .unwrap()
        .into_iter()
        .map(|b| String::from_utf8(b).unwrap())
        .collect();
    let want: Vec<String> = (0..12).map(|n| format!("{{\"n\":{n}}}")).collect();
    assert_eq!(back, want);
    // A record is never replaced: the same sequence number with other bytes is refused.
    assert!(store.append_run("r1-a", 3, b"{\"n\":99}").await.is_err());
    // ... while the SDK's own retry of the same record succeeds.
    store.append_run("r1-a", 3, b"{\"n\":3}").await.unwrap();
    store.remove_run("r1-a").await.unwrap();
    assert_eq!(store.runs().await.unwrap(), ["r2-b"]);
    assert!(store.read_run("r1-a").await.unwrap().is_empty());
    assert!(store.read_run("../x").await.is_err(), "run ids are checked");
}
