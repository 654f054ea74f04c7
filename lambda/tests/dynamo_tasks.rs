//! `DynamoTaskStore` (Tasks extension records) against a DynamoDB-compatible server on loopback
//! (moto in server mode, started by `tests/run-lambda.sh`): the core's task-store contract. Ignored
//! by a plain `cargo test`; run with
//! `AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:PORT cargo test -p mcp-edge-lambda --test dynamo_tasks -- --ignored`.

use std::sync::Arc;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use mcp_edge_core::port::Clock;
use mcp_edge_core::task_contract;
use mcp_edge_lambda::items::VersionedItems;
use mcp_edge_lambda::store::{StoreCalls, KEY};
use mcp_edge_lambda::task_store::DynamoTaskStore;
use mcp_edge_native::SystemClock;

#[tokio::test]
#[ignore = "needs a DynamoDB-compatible server (tests/run-lambda.sh starts moto)"]
async fn the_dynamodb_task_store_keeps_the_contract() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB must point at a local DynamoDB-compatible server");
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "store tests only talk to loopback"
    );
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&conf);
    let name = format!("tasks-{}", SystemClock.now());
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(KEY)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(KEY)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create table");
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
