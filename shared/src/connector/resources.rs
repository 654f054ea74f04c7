//! Resource templates of the connectors: `jira://issue/{key}`, `jira://attachment/{id}` (text
//! attachments as text, others as a base64 blob, up to [`jira_details::ATTACHMENT_MAX_BYTES`]),
//! `confluence://page/{id}`,
//! `gitlab://project/{id}` and `gitlab://project/{id}/file/{path}`. Project ids that are paths are
//! URL-encoded inside the URI (`gitlab://project/group%2Fproject`).

use serde_json::Value;

use base64::Engine as _;

use super::jira_details::{self, AttachmentError};
use super::{confluence, gitlab, jira, ConnectorSet};
use crate::credential::{Credentials, Service};
use crate::port::BoxFuture;
use crate::tool::{
    ResourceContents, ResourceDef, ResourceError, ResourceProvider, ResourceTemplateDef,
    ToolContext,
};
use crate::upstream::UpstreamFailure;

/// The connectors' resource provider.
pub struct ConnectorResources {
    /// Which connectors are enabled.
    pub set: ConnectorSet,
}

fn template(uri: &str, name: &str, description: &str, mime: &str) -> ResourceTemplateDef {
    ResourceTemplateDef {
        uri_template: uri.to_owned(),
        name: name.to_owned(),
        description: Some(description.to_owned()),
        mime_type: Some(mime.to_owned()),
    }
}

