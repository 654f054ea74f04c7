//! `LimitObject`: the Worker's counters. Each object is one counter named by its key: either a
//! rate-limit token bucket (objects named by the bucket key, e.g. `req:<caller>`, served at `/take`)
//! or a quota lease set (objects named `lease:<set>`, e.g. `lease:sessions:<caller>`, served at
//! `/lease`), so a caller's limits and quotas hold across isolates and session objects.
//! `DoRateLimiter` and `DoLeaseLedger` are the core's `RateLimiter` and `LeaseLedger` ports that ask
//! it; an unreachable object is reported to the core as a backend failure, and the core decides
//! what that means. A Durable Object runs one request at a time, so each bucket and each lease set
//! is exact. (The class was `LimitObject` before it also held quota leases; `wrangler.toml`'s
//! `v3` migration renames it, keeping the stored counters.)

use mcp_edge_core::port::{BoxFuture, UnixMillis};
use mcp_edge_core::quota::{LeaseChange, LeaseError, LeaseLedger, LeaseSet};
use mcp_edge_core::ratelimit::{Bucket, LimitError, RateLimit, RateLimiter};
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, RequestInit, Response, State};

/// Binding name of the `LimitObject` namespace in `wrangler.toml`.
pub const LIMITS_BINDING: &str = "LIMITS";

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

/// One round trip to the object named `name` in the `LIMITS` namespace.
async fn ask<A: serde::de::DeserializeOwned>(
    env: &Env,
    name: &str,
    path: &str,
    body: &impl Serialize,
) -> worker::Result<A> {
    let stub = env
        .durable_object(LIMITS_BINDING)?
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
    /// Buckets in the `LIMITS` namespace of `env`.
    pub fn new(env: Env) -> Self {
        DoRateLimiter { env }
    }

    async fn ask(&self, key: &str, body: &TakeRequest) -> worker::Result<Result<(), LimitError>> {
        let answer: TakeAnswer = ask(&self.env, key, "/take", body).await?;
        Ok(answer.wait_ms.map_or(Ok(()), |wait| {
            Err(LimitError::Empty {
                retry_after_ms: wait,
            })
        }))
    }
}

/// The quota port: one round trip to the lease set's object per lease change.
pub struct DoLeaseLedger {
    env: Env,
}

impl DoLeaseLedger {
    /// Lease sets in the `LIMITS` namespace of `env` (objects named `lease:<key>`).
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
                    // Reported, not decided: the core decides what an unreachable ledger means.
                    worker::console_warn!("quota lease set unavailable: {e}");
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
    ) -> BoxFuture<'a, Result<(), LimitError>> {
        Box::pin(async move {
            let body = TakeRequest { limit, cost, now };
            match self.ask(key, &body).await {
                Ok(verdict) => verdict,
                Err(e) => {
                    // Reported, not decided: the core decides what an unreachable bucket means.
                    worker::console_warn!("rate-limit bucket unavailable: {e}");
                    Err(LimitError::Backend(e.to_string()))
                }
            }
        })
    }
}

/// One counter: a rate-limit bucket (`/take`) or a quota lease set (`/lease`), by its name.
#[durable_object]
pub struct LimitObject {
    state: State,
}

impl DurableObject for LimitObject {
    fn new(state: State, _env: Env) -> Self {
        LimitObject { state }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        if req.path() == "/lease" {
            self.lease(req).await
        } else {
            self.take(req).await
        }
    }
}

impl LimitObject {
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
