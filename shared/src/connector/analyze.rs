//! `analyze_and_fix_issue` (seed 000's tool) without a server-held model key, and the
//! `analyze_issue` prompt.
//!
//! The tool gathers a bounded context — the Jira issue, its latest comments, the GitLab branches,
//! merge requests and commits that mention the key, and excerpts (at the base ref) of the files
//! those merge requests and commits touch — and builds one prompt from it ([`build_prompt`], pure).
//! A client that declared `sampling` is asked through `sampling/createMessage` for an analysis and
//! a proposed change in the [`ANSWER_FORMAT`]; with `apply: true` the change becomes a branch, a
//! commit (GitLab commits API), a merge request and a Jira comment linking it. A client without
//! sampling gets the context and the ready prompt (also offered as `prompts/get analyze_issue`).
//!
//! How the client is asked depends on the era. 2025 sessions: the gateway sends the request on the
//! session's GET stream and waits (see [`crate::sampling`]). 2026-07-28 (stateless): the tool answers
//! `input_required` carrying the `sampling/createMessage` request and a SHA-256 of it as state
//! (sealed into the signed `requestState` by [`crate::mrtr`]); the retry gathers the context again
//! and accepts the client's answer only if the request it would send now is the one the model saw,
//! else it asks again (a new round, bounded by [`crate::mrtr::MAX_ROUNDS`]). Nothing is stored between
//! rounds, so any instance holding the fingerprint key finishes the call.

use std::collections::BTreeMap;

use http::Method;
use serde_json::{json, Value};

use super::gitlab::{self, project_ref};
use super::schema::{self, object};
use super::{cross, encode, jira, output_handler, query, Args, ConnectorTool};
use crate::credential::Service;
use crate::port::BoxFuture;
use crate::sampling::{create_message_params, sampled_text, ClientRequestError};
use crate::tool::{
    InputRound, Prompt, PromptArgument, PromptDef, ToolAnnotations, ToolContext, ToolFailure,
    ToolOutput,
};
use crate::upstream::UpstreamFailure;

const BOTH: &[Service] = &[Service::Jira, Service::GitLab];

/// The tool's name (seed 000's).
pub const TOOL: &str = "analyze_and_fix_issue";
/// The prompt's name.
pub const PROMPT: &str = "analyze_issue";

/// Bounds of the gathered context: `(argument, default, hard maximum)`; the minimum of each is in
/// the input schema.
const LIMITS: [(&str, u64, u64); 4] = [
    ("maxComments", 10, 50),
    ("maxItems", 5, 20),
    ("maxFiles", 5, 10),
    ("maxFileBytes", 4096, 16384),
];
/// A comment longer than this is cut (bytes).
const COMMENT_BYTES: usize = 2000;
/// A proposed file may be at most this long (bytes) before `apply` refuses it.
const MAX_PROPOSED_BYTES: usize = 65536;

/// How the client's model must answer; stated in every prompt and parsed by [`parse_proposal`].
pub const ANSWER_FORMAT: &str = "Answer with a short analysis in prose, then exactly one fenced ```json block holding one object:\n{\"analysis\": \"<what is wrong and why>\", \"commitMessage\": \"<one line>\", \"changes\": [{\"filePath\": \"<path in the repository>\", \"content\": \"<the complete new content of that file>\"}]}\nEach change replaces (or creates) the whole file. Change only what the fix needs; \"changes\" may be empty when no code change is warranted.";

/// The input-request key of the analysis's `sampling/createMessage` in a 2026-07-28
/// `input_required` result.
pub const SAMPLE_KEY: &str = "mcp_edge_analysis";

const SYSTEM: &str = "You are a senior engineer. You analyze a Jira issue with the related GitLab activity and propose a minimal code change that fixes it.";

/// The bounds in force for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Latest comments shown.
    pub comments: usize,
    /// Branches, merge requests and commits shown (each).
    pub items: usize,
    /// Files excerpted.
    pub files: usize,
    /// Bytes shown of each file.
    pub file_bytes: usize,
}

impl Limits {
    fn from_args(args: &Args) -> Self {
        let get = |i: usize| {
            let (name, default, max) = LIMITS[i];
            args.opt_u64(name).unwrap_or(default).min(max) as usize
        };
        Limits {
            comments: get(0),
            items: get(1),
            files: get(2),
            file_bytes: get(3),
        }
    }

