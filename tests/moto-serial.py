"""moto's DynamoDB in server mode, one request at a time, on 127.0.0.1:PORT (argument).

DynamoDB evaluates a conditional write atomically; moto evaluates the condition and then stores the
item without a lock, so two overlapping requests can both pass the same condition (a lost update that
the real service never allows: lambda/tests/dynamo_store.rs saw 6 leases granted for 5 places). Serving
requests one at a time (werkzeug without threads, HTTP/1.0) restores the atomicity the store relies on.
Otherwise the same app as `moto_server` (moto.server.main)."""

import sys

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

if __name__ == "__main__":
    port = int(sys.argv[1])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple("127.0.0.1", port, app, threaded=False, request_handler=MotoRequestHandler)
