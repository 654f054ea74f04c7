//! Caller authentication for the gateway itself (never the upstream services): API keys kept as
//! salted SHA-256 hashes and compared in constant time, and OAuth 2.1 resource-server mode with JWT
//! access tokens checked against the issuer's JWKS (fetched through the [`HttpClient`] port).

use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::port::{HttpClient, UnixMillis};
use crate::ratelimit::RateLimit;

/// A salted SHA-256 hash of an API key, written as `sha256:<salt hex>:<digest hex>`.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyHash {
    salt: Vec<u8>,
    digest: [u8; 32],
}

impl KeyHash {
    /// Hashes `key` with `salt`.
    pub fn new(key: &str, salt: &[u8]) -> Self {
        KeyHash {
            salt: salt.to_vec(),
            digest: Self::digest(salt, key),
        }
    }

    fn digest(salt: &[u8], key: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(salt);
        h.update(key.as_bytes());
        h.finalize().into()
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        let bad = || {
            AuthError::Config("API key hash must look like sha256:<salt hex>:<digest hex>".into())
        };
        let mut parts = text.trim().split(':');
        if parts.next() != Some("sha256") {
            return Err(bad());
        }
        let salt = hex::decode(parts.next().ok_or_else(bad)?).map_err(|_| bad())?;
        let digest: [u8; 32] = hex::decode(parts.next().ok_or_else(bad)?)
            .map_err(|_| bad())?
            .try_into()
            .map_err(|_| bad())?;
        if parts.next().is_some() || salt.len() < 8 {
            return Err(bad());
        }
        Ok(KeyHash { salt, digest })
    }

    /// Whether `key` hashes to this value (constant time in the digest comparison).
    pub fn verify(&self, key: &str) -> bool {
        Self::digest(&self.salt, key).ct_eq(&self.digest).into()
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sha256:{}:{}",
            hex::encode(&self.salt),
            hex::encode(self.digest)
        )
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(..)")
    }
}

/// One configured API key.
#[derive(Debug, Clone)]
pub struct ApiKeyEntry {
    /// Name used in logs and metrics.
    pub name: String,
    /// The key's hash.
    pub hash: KeyHash,
    /// Only read-only tools.
    pub read_only: bool,
    /// Allowed tool name patterns (`*` wildcard), or all.
    pub tools: Option<Vec<String>>,
    /// Rate limit for this key instead of the default.
    pub rate_limit: Option<RateLimit>,
}

/// OAuth 2.1 resource-server settings.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud` (this resource's URL, RFC 8707).
    pub audience: String,
    /// Where the issuer's JWKS is served.
    pub jwks_uri: String,
    /// Authorization servers named in the protected-resource metadata.
    pub authorization_servers: Vec<String>,
    /// Allowed clock skew for `exp`/`nbf`, in seconds.
    pub leeway_secs: u64,
    /// Scope that allows read-only tools.
    pub read_scope: String,
    /// Scope that allows every tool.
    pub write_scope: String,
}

/// How callers authenticate to the gateway.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// API keys; empty means none.
    pub api_keys: Vec<ApiKeyEntry>,
    /// OAuth resource-server mode.
    pub oauth: Option<OAuthSettings>,
    /// Public URL of the MCP endpoint (for metadata and `WWW-Authenticate`); derived from `Host` when unset.
    pub resource_url: Option<String>,
}

impl AuthConfig {
    /// Whether no authentication is configured (the gateway is open).
    pub fn is_open(&self) -> bool {
        self.api_keys.is_empty() && self.oauth.is_none()
    }
}

/// The session owner of every caller while gateway authentication is off: no caller proves an
/// identity then, and the client address is no identity (it changes behind NAT and is shared by many).
pub const ANONYMOUS_OWNER: &str = "anonymous";

