//! `SessionObject`: the Durable Object that is one session. It keeps the session record in its storage
//! (alarm-driven expiry), holds the session's SSE streams, and serves its WebSocket through the
//! hibernation API so an idle socket costs nothing.

use std::rc::Rc;
use std::sync::Arc;

use http::StatusCode;
use mcp_edge_core::gateway::{AssignedSession, ClientAddress, WsConnection};
use mcp_edge_core::port::Clock as _;
use mcp_edge_core::session::SessionId;
use mcp_edge_core::settings::{Settings, Target};
use mcp_edge_core::store_contract;
use mcp_edge_core::transport::Reply;
use mcp_edge_core::McpApp;
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{
    durable_object, DurableObject, Env, Request, Response, ResponseBuilder, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

use crate::convert::{handle_live, to_core, to_worker_response, ASSIGNED_SESSION_HEADER};
use crate::entry::{build_app, config_error, env_lookup, CONTRACT_PATH};
use crate::ports::{DoSessionStore, JsClock};
use crate::streams::StreamHub;

/// Request headers a WebSocket keeps for its later messages (credentials and policy narrowing are
/// read per message). Kept as the socket's attachment, which survives hibernation in the runtime's
/// memory and is never written to storage.
fn kept_for_socket(name: &str) -> bool {
    name == "authorization"
        || name == "private-token"
        || name == "job-token"
        || (name.starts_with("x-")
            && !name.starts_with("x-forwarded")
            && name != "x-real-ip"
            && name != ASSIGNED_SESSION_HEADER)
}

/// What a hibernating WebSocket remembers.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SocketAttachment {
    connection: WsConnection,
    headers: Vec<(String, String)>,
}

impl SocketAttachment {
    fn header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                map.append(k, v);
            }
        }
        map
    }
}

/// One session: its record, streams and WebSocket.
#[durable_object]
pub struct SessionObject {
    state: State,
    app: Result<Rc<McpApp>, String>,
    hub: Rc<StreamHub>,
    /// Test tools are enabled (`MCP_EDGE_TEST_TOOLS`): [`CONTRACT_PATH`] runs the core's store
    /// contract against this object's storage.
    contract: bool,
}

impl SessionObject {
    fn store(&self) -> DoSessionStore {
        DoSessionStore::new(self.state.storage())
    }

