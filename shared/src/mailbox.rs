//! Requests to the client where the tool call, the session's `GET` stream and the client's answer
//! may each run in a different instance (AWS Lambda execution environments): [`StoredClientRequests`].
//!
//! The request goes into the session's [`Outbox`] (the stream's holder polls it, as it does for the
//! legacy `/sse` stream), and the answer into a [`Mailbox`] slot keyed by session and request id,
//! which the asking instance polls every [`POLL_MS`] until its bounded wait ends. The slot is opened
//! before the request is sent and only an open slot of the *same* session accepts an answer, so a
//! late, unknown or another session's answer is refused. Every slot carries an expiry for the
//! store's TTL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::outbox::Outbox;
use crate::port::{BoxFuture, Clock, MaybeSendSync, Sleeper, UnixMillis};
use crate::sampling::{ClientRequestError, ClientRequests};
use crate::session::{SessionId, StoreError};

/// How often the asking instance reads its slot: one store read each time; a client's model takes
/// seconds, so a quarter second adds little latency.
pub const POLL_MS: u64 = 250;

/// Longest any request waits, whatever the caller asks (the analysis tool allows 600 s): bounds the
/// poll loop by itself.
pub const MAX_WAIT_MS: u64 = 15 * 60 * 1000;

/// Where clients' answers to the gateway's requests wait for the instance that asked.
pub trait Mailbox: MaybeSendSync {
    /// Opens the slot for the answer to request `id` of `session`, kept until `expires_at`.
    fn open<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
        expires_at: UnixMillis,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Puts `answer` (`{"result": …}` or `{"error": …}`) into the open, unanswered slot of
    /// `session` and `id`; `Ok(false)` when there is none (late, unknown, answered, another
    /// session's).
    fn deliver<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
        answer: &'a Value,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// The answer, once delivered (the slot is then removed); `None` while it waits.
    fn take<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, StoreError>>;
    /// Removes the slot (the asker gave up); removing an absent slot is not an error.
    fn close<'a>(&'a self, session: &'a str, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// A [`Mailbox`] in process memory, for tests and single-process use.
#[derive(Debug, Default)]
pub struct MemoryMailbox {
    slots: Mutex<HashMap<(String, String), Option<Value>>>,
}

fn poisoned() -> StoreError {
    StoreError::Backend("memory mailbox lock poisoned".into())
}

impl Mailbox for MemoryMailbox {
    fn open<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
        _expires_at: UnixMillis,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let r = self.slots.lock().map_err(|_| poisoned()).map(|mut s| {
            s.insert((session.to_owned(), id.to_owned()), None);
        });
        Box::pin(async move { r })
    }

    fn deliver<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
        answer: &'a Value,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let r = self.slots.lock().map_err(|_| poisoned()).map(|mut s| {
            match s.get_mut(&(session.to_owned(), id.to_owned())) {
                Some(slot @ None) => {
                    *slot = Some(answer.clone());
                    true
                }
                _ => false,
            }
        });
        Box::pin(async move { r })
    }

    fn take<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, StoreError>> {
        let r = self.slots.lock().map_err(|_| poisoned()).map(|mut s| {
            let key = (session.to_owned(), id.to_owned());
            match s.get(&key) {
                Some(Some(_)) => s.remove(&key).flatten(),
                _ => None,
            }
        });
        Box::pin(async move { r })
    }

    fn close<'a>(&'a self, session: &'a str, id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let r = self.slots.lock().map_err(|_| poisoned()).map(|mut s| {
            s.remove(&(session.to_owned(), id.to_owned()));
        });
        Box::pin(async move { r })
    }
}

/// [`ClientRequests`] through stored items: the request is appended to the session's outbox, the
/// answer awaited in a mailbox slot (see the module documentation).
pub struct StoredClientRequests {
    outbox: Arc<dyn Outbox>,
    mailbox: Arc<dyn Mailbox>,
    sleeper: Arc<dyn Sleeper>,
    clock: Arc<dyn Clock>,
}

impl StoredClientRequests {
    /// Requests through `outbox`, answers through `mailbox`, polled with `sleeper` against `clock`.
    pub fn new(
        outbox: Arc<dyn Outbox>,
        mailbox: Arc<dyn Mailbox>,
        sleeper: Arc<dyn Sleeper>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        StoredClientRequests {
            outbox,
            mailbox,
            sleeper,
            clock,
        }
    }
}

fn unusable(e: StoreError) -> ClientRequestError {
    ClientRequestError::Unsupported(format!("the request could not be stored: {e}"))
}

/// A client's answer in a slot: `{"result": …}` is `Ok`, anything else `Err(error object)`.
fn outcome_of(answer: Value) -> Result<Value, Value> {
    match answer {
        Value::Object(mut m) if m.contains_key("result") => {
            Ok(m.remove("result").unwrap_or_default())
        }
        Value::Object(mut m) => Err(m.remove("error").unwrap_or_default()),
        other => Err(other),
    }
}

