//! In-memory state of the fake services and their endpoints, in the vendors' documented shapes.

#[path = "conf_details.rs"]
pub mod conf_details;
#[path = "dc.rs"]
pub mod dc;
#[path = "jira_depth.rs"]
pub mod jira_depth;

use axum::http::Method;
use base64::Engine as _;
use serde_json::{json, Value};

/// An answer: status, extra headers, JSON body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// A `text/plain` body (GitLab job logs), instead of JSON.
    pub text: Option<String>,
    /// A binary body and its content type (Jira attachments), instead of JSON.
    pub raw: Option<(String, Vec<u8>)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
            text: None,
            raw: None,
        }
    }
    pub fn text(status: u16, text: String) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
            text: Some(text),
            raw: None,
        }
    }
    pub fn empty(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
            text: None,
            raw: None,
        }
    }
    pub fn bytes(status: u16, content_type: &str, bytes: Vec<u8>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
            text: None,
            raw: Some((content_type.to_owned(), bytes)),
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }
}

/// Query parameters of one request.
pub struct Query<'a>(&'a [(String, String)]);

impl<'a> Query<'a> {
    fn get(&self, k: &str) -> Option<&'a str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
}

/// RFC 3339, as the spec's `date-time` format requires (the live service writes `+0000`).
const CREATED: &str = "2026-01-05T10:00:00.000+00:00";
const ISO: &str = "2026-01-05T10:00:00.000Z";

struct Issue {
    id: u64,
    key: String,
    project: &'static str,
    summary: String,
    description: Option<Value>,
    labels: Vec<String>,
    status: &'static str,
    comments: Vec<Value>,
}

struct Page {
    id: u64,
    title: String,
    space_id: &'static str,
    parent_id: Option<u64>,
    version: u64,
    body: String,
}

/// A branch's files: (path, content).
type Files = Vec<(String, String)>;

/// All state of one fake.
#[derive(Default)]
pub struct Data {
    issues: Vec<Issue>,
    next_issue_id: u64,
    next_comment_id: u64,
    pages: Vec<Page>,
    next_page_id: u64,
    projects: Vec<Value>,
    branches: Vec<(u64, String)>,
    mrs: Vec<Value>,
    gl_issues: Vec<Value>,
    next_note_id: u64,
    pipelines: Vec<Value>,
    jobs: Vec<Value>,
    /// Merge request threads: (merge request id, discussion).
    discussions: Vec<(u64, Value)>,
    /// Approvals: merge request ids the current user approved.
    approved: Vec<u64>,
    /// Commits of project 1: (branches holding it, commit, its diffs), oldest first.
    commits: Vec<(Vec<String>, Value, Vec<Value>)>,
    /// Branches whose files diverged from [`FILES`]: (project, branch, [(path, content)]).
    trees: Vec<(u64, String, Files)>,
    /// Labels of project 1.
    labels: Vec<Value>,
    /// Wiki pages of project 1.
    wiki: Vec<Value>,
    /// Confluence footer comments.
    conf_comments: Vec<conf_details::Comment>,
    /// Confluence page labels: (page, name).
    conf_labels: Vec<(u64, String)>,
    /// Jira worklogs, watchers, links and sprints (jira_depth.rs).
    depth: jira_depth::State,
}

/// The message of a Confluence 409 on a stale page version (Cloud and Server/Data Center alike).
fn version_conflict(current: u64) -> String {
    format!("Version must be incremented on update. Current version is: {current}")
}

/// An issue's status category id and its project (id, key, name), as both Jira fakes render them.
fn status_and_project(i: &Issue) -> (&'static str, (&'static str, &'static str, &'static str)) {
    let (_, _, cat) = STATUSES
        .iter()
        .find(|s| s.1 == i.status)
        .copied()
        .unwrap_or(STATUSES[0]);
    let project = PROJECTS
        .iter()
        .find(|p| p.1 == i.project)
        .copied()
        .unwrap_or(PROJECTS[0]);
    (cat, project)
}

/// The issue fields named by a `fields` parameter (`*all` and `*navigable`, the default, keep all),
/// as Jira Cloud v3 and Server v2 both select them.
fn pick_fields(mut all: Value, fields: Option<&str>) -> Value {
    let wanted: Vec<&str> = fields
        .unwrap_or("*navigable")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if wanted.iter().any(|w| *w == "*all" || *w == "*navigable") {
        return all;
    }
    let obj = all.as_object_mut().map(std::mem::take).unwrap_or_default();
    Value::Object(
        obj.into_iter()
            .filter(|(k, _)| wanted.contains(&k.as_str()))
            .collect(),
    )
}

