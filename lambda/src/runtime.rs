//! The Lambda runtime loop around [`handle`]: streamed (`RESPONSE_STREAM`, the default) or buffered
//! replies, JSON logs on stderr, and polling the Runtime API again after a transport error.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt as _;
use lambda_http::service_fn;

use crate::handler::{handle, Gateway};

/// Quick runtime-loop failures in a row after which the function gives up.
const MAX_QUICK_FAILURES: u32 = 5;
/// A runtime loop that ran at least this long ended for a new reason: the failure count restarts.
const QUICK: Duration = Duration::from_secs(60);

/// Whether `MCP_EDGE_LAMBDA_INVOKE_MODE` asks for buffered replies (`BUFFERED`, any case); streamed
/// otherwise.
pub fn buffered(mode: Option<&str>) -> bool {
    mode.is_some_and(|m| m.eq_ignore_ascii_case("BUFFERED"))
}

/// JSON logs on stderr at `level` (`MCP_EDGE_LOG_LEVEL`, an `EnvFilter` directive; `info` when
/// invalid), without timestamps (CloudWatch adds them).
pub fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}

/// Runs the Lambda runtime loop until it fails.
pub async fn serve(gw: Arc<Gateway>, buffered: bool) -> Result<(), lambda_http::Error> {
    if buffered {
        lambda_http::run(service_fn(move |req| {
            let gw = gw.clone();
            async move {
                let resp = handle(gw, req, false).await?;
                let (parts, body) = resp.into_parts();
                let bytes = body
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                Ok::<_, Infallible>(http::Response::from_parts(
                    parts,
                    lambda_http::Body::Binary(bytes.to_vec()),
                ))
            }
        }))
        .await
    } else {
        lambda_http::run_with_streaming_response(service_fn(move |req| {
            handle(gw.clone(), req, true)
        }))
        .await
    }
}

/// When to poll the Runtime API again after the runtime loop failed. The loop ends only on a
/// transport error talking to the Runtime API (a dropped keep-alive connection, seen under local
/// emulators); the environment is still good, so it polls again, giving up after a run of quick
/// failures.
#[derive(Debug, Default)]
pub struct Reconnects {
    failures: u32,
}

impl Reconnects {
    /// After a loop that ran for `ran_for` failed: how long to wait before polling again, or `None`
    /// to give up.
    pub fn after_failure(&mut self, ran_for: Duration) -> Option<Duration> {
        if ran_for > QUICK {
            self.failures = 0;
        }
        self.failures += 1;
        (self.failures < MAX_QUICK_FAILURES)
            .then(|| Duration::from_millis(50 * u64::from(self.failures)))
    }

    /// Failures counted so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffered_only_when_asked_for() {
        assert!(buffered(Some("BUFFERED")));
        assert!(buffered(Some("buffered")));
        assert!(!buffered(Some("RESPONSE_STREAM")));
        assert!(!buffered(None));
    }

    #[test]
    fn quick_failures_back_off_then_give_up_and_a_long_run_starts_over() {
        let mut r = Reconnects::default();
        let quick = Duration::from_secs(1);
        let waits: Vec<_> = (0..4).map(|_| r.after_failure(quick)).collect();
        assert_eq!(
            waits,
            [50, 100, 150, 200].map(|ms| Some(Duration::from_millis(ms)))
        );
        assert_eq!(
            r.after_failure(quick),
            None,
            "the fifth quick failure gives up"
        );
        let mut r = Reconnects::default();
        for _ in 0..4 {
            r.after_failure(quick);
        }
        assert_eq!(
            r.after_failure(Duration::from_secs(61)),
            Some(Duration::from_millis(50)),
            "a loop that ran over a minute counts as the first failure"
        );
        assert_eq!(r.failures(), 1);
    }
}
