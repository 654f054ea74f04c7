//! The accept loop and per-connection budgets: at most `max_connections` connections are served; a small
//! reserve above that answers only `/health` (everything else 503, no keep-alive); beyond the reserve a
//! connection gets a fixed 503 and is closed at once. Each served connection is watched against the
//! core's [`ConnectionBudget`]: the idle keep-alive timeout until a request's first byte, then the
//! header timeout until its head is parsed (request bodies have their own budget in
//! [`crate::http_io::read_body`]). Accept errors (EMFILE and the like) back off instead of spinning or
//! ending the loop. The connection's slot travels with its socket, so an upgraded WebSocket keeps it.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mcp_edge_core::gateway::{ConnectionBudget, ReadPhase};
use mcp_edge_core::McpApp;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt as _;

use crate::state::flipped;

/// Connections above `max_connections` that may still be served, for `/health` only.
pub const RESERVE_CONNECTIONS: usize = 16;
/// Longest a reserve connection may take to send its one request.
const RESERVE_TIMEOUT_MS: u64 = 2_000;
/// Sent (without reading the request) to a connection over the reserve, then the socket closes.
const OVERLOADED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 72\r\n\r\n{\"error\":\"too many open connections; retry shortly\",\"retryAfterMs\":1000}";
/// File descriptors kept free for the session store, stdio children and upstream connections when the
/// connection limit is derived from the descriptor limit.
const FD_HEADROOM: u64 = 128;

/// Settings of the listener.
#[derive(Clone, Copy, Debug)]
pub struct ListenerConfig {
    /// Connections served at once (the reserve comes on top).
    pub max_connections: usize,
    /// Time budgets.
    pub budget: ConnectionBudget,
}

/// Raises the soft descriptor limit to the hard one and returns it (the number of descriptors this
/// process may hold).
pub fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max.min(1 << 20),
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = raised.rlim_cur;
            }
        }
        #[allow(clippy::unnecessary_cast)] // `rlim_t` is not `u64` on every platform
        let current = lim.rlim_cur as u64;
        current
    }
}

/// The default connection limit for a descriptor limit: what is left after the reserve and headroom,
/// at most 8192 and at least 16.
pub fn default_max_connections(fd_limit: u64) -> usize {
    fd_limit
        .saturating_sub(FD_HEADROOM + RESERVE_CONNECTIONS as u64)
        .clamp(16, 8192) as usize
}

/// Counts live connections (and upgraded sockets) so shutdown can wait for them.
#[derive(Default)]
pub struct Live {
    count: AtomicUsize,
    idle: Notify,
}

