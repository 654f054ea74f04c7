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

/// Credentials the platform read from its environment (`GITLAB_API_URL`, `GITLAB_TOKEN`, `JIRA_URL`,
/// `JIRA_EMAIL`, `JIRA_API_TOKEN`, `CONFLUENCE_URL`, `CONFLUENCE_EMAIL`, `CONFLUENCE_API_TOKEN`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CredentialDefaults {
    /// GitLab fallback.
    pub gitlab: Option<ServiceCredential>,
    /// Jira fallback.
    pub jira: Option<ServiceCredential>,
    /// Confluence fallback.
    pub confluence: Option<ServiceCredential>,
}

impl fmt::Debug for CredentialDefaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialDefaults")
            .field("gitlab", &self.gitlab)
            .field("jira", &self.jira)
            .field("confluence", &self.confluence)
            .finish()
    }
}

impl CredentialDefaults {
    /// Builds the fallback from environment-style variables looked up with `var`
    /// (the platform passes `std::env::var` or its secret store).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let atlassian = |url: &str, email: &str, token: &str, pat: &str| {
            let url = get(url)?;
            let auth = match (get(email), get(token)) {
                (Some(email), Some(token)) => UpstreamAuth::Basic { email, token },
                (None, Some(token)) => UpstreamAuth::Bearer(token),
                (_, None) => UpstreamAuth::Bearer(get(pat)?),
            };
            Some(ServiceCredential { url, auth })
        };
        let gitlab = get("GITLAB_API_URL")
            .or_else(|| get("GITLAB_URL"))
            .and_then(|url| {
                let auth = get("GITLAB_TOKEN")
                    .or_else(|| get("GITLAB_PERSONAL_ACCESS_TOKEN"))
                    .map(UpstreamAuth::PrivateToken)
                    .or_else(|| get("CI_JOB_TOKEN").map(UpstreamAuth::JobToken))?;
                Some(ServiceCredential { url, auth })
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
        }
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
        let gitlab = pick(header("x-gitlab-api-url"), gitlab_token, &defaults.gitlab);

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
        Credentials {
            gitlab,
            jira: pick(jira_url, jira_auth, &defaults.jira),
            confluence: pick(conf_url, conf_auth, &defaults.confluence),
            material,
        }
    }
}

/// Combines header URL and header auth with the environment fallback without ever sending an
/// environment token to a header-supplied URL.
fn pick(
    url: Option<String>,
    auth: Option<UpstreamAuth>,
    fallback: &Option<ServiceCredential>,
) -> Option<ServiceCredential> {
    match (url, auth, fallback) {
        (Some(url), Some(auth), _) => Some(ServiceCredential { url, auth }),
        // A header URL without a header token: never pair it with the environment's token.
        (Some(_), None, _) => None,
        (None, Some(auth), Some(fb)) => Some(ServiceCredential {
            url: fb.url.clone(),
            auth,
        }),
        (None, None, Some(fb)) => Some(fb.clone()),
        (None, _, None) => None,
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.material.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Credentials")
            .field("headers", &names)
            .field("gitlab", &self.gitlab)
            .field("jira", &self.jira)
            .field("confluence", &self.confluence)
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
