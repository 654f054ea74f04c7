//! The legacy SSE outbox port: messages for a session's `/sse` stream, for platforms where the stream
//! and the `POST /messages` that answers on it run in different instances (AWS Lambda).
//!
//! Each message is its own entry, appended without a compare-and-set on the session record (before,
//! every `POST /messages` rewrote one outbox in the record, and 20 concurrent calls from 16 execution
//! environments exhausted the gateway's 8 compare-and-set attempts: 503 "session storage failed").
//! Appends never conflict with each other; the stream's holder reads what follows its position, in
//! append order, and reading from a position drops what came before it (delivered).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::port::{BoxFuture, MaybeSendSync, UnixMillis};
use crate::session::{SessionId, StoreError};

/// Most messages one [`Outbox::read`] returns (a poll delivers the rest next time).
pub const READ_LIMIT: usize = 25;

/// Where a session's undelivered legacy SSE messages wait.
pub trait Outbox: MaybeSendSync {
    /// Appends `messages` in order to session `id`'s outbox, kept at least until `expires_at`.
    /// Concurrent appends never conflict; each message gets the next position.
    fn append<'a>(
        &'a self,
        id: &'a SessionId,
        messages: &'a [String],
        expires_at: UnixMillis,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Up to [`READ_LIMIT`] messages after position `after` (0: from the start), in append order,
    /// each with its position (1, 2, …, never reused). Messages at or before `after` are delivered
    /// and may be dropped.
    fn read<'a>(
        &'a self,
        id: &'a SessionId,
        after: u64,
    ) -> BoxFuture<'a, Result<Vec<(u64, String)>, StoreError>>;
    /// Drops the session's outbox (the session ended); clearing an absent outbox is not an error.
    fn clear<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// One session's messages in memory: `base` messages were dropped before the first queued one.
#[derive(Debug, Default)]
struct Queue {
    base: u64,
    messages: VecDeque<String>,
}

/// An [`Outbox`] in process memory, for tests and single-process use.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    queues: Mutex<HashMap<SessionId, Queue>>,
}

fn poisoned() -> StoreError {
    StoreError::Backend("memory outbox lock poisoned".into())
}

impl Outbox for MemoryOutbox {
    fn append<'a>(
        &'a self,
        id: &'a SessionId,
        messages: &'a [String],
        _expires_at: UnixMillis,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self.queues.lock().map_err(|_| poisoned()).map(|mut q| {
            q.entry(id.clone())
                .or_default()
                .messages
                .extend(messages.iter().cloned());
        });
        Box::pin(async move { result })
    }

    fn read<'a>(
        &'a self,
        id: &'a SessionId,
        after: u64,
    ) -> BoxFuture<'a, Result<Vec<(u64, String)>, StoreError>> {
        let result = self.queues.lock().map_err(|_| poisoned()).map(|mut q| {
            let Some(queue) = q.get_mut(id) else {
                return Vec::new();
            };
            while queue.base < after && queue.messages.pop_front().is_some() {
                queue.base += 1;
            }
            (queue.base + 1..)
                .zip(queue.messages.iter().cloned())
                .take(READ_LIMIT)
                .collect()
        });
        Box::pin(async move { result })
    }

    fn clear<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>> {
        let result = self.queues.lock().map_err(|_| poisoned()).map(|mut q| {
            q.remove(id);
        });
        Box::pin(async move { result })
    }
}
