//! Seed 000 compatibility on the WebSocket simple envelope only: that server's tool names, argument
//! names and `jira://issues` resource, mapped onto ours. MCP clients never see these aliases, so
//! `tools/list` has no duplicates. Pure tables and functions; `websocket.rs` applies them.
//!
//! Seed 000 (gabbar910's Jira-GitLab MCP server, its WEBSOCKET_README) names five tools and one
//! Jira resource; only `get_jira_issues`'s arguments (`jql`, `max_results`) are shown there. The
//! other argument names below follow the same snake_case style and are accepted next to ours.

use serde_json::{json, Map, Value};

/// The seed's resource of Jira issues.
pub const ISSUES_URI: &str = "jira://issues";

/// One seed tool name: the tool it runs, and the seed's argument names → ours.
pub struct Alias {
    /// The seed's name.
    pub name: &'static str,
    /// Our tool.
    pub target: &'static str,
    /// Seed argument → our argument.
    pub renames: &'static [(&'static str, &'static str)],
}

/// Every seed tool name. Three already are our names (only their arguments are renamed).
pub const ALIASES: &[Alias] = &[
    Alias {
        name: "get_jira_issues",
        target: "jira_search",
        renames: &[("max_results", "maxResults"), ("fields", "fields")],
    },
    Alias {
        name: "get_issues_by_tags",
        target: "jira_get_issues_by_labels",
        renames: &[
            ("project_key", "projectKey"),
            ("project", "projectKey"),
            ("tags", "labels"),
            ("max_results", "maxResults"),
        ],
    },
    Alias {
        name: "create_branch_for_issue",
        target: "create_branch_for_issue",
        renames: &[
            ("issue_key", "issueKey"),
            ("project_id", "projectId"),
            ("base_branch", "baseRef"),
        ],
    },
    Alias {
        name: "comment_on_issue",
        target: "comment_on_issue",
        renames: &[("issue_key", "issue"), ("comment", "body")],
    },
    Alias {
        name: "analyze_and_fix_issue",
        target: "analyze_and_fix_issue",
        renames: &[
            ("issue_key", "issueKey"),
            ("project_id", "projectId"),
            ("base_branch", "baseRef"),
        ],
    },
];

/// The alias for a seed tool name.
pub fn alias(name: &str) -> Option<&'static Alias> {
    ALIASES.iter().find(|a| a.name == name)
}

/// Seed arguments renamed to ours (ours pass through; `tags` given as one string becomes a list).
pub fn map_arguments(alias: &Alias, args: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in args {
        let key = alias
            .renames
            .iter()
            .find(|(seed, _)| *seed == k)
            .map_or(k, |(_, ours)| (*ours).to_owned());
        let v = match (key.as_str(), v) {
            ("labels", Value::String(s)) => json!(s
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()),
            (_, v) => v,
        };
        out.insert(key, v);
    }
    out
}

/// Adds the seed names that are not ours to a `tools/list` result, each as a copy of its target's
/// entry (so the schema is the one the call is validated against, plus the seed's argument names).
pub fn add_alias_tools(tools: &mut Vec<Value>) {
    for a in ALIASES.iter().filter(|a| a.name != a.target) {
        let Some(target) = tools.iter().find(|t| t["name"] == a.target).cloned() else {
            continue;
        };
        let mut t = target;
        t["name"] = json!(a.name);
        t["description"] = json!(format!(
            "{} (seed 000 name for {}; arguments {} are accepted too)",
            t["description"].as_str().unwrap_or_default(),
            a.target,
            a.renames
                .iter()
                .map(|(s, o)| format!("{s}→{o}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if let Some(props) = t["inputSchema"]["properties"].as_object_mut() {
            for (seed, ours) in a.renames {
                if let Some(schema) = props.get(*ours).cloned() {
                    props.entry(seed.to_owned()).or_insert(schema);
                }
            }
        }
        // Either name may carry a required argument, so neither is required by the copy.
        t["inputSchema"]["required"] = json!([]);
        tools.push(t);
    }
}

/// The `tools/call` arguments that read `jira://issues` (optionally `?project=KEY` or `?jql=…`).
pub fn issues_resource_call(uri: &str) -> Option<Map<String, Value>> {
    let rest = uri.strip_prefix(ISSUES_URI)?;
    if !(rest.is_empty() || rest.starts_with('?')) {
        return None;
    }
    let jql = match (
        crate::connector::query_param(uri, "jql"),
        crate::connector::query_param(uri, "project"),
    ) {
        (Some(jql), _) => jql,
        (None, Some(p)) => format!(
            "project = {} ORDER BY updated DESC",
            crate::connector::jira::jql_quote(&p)
        ),
        (None, None) => "ORDER BY updated DESC".to_owned(),
    };
    let mut m = Map::new();
    m.insert("jql".into(), json!(jql));
    m.insert("maxResults".into(), json!(50));
    Some(m)
}

/// The `jira://issues` entry of the envelope's `list_resources`.
pub fn issues_resource() -> Value {
    json!({
        "uri": ISSUES_URI,
        "name": "Jira issues",
        "description": "Recently updated Jira issues (seed 000's resource); ?project=KEY or ?jql=… narrows it",
        "mimeType": "application/json",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_arguments_are_renamed_and_ours_pass_through() {
        let a = alias("get_issues_by_tags").unwrap();
        let args = json!({"project_key": "DEMO", "tags": "backend, urgent", "maxResults": 3});
        let mapped = map_arguments(a, args.as_object().unwrap().clone());
        assert_eq!(
            Value::Object(mapped),
            json!({"projectKey": "DEMO", "labels": ["backend", "urgent"], "maxResults": 3})
        );
    }

    #[test]
    fn only_missing_names_are_added_to_the_list() {
        let mut tools = vec![
            json!({"name": "jira_search", "description": "Search", "inputSchema": {"type": "object", "properties": {"jql": {"type": "string"}, "maxResults": {"type": "integer"}}, "required": ["jql"]}}),
            json!({"name": "comment_on_issue", "description": "c", "inputSchema": {}}),
        ];
        add_alias_tools(&mut tools);
        let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
        assert_eq!(
            names,
            ["jira_search", "comment_on_issue", "get_jira_issues"]
        );
        assert_eq!(
            tools[2]["inputSchema"]["properties"]["max_results"]["type"],
            "integer"
        );
    }

    #[test]
    fn the_issues_resource_becomes_a_search() {
        assert_eq!(
            issues_resource_call("jira://issues?project=DEMO").unwrap()["jql"],
            "project = \"DEMO\" ORDER BY updated DESC"
        );
        assert!(issues_resource_call("jira://issue/DEMO-1").is_none());
        assert!(issues_resource_call("jira://issuesx").is_none());
    }
}
