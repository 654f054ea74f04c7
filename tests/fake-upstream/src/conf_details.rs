//! Confluence page details on both fakes: footer comments, labels, attachments, version history,
//! pages by title, a space's top-level pages, moving and deleting pages.
//!
//! Cloud shapes are those of tests/specs (checked both ways by the contract module): v2
//! `GET /pages/{id}/footer-comments` (`PageCommentModel`), `POST /footer-comments`
//! (`CreateFooterCommentModel` in, 201 `FooterCommentModel` out), `GET /pages/{id}/labels` (`Label`),
//! `GET /pages/{id}/attachments` (`AttachmentBulk`), `GET /pages/{id}/versions` (`PageVersion`),
//! `GET /pages?space-id&title` and `GET /spaces/{id}/pages?depth=root` (`PageBulk`),
//! `DELETE /pages/{id}` (204); v1 `POST /wiki/rest/api/content/{id}/label` (`LabelCreate` array in,
//! `LabelArray` out) and `PUT /wiki/rest/api/content/{pageId}/move/{position}/{targetId}` (`{pageId}`).
//!
//! Server/Data Center shapes follow Atlassian's Confluence Server/Data Center REST reference
//! (docs.atlassian.com/ConfluenceServer/rest/8.x; no OpenAPI document of it is stored here):
//! *content/{id}/child/comment* and *content/{id}/child/attachment* (`Content` of type comment /
//! attachment, attachment size and media type under `extensions`, download link under `_links`),
//! *content* POST of a comment (`container` is the page, a reply's parent in `ancestors`),
//! *content/{id}/label* GET and POST (`LabelArray`: `prefix`, `name`, `id`, `label`),
//! *content* GET by `spaceKey` and `title`, *content/{pageId}/move/{position}/{targetId}* PUT,
//! *content/{id}* DELETE (204, the page goes to the trash), *space/{spaceKey}/content/page*
//! (`depth=root`); and the version list `GET /rest/experimental/content/{id}/version` that
//! Atlassian's knowledge base article "How to retrieve all previous versions of content using the
//! REST API" names for Data Center (versions newest first: `by`, `when`, `message`, `number`,
//! `minorEdit`), answered as a `start`/`limit` page like every other list.

use axum::http::Method;
use serde_json::{json, Value};

use super::dc::conf_error;
use super::{decode_token, paged_v2, Data, Query, Reply, ISO, SPACES};

/// A footer comment of a page (a reply names its parent comment).
pub struct Comment {
    id: u64,
    page: u64,
    parent: Option<u64>,
    body: String,
}

/// The seeded attachments: (page, id, file name, media type, bytes).
const ATTACHMENTS: [(u64, &str, &str, &str, u64); 3] = [
    (98305, "att720897", "architecture.png", "image/png", 48213),
    (
        98305,
        "att720898",
        "runbook-index.pdf",
        "application/pdf",
        102400,
    ),
    (98306, "att720899", "restart.sh", "text/x-sh", 512),
];

/// Seeds the Confluence details: two comments and two labels on the home page.
pub fn seed(d: &mut Data) {
    d.conf_comments = vec![
        Comment {
            id: 294913,
            page: 98305,
            parent: None,
            body: "<p>Please link the <strong>on-call</strong> rota here.</p>".into(),
        },
        Comment {
            id: 294914,
            page: 98305,
            parent: None,
            body: "<p>Done, see Runbook 1.</p>".into(),
        },
    ];
    d.conf_labels = vec![(98305, "engineering".into()), (98305, "home".into())];
    d.next_comment_id = 300000;
}

/// A Cloud error: the documents declare these statuses without content (`content: {}`), so the
/// fake answers them without a body; the status is what a client can rely on.
fn v2_err(status: u16, _code: &str, _title: &str) -> Reply {
    Reply::empty(status)
}

/// A Cloud v1 error, declared without content like the v2 ones.
fn v1_err(status: u16, _message: String) -> Reply {
    Reply::empty(status)
}

fn label_id(page: u64, i: usize) -> String {
    format!("{}", 1_000_000 + page * 10 + i as u64)
}

