//! Toolsets: every connector tool belongs to exactly one named group, so a client with a small
//! context budget can be offered a compact core set ([`Toolsets::DEFAULT`]) and widen it by
//! configuration (`MCP_EDGE_TOOLSETS`) or narrow it per request ([`TOOLSETS_HEADER`]).
//!
//! The tool → toolset mapping is the one name-keyed [`TABLE`] below: a branch that adds tools adds
//! rows to its toolset's block, and a test fails when a registered connector tool has no row or a
//! row names no tool. Bridged tools (`{server}__{tool}`) and the test tools belong to no toolset:
//! toolsets never hide them (the tool allow-list `X-MCP-Tools` and `--bridge-servers` do).

/// Header that narrows the enabled toolsets for one request (comma separated names, or `all`).
pub const TOOLSETS_HEADER: &str = "x-mcp-toolsets";

/// A named group of connector tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Toolset {
    /// Jira issues: search, get, create, update, comment, transition, projects.
    Jira,
    /// Jira details: worklogs, attachments, links, watchers, changelog, field metadata, users,
    /// delete, batch create.
    JiraDetails,
    /// Jira Agile: boards, sprints, epics.
    JiraAgile,
    /// Confluence pages and spaces.
    Confluence,
    /// Confluence details: comments, labels, attachments, versions, page tree, move, delete.
    ConfluenceDetails,
    /// GitLab core: projects, branches, merge requests, issues, files, search.
    Gitlab,
    /// GitLab CI: pipelines, jobs, job logs.
    GitlabCi,
    /// GitLab merge request review: diffs, discussions, approvals, merge.
    GitlabMr,
    /// GitLab repository: commits, compare, tree, commits of files.
    GitlabRepo,
    /// GitLab project: labels, milestones, releases, current user, group projects.
    GitlabProject,
    /// GitLab wiki pages.
    GitlabWiki,
    /// Cross-service tools (Jira and GitLab together).
    Cross,
}

impl Toolset {
    /// Every toolset, in README order.
    pub const ALL: [Toolset; 12] = [
        Toolset::Jira,
        Toolset::JiraDetails,
        Toolset::JiraAgile,
        Toolset::Confluence,
        Toolset::ConfluenceDetails,
        Toolset::Gitlab,
        Toolset::GitlabCi,
        Toolset::GitlabMr,
        Toolset::GitlabRepo,
        Toolset::GitlabProject,
        Toolset::GitlabWiki,
        Toolset::Cross,
    ];

    /// The name used in settings, headers and the README.
    pub fn name(self) -> &'static str {
        match self {
            Toolset::Jira => "jira",
            Toolset::JiraDetails => "jira_details",
            Toolset::JiraAgile => "jira_agile",
            Toolset::Confluence => "confluence",
            Toolset::ConfluenceDetails => "confluence_details",
            Toolset::Gitlab => "gitlab",
            Toolset::GitlabCi => "gitlab_ci",
            Toolset::GitlabMr => "gitlab_mr",
            Toolset::GitlabRepo => "gitlab_repo",
            Toolset::GitlabProject => "gitlab_project",
            Toolset::GitlabWiki => "gitlab_wiki",
            Toolset::Cross => "cross",
        }
    }

    /// The toolset called `name` (exact, lower case).
    pub fn parse(name: &str) -> Option<Toolset> {
        Toolset::ALL.into_iter().find(|t| t.name() == name)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of toolsets (a bit set: checking a tool costs one AND, `tools/list` stays cheap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Toolsets(u16);

impl Toolsets {
    /// No toolset.
    pub const NONE: Toolsets = Toolsets(0);
    /// Every toolset.
    pub const ALL: Toolsets = Toolsets((1 << Toolset::ALL.len()) - 1);
    /// The compact core set offered unless configured otherwise: `jira, confluence, gitlab, cross`
    /// (the tools mcp-edge had before toolsets, 28 of them).
    pub const DEFAULT: Toolsets = Toolsets(
        (1 << Toolset::Jira as u16)
            | (1 << Toolset::Confluence as u16)
            | (1 << Toolset::Gitlab as u16)
            | (1 << Toolset::Cross as u16),
    );

    /// Whether `toolset` is in the set.
    pub fn contains(self, toolset: Toolset) -> bool {
        self.0 & toolset.bit() != 0
    }

    /// The toolsets in both sets.
    pub fn intersect(self, other: Toolsets) -> Toolsets {
        Toolsets(self.0 & other.0)
    }

    /// The set with `toolset` added.
    pub fn with(self, toolset: Toolset) -> Toolsets {
        Toolsets(self.0 | toolset.bit())
    }

    /// The members, in [`Toolset::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Toolset> {
        Toolset::ALL.into_iter().filter(move |t| self.contains(*t))
    }

    /// Parses a comma-separated list of toolset names; `all` means every toolset, `none` (or an
    /// empty list) none. An unknown name is refused, naming it and the known ones.
    pub fn parse_list(text: &str) -> Result<Toolsets, String> {
        let mut set = Toolsets::NONE;
        for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let lower = name.to_ascii_lowercase();
            set = match lower.as_str() {
                "all" => Toolsets::ALL,
                "none" => set,
                _ => match Toolset::parse(&lower) {
                    Some(t) => set.with(t),
                    None => {
                        let shown: String = name.chars().take(40).collect();
                        return Err(format!(
                            "unknown toolset '{shown}' (known: {}, or all)",
                            known_names()
                        ));
                    }
                },
            };
        }
        Ok(set)
    }
}

