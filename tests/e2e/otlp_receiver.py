"""A local OTLP/HTTP trace receiver for the tracing tests: `POST /v1/traces` bodies are decoded with
the official protobuf definitions (PyPI `opentelemetry-proto`, `ExportTraceServiceRequest`) and kept
with the request headers; it binds 127.0.0.1 only and answers 200 with an empty
`ExportTraceServiceResponse`, as the OTLP specification says (protobuf in, protobuf out)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

MAX_BODY = 8 * 1024 * 1024


class OtlpReceiver:
    """Collects exported spans; `spans()` flattens them with their resource attributes."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], ExportTraceServiceRequest, bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("content-length", "0"))
                if self.path != "/v1/traces" or length > MAX_BODY:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = self.rfile.read(length)
                if self.headers.get("content-type") != "application/x-protobuf":
                    self.send_response(415)
                    self.end_headers()
                    return
                msg = ExportTraceServiceRequest()
                msg.ParseFromString(body)
                with receiver.lock:
                    receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, msg, body))
                out = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def spans(self) -> list[dict]:
        """Every span received: ids in hex, name, kind, status code, attributes as a dict, and the
        resource's attributes."""
        out = []
        with self.lock:
            requests = list(self.requests)
        for _, msg, _ in requests:
            for rs in msg.resource_spans:
                resource = {a.key: value_of(a.value) for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.append({
                            "trace_id": s.trace_id.hex(),
                            "span_id": s.span_id.hex(),
                            "parent_span_id": s.parent_span_id.hex(),
                            "trace_state": s.trace_state,
                            "name": s.name,
                            "kind": s.kind,
                            "status": s.status.code,
                            "start": s.start_time_unix_nano,
                            "end": s.end_time_unix_nano,
                            "attributes": {a.key: value_of(a.value) for a in s.attributes},
                            "resource": resource,
                            "scope": ss.scope.name,
                        })
        return out

    def raw(self) -> bytes:
        """Every received body, concatenated (to search for values that must never appear)."""
        with self.lock:
            return b"".join(body for _, _, body in self.requests)

    def headers(self) -> list[dict[str, str]]:
        with self.lock:
            return [h for h, _, _ in self.requests]

    def wait_for(self, check, what: str, timeout: float = 15.0):
        """Polls `check(spans)` until truthy (returned); fails naming `what` otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            value = check(self.spans())
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"not within {timeout} s: {what}; spans: {self.spans()}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def value_of(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None
