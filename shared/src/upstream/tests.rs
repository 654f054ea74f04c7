use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::executor::block_on;
use http::HeaderMap;
use serde_json::json;

use super::*;
use crate::credential::{CredentialDefaults, Credentials};
use crate::port::{BoxFuture, HttpClient};

/// Answers from a script and records every request it saw.
#[derive(Default)]
struct Scripted {
    answers: Mutex<VecDeque<Result<http::Response<Bytes>, UpstreamError>>>,
    seen: Mutex<Vec<http::Request<Bytes>>>,
}

impl Scripted {
    fn new(answers: Vec<Result<http::Response<Bytes>, UpstreamError>>) -> Arc<Self> {
        Arc::new(Scripted {
            answers: Mutex::new(answers.into()),
            seen: Mutex::new(Vec::new()),
        })
    }
}

impl HttpClient for Scripted {
    fn send(
        &self,
        req: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, UpstreamError>> {
        self.seen.lock().unwrap().push(req);
        let next = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Err(UpstreamError::Connect("script exhausted".into())));
        Box::pin(async move { next })
    }
}

/// Records requested sleeps and completes them at once.
#[derive(Default)]
struct RecordingSleeper(Mutex<Vec<u64>>, AtomicU64);

impl Sleeper for RecordingSleeper {
    fn sleep(&self, ms: u64) -> BoxFuture<'_, ()> {
        // The timeout race also sleeps; only count the short retry waits.
        if ms < 30_000 {
            self.0.lock().unwrap().push(ms);
            Box::pin(async {})
        } else {
            self.1.fetch_add(1, Ordering::SeqCst);
            Box::pin(futures::future::pending())
        }
    }
}

fn answer(
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<http::Response<Bytes>, UpstreamError> {
    let mut b = http::Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    Ok(b.body(Bytes::from(body.to_owned())).unwrap())
}

fn gitlab_creds(url: &str) -> Credentials {
    let mut h = HeaderMap::new();
    h.insert("x-gitlab-api-url", url.parse().unwrap());
    h.insert("private-token", "glpat-secret".parse().unwrap());
    Credentials::resolve(&h, &CredentialDefaults::default(), false)
}

fn services(client: Arc<Scripted>, sleeper: Arc<RecordingSleeper>) -> UpstreamServices {
    UpstreamServices::new(
        UpstreamConfig::default(),
        Arc::new(SharedClient(client)),
        Some(sleeper),
    )
}

#[test]
fn gitlab_urls_normalize_to_api_v4() {
    for (given, want) in [
        ("https://gl.example.com", "https://gl.example.com/api/v4"),
        ("https://gl.example.com/", "https://gl.example.com/api/v4"),
        (
            "https://gl.example.com/api/v4",
            "https://gl.example.com/api/v4",
        ),
        (
            "https://gl.example.com/api/v4/",
            "https://gl.example.com/api/v4",
        ),
        (
            "https://gl.example.com/sub/path/api/v4",
            "https://gl.example.com/sub/path/api/v4",
        ),
        (
            "https://gl.example.com:8443/sub",
            "https://gl.example.com:8443/sub/api/v4",
        ),
    ] {
        let url = url::Url::parse(given).unwrap();
        assert_eq!(normalize_gitlab_base(&url), want, "{given}");
    }
    let wiki = url::Url::parse("https://acme.atlassian.net/wiki/").unwrap();
    assert_eq!(
        normalize_atlassian_base(&wiki, Service::Confluence),
        "https://acme.atlassian.net"
    );
}

#[test]
fn retries_honour_retry_after_then_succeed() {
    let client = Scripted::new(vec![
        answer(429, &[("retry-after", "2")], "{}"),
        answer(503, &[], ""),
        answer(200, &[("x-next-page", "2")], r#"[{"id":1}]"#),
    ]);
    let sleeper = Arc::new(RecordingSleeper::default());
    let svc = services(client.clone(), sleeper.clone());
    let creds = gitlab_creds("https://gl.example.com");
    let up = svc.for_call(&creds, 0);
    let ep = up.endpoint(Service::GitLab).unwrap();
    let reply = block_on(up.json(&ep, Method::GET, "/projects", None)).unwrap();
    assert_eq!(reply.body, json!([{"id": 1}]));
    assert_eq!(reply.header("x-next-page"), Some("2"));
    assert_eq!(*sleeper.0.lock().unwrap(), vec![2_000, 500]);
    let seen = client.seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].uri(), "https://gl.example.com/api/v4/projects");
    assert_eq!(seen[0].headers()["private-token"], "glpat-secret");
    assert_eq!(up.hosts(), vec!["gl.example.com".to_owned()]);
}