/// Who is calling, after authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// Key name, token subject, or the client address for anonymous callers (rate limits, quotas, audit).
    pub name: String,
    /// The identity a session opened by this caller is bound to (see [`Caller::owns`]): `key:<name>` for
    /// an API key, `oauth:<iss> <sub>` for an OAuth access token, [`ANONYMOUS_OWNER`] without
    /// authentication. Empty (an attachment written before owners existed) owns nothing.
    #[serde(default)]
    pub owner: String,
    /// Whether the caller proved an identity.
    pub authenticated: bool,
    /// Only read-only tools.
    pub read_only: bool,
    /// Allowed tool patterns, or all.
    pub tools: Option<Vec<String>>,
    /// Per-caller rate limit override.
    pub rate_limit: Option<RateLimit>,
}

/// Whether the caller `owner` ([`Caller::owner`]), presenting credentials with `fingerprint`, may
/// use a record (a session, a task) opened by `record_owner` with credentials `record_fingerprint`:
/// the one caller-binding rule for sessions and tasks. The same identity (a record without an owner,
/// written before owners were recorded, belongs to nobody; an empty owner matches nothing) and the
/// same credentials; anyone else is answered as for an unknown id.
pub fn bound_to(
    record_owner: Option<&str>,
    record_fingerprint: Option<&str>,
    owner: &str,
    fingerprint: Option<&str>,
) -> bool {
    record_owner.is_some_and(|o| same_owner(o, owner)) && record_fingerprint == fingerprint
}

/// The identity comparison: equal and not empty.
fn same_owner(recorded: &str, caller: &str) -> bool {
    !caller.is_empty() && recorded == caller
}

impl Caller {
    /// An unauthenticated caller identified by `name`.
    pub fn anonymous(name: impl Into<String>) -> Self {
        Caller {
            name: name.into(),
            owner: ANONYMOUS_OWNER.to_owned(),
            authenticated: false,
            read_only: false,
            tools: None,
            rate_limit: None,
        }
    }

    /// Whether this caller may use a session recorded with `owner`: the one ownership rule every
    /// transport and platform applies. A session without an owner (a record written before owners
    /// were recorded) belongs to nobody, so it is refused like an unknown session.
    pub fn owns(&self, owner: Option<&str>) -> bool {
        owner.is_some_and(|o| same_owner(o, &self.owner))
    }

    /// Whether this caller, presenting credentials with `fingerprint`, may use a record (a session,
    /// a task) opened by `owner` with credentials `opened_with`: the one caller-binding rule, the
    /// same identity with the same credentials ([`bound_to`]).
    pub fn may_use(
        &self,
        owner: Option<&str>,
        opened_with: Option<&str>,
        fingerprint: Option<&str>,
    ) -> bool {
        bound_to(owner, opened_with, &self.owner, fingerprint)
    }

    /// Whether the caller may use the tool `name`.
    pub fn allows_tool(&self, name: &str) -> bool {
        self.tools
            .as_ref()
            .is_none_or(|patterns| patterns.iter().any(|p| glob_match(p, name)))
    }
}

/// Matches `name` against a pattern where `*` stands for any run of characters.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Why a caller was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credential was presented.
    #[error("authentication required")]
    Missing,
    /// The credential is wrong, malformed, expired or for another audience.
    #[error("invalid credentials: {0}")]
    Invalid(String),
    /// The issuer's keys could not be fetched.
    #[error("cannot verify the token now: {0}")]
    Unavailable(String),
    /// The configuration is unusable.
    #[error("authentication misconfigured: {0}")]
    Config(String),
}

/// The credential a request presents to the gateway.
#[derive(PartialEq, Eq)]
pub enum Presented<'h> {
    /// Nothing.
    None,
    /// `X-API-Key` or a bearer value that is not a JWT.
    Key(&'h str),
    /// A bearer JWT.
    Jwt(&'h str),
}

/// Reads the presented credential: `X-API-Key`, else `Authorization: Bearer`.
pub fn presented(headers: &http::HeaderMap) -> Presented<'_> {
    if let Some(k) = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        return Presented::Key(k);
    }
    let Some(auth) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Presented::None;
    };
    let Some((scheme, value)) = auth.trim().split_once(' ') else {
        return Presented::None;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Presented::None;
    }
    let value = value.trim();
    if value.is_empty() {
        Presented::None
    } else if value.split('.').count() == 3 && value.starts_with("ey") {
        Presented::Jwt(value)
    } else {
        Presented::Key(value)
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<f64>,
    nbf: Option<f64>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scp: Option<Vec<String>>,
}