/// A parsed connector URI.
#[derive(Debug, PartialEq, Eq)]
pub enum ConnectorUri {
    /// `jira://issue/{key}`.
    JiraIssue(String),
    /// `jira://attachment/{id}`.
    JiraAttachment(String),
    /// `confluence://page/{id}`.
    ConfluencePage(String),
    /// `gitlab://project/{id}`.
    GitLabProject(String),
    /// `gitlab://project/{id}/file/{path}`.
    GitLabFile(String, String),
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Parses a connector URI; `None` when it is not one of ours or is malformed.
pub fn parse_uri(uri: &str) -> Option<ConnectorUri> {
    if let Some(key) = uri.strip_prefix("jira://issue/") {
        let key = decode(key);
        return (!key.is_empty() && !key.contains('/')).then_some(ConnectorUri::JiraIssue(key));
    }
    if let Some(id) = uri.strip_prefix("jira://attachment/") {
        return (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| ConnectorUri::JiraAttachment(id.to_owned()));
    }
    if let Some(id) = uri.strip_prefix("confluence://page/") {
        return (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .then(|| ConnectorUri::ConfluencePage(id.to_owned()));
    }
    let rest = uri.strip_prefix("gitlab://project/")?;
    match rest.split_once("/file/") {
        Some((id, path)) if !id.is_empty() && !path.is_empty() => {
            Some(ConnectorUri::GitLabFile(decode(id), decode(path)))
        }
        Some(_) => None,
        None => (!rest.is_empty() && !rest.contains('/'))
            .then(|| ConnectorUri::GitLabProject(decode(rest))),
    }
}

impl ConnectorResources {
    fn enabled(&self, service: Service, credentials: &Credentials) -> bool {
        let on = match service {
            Service::Jira => self.set.jira,
            Service::Confluence => self.set.confluence,
            Service::GitLab => self.set.gitlab,
        };
        on && credentials.service(service).is_some()
    }
}

fn json_contents(uri: &str, value: &Value) -> Vec<ResourceContents> {
    vec![ResourceContents {
        uri: uri.to_owned(),
        mime_type: Some("application/json".into()),
        text: Some(serde_json::to_string_pretty(value).unwrap_or_default()),
        blob: None,
    }]
}

fn failure(uri: &str, e: UpstreamFailure) -> ResourceError {
    match e.status() {
        Some(404) => ResourceError::NotFound(uri.to_owned()),
        _ => ResourceError::Failed(e.to_string()),
    }
}

/// Whether a MIME type is text a model reads as such (its bytes are returned as text when they are
/// also valid UTF-8).
fn is_text(mime: &str) -> bool {
    let m = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    m.starts_with("text/")
        || m.ends_with("+json")
        || m.ends_with("+xml")
        || matches!(
            m.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-yaml"
                | "application/yaml"
        )
}

/// An attachment as resource contents: text for text types, else a base64 blob.
fn attachment_contents(uri: &str, got: jira_details::AttachmentContent) -> ResourceContents {
    let mime = got.mime_type;
    if is_text(&mime) {
        if let Ok(text) = String::from_utf8(got.bytes.clone()) {
            return ResourceContents {
                uri: uri.to_owned(),
                mime_type: Some(mime),
                text: Some(text),
                blob: None,
            };
        }
    }
    ResourceContents {
        uri: uri.to_owned(),
        mime_type: Some(mime),
        text: None,
        blob: Some(base64::engine::general_purpose::STANDARD.encode(&got.bytes)),
    }
}

impl ResourceProvider for ConnectorResources {
    fn resources(&self, _credentials: &Credentials) -> Vec<ResourceDef> {
        Vec::new()
    }

    fn templates(&self, credentials: &Credentials) -> Vec<ResourceTemplateDef> {
        let mut out = Vec::new();
        if self.enabled(Service::Jira, credentials) {
            out.push(template(
                "jira://issue/{key}",
                "Jira issue",
                "A Jira issue with its description (JSON)",
                "application/json",
            ));
            out.push(template(
                "jira://attachment/{id}",
                "Jira attachment",
                "A file attached to a Jira issue (ids from jira_list_attachments): text types as text, others as a base64 blob; at most 1 MiB (1048576 bytes)",
                "application/octet-stream",
            ));
        }
        if self.enabled(Service::Confluence, credentials) {
            out.push(template(
                "confluence://page/{id}",
                "Confluence page",
                "A Confluence page body as Markdown",
                "text/markdown",
            ));
        }
        if self.enabled(Service::GitLab, credentials) {
            out.push(template(
                "gitlab://project/{id}",
                "GitLab project",
                "A GitLab project (JSON); URL-encode path ids",
                "application/json",
            ));
            out.push(template(
                "gitlab://project/{id}/file/{path}",
                "GitLab file",
                "A file on the project's default branch",
                "text/plain",
            ));
        }
        out
    }

    fn read<'a>(
        &'a self,
        ctx: &'a ToolContext<'a>,
        uri: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<ResourceContents>>, ResourceError>> {
        Box::pin(async move {
            let Some(parsed) = parse_uri(uri) else {
                return Ok(None);
            };
            let service = match &parsed {
                ConnectorUri::JiraIssue(_) | ConnectorUri::JiraAttachment(_) => Service::Jira,
                ConnectorUri::ConfluencePage(_) => Service::Confluence,
                _ => Service::GitLab,
            };
            if !self.enabled(service, ctx.credentials) {
                return Err(ResourceError::Failed(
                    UpstreamFailure::NotConfigured(service).to_string(),
                ));
            }
            let up = ctx.upstream;
            let ep = up.endpoint(service).map_err(|e| failure(uri, e))?;
            let contents = match parsed {
                ConnectorUri::JiraIssue(key) => {
                    let deployment = up.deployment(&ep).await.map_err(|e| failure(uri, e))?;
                    let site = jira::Site { ep, deployment };
                    let issue = jira::fetch_issue(up, &site, &key, None)
                        .await
                        .map_err(|e| failure(uri, e))?;
                    json_contents(uri, &issue)
                }
                ConnectorUri::JiraAttachment(id) => {
                    let deployment = up.deployment(&ep).await.map_err(|e| failure(uri, e))?;
                    let site = jira::Site { ep, deployment };
                    let got = jira_details::read_attachment(up, &site, &id)
                        .await
                        .map_err(|e| match e {
                            AttachmentError::Upstream(e) => failure(uri, e),
                            AttachmentError::TooLarge(m) => ResourceError::Failed(m),
                        })?;
                    vec![attachment_contents(uri, got)]
                }
                ConnectorUri::ConfluencePage(id) => {
                    let deployment = up.deployment(&ep).await.map_err(|e| failure(uri, e))?;
                    let site = confluence::Site { ep, deployment };
                    let page = confluence::fetch_page(up, &site, &id)
                        .await
                        .map_err(|e| failure(uri, e))?;
                    let summary = confluence::summarize_page(&site, &page);
                    let title = summary["title"].as_str().unwrap_or_default();
                    let body = summary["body"].as_str().unwrap_or_default();
                    vec![ResourceContents {
                        uri: uri.to_owned(),
                        mime_type: Some("text/markdown".into()),
                        text: Some(format!("# {title}\n\n{body}")),
                        blob: None,
                    }]
                }
                ConnectorUri::GitLabProject(id) => {
                    let p = gitlab::fetch_project(up, &ep, &id)
                        .await
                        .map_err(|e| failure(uri, e))?;
                    json_contents(uri, &serde_json::json!(p))
                }
                ConnectorUri::GitLabFile(id, path) => {
                    let f = gitlab::read_file(up, &ep, &id, &path, None)
                        .await
                        .map_err(|e| failure(uri, e))?;
                    vec![ResourceContents {
                        uri: uri.to_owned(),
                        mime_type: Some("text/plain".into()),
                        text: Some(f["content"].as_str().unwrap_or_default().to_owned()),
                        blob: None,
                    }]
                }
            };
            Ok(Some(contents))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse() {
        assert_eq!(
            parse_uri("jira://issue/DEMO-1"),
            Some(ConnectorUri::JiraIssue("DEMO-1".into()))
        );
        assert_eq!(
            parse_uri("confluence://page/98305"),
            Some(ConnectorUri::ConfluencePage("98305".into()))
        );
        assert_eq!(parse_uri("confluence://page/x"), None);
        assert_eq!(
            parse_uri("jira://attachment/10100"),
            Some(ConnectorUri::JiraAttachment("10100".into()))
        );
        assert_eq!(parse_uri("jira://attachment/../x"), None);
        assert!(is_text("text/plain; charset=utf-8") && is_text("application/json"));
        assert!(!is_text("image/png"));
        assert_eq!(
            parse_uri("gitlab://project/demo-group%2Fdemo-project"),
            Some(ConnectorUri::GitLabProject(
                "demo-group/demo-project".into()
            ))
        );
        assert_eq!(
            parse_uri("gitlab://project/1/file/src/main.rs"),
            Some(ConnectorUri::GitLabFile("1".into(), "src/main.rs".into()))
        );
        assert_eq!(parse_uri("gitlab://project/"), None);
        assert_eq!(parse_uri("test://static/hello"), None);
    }
}
