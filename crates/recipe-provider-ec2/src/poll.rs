//! Coalesced pollers: every image waiting in one region is checked with one DescribeImages call per
//! tick, however many there are.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

type Waiter = oneshot::Sender<Result<(), String>>;

/// Waits for images to become available, one poll per region per tick.
pub struct ImagePoller {
    tick: Duration,
    regions: Mutex<HashMap<String, HashMap<String, Vec<Waiter>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ImagePoller {
    /// A poller that checks every `tick`.
    pub fn new(tick: Duration) -> Arc<ImagePoller> {
        Arc::new(ImagePoller {
            tick,
            regions: Mutex::new(HashMap::new()),
        })
    }

    /// Wait until `image` in `region` is available (`Err` if it failed).
    pub async fn wait_available(
        self: &Arc<Self>,
        region: &str,
        client: aws_sdk_ec2::Client,
        image: &str,
    ) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut regions = lock(&self.regions);
            let first = !regions.contains_key(region);
            regions
                .entry(region.to_string())
                .or_default()
                .entry(image.to_string())
                .or_default()
                .push(tx);
            first
        };
        if start {
            let me = Arc::clone(self);
            let region = region.to_string();
            tokio::spawn(async move { me.run(region, client).await });
        }
        rx.await
            .unwrap_or_else(|_| Err("the poller stopped".into()))
    }

    async fn run(self: Arc<Self>, region: String, client: aws_sdk_ec2::Client) {
        loop {
            tokio::time::sleep(self.tick).await;
            let ids: Vec<String> = {
                let mut regions = lock(&self.regions);
                let Some(waiting) = regions.get(&region) else {
                    return;
                };
                if waiting.is_empty() {
                    regions.remove(&region);
                    return;
                }
                waiting.keys().cloned().collect()
            };
            // One call for every image waiting in this region.
            let Ok(out) = client
                .describe_images()
                .set_image_ids(Some(ids))
                .send()
                .await
            else {
                continue;
            };
            let mut regions = lock(&self.regions);
            let Some(waiting) = regions.get_mut(&region) else {
                return;
            };
            for img in out.images() {
                let (Some(id), Some(state)) = (img.image_id(), img.state()) else {
                    continue;
                };
                let result = match state.as_str() {
                    "available" => Ok(()),
                    "pending" => continue,
                    other => Err(format!(
                        "image {id} is {other}: {}",
                        img.state_reason()
                            .and_then(|r| r.message())
                            .unwrap_or("no reason given")
                    )),
                };
                for w in waiting.remove(id).unwrap_or_default() {
                    let _ = w.send(result.clone());
                }
            }
        }
    }
}
