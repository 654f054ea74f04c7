//! Held SSE streams of one Durable Object: a request on one connection (`POST /messages`) pushes frames
//! to a stream held open on another (`GET /sse`, `GET /mcp`), and every held stream gets keep-alive
//! comments so the edge does not drop it while idle.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures_channel::mpsc;
use mcp_edge_core::session::SessionId;
use mcp_edge_core::transport::sse::keepalive_frame;
use mcp_edge_core::transport::{Delivery, StreamChannel, StreamHold};
use mcp_edge_core::McpApp;
use worker::Delay;

/// Senders of the open streams of one session channel.
type Senders = Vec<mpsc::UnboundedSender<Bytes>>;

/// Senders of open streams, by session and channel.
#[derive(Default)]
pub struct StreamHub {
    streams: RefCell<HashMap<(SessionId, StreamChannel), Senders>>,
}

impl StreamHub {
    /// Delivers a frame to every open stream of its session and channel; closed ones are dropped.
    pub fn deliver(&self, d: &Delivery) {
        let mut streams = self.streams.borrow_mut();
        let key = (d.session.clone(), d.channel.clone());
        if let Some(list) = streams.get_mut(&key) {
            list.retain(|tx| tx.unbounded_send(d.frame.clone()).is_ok());
            if list.is_empty() {
                streams.remove(&key);
            }
        }
    }

    /// Opens a held stream: `frames` first, then deliveries and keep-alives until the client leaves.
    /// When a legacy stream closes, its session ends.
    pub fn hold(
        self: &Rc<Self>,
        app: Rc<McpApp>,
        frames: Vec<Bytes>,
        hold: StreamHold,
    ) -> mpsc::UnboundedReceiver<Bytes> {
        let (tx, rx) = mpsc::unbounded();
        for f in frames {
            let _ = tx.unbounded_send(f);
        }
        self.streams
            .borrow_mut()
            .entry((hold.session.clone(), hold.channel.clone()))
            .or_default()
            .push(tx.clone());
        app.metrics().stream_delta(1);
        let hub = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let every = Duration::from_millis(hold.keepalive_ms.max(100));
            // The response stream drops its receiver when the client goes away; the next keep-alive
            // notices. Bounded by the client: a held stream lives exactly as long as its connection.
            while !tx.is_closed() {
                Delay::from(every).await;
                if tx.unbounded_send(keepalive_frame()).is_err() {
                    break;
                }
            }
            hub.forget_closed(&hold.session, &hold.channel);
            app.metrics().stream_delta(-1);
            app.stream_closed(&hold).await;
        });
        rx
    }

    fn forget_closed(&self, session: &SessionId, channel: &StreamChannel) {
        let mut streams = self.streams.borrow_mut();
        let key = (session.clone(), channel.clone());
        if let Some(list) = streams.get_mut(&key) {
            list.retain(|tx| !tx.is_closed());
            if list.is_empty() {
                streams.remove(&key);
            }
        }
    }
}
