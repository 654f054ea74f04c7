//! Upstream credentials read per request from headers, with environment fallback.
//!
//! Credentials are never stored: a session keeps only a keyed fingerprint (see
//! [`Credentials::fingerprint`]). `Debug` never prints a secret.
//!
//! Precedence per service: headers win over the fallback the platform read from its environment.
//! A token from the environment is only ever sent to the URL from the environment: when a request
//! names its own upstream URL in a header, it must bring its own token too.

use std::fmt;

use base64::Engine as _;
use http::HeaderMap;

/// An upstream service a connector talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Jira Cloud / Data Center (REST v3).
    Jira,
    /// Confluence Cloud (REST v1 search, v2 pages).
    Confluence,
    /// GitLab (REST v4).
    GitLab,
}

impl Service {
    /// Human name used in messages ("Jira", "Confluence", "GitLab").
    pub fn name(self) -> &'static str {
        match self {
            Service::Jira => "Jira",
            Service::Confluence => "Confluence",
            Service::GitLab => "GitLab",
        }
    }

    /// Lower-case label used in metrics and tool names.
    pub fn label(self) -> &'static str {
        match self {
            Service::Jira => "jira",
            Service::Confluence => "confluence",
            Service::GitLab => "gitlab",
        }
    }
}

/// How a request authenticates to an upstream service.
#[derive(Clone, PartialEq, Eq)]
pub enum UpstreamAuth {
    /// Atlassian Cloud: HTTP basic auth with the account email and an API token.
    Basic {
        /// Account email.
        email: String,
        /// API token.
        token: String,
    },
    /// `Authorization: Bearer` (Atlassian Data Center PAT, GitLab OAuth token).
    Bearer(String),
    /// GitLab `PRIVATE-TOKEN`.
    PrivateToken(String),
    /// GitLab CI `JOB-TOKEN`.
    JobToken(String),
}

impl fmt::Debug for UpstreamAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UpstreamAuth({}, <redacted>)", self.scheme())
    }
}

impl UpstreamAuth {
    /// The header that carries this credential upstream.
    pub fn header(&self) -> (http::HeaderName, String) {
        match self {
            UpstreamAuth::Basic { email, token } => (
                http::header::AUTHORIZATION,
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{email}:{token}"))
                ),
            ),
            UpstreamAuth::Bearer(t) => (http::header::AUTHORIZATION, format!("Bearer {t}")),
            UpstreamAuth::PrivateToken(t) => {
                (http::HeaderName::from_static("private-token"), t.clone())
            }
            UpstreamAuth::JobToken(t) => (http::HeaderName::from_static("job-token"), t.clone()),
        }
    }

    fn scheme(&self) -> &'static str {
        match self {
            UpstreamAuth::Basic { .. } => "basic",
            UpstreamAuth::Bearer(_) => "bearer",
            UpstreamAuth::PrivateToken(_) => "private-token",
            UpstreamAuth::JobToken(_) => "job-token",
        }
    }
}

/// Where and how to reach one service: the URL as given (normalized later by the connector) and the auth.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceCredential {
    /// Base URL as presented (header or environment).
    pub url: String,
    /// How to authenticate.
    pub auth: UpstreamAuth,
}

impl fmt::Debug for ServiceCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceCredential")
            .field("url", &self.url)
            .field("auth", &self.auth.scheme())
            .finish()
    }
}

/// What the environment says about one service: its URL and, optionally, a token for it.
///
/// An environment URL without a token is the usual multi-tenant setup: the operator fixes the
/// instance and every caller brings their own token in a header.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceDefault {
    /// Base URL from the environment.
    pub url: String,
    /// Credential from the environment, if any (only ever sent to `url`).
    pub auth: Option<UpstreamAuth>,
}

impl fmt::Debug for ServiceDefault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceDefault")
            .field("url", &self.url)
            .field("auth", &self.auth.as_ref().map(UpstreamAuth::scheme))
            .finish()
    }
}

/// Upstream settings the platform read from its environment (`GITLAB_API_URL`, `GITLAB_TOKEN`,
/// `JIRA_URL`, `JIRA_EMAIL`, `JIRA_API_TOKEN`, `CONFLUENCE_URL`, `CONFLUENCE_EMAIL`,
/// `CONFLUENCE_API_TOKEN`, ...) plus the operator's choice of services whose URL is fixed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CredentialDefaults {
    /// GitLab fallback.
    pub gitlab: Option<ServiceDefault>,
    /// Jira fallback.
    pub jira: Option<ServiceDefault>,
    /// Confluence fallback.
    pub confluence: Option<ServiceDefault>,
    /// Services whose header-supplied URLs are refused: only the environment URL is used
    /// (`MCP_EDGE_DYNAMIC_URLS` lists the services that do accept header URLs).
    pub fixed_urls: Vec<Service>,
}

