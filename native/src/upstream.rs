//! Native outbound HTTP for connectors and JWKS fetches: reqwest with rustls, one
//! connection-reusing client per upstream origin (the core's pool decides when to make one),
//! redirects never followed, and every DNS answer re-checked by the SSRF guard so a hostname
//! cannot smuggle a request to a private address.
//!
//! Trust ([`UpstreamTransport`]): the bundled Mozilla roots, the system store, and any PEM files
//! the operator names (`--upstream-ca-file`, `SSL_CERT_FILE`). Proxies: `HTTPS_PROXY`,
//! `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` as curl reads them (reqwest's own rules); a forward
//! proxy resolves the target itself, so a proxied target's name is resolved here first and every
//! address must pass the guard before the proxy is contacted.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use hyper_util::client::proxy::matcher::Matcher;
use mcp_edge_core::port::{BodyCap, BoxFuture, CapCollector, HttpClient, UpstreamError};
use mcp_edge_core::upstream::{HttpClientFactory, UpstreamGuard};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::CertificateDer;

/// Upstream TLS and proxy settings that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A CA file could not be read or holds no usable certificate.
    #[error("upstream CA file {path}: {reason}")]
    CaFile {
        /// The file as configured.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// TLS trust and proxy rules shared by every upstream client. CA files are read at startup (so a
/// bad one stops it); the root store (bundled and system roots plus those files) is built on first
/// use, which an idle gateway or a Lambda cold start that never calls out does not pay.
#[derive(Clone)]
pub struct UpstreamTransport {
    extra_roots: Arc<Vec<CertificateDer<'static>>>,
    tls: Arc<OnceLock<Result<rustls::ClientConfig, String>>>,
    proxy: Arc<Matcher>,
    /// Proxy host names, resolved without the guard (the operator chose them).
    proxy_hosts: Arc<Vec<String>>,
}

impl UpstreamTransport {
    /// Trusts the bundled roots, the system store and every certificate in `ca_files` (PEM); reads
    /// the proxy variables from the environment. An unreadable or empty CA file is an error naming it.
    pub fn new<P: AsRef<Path>>(ca_files: &[P]) -> Result<Self, TransportError> {
        let mut extra_roots = Vec::new();
        for path in ca_files {
            let path = path.as_ref();
            let err = |reason: String| TransportError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
            let certs = CertificateDer::pem_slice_iter(&bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| err(format!("not a PEM certificate file ({e})")))?;
            if certs.is_empty() {
                return Err(err("holds no PEM certificate".into()));
            }
            // Checked now, so a certificate the root store cannot use stops startup too.
            let mut probe = rustls::RootCertStore::empty();
            for cert in &certs {
                probe
                    .add(cert.clone())
                    .map_err(|e| err(format!("unusable certificate ({e})")))?;
            }
            extra_roots.extend(certs);
        }
        let proxy_hosts = [
            "ALL_PROXY",
            "all_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
        ]
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .filter_map(|v| proxy_host(&v))
        .collect();
        Ok(UpstreamTransport {
            extra_roots: Arc::new(extra_roots),
            tls: Arc::new(OnceLock::new()),
            // The same rules reqwest applies by default, so both agree on what is proxied.
            proxy: Arc::new(Matcher::from_system()),
            proxy_hosts: Arc::new(proxy_hosts),
        })
    }

    /// The rustls configuration, built on first use.
    fn tls(&self) -> Result<&rustls::ClientConfig, String> {
        self.tls
            .get_or_init(|| {
                let mut roots = rustls::RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                let system = rustls_native_certs::load_native_certs();
                let (added, ignored) = roots.add_parsable_certificates(system.certs);
                tracing::debug!(
                    added,
                    ignored,
                    errors = system.errors.len(),
                    "system trust store"
                );
                roots.add_parsable_certificates(self.extra_roots.iter().cloned());
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let mut tls = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| e.to_string())?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
                Ok(tls)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Whether requests to `uri` go through a proxy.
    fn proxied(&self, uri: &http::Uri) -> bool {
        self.proxy.intercept(uri).is_some()
    }
}

/// The host of a proxy variable's value (`http://user:pw@proxy:3128`, `proxy:3128`).
fn proxy_host(value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let uri: http::Uri = with_scheme.parse().ok()?;
    Some(uri.host()?.to_ascii_lowercase())
}

/// A DNS resolver that drops addresses the guard refuses for the name being resolved (proxy
/// hosts excepted).
struct GuardedResolver {
    guard: UpstreamGuard,
    proxy_hosts: Arc<Vec<String>>,
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
        let proxy_hosts = self.proxy_hosts.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if proxy_hosts.contains(&host.to_ascii_lowercase()) {
                return Ok(Box::new(found.into_iter()) as Addrs);
            }
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
    client: OnceLock<Result<reqwest::Client, String>>,
    /// The guard for connector calls (`None`: operator-configured URLs such as JWKS).
    guard: Option<UpstreamGuard>,
    timeout: Duration,
    transport: UpstreamTransport,
}

impl ReqwestClient {
    /// A client whose DNS answers pass `guard`, with `timeout` per request.
    pub fn guarded(guard: UpstreamGuard, timeout: Duration, transport: &UpstreamTransport) -> Self {
        ReqwestClient {
            client: OnceLock::new(),
            guard: Some(guard),
            timeout,
            transport: transport.clone(),
        }
    }

    /// A client for operator-configured URLs (JWKS), without the guard.
    pub fn plain(timeout: Duration, transport: &UpstreamTransport) -> Self {
        ReqwestClient {
            client: OnceLock::new(),
            guard: None,
            timeout,
            transport: transport.clone(),
        }
    }

    /// The reqwest client, built on first use (never a fallback without the guard or trust store).
    fn client(&self) -> Result<&reqwest::Client, UpstreamError> {
        self.client
            .get_or_init(|| {
                let builder = builder(self.timeout, self.transport.tls()?);
                let builder = match &self.guard {
                    Some(guard) => builder.dns_resolver(Arc::new(GuardedResolver {
                        guard: guard.clone(),
                        proxy_hosts: self.transport.proxy_hosts.clone(),
                    })),
                    None => builder,
                };
                builder.build().map_err(|e| without_url(&e))
            })
            .as_ref()
            .map_err(|e| UpstreamError::Transport(format!("HTTP client unavailable: {e}")))
    }

    /// Before a proxy sees a guarded request's target: resolve its name here and check every address.
    async fn check_before_proxy(&self, uri: &http::Uri) -> Result<(), UpstreamError> {
        let (Some(guard), Some(host)) = (&self.guard, uri.host()) else {
            return Ok(());
        };
        if !self.transport.proxied(uri) || !guard.needs_resolution_before_proxy(host) {
            return Ok(());
        }
        let addrs: Vec<IpAddr> = match tokio::net::lookup_host((host, 0)).await {
            Ok(found) => found.map(|a| a.ip()).collect(),
            Err(_) => Vec::new(),
        };
        guard
            .proxied_host_allowed(host, &addrs)
            .map_err(|r| UpstreamError::Refused(r.to_string()))
    }
}

fn builder(timeout: Duration, tls: &rustls::ClientConfig) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls.clone())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(concat!("mcp-edge/", env!("CARGO_PKG_VERSION")))
}

/// The certificate problem in an error chain, if a TLS handshake failed on one. The rustls error
/// can sit inside nested `io::Error`s, whose `source()` skips the wrapped error, so those are
/// opened with `get_ref()` too.
fn certificate_problem(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut stack = vec![e];
    let mut steps = 0;
    while let Some(s) = stack.pop() {
        steps += 1;
        if steps > 32 {
            break;
        }
        if let Some(
            err @ (rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::InvalidCertRevocationList(_)),
        ) = s.downcast_ref::<rustls::Error>()
        {
            return Some(err.to_string());
        }
        if let Some(inner) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            stack.push(inner);
        }
        if let Some(next) = s.source() {
            stack.push(next);
        }
    }
    None
}

