//! Confluence storage format (XHTML with `ac:`/`ri:` macros) read as Markdown.
//!
//! A forgiving tag walker: unknown tags are dropped and their text kept, so any page yields
//! readable text. Handles headings, paragraphs, line breaks, lists, emphasis, code, links,
//! tables, the `code` macro (CDATA bodies) and page links.

/// Converts storage-format XHTML to Markdown.
pub fn to_markdown(xhtml: &str) -> String {
    let mut w = Walker::default();
    let mut rest = xhtml;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after.find("]]>").unwrap_or(after.len());
            w.raw(&after[..end]);
            rest = after.get(end + 3..).unwrap_or("");
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |e| &after[e + 3..]);
        } else if let Some(end) = rest.starts_with('<').then(|| rest.find('>')).flatten() {
            w.tag(&rest[1..end]);
            rest = &rest[end + 1..];
        } else if rest.starts_with('<') {
            // An unterminated tag is text.
            w.text(&decode_entities(rest));
            rest = "";
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            w.text(&decode_entities(&rest[..end]));
            rest = &rest[end..];
        }
    }
    w.finish()
}

#[derive(Default)]
struct Walker {
    out: String,
    lists: Vec<(bool, usize)>,
    link: Option<String>,
    link_text: String,
    in_pre: usize,
    in_code_macro: bool,
    row_cells: usize,
    header_row_done: bool,
    pending_page_title: Option<String>,
    macro_param: Option<String>,
}

impl Walker {
    fn push(&mut self, s: &str) {
        if self.link.is_some() {
            self.link_text.push_str(s);
        } else {
            self.out.push_str(s);
        }
    }

    fn raw(&mut self, s: &str) {
        self.push(s);
    }

    fn text(&mut self, s: &str) {
        if self.in_pre > 0 || self.in_code_macro {
            self.push(s);
            return;
        }
        // Collapse whitespace as HTML does.
        let mut collapsed = String::with_capacity(s.len());
        let mut space = false;
        for c in s.chars() {
            if c.is_whitespace() {
                if !space {
                    collapsed.push(' ');
                }
                space = true;
            } else {
                collapsed.push(c);
                space = false;
            }
        }
        if collapsed == " " && (self.out.ends_with('\n') || self.out.is_empty()) {
            return;
        }
        self.push(&collapsed);
    }