impl fmt::Debug for CredentialDefaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialDefaults")
            .field("gitlab", &self.gitlab)
            .field("jira", &self.jira)
            .field("confluence", &self.confluence)
            .field("fixed_urls", &self.fixed_urls)
            .finish()
    }
}

impl CredentialDefaults {
    /// Builds the fallback from environment-style variables looked up with `var`
    /// (the platform passes `std::env::var` or its secret store). An environment URL is kept
    /// without a token (callers then bring theirs); a token without a URL is ignored.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let atlassian = |url: &str, email: &str, token: &str, pat: &str| {
            let url = get(url)?;
            let auth = match (get(email), get(token)) {
                (Some(email), Some(token)) => Some(UpstreamAuth::Basic { email, token }),
                (None, Some(token)) => Some(UpstreamAuth::Bearer(token)),
                (_, None) => get(pat).map(UpstreamAuth::Bearer),
            };
            Some(ServiceDefault { url, auth })
        };
        let gitlab = get("GITLAB_API_URL")
            .or_else(|| get("GITLAB_URL"))
            .map(|url| {
                let auth = get("GITLAB_TOKEN")
                    .or_else(|| get("GITLAB_PERSONAL_ACCESS_TOKEN"))
                    .map(UpstreamAuth::PrivateToken)
                    .or_else(|| get("CI_JOB_TOKEN").map(UpstreamAuth::JobToken));
                ServiceDefault { url, auth }
            });
        CredentialDefaults {
            gitlab,
            jira: atlassian(
                "JIRA_URL",
                "JIRA_EMAIL",
                "JIRA_API_TOKEN",
                "JIRA_PERSONAL_TOKEN",
            ),
            confluence: atlassian(
                "CONFLUENCE_URL",
                "CONFLUENCE_EMAIL",
                "CONFLUENCE_API_TOKEN",
                "CONFLUENCE_PERSONAL_TOKEN",
            ),
            fixed_urls: Vec::new(),
        }
    }

    /// The environment's entry for `service`.
    pub fn service(&self, service: Service) -> Option<&ServiceDefault> {
        match service {
            Service::Jira => self.jira.as_ref(),
            Service::Confluence => self.confluence.as_ref(),
            Service::GitLab => self.gitlab.as_ref(),
        }
    }

    /// Whether a header-supplied URL may be used for `service` (the operator did not fix it).
    pub fn dynamic_url_allowed(&self, service: Service) -> bool {
        !self.fixed_urls.contains(&service)
    }
}

/// Header names that carry upstream credential material (matched case-insensitively).
const SECRET_HEADERS: &[&str] = &[
    "x-gitlab-api-url",
    "private-token",
    "job-token",
    "x-jira-url",
    "x-jira-token",
    "x-jira-email",
    "x-confluence-url",
    "x-confluence-token",
    "x-confluence-email",
    "x-atlassian-jira-url",
    "x-atlassian-jira-personal-token",
    "x-atlassian-confluence-url",
    "x-atlassian-confluence-personal-token",
];

/// Upstream credentials of one request. `Debug` never prints secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// GitLab, when a URL and a token are known.
    pub gitlab: Option<ServiceCredential>,
    /// Jira, when a URL and a token are known.
    pub jira: Option<ServiceCredential>,
    /// Confluence, when a URL and a token are known.
    pub confluence: Option<ServiceCredential>,
    /// Services whose header URL was refused because the operator fixed their URL.
    pub refused_urls: Vec<Service>,
    /// Secret-bearing header values in a canonical order, used for fingerprinting.
    pub(crate) material: Vec<(String, String)>,
}

impl Credentials {
    /// No credentials at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether no credential was presented in headers.
    pub fn is_empty(&self) -> bool {
        self.material.is_empty()
    }

    /// The credential for `service`, if any.
    pub fn service(&self, service: Service) -> Option<&ServiceCredential> {
        match service {
            Service::Jira => self.jira.as_ref(),
            Service::Confluence => self.confluence.as_ref(),
            Service::GitLab => self.gitlab.as_ref(),
        }
    }

