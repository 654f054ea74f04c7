//! HTTP in and out between axum and the core: reading a request body within the size limit and time
//! budget, the client's address, and writing the core's [`Reply`] as an axum response (a held SSE
//! stream runs until the client leaves or the server shuts down).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use mcp_edge_core::error::McpError;
use mcp_edge_core::gateway::ClientAddress;
use mcp_edge_core::transport::{Reply, ReplyBody, StreamChannel, StreamHold};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::state::AppState;
use mcp_edge_core::gateway::ListenHold;
use mcp_edge_core::transport::hold::Closed;
use mcp_edge_native::held::{drive, FrameSource, OutboxSource, Watching};

/// Reads a request body within the size limit and the core's body time budget (total and minimum
/// rate); the error replies close the connection, whose unread rest is not drained.
pub(crate) async fn read_body(state: &AppState, body: Body) -> Result<Bytes, McpError> {
    let limit = state.app.config().max_body_bytes;
    let budget = state.budget;
    let started = tokio::time::Instant::now();
    let mut stream = body.into_data_stream();
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut received = 0usize;
    loop {
        let deadline = started + Duration::from_millis(budget.body_deadline(received as u64));
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return Err(budget.body_timeout_error(received as u64)),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(McpError::InvalidRequest(format!(
                    "Bad Request: the request body could not be read ({e})"
                )))
            }
            Ok(Some(Ok(chunk))) => {
                received = received.saturating_add(chunk.len());
                if received > limit {
                    return Err(McpError::PayloadTooLarge(limit));
                }
                chunks.push(chunk);
            }
        }
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => Bytes::from(chunks.concat()),
    })
}

/// The reply for a body that could not be read: its error, closing the connection.
pub(crate) fn body_refusal(err: &McpError) -> Reply {
    let mut reply = Reply::error(err, &Value::Null);
    reply.set_header(http::header::CONNECTION, "close");
    reply
}

/// The client's address as the core's request extension (anonymous callers are rate-limited by it).
pub(crate) fn client_address(req: &Request) -> Option<ClientAddress> {
    req.extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(addr)| ClientAddress(addr.ip().to_string()))
}

/// A reply without a held stream as a response (the listener's load-shedding answers).
pub(crate) fn reply_response(reply: Reply) -> Response {
    let (parts, body) = reply.response.into_parts();
    let body = match body {
        ReplyBody::Empty => Body::empty(),
        ReplyBody::Full(b) => Body::from(b),
        ReplyBody::Sse { frames, .. } => Body::from(frames.concat()),
    };
    Response::from_parts(parts, body)
}

pub(crate) fn into_response(state: &AppState, mut reply: Reply) -> Response {
    if let Some(hold) = reply.listen.take() {
        let (parts, body) = reply.response.into_parts();
        let frames = match body {
            ReplyBody::Sse { frames, .. } => frames,
            _ => Vec::new(),
        };
        return Response::from_parts(parts, listen_stream(state.clone(), frames, *hold));
    }
    let (parts, body) = reply.response.into_parts();
    let body = match body {
        ReplyBody::Empty => Body::empty(),
        ReplyBody::Full(b) => Body::from(b),
        ReplyBody::Sse { frames, hold: None } => Body::from(frames.concat()),
        ReplyBody::Sse {
            frames,
            hold: Some(hold),
        } => held_stream(state.clone(), frames, hold),
    };
    Response::from_parts(parts, body)
}

/// A reply whose tool call sends notifications before its answer: the head (status, headers, the
/// frames so far), then the call's frames as they come, until its answer; a server shutting down
/// ends the stream.
pub(crate) fn live_response(
    state: &AppState,
    head: Reply,
    body: mcp_edge_core::transport::live::LiveBody<'static>,
) -> Response {
    use futures_util::StreamExt as _;
    let (parts, first) = head.response.into_parts();
    let first = match first {
        ReplyBody::Sse { frames, .. } => frames,
        _ => Vec::new(),
    };
    let state = state.clone();
    let frames = futures_util::stream::iter(first)
        .chain(body.into_stream())
        .take_until(async move { state.cancelled().await })
        .map(Ok::<_, std::io::Error>);
    Response::from_parts(parts, Body::from_stream(frames))
}

/// A `subscriptions/listen` body: the acknowledgement, then what the core's look at the caller's
/// lists finds every poll, and keep-alives, until the client leaves or the server shuts down (then
/// the subscription's closing result is the last frame).
fn listen_stream(state: AppState, frames: Vec<Bytes>, mut hold: ListenHold) -> Body {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let stream = state.app.listen_stream(frames, &hold);
    tokio::spawn(async move {
        let mut shutdown = state.shutdown.clone();
        let app = state.app.clone();
        let shutdown = async move {
            let _ = shutdown.changed().await;
        };
        let mut source = ListenSource {
            app: app.clone(),
            hold: &mut hold,
        };
        let why = drive(stream, || app.now(), &tx, Ok, &mut source, shutdown).await;
        if why == Closed::Shutdown {
            let _ = tx.try_send(Ok(hold.farewell()));
        }
        state.app.listen_closed(&hold).await;
    });
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// A listen stream's polled source: the core's look at the caller's lists.
struct ListenSource<'h> {
    app: std::sync::Arc<mcp_edge_core::McpApp>,
    hold: &'h mut ListenHold,
}

impl FrameSource for ListenSource<'_> {
    async fn pushed(&mut self) -> Option<Vec<Bytes>> {
        std::future::pending().await
    }

    async fn poll(&mut self) -> Option<Vec<Bytes>> {
        Some(self.app.listen_poll(self.hold).await)
    }
}

/// A streaming body: initial frames, then deliveries and keep-alives until the client leaves or the
/// server shuts down (the core's state machine decides; this only does the I/O).
fn held_stream(state: AppState, frames: Vec<Bytes>, hold: StreamHold) -> Body {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let (token, deliveries) = state
        .hub
        .register(hold.session.clone(), hold.channel.clone());
    let stream = state.app.held_stream(frames, hold.keepalive_ms);
    tokio::spawn(async move {
        let mut shutdown = state.shutdown.clone();
        let app = state.app.clone();
        let shutdown = async move {
            let _ = shutdown.changed().await;
        };
        // Every poll also looks at the session's subscribed resources (resources/subscribe).
        let watched = app.resource_poll_ms();
        match state.legacy_poll {
            // A shared store: the legacy stream's messages come from its session's outbox, written
            // by whichever replica took the `POST /messages` (as on the Lambda).
            Some(poll) if hold.channel == StreamChannel::Legacy => {
                // Resource updates come at the outbox's cadence (no extra store reads).
                let stream = stream.polling(poll.as_millis() as u64, app.now());
                let source = OutboxSource::new(app.clone(), hold.session.clone());
                let mut source = Watching::new(source, app.clone(), hold.clone());
                drive(stream, || app.now(), &tx, Ok, &mut source, shutdown).await;
            }
            _ => {
                let stream = match watched {
                    Some(every) => stream.polling(every, app.now()),
                    None => stream,
                };
                let mut source = Watching::new(deliveries, app.clone(), hold.clone());
                drive(stream, || app.now(), &tx, Ok, &mut source, shutdown).await;
            }
        }
        state.hub.unregister(&hold.session, &hold.channel, token);
        state.app.stream_closed(&hold).await;
    });
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}
