//! `AppState`: what every handler of the native server shares (the gateway, held streams, the stdio
//! bridge, time budgets and the shutdown signals), in a module of its own so the router and the
//! bridge's transports both use it without depending on each other.

use std::sync::Arc;

use mcp_edge_core::gateway::{ConnectionBudget, WsGate, WsKeepalive};
use mcp_edge_core::McpApp;
use tokio::sync::watch;

use crate::stdio::Bridge;
use crate::streams::StreamHub;

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    /// The gateway.
    pub app: Arc<McpApp>,
    /// Held streams.
    pub hub: Arc<StreamHub>,
    /// Flips to `true` when the server shuts down, ending held streams.
    pub shutdown: watch::Receiver<bool>,
    /// Bridged stdio servers (none unless configured).
    pub bridge: Arc<Bridge>,
    /// Time budgets of request bodies (and connections).
    pub budget: ConnectionBudget,
    /// Flips to `true` when the shutdown grace period is over: in-flight work ends with an error.
    pub cancel: watch::Receiver<bool>,
    /// Pings of every WebSocket and when a silent peer is closed.
    pub ws_keepalive: WsKeepalive,
    /// The cap on open WebSockets, shared by every WebSocket endpoint.
    pub ws_gate: Arc<WsGate>,
    /// With a shared session store: how often a held legacy `/sse` stream reads its session's
    /// outbox (its `POST /messages` may reach another replica). `None`: frames arrive in process.
    pub legacy_poll: Option<std::time::Duration>,
}

impl AppState {
    /// Resolves once the shutdown grace period is over.
    pub async fn cancelled(&self) {
        flipped(&mut self.cancel.clone()).await;
    }
}

/// Resolves once `flag` is `true` (or its sender is gone); holds no borrow of the value afterwards.
pub(crate) async fn flipped(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|v| *v).await;
}
