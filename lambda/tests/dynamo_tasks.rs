//! `DynamoTaskStore` (Tasks extension records) against a DynamoDB-compatible server on loopback
//! (moto in server mode, started by `tests/run-lambda.sh`): the core's task-store contract. Ignored
//! by a plain `cargo test`; run with
//! `AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:PORT cargo test -p mcp-edge-lambda --test dynamo_tasks -- --ignored`.

use std::sync::Arc;

use mcp_edge_core::port::Clock;
use mcp_edge_core::task_contract;
use mcp_edge_lambda::items::VersionedItems;
use mcp_edge_lambda::store::StoreCalls;
use mcp_edge_lambda::task_store::DynamoTaskStore;
use mcp_edge_native::SystemClock;

mod common;
use common::{client, table};

#[tokio::test]
#[ignore = "needs a DynamoDB-compatible server (tests/run-lambda.sh starts moto)"]
async fn the_dynamodb_task_store_keeps_the_contract() {
    let client = client().await;
    let name = table(&client, "tasks").await;
    let items = VersionedItems::new(
        client.clone(),
        name.clone(),
        Arc::new(StoreCalls::default()),
    );
    let store = DynamoTaskStore::new(items, client, name);
    let now = SystemClock.now();
    for case in task_contract::TASK_CASES {
        task_contract::run_task_case(&store, case, now, now)
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
    }
}