    fn from_strings(args: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut values = [0usize; 4];
        for (i, (name, default, max)) in LIMITS.iter().enumerate() {
            values[i] = match args.get(*name) {
                Some(text) => {
                    let n: u64 = text
                        .trim()
                        .parse()
                        .map_err(|_| format!("prompt argument '{name}' must be a whole number"))?;
                    n.min(*max) as usize
                }
                None => *default as usize,
            };
        }
        Ok(Limits {
            comments: values[0],
            items: values[1],
            files: values[2],
            file_bytes: values[3],
        })
    }

    fn json(&self) -> Value {
        json!({
            "maxComments": self.comments,
            "maxItems": self.items,
            "maxFiles": self.files,
            "maxFileBytes": self.file_bytes,
            "maxCommentBytes": COMMENT_BYTES,
        })
    }
}

/// One file excerpt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excerpt {
    /// Path in the repository.
    pub path: String,
    /// The text shown (at most `file_bytes`, cut at a character boundary).
    pub text: String,
    /// The file's whole size in bytes.
    pub total: usize,
}

/// Everything the prompt is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueContext {
    /// The Jira issue key.
    pub key: String,
    /// The summarized issue (as `jira_get_issue` returns it).
    pub issue: Value,
    /// Latest comments, oldest first: `{author, created, body}`.
    pub comments: Vec<Value>,
    /// Total comments on the issue.
    pub comments_total: usize,
    /// GitLab project id or path.
    pub project: String,
    /// The ref the excerpts were read at (and a fix would branch from).
    pub base: String,
    /// Branches whose name mentions the key.
    pub branches: Vec<Value>,
    /// Merge requests that mention the key.
    pub merge_requests: Vec<Value>,
    /// Commits that mention the key.
    pub commits: Vec<Value>,
    /// File excerpts.
    pub files: Vec<Excerpt>,
    /// Paths touched but not excerpted (over the file limit, binary, or gone at the base).
    pub files_left_out: Vec<String>,
    /// The bounds in force.
    pub limits: Limits,
}

/// Cuts `text` to at most `max` bytes at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The user prompt for `ctx`: the issue, comments, GitLab activity, excerpts, the limits that
/// applied, and the answer format. Pure, so the tool, the prompt and tests build the same text.
pub fn build_prompt(ctx: &IssueContext) -> String {
    use std::fmt::Write as _;
    let i = &ctx.issue;
    let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let mut p = String::new();
    let _ = writeln!(p, "# Jira issue {}: {}", ctx.key, s(&i["summary"]));
    let labels: Vec<String> = i["labels"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let _ = writeln!(
        p,
        "Status: {} · Type: {} · Priority: {} · Labels: {}",
        s(&i["status"]),
        s(&i["issueType"]),
        s(&i["priority"]),
        if labels.is_empty() {
            "-".to_owned()
        } else {
            labels.join(", ")
        }
    );
    let _ = writeln!(
        p,
        "\n## Description\n{}",
        i["description"].as_str().unwrap_or("(none)")
    );
    let _ = writeln!(
        p,
        "\n## Comments (latest {} of {})",
        ctx.comments.len(),
        ctx.comments_total
    );
    for c in &ctx.comments {
        let _ = writeln!(
            p,
            "- {} ({}): {}",
            s(&c["author"]),
            s(&c["created"]),
            s(&c["body"])
        );
    }
    let _ = writeln!(
        p,
        "\n## GitLab project {} (base ref `{}`)",
        ctx.project, ctx.base
    );
    let _ = writeln!(p, "Branches mentioning {}:", ctx.key);
    for b in &ctx.branches {
        let _ = writeln!(p, "- {}", s(&b["name"]));
    }
    let _ = writeln!(p, "Merge requests mentioning {}:", ctx.key);
    for m in &ctx.merge_requests {
        let _ = writeln!(
            p,
            "- !{} {} [{}] {} → {}",
            m["iid"],
            s(&m["title"]),
            s(&m["state"]),
            s(&m["sourceBranch"]),
            s(&m["targetBranch"])
        );
    }
    let _ = writeln!(p, "Commits mentioning {}:", ctx.key);
    for c in &ctx.commits {
        let _ = writeln!(p, "- {} {}", s(&c["shortId"]), s(&c["title"]));
    }
    let _ = writeln!(p, "\n## Files touched (excerpts at `{}`)", ctx.base);
    for f in &ctx.files {
        let note = if f.text.len() < f.total {
            format!("first {} of {} bytes, truncated", f.text.len(), f.total)
        } else {
            format!("{} bytes, complete", f.total)
        };
        let _ = writeln!(p, "\n### {} ({note})\n```\n{}\n```", f.path, f.text);
    }
    if !ctx.files_left_out.is_empty() {
        let _ = writeln!(p, "Not shown: {}", ctx.files_left_out.join(", "));
    }
    let l = &ctx.limits;
    let _ = writeln!(
        p,
        "\n## Limits\nThis context is bounded: at most {} comments ({} bytes each), {} branches, {} merge requests and {} commits, {} files, {} bytes per file. Ask for more only if the fix cannot be made from it.",
        l.comments, COMMENT_BYTES, l.items, l.items, l.items, l.files, l.file_bytes
    );
    let _ = writeln!(p, "\n## Answer format\n{ANSWER_FORMAT}");
    p
}

/// One proposed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedFile {
    /// Repository path.
    pub path: String,
    /// Complete new content.
    pub content: String,
}

