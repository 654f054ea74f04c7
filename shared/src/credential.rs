//! Upstream credentials read per request from headers, with environment fallback.
//!
//! Credentials are never stored: a session keeps only a keyed fingerprint (see [`Credentials::fingerprint`]).

use std::fmt;

/// Upstream credentials presented with one request. `Debug` never prints secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Secret-bearing header values in a canonical order, used for fingerprinting.
    pub(crate) material: Vec<(String, String)>,
}

impl Credentials {
    /// No credentials at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether no credential was presented.
    pub fn is_empty(&self) -> bool {
        self.material.is_empty()
    }

    /// Keyed fingerprint (HMAC-SHA256 under `key`, hex) of the credential material, or `None` when empty.
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

    /// Reads credentials from request headers (header names are matched case-insensitively).
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        const NAMES: &[&str] = &[
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
        let material = NAMES
            .iter()
            .filter_map(|n| {
                headers
                    .get(*n)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| ((*n).to_owned(), v.to_owned()))
            })
            .collect();
        Credentials { material }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.material.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Credentials")
            .field("present", &names)
            .finish()
    }
}