    /// Whether this request named its own URL for `service` although the operator fixed it.
    pub fn url_refused(&self, service: Service) -> bool {
        self.refused_urls.contains(&service)
    }

    /// Keyed fingerprint (HMAC-SHA256 under `key`, hex) of the header credential material, or `None`
    /// when the request presented none.
    pub fn fingerprint(&self, key: &[u8]) -> Option<String> {
        use hmac::{Mac, SimpleHmac};
        if self.material.is_empty() {
            return None;
        }
        let mut mac = SimpleHmac::<sha2::Sha256>::new_from_slice(key).ok()?;
        for (name, value) in &self.material {
            mac.update(name.as_bytes());
            mac.update(&[0]);
            mac.update(value.as_bytes());
            mac.update(&[0]);
        }
        Some(hex::encode(mac.finalize().into_bytes()))
    }

    /// Reads credentials from request headers only (no fallback; `Authorization` not used upstream).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::resolve(headers, &CredentialDefaults::default(), false)
    }

    /// Reads credentials from request headers, falling back to `defaults` per service.
    ///
    /// `bearer_is_upstream` says whether `Authorization: Bearer` may serve as an upstream token; the
    /// gateway passes `true` only when it does not authenticate callers itself.
    pub fn resolve(
        headers: &HeaderMap,
        defaults: &CredentialDefaults,
        bearer_is_upstream: bool,
    ) -> Self {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let bearer = bearer_is_upstream
            .then(|| header("authorization"))
            .flatten()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| rest.trim().to_owned())
                    .filter(|t| !t.is_empty())
            });
        let mut material: Vec<(String, String)> = SECRET_HEADERS
            .iter()
            .filter_map(|n| header(n).map(|v| ((*n).to_owned(), v)))
            .collect();
        if let Some(b) = &bearer {
            material.push(("authorization".into(), b.clone()));
        }

        let gitlab_token = header("private-token")
            .map(UpstreamAuth::PrivateToken)
            .or_else(|| header("job-token").map(UpstreamAuth::JobToken))
            .or_else(|| bearer.clone().map(UpstreamAuth::Bearer));
        let mut refused_urls = Vec::new();
        let mut pick =
            |service: Service, url: Option<String>, auth: Option<UpstreamAuth>| match pick(
                service, url, auth, defaults,
            ) {
                Picked::Use(c) => Some(c),
                Picked::Nothing => None,
                Picked::Refused => {
                    refused_urls.push(service);
                    None
                }
            };
        let gitlab = pick(Service::GitLab, header("x-gitlab-api-url"), gitlab_token);

        let atlassian = |url: &[&str], token: &[&str], email: &str| {
            let url = url.iter().find_map(|n| header(n));
            let email = header(email);
            let token = token.iter().find_map(|n| header(n));
            let auth = match (token, email) {
                (Some(token), Some(email)) => Some(UpstreamAuth::Basic { email, token }),
                (Some(token), None) => Some(UpstreamAuth::Bearer(token)),
                (None, _) => bearer.clone().map(UpstreamAuth::Bearer),
            };
            (url, auth)
        };
        let (jira_url, jira_auth) = atlassian(
            &["x-jira-url", "x-atlassian-jira-url"],
            &["x-jira-token", "x-atlassian-jira-personal-token"],
            "x-jira-email",
        );
        let (conf_url, conf_auth) = atlassian(
            &["x-confluence-url", "x-atlassian-confluence-url"],
            &[
                "x-confluence-token",
                "x-atlassian-confluence-personal-token",
            ],
            "x-confluence-email",
        );
        let jira = pick(Service::Jira, jira_url, jira_auth);
        let confluence = pick(Service::Confluence, conf_url, conf_auth);
        Credentials {
            gitlab,
            jira,
            confluence,
            refused_urls,
            material,
        }
    }
}

/// The outcome of combining a request's headers with the environment for one service.
enum Picked {
    Use(ServiceCredential),
    Nothing,
    Refused,
}