/// The model's parsed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// The analysis.
    pub analysis: String,
    /// One-line commit message.
    pub commit_message: String,
    /// Files to write.
    pub changes: Vec<ProposedFile>,
}

/// Parses an answer in [`ANSWER_FORMAT`]: the first ```json fence (or the outermost `{…}`).
pub fn parse_proposal(text: &str, max_files: usize) -> Result<Proposal, String> {
    let body = match text.find("```json") {
        Some(start) => {
            let rest = &text[start + 7..];
            let end = rest.find("```").ok_or("the ```json block is not closed")?;
            &rest[..end]
        }
        None => {
            let (a, b) = (text.find('{'), text.rfind('}'));
            match (a, b) {
                (Some(a), Some(b)) if a < b => &text[a..=b],
                _ => return Err("the answer holds no JSON object".into()),
            }
        }
    };
    let v: Value =
        serde_json::from_str(body.trim()).map_err(|e| format!("the JSON block is invalid: {e}"))?;
    let analysis = v["analysis"].as_str().unwrap_or_default().trim().to_owned();
    let commit_message = v["commitMessage"]
        .as_str()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .unwrap_or("Proposed fix")
        .to_owned();
    let mut changes = Vec::new();
    for (n, c) in v["changes"].as_array().into_iter().flatten().enumerate() {
        let path = c["filePath"]
            .as_str()
            .map(|p| p.trim().trim_start_matches('/'))
            .unwrap_or_default();
        if path.is_empty() || path.split('/').any(|seg| seg == ".." || seg.is_empty()) {
            return Err(format!("changes[{n}].filePath is not a repository path"));
        }
        let content = c["content"]
            .as_str()
            .ok_or_else(|| format!("changes[{n}].content must be a string"))?;
        if content.len() > MAX_PROPOSED_BYTES {
            return Err(format!(
                "changes[{n}] is {} bytes; at most {MAX_PROPOSED_BYTES} are applied",
                content.len()
            ));
        }
        changes.push(ProposedFile {
            path: path.to_owned(),
            content: content.to_owned(),
        });
    }
    if changes.len() > max_files.max(1) {
        return Err(format!(
            "{} files changed; at most {} are applied",
            changes.len(),
            max_files.max(1)
        ));
    }
    Ok(Proposal {
        analysis,
        commit_message,
        changes,
    })
}

fn limit_schema(i: usize, min: u64) -> Value {
    let (name, default, max) = LIMITS[i];
    schema::int(
        &format!("{name}: default {default}, at most {max}"),
        min,
        max,
    )
}

