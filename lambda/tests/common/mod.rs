//! The harness the moto-backed tests share: a client for the DynamoDB-compatible server on loopback
//! that `tests/run-lambda.sh` starts, and fresh tables with the schema `infra/terraform` declares.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use mcp_edge_core::port::Clock;
use mcp_edge_lambda::store::{EXPIRES_AT, KEY};
use mcp_edge_native::SystemClock;

/// A client for `AWS_ENDPOINT_URL_DYNAMODB`, which must be on loopback.
pub async fn client() -> aws_sdk_dynamodb::Client {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB must point at a local DynamoDB-compatible server");
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "store tests only talk to loopback"
    );
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&conf)
}

/// A fresh table named after `name` with the schema `infra/terraform` declares (key `session_id`,
/// TTL on `expires_at`).
pub async fn table(client: &aws_sdk_dynamodb::Client, name: &str) -> String {
    let name = format!("{name}-{}", SystemClock.now());
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
    client
        .update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(EXPIRES_AT)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("enable TTL");
    name
}