fn known_names() -> String {
    Toolset::ALL.map(Toolset::name).join(", ")
}

/// The toolset of every connector tool, by tool name: the one place a tool's group is written.
/// Keep each toolset's rows together (branches that add tools add rows to their block).
pub static TABLE: &[(&str, Toolset)] = &[
    // jira
    ("jira_search", Toolset::Jira),
    ("jira_get_issue", Toolset::Jira),
    ("jira_create_issue", Toolset::Jira),
    ("jira_update_issue", Toolset::Jira),
    ("jira_add_comment", Toolset::Jira),
    ("jira_get_transitions", Toolset::Jira),
    ("jira_transition_issue", Toolset::Jira),
    ("jira_get_issues_by_labels", Toolset::Jira),
    ("jira_list_projects", Toolset::Jira),
    // jira_details
    ("jira_list_worklogs", Toolset::JiraDetails),
    ("jira_add_worklog", Toolset::JiraDetails),
    ("jira_list_attachments", Toolset::JiraDetails),
    ("jira_link_issues", Toolset::JiraDetails),
    ("jira_list_link_types", Toolset::JiraDetails),
    ("jira_search_users", Toolset::JiraDetails),
    ("jira_get_create_fields", Toolset::JiraDetails),
    ("jira_get_changelog", Toolset::JiraDetails),
    ("jira_list_watchers", Toolset::JiraDetails),
    ("jira_add_watcher", Toolset::JiraDetails),
    ("jira_delete_issue", Toolset::JiraDetails),
    ("jira_create_issues", Toolset::JiraDetails),
    // jira_agile
    ("jira_list_boards", Toolset::JiraAgile),
    ("jira_list_sprints", Toolset::JiraAgile),
    ("jira_get_sprint_issues", Toolset::JiraAgile),
    ("jira_move_issues_to_sprint", Toolset::JiraAgile),
    ("jira_get_epic_issues", Toolset::JiraAgile),
    // confluence
    ("confluence_search", Toolset::Confluence),
    ("confluence_get_page", Toolset::Confluence),
    ("confluence_create_page", Toolset::Confluence),
    ("confluence_update_page", Toolset::Confluence),
    ("confluence_list_spaces", Toolset::Confluence),
    ("confluence_get_page_children", Toolset::Confluence),
    ("confluence_list_comments", Toolset::ConfluenceDetails),
    ("confluence_add_comment", Toolset::ConfluenceDetails),
    ("confluence_list_labels", Toolset::ConfluenceDetails),
    ("confluence_add_labels", Toolset::ConfluenceDetails),
    ("confluence_list_attachments", Toolset::ConfluenceDetails),
    ("confluence_list_page_versions", Toolset::ConfluenceDetails),
    ("confluence_get_page_by_title", Toolset::ConfluenceDetails),
    ("confluence_move_page", Toolset::ConfluenceDetails),
    ("confluence_delete_page", Toolset::ConfluenceDetails),
    ("confluence_get_page_tree", Toolset::ConfluenceDetails),
    // confluence_details
    // gitlab
    ("gitlab_list_projects", Toolset::Gitlab),
    ("gitlab_get_project", Toolset::Gitlab),
    ("gitlab_list_branches", Toolset::Gitlab),
    ("gitlab_create_branch", Toolset::Gitlab),
    ("gitlab_list_merge_requests", Toolset::Gitlab),
    ("gitlab_get_merge_request", Toolset::Gitlab),
    ("gitlab_create_merge_request", Toolset::Gitlab),
    ("gitlab_list_issues", Toolset::Gitlab),
    ("gitlab_create_issue_note", Toolset::Gitlab),
    ("gitlab_get_file", Toolset::Gitlab),
    ("gitlab_search", Toolset::Gitlab),
    // gitlab_ci
    ("gitlab_list_pipelines", Toolset::GitlabCi),
    ("gitlab_get_pipeline", Toolset::GitlabCi),
    ("gitlab_list_pipeline_jobs", Toolset::GitlabCi),
    ("gitlab_get_job_log", Toolset::GitlabCi),
    ("gitlab_create_pipeline", Toolset::GitlabCi),
    ("gitlab_retry_pipeline", Toolset::GitlabCi),
    ("gitlab_cancel_pipeline", Toolset::GitlabCi),
    ("gitlab_wait_for_pipeline", Toolset::GitlabCi),
    // gitlab_mr
    ("gitlab_get_merge_request_diffs", Toolset::GitlabMr),
    ("gitlab_list_merge_request_discussions", Toolset::GitlabMr),
    ("gitlab_create_merge_request_discussion", Toolset::GitlabMr),
    (
        "gitlab_reply_to_merge_request_discussion",
        Toolset::GitlabMr,
    ),
    ("gitlab_resolve_merge_request_discussion", Toolset::GitlabMr),
    ("gitlab_approve_merge_request", Toolset::GitlabMr),
    ("gitlab_unapprove_merge_request", Toolset::GitlabMr),
    ("gitlab_merge_merge_request", Toolset::GitlabMr),
    // gitlab_repo
    ("gitlab_list_commits", Toolset::GitlabRepo),
    ("gitlab_get_commit", Toolset::GitlabRepo),
    ("gitlab_get_commit_diff", Toolset::GitlabRepo),
    ("gitlab_compare", Toolset::GitlabRepo),
    ("gitlab_list_repository_tree", Toolset::GitlabRepo),
    ("gitlab_commit_files", Toolset::GitlabRepo),
    // gitlab_project
    ("gitlab_get_current_user", Toolset::GitlabProject),
    ("gitlab_list_group_projects", Toolset::GitlabProject),
    ("gitlab_list_labels", Toolset::GitlabProject),
    ("gitlab_create_label", Toolset::GitlabProject),
    ("gitlab_list_milestones", Toolset::GitlabProject),
    ("gitlab_list_releases", Toolset::GitlabProject),
    // gitlab_wiki
    ("gitlab_list_wiki_pages", Toolset::GitlabWiki),
    ("gitlab_get_wiki_page", Toolset::GitlabWiki),
    ("gitlab_create_wiki_page", Toolset::GitlabWiki),
    ("gitlab_update_wiki_page", Toolset::GitlabWiki),
    // cross
    ("create_branch_for_issue", Toolset::Cross),
    ("comment_on_issue", Toolset::Cross),
    ("analyze_and_fix_issue", Toolset::Cross),
];

