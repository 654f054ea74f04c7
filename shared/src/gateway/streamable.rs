//! Streamable HTTP at `/mcp`: POST, GET and DELETE for the sessionful eras, and the stateless
//! 2026-07-28 single-exchange POST.

use bytes::Bytes;
use http::{Request, StatusCode};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::dispatch::Call;
use super::{McpApp, RequestFacts};
use crate::error::McpError;
use crate::protocol::{
    self, allows_batches, code, Incoming, Payload, HANDSHAKE_VERSIONS, LATEST_HANDSHAKE_VERSION,
    META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION, MODERN_VERSIONS,
};
use crate::session::{LoggedEvent, SessionRecord, SessionTransport};
use crate::transport::headers::Acceptable;
use crate::transport::inbound::{classify, EventId, Inbound, Rules};
use crate::transport::sse::SseEvent;
use crate::transport::{
    Reply, StreamChannel, StreamHold, METHOD_HEADER, NAME_HEADER, SESSION_HEADER, VERSION_HEADER,
};

/// Retry hint (ms) sent with priming events so clients reconnect quickly after a server-side close.
const RECONNECT_RETRY_MS: u64 = 100;

/// Session changes produced by one request, re-appliable after a lost compare-and-set race.
#[derive(Debug, Default, Clone)]
pub(crate) struct SessionChanges {
    pub initialized: bool,
    pub log_level: Option<String>,
    pub negotiated: Option<(String, Option<Value>, Value)>,
    /// `resources/subscribe` (with the content fingerprint then) and `resources/unsubscribe`
    /// (`None`) of URIs, in order.
    pub subscriptions: Vec<(String, Option<u64>)>,
}

impl SessionChanges {
    pub(crate) fn apply(&self, rec: &mut SessionRecord) -> bool {
        let mut changed = false;
        if self.initialized && !rec.initialized {
            rec.initialized = true;
            changed = true;
        }
        if let Some(level) = &self.log_level {
            rec.log_level = Some(level.clone());
            changed = true;
        }
        if let Some((version, info, caps)) = &self.negotiated {
            rec.protocol_version = version.clone();
            rec.client_info = info.clone();
            rec.client_capabilities = caps.clone();
            changed = true;
        }
        self.apply_subscriptions(rec) || changed
    }
}

/// Responses produced by a batch or single message.
pub(crate) struct Processed {
    /// Each reply message, serialized once.
    pub responses: Vec<Box<RawValue>>,
    pub changes: SessionChanges,
    pub deferred: bool,
    /// A request was refused by a rate limit (milliseconds to wait).
    pub rate_limited: Option<u64>,
}

/// Whether `version` is at least `floor` in the handshake-era ordering.
fn version_at_least(version: &str, floor: &str) -> bool {
    let pos = |v: &str| HANDSHAKE_VERSIONS.iter().position(|x| *x == v);
    match (pos(version), pos(floor)) {
        (Some(a), Some(b)) => a >= b,
        _ => MODERN_VERSIONS.contains(&version),
    }
}

/// The priming event (id `<stream>-0`, empty data) that lets 2025-11-25 clients resume a stream.
fn priming_frame(rec: &SessionRecord, stream: u64, retry: Option<u64>) -> Option<Bytes> {
    version_at_least(&rec.protocol_version, "2025-11-25").then(|| {
        SseEvent {
            id: Some(format!("{stream}-0")),
            event: None,
            data: String::new(),
            retry,
        }
        .encode()
    })
}

/// A header's value without surrounding whitespace (RFC 9110 5.5: optional whitespace around a field
/// value is not part of it; not every platform's HTTP stack strips it).
fn header<'h>(headers: &'h http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn request_id(payload: &Payload) -> Value {
    match payload {
        Payload::Single(Incoming::Request { id, .. }) => id.clone(),
        _ => Value::Null,
    }
}