    async fn accept_socket(
        &self,
        app: &Rc<McpApp>,
        req: http::Request<bytes::Bytes>,
    ) -> worker::Result<Response> {
        let upgrade = req
            .headers()
            .get(http::header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        if !upgrade {
            let mut reply = Reply::json(
                StatusCode::UPGRADE_REQUIRED,
                &json!({"error": "upgrade required", "detail": "/ws speaks WebSocket only (Upgrade: websocket)"}),
            );
            reply.set_header(http::header::UPGRADE, "websocket");
            return to_worker_response(reply, None);
        }
        let accept = match app
            .ws_accept(req.headers(), req.extensions().get::<ClientAddress>())
            .await
        {
            Ok(a) => a,
            Err(reply) => return to_worker_response(*reply, None),
        };
        let pair = WebSocketPair::new()?;
        let attachment = SocketAttachment {
            connection: accept.connection,
            headers: req
                .headers()
                .iter()
                .filter(|(k, _)| kept_for_socket(k.as_str()))
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
        };
        pair.server.serialize_attachment(&attachment)?;
        self.state.accept_web_socket(&pair.server);
        for g in accept.greeting {
            pair.server.send_with_str(g)?;
        }
        app.metrics().stream_delta(1);
        let mut builder = ResponseBuilder::new()
            .with_status(101)
            .with_websocket(pair.client);
        if let Some(p) = accept.subprotocol {
            builder = builder.with_header("sec-websocket-protocol", p)?;
        }
        Ok(builder.empty())
    }
}

impl SessionObject {
    /// Runs one step of the core's store contract against a `DoSessionStore` over this object's
    /// storage: 200 with `{"conflicts": n}` when it holds, 500 naming the broken promise otherwise.
    async fn run_contract(&self, case: &str, query: &str) -> worker::Result<Response> {
        let arg = |name: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let store = self.store();
        let (seed, now) = (arg("seed"), JsClock.now());
        let outcome = match case {
            "" => return Response::from_json(&json!({ "cases": store_contract::CASES })),
            "setup" => store_contract::writers_setup(&store, now, seed)
                .await
                .map(|_| 0),
            "writer" => {
                store_contract::writer(
                    &store,
                    &store_contract::case_id(seed, 50),
                    arg("increments"),
                )
                .await
            }
            "check" => store_contract::writers_check(
                &store,
                &store_contract::case_id(seed, 50),
                arg("total"),
            )
            .await
            .map(|()| 0),
            case => store_contract::run_case(&store, case, now, seed)
                .await
                .map(|()| 0),
        };
        match outcome {
            Ok(conflicts) => Response::from_json(&json!({ "conflicts": conflicts })),
            Err(broken) => Ok(Response::from_json(&json!({ "broken": broken }))?.with_status(500)),
        }
    }
}

impl DurableObject for SessionObject {
    fn new(state: State, env: Env) -> Self {
        let storage = DoSessionStore::new(state.storage());
        let hub: Rc<StreamHub> = Rc::default();
        // Tools may ask the client (sampling) on the session's GET stream held in this object;
        // the client's answer POST comes to this object too.
        let requests = mcp_edge_core::sampling::InProcessClientRequests::new(
            crate::streams::HubPush(hub.clone()),
        );
        // The core's ports are `Arc<dyn …>` on every target; an isolate is single-threaded, so the
        // `Rc`-holding hub behind this one is never shared across threads.
        #[allow(clippy::arc_with_non_send_sync)]
        let requests: Arc<dyn mcp_edge_core::sampling::ClientRequests> = Arc::new(requests);
        let app = build_app(&env, Arc::new(storage)).map(|app| {
            // The session's GET and /sse streams are held here and poll its subscribed
            // resources (resources/subscribe).
            Rc::new(
                app.with_client_requests(requests)
                    .with_session_watch(mcp_edge_core::subscription::DEFAULT_POLL_MS),
            )
        });
        let contract =
            Settings::from_vars(Target::Worker, env_lookup(&env)).is_ok_and(|s| s.test_tools);
        SessionObject {
            state,
            app,
            hub,
            contract,
        }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        let app = match &self.app {
            Ok(app) => app.clone(),
            Err(reason) => return config_error(reason),
        };
        let mut core = match to_core(req, app.config().max_body_bytes).await? {
            Ok(core) => core,
            Err(reply) => return to_worker_response(reply, None),
        };
        let assigned = core
            .headers_mut()
            .remove(ASSIGNED_SESSION_HEADER)
            .and_then(|v| SessionId::parse(v.to_str().ok()?));
        if let Some(id) = assigned {
            core.extensions_mut().insert(AssignedSession(id));
        }
        if core.uri().path().trim_end_matches('/').ends_with("/ws") {
            return self.accept_socket(&app, core).await;
        }
        if self.contract {
            if let Some(case) = core.uri().path().strip_prefix(CONTRACT_PATH) {
                return self
                    .run_contract(case, core.uri().query().unwrap_or(""))
                    .await;
            }
        }
        let reply = match handle_live(&app, core).await {
            Ok(reply) => reply,
            Err(streamed) => return streamed,
        };
        for d in &reply.deliveries {
            self.hub.deliver(d);
        }
        to_worker_response(reply, Some((&self.hub, &app)))
    }

    async fn alarm(&self) -> worker::Result<Response> {
        let removed = self
            .store()
            .expire_if_due(JsClock.now())
            .await
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        if removed {
            if let Ok(app) = &self.app {
                app.metrics().session_closed();
            }
            worker::console_log!(
                "{}",
                json!({"level": "INFO", "target": "session", "fields": {"message": "expired session removed by its alarm"}})
            );
        }
        Response::ok(if removed { "expired" } else { "rearmed" })
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> worker::Result<()> {
        let Ok(app) = &self.app else {
            return ws.close(Some(1011), Some("mcp-edge is misconfigured"));
        };
        let mut attachment: SocketAttachment = ws.deserialize_attachment()?.unwrap_or_default();
        let text = match message {
            WebSocketIncomingMessage::String(text) => text,
            WebSocketIncomingMessage::Binary(_) => {
                return ws.send_with_str(mcp_edge_core::gateway::binary_frame_refusal());
            }
        };
        let before = attachment.connection.clone();
        let headers = attachment.header_map();
        let out = app
            .ws_message(&mut attachment.connection, &headers, &text)
            .await;
        if attachment.connection != before {
            ws.serialize_attachment(&attachment)?;
        }
        for o in out {
            ws.send_with_str(o)?;
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> worker::Result<()> {
        if let Ok(app) = &self.app {
            app.metrics().stream_delta(-1);
            if let Ok(Some(attachment)) = ws.deserialize_attachment::<SocketAttachment>() {
                app.ws_closed(&attachment.connection).await;
            }
        }
        // Echo the close; 1005/1006 are reserved and may not be sent.
        let code = if matches!(code, 1005 | 1006) {
            1000
        } else {
            code as u16
        };
        let _ = ws.close(Some(code), Some("closed"));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> worker::Result<()> {
        if let (Ok(app), Ok(Some(attachment))) =
            (&self.app, ws.deserialize_attachment::<SocketAttachment>())
        {
            app.ws_closed(&attachment.connection).await;
        }
        let _ = ws.close(Some(1011), Some("error"));
        Ok(())
    }
}