fn adf(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

const PROJECTS: [(&str, &str, &str); 2] = [
    ("10000", "DEMO", "Demo Project"),
    ("10001", "OPS", "Operations"),
];
const STATUSES: [(&str, &str, &str); 3] = [
    ("11", "To Do", "1"),
    ("21", "In Progress", "3"),
    ("31", "Done", "10001"),
];
const SPACES: [(&str, &str, &str); 2] =
    [("65537", "ENG", "Engineering"), ("65538", "HR", "People")];
const SHA: &str = "7b5c3cc8be40ee161ae89a06bba6229da1032a0c";
/// Head commit of the seeded merge requests' source branches.
const MR_SHA: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";

/// The log of job 204 (failed): 6000 numbered lines (about 300 kB), then the failure at its end,
/// so a tail-capped read must reach past the cap to see it.
fn failed_job_log() -> String {
    let mut log = String::with_capacity(320_000);
    for n in 1..=6000 {
        log.push_str(&format!(
            "[{n:05}] running test suite: case {n} ok \u{2714}\n"
        ));
    }
    log.push_str("test_login_redirect ... FAILED\nERROR: Job failed: exit code 1\n");
    log
}

const FILES: [(&str, &str); 2] = [
    (
        "README.md",
        "# Demo project\n\nA project served by the fake GitLab.\n",
    ),
    ("src/main.rs", "fn main() {\n    println!(\"Demo\");\n}\n"),
];

impl Data {
    /// Deterministic seed data for `service`.
    pub fn seed(service: &str, instance: &str) -> Self {
        let mut d = Data::default();
        match service {
            "jira" => {
                for n in 1..=25u64 {
                    let mut labels = Vec::new();
                    if n % 2 == 1 {
                        labels.push("backend".to_owned());
                    }
                    if n % 3 == 0 {
                        labels.push("urgent".to_owned());
                    }
                    d.issues.push(Issue {
                        id: 10000 + n,
                        key: format!("DEMO-{n}"),
                        project: "DEMO",
                        summary: if n == 1 {
                            "Fix login redirect loop".into()
                        } else {
                            format!("Demo issue {n}")
                        },
                        description: Some(adf(&format!("Details of demo issue {n}."))),
                        labels,
                        status: "To Do",
                        comments: Vec::new(),
                    });
                }
                for n in 1..=3u64 {
                    d.issues.push(Issue {
                        id: 20000 + n,
                        key: format!("OPS-{n}"),
                        project: "OPS",
                        summary: format!("Ops task {n}"),
                        description: None,
                        labels: vec!["ops".into()],
                        status: "In Progress",
                        comments: Vec::new(),
                    });
                }
                d.next_issue_id = 30000;
                d.next_comment_id = 40000;
            }
            "confluence" => {
                d.pages.push(Page {
                    id: 98305,
                    title: "Engineering Home".into(),
                    space_id: "65537",
                    parent_id: None,
                    version: 3,
                    body: concat!(
                        "<h1>Engineering Home</h1><p>Welcome to <strong>Engineering</strong> &amp; friends. ",
                        "See <a href=\"https://example.com/docs\">the docs</a>.</p>",
                        "<ul><li>Runbooks</li><li>Architecture</li></ul>",
                        "<ac:structured-macro ac:name=\"code\"><ac:parameter ac:name=\"language\">bash</ac:parameter>",
                        "<ac:plain-text-body><![CDATA[make deploy && echo \"<done>\"]]></ac:plain-text-body></ac:structured-macro>",
                        "<table><tbody><tr><th>Service</th><th>Owner</th></tr><tr><td>API</td><td>Team A</td></tr></tbody></table>"
                    )
                    .into(),
                });
                for n in 1..=12u64 {
                    d.pages.push(Page {
                        id: 98305 + n,
                        title: format!("Runbook {n}"),
                        space_id: "65537",
                        parent_id: Some(98305),
                        version: 1,
                        body: format!("<p>Steps for runbook {n}.</p>"),
                    });
                }
                d.pages.push(Page {
                    id: 131073,
                    title: "People Home".into(),
                    space_id: "65538",
                    parent_id: None,
                    version: 1,
                    body: "<p>HR space.</p>".into(),
                });
                d.next_page_id = 200000;
                conf_details::seed(&mut d);
            }
            _ => {
                let names: Vec<(u64, String)> =
                    [(1, "demo-project".to_owned()), (2, "api".to_owned())]
                        .into_iter()
                        .chain((3..=45u64).map(|n| (n, format!("service-{n}"))))
                        .collect();
                for (id, name) in names {
                    d.projects.push(json!({
                        "id": id,
                        "name": name,
                        "path": name,
                        "path_with_namespace": format!("demo-group/{name}"),
                        "name_with_namespace": format!("Demo Group / {name}"),
                        "description": format!("{name}, served by {instance}"),
                        "default_branch": "main",
                        "visibility": "private",
                        "created_at": ISO,
                        "last_activity_at": ISO,
                        "namespace": {"id": 7, "name": "Demo Group", "path": "demo-group", "kind": "group", "full_path": "demo-group"},
                    }));
                    d.branches.push((id, "main".into()));
                }
                d.branches.push((1, "develop".into()));
                // MR 3 carries many files (big_mr_diffs), for byte budgets across diff pages.
                for (iid, state, src) in [
                    (1u64, "opened", "develop"),
                    (2, "merged", "feature-x"),
                    (3, "opened", "big-change"),
                ] {
                    d.mrs.push(json!({
                        "id": 500 + iid, "iid": iid, "project_id": 1,
                        "title": format!("Merge request {iid}"), "description": "Changes",
                        "state": state, "source_branch": src, "target_branch": "main",
                        "author": {"id": 3, "username": "dev", "name": "Dev One"},
                        "created_at": ISO, "updated_at": ISO,
                        "merge_status": "can_be_merged", "detailed_merge_status": "mergeable",
                        "sha": MR_SHA,
                    }));
                }
                let diff = |old: &str, new: &str, new_file: bool, text: &str| {
                    json!({"old_path": old, "new_path": new, "a_mode": if new_file { "0" } else { "100644" }, "b_mode": "100644",
                           "new_file": new_file, "renamed_file": false, "deleted_file": false, "diff": text})
                };
                d.commits.push((
                    vec!["main".into(), "develop".into()],
                    commit_json(SHA, "Initial commit", &[], 5, 0),
                    vec![
                        diff("README.md", "README.md", true, "@@ -0,0 +1,3 @@\n+# Demo project\n+\n+A project served by the fake GitLab.\n"),
                        diff("src/main.rs", "src/main.rs", true, "@@ -0,0 +1,3 @@\n+fn main() {\n+    println!(\"Demo\");\n+}\n"),
                    ],
                ));
                d.commits.push((
                    vec!["develop".into()],
                    commit_json(MR_SHA, "Print the version", &[SHA], 1, 1),
                    vec![diff("src/main.rs", "src/main.rs", false, "@@ -1,3 +1,3 @@\n fn main() {\n-    println!(\"Demo\");\n+    println!(\"Demo v2\");\n }\n")],
                ));
                for (id, name, color, desc) in [
                    (11u64, "bug", "#d9534f", "Something is broken"),
                    (12, "feature", "#428bca", "New functionality"),
                ] {
                    d.labels.push(json!({
                        "id": id, "name": name, "color": color, "text_color": "#FFFFFF", "description": desc, "description_html": desc,
                        "open_issues_count": 2, "closed_issues_count": if name == "feature" { 1 } else { 0 },
                        "open_merge_requests_count": 0, "subscribed": false, "priority": null, "is_project_label": true,
                    }));
                }
                for (slug, title, content) in [
                    ("home", "Home", "# Welcome\n\nStart here."),
                    ("docs/setup", "setup", "Install with `make`."),
                ] {
                    d.wiki.push(json!({"format": "markdown", "slug": slug, "title": title, "content": content, "encoding": "UTF-8"}));
                }
                d.discussions.push((
                    501,
                    json!({
                        "id": "6a9c1750b37d513a43987b574953fceb50b03ce7", "individual_note": false,
                        "notes": [{
                            "id": 3001, "type": "DiffNote", "body": "Please print the version too.",
                            "author": {"id": 4, "username": "reviewer", "name": "Re Viewer"},
                            "created_at": ISO, "updated_at": ISO, "system": false, "noteable_id": 501,
                            "noteable_type": "MergeRequest", "project_id": 1, "noteable_iid": 1,
                            "resolvable": true, "resolved": false, "resolved_by": null, "resolved_at": null,
                            "position": {"base_sha": SHA, "start_sha": SHA, "head_sha": MR_SHA, "old_path": "src/main.rs",
                                         "new_path": "src/main.rs", "position_type": "text", "old_line": null, "new_line": 2},
                        }],
                    }),
                ));
                for iid in 1..=5u64 {
                    d.gl_issues.push(json!({
                        "id": 900 + iid, "iid": iid, "project_id": 1,
                        "title": format!("GitLab issue {iid}"), "description": "Something to do",
                        "state": if iid == 5 { "closed" } else { "opened" },
                        "labels": if iid % 2 == 0 { vec!["bug"] } else { vec!["feature"] },
                        "author": {"id": 3, "username": "dev", "name": "Dev One"},
                        "created_at": ISO,
                    }));
                }
                d.next_note_id = 7000;
                // Pipelines and jobs of project 1 (doc/api/pipelines.md, doc/api/jobs.md shapes).
                for (id, r, status) in [
                    (101u64, "main", "success"),
                    (102, "develop", "failed"),
                    (103, "main", "running"),
                ] {
                    d.pipelines.push(json!({
                        "id": id, "iid": id - 100, "project_id": 1, "sha": SHA, "ref": r, "status": status,
                        "source": "push", "name": null, "created_at": ISO, "updated_at": ISO,
                    }));
                }
                for (id, pipeline, name, stage, status) in [
                    (201u64, 101u64, "build", "build", "success"),
                    (202, 101, "test", "test", "success"),
                    (203, 102, "build", "build", "success"),
                    (204, 102, "test", "test", "failed"),
                    (205, 103, "test", "test", "running"),
                ] {
                    d.jobs.push(json!({"id": id, "pipeline_id": pipeline, "name": name, "stage": stage, "status": status}));
                }
            }
        }
        d
    }

    /// The issues a JQL search finds (`matches`, from [`jql_filter`]), in key order or, with
    /// `ORDER BY key DESC`, reversed.
    fn search_hits<F: Fn(&Issue) -> bool>(&self, jql: &str, matches: &[F]) -> Vec<&Issue> {
        let mut hits: Vec<&Issue> = self
            .issues
            .iter()
            .filter(|i| matches.iter().all(|m| m(i)))
            .collect();
        if jql.to_ascii_lowercase().contains("order by key desc") {
            hits.reverse();
        }
        hits
    }

    /// The index of the Confluence page whose id is `id`.
    fn page_index(&self, id: &str) -> Option<usize> {
        self.pages.iter().position(|p| p.id.to_string() == id)
    }

    /// Confluence's optimistic locking on page updates, the same on Cloud (v2) and Server/Data
    /// Center: the update carries the stored version plus one, or it is refused with the stored
    /// version (`Err`, answered 409 [`version_conflict`] in each deployment's error shape); the
    /// title and storage body replace the page's when given.
    fn update_page(
        &mut self,
        idx: usize,
        version: &Value,
        (title, body): (Option<&str>, Option<&str>),
    ) -> Result<(), u64> {
        let current = self.pages[idx].version;
        let next = version.as_u64().unwrap_or(0);
        if next != current + 1 {
            return Err(current);
        }
        let p = &mut self.pages[idx];
        p.version = next;
        if let Some(t) = title {
            p.title = t.to_owned();
        }
        if let Some(v) = body {
            p.body = v.to_owned();
        }
        Ok(())
    }

    /// Serves one authenticated request.
    #[allow(clippy::too_many_arguments)]
    pub fn route(
        &mut self,
        server: bool,
        service: &str,
        method: &Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        base: &str,
    ) -> Reply {
        let q = &Query(query);
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if service == "confluence" {
            if let Some(reply) = conf_details::route(self, server, method, &segs, q, body, base) {
                return reply;
            }
        }
        if service == "jira" {
            if let Some(reply) = self.jira_depth(server, method, &segs, q, body, base) {
                return reply;
            }
        }
        if let Some(reply) = dc::route(self, server, service, method, &segs, q, body, base) {
            return reply;
        }
        match service {
            "jira" => self.jira(method, &segs, q, body, base),
            "confluence" => self.confluence(method, &segs, q, body, base),
            _ => match path.find("/api/v4/") {
                Some(i) => {
                    let rest: Vec<&str> = path[i + 8..].split('/').collect();
                    self.gitlab(method, &rest, q, body, base)
                }
                None => Reply::json(404, json!({"error": "404 Not Found"})),
            },
        }
    }

    // ---------------------------------------------------------------- Jira

    fn jira_issue_json(&self, i: &Issue, base: &str, fields: Option<&str>) -> Value {
        let (cat, project) = status_and_project(i);
        let mut all = json!({
            "summary": i.summary,
            "status": {"id": cat, "name": i.status, "self": format!("{base}/rest/api/3/status/{cat}")},
            "issuetype": {"id": "10002", "name": "Task", "subtask": false},
            "priority": {"id": "3", "name": "Medium"},
            "assignee": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Ada Lovelace", "active": true},
            "reporter": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Grace Hopper", "active": true},
            "labels": i.labels,
            "created": CREATED,
            "updated": CREATED,
            "project": {"id": project.0, "key": project.1, "name": project.2},
            "customfield_10010": 3,
        });
        if let Some(d) = &i.description {
            all["description"] = d.clone();
        }
        let f = pick_fields(all, fields);
        json!({"id": i.id.to_string(), "key": i.key, "self": format!("{base}/rest/api/3/issue/{}", i.id), "fields": f})
    }

    fn find_issue(&mut self, key: &str) -> Option<&mut Issue> {
        let k = key.to_ascii_uppercase();
        self.issues
            .iter_mut()
            .find(|i| i.key == k || i.id.to_string() == key)
    }

    fn jira(
        &mut self,
        method: &Method,
        segs: &[&str],
        q: &Query,
        body: Option<&Value>,
        base: &str,
    ) -> Reply {
        let not_found = || {
            Reply::json(
                404,
                json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}),
            )
        };
        match (method.as_str(), segs) {
            ("GET", ["rest", "api", "3" | "2", "search"]) => Reply::json(
                410,
                json!({"errorMessages": ["The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."], "errors": {}}),
            ),
            ("GET", ["rest", "api", "3", "search", "jql"]) => {
                let Some(jql) = q.get("jql") else {
                    return Reply::json(
                        400,
                        json!({"errorMessages": ["The 'jql' parameter is required."], "errors": {}}),
                    );
                };
                let matches = match jql_filter(jql) {
                    Ok(f) => f,
                    Err(e) => return Reply::json(400, json!({"errorMessages": [e], "errors": {}})),
                };
                let hits = self.search_hits(jql, &matches);
                let max = q
                    .get("maxResults")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(50usize)
                    .clamp(1, 100);
                let start = q.get("nextPageToken").and_then(decode_token).unwrap_or(0);
                let page: Vec<Value> = hits
                    .iter()
                    .skip(start)
                    .take(max)
                    .map(|i| self.jira_issue_json(i, base, q.get("fields")))
                    .collect();
                let last = start + max >= hits.len();
                let mut out = json!({"issues": page, "isLast": last});
                if !last {
                    out["nextPageToken"] = json!(encode_token(start + max));
                }
                Reply::json(200, out)
            }
            ("GET", ["rest", "api", version @ ("3" | "2"), "issue", key]) => {
                let fields = q.get("fields").map(str::to_owned);
                match self
                    .issues
                    .iter()
                    .find(|i| i.key == key.to_ascii_uppercase() || i.id.to_string() == *key)
                {
                    Some(i) => {
                        let mut v = self.jira_issue_json(i, base, fields.as_deref());
                        // REST v2 (used by a benchmark peer) carries text, not ADF, in `description`.
                        if *version == "2" && v["fields"]["description"].is_object() {
                            v["fields"]["description"] = json!(format!("Details of {}.", i.key));
                        }
                        Reply::json(200, v)
                    }
                    None => not_found(),
                }
            }
            ("POST", ["rest", "api", "3", "issue"]) => {
                let f = &body.cloned().unwrap_or_default()["fields"];
                let mut errors = serde_json::Map::new();
                let summary = f["summary"].as_str().filter(|s| !s.is_empty());
                if summary.is_none() {
                    errors.insert(
                        "summary".into(),
                        json!("You must specify a summary of the issue."),
                    );
                }
                let project = f["project"]["key"]
                    .as_str()
                    .and_then(|k| PROJECTS.iter().find(|p| p.1 == k));
                if project.is_none() {
                    errors.insert("project".into(), json!("valid project is required"));
                }
                if !errors.is_empty() {
                    return Reply::json(400, json!({"errorMessages": [], "errors": errors}));
                }
                let project = project.unwrap();
                let n = self
                    .issues
                    .iter()
                    .filter(|i| i.project == project.1)
                    .count()
                    + 1;
                self.next_issue_id += 1;
                let id = self.next_issue_id;
                let key = format!("{}-{n}", project.1);
                self.issues.push(Issue {
                    id,
                    key: key.clone(),
                    project: project.1,
                    summary: summary.unwrap_or_default().to_owned(),
                    description: f.get("description").filter(|d| d.is_object()).cloned(),
                    labels: f["labels"]
                        .as_array()
                        .map(|l| {
                            l.iter()
                                .filter_map(|x| x.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    status: "To Do",
                    comments: Vec::new(),
                });
                Reply::json(
                    201,
                    json!({"id": id.to_string(), "key": key, "self": format!("{base}/rest/api/3/issue/{id}")}),
                )
            }
            ("PUT", ["rest", "api", "3", "issue", key]) => {
                let f = body.cloned().unwrap_or_default()["fields"].clone();
                let Some(i) = self.find_issue(key) else {
                    return not_found();
                };
                if let Some(s) = f["summary"].as_str() {
                    i.summary = s.to_owned();
                }
                if f["description"].is_object() {
                    i.description = Some(f["description"].clone());
                }
                if let Some(l) = f["labels"].as_array() {
                    i.labels = l
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect();
                }
                Reply::empty(204)
            }
            // "Get comments" (PageOfComments): startAt/maxResults paging, orderBy created or -created.
            ("GET", ["rest", "api", "3", "issue", key, "comment"]) => {
                let start: usize = q.get("startAt").and_then(|v| v.parse().ok()).unwrap_or(0);
                let max: usize = q
                    .get("maxResults")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(100)
                    .min(100);
                let newest_first = q.get("orderBy") == Some("-created");
                let Some(i) = self.find_issue(key) else {
                    return not_found();
                };
                let mut all = i.comments.clone();
                if newest_first {
                    all.reverse();
                }
                let total = all.len();
                let page: Vec<Value> = all.into_iter().skip(start).take(max).collect();
                Reply::json(
                    200,
                    json!({"startAt": start, "maxResults": max, "total": total, "comments": page}),
                )
            }
            ("POST", ["rest", "api", "3", "issue", key, "comment"]) => {
                let b = body.cloned().unwrap_or_default();
                if !b["body"].is_object() || b["body"]["type"] != "doc" {
                    return Reply::json(
                        400,
                        json!({"errorMessages": ["Comment body is not valid! The body must be an Atlassian Document Format document."], "errors": {}}),
                    );
                }
                self.next_comment_id += 1;
                let id = self.next_comment_id;
                let Some(i) = self.find_issue(key) else {
                    return not_found();
                };
                let issue_id = i.id;
                let c = json!({
                    "id": id.to_string(),
                    "self": format!("{base}/rest/api/3/issue/{issue_id}/comment/{id}"),
                    "author": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Ada Lovelace", "active": true},
                    "body": b["body"],
                    "created": CREATED,
                    "updated": CREATED,
                });
                i.comments.push(c.clone());
                Reply::json(201, c)
            }
            ("GET", ["rest", "api", "3", "issue", key, "transitions"]) => {
                if self.find_issue(key).is_none() {
                    return not_found();
                }
                let list: Vec<Value> = STATUSES
                    .iter()
                    .map(|(id, name, cat)| json!({
                        "id": id, "name": name, "hasScreen": false, "isGlobal": true, "isInitial": false, "isConditional": false, "isAvailable": true,
                        "to": {"id": cat, "name": name, "self": format!("{base}/rest/api/3/status/{cat}")},
                    }))
                    .collect();
                Reply::json(200, json!({"transitions": list}))
            }
            ("POST", ["rest", "api", "3", "issue", key, "transitions"]) => {
                let id = body
                    .and_then(|b| b["transition"]["id"].as_str())
                    .unwrap_or("")
                    .to_owned();
                let Some(status) = STATUSES.iter().find(|s| s.0 == id) else {
                    return Reply::json(
                        400,
                        json!({"errorMessages": [format!("Transition id '{id}' is not valid for this issue.")], "errors": {}}),
                    );
                };
                let Some(i) = self.find_issue(key) else {
                    return not_found();
                };
                i.status = status.1;
                Reply::empty(204)
            }
            ("GET", ["rest", "api", "3", "project", "search"]) => {
                let query = q.get("query").unwrap_or("").to_ascii_lowercase();
                let all: Vec<Value> = PROJECTS
                    .iter()
                    .filter(|p| query.is_empty() || p.1.to_ascii_lowercase().contains(&query) || p.2.to_ascii_lowercase().contains(&query))
                    .map(|(id, key, name)| json!({"id": id, "key": key, "name": name, "projectTypeKey": "software", "self": format!("{base}/rest/api/3/project/{id}"), "simplified": false, "style": "classic", "isPrivate": false}))
                    .collect();
                let start = q
                    .get("startAt")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0usize);
                let max = q
                    .get("maxResults")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(50usize);
                let values: Vec<Value> = all.iter().skip(start).take(max).cloned().collect();
                Reply::json(
                    200,
                    json!({
                        "self": format!("{base}/rest/api/3/project/search"),
                        "maxResults": max, "startAt": start, "total": all.len(),
                        "isLast": start + max >= all.len(), "values": values,
                    }),
                )
            }
            _ => Reply::json(404, json!({"errorMessages": ["Not found"], "errors": {}})),
        }
    }

    // ---------------------------------------------------------- Confluence

    fn page_json(&self, p: &Page, base: &str, with_body: bool) -> Value {
        let space_key = SPACES
            .iter()
            .find(|s| s.0 == p.space_id)
            .map(|s| s.1)
            .unwrap_or("ENG");
        let mut v = json!({
            "id": p.id.to_string(),
            "status": "current",
            "title": p.title,
            "spaceId": p.space_id,
            "authorId": "557058:f4e5",
            "ownerId": "557058:f4e5",
            "createdAt": ISO,
            "version": {"number": p.version, "message": "", "minorEdit": false, "authorId": "557058:f4e5", "createdAt": ISO},
            "_links": {
                "webui": format!("/spaces/{space_key}/pages/{}/{}", p.id, p.title.replace(' ', "+")),
                "editui": format!("/pages/resumedraft.action?draftId={}", p.id),
                "tinyui": format!("/x/{}", p.id),
                "base": format!("{base}/wiki"),
            },
        });
        if let Some(parent) = p.parent_id {
            v["parentId"] = json!(parent.to_string());
            v["parentType"] = json!("page");
        }
        if with_body {
            v["body"] = json!({"storage": {"representation": "storage", "value": p.body}});
        }
        v
    }

    fn confluence(
        &mut self,
        method: &Method,
        segs: &[&str],
        q: &Query,
        body: Option<&Value>,
        base: &str,
    ) -> Reply {
        let err = |status: u16, code: &str, title: String| {
            Reply::json(
                status,
                json!({"errors": [{"status": status, "code": code, "title": title}]}),
            )
        };
        let limit = q
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(25usize)
            .clamp(1, 250);
        let start = q.get("cursor").and_then(decode_token).unwrap_or(0);
        match (method.as_str(), segs) {
            ("GET", ["wiki", "rest", "api", "search"]) => {
                let Some(cql) = q.get("cql") else {
                    return Reply::json(
                        400,
                        json!({"statusCode": 400, "message": "CQL query parameter is required"}),
                    );
                };
                let filter = match cql_filter(cql) {
                    Ok(f) => f,
                    Err(e) => return Reply::json(400, json!({"statusCode": 400, "message": e})),
                };
                let hits: Vec<&Page> = self
                    .pages
                    .iter()
                    .filter(|p| filter.iter().all(|f| f(p)))
                    .collect();
                let results: Vec<Value> = hits.iter().skip(start).take(limit).map(|p| {
                    let url = format!("/spaces/{}/pages/{}", SPACES.iter().find(|s| s.0 == p.space_id).map(|s| s.1).unwrap_or("ENG"), p.id);
                    json!({
                        "content": {"id": p.id.to_string(), "type": "page", "status": "current", "title": p.title, "_links": {"webui": url, "self": format!("{base}/wiki/rest/api/content/{}", p.id)}},
                        "title": p.title,
                        "excerpt": strip_tags(&p.body).chars().take(80).collect::<String>(),
                        "url": url,
                        "breadcrumbs": [],
                        "entityType": "content",
                        "iconCssClass": "aui-icon content-type-page",
                        "lastModified": ISO,
                        "friendlyLastModified": "Jan 05, 2026",
                        "score": 1.0,
                    })
                }).collect();
                let mut links = json!({"base": format!("{base}/wiki"), "context": "/wiki"});
                if start + limit < hits.len() {
                    links["next"] = json!(format!(
                        "/rest/api/search?next=true&cursor={}&limit={limit}&cql={}",
                        encode_token(start + limit),
                        encode(cql)
                    ));
                }
                Reply::json(
                    200,
                    json!({
                        "results": results, "start": start, "limit": limit, "size": results.len(),
                        "totalSize": hits.len(), "cqlQuery": cql, "searchDuration": 3, "_links": links,
                    }),
                )
            }
            ("GET", ["wiki", "api", "v2", "pages", id]) => {
                match self.pages.iter().find(|p| p.id.to_string() == *id) {
                    Some(p) => Reply::json(
                        200,
                        self.page_json(p, base, q.get("body-format") == Some("storage")),
                    ),
                    // Declared without content (`content: {}`) by confluence-v2.json.
                    None => Reply::empty(404),
                }
            }
            ("POST", ["wiki", "api", "v2", "pages"]) => {
                let b = body.cloned().unwrap_or_default();
                let Some(space) = b["spaceId"]
                    .as_str()
                    .and_then(|s| SPACES.iter().find(|x| x.0 == s))
                else {
                    return err(
                        400,
                        "INVALID_REQUEST_PARAMETER",
                        "A valid spaceId is required".into(),
                    );
                };
                let title = b["title"].as_str().unwrap_or("").to_owned();
                if title.is_empty()
                    || self
                        .pages
                        .iter()
                        .any(|p| p.space_id == space.0 && p.title == title)
                {
                    return err(400, "INVALID_REQUEST_PARAMETER", format!("A page with this title already exists: A page already exists with the same TITLE in this space: {title}"));
                }
                self.next_page_id += 1;
                let page = Page {
                    id: self.next_page_id,
                    title,
                    space_id: space.0,
                    parent_id: b["parentId"].as_str().and_then(|p| p.parse().ok()),
                    version: 1,
                    body: b["body"]["value"].as_str().unwrap_or("").to_owned(),
                };
                let v = self.page_json(&page, base, true);
                self.pages.push(page);
                Reply::json(200, v)
            }
            ("PUT", ["wiki", "api", "v2", "pages", id]) => {
                let b = body.cloned().unwrap_or_default();
                let Some(idx) = self.page_index(id) else {
                    return err(404, "NOT_FOUND", "Page not found".into());
                };
                let update = (b["title"].as_str(), b["body"]["value"].as_str());
                match self.update_page(idx, &b["version"]["number"], update) {
                    Ok(()) => Reply::json(200, self.page_json(&self.pages[idx], base, true)),
                    Err(current) => err(409, "CONFLICT", version_conflict(current)),
                }
            }
            ("GET", ["wiki", "api", "v2", "spaces"]) => {
                let all: Vec<Value> = SPACES.iter().map(|(id, key, name)| json!({
                    "id": id, "key": key, "name": name, "type": "global", "status": "current",
                    "authorId": "557058:f4e5", "createdAt": ISO,
                    "homepageId": if *key == "ENG" { "98305" } else { "131073" },
                    "_links": {"webui": format!("/spaces/{key}")},
                })).collect();
                paged_v2(
                    all,
                    start,
                    limit,
                    &format!("/wiki/api/v2/spaces?limit={limit}"),
                )
            }
            ("GET", ["wiki", "api", "v2", "pages", id, "children"]) => {
                let Ok(parent) = id.parse::<u64>() else {
                    return err(
                        400,
                        "INVALID_REQUEST_PARAMETER",
                        "id must be a number".into(),
                    );
                };
                if !self.pages.iter().any(|p| p.id == parent) {
                    return err(404, "NOT_FOUND", "Page not found".into());
                }
                let all: Vec<Value> = self.pages.iter().filter(|p| p.parent_id == Some(parent)).enumerate().map(|(i, p)| json!({
                    "id": p.id.to_string(), "status": "current", "title": p.title, "spaceId": p.space_id, "childPosition": i,
                })).collect();
                paged_v2(
                    all,
                    start,
                    limit,
                    &format!("/wiki/api/v2/pages/{parent}/children?limit={limit}"),
                )
            }
            _ => err(404, "NOT_FOUND", "No such endpoint".into()),
        }
    }

    // -------------------------------------------------------------- GitLab

    fn project(&self, id: &str) -> Option<Value> {
        let id = decode(id);
        self.projects
            .iter()
            .find(|p| num_is(&p["id"], &id) || p["path_with_namespace"] == id.as_str())
            .cloned()
    }

    /// The files of a branch: its own tree once it diverged, else the seed files.
    fn files_of(&self, pid: u64, branch: &str) -> Vec<(String, String)> {
        match self.trees.iter().find(|(p, b, _)| *p == pid && b == branch) {
            Some((_, _, files)) => files.clone(),
            None => FILES
                .iter()
                .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
                .collect(),
        }
    }

    fn mr_id(&self, pid: u64, iid: &str) -> Option<u64> {
        self.mrs
            .iter()
            .find(|m| m["project_id"] == pid && num_is(&m["iid"], iid))
            .and_then(|m| m["id"].as_u64())
    }

    /// A commit by id (or short id) or by branch name (its head).
    fn find_commit(&self, pid: u64, r: &str) -> Option<(&Value, &Vec<Value>)> {
        if pid != 1 {
            return None;
        }
        self.commits
            .iter()
            .rev()
            .find(|(b, c, _)| c["id"] == r || c["short_id"] == r || b.iter().any(|x| x == r))
            .map(|(_, c, d)| (c, d))
    }

    /// A pipeline as `GET /projects/:id/pipelines/:pipeline_id` reads it. One started through the
    /// API (`source: api`) moves on one state per read, created → pending → running → success
    /// (statuses of doc/api/pipelines.md), so a test can watch one finish by request count, with no
    /// clock; the seeded pipelines keep their states.
    fn pipeline_read(&mut self, pid: u64, id: &str) -> Option<&Value> {
        let p = self
            .pipelines
            .iter_mut()
            .find(|p| p["project_id"] == pid && num_is(&p["id"], id))?;
        if p["source"] == "api" {
            let next = match p["status"].as_str() {
                Some("created") => "pending",
                Some("pending") => "running",
                Some("running") => "success",
                _ => "",
            };
            if !next.is_empty() {
                p["status"] = json!(next);
                p["updated_at"] = json!(ISO);
            }
        }
        Some(&*p)
    }

    fn pipeline(&self, pid: u64, id: &str) -> Option<&Value> {
        self.pipelines
            .iter()
            .find(|p| p["project_id"] == pid && num_is(&p["id"], id))
    }

    fn gitlab(
        &mut self,
        method: &Method,
        segs: &[&str],
        q: &Query,
        body: Option<&Value>,
        base: &str,
    ) -> Reply {
        let page = q
            .get("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1usize)
            .max(1);
        let per_page = q
            .get("per_page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(20usize)
            .clamp(1, 100);
        let paged = |items: Vec<Value>, path: &str| {
            gitlab_page(items.into_iter(), page, per_page, base, path)
        };
        let not_found =
            |what: &str| Reply::json(404, json!({"message": format!("404 {what} Not Found")}));
        let web = |p: &Value| format!("{base}/{}", p["path_with_namespace"].as_str().unwrap_or(""));
        let with_web = |mut p: Value| {
            p["web_url"] = json!(web(&p));
            p
        };
        match (method.as_str(), segs) {
            ("GET", ["projects"]) => {
                // Only the requested page is copied out of the store.
                gitlab_page(
                    self.projects_matching(q.get("search"))
                        .into_iter()
                        .cloned()
                        .map(with_web),
                    page,
                    per_page,
                    base,
                    "/api/v4/projects",
                )
            }
            ("GET", ["projects", id]) => match self.project(id) {
                Some(p) => Reply::json(200, with_web(p)),
                None => not_found("Project"),
            },
            (_, ["projects", id, rest @ ..]) => {
                let Some(project) = self.project(id) else {
                    return not_found("Project");
                };
                let pid = project["id"].as_u64().unwrap_or(0);
                let pweb = web(&project);
                let branch_json = |name: &str| {
                    json!({
                        "name": name, "merged": false, "protected": name == "main", "default": name == "main",
                        "developers_can_push": false, "developers_can_merge": false, "can_push": true,
                        "web_url": format!("{pweb}/-/tree/{name}"),
                        "commit": {"id": "7b5c3cc8be40ee161ae89a06bba6229da1032a0c", "short_id": "7b5c3cc", "title": "Initial commit", "message": "Initial commit", "author_name": "Dev One", "created_at": ISO, "web_url": format!("{pweb}/-/commit/7b5c3cc8")},
                    })
                };
                match (method.as_str(), rest) {
                    ("GET", ["repository", "branches"]) => {
                        let search = q.get("search").unwrap_or("");
                        let items: Vec<Value> = self
                            .branches
                            .iter()
                            .filter(|(p, n)| *p == pid && n.contains(search))
                            .map(|(_, n)| branch_json(n))
                            .collect();
                        paged(
                            items,
                            &format!("/api/v4/projects/{pid}/repository/branches"),
                        )
                    }
                    ("POST", ["repository", "branches"]) => {
                        // Grape reads `branch` and `ref` from the JSON body or the query string.
                        let b = body.cloned().unwrap_or_default();
                        let name = b["branch"].as_str().or_else(|| q.get("branch"));
                        let from = b["ref"].as_str().or_else(|| q.get("ref"));
                        let (Some(name), Some(from)) = (name, from) else {
                            return Reply::json(
                                400,
                                json!({"error": "branch is missing, ref is missing"}),
                            );
                        };
                        if self.branches.iter().any(|(p, n)| *p == pid && n == name) {
                            return Reply::json(400, json!({"message": "Branch already exists"}));
                        }
                        if !self.branches.iter().any(|(p, n)| *p == pid && n == from) {
                            return Reply::json(
                                400,
                                json!({"message": format!("Invalid reference name: {from}")}),
                            );
                        }
                        self.branches.push((pid, name.to_owned()));
                        Reply::json(201, branch_json(name))
                    }
                    ("GET", ["merge_requests"]) => {
                        let state = q.get("state").unwrap_or("all");
                        // `search`: "Search merge requests against their title and description".
                        let search = q.get("search").map(str::to_ascii_lowercase);
                        let mentions = |m: &Value| {
                            search.as_deref().is_none_or(|t| {
                                ["title", "description"].iter().any(|f| {
                                    m[*f]
                                        .as_str()
                                        .unwrap_or("")
                                        .to_ascii_lowercase()
                                        .contains(t)
                                })
                            })
                        };
                        let items: Vec<Value> = self
                            .mrs
                            .iter()
                            .filter(|m| {
                                m["project_id"] == pid
                                    && (state == "all" || m["state"] == state)
                                    && mentions(m)
                            })
                            .cloned()
                            .map(|mut m| {
                                m["web_url"] =
                                    json!(format!("{pweb}/-/merge_requests/{}", m["iid"]));
                                m
                            })
                            .collect();
                        paged(items, &format!("/api/v4/projects/{pid}/merge_requests"))
                    }
                    ("POST", ["merge_requests"]) => {
                        let b = body.cloned().unwrap_or_default();
                        for field in ["source_branch", "target_branch", "title"] {
                            if b[field].as_str().is_none_or(str::is_empty) {
                                return Reply::json(
                                    400,
                                    json!({"error": format!("{field} is missing")}),
                                );
                            }
                        }
                        let iid =
                            self.mrs.iter().filter(|m| m["project_id"] == pid).count() as u64 + 1;
                        let mr = json!({
                            "id": 600 + iid, "iid": iid, "project_id": pid, "title": b["title"], "description": b["description"].as_str().unwrap_or(""),
                            "state": "opened", "source_branch": b["source_branch"], "target_branch": b["target_branch"],
                            "author": {"id": 3, "username": "dev", "name": "Dev One"}, "created_at": ISO, "updated_at": ISO,
                            "merge_status": "checking", "detailed_merge_status": "checking",
                            "web_url": format!("{pweb}/-/merge_requests/{iid}"),
                        });
                        self.mrs.push(mr.clone());
                        Reply::json(201, mr)
                    }
                    ("GET", ["merge_requests", iid]) => match self
                        .mrs
                        .iter()
                        .find(|m| m["project_id"] == pid && num_is(&m["iid"], iid))
                    {
                        Some(m) => {
                            let mut m = m.clone();
                            m["web_url"] = json!(format!("{pweb}/-/merge_requests/{iid}"));
                            // "Get single MR" (doc/api/merge_requests.md) adds the diff's commits.
                            m["diff_refs"] =
                                json!({"base_sha": SHA, "head_sha": m["sha"], "start_sha": SHA});
                            Reply::json(200, m)
                        }
                        None => not_found(""),
                    },
                    ("GET", ["merge_requests", iid, "diffs"]) => {
                        if !self
                            .mrs
                            .iter()
                            .any(|m| m["project_id"] == pid && num_is(&m["iid"], iid))
                        {
                            return not_found("");
                        }
                        let items = if *iid == "3" {
                            big_mr_diffs()
                        } else {
                            mr_diffs()
                        };
                        paged(
                            items,
                            &format!("/api/v4/projects/{pid}/merge_requests/{iid}/diffs"),
                        )
                    }
                    ("GET", ["merge_requests", iid, "discussions"]) => {
                        let Some(mr_id) = self.mr_id(pid, iid) else {
                            return not_found("");
                        };
                        let items: Vec<Value> = self
                            .discussions
                            .iter()
                            .filter(|(m, _)| *m == mr_id)
                            .map(|(_, d)| d.clone())
                            .collect();
                        paged(
                            items,
                            &format!("/api/v4/projects/{pid}/merge_requests/{iid}/discussions"),
                        )
                    }
                    ("POST", ["merge_requests", iid, "discussions"]) => {
                        let Some(mr_id) = self.mr_id(pid, iid) else {
                            return not_found("");
                        };
                        let Some(text) = body
                            .and_then(|b| b["body"].as_str())
                            .filter(|t| !t.is_empty())
                        else {
                            return Reply::json(400, json!({"error": "body is missing"}));
                        };
                        let position = body.map_or(&Value::Null, |b| &b["position"]);
                        let mut note = mr_note(
                            self.next_note_id + 1,
                            text,
                            mr_id,
                            pid,
                            iid,
                            "DiscussionNote",
                        );
                        if !position.is_null() {
                            // A diff note must name a file of the merge request's diff, a line, and
                            // its head commit (GitLab answers 400 with the note's validation errors).
                            let files = if *iid == "3" {
                                big_mr_diffs()
                            } else {
                                mr_diffs()
                            };
                            let head = self
                                .mrs
                                .iter()
                                .find(|m| m["id"] == mr_id)
                                .map(|m| m["sha"].clone());
                            let known = files.iter().any(|f| {
                                f["new_path"] == position["new_path"]
                                    && f["old_path"] == position["old_path"]
                            });
                            let has_line =
                                position["new_line"].is_u64() || position["old_line"].is_u64();
                            if !known || !has_line || head.as_ref() != Some(&position["head_sha"]) {
                                return Reply::json(
                                    400,
                                    json!({"message": "400 Bad request - Note {:line_code=>[\"can't be blank\", \"must be a valid line code\"], :position=>[\"is incomplete\"]}"}),
                                );
                            }
                            note["type"] = json!("DiffNote");
                            let mut kept = position.clone();
                            for line in ["new_line", "old_line"] {
                                if kept[line].is_null() {
                                    kept[line] = Value::Null;
                                }
                            }
                            note["position"] = kept;
                        }
                        self.next_note_id += 1;
                        let d = json!({
                            "id": format!("{:040x}", self.next_note_id), "individual_note": false,
                            "notes": [note],
                        });
                        self.discussions.push((mr_id, d.clone()));
                        Reply::json(201, d)
                    }
                    ("POST", ["merge_requests", iid, "discussions", did, "notes"]) => {
                        let Some(mr_id) = self.mr_id(pid, iid) else {
                            return not_found("");
                        };
                        let Some(text) = body
                            .and_then(|b| b["body"].as_str())
                            .filter(|t| !t.is_empty())
                            .map(str::to_owned)
                        else {
                            return Reply::json(400, json!({"error": "body is missing"}));
                        };
                        self.next_note_id += 1;
                        let note =
                            mr_note(self.next_note_id, &text, mr_id, pid, iid, "DiscussionNote");
                        match self
                            .discussions
                            .iter_mut()
                            .find(|(m, d)| *m == mr_id && d["id"] == *did)
                        {
                            Some((_, d)) => {
                                if let Some(notes) = d["notes"].as_array_mut() {
                                    notes.push(note.clone());
                                }
                                Reply::json(201, note)
                            }
                            None => not_found("Discussion"),
                        }
                    }
                    ("PUT", ["merge_requests", iid, "discussions", did]) => {
                        let Some(mr_id) = self.mr_id(pid, iid) else {
                            return not_found("");
                        };
                        let Some(resolved) = body.and_then(|b| b["resolved"].as_bool()) else {
                            return Reply::json(400, json!({"error": "resolved is missing"}));
                        };
                        match self
                            .discussions
                            .iter_mut()
                            .find(|(m, d)| *m == mr_id && d["id"] == *did)
                        {
                            Some((_, d)) => {
                                for n in d["notes"].as_array_mut().into_iter().flatten() {
                                    if n["resolvable"] == true {
                                        n["resolved"] = json!(resolved);
                                        n["resolved_by"] =
                                            if resolved { DEV() } else { Value::Null };
                                        n["resolved_at"] =
                                            if resolved { json!(ISO) } else { Value::Null };
                                    }
                                }
                                Reply::json(200, d.clone())
                            }
                            None => not_found("Discussion"),
                        }
                    }
                    ("POST", ["merge_requests", iid, action @ ("approve" | "unapprove")]) => {
                        let Some(mr) = self
                            .mrs
                            .iter()
                            .find(|m| m["project_id"] == pid && num_is(&m["iid"], iid))
                            .cloned()
                        else {
                            return not_found("");
                        };
                        let mr_id = mr["id"].as_u64().unwrap_or(0);
                        let has = self.approved.contains(&mr_id);
                        if *action == "approve" {
                            if let Some(sha) = body.and_then(|b| b["sha"].as_str()) {
                                if mr["sha"] != sha {
                                    return Reply::json(
                                        409,
                                        json!({"message": format!("SHA does not match HEAD of source branch: {}", mr["sha"].as_str().unwrap_or(""))}),
                                    );
                                }
                            }
                            // Approving twice: the user can no longer approve, answered 401.
                            if has {
                                return Reply::json(401, json!({"message": "401 Unauthorized"}));
                            }
                            self.approved.push(mr_id);
                        } else {
                            if !has {
                                return Reply::empty(304);
                            }
                            self.approved.retain(|m| *m != mr_id);
                        }
                        let approved = self.approved.contains(&mr_id);
                        Reply::json(
                            201,
                            json!({
                                "id": mr_id, "iid": mr["iid"], "project_id": pid, "title": mr["title"], "description": mr["description"],
                                "state": mr["state"], "created_at": ISO, "updated_at": ISO, "merge_status": mr["merge_status"],
                                "approved": approved, "approvals_required": 1, "approvals_left": if approved { 0 } else { 1 },
                                "require_password_to_approve": false,
                                "approved_by": if approved { json!([{"user": DEV()}]) } else { json!([]) },
                                "suggested_approvers": [], "approvers": [], "approver_groups": [],
                                "user_has_approved": approved, "user_can_approve": !approved,
                                "approval_rules_left": [], "has_approval_rules": false,
                                "merge_request_approvers_available": false, "multiple_approval_rules_available": false, "invalid_approvers_rules": [],
                            }),
                        )
                    }
                    ("PUT", ["merge_requests", iid, "merge"]) => {
                        let Some(mr) = self
                            .mrs
                            .iter_mut()
                            .find(|m| m["project_id"] == pid && num_is(&m["iid"], iid))
                        else {
                            return not_found("");
                        };
                        if mr["state"] != "opened" {
                            return Reply::json(405, json!({"message": "405 Method Not Allowed"}));
                        }
                        if let Some(sha) = body.and_then(|b| b["sha"].as_str()) {
                            if mr["sha"] != sha {
                                return Reply::json(
                                    409,
                                    json!({"message": format!("SHA does not match HEAD of source branch: {}", mr["sha"].as_str().unwrap_or(""))}),
                                );
                            }
                        }
                        mr["state"] = json!("merged");
                        mr["merge_commit_sha"] = json!("f0e1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d");
                        mr["merged_at"] = json!(ISO);
                        mr["merge_user"] = DEV();
                        mr["merged_by"] = DEV();
                        let mut m = mr.clone();
                        m["web_url"] = json!(format!("{pweb}/-/merge_requests/{iid}"));
                        Reply::json(200, m)
                    }
                    ("GET", ["issues"]) => {
                        let state = q.get("state").unwrap_or("all");
                        let labels: Vec<&str> = q
                            .get("labels")
                            .map(|l| l.split(',').collect())
                            .unwrap_or_default();
                        let items: Vec<Value> = self
                            .gl_issues
                            .iter()
                            .filter(|i| {
                                i["project_id"] == pid
                                    && (state == "all" || i["state"] == state)
                                    && labels.iter().all(|l| {
                                        i["labels"]
                                            .as_array()
                                            .is_some_and(|a| a.iter().any(|x| x == l))
                                    })
                            })
                            .cloned()
                            .map(|mut i| {
                                i["web_url"] = json!(format!("{pweb}/-/issues/{}", i["iid"]));
                                i
                            })
                            .collect();
                        paged(items, &format!("/api/v4/projects/{pid}/issues"))
                    }
                    ("POST", ["issues", iid, "notes"]) => {
                        let Some(issue) = self
                            .gl_issues
                            .iter()
                            .find(|i| i["project_id"] == pid && num_is(&i["iid"], iid))
                        else {
                            return not_found("Issue");
                        };
                        let Some(text) = body
                            .and_then(|b| b["body"].as_str())
                            .filter(|s| !s.is_empty())
                        else {
                            return Reply::json(400, json!({"error": "body is missing"}));
                        };
                        self.next_note_id += 1;
                        Reply::json(
                            201,
                            json!({
                                "id": self.next_note_id, "body": text, "author": {"id": 3, "username": "dev", "name": "Dev One"},
                                "created_at": ISO, "updated_at": ISO, "system": false, "noteable_id": issue["id"], "noteable_type": "Issue", "noteable_iid": issue["iid"],
                            }),
                        )
                    }
                    ("GET", ["repository", "files", file]) => {
                        let path = decode(file);
                        let Some(git_ref) = q.get("ref") else {
                            return Reply::json(400, json!({"error": "ref is missing"}));
                        };
                        if !self.branches.iter().any(|(p, n)| *p == pid && n == git_ref) {
                            return not_found("Commit");
                        }
                        match self
                            .files_of(pid, git_ref)
                            .into_iter()
                            .find(|(p, _)| *p == path)
                        {
                            Some((p, content)) => Reply::json(
                                200,
                                json!({
                                    "file_name": p.rsplit('/').next().unwrap_or(&p), "file_path": p, "size": content.len(),
                                    "encoding": "base64", "content": base64::engine::general_purpose::STANDARD.encode(content),
                                    "content_sha256": "4c294617b60715c1d218e61164a3abd4808a4284cbc30e6728a01ad9aada4481",
                                    "ref": git_ref, "blob_id": "79f7bbd25901e8334750839545a9bd021f0e4c83",
                                    "commit_id": "d5a3ff139356ce33e37e73add446f16869741b50", "last_commit_id": "570e7b2abdd848b95f2f578043fc23bd6f6fd24d",
                                }),
                            ),
                            None => not_found("File"),
                        }
                    }
                    ("GET", ["repository", "commits"]) => {
                        let r = q.get("ref_name").unwrap_or("main");
                        if !self.branches.iter().any(|(p, n)| *p == pid && n == r) {
                            return not_found("Commit");
                        }
                        let path = q.get("path");
                        let items: Vec<Value> = self
                            .commits
                            .iter()
                            .rev()
                            .filter(|(b, _, diffs)| {
                                pid == 1
                                    && b.iter().any(|x| x == r)
                                    && path.is_none_or(|p| {
                                        diffs.iter().any(|d| {
                                            d["new_path"].as_str().is_some_and(|n| n.starts_with(p))
                                        })
                                    })
                            })
                            .map(|(_, c, _)| {
                                let mut c = c.clone();
                                c["web_url"] = json!(format!(
                                    "{pweb}/-/commit/{}",
                                    c["id"].as_str().unwrap_or("")
                                ));
                                c.as_object_mut().map(|m| m.remove("stats"));
                                c
                            })
                            .collect();
                        paged(items, &format!("/api/v4/projects/{pid}/repository/commits"))
                    }
                    ("GET", ["repository", "commits", sha]) => {
                        let sha = decode(sha);
                        match self.find_commit(pid, &sha) {
                            Some((c, _)) => {
                                let mut c = c.clone();
                                c["web_url"] = json!(format!(
                                    "{pweb}/-/commit/{}",
                                    c["id"].as_str().unwrap_or("")
                                ));
                                Reply::json(200, c)
                            }
                            None => not_found("Commit"),
                        }
                    }
                    ("GET", ["repository", "commits", sha, "diff"]) => {
                        let sha = decode(sha);
                        match self.find_commit(pid, &sha) {
                            Some((_, diffs)) => paged(
                                diffs.clone(),
                                &format!("/api/v4/projects/{pid}/repository/commits/{sha}/diff"),
                            ),
                            None => not_found("Commit"),
                        }
                    }
                    ("GET", ["repository", "compare"]) => {
                        let (Some(from), Some(to)) = (q.get("from"), q.get("to")) else {
                            return Reply::json(
                                400,
                                json!({"error": "from is missing, to is missing"}),
                            );
                        };
                        let (Some((fc, _)), Some(_)) =
                            (self.find_commit(pid, from), self.find_commit(pid, to))
                        else {
                            return not_found("Ref");
                        };
                        let from_id = fc["id"].clone();
                        // Commits reachable from `to` but not from `from` (the fake's history is linear per branch).
                        let reach = |r: &str| -> Vec<usize> {
                            self.commits
                                .iter()
                                .enumerate()
                                .filter(|(_, (b, c, _))| b.iter().any(|x| x == r) || c["id"] == r)
                                .map(|(i, _)| i)
                                .collect()
                        };
                        let (rf, rt) = (reach(from), reach(to));
                        let between: Vec<usize> = rt
                            .into_iter()
                            .filter(|i| !rf.contains(i) && self.commits[*i].1["id"] != from_id)
                            .collect();
                        let commits: Vec<Value> = between
                            .iter()
                            .map(|i| {
                                let mut c = self.commits[*i].1.clone();
                                c.as_object_mut().map(|m| m.remove("stats"));
                                c
                            })
                            .collect();
                        let diffs: Vec<Value> = between
                            .iter()
                            .flat_map(|i| self.commits[*i].2.clone())
                            .collect();
                        Reply::json(
                            200,
                            json!({
                                "commit": commits.last().cloned().unwrap_or(Value::Null),
                                "commits": commits, "diffs": diffs,
                                "compare_timeout": false, "compare_same_ref": from == to,
                                "web_url": format!("{pweb}/-/compare/{from}...{to}"),
                            }),
                        )
                    }
                    ("GET", ["repository", "tree"]) => {
                        let r = q.get("ref").unwrap_or("main");
                        if !self.branches.iter().any(|(p, n)| *p == pid && n == r) {
                            return not_found("Tree");
                        }
                        let dir = q.get("path").unwrap_or("").trim_matches('/').to_owned();
                        let recursive = q.get("recursive") == Some("true");
                        let mut items: Vec<Value> = Vec::new();
                        let mut seen: Vec<String> = Vec::new();
                        for (path, _) in self.files_of(pid, r) {
                            let rest = if dir.is_empty() {
                                Some(path.as_str())
                            } else {
                                path.strip_prefix(&format!("{dir}/"))
                            };
                            let Some(rest) = rest else { continue };
                            let prefix = if dir.is_empty() {
                                String::new()
                            } else {
                                format!("{dir}/")
                            };
                            let parts: Vec<&str> = rest.split('/').collect();
                            for depth in 0..parts.len() {
                                if depth > 0 && !recursive {
                                    break;
                                }
                                let sub = format!("{prefix}{}", parts[..=depth].join("/"));
                                if seen.contains(&sub) {
                                    continue;
                                }
                                seen.push(sub.clone());
                                let blob = depth == parts.len() - 1;
                                items.push(json!({
                                    "id": if blob { "79f7bbd25901e8334750839545a9bd021f0e4c83" } else { "a1e8f8d745cc87e3a9248358d9352bb7f9a0aeba" },
                                    "name": parts[depth], "type": if blob { "blob" } else { "tree" }, "path": sub,
                                    "mode": if blob { "100644" } else { "040000" },
                                }));
                            }
                        }
                        items.sort_by(|a, b| {
                            (a["type"] == "blob", a["path"].as_str())
                                .cmp(&(b["type"] == "blob", b["path"].as_str()))
                        });
                        paged(items, &format!("/api/v4/projects/{pid}/repository/tree"))
                    }
                    ("POST", ["repository", "commits"]) => {
                        let b = body.cloned().unwrap_or_default();
                        let (Some(branch), Some(message)) =
                            (b["branch"].as_str(), b["commit_message"].as_str())
                        else {
                            return Reply::json(
                                400,
                                json!({"error": "branch is missing, commit_message is missing"}),
                            );
                        };
                        let exists =
                            |n: &str| self.branches.iter().any(|(p, x)| *p == pid && x == n);
                        let base = match b["start_branch"].as_str() {
                            Some(start) if !exists(branch) => {
                                if !exists(start) {
                                    return Reply::json(
                                        400,
                                        json!({"message": format!("You can only create or edit files when you are on a branch")}),
                                    );
                                }
                                start.to_owned()
                            }
                            _ if exists(branch) => branch.to_owned(),
                            _ => {
                                return Reply::json(
                                    400,
                                    json!({"message": "You can only create or edit files when you are on a branch"}),
                                )
                            }
                        };
                        let mut files = self.files_of(pid, &base);
                        let mut diffs = Vec::new();
                        for a in b["actions"].as_array().into_iter().flatten() {
                            let path = a["file_path"].as_str().unwrap_or("").to_owned();
                            let at = files.iter().position(|(p, _)| *p == path);
                            let content = a["content"].as_str().unwrap_or("").to_owned();
                            match (a["action"].as_str(), at) {
                                (Some("create"), None) => {
                                    diffs.push(json!({"old_path": path, "new_path": path, "a_mode": "0", "b_mode": "100644", "new_file": true, "renamed_file": false, "deleted_file": false, "diff": format!("@@ -0,0 +1 @@\n+{content}\n")}));
                                    files.push((path, content));
                                }
                                (Some("update"), Some(i)) => {
                                    diffs.push(json!({"old_path": path, "new_path": path, "a_mode": "100644", "b_mode": "100644", "new_file": false, "renamed_file": false, "deleted_file": false, "diff": format!("@@ -1 +1 @@\n-{}\n+{content}\n", files[i].1)}));
                                    files[i].1 = content;
                                }
                                (Some("delete"), Some(i)) => {
                                    diffs.push(json!({"old_path": path, "new_path": path, "a_mode": "100644", "b_mode": "0", "new_file": false, "renamed_file": false, "deleted_file": true, "diff": ""}));
                                    files.remove(i);
                                }
                                (Some("create"), Some(_)) => {
                                    return Reply::json(
                                        400,
                                        json!({"message": "A file with this name already exists"}),
                                    )
                                }
                                (Some("update" | "delete"), None) => {
                                    return Reply::json(
                                        400,
                                        json!({"message": "A file with this name doesn't exist"}),
                                    )
                                }
                                _ => {
                                    return Reply::json(
                                        400,
                                        json!({"error": "actions[action] does not have a valid value"}),
                                    )
                                }
                            }
                        }
                        if !exists(branch) {
                            self.branches.push((pid, branch.to_owned()));
                        }
                        self.trees.retain(|(p, x, _)| !(*p == pid && x == branch));
                        self.trees.push((pid, branch.to_owned(), files));
                        let parent = self
                            .commits
                            .iter()
                            .rev()
                            .find(|(bs, _, _)| bs.contains(&base))
                            .map(|(_, c, _)| c["id"].as_str().unwrap_or("").to_owned());
                        self.next_note_id += 1;
                        let id = format!("{:040x}", 0xc0ffee_u64 * 1000 + self.next_note_id);
                        let parents: Vec<&str> = parent.as_deref().into_iter().collect();
                        let mut c = commit_json(
                            &id,
                            message.lines().next().unwrap_or(""),
                            &parents,
                            diffs.len() as u64,
                            0,
                        );
                        c["message"] = json!(message);
                        c["project_id"] = json!(pid);
                        let mut holders = vec![branch.to_owned()];
                        // A new branch carries its base's history.
                        for (bs, _, _) in self.commits.iter_mut() {
                            if bs.contains(&base) && !bs.iter().any(|x| x == branch) {
                                bs.push(branch.to_owned());
                            }
                        }
                        holders.dedup();
                        self.commits.push((holders, c.clone(), diffs));
                        c["web_url"] = json!(format!("{pweb}/-/commit/{id}"));
                        Reply::json(201, c)
                    }
                    ("GET", ["labels"]) => {
                        let search = q.get("search").unwrap_or("").to_ascii_lowercase();
                        let counts = q.get("with_counts") == Some("true");
                        let items: Vec<Value> = self
                            .labels
                            .iter()
                            .filter(|l| {
                                pid == 1 && l["name"].as_str().unwrap_or("").contains(&search)
                            })
                            .map(|l| {
                                let mut l = l.clone();
                                if !counts {
                                    if let Some(m) = l.as_object_mut() {
                                        for k in [
                                            "open_issues_count",
                                            "closed_issues_count",
                                            "open_merge_requests_count",
                                        ] {
                                            m.remove(k);
                                        }
                                    }
                                }
                                l
                            })
                            .collect();
                        paged(items, &format!("/api/v4/projects/{pid}/labels"))
                    }
                    ("POST", ["labels"]) => {
                        let b = body.cloned().unwrap_or_default();
                        let (Some(name), Some(color)) = (b["name"].as_str(), b["color"].as_str())
                        else {
                            return Reply::json(
                                400,
                                json!({"error": "name is missing, color is missing"}),
                            );
                        };
                        if self.labels.iter().any(|l| l["name"] == name) {
                            return Reply::json(409, json!({"message": "Label already exists"}));
                        }
                        let label = json!({
                            "id": 11 + self.labels.len() as u64, "name": name, "color": color, "text_color": "#FFFFFF",
                            "description": b["description"].as_str(), "description_html": b["description"].as_str(),
                            "open_issues_count": 0, "closed_issues_count": 0, "open_merge_requests_count": 0,
                            "subscribed": false, "priority": null, "is_project_label": true,
                        });
                        self.labels.push(label.clone());
                        Reply::json(201, label)
                    }
                    ("GET", ["milestones"]) => {
                        let items: Vec<Value> = [(21u64, 1u64, "v1.0", "active", "2026-03-31"), (20, 0, "v0.9", "closed", "2025-12-31")]
                            .into_iter()
                            .filter(|_| pid == 1)
                            .filter(|(_, _, _, state, _)| q.get("state").is_none_or(|s| s == *state))
                            .filter(|(_, _, title, _, _)| q.get("search").is_none_or(|s| title.contains(s)))
                            .map(|(id, n, title, state, due)| json!({
                                "id": id, "iid": n + 1, "project_id": pid, "title": title, "description": format!("Release {title}"),
                                "state": state, "created_at": ISO, "updated_at": ISO, "due_date": due, "start_date": null,
                                "expired": state == "closed", "web_url": format!("{pweb}/-/milestones/{}", n + 1),
                            }))
                            .collect();
                        paged(items, &format!("/api/v4/projects/{pid}/milestones"))
                    }
                    ("GET", ["releases"]) => {
                        let items: Vec<Value> = if pid == 1 {
                            vec![json!({
                                "tag_name": "v0.9.0", "name": "Demo 0.9", "description": "First release", "created_at": ISO, "released_at": ISO,
                                "upcoming_release": false, "historical_release": false, "author": DEV(),
                                "commit": commit_json(SHA, "Initial commit", &[], 5, 0),
                                "commit_path": format!("/demo-group/demo-project/-/commit/{SHA}"), "tag_path": "/demo-group/demo-project/-/tags/v0.9.0",
                                "assets": {"count": 0, "sources": [], "links": []}, "evidences": [],
                                "_links": {"self": format!("{pweb}/-/releases/v0.9.0"), "edit_url": format!("{pweb}/-/releases/v0.9.0/edit")},
                            })]
                        } else {
                            Vec::new()
                        };
                        paged(items, &format!("/api/v4/projects/{pid}/releases"))
                    }
                    ("GET", ["wikis"]) => {
                        let with_content = q.get("with_content") == Some("true");
                        let items: Vec<Value> = self
                            .wiki
                            .iter()
                            .filter(|_| pid == 1)
                            .map(|w| {
                                let mut w = w.clone();
                                if !with_content {
                                    if let Some(m) = w.as_object_mut() {
                                        m.remove("content");
                                        m.remove("encoding");
                                    }
                                }
                                w
                            })
                            .collect();
                        Reply::json(200, Value::Array(items))
                    }
                    ("GET", ["wikis", slug]) => {
                        let slug = decode(slug);
                        match self
                            .wiki
                            .iter()
                            .find(|w| pid == 1 && w["slug"] == slug.as_str())
                        {
                            Some(w) => Reply::json(200, w.clone()),
                            None => not_found("Wiki Page"),
                        }
                    }
                    ("POST", ["wikis"]) => {
                        let b = body.cloned().unwrap_or_default();
                        let (Some(title), Some(content)) =
                            (b["title"].as_str(), b["content"].as_str())
                        else {
                            return Reply::json(
                                400,
                                json!({"error": "content is missing, title is missing"}),
                            );
                        };
                        let slug = title.trim().replace(' ', "-");
                        if self.wiki.iter().any(|w| w["slug"] == slug.as_str()) {
                            return Reply::json(
                                400,
                                json!({"message": "Duplicate page: A page with that title already exists"}),
                            );
                        }
                        let w = json!({"format": b["format"].as_str().unwrap_or("markdown"), "slug": slug, "title": title.rsplit('/').next().unwrap_or(title), "content": content, "encoding": "UTF-8"});
                        self.wiki.push(w.clone());
                        Reply::json(201, w)
                    }
                    ("PUT", ["wikis", slug]) => {
                        let slug = decode(slug);
                        let b = body.cloned().unwrap_or_default();
                        match self
                            .wiki
                            .iter_mut()
                            .find(|w| pid == 1 && w["slug"] == slug.as_str())
                        {
                            Some(w) => {
                                for k in ["content", "title", "format"] {
                                    if let Some(v) = b[k].as_str() {
                                        w[k] = json!(v);
                                    }
                                }
                                Reply::json(200, w.clone())
                            }
                            None => not_found("Wiki Page"),
                        }
                    }
                    ("GET", ["pipelines"]) => {
                        let items: Vec<Value> = self
                            .pipelines
                            .iter()
                            .rev()
                            .filter(|p| {
                                p["project_id"] == pid
                                    && q.get("status").is_none_or(|s| p["status"] == s)
                                    && q.get("ref").is_none_or(|r| p["ref"] == r)
                                    && q.get("sha").is_none_or(|h| p["sha"] == h)
                            })
                            .map(|p| pipeline_basic(p, &pweb))
                            .collect();
                        paged(items, &format!("/api/v4/projects/{pid}/pipelines"))
                    }
                    ("GET", ["pipelines", id]) => match self.pipeline_read(pid, id) {
                        Some(p) => Reply::json(200, pipeline_full(p, &pweb)),
                        None => not_found(""),
                    },
                    ("GET", ["pipelines", id, "jobs"]) => {
                        let Some(p) = self.pipeline(pid, id) else {
                            return not_found("");
                        };
                        let scope: Vec<&str> = query_all(q, "scope[]");
                        let known = [
                            "created",
                            "pending",
                            "running",
                            "failed",
                            "success",
                            "canceled",
                            "skipped",
                            "waiting_for_resource",
                            "manual",
                        ];
                        if scope.iter().any(|s| !known.contains(s)) {
                            return Reply::json(
                                400,
                                json!({"message": "400 Bad request - Scope contains invalid value(s)"}),
                            );
                        }
                        let items: Vec<Value> = self
                            .jobs
                            .iter()
                            .filter(|j| j["pipeline_id"] == p["id"])
                            .filter(|j| scope.is_empty() || scope.iter().any(|s| j["status"] == *s))
                            .map(|j| job_full(j, p, &pweb))
                            .collect();
                        paged(
                            items,
                            &format!("/api/v4/projects/{pid}/pipelines/{id}/jobs"),
                        )
                    }
                    ("POST", ["pipeline"]) => {
                        let r = body.and_then(|b| b["ref"].as_str()).unwrap_or("");
                        if !self.branches.iter().any(|(p, n)| *p == pid && n == r) {
                            return Reply::json(
                                400,
                                json!({"message": {"base": ["Reference not found"]}}),
                            );
                        }
                        let id = 100 + self.pipelines.len() as u64 + 1;
                        let p = json!({
                            "id": id, "iid": id - 100, "project_id": pid, "sha": SHA, "ref": r, "status": "created",
                            "source": "api", "name": null, "created_at": ISO, "updated_at": ISO,
                        });
                        self.pipelines.push(p.clone());
                        Reply::json(201, pipeline_full(&p, &pweb))
                    }
                    ("POST", ["pipelines", id, action @ ("retry" | "cancel")]) => {
                        let Some(p) = self
                            .pipelines
                            .iter_mut()
                            .find(|p| p["project_id"] == pid && num_is(&p["id"], id))
                        else {
                            return not_found("");
                        };
                        let status = p["status"].as_str().unwrap_or("").to_owned();
                        let pipeline_id = p["id"].clone();
                        // Retry restarts failed and canceled jobs; cancel stops running and pending ones
                        // (doc/api/pipelines.md); other states stay as they are.
                        let (from, to, code) = if *action == "retry" {
                            (["failed", "canceled"], "pending", 201)
                        } else {
                            (["running", "pending"], "canceled", 200)
                        };
                        if from.contains(&status.as_str()) {
                            p["status"] = json!(to);
                            for j in self
                                .jobs
                                .iter_mut()
                                .filter(|j| j["pipeline_id"] == pipeline_id)
                            {
                                if from.contains(&j["status"].as_str().unwrap_or("")) {
                                    j["status"] = json!(to);
                                }
                            }
                        }
                        let p = self
                            .pipelines
                            .iter()
                            .find(|p| p["id"] == pipeline_id)
                            .cloned()
                            .unwrap_or_default();
                        Reply::json(code, pipeline_full(&p, &pweb))
                    }
                    ("GET", ["jobs", id, "trace"]) => {
                        match self.jobs.iter().find(|j| num_is(&j["id"], id)) {
                            Some(j) if j["id"] == 204 => Reply::text(200, failed_job_log()),
                            Some(j) => Reply::text(
                                200,
                                format!(
                                    "Running job {}\nJob succeeded\n",
                                    j["name"].as_str().unwrap_or("")
                                ),
                            ),
                            None => not_found(""),
                        }
                    }
                    ("GET", ["search"]) => self.gitlab_search(q, Some(pid), base, page, per_page),
                    _ => Reply::json(404, json!({"error": "404 Not Found"})),
                }
            }
            ("GET", ["groups", gid, "projects"]) => {
                let gid = decode(gid);
                if gid != "7" && gid != "demo-group" {
                    return not_found("Group");
                }
                // Only the requested page is copied out of the store.
                gitlab_page(
                    self.projects_matching(q.get("search"))
                        .into_iter()
                        .cloned()
                        .map(with_web),
                    page,
                    per_page,
                    base,
                    &format!("/api/v4/groups/{gid}/projects"),
                )
            }
            ("GET", ["search"]) => self.gitlab_search(q, None, base, page, per_page),
            // The authenticated user (some clients check their token with it).
            ("GET", ["user"]) => Reply::json(
                200,
                json!({
                    "id": 3, "username": "dev", "name": "Dev One", "state": "active", "locked": false,
                    "avatar_url": format!("{base}/uploads/-/system/user/avatar/3/avatar.png"),
                    "web_url": format!("{base}/dev"), "created_at": ISO, "bot": false,
                }),
            ),
            _ => Reply::json(404, json!({"error": "404 Not Found"})),
        }
    }

    /// Projects whose `path_with_namespace` contains `search` (any case; all of them without one): the
    /// `search` filter of both `GET /projects` and `GET /groups/:id/projects`.
    fn projects_matching(&self, search: Option<&str>) -> Vec<&Value> {
        let search = search.unwrap_or("").to_ascii_lowercase();
        self.projects
            .iter()
            .filter(|p| {
                search.is_empty()
                    || p["path_with_namespace"]
                        .as_str()
                        .unwrap_or("")
                        .to_ascii_lowercase()
                        .contains(&search)
            })
            .collect()
    }

    fn gitlab_search(
        &self,
        q: &Query,
        pid: Option<u64>,
        base: &str,
        page: usize,
        per_page: usize,
    ) -> Reply {
        let term = q.get("search").unwrap_or("").to_ascii_lowercase();
        let in_scope = |v: &Value| pid.is_none_or(|p| v["project_id"] == p || v["id"] == p);
        let items: Vec<Value> = match q.get("scope") {
            Some("projects") if pid.is_none() => self.projects.iter().filter(|p| p["path_with_namespace"].as_str().unwrap_or("").contains(&term)).cloned().collect(),
            Some("issues") => self.gl_issues.iter().filter(|i| in_scope(i) && i["title"].as_str().unwrap_or("").to_ascii_lowercase().contains(&term)).cloned().collect(),
            Some("merge_requests") => self.mrs.iter().filter(|m| in_scope(m) && m["title"].as_str().unwrap_or("").to_ascii_lowercase().contains(&term)).cloned().collect(),
            // Commits whose message mentions the term (project 1 holds the fake's commits).
            Some("commits") if pid.is_some() => self
                .commits
                .iter()
                .rev()
                .filter(|(_, c, _)| pid == Some(1) && c["message"].as_str().unwrap_or("").to_ascii_lowercase().contains(&term))
                .map(|(_, c, _)| {
                    let mut c = c.clone();
                    c.as_object_mut().map(|m| m.remove("stats"));
                    c
                })
                .collect(),
            Some("blobs") if pid.is_some() => FILES
                .iter()
                .filter(|(_, c)| c.to_ascii_lowercase().contains(&term))
                .map(|(p, c)| json!({"basename": p.trim_end_matches(".md").trim_end_matches(".rs"), "data": c, "path": p, "filename": p, "id": null, "ref": "main", "startline": 1, "project_id": pid}))
                .collect(),
            other => return Reply::json(400, json!({"error": format!("scope does not have a valid value: {}", other.unwrap_or(""))})),
        };
        gitlab_page(items.into_iter(), page, per_page, base, "/api/v4/search")
    }
}

const DEV: fn() -> Value = || json!({"id": 3, "username": "dev", "name": "Dev One", "state": "active", "locked": false, "avatar_url": null, "web_url": "http://gitlab.example/dev"});

/// A pipeline as listed (doc/api/pipelines.md, "List project pipelines").
fn pipeline_basic(p: &Value, pweb: &str) -> Value {
    let mut p = p.clone();
    p["web_url"] = json!(format!("{pweb}/-/pipelines/{}", p["id"]));
    p
}

/// A single pipeline (doc/api/pipelines.md, "Get a single pipeline").
fn pipeline_full(p: &Value, pweb: &str) -> Value {
    let mut p = pipeline_basic(p, pweb);
    let status = p["status"].as_str().unwrap_or("created").to_owned();
    let done = matches!(status.as_str(), "success" | "failed" | "canceled");
    p["before_sha"] = json!("0000000000000000000000000000000000000000");
    p["tag"] = json!(false);
    p["yaml_errors"] = Value::Null;
    p["user"] = DEV();
    p["started_at"] = if status == "created" {
        Value::Null
    } else {
        json!(ISO)
    };
    p["finished_at"] = if done { json!(ISO) } else { Value::Null };
    p["committed_at"] = Value::Null;
    p["duration"] = if done { json!(61) } else { Value::Null };
    // Whole seconds: GitLab's `Entities::Ci::Pipeline` declares an integer (its generated
    // OpenAPI document, `APIEntitiesCiPipeline`), which the REST page's number also admits.
    p["queued_duration"] = json!(1);
    p["coverage"] = Value::Null;
    p["detailed_status"] = json!({
        "icon": format!("status_{status}"), "text": status, "label": status, "group": status,
        "tooltip": status, "has_details": true, "details_path": format!("/-/pipelines/{}", p["id"]),
        "illustration": null, "favicon": format!("favicon_status_{status}"),
    });
    p
}

/// A job of a pipeline (doc/api/jobs.md, "List pipeline jobs").
fn job_full(j: &Value, p: &Value, pweb: &str) -> Value {
    let status = j["status"].as_str().unwrap_or("created");
    let done = matches!(status, "success" | "failed" | "canceled");
    let mut out = json!({
        "id": j["id"], "status": status, "stage": j["stage"], "name": j["name"], "ref": p["ref"], "tag": false,
        "coverage": null, "allow_failure": false, "created_at": ISO,
        "started_at": if status == "pending" || status == "created" { Value::Null } else { json!(ISO) },
        "finished_at": if done { json!(ISO) } else { Value::Null },
        "erased_at": null, "duration": if done { json!(30.5) } else { Value::Null }, "queued_duration": 0.2,
        "user": DEV(),
        "commit": {"id": SHA, "short_id": "7b5c3cc", "title": "Initial commit", "message": "Initial commit", "author_name": "Dev One", "created_at": ISO},
        "pipeline": {"id": p["id"], "project_id": p["project_id"], "ref": p["ref"], "sha": p["sha"], "status": p["status"]},
        "web_url": format!("{pweb}/-/jobs/{}", j["id"]),
        "tag_list": ["docker"], "artifacts": [], "artifacts_expire_at": null, "runner": null,
    });
    if status == "failed" {
        out["failure_reason"] = json!("script_failure");
    }
    out
}

/// A commit (doc/api/commits.md, "Get a single commit").
fn commit_json(id: &str, title: &str, parents: &[&str], additions: u64, deletions: u64) -> Value {
    json!({
        "id": id, "short_id": &id[..8], "title": title, "message": format!("{title}\n"),
        "author_name": "Dev One", "author_email": "dev@example.com", "authored_date": ISO,
        "committer_name": "Dev One", "committer_email": "dev@example.com", "committed_date": ISO,
        "created_at": ISO, "parent_ids": parents,
        "stats": {"additions": additions, "deletions": deletions, "total": additions + deletions},
        "status": null, "last_pipeline": null, "project_id": 1,
        "trailers": {}, "extended_trailers": {},
    })
}

/// The file diffs of merge requests 1 and 2 (doc/api/merge_requests.md, "List merge request diffs").
fn mr_diffs() -> Vec<Value> {
    vec![
        json!({"old_path": "src/main.rs", "new_path": "src/main.rs", "a_mode": "100644", "b_mode": "100644", "new_file": false, "renamed_file": false, "deleted_file": false, "diff": "@@ -1,3 +1,3 @@\n fn main() {\n-    println!(\"Demo\");\n+    println!(\"Demo v2\");\n }\n"}),
        json!({"old_path": "CHANGELOG.md", "new_path": "CHANGELOG.md", "a_mode": "0", "b_mode": "100644", "new_file": true, "renamed_file": false, "deleted_file": false, "diff": "@@ -0,0 +1 @@\n+## v2\n"}),
    ]
}

/// Merge request 3's diffs: 30 added files of 40 lines (817 bytes of diff text each, 24,510 in all).
fn big_mr_diffs() -> Vec<Value> {
    (1..=30)
        .map(|n| {
            let lines: String = (1..=40).map(|l| format!("+line {l:02} of file {n:02}\n")).collect();
            let path = format!("gen/file_{n:02}.txt");
            json!({"old_path": path, "new_path": path, "a_mode": "0", "b_mode": "100644", "new_file": true,
                   "renamed_file": false, "deleted_file": false, "diff": format!("@@ -0,0 +1,40 @@\n{lines}")})
        })
        .collect()
}

/// A note of a merge request thread (doc/api/discussions.md).
fn mr_note(id: u64, text: &str, mr_id: u64, pid: u64, iid: &str, kind: &str) -> Value {
    json!({
        "id": id, "type": kind, "body": text, "author": DEV(), "created_at": ISO, "updated_at": ISO,
        "system": false, "noteable_id": mr_id, "noteable_type": "MergeRequest", "project_id": pid,
        "noteable_iid": iid.parse::<u64>().unwrap_or(0), "resolvable": true, "resolved": false,
        "resolved_by": null, "resolved_at": null,
    })
}

/// Every value of a repeated query parameter.
fn query_all<'a>(q: &Query<'a>, name: &str) -> Vec<&'a str> {
    q.0.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn gitlab_page(
    items: impl ExactSizeIterator<Item = Value>,
    page: usize,
    per_page: usize,
    base: &str,
    path: &str,
) -> Reply {
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let next = if page < pages {
        (page + 1).to_string()
    } else {
        String::new()
    };
    let prev = if page > 1 {
        (page - 1).to_string()
    } else {
        String::new()
    };
    let link =
        |p: usize, rel: &str| format!("<{base}{path}?page={p}&per_page={per_page}>; rel=\"{rel}\"");
    let mut links = Vec::new();
    if page < pages {
        links.push(link(page + 1, "next"));
    }
    links.push(link(1, "first"));
    links.push(link(pages, "last"));
    Reply::json(200, Value::Array(slice))
        .header("x-page", &page.to_string())
        .header("x-per-page", &per_page.to_string())
        .header("x-next-page", &next)
        .header("x-prev-page", &prev)
        .header("x-total", &total.to_string())
        .header("x-total-pages", &pages.to_string())
        .header("link", &links.join(", "))
}

fn paged_v2(all: Vec<Value>, start: usize, limit: usize, next_base: &str) -> Reply {
    let results: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
    let mut links = json!({"base": "/wiki"});
    let mut reply_headers = Vec::new();
    if start + limit < all.len() {
        let next = format!("{next_base}&cursor={}", encode_token(start + limit));
        reply_headers.push(("link".to_owned(), format!("<{next}>; rel=\"next\"")));
        links["next"] = json!(next);
    }
    Reply {
        status: 200,
        headers: reply_headers,
        body: Some(json!({"results": results, "_links": links})),
        text: None,
        raw: None,
    }
}

/// Whether a JSON number equals the decimal `text`.
fn num_is(v: &Value, text: &str) -> bool {
    v.as_u64().is_some_and(|n| text.parse::<u64>() == Ok(n))
}

fn encode_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_token(token: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("offset:")?
        .parse()
        .ok()
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// Splits `a AND b` (case-insensitive) outside quotes.
fn clauses(query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let words: Vec<&str> = query.split(' ').collect();
    for w in words {
        if !quoted && w.eq_ignore_ascii_case("AND") {
            out.push(std::mem::take(&mut cur).trim().to_owned());
            continue;
        }
        quoted ^= w.chars().filter(|c| *c == '"').count() % 2 == 1 && !w.contains("\\\"");
        cur.push_str(w);
        cur.push(' ');
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    let inner = v
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(v);
    inner.replace("\\\"", "\"").replace("\\\\", "\\")
}

type IssueFilter = Box<dyn Fn(&Issue) -> bool>;

fn jql_filter(jql: &str) -> Result<Vec<IssueFilter>, String> {
    let lower = jql.to_ascii_lowercase();
    let body = match lower.find(" order by ") {
        Some(i) => &jql[..i],
        None if lower.starts_with("order by ") => "",
        None => jql,
    };
    let mut out: Vec<IssueFilter> = Vec::new();
    for c in clauses(body) {
        if c.is_empty() {
            continue;
        }
        let err = || format!("Error in the JQL Query: unsupported clause '{c}'.");
        if let Some((field, value)) = c.split_once(" in ") {
            if field.trim() != "labels" {
                return Err(err());
            }
            let list = value
                .trim()
                .strip_prefix('(')
                .and_then(|v| v.strip_suffix(')'))
                .ok_or_else(err)?;
            let wanted: Vec<String> = list.split(',').map(unquote).collect();
            out.push(Box::new(move |i| {
                i.labels.iter().any(|l| wanted.contains(l))
            }));
        } else if let Some((field, value)) = c.split_once('=') {
            let v = unquote(value);
            match field.trim() {
                "project" => out.push(Box::new(move |i| i.project.eq_ignore_ascii_case(&v))),
                "key" => out.push(Box::new(move |i| i.key.eq_ignore_ascii_case(&v))),
                "labels" => out.push(Box::new(move |i| i.labels.contains(&v))),
                "status" => out.push(Box::new(move |i| i.status.eq_ignore_ascii_case(&v))),
                _ => return Err(err()),
            }
        } else if let Some((field, value)) = c.split_once('~') {
            let v = unquote(value).to_ascii_lowercase();
            match field.trim() {
                "text" | "summary" => out.push(Box::new(move |i| {
                    i.summary.to_ascii_lowercase().contains(&v)
                })),
                _ => return Err(err()),
            }
        } else {
            return Err(err());
        }
    }
    Ok(out)
}

type PageFilter = Box<dyn Fn(&Page) -> bool>;

fn cql_filter(cql: &str) -> Result<Vec<PageFilter>, String> {
    let mut out: Vec<PageFilter> = Vec::new();
    for c in clauses(cql) {
        let err = || format!("Could not parse cql : {c}");
        if let Some((field, value)) = c.split_once('=') {
            let v = unquote(value);
            match field.trim() {
                "type" if v == "page" => {}
                "type" => out.push(Box::new(|_| false)),
                "space" => {
                    let id = SPACES
                        .iter()
                        .find(|s| s.1.eq_ignore_ascii_case(&v))
                        .map(|s| s.0)
                        .unwrap_or("");
                    out.push(Box::new(move |p| p.space_id == id));
                }
                "id" => out.push(Box::new(move |p| p.id.to_string() == v)),
                "parent" => out.push(Box::new(move |p| {
                    p.parent_id.map(|x| x.to_string()) == Some(v.clone())
                })),
                _ => return Err(err()),
            }
        } else if let Some((field, value)) = c.split_once('~') {
            let v = unquote(value).to_ascii_lowercase();
            match field.trim() {
                "text" => out.push(Box::new(move |p| {
                    p.title.to_ascii_lowercase().contains(&v)
                        || p.body.to_ascii_lowercase().contains(&v)
                })),
                "title" => out.push(Box::new(move |p| p.title.to_ascii_lowercase().contains(&v))),
                _ => return Err(err()),
            }
        } else {
            return Err(err());
        }
    }
    Ok(out)
}
