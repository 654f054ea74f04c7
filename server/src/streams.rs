//! `StreamHub`: the native server's registry of held SSE streams, so a request on one connection can
//! push frames to a stream held open on another (legacy `/messages` → `/sse`).

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use mcp_edge_core::session::SessionId;
use mcp_edge_core::transport::{Delivery, StreamChannel};
use tokio::sync::mpsc;

type Key = (SessionId, StreamChannel);
/// Registered senders of one stream key, each with its token.
type Senders = Vec<(u64, mpsc::Sender<Bytes>)>;

/// Open streams by session and channel.
#[derive(Default)]
pub struct StreamHub {
    streams: Mutex<HashMap<Key, Senders>>,
    next: std::sync::atomic::AtomicU64,
}

impl StreamHub {
    /// Registers a stream; returns its token (for [`StreamHub::unregister`]) and the frame receiver.
    pub fn register(
        &self,
        session: SessionId,
        channel: StreamChannel,
    ) -> (u64, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(256);
        let token = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut m) = self.streams.lock() {
            m.entry((session, channel)).or_default().push((token, tx));
        }
        (token, rx)
    }

    /// Removes a stream registered earlier.
    pub fn unregister(&self, session: &SessionId, channel: &StreamChannel, token: u64) {
        if let Ok(mut m) = self.streams.lock() {
            let key = (session.clone(), channel.clone());
            if let Some(list) = m.get_mut(&key) {
                list.retain(|(t, _)| *t != token);
                if list.is_empty() {
                    m.remove(&key);
                }
            }
        }
    }

    /// Delivers a frame to every stream of its session and channel; returns how many took it.
    pub fn deliver(&self, d: &Delivery) -> usize {
        let Ok(m) = self.streams.lock() else { return 0 };
        let Some(list) = m.get(&(d.session.clone(), d.channel.clone())) else {
            return 0;
        };
        list.iter()
            .filter(|(_, tx)| tx.try_send(d.frame.clone()).is_ok())
            .count()
    }
}

impl StreamHub {
    /// Sends `frame` on one open standalone `GET /mcp` stream of `session`; `false` when none took it.
    pub fn push_standalone(&self, session: &str, frame: Bytes) -> bool {
        let Ok(m) = self.streams.lock() else {
            return false;
        };
        m.iter()
            .filter(|((s, c), _)| {
                s.as_str() == session && matches!(c, StreamChannel::Standalone(_))
            })
            .flat_map(|(_, list)| list.iter())
            .any(|(_, tx)| tx.try_send(frame.clone()).is_ok())
    }
}

/// The core's in-process client-request waiters, pushing requests through the hub.
pub struct HubPush(pub std::sync::Arc<StreamHub>);

impl mcp_edge_core::sampling::SessionPush for HubPush {
    fn push(&self, session: &str, frame: Bytes) -> bool {
        self.0.push_standalone(session, frame)
    }
}
