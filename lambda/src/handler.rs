//! The handler of one invocation ([`handle`]: the request to the core, its reply as a whole or
//! streamed body) and its helpers, unit-tested here: the base path in front of the function, the
//! request as the core sees it, the `/ws` refusal, the DynamoDB counters on `/metrics`, the time left
//! before the invocation's deadline, whole replies, and the held stream whose end gives its lease
//! back (client gone, session ended, or the deadline near).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use lambda_http::request::RequestContext;
use lambda_http::RequestExt as _;
use mcp_edge_core::gateway::{ClientAddress, ListenHold};
use mcp_edge_core::port::Clock as _;
use mcp_edge_core::port::UnixMillis;
use mcp_edge_core::transport::hold::Closed;
use mcp_edge_core::transport::live::{LiveBody, Started};
use mcp_edge_core::transport::{Reply, ReplyBody, StreamHold};
use mcp_edge_core::McpApp;
use mcp_edge_native::held::{drive, FrameSource, OutboxSource, Watching};
use mcp_edge_native::SystemClock;
use serde_json::json;
use std::future::pending;
use tokio::sync::mpsc;

use crate::store::StoreCalls;

/// What every invocation shares (built once per execution environment).
pub struct Gateway {
    /// The core.
    pub app: Arc<McpApp>,
    /// DynamoDB call counters, appended to `/metrics`.
    pub calls: Arc<StoreCalls>,
    /// How often a held legacy stream reads its session's outbox.
    pub legacy_poll: Duration,
    /// The path prefix in front of the function ([`base_path`]).
    pub base_path: String,
    /// The span exporter, when `OTEL_*` settings ask for export: flushed before each invocation
    /// answers, since a frozen execution environment sends nothing.
    pub exporter: Option<Arc<mcp_edge_native::OtlpExporter>>,
}

/// A streamed response body.
pub type StreamedBody = UnsyncBoxBody<Bytes, Infallible>;

/// Time kept in reserve before the invocation deadline to close a held stream cleanly.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(2);
/// Longest a Lambda invocation can run.
pub const MAX_INVOCATION: Duration = Duration::from_secs(900);

/// `MCP_EDGE_BASE_PATH` normalized: one leading slash, no trailing one; empty when unset, blank or
/// `/` (a Function URL, as in production, has no prefix).
pub fn base_path(raw: Option<&str>) -> String {
    raw.map(|p| format!("/{}", p.trim().trim_matches('/')))
        .filter(|p| p != "/")
        .unwrap_or_default()
}

/// The request as the core sees it: its path under `base_path` (the event does not carry the
/// prefix), and the caller's source address from the Function URL's request context.
pub fn to_core(req: lambda_http::Request, base_path: &str) -> http::Request<Bytes> {
    let client = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    };
    let (mut parts, body) = req.into_parts();
    if !base_path.is_empty() && !parts.uri.path().starts_with(base_path) {
        let target = match parts.uri.query() {
            Some(q) => format!("{base_path}{}?{q}", parts.uri.path()),
            None => format!("{base_path}{}", parts.uri.path()),
        };
        if let Ok(uri) = target.parse() {
            parts.uri = uri;
        }
    }
    let mut core = http::Request::from_parts(parts, Bytes::copy_from_slice(body.as_ref()));
    if let Some(ip) = client {
        core.extensions_mut().insert(ClientAddress(ip));
    }
    core
}