/// Decodes the spec's `=?base64?…?=` header sentinel; plain values pass through.
fn decode_header_value(raw: &str) -> Option<String> {
    use base64::Engine as _;
    match raw
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok()),
        None => Some(raw.to_owned()),
    }
}

/// SEP-2243 custom headers: every argument whose schema property names an `x-mcp-header` must come
/// with `Mcp-Param-{name}` carrying the same value (plain, or `=?base64?…?=` with strict base64), so
/// intermediaries that route on the header see what the server runs. A missing header, undecodable
/// base64 or a different value is a header mismatch (400, -32020).
fn check_param_headers(
    headers: &http::HeaderMap,
    schema: &Value,
    args: Option<&Value>,
) -> Result<(), McpError> {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    for (param, def) in props {
        let Some(name) = def.get("x-mcp-header").and_then(Value::as_str) else {
            continue;
        };
        let expected = match args.and_then(|a| a.get(param)) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.clone(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => continue,
        };
        let header_name = format!("mcp-param-{}", name.to_ascii_lowercase());
        let given = header(headers, &header_name).and_then(decode_header_value);
        if given.as_deref() != Some(expected.as_str()) {
            return Err(McpError::HeaderMismatch(format!(
                "Mcp-Param-{name} header is missing, undecodable or does not match argument '{param}'"
            )));
        }
    }
    Ok(())
}

/// HTTP status for an error answering a 2026-07-28 request (also the stdio bridge's): by the
/// JSON-RPC code where that decides it ([`modern_code_status`]); the error's own status (401, 403,
/// 429 for rate limits and quotas, 5xx) for refusals of the request itself; 200 otherwise.
pub fn modern_status(err: &McpError) -> StatusCode {
    modern_code_status(err.to_jsonrpc().code).unwrap_or_else(|| match err {
        McpError::Store(_)
        | McpError::Internal(_)
        | McpError::PolicyDenied(_)
        | McpError::RateLimited(_)
        | McpError::QuotaExceeded(..)
        | McpError::Unauthorized(_) => err.http_status(),
        _ => StatusCode::OK,
    })
}

/// HTTP status a 2026-07-28 error answer takes by its JSON-RPC code alone (the stdio bridge uses it
/// for a child's error answers too): 400 for malformed or mismatched requests, 404 for unknown
/// methods; `None` when the code does not decide it.
pub fn modern_code_status(jsonrpc_code: i64) -> Option<StatusCode> {
    match jsonrpc_code {
        code::PARSE_ERROR
        | code::INVALID_REQUEST
        | code::INVALID_PARAMS
        | code::HEADER_MISMATCH
        | code::MISSING_REQUIRED_CLIENT_CAPABILITY
        | code::UNSUPPORTED_PROTOCOL_VERSION => Some(StatusCode::BAD_REQUEST),
        code::METHOD_NOT_FOUND => Some(StatusCode::NOT_FOUND),
        _ => None,
    }
}

impl McpApp {
    /// Readies `req` for a live reply: puts an outlet on it for the notifications a tool call sends
    /// (see [`crate::notify`]) and returns the receiving end, which runs the handling and says
    /// whether the reply goes out whole or as a stream ([`crate::transport::live::Related::start`]).
    pub fn live(&self, req: &mut Request<Bytes>) -> crate::transport::live::Related {
        let head = self.with_cors(req.headers(), Reply::sse(Vec::new(), None));
        let (outlet, related) = crate::transport::live::Related::new(head);
        req.extensions_mut().insert(outlet);
        related
    }

