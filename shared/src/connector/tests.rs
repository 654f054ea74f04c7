//! Connector tests against scripted upstream answers: the requests built (paths, encoding, bodies)
//! and the outputs checked against each tool's own `outputSchema`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::executor::block_on;
use http::HeaderMap;
use serde_json::{json, Map, Value};

use super::*;
use crate::credential::CredentialDefaults;
use crate::port::{HttpClient, UpstreamError};
use crate::tool::Tool;
use crate::upstream::{SharedClient, UpstreamConfig, UpstreamServices};

/// A scripted answer: status, headers, JSON body (`Null` for none).
type Answer = (u16, Vec<(&'static str, &'static str)>, Value);
/// A request seen: method, URI, JSON body.
type Seen = (String, String, Option<Value>);

#[derive(Default)]
struct Scripted {
    answers: Mutex<VecDeque<Answer>>,
    seen: Mutex<Vec<Seen>>,
}

impl HttpClient for Scripted {
    fn send(
        &self,
        req: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, UpstreamError>> {
        let cap = req.extensions().get::<crate::port::BodyCap>().copied();
        let body = (!req.body().is_empty()).then(|| serde_json::from_slice(req.body()).unwrap());
        self.seen
            .lock()
            .unwrap()
            .push((req.method().to_string(), req.uri().to_string(), body));
        let (status, headers, value) = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .expect("unexpected upstream call");
        let mut b = http::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(k, v);
        }
        let bytes = match &value {
            Value::Null => Bytes::new(),
            // A string answer is a text body (a job log), sent as is.
            Value::String(text) => Bytes::from(text.clone()),
            v => Bytes::from(v.to_string()),
        };
        // Like the platform clients: a capped request is read in chunks through the collector.
        let bytes = match cap {
            Some(cap) => {
                let mut kept = crate::port::CapCollector::new(cap);
                for chunk in bytes.chunks(4096) {
                    if !kept.push(chunk) {
                        break;
                    }
                }
                let (body, read) = kept.finish();
                b = b.extension(read);
                body
            }
            None => bytes,
        };
        Box::pin(async move { Ok(b.body(bytes).unwrap()) })
    }
}

fn creds() -> Credentials {
    let mut h = HeaderMap::new();
    for (k, v) in [
        ("x-gitlab-api-url", "https://gl.example.com/sub"),
        ("private-token", "glpat"),
        ("x-jira-url", "https://acme.atlassian.net"),
        ("x-jira-token", "jt"),
        ("x-jira-email", "a@acme.test"),
        ("x-confluence-url", "https://acme.atlassian.net/wiki"),
        ("x-confluence-token", "ct"),
        ("x-confluence-email", "a@acme.test"),
    ] {
        h.insert(k, v.parse().unwrap());
    }
    Credentials::resolve(&h, &CredentialDefaults::default(), false)
}

/// Runs `tool` with `args` against scripted answers; returns the output and the requests seen.
fn run(name: &str, args: Value, answers: Vec<Answer>) -> (Result<Value, String>, Vec<Seen>) {
    let client = Arc::new(Scripted::default());
    *client.answers.lock().unwrap() = answers.into();
    let services = UpstreamServices::new(
        UpstreamConfig::default(),
        Arc::new(SharedClient(client.clone())),
        None,
    );
    let creds = creds();
    let up = services.for_call(&creds, 0);
    let ctx = ToolContext {
        credentials: &creds,
        upstream: &up,
        now: 0,
        caller: "test",
        client: None,
        client_capabilities: None,
        input: None,
        sleeper: None,
        notify: &crate::notify::SILENT,
    };
    let all: Vec<ConnectorTool> = jira::tools()
        .into_iter()
        .chain(jira_details::tools())
        .chain(jira_agile::tools())
        .chain(confluence::tools())
        .chain(gitlab::tools())
        .chain(gitlab_mr::tools())
        .chain(gitlab_repo::tools())
        .chain(gitlab_project::tools())
        .chain(gitlab_ci::tools())
        .chain(gitlab_wiki::tools())
        .chain(cross::tools())
        .collect();
    let tool = all
        .iter()
        .find(|t| t.def().name == name)
        .expect("tool exists");
    let input = jsonschema::validator_for(&tool.def().input_schema).unwrap();
    assert!(
        input.is_valid(&args),
        "{name}: test args must satisfy inputSchema"
    );
    let Value::Object(map) = args else { panic!() };
    let out = block_on(tool.call(&ctx, map)).map_err(|f| f.message);
    if let Ok(crate::tool::ToolOutput::Structured(v)) = &out {
        let schema = tool.def().output_schema.clone().unwrap();
        let v2 = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = v2
            .iter_errors(v)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{name}: output violates outputSchema: {errors:?}\n{v}"
        );
    }
    let out = out.map(|o| match o {
        crate::tool::ToolOutput::Structured(v) => v,
        other => panic!("connector tools return structured output, got {other:?}"),
    });
    let seen = client.seen.lock().unwrap().clone();
    (out, seen)
}

