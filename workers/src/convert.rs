//! Conversions between workers-rs requests/responses and the core's `http` types.

use std::rc::Rc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use mcp_edge_core::error::McpError;
use mcp_edge_core::gateway::ClientAddress;
use mcp_edge_core::transport::live::{LiveBody, Started};
use mcp_edge_core::transport::{Reply, ReplyBody};
use mcp_edge_core::McpApp;
use serde_json::Value;
use worker::{Headers, Request, Response, ResponseBuilder};

use crate::streams::StreamHub;

/// Header by which the Worker tells a session's Durable Object the id it chose for a new session.
/// Stripped from every incoming request, so only the Worker can set it.
pub const ASSIGNED_SESSION_HEADER: &str = "x-mcp-edge-assigned-session";

/// The request as the core sees it, or the reply to send when the body is over `max_body` bytes.
pub async fn to_core(
    mut req: Request,
    max_body: usize,
) -> worker::Result<Result<http::Request<Bytes>, Reply>> {
    let url = req.url()?;
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let mut builder = http::Request::builder()
        .method(req.method().as_ref())
        .uri(target);
    for (name, value) in req.headers().entries() {
        builder = builder.header(name, value);
    }
    if let Some(host) = url.host_str() {
        if !req.headers().has("host")? {
            let host = match url.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_owned(),
            };
            builder = builder.header(http::header::HOST, host);
        }
    }
    let body = req.bytes().await.unwrap_or_default();
    if body.len() > max_body {
        return Ok(Err(Reply::error(
            &McpError::PayloadTooLarge(max_body),
            &Value::Null,
        )));
    }
    let mut core = builder
        .body(Bytes::from(body))
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    let client = core
        .headers()
        .get("cf-connecting-ip")
        .and_then(|v| v.to_str().ok())
        .map(|ip| ClientAddress(ip.to_owned()));
    if let Some(c) = client {
        core.extensions_mut().insert(c);
    }
    Ok(Ok(core))
}

/// A workers-rs request carrying the same method, URL, headers and body (to forward to an object).
pub fn to_worker(req: &http::Request<Bytes>, origin: &str) -> worker::Result<Request> {
    let headers = Headers::new();
    for (name, value) in req.headers() {
        if let Ok(v) = value.to_str() {
            headers.append(name.as_str(), v)?;
        }
    }
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::from(req.method().as_str().to_owned()))
        .with_headers(headers);
    if !req.body().is_empty() {
        init.with_body(Some(js_sys::Uint8Array::from(&req.body()[..]).into()));
    }
    Request::new_with_init(&format!("{origin}{}", req.uri()), &init)
}

fn headers_of(reply: &Reply) -> worker::Result<Headers> {
    let headers = Headers::new();
    for (name, value) in reply.response.headers() {
        if let Ok(v) = value.to_str() {
            headers.append(name.as_str(), v)?;
        }
    }
    Ok(headers)
}

/// Writes a reply. A held stream needs the object's `hub` (the stateless Worker has none and closes
/// such a stream after its first frames, which it never produces).
pub fn to_worker_response(
    reply: Reply,
    hub: Option<(&Rc<StreamHub>, &Rc<McpApp>)>,
) -> worker::Result<Response> {
    let headers = headers_of(&reply)?;
    let status = reply.status().as_u16();
    let builder = ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers);
    Ok(match reply.response.into_body() {
        ReplyBody::Empty => builder.empty(),
        ReplyBody::Full(b) => builder.fixed(b.to_vec()),
        ReplyBody::Sse { frames, hold: None } => builder.fixed(frames.concat()),
        ReplyBody::Sse {
            frames,
            hold: Some(hold),
        } => match hub {
            Some((hub, app)) => {
                let rx = hub.hold(app.clone(), frames, hold);
                builder.from_stream(rx.map(|b| Ok::<Vec<u8>, worker::Error>(b.to_vec())))?
            }
            None => builder.fixed(frames.concat()),
        },
    })
}

/// Runs the core on `core`. A tool call that sends notifications before its answer is answered with
/// an event stream carrying them and then the answer (the core decides; see `mcp_edge_core::notify`):
/// that response is the `Err` side, to send as it is. The Worker buffers it: under `wrangler dev` a
/// response stream whose call still waited on a timer after the first event stalled there, so the
/// call finishes inside the handler and the events go out together.
pub async fn handle_live(
    app: &Rc<McpApp>,
    mut core: http::Request<Bytes>,
) -> Result<Reply, worker::Result<Response>> {
    let related = app.live(&mut core);
    let handler = app.clone();
    let handled = Box::pin(async move { handler.handle(core).await });
    match related.start(handled).await {
        Started::Whole(reply) => Ok(reply),
        Started::Streaming(head, body) => Err(live_response(head, body).await),
    }
}

/// A reply with notifications: the head's frames, then the rest of the call's, sent whole.
async fn live_response(head: Reply, body: LiveBody<'static>) -> worker::Result<Response> {
    let headers = headers_of(&head)?;
    let status = head.status().as_u16();
    let mut frames = match head.response.into_body() {
        ReplyBody::Sse { frames, .. } => frames,
        _ => Vec::new(),
    };
    frames.extend(body.into_stream().collect::<Vec<_>>().await);
    Ok(ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .fixed(frames.concat()))
}

/// Writes a `subscriptions/listen` reply: its acknowledgement, then the stream the isolate holds
/// (see [`crate::streams::listen`]).
pub fn listen_response(
    app: &Rc<McpApp>,
    reply: Reply,
    hold: mcp_edge_core::gateway::ListenHold,
) -> worker::Result<Response> {
    let headers = headers_of(&reply)?;
    let status = reply.status().as_u16();
    let frames = match reply.response.into_body() {
        ReplyBody::Sse { frames, .. } => frames,
        _ => Vec::new(),
    };
    let rx = crate::streams::listen(app.clone(), frames, hold);
    ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .from_stream(rx.map(|b| Ok::<Vec<u8>, worker::Error>(b.to_vec())))
}
