//! Server/Data Center modes of the Jira and Confluence fakes (`--deployment server`), and the two
//! detection endpoints the Cloud fakes also answer.
//!
//! Shapes follow Atlassian's published Server/Data Center REST references (see tests/specs/README.md):
//! Jira platform REST v2 (Jira 9.x/10.x: `serverInfo`, `search` with `startAt`/`total`, `issue`,
//! `comment`, `transitions`, `project`), where rich-text fields are wiki-markup strings; and
//! Confluence Server REST (`/rest/api/content`, `/rest/api/content/search`, `/rest/api/space`,
//! `/rest/api/content/{id}/child/page`), paged by `start`/`limit` with `_links.next`, numeric
//! space ids and no `/wiki` prefix. Cloud-only paths (`/rest/api/3/...`, `/wiki/...`) answer 404
//! here, as a Server/Data Center instance does.

use axum::http::Method;
use serde_json::{json, Value};

use super::{
    cql_filter, jql_filter, pick_fields, status_and_project, version_conflict, Data, Issue, Page,
    Query, Reply, PROJECTS, SPACES, STATUSES,
};

/// Jira Server timestamps (ISO 8601 with a `+0000` offset, as the v2 API writes them).
const DC_CREATED: &str = "2026-01-05T10:00:00.000+0000";

/// Answers the deployment probes (Cloud mode) or a whole Server/Data Center request (server mode).
/// `None`: not handled here, the Cloud routes answer.
#[allow(clippy::too_many_arguments)]
pub fn route(
    data: &mut Data,
    server: bool,
    service: &str,
    method: &Method,
    segs: &[&str],
    q: &Query,
    body: Option<&Value>,
    base: &str,
) -> Option<Reply> {
    match (server, service) {
        (false, "jira") => match (method.as_str(), segs) {
            // Jira Cloud REST v3 (and v2) `serverInfo` (ServerInformation): `deploymentType` "Cloud"; RFC 3339
            // times, as the document's `date-time` format requires.
            ("GET", ["rest", "api", "2" | "3", "serverInfo"]) => Some(Reply::json(
                200,
                json!({
                    "baseUrl": base, "version": "1001.0.0-SNAPSHOT", "versionNumbers": [1001, 0, 0],
                    "deploymentType": "Cloud", "buildNumber": 100275, "buildDate": "2026-01-05T00:00:00.000+00:00",
                    "serverTime": "2026-01-05T10:00:00.000+00:00", "scmInfo": "0e48a54a6b6e1b4a5b0c0b5f0e1c2d3e4f5a6b7c",
                    "serverTitle": "Jira",
                }),
            )),
            _ => None,
        },
        (false, "confluence") => match (method.as_str(), segs) {
            // Confluence Cloud v1 `settings/systemInfo` (SystemInfoEntity), Cloud only.
            ("GET", ["wiki", "rest", "api", "settings", "systemInfo"]) => Some(Reply::json(
                200,
                json!({
                    "cloudId": "1a2b3c4d-0000-4000-8000-000000000001", "commitHash": "5c4b3a2f",
                    "baseUrl": format!("{base}/wiki"), "edition": "standard", "siteTitle": "Confluence",
                    "defaultLocale": "en_US", "defaultTimeZone": "UTC",
                }),
            )),
            _ => None,
        },
        (true, "jira") => Some(data.jira_dc(method, segs, q, body, base)),
        (true, "confluence") => Some(data.confluence_dc(method, segs, q, body, base)),
        _ => None,
    }
}

/// The text of an ADF document (seeded Cloud descriptions), or a wiki-markup string as it is.
fn wiki_text(v: &Value) -> Value {
    fn walk(v: &Value, out: &mut String) {
        if let Some(t) = v["text"].as_str() {
            out.push_str(t);
        }
        for c in v["content"].as_array().into_iter().flatten() {
            walk(c, out);
        }
    }
    match v {
        Value::String(_) => v.clone(),
        Value::Null => Value::Null,
        other => {
            let mut s = String::new();
            walk(other, &mut s);
            json!(s)
        }
    }
}

