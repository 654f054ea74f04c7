//! Atlassian Document Format (Jira rich text) read back as plain Markdown-ish text.

use serde_json::Value;

/// Renders an ADF document (or any ADF node) as readable text; `Null` gives an empty string.
pub fn to_text(node: &Value) -> String {
    let mut out = String::new();
    render(node, &mut out, 0);
    let trimmed = out.trim_end();
    trimmed.to_owned()
}

fn children(node: &Value, out: &mut String, depth: usize) {
    if let Some(list) = node.get("content").and_then(Value::as_array) {
        for c in list {
            render(c, out, depth);
        }
    }
}

fn render(node: &Value, out: &mut String, depth: usize) {
    let kind = node.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "text" => {
            let text = node.get("text").and_then(Value::as_str).unwrap_or("");
            let marks: Vec<&str> = node
                .get("marks")
                .and_then(Value::as_array)
                .map(|m| m.iter().filter_map(|m| m.get("type")?.as_str()).collect())
                .unwrap_or_default();
            let href = node
                .get("marks")
                .and_then(Value::as_array)
                .and_then(|m| m.iter().find(|m| m["type"] == "link"))
                .and_then(|m| m["attrs"]["href"].as_str());
            let mut t = text.to_owned();
            if marks.contains(&"code") {
                t = format!("`{t}`");
            }
            if marks.contains(&"strong") {
                t = format!("**{t}**");
            }
            if marks.contains(&"em") {
                t = format!("*{t}*");
            }
            if let Some(h) = href {
                t = format!("[{t}]({h})");
            }
            out.push_str(&t);
        }
        "hardBreak" => out.push('\n'),
        "paragraph" => {
            children(node, out, depth);
            out.push_str("\n\n");
        }
        "heading" => {
            let level = node["attrs"]["level"].as_u64().unwrap_or(1).clamp(1, 6) as usize;
            out.push_str(&"#".repeat(level));
            out.push(' ');
            children(node, out, depth);
            out.push_str("\n\n");
        }
        "bulletList" | "orderedList" => {
            let items = node.get("content").and_then(Value::as_array);
            for (i, item) in items.into_iter().flatten().enumerate() {
                out.push_str(&"  ".repeat(depth));
                if kind == "orderedList" {
                    out.push_str(&format!("{}. ", i + 1));
                } else {
                    out.push_str("- ");
                }
                let mut inner = String::new();
                children(item, &mut inner, depth + 1);
                out.push_str(inner.trim_end());
                out.push('\n');
            }
            out.push('\n');
        }
        "codeBlock" => {
            let lang = node["attrs"]["language"].as_str().unwrap_or("");
            out.push_str(&format!("```{lang}\n"));
            children(node, out, depth);
            out.push_str("\n```\n\n");
        }
        "mention" => {
            out.push_str(node["attrs"]["text"].as_str().unwrap_or("@someone"));
        }
        "emoji" => out.push_str(node["attrs"]["shortName"].as_str().unwrap_or("")),
        "inlineCard" | "blockCard" => out.push_str(node["attrs"]["url"].as_str().unwrap_or("")),
        "rule" => out.push_str("---\n\n"),
        _ => children(node, out, depth),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::markdown::to_adf;

    #[test]
    fn adf_round_trips_markdown_shapes() {
        let md =
            "# Title\n\nHello **world** and `x` [l](https://a.b)\n\n- a\n- b\n\n```sh\nls\n```";
        assert_eq!(to_text(&to_adf(md)), md);
        assert_eq!(to_text(&Value::Null), "");
    }
}