#[test]
fn long_retry_after_is_reported_not_waited() {
    let client = Scripted::new(vec![answer(429, &[("retry-after", "120")], "")]);
    let sleeper = Arc::new(RecordingSleeper::default());
    let svc = services(client, sleeper.clone());
    let creds = gitlab_creds("https://gl.example.com");
    let up = svc.for_call(&creds, 0);
    let ep = up.endpoint(Service::GitLab).unwrap();
    let err = block_on(up.json(&ep, Method::GET, "/projects", None)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "GitLab at gl.example.com is rate limiting requests (429); retry after 120 s."
    );
    assert!(sleeper.0.lock().unwrap().is_empty());
}

#[test]
fn non_idempotent_calls_are_not_retried_after_502() {
    let client = Scripted::new(vec![
        answer(502, &[], "bad gateway"),
        answer(201, &[], "{}"),
    ]);
    let sleeper = Arc::new(RecordingSleeper::default());
    let svc = services(client.clone(), sleeper);
    let creds = gitlab_creds("https://gl.example.com");
    let up = svc.for_call(&creds, 0);
    let ep = up.endpoint(Service::GitLab).unwrap();
    let err =
        block_on(up.json(&ep, Method::POST, "/projects/1/issues", Some(&json!({})))).unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert!(err.to_string().contains("unavailable (502)"), "{err}");
    assert_eq!(client.seen.lock().unwrap().len(), 1);
}

#[test]
fn statuses_map_to_actionable_messages_without_secrets() {
    let client = Scripted::new(vec![
        answer(401, &[], r#"{"message":"401 Unauthorized"}"#),
        answer(
            403,
            &[],
            r#"{"errorMessages":["No permission"],"errors":{}}"#,
        ),
        answer(404, &[], r#"{"message":"404 Project Not Found"}"#),
        answer(302, &[("location", "http://127.0.0.1/steal")], ""),
    ]);
    let sleeper = Arc::new(RecordingSleeper::default());
    let svc = services(client, sleeper);
    let creds = gitlab_creds("https://gl.example.com");
    let up = svc.for_call(&creds, 0);
    let ep = up.endpoint(Service::GitLab).unwrap();
    let mut messages = Vec::new();
    for _ in 0..4 {
        messages.push(
            block_on(up.json(&ep, Method::GET, "/projects/1", None))
                .unwrap_err()
                .to_string(),
        );
    }
    assert!(
        messages[0].starts_with(
            "GitLab at gl.example.com rejected the credentials (401): bad or expired credentials"
        ),
        "{}",
        messages[0]
    );
    assert!(messages[1].contains("(403)") && messages[1].contains("No permission"));
    assert!(
        messages[2].contains("not found (404)") && messages[2].contains("404 Project Not Found")
    );
    assert!(
        messages[3].contains("redirect to http://127.0.0.1"),
        "{}",
        messages[3]
    );
    assert!(messages.iter().all(|m| !m.contains("glpat-secret")));
}

#[test]
fn timeouts_and_guard_refusals_become_tool_errors() {
    struct Never;
    impl HttpClient for Never {
        fn send(
            &self,
            _req: http::Request<Bytes>,
        ) -> BoxFuture<'_, Result<http::Response<Bytes>, UpstreamError>> {
            Box::pin(futures::future::pending())
        }
    }
    struct Instant;
    impl Sleeper for Instant {
        fn sleep(&self, _ms: u64) -> BoxFuture<'_, ()> {
            Box::pin(async {})
        }
    }
    let svc = UpstreamServices::new(
        UpstreamConfig::default(),
        Arc::new(SharedClient(Arc::new(Never))),
        Some(Arc::new(Instant)),
    );
    let creds = gitlab_creds("https://gl.example.com");
    let up = svc.for_call(&creds, 0);
    let ep = up.endpoint(Service::GitLab).unwrap();
    let err = block_on(up.json(&ep, Method::GET, "/projects", None)).unwrap_err();
    assert!(
        matches!(err, UpstreamFailure::Timeout { ms: 30_000, .. }),
        "{err}"
    );

    let creds = gitlab_creds("http://169.254.169.254");
    let up = svc.for_call(&creds, 0);
    let err = up.endpoint(Service::GitLab).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("GitLab URL refused: scheme 'http'"),
        "{err}"
    );
    let none = Credentials::none();
    let up = svc.for_call(&none, 0);
    let err = up.endpoint(Service::Jira).unwrap_err();
    assert!(err.to_string().contains("X-Jira-URL"), "{err}");
}

