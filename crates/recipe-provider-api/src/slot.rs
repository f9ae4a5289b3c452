//! Call slots: `--parallelism` bounds the actions doing work at once, not the actions waiting.
//!
//! An action starts holding one slot. While it waits (a poll for an image, a backoff before a retry,
//! the rate limiter) it runs the wait inside [`idle`], which gives the slot back and takes one again
//! when the wait is over. Fifty builds waiting for their images therefore leave every slot free for
//! the calls of other actions.
//!
//! The engine gives each action its [`Slot`] ([`Slot::scope`]); providers only call [`idle`].

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

tokio::task_local! {
    static SLOT: Arc<Slot>;
}

/// The slot of one running action.
pub struct Slot {
    slots: Arc<Semaphore>,
    held: Mutex<Held>,
}

struct Held {
    permit: Option<OwnedSemaphorePermit>,
    /// Waits in progress in this action (an action may wait on several things at once).
    idle: usize,
}

impl Slot {
    /// The slot of an action that starts holding `permit` from `slots`.
    pub fn new(slots: Arc<Semaphore>, permit: OwnedSemaphorePermit) -> Arc<Slot> {
        Arc::new(Slot {
            slots,
            held: Mutex::new(Held {
                permit: Some(permit),
                idle: 0,
            }),
        })
    }

    /// Run `f` (the action's task) with this slot as its own.
    pub async fn scope<F: Future>(self: Arc<Self>, f: F) -> F::Output {
        SLOT.scope(self, f).await
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn go_idle(&self) {
        let mut h = self.held();
        h.idle += 1;
        h.permit = None;
    }

    fn stop_idle(&self) {
        let mut h = self.held();
        h.idle = h.idle.saturating_sub(1);
    }

    /// Hold a slot again, unless another wait of this action is still in progress (it takes the
    /// slot back when it ends).
    async fn take_back(&self) {
        {
            let h = self.held();
            if h.idle > 0 || h.permit.is_some() {
                return;
            }
        }
        let Ok(permit) = Arc::clone(&self.slots).acquire_owned().await else {
            return;
        };
        let mut h = self.held();
        if h.idle == 0 && h.permit.is_none() {
            h.permit = Some(permit);
        }
    }
}

/// Leaves the idle state however the wait ends (a wait cut short by a timeout included).
struct Idle(Arc<Slot>);

impl Drop for Idle {
    fn drop(&mut self) {
        self.0.stop_idle();
    }
}

/// Run `f`, a wait, without holding the current action's call slot; outside an action (observing,
/// tests) it simply runs `f`.
pub async fn idle<F: Future>(f: F) -> F::Output {
    let Ok(slot) = SLOT.try_with(Arc::clone) else {
        return f.await;
    };
    slot.go_idle();
    let guard = Idle(Arc::clone(&slot));
    let out = f.await;
    drop(guard);
    slot.take_back().await;
    out
}

/// Make sure the current action holds a slot (before an attempt: a wait cut short by a timeout
/// leaves it without one).
pub async fn hold() {
    if let Ok(slot) = SLOT.try_with(Arc::clone) {
        slot.take_back().await;
    }
}