impl Data {
    fn has_page(&self, id: &str) -> bool {
        self.pages.iter().any(|p| p.id.to_string() == id)
    }

    fn root_comments(&self, page: &str) -> Vec<&Comment> {
        self.conf_comments
            .iter()
            .filter(|c| c.page.to_string() == page && c.parent.is_none())
            .collect()
    }

    /// Adds a comment on `page`, or a reply to comment `parent`; `None` when either is missing.
    fn add_comment(
        &mut self,
        page: Option<&str>,
        parent: Option<&str>,
        body: &str,
    ) -> Option<usize> {
        let (page, parent) = match parent {
            Some(p) => {
                let c = self.conf_comments.iter().find(|c| c.id.to_string() == p)?;
                (c.page, Some(c.id))
            }
            None => {
                let page = page?;
                (
                    self.pages.iter().find(|p| p.id.to_string() == page)?.id,
                    None,
                )
            }
        };
        self.next_comment_id += 1;
        self.conf_comments.push(Comment {
            id: self.next_comment_id,
            page,
            parent,
            body: body.to_owned(),
        });
        Some(self.conf_comments.len() - 1)
    }

    fn labels_of(&self, page: &str) -> Vec<(usize, &str)> {
        self.conf_labels
            .iter()
            .filter(|(p, _)| p.to_string() == page)
            .enumerate()
            .map(|(i, (_, name))| (i, name.as_str()))
            .collect()
    }

    /// Adds the `LabelCreate` entries of `body` (an array or one object) to `page`, keeping those it has.
    fn add_labels(&mut self, page: &str, body: Option<&Value>) -> Result<(), String> {
        let entries: Vec<Value> = match body {
            Some(Value::Array(a)) => a.clone(),
            Some(o @ Value::Object(_)) => vec![o.clone()],
            _ => return Err("a label or an array of labels is required".into()),
        };
        let id: u64 = page.parse().map_err(|_| "bad page id".to_owned())?;
        for e in entries {
            let name = e["name"].as_str().unwrap_or("").to_lowercase();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(format!("Invalid label name: '{name}'"));
            }
            if !self.conf_labels.iter().any(|(p, n)| *p == id && *n == name) {
                self.conf_labels.push((id, name));
            }
        }
        Ok(())
    }

    /// Moves a page: `append` makes it the target's last child; `before`/`after` its sibling.
    fn move_page(&mut self, id: &str, position: &str, target: &str) -> Result<(), (u16, String)> {
        let not_found = |what: &str| (404, format!("No content found with id: {what}"));
        let idx = self.page_index(id).ok_or_else(|| not_found(id))?;
        let t = self.page_index(target).ok_or_else(|| not_found(target))?;
        // A page cannot move under or next to itself or its own descendants.
        let mut cursor = Some(self.pages[t].id);
        while let Some(c) = cursor {
            if c == self.pages[idx].id {
                return Err((
                    400,
                    "Cannot move a page relative to itself or its descendants".into(),
                ));
            }
            cursor = self
                .pages
                .iter()
                .find(|p| p.id == c)
                .and_then(|p| p.parent_id);
        }
        let (parent, space) = match position {
            "append" => (Some(self.pages[t].id), self.pages[t].space_id),
            "before" | "after" => (self.pages[t].parent_id, self.pages[t].space_id),
            other => return Err((400, format!("Invalid position: {other}"))),
        };
        let mut page = self.pages.remove(idx);
        page.parent_id = parent;
        page.space_id = space;
        let t = self.page_index(target).unwrap_or(self.pages.len());
        let at = match position {
            "before" => t,
            "after" => t + 1,
            _ => self.pages.len(),
        };
        self.pages.insert(at.min(self.pages.len()), page);
        Ok(())
    }

    /// Deletes (trashes) a page; its children move up to its parent, as Confluence does.
    fn delete_page(&mut self, id: &str) -> bool {
        let Some(idx) = self.page_index(id) else {
            return false;
        };
        let page = self.pages.remove(idx);
        for p in self
            .pages
            .iter_mut()
            .filter(|p| p.parent_id == Some(page.id))
        {
            p.parent_id = page.parent_id;
        }
        true
    }

    /// Version numbers of a page, newest first, with their change notes.
    fn versions_of(&self, id: &str) -> Option<Vec<(u64, &'static str)>> {
        let p = self.pages.iter().find(|p| p.id.to_string() == id)?;
        Some(
            (1..=p.version)
                .rev()
                .map(|n| (n, if n == 1 { "Created" } else { "" }))
                .collect(),
        )
    }

    fn space_key_of(id: &str) -> &'static str {
        SPACES
            .iter()
            .find(|s| s.0 == id)
            .map(|s| s.1)
            .unwrap_or("ENG")
    }
}

