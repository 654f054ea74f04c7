//! `DynamoSessionStore` against a DynamoDB-compatible server on loopback (moto in server mode, started
//! by `tests/run-lambda.sh`). Ignored by a plain `cargo test`; run with
//! `AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:PORT cargo test -p mcp-edge-lambda -- --ignored`.

use std::sync::Arc;

use mcp_edge_core::outbox::Outbox;
use mcp_edge_core::port::Clock;
use mcp_edge_core::session::{
    SessionId, SessionRecord, SessionStore, SessionTransport, StoreError,
};
use mcp_edge_core::{counter_contract, store_contract};
use mcp_edge_lambda::items::VersionedItems;
use mcp_edge_lambda::outbox::DynamoOutbox;
use mcp_edge_lambda::store::{DynamoSessionStore, EXPIRES_AT, KEY};
use mcp_edge_native::{OsEntropy, SystemClock};
use serde_json::json;

mod common;
use common::{client, table};

fn record(id: &str, expires_at: u64) -> SessionRecord {
    SessionRecord {
        id: SessionId::parse(id).unwrap(),
        protocol_version: "2025-11-25".into(),
        transport: SessionTransport::StreamableHttp,
        client_info: Some(json!({"name": "t"})),
        client_capabilities: json!({}),
        initialized: true,
        log_level: None,
        credential_fingerprint: None,
        owner: None,
        created_at: 1,
        last_seen: 1,
        expires_at,
        version: 0,
        next_stream: 1,
        events: Vec::new(),
        caller: None,
        lease_until: None,
        resource_subscriptions: Vec::new(),
    }
}

fn later() -> u64 {
    SystemClock.now() + 3_600_000
}

