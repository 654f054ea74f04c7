//! stdio: newline-delimited JSON-RPC on a process's stdin and stdout, as desktop clients start MCP
//! servers. One process is one connection, handled exactly like a WebSocket with the `mcp`
//! subprotocol (same dispatch, same limits); the caller is the local user who started the process,
//! and upstream credentials come from the environment.

use super::websocket::WsConnection;
use super::McpApp;
use crate::auth::Caller;

/// State of the one stdio connection of a process.
#[derive(Debug, Clone)]
pub struct StdioConnection(WsConnection);

impl McpApp {
    /// The connection state for a process serving MCP over stdio.
    pub fn stdio_open(&self) -> StdioConnection {
        StdioConnection(WsConnection {
            caller: Some(Caller::anonymous("stdio")),
            ..WsConnection::default()
        })
    }

    /// Handles one line read from stdin and returns the lines to write to stdout (each one JSON
    /// message, without its newline). Blank lines are ignored; a line longer than the body limit
    /// is answered with a JSON-RPC error like an oversized WebSocket message.
    pub async fn stdio_line(&self, conn: &mut StdioConnection, line: &str) -> Vec<String> {
        if line.trim().is_empty() {
            return Vec::new();
        }
        self.ws_message(&mut conn.0, &http::HeaderMap::new(), line)
            .await
    }
}
