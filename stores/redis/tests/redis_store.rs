//! The Redis adapters against a real `redis-server` (Debian's package; `tests/run-all.sh` installs
//! it), started by each test on a free loopback port without persistence: the core's store and outbox
//! contracts, and rate-limit buckets and quota leases shared by two connections (two replicas) that
//! are never overdrawn under races.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mcp_edge_core::outbox::Outbox;
use mcp_edge_core::port::Clock;
use mcp_edge_core::session::SessionStore;
use mcp_edge_core::{counter_contract, store_contract};
use mcp_edge_native::SystemClock;
use mcp_edge_redis::{ConnectError, RedisStores};

/// A `redis-server` on 127.0.0.1, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

/// Starts a server and waits (bounded: 10 s) until it answers.
async fn server() -> Server {
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (Debian: apt-get install redis-server)");
    let server = Server {
        child,
        url: format!("redis://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    loop {
        if RedisStores::connect(&server.url).await.is_ok() {
            return server;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "redis-server did not answer within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stores(server: &Server) -> RedisStores {
    RedisStores::connect(&server.url).await.expect("connect")
}

#[tokio::test]
async fn the_session_store_and_outbox_keep_the_contract() {
    let server = server().await;
    let a = stores(&server).await;
    let now = SystemClock.now();
    // Create, compare-and-set conflicts, delete, expiry, then 8 concurrent writers of 10 increments
    // each losing none (the compare-and-set script runs atomically in the server).
    let conflicts = store_contract::run_all(a.store.as_ref(), now, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    println!("contract: 80 concurrent increments, {conflicts} lost races retried");
    for case in store_contract::OUTBOX_CASES {
        store_contract::run_outbox_case(a.outbox.as_ref(), case, now, now)
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
    }
    // A session written through one connection is read, changed and deleted through another.
    let b = stores(&server).await;
    let id = store_contract::case_id(now, 77);
    let rec = store_contract::record(&id, now, now + 60_000);
    a.store.save(&rec, None).await.unwrap();
    let mut seen = b
        .store
        .load(&id)
        .await
        .unwrap()
        .expect("the other replica sees it");
    assert_eq!(seen.version, 1);
    seen.initialized = true;
    b.store.save(&seen, Some(1)).await.unwrap();
    assert!(a.store.load(&id).await.unwrap().unwrap().initialized);
    b.store.delete(&id).await.unwrap();
    assert!(a.store.load(&id).await.unwrap().is_none());
}

#[tokio::test]
async fn outbox_appends_from_two_replicas_all_land_in_order_of_arrival() {
    let server = server().await;
    let (a, b) = (stores(&server).await, stores(&server).await);
    let now = SystemClock.now();
    // The core's two-writer outbox contract, then positions continue after a trim.
    let id = store_contract::shared_outbox(a.outbox.as_ref(), b.outbox.as_ref(), now, now)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    b.outbox
        .append(&id, &["late".to_owned()], now + 60_000)
        .await
        .unwrap();
    assert_eq!(
        a.outbox.read(&id, 16).await.unwrap(),
        vec![(17, "late".to_owned())]
    );
    a.outbox.clear(&id).await.unwrap();
    assert!(b.outbox.read(&id, 0).await.unwrap().is_empty());
}

#[tokio::test]
async fn rate_limit_buckets_are_shared_and_never_overdrawn() {
    let server = server().await;
    let (a, b) = (stores(&server).await, stores(&server).await);
    // The core's contract through two connections (two replicas).
    counter_contract::shared_buckets(a.limiter.as_ref(), b.limiter.as_ref(), SystemClock.now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn quota_leases_are_shared_exact_under_races_and_lapse() {
    let server = server().await;
    let (a, b) = (stores(&server).await, stores(&server).await);
    let lost =
        counter_contract::shared_leases(a.leases.as_ref(), b.leases.as_ref(), SystemClock.now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    println!("lease race: {lost} rounds lost to the other replica");
}

#[tokio::test]
async fn an_unreachable_server_is_named_without_its_password() {
    let port = free_port();
    let err = RedisStores::connect(&format!("redis://:s3cret-pw@127.0.0.1:{port}"))
        .await
        .err()
        .expect("nothing listens there");
    assert!(matches!(err, ConnectError::Unreachable(..)), "{err}");
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}
