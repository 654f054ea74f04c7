//! One request forwarded to a child, streamed back: the messages related to it (progress, server
//! requests made while handling it), then its answer, within the server's request timeout. A call
//! dropped before its answer (the client went away) cancels the request at the child.

use std::sync::Arc;
use std::time::Duration;

use mcp_edge_core::error::McpError;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::child::Child;

/// What a [`Call`] needs from the supervisor that forwarded it (so this module does not depend on
/// the supervisor, which itself makes calls).
pub(super) trait CallOwner: Send + Sync {
    /// The server's name, for error messages.
    fn server(&self) -> &str;
    /// How long a request waits for its answer.
    fn request_timeout(&self) -> Duration;
    /// Forgets the request `id` at the relay; whether it was still waiting for its answer.
    fn abandon(&self, id: u64) -> bool;
}

/// The waiter of a forwarded request: messages related to it, then its answer (id restored).
pub(super) type Waiter = mpsc::UnboundedSender<Value>;

/// What a [`Call`] yields.
pub enum Step {
    /// A message related to the request (progress, a server request made while handling it).
    Related(Value),
    /// The answer, or why there is none; nothing follows.
    Answer(Result<Value, McpError>),
}

/// A request forwarded to a child, until its answer.
pub struct Call {
    /// The supervisor that forwarded the request.
    pub(super) owner: Arc<dyn CallOwner>,
    /// The child the request went to.
    pub(super) child: Arc<Child>,
    /// The request's id at the child (the relay's).
    pub(super) id: u64,
    /// Messages for this request, then its answer.
    pub(super) rx: mpsc::UnboundedReceiver<Value>,
    /// When the call times out.
    pub(super) deadline: tokio::time::Instant,
    /// Whether the answer (or the failure) was yielded.
    pub(super) done: bool,
}

impl Call {
    /// The next message for the client: related messages first, the answer last.
    pub async fn next(&mut self) -> Step {
        if self.done {
            return Step::Answer(Err(McpError::Internal("call already answered".into())));
        }
        match tokio::time::timeout_at(self.deadline, self.rx.recv()).await {
            Ok(Some(m)) if m.get("method").is_some() => Step::Related(m),
            Ok(Some(m)) => {
                self.done = true;
                Step::Answer(Ok(m))
            }
            Ok(None) => {
                self.done = true;
                Step::Answer(Err(exited_error(self.owner.server(), &self.child).await))
            }
            Err(_) => {
                self.done = true;
                self.owner.abandon(self.id);
                let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": self.id, "reason": "timed out at the bridge"}});
                let _ = self.child.send(&cancel).await;
                Step::Answer(Err(McpError::Backend(format!(
                    "server '{}' did not answer within {} s",
                    self.owner.server(),
                    self.owner.request_timeout().as_secs()
                ))))
            }
        }
    }
}

impl Drop for Call {
    /// A client that leaves before the answer cancels the request at the child.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.owner.abandon(self.id) {
            let child = self.child.clone();
            let id = self.id;
            tokio::spawn(async move {
                let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id, "reason": "the client went away"}});
                let _ = child.send(&cancel).await;
            });
        }
    }
}

/// The error for a request whose child went away: how it ended and what it last said.
pub(super) async fn exited_error(server: &str, child: &Child) -> McpError {
    let exit = child
        .exit_status(Duration::from_secs(2))
        .await
        .unwrap_or_else(|| "stopped".into());
    let tail = child.stderr_tail();
    McpError::Backend(format!(
        "server '{}' exited before answering ({exit}){}; it is restarted on the next request",
        server,
        if tail.is_empty() {
            String::new()
        } else {
            format!("; last stderr: {tail}")
        }
    ))
}
