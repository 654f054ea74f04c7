//! Notifications the gateway's own tools send while a call runs (`notifications/progress`,
//! `notifications/message`), and the live reply that carries them.
//!
//! The core decides: a tool reports through its [`Notifier`], which sends progress only when the
//! request carried a `progressToken` (and only increasing values, as the spec requires), and log
//! messages only at or above the level the client asked for (`logging/setLevel` in a 2025 session;
//! the request's `_meta` `io.modelcontextprotocol/logLevel` in 2026-07-28, where no level means no
//! log messages). What it sends goes, as SSE frames, into the request's [`Outlet`]; the reply to a
//! `POST /mcp` whose call sent something becomes `text/event-stream`: those notifications, then
//! the answer (Streamable HTTP: messages related to a request travel on its response stream before
//! the response, as the stdio bridge relays a bridged server's; see [`crate::relay::Route`]). A call
//! that sends nothing keeps its JSON answer.
//!
//! The platform only moves bytes: it puts an outlet on the request (`transport::live::Related`,
//! from `McpApp::live`), runs the core's handling and hands it to `Related::start`, which says
//! whether the reply is whole or streams; a streaming body's frames come from
//! `LiveBody::into_stream` as they are sent ([`crate::transport::live`]).

use std::sync::Mutex;

use bytes::Bytes;
use futures_channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use serde_json::{json, Map, Value};

use crate::transport::sse::SseEvent;

/// Most notifications one call sends; later ones are dropped, so a chatty tool and a slow client
/// cannot grow the buffer without bound (1024 frames of a few hundred bytes each).
pub const MAX_NOTES_PER_CALL: u32 = 1024;

/// Log level of a 2025 session whose client never sent `logging/setLevel` (the spec lets the server
/// choose): `info` and above, so debug chatter waits until a client asks for it.
pub const DEFAULT_SESSION_LOG_LEVEL: LogLevel = LogLevel::Info;

/// RFC 5424 severities, as MCP names them, least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `notice`
    Notice,
    /// `warning`
    Warning,
    /// `error`
    Error,
    /// `critical`
    Critical,
    /// `alert`
    Alert,
    /// `emergency`
    Emergency,
}

impl LogLevel {
    const ALL: [LogLevel; 8] = [
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Notice,
        LogLevel::Warning,
        LogLevel::Error,
        LogLevel::Critical,
        LogLevel::Alert,
        LogLevel::Emergency,
    ];

    /// The level named `name` (exact, lower case), if MCP defines it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == name)
    }

    /// The level's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
            LogLevel::Alert => "alert",
            LogLevel::Emergency => "emergency",
        }
    }
}

/// The sending end of a request's related messages: SSE frames for the response stream. Put on the
/// request (its extensions) by `McpApp::live`; the core takes it only where the reply can stream.
#[derive(Debug, Clone)]
pub struct Outlet(UnboundedSender<Bytes>);

#[derive(Debug, Default)]
struct Sent {
    count: u32,
    last_progress: Option<f64>,
}

/// A notifier that sends nothing: for task runs, resource reads and transports without a response
/// stream to carry notifications.
pub static SILENT: Notifier = Notifier {
    outlet: None,
    progress_token: None,
    log_floor: None,
    sent: Mutex::new(Sent {
        count: 0,
        last_progress: None,
    }),
};

/// What a tool reports through while it runs (inert as [`SILENT`] where nothing can carry
/// notifications).
#[derive(Debug)]
pub struct Notifier {
    outlet: Option<Outlet>,
    progress_token: Option<Value>,
    log_floor: Option<LogLevel>,
    sent: Mutex<Sent>,
}

impl Notifier {
    /// A notifier for one call: `outlet` where its reply can carry notifications, the request's
    /// `progressToken` (a string or an integer; anything else is no token), and the least severe
    /// level the client wants logged (`None`: no log messages).
    pub fn new(
        outlet: Option<Outlet>,
        progress_token: Option<&Value>,
        log_floor: Option<LogLevel>,
    ) -> Self {
        let progress_token = progress_token
            .filter(|t| t.is_string() || t.is_i64() || t.is_u64())
            .cloned();
        Notifier {
            outlet,
            progress_token,
            log_floor,
            sent: Mutex::new(Sent::default()),
        }
    }

    /// Whether progress notifications reach the client (it sent a token and the reply can carry them).
    pub fn wants_progress(&self) -> bool {
        self.outlet.is_some() && self.progress_token.is_some()
    }

    /// Whether a log message at `level` reaches the client.
    pub fn wants_log(&self, level: LogLevel) -> bool {
        self.outlet.is_some() && self.log_floor.is_some_and(|floor| level >= floor)
    }