    pub(crate) async fn streamable(&self, req: Request<Bytes>) -> Reply {
        if let Err(e) = self.config.origins.check(req.headers()) {
            return Reply::error(&e, &Value::Null);
        }
        let rules = Rules {
            max_body_bytes: self.config.max_body_bytes,
            max_batch: self.config.max_batch,
            stateless: true,
        };
        let inbound = match classify(req.method(), req.headers(), req.body(), &rules) {
            Ok(inbound) => inbound,
            Err(refusal) => return refusal.reply(),
        };
        let headers = req.headers();
        // A tool call's notifications stream on this reply when the platform put an outlet on the
        // request and the client takes an event stream (single requests only: a batch answers whole).
        let outlet = req.extensions().get::<crate::notify::Outlet>();
        match inbound {
            Inbound::Initialize { message, accept } => {
                let mut facts = self.facts(headers, Self::caller_of(&req));
                facts.assigned_session = req
                    .extensions()
                    .get::<super::AssignedSession>()
                    .map(|a| a.0.clone());
                self.initialize(message, &facts, accept).await
            }
            Inbound::Stateless { message, accept } => {
                let outlet = outlet.filter(|_| accept.sse).cloned();
                self.modern_post(headers, Self::caller_of(&req), message, accept, outlet)
                    .await
            }
            Inbound::OnSession {
                session,
                payload,
                accept,
            } => {
                let mut facts = self.facts(headers, Self::caller_of(&req));
                facts.related = outlet
                    .filter(|_| accept.sse && matches!(payload, Payload::Single(_)))
                    .cloned();
                self.mcp_post(&session, payload, &facts, accept).await
            }
            Inbound::OpenStream { session, resume } => {
                let facts = self.facts(headers, Self::caller_of(&req));
                self.mcp_get(&session, resume, &facts).await
            }
            Inbound::Delete { session } => {
                let facts = self.facts(headers, Self::caller_of(&req));
                self.mcp_delete(&session, &facts).await
            }
        }
    }

    /// Runs each message of a request against a session; requests are dispatched in order.
    pub(crate) async fn process(
        &self,
        rec: &SessionRecord,
        facts: &RequestFacts,
        items: Vec<Result<Incoming, (Value, protocol::JsonRpcError)>>,
        allow_initialize: bool,
    ) -> Processed {
        let mut out = Processed {
            responses: Vec::new(),
            changes: SessionChanges::default(),
            deferred: false,
            rate_limited: None,
        };
        let mut version = rec.protocol_version.clone();
        let mut budget = self.reply_budget(items.len() > 1);
        for item in items {
            if budget.spent() {
                // The batch's replies are at their bound: refuse the remaining requests unrun.
                if let Ok(Incoming::Request { id, .. }) = &item {
                    out.responses.push(budget.refusal(id));
                    continue;
                }
            }
            let before = out.responses.len();
            let reply_id = match &item {
                Ok(Incoming::Request { id, .. }) | Err((id, _)) => id.clone(),
                _ => Value::Null,
            };
            match item {
                Ok(Incoming::Request { id, method, params })
                    if method == "initialize" && allow_initialize =>
                {
                    let p = params.unwrap_or_default();
                    let requested = p
                        .get("protocolVersion")
                        .and_then(Value::as_str)
                        .unwrap_or(LATEST_HANDSHAKE_VERSION);
                    let negotiated = if HANDSHAKE_VERSIONS.contains(&requested) {
                        requested
                    } else {
                        LATEST_HANDSHAKE_VERSION
                    };
                    version = negotiated.to_owned();
                    out.changes.negotiated = Some((
                        negotiated.to_owned(),
                        p.get("clientInfo").cloned(),
                        p.get("capabilities")
                            .cloned()
                            .unwrap_or_else(|| Value::Object(Map::new())),
                    ));
                    self.metrics.count_request("initialize", 200);
                    out.responses.push(protocol::encode_success(
                        &id,
                        self.initialize_result(negotiated, true),
                        None,
                    ));
                }
                Ok(Incoming::Request { id, method, params }) => {
                    let call = Call {
                        version: &version,
                        modern: false,
                        facts,
                        session: Some(rec.id.as_str()),
                        // Requests to the client go on a standalone GET stream, which only
                        // Streamable HTTP sessions have.
                        client_capabilities: (rec.transport == SessionTransport::StreamableHttp)
                            .then_some(&rec.client_capabilities),
                        headers: None,
                        log_level: rec.log_level.as_deref(),
                    };
                    let mut outcome = self.dispatch(&call, &method, params.as_ref()).await;
                    if let Some(level) = outcome.set_log_level.take() {
                        out.changes.log_level = Some(level);
                    }
                    if let Some((uri, base)) = outcome.subscription.take() {
                        if let Err(e) = out.changes.subscribe(rec, uri, base) {
                            outcome.result = Err(e);
                        }
                    }
                    out.deferred |= outcome.deferred;
                    if let Err(McpError::RateLimited(ms)) = outcome.result {
                        out.rate_limited = Some(ms);
                    }
                    self.metrics.count_request(&method, 200);
                    out.responses.push(outcome.encode(&id));
                }
                Ok(Incoming::Notification { method, .. }) => {
                    if method == "notifications/initialized" {
                        out.changes.initialized = true;
                    }
                    self.metrics.count_request(&method, 202);
                }
                Ok(Incoming::Response { id, outcome }) => {
                    // An answer to a request a tool sent the client (sampling): only this
                    // session's waiter can take it.
                    if let (Some(port), Some(id)) = (&self.client_requests, id.as_str()) {
                        port.answer(rec.id.as_str(), id, outcome).await;
                    }
                }
                Err((id, err)) => out
                    .responses
                    .push(protocol::encode(&protocol::failure(&id, &err))),
            }
            if out.responses.len() > before {
                if let Some(reply) = out.responses.pop() {
                    out.responses.push(budget.take(reply, &reply_id));
                }
            }
        }
        out
    }