/// The tool.
pub fn tools() -> Vec<ConnectorTool> {
    vec![ConnectorTool::new(
        TOOL,
        "Analyze a Jira issue and propose a fix",
        "Gather a Jira issue, its comments, the GitLab branches, merge requests and commits that mention its key, and excerpts of the files they touch (bounded; the limits are stated in the result), then ask the client's own model (MCP sampling) for an analysis and a proposed change. With apply=true the change is committed on a new branch, a merge request is opened and the Jira issue gets a comment linking it. Clients without sampling get the context and a ready prompt (also available as prompts/get analyze_issue).",
        BOTH,
        ToolAnnotations::writes(false),
        schema::input(
            &[
                ("issueKey", json!({"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*-[0-9]+$", "description": "Jira issue key, e.g. DEMO-1"})),
                ("projectId", schema::id("GitLab project id or path")),
                ("baseRef", schema::string("Ref to read files at and branch from (default: the project's default branch)")),
                ("apply", json!({"type": "boolean", "description": "Commit the proposed change on a new branch, open a merge request and comment on the issue (default false)"})),
                ("maxComments", limit_schema(0, 0)),
                ("maxItems", limit_schema(1, 0)),
                ("maxFiles", limit_schema(2, 0)),
                ("maxFileBytes", limit_schema(3, 256)),
                ("maxTokens", schema::int("Token bound for the client's model (default 2048)", 64, 16384)),
                ("waitSeconds", schema::int("Longest wait for the client's model (default 120)", 1, 600)),
            ],
            &["issueKey", "projectId"],
        ),
        object(
            &[
                ("issueKey", json!({"type": "string"})),
                ("mode", json!({"type": "string", "enum": ["sampled", "prompt"], "description": "sampled: the client's model answered; prompt: the context and prompt are returned for the caller's own model"})),
                ("limits", json!({"type": "object"})),
                ("context", json!({"type": "object"})),
                ("prompt", object(&[("system", json!({"type": "string"})), ("user", json!({"type": "string"}))], &["system", "user"])),
                ("answerFormat", json!({"type": "string"})),
                ("samplingUnavailable", schema::nullable_string()),
                ("analysis", schema::nullable_string()),
                ("proposal", json!({"type": ["object", "null"]})),
                ("applied", json!({"type": ["object", "null"]})),
            ],
            &["issueKey", "mode", "limits", "context", "prompt"],
        ),
        output_handler!(analyze_and_fix_issue),
    )]
}