#[test]
fn every_tool_has_schemas_and_hints() {
    let mut names = Vec::new();
    for t in jira::tools()
        .iter()
        .chain(&jira_details::tools())
        .chain(&jira_agile::tools())
        .chain(&confluence::tools())
        .chain(&confluence_details::tools())
        .chain(&gitlab::tools())
        .chain(&gitlab_mr::tools())
        .chain(&gitlab_repo::tools())
        .chain(&gitlab_project::tools())
        .chain(&gitlab_ci::tools())
        .chain(&gitlab_wiki::tools())
        .chain(&cross::tools())
        .chain(&analyze::tools())
    {
        let d = t.def();
        names.push(d.name.clone());
        assert!(
            jsonschema::validator_for(&d.input_schema).is_ok(),
            "{}",
            d.name
        );
        assert!(
            jsonschema::validator_for(d.output_schema.as_ref().unwrap()).is_ok(),
            "{}",
            d.name
        );
        let a = &d.annotations;
        for hint in [
            a.read_only_hint,
            a.destructive_hint,
            a.idempotent_hint,
            a.open_world_hint,
        ] {
            assert!(hint.is_some(), "{} lacks a hint", d.name);
        }
    }
    assert_eq!(names.len(), 87, "{names:?}");
    let unique: std::collections::BTreeSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "tool names are unique");
}

#[test]
fn tools_need_their_services() {
    let mut registry = Registry::new();
    register(&mut registry, ConnectorSet::default());
    let only_gitlab = {
        let mut h = HeaderMap::new();
        h.insert(
            "x-gitlab-api-url",
            "https://gl.example.com".parse().unwrap(),
        );
        h.insert("private-token", "t".parse().unwrap());
        Credentials::resolve(&h, &CredentialDefaults::default(), false)
    };
    let offered: Vec<&str> = registry
        .tools()
        .iter()
        .filter(|t| t.available(&only_gitlab))
        .map(|t| t.def().name.as_str())
        .collect();
    assert_eq!(offered.len(), 43);
    assert!(offered.iter().all(|n| n.starts_with("gitlab_")));
    assert!(registry
        .tools()
        .iter()
        .all(|t| !t.available(&Credentials::none())));
}

#[test]
fn jira_search_pages_with_next_page_token() {
    let (out, seen) = run(
        "jira_search",
        json!({"jql": "project = DEMO", "maxResults": 2, "fields": ["summary", "customfield_1"]}),
        vec![(
            200,
            vec![],
            json!({
                "issues": [{"id": "10001", "key": "DEMO-1", "self": "x", "fields": {"summary": "One", "customfield_1": 5}}],
                "nextPageToken": "tok2", "isLast": false
            }),
        )],
    );
    let out = out.unwrap();
    assert_eq!(seen[0].1, "https://acme.atlassian.net/rest/api/3/search/jql?jql=project%20%3D%20DEMO&maxResults=2&fields=summary%2Ccustomfield_1");
    assert_eq!(out["nextPageToken"], "tok2");
    assert_eq!(out["isLast"], false);
    assert_eq!(
        out["issues"][0]["url"],
        "https://acme.atlassian.net/browse/DEMO-1"
    );
    assert_eq!(out["issues"][0]["fields"]["customfield_1"], 5);
}

#[test]
fn jira_comment_is_adf_and_labels_query_is_quoted() {
    let (out, seen) = run(
        "jira_add_comment",
        json!({"issueKey": "DEMO-1", "body": "Hello **team**"}),
        vec![(
            201,
            vec![],
            json!({"id": "100", "created": "2026-01-01T00:00:00.000+0000"}),
        )],
    );
    assert_eq!(out.unwrap()["commentId"], "100");
    let body = seen[0].2.as_ref().unwrap();
    assert_eq!(body["body"]["type"], "doc");
    assert_eq!(
        body["body"]["content"][0]["content"][1]["marks"][0]["type"],
        "strong"
    );

    let (_, seen) = run(
        "jira_get_issues_by_labels",
        json!({"projectKey": "DEMO", "labels": ["backend", "x\"y"], "match": "all"}),
        vec![(200, vec![], json!({"issues": [], "isLast": true}))],
    );
    let jql = query_param(&seen[0].1, "jql").unwrap();
    assert_eq!(
        jql,
        r#"project = "DEMO" AND labels = "backend" AND labels = "x\"y" ORDER BY key ASC"#
    );
}

#[test]
fn jira_transition_by_name_and_unknown_transition() {
    let transitions = json!({"transitions": [{"id": "21", "name": "In Progress", "to": {"name": "In Progress"}}, {"id": "31", "name": "Done", "to": {"name": "Done"}}]});
    let (out, seen) = run(
        "jira_transition_issue",
        json!({"issueKey": "DEMO-2", "transition": "done"}),
        vec![
            (200, vec![], transitions.clone()),
            (204, vec![], Value::Null),
        ],
    );
    assert_eq!(out.unwrap()["transition"]["id"], "31");
    assert_eq!(seen[1].2, Some(json!({"transition": {"id": "31"}})));
    let (out, _) = run(
        "jira_transition_issue",
        json!({"issueKey": "DEMO-2", "transition": "Reopen"}),
        vec![(200, vec![], transitions)],
    );
    assert_eq!(out.unwrap_err(), "transition 'Reopen' is not available for DEMO-2 now; available: In Progress (21), Done (31)");
}