fn map_error(e: reqwest::Error) -> UpstreamError {
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<AddressRefused>() {
            return UpstreamError::Refused(refused.0.clone());
        }
        source = s.source();
    }
    if let Some(problem) = certificate_problem(&e) {
        UpstreamError::Certificate(problem)
    } else if e.is_timeout() {
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
            let client = self.client()?;
            self.check_before_proxy(req.uri()).await?;
            let cap = req.extensions().get::<BodyCap>().copied();
            let req = reqwest::Request::try_from(req)
                .map_err(|e| UpstreamError::Refused(format!("invalid request: {e}")))?;
            let mut resp = client.execute(req).await.map_err(map_error)?;
            let mut builder = http::Response::builder().status(resp.status());
            if let Some(h) = builder.headers_mut() {
                h.extend(resp.headers().iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            let body = match cap {
                None => resp.bytes().await.map_err(map_error)?,
                Some(cap) => {
                    // Read chunk by chunk so a long body never sits in memory whole.
                    let mut kept = CapCollector::new(cap);
                    while let Some(chunk) = resp.chunk().await.map_err(map_error)? {
                        if !kept.push(&chunk) {
                            break;
                        }
                    }
                    let (body, read) = kept.finish();
                    builder = builder.extension(read);
                    body
                }
            };
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
    /// Trust and proxy rules.
    pub transport: UpstreamTransport,
}

impl HttpClientFactory for ReqwestFactory {
    fn client_for(&self, _origin: &str) -> Arc<dyn HttpClient> {
        Arc::new(ReqwestClient::guarded(
            self.guard.clone(),
            self.timeout,
            &self.transport,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_hosts_are_read_from_every_spelling() {
        assert_eq!(
            proxy_host("http://user:pw@Proxy.Corp:3128").as_deref(),
            Some("proxy.corp")
        );
        assert_eq!(proxy_host("proxy.corp:3128").as_deref(), Some("proxy.corp"));
        assert_eq!(proxy_host("  "), None);
    }

    #[test]
    fn unreadable_or_empty_ca_files_name_the_file() {
        let missing = UpstreamTransport::new(&["/nonexistent/corp-ca.pem"])
            .err()
            .unwrap();
        assert!(
            missing.to_string().contains("/nonexistent/corp-ca.pem"),
            "{missing}"
        );
        let dir = std::env::temp_dir().join(format!("mcp-edge-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let e = UpstreamTransport::new(&[&empty]).err().unwrap();
        assert!(e.to_string().contains("holds no PEM certificate"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