#[derive(Default)]
struct CachedJwks {
    keys: Option<JwkSet>,
    fetched_at: UnixMillis,
}

/// The issuer's signing keys as last fetched. Gateways built in one process (or isolate) can share
/// one cache through [`crate::McpApp::with_jwks_cache`], so each fetches the JWKS once per refresh
/// interval instead of once per gateway.
#[derive(Default)]
pub struct JwksCache(Mutex<CachedJwks>);

/// Time after which cached JWKS are refreshed.
const JWKS_TTL_MS: u64 = 10 * 60 * 1000;
/// An unknown `kid` triggers at most one refresh per this interval.
const JWKS_MIN_REFRESH_MS: u64 = 30 * 1000;

/// Checks presented credentials against an [`AuthConfig`].
pub struct Authenticator {
    config: AuthConfig,
    jwks: Arc<JwksCache>,
}

impl Authenticator {
    /// An authenticator for `config`.
    pub fn new(config: AuthConfig) -> Self {
        Authenticator {
            config,
            jwks: Arc::default(),
        }
    }

    /// Keeps fetched signing keys in `cache` (shared with other authenticators).
    pub fn with_jwks_cache(mut self, cache: Arc<JwksCache>) -> Self {
        self.jwks = cache;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Authenticates a request. `anonymous_name` identifies open-mode callers (e.g. the client address).
    pub async fn authenticate(
        &self,
        headers: &http::HeaderMap,
        http: &dyn HttpClient,
        now: UnixMillis,
        anonymous_name: &str,
    ) -> Result<Caller, AuthError> {
        if self.config.is_open() {
            return Ok(Caller::anonymous(anonymous_name));
        }
        match presented(headers) {
            Presented::None => Err(AuthError::Missing),
            Presented::Key(key) => self.check_key(key),
            Presented::Jwt(token) => match &self.config.oauth {
                Some(oauth) => self.check_jwt(oauth, token, http, now).await,
                None => self.check_key(token),
            },
        }
    }

    fn check_key(&self, key: &str) -> Result<Caller, AuthError> {
        // Check every entry so the time taken does not reveal which one matched.
        let mut found: Option<&ApiKeyEntry> = None;
        for entry in &self.config.api_keys {
            if entry.hash.verify(key) && found.is_none() {
                found = Some(entry);
            }
        }
        let entry = found.ok_or_else(|| AuthError::Invalid("unknown API key".into()))?;
        Ok(Caller {
            name: entry.name.clone(),
            owner: format!("key:{}", entry.name),
            authenticated: true,
            read_only: entry.read_only,
            tools: entry.tools.clone(),
            rate_limit: entry.rate_limit,
        })
    }

    async fn keys(
        &self,
        oauth: &OAuthSettings,
        http: &dyn HttpClient,
        now: UnixMillis,
        force: bool,
    ) -> Result<JwkSet, AuthError> {
        let cached = {
            let cache = self
                .jwks
                .0
                .lock()
                .map_err(|_| AuthError::Unavailable("JWKS cache poisoned".into()))?;
            let fresh = now.saturating_sub(cache.fetched_at) < JWKS_TTL_MS;
            let may_refresh = now.saturating_sub(cache.fetched_at) >= JWKS_MIN_REFRESH_MS;
            match &cache.keys {
                Some(k) if fresh && !(force && may_refresh) => Some(k.clone()),
                Some(k) if force && !may_refresh => Some(k.clone()),
                _ => None,
            }
        };
        if let Some(k) = cached {
            return Ok(k);
        }
        let req = http::Request::get(&oauth.jwks_uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Bytes::new())
            .map_err(|e| AuthError::Config(format!("bad JWKS URL: {e}")))?;
        let resp = http
            .send(req)
            .await
            .map_err(|e| AuthError::Unavailable(format!("fetching JWKS failed: {e}")))?;
        if !resp.status().is_success() {
            return Err(AuthError::Unavailable(format!(
                "JWKS endpoint answered {}",
                resp.status()
            )));
        }
        let set: JwkSet = serde_json::from_slice(resp.body())
            .map_err(|e| AuthError::Unavailable(format!("JWKS is not valid: {e}")))?;
        if let Ok(mut cache) = self.jwks.0.lock() {
            cache.keys = Some(set.clone());
            cache.fetched_at = now;
        }
        Ok(set)
    }

    async fn check_jwt(
        &self,
        oauth: &OAuthSettings,
        token: &str,
        http: &dyn HttpClient,
        now: UnixMillis,
    ) -> Result<Caller, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::Invalid(format!("malformed token: {e}")))?;
        let kid = header
            .kid
            .clone()
            .ok_or_else(|| AuthError::Invalid("token has no kid".into()))?;
        let mut keys = self.keys(oauth, http, now, false).await?;
        if keys.find(&kid).is_none() {
            keys = self.keys(oauth, http, now, true).await?;
        }
        let jwk = keys
            .find(&kid)
            .ok_or_else(|| AuthError::Invalid("token signed by an unknown key".into()))?;
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk)
            .map_err(|e| AuthError::Invalid(format!("unusable signing key: {e}")))?;
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        // exp/nbf are checked below against the Clock port (the core never reads the system clock).
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[&oauth.issuer]);
        validation.set_audience(&[&oauth.audience]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let now_s = (now / 1000) as f64;
        let leeway = oauth.leeway_secs as f64;
        match claims.exp {
            Some(exp) if now_s <= exp + leeway => {}
            Some(_) => return Err(AuthError::Invalid("token expired".into())),
            None => return Err(AuthError::Invalid("token has no exp".into())),
        }
        if claims.nbf.is_some_and(|nbf| now_s + leeway < nbf) {
            return Err(AuthError::Invalid("token not yet valid".into()));
        }
        let scopes: Vec<String> = claims
            .scope
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .or(claims.scp)
            .unwrap_or_default();
        let write = scopes.iter().any(|s| s == &oauth.write_scope);
        let read = write || scopes.iter().any(|s| s == &oauth.read_scope);
        if !read {
            return Err(AuthError::Invalid(format!(
                "token lacks scope {} or {}",
                oauth.read_scope, oauth.write_scope
            )));
        }
        // Sessions belong to `iss` + `sub`; a token naming no subject could not own one.
        let sub = claims
            .sub
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthError::Invalid("token has no sub".into()))?;
        Ok(Caller {
            owner: format!("oauth:{} {sub}", oauth.issuer),
            name: sub,
            authenticated: true,
            read_only: !write,
            tools: None,
            rate_limit: None,
        })
    }

    /// The URL of the MCP resource, from configuration or the request's `Host`.
    pub fn resource_url(&self, headers: &http::HeaderMap) -> String {
        if let Some(u) = &self.config.resource_url {
            return u.clone();
        }
        let host = headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}/mcp")
    }

    /// The `WWW-Authenticate` value for a 401.
    pub fn challenge(&self, headers: &http::HeaderMap, err: &AuthError) -> String {
        let base = match &self.config.oauth {
            Some(_) => {
                let resource = self.resource_url(headers);
                let origin = resource.split('/').take(3).collect::<Vec<_>>().join("/");
                format!(
                    "Bearer resource_metadata=\"{origin}/.well-known/oauth-protected-resource\""
                )
            }
            None => "Bearer realm=\"mcp-edge\"".to_owned(),
        };
        match err {
            AuthError::Invalid(_) => format!("{base}, error=\"invalid_token\""),
            _ => base,
        }
    }

    /// RFC 9728 protected-resource metadata, when OAuth is configured.
    pub fn resource_metadata(&self, headers: &http::HeaderMap) -> Option<Value> {
        let oauth = self.config.oauth.as_ref()?;
        Some(json!({
            "resource": self.resource_url(headers),
            "authorization_servers": oauth.authorization_servers,
            "bearer_methods_supported": ["header"],
            "scopes_supported": [oauth.read_scope, oauth.write_scope],
        }))
    }
}

#[cfg(test)]
mod tests;
