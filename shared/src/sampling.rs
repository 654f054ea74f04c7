//! Requests the gateway's own tools make of the client during a tool call: `sampling/createMessage`
//! (a tool asks the *client's* model instead of holding a model key), `elicitation/create` (a form
//! for the person, built and read by [`crate::elicitation`]) and `roots/list`.
//!
//! The core decides everything: whether the client declared the capability, the request's id and
//! shape, the bounded wait, and what a timeout or an error answer means. A platform implements only
//! [`ClientRequests`]: put the request on the session's open `GET` stream and hand back the
//! client's answer when its POST arrives (in process natively, in the session's Durable Object on
//! the Worker, through stored items on the Lambda: [`crate::mailbox::StoredClientRequests`]). Where
//! no platform implements it, tools see [`ClientRequestError::Unsupported`].
//!
//! The request is built by pure functions ([`create_message_params`]) so the 2026-07-28
//! `input_required` flow, where the server returns the request inside a result instead of sending
//! it, reuses the same params and parses the same answer with [`sampled_text`]. A tool written for
//! that flow (it answers [`crate::tool::ToolOutput::InputRequired`]) also runs in a 2025 session:
//! the gateway sends each input request on the session's stream with [`ClientChannel::ask`] and
//! calls the tool again with the answers.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::port::{BoxFuture, Entropy, MaybeSendSync, Sleeper};
use crate::transport::sse::SseEvent;

/// Why a request to the client got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientRequestError {
    /// The client did not declare the capability at `initialize`.
    #[error("the client did not declare the '{0}' capability")]
    NotDeclared(&'static str),
    /// The transport or platform cannot carry a request to the client during a tool call.
    #[error("this transport cannot send requests to the client during a tool call ({0})")]
    Unsupported(String),
    /// The session has no open stream the request could go on.
    #[error(
        "the session has no open GET stream to carry the request; open one (GET /mcp) and retry"
    )]
    NoStream,
    /// No answer within the bound.
    #[error("the client did not answer within {0} ms")]
    Timeout(u64),
    /// The client answered with a JSON-RPC error.
    #[error("the client refused: {0}")]
    Refused(String),
    /// The client's answer did not have the expected shape.
    #[error("the client's answer was not usable: {0}")]
    Malformed(String),
}

/// The platform side: deliver a request frame to a session's client, and resolve it with the
/// client's answer.
pub trait ClientRequests: MaybeSendSync {
    /// Sends `message` (the JSON-RPC request with id `id`, as text) on one of the session's open
    /// standalone streams and resolves with the client's answer: `Ok(result)` or `Err(error
    /// object)`. Registers the waiter *before* sending. Must not wait unboundedly for the stream
    /// itself: `Err(ClientRequestError::NoStream)` when none is open.
    fn ask<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
        message: String,
    ) -> BoxFuture<'a, Result<Result<Value, Value>, ClientRequestError>>;
    /// Passes a client's answer to the request waiting for it; `false` when nobody waits (late,
    /// unknown, or another session's id).
    fn answer<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
        outcome: Result<Value, Value>,
    ) -> BoxFuture<'a, bool>;
    /// Forgets a waiter that gave up (after a timeout).
    fn forget<'a>(&'a self, session: &'a str, id: &'a str) -> BoxFuture<'a, ()>;
}

/// How long the gateway's own requests to a 2025 client wait for the answer when the tool names no
/// bound: a person filling a form or a model answering takes seconds to minutes.
pub const DEFAULT_WAIT_MS: u64 = 120_000;

/// How often a request looks again for the session's GET stream, and how long it waits between.
const STREAM_RETRIES: u32 = 20;
const STREAM_RETRY_MS: u64 = 50;

/// Prefix of the ids the gateway gives its own requests (clients echo them in their answers).
pub const ID_PREFIX: &str = "mcp-edge-";

/// What a tool sees of its client: whether it can be asked, and the way to ask.
pub struct ClientChannel<'a> {
    /// The session the call runs in.
    pub session: &'a str,
    /// The capabilities the client declared at `initialize`.
    pub capabilities: &'a Value,
    pub(crate) port: Option<&'a Arc<dyn ClientRequests>>,
    pub(crate) sleeper: Option<&'a Arc<dyn Sleeper>>,
    pub(crate) entropy: &'a dyn Entropy,
}

