//! Jira issue details and Jira Software (Agile) in both Jira fakes: worklogs, attachments (metadata
//! and content), issue links and link types, user search, create metadata, the changelog, watchers,
//! deleting an issue, bulk create, and boards, sprints and epics.
//!
//! Cloud shapes are those of jira-platform-v3.json and jira-software-agile.json (the fake checks
//! every request and reply against them). Server/Data Center shapes follow Atlassian's Jira Data
//! Center REST references (not schema-checked; tests/specs/README.md names the pages): platform REST
//! v2 9.x (docs.atlassian.com/software/jira/docs/api/REST/9.17.0: *issue/{key}/worklog*,
//! *attachment/{id}*, *issueLink*, *issueLinkType*, *user/search*, *issue/createmeta/{project}/issuetypes*,
//! *issue/{key}/watchers*, *issue/{key}* DELETE and `expand=changelog`, *issue/bulk*), the
//! attachment download servlet `/secure/attachment/{id}/{filename}`, and Jira Software Server REST
//! (docs.atlassian.com/jira-software/REST/9.12.0: *board*, *board/{id}/sprint*, *sprint/{id}/issue*,
//! *epic/{key}/issue*), whose paths and shapes match Cloud's.

use axum::http::Method;
use serde_json::{json, Map, Value};

use super::dc::user as dc_user;
use super::{jql_filter, Data, Issue, Query, Reply, CREATED, PROJECTS};

/// Users of both fakes: (Cloud accountId, Server username, display name).
const USERS: [(&str, &str, &str); 3] = [
    ("5b10ac8d82e05b22cc7d4ef5", "ada", "Ada Lovelace"),
    ("5b10a2844c20165700ede21g", "grace", "Grace Hopper"),
    (
        "712020:3f2a9d04-9c1e-4e55-8d0b-5a6b7c8d9e0f",
        "linus",
        "Linus Torvalds",
    ),
];

/// Link types: (id, name, inward, outward).
const LINK_TYPES: [(&str, &str, &str, &str); 3] = [
    ("10000", "Blocks", "is blocked by", "blocks"),
    ("10001", "Duplicate", "is duplicated by", "duplicates"),
    ("10002", "Relates", "relates to", "relates to"),
];

/// Issue types of both projects: (id, name, description).
const ISSUE_TYPES: [(&str, &str, &str); 3] = [
    ("10002", "Task", "A task that needs to be done."),
    (
        "10004",
        "Bug",
        "A problem which impairs or prevents the functions of the product.",
    ),
    (
        "10000",
        "Epic",
        "A big user story that needs to be broken down.",
    ),
];

/// Boards: (id, name, type, project key).
const BOARDS: [(u64, &str, &str, &str); 2] = [
    (1, "DEMO board", "scrum", "DEMO"),
    (2, "OPS kanban", "kanban", "OPS"),
];

/// Sprints of board 1: (id, name, state, goal).
const SPRINTS: [(u64, &str, &str, &str); 3] = [
    (1, "DEMO Sprint 1", "closed", "Ship the login fix"),
    (2, "DEMO Sprint 2", "active", "Stabilize the build"),
    (3, "DEMO Sprint 3", "future", ""),
];

/// The epic of the seed and its issues.
const EPIC: (&str, [&str; 2]) = ("DEMO-10", ["DEMO-11", "DEMO-12"]);

/// Attachments of DEMO-1: (id, file name, MIME type). `big.log` is larger than mcp-edge's 1 MiB
/// resource cap and says so; `misreported.bin` says 64 bytes but sends 1.5 MiB (the cap must hold
/// while reading, not only by the metadata).
const ATTACHMENTS: [(u64, &str, &str); 4] = [
    (10100, "notes.txt", "text/plain"),
    (10101, "pixel.png", "image/png"),
    (10102, "big.log", "text/plain"),
    (10103, "misreported.bin", "application/octet-stream"),
];

/// A 1×1 PNG.
const PIXEL_PNG: [u8; 67] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// Jira Server timestamps.
const DC_CREATED: &str = "2026-01-05T10:00:00.000+0000";

