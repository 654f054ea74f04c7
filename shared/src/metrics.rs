//! Counters and histograms, rendered in Prometheus text format for `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

/// Upper bounds (seconds) of the request latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Gateway metrics. Cheap to update from any thread; the platform records latencies it measured.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    active_sessions: AtomicI64,
    active_streams: AtomicI64,
    sessions_created: AtomicU64,
    tool_calls: Mutex<BTreeMap<(String, &'static str), u64>>,
    spans: SpanCounters,
}

/// What became of finished spans (only moves when span export is configured).
#[derive(Debug, Default)]
struct SpanCounters {
    exported: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

/// What became of some spans, as counted by [`Metrics::count_spans`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanFate {
    /// Accepted by the collector.
    Exported,
    /// Dropped before export because the exporter's queue was full.
    Dropped,
    /// Lost because an export failed (collector down, refused, timed out).
    Failed,
}

impl Metrics {
    /// Fresh metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one handled MCP message (`method` is the JSON-RPC method or a route label).
    pub fn count_request(&self, method: &str, status: u16) {
        if let Ok(mut m) = self.requests.lock() {
            // Unknown methods are folded so clients cannot grow the label set without bound.
            let key = if method.len() > 64
                || !method
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_-.".contains(&b))
            {
                "other"
            } else {
                method
            };
            *m.entry((key.to_owned(), status)).or_insert(0) += 1;
        }
    }

    /// Counts a tool call outcome.
    pub fn count_tool_call(&self, tool: &str, outcome: &'static str) {
        if let Ok(mut m) = self.tool_calls.lock() {
            *m.entry((tool.to_owned(), outcome)).or_insert(0) += 1;
        }
    }

    /// Records the latency of one HTTP exchange, in microseconds.
    pub fn observe_latency_micros(&self, micros: u64) {
        let secs = micros as f64 / 1_000_000.0;
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts `n` spans that met `fate` (the exporter reports them).
    pub fn count_spans(&self, fate: SpanFate, n: u64) {
        let c = match fate {
            SpanFate::Exported => &self.spans.exported,
            SpanFate::Dropped => &self.spans.dropped,
            SpanFate::Failed => &self.spans.failed,
        };
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// A session was created.
    pub fn session_opened(&self) {
        self.active_sessions.fetch_add(1, Ordering::Relaxed);
        self.sessions_created.fetch_add(1, Ordering::Relaxed);
    }

    /// A session ended (deleted or found expired).
    pub fn session_closed(&self) {
        self.active_sessions.fetch_sub(1, Ordering::Relaxed);
    }

    /// Sets the active-session gauge (e.g. after counting a persistent store at start-up).
    pub fn set_active_sessions(&self, n: i64) {
        self.active_sessions.store(n, Ordering::Relaxed);
    }

    /// A held stream opened (`+1`) or closed (`-1`).
    pub fn stream_delta(&self, delta: i64) {
        self.active_streams.fetch_add(delta, Ordering::Relaxed);
    }

    /// Current number of active streams.
    pub fn active_streams(&self) -> i64 {
        self.active_streams.load(Ordering::Relaxed)
    }

    /// Renders every metric plus the upstream pool's counters.
    pub fn render_with_pool(&self, pool: &crate::upstream::PoolStats) -> String {
        let mut out = self.render();
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, v: u64| {
            let _ = write!(
                out,
                "# HELP mcp_edge_upstream_pool_{name} {help}\n# TYPE mcp_edge_upstream_pool_{name} {kind}\nmcp_edge_upstream_pool_{name} {v}\n"
            );
        };
        gauge(
            &mut out,
            "size",
            "Pooled upstream clients.",
            "gauge",
            pool.size as u64,
        );
        gauge(
            &mut out,
            "hits_total",
            "Pool lookups that reused a client.",
            "counter",
            pool.hits,
        );
        gauge(
            &mut out,
            "misses_total",
            "Pool lookups that created a client.",
            "counter",
            pool.misses,
        );
        gauge(
            &mut out,
            "evictions_total",
            "Clients dropped to make room (LRU).",
            "counter",
            pool.evictions,
        );
        gauge(
            &mut out,
            "expirations_total",
            "Clients dropped after idling.",
            "counter",
            pool.expirations,
        );
        out
    }

    /// Renders every metric in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str("# HELP mcp_edge_requests_total MCP messages handled, by JSON-RPC method and HTTP status.\n");
        out.push_str("# TYPE mcp_edge_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((method, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "mcp_edge_requests_total{{method=\"{method}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP mcp_edge_tool_calls_total Tool calls by tool and outcome.\n");
        out.push_str("# TYPE mcp_edge_tool_calls_total counter\n");
        if let Ok(m) = self.tool_calls.lock() {
            for ((tool, outcome), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "mcp_edge_tool_calls_total{{tool=\"{tool}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP mcp_edge_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE mcp_edge_request_duration_seconds histogram\n");
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            let n = self.latency_buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "mcp_edge_request_duration_seconds_bucket{{le=\"{bound}\"}} {n}"
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "mcp_edge_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1_000_000.0;
        let _ = writeln!(out, "mcp_edge_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "mcp_edge_request_duration_seconds_count {count}");
        out.push_str("# HELP mcp_edge_active_sessions Sessions currently alive.\n# TYPE mcp_edge_active_sessions gauge\n");
        let _ = writeln!(
            out,
            "mcp_edge_active_sessions {}",
            self.active_sessions.load(Ordering::Relaxed).max(0)
        );
        out.push_str("# HELP mcp_edge_sessions_created_total Sessions created.\n# TYPE mcp_edge_sessions_created_total counter\n");
        let _ = writeln!(
            out,
            "mcp_edge_sessions_created_total {}",
            self.sessions_created.load(Ordering::Relaxed)
        );
        out.push_str("# HELP mcp_edge_active_streams SSE and WebSocket streams currently open.\n# TYPE mcp_edge_active_streams gauge\n");
        let _ = writeln!(
            out,
            "mcp_edge_active_streams {}",
            self.active_streams.load(Ordering::Relaxed).max(0)
        );
        out.push_str("# HELP mcp_edge_trace_spans_total Finished spans by fate: exported, dropped (exporter queue full) or failed (export refused or unreachable).\n# TYPE mcp_edge_trace_spans_total counter\n");
        for (fate, c) in [
            ("exported", &self.spans.exported),
            ("dropped", &self.spans.dropped),
            ("failed", &self.spans.failed),
        ] {
            let _ = writeln!(
                out,
                "mcp_edge_trace_spans_total{{fate=\"{fate}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::new();
        m.count_request("tools/call", 200);
        m.count_request("tools/call", 200);
        m.count_request("bad\"label", 400);
        m.observe_latency_micros(700);
        m.session_opened();
        let text = m.render();
        assert!(text.contains("mcp_edge_requests_total{method=\"tools/call\",status=\"200\"} 2"));
        assert!(text.contains("mcp_edge_requests_total{method=\"other\",status=\"400\"} 1"));
        assert!(text.contains("mcp_edge_request_duration_seconds_bucket{le=\"0.0005\"} 0"));
        assert!(text.contains("mcp_edge_request_duration_seconds_bucket{le=\"0.001\"} 1"));
        assert!(text.contains("mcp_edge_active_sessions 1"));
    }
}