/// The toolset of the connector tool called `tool` (`None`: not a connector tool).
pub fn of(tool: &str) -> Option<Toolset> {
    TABLE.iter().find(|(n, _)| *n == tool).map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn registered() -> Vec<String> {
        let mut registry = crate::tool::Registry::new();
        super::super::register(&mut registry, super::super::ConnectorSet::default());
        registry
            .tools()
            .iter()
            .map(|t| t.def().name.clone())
            .collect()
    }

    #[test]
    fn every_connector_tool_has_exactly_one_row_and_every_row_a_tool() {
        let tools = registered();
        let missing: Vec<&String> = tools.iter().filter(|n| of(n).is_none()).collect();
        assert!(
            missing.is_empty(),
            "connector tools without a row in connector/toolset.rs TABLE: {missing:?}"
        );
        let rows: Vec<&str> = TABLE.iter().map(|(n, _)| *n).collect();
        let unique: BTreeSet<&str> = rows.iter().copied().collect();
        assert_eq!(unique.len(), rows.len(), "a tool has two rows");
        let stray: Vec<&&str> = rows
            .iter()
            .filter(|r| !tools.iter().any(|t| t == *r))
            .collect();
        assert!(stray.is_empty(), "rows that name no tool: {stray:?}");
    }

    #[test]
    fn names_parse_back_and_unknown_names_are_named() {
        for t in Toolset::ALL {
            assert_eq!(Toolset::parse(t.name()), Some(t));
        }
        assert_eq!(Toolsets::parse_list("all").unwrap(), Toolsets::ALL);
        assert_eq!(Toolsets::parse_list(" ").unwrap(), Toolsets::NONE);
        assert_eq!(
            Toolsets::parse_list("jira, confluence,GITLAB,cross").unwrap(),
            Toolsets::DEFAULT
        );
        let set = Toolsets::parse_list("gitlab_ci").unwrap();
        assert!(set.contains(Toolset::GitlabCi) && !set.contains(Toolset::Gitlab));
        let err = Toolsets::parse_list("jira,jira_sprints").unwrap_err();
        assert!(
            err.contains("'jira_sprints'") && err.contains("jira_agile"),
            "{err}"
        );
        assert_eq!(Toolsets::ALL.iter().count(), Toolset::ALL.len());
        assert_eq!(
            Toolsets::DEFAULT
                .iter()
                .map(Toolset::name)
                .collect::<Vec<_>>(),
            ["jira", "confluence", "gitlab", "cross"]
        );
    }

    #[test]
    fn tool_rows_follow_their_toolset_blocks() {
        // Each toolset's rows are together, in `Toolset::ALL` order (so the README, the table and
        // `tools/list` read in one order).
        let order: Vec<Toolset> = TABLE.iter().map(|(_, t)| *t).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
    }
}
