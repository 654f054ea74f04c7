//! The tokio loop of a held SSE stream, shared by the native server (core streams, bridged GET and
//! legacy streams) and the Lambda `bootstrap`. The core's [`HeldStream`] decides every step
//! (frames, keep-alives, polls, the deadline, the end); this loop only writes, sleeps and waits.

use std::future::Future;

use bytes::Bytes;
use mcp_edge_core::gateway::LegacyOutbox;
use mcp_edge_core::port::UnixMillis;
use mcp_edge_core::session::SessionId;
use mcp_edge_core::transport::hold::{wait_ms, Closed, HeldStream, Next};
use mcp_edge_core::McpApp;
use tokio::sync::mpsc;

/// Where a held stream's frames come from besides its first ones.
pub trait FrameSource: Send {
    /// Waits for frames pushed to the stream; `None` once the source has ended. Must be
    /// cancel-safe: it races the keep-alive timer and the client leaving.
    fn pushed(&mut self) -> impl Future<Output = Option<Vec<Bytes>>> + Send;

    /// Reads a polled source when the state machine asks ([`Next::Poll`]); `None` once it has
    /// ended. Sources that only push never get asked.
    fn poll(&mut self) -> impl Future<Output = Option<Vec<Bytes>>> + Send {
        async { Some(Vec::new()) }
    }
}

/// A source with nothing to push and nothing to poll: the stream carries its first frames and
/// keep-alives.
pub struct Silent;

impl FrameSource for Silent {
    async fn pushed(&mut self) -> Option<Vec<Bytes>> {
        std::future::pending().await
    }
}

/// Frames pushed through a channel (the native server's stream hub).
impl FrameSource for mpsc::Receiver<Bytes> {
    async fn pushed(&mut self) -> Option<Vec<Bytes>> {
        self.recv().await.map(|f| vec![f])
    }
}

/// A held legacy stream's messages from its session's outbox in a shared store (written by
/// `POST /messages` on another replica or execution environment), read when the state machine polls;
/// nothing is pushed in process. Ends when the core reports the session gone. The Lambda's held
/// streams use it too.
pub struct OutboxSource {
    app: std::sync::Arc<McpApp>,
    session: SessionId,
    position: u64,
}

impl OutboxSource {
    /// The outbox of `session`, read from its start.
    pub fn new(app: std::sync::Arc<McpApp>, session: SessionId) -> Self {
        OutboxSource {
            app,
            session,
            position: 0,
        }
    }
}

impl FrameSource for OutboxSource {
    async fn pushed(&mut self) -> Option<Vec<Bytes>> {
        std::future::pending().await
    }

    async fn poll(&mut self) -> Option<Vec<Bytes>> {
        match self.app.legacy_outbox(&self.session, self.position).await {
            LegacyOutbox::Pending(frames, next) => {
                self.position = next;
                Some(frames)
            }
            LegacyOutbox::Gone => None,
        }
    }
}

/// A session stream's source with its resource subscriptions watched: `inner`'s pushed and polled
/// frames, and on each poll also the core's look at the session's subscribed resources
/// ([`McpApp::session_resource_poll`]).
pub struct Watching<S> {
    inner: S,
    app: std::sync::Arc<McpApp>,
    hold: mcp_edge_core::transport::StreamHold,
    watch: mcp_edge_core::subscription::ResourceWatch,
}

impl<S> Watching<S> {
    /// `inner`, watching the subscriptions of `hold`'s session.
    pub fn new(
        inner: S,
        app: std::sync::Arc<McpApp>,
        hold: mcp_edge_core::transport::StreamHold,
    ) -> Self {
        Watching {
            inner,
            app,
            hold,
            watch: Default::default(),
        }
    }
}

impl<S: FrameSource> FrameSource for Watching<S> {
    async fn pushed(&mut self) -> Option<Vec<Bytes>> {
        self.inner.pushed().await
    }

    async fn poll(&mut self) -> Option<Vec<Bytes>> {
        let mut frames = self.inner.poll().await?;
        let updates = self.app.session_resource_poll(&self.hold, &mut self.watch);
        frames.extend(updates.await);
        Some(frames)
    }
}