/// Answers one invocation: `/ws` is refused (426), everything else goes to the core; `/metrics` gets
/// the DynamoDB call counters. With `streaming`, a held SSE reply becomes a [`held`] body that runs
/// until the invocation's deadline; otherwise every reply is sent whole.
pub async fn handle(
    gw: Arc<Gateway>,
    req: lambda_http::Request,
    streaming: bool,
) -> Result<http::Response<StreamedBody>, Infallible> {
    let deadline = req.lambda_context_ref().map(|c| c.deadline);
    let mut core = to_core(req, &gw.base_path);
    let path = core.uri().path().trim_end_matches('/').to_owned();
    if path.ends_with("/ws") {
        return Ok(whole(ws_refusal()));
    }
    let started = std::time::Instant::now();
    // A tool call that sends notifications answers with an event stream that carries them as they
    // come (the core decides; see `mcp_edge_core::notify`).
    let related = gw.app.live(&mut core);
    let app = gw.app.clone();
    let mut reply = match related
        .start(Box::pin(async move { app.handle(core).await }))
        .await
    {
        Started::Whole(reply) => reply,
        Started::Streaming(head, body) => return Ok(live(&gw, head, body, streaming).await),
    };
    // Tasks extension: the work runs on this execution environment's runtime after the reply. On AWS
    // it only advances while the environment is not frozen (during this or later invocations); a
    // task whose runner stops renewing its claim reads as failed (see README, "Tasks").
    for job in reply.tasks.drain(..) {
        let app = gw.app.clone();
        tokio::spawn(async move { app.run_task(job).await });
    }
    if path.ends_with("/metrics") {
        append_to_metrics(&mut reply, &gw.calls.render());
    }
    gw.app
        .metrics()
        .observe_latency_micros(started.elapsed().as_micros() as u64);
    // The request's spans are finished by now (a held stream's frames come later but open no
    // span); sending them before the answer means none waits in a frozen environment.
    if let Some(exporter) = &gw.exporter {
        exporter.flush().await;
    }
    if let Some(hold) = reply.listen.take() {
        // Buffered replies cannot stay open: the subscription is acknowledged and ends at once.
        if !streaming {
            if let ReplyBody::Sse { frames, .. } = reply.response.body_mut() {
                frames.push(hold.farewell());
            }
            return Ok(whole(reply));
        }
        let frames = match std::mem::replace(reply.response.body_mut(), ReplyBody::Empty) {
            ReplyBody::Sse { frames, .. } => frames,
            _ => Vec::new(),
        };
        let left = time_left(deadline, SystemClock.now());
        return Ok(response(reply, listen(gw.app.clone(), frames, *hold, left)));
    }
    if !streaming {
        return Ok(whole(reply));
    }
    match std::mem::replace(reply.response.body_mut(), ReplyBody::Empty) {
        ReplyBody::Sse {
            frames,
            hold: Some(hold),
        } => {
            let left = time_left(deadline, SystemClock.now());
            let body = held(gw.app.clone(), gw.legacy_poll, frames, hold, left);
            Ok(response(reply, body))
        }
        other => {
            *reply.response.body_mut() = other;
            Ok(whole(reply))
        }
    }
}

/// A reply whose tool call sends notifications before its answer: with `streaming`, the head's
/// frames and then the call's as they come (the span export is flushed once the answer is out);
/// a buffered invocation collects them all first and sends the reply whole.
async fn live(
    gw: &Gateway,
    head: Reply,
    body: LiveBody<'static>,
    streaming: bool,
) -> http::Response<StreamedBody> {
    use futures_util::StreamExt as _;
    let (parts, first) = head.response.into_parts();
    let first = match first {
        ReplyBody::Sse { frames, .. } => frames,
        _ => Vec::new(),
    };
    let exporter = gw.exporter.clone();
    let flushed = futures_util::stream::once(async move {
        if let Some(exporter) = exporter {
            exporter.flush().await;
        }
    })
    .filter_map(|()| async { None::<Bytes> });
    let frames = futures_util::stream::iter(first)
        .chain(body.into_stream())
        .chain(flushed);
    if !streaming {
        let all: Vec<Bytes> = frames.collect().await;
        return http::Response::from_parts(parts, full(Bytes::from(all.concat())));
    }
    let frames = frames.map(|b| Ok::<_, Infallible>(http_body::Frame::data(b)));
    http::Response::from_parts(parts, StreamBody::new(frames).boxed_unsync())
}

/// The answer to `/ws`: 426, as Lambda Function URLs carry no WebSocket.
pub fn ws_refusal() -> Reply {
    Reply::json(
        http::StatusCode::UPGRADE_REQUIRED,
        &json!({
            "error": "WebSocket is not available on AWS Lambda",
            "detail": "Lambda Function URLs carry no WebSocket: use /mcp (Streamable HTTP) or /sse here; /ws is served by the native mcp-edge and the Cloudflare Worker",
        }),
    )
}

/// Appends `text` (the DynamoDB call counters, in Prometheus text format) to a successful `/metrics`
/// reply; any other reply stays as it is.
pub fn append_to_metrics(reply: &mut Reply, text: &str) {
    if reply.status() != http::StatusCode::OK {
        return;
    }
    if let ReplyBody::Full(b) = reply.response.body() {
        let joined = format!("{}{}", String::from_utf8_lossy(b), text);
        *reply.response.body_mut() = ReplyBody::Full(Bytes::from(joined));
    }
}

/// A body sent at once.
pub fn full(bytes: Bytes) -> StreamedBody {
    Full::new(bytes).boxed_unsync()
}

/// The reply's status and headers with `body`.
pub fn response(reply: Reply, body: StreamedBody) -> http::Response<StreamedBody> {
    let (parts, _) = reply.response.into_parts();
    http::Response::from_parts(parts, body)
}

/// A reply sent whole (an SSE reply's frames concatenated).
pub fn whole(reply: Reply) -> http::Response<StreamedBody> {
    let (parts, body) = reply.response.into_parts();
    let bytes = match body {
        ReplyBody::Empty => Bytes::new(),
        ReplyBody::Full(b) => b,
        ReplyBody::Sse { frames, .. } => Bytes::from(frames.concat()),
    };
    http::Response::from_parts(parts, full(bytes))
}