pub(super) fn user(base: &str, name: &str, display: &str) -> Value {
    json!({
        "self": format!("{base}/rest/api/2/user?username={name}"), "name": name, "key": format!("JIRAUSER{}", name.len() * 1000),
        "emailAddress": format!("{name}@example.com"), "displayName": display, "active": true, "timeZone": "UTC",
    })
}

fn jira_error(status: u16, field: Option<(&str, &str)>, message: Option<&str>) -> Reply {
    let errors = match field {
        Some((k, v)) => json!({ k: v }),
        None => json!({}),
    };
    let messages: Vec<&str> = message.into_iter().collect();
    Reply::json(status, json!({"errorMessages": messages, "errors": errors}))
}

/// Confluence Server error body (`statusCode`, `data`, `message`, `reason`).
pub(super) fn conf_error(status: u16, reason: &str, message: String) -> Reply {
    Reply::json(
        status,
        json!({
            "statusCode": status,
            "data": {"authorized": status != 403, "valid": true, "errors": [], "successful": false},
            "message": message,
            "reason": reason,
        }),
    )
}

impl Data {
    pub(super) fn dc_issue_json(&self, i: &Issue, base: &str, fields: Option<&str>) -> Value {
        let (cat, project) = status_and_project(i);
        let all = json!({
            "summary": i.summary,
            "status": {"self": format!("{base}/rest/api/2/status/{cat}"), "description": "", "iconUrl": format!("{base}/images/icons/statuses/open.png"), "name": i.status, "id": cat,
                       "statusCategory": {"self": format!("{base}/rest/api/2/statuscategory/2"), "id": 2, "key": "new", "colorName": "default", "name": "To Do"}},
            "issuetype": {"self": format!("{base}/rest/api/2/issuetype/10002"), "id": "10002", "description": "A task that needs to be done.", "name": "Task", "subtask": false},
            "priority": {"self": format!("{base}/rest/api/2/priority/3"), "name": "Medium", "id": "3"},
            "assignee": user(base, "ada", "Ada Lovelace"),
            "reporter": user(base, "grace", "Grace Hopper"),
            "labels": i.labels,
            "created": DC_CREATED,
            "updated": DC_CREATED,
            "project": {"self": format!("{base}/rest/api/2/project/{}", project.0), "id": project.0, "key": project.1, "name": project.2, "projectTypeKey": "software"},
            "customfield_10010": 3,
            "description": wiki_text(i.description.as_ref().unwrap_or(&Value::Null)),
        });
        let f = pick_fields(all, fields);
        json!({"expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations", "id": i.id.to_string(), "self": format!("{base}/rest/api/2/issue/{}", i.id), "key": i.key, "fields": f})
    }

