//! Native outbound HTTP for connectors and JWKS fetches: reqwest with rustls, one
//! connection-reusing client per upstream origin (the core's pool decides when to make one),
//! redirects never followed, and every DNS answer re-checked by the SSRF guard so a hostname
//! cannot smuggle a request to a private address.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use mcp_edge_core::port::{BoxFuture, HttpClient, UpstreamError};
use mcp_edge_core::upstream::{HttpClientFactory, UpstreamGuard};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A DNS resolver that drops addresses the guard refuses for the name being resolved.
struct GuardedResolver {
    guard: UpstreamGuard,
}

/// The resolver's refusal, recognised again when mapping reqwest errors.
#[derive(Debug)]
struct AddressRefused(String);

impl std::fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AddressRefused {}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match guard.address_allowed(&host, a.ip()) {
                    Ok(()) => true,
                    Err(r) => {
                        refusal = Some(r.to_string());
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refusal.unwrap_or_else(|| format!("{host} did not resolve"));
                return Err(
                    Box::new(AddressRefused(why)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// One reqwest client (its own connection pool), built on first use: building one sets up rustls and
/// its root store, which an idle gateway (or a Lambda cold start) that never calls out should not pay.
pub struct ReqwestClient {
    client: OnceLock<reqwest::Client>,
    guard: Option<UpstreamGuard>,
    timeout: Duration,
}

impl ReqwestClient {
    /// A client whose DNS answers pass `guard`, with `timeout` per request.
    pub fn guarded(guard: UpstreamGuard, timeout: Duration) -> Self {
        ReqwestClient {
            client: OnceLock::new(),
            guard: Some(guard),
            timeout,
        }
    }

    /// A client for operator-configured URLs (JWKS), without the guard.
    pub fn plain(timeout: Duration) -> Self {
        ReqwestClient {
            client: OnceLock::new(),
            guard: None,
            timeout,
        }
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            let builder = builder(self.timeout);
            let builder = match &self.guard {
                Some(guard) => builder.dns_resolver(Arc::new(GuardedResolver {
                    guard: guard.clone(),
                })),
                None => builder,
            };
            builder.build().unwrap_or_default()
        })
    }
}

fn builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(concat!("mcp-edge/", env!("CARGO_PKG_VERSION")))
}

fn map_error(e: reqwest::Error) -> UpstreamError {
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<AddressRefused>() {
            return UpstreamError::Refused(refused.0.clone());
        }
        source = s.source();
    }
    if e.is_timeout() {
        UpstreamError::Timeout
    } else if e.is_connect() {
        UpstreamError::Connect(without_url(&e))
    } else {
        UpstreamError::Transport(without_url(&e))
    }
}

/// The error text without the request URL (which may carry query parameters).
fn without_url(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if parts.is_empty() {
        "request failed".into()
    } else {
        parts.join(": ")
    }
}

impl HttpClient for ReqwestClient {
    fn send(
        &self,
        req: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, UpstreamError>> {
        Box::pin(async move {
            let req = reqwest::Request::try_from(req)
                .map_err(|e| UpstreamError::Refused(format!("invalid request: {e}")))?;
            let resp = self.client().execute(req).await.map_err(map_error)?;
            let mut builder = http::Response::builder().status(resp.status());
            if let Some(h) = builder.headers_mut() {
                h.extend(resp.headers().iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            let body = resp.bytes().await.map_err(map_error)?;
            builder
                .body(body)
                .map_err(|e| UpstreamError::Transport(e.to_string()))
        })
    }
}

/// Makes one guarded client per upstream origin for the core's pool.
pub struct ReqwestFactory {
    /// The guard DNS answers must pass.
    pub guard: UpstreamGuard,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl HttpClientFactory for ReqwestFactory {
    fn client_for(&self, _origin: &str) -> Arc<dyn HttpClient> {
        Arc::new(ReqwestClient::guarded(self.guard.clone(), self.timeout))
    }
}
