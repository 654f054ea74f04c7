//! Server-Sent Events framing: an encoder for replies and a parser for tests and the bridge.

use bytes::Bytes;

/// One SSE event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `id:` field.
    pub id: Option<String>,
    /// `event:` field (absent means "message").
    pub event: Option<String>,
    /// `data:` field (joined with `\n` when split over lines).
    pub data: String,
    /// `retry:` field in milliseconds.
    pub retry: Option<u64>,
}

impl SseEvent {
    /// A `message` event carrying `data`.
    pub fn message(id: Option<String>, data: impl Into<String>) -> Self {
        SseEvent {
            id,
            event: Some("message".into()),
            data: data.into(),
            retry: None,
        }
    }

    /// Encodes the event as wire bytes, ending with a blank line.
    pub fn encode(&self) -> Bytes {
        let mut out = String::with_capacity(self.data.len() + 48);
        if let Some(event) = &self.event {
            out.push_str("event: ");
            out.push_str(&sanitize_line(event));
            out.push('\n');
        }
        if let Some(id) = &self.id {
            out.push_str("id: ");
            out.push_str(&sanitize_line(id));
            out.push('\n');
        }
        if let Some(retry) = self.retry {
            out.push_str(&format!("retry: {retry}\n"));
        }
        for line in self.data.split('\n') {
            out.push_str("data: ");
            out.push_str(line.strip_suffix('\r').unwrap_or(line));
            out.push('\n');
        }
        out.push('\n');
        Bytes::from(out)
    }
}

fn sanitize_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// A keep-alive comment frame that proxies see as traffic and clients ignore.
pub fn keepalive_frame() -> Bytes {
    Bytes::from_static(b": keep-alive\n\n")
}

/// Incremental SSE parser (WHATWG rules: `\n`, `\r\n` or `\r` line ends; comments ignored).
#[derive(Debug, Default)]
pub struct SseParser {
    buffer: String,
    pending: SseEvent,
    has_data: bool,
    last_id: Option<String>,
}

impl SseParser {
    /// A fresh parser.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last event id seen, for `Last-Event-ID`.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Feeds bytes and returns the events completed by them. Invalid UTF-8 is replaced, never a panic.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buffer.push_str(&String::from_utf8_lossy(chunk));
        let mut events = Vec::new();
        while let Some(pos) = self.buffer.find(['\n', '\r']) {
            let is_cr = self.buffer.as_bytes()[pos] == b'\r';
            if is_cr && pos + 1 == self.buffer.len() {
                break; // wait: this may be half of a CRLF
            }
            let line: String = self.buffer[..pos].to_owned();
            let skip = if is_cr && self.buffer.as_bytes().get(pos + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            self.buffer.drain(..pos + skip);
            if let Some(event) = self.line(&line) {
                events.push(event);
            }
        }
        events
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.pending);
            let had = std::mem::take(&mut self.has_data);
            return (had || event.id.is_some()).then_some(event);
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.pending.data.push('\n');
                }
                self.pending.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.pending.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => {
                self.pending.id = Some(value.to_owned());
                self.last_id = Some(value.to_owned());
            }
            "retry" => self.pending.retry = value.parse().ok(),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips_multiline_data() {
        let ev = SseEvent {
            id: Some("3-1".into()),
            event: Some("message".into()),
            data: "a\nb".into(),
            retry: Some(100),
        };
        let mut p = SseParser::new();
        let got = p.feed(&ev.encode());
        assert_eq!(got, vec![ev]);
        assert_eq!(p.last_event_id(), Some("3-1"));
    }

    #[test]
    fn handles_split_crlf_and_comments() {
        let mut p = SseParser::new();
        assert!(p.feed(b": keep-alive\r").is_empty());
        assert!(p.feed(b"\n\r\ndata: x\r").is_empty());
        let got = p.feed(b"\n\r\n");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data, "x");
    }

    proptest! {
        #[test]
        fn parser_never_panics(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)) {
            let mut p = SseParser::new();
            for c in &chunks { let _ = p.feed(c); }
        }

        #[test]
        fn encoded_events_parse_back(data in "[a-z{}\":, \n]{0,64}", id in "[0-9a-z-]{1,12}") {
            let ev = SseEvent::message(Some(id), data);
            let mut p = SseParser::new();
            let got = p.feed(&ev.encode());
            prop_assert_eq!(got, vec![ev]);
        }
    }
}
