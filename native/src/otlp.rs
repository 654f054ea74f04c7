//! The OTLP/HTTP span exporter of the native binary and the Lambda: the core's finished
//! [`SpanData`] go into a bounded queue (full: dropped and counted, never waited for), and one task
//! sends them in batches as protobuf `ExportTraceServiceRequest`s (the official definitions, as
//! the `opentelemetry-proto` crate generates them with prost) to the configured endpoint, off the
//! request path. [`OtlpExporter::flush`] sends what is queued now (the Lambda calls it before an
//! invocation ends, since a frozen environment sends nothing).
//!
//! Exporter header values (backend API keys) are never logged: failures name the status only.

use std::sync::Arc;
use std::time::Duration;

use mcp_edge_core::metrics::{Metrics, SpanFate};
use mcp_edge_core::otel::{Attr, AttrValue, SpanData, SpanKind, SpanSink, TraceSettings};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};

/// Spans waiting for export at most; past it new spans are dropped (and counted).
pub const QUEUE_CAPACITY: usize = 2048;
/// Spans per export request at most.
pub const MAX_BATCH: usize = 512;
/// Longest a span waits in the queue before its batch is sent.
const BATCH_DELAY: Duration = Duration::from_millis(1000);
/// Longest one export request may take (the OTLP default timeout is 10 s).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

enum Msg {
    Span(Box<SpanData>),
    Flush(oneshot::Sender<()>),
}

/// A [`SpanSink`] that exports over OTLP/HTTP protobuf from a background task.
pub struct OtlpExporter {
    tx: mpsc::Sender<Msg>,
    metrics: Arc<Metrics>,
}

/// The exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpError {
    /// The settings name no endpoint (export is off).
    #[error("no OTLP endpoint configured")]
    NoEndpoint,
    /// The HTTP client could not be built.
    #[error("OTLP HTTP client: {0}")]
    Client(String),
}

impl OtlpExporter {
    /// Starts the export task on the current tokio runtime (needs one).
    pub fn start(settings: &TraceSettings, metrics: Arc<Metrics>) -> Result<Arc<Self>, OtlpError> {
        let url = settings.endpoint.clone().ok_or(OtlpError::NoEndpoint)?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &settings.headers {
            // Checked when the settings were read; an entry that still fails is left out.
            if let (Ok(k), Ok(mut v)) = (
                reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                reqwest::header::HeaderValue::from_str(v),
            ) {
                v.set_sensitive(true);
                headers.insert(k, v);
            }
        }
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/x-protobuf"),
        );
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(EXPORT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| OtlpError::Client(e.to_string()))?;
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let resource = Resource {
            attributes: vec![
                kv("service.name", str_value(&settings.service_name)),
                kv("service.version", str_value(env!("CARGO_PKG_VERSION"))),
                kv("telemetry.sdk.name", str_value("mcp-edge")),
                kv("telemetry.sdk.language", str_value("rust")),
            ],
            ..Default::default()
        };
        tokio::spawn(run(rx, client, url, resource, metrics.clone()));
        Ok(Arc::new(OtlpExporter { tx, metrics }))
    }

    /// Sends every span queued so far and waits for that export (bounded by the export timeout).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).await.is_ok() {
            let _ = tokio::time::timeout(EXPORT_TIMEOUT + Duration::from_secs(1), done).await;
        }
    }
}

/// Starts the exporter and makes it `app`'s span sink when the `OTEL_*` settings ask for export
/// (an endpoint, not disabled); otherwise `app` is returned as it was and nothing runs.
pub fn install(
    app: mcp_edge_core::McpApp,
) -> Result<(mcp_edge_core::McpApp, Option<Arc<OtlpExporter>>), OtlpError> {
    let settings = &app.config().tracing;
    if !matches!(settings.mode, mcp_edge_core::otel::TraceMode::Export(_)) {
        return Ok((app, None));
    }
    let exporter = OtlpExporter::start(settings, app.metrics().clone())?;
    tracing::info!(
        service = %settings.service_name,
        "exporting spans over OTLP/HTTP"
    );
    Ok((app.with_span_sink(exporter.clone()), Some(exporter)))
}