    /// A POST on a session: its messages run in order against the session record.
    async fn mcp_post(
        &self,
        sid: &str,
        payload: Payload,
        facts: &RequestFacts,
        accept: Acceptable,
    ) -> Reply {
        let id = request_id(&payload);
        let (items, batch) = match payload {
            Payload::Single(m) => (vec![Ok(m)], false),
            Payload::Batch(items) => (items, true),
        };
        let rec = match self.load_session(sid, facts).await {
            Ok(r) if r.transport == SessionTransport::StreamableHttp => r,
            Ok(_) => return Reply::error(&McpError::SessionNotFound, &id),
            Err(e) => return Reply::error(&e, &id),
        };
        if batch && !allows_batches(&rec.protocol_version) {
            let msg = format!(
                "Invalid Request: protocol version {} does not allow JSON-RPC batches",
                rec.protocol_version
            );
            return Reply::error(&McpError::InvalidRequest(msg), &Value::Null);
        }
        let processed = self.process(&rec, facts, items, false).await;
        if let (false, Some(ms)) = (batch, processed.rate_limited) {
            return Reply::error(&McpError::RateLimited(ms), &id);
        }
        self.sessionful_reply(rec, facts, processed, accept, batch)
            .await
    }

    async fn initialize(&self, msg: Incoming, facts: &RequestFacts, accept: Acceptable) -> Reply {
        let id = request_id(&Payload::Single(msg.clone()));
        if msg
            .params()
            .and_then(|p| p.get("protocolVersion"))
            .and_then(Value::as_str)
            .is_none()
        {
            return Reply::error(
                &McpError::InvalidParams(
                    "Invalid params: initialize needs a string protocolVersion".into(),
                ),
                &id,
            );
        }
        let mut rec = self.new_session(
            SessionTransport::StreamableHttp,
            LATEST_HANDSHAKE_VERSION,
            facts,
        );
        if let Err(e) = self
            .open_session_lease(&mut rec, &facts.caller, facts.now)
            .await
        {
            return Reply::error(&e, &id);
        }
        let processed = self.process(&rec, facts, vec![Ok(msg)], true).await;
        processed.changes.apply(&mut rec);
        match self.ports.store.save(&rec, None).await {
            Ok(v) => rec.version = v,
            Err(e) => {
                self.close_session_lease(&rec).await;
                return Reply::error(&McpError::from(e), &id);
            }
        }
        self.metrics.session_opened();
        let Some(body) = processed.responses.into_iter().next() else {
            return Reply::error(&McpError::Internal("initialize had no reply".into()), &id);
        };
        let mut reply = if accept.json && !(self.config.prefer_sse && accept.sse) {
            Reply::encoded(StatusCode::OK, body)
        } else {
            Reply::sse(
                vec![SseEvent::message(None, String::from(Box::<str>::from(body))).encode()],
                None,
            )
        };
        reply.set_header(SESSION_HEADER, rec.id.as_str());
        reply
    }