    /// Reports `progress` (of `total`, when known) with an optional human-readable `message`. Sent
    /// only when the client asked for progress and the value is above the last one sent (the spec:
    /// "The progress value MUST increase with each notification").
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let Some(token) = self
            .progress_token
            .as_ref()
            .filter(|_| self.wants_progress())
        else {
            return;
        };
        if !progress.is_finite() {
            return;
        }
        let mut params = Map::new();
        params.insert("progressToken".into(), token.clone());
        params.insert("progress".into(), json!(progress));
        if let Some(total) = total.filter(|t| t.is_finite()) {
            params.insert("total".into(), json!(total));
        }
        if let Some(message) = message {
            params.insert("message".into(), json!(message));
        }
        self.send("notifications/progress", params, Some(progress));
    }

    /// Logs `data` at `level` from `logger` (optional), when the client wants that level.
    pub fn log(&self, level: LogLevel, logger: Option<&str>, data: Value) {
        if !self.wants_log(level) {
            return;
        }
        let mut params = Map::new();
        params.insert("level".into(), json!(level.as_str()));
        if let Some(logger) = logger {
            params.insert("logger".into(), json!(logger));
        }
        params.insert("data".into(), data);
        self.send("notifications/message", params, None);
    }

    fn send(&self, method: &str, params: Map<String, Value>, progress: Option<f64>) {
        let Some(outlet) = &self.outlet else {
            return;
        };
        {
            let Ok(mut sent) = self.sent.lock() else {
                return;
            };
            if sent.count >= MAX_NOTES_PER_CALL {
                return;
            }
            if let Some(p) = progress {
                if sent.last_progress.is_some_and(|last| p <= last) {
                    return;
                }
                sent.last_progress = Some(p);
            }
            sent.count += 1;
        }
        let message = json!({"jsonrpc": "2.0", "method": method, "params": params});
        // The receiver is gone only when the client left; the call ends with its reply anyway.
        let _ = outlet
            .0
            .unbounded_send(SseEvent::message(None, message.to_string()).encode());
    }
}