/// Worklogs, watchers, sprint membership and links of one Jira fake.
pub struct State {
    /// (id, issue key, seconds, started, comment as text).
    worklogs: Vec<(u64, String, u64, String, Option<String>)>,
    next_worklog: u64,
    /// (issue key, user indexes into [`USERS`]).
    watchers: Vec<(String, Vec<usize>)>,
    /// (sprint id, issue key).
    sprint_issues: Vec<(u64, String)>,
    /// (link type name, inward key, outward key).
    links: Vec<(String, String, String)>,
}

impl Default for State {
    fn default() -> Self {
        let mut sprint_issues = Vec::new();
        for n in 1..=3 {
            sprint_issues.push((1, format!("DEMO-{n}")));
        }
        for n in 4..=8 {
            sprint_issues.push((2, format!("DEMO-{n}")));
        }
        State {
            worklogs: vec![
                (
                    50001,
                    "DEMO-1".into(),
                    3600,
                    "2026-01-05T09:00:00.000+0000".into(),
                    Some("Reproduced the loop".into()),
                ),
                (
                    50002,
                    "DEMO-1".into(),
                    5400,
                    "2026-01-06T09:00:00.000+0000".into(),
                    None,
                ),
            ],
            next_worklog: 50002,
            watchers: vec![("DEMO-1".into(), vec![0])],
            sprint_issues,
            links: Vec::new(),
        }
    }
}

fn err(status: u16, message: &str) -> Reply {
    Reply::json(status, json!({"errorMessages": [message], "errors": {}}))
}

fn field_err(status: u16, field: &str, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"errorMessages": [], "errors": {field: message}}),
    )
}

/// A Cloud `UserDetails`/`User`, or a Server user.
fn user_json(server: bool, base: &str, u: usize) -> Value {
    let (account, name, display) = USERS[u];
    if server {
        return dc_user(base, name, display);
    }
    json!({
        "self": format!("{base}/rest/api/3/user?accountId={account}"), "accountId": account,
        "accountType": "atlassian", "displayName": display, "active": true,
        "emailAddress": format!("{name}@example.com"),
    })
}

fn attachment_bytes(id: u64) -> Option<Vec<u8>> {
    Some(match id {
        10100 => b"Build steps:\n1. cargo build --release\n2. run the login flow\n".to_vec(),
        10101 => PIXEL_PNG.to_vec(),
        10102 => "0123456789abcdef\n"
            .repeat(2 * 1024 * 1024 / 17 + 1)
            .into_bytes(),
        10103 => vec![0x5a; 1536 * 1024],
        _ => return None,
    })
}

fn attachment_size(id: u64) -> u64 {
    if id == 10103 {
        64
    } else {
        attachment_bytes(id).map_or(0, |b| b.len() as u64)
    }
}

/// Seconds of a Jira duration such as "1h 30m" (1w = 5d, 1d = 8h, as Jira's defaults).
fn seconds(text: &str) -> Option<u64> {
    let mut total = 0.0;
    for part in text.split_whitespace() {
        let (n, unit) = part.split_at(part.len().checked_sub(1)?);
        let n: f64 = n.parse().ok()?;
        total += n * match unit {
            "w" => 5.0 * 8.0 * 3600.0,
            "d" => 8.0 * 3600.0,
            "h" => 3600.0,
            "m" => 60.0,
            _ => return None,
        };
    }
    (total >= 60.0).then_some(total as u64)
}