    /// Jira Server/Data Center platform REST v2.
    pub(super) fn jira_dc(
        &mut self,
        method: &Method,
        segs: &[&str],
        q: &Query,
        body: Option<&Value>,
        base: &str,
    ) -> Reply {
        let not_found = || jira_error(404, None, Some("Issue Does Not Exist"));
        match (method.as_str(), segs) {
            ("GET", ["rest", "api", "2", "serverInfo"]) => Reply::json(
                200,
                json!({
                    "baseUrl": base, "version": "9.12.2", "versionNumbers": [9, 12, 2], "deploymentType": "Server",
                    "buildNumber": 9120002, "buildDate": "2023-12-05T00:00:00.000+0000", "serverTime": DC_CREATED,
                    "scmInfo": "4a9b0b9d7c1f2e3d4c5b6a798877665544332211", "serverTitle": "Jira",
                }),
            ),
            ("GET", ["rest", "api", "2", "search"]) => {
                let Some(jql) = q.get("jql") else {
                    return jira_error(400, None, Some("The 'jql' parameter is required."));
                };
                let matches = match jql_filter(jql) {
                    Ok(f) => f,
                    Err(e) => return jira_error(400, None, Some(&e)),
                };
                let hits = self.search_hits(jql, &matches);
                let max = q
                    .get("maxResults")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(50usize)
                    .min(1000);
                let start = q
                    .get("startAt")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(0usize);
                let page: Vec<Value> = hits
                    .iter()
                    .skip(start)
                    .take(max)
                    .map(|i| self.dc_issue_json(i, base, q.get("fields")))
                    .collect();
                Reply::json(
                    200,
                    json!({"expand": "schema,names", "startAt": start, "maxResults": max, "total": hits.len(), "issues": page}),
                )
            }
            ("GET", ["rest", "api", "2", "issue", key]) => {
                let k = key.to_ascii_uppercase();
                match self
                    .issues
                    .iter()
                    .find(|i| i.key == k || i.id.to_string() == *key)
                {
                    Some(i) => Reply::json(200, self.dc_issue_json(i, base, q.get("fields"))),
                    None => not_found(),
                }
            }
            ("POST", ["rest", "api", "2", "issue"]) => {
                let f = &body.cloned().unwrap_or_default()["fields"];
                // REST v2 takes wiki-markup strings; an ADF object is refused like this.
                if !f["description"].is_null() && !f["description"].is_string() {
                    return jira_error(
                        400,
                        Some(("description", "Operation value must be a string")),
                        None,
                    );
                }
                let Some(summary) = f["summary"].as_str().filter(|s| !s.is_empty()) else {
                    return jira_error(400, Some(("summary", "You must specify a summary of the issue.")), None);
                };
                let Some(project) = f["project"]["key"]
                    .as_str()
                    .and_then(|k| PROJECTS.iter().find(|p| p.1 == k))
                else {
                    return jira_error(400, Some(("project", "project is required")), None);
                };
                let n = self.issues.iter().filter(|i| i.project == project.1).count() + 1;
                self.next_issue_id += 1;
                let id = self.next_issue_id;
                let key = format!("{}-{n}", project.1);
                self.issues.push(Issue {
                    id,
                    key: key.clone(),
                    project: project.1,
                    summary: summary.to_owned(),
                    description: f.get("description").filter(|d| d.is_string()).cloned(),
                    labels: f["labels"]
                        .as_array()
                        .map(|l| l.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                        .unwrap_or_default(),
                    status: "To Do",
                    comments: Vec::new(),
                });
                Reply::json(
                    201,
                    json!({"id": id.to_string(), "key": key, "self": format!("{base}/rest/api/2/issue/{id}")}),
                )
            }
            ("PUT", ["rest", "api", "2", "issue", key]) => {
                let f = body.cloned().unwrap_or_default()["fields"].clone();
                if !f["description"].is_null() && !f["description"].is_string() {
                    return jira_error(
                        400,
                        Some(("description", "Operation value must be a string")),
                        None,
                    );
                }
                let Some(i) = self.find_issue(key) else {
                    return not_found();
                };
                if let Some(s) = f["summary"].as_str() {
                    i.summary = s.to_owned();
                }
                if f["description"].is_string() {
                    i.description = Some(f["description"].clone());
                }
                if let Some(l) = f["labels"].as_array() {
                    i.labels = l.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect();
                }
                Reply::empty(204)
            }
            // "Get comments" (Jira DC reference, *issue/{issueIdOrKey}/comment* GET): `startAt`,
            // `maxResults` and `orderBy` (`created` or `-created`) in the query; a page with
            // `startAt`, `maxResults`, `total` and `comments` whose bodies are wiki markup.
            ("GET", ["rest", "api", "2", "issue", key, "comment"]) => {
                let start: usize = q.get("startAt").and_then(|v| v.parse().ok()).unwrap_or(0);
                let newest_first = match q.get("orderBy") {
                    None | Some("created" | "+created") => false,
                    Some("-created") => true,
                    Some(other) => {
                        return jira_error(
                            400,
                            None,
                            Some(&format!("Invalid orderBy value '{other}'")),
                        )
                    }
                };
                let Some(i) = self.find_issue(key) else {
                    return not_found();
                };
                let mut all = i.comments.clone();
                if newest_first {
                    all.reverse();
                }
                let total = all.len();
                let max: usize = q
                    .get("maxResults")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(total.max(1));
                let page: Vec<Value> = all.into_iter().skip(start).take(max).collect();
                Reply::json(
                    200,
                    json!({"startAt": start, "maxResults": max, "total": total, "comments": page}),
                )
            }
            ("POST", ["rest", "api", "2", "issue", key, "comment"]) => {
                let b = body.cloned().unwrap_or_default();
                let Some(text) = b["body"].as_str().filter(|t| !t.trim().is_empty()) else {
                    return jira_error(400, Some(("comment", "Comment body can not be empty!")), None);
                };
                self.next_comment_id += 1;
                let id = self.next_comment_id;
                let Some(i) = self.find_issue(key) else {
                    return not_found();
                };
                let issue_id = i.id;
                let c = json!({
                    "self": format!("{base}/rest/api/2/issue/{issue_id}/comment/{id}"),
                    "id": id.to_string(),
                    "author": user(base, "ada", "Ada Lovelace"),
                    "body": text,
                    "updateAuthor": user(base, "ada", "Ada Lovelace"),
                    "created": DC_CREATED,
                    "updated": DC_CREATED,
                });
                i.comments.push(c.clone());
                Reply::json(201, c)
            }
            ("GET", ["rest", "api", "2", "issue", key, "transitions"]) => {
                if self.find_issue(key).is_none() {
                    return not_found();
                }
                let list: Vec<Value> = STATUSES
                    .iter()
                    .map(|(id, name, cat)| json!({
                        "id": id, "name": name, "opsbarSequence": 10,
                        "to": {"self": format!("{base}/rest/api/2/status/{cat}"), "description": "", "iconUrl": format!("{base}/images/icons/statuses/generic.png"), "name": name, "id": cat},
                    }))
                    .collect();
                Reply::json(200, json!({"expand": "transitions", "transitions": list}))
            }
            ("POST", ["rest", "api", "2", "issue", key, "transitions"]) => {
                let b = body.cloned().unwrap_or_default();
                if let Some(adds) = b["update"]["comment"].as_array() {
                    if adds.iter().any(|a| !a["add"]["body"].is_string()) {
                        return jira_error(400, Some(("comment", "Operation value must be a string")), None);
                    }
                }
                let id = b["transition"]["id"].as_str().unwrap_or("").to_owned();
                let Some(status) = STATUSES.iter().find(|s| s.0 == id) else {
                    return jira_error(
                        400,
                        None,
                        Some(&format!("Transition id '{id}' is not valid for this issue.")),
                    );
                };
                let Some(i) = self.find_issue(key) else {
                    return not_found();
                };
                i.status = status.1;
                Reply::empty(204)
            }
            ("GET", ["rest", "api", "2", "project"]) => Reply::json(
                200,
                json!(PROJECTS
                    .iter()
                    .map(|(id, key, name)| json!({
                        "expand": "description,lead,url,projectKeys", "self": format!("{base}/rest/api/2/project/{id}"),
                        "id": id, "key": key, "name": name,
                        "avatarUrls": {"48x48": format!("{base}/secure/projectavatar?avatarId=10324")},
                        "projectTypeKey": "software", "archived": false,
                    }))
                    .collect::<Vec<_>>()),
            ),
            // Jersey's answer for a resource Jira Server/Data Center does not have (e.g. REST v3).
            _ => Reply::empty(404),
        }
    }

    fn space_json(&self, id: &str, key: &str, name: &str, base: &str) -> Value {
        json!({
            "id": id.parse::<u64>().unwrap_or(0), "key": key, "name": name, "type": "global",
            "_links": {"webui": format!("/display/{key}"), "self": format!("{base}/rest/api/space/{key}")},
            "_expandable": {"metadata": "", "icon": "", "description": "", "homepage": format!("/rest/api/content/{}", if key == "ENG" { "98305" } else { "131073" })},
        })
    }

    /// A Confluence Server `Content` object; `expand` lists what is expanded (body.storage,
    /// version, space, ancestors).
    pub(super) fn dc_content(&self, p: &Page, base: &str, expand: &str) -> Value {
        let space = SPACES
            .iter()
            .find(|s| s.0 == p.space_id)
            .copied()
            .unwrap_or(SPACES[0]);
        let has = |what: &str| expand.split(',').any(|e| e.trim() == what);
        let mut v = json!({
            "id": p.id.to_string(), "type": "page", "status": "current", "title": p.title,
            "extensions": {"position": "none"},
            "_links": {
                "webui": format!("/display/{}/{}", space.1, p.title.replace(' ', "+")),
                "edit": format!("/pages/resumedraft.action?draftId={}", p.id),
                "tinyui": format!("/x/{}", p.id),
                "self": format!("{base}/rest/api/content/{}", p.id),
            },
            "_expandable": {"container": format!("/rest/api/space/{}", space.1), "children": format!("/rest/api/content/{}/child", p.id)},
        });
        if has("version") {
            v["version"] = json!({"by": {"type": "known", "username": "ada", "userKey": "8a7f808a", "displayName": "Ada Lovelace"}, "when": "2026-01-05T10:00:00.000Z", "message": "", "number": p.version, "minorEdit": false});
        }
        if has("space") {
            v["space"] = self.space_json(space.0, space.1, space.2, base);
        }
        if has("body.storage") {
            v["body"] = json!({"storage": {"value": p.body, "representation": "storage"}});
        }
        if has("ancestors") {
            let mut chain = Vec::new();
            let mut parent = p.parent_id;
            while let Some(id) = parent {
                let Some(a) = self.pages.iter().find(|x| x.id == id) else {
                    break;
                };
                chain.insert(0, self.dc_content(a, base, ""));
                parent = a.parent_id;
            }
            v["ancestors"] = json!(chain);
        }
        v
    }

    /// Confluence Server/Data Center REST (`/rest/api`), paged by `start`/`limit`.
    fn confluence_dc(
        &mut self,
        method: &Method,
        segs: &[&str],
        q: &Query,
        body: Option<&Value>,
        base: &str,
    ) -> Reply {
        let start: usize = q.get("start").and_then(|s| s.parse().ok()).unwrap_or(0);
        let limit: usize = q
            .get("limit")
            .and_then(|s| s.parse().ok())
            .unwrap_or(25usize)
            .clamp(1, 200);
        let expand = q.get("expand").unwrap_or("").to_owned();
        let paged = |all: Vec<Value>, path: &str, extra: &str| {
            let results: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
            let mut links = json!({"base": base, "context": "", "self": format!("{base}{path}")});
            if start + limit < all.len() {
                links["next"] = json!(format!(
                    "{path}?start={}&limit={limit}{extra}",
                    start + limit
                ));
            }
            json!({"results": results, "start": start, "limit": limit, "size": results.len(), "_links": links})
        };
        match (method.as_str(), segs) {
            ("GET", ["rest", "api", "content", "search"]) => {
                let Some(cql) = q.get("cql") else {
                    return conf_error(400, "Bad Request", "cql is required".into());
                };
                let filter = match cql_filter(cql) {
                    Ok(f) => f,
                    Err(e) => return conf_error(400, "Bad Request", e),
                };
                let all: Vec<Value> = self
                    .pages
                    .iter()
                    .filter(|p| filter.iter().all(|f| f(p)))
                    .map(|p| self.dc_content(p, base, &expand))
                    .collect();
                let mut out = paged(
                    all,
                    "/rest/api/content/search",
                    &format!("&cql={}", super::encode(cql)),
                );
                out["cqlQuery"] = json!(cql);
                out["searchDuration"] = json!(4);
                Reply::json(200, out)
            }
            ("GET", ["rest", "api", "content", id]) => {
                match self.pages.iter().find(|p| p.id.to_string() == *id) {
                    Some(p) => Reply::json(200, self.dc_content(p, base, &expand)),
                    None => conf_error(
                        404,
                        "Not Found",
                        format!("No content found with id: ContentId{{id={id}}}"),
                    ),
                }
            }
            ("GET", ["rest", "api", "content", id, "child", "page"]) => {
                let Ok(parent) = id.parse::<u64>() else {
                    return conf_error(404, "Not Found", format!("No content found with id: {id}"));
                };
                if !self.pages.iter().any(|p| p.id == parent) {
                    return conf_error(
                        404,
                        "Not Found",
                        format!("No content found with id: ContentId{{id={id}}}"),
                    );
                }
                let all: Vec<Value> = self
                    .pages
                    .iter()
                    .filter(|p| p.parent_id == Some(parent))
                    .map(|p| self.dc_content(p, base, &expand))
                    .collect();
                let extra = if expand.is_empty() {
                    String::new()
                } else {
                    format!("&expand={expand}")
                };
                Reply::json(
                    200,
                    paged(all, &format!("/rest/api/content/{id}/child/page"), &extra),
                )
            }
            ("POST", ["rest", "api", "content"]) => {
                let b = body.cloned().unwrap_or_default();
                if b["type"] != "page" {
                    return conf_error(400, "Bad Request", "Content type is required".into());
                }
                let Some(space) = b["space"]["key"]
                    .as_str()
                    .and_then(|k| SPACES.iter().find(|s| s.1 == k))
                else {
                    return conf_error(
                        400,
                        "Bad Request",
                        "Could not create content with type page: a space key is required".into(),
                    );
                };
                let Some(value) = b["body"]["storage"]["value"].as_str() else {
                    return conf_error(400, "Bad Request", "body.storage is required".into());
                };
                let title = b["title"].as_str().unwrap_or("").to_owned();
                if title.is_empty()
                    || self
                        .pages
                        .iter()
                        .any(|p| p.space_id == space.0 && p.title == title)
                {
                    return conf_error(400, "Bad Request", format!("A page with this title already exists: A page already exists with the title {title} in the space with key {}", space.1));
                }
                let parent = b["ancestors"][0]["id"]
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| b["ancestors"][0]["id"].as_u64().map(|n| n.to_string()))
                    .and_then(|p| p.parse().ok());
                self.next_page_id += 1;
                let page = Page {
                    id: self.next_page_id,
                    title,
                    space_id: space.0,
                    parent_id: parent,
                    version: 1,
                    body: value.to_owned(),
                };
                let v = self.dc_content(&page, base, "body.storage,version,space,ancestors");
                self.pages.push(page);
                Reply::json(200, v)
            }
            ("PUT", ["rest", "api", "content", id]) => {
                let b = body.cloned().unwrap_or_default();
                let Some(idx) = self.page_index(id) else {
                    return conf_error(
                        404,
                        "Not Found",
                        format!("No content found with id: ContentId{{id={id}}}"),
                    );
                };
                if b["type"] != "page" || b["title"].as_str().is_none_or(str::is_empty) {
                    return conf_error(
                        400,
                        "Bad Request",
                        "type and title are required to update content".into(),
                    );
                }
                let update = (b["title"].as_str(), b["body"]["storage"]["value"].as_str());
                match self.update_page(idx, &b["version"]["number"], update) {
                    Ok(()) => Reply::json(
                        200,
                        self.dc_content(
                            &self.pages[idx],
                            base,
                            "body.storage,version,space,ancestors",
                        ),
                    ),
                    Err(current) => conf_error(409, "Conflict", version_conflict(current)),
                }
            }
            ("GET", ["rest", "api", "space"]) => {
                let all: Vec<Value> = SPACES
                    .iter()
                    .map(|(id, key, name)| self.space_json(id, key, name, base))
                    .collect();
                Reply::json(200, paged(all, "/rest/api/space", ""))
            }
            _ => Reply::empty(404),
        }
    }
}