/// Combines header URL and header auth with the environment fallback. Rules:
/// - a header URL needs a header token: an environment token is never sent to it;
/// - without a header URL, the environment URL is used with the header token if there is one
///   (hybrid: operator fixes the URL, each caller brings a token), else with the environment token;
/// - when the operator fixed the service's URL, a header URL naming another instance is refused
///   (one naming the environment's instance counts as no header URL).
fn pick(
    service: Service,
    url: Option<String>,
    auth: Option<UpstreamAuth>,
    defaults: &CredentialDefaults,
) -> Picked {
    let fallback = defaults.service(service);
    let url = match (url, fallback) {
        (Some(url), Some(fb))
            if !defaults.dynamic_url_allowed(service) && same_instance(service, &url, &fb.url) =>
        {
            None
        }
        (Some(_), _) if !defaults.dynamic_url_allowed(service) => return Picked::Refused,
        (url, _) => url,
    };
    match (url, auth, fallback) {
        (Some(url), Some(auth), _) => Picked::Use(ServiceCredential { url, auth }),
        // A header URL without a header token: never pair it with the environment's token.
        (Some(_), None, _) => Picked::Nothing,
        (None, Some(auth), Some(fb)) => Picked::Use(ServiceCredential {
            url: fb.url.clone(),
            auth,
        }),
        (
            None,
            None,
            Some(ServiceDefault {
                url,
                auth: Some(auth),
            }),
        ) => Picked::Use(ServiceCredential {
            url: url.clone(),
            auth: auth.clone(),
        }),
        (None, _, _) => Picked::Nothing,
    }
}

/// Whether two URLs name the same instance of `service` once normalized (GitLab `/api/v4`,
/// Confluence `/wiki`, trailing slashes, host case).
fn same_instance(service: Service, a: &str, b: &str) -> bool {
    let norm = |text: &str| {
        let url = url::Url::parse(text.trim()).ok()?;
        Some(match service {
            Service::GitLab => normalize_gitlab_base(&url),
            _ => normalize_atlassian_base(&url, service),
        })
    };
    matches!((norm(a), norm(b)), (Some(x), Some(y)) if x == y)
}

/// Normalizes a GitLab URL to end in `/api/v4` (accepts `https://host`, `https://host/api/v4`,
/// `https://host/sub/path/api/v4`, with or without a trailing slash).
pub fn normalize_gitlab_base(url: &url::Url) -> String {
    let path = url.path().trim_end_matches('/');
    let path = path.strip_suffix("/api/v4").unwrap_or(path);
    format!("{}{}/api/v4", origin_of(url), path)
}

/// Normalizes an Atlassian site URL: no trailing slash, no `/rest/api/3` or `/rest/api/2` suffix,
/// and for Confluence no `/wiki` suffix.
pub fn normalize_atlassian_base(url: &url::Url, service: Service) -> String {
    let path = url.path().trim_end_matches('/');
    let path = match service {
        Service::Confluence => path.strip_suffix("/wiki").unwrap_or(path),
        _ => path,
    };
    let path = path
        .strip_suffix("/rest/api/3")
        .or_else(|| path.strip_suffix("/rest/api/2"))
        .unwrap_or(path);
    format!("{}{}", origin_of(url), path)
}

