//! Jira wiki markup (what Jira Server/Data Center stores in descriptions and comments): written from
//! the Markdown reader's blocks, and read back into Markdown. Covers what the Markdown side covers —
//! headings, paragraphs, lists, code blocks, bold, italic, monospace and links — plus `{noformat}`
//! and `{quote}`; anything else passes through as text.

use super::markdown::{parse, Block, Inline};

/// Characters that start wiki markup inside text and are escaped with a backslash.
const SPECIAL: &[char] = &['*', '_', '{', '}', '[', ']', '|', '\\', '^', '~', '+', '?'];

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if SPECIAL.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn spans(runs: &[Inline]) -> String {
    runs.iter()
        .map(|r| match r {
            Inline::Text(t) => escape(t),
            Inline::Strong(t) => format!("*{}*", escape(t)),
            Inline::Em(t) => format!("_{}_", escape(t)),
            // Monospace content is literal; braces inside would end it, so escape those.
            Inline::Code(t) => format!("{{{{{}}}}}", t.replace('{', "\\{").replace('}', "\\}")),
            Inline::Link { text, href } => {
                if text.is_empty() || text == href {
                    format!("[{href}]")
                } else {
                    format!("[{}|{href}]", escape(text))
                }
            }
        })
        .collect()
}

/// Renders Markdown as Jira wiki markup.
pub fn from_markdown(text: &str) -> String {
    parse(text)
        .iter()
        .map(|b| match b {
            Block::Heading(l, runs) => format!("h{l}. {}", spans(runs)),
            Block::Paragraph(lines) => lines
                .iter()
                .map(|l| spans(l))
                .collect::<Vec<_>>()
                .join("\\\\\n"),
            Block::Bullets(items) => items
                .iter()
                .map(|i| format!("* {}", spans(i)))
                .collect::<Vec<_>>()
                .join("\n"),
            Block::Numbered(items) => items
                .iter()
                .map(|i| format!("# {}", spans(i)))
                .collect::<Vec<_>>()
                .join("\n"),
            Block::Code(lang, code) => match lang {
                Some(l) => format!("{{code:{l}}}\n{code}\n{{code}}"),
                None => format!("{{code}}\n{code}\n{{code}}"),
            },
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Reads Jira wiki markup into Markdown.
pub fn to_markdown(wiki: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut lines = wiki.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if let Some(lang) = block_start(trimmed, "code") {
            let mut body = Vec::new();
            for l in lines.by_ref() {
                if l.trim() == "{code}" {
                    break;
                }
                body.push(l);
            }
            out.push(format!("```{lang}\n{}\n```", body.join("\n")));
        } else if block_start(trimmed, "noformat").is_some() {
            let mut body = Vec::new();
            for l in lines.by_ref() {
                if l.trim() == "{noformat}" {
                    break;
                }
                body.push(l);
            }
            out.push(format!("```\n{}\n```", body.join("\n")));
        } else if trimmed == "{quote}" {
            let mut body = Vec::new();
            for l in lines.by_ref() {
                if l.trim() == "{quote}" {
                    break;
                }
                body.push(format!("> {}", inline(l.trim())));
            }
            out.push(body.join("\n"));
        } else if let Some((level, rest)) = heading(trimmed) {
            out.push(format!("{} {}", "#".repeat(level), inline(rest)));
        } else if let Some((depth, rest)) =
            list_item(trimmed, '*').or_else(|| list_item(trimmed, '-'))
        {
            out.push(format!("{}- {}", "  ".repeat(depth - 1), inline(rest)));
        } else if let Some((depth, rest)) = list_item(trimmed, '#') {
            out.push(format!("{}1. {}", "  ".repeat(depth - 1), inline(rest)));
        } else if let Some(rest) = trimmed.strip_prefix("bq. ") {
            out.push(format!("> {}", inline(rest)));
        } else {
            out.push(inline(line.trim_end()));
        }
    }
    let text = out.join("\n");
    // Collapse the blank-line runs that block conversions leave behind.
    let mut result = String::with_capacity(text.len());
    let mut blank = 0;
    for l in text.lines() {
        if l.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        result.push_str(l);
        result.push('\n');
    }
    result.trim().to_owned()
}

/// `{name}` or `{name:params}` at the start of a block: the language (or empty).
fn block_start<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.strip_prefix('{')?.strip_prefix(name)?;
    if rest == "}" {
        return Some("");
    }
    let params = rest.strip_prefix(':')?.strip_suffix('}')?;
    // `{code:java}` or `{code:title=x|language=java}`.
    Some(
        params
            .split('|')
            .find_map(|p| p.strip_prefix("language="))
            .unwrap_or_else(|| if params.contains('=') { "" } else { params }),
    )
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let rest = line.strip_prefix('h')?;
    let level = rest.chars().next()?.to_digit(10)? as usize;
    let text = rest.get(1..)?.strip_prefix(". ")?;
    (1..=6).contains(&level).then_some((level, text.trim()))
}

fn list_item(line: &str, marker: char) -> Option<(usize, &str)> {
    let depth = line.chars().take_while(|c| *c == marker).count();
    let rest = line.get(depth..)?.strip_prefix(' ')?;
    (depth > 0 && !(marker == '-' && depth > 1)).then_some((depth, rest.trim()))
}

/// Converts inline wiki markup to Markdown.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let found: Option<(String, usize)> = match c {
            // Wiki `\\` is a forced line break; Markdown's is a backslash at the end of the line.
            '\\' if rest.starts_with("\\\\") => Some(("\\\n".to_owned(), 2)),
            '\\' => rest
                .chars()
                .nth(1)
                .filter(|n| SPECIAL.contains(n))
                .map(|n| (n.to_string(), 1 + n.len_utf8())),
            '{' if rest.starts_with("{{") => {
                rest[2..].find("}}").filter(|end| *end > 0).map(|end| {
                    (
                        format!(
                            "`{}`",
                            &rest[2..2 + end].replace("\\{", "{").replace("\\}", "}")
                        ),
                        end + 4,
                    )
                })
            }
            '*' => wrapped(rest, '*').map(|(t, n)| (format!("**{}**", inline(t)), n)),
            '_' => wrapped(rest, '_').map(|(t, n)| (format!("*{}*", inline(t)), n)),
            '-' => wrapped(rest, '-').map(|(t, n)| (format!("~~{}~~", inline(t)), n)),
            '[' => rest[1..].find(']').and_then(|end| {
                let body = &rest[1..1 + end];
                let (label, href) = match body.split_once('|') {
                    Some((l, h)) => (l, h),
                    None => (body, body),
                };
                (!href.is_empty() && !href.contains(' '))
                    .then(|| (format!("[{}]({href})", unescape(label)), end + 2))
            }),
            _ => None,
        };
        match found {
            Some((md, used)) => {
                out.push_str(&md);
                rest = &rest[used..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|n| SPECIAL.contains(n)) {
            continue;
        }
        out.push(c);
    }
    out
}

