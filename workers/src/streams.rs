//! Held SSE streams of one Durable Object: a request on one connection (`POST /messages`) pushes frames
//! to a stream held open on another (`GET /sse`, `GET /mcp`), and every held stream gets keep-alive
//! comments so the edge does not drop it while idle. Each held stream reads its deliveries from its
//! own channel, so the core's state machine orders them with its first frames and keep-alives.

use std::cell::RefCell;
use std::collections::HashMap;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures_channel::mpsc;
use futures_util::future::{select, Either};
use futures_util::StreamExt as _;
use mcp_edge_core::session::SessionId;
use mcp_edge_core::transport::hold::{wait_ms, Closed, Next};
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
    /// When a legacy stream closes, its session ends. The core's state machine decides each step;
    /// this loop only writes, waits for a delivery or sleeps.
    pub fn hold(
        self: &Rc<Self>,
        app: Rc<McpApp>,
        frames: Vec<Bytes>,
        hold: StreamHold,
    ) -> mpsc::UnboundedReceiver<Bytes> {
        let (tx, rx) = mpsc::unbounded();
        let (push, mut pushed) = mpsc::unbounded();
        self.streams
            .borrow_mut()
            .entry((hold.session.clone(), hold.channel.clone()))
            .or_default()
            .push(push);
        let mut stream = app.held_stream(frames, hold.keepalive_ms);
        if let Some(every) = app.resource_poll_ms() {
            stream = stream.polling(every, app.now());
        }
        let mut watch = mcp_edge_core::subscription::ResourceWatch::default();
        let hub = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            // The response stream drops its receiver when the client goes away; the next write
            // (at the latest the next keep-alive) notices. A held stream lives exactly as long as
            // its connection.
            loop {
                let now = app.now();
                match stream.next(now) {
                    Next::Write(frame) => {
                        if tx.unbounded_send(frame).is_err() {
                            stream.end(Closed::ClientGone);
                        }
                    }
                    Next::Wait(wake) => {
                        let delay = pin!(Delay::from(Duration::from_millis(wait_ms(wake, now))));
                        match select(pushed.next(), delay).await {
                            Either::Left((Some(frame), _)) => stream.deliver(frame),
                            Either::Left((None, _)) => stream.end(Closed::SourceEnded),
                            Either::Right(_) => {}
                        }
                    }
                    // Deliveries are pushed by the hub; a poll looks at the subscribed resources.
                    Next::Poll => {
                        stream.deliver_all(app.session_resource_poll(&hold, &mut watch).await)
                    }
                    Next::Close(_) => break,
                }
            }
            drop(stream);
            drop(pushed);
            hub.forget_closed(&hold.session, &hold.channel);
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

/// Holds a `subscriptions/listen` stream in this isolate: the acknowledgement, then every poll's
/// notifications from the core's look at the caller's lists, and keep-alives, until the client
/// leaves. No Durable Object is involved: the stream lives exactly as long as its connection, and
/// what it hears is what this isolate's look sees (its bridged catalog, refreshed when stale; its
/// registry's change counters).
pub fn listen(
    app: Rc<McpApp>,
    frames: Vec<Bytes>,
    mut hold: mcp_edge_core::gateway::ListenHold,
) -> mpsc::UnboundedReceiver<Bytes> {
    let (tx, rx) = mpsc::unbounded();
    let mut stream = app.listen_stream(frames, &hold);
    wasm_bindgen_futures::spawn_local(async move {
        loop {
            let now = app.now();
            match stream.next(now) {
                Next::Write(frame) => {
                    if tx.unbounded_send(frame).is_err() {
                        stream.end(Closed::ClientGone);
                    }
                }
                Next::Poll => stream.deliver_all(app.listen_poll(&mut hold).await),
                Next::Wait(wake) => {
                    Delay::from(Duration::from_millis(wait_ms(wake, now))).await;
                    if tx.is_closed() {
                        stream.end(Closed::ClientGone);
                    }
                }
                Next::Close(_) => break,
            }
        }
        drop(stream);
        app.listen_closed(&hold).await;
    });
    rx
}

impl StreamHub {
    /// Sends `frame` on one open standalone `GET /mcp` stream of `session`; `false` when none took it.
    pub fn push_standalone(&self, session: &str, frame: Bytes) -> bool {
        self.streams
            .borrow()
            .iter()
            .filter(|((s, c), _)| {
                s.as_str() == session && matches!(c, StreamChannel::Standalone(_))
            })
            .flat_map(|(_, list)| list.iter())
            .any(|tx| tx.unbounded_send(frame.clone()).is_ok())
    }
}

/// The core's in-process client-request waiters of one session object, pushing requests through
/// its hub: the tool call, the `GET` stream and the client's answer all reach this object.
pub struct HubPush(pub Rc<StreamHub>);

impl mcp_edge_core::sampling::SessionPush for HubPush {
    fn push(&self, session: &str, frame: Bytes) -> bool {
        self.0.push_standalone(session, frame)
    }
}
