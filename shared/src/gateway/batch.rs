//! Limits on JSON-RPC batches: how many messages one may hold, and how many bytes its replies may
//! take. Without them a 4 MB batch of 82,000 `tools/list` requests produced a 128 MB reply.

use serde_json::value::RawValue;
use serde_json::Value;

use super::McpApp;
use crate::error::McpError;
use crate::protocol;

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
    pub(crate) fn refusal(&self, id: &Value) -> Box<RawValue> {
        let e = McpError::InvalidRequest(format!(
            "Invalid Request: the replies to this batch exceed {} bytes; send this request alone or in a smaller batch",
            self.limit
        ));
        protocol::encode(&protocol::failure(id, &e.to_jsonrpc()))
    }

    /// Counts `reply` to request `id`; a reply that does not fit is replaced by the refusal.
    pub(crate) fn take(&mut self, reply: Box<RawValue>, id: &Value) -> Box<RawValue> {
        let Some(left) = self.left else {
            return reply;
        };
        let size = reply.get().len();
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
        let reply = |n: usize| {
            protocol::encode(
                &json!({"jsonrpc": "2.0", "id": n, "result": {"text": "x".repeat(40)}}),
            )
        };
        let tree = |r: Box<RawValue>| serde_json::from_str::<Value>(r.get()).unwrap();
        let size = reply(1).get().len();
        let mut budget = ReplyBudget::new(true, size * 2 + 5);
        assert_eq!(budget.take(reply(1), &json!(1)).get(), reply(1).get());
        assert_eq!(budget.take(reply(2), &json!(2)).get(), reply(2).get());
        assert!(!budget.spent());
        let third = tree(budget.take(reply(3), &json!(3)));
        assert_eq!(third["id"], 3);
        assert_eq!(third["error"]["code"], -32600);
        let msg = third["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(&format!("exceed {} bytes", size * 2 + 5)),
            "{msg}"
        );
        assert!(budget.spent());
        // A small reply after the bound was crossed is refused too: replies stay in order and whole.
        let small = protocol::encode(&json!({"id": 4}));
        assert_eq!(tree(budget.take(small, &json!(4)))["error"]["code"], -32600);
        // Single messages are not bounded here.
        let mut single = ReplyBudget::new(false, 1);
        assert_eq!(single.take(reply(1), &json!(1)).get(), reply(1).get());
    }
}