    async fn sessionful_reply(
        &self,
        rec: SessionRecord,
        facts: &RequestFacts,
        processed: Processed,
        accept: Acceptable,
        batch: bool,
    ) -> Reply {
        let Processed {
            responses,
            changes,
            deferred,
            ..
        } = processed;
        if responses.is_empty() {
            return match self
                .update_session(rec, facts.now, |r| changes.apply(r))
                .await
            {
                Ok(_) => Reply::new(StatusCode::ACCEPTED, crate::transport::ReplyBody::Empty),
                Err(e) => Reply::error(&e, &Value::Null),
            };
        }
        let defer = deferred && accept.sse && version_at_least(&rec.protocol_version, "2025-11-25");
        let use_json = !defer && accept.json && !(self.config.prefer_sse && accept.sse);
        if use_json {
            let body = if batch {
                protocol::encode_array(&responses)
            } else {
                responses.into_iter().next().unwrap_or_default()
            };
            return match self
                .update_session(rec, facts.now, |r| changes.apply(r))
                .await
            {
                Ok(_) => Reply::encoded(StatusCode::OK, body),
                Err(e) => Reply::error(&e, &Value::Null),
            };
        }
        // SSE: a new stream whose events are logged for Last-Event-ID resumption.
        let limit = self.config.event_log_limit.max(1);
        let datas: Vec<String> = responses
            .into_iter()
            .map(|r| String::from(Box::<str>::from(r)))
            .collect();
        let saved = self
            .update_session(rec, facts.now, |r| {
                changes.apply(r);
                let stream = r.next_stream;
                r.next_stream += 1;
                let n = datas.len();
                for (i, data) in datas.iter().enumerate() {
                    r.events.push(LoggedEvent {
                        stream,
                        seq: i as u64 + 1,
                        data: data.clone(),
                        last: i + 1 == n,
                    });
                }
                let excess = r.events.len().saturating_sub(limit);
                r.events.drain(..excess);
                true
            })
            .await;
        let rec = match saved {
            Ok(r) => r,
            Err(e) => return Reply::error(&e, &Value::Null),
        };
        let stream = rec.next_stream - 1;
        let retry = defer.then_some(RECONNECT_RETRY_MS);
        let mut frames: Vec<Bytes> = priming_frame(&rec, stream, retry).into_iter().collect();
        if !defer {
            for (i, data) in datas.into_iter().enumerate() {
                frames.push(SseEvent::message(Some(format!("{stream}-{}", i + 1)), data).encode());
            }
        }
        Reply::sse(frames, None)
    }