impl Live {
    fn enter(self: &Arc<Self>) -> LiveGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        LiveGuard(self.clone())
    }

    /// Resolves once no connection is left.
    pub async fn drained(&self) {
        loop {
            let notified = self.idle.notified();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

struct LiveGuard(Arc<Live>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Where a connection is in reading its next request.
struct Watch {
    epoch: Instant,
    phase: Mutex<ReadPhase>,
    changed: Notify,
}

impl Watch {
    fn new() -> Arc<Self> {
        Arc::new(Watch {
            epoch: Instant::now(),
            phase: Mutex::new(ReadPhase::Idle(0)),
            changed: Notify::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn phase(&self) -> ReadPhase {
        self.phase.lock().map(|p| *p).unwrap_or(ReadPhase::Busy)
    }

    fn set(&self, phase: ReadPhase) {
        if let Ok(mut p) = self.phase.lock() {
            *p = phase;
        }
        self.changed.notify_one();
    }

    /// Bytes arrived: an idle connection starts reading a request head.
    fn bytes_arrived(&self) {
        let started = match self.phase.lock() {
            Ok(mut p) if matches!(*p, ReadPhase::Idle(_)) => {
                *p = ReadPhase::Head(self.now_ms());
                true
            }
            _ => false,
        };
        if started {
            // The header deadline may come before the idle one the watchdog sleeps towards.
            self.changed.notify_one();
        }
    }
}

/// The socket of one connection, noting arriving bytes for its [`Watch`] and holding the connection's
/// slot (and live count) for as long as the socket lives, upgraded or not.
struct TrackedIo {
    inner: TcpStream,
    watch: Arc<Watch>,
    _slot: OwnedSemaphorePermit,
    _live: LiveGuard,
}

impl AsyncRead for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A response body that puts its connection back to idle once hyper is done with it (written or
/// abandoned), which starts the keep-alive timeout.
struct WatchedBody {
    inner: Body,
    watch: Arc<Watch>,
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        self.watch.set(ReadPhase::Idle(self.watch.now_ms()));
    }
}

impl http_body::Body for WatchedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Accepts connections until `stop` flips, serving each with `router`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    app: Arc<McpApp>,
    config: ListenerConfig,
    live: Arc<Live>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let reserve = Arc::new(Semaphore::new(RESERVE_CONNECTIONS));
    let mut backoff_logged = Instant::now() - Duration::from_secs(60);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = flipped(&mut stop) => break,
        };
        let (tcp, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors or memory: wait for connections to end instead of spinning; any
                // other accept error concerns one connection only.
                let exhausted = matches!(
                    e.raw_os_error(),
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                );
                if exhausted && backoff_logged.elapsed() > Duration::from_secs(5) {
                    tracing::warn!("accept failed ({e}); backing off (raise the descriptor limit or lower --max-connections)");
                    backoff_logged = Instant::now();
                }
                let pause = if exhausted { 100 } else { 5 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
                continue;
            }
        };
        // TCP_NODELAY: a streamed answer (headers, then its events) must not wait for the client's
        // delayed ACK (Nagle), which costs ~40 ms per bridged call otherwise.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("could not set TCP_NODELAY: {e}");
        }
        let (slot, reserved) = match slots.clone().try_acquire_owned() {
            Ok(p) => (p, false),
            Err(_) => match reserve.clone().try_acquire_owned() {
                Ok(p) => (p, true),
                Err(_) => {
                    // Non-blocking: a full send buffer just drops the answer; the socket closes anyway.
                    // What the client already sent is read first, so closing does not reset the
                    // connection before the answer arrives.
                    let _ = tcp.try_read(&mut [0u8; 4096]);
                    let _ = tcp.try_write(OVERLOADED);
                    app.metrics().count_request("overloaded", 503);
                    continue;
                }
            },
        };
        let watch = Watch::new();
        let io = TrackedIo {
            inner: tcp,
            watch: watch.clone(),
            _slot: slot,
            _live: live.enter(),
        };
        let budget = if reserved {
            ConnectionBudget {
                header_timeout_ms: config.budget.header_timeout_ms.min(RESERVE_TIMEOUT_MS),
                idle_timeout_ms: config.budget.idle_timeout_ms.min(RESERVE_TIMEOUT_MS),
                ..config.budget
            }
        } else {
            config.budget
        };
        tokio::spawn(connection(
            io,
            addr,
            router.clone(),
            app.clone(),
            reserved,
            budget,
            stop.clone(),
        ));
    }
}

async fn connection(
    io: TrackedIo,
    addr: std::net::SocketAddr,
    router: Router,
    app: Arc<McpApp>,
    reserved: bool,
    budget: ConnectionBudget,
    mut stop: watch::Receiver<bool>,
) {
    let watch = io.watch.clone();
    let svc_watch = watch.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        svc_watch.set(ReadPhase::Busy);
        req.extensions_mut().insert(ConnectInfo(addr));
        let shed = if reserved {
            app.shed(req.method(), req.uri().path())
        } else {
            None
        };
        let router = router.clone();
        let watch = svc_watch.clone();
        async move {
            let response = match shed {
                Some(reply) => crate::http_io::reply_response(reply),
                None => router
                    .oneshot(req.map(Body::new))
                    .await
                    .unwrap_or_else(|e| match e {}),
            };
            let (parts, body) = response.into_parts();
            Ok::<_, std::convert::Infallible>(hyper::Response::from_parts(
                parts,
                WatchedBody { inner: body, watch },
            ))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(!reserved);
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        let deadline = budget.read_deadline(watch.phase());
        let sleep = async {
            match deadline {
                Some(ms) => {
                    let wait = ms.saturating_sub(watch.now_ms());
                    tokio::time::sleep(Duration::from_millis(wait)).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = sleep => {
                // Re-checked: bytes may have moved the connection on since the deadline was taken.
                if budget
                    .read_deadline(watch.phase())
                    .is_some_and(|d| d <= watch.now_ms())
                {
                    tracing::debug!(%addr, phase = ?watch.phase(), "closing a connection over its time budget");
                    return;
                }
            }
            _ = watch.changed.notified() => {}
            _ = flipped(&mut stop), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
