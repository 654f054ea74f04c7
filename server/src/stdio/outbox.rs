//! The outbox of a client session: messages a child sends for one session (notifications, server
//! requests, related messages of JSON-answered calls), queued until the session's GET stream, legacy
//! SSE stream or WebSocket takes them. Bounded: the oldest message goes when it is full.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::Notify;

/// Messages queued for a session's GET stream before the client reads them.
const OUTBOX_LIMIT: usize = 1024;

/// Messages from a child for one client session, waiting for its GET stream.
#[derive(Default)]
pub struct Outbox {
    pub(super) queue: Mutex<VecDeque<Value>>,
    notify: Notify,
    dropped: AtomicU64,
    closed: AtomicBool,
    /// No stream will ever read it (a 2026-07-28 caller's bridged session): nothing is queued.
    unread: AtomicBool,
}

impl Outbox {
    /// The outbox of a session no stream reads (2026-07-28 has no standalone stream): the child's
    /// messages outside a call are dropped, and its requests outside a call refused.
    pub fn unread() -> Self {
        let o = Outbox::default();
        o.unread.store(true, Ordering::Release);
        o
    }

    /// Whether no stream reads this outbox.
    pub fn is_unread(&self) -> bool {
        self.unread.load(Ordering::Acquire)
    }

    /// Marks the session ended and wakes its stream, which then ends.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    /// Whether the session ended.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Queues a message for the session's stream.
    pub fn push(&self, message: Value) {
        if self.is_unread() {
            return;
        }
        if let Ok(mut q) = self.queue.lock() {
            if q.len() >= OUTBOX_LIMIT {
                q.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            q.push_back(message);
        }
        self.notify.notify_one();
    }

    /// Takes everything queued.
    pub fn drain(&self) -> Vec<Value> {
        self.queue
            .lock()
            .map(|mut q| q.drain(..).collect())
            .unwrap_or_default()
    }

    /// Resolves when something was pushed since the last drain.
    pub async fn changed(&self) {
        self.notify.notified().await;
    }
}
