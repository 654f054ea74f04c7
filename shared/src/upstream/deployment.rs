//! Which Atlassian deployment a Jira or Confluence base URL is: Cloud (REST v3, ADF, `/wiki/api/v2`)
//! or Server/Data Center (REST v2, wiki markup, `/rest/api/content`).
//!
//! Order of decision: the request header `X-Atlassian-Deployment`, then the operator's variable
//! (`JIRA_DEPLOYMENT` / `CONFLUENCE_DEPLOYMENT`), then the host name (Atlassian Cloud hosts are Cloud),
//! then one probe per base URL whose answer the pool caches (Jira: the `deploymentType` of REST v3
//! `serverInfo`, which Server/Data Center does not have (404); Confluence: whether the Cloud-only
//! `/wiki/rest/api/settings/systemInfo` exists).

use std::fmt;

use crate::credential::Service;

/// Request header that forces the deployment type of Jira and Confluence for one request.
pub const DEPLOYMENT_HEADER: &str = "x-atlassian-deployment";

/// Variable that forces Jira's deployment type.
pub const JIRA_DEPLOYMENT_VAR: &str = "JIRA_DEPLOYMENT";

/// Variable that forces Confluence's deployment type.
pub const CONFLUENCE_DEPLOYMENT_VAR: &str = "CONFLUENCE_DEPLOYMENT";

/// An Atlassian deployment type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Deployment {
    /// Atlassian Cloud.
    Cloud,
    /// Server or Data Center (same REST APIs).
    Server,
}

impl Deployment {
    /// Parses `cloud`, `server`, `datacenter`/`data-center`/`dc` (case-insensitive); `auto` or an
    /// empty value is `Ok(None)` (detect).
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(None),
            "cloud" => Ok(Some(Deployment::Cloud)),
            "server" | "datacenter" | "data-center" | "data_center" | "dc" => {
                Ok(Some(Deployment::Server))
            }
            _ => Err("must be one of cloud, server, datacenter or auto".into()),
        }
    }

    /// Whether this is Server/Data Center.
    pub fn is_server(self) -> bool {
        self == Deployment::Server
    }
}

impl fmt::Display for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Deployment::Cloud => "Cloud",
            Deployment::Server => "Server/Data Center",
        })
    }
}

/// The operator's forced deployment types (from the variables above); `None` means detect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeploymentConfig {
    /// Jira.
    pub jira: Option<Deployment>,
    /// Confluence.
    pub confluence: Option<Deployment>,
}

impl DeploymentConfig {
    /// Reads `JIRA_DEPLOYMENT` and `CONFLUENCE_DEPLOYMENT` through `var`; `Err` names the variable
    /// with a bad value and says what it must be.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, (&'static str, String)> {
        let one = |name: &'static str| match var(name) {
            None => Ok(None),
            Some(v) => Deployment::parse(&v).map_err(|reason| (name, reason)),
        };
        Ok(DeploymentConfig {
            jira: one(JIRA_DEPLOYMENT_VAR)?,
            confluence: one(CONFLUENCE_DEPLOYMENT_VAR)?,
        })
    }

    /// The forced type for `service`.
    pub fn get(&self, service: Service) -> Option<Deployment> {
        match service {
            Service::Jira => self.jira,
            Service::Confluence => self.confluence,
            Service::GitLab => None,
        }
    }
}

/// What one request asked for with [`DEPLOYMENT_HEADER`]: nothing, a type, or a bad value (reported
/// when a Jira or Confluence tool runs, naming the header).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RequestedDeployment {
    /// No header (or `auto`).
    #[default]
    Detect,
    /// The header forces this type.
    Forced(Deployment),
    /// The header's value is not a deployment type.
    Invalid(String),
}

impl RequestedDeployment {
    /// Reads [`DEPLOYMENT_HEADER`] from request headers.
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        let Some(value) = headers.get(DEPLOYMENT_HEADER) else {
            return RequestedDeployment::Detect;
        };
        let text = value.to_str().unwrap_or("\u{fffd}");
        match Deployment::parse(text) {
            Ok(None) => RequestedDeployment::Detect,
            Ok(Some(d)) => RequestedDeployment::Forced(d),
            Err(reason) => {
                let shown: String = text.chars().take(40).collect();
                RequestedDeployment::Invalid(format!(
                    "the X-Atlassian-Deployment header '{shown}' {reason}"
                ))
            }
        }
    }
}

/// Whether `host` is an Atlassian Cloud site (`*.atlassian.net`, `*.jira.com`, `*.jira-dev.com`,
/// `*.atlassian.com` and the US-government Cloud domains), as mcp-atlassian decides it.
pub fn is_cloud_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host = host.split(':').next().unwrap_or("");
    [
        ".atlassian.net",
        ".jira.com",
        ".jira-dev.com",
        ".atlassian.com",
        ".atlassian-us-gov-mod.net",
        ".atlassian-us-gov.net",
    ]
    .iter()
    .any(|suffix| host.ends_with(suffix))
        || host == "api.atlassian.com"
}

/// The hint appended to errors that may come from a wrong deployment guess.
pub fn override_hint(service: Service, assumed: Deployment) -> String {
    let (other, var) = match (assumed, service) {
        (Deployment::Cloud, Service::Confluence) => ("server", CONFLUENCE_DEPLOYMENT_VAR),
        (Deployment::Cloud, _) => ("server", JIRA_DEPLOYMENT_VAR),
        (Deployment::Server, Service::Confluence) => ("cloud", CONFLUENCE_DEPLOYMENT_VAR),
        (Deployment::Server, _) => ("cloud", JIRA_DEPLOYMENT_VAR),
    };
    format!(
        "mcp-edge assumed {} {assumed}; if that is wrong, send the header X-Atlassian-Deployment: {other} or set {var}={other}",
        service.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_and_bad_ones_name_the_source() {
        assert_eq!(Deployment::parse("Cloud"), Ok(Some(Deployment::Cloud)));
        assert_eq!(
            Deployment::parse(" DataCenter "),
            Ok(Some(Deployment::Server))
        );
        assert_eq!(Deployment::parse("auto"), Ok(None));
        assert!(Deployment::parse("onprem").is_err());
        let err =
            DeploymentConfig::from_vars(|n| (n == "CONFLUENCE_DEPLOYMENT").then(|| "x".into()))
                .unwrap_err();
        assert_eq!(err.0, "CONFLUENCE_DEPLOYMENT");
        let mut h = http::HeaderMap::new();
        h.insert(DEPLOYMENT_HEADER, "mainframe".parse().unwrap());
        match RequestedDeployment::from_headers(&h) {
            RequestedDeployment::Invalid(m) => {
                assert!(
                    m.contains("X-Atlassian-Deployment") && m.contains("mainframe"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        h.insert(DEPLOYMENT_HEADER, "server".parse().unwrap());
        assert_eq!(
            RequestedDeployment::from_headers(&h),
            RequestedDeployment::Forced(Deployment::Server)
        );
    }

    #[test]
    fn cloud_hosts_are_recognised_by_suffix_only() {
        assert!(is_cloud_host("acme.atlassian.net"));
        assert!(is_cloud_host("acme.jira.com:443"));
        assert!(!is_cloud_host("atlassian.net.evil.example"));
        assert!(!is_cloud_host("jira.corp.example"));
        assert!(!is_cloud_host("127.0.0.1:8080"));
    }
}