/// Answers a Confluence detail request of either deployment; `None`: not one of them.
#[allow(clippy::too_many_arguments)]
pub fn route(
    d: &mut Data,
    server: bool,
    method: &Method,
    segs: &[&str],
    q: &Query,
    body: Option<&Value>,
    base: &str,
) -> Option<Reply> {
    if server {
        dc(d, method, segs, q, body, base)
    } else {
        cloud(d, method, segs, q, body, base)
    }
}

fn cloud(
    d: &mut Data,
    method: &Method,
    segs: &[&str],
    q: &Query,
    body: Option<&Value>,
    base: &str,
) -> Option<Reply> {
    let limit = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(25usize)
        .clamp(1, 250);
    let start = q.get("cursor").and_then(decode_token).unwrap_or(0);
    let missing = || v2_err(404, "NOT_FOUND", "Page not found");
    let comment_json = |c: &Comment| {
        let mut v = json!({
            "id": c.id.to_string(), "status": "current", "title": "Re: comment", "pageId": c.page.to_string(),
            "version": {"number": 1, "message": "", "minorEdit": false, "authorId": "557058:f4e5", "createdAt": ISO},
            "body": {"storage": {"representation": "storage", "value": c.body}},
            "_links": {"webui": format!("/spaces/ENG/pages/{}?focusedCommentId={}", c.page, c.id)},
        });
        if let Some(p) = c.parent {
            v["parentCommentId"] = json!(p.to_string());
        }
        v
    };
    Some(match (method.as_str(), segs) {
        ("GET", ["wiki", "api", "v2", "pages", id, "footer-comments"]) => {
            if !d.has_page(id) {
                return Some(missing());
            }
            let all = d.root_comments(id).into_iter().map(|c| {
                let mut v = comment_json(c);
                v.as_object_mut().map(|o| o.remove("parentCommentId"));
                v
            });
            paged_v2(
                all.collect(),
                start,
                limit,
                &format!(
                    "/wiki/api/v2/pages/{id}/footer-comments?body-format=storage&limit={limit}"
                ),
            )
        }
        ("POST", ["wiki", "api", "v2", "footer-comments"]) => {
            let b = body.cloned().unwrap_or_default();
            let Some(value) = b["body"]["value"].as_str().filter(|v| !v.is_empty()) else {
                return Some(v2_err(
                    400,
                    "INVALID_REQUEST_PARAMETER",
                    "A comment body is required",
                ));
            };
            match d.add_comment(b["pageId"].as_str(), b["parentCommentId"].as_str(), value) {
                Some(i) => {
                    let mut v = comment_json(&d.conf_comments[i]);
                    v["_links"]["base"] = json!(format!("{base}/wiki"));
                    Reply::json(201, v)
                }
                None => v2_err(404, "NOT_FOUND", "The page or parent comment was not found"),
            }
        }
        ("GET", ["wiki", "api", "v2", "pages", id, "labels"]) => {
            if !d.has_page(id) {
                return Some(missing());
            }
            let page: u64 = id.parse().unwrap_or(0);
            let all = d
                .labels_of(id)
                .into_iter()
                .map(|(i, n)| json!({"id": label_id(page, i), "name": n, "prefix": "global"}))
                .collect();
            paged_v2(
                all,
                start,
                limit,
                &format!("/wiki/api/v2/pages/{id}/labels?limit={limit}"),
            )
        }
        ("POST", ["wiki", "rest", "api", "content", id, "label"]) => {
            if !d.has_page(id) {
                return Some(v1_err(404, format!("No content found with id: {id}")));
            }
            if let Err(e) = d.add_labels(id, body) {
                return Some(v1_err(400, e));
            }
            Reply::json(200, label_array(d, id))
        }
        ("GET", ["wiki", "api", "v2", "pages", id, "attachments"]) => {
            if !d.has_page(id) {
                return Some(missing());
            }
            let all = attachments(id, q)
                .map(|(page, att, name, media, size)| json!({
                    "id": att, "status": "current", "title": name, "createdAt": ISO, "pageId": page.to_string(),
                    "mediaType": media, "mediaTypeDescription": media, "comment": "", "fileId": format!("f-{att}"),
                    "fileSize": size,
                    "webuiLink": format!("/pages/viewpageattachments.action?pageId={page}&preview=/{page}/{att}/{name}"),
                    "downloadLink": format!("/download/attachments/{page}/{name}?version=1&api=v2"),
                    "version": {"number": 1, "message": "", "minorEdit": false, "authorId": "557058:f4e5", "createdAt": ISO},
                    "_links": {"download": format!("/download/attachments/{page}/{name}?version=1&api=v2"), "webui": format!("/pages/viewpageattachments.action?pageId={page}")},
                }))
                .collect();
            paged_v2(
                all,
                start,
                limit,
                &format!("/wiki/api/v2/pages/{id}/attachments?limit={limit}"),
            )
        }
        ("GET", ["wiki", "api", "v2", "pages", id, "versions"]) => {
            let Some(versions) = d.versions_of(id) else {
                return Some(missing());
            };
            let all = versions
                .into_iter()
                .map(|(n, m)| json!({"number": n, "message": m, "minorEdit": false, "authorId": "557058:f4e5", "createdAt": ISO}))
                .collect();
            paged_v2(
                all,
                start,
                limit,
                &format!("/wiki/api/v2/pages/{id}/versions?limit={limit}"),
            )
        }
        ("GET", ["wiki", "api", "v2", "pages"]) => {
            let spaces: Vec<&str> = q
                .get("space-id")
                .map(|s| s.split(',').collect())
                .unwrap_or_default();
            let title = q.get("title");
            let with_body = q.get("body-format") == Some("storage");
            let all = d
                .pages
                .iter()
                .filter(|p| spaces.is_empty() || spaces.contains(&p.space_id))
                .filter(|p| title.is_none_or(|t| t == p.title))
                .map(|p| d.page_json(p, base, with_body))
                .collect();
            paged_v2(
                all,
                start,
                limit,
                &format!("/wiki/api/v2/pages?limit={limit}"),
            )
        }
        ("GET", ["wiki", "api", "v2", "spaces", id, "pages"]) => {
            if !SPACES.iter().any(|s| s.0 == *id) {
                return Some(v2_err(404, "NOT_FOUND", "Space not found"));
            }
            let root = q.get("depth") == Some("root");
            let all = d
                .pages
                .iter()
                .filter(|p| p.space_id == *id && (!root || p.parent_id.is_none()))
                .map(|p| d.page_json(p, base, false))
                .collect();
            let depth = if root { "&depth=root" } else { "" };
            paged_v2(
                all,
                start,
                limit,
                &format!("/wiki/api/v2/spaces/{id}/pages?limit={limit}{depth}"),
            )
        }
        ("PUT", ["wiki", "rest", "api", "content", id, "move", position, target]) => {
            match d.move_page(id, position, target) {
                Ok(()) => Reply::json(200, json!({"pageId": id})),
                Err((status, message)) => v1_err(status, message),
            }
        }
        ("DELETE", ["wiki", "api", "v2", "pages", id]) => {
            if d.delete_page(id) {
                Reply::empty(204)
            } else {
                missing()
            }
        }
        _ => return None,
    })
}

