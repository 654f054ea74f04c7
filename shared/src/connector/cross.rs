//! Cross-service tools: a GitLab branch for a Jira issue, and one comment tool for both trackers.

use serde_json::{json, Value};

use super::schema::{self, object};
use super::{gitlab, handler, jira, Args, ConnectorTool};
use crate::credential::Service;
use crate::tool::{ToolAnnotations, ToolContext, ToolFailure};

const BOTH: &[Service] = &[Service::Jira, Service::GitLab];

/// The cross-service tools (offered when both Jira and GitLab credentials are present).
pub fn tools() -> Vec<ConnectorTool> {
    vec![
        ConnectorTool::new(
            "create_branch_for_issue",
            "Create a branch for a Jira issue",
            "Create a GitLab branch named <KEY>-<slug-of-summary> for a Jira issue, from a base ref (default: the project's default branch), and optionally comment on the Jira issue with a link to the branch.",
            BOTH,
            ToolAnnotations::writes(false),
            schema::input(
                &[
                    ("issueKey", json!({"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*-[0-9]+$", "description": "Jira issue key, e.g. DEMO-1"})),
                    ("projectId", schema::id("GitLab project id or path")),
                    ("baseRef", schema::string("Branch, tag or commit to branch from")),
                    ("commentOnIssue", json!({"type": "boolean", "description": "Comment on the Jira issue with the branch link (default true)"})),
                ],
                &["issueKey", "projectId"],
            ),
            object(
                &[
                    ("issueKey", json!({"type": "string"})),
                    ("branch", json!({"type": "string"})),
                    ("ref", json!({"type": "string"})),
                    ("webUrl", schema::nullable_string()),
                    ("jiraCommentId", schema::nullable_string()),
                ],
                &["issueKey", "branch", "ref"],
            ),
            handler!(create_branch_for_issue),
        ),
        ConnectorTool::new(
            "comment_on_issue",
            "Comment on an issue (Jira or GitLab)",
            "Comment on a Jira issue (issue = \"PROJ-123\") or a GitLab issue (issue = \"group/project#12\" or \"42#12\").",
            BOTH,
            ToolAnnotations::writes(false),
            schema::input(
                &[
                    ("issue", schema::text("PROJ-123 for Jira, group/project#12 for GitLab")),
                    ("body", schema::text("Comment text (Markdown)")),
                ],
                &["issue", "body"],
            ),
            object(
                &[
                    ("service", json!({"type": "string", "enum": ["jira", "gitlab"]})),
                    ("issue", json!({"type": "string"})),
                    ("commentId", json!({"type": "string"})),
                ],
                &["service", "issue", "commentId"],
            ),
            handler!(comment_on_issue),
        ),
    ]
}

/// `<KEY>-<slug>`: the summary lower-cased, runs of other characters turned into one `-`, at most
/// 60 characters in all, never ending in `-`.
pub fn branch_name(key: &str, summary: &str) -> String {
    let mut slug = String::new();
    for c in summary.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let budget = 60usize.saturating_sub(key.len() + 1);
    let mut slug: String = slug.chars().take(budget).collect();
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() {
        key.to_owned()
    } else {
        format!("{key}-{slug}")
    }
}

async fn create_branch_for_issue(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let jira_site = jira::Site::of(ctx.upstream).await?;
    let gitlab_ep = ctx.upstream.endpoint(Service::GitLab)?;
    let key = args.str("issueKey")?.to_ascii_uppercase();
    let project = args.id("projectId")?;
    let issue = jira::fetch_issue(ctx.upstream, &jira_site, &key, Some("summary".into())).await?;
    let summary = issue["summary"].as_str().unwrap_or_default();
    let name = branch_name(&key, summary);
    let base = match args.opt_str("baseRef") {
        Some(r) => r.to_owned(),
        None => gitlab::fetch_project(ctx.upstream, &gitlab_ep, &project)
            .await?
            .default_branch
            .unwrap_or_else(|| "main".into()),
    };
    let created = gitlab::new_branch(ctx.upstream, &gitlab_ep, &project, &name, &base).await?;
    let web_url = created["webUrl"].as_str().map(str::to_owned);
    let comment_id = if args.opt_bool("commentOnIssue").unwrap_or(true) {
        let link = match &web_url {
            Some(u) => format!("[{name}]({u})"),
            None => format!("`{name}`"),
        };
        let text = format!("Branch {link} was created in GitLab project {project} from `{base}`.");
        let c = jira::comment(ctx.upstream, &jira_site, &key, &text)
            .await
            .map_err(|e| {
                ToolFailure::new(format!(
                    "branch {name} was created, but commenting on {key} failed: {e}"
                ))
            })?;
        c["commentId"].as_str().map(str::to_owned)
    } else {
        None
    };
    Ok(json!({
        "issueKey": key,
        "branch": name,
        "ref": base,
        "webUrl": web_url,
        "jiraCommentId": comment_id,
    }))
}

