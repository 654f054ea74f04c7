//! Limits on JSON-RPC batches: how many messages one may hold, and how many bytes its replies may
//! take. Without them a 4 MB batch of 82,000 `tools/list` requests produced a 128 MB reply.

use serde_json::Value;

use super::McpApp;
use crate::error::McpError;
use crate::protocol;

/// Counts the bytes of a serialized value without building its text.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Size of `value` as compact JSON.
pub(crate) fn json_len(value: &Value) -> usize {
    let mut count = ByteCount(0);
    // Writing a `Value` into a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The bytes the replies to one batch may still take. Once a reply does not fit, it is replaced by
/// an error naming the bound, and every later request of the batch is refused the same way without
/// running.
pub(crate) struct ReplyBudget {
    left: Option<usize>,
    limit: usize,
}

impl ReplyBudget {
    /// A budget of `limit` bytes when `batch`, unbounded otherwise (a single reply is the tool's).
    pub(crate) fn new(batch: bool, limit: usize) -> Self {
        ReplyBudget {
            left: batch.then_some(limit),
            limit,
        }
    }

    /// Whether the budget is spent (later requests are refused without running).
    pub(crate) fn spent(&self) -> bool {
        self.left == Some(0)
    }

    /// The refusal that stands for the reply to request `id`.
    pub(crate) fn refusal(&self, id: &Value) -> Value {
        let e = McpError::InvalidRequest(format!(
            "Invalid Request: the replies to this batch exceed {} bytes; send this request alone or in a smaller batch",
            self.limit
        ));
        protocol::failure(id, &e.to_jsonrpc())
    }

    /// Counts `reply` to request `id`; a reply that does not fit is replaced by the refusal.
    pub(crate) fn take(&mut self, reply: Value, id: &Value) -> Value {
        let Some(left) = self.left else {
            return reply;
        };
        let size = json_len(&reply);
        if left == 0 || size > left {
            self.left = Some(0);
            return self.refusal(id);
        }
        self.left = Some(left - size);
        reply
    }
}

impl McpApp {
    /// Refuses a batch of `n` messages above [`super::GatewayConfig::max_batch`] (HTTP 400, -32600).
    pub(crate) fn check_batch(&self, n: usize) -> Result<(), McpError> {
        crate::transport::inbound::check_batch_len(self.config.max_batch, n)
    }

    /// A reply budget for the messages of one request.
    pub(crate) fn reply_budget(&self, batch: bool) -> ReplyBudget {
        ReplyBudget::new(batch, self.config.max_batch_reply_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn budget_refuses_replies_past_the_bound_and_everything_after() {
        let reply =
            |n: usize| json!({"jsonrpc": "2.0", "id": n, "result": {"text": "x".repeat(40)}});
        let size = json_len(&reply(1));
        assert_eq!(size, reply(1).to_string().len());
        let mut budget = ReplyBudget::new(true, size * 2 + 5);
        assert_eq!(budget.take(reply(1), &json!(1)), reply(1));
        assert_eq!(budget.take(reply(2), &json!(2)), reply(2));
        assert!(!budget.spent());
        let third = budget.take(reply(3), &json!(3));
        assert_eq!(third["id"], 3);
        assert_eq!(third["error"]["code"], -32600);
        let msg = third["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!("exceed {} bytes", size * 2 + 5)),
            "{msg}"
        );
        assert!(budget.spent());
        // A small reply after the bound was crossed is refused too: replies stay in order and whole.
        assert_eq!(
            budget.take(json!({"id": 4}), &json!(4))["error"]["code"],
            -32600
        );
        // Single messages are not bounded here.
        let mut single = ReplyBudget::new(false, 1);
        assert_eq!(single.take(reply(1), &json!(1)), reply(1));
    }
}
