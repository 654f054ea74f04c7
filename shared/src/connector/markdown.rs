//! A small Markdown reader for text that tools send upstream: headings, paragraphs, bullet and
//! numbered lists, fenced code, and inline bold, italic, code and links. It renders to Atlassian
//! Document Format (Jira comments and descriptions) and to Confluence storage format.

use serde_json::{json, Value};

/// An inline run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inline {
    /// Plain text.
    Text(String),
    /// `**strong**`.
    Strong(String),
    /// `*em*` or `_em_`.
    Em(String),
    /// `` `code` ``.
    Code(String),
    /// `[text](href)`.
    Link {
        /// Shown text.
        text: String,
        /// Target.
        href: String,
    },
}

/// A block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// `#`…`######` heading.
    Heading(u8, Vec<Inline>),
    /// A paragraph (soft line breaks kept as hard breaks).
    Paragraph(Vec<Vec<Inline>>),
    /// `-`/`*` items.
    Bullets(Vec<Vec<Inline>>),
    /// `1.` items.
    Numbered(Vec<Vec<Inline>>),
    /// Fenced code with an optional language.
    Code(Option<String>, String),
}

/// Parses Markdown into blocks.
pub fn parse(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().peekable();
    let mut para: Vec<Vec<Inline>> = Vec::new();
    let flush = |para: &mut Vec<Vec<Inline>>, blocks: &mut Vec<Block>| {
        if !para.is_empty() {
            blocks.push(Block::Paragraph(std::mem::take(para)));
        }
    };
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if let Some(lang) = trimmed.strip_prefix("```") {
            flush(&mut para, &mut blocks);
            let mut code = Vec::new();
            for l in lines.by_ref() {
                if l.trim_start().starts_with("```") {
                    break;
                }
                code.push(l);
            }
            let lang = lang.trim();
            blocks.push(Block::Code(
                (!lang.is_empty()).then(|| lang.to_owned()),
                code.join("\n"),
            ));
        } else if trimmed.is_empty() {
            flush(&mut para, &mut blocks);
        } else if let Some((level, rest)) = heading(trimmed) {
            flush(&mut para, &mut blocks);
            blocks.push(Block::Heading(level, inline(rest)));
        } else if let Some(item) = bullet(trimmed) {
            flush(&mut para, &mut blocks);
            let mut items = vec![inline(item)];
            while let Some(next) = lines.peek().and_then(|l| bullet(l.trim())) {
                items.push(inline(next));
                lines.next();
            }
            blocks.push(Block::Bullets(items));
        } else if let Some(item) = numbered(trimmed) {
            flush(&mut para, &mut blocks);
            let mut items = vec![inline(item)];
            while let Some(next) = lines.peek().and_then(|l| numbered(l.trim())) {
                items.push(inline(next));
                lines.next();
            }
            blocks.push(Block::Numbered(items));
        } else {
            para.push(inline(trimmed));
        }
    }
    flush(&mut para, &mut blocks);
    blocks
}

fn heading(line: &str) -> Option<(u8, &str)> {
    let level = line.bytes().take_while(|b| *b == b'#').count();
    let rest = line.get(level..)?;
    ((1..=6).contains(&level) && rest.starts_with(' ')).then(|| (level as u8, rest.trim()))
}

fn bullet(line: &str) -> Option<&str> {
    line.strip_prefix("- ")
        .or_else(|| line.strip_prefix("* "))
        .or_else(|| line.strip_prefix("+ "))
}

fn numbered(line: &str) -> Option<&str> {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0)
        .then(|| line[digits..].strip_prefix(". "))
        .flatten()
}