impl SpanSink for OtlpExporter {
    fn export(&self, span: SpanData) {
        if self.tx.try_send(Msg::Span(Box::new(span))).is_err() {
            self.metrics.count_spans(SpanFate::Dropped, 1);
        }
    }
}

async fn run(
    mut rx: mpsc::Receiver<Msg>,
    client: reqwest::Client,
    url: String,
    resource: Resource,
    metrics: Arc<Metrics>,
) {
    let mut batch: Vec<SpanData> = Vec::with_capacity(MAX_BATCH);
    let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        // Wait for the first span (or flush) of a batch, then gather more for up to BATCH_DELAY.
        let first = match rx.recv().await {
            Some(m) => m,
            None => return,
        };
        let deadline = tokio::time::Instant::now() + BATCH_DELAY;
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(Msg::Span(s)) => batch.push(*s),
                Some(Msg::Flush(ack)) => {
                    acks.push(ack);
                    break;
                }
                None => {}
            }
            if batch.len() >= MAX_BATCH {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(m)) => next = Some(m),
                Ok(None) | Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let n = batch.len() as u64;
            let body = encode(&resource, std::mem::take(&mut batch));
            let fate = match client.post(&url).body(body).send().await {
                Ok(r) if r.status().is_success() => SpanFate::Exported,
                Ok(r) => {
                    tracing::warn!(
                        status = r.status().as_u16(),
                        spans = n,
                        "OTLP export refused"
                    );
                    SpanFate::Failed
                }
                Err(e) => {
                    // reqwest's error names the URL, never a header.
                    tracing::warn!(error = %e.without_url(), spans = n, "OTLP export failed");
                    SpanFate::Failed
                }
            };
            metrics.count_spans(fate, n);
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn str_value(s: &str) -> any_value::Value {
    any_value::Value::StringValue(s.to_owned())
}

/// One export request's protobuf bytes for `spans` (all under one resource and scope).
pub fn encode(resource: &Resource, spans: Vec<SpanData>) -> Vec<u8> {
    let ms_to_ns = |ms: u64| ms.saturating_mul(1_000_000);
    let spans = spans
        .into_iter()
        .map(|s| Span {
            trace_id: s.trace_id.to_vec(),
            span_id: s.span_id.to_vec(),
            parent_span_id: s.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
            trace_state: s.tracestate.unwrap_or_default(),
            // The W3C trace flags (only sampled spans are built).
            flags: 1,
            name: s.name,
            kind: match s.kind {
                SpanKind::Server => span::SpanKind::Server,
                SpanKind::Client => span::SpanKind::Client,
            } as i32,
            start_time_unix_nano: ms_to_ns(s.start_ms),
            end_time_unix_nano: ms_to_ns(s.end_ms.max(s.start_ms)),
            attributes: s
                .attributes
                .iter()
                .map(|a: &Attr| {
                    kv(
                        a.key(),
                        match a.value() {
                            AttrValue::Str(v) => str_value(v),
                            AttrValue::Int(n) => any_value::Value::IntValue(n),
                        },
                    )
                })
                .collect(),
            status: Some(Status {
                code: if s.error {
                    status::StatusCode::Error
                } else {
                    status::StatusCode::Unset
                } as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "mcp-edge".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_spans_the_official_definitions_decode() {
        let span = SpanData {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent_span_id: Some([3; 8]),
            tracestate: Some("a=1".into()),
            name: "tools/call x".into(),
            kind: SpanKind::Server,
            start_ms: 5,
            end_ms: 7,
            error: true,
            attributes: vec![Attr::Method("tools/call"), Attr::HttpStatus(200)],
        };
        let bytes = encode(&Resource::default(), vec![span]);
        let back = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
        let s = &back.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(s.trace_id, vec![1; 16]);
        assert_eq!(s.parent_span_id, vec![3; 8]);
        assert_eq!(s.start_time_unix_nano, 5_000_000);
        assert_eq!(s.kind, span::SpanKind::Server as i32);
        assert_eq!(
            s.status.as_ref().unwrap().code,
            status::StatusCode::Error as i32
        );
        assert_eq!(s.attributes[0].key, "mcp.method.name");
        assert_eq!(
            s.attributes[1].value.as_ref().unwrap().value,
            Some(any_value::Value::IntValue(200))
        );
    }
}
