//! `RateLimitObject`: one Durable Object per rate-limit bucket (named by the bucket key), so a
//! caller's limit holds across isolates and session objects; and `DoRateLimiter`, the core's
//! `RateLimiter` port that asks it. A Durable Object runs one request at a time, so each bucket is
//! exact.

use mcp_edge_core::port::{BoxFuture, UnixMillis};
use mcp_edge_core::ratelimit::{Bucket, RateLimit, RateLimiter};
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, RequestInit, Response, State};

/// Binding name of the `RateLimitObject` namespace in `wrangler.toml`.
pub const RATE_LIMITS_BINDING: &str = "RATE_LIMITS";

/// Storage key of the bucket.
const BUCKET_KEY: &str = "bucket";

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

/// The port: one round trip to the bucket's object per limited request.
pub struct DoRateLimiter {
    env: Env,
}

impl DoRateLimiter {
    /// Buckets in the `RATE_LIMITS` namespace of `env`.
    pub fn new(env: Env) -> Self {
        DoRateLimiter { env }
    }

    async fn ask(&self, key: &str, body: &TakeRequest) -> worker::Result<Result<(), u64>> {
        let stub = self
            .env
            .durable_object(RATE_LIMITS_BINDING)?
            .id_from_name(key)?
            .get_stub()?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(
            serde_json::to_string(body)
                .map_err(|e| worker::Error::RustError(e.to_string()))?
                .into(),
        ));
        let req = Request::new_with_init("https://rate-limit.internal/take", &init)?;
        let answer: TakeAnswer = stub.fetch_with_request(req).await?.json().await?;
        Ok(answer.wait_ms.map_or(Ok(()), Err))
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

/// One bucket.
#[durable_object]
pub struct RateLimitObject {
    state: State,
}

impl DurableObject for RateLimitObject {
    fn new(state: State, _env: Env) -> Self {
        RateLimitObject { state }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
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