#[test]
fn error_detail_reads_every_vendor_shape() {
    assert_eq!(
        error_detail(br#"{"errorMessages":["Bad JQL"],"errors":{"summary":"required"}}"#),
        "Bad JQL; summary: required"
    );
    assert_eq!(
        error_detail(br#"{"errors":[{"status":409,"code":"CONFLICT","title":"Version must be incremented"}]}"#),
        "Version must be incremented"
    );
    assert_eq!(
        error_detail(br#"{"message":{"name":["has already been taken"]}}"#),
        r#"{"name":["has already been taken"]}"#
    );
    assert_eq!(error_detail(b"plain text"), "plain text");
    assert!(error_detail(&[b'x'; 1000]).chars().count() <= 301);
}

fn jira_creds(url: &str) -> Credentials {
    let mut h = HeaderMap::new();
    h.insert("x-jira-url", url.parse().unwrap());
    h.insert("x-jira-token", "pat-secret".parse().unwrap());
    Credentials::resolve(&h, &CredentialDefaults::default(), false)
}

#[test]
fn deployment_is_probed_once_per_base_url_and_cloud_hosts_are_never_probed() {
    let client = Scripted::new(vec![
        answer(404, &[], ""),
        answer(
            200,
            &[],
            r#"{"deploymentType":"Cloud","version":"1001.0.0"}"#,
        ),
        answer(
            401,
            &[],
            r#"{"errorMessages":["You are not authenticated."]}"#,
        ),
    ]);
    let svc = services(client.clone(), Arc::new(RecordingSleeper::default()));
    let dc = jira_creds("https://jira.corp.example");
    for _ in 0..3 {
        let up = svc.for_call(&dc, 0);
        let ep = up.endpoint(Service::Jira).unwrap();
        assert_eq!(block_on(up.deployment(&ep)), Ok(Deployment::Server));
    }
    let cloud = jira_creds("https://acme.atlassian.net");
    let up = svc.for_call(&cloud, 0);
    let ep = up.endpoint(Service::Jira).unwrap();
    assert_eq!(block_on(up.deployment(&ep)), Ok(Deployment::Cloud));
    let seen: Vec<String> = client
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.uri().to_string())
        .collect();
    assert_eq!(seen, ["https://jira.corp.example/rest/api/3/serverInfo"]);
    // A forced type wins without a probe; a bad header value is named.
    let up = svc
        .for_call(&cloud, 0)
        .with_requested(RequestedDeployment::Forced(Deployment::Server));
    assert_eq!(block_on(up.deployment(&ep)), Ok(Deployment::Server));
    let up = svc
        .for_call(&cloud, 0)
        .with_requested(RequestedDeployment::Invalid(
            "the X-Atlassian-Deployment header 'x' is bad".into(),
        ));
    let err = block_on(up.deployment(&ep)).unwrap_err().to_string();
    assert!(err.contains("X-Atlassian-Deployment"), "{err}");
    // A Cloud site behind another host name says so in serverInfo.
    let proxied = jira_creds("https://jira-proxy.corp.example");
    let up = svc.for_call(&proxied, 0);
    let ep = up.endpoint(Service::Jira).unwrap();
    assert_eq!(block_on(up.deployment(&ep)), Ok(Deployment::Cloud));
    // A failed probe is reported, and nothing is cached for that base URL.
    let other = jira_creds("https://tracker.corp.example");
    let up = svc.for_call(&other, 0);
    let ep = up.endpoint(Service::Jira).unwrap();
    let err = block_on(up.deployment(&ep)).unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(svc.pool().deployment(Service::Jira, &ep.base), None);
}

#[test]
fn untrusted_certificates_and_fixed_urls_become_actionable_tool_errors() {
    let client = Scripted::new(vec![Err(UpstreamError::Certificate(
        "invalid peer certificate: UnknownIssuer".into(),
    ))]);
    let sleeper = Arc::new(RecordingSleeper::default());
    let svc = services(client.clone(), sleeper.clone());
    let creds = gitlab_creds("https://gitlab.corp.example");
    let up = svc.for_call(&creds, 0);
    let ep = up.endpoint(Service::GitLab).unwrap();
    let err = block_on(up.json(&ep, Method::GET, "/projects", None)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("gitlab.corp.example"), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
    assert!(text.contains("--upstream-ca-file"), "{text}");
    assert_eq!(client.seen.lock().unwrap().len(), 1, "never retried");
    assert!(sleeper.0.lock().unwrap().is_empty());

    let mut h = HeaderMap::new();
    h.insert(
        "x-gitlab-api-url",
        "https://elsewhere.example".parse().unwrap(),
    );
    h.insert("private-token", "glpat-secret".parse().unwrap());
    let defaults = CredentialDefaults {
        fixed_urls: vec![Service::GitLab],
        ..CredentialDefaults::from_vars(|n| {
            (n == "GITLAB_API_URL").then(|| "https://gitlab.corp.example".to_owned())
        })
    };
    let creds = Credentials::resolve(&h, &defaults, false);
    let err = svc
        .for_call(&creds, 0)
        .endpoint(Service::GitLab)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("X-GitLab-API-URL") && text.contains("MCP_EDGE_DYNAMIC_URLS"),
        "{text}"
    );
    assert!(!text.contains("glpat-secret"), "{text}");
}