/// Gathers the bounded context.
pub(crate) async fn gather(
    ctx: &ToolContext<'_>,
    key: &str,
    project: &str,
    base: Option<&str>,
    limits: Limits,
) -> Result<IssueContext, UpstreamFailure> {
    let up = ctx.upstream;
    let site = jira::Site::of(up).await?;
    let issue = jira::fetch_issue(up, &site, key, None).await?;
    let (comments, comments_total) = jira::latest_comments(up, &site, key, limits.comments).await?;
    let gl = up.endpoint(Service::GitLab)?;
    let pid = project_ref(project);
    let base = match base {
        Some(b) => b.to_owned(),
        None => gitlab::fetch_project(up, &gl, project)
            .await?
            .default_branch
            .unwrap_or_else(|| "main".into()),
    };
    let per_page = limits.items.max(1).to_string();
    let list = |path: String, filters: Vec<(&'static str, Option<String>)>| {
        let gl = gl.clone();
        let per_page = per_page.clone();
        async move {
            if limits.items == 0 {
                return Ok(Vec::new());
            }
            let mut q = filters;
            q.push(("per_page", Some(per_page)));
            let reply = up
                .json(&gl, Method::GET, &format!("{path}{}", query(&q)), None)
                .await?;
            let items: Vec<Value> = reply.body.as_array().cloned().unwrap_or_default();
            Ok::<_, UpstreamFailure>(items.into_iter().take(limits.items).collect::<Vec<_>>())
        }
    };
    let branches: Vec<Value> = list(
        format!("/projects/{pid}/repository/branches"),
        vec![("search", Some(key.to_owned()))],
    )
    .await?
    .iter()
    .map(gitlab::branch)
    .collect();
    let mrs_raw = list(
        format!("/projects/{pid}/merge_requests"),
        vec![
            ("search", Some(key.to_owned())),
            ("state", Some("all".into())),
        ],
    )
    .await?;
    let commits_raw = list(
        format!("/projects/{pid}/search"),
        vec![
            ("scope", Some("commits".into())),
            ("search", Some(key.to_owned())),
        ],
    )
    .await?;
    // Files the merge requests and commits touch, first seen first.
    let mut paths: Vec<String> = Vec::new();
    let mut add = |diffs: &Value| {
        for d in diffs.as_array().into_iter().flatten() {
            if d["deleted_file"].as_bool() == Some(true) {
                continue;
            }
            if let Some(p) = d["new_path"].as_str() {
                if !paths.iter().any(|x| x == p) {
                    paths.push(p.to_owned());
                }
            }
        }
    };
    if limits.files > 0 {
        for m in &mrs_raw {
            let iid = m["iid"].as_u64().unwrap_or_default();
            let q = query(&[("per_page", Some("100".into()))]);
            let diffs = up
                .json(
                    &gl,
                    Method::GET,
                    &format!("/projects/{pid}/merge_requests/{iid}/diffs{q}"),
                    None,
                )
                .await?;
            add(&diffs.body);
        }
        for c in &commits_raw {
            let sha = c["id"].as_str().unwrap_or_default();
            let diffs = up
                .json(
                    &gl,
                    Method::GET,
                    &format!("/projects/{pid}/repository/commits/{}/diff", encode(sha)),
                    None,
                )
                .await?;
            add(&diffs.body);
        }
    }
    let mut files = Vec::new();
    let mut left_out = Vec::new();
    for path in paths {
        if files.len() >= limits.files {
            left_out.push(path);
            continue;
        }
        match gitlab::read_file(up, &gl, project, &path, Some(&base)).await {
            Ok(f) if f["encoding"] == "text" => {
                let content = f["content"].as_str().unwrap_or_default();
                files.push(Excerpt {
                    text: cut(content, limits.file_bytes).to_owned(),
                    total: content.len(),
                    path,
                });
            }
            Ok(_) => left_out.push(format!("{path} (binary)")),
            Err(e) if e.status() == Some(404) => left_out.push(format!("{path} (not at {base})")),
            Err(e) => return Err(e),
        }
    }
    let merge_requests = mrs_raw
        .iter()
        .map(|m| {
            json!({
                "iid": m["iid"], "title": m["title"], "state": m["state"],
                "sourceBranch": m["source_branch"], "targetBranch": m["target_branch"], "webUrl": m["web_url"],
            })
        })
        .collect();
    let commits = commits_raw
        .iter()
        .map(|c| json!({"id": c["id"], "shortId": c["short_id"], "title": c["title"], "webUrl": c["web_url"]}))
        .collect();
    Ok(IssueContext {
        key: key.to_owned(),
        issue,
        comments,
        comments_total,
        project: project.to_owned(),
        base,
        branches,
        merge_requests,
        commits,
        files,
        files_left_out: left_out,
        limits,
    })
}

fn context_json(c: &IssueContext) -> Value {
    json!({
        "issue": c.issue,
        "comments": c.comments,
        "commentsTotal": c.comments_total,
        "project": c.project,
        "baseRef": c.base,
        "branches": c.branches,
        "mergeRequests": c.merge_requests,
        "commits": c.commits,
        "files": c.files.iter().map(|f| json!({
            "filePath": f.path, "excerpt": f.text, "bytes": f.text.len(), "totalBytes": f.total,
            "truncated": f.text.len() < f.total,
        })).collect::<Vec<_>>(),
        "filesLeftOut": c.files_left_out,
    })
}

/// SHA-256 (hex) of a `sampling/createMessage` request's params: the 2026-07-28 state that binds a
/// retry's answer to the request the model was shown.
fn request_digest(params: &Value) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(
        serde_json::to_vec(params).unwrap_or_default(),
    ))
}

/// The client's `CreateMessageResult` on a 2026-07-28 retry, when it answers the request whose
/// digest is `digest` (the one this round would send); `None` means ask (again).
fn answer_for<'a>(input: Option<&'a InputRound>, digest: &str) -> Option<&'a Value> {
    let input = input?;
    let sealed = input.state.as_ref()?.get("request")?.as_str()?;
    if sealed != digest {
        return None;
    }
    input.responses.get(SAMPLE_KEY)
}