#[test]
fn confluence_update_increments_version_and_reports_conflicts() {
    let page = json!({"id": "98305", "title": "Home", "status": "current", "version": {"number": 4}, "body": {"storage": {"value": "<p>old</p>"}}});
    let (out, seen) = run(
        "confluence_update_page",
        json!({"pageId": "98305", "body": "# New"}),
        vec![
            (200, vec![], page.clone()),
            (
                200,
                vec![],
                json!({"id": "98305", "title": "Home", "version": {"number": 5}, "body": {"storage": {"value": "<h1>New</h1>"}}}),
            ),
        ],
    );
    assert_eq!(out.unwrap()["version"], 5);
    let put = seen[1].2.as_ref().unwrap();
    assert_eq!(put["version"]["number"], 5);
    assert_eq!(
        put["body"],
        json!({"representation": "storage", "value": "<h1>New</h1>"})
    );
    assert_eq!(
        seen[1].1,
        "https://acme.atlassian.net/wiki/api/v2/pages/98305"
    );

    let (out, _) = run(
        "confluence_update_page",
        json!({"pageId": 98305, "body": "x", "version": 3, "title": "Home"}),
        vec![(
            409,
            vec![],
            json!({"errors": [{"status": 409, "code": "CONFLICT", "title": "Version must be incremented on update. Current version is: 4"}]}),
        )],
    );
    let msg = out.unwrap_err();
    assert!(
        msg.contains("changed by someone else since version 3")
            && msg.contains("Current version is: 4"),
        "{msg}"
    );
}

#[test]
fn confluence_cursor_comes_from_links() {
    let (out, seen) = run(
        "confluence_list_spaces",
        json!({"limit": 1}),
        vec![(
            200,
            vec![],
            json!({"results": [{"id": "65537", "key": "ENG", "name": "Engineering", "type": "global", "status": "current"}], "_links": {"next": "/wiki/api/v2/spaces?cursor=abc%3D&limit=1"}}),
        )],
    );
    assert_eq!(out.unwrap()["nextCursor"], "abc=");
    assert_eq!(
        seen[0].1,
        "https://acme.atlassian.net/wiki/api/v2/spaces?limit=1"
    );
}

#[test]
fn gitlab_paths_are_encoded_and_pages_follow_headers() {
    let (out, seen) = run(
        "gitlab_list_branches",
        json!({"projectId": "demo-group/demo-project", "perPage": 1}),
        vec![(
            200,
            vec![("x-page", "1"), ("x-next-page", "2"), ("x-total", "2")],
            json!([{"name": "main", "commit": {"id": "abc", "title": "init"}}]),
        )],
    );
    let out = out.unwrap();
    assert_eq!(seen[0].1, "https://gl.example.com/sub/api/v4/projects/demo-group%2Fdemo-project/repository/branches?page=1&per_page=1");
    assert_eq!(
        (
            out["page"].clone(),
            out["nextPage"].clone(),
            out["total"].clone()
        ),
        (json!(1), json!(2), json!(2))
    );
    let (out, _) = run(
        "gitlab_list_branches",
        json!({"projectId": 1, "page": 2}),
        vec![(200, vec![("x-page", "2"), ("x-next-page", "")], json!([]))],
    );
    assert_eq!(out.unwrap()["nextPage"], Value::Null);
}

#[test]
fn gitlab_file_defaults_to_the_default_branch_and_decodes() {
    let (out, seen) = run(
        "gitlab_get_file",
        json!({"projectId": 1, "filePath": "src/main.rs"}),
        vec![
            (
                200,
                vec![],
                json!({"id": 1, "name": "p", "path_with_namespace": "g/p", "default_branch": "main"}),
            ),
            (
                200,
                vec![],
                json!({"file_path": "src/main.rs", "ref": "main", "size": 12, "encoding": "base64", "content": "Zm4gbWFpbigpIHt9", "blob_id": "b", "last_commit_id": "c"}),
            ),
        ],
    );
    assert_eq!(out.unwrap()["content"], "fn main() {}");
    assert_eq!(
        seen[1].1,
        "https://gl.example.com/sub/api/v4/projects/1/repository/files/src%2Fmain.rs?ref=main"
    );
}

#[test]
fn create_branch_for_issue_spans_both_services() {
    let (out, seen) = run(
        "create_branch_for_issue",
        json!({"issueKey": "demo-1", "projectId": "demo-group/demo-project"}),
        vec![
            (
                200,
                vec![],
                json!({"id": "10001", "key": "DEMO-1", "fields": {"summary": "Fix login redirect loop"}}),
            ),
            (
                200,
                vec![],
                json!({"id": 1, "name": "p", "path_with_namespace": "demo-group/demo-project", "default_branch": "main"}),
            ),
            (
                201,
                vec![],
                json!({"name": "DEMO-1-fix-login-redirect-loop", "web_url": "https://gl.example.com/sub/demo-group/demo-project/-/tree/DEMO-1-fix-login-redirect-loop"}),
            ),
            (201, vec![], json!({"id": "555"})),
        ],
    );
    let out = out.unwrap();
    assert_eq!(out["branch"], "DEMO-1-fix-login-redirect-loop");
    assert_eq!(out["jiraCommentId"], "555");
    assert!(
        seen[2]
            .1
            .ends_with("/projects/demo-group%2Fdemo-project/repository/branches"),
        "{}",
        seen[2].1
    );
    assert_eq!(
        seen[2].2,
        Some(json!({"branch": "DEMO-1-fix-login-redirect-loop", "ref": "main"}))
    );
    let comment = seen[3].2.as_ref().unwrap().to_string();
    assert!(
        comment.contains("DEMO-1-fix-login-redirect-loop"),
        "{comment}"
    );
}

#[test]
fn upstream_errors_become_tool_errors() {
    let (out, _) = run(
        "gitlab_get_project",
        json!({"projectId": "nope/nope"}),
        vec![(404, vec![], json!({"message": "404 Project Not Found"}))],
    );
    let msg = out.unwrap_err();
    assert!(
        msg.contains("not found (404)") && msg.contains("gl.example.com"),
        "{msg}"
    );
    let _ = Map::<String, Value>::new();
}

