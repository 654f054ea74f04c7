//! One WebSocket pump for the native `/ws`, the bridged `/servers/{name}/ws` and `/bridge/ws`: reads
//! text frames into a [`SocketSession`], writes its answers and pushed messages, pings, refuses binary
//! frames, closes with 1009 when a message is over the limit, with 1011 when the peer leaves a ping
//! unanswered past the timeout and with 1001 when the server shuts down (the codes, reasons and the
//! ping deadline come from the core's [`WsClose`] and [`WsKeepalive`]). Every socket holds a place
//! under the core's [`WsGate`] (the global cap) until it is done.

use std::future::Future;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use bytes::Bytes;
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use mcp_edge_core::gateway::{
    binary_frame_refusal, ws_message_refusal, WsClose, WsKeepalive, WsTicket,
};

use crate::http_io::into_response;
use crate::state::{flipped, AppState};
/// How long a closing socket waits for the client's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// Frame and message size the WebSocket reader accepts above the body limit, so that a message just
/// over the limit reaches [`ws_message_refusal`]; larger ones fail in the reader (also a 1009).
const READER_SLACK: usize = 1024;

/// What a socket serves: the platform-side state of one WebSocket session.
pub(crate) trait SocketSession: Send {
    /// Messages the server sends without being asked (a bridged child's notifications); `None` when the
    /// session ended. The default never yields.
    fn pushed(&mut self) -> impl Future<Output = Option<Vec<String>>> + Send {
        std::future::pending()
    }

    /// The answers to one text message.
    fn on_text(&mut self, text: &str) -> impl Future<Output = Vec<String>> + Send;

    /// Ends the session once the socket is done.
    fn closed(self) -> impl Future<Output = ()> + Send;
}

/// Sets the reader's limits (the body limit plus slack) on an upgrade.
pub(crate) fn limited(ws: WebSocketUpgrade, limit: usize) -> WebSocketUpgrade {
    let max = limit.saturating_add(READER_SLACK);
    ws.max_message_size(max).max_frame_size(max)
}

/// Whether a read error is the reader's size limit.
fn over_limit(err: axum::Error) -> bool {
    err.into_inner()
        .downcast::<tungstenite::Error>()
        .is_ok_and(|e| matches!(*e, tungstenite::Error::Capacity(_)))
}

/// A place under the global WebSocket cap, or the 503 to answer the upgrade with.
#[allow(clippy::result_large_err)] // the refusal is the response itself, built once per refused upgrade
pub(crate) fn ticket(state: &AppState) -> Result<WsTicket, axum::response::Response> {
    state
        .ws_gate
        .enter()
        .map_err(|reply| into_response(state, *reply))
}

/// Resolves when the peer's oldest unanswered ping is past the timeout (never while none is).
async fn pong_overdue(
    state: &AppState,
    keepalive: WsKeepalive,
    unanswered: Option<u64>,
) -> WsClose {
    loop {
        let Some(deadline) = keepalive.pong_deadline(unanswered) else {
            return std::future::pending().await;
        };
        let now = state.app.now();
        if let Some(close) = keepalive.overdue(unanswered, now) {
            return close;
        }
        tokio::time::sleep(Duration::from_millis(deadline.saturating_sub(now))).await;
    }
}

/// Serves `socket` until either side closes it, the peer stops answering pings or the server shuts
/// down; `ticket` (its place under the cap) is given back at the end.
pub(crate) async fn pump<S: SocketSession>(
    state: AppState,
    socket: WebSocket,
    greeting: Vec<String>,
    mut session: S,
    ticket: WsTicket,
) {
    let limit = state.app.config().max_body_bytes;
    let metrics = state.app.metrics().clone();
    metrics.stream_delta(1);
    let (mut sink, mut stream) = socket.split();
    let mut shutdown = state.shutdown.clone();
    let keepalive = state.ws_keepalive;
    let mut ping = tokio::time::interval(Duration::from_millis(keepalive.ping_every_ms.max(1)));
    ping.tick().await;
    // When the oldest ping the peer has not answered went out (any frame from it is an answer).
    let mut unanswered: Option<u64> = None;
    let mut close: Option<WsClose> = None;
    let mut open = true;
    for g in greeting {
        open &= sink.send(Message::Text(g.into())).await.is_ok();
    }
    while open {
        let outgoing = tokio::select! {
            pushed = session.pushed() => match pushed {
                Some(messages) => messages,
                None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    unanswered = None;
                    if let Some(c) = ws_message_refusal(text.len(), limit) {
                        close = Some(c);
                        break;
                    }
                    // A message in progress may finish during the drain; it ends when the grace is over.
                    tokio::select! {
                        out = session.on_text(text.as_str()) => out,
                        _ = state.cancelled() => {
                            close = Some(WsClose::GoingAway);
                            break;
                        }
                    }
                }
                Some(Ok(Message::Binary(_))) => vec![binary_frame_refusal()],
                Some(Err(e)) => {
                    if over_limit(e) {
                        close = Some(WsClose::TooBig(limit));
                    }
                    break;
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {
                    unanswered = None;
                    Vec::new()
                }
            },
            _ = ping.tick() => {
                unanswered = unanswered.or(Some(state.app.now()));
                // A peer that does not read can fill the send buffer: the ping then counts as lost.
                let wait = Duration::from_millis(keepalive.ping_every_ms.max(1));
                let sent = tokio::time::timeout(wait, sink.send(Message::Ping(Bytes::from_static(b"keepalive")))).await;
                open = matches!(sent, Ok(Ok(())));
                Vec::new()
            }
            overdue = pong_overdue(&state, keepalive, unanswered) => {
                close = Some(overdue);
                break;
            }
            _ = flipped(&mut shutdown) => {
                close = Some(WsClose::GoingAway);
                break;
            }
        };
        for out in outgoing {
            if sink.send(Message::Text(out.into())).await.is_err() {
                open = false;
                break;
            }
        }
    }
    if let Some(c) = close {
        let frame = CloseFrame {
            code: c.code(),
            reason: c.reason().into(),
        };
        let sent = tokio::time::timeout(CLOSE_WAIT, sink.send(Message::Close(Some(frame)))).await;
        if matches!(sent, Ok(Ok(()))) {
            await_close(&mut stream).await;
        }
    }
    session.closed().await;
    metrics.stream_delta(-1);
    drop(ticket);
}

/// Waits (bounded) for the client to answer our close frame, so the frame is not lost to a reset.
async fn await_close(stream: &mut SplitStream<WebSocket>) {
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(m)) = stream.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}
