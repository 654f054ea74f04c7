//! Header checks shared by every HTTP transport: `Content-Type`, `Accept`, `Origin` and `Host`.

use http::HeaderMap;

use crate::error::McpError;

/// What the client's `Accept` header allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acceptable {
    /// `application/json` (or a wildcard) is acceptable.
    pub json: bool,
    /// `text/event-stream` (or a wildcard) is acceptable.
    pub sse: bool,
}

/// Parses `Accept`; a missing header accepts everything.
pub fn acceptable(headers: &HeaderMap) -> Acceptable {
    let mut seen = false;
    let mut out = Acceptable {
        json: false,
        sse: false,
    };
    for value in headers.get_all(http::header::ACCEPT) {
        let Ok(text) = value.to_str() else { continue };
        for item in text.split(',') {
            let mut parts = item.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            if media.is_empty() {
                continue;
            }
            seen = true;
            if refused {
                continue;
            }
            match media.as_str() {
                "*/*" => {
                    out.json = true;
                    out.sse = true;
                }
                "application/*" | "application/json" => out.json = true,
                "text/*" | "text/event-stream" => out.sse = true,
                _ => {}
            }
        }
    }
    if seen {
        out
    } else {
        Acceptable {
            json: true,
            sse: true,
        }
    }
}

/// Checks that a POST body is declared as JSON.
pub fn require_json_content(headers: &HeaderMap) -> Result<(), McpError> {
    let ok = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        })
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(McpError::UnsupportedMediaType)
    }
}

/// Whether `host` (no port) names the loopback interface.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

fn split_host_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    authority.rsplit_once(':').map_or(authority, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            authority
        }
    })
}

/// Which browser origins and `Host` names may reach the gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    /// Extra allowed origins (`scheme://host[:port]`), or `*` for any.
    pub allowed_origins: Vec<String>,
    /// When set, only these hosts (plus loopback names) may appear in `Host` (DNS-rebinding protection).
    pub allowed_hosts: Option<Vec<String>>,
}

impl OriginPolicy {
    /// Checks `Origin` and `Host`; loopback origins are always allowed.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), McpError> {
        if let Some(origin) = headers.get(http::header::ORIGIN) {
            let origin = origin
                .to_str()
                .map_err(|_| McpError::Forbidden("invalid Origin header".into()))?;
            if !self.origin_allowed(origin) {
                return Err(McpError::Forbidden(format!(
                    "origin {origin} is not allowed"
                )));
            }
        }
        if let Some(allowed) = &self.allowed_hosts {
            let host = headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let name = split_host_port(host);
            let ok = host.is_empty()
                || is_loopback_host(name)
                || allowed
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(name) || a.eq_ignore_ascii_case(host));
            if !ok {
                return Err(McpError::Forbidden(format!("host {host} is not allowed")));
            }
        }
        Ok(())
    }

    /// Whether a browser origin may call the gateway.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        if origin == "null" {
            return self.allowed_origins.iter().any(|a| a == "*");
        }
        if self
            .allowed_origins
            .iter()
            .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
        {
            return true;
        }
        let Some((scheme, rest)) = origin.split_once("://") else {
            return false;
        };
        matches!(scheme, "http" | "https") && is_loopback_host(split_host_port(rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn accept_parsing() {
        assert_eq!(
            acceptable(&h(&[])),
            Acceptable {
                json: true,
                sse: true
            }
        );
        assert_eq!(
            acceptable(&h(&[("accept", "application/json, text/event-stream")])),
            Acceptable {
                json: true,
                sse: true
            }
        );
        assert_eq!(
            acceptable(&h(&[("accept", "text/plain")])),
            Acceptable {
                json: false,
                sse: false
            }
        );
        assert_eq!(
            acceptable(&h(&[("accept", "text/event-stream")])),
            Acceptable {
                json: false,
                sse: true
            }
        );
        assert_eq!(
            acceptable(&h(&[("accept", "application/json;q=0, */*")])),
            Acceptable {
                json: true,
                sse: true
            }
        );
    }

    #[test]
    fn origins() {
        let p = OriginPolicy {
            allowed_origins: vec!["https://app.example.com".into()],
            allowed_hosts: Some(vec![]),
        };
        assert!(p
            .check(&h(&[
                ("origin", "http://localhost:3000"),
                ("host", "127.0.0.1:8787")
            ]))
            .is_ok());
        assert!(p
            .check(&h(&[("origin", "https://app.example.com")]))
            .is_ok());
        assert!(p
            .check(&h(&[("origin", "https://evil.example.com")]))
            .is_err());
        assert!(p.check(&h(&[("host", "evil.example.com")])).is_err());
        assert!(p.check(&h(&[("host", "[::1]:8787")])).is_ok());
        assert!(p
            .check(&h(&[("origin", "http://localhost.evil.com")]))
            .is_err());
    }
}