fn duration(secs: u64) -> String {
    let (h, m) = (secs / 3600, secs % 3600 / 60);
    match (h, m) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

fn adf(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

/// The text of an ADF document.
fn adf_text(v: &Value) -> String {
    fn walk(v: &Value, out: &mut String) {
        if let Some(t) = v["text"].as_str() {
            out.push_str(t);
        }
        for c in v["content"].as_array().into_iter().flatten() {
            walk(c, out);
        }
    }
    let mut s = String::new();
    walk(v, &mut s);
    s
}

/// Create-screen fields of every issue type: (id, name, required, schema).
fn create_fields(server: bool) -> Vec<Value> {
    let f = |id: &str, name: &str, required: bool, schema: Value, allowed: Option<Value>| {
        let mut v = json!({
            "fieldId": id, "key": id, "name": name, "required": required, "hasDefaultValue": false,
            "operations": ["set"], "schema": schema,
        });
        if let Some(a) = allowed {
            v["allowedValues"] = a;
        }
        v
    };
    let custom = |t: &str, kind: &str, n: u64| json!({"type": t, "custom": format!("com.atlassian.jira.plugin.system.customfieldtypes:{kind}"), "customId": n});
    let mut list = vec![
        f(
            "summary",
            "Summary",
            true,
            json!({"type": "string", "system": "summary"}),
            None,
        ),
        f(
            "issuetype",
            "Issue Type",
            true,
            json!({"type": "issuetype", "system": "issuetype"}),
            None,
        ),
        f(
            "project",
            "Project",
            true,
            json!({"type": "project", "system": "project"}),
            None,
        ),
        f(
            "description",
            "Description",
            false,
            json!({"type": "string", "system": "description"}),
            None,
        ),
        f(
            "labels",
            "Labels",
            false,
            json!({"type": "array", "items": "string", "system": "labels"}),
            None,
        ),
        f(
            "customfield_10010",
            "Story Points",
            false,
            custom("number", "float", 10010),
            None,
        ),
        f(
            "customfield_10020",
            "Team",
            false,
            custom("option", "select", 10020),
            Some(json!([{"id": "10100", "value": "Platform"}, {"id": "10101", "value": "Mobile"}])),
        ),
        f(
            "customfield_10030",
            "Severity",
            false,
            custom("string", "textfield", 10030),
            None,
        ),
        f(
            "customfield_10031",
            "Severity",
            false,
            custom("option", "select", 10031),
            Some(json!([{"id": "10200", "value": "High"}])),
        ),
        f(
            "customfield_10040",
            "Reviewer",
            false,
            custom("user", "userpicker", 10040),
            None,
        ),
    ];
    if server {
        // Server/Data Center's FieldMeta has no `key` (REST v2 reference: fieldId, name, required, schema, ...).
        for v in &mut list {
            v.as_object_mut().map(|o| o.remove("key"));
        }
    }
    list
}

/// An offset page of `all`.
fn page(all: &[Value], q: &Query, default_max: usize) -> (Vec<Value>, usize, usize) {
    let start = q
        .get("startAt")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0usize);
    let max = q
        .get("maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_max)
        .clamp(1, 1000);
    (
        all.iter().skip(start).take(max).cloned().collect(),
        start,
        max,
    )
}

impl Data {
    /// The Jira routes of this module; `None` leaves the request to the other Jira routes.
    pub fn jira_depth(
        &mut self,
        server: bool,
        method: &Method,
        segs: &[&str],
        q: &Query,
        body: Option<&Value>,
        base: &str,
    ) -> Option<Reply> {
        let v = if server { "2" } else { "3" };
        let api_ok = |got: &str| got == v;
        let issue_key = |key: &str| -> Option<String> {
            let k = key.to_ascii_uppercase();
            self.issues
                .iter()
                .find(|i| i.key == k || i.id.to_string() == key)
                .map(|i| i.key.clone())
        };
        let missing = || {
            err(
                404,
                if server {
                    "Issue Does Not Exist"
                } else {
                    "Issue does not exist or you do not have permission to see it."
                },
            )
        };
        let reply = match (method.as_str(), segs) {
            // ------------------------------------------------------------ worklogs
            ("GET", ["rest", "api", ver, "issue", key, "worklog"]) if api_ok(ver) => {
                let Some(key) = issue_key(key) else {
                    return Some(missing());
                };
                let all: Vec<Value> = self
                    .depth
                    .worklogs
                    .iter()
                    .filter(|w| w.1 == key)
                    .map(|w| self.worklog_json(server, base, w))
                    .collect();
                let (list, start, max) = page(&all, q, 5000);
                Reply::json(
                    200,
                    json!({"startAt": start, "maxResults": max, "total": all.len(), "worklogs": list}),
                )
            }
            ("POST", ["rest", "api", ver, "issue", key, "worklog"]) if api_ok(ver) => {
                let Some(key) = issue_key(key) else {
                    return Some(missing());
                };
                let b = body.cloned().unwrap_or_default();
                let secs = match (b["timeSpentSeconds"].as_u64(), b["timeSpent"].as_str()) {
                    (Some(s), _) => Some(s),
                    (None, Some(t)) => seconds(t),
                    _ => None,
                };
                let Some(secs) = secs else {
                    return Some(field_err(
                        400,
                        "timeLogged",
                        "You must indicate the time spent working.",
                    ));
                };
                let comment = match &b["comment"] {
                    Value::Null => None,
                    Value::String(s) if server => Some(s.clone()),
                    c @ Value::Object(_) if !server && c["type"] == "doc" => Some(adf_text(c)),
                    _ => {
                        return Some(field_err(
                            400,
                            "comment",
                            if server {
                                "Operation value must be a string"
                            } else {
                                "Comment body is not valid! The body must be an Atlassian Document Format document."
                            },
                        ))
                    }
                };
                let started = b["started"].as_str().unwrap_or(DC_CREATED).to_owned();
                self.depth.next_worklog += 1;
                let w = (self.depth.next_worklog, key, secs, started, comment);
                let out = self.worklog_json(server, base, &w);
                self.depth.worklogs.push(w);
                Reply::json(201, out)
            }
            // ---------------------------------------------------------- attachments
            ("GET", ["rest", "api", ver, "issue", key])
                if api_ok(ver) && q.get("fields") == Some("attachment") =>
            {
                let Some(key) = issue_key(key) else {
                    return Some(missing());
                };
                let id = self
                    .issues
                    .iter()
                    .find(|i| i.key == key)
                    .map(|i| i.id)
                    .unwrap_or_default();
                let list: Vec<Value> = if key == "DEMO-1" {
                    ATTACHMENTS
                        .iter()
                        .map(|(aid, name, mime)| {
                            json!({
                                "self": format!("{base}/rest/api/{v}/attachment/{aid}"), "id": aid.to_string(), "filename": name,
                                "author": user_json(server, base, 1), "created": if server { DC_CREATED } else { CREATED },
                                "size": attachment_size(*aid), "mimeType": mime,
                                "content": self.content_url(server, base, *aid, name),
                            })
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                Reply::json(
                    200,
                    json!({"id": id.to_string(), "key": key, "self": format!("{base}/rest/api/{v}/issue/{id}"), "fields": {"attachment": list}}),
                )
            }
            ("GET", ["rest", "api", ver, "attachment", id]) if api_ok(ver) => {
                let Some((aid, name, mime)) = ATTACHMENTS.iter().find(|a| a.0.to_string() == *id)
                else {
                    return Some(err(404, "The attachment with id does not exist."));
                };
                let created = if server { DC_CREATED } else { CREATED };
                let id_value = if server {
                    json!(aid.to_string())
                } else {
                    json!(aid)
                };
                Reply::json(
                    200,
                    json!({
                        "self": format!("{base}/rest/api/{v}/attachment/{aid}"), "id": id_value, "filename": name,
                        "author": user_json(server, base, 1), "created": created, "size": attachment_size(*aid),
                        "mimeType": mime, "content": self.content_url(server, base, *aid, name),
                    }),
                )
            }
            ("GET", ["rest", "api", "3", "attachment", "content", id]) if !server => {
                let Some(bytes) = id.parse().ok().and_then(attachment_bytes) else {
                    return Some(err(404, "The attachment with id does not exist."));
                };
                if q.get("redirect") != Some("false") {
                    // The live service redirects to its media store unless `redirect=false`.
                    return Some(Reply::empty(303).header(
                        "location",
                        &format!("https://api.media.atlassian.com/file/{id}/binary"),
                    ));
                }
                let mime = ATTACHMENTS
                    .iter()
                    .find(|a| a.0.to_string() == *id)
                    .map_or("application/octet-stream", |a| a.2);
                Reply::bytes(200, mime, bytes)
            }
            ("GET", ["secure", "attachment", id, name]) if server => {
                match ATTACHMENTS
                    .iter()
                    .find(|a| a.0.to_string() == *id && a.1 == *name)
                {
                    Some(a) => Reply::bytes(200, a.2, attachment_bytes(a.0).unwrap_or_default()),
                    None => Reply::empty(404),
                }
            }
            // ---------------------------------------------------------------- links
            ("GET", ["rest", "api", ver, "issueLinkType"]) if api_ok(ver) => Reply::json(
                200,
                json!({"issueLinkTypes": LINK_TYPES.iter().map(|(id, name, inward, outward)| json!({
                    "id": id, "name": name, "inward": inward, "outward": outward,
                    "self": format!("{base}/rest/api/{v}/issueLinkType/{id}"),
                })).collect::<Vec<_>>()}),
            ),
            ("POST", ["rest", "api", ver, "issueLink"]) if api_ok(ver) => {
                let b = body.cloned().unwrap_or_default();
                let wanted = b["type"]["name"].as_str().unwrap_or_default();
                let Some(t) = LINK_TYPES.iter().find(|t| t.1.eq_ignore_ascii_case(wanted)) else {
                    return Some(err(
                        404,
                        &format!("No issue link type with name '{wanted}' found."),
                    ));
                };
                let (Some(inward), Some(outward)) = (
                    issue_key(b["inwardIssue"]["key"].as_str().unwrap_or_default()),
                    issue_key(b["outwardIssue"]["key"].as_str().unwrap_or_default()),
                ) else {
                    return Some(err(404, "Issue Does Not Exist"));
                };
                if let Some(c) = b.get("comment") {
                    let valid = if server {
                        c["body"].is_string()
                    } else {
                        c["body"]["type"] == "doc"
                    };
                    if !valid {
                        return Some(field_err(400, "comment", "Comment body is not valid."));
                    }
                }
                self.depth.links.push((t.1.to_owned(), inward, outward));
                Reply::empty(201)
            }
            // ---------------------------------------------------------------- users
            ("GET", ["rest", "api", ver, "user", "search"]) if api_ok(ver) => {
                let wanted = q
                    .get(if server { "username" } else { "query" })
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if wanted.is_empty() {
                    return Some(err(400, "The username query parameter was not provided"));
                }
                let all: Vec<Value> = (0..USERS.len())
                    .filter(|u| {
                        let (_, name, display) = USERS[*u];
                        display.to_ascii_lowercase().contains(&wanted) || name.contains(&wanted)
                    })
                    .map(|u| user_json(server, base, u))
                    .collect();
                let (list, _, _) = page(&all, q, 50);
                Reply::json(200, Value::Array(list))
            }
            // ------------------------------------------------------ create metadata
            ("GET", ["rest", "api", ver, "issue", "createmeta", project, "issuetypes"])
                if api_ok(ver) =>
            {
                if !PROJECTS.iter().any(|p| p.1 == *project || p.0 == *project) {
                    return Some(err(
                        404,
                        &format!("No project could be found with key '{project}'."),
                    ));
                }
                let all: Vec<Value> = ISSUE_TYPES
                    .iter()
                    .map(|(id, name, desc)| json!({
                        "self": format!("{base}/rest/api/{v}/issuetype/{id}"), "id": id, "name": name, "description": desc,
                        "iconUrl": format!("{base}/images/icons/issuetypes/{}.svg", name.to_ascii_lowercase()), "subtask": false,
                    }))
                    .collect();
                let (list, start, max) = page(&all, q, 50);
                let key = if server { "values" } else { "issueTypes" };
                let mut out =
                    json!({"maxResults": max, "startAt": start, "total": all.len(), key: list});
                if server {
                    out["isLast"] = json!(start + max >= all.len());
                }
                Reply::json(200, out)
            }
            (
                "GET",
                ["rest", "api", ver, "issue", "createmeta", project, "issuetypes", type_id],
            ) if api_ok(ver) => {
                if !PROJECTS.iter().any(|p| p.1 == *project || p.0 == *project)
                    || !ISSUE_TYPES.iter().any(|t| t.0 == *type_id)
                {
                    return Some(err(404, "Issue type or project not found."));
                }
                let all = create_fields(server);
                let (list, start, max) = page(&all, q, 50);
                let key = if server { "values" } else { "fields" };
                let mut out =
                    json!({"maxResults": max, "startAt": start, "total": all.len(), key: list});
                if server {
                    out["isLast"] = json!(start + max >= all.len());
                }
                Reply::json(200, out)
            }
            // ------------------------------------------------------------ changelog
            ("GET", ["rest", "api", "3", "issue", key, "changelog"]) if !server => {
                let Some(key) = issue_key(key) else {
                    return Some(missing());
                };
                let all = changelog(false, base, &key);
                let (list, start, max) = page(&all, q, 100);
                Reply::json(
                    200,
                    json!({
                        "self": format!("{base}/rest/api/3/issue/{key}/changelog?maxResults={max}&startAt={start}"),
                        "maxResults": max, "startAt": start, "total": all.len(), "isLast": start + max >= all.len(), "values": list,
                    }),
                )
            }
            ("GET", ["rest", "api", "2", "issue", key])
                if server && q.get("expand").is_some_and(|e| e.contains("changelog")) =>
            {
                let Some(key) = issue_key(key) else {
                    return Some(missing());
                };
                let mut issue = self.jira_dc(method, segs, q, body, base);
                let all = changelog(true, base, &key);
                if let Some(b) = issue.body.as_mut() {
                    b["changelog"] = json!({"startAt": 0, "maxResults": all.len(), "total": all.len(), "histories": all});
                }
                issue
            }
            // ------------------------------------------------------------- watchers
            ("GET", ["rest", "api", ver, "issue", key, "watchers"]) if api_ok(ver) => {
                let Some(key) = issue_key(key) else {
                    return Some(missing());
                };
                let who: Vec<usize> = self
                    .depth
                    .watchers
                    .iter()
                    .find(|w| w.0 == key)
                    .map(|w| w.1.clone())
                    .unwrap_or_default();
                Reply::json(
                    200,
                    json!({
                        "self": format!("{base}/rest/api/{v}/issue/{key}/watchers"), "isWatching": who.contains(&0),
                        "watchCount": who.len(), "watchers": who.iter().map(|u| user_json(server, base, *u)).collect::<Vec<_>>(),
                    }),
                )
            }
            ("POST", ["rest", "api", ver, "issue", key, "watchers"]) if api_ok(ver) => {
                let Some(key) = issue_key(key) else {
                    return Some(missing());
                };
                let wanted = body.and_then(Value::as_str).unwrap_or_default();
                let Some(u) =
                    USERS
                        .iter()
                        .position(|u| if server { u.1 == wanted } else { u.0 == wanted })
                else {
                    return Some(err(404, &format!("The user \"{wanted}\" does not exist.")));
                };
                match self.depth.watchers.iter_mut().find(|w| w.0 == key) {
                    Some(w) if !w.1.contains(&u) => w.1.push(u),
                    Some(_) => {}
                    None => self.depth.watchers.push((key, vec![u])),
                }
                Reply::empty(204)
            }
            // --------------------------------------------------------------- delete
            ("DELETE", ["rest", "api", ver, "issue", key]) if api_ok(ver) => {
                let Some(key) = issue_key(key) else {
                    return Some(missing());
                };
                if key == EPIC.0 && q.get("deleteSubtasks") != Some("true") {
                    // The seed's epic stands in for an issue with subtasks.
                    return Some(err(
                        400,
                        "The issue has subtasks. Set deleteSubtasks to true to delete them too.",
                    ));
                }
                self.issues.retain(|i| i.key != key);
                self.depth.sprint_issues.retain(|s| s.1 != key);
                Reply::empty(204)
            }
            // ----------------------------------------------------------------- bulk
            ("POST", ["rest", "api", ver, "issue", "bulk"]) if api_ok(ver) => {
                let updates = body
                    .and_then(|b| b["issueUpdates"].as_array())
                    .cloned()
                    .unwrap_or_default();
                let mut issues = Vec::new();
                let mut errors = Vec::new();
                for (n, u) in updates.iter().enumerate() {
                    let one = json!({"fields": u["fields"]});
                    let path = ["rest", "api", ver, "issue"];
                    let r = if server {
                        self.jira_dc(&Method::POST, &path, q, Some(&one), base)
                    } else {
                        self.jira(&Method::POST, &path, q, Some(&one), base)
                    };
                    let b = r.body.unwrap_or_default();
                    if r.status == 201 {
                        issues.push(b);
                    } else {
                        errors.push(json!({"status": r.status, "failedElementNumber": n, "elementErrors": b}));
                    }
                }
                let status = if issues.is_empty() { 400 } else { 201 };
                Reply::json(status, json!({"issues": issues, "errors": errors}))
            }
            // ---------------------------------------------------------------- agile
            ("GET", ["rest", "agile", "1.0", "board"]) => {
                let project = q.get("projectKeyOrId");
                let kind = q.get("type");
                let name = q.get("name").map(str::to_ascii_lowercase);
                let all: Vec<Value> = BOARDS
                    .iter()
                    .filter(|b| project.is_none_or(|p| p == b.3 || PROJECTS.iter().any(|x| x.1 == b.3 && x.0 == p)))
                    .filter(|b| kind.is_none_or(|k| k.split(',').any(|k| k == b.2)))
                    .filter(|b| name.as_ref().is_none_or(|n| b.1.to_ascii_lowercase().contains(n.as_str())))
                    .map(|(id, name, kind, key)| {
                        let p = PROJECTS.iter().find(|p| p.1 == *key).copied().unwrap_or(PROJECTS[0]);
                        json!({
                            "id": id, "self": format!("{base}/rest/agile/1.0/board/{id}"), "name": name, "type": kind,
                            "location": {"projectId": p.0.parse::<u64>().unwrap_or(0), "projectKey": p.1, "projectName": p.2, "displayName": format!("{} ({})", p.2, p.1), "projectTypeKey": "software", "name": format!("{} ({})", p.2, p.1)},
                        })
                    })
                    .collect();
                let (list, start, max) = page(&all, q, 50);
                Reply::json(
                    200,
                    json!({"maxResults": max, "startAt": start, "total": all.len(), "isLast": start + max >= all.len(), "values": list}),
                )
            }
            ("GET", ["rest", "agile", "1.0", "board", id, "sprint"]) => {
                match BOARDS.iter().find(|b| b.0.to_string() == *id) {
                    None => {
                        return Some(err(
                            404,
                            &format!(
                            "Board {id} does not exist or you do not have permission to see it."
                        ),
                        ))
                    }
                    Some(b) if b.2 != "scrum" => {
                        return Some(err(400, "The board does not support sprints"))
                    }
                    Some(_) => {}
                }
                let states: Vec<&str> = q
                    .get("state")
                    .map(|s| s.split(',').collect())
                    .unwrap_or_default();
                let all: Vec<Value> = SPRINTS
                    .iter()
                    .filter(|s| states.is_empty() || states.contains(&s.2))
                    .map(|(sid, name, state, goal)| {
                        let mut s = json!({"id": sid, "self": format!("{base}/rest/agile/1.0/sprint/{sid}"), "state": state, "name": name, "originBoardId": 1, "goal": goal});
                        if *state != "future" {
                            s["startDate"] = json!(format!("2026-01-{:02}T09:00:00.000Z", 5 + 14 * (sid - 1)));
                            s["endDate"] = json!(format!("2026-01-{:02}T17:00:00.000Z", 18 + 14 * (sid - 1)));
                        }
                        if *state == "closed" {
                            s["completeDate"] = s["endDate"].clone();
                        }
                        s
                    })
                    .collect();
                let (list, start, max) = page(&all, q, 50);
                Reply::json(
                    200,
                    json!({"maxResults": max, "startAt": start, "total": all.len(), "isLast": start + max >= all.len(), "values": list}),
                )
            }
            ("GET", ["rest", "agile", "1.0", "sprint", id, "issue"]) => {
                if !SPRINTS.iter().any(|s| s.0.to_string() == *id) {
                    return Some(err(404, &format!("Sprint with id {id} does not exist or you do not have permission to see it.")));
                }
                let keys: Vec<String> = self
                    .depth
                    .sprint_issues
                    .iter()
                    .filter(|s| s.0.to_string() == *id)
                    .map(|s| s.1.clone())
                    .collect();
                self.agile_issues(server, &keys, q, base)
            }
            ("POST", ["rest", "agile", "1.0", "sprint", id, "issue"]) => {
                let Some(sprint) = SPRINTS.iter().find(|s| s.0.to_string() == *id) else {
                    return Some(err(404, &format!("Sprint with id {id} does not exist or you do not have permission to see it.")));
                };
                if sprint.2 == "closed" {
                    return Some(err(
                        400,
                        "Issues can only be moved to open or active sprints.",
                    ));
                }
                let wanted: Vec<String> = body
                    .and_then(|b| b["issues"].as_array())
                    .map(|l| {
                        l.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                if wanted.len() > 50 {
                    return Some(err(
                        400,
                        "The maximum number of issues that can be moved in one operation is 50.",
                    ));
                }
                let mut keys = Vec::new();
                for w in &wanted {
                    match issue_key(w) {
                        Some(k) => keys.push(k),
                        None => return Some(err(400, &format!("Issue '{w}' does not exist or you do not have permission to see it."))),
                    }
                }
                self.depth.sprint_issues.retain(|s| !keys.contains(&s.1));
                self.depth
                    .sprint_issues
                    .extend(keys.into_iter().map(|k| (sprint.0, k)));
                Reply::empty(204)
            }
            ("GET", ["rest", "agile", "1.0", "epic", key, "issue"]) => {
                let Some(key) = issue_key(key) else {
                    return Some(err(
                        404,
                        "Issue does not exist or you do not have permission to see it.",
                    ));
                };
                if key != EPIC.0 {
                    return Some(err(400, &format!("Issue {key} is not an epic.")));
                }
                let keys: Vec<String> = EPIC
                    .1
                    .iter()
                    .map(|k| (*k).to_owned())
                    .filter(|k| self.issues.iter().any(|i| &i.key == k))
                    .collect();
                self.agile_issues(server, &keys, q, base)
            }
            _ => return None,
        };
        Some(reply)
    }

    fn worklog_json(
        &self,
        server: bool,
        base: &str,
        w: &(u64, String, u64, String, Option<String>),
    ) -> Value {
        let (id, key, secs, started, comment) = w;
        let issue_id = self
            .issues
            .iter()
            .find(|i| &i.key == key)
            .map_or(0, |i| i.id);
        let v = if server { "2" } else { "3" };
        let mut out = json!({
            "self": format!("{base}/rest/api/{v}/issue/{issue_id}/worklog/{id}"), "id": id.to_string(), "issueId": issue_id.to_string(),
            "author": user_json(server, base, 0), "updateAuthor": user_json(server, base, 0),
            "created": if server { DC_CREATED } else { CREATED }, "updated": if server { DC_CREATED } else { CREATED },
            "started": started, "timeSpent": duration(*secs), "timeSpentSeconds": secs,
        });
        if let Some(c) = comment {
            out["comment"] = if server { json!(c) } else { adf(c) };
        }
        out
    }

    fn content_url(&self, server: bool, base: &str, id: u64, name: &str) -> String {
        if server {
            format!("{base}/secure/attachment/{id}/{name}")
        } else {
            format!("{base}/rest/api/3/attachment/content/{id}")
        }
    }

    /// A `SearchResults` page of the given issues (`jql` narrows them with the fake's JQL subset).
    fn agile_issues(&self, server: bool, keys: &[String], q: &Query, base: &str) -> Reply {
        let filters = match q.get("jql").map(jql_filter) {
            Some(Err(e)) => return err(400, &e),
            Some(Ok(f)) => f,
            None => Vec::new(),
        };
        let hits: Vec<&Issue> = keys
            .iter()
            .filter_map(|k| self.issues.iter().find(|i| &i.key == k))
            .filter(|i| filters.iter().all(|f| f(i)))
            .collect();
        let fields = q.get("fields");
        let all: Vec<Value> = hits
            .iter()
            .map(|i| {
                if server {
                    self.dc_issue_json(i, base, fields)
                } else {
                    self.jira_issue_json(i, base, fields)
                }
            })
            .collect();
        let (list, start, max) = page(&all, q, 50);
        Reply::json(
            200,
            json!({"expand": "schema,names", "startAt": start, "maxResults": max, "total": all.len(), "issues": list}),
        )
    }
}

/// The seeded history of an issue (DEMO-1 only): status and assignee changes.
fn changelog(server: bool, base: &str, key: &str) -> Vec<Value> {
    if key != "DEMO-1" {
        return Vec::new();
    }
    let created = if server { DC_CREATED } else { CREATED };
    let item = |field: &str, from: (&str, &str), to: (&str, &str)| {
        let mut i: Map<String, Value> = Map::new();
        i.insert("field".into(), json!(field));
        i.insert("fieldtype".into(), json!("jira"));
        i.insert("from".into(), json!(from.0));
        i.insert("fromString".into(), json!(from.1));
        i.insert("to".into(), json!(to.0));
        i.insert("toString".into(), json!(to.1));
        if !server {
            i.insert("fieldId".into(), json!(field));
        }
        Value::Object(i)
    };
    vec![
        json!({"id": "60001", "author": user_json(server, base, 1), "created": created, "items": [item("status", ("1", "Backlog"), ("11", "To Do"))]}),
        json!({"id": "60002", "author": user_json(server, base, 0), "created": created, "items": [item("assignee", ("", ""), (if server { USERS[0].1 } else { USERS[0].0 }, USERS[0].2))]}),
    ]
}