/// Where a comment goes.
#[derive(Debug, PartialEq, Eq)]
pub enum IssueRef {
    /// A Jira issue key.
    Jira(String),
    /// A GitLab project and issue IID.
    GitLab(String, u64),
}

/// Parses `PROJ-123` or `group/project#12` / `42#12`.
pub fn parse_issue_ref(text: &str) -> Option<IssueRef> {
    let text = text.trim();
    if let Some((project, iid)) = text.rsplit_once('#') {
        let iid = iid.parse().ok().filter(|n| *n > 0)?;
        let project = project.trim();
        return (!project.is_empty()).then(|| IssueRef::GitLab(project.to_owned(), iid));
    }
    let (proj, num) = text.rsplit_once('-')?;
    let valid = proj.chars().next()?.is_ascii_alphabetic()
        && proj.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !num.is_empty()
        && num.chars().all(|c| c.is_ascii_digit());
    valid.then(|| IssueRef::Jira(text.to_ascii_uppercase()))
}

async fn comment_on_issue(ctx: &ToolContext<'_>, args: Args) -> Result<Value, ToolFailure> {
    let target = args.str("issue")?;
    let body = args.str("body")?;
    match parse_issue_ref(target) {
        Some(IssueRef::Jira(key)) => {
            let site = jira::Site::of(ctx.upstream).await?;
            let c = jira::comment(ctx.upstream, &site, &key, body).await?;
            Ok(json!({"service": "jira", "issue": key, "commentId": c["commentId"]}))
        }
        Some(IssueRef::GitLab(project, iid)) => {
            let ep = ctx.upstream.endpoint(Service::GitLab)?;
            let n = gitlab::issue_note(ctx.upstream, &ep, &project, iid, body).await?;
            Ok(json!({"service": "gitlab", "issue": format!("{project}#{iid}"), "commentId": n["id"].to_string()}))
        }
        None => Err(ToolFailure::new(format!(
            "cannot tell which tracker '{target}' belongs to: use PROJ-123 for Jira or group/project#12 for GitLab"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_are_key_and_slug() {
        assert_eq!(
            branch_name("DEMO-1", "Fix login redirect loop"),
            "DEMO-1-fix-login-redirect-loop"
        );
        assert_eq!(
            branch_name("DEMO-2", "  Ünïcode & symbols!! "),
            "DEMO-2-n-code-symbols"
        );
        assert_eq!(branch_name("A-1", "???"), "A-1");
        let long = branch_name("DEMO-3", &"word ".repeat(40));
        assert!(long.len() <= 60 && !long.ends_with('-'), "{long}");
    }

    #[test]
    fn issue_refs_pick_the_tracker() {
        assert_eq!(
            parse_issue_ref("demo-12"),
            Some(IssueRef::Jira("DEMO-12".into()))
        );
        assert_eq!(
            parse_issue_ref("demo-group/demo-project#3"),
            Some(IssueRef::GitLab("demo-group/demo-project".into(), 3))
        );
        assert_eq!(
            parse_issue_ref("42#7"),
            Some(IssueRef::GitLab("42".into(), 7))
        );
        assert_eq!(parse_issue_ref("nothing"), None);
        assert_eq!(parse_issue_ref("x#0"), None);
        assert_eq!(parse_issue_ref("-1"), None);
    }
}