impl ClientChannel<'_> {
    /// Whether the client declared `sampling`.
    pub fn can_sample(&self) -> bool {
        self.declares("sampling")
    }

    /// Whether the client declared `capability` (`sampling`, `elicitation`, `roots`) at `initialize`.
    pub fn declares(&self, capability: &str) -> bool {
        self.capabilities
            .get(capability)
            .is_some_and(Value::is_object)
    }

    /// Sends `sampling/createMessage` with `params` and waits at most `wait_ms` for the result.
    pub async fn create_message(
        &self,
        params: Value,
        wait_ms: u64,
    ) -> Result<Value, ClientRequestError> {
        self.ask("sampling/createMessage", params, wait_ms).await
    }

    /// Sends the request `method` (one a client declares a capability for, see
    /// [`crate::mrtr::capability_of`]) and waits at most `wait_ms` for its result: a client that
    /// did not declare the capability is never asked ([`ClientRequestError::NotDeclared`]).
    pub async fn ask(
        &self,
        method: &str,
        params: Value,
        wait_ms: u64,
    ) -> Result<Value, ClientRequestError> {
        let Some(capability) = crate::mrtr::capability_of(method) else {
            return Err(ClientRequestError::Unsupported(format!(
                "'{method}' is not a request a client answers"
            )));
        };
        if !self.declares(capability) {
            return Err(ClientRequestError::NotDeclared(capability));
        }
        self.request(method, params, wait_ms).await
    }

    async fn request(
        &self,
        method: &str,
        params: Value,
        wait_ms: u64,
    ) -> Result<Value, ClientRequestError> {
        let Some(port) = self.port else {
            return Err(ClientRequestError::Unsupported(
                "no client-request port on this platform".into(),
            ));
        };
        let Some(sleeper) = self.sleeper else {
            // Without timers the wait could not be bounded: refuse rather than risk a hang.
            return Err(ClientRequestError::Unsupported("no timers".into()));
        };
        let mut raw = [0u8; 8];
        self.entropy.fill(&mut raw);
        let id = format!("{ID_PREFIX}{}", hex::encode(raw));
        let message =
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        // A client opens its GET stream right after `initialized`, concurrently with its first
        // calls: a missing stream is looked for again a bounded number of times.
        let mut attempts = 0;
        let answer = loop {
            let asked = port.ask(self.session, &id, message.clone());
            match futures_util::future::select(asked, sleeper.sleep(wait_ms)).await {
                futures_util::future::Either::Left((Err(ClientRequestError::NoStream), _))
                    if attempts < STREAM_RETRIES =>
                {
                    attempts += 1;
                    sleeper.sleep(STREAM_RETRY_MS).await;
                }
                futures_util::future::Either::Left((answer, _)) => break answer?,
                futures_util::future::Either::Right(_) => {
                    port.forget(self.session, &id).await;
                    return Err(ClientRequestError::Timeout(wait_ms));
                }
            }
        };
        answer.map_err(|e| {
            let msg = e["message"].as_str().unwrap_or("error without a message");
            ClientRequestError::Refused(format!("{msg} (code {})", e["code"]))
        })
    }
}

/// `sampling/createMessage` params: one user message, a system prompt, a token bound; no server
/// context is included (`includeContext: none`), so the client's model sees only `prompt`.
pub fn create_message_params(system: &str, prompt: &str, max_tokens: u64) -> Value {
    json!({
        "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
        "systemPrompt": system,
        "includeContext": "none",
        "maxTokens": max_tokens,
    })
}

