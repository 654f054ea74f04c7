//! The upstream client pool: one HTTP client per (service, normalized base URL), LRU-evicted when
//! full (never a "capacity reached" failure) and expired lazily after an idle period, so no timer
//! is needed on serverless platforms.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use super::deployment::Deployment;
use crate::credential::Service;
use crate::port::{HttpClient, MaybeSendSync, UnixMillis};

/// Makes the HTTP client a pool entry holds for one upstream origin (on native: a connection-reusing
/// client; on the Worker: the shared `fetch`).
pub trait HttpClientFactory: MaybeSendSync {
    /// A client for requests to `origin` (`scheme://host:port`).
    fn client_for(&self, origin: &str) -> Arc<dyn HttpClient>;
}

/// A factory that hands out the same client for every origin.
pub struct SharedClient(pub Arc<dyn HttpClient>);

impl HttpClientFactory for SharedClient {
    fn client_for(&self, _origin: &str) -> Arc<dyn HttpClient> {
        self.0.clone()
    }
}

/// Pool limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most entries kept (default 100).
    pub max_size: usize,
    /// Idle time after which an entry is dropped (default 5 minutes).
    pub idle_ms: u64,
}

/// Pool counters, exported on `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Entries now.
    pub size: usize,
    /// Lookups that found a live entry.
    pub hits: u64,
    /// Lookups that created an entry.
    pub misses: u64,
    /// Entries dropped to make room.
    pub evictions: u64,
    /// Entries dropped after idling.
    pub expirations: u64,
}

struct Entry {
    client: Arc<dyn HttpClient>,
    last_used: UnixMillis,
}

struct Inner {
    entries: LruCache<(Service, String), Entry>,
    /// Detected Atlassian deployment types per (service, base URL), bounded like the clients; kept
    /// apart from `entries` so a client's idle expiry does not cost another probe.
    deployments: LruCache<(Service, String), Deployment>,
    stats: PoolStats,
}

/// The pool.
pub struct UpstreamPool {
    config: PoolConfig,
    factory: Arc<dyn HttpClientFactory>,
    inner: Mutex<Inner>,
}

impl UpstreamPool {
    /// An empty pool whose entries come from `factory`.
    pub fn new(config: PoolConfig, factory: Arc<dyn HttpClientFactory>) -> Self {
        UpstreamPool {
            config,
            factory,
            inner: Mutex::new(Inner {
                entries: LruCache::unbounded(),
                deployments: LruCache::unbounded(),
                stats: PoolStats::default(),
            }),
        }
    }

    /// The client for (`service`, `base`), creating it on a miss; `origin` is what the factory gets.
    pub fn client(
        &self,
        service: Service,
        base: &str,
        origin: &str,
        now: UnixMillis,
    ) -> Arc<dyn HttpClient> {
        let Ok(mut inner) = self.inner.lock() else {
            return self.factory.client_for(origin);
        };
        let idle = self.config.idle_ms;
        // Lazy expiry: drop idle entries from the cold end of the LRU order.
        while let Some((_, e)) = inner.entries.peek_lru() {
            if now.saturating_sub(e.last_used) < idle {
                break;
            }
            inner.entries.pop_lru();
            inner.stats.expirations += 1;
        }
        let key = (service, base.to_owned());
        if let Some(e) = inner.entries.get_mut(&key) {
            e.last_used = now;
            let client = e.client.clone();
            inner.stats.hits += 1;
            return client;
        }
        inner.stats.misses += 1;
        let max = NonZeroUsize::new(self.config.max_size.max(1)).unwrap_or(NonZeroUsize::MIN);
        while inner.entries.len() >= max.get() {
            inner.entries.pop_lru();
            inner.stats.evictions += 1;
        }
        let client = self.factory.client_for(origin);
        inner.entries.put(
            key,
            Entry {
                client: client.clone(),
                last_used: now,
            },
        );
        client
    }

    /// The deployment type detected earlier for (`service`, `base`), if any.
    pub fn deployment(&self, service: Service, base: &str) -> Option<Deployment> {
        let mut inner = self.inner.lock().ok()?;
        inner.deployments.get(&(service, base.to_owned())).copied()
    }

    /// Remembers the detected deployment type of (`service`, `base`) (at most `max_size` entries).
    pub fn remember_deployment(&self, service: Service, base: &str, deployment: Deployment) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let max = self.config.max_size.max(1);
        while inner.deployments.len() >= max {
            inner.deployments.pop_lru();
        }
        inner
            .deployments
            .put((service, base.to_owned()), deployment);
    }

    /// Current counters.
    pub fn stats(&self) -> PoolStats {
        self.inner
            .lock()
            .map(|i| PoolStats {
                size: i.entries.len(),
                ..i.stats
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::{BoxFuture, UpstreamError};
    use bytes::Bytes;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Nop;
    impl HttpClient for Nop {
        fn send(
            &self,
            _req: http::Request<Bytes>,
        ) -> BoxFuture<'_, Result<http::Response<Bytes>, UpstreamError>> {
            Box::pin(async { Err(UpstreamError::Timeout) })
        }
    }
    #[derive(Default)]
    struct Counting(AtomicUsize);
    impl HttpClientFactory for Counting {
        fn client_for(&self, _origin: &str) -> Arc<dyn HttpClient> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Arc::new(Nop)
        }
    }

    #[test]
    fn lru_eviction_idle_expiry_and_counters() {
        let factory = Arc::new(Counting::default());
        let pool = UpstreamPool::new(
            PoolConfig {
                max_size: 2,
                idle_ms: 1_000,
            },
            factory.clone(),
        );
        let a = pool.client(Service::GitLab, "https://a/api/v4", "https://a", 0);
        let a2 = pool.client(Service::GitLab, "https://a/api/v4", "https://a", 10);
        assert!(Arc::ptr_eq(&a, &a2));
        pool.client(Service::Jira, "https://a", "https://a", 20);
        // Touch the GitLab entry so the Jira one is least recently used, then overflow.
        pool.client(Service::GitLab, "https://a/api/v4", "https://a", 30);
        pool.client(Service::GitLab, "https://b/api/v4", "https://b", 40);
        let s = pool.stats();
        assert_eq!((s.size, s.hits, s.misses, s.evictions), (2, 2, 3, 1));
        let again = pool.client(Service::GitLab, "https://a/api/v4", "https://a", 50);
        assert!(
            Arc::ptr_eq(&a, &again),
            "most recent entry survived eviction"
        );
        // Everything idles out.
        pool.client(Service::Confluence, "https://c", "https://c", 5_000);
        let s = pool.stats();
        assert_eq!(s.expirations, 2);
        assert_eq!(s.size, 1);
        assert_eq!(factory.0.load(Ordering::SeqCst), 4);
    }
}