async fn analyze_and_fix_issue(
    ctx: &ToolContext<'_>,
    args: Args,
) -> Result<ToolOutput, ToolFailure> {
    let key = args.str("issueKey")?.to_ascii_uppercase();
    let project = args.id("projectId")?;
    let limits = Limits::from_args(&args);
    let apply = args.opt_bool("apply").unwrap_or(false);
    let gathered = gather(ctx, &key, &project, args.opt_str("baseRef"), limits).await?;
    let prompt = build_prompt(&gathered);
    let mut out = json!({
        "issueKey": key,
        "mode": "prompt",
        "limits": limits.json(),
        "context": context_json(&gathered),
        "prompt": {"system": SYSTEM, "user": prompt},
        "answerFormat": ANSWER_FORMAT,
        "samplingUnavailable": null,
        "analysis": null,
        "proposal": null,
        "applied": null,
    });
    let params = create_message_params(SYSTEM, &prompt, args.opt_u64("maxTokens").unwrap_or(2048));
    let result = if ctx.client_capabilities.is_some() {
        // 2026-07-28: no stream to the client; the request travels in the result.
        if !ctx.client_declares("sampling") {
            out["samplingUnavailable"] = json!(
                "the request did not declare the sampling capability: use the prompt with your own model"
            );
            return Ok(ToolOutput::Structured(out));
        }
        let digest = request_digest(&params);
        match answer_for(ctx.input, &digest) {
            Some(answer) => answer.clone(),
            None => {
                let mut requests = serde_json::Map::new();
                requests.insert(
                    SAMPLE_KEY.into(),
                    json!({"method": "sampling/createMessage", "params": params}),
                );
                return Ok(ToolOutput::InputRequired {
                    requests,
                    state: json!({"request": digest}),
                });
            }
        }
    } else {
        let Some(client) = ctx.client.filter(|c| c.can_sample()) else {
            out["samplingUnavailable"] = json!(
                "the client did not declare the sampling capability: use the prompt with your own model"
            );
            return Ok(ToolOutput::Structured(out));
        };
        let wait_ms = args.opt_u64("waitSeconds").unwrap_or(120) * 1000;
        match client.create_message(params, wait_ms).await {
            Ok(r) => r,
            Err(e @ (ClientRequestError::Unsupported(_) | ClientRequestError::NoStream)) => {
                out["samplingUnavailable"] = json!(e.to_string());
                return Ok(ToolOutput::Structured(out));
            }
            Err(e) => {
                return Err(ToolFailure::new(format!(
                    "asking the client's model about {key} failed: {e}"
                )))
            }
        }
    };
    let text = sampled_text(&result).map_err(|e| ToolFailure::new(e.to_string()))?;
    let proposal = parse_proposal(&text, limits.files.max(1)).map_err(|e| {
        ToolFailure::new(format!(
            "the client's model answered, but not in the requested format ({e}); nothing was applied"
        ))
    })?;
    out["mode"] = json!("sampled");
    out["analysis"] = json!(proposal.analysis);
    out["proposal"] = json!({
        "commitMessage": proposal.commit_message,
        "changes": proposal.changes.iter().map(|c| json!({"filePath": c.path, "bytes": c.content.len()})).collect::<Vec<_>>(),
        "model": result["model"],
    });
    if apply {
        out["applied"] = apply_proposal(ctx, &gathered, &proposal).await?;
    }
    Ok(ToolOutput::Structured(out))
}