/// The core's compact validator and the full `jsonschema` crate agree on every tool's input schema,
/// over instances built from the schema's own property names and a pool of awkward values.
#[test]
fn argument_validator_agrees_with_jsonschema_on_every_tool() {
    let mut registry = crate::tool::Registry::new();
    crate::testing::register_test_tools(&mut registry);
    register(&mut registry, ConnectorSet::default());
    let pool = [
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(1),
        // No whole-number float such as 2.0: `jsonschema` 0.33 counts it as an integer for
        // `"type": "integer"` but not inside a type list; the validator follows the specification
        // (always an integer), which its own unit tests pin.
        json!(2.5),
        json!(50),
        json!(100),
        json!(101),
        json!(1000),
        json!(""),
        json!("DEMO-1"),
        json!("demo-12"),
        json!("123"),
        json!("12a"),
        json!("main"),
        json!("group/project"),
        json!("ü"),
        json!([]),
        json!(["x"]),
        json!([1]),
        json!({}),
        json!({"a": 1}),
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut checked = 0;
    for tool in registry.tools() {
        let def = tool.def();
        let ours = crate::validator::SchemaValidator::new(&def.input_schema).unwrap();
        let theirs = jsonschema::validator_for(&def.input_schema).unwrap();
        let names: Vec<String> = def.input_schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let mut agreed_valid = 0;
        for _ in 0..400 {
            let mut args = Map::new();
            for name in &names {
                if next(3) > 0 {
                    args.insert(name.clone(), pool[next(pool.len())].clone());
                }
            }
            if next(10) == 0 {
                args.insert("unexpected".into(), json!(1));
            }
            let instance = Value::Object(args);
            let (a, b) = (ours.is_valid(&instance), theirs.is_valid(&instance));
            assert_eq!(a, b, "{}: validators disagree on {instance}", def.name);
            agreed_valid += usize::from(a);
            checked += 1;
        }
        assert!(
            agreed_valid > 0
                || !def.input_schema["required"]
                    .as_array()
                    .is_none_or(|r| r.is_empty()),
            "{}: no generated instance was valid, the comparison says little",
            def.name
        );
        for bad in [json!(null), json!([]), json!("x")] {
            assert_eq!(
                ours.is_valid(&bad),
                theirs.is_valid(&bad),
                "{}: {bad}",
                def.name
            );
        }
    }
    assert!(
        checked >= 400 * 30,
        "every tool was exercised ({checked} instances)"
    );
}

#[test]
fn job_log_keeps_the_tail_under_the_cap() {
    // 200 kB of log with a multi-byte character at every line, the failure at its very end.
    let mut log = String::new();
    for n in 0..5000 {
        log.push_str(&format!("line {n:05} \u{2714} ok\n"));
    }
    log.push_str("ERROR: Job failed: exit code 1\n");
    let total = log.len() as u64;
    let (out, seen) = run(
        "gitlab_get_job_log",
        json!({"projectId": "group/app", "jobId": 204, "maxBytes": 2048}),
        vec![(
            200,
            vec![("content-type", "text/plain")],
            Value::String(log),
        )],
    );
    let out = out.unwrap();
    assert_eq!(
        seen[0].1,
        "https://gl.example.com/sub/api/v4/projects/group%2Fapp/jobs/204/trace"
    );
    assert_eq!(out["truncated"], true);
    assert_eq!(out["seenBytes"], total);
    assert_eq!(out["maxBytes"], 2048);
    let text = out["log"].as_str().unwrap();
    assert!(text.len() <= 2048 && text.len() > 2000, "{}", text.len());
    assert!(text.ends_with("ERROR: Job failed: exit code 1\n"));
    assert!(
        !text.contains('\u{FFFD}'),
        "a character cut at the window's edge is skipped"
    );
    assert_eq!(out["bytes"], text.len());

    // A short log comes back whole.
    let (out, _) = run(
        "gitlab_get_job_log",
        json!({"projectId": 1, "jobId": 201}),
        vec![(200, vec![], Value::String("Job succeeded\n".into()))],
    );
    let out = out.unwrap();
    assert_eq!(out["truncated"], false);
    assert_eq!(out["log"], "Job succeeded\n");
    assert_eq!(out["maxBytes"], 65536);
}

#[test]
fn head_cap_stops_reading_and_tail_cap_holds_a_bounded_window() {
    use crate::port::{BodyCap, CapCollector, Keep};
    let mut head = CapCollector::new(BodyCap {
        max_bytes: 10,
        keep: Keep::Head,
    });
    assert!(head.push(b"01234"));
    assert!(
        !head.push(b"56789abc"),
        "a full head tells the client to stop"
    );
    let (body, read) = head.finish();
    assert_eq!(
        (&body[..], read.truncated, read.seen_bytes),
        (&b"0123456789"[..], true, 13)
    );

    let mut tail = CapCollector::new(BodyCap {
        max_bytes: 4,
        keep: Keep::Tail,
    });
    for chunk in [b"abc", b"def", b"ghi"] {
        assert!(tail.push(chunk));
        assert!(
            tail.held() <= 8 + 3,
            "the window stays within twice the cap plus a chunk"
        );
    }
    let (body, read) = tail.finish();
    assert_eq!(
        (&body[..], read.truncated, read.seen_bytes),
        (&b"fghi"[..], true, 9)
    );

    let mut small = CapCollector::new(BodyCap {
        max_bytes: 4,
        keep: Keep::Tail,
    });
    small.push(b"ab");
    let (body, read) = small.finish();
    assert_eq!((&body[..], read.truncated), (&b"ab"[..], false));
}

#[test]
fn pipeline_tools_build_the_documented_requests() {
    let pipe = json!({"id": 102, "iid": 2, "project_id": 1, "sha": "abc", "ref": "develop", "status": "failed", "source": "push", "web_url": "u", "created_at": "t", "updated_at": "t", "user": {"username": "dev"}, "duration": 61});
    let (out, seen) = run(
        "gitlab_list_pipelines",
        json!({"projectId": "g/p", "status": "failed", "ref": "develop", "perPage": 5}),
        vec![(
            200,
            vec![("x-page", "1"), ("x-next-page", "2"), ("x-total", "7")],
            json!([pipe]),
        )],
    );
    let out = out.unwrap();
    assert_eq!(seen[0].1, "https://gl.example.com/sub/api/v4/projects/g%2Fp/pipelines?status=failed&ref=develop&page=1&per_page=5");
    assert_eq!(
        (
            out["pipelines"][0]["id"].clone(),
            out["nextPage"].clone(),
            out["total"].clone()
        ),
        (json!(102), json!(2), json!(7))
    );
    assert_eq!(out["pipelines"][0]["user"], "dev");

    let (_, seen) = run(
        "gitlab_list_pipeline_jobs",
        json!({"projectId": 1, "pipelineId": 102, "scope": ["failed", "canceled"]}),
        vec![(
            200,
            vec![],
            json!([{"id": 204, "name": "test", "status": "failed", "stage": "test", "failure_reason": "script_failure"}]),
        )],
    );
    assert_eq!(seen[0].1, "https://gl.example.com/sub/api/v4/projects/1/pipelines/102/jobs?scope[]=failed&scope[]=canceled&page=1&per_page=20");

    let (out, seen) = run(
        "gitlab_create_pipeline",
        json!({"projectId": 1, "ref": "main", "variables": [{"key": "DEPLOY", "value": "no"}, {"key": "CFG", "value": "x", "variableType": "file"}]}),
        vec![(201, vec![], pipe.clone())],
    );
    assert_eq!(out.unwrap()["status"], "failed");
    assert_eq!(
        (seen[0].0.as_str(), seen[0].1.as_str()),
        (
            "POST",
            "https://gl.example.com/sub/api/v4/projects/1/pipeline"
        )
    );
    assert_eq!(
        seen[0].2,
        Some(
            json!({"ref": "main", "variables": [{"key": "DEPLOY", "value": "no", "variable_type": "env_var"}, {"key": "CFG", "value": "x", "variable_type": "file"}]})
        )
    );
    for (tool, action) in [
        ("gitlab_retry_pipeline", "retry"),
        ("gitlab_cancel_pipeline", "cancel"),
    ] {
        let (_, seen) = run(
            tool,
            json!({"projectId": 1, "pipelineId": 102}),
            vec![(201, vec![], pipe.clone())],
        );
        assert_eq!(
            (seen[0].0.as_str(), seen[0].1.clone()),
            (
                "POST",
                format!("https://gl.example.com/sub/api/v4/projects/1/pipelines/102/{action}")
            )
        );
        assert_eq!(seen[0].2, None);
    }
}

#[test]
fn merge_request_review_tools_send_the_documented_requests() {
    let (out, seen) = run(
        "gitlab_merge_merge_request",
        json!({"projectId": 1, "mergeRequestIid": 1, "sha": "a1b2c3d", "squash": true, "removeSourceBranch": true}),
        vec![(
            200,
            vec![],
            json!({"iid": 1, "state": "merged", "merge_commit_sha": "f0e1", "merge_user": {"username": "dev"}, "merged_at": "t"}),
        )],
    );
    assert_eq!(out.unwrap()["mergedBy"], "dev");
    assert_eq!(
        (seen[0].0.as_str(), seen[0].1.as_str()),
        (
            "PUT",
            "https://gl.example.com/sub/api/v4/projects/1/merge_requests/1/merge"
        )
    );
    assert_eq!(
        seen[0].2,
        Some(json!({"sha": "a1b2c3d", "squash": true, "should_remove_source_branch": true}))
    );

    let (out, _) = run(
        "gitlab_merge_merge_request",
        json!({"projectId": 1, "mergeRequestIid": 1, "sha": "a1b2c3d"}),
        vec![(
            409,
            vec![],
            json!({"message": "SHA does not match HEAD of source branch: ffff"}),
        )],
    );
    let e = out.unwrap_err();
    assert!(
        e.contains("GitLab at gl.example.com rejected the request (409)")
            && e.contains("SHA does not match"),
        "{e}"
    );

    let (out, seen) = run(
        "gitlab_resolve_merge_request_discussion",
        json!({"projectId": 1, "mergeRequestIid": 1, "discussionId": "6a9c17"}),
        vec![(
            200,
            vec![],
            json!({"id": "6a9c17", "individual_note": false, "notes": [{"id": 1, "body": "b", "resolvable": true, "resolved": true, "position": {"new_path": "a.rs", "new_line": 2}}]}),
        )],
    );
    let out = out.unwrap();
    assert_eq!(
        (
            out["resolved"].clone(),
            out["notes"][0]["filePath"].clone(),
            out["notes"][0]["line"].clone()
        ),
        (json!(true), json!("a.rs"), json!(2))
    );
    assert_eq!(
        (seen[0].0.as_str(), seen[0].2.clone()),
        ("PUT", Some(json!({"resolved": true})))
    );

    let (out, _) = run(
        "gitlab_unapprove_merge_request",
        json!({"projectId": 1, "mergeRequestIid": 1}),
        vec![(304, vec![], Value::Null)],
    );
    let e = out.unwrap_err();
    assert!(
        e.contains("nothing to change (304"),
        "a 304 is not reported as a redirect: {e}"
    );
}

#[test]
fn merge_request_diffs_keep_within_the_byte_budget() {
    let big = format!("@@ -1 +1 @@\n{}", "+é\n".repeat(1000)); // 4012 bytes, multi-byte characters
    let page = json!([
        {"old_path": "a.rs", "new_path": "a.rs", "diff": "@@ small @@\n"},
        {"old_path": "b.rs", "new_path": "b.rs", "diff": big},
        {"old_path": "c.rs", "new_path": "c.rs", "diff": "never reached"},
    ]);
    let (out, seen) = run(
        "gitlab_get_merge_request_diffs",
        json!({"projectId": 1, "mergeRequestIid": 3, "maxBytes": 1024, "perPage": 3}),
        vec![(200, vec![("x-next-page", "2")], page)],
    );
    let out = out.unwrap();
    assert_eq!(
        seen[0].1,
        "https://gl.example.com/sub/api/v4/projects/1/merge_requests/3/diffs?page=1&per_page=3"
    );
    assert_eq!(
        (
            out["truncated"].clone(),
            out["maxBytes"].clone(),
            out["nextPage"].clone()
        ),
        (json!(true), json!(1024), json!(2))
    );
    let changes = out["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "the file past the budget is left out");
    assert_eq!(changes[1]["diffTruncated"], true);
    assert!(out["bytes"].as_u64().unwrap() <= 1024);

    // A page larger than its bound is refused with advice, not buffered.
    let huge: Vec<Value> = (0..40).map(|n| json!({"old_path": format!("f{n}"), "new_path": format!("f{n}"), "diff": "x".repeat(4000)})).collect();
    let (out, _) = run(
        "gitlab_get_merge_request_diffs",
        json!({"projectId": 1, "mergeRequestIid": 3, "maxBytes": 1024}),
        vec![(200, vec![], Value::Array(huge))],
    );
    let e = out.unwrap_err();
    assert!(e.contains("larger than") && e.contains("perPage"), "{e}");
}

#[test]
fn repository_tools_send_the_documented_requests() {
    let c = json!({"id": "a1b2", "short_id": "a1b2", "title": "T", "parent_ids": ["p"], "stats": {"additions": 3, "deletions": 1}});
    let (out, seen) = run(
        "gitlab_get_commit",
        json!({"projectId": "g/p", "sha": "feature/x"}),
        vec![(200, vec![], c.clone())],
    );
    assert_eq!(
        seen[0].1,
        "https://gl.example.com/sub/api/v4/projects/g%2Fp/repository/commits/feature%2Fx"
    );
    assert_eq!(
        (
            out.as_ref().unwrap()["additions"].clone(),
            out.unwrap()["parentIds"].clone()
        ),
        (json!(3), json!(["p"]))
    );

    let (out, seen) = run(
        "gitlab_compare",
        json!({"projectId": 1, "from": "main", "to": "develop", "maxBytes": 1024}),
        vec![(
            200,
            vec![],
            json!({"commits": [c], "diffs": [{"old_path": "a", "new_path": "a", "diff": "x".repeat(3000)}], "compare_same_ref": false}),
        )],
    );
    assert_eq!(
        seen[0].1,
        "https://gl.example.com/sub/api/v4/projects/1/repository/compare?from=main&to=develop"
    );
    let out = out.unwrap();
    assert_eq!(
        (
            out["truncated"].clone(),
            out["bytes"].clone(),
            out["changes"][0]["diffTruncated"].clone()
        ),
        (json!(true), json!(1024), json!(true))
    );

    let (out, seen) = run(
        "gitlab_commit_files",
        json!({"projectId": 1, "branch": "docs", "startBranch": "main", "commitMessage": "Docs", "actions": [
            {"action": "create", "filePath": "docs/a.md", "content": "A"},
            {"action": "delete", "filePath": "old.md"},
            {"action": "move", "filePath": "new.md", "previousPath": "older.md"}]}),
        vec![(201, vec![], c.clone())],
    );
    assert!(out.is_ok());
    assert_eq!(
        seen[0].2,
        Some(
            json!({"branch": "docs", "commit_message": "Docs", "start_branch": "main", "actions": [
        {"action": "create", "file_path": "docs/a.md", "content": "A"},
        {"action": "delete", "file_path": "old.md"},
        {"action": "move", "file_path": "new.md", "previous_path": "older.md"}]})
        )
    );

    // An update without content, a move without its old path: refused by the inputSchema.
    let tool = gitlab_repo::tools()
        .into_iter()
        .find(|t| t.def().name == "gitlab_commit_files")
        .unwrap();
    let v = crate::validator::SchemaValidator::new(&tool.def().input_schema).unwrap();
    for bad in [
        json!({"action": "update", "filePath": "a"}),
        json!({"action": "move", "filePath": "a"}),
    ] {
        let args =
            json!({"projectId": 1, "branch": "main", "commitMessage": "m", "actions": [bad]});
        let e = v.first_violation(&args).expect("refused");
        assert_eq!(e.instance_path, "/actions/0", "{e:?}");
    }
}

#[test]
fn project_metadata_and_wiki_tools_send_the_documented_requests() {
    let (out, seen) = run(
        "gitlab_list_group_projects",
        json!({"groupId": "parent/team", "includeSubgroups": true}),
        vec![(
            200,
            vec![],
            json!([{"id": 9, "name": "x", "path_with_namespace": "parent/team/x"}]),
        )],
    );
    assert_eq!(seen[0].1, "https://gl.example.com/sub/api/v4/groups/parent%2Fteam/projects?include_subgroups=true&order_by=id&sort=asc&page=1&per_page=20");
    assert_eq!(
        out.unwrap()["projects"][0]["pathWithNamespace"],
        "parent/team/x"
    );

    let (out, seen) = run(
        "gitlab_get_wiki_page",
        json!({"projectId": 1, "slug": "docs/setup"}),
        vec![(
            200,
            vec![],
            json!({"slug": "docs/setup", "title": "setup", "format": "markdown", "content": "Install", "encoding": "UTF-8"}),
        )],
    );
    assert_eq!(
        seen[0].1,
        "https://gl.example.com/sub/api/v4/projects/1/wikis/docs%2Fsetup"
    );
    assert_eq!(out.unwrap()["content"], "Install");

    // A page answer over maxBytes is refused (the client stopped reading at the cap).
    let big =
        json!({"slug": "big", "title": "big", "format": "markdown", "content": "x".repeat(5000)});
    let (out, _) = run(
        "gitlab_get_wiki_page",
        json!({"projectId": 1, "slug": "big", "maxBytes": 1024}),
        vec![(200, vec![], big)],
    );
    assert!(out
        .unwrap_err()
        .contains("larger than maxBytes (1024 bytes)"));

    let (_, seen) = run(
        "gitlab_update_wiki_page",
        json!({"projectId": 1, "slug": "home", "content": "New"}),
        vec![(
            200,
            vec![],
            json!({"slug": "home", "title": "Home", "format": "markdown", "content": "New"}),
        )],
    );
    assert_eq!(
        (seen[0].0.as_str(), seen[0].2.clone()),
        ("PUT", Some(json!({"content": "New"})))
    );

    let (out, seen) = run(
        "gitlab_get_current_user",
        json!({}),
        vec![(
            200,
            vec![],
            json!({"id": 3, "username": "dev", "is_admin": false}),
        )],
    );
    assert_eq!(seen[0].1, "https://gl.example.com/sub/api/v4/user");
    assert_eq!(out.unwrap()["isAdmin"], false);
}

/// The README's tool list is [`super::toolsets_markdown`], between `<!-- tools -->` and `<!-- /tools -->`.
/// `MCP_EDGE_BLESS_README=1 cargo test -p mcp-edge-core readme` rewrites it.
#[test]
fn readme_tool_list_is_rendered_from_the_registry() {
    let _lock = crate::README_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let open = "<!-- tools -->\n";
    let start = readme
        .find(open)
        .expect("README has a <!-- tools --> block")
        + open.len();
    let len = readme[start..]
        .find("<!-- /tools -->")
        .expect("the tools block is closed");
    let want = super::toolsets_markdown();
    if std::env::var_os("MCP_EDGE_BLESS_README").is_some() {
        let out = format!("{}{want}{}", &readme[..start], &readme[start + len..]);
        std::fs::write(path, out).unwrap();
        return;
    }
    assert!(
        readme[start..start + len] == want,
        "README tool list differs from the registry \
         (MCP_EDGE_BLESS_README=1 cargo test -p mcp-edge-core readme rewrites it)"
    );
}

/// `gitlab_get_merge_request` follows diff pages under one byte budget, each page bounded before it
/// is buffered, and says what it cut.
#[test]
fn merge_request_changes_follow_pages_under_one_byte_budget() {
    let mr = json!({"id": 503, "iid": 3, "title": "Big", "sha": "a1b2c3d",
        "diff_refs": {"base_sha": "b1", "start_sha": "s1", "head_sha": "a1b2c3d"}});
    let file = |n: u32, len: usize| json!({"old_path": format!("f{n}"), "new_path": format!("f{n}"), "diff": "x".repeat(len)});
    // Within budget: both pages read, nothing cut.
    let (out, seen) = run(
        "gitlab_get_merge_request",
        json!({"projectId": 1, "mergeRequestIid": 3}),
        vec![
            (200, vec![], mr.clone()),
            (200, vec![("x-next-page", "2")], json!([file(1, 100)])),
            (200, vec![], json!([file(2, 100)])),
        ],
    );
    let out = out.unwrap();
    assert_eq!(seen.len(), 3);
    assert!(seen[1]
        .1
        .ends_with("/merge_requests/3/diffs?page=1&per_page=20"));
    assert!(seen[2]
        .1
        .ends_with("/merge_requests/3/diffs?page=2&per_page=20"));
    assert_eq!(
        (
            &out["changesTruncated"],
            &out["diffBytes"],
            &out["maxBytes"]
        ),
        (&json!(false), &json!(200), &json!(262144))
    );
    assert_eq!(out["diffRefs"]["startSha"], "s1");

    // Budget spent on page 1: the second file is cut, page 2 is never asked for.
    let (out, seen) = run(
        "gitlab_get_merge_request",
        json!({"projectId": 1, "mergeRequestIid": 3, "maxBytes": 1024}),
        vec![
            (200, vec![], mr.clone()),
            (
                200,
                vec![("x-next-page", "2")],
                json!([file(1, 600), file(2, 600)]),
            ),
        ],
    );
    let out = out.unwrap();
    assert_eq!(seen.len(), 2, "no page is read once the budget is spent");
    assert_eq!(
        (&out["changesTruncated"], &out["diffBytes"]),
        (&json!(true), &json!(1024))
    );
    assert_eq!(out["changes"][1]["diffTruncated"], true);

    // A page over its bound (twice the budget left plus 64 KiB) is not buffered: reading stops.
    let huge: Vec<Value> = (0..40).map(|n| file(n, 4000)).collect();
    let (out, seen) = run(
        "gitlab_get_merge_request",
        json!({"projectId": 1, "mergeRequestIid": 3, "maxBytes": 1024}),
        vec![(200, vec![], mr), (200, vec![], Value::Array(huge))],
    );
    let out = out.unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (&out["changesTruncated"], &out["changes"]),
        (&json!(true), &json!([]))
    );
}

/// A line comment sends GitLab's documented text position (both paths; only the lines given).
#[test]
fn merge_request_line_comments_send_gitlab_positions() {
    let d = json!({"id": "abc", "individual_note": false, "notes": [{"id": 9, "body": "Why?", "resolvable": true, "resolved": false,
        "position": {"new_path": "src/main.rs", "new_line": 2}}]});
    let (out, seen) = run(
        "gitlab_create_merge_request_discussion",
        json!({"projectId": 1, "mergeRequestIid": 1, "body": "Why?", "position": {
            "baseSha": "7b5c3cc", "startSha": "7b5c3cc", "headSha": "a1b2c3d", "newPath": "src/main.rs", "newLine": 2}}),
        vec![(201, vec![], d)],
    );
    assert_eq!(out.unwrap()["notes"][0]["line"], 2);
    assert_eq!(
        seen[0].2,
        Some(json!({"body": "Why?", "position": {
            "position_type": "text", "base_sha": "7b5c3cc", "start_sha": "7b5c3cc", "head_sha": "a1b2c3d",
            "new_path": "src/main.rs", "old_path": "src/main.rs", "new_line": 2}}))
    );
    // A position without a line is refused by the input schema, at the position.
    let tool = gitlab_mr::tools()
        .into_iter()
        .find(|t| t.def().name == "gitlab_create_merge_request_discussion")
        .unwrap();
    let v = crate::validator::SchemaValidator::new(&tool.def().input_schema).unwrap();
    let bad = json!({"projectId": 1, "mergeRequestIid": 1, "body": "x", "position": {
        "baseSha": "7b5c3cc", "startSha": "7b5c3cc", "headSha": "a1b2c3d", "newPath": "a"}});
    assert_eq!(v.first_violation(&bad).unwrap().instance_path, "/position");
}

/// A sleeper that records the intervals asked for and returns at once.
#[derive(Default)]
struct Naps(Mutex<Vec<u64>>);

impl crate::port::Sleeper for Naps {
    fn sleep(&self, ms: u64) -> crate::port::BoxFuture<'_, ()> {
        self.0.lock().unwrap().push(ms);
        Box::pin(async {})
    }
}

