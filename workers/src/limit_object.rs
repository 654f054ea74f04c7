//! `LimitObject`: the Worker's counters. Each object is one counter named by its key: either a
//! rate-limit token bucket (objects named by the bucket key, e.g. `req:<caller>`, served at `/take`)
//! or a quota lease set (objects named `lease:<set>`, e.g. `lease:sessions:<caller>`, served at
//! `/lease`), so a caller's limits and quotas hold across isolates and session objects.
//! `DoRateLimiter` and `DoLeaseLedger` are the core's `RateLimiter` and `LeaseLedger` ports that ask
//! it; an unreachable object is reported to the core as a backend failure, and the core decides
//! what that means. A Durable Object runs one request at a time, so each bucket and each lease set
//! is exact; the decisions are the core's, through its compare-and-set rule
//! (`mcp_edge_core::counter`), which here takes one round. (The class was `LimitObject` before it also held quota leases; `wrangler.toml`'s
//! `v3` migration renames it, keeping the stored counters.)

use mcp_edge_core::counter::{change_leases, compare_and_set, take_tokens, Next, Undecided};
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
    /// One counter change by the core's compare-and-set rule over this object's storage: an object
    /// runs one request at a time, so its write never loses a race and the rule takes one round.
    /// An unreadable stored value counts as none, as a lapsed counter would.
    async fn change<S, X>(
        &self,
        key: &str,
        decide: impl Fn(Option<S>) -> Next<S, Result<(), X>>,
        keep: impl Fn(&S) -> bool,
    ) -> Result<(), X>
    where
        S: Serialize + serde::de::DeserializeOwned,
        X: From<Undecided>,
    {
        let storage = self.state.storage();
        let (storage, keep) = (&storage, &keep);
        compare_and_set(
            || async move {
                let text: Option<String> = storage.get(key).await?;
                Ok::<_, worker::Error>((text.and_then(|t| serde_json::from_str(&t).ok()), ()))
            },
            decide,
            |(), state: S, _keep_until| async move {
                if keep(&state) {
                    let text = serde_json::to_string(&state)
                        .map_err(|e| worker::Error::RustError(e.to_string()))?;
                    storage.put(key, text).await?;
                } else {
                    storage.delete(key).await?;
                }
                Ok(true)
            },
        )
        .await
    }

    async fn lease(&self, mut req: Request) -> worker::Result<Response> {
        let asked: LeaseRequest = req.json().await?;
        let outcome = self
            .change(
                LEASES_KEY,
                |set| change_leases(set, &asked.change, asked.now),
                |set: &LeaseSet| !set.leases.is_empty(),
            )
            .await;
        let answer = match outcome {
            Ok(()) => LeaseAnswer {
                held: None,
                retry_after_ms: None,
            },
            Err(LeaseError::Full {
                held,
                retry_after_ms,
            }) => LeaseAnswer {
                held: Some(held),
                retry_after_ms,
            },
            Err(e) => return Err(worker::Error::RustError(e.to_string())),
        };
        Response::from_json(&answer)
    }

    async fn take(&self, mut req: Request) -> worker::Result<Response> {
        let take: TakeRequest = req.json().await?;
        let outcome = self
            .change(
                BUCKET_KEY,
                |bucket| take_tokens(bucket, take.limit, take.cost, take.now),
                |_: &Bucket| true,
            )
            .await;
        let answer = match outcome {
            Ok(()) => TakeAnswer { wait_ms: None },
            Err(LimitError::Empty { retry_after_ms }) => TakeAnswer {
                wait_ms: Some(retry_after_ms),
            },
            Err(e) => return Err(worker::Error::RustError(e.to_string())),
        };
        Response::from_json(&answer)
    }
}
