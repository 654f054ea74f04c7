//! # mcp-edge-lambda (binary `bootstrap`)
//!
//! The AWS Lambda target's entry point: builds the gateway once per execution environment
//! ([`startup::build`]) and runs the runtime loop ([`runtime::serve`]) with the invocation handler
//! ([`handle`](mcp_edge_lambda::handler::handle)); everything it calls lives in the library (see its
//! docs for the transports, invoke modes and settings).
//!
//! Features: none.

use std::sync::Arc;
use std::time::Instant;

use mcp_edge_core::settings::table as setting;
use mcp_edge_lambda::runtime::{self, Reconnects};
use mcp_edge_lambda::startup::{self, env};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let level = env(setting::LOG_LEVEL.var).unwrap_or_else(|| setting::LOG_LEVEL.fixed_default());
    runtime::init_logging(&level);
    let gw = Arc::new(startup::build().await.map_err(|e| {
        tracing::error!(error = %e, "mcp-edge cannot start");
        lambda_http::Error::from(e.to_string())
    })?);
    let buffered = runtime::buffered(env(setting::LAMBDA_INVOKE_MODE.var).as_deref());
    tracing::info!(buffered, "mcp-edge lambda started");
    let mut reconnects = Reconnects::default();
    loop {
        let started = Instant::now();
        let Err(e) = runtime::serve(gw.clone(), buffered).await else {
            return Ok(());
        };
        match reconnects.after_failure(started.elapsed()) {
            Some(wait) => {
                let failures = reconnects.failures();
                tracing::warn!(error = %e, failures, "runtime API connection failed; polling again");
                tokio::time::sleep(wait).await;
            }
            None => return Err(e),
        }
    }
}