    async fn mcp_get(&self, sid: &str, resume: Option<EventId>, facts: &RequestFacts) -> Reply {
        let rec = match self.load_session(sid, facts).await {
            Ok(r) if r.transport == SessionTransport::StreamableHttp => r,
            Ok(_) => return Reply::error(&McpError::SessionNotFound, &Value::Null),
            Err(e) => return Reply::error(&e, &Value::Null),
        };
        let keepalive_ms = self.config.keepalive_ms;
        if let Some(EventId { stream, seq }) = resume {
            let replay: Vec<&LoggedEvent> = rec
                .events
                .iter()
                .filter(|e| e.stream == stream && e.seq > seq)
                .collect();
            let finished = replay.iter().any(|e| e.last);
            let frames = replay
                .iter()
                .map(|e| {
                    SseEvent::message(Some(format!("{}-{}", e.stream, e.seq)), e.data.clone())
                        .encode()
                })
                .collect();
            if finished {
                return Reply::sse(frames, None);
            }
            let lease = match self.open_stream_lease(&rec.id, facts.now).await {
                Ok(lease) => lease,
                Err(e) => return Reply::error(&e, &Value::Null),
            };
            let hold = StreamHold {
                session: rec.id.clone(),
                channel: StreamChannel::Standalone(stream),
                keepalive_ms,
                lease,
            };
            return Reply::sse(frames, Some(hold));
        }
        let lease = match self.open_stream_lease(&rec.id, facts.now).await {
            Ok(lease) => lease,
            Err(e) => return Reply::error(&e, &Value::Null),
        };
        let session_id = rec.id.clone();
        let saved = self
            .update_session(rec, facts.now, |r| {
                r.next_stream += 1;
                true
            })
            .await;
        let rec = match saved {
            Ok(r) => r,
            Err(e) => {
                self.close_stream_lease(&session_id, lease.as_deref()).await;
                return Reply::error(&e, &Value::Null);
            }
        };
        let stream = rec.next_stream - 1;
        let frames: Vec<Bytes> = priming_frame(&rec, stream, None).into_iter().collect();
        Reply::sse(
            frames,
            Some(StreamHold {
                session: rec.id,
                channel: StreamChannel::Standalone(stream),
                keepalive_ms,
                lease,
            }),
        )
    }

    async fn mcp_delete(&self, sid: &str, facts: &RequestFacts) -> Reply {
        let rec = match self.load_session(sid, facts).await {
            Ok(r) => r,
            Err(e) => return Reply::error(&e, &Value::Null),
        };
        if let Err(e) = self.end_session(&rec).await {
            return Reply::error(&e, &Value::Null);
        }
        Reply::new(StatusCode::OK, crate::transport::ReplyBody::Empty)
    }

    /// The 2026-07-28 single exchange: validate the envelope and headers, dispatch, answer. No session.
    async fn modern_post(
        &self,
        headers: &http::HeaderMap,
        caller: crate::auth::Caller,
        msg: Incoming,
        accept: Acceptable,
        outlet: Option<crate::notify::Outlet>,
    ) -> Reply {
        let (id, method, params) = match msg {
            Incoming::Request { id, method, params } => (id, method, params),
            Incoming::Notification { method, .. } => {
                self.metrics.count_request(&method, 202);
                return Reply::new(StatusCode::ACCEPTED, crate::transport::ReplyBody::Empty);
            }
            Incoming::Response { .. } => {
                return Reply::new(StatusCode::ACCEPTED, crate::transport::ReplyBody::Empty)
            }
        };
        let fail = |e: McpError, id: &Value| {
            let mut r = Reply::error(&e, id);
            *r.response.status_mut() = modern_status(&e);
            r.set_header(http::header::CACHE_CONTROL, "no-store");
            r
        };
        let version = match self.modern_ladder(headers, &method, params.as_ref()) {
            Ok(v) => v,
            Err(e) => {
                self.metrics
                    .count_request(&method, modern_status(&e).as_u16());
                return fail(e, &id);
            }
        };
        if method == crate::subscription::METHOD && self.listens() {
            let opened = self
                .listen_open(headers, caller, &version, &id, params.as_ref())
                .await;
            let reply = opened.unwrap_or_else(|e| Self::listen_refusal(&e, &id));
            self.metrics.count_request(&method, reply.status().as_u16());
            return reply;
        }
        let mut facts = self.facts(headers, caller);
        facts.related = outlet;
        let call = Call {
            version: &version,
            modern: true,
            facts: &facts,
            session: None,
            client_capabilities: None,
            headers: Some(headers),
            log_level: None,
        };
        let outcome = self.dispatch(&call, &method, params.as_ref()).await;
        match outcome.result {
            Ok(result) => {
                self.metrics.count_request(&method, 200);
                let body = protocol::encode_success(&id, result, outcome.splice.as_ref());
                let mut reply = if accept.json {
                    Reply::encoded(StatusCode::OK, body)
                } else {
                    Reply::sse(
                        vec![
                            SseEvent::message(None, String::from(Box::<str>::from(body))).encode(),
                        ],
                        None,
                    )
                };
                reply.tasks.extend(outcome.task);
                reply
            }
            Err(e) => {
                self.metrics
                    .count_request(&method, modern_status(&e).as_u16());
                fail(e, &id)
            }
        }
    }