/// Branch, commit, merge request, Jira comment. Each step names what was already created when a
/// later one fails.
async fn apply_proposal(
    ctx: &ToolContext<'_>,
    c: &IssueContext,
    p: &Proposal,
) -> Result<Value, ToolFailure> {
    if p.changes.is_empty() {
        return Err(ToolFailure::new(
            "the client's model proposed no file change, so nothing was applied",
        ));
    }
    let up = ctx.upstream;
    let gl = up.endpoint(Service::GitLab)?;
    let pid = project_ref(&c.project);
    let branch = cross::branch_name(&c.key, c.issue["summary"].as_str().unwrap_or_default());
    let mut actions = Vec::new();
    for f in &p.changes {
        let exists = if c.files.iter().any(|e| e.path == f.path) {
            true
        } else {
            match gitlab::read_file(up, &gl, &c.project, &f.path, Some(&c.base)).await {
                Ok(_) => true,
                Err(e) if e.status() == Some(404) => false,
                Err(e) => return Err(e.into()),
            }
        };
        actions.push(json!({
            "action": if exists { "update" } else { "create" },
            "file_path": f.path,
            "content": f.content,
        }));
    }
    let message = format!("{}: {}", c.key, p.commit_message);
    let commit = up
        .json(
            &gl,
            Method::POST,
            &format!("/projects/{pid}/repository/commits"),
            Some(&json!({"branch": branch, "start_branch": c.base, "commit_message": message, "actions": actions})),
        )
        .await?;
    let summary = c.issue["summary"].as_str().unwrap_or_default();
    let description = format!(
        "{}\n\nProposed for {} by the client's model through mcp-edge `{TOOL}`; review before merging.",
        p.analysis, c.key
    );
    let mr = up
        .json(
            &gl,
            Method::POST,
            &format!("/projects/{pid}/merge_requests"),
            Some(&json!({"source_branch": branch, "target_branch": c.base, "title": format!("{}: {summary}", c.key), "description": description})),
        )
        .await
        .map_err(|e| {
            ToolFailure::new(format!(
                "branch {branch} and its commit were created, but opening the merge request failed: {e}"
            ))
        })?;
    let iid = mr.body["iid"].as_u64().unwrap_or_default();
    let web = mr.body["web_url"].as_str().unwrap_or_default().to_owned();
    let site = jira::Site::of(up).await?;
    let text = format!(
        "Merge request [!{iid}]({web}) proposes a fix on branch `{branch}`: {}",
        p.commit_message
    );
    let comment = jira::comment(up, &site, &c.key, &text).await.map_err(|e| {
        ToolFailure::new(format!(
            "merge request !{iid} was opened ({web}), but commenting on {} failed: {e}",
            c.key
        ))
    })?;
    Ok(json!({
        "branch": branch,
        "commit": commit.body["id"],
        "mergeRequest": {"iid": iid, "webUrl": web},
        "jiraCommentId": comment["commentId"],
    }))
}

/// `prompts/get analyze_issue`: the same prompt the tool builds, for clients that run it on their
/// own model.
pub struct AnalyzePrompt(PromptDef);

impl AnalyzePrompt {
    /// The prompt's definition.
    pub fn new() -> Self {
        let arg = |name: &str, description: &str, required: bool| PromptArgument {
            name: name.into(),
            description: Some(description.into()),
            required,
        };
        AnalyzePrompt(PromptDef {
            name: PROMPT.into(),
            description: Some("Analyze a Jira issue with its GitLab activity and propose a fix (the context analyze_and_fix_issue gathers, bounded).".into()),
            arguments: vec![
                arg("issueKey", "Jira issue key, e.g. DEMO-1", true),
                arg("projectId", "GitLab project id or path", true),
                arg("baseRef", "Ref to read files at (default: the project's default branch)", false),
                arg("maxComments", "Latest comments shown (default 10, at most 50)", false),
                arg("maxItems", "Branches, merge requests and commits shown, each (default 5, at most 20)", false),
                arg("maxFiles", "Files excerpted (default 5, at most 10)", false),
                arg("maxFileBytes", "Bytes per file excerpt (default 4096, at most 16384)", false),
            ],
        })
    }
}

impl Default for AnalyzePrompt {
    fn default() -> Self {
        Self::new()
    }
}

impl Prompt for AnalyzePrompt {
    fn def(&self) -> &PromptDef {
        &self.0
    }

    fn render(&self, _args: &BTreeMap<String, String>) -> Result<Vec<Value>, String> {
        Err("analyze_issue needs Jira and GitLab access; it is rendered with credentials".into())
    }

    fn needs_upstream(&self) -> bool {
        true
    }