impl ClientRequests for StoredClientRequests {
    fn ask<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
        message: String,
    ) -> BoxFuture<'a, Result<Result<Value, Value>, ClientRequestError>> {
        Box::pin(async move {
            let sid = SessionId::parse(session).ok_or_else(|| {
                ClientRequestError::Unsupported("the session id cannot key a stored request".into())
            })?;
            let started = self.clock.now();
            let expires = started.saturating_add(MAX_WAIT_MS);
            self.mailbox
                .open(session, id, expires)
                .await
                .map_err(unusable)?;
            if let Err(e) = self.outbox.append(&sid, &[message], expires).await {
                let _ = self.mailbox.close(session, id).await;
                return Err(unusable(e));
            }
            // Bounded by count and by time; the caller's own wait usually ends it first.
            for _ in 0..=(MAX_WAIT_MS / POLL_MS) {
                // A failed read is retried on the next poll, as the stream's holder does.
                if let Ok(Some(answer)) = self.mailbox.take(session, id).await {
                    return Ok(outcome_of(answer));
                }
                if self.clock.now().saturating_sub(started) >= MAX_WAIT_MS {
                    break;
                }
                self.sleeper.sleep(POLL_MS).await;
            }
            let _ = self.mailbox.close(session, id).await;
            Err(ClientRequestError::Timeout(MAX_WAIT_MS))
        })
    }

    fn answer<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
        outcome: Result<Value, Value>,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let answer = match outcome {
                Ok(result) => serde_json::json!({ "result": result }),
                Err(error) => serde_json::json!({ "error": error }),
            };
            self.mailbox
                .deliver(session, id, &answer)
                .await
                .unwrap_or(false)
        })
    }

    fn forget<'a>(&'a self, session: &'a str, id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let _ = self.mailbox.close(session, id).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::MemoryOutbox;
    use futures::executor::block_on;
    use serde_json::json;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Polls a memory port's future (always ready) inside a running `block_on`.
    fn now<T>(f: BoxFuture<'_, Result<T, StoreError>>) -> Result<T, StoreError> {
        futures::FutureExt::now_or_never(f).expect("memory ports are ready at once")
    }

    const S1: &str = "0123456789abcdef0123456789abcdef";
    const S2: &str = "fedcba9876543210fedcba9876543210";

    /// A clock that a sleep moves forward, and a hook that runs after the n-th sleep.
    struct Time(AtomicU64);
    impl Clock for Time {
        fn now(&self) -> UnixMillis {
            self.0.load(Ordering::SeqCst)
        }
    }
    struct Sleeps {
        time: Arc<Time>,
        hook: Box<dyn Fn(u64) + Send + Sync>,
        count: AtomicU64,
    }
    impl Sleeper for Sleeps {
        fn sleep(&self, ms: u64) -> BoxFuture<'_, ()> {
            self.time.0.fetch_add(ms, Ordering::SeqCst);
            (self.hook)(self.count.fetch_add(1, Ordering::SeqCst) + 1);
            Box::pin(async {})
        }
    }

    fn port(
        hook: impl Fn(&MemoryMailbox, u64) + Send + Sync + 'static,
    ) -> (StoredClientRequests, Arc<MemoryOutbox>, Arc<Sleeps>) {
        let mailbox = Arc::new(MemoryMailbox::default());
        let outbox = Arc::new(MemoryOutbox::default());
        let time = Arc::new(Time(AtomicU64::new(1_000)));
        let m = mailbox.clone();
        let sleeps = Arc::new(Sleeps {
            time: time.clone(),
            hook: Box::new(move |n| hook(&m, n)),
            count: AtomicU64::new(0),
        });
        let p = StoredClientRequests::new(outbox.clone(), mailbox, sleeps.clone(), time);
        (p, outbox, sleeps)
    }

    #[test]
    fn the_request_goes_to_the_outbox_and_the_answer_comes_through_the_slot() {
        // The answer arrives (from "another instance") after the third poll.
        let (p, outbox, sleeps) = port(|m, n| {
            if n == 3 {
                assert!(now(m.deliver(S1, "mcp-edge-1", &json!({"result": {"ok": 1}}))).unwrap());
            }
        });
        let answer = block_on(p.ask(S1, "mcp-edge-1", "{\"id\":\"mcp-edge-1\"}".into()));
        assert_eq!(answer, Ok(Ok(json!({"ok": 1}))));
        assert_eq!(sleeps.count.load(Ordering::SeqCst), 3);
        let sent = block_on(outbox.read(&SessionId::parse(S1).unwrap(), 0)).unwrap();
        assert_eq!(sent, vec![(1, "{\"id\":\"mcp-edge-1\"}".to_owned())]);
        // The slot is gone: a second answer finds nobody.
        assert!(!block_on(p.answer(S1, "mcp-edge-1", Ok(json!(2)))));
    }

    #[test]
    fn only_the_asking_sessions_open_slot_takes_an_answer_and_an_error_is_passed_on() {
        let (p, _, _) = port(|m, n| {
            if n == 1 {
                // Another session answering the same id, and an unknown id, are refused.
                assert!(!now(m.deliver(S2, "mcp-edge-1", &json!({"result": 1}))).unwrap());
                assert!(!now(m.deliver(S1, "mcp-edge-9", &json!({"result": 1}))).unwrap());
                assert!(now(m.deliver(S1, "mcp-edge-1", &json!({"error": {"code": -1}}))).unwrap());
                // Answered once: a second answer is refused.
                assert!(!now(m.deliver(S1, "mcp-edge-1", &json!({"result": 1}))).unwrap());
            }
        });
        let answer = block_on(p.ask(S1, "mcp-edge-1", "{}".into()));
        assert_eq!(answer, Ok(Err(json!({"code": -1}))));
    }

    #[test]
    fn an_unanswered_request_ends_at_the_bound_and_closes_its_slot() {
        let (p, _, sleeps) = port(|_, _| {});
        let answer = block_on(p.ask(S1, "mcp-edge-1", "{}".into()));
        assert_eq!(answer, Err(ClientRequestError::Timeout(MAX_WAIT_MS)));
        assert_eq!(sleeps.count.load(Ordering::SeqCst), MAX_WAIT_MS / POLL_MS);
        assert!(!block_on(p.answer(S1, "mcp-edge-1", Ok(json!(1)))));
    }
}