    /// The 2026-07-28 validation ladder: envelope keys, then routing headers, then the version.
    fn modern_ladder(
        &self,
        headers: &http::HeaderMap,
        method: &str,
        params: Option<&Map<String, Value>>,
    ) -> Result<String, McpError> {
        check_modern_envelope(headers, method, params)?;
        if method == "tools/call" {
            if let Some(tool) = params
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str)
                .and_then(|n| self.registry.tool(n))
            {
                let args = params.and_then(|p| p.get("arguments"));
                check_param_headers(headers, &tool.def().input_schema, args)?;
            }
        }
        modern_version(params)
    }
}

/// The 2026-07-28 envelope and routing headers of a request: `params._meta` carries the protocol
/// version and client capabilities, and `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` match
/// the body (the first rungs of the validation ladder; the stdio bridge applies them too).
pub fn check_modern_envelope(
    headers: &http::HeaderMap,
    method: &str,
    params: Option<&Map<String, Value>>,
) -> Result<(), McpError> {
    let meta = params.and_then(|p| p.get("_meta")).and_then(Value::as_object).ok_or_else(|| {
            McpError::InvalidParams(format!("Invalid params: params._meta must be an object carrying '{META_PROTOCOL_VERSION}' and '{META_CLIENT_CAPABILITIES}'"))
        })?;
    let missing: Vec<&str> = [META_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES]
        .into_iter()
        .filter(|k| !meta.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(McpError::InvalidParams(format!(
            "Invalid params: params._meta is missing {}",
            missing.join(", ")
        )));
    }
    let body_version = &meta[META_PROTOCOL_VERSION];
    if header(headers, VERSION_HEADER)
        .map(|h| Value::String(h.to_owned()))
        .as_ref()
        != Some(body_version)
    {
        return Err(McpError::HeaderMismatch(format!(
            "{VERSION_HEADER} header does not match the request envelope's protocol version"
        )));
    }
    if header(headers, METHOD_HEADER) != Some(method) {
        return Err(McpError::HeaderMismatch(format!(
            "{METHOD_HEADER} header does not match the request body's method"
        )));
    }
    let name_key = match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        // SEP-2663: the task methods route by task id.
        "tasks/get" | "tasks/update" | "tasks/cancel" => Some("taskId"),
        _ => None,
    };
    if let Some(key) = name_key {
        if let Some(body_value) = params.and_then(|p| p.get(key)).filter(|v| !v.is_null()) {
            let given = header(headers, NAME_HEADER).and_then(decode_header_value);
            if given.map(Value::String).as_ref() != Some(body_value) {
                return Err(McpError::HeaderMismatch(format!(
                    "{NAME_HEADER} header does not match the request body's '{key}' parameter"
                )));
            }
        }
    }
    Ok(())
}

/// The protocol version a 2026-07-28 request's envelope names, when this server speaks it (the last
/// rung of the validation ladder).
pub fn modern_version(params: Option<&Map<String, Value>>) -> Result<String, McpError> {
    let body_version = params
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(META_PROTOCOL_VERSION))
        .unwrap_or(&Value::Null);
    let Some(version) = body_version.as_str() else {
        return Err(McpError::InvalidParams(
            "Invalid params: the protocol-version envelope value must be a string".into(),
        ));
    };
    if !MODERN_VERSIONS.contains(&version) {
        return Err(McpError::UnsupportedVersion(version.to_owned()));
    }
    Ok(version.to_owned())
}