/// The seeded attachments of `page` that pass the `filename` and `mediaType` filters.
fn attachments<'a>(
    page: &'a str,
    q: &'a Query,
) -> impl Iterator<Item = (u64, &'static str, &'static str, &'static str, u64)> + 'a {
    ATTACHMENTS
        .into_iter()
        .filter(move |(p, _, name, media, _)| {
            p.to_string() == page
                && q.get("filename").is_none_or(|f| f == *name)
                && q.get("mediaType").is_none_or(|m| m == *media)
        })
}

/// A `LabelArray` of the page's labels (v1 on Cloud, the same on Server/Data Center).
fn label_array(d: &Data, page: &str) -> Value {
    let id: u64 = page.parse().unwrap_or(0);
    let results: Vec<Value> = d
        .labels_of(page)
        .into_iter()
        .map(|(i, n)| json!({"prefix": "global", "name": n, "id": label_id(id, i), "label": n}))
        .collect();
    json!({"results": results, "start": 0, "limit": 200, "size": results.len(), "_links": {}})
}

fn dc(
    d: &mut Data,
    method: &Method,
    segs: &[&str],
    q: &Query,
    body: Option<&Value>,
    base: &str,
) -> Option<Reply> {
    let start: usize = q.get("start").and_then(|s| s.parse().ok()).unwrap_or(0);
    let limit: usize = q
        .get("limit")
        .and_then(|s| s.parse().ok())
        .unwrap_or(25usize)
        .clamp(1, 200);
    let paged = |all: Vec<Value>, path: &str, extra: &str| {
        let results: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
        let mut links = json!({"base": base, "context": "", "self": format!("{base}{path}")});
        if start + limit < all.len() {
            links["next"] = json!(format!(
                "{path}?start={}&limit={limit}{extra}",
                start + limit
            ));
        }
        Reply::json(
            200,
            json!({"results": results, "start": start, "limit": limit, "size": results.len(), "_links": links}),
        )
    };
    let missing = |id: &str| {
        conf_error(
            404,
            "Not Found",
            format!("No content found with id: ContentId{{id={id}}}"),
        )
    };
    let by = json!({"type": "known", "username": "ada", "userKey": "8a7f808a", "displayName": "Ada Lovelace"});
    let comment_json = |c: &Comment| {
        let mut v = json!({
            "id": c.id.to_string(), "type": "comment", "status": "current", "title": "Re: comment",
            "extensions": {"location": "footer"},
            "body": {"storage": {"value": c.body, "representation": "storage"}},
            "version": {"by": by, "when": "2026-01-05T10:00:00.000Z", "message": "", "number": 1, "minorEdit": false},
            "_links": {"webui": format!("/pages/viewpage.action?pageId={}&focusedCommentId={}#comment-{}", c.page, c.id, c.id), "self": format!("{base}/rest/api/content/{}", c.id)},
        });
        if let Some(p) = c.parent {
            v["ancestors"] = json!([{"id": p.to_string(), "type": "comment"}]);
        }
        v
    };
    Some(match (method.as_str(), segs) {
        ("GET", ["rest", "api", "content", id, "child", "comment"]) => {
            if !d.has_page(id) {
                return Some(missing(id));
            }
            let all = d.root_comments(id).into_iter().map(comment_json).collect();
            let expand = q
                .get("expand")
                .map(|e| format!("&expand={}", super::encode(e)))
                .unwrap_or_default();
            paged(
                all,
                &format!("/rest/api/content/{id}/child/comment"),
                &expand,
            )
        }
        ("POST", ["rest", "api", "content"]) if body.is_some_and(|b| b["type"] == "comment") => {
            let b = body.cloned().unwrap_or_default();
            let Some(value) = b["body"]["storage"]["value"]
                .as_str()
                .filter(|v| !v.is_empty())
            else {
                return Some(conf_error(
                    400,
                    "Bad Request",
                    "body.storage is required".into(),
                ));
            };
            let page = b["container"]["id"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| b["container"]["id"].as_u64().map(|n| n.to_string()));
            let parent = b["ancestors"][0]["id"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| b["ancestors"][0]["id"].as_u64().map(|n| n.to_string()));
            if page.is_none() {
                return Some(conf_error(
                    400,
                    "Bad Request",
                    "A comment needs a container".into(),
                ));
            }
            match d.add_comment(page.as_deref(), parent.as_deref(), value) {
                Some(i) => Reply::json(200, comment_json(&d.conf_comments[i])),
                None => missing(page.as_deref().unwrap_or("")),
            }
        }
        ("GET", ["rest", "api", "content", id, "label"]) => {
            if !d.has_page(id) {
                return Some(missing(id));
            }
            let page: u64 = id.parse().unwrap_or(0);
            let all = d
                .labels_of(id)
                .into_iter()
                .map(|(i, n)| json!({"prefix": "global", "name": n, "id": label_id(page, i), "label": n}))
                .collect();
            paged(all, &format!("/rest/api/content/{id}/label"), "")
        }
        ("POST", ["rest", "api", "content", id, "label"]) => {
            if !d.has_page(id) {
                return Some(missing(id));
            }
            if let Err(e) = d.add_labels(id, body) {
                return Some(conf_error(400, "Bad Request", e));
            }
            Reply::json(200, label_array(d, id))
        }
        ("GET", ["rest", "api", "content", id, "child", "attachment"]) => {
            if !d.has_page(id) {
                return Some(missing(id));
            }
            let all = attachments(id, q)
                .map(|(page, att, name, media, size)| json!({
                    "id": att, "type": "attachment", "status": "current", "title": name,
                    "metadata": {"mediaType": media, "comment": ""},
                    "extensions": {"mediaType": media, "fileSize": size, "comment": ""},
                    "version": {"by": by, "when": "2026-01-05T10:00:00.000Z", "message": "", "number": 1, "minorEdit": false},
                    "_links": {
                        "webui": format!("/pages/viewpageattachments.action?pageId={page}&preview=%2F{page}%2F{att}%2F{name}"),
                        "download": format!("/download/attachments/{page}/{name}?version=1&modificationDate=1767607200000&api=v2"),
                        "self": format!("{base}/rest/api/content/{att}"),
                    },
                }))
                .collect();
            paged(all, &format!("/rest/api/content/{id}/child/attachment"), "")
        }
        ("GET", ["rest", "experimental", "content", id, "version"]) => {
            let Some(versions) = d.versions_of(id) else {
                return Some(missing(id));
            };
            let all = versions
                .into_iter()
                .map(|(n, m)| json!({"by": by, "when": "2026-01-05T10:00:00.000Z", "message": m, "number": n, "minorEdit": false, "_links": {"self": format!("{base}/rest/experimental/content/{id}/version/{n}")}}))
                .collect();
            paged(all, &format!("/rest/experimental/content/{id}/version"), "")
        }
        ("GET", ["rest", "api", "content"]) => {
            let key = q.get("spaceKey");
            let title = q.get("title");
            let expand = q.get("expand").unwrap_or("").to_owned();
            let all = d
                .pages
                .iter()
                .filter(|p| key.is_none_or(|k| Data::space_key_of(p.space_id) == k))
                .filter(|p| title.is_none_or(|t| t == p.title))
                .map(|p| d.dc_content(p, base, &expand))
                .collect();
            paged(all, "/rest/api/content", "")
        }
        ("GET", ["rest", "api", "space", key, "content", "page"]) => {
            let Some(space) = SPACES.iter().find(|s| s.1 == *key) else {
                return Some(conf_error(
                    404,
                    "Not Found",
                    format!("No space with key : {key}"),
                ));
            };
            let root = q.get("depth") == Some("root");
            let all = d
                .pages
                .iter()
                .filter(|p| p.space_id == space.0 && (!root || p.parent_id.is_none()))
                .map(|p| d.dc_content(p, base, ""))
                .collect();
            let depth = if root { "&depth=root" } else { "" };
            paged(all, &format!("/rest/api/space/{key}/content/page"), depth)
        }
        ("PUT", ["rest", "api", "content", id, "move", position, target]) => {
            match d.move_page(id, position, target) {
                Ok(()) => Reply::json(200, json!({"pageId": id})),
                Err((404, message)) => conf_error(404, "Not Found", message),
                Err((status, message)) => conf_error(status, "Bad Request", message),
            }
        }
        ("DELETE", ["rest", "api", "content", id]) => {
            if d.delete_page(id) {
                Reply::empty(204)
            } else {
                missing(id)
            }
        }
        _ => return None,
    })
}
