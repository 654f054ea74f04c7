//! One WebSocket pump for the native `/ws` and the bridged `/servers/{name}/ws`: reads text frames into
//! a [`SocketSession`], writes its answers and pushed messages, pings, refuses binary frames, closes
//! with 1009 when a message is over the limit and with 1001 when the server shuts down (the codes and
//! reasons come from the core's [`WsClose`]).

use std::future::Future;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use bytes::Bytes;
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use mcp_edge_core::gateway::{binary_frame_refusal, ws_message_refusal, WsClose};

use crate::state::{flipped, AppState};

/// Interval of keep-alive pings.
const PING_EVERY: Duration = Duration::from_secs(30);
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

/// Serves `socket` until either side closes it or the server shuts down.
pub(crate) async fn pump<S: SocketSession>(
    state: AppState,
    socket: WebSocket,
    greeting: Vec<String>,
    mut session: S,
) {
    let limit = state.app.config().max_body_bytes;
    let metrics = state.app.metrics().clone();
    metrics.stream_delta(1);
    let (mut sink, mut stream) = socket.split();
    let mut shutdown = state.shutdown.clone();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
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
                Some(Ok(_)) => Vec::new(),
            },
            _ = ping.tick() => {
                open = sink.send(Message::Ping(Bytes::from_static(b"keepalive"))).await.is_ok();
                Vec::new()
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
        if sink.send(Message::Close(Some(frame))).await.is_ok() {
            await_close(&mut stream).await;
        }
    }
    session.closed().await;
    metrics.stream_delta(-1);
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
