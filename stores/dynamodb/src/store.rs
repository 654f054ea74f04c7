//! `DynamoSessionStore`: session records in a DynamoDB table (partition key `session_id`), with a
//! numeric `version` for compare-and-set (`ConditionExpression`) and `expires_at` in epoch seconds for
//! DynamoDB TTL. Expired items that TTL has not deleted yet are treated as absent. Every call is
//! counted so `/metrics` shows DynamoDB reads and writes per request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use mcp_edge_core::port::{BoxFuture, Clock};
use mcp_edge_core::session::{
    next_version, SessionId, SessionRecord, SessionStore, StoreError, Version,
};

/// Partition key attribute.
pub const KEY: &str = "session_id";
/// The record (JSON text; never credentials).
const RECORD: &str = "record";
/// Compare-and-set version.
const VERSION: &str = "version";
/// Expiry for DynamoDB TTL, epoch seconds.
pub const EXPIRES_AT: &str = "expires_at";

/// DynamoDB calls made by the store, for `/metrics`.
#[derive(Debug, Default)]
pub struct StoreCalls {
    /// `GetItem` calls.
    pub reads: AtomicU64,
    /// Conditional `PutItem` calls.
    pub writes: AtomicU64,
    /// `DeleteItem` calls.
    pub deletes: AtomicU64,
    /// Writes refused by their condition (lost races, surfaced to the core as conflicts).
    pub conflicts: AtomicU64,
    /// Unconditional outbox writes (`PutItem` of a message, `UpdateItem` of an outbox index).
    pub outbox: AtomicU64,
}

impl StoreCalls {
    /// Prometheus text lines.
    pub fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "# HELP mcp_edge_dynamodb_calls_total DynamoDB calls made by the session store.\n\
             # TYPE mcp_edge_dynamodb_calls_total counter\n\
             mcp_edge_dynamodb_calls_total{{op=\"read\"}} {}\n\
             mcp_edge_dynamodb_calls_total{{op=\"conditional_write\"}} {}\n\
             mcp_edge_dynamodb_calls_total{{op=\"delete\"}} {}\n\
             mcp_edge_dynamodb_calls_total{{op=\"outbox_write\"}} {}\n\
             # HELP mcp_edge_dynamodb_conflicts_total Conditional writes that lost a race.\n\
             # TYPE mcp_edge_dynamodb_conflicts_total counter\n\
             mcp_edge_dynamodb_conflicts_total {}\n",
            get(&self.reads),
            get(&self.writes),
            get(&self.deletes),
            get(&self.outbox),
            get(&self.conflicts)
        )
    }
}

/// The primary key of the item named `text`.
pub(crate) fn item_key(text: String) -> HashMap<String, AttributeValue> {
    HashMap::from([(KEY.to_owned(), AttributeValue::S(text))])
}

/// Sessions in DynamoDB.
pub struct DynamoSessionStore {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
    calls: Arc<StoreCalls>,
}

/// The SDK error text without request ids or endpoints (never secrets either way); every adapter of
/// this crate reports its failures this way.
pub(crate) fn backend<E: std::error::Error>(what: &str, e: E) -> StoreError {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    StoreError::Backend(format!("DynamoDB {what}: {text}"))
}

impl DynamoSessionStore {
    /// A store over `table`. The SDK's standard retry policy (exponential backoff with jitter)
    /// retries throttling and transient errors; `client` is built once per execution environment.
    pub fn new(client: Client, table: String, clock: Arc<dyn Clock>) -> Self {
        DynamoSessionStore {
            client,
            table,
            clock,
            calls: Arc::default(),
        }
    }

    /// The call counters.
    pub fn calls(&self) -> Arc<StoreCalls> {
        self.calls.clone()
    }

    fn decode(item: &HashMap<String, AttributeValue>) -> Result<SessionRecord, StoreError> {
        let text = item
            .get(RECORD)
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| StoreError::Corrupt("item has no record".into()))?;
        let mut rec: SessionRecord =
            serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        rec.version = item
            .get(VERSION)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| StoreError::Corrupt("item has no numeric version".into()))?;
        Ok(rec)
    }
}

impl SessionStore for DynamoSessionStore {
    fn load<'a>(
        &'a self,
        id: &'a SessionId,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(async move {
            self.calls.reads.fetch_add(1, Ordering::Relaxed);
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key(KEY, AttributeValue::S(id.as_str().to_owned()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| backend("GetItem", e))?;
            let Some(item) = out.item else {
                return Ok(None);
            };
            let rec = Self::decode(&item)?;
            // TTL deletes lazily (often within minutes, sometimes later): expired is absent.
            Ok((!rec.is_expired(self.clock.now())).then_some(rec))
        })
    }

    fn save<'a>(
        &'a self,
        rec: &'a SessionRecord,
        expected: Option<Version>,
    ) -> BoxFuture<'a, Result<Version, StoreError>> {
        Box::pin(async move {
            let next = next_version(expected);
            let text =
                serde_json::to_string(rec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(KEY, AttributeValue::S(rec.id.as_str().to_owned()))
                .item(RECORD, AttributeValue::S(text))
                .item(VERSION, AttributeValue::N(next.to_string()))
                .item(
                    EXPIRES_AT,
                    AttributeValue::N(rec.expires_at.div_ceil(1000).to_string()),
                );
            put = match expected {
                None => put.condition_expression("attribute_not_exists(#k)"),
                Some(v) => put
                    .condition_expression("#v = :expected")
                    .expression_attribute_names("#v", VERSION)
                    .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
            };
            if expected.is_none() {
                put = put.expression_attribute_names("#k", KEY);
            }
            self.calls.writes.fetch_add(1, Ordering::Relaxed);
            match put.send().await {
                Ok(_) => Ok(next),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    self.calls.conflicts.fetch_add(1, Ordering::Relaxed);
                    Err(StoreError::Conflict)
                }
                Err(e) => Err(backend("PutItem", e)),
            }
        })
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.calls.deletes.fetch_add(1, Ordering::Relaxed);
            self.client
                .delete_item()
                .table_name(&self.table)
                .key(KEY, AttributeValue::S(id.as_str().to_owned()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| backend("DeleteItem", e))
        })
    }
}