/// The text of a `CreateMessageResult` (its `content` is one block, or a list of blocks in the
/// 2025-11-25 schema); `Malformed` when it carries no text.
pub fn sampled_text(result: &Value) -> Result<String, ClientRequestError> {
    let blocks: Vec<&Value> = match &result["content"] {
        Value::Array(items) => items.iter().collect(),
        v @ Value::Object(_) => vec![v],
        _ => Vec::new(),
    };
    let text: Vec<&str> = blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect();
    if text.is_empty() {
        return Err(ClientRequestError::Malformed(
            "the CreateMessageResult has no text content".into(),
        ));
    }
    Ok(text.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_carry_the_prompt_and_the_bound() {
        let p = create_message_params("sys", "look at DEMO-1", 500);
        assert_eq!(p["messages"][0]["content"]["text"], "look at DEMO-1");
        assert_eq!(p["systemPrompt"], "sys");
        assert_eq!(p["maxTokens"], 500);
        assert_eq!(p["includeContext"], "none");
    }

    #[test]
    fn sampled_text_reads_one_block_or_many() {
        let one =
            json!({"role": "assistant", "content": {"type": "text", "text": "a"}, "model": "m"});
        assert_eq!(sampled_text(&one).unwrap(), "a");
        let many = json!({"content": [{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"}]});
        assert_eq!(sampled_text(&many).unwrap(), "a\nb");
        assert!(matches!(
            sampled_text(&json!({"content": {"type": "image"}})),
            Err(ClientRequestError::Malformed(_))
        ));
    }
}

/// How a platform puts a frame on one of a session's open standalone streams (`GET /mcp`).
pub trait SessionPush: MaybeSendSync {
    /// Sends `frame` on one open standalone stream of `session`; `false` when none took it.
    fn push(&self, session: &str, frame: Bytes) -> bool;
}

type Waiter = futures_channel::oneshot::Sender<Result<Value, Value>>;

/// [`ClientRequests`] for platforms where the stream, the tool call and the client's answer meet
/// in one process or object (native server, a Worker session's Durable Object): waiters live in
/// memory, keyed by session and request id, so only the session the request went to can answer it.
pub struct InProcessClientRequests<P> {
    push: P,
    waiting: std::sync::Mutex<std::collections::HashMap<(String, String), Waiter>>,
}

impl<P: SessionPush> InProcessClientRequests<P> {
    /// Requests go out through `push`.
    pub fn new(push: P) -> Self {
        InProcessClientRequests {
            push,
            waiting: Default::default(),
        }
    }

    fn take(&self, session: &str, id: &str) -> Option<Waiter> {
        self.waiting
            .lock()
            .ok()?
            .remove(&(session.to_owned(), id.to_owned()))
    }
}

impl<P: SessionPush> ClientRequests for InProcessClientRequests<P> {
    fn ask<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
        message: String,
    ) -> BoxFuture<'a, Result<Result<Value, Value>, ClientRequestError>> {
        let frame = SseEvent::message(None, message).encode();
        let (tx, rx) = futures_channel::oneshot::channel();
        if let Ok(mut w) = self.waiting.lock() {
            w.insert((session.to_owned(), id.to_owned()), tx);
        }
        let pushed = self.push.push(session, frame);
        Box::pin(async move {
            if !pushed {
                self.take(session, id);
                return Err(ClientRequestError::NoStream);
            }
            rx.await
                .map_err(|_| ClientRequestError::Unsupported("the waiter was dropped".into()))
        })
    }

    fn answer<'a>(
        &'a self,
        session: &'a str,
        id: &'a str,
        outcome: Result<Value, Value>,
    ) -> BoxFuture<'a, bool> {
        let delivered = self
            .take(session, id)
            .is_some_and(|tx| tx.send(outcome).is_ok());
        Box::pin(async move { delivered })
    }

    fn forget<'a>(&'a self, session: &'a str, id: &'a str) -> BoxFuture<'a, ()> {
        self.take(session, id);
        Box::pin(async {})
    }
}

#[cfg(test)]
mod in_process_tests {
    use super::*;

    struct Pushes(std::sync::Mutex<Vec<(String, Bytes)>>, bool);
    impl SessionPush for Pushes {
        fn push(&self, session: &str, frame: Bytes) -> bool {
            self.0.lock().unwrap().push((session.to_owned(), frame));
            self.1
        }
    }

    #[test]
    fn only_the_asking_sessions_answer_resolves_the_request() {
        let port = InProcessClientRequests::new(Pushes(Default::default(), true));
        let asked = port.ask("s1", "mcp-edge-1", "x".into());
        // Another session answering the same id is ignored; the right one resolves it.
        assert!(!futures::executor::block_on(port.answer(
            "s2",
            "mcp-edge-1",
            Ok(json!(1))
        )));
        assert!(futures::executor::block_on(port.answer(
            "s1",
            "mcp-edge-1",
            Ok(json!(2))
        )));
        assert_eq!(futures::executor::block_on(asked), Ok(Ok(json!(2))));
        assert_eq!(port.push.0.lock().unwrap()[0].0, "s1");
        // A late answer finds nobody.
        assert!(!futures::executor::block_on(port.answer(
            "s1",
            "mcp-edge-1",
            Ok(json!(3))
        )));
    }

    #[test]
    fn no_open_stream_is_reported_not_waited_for() {
        let port = InProcessClientRequests::new(Pushes(Default::default(), false));
        let asked = port.ask("s1", "mcp-edge-1", String::new());
        assert_eq!(
            futures::executor::block_on(asked),
            Err(ClientRequestError::NoStream)
        );
        assert!(port.waiting.lock().unwrap().is_empty());
    }
}