/// Time left before the invocation's deadline (minus [`DEADLINE_MARGIN`]), if known, at `now`.
/// Lambda sends the deadline as epoch milliseconds; a value far below any current epoch time (local
/// emulators send their timeout, e.g. `600000`) is read as a budget from now.
pub fn time_left(deadline_ms: Option<u64>, now: UnixMillis) -> Option<Duration> {
    const EPOCH_2001_MS: u64 = 1_000_000_000_000;
    deadline_ms.map(|d| {
        let left = if d < EPOCH_2001_MS {
            d
        } else {
            d.saturating_sub(now)
        };
        Duration::from_millis(left).saturating_sub(DEADLINE_MARGIN)
    })
}

/// A held stream: the first frames, then keep-alives (and, for the legacy stream and a `GET /mcp`
/// stream that may carry the gateway's requests to the client, the session's outbox, read every
/// `poll`; an idle `GET /mcp` stream backs off, see [`McpApp::outbox_polling`]) until the client leaves, the session ends, or `left` runs out (15 minutes when unknown). However it ends, the stream's lease goes back through
/// [`McpApp::stream_closed`].
pub fn held(
    app: Arc<McpApp>,
    poll: Duration,
    frames: Vec<Bytes>,
    hold: StreamHold,
    left: Option<Duration>,
) -> StreamedBody {
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    let now = app.now();
    let until = now.saturating_add(left.unwrap_or(MAX_INVOCATION).as_millis() as u64);
    let stream = app.held_stream(frames, hold.keepalive_ms).until(until);
    let mut stream = app.outbox_polling(stream, &hold, poll.as_millis() as u64, now);
    // Polled for the session's subscribed resources too (resources/subscribe).
    if !app.polls_outbox(&hold) && app.resource_poll_ms().is_some() {
        stream = stream.polling(poll.as_millis() as u64, now);
    }
    tokio::spawn(async move {
        // Its session's outbox in the store (written by `POST /messages`, or by a tool asking the
        // client, in other execution environments), read when the state machine polls, and its
        // subscribed resources.
        let outbox = OutboxSource::new(app.clone(), hold.session.clone());
        let mut source = Watching::new(outbox, app.clone(), hold.clone());
        let clock = app.clone();
        let why = drive(stream, || clock.now(), &tx, |f| f, &mut source, pending()).await;
        let session = app.session_tag(hold.session.as_str());
        tracing::debug!(%session, ?why, "held stream ended");
        // Gives the stream's lease back; the legacy stream is its session's lifetime, however it
        // ended (client gone, session deleted, or the invocation out of time).
        app.stream_closed(&hold).await;
    });
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|f| f.map(|b| Ok::<_, Infallible>(http_body::Frame::data(b))))
    });
    StreamBody::new(stream).boxed_unsync()
}

/// A `subscriptions/listen` stream: the acknowledgement, then what each poll of the shared change
/// counters and the caller's lists finds, and keep-alives, until the client leaves or `left` runs
/// out (15 minutes when unknown); then the subscription's closing result is its last frame, so the
/// client knows to listen again. However it ends, its quota lease goes back.
pub fn listen(
    app: Arc<McpApp>,
    frames: Vec<Bytes>,
    mut hold: ListenHold,
    left: Option<Duration>,
) -> StreamedBody {
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    let until = app
        .now()
        .saturating_add(left.unwrap_or(MAX_INVOCATION).as_millis() as u64);
    let stream = app.listen_stream(frames, &hold).until(until);
    tokio::spawn(async move {
        let clock = app.clone();
        let mut source = ListenSource {
            app: app.clone(),
            hold: &mut hold,
        };
        let why = drive(stream, || clock.now(), &tx, |f| f, &mut source, pending()).await;
        if why == Closed::Deadline {
            let _ = tx.send(hold.farewell()).await;
        }
        app.listen_closed(&hold).await;
    });
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|f| f.map(|b| Ok::<_, Infallible>(http_body::Frame::data(b))))
    });
    StreamBody::new(stream).boxed_unsync()
}

/// A listen stream's polled source: the core's look at the caller's lists.
struct ListenSource<'h> {
    app: Arc<McpApp>,
    hold: &'h mut ListenHold,
}

impl FrameSource for ListenSource<'_> {
    async fn pushed(&mut self) -> Option<Vec<Bytes>> {
        pending().await
    }

    async fn poll(&mut self) -> Option<Vec<Bytes>> {
        Some(self.app.listen_poll(self.hold).await)
    }
}

#[cfg(test)]
mod tests;