/// A fresh outlet and its receiving end (see `crate::transport::live::Related`).
pub(crate) fn channel() -> (Outlet, UnboundedReceiver<Bytes>) {
    let (tx, rx) = unbounded();
    (Outlet(tx), rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::BoxFuture;
    use crate::transport::live::{Related, Started};
    use crate::transport::{Reply, ReplyBody};
    use futures::executor::block_on;
    use futures_util::StreamExt as _;
    use http::StatusCode;

    fn notes(rx: &mut UnboundedReceiver<Bytes>) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            let text = String::from_utf8(frame.to_vec()).expect("utf-8");
            let data = text
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .expect("a data line");
            out.push(serde_json::from_str(data).expect("json"));
        }
        out
    }

    fn head() -> Reply {
        Reply::sse(Vec::new(), None)
    }

    #[test]
    fn progress_needs_a_token_and_only_increases() {
        let (outlet, mut related) = Related::new(head());
        let n = Notifier::new(Some(outlet.clone()), Some(&json!("tok")), None);
        n.progress(0.0, Some(100.0), None);
        n.progress(50.0, Some(100.0), Some("half"));
        n.progress(50.0, Some(100.0), None);
        n.progress(10.0, None, None);
        n.progress(f64::NAN, None, None);
        n.progress(100.0, Some(100.0), None);
        let sent = notes(related.receiver());
        let values: Vec<f64> = sent
            .iter()
            .map(|m| m["params"]["progress"].as_f64().unwrap())
            .collect();
        assert_eq!(values, vec![0.0, 50.0, 100.0]);
        assert_eq!(sent[1]["params"]["message"], "half");
        assert!(sent
            .iter()
            .all(|m| m["params"]["progressToken"] == "tok"
                && m["method"] == "notifications/progress"));
        for token in [None, Some(json!({"not": "a token"})), Some(json!(1.5))] {
            let n = Notifier::new(Some(outlet.clone()), token.as_ref(), None);
            n.progress(1.0, None, None);
            assert!(!n.wants_progress());
        }
        let n = Notifier::new(Some(outlet), Some(&json!(7)), None);
        n.progress(1.0, None, None);
        assert_eq!(notes(related.receiver())[0]["params"]["progressToken"], 7);
    }

    #[test]
    fn log_messages_only_at_or_above_the_floor_and_never_without_one() {
        let (outlet, mut related) = Related::new(head());
        let n = Notifier::new(Some(outlet.clone()), None, Some(LogLevel::Warning));
        n.log(LogLevel::Info, None, json!("quiet"));
        n.log(LogLevel::Warning, Some("fixture"), json!("loud"));
        n.log(LogLevel::Emergency, None, json!({"k": 1}));
        let sent = notes(related.receiver());
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0]["method"], "notifications/message");
        assert_eq!(
            sent[0]["params"],
            json!({"level": "warning", "logger": "fixture", "data": "loud"})
        );
        let none = Notifier::new(Some(outlet), None, None);
        none.log(LogLevel::Emergency, None, json!("x"));
        assert!(notes(related.receiver()).is_empty());
        SILENT.log(LogLevel::Emergency, None, json!("x"));
        SILENT.progress(1.0, None, None);
    }

    #[test]
    fn a_call_stops_at_the_bound() {
        let (outlet, mut related) = Related::new(head());
        let n = Notifier::new(Some(outlet), None, Some(LogLevel::Debug));
        for i in 0..MAX_NOTES_PER_CALL + 10 {
            n.log(LogLevel::Info, None, json!(i));
        }
        assert_eq!(notes(related.receiver()).len(), MAX_NOTES_PER_CALL as usize);
    }

    #[test]
    fn level_names_round_trip_in_order() {
        for pair in LogLevel::ALL.windows(2) {
            assert!(pair[0] < pair[1]);
        }
        for l in LogLevel::ALL {
            assert_eq!(LogLevel::parse(l.as_str()), Some(l));
        }
        assert_eq!(LogLevel::parse("WARNING"), None);
        assert_eq!(LogLevel::parse("warn"), None);
    }

    fn answer() -> Reply {
        Reply::json(
            StatusCode::OK,
            &json!({"jsonrpc": "2.0", "id": 1, "result": {}}),
        )
    }

    #[test]
    fn nothing_sent_keeps_the_whole_reply() {
        let (outlet, related) = Related::new(head());
        let handled: BoxFuture<'static, Reply> = Box::pin(async move {
            drop(outlet);
            answer()
        });
        match block_on(related.start(handled)) {
            Started::Whole(r) => assert!(matches!(r.response.body(), ReplyBody::Full(_))),
            Started::Streaming(..) => panic!("nothing was sent, so nothing streams"),
        }
    }

    #[test]
    fn an_outlet_dropped_unused_before_the_answer_keeps_the_whole_reply() {
        let (outlet, related) = Related::new(head());
        drop(outlet);
        // Still running when the outlet's end is seen: pending once, then the answer.
        let mut polled = false;
        let handled: BoxFuture<'static, Reply> = Box::pin(async move {
            futures_util::future::poll_fn(move |cx| {
                if polled {
                    std::task::Poll::Ready(())
                } else {
                    polled = true;
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
            })
            .await;
            answer()
        });
        match block_on(related.start(handled)) {
            Started::Whole(r) => assert!(matches!(r.response.body(), ReplyBody::Full(_))),
            Started::Streaming(..) => panic!("nothing was sent, so nothing streams"),
        }
    }

    #[test]
    fn notifications_sent_before_the_answer_come_first_in_an_event_stream() {
        let (outlet, related) = Related::new(head());
        let handled: BoxFuture<'static, Reply> = Box::pin(async move {
            let n = Notifier::new(Some(outlet), Some(&json!("t")), None);
            n.progress(1.0, None, None);
            n.progress(2.0, None, None);
            answer()
        });
        let frames = match block_on(related.start(handled)) {
            Started::Whole(r) => match r.response.into_body() {
                ReplyBody::Sse { frames, .. } => frames,
                other => panic!("expected SSE, got {other:?}"),
            },
            Started::Streaming(head, body) => {
                let mut frames = match head.response.into_body() {
                    ReplyBody::Sse { frames, .. } => frames,
                    other => panic!("expected SSE, got {other:?}"),
                };
                frames.extend(block_on(body.into_stream().collect::<Vec<_>>()));
                frames
            }
        };
        let texts: Vec<String> = frames
            .iter()
            .map(|f| String::from_utf8(f.to_vec()).unwrap())
            .collect();
        assert_eq!(texts.len(), 3);
        assert!(texts[0].contains("\"progress\":1.0"), "{texts:?}");
        assert!(texts[1].contains("\"progress\":2.0"), "{texts:?}");
        assert!(texts[2].contains("\"result\""), "{texts:?}");
    }

    #[test]
    fn a_live_body_streams_each_notification_before_the_answer_exists() {
        let (outlet, related) = Related::new(head());
        let (go_tx, go_rx) = futures_channel::oneshot::channel::<()>();
        let handled: BoxFuture<'static, Reply> = Box::pin(async move {
            let n = Notifier::new(Some(outlet), Some(&json!("t")), None);
            n.progress(1.0, None, None);
            // The answer waits for the test: the first notification must be out before it.
            let _ = go_rx.await;
            answer()
        });
        let (head, mut body) = match block_on(related.start(handled)) {
            Started::Streaming(head, body) => (head, body),
            Started::Whole(_) => panic!("the call was still running, so the reply must stream"),
        };
        assert_eq!(head.response.headers()["content-type"], "text/event-stream");
        match head.response.body() {
            ReplyBody::Sse { frames, .. } => assert_eq!(frames.len(), 1),
            other => panic!("expected SSE, got {other:?}"),
        }
        go_tx.send(()).unwrap();
        let last = block_on(body.next()).expect("the answer");
        assert!(String::from_utf8_lossy(&last).contains("\"result\""));
        assert!(block_on(body.next()).is_none());
    }
}