#[tokio::test]
#[ignore = "needs a DynamoDB-compatible server (tests/run-lambda.sh starts moto)"]
async fn create_load_compare_and_set_delete() {
    let client = client().await;
    let name = table(&client, "crud").await;
    let store = DynamoSessionStore::new(client.clone(), name.clone(), Arc::new(SystemClock));
    let rec = record("0123456789abcdef0123456789abcdef", later());
    assert!(store.load(&rec.id).await.unwrap().is_none());
    assert_eq!(store.save(&rec, None).await.unwrap(), 1);
    assert!(
        matches!(store.save(&rec, None).await, Err(StoreError::Conflict)),
        "creating an existing session is a conflict"
    );
    let loaded = store.load(&rec.id).await.unwrap().unwrap();
    assert_eq!(loaded.version, 1);
    assert_eq!(loaded.client_info, rec.client_info);
    assert_eq!(store.save(&loaded, Some(1)).await.unwrap(), 2);
    assert!(
        matches!(
            store.save(&loaded, Some(1)).await,
            Err(StoreError::Conflict)
        ),
        "a stale version loses"
    );
    // The TTL attribute is epoch seconds, rounded up.
    let item = client
        .get_item()
        .table_name(&name)
        .key(
            KEY,
            aws_sdk_dynamodb::types::AttributeValue::S(rec.id.as_str().into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let ttl: u64 = item[EXPIRES_AT].as_n().unwrap().parse().unwrap();
    assert_eq!(ttl, rec.expires_at.div_ceil(1000));
    assert!(
        !item["record"].as_s().unwrap().contains("token"),
        "no credentials stored"
    );
    store.delete(&rec.id).await.unwrap();
    assert!(store.load(&rec.id).await.unwrap().is_none());
    store
        .delete(&rec.id)
        .await
        .expect("deleting an absent session is fine");
    let calls = store.calls().render();
    assert!(calls.contains("op=\"read\"} 3"), "{calls}");
    assert!(calls.contains("op=\"conditional_write\"} 4"), "{calls}");
    assert!(
        calls.contains("mcp_edge_dynamodb_conflicts_total 2"),
        "{calls}"
    );
}

#[tokio::test]
#[ignore = "needs a DynamoDB-compatible server (tests/run-lambda.sh starts moto)"]
async fn expired_items_are_absent_before_ttl_deletes_them() {
    let client = client().await;
    let name = table(&client, "ttl").await;
    let store = DynamoSessionStore::new(client, name, Arc::new(SystemClock));
    let rec = record("00000000000000000000000000000001", SystemClock.now() - 1);
    store.save(&rec, None).await.unwrap();
    assert!(
        store.load(&rec.id).await.unwrap().is_none(),
        "an expired item is treated as absent"
    );
}

#[tokio::test]
#[ignore = "needs a DynamoDB-compatible server (tests/run-lambda.sh starts moto)"]
async fn the_session_store_keeps_the_contract() {
    let client = client().await;
    let name = table(&client, "contract").await;
    let store = DynamoSessionStore::new(client, name, Arc::new(SystemClock));
    let now = SystemClock.now();
    // The core's store contract: create, compare-and-set conflict, delete absent, expiry, then 8
    // concurrent writers of 10 increments each (concurrent requests to the server) losing none.
    let conflicts = store_contract::run_all(&store, now, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    println!("contract: 80 concurrent increments, {conflicts} lost races retried");
}

#[tokio::test]
#[ignore = "needs a DynamoDB-compatible server (tests/run-lambda.sh starts moto)"]
async fn the_outbox_keeps_the_contract() {
    let client = client().await;
    let name = table(&client, "outbox").await;
    let calls =
        DynamoSessionStore::new(client.clone(), name.clone(), Arc::new(SystemClock)).calls();
    let outbox = DynamoOutbox::new(client.clone(), name.clone(), Arc::new(OsEntropy), calls);
    let now = SystemClock.now();
    for case in store_contract::OUTBOX_CASES {
        store_contract::run_outbox_case(&outbox, case, now, now)
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
    }
    // Two environments append to one session's outbox at once, 8 messages each: all 16 land and
    // none of the appends fails (before, each POST rewrote one outbox in the session record and
    // lost compare-and-set races until the gateway gave up); reading from position 10 drops what
    // came before it, items included.
    let other = DynamoOutbox::new(
        client.clone(),
        name.clone(),
        Arc::new(OsEntropy),
        Arc::default(),
    );
    let id = store_contract::shared_outbox(&outbox, &other, now, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let scan = client.scan().table_name(&name).send().await.unwrap();
    let left = scan
        .items()
        .iter()
        .filter(|i| {
            i[KEY]
                .as_s()
                .is_ok_and(|k| k.starts_with(&format!("outbox:{id}:")))
        })
        .count();
    assert_eq!(left, 6, "delivered messages' items are deleted");
    outbox.clear(&id).await.unwrap();
    assert!(outbox.read(&id, 0).await.unwrap().is_empty());
}

#[tokio::test]
#[ignore = "needs a DynamoDB-compatible server (tests/run-lambda.sh starts moto)"]
async fn rate_limit_buckets_are_shared_and_never_overdrawn() {
    use mcp_edge_lambda::ratelimit::DynamoRateLimiter;
    let client = client().await;
    let name = table(&client, "rate").await;
    let calls =
        DynamoSessionStore::new(client.clone(), name.clone(), Arc::new(SystemClock)).calls();
    // Two limiters over one table stand for two execution environments; a take that kept losing
    // the conditional write is reported as contended (the core asks its caller to retry in 250 ms)
    // and the contract's racer tries again, bounded.
    let items = || VersionedItems::new(client.clone(), name.clone(), calls.clone());
    let (a, b) = (
        DynamoRateLimiter::new(items()),
        DynamoRateLimiter::new(items()),
    );
    counter_contract::shared_buckets(&a, &b, SystemClock.now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
#[ignore = "needs a DynamoDB-compatible server (tests/run-lambda.sh starts moto)"]
async fn quota_leases_are_shared_exact_under_races_and_lapse() {
    use mcp_edge_lambda::quota::DynamoLeaseLedger;
    let client = client().await;
    let name = table(&client, "leases").await;
    let calls =
        DynamoSessionStore::new(client.clone(), name.clone(), Arc::new(SystemClock)).calls();
    // Two ledgers over one table stand for two execution environments.
    let items = || VersionedItems::new(client.clone(), name.clone(), calls.clone());
    let (a, b) = (
        DynamoLeaseLedger::new(items()),
        DynamoLeaseLedger::new(items()),
    );
    let lost = counter_contract::shared_leases(&a, &b, SystemClock.now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    println!("lease race: {lost} rounds lost to other writers");
}

#[tokio::test]
#[ignore = "needs a DynamoDB-compatible server (tests/run-lambda.sh starts moto)"]
async fn the_mailbox_takes_one_answer_from_its_own_session_only() {
    use mcp_edge_core::mailbox::Mailbox;
    use mcp_edge_lambda::mailbox::{slot_key, DynamoMailbox};
    let client = client().await;
    let name = table(&client, "mailbox").await;
    let asker = DynamoMailbox::new(client.clone(), name.clone(), Arc::default());
    // The answer's POST runs in another environment: another client object, same table.
    let answerer = DynamoMailbox::new(client.clone(), name.clone(), Arc::default());
    let (s1, s2) = ("a".repeat(32), "b".repeat(32));
    let later = SystemClock.now() + 60_000;
    asker.open(&s1, "mcp-edge-1", later).await.unwrap();
    assert_eq!(
        asker.take(&s1, "mcp-edge-1").await.unwrap(),
        None,
        "nothing yet"
    );
    let answer = json!({"result": {"model": "m"}});
    // Another session's answer to the same id, and an answer to an id nobody asked, are refused.
    assert!(!answerer.deliver(&s2, "mcp-edge-1", &answer).await.unwrap());
    assert!(!answerer.deliver(&s1, "mcp-edge-2", &answer).await.unwrap());
    assert!(answerer.deliver(&s1, "mcp-edge-1", &answer).await.unwrap());
    assert!(
        !answerer
            .deliver(&s1, "mcp-edge-1", &json!({"result": 2}))
            .await
            .unwrap(),
        "a second answer does not replace the first"
    );
    let item = client
        .get_item()
        .table_name(&name)
        .key(
            KEY,
            aws_sdk_dynamodb::types::AttributeValue::S(slot_key(&s1, "mcp-edge-1")),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the slot");
    assert_eq!(
        item[EXPIRES_AT].as_n().unwrap(),
        &later.div_ceil(1000).to_string(),
        "the slot carries the TTL"
    );
    assert_eq!(
        asker.take(&s1, "mcp-edge-1").await.unwrap(),
        Some(answer.clone())
    );
    assert_eq!(
        asker.take(&s1, "mcp-edge-1").await.unwrap(),
        None,
        "taken once"
    );
    assert!(
        !answerer
            .deliver(&s1, "mcp-edge-1", &json!({"result": 3}))
            .await
            .unwrap(),
        "a late answer finds no slot"
    );
    // A slot given up on is gone.
    asker.open(&s1, "mcp-edge-3", later).await.unwrap();
    asker.close(&s1, "mcp-edge-3").await.unwrap();
    assert!(!answerer.deliver(&s1, "mcp-edge-3", &answer).await.unwrap());
}