    fn render_in<'a>(
        &'a self,
        ctx: &'a ToolContext<'a>,
        args: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Vec<Value>, String>> {
        Box::pin(async move {
            let key = args.get("issueKey").map(|k| k.trim().to_ascii_uppercase());
            let key = key
                .filter(|k| {
                    cross::parse_issue_ref(k).is_some_and(|r| matches!(r, cross::IssueRef::Jira(_)))
                })
                .ok_or("prompt argument 'issueKey' must be a Jira key such as DEMO-1")?;
            let project = args
                .get("projectId")
                .map(|p| p.trim())
                .filter(|p| !p.is_empty())
                .ok_or("prompt argument 'projectId' must not be empty")?;
            let limits = Limits::from_strings(args)?;
            let base = args
                .get("baseRef")
                .map(|b| b.trim())
                .filter(|b| !b.is_empty());
            let c = gather(ctx, &key, project, base, limits)
                .await
                .map_err(|e| e.to_string())?;
            Ok(vec![
                json!({"role": "user", "content": {"type": "text", "text": format!("{SYSTEM}\n\n{}", build_prompt(&c))}}),
            ])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> IssueContext {
        IssueContext {
            key: "DEMO-1".into(),
            issue: json!({"summary": "Fix login redirect loop", "status": "To Do", "labels": ["backend"], "description": "Loops forever."}),
            comments: vec![
                json!({"author": "Ada", "created": "2026-01-05", "body": "Seen on main."}),
            ],
            comments_total: 3,
            project: "1".into(),
            base: "main".into(),
            branches: vec![json!({"name": "DEMO-1-fix"})],
            merge_requests: vec![],
            commits: vec![json!({"shortId": "abc", "title": "DEMO-1 try"})],
            files: vec![Excerpt {
                path: "src/main.rs".into(),
                text: "fn main".into(),
                total: 40,
            }],
            files_left_out: vec!["big.bin (binary)".into()],
            limits: Limits {
                comments: 10,
                items: 5,
                files: 5,
                file_bytes: 7,
            },
        }
    }

    #[test]
    fn the_prompt_shows_everything_and_states_the_limits() {
        let p = build_prompt(&context());
        for needle in [
            "DEMO-1: Fix login redirect loop",
            "Loops forever.",
            "latest 1 of 3",
            "Seen on main.",
            "DEMO-1-fix",
            "abc DEMO-1 try",
            "### src/main.rs (first 7 of 40 bytes, truncated)",
            "Not shown: big.bin (binary)",
            "at most 10 comments",
            "7 bytes per file",
            "```json",
        ] {
            assert!(p.contains(needle), "missing {needle:?} in\n{p}");
        }
    }

    #[test]
    fn a_retry_answer_counts_only_for_the_request_the_model_saw() {
        let params = create_message_params(SYSTEM, &build_prompt(&context()), 2048);
        let digest = request_digest(&params);
        let answer = json!({"role": "assistant", "content": {"type": "text", "text": "x"}});
        let mut responses = serde_json::Map::new();
        responses.insert(SAMPLE_KEY.into(), answer.clone());
        let round = |state: Option<Value>| InputRound {
            responses: responses.clone(),
            state,
            round: 1,
        };
        let sealed = round(Some(json!({"request": digest})));
        assert_eq!(answer_for(Some(&sealed), &digest), Some(&answer));
        // Without a sealed state (an answer nobody asked for) or for another request: ask again.
        assert_eq!(answer_for(Some(&round(None)), &digest), None);
        let mut changed = context();
        changed.comments_total = 4;
        let other = request_digest(&create_message_params(
            SYSTEM,
            &build_prompt(&changed),
            2048,
        ));
        assert_ne!(other, digest);
        assert_eq!(answer_for(Some(&sealed), &other), None);
        assert_eq!(answer_for(None, &digest), None);
    }

    #[test]
    fn cut_keeps_characters_whole() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("abc", 10), "abc");
    }

    #[test]
    fn proposals_parse_from_a_fence_or_bare_json() {
        let text = "Analysis here.\n```json\n{\"analysis\": \"a\", \"commitMessage\": \"fix\", \"changes\": [{\"filePath\": \"/src/x.rs\", \"content\": \"x\"}]}\n```";
        let p = parse_proposal(text, 5).unwrap();
        assert_eq!(p.changes[0].path, "src/x.rs");
        assert_eq!(p.commit_message, "fix");
        let bare = parse_proposal("{\"analysis\": \"b\", \"changes\": []}", 5).unwrap();
        assert_eq!(bare.commit_message, "Proposed fix");
        assert!(parse_proposal("no json", 5).is_err());
        assert!(parse_proposal(
            "```json\n{\"changes\": [{\"filePath\": \"../etc/passwd\", \"content\": \"\"}]}\n```",
            5
        )
        .is_err());
        let two = "{\"changes\": [{\"filePath\": \"a\", \"content\": \"\"}, {\"filePath\": \"b\", \"content\": \"\"}]}";
        assert!(parse_proposal(two, 1).is_err());
    }
}