/// The URL's origin (`scheme://host[:port]`).
pub(crate) fn origin_of(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.material.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Credentials")
            .field("headers", &names)
            .field("gitlab", &self.gitlab)
            .field("jira", &self.jira)
            .field("confluence", &self.confluence)
            .field("refused_urls", &self.refused_urls)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn gitlab_token_precedence_is_private_then_job_then_bearer() {
        let all = headers(&[
            ("X-GitLab-API-URL", "https://gl.example.com"),
            ("Private-Token", "p"),
            ("JOB-TOKEN", "j"),
            ("Authorization", "Bearer b"),
        ]);
        let c = Credentials::resolve(&all, &CredentialDefaults::default(), true);
        assert_eq!(
            c.gitlab.unwrap().auth,
            UpstreamAuth::PrivateToken("p".into())
        );
        let job = headers(&[
            ("X-GitLab-API-URL", "https://gl.example.com"),
            ("JOB-TOKEN", "j"),
            ("Authorization", "Bearer b"),
        ]);
        let c = Credentials::resolve(&job, &CredentialDefaults::default(), true);
        assert_eq!(c.gitlab.unwrap().auth, UpstreamAuth::JobToken("j".into()));
        let bearer = headers(&[
            ("X-GitLab-API-URL", "https://gl.example.com"),
            ("Authorization", "Bearer b"),
        ]);
        let c = Credentials::resolve(&bearer, &CredentialDefaults::default(), true);
        assert_eq!(c.gitlab.unwrap().auth, UpstreamAuth::Bearer("b".into()));
    }

    #[test]
    fn authorization_is_never_upstream_when_the_gateway_authenticates() {
        let h = headers(&[
            ("X-GitLab-API-URL", "https://gl.example.com"),
            ("Authorization", "Bearer gateway-key"),
        ]);
        let c = Credentials::resolve(&h, &CredentialDefaults::default(), false);
        assert!(c.gitlab.is_none());
        assert!(!c.material.iter().any(|(_, v)| v.contains("gateway-key")));
    }

    #[test]
    fn atlassian_email_selects_basic_auth_and_aliases_are_accepted() {
        let h = headers(&[
            ("X-Jira-URL", "https://x.atlassian.net"),
            ("X-Jira-Token", "t"),
            ("X-Jira-Email", "a@b.c"),
            ("X-Atlassian-Confluence-Url", "https://x.atlassian.net/wiki"),
            ("X-Atlassian-Confluence-Personal-Token", "pat"),
        ]);
        let c = Credentials::resolve(&h, &CredentialDefaults::default(), false);
        let jira = c.jira.unwrap();
        assert_eq!(
            jira.auth.header().1,
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("a@b.c:t")
            )
        );
        assert_eq!(
            c.confluence.unwrap().auth,
            UpstreamAuth::Bearer("pat".into())
        );
    }

    #[test]
    fn environment_tokens_never_go_to_header_urls() {
        let defaults = CredentialDefaults::from_vars(|n| match n {
            "GITLAB_API_URL" => Some("https://gitlab.corp".into()),
            "GITLAB_TOKEN" => Some("env-secret".into()),
            _ => None,
        });
        let none = Credentials::resolve(&HeaderMap::new(), &defaults, false);
        assert_eq!(none.gitlab.as_ref().unwrap().url, "https://gitlab.corp");
        let evil = headers(&[("X-GitLab-API-URL", "https://evil.example")]);
        let c = Credentials::resolve(&evil, &defaults, false);
        assert!(c.gitlab.is_none(), "env token must not follow a header URL");
        let own = headers(&[("Private-Token", "mine")]);
        let c = Credentials::resolve(&own, &defaults, false);
        let gl = c.gitlab.unwrap();
        assert_eq!(gl.url, "https://gitlab.corp");
        assert_eq!(gl.auth, UpstreamAuth::PrivateToken("mine".into()));
    }

    /// Where one part of a credential comes from in a table row.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Src {
        Header,
        Env,
        Absent,
    }

    /// What a row resolves to: the URL's and the token's origin, nothing, or a refused header URL.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Outcome {
        Use(Src, Src),
        Nothing,
        Refused,
    }

    /// Per service: header names and environment variables of URL and token, and the auth each yields.
    struct Names {
        service: Service,
        header_url: &'static str,
        header_token: &'static str,
        env_url: &'static str,
        env_token: &'static str,
        auth: fn(&str) -> UpstreamAuth,
    }

    const SERVICES: [Names; 3] = [
        Names {
            service: Service::GitLab,
            header_url: "x-gitlab-api-url",
            header_token: "private-token",
            env_url: "GITLAB_API_URL",
            env_token: "GITLAB_TOKEN",
            auth: |t| UpstreamAuth::PrivateToken(t.into()),
        },
        Names {
            service: Service::Jira,
            header_url: "x-jira-url",
            header_token: "x-jira-token",
            env_url: "JIRA_URL",
            env_token: "JIRA_API_TOKEN",
            auth: |t| UpstreamAuth::Bearer(t.into()),
        },
        Names {
            service: Service::Confluence,
            header_url: "x-confluence-url",
            header_token: "x-confluence-token",
            env_url: "CONFLUENCE_URL",
            env_token: "CONFLUENCE_API_TOKEN",
            auth: |t| UpstreamAuth::Bearer(t.into()),
        },
    ];

    #[test]
    fn every_combination_of_url_and_token_sources_per_service() {
        use Outcome::{Nothing, Refused, Use};
        use Src::{Absent, Env, Header};
        // (URL from, token from, outcome with header URLs allowed, outcome with the URL fixed)
        let table = [
            (Header, Header, Use(Header, Header), Refused),
            (Header, Env, Nothing, Refused),
            (Header, Absent, Nothing, Refused),
            (Env, Header, Use(Env, Header), Use(Env, Header)),
            (Env, Env, Use(Env, Env), Use(Env, Env)),
            (Env, Absent, Nothing, Nothing),
            (Absent, Header, Nothing, Nothing),
            (Absent, Env, Nothing, Nothing),
            (Absent, Absent, Nothing, Nothing),
        ];
        for names in &SERVICES {
            for (url_from, token_from, dynamic, fixed) in table {
                for (fixed_url, expected) in [(false, dynamic), (true, fixed)] {
                    let mut h = HeaderMap::new();
                    let mut env: Vec<(&str, &str)> = Vec::new();
                    match url_from {
                        Header => {
                            h.insert(names.header_url, "https://header.example".parse().unwrap());
                        }
                        Env => env.push((names.env_url, "https://env.example")),
                        Absent => {}
                    }
                    match token_from {
                        Header => {
                            h.insert(names.header_token, "header-token".parse().unwrap());
                        }
                        Env => env.push((names.env_token, "env-token")),
                        Absent => {}
                    }
                    let mut defaults = CredentialDefaults::from_vars(|n| {
                        env.iter()
                            .find(|(k, _)| *k == n)
                            .map(|(_, v)| v.to_string())
                    });
                    if fixed_url {
                        defaults.fixed_urls = vec![names.service];
                    }
                    let c = Credentials::resolve(&h, &defaults, false);
                    let row = format!(
                        "{:?}: URL {url_from:?}, token {token_from:?}, fixed {fixed_url}",
                        names.service
                    );
                    let got = match (c.service(names.service), c.url_refused(names.service)) {
                        (Some(_), true) => panic!("{row}: both used and refused"),
                        (None, true) => Refused,
                        (None, false) => Nothing,
                        (Some(cred), false) => {
                            let url = match cred.url.as_str() {
                                "https://header.example" => Header,
                                "https://env.example" => Env,
                                other => panic!("{row}: unexpected URL {other}"),
                            };
                            let token = if cred.auth == (names.auth)("header-token") {
                                Header
                            } else if cred.auth == (names.auth)("env-token") {
                                Env
                            } else {
                                panic!("{row}: unexpected auth {:?}", cred.auth)
                            };
                            Use(url, token)
                        }
                    };
                    assert_eq!(got, expected, "{row}");
                    // The other services are untouched by this service's headers and variables.
                    for other in SERVICES.iter().filter(|o| o.service != names.service) {
                        assert!(c.service(other.service).is_none(), "{row}");
                        assert!(!c.url_refused(other.service), "{row}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_header_url_next_to_an_environment_url() {
        for names in &SERVICES {
            let env = [
                (names.env_url, "https://env.example/"),
                (names.env_token, "env-token"),
            ];
            let mut defaults = CredentialDefaults::from_vars(|n| {
                env.iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            });
            let mut other = HeaderMap::new();
            other.insert(names.header_url, "https://other.example".parse().unwrap());
            // Dynamic: a different header URL without a token never gets the environment token.
            let c = Credentials::resolve(&other, &defaults, false);
            assert!(c.service(names.service).is_none() && !c.url_refused(names.service));
            other.insert(names.header_token, "header-token".parse().unwrap());
            let c = Credentials::resolve(&other, &defaults, false);
            assert_eq!(
                c.service(names.service).unwrap().url,
                "https://other.example"
            );
            // Fixed: refused, and the environment credential is not used instead.
            defaults.fixed_urls = vec![names.service];
            let c = Credentials::resolve(&other, &defaults, false);
            assert!(c.service(names.service).is_none() && c.url_refused(names.service));
            // Fixed, but the header names the environment's own instance: as if it were absent.
            let mut same = HeaderMap::new();
            same.insert(names.header_url, "https://ENV.example".parse().unwrap());
            let c = Credentials::resolve(&same, &defaults, false);
            let used = c.service(names.service).unwrap();
            assert_eq!(used.url, "https://env.example/");
            assert_eq!(used.auth, (names.auth)("env-token"));
        }
    }

    #[test]
    fn debug_and_fingerprint_never_reveal_secrets() {
        let h = headers(&[
            ("X-Jira-URL", "https://x.atlassian.net"),
            ("X-Jira-Token", "super-secret-token"),
        ]);
        let c = Credentials::resolve(&h, &CredentialDefaults::default(), false);
        let shown = format!("{c:?}");
        assert!(!shown.contains("super-secret-token"), "{shown}");
        let fp = c.fingerprint(b"k").unwrap();
        assert_eq!(fp.len(), 64);
        assert_ne!(Some(fp), Credentials::none().fingerprint(b"k"));
    }
}