/// Runs `stream` until it closes: writes to `tx` (each frame wrapped by `wrap`), feeds it `source`'s
/// frames, the time from `now`, a gone client and `shutdown`. Returns why it ended; the stream
/// (and its place in the active-stream gauge) is dropped on return.
pub async fn drive<T, S>(
    mut stream: HeldStream,
    now: impl Fn() -> UnixMillis + Send,
    tx: &mpsc::Sender<T>,
    wrap: impl Fn(Bytes) -> T + Send,
    source: &mut S,
    shutdown: impl Future<Output = ()> + Send,
) -> Closed
where
    T: Send,
    S: FrameSource,
{
    tokio::pin!(shutdown);
    loop {
        let at = now();
        match stream.next(at) {
            Next::Write(frame) => {
                if tx.send(wrap(frame)).await.is_err() {
                    stream.end(Closed::ClientGone);
                }
            }
            Next::Poll => match source.poll().await {
                Some(frames) => stream.deliver_all(frames),
                None => stream.end(Closed::SourceEnded),
            },
            Next::Wait(wake) => {
                let sleep = tokio::time::sleep(std::time::Duration::from_millis(wait_ms(wake, at)));
                tokio::select! {
                    pushed = source.pushed() => match pushed {
                        Some(frames) => stream.deliver_all(frames),
                        None => stream.end(Closed::SourceEnded),
                    },
                    _ = sleep => {}
                    _ = tx.closed() => stream.end(Closed::ClientGone),
                    _ = &mut shutdown => stream.end(Closed::Shutdown),
                }
            }
            Next::Close(why) => return why,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_edge_core::metrics::Metrics;
    use std::sync::Arc;

    fn clock() -> UnixMillis {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn writes_first_frames_and_deliveries_then_ends_with_the_source() {
        let metrics = Arc::new(Metrics::default());
        let stream = HeldStream::open(vec![Bytes::from_static(b"first")], 60_000, clock())
            .counted(metrics.clone());
        let (push, mut pushed) = mpsc::channel(4);
        let (tx, mut rx) = mpsc::channel(8);
        push.send(Bytes::from_static(b"second"))
            .await
            .expect("push");
        drop(push);
        let why = drive(
            stream,
            clock,
            &tx,
            |b| b,
            &mut pushed,
            std::future::pending(),
        )
        .await;
        assert_eq!(why, Closed::SourceEnded);
        assert_eq!(rx.recv().await.as_deref(), Some(&b"first"[..]));
        assert_eq!(rx.recv().await.as_deref(), Some(&b"second"[..]));
        assert_eq!(
            metrics.active_streams(),
            0,
            "the ended stream left the gauge"
        );
    }

    #[tokio::test]
    async fn a_gone_client_or_shutdown_ends_the_stream() {
        let (_push, mut pushed) = mpsc::channel::<Bytes>(1);
        let (tx, rx) = mpsc::channel::<Bytes>(1);
        drop(rx);
        let stream = HeldStream::open(Vec::new(), 60_000, clock());
        let why = drive(
            stream,
            clock,
            &tx,
            |b| b,
            &mut pushed,
            std::future::pending(),
        )
        .await;
        assert_eq!(why, Closed::ClientGone);
        let (tx, _rx) = mpsc::channel::<Bytes>(1);
        let stream = HeldStream::open(Vec::new(), 60_000, clock());
        let why = drive(stream, clock, &tx, |b| b, &mut pushed, async {}).await;
        assert_eq!(why, Closed::Shutdown);
    }

    /// Yields two polls' worth of frames, then ends.
    struct TwoPolls(u32);

    impl FrameSource for TwoPolls {
        async fn pushed(&mut self) -> Option<Vec<Bytes>> {
            std::future::pending().await
        }

        async fn poll(&mut self) -> Option<Vec<Bytes>> {
            self.0 += 1;
            (self.0 < 3).then(|| vec![Bytes::from(format!("poll{}", self.0))])
        }
    }

    #[tokio::test]
    async fn polled_sources_are_read_until_they_end() {
        let (tx, mut rx) = mpsc::channel::<Bytes>(8);
        let stream = HeldStream::open(Vec::new(), 60_000, clock()).polling(1, clock());
        let why = drive(
            stream,
            clock,
            &tx,
            |b| b,
            &mut TwoPolls(0),
            std::future::pending(),
        )
        .await;
        assert_eq!(why, Closed::SourceEnded);
        assert_eq!(rx.recv().await.as_deref(), Some(&b"poll1"[..]));
        assert_eq!(rx.recv().await.as_deref(), Some(&b"poll2"[..]));
    }

    #[tokio::test]
    async fn a_silent_stream_sends_keepalives_until_its_deadline() {
        let (tx, mut rx) = mpsc::channel::<Bytes>(64);
        let start = clock();
        let stream = HeldStream::open(Vec::new(), 100, start).until(start + 350);
        let why = drive(
            stream,
            clock,
            &tx,
            |b| b,
            &mut Silent,
            std::future::pending(),
        )
        .await;
        assert_eq!(why, Closed::Deadline);
        drop(tx);
        let mut n = 0;
        while let Some(f) = rx.recv().await {
            assert_eq!(f, mcp_edge_core::transport::sse::keepalive_frame());
            n += 1;
        }
        // Three when on time; a loaded machine wakes late and skips (never adds) keep-alives.
        assert!((1..=3).contains(&n), "{n} keep-alives in 350 ms at 100 ms");
    }
}