    fn block_break(&mut self) {
        let trimmed = self.out.trim_end_matches(' ').len();
        self.out.truncate(trimmed);
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            if self.out.ends_with('\n') {
                self.out.push('\n');
            } else {
                self.out.push_str("\n\n");
            }
        }
    }

    fn line_break(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    fn tag(&mut self, raw: &str) {
        let closing = raw.starts_with('/');
        let body = raw.trim_start_matches('/').trim_end_matches('/');
        let name = body
            .split(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let attr = |key: &str| attribute(body, key);
        match (name.as_str(), closing) {
            ("h1" | "h2" | "h3" | "h4" | "h5" | "h6", false) => {
                self.block_break();
                let level = name[1..].parse::<usize>().unwrap_or(1);
                self.out.push_str(&"#".repeat(level));
                self.out.push(' ');
            }
            ("h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "p" | "table" | "blockquote", true) => {
                self.block_break()
            }
            ("p" | "blockquote" | "div", false) if self.lists.is_empty() => self.block_break(),
            ("br", _) => self.push("\n"),
            ("hr", _) => {
                self.block_break();
                self.out.push_str("---\n\n");
            }
            ("ul" | "ol", false) => {
                if self.lists.is_empty() {
                    self.block_break();
                } else {
                    self.line_break();
                }
                self.lists.push((name == "ol", 0));
            }
            ("ul" | "ol", true) => {
                self.lists.pop();
                if self.lists.is_empty() {
                    self.block_break();
                }
            }
            ("li", false) => {
                self.line_break();
                let depth = self.lists.len().saturating_sub(1);
                let marker = match self.lists.last_mut() {
                    Some((true, n)) => {
                        *n += 1;
                        format!("{n}. ")
                    }
                    _ => "- ".to_owned(),
                };
                self.out.push_str(&"  ".repeat(depth));
                self.out.push_str(&marker);
            }
            ("li", true) => self.line_break(),
            ("strong" | "b", _) => self.push("**"),
            ("em" | "i", _) => self.push("*"),
            ("code", _) if self.in_pre == 0 => self.push("`"),
            ("pre", false) => {
                self.block_break();
                self.out.push_str("```\n");
                self.in_pre += 1;
            }
            ("pre", true) => {
                self.in_pre = self.in_pre.saturating_sub(1);
                self.line_break();
                self.out.push_str("```\n\n");
            }
            ("a", false) => {
                self.link = Some(attr("href").unwrap_or_default());
                self.link_text.clear();
            }
            ("a", true) => {
                if let Some(href) = self.link.take() {
                    let text = std::mem::take(&mut self.link_text);
                    let text = if text.trim().is_empty() {
                        href.clone()
                    } else {
                        text
                    };
                    self.out.push_str(&format!("[{}]({href})", text.trim()));
                }
            }
            ("tr", false) => {
                self.line_break();
                self.row_cells = 0;
                self.out.push('|');
            }
            ("tr", true) => {
                self.out.push('\n');
                if !self.header_row_done {
                    self.out.push('|');
                    self.out.push_str(&" --- |".repeat(self.row_cells.max(1)));
                    self.out.push('\n');
                    self.header_row_done = true;
                }
            }
            ("table", false) => {
                self.block_break();
                self.header_row_done = false;
            }
            ("td" | "th", false) => self.out.push(' '),
            ("td" | "th", true) => {
                self.row_cells += 1;
                self.out.push_str(" |");
            }
            ("ac:structured-macro", false) if attr("ac:name").as_deref() == Some("code") => {
                self.block_break();
                self.in_code_macro = true;
            }
            ("ac:parameter", false) if self.in_code_macro => {
                // Parameter text (language, title…) is captured, not shown in the body.
                self.macro_param = attr("ac:name");
                self.link = Some(String::new());
                self.link_text.clear();
            }
            ("ac:parameter", true) if self.in_code_macro => {
                self.link = None;
                let value = std::mem::take(&mut self.link_text);
                if self.macro_param.take().as_deref() == Some("language") {
                    self.out.push_str(&format!("```{}\n", value.trim()));
                }
            }
            ("ac:plain-text-body", false)
                if self.in_code_macro
                    && !self.out.ends_with("```\n")
                    && !self.out.contains_fence_open() =>
            {
                self.out.push_str("```\n");
            }
            ("ac:plain-text-body", true) if self.in_code_macro => {
                self.line_break();
                self.out.push_str("```\n\n");
                self.in_code_macro = false;
            }
            ("ri:page", _) => {
                self.pending_page_title = attr("ri:content-title");
            }
            ("ac:link", true) => {
                if let Some(t) = self.pending_page_title.take() {
                    self.push(&format!("[[{t}]]"));
                }
            }
            _ => {}
        }
    }

    fn finish(self) -> String {
        let mut lines: Vec<&str> = self.out.lines().map(str::trim_end).collect();
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        let mut out = String::new();
        let mut blank = 0;
        for l in lines {
            blank = if l.is_empty() { blank + 1 } else { 0 };
            if blank < 2 {
                out.push_str(l);
                out.push('\n');
            }
        }
        out.trim().to_owned()
    }
}

trait FenceOpen {
    fn contains_fence_open(&self) -> bool;
}

impl FenceOpen for String {
    /// Whether the text ends inside an opened code fence.
    fn contains_fence_open(&self) -> bool {
        self.matches("```").count() % 2 == 1
    }
}

fn attribute(tag: &str, key: &str) -> Option<String> {
    let at = tag.find(&format!("{key}="))?;
    let after = &tag[at + key.len() + 1..];
    let quote = after.chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let body = &after[1..];
    let end = body.find(quote)?;
    Some(decode_entities(&body[..end]))
}

/// Decodes the XML/HTML entities Confluence emits.
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_becomes_readable_markdown() {
        let page = r#"<h1>Engineering Home</h1><p>Welcome to <strong>Engineering</strong> &amp; friends. See <a href="https://x.test/d">the docs</a>.</p><ul><li>One</li><li>Two<ul><li>Nested</li></ul></li></ul><ac:structured-macro ac:name="code" ac:schema-version="1"><ac:parameter ac:name="language">bash</ac:parameter><ac:plain-text-body><![CDATA[echo "<hi>" && exit 0]]></ac:plain-text-body></ac:structured-macro><table><tbody><tr><th>Name</th><th>Owner</th></tr><tr><td>API</td><td>Team&nbsp;A</td></tr></tbody></table><p>Link: <ac:link><ri:page ri:content-title="Runbook 1" /></ac:link></p>"#;
        let md = to_markdown(page);
        assert_eq!(
            md,
            "# Engineering Home\n\nWelcome to **Engineering** & friends. See [the docs](https://x.test/d).\n\n- One\n- Two\n  - Nested\n\n```bash\necho \"<hi>\" && exit 0\n```\n\n| Name | Owner |\n| --- | --- |\n| API | Team A |\n\nLink: [[Runbook 1]]"
        );
    }

    #[test]
    fn markdown_round_trips_through_storage() {
        let md = "## Steps\n\n1. Build\n2. Ship **it**\n\n```\nmake\n```";
        assert_eq!(to_markdown(&crate::connector::markdown::to_storage(md)), md);
    }

    #[test]
    fn entities_and_garbage_never_panic() {
        assert_eq!(
            decode_entities("a &lt;b&gt; &#65;&#x42; & c &bogus;"),
            "a <b> AB & c &bogus;"
        );
        for s in [
            "<",
            "<a",
            "<![CDATA[x",
            "<!-- x",
            "&",
            "<ac:parameter>",
            "</li></ul></ol>",
        ] {
            let _ = to_markdown(s);
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = to_markdown(&s);
        }
    }
}
