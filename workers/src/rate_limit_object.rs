//! `RateLimitObject`: one Durable Object per rate-limit bucket or quota lease set (named by its key),
//! so a caller's limits hold across isolates and session objects; `DoRateLimiter` and
//! `DoLeaseLedger`, the core's `RateLimiter` and `LeaseLedger` ports that ask it. A Durable Object
//! runs one request at a time, so each bucket and each lease set is exact.

use mcp_edge_core::port::{BoxFuture, UnixMillis};
use mcp_edge_core::quota::{LeaseChange, LeaseError, LeaseLedger, LeaseSet};
use mcp_edge_core::ratelimit::{Bucket, RateLimit, RateLimiter};
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, RequestInit, Response, State};

/// Binding name of the `RateLimitObject` namespace in `wrangler.toml`.
pub const RATE_LIMITS_BINDING: &str = "RATE_LIMITS";

/// Storage key of the bucket.
const BUCKET_KEY: &str = "bucket";
/// Storage key of the lease set.
const LEASES_KEY: &str = "leases";

#[derive(Debug, Serialize, Deserialize)]
struct TakeRequest {
    limit: RateLimit,
    cost: u32,
    now: UnixMillis,
}

#[derive(Debug, Serialize, Deserialize)]
struct TakeAnswer {
    /// `None`: granted; otherwise milliseconds until enough tokens exist.
    wait_ms: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct LeaseRequest {
    change: LeaseChange,
    now: UnixMillis,
}

#[derive(Debug, Serialize, Deserialize)]
struct LeaseAnswer {
    /// `Some`: refused, this many live leases are held.
    held: Option<usize>,
    retry_after_ms: Option<u64>,
}

/// One round trip to the object named `name` in the `RATE_LIMITS` namespace.
async fn ask<A: serde::de::DeserializeOwned>(
    env: &Env,
    name: &str,
    path: &str,
    body: &impl Serialize,
) -> worker::Result<A> {
    let stub = env
        .durable_object(RATE_LIMITS_BINDING)?
        .id_from_name(name)?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(
        serde_json::to_string(body)
            .map_err(|e| worker::Error::RustError(e.to_string()))?
            .into(),
    ));
    let req = Request::new_with_init(&format!("https://rate-limit.internal{path}"), &init)?;
    stub.fetch_with_request(req).await?.json().await
}

/// The rate-limit port: one round trip to the bucket's object per limited request.
pub struct DoRateLimiter {
    env: Env,
}

impl DoRateLimiter {
    /// Buckets in the `RATE_LIMITS` namespace of `env`.
    pub fn new(env: Env) -> Self {
        DoRateLimiter { env }
    }

    async fn ask(&self, key: &str, body: &TakeRequest) -> worker::Result<Result<(), u64>> {
        let answer: TakeAnswer = ask(&self.env, key, "/take", body).await?;
        Ok(answer.wait_ms.map_or(Ok(()), Err))
    }
}

/// The quota port: one round trip to the lease set's object per lease change.
pub struct DoLeaseLedger {
    env: Env,
}

impl DoLeaseLedger {
    /// Lease sets in the `RATE_LIMITS` namespace of `env` (objects named `lease:<key>`).
    pub fn new(env: Env) -> Self {
        DoLeaseLedger { env }
    }
}

impl LeaseLedger for DoLeaseLedger {
    fn apply<'a>(
        &'a self,
        key: &'a str,
        change: &'a LeaseChange,
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<(), LeaseError>> {
        Box::pin(async move {
            let body = LeaseRequest {
                change: change.clone(),
                now,
            };
            let answer: worker::Result<LeaseAnswer> =
                ask(&self.env, &format!("lease:{key}"), "/lease", &body).await;
            match answer {
                Ok(LeaseAnswer {
                    held: Some(held),
                    retry_after_ms,
                }) => Err(LeaseError::Full {
                    held,
                    retry_after_ms,
                }),
                Ok(_) => Ok(()),
                Err(e) => {
                    // Availability over exactness: an unreachable ledger does not refuse callers.
                    worker::console_warn!("quota lease set unavailable, request allowed: {e}");
                    Err(LeaseError::Backend(e.to_string()))
                }
            }
        })
    }
}

impl RateLimiter for DoRateLimiter {
    fn take<'a>(
        &'a self,
        key: &'a str,
        limit: RateLimit,
        cost: u32,
        now: UnixMillis,
    ) -> BoxFuture<'a, Result<(), u64>> {
        Box::pin(async move {
            let body = TakeRequest { limit, cost, now };
            match self.ask(key, &body).await {
                Ok(verdict) => verdict,
                Err(e) => {
                    // Availability over exactness: an unreachable bucket does not refuse callers.
                    worker::console_warn!("rate-limit bucket unavailable, request allowed: {e}");
                    Ok(())
                }
            }
        })
    }
}

/// One bucket, or one lease set.
#[durable_object]
pub struct RateLimitObject {
    state: State,
}

impl DurableObject for RateLimitObject {
    fn new(state: State, _env: Env) -> Self {
        RateLimitObject { state }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        if req.path() == "/lease" {
            self.lease(req).await
        } else {
            self.take(req).await
        }
    }
}

impl RateLimitObject {
    async fn lease(&self, mut req: Request) -> worker::Result<Response> {
        let asked: LeaseRequest = req.json().await?;
        let storage = self.state.storage();
        let text: Option<String> = storage.get(LEASES_KEY).await?;
        let mut set: LeaseSet = text
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let answer = match set.apply(&asked.change, asked.now) {
            Err(LeaseError::Full {
                held,
                retry_after_ms,
            }) => LeaseAnswer {
                held: Some(held),
                retry_after_ms,
            },
            _ => {
                if set.leases.is_empty() {
                    storage.delete(LEASES_KEY).await?;
                } else {
                    let text = serde_json::to_string(&set)
                        .map_err(|e| worker::Error::RustError(e.to_string()))?;
                    storage.put(LEASES_KEY, text).await?;
                }
                LeaseAnswer {
                    held: None,
                    retry_after_ms: None,
                }
            }
        };
        Response::from_json(&answer)
    }

    async fn take(&self, mut req: Request) -> worker::Result<Response> {
        let take: TakeRequest = req.json().await?;
        let storage = self.state.storage();
        let text: Option<String> = storage.get(BUCKET_KEY).await?;
        let bucket: Option<Bucket> = text.and_then(|t| serde_json::from_str(&t).ok());
        let answer = match Bucket::take(bucket, take.limit, take.cost, take.now) {
            Ok(next) => {
                let text = serde_json::to_string(&next)
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                storage.put(BUCKET_KEY, text).await?;
                TakeAnswer { wait_ms: None }
            }
            Err(wait) => TakeAnswer {
                wait_ms: Some(wait),
            },
        };
        Response::from_json(&answer)
    }
}