#[test]
fn the_pipeline_wait_polls_at_the_configured_interval_until_the_pipeline_finishes() {
    let wait = |statuses: &[&str], args: Value, poll_ms: u64, sleeps: bool| {
        let client = Arc::new(Scripted::default());
        *client.answers.lock().unwrap() = statuses
            .iter()
            .map(|s| (200, vec![], json!({"id": 7, "status": s, "ref": "main"})))
            .collect();
        let services = UpstreamServices::new(
            UpstreamConfig::default(),
            Arc::new(SharedClient(client.clone())),
            None,
        );
        let creds = creds();
        let up = services.for_call(&creds, 0);
        let naps = Naps::default();
        let ctx = ToolContext {
            credentials: &creds,
            upstream: &up,
            now: 0,
            caller: "test",
            client: None,
            client_capabilities: None,
            input: None,
            sleeper: sleeps.then_some(&naps as &dyn crate::port::Sleeper),
            notify: &crate::notify::SILENT,
        };
        let tool = gitlab_ci::PipelineWait::new(poll_ms);
        assert_eq!(tool.task_support(), crate::tool::TaskSupport::Optional);
        let Value::Object(map) = args else { panic!() };
        let out = block_on(tool.call(&ctx, map)).map_err(|f| f.message);
        let seen = client.seen.lock().unwrap().clone();
        let naps = naps.0.lock().unwrap().clone();
        (out, seen, naps)
    };
    let (out, seen, naps) = wait(
        &["pending", "running", "running", "success"],
        json!({"projectId": 1, "pipelineId": 7}),
        250,
        true,
    );
    let Ok(crate::tool::ToolOutput::Structured(v)) = out else {
        panic!("{out:?}")
    };
    assert_eq!(
        (v["pipeline"]["status"].as_str(), v["looks"].as_u64()),
        (Some("success"), Some(4))
    );
    assert_eq!(naps, vec![250; 3], "one configured nap between two looks");
    assert!(
        seen.iter()
            .all(|s| s.0 == "GET"
                && s.1 == "https://gl.example.com/sub/api/v4/projects/1/pipelines/7")
    );
    // Bounded: `timeoutSeconds` / interval looks, then a tool error; never below the 100 ms floor.
    let (out, seen, naps) = wait(
        &["running"; 10],
        json!({"projectId": 1, "pipelineId": 7, "timeoutSeconds": 1}),
        10,
        true,
    );
    assert!(out.unwrap_err().contains("still running after 10 looks"));
    assert_eq!((seen.len(), naps), (10, vec![100; 9]));
    // Without timers (no platform sleeper) it looks once.
    let (out, seen, _) = wait(
        &["running"],
        json!({"projectId": 1, "pipelineId": 7}),
        250,
        false,
    );
    assert!(out.unwrap_err().contains("after 1 looks"));
    assert_eq!(seen.len(), 1);
}