/// Parses inline Markdown.
pub fn inline(text: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let found = match c {
            '`' => delimited(rest, "`", "`").map(|(t, n)| (Inline::Code(t.to_owned()), n)),
            '*' if rest.starts_with("**") => {
                delimited(rest, "**", "**").map(|(t, n)| (Inline::Strong(t.to_owned()), n))
            }
            '*' | '_' => {
                let d = &rest[..1];
                delimited(rest, d, d).map(|(t, n)| (Inline::Em(t.to_owned()), n))
            }
            '[' => link(rest),
            _ => None,
        };
        match found {
            Some((node, used)) => {
                if !plain.is_empty() {
                    out.push(Inline::Text(std::mem::take(&mut plain)));
                }
                out.push(node);
                rest = &rest[used..];
            }
            None => {
                plain.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if !plain.is_empty() {
        out.push(Inline::Text(plain));
    }
    out
}

fn delimited<'t>(text: &'t str, open: &str, close: &str) -> Option<(&'t str, usize)> {
    let body = text.strip_prefix(open)?;
    let end = body.find(close)?;
    (end > 0).then(|| (&body[..end], open.len() + end + close.len()))
}

fn link(text: &str) -> Option<(Inline, usize)> {
    let close = text.find("](")?;
    let label = &text[1..close];
    let after = &text[close + 2..];
    let end = after.find(')')?;
    let href = &after[..end];
    (!href.is_empty() && !href.contains(' ')).then(|| {
        (
            Inline::Link {
                text: label.to_owned(),
                href: href.to_owned(),
            },
            close + 2 + end + 1,
        )
    })
}

/// Renders Markdown as an Atlassian Document Format document.
pub fn to_adf(text: &str) -> Value {
    let spans = |runs: &[Inline]| -> Vec<Value> {
        runs.iter()
            .filter_map(|r| {
                let (t, mark) = match r {
                    Inline::Text(t) => (t.as_str(), None),
                    Inline::Strong(t) => (t.as_str(), Some(json!({"type": "strong"}))),
                    Inline::Em(t) => (t.as_str(), Some(json!({"type": "em"}))),
                    Inline::Code(t) => (t.as_str(), Some(json!({"type": "code"}))),
                    Inline::Link { text, href } => (
                        text.as_str(),
                        Some(json!({"type": "link", "attrs": {"href": href}})),
                    ),
                };
                // ADF rejects empty text nodes.
                (!t.is_empty()).then(|| match mark {
                    Some(m) => json!({"type": "text", "text": t, "marks": [m]}),
                    None => json!({"type": "text", "text": t}),
                })
            })
            .collect()
    };
    let paragraph = |content: Vec<Value>| json!({"type": "paragraph", "content": content});
    let list = |kind: &str, items: &[Vec<Inline>]| {
        json!({"type": kind, "content": items.iter().map(|i| json!({
            "type": "listItem", "content": [paragraph(spans(i))]
        })).collect::<Vec<_>>()})
    };
    let content: Vec<Value> = parse(text)
        .iter()
        .map(|b| match b {
            Block::Heading(level, runs) => {
                json!({"type": "heading", "attrs": {"level": level}, "content": spans(runs)})
            }
            Block::Paragraph(lines) => {
                let mut content = Vec::new();
                for (i, l) in lines.iter().enumerate() {
                    if i > 0 {
                        content.push(json!({"type": "hardBreak"}));
                    }
                    content.extend(spans(l));
                }
                paragraph(content)
            }
            Block::Bullets(items) => list("bulletList", items),
            Block::Numbered(items) => list("orderedList", items),
            Block::Code(lang, code) => {
                let mut v = json!({"type": "codeBlock", "content": []});
                if !code.is_empty() {
                    v["content"] = json!([{"type": "text", "text": code}]);
                }
                if let Some(l) = lang {
                    v["attrs"] = json!({"language": l});
                }
                v
            }
        })
        .collect();
    json!({"type": "doc", "version": 1, "content": content})
}

/// Escapes text for XHTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// Renders Markdown as Confluence storage format (XHTML).
pub fn to_storage(text: &str) -> String {
    let spans = |runs: &[Inline]| -> String {
        runs.iter()
            .map(|r| match r {
                Inline::Text(t) => escape(t),
                Inline::Strong(t) => format!("<strong>{}</strong>", escape(t)),
                Inline::Em(t) => format!("<em>{}</em>", escape(t)),
                Inline::Code(t) => format!("<code>{}</code>", escape(t)),
                Inline::Link { text, href } => {
                    format!("<a href=\"{}\">{}</a>", escape(href), escape(text))
                }
            })
            .collect()
    };
    let items = |items: &[Vec<Inline>]| -> String {
        items
            .iter()
            .map(|i| format!("<li>{}</li>", spans(i)))
            .collect()
    };
    parse(text)
        .iter()
        .map(|b| match b {
            Block::Heading(l, runs) => format!("<h{l}>{}</h{l}>", spans(runs)),
            Block::Paragraph(lines) => format!(
                "<p>{}</p>",
                lines.iter().map(|l| spans(l)).collect::<Vec<_>>().join("<br />")
            ),
            Block::Bullets(i) => format!("<ul>{}</ul>", items(i)),
            Block::Numbered(i) => format!("<ol>{}</ol>", items(i)),
            Block::Code(lang, code) => {
                let lang = lang
                    .as_deref()
                    .map(|l| {
                        format!(
                            "<ac:parameter ac:name=\"language\">{}</ac:parameter>",
                            escape(l)
                        )
                    })
                    .unwrap_or_default();
                // CDATA cannot contain "]]>": split it across two sections.
                let body = code.replace("]]>", "]]]]><![CDATA[>");
                format!("<ac:structured-macro ac:name=\"code\">{lang}<ac:plain-text-body><![CDATA[{body}]]></ac:plain-text-body></ac:structured-macro>")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# Plan\n\nShip **now**, see [docs](https://x.test/a) and `cfg`.\nSecond line\n\n- one\n- *two*\n\n1. first\n2. second\n\n```rust\nfn main() {}\n```";

    #[test]
    fn markdown_becomes_adf() {
        let doc = to_adf(SAMPLE);
        assert_eq!(doc["type"], "doc");
        assert_eq!(doc["version"], 1);
        let c = doc["content"].as_array().unwrap();
        assert_eq!(c[0]["type"], "heading");
        assert_eq!(c[0]["attrs"]["level"], 1);
        assert_eq!(c[1]["content"][1]["marks"][0]["type"], "strong");
        assert_eq!(
            c[1]["content"][3]["marks"][0]["attrs"]["href"],
            "https://x.test/a"
        );
        assert!(c[1]["content"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "hardBreak"));
        assert_eq!(c[2]["type"], "bulletList");
        assert_eq!(
            c[2]["content"][1]["content"][0]["content"][0]["marks"][0]["type"],
            "em"
        );
        assert_eq!(c[3]["type"], "orderedList");
        assert_eq!(c[4]["type"], "codeBlock");
        assert_eq!(c[4]["attrs"]["language"], "rust");
        assert_eq!(c[4]["content"][0]["text"], "fn main() {}");
    }

    #[test]
    fn markdown_becomes_storage_and_escapes() {
        let s = to_storage("Use <b> & \"q\"\n\n```\na]]>b\n```");
        assert_eq!(
            s,
            "<p>Use &lt;b&gt; &amp; &quot;q&quot;</p><ac:structured-macro ac:name=\"code\"><ac:plain-text-body><![CDATA[a]]]]><![CDATA[>b]]></ac:plain-text-body></ac:structured-macro>"
        );
        assert!(to_storage(SAMPLE).starts_with("<h1>Plan</h1><p>Ship <strong>now</strong>"));
    }

    #[test]
    fn unmatched_markers_stay_text() {
        assert_eq!(inline("a * b [c"), vec![Inline::Text("a * b [c".into())]);
    }
}