/// `*text*`-style spans: the marker must hug the text (`* not bold*` is not a span).
fn wrapped(text: &str, marker: char) -> Option<(&str, usize)> {
    let body = &text[1..];
    if body.starts_with(char::is_whitespace) || body.starts_with(marker) {
        return None;
    }
    let mut prev = '\0';
    for (i, c) in body.char_indices() {
        if c == marker && i > 0 && !prev.is_whitespace() && prev != '\\' {
            return Some((&body[..i], i + 2));
        }
        prev = c;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# Plan\n\nShip **now**, see [docs](https://x.test/a) and `cfg`.\n\n- one\n- *two*\n\n1. first\n2. second\n\n```rust\nfn main() {}\n```";

    #[test]
    fn markdown_becomes_wiki_markup() {
        let w = from_markdown(SAMPLE);
        assert_eq!(
            w,
            "h1. Plan\n\nShip *now*, see [docs|https://x.test/a] and {{cfg}}.\n\n* one\n* _two_\n\n# first\n# second\n\n{code:rust}\nfn main() {}\n{code}"
        );
        assert_eq!(from_markdown("a {b} [c"), "a \\{b\\} \\[c");
    }

    #[test]
    fn wiki_markup_reads_back_as_markdown() {
        assert_eq!(to_markdown(&from_markdown(SAMPLE)), "# Plan\n\nShip **now**, see [docs](https://x.test/a) and `cfg`.\n\n- one\n- *two*\n\n1. first\n1. second\n\n```rust\nfn main() {}\n```");
        assert_eq!(
            to_markdown("h2. Title\n{noformat}\n*raw*\n{noformat}\n** nested\nbq. quoted -gone-\nline\\\\next"),
            "## Title\n```\n*raw*\n```\n  - nested\n> quoted ~~gone~~\nline\\\nnext"
        );
        assert_eq!(to_markdown("a * b _ c [d"), "a * b _ c [d");
        assert_eq!(
            to_markdown("{code:title=x.java|language=java}\nint a;\n{code}"),
            "```java\nint a;\n```"
        );
    }
}
