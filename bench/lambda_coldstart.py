"""Cold-start proxy for the Lambda `bootstrap`: a minimal Lambda Runtime API on 127.0.0.1 hands the
process one Function URL event (GET /health); the time from spawning the process to the first byte of
its answer is one cold start. Prints median and p90 over N runs. Standard library only."""

from __future__ import annotations

import http.server
import json
import os
import socketserver
import statistics
import subprocess
import sys
import threading
import time

EVENT = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/health",
    "rawQueryString": "",
    "headers": {"host": "abc.lambda-url.us-east-1.on.aws", "accept": "application/json"},
    "requestContext": {
        "accountId": "123456789012", "apiId": "abc", "domainName": "abc.lambda-url.us-east-1.on.aws",
        "domainPrefix": "abc", "requestId": "bench", "routeKey": "$default", "stage": "$default",
        "time": "22/Nov/2026:00:00:00 +0000", "timeEpoch": 0,
        "http": {"method": "GET", "path": "/health", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
    },
    "isBase64Encoded": False,
}


class Runtime(http.server.BaseHTTPRequestHandler):
    served = threading.Event()
    answered = threading.Event()
    answered_at = 0.0
    body = b""

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        if not self.path.endswith("/invocation/next"):
            self.send_error(404)
            return
        if Runtime.served.is_set():
            # One invocation per process: hold the second `next` until the process is stopped.
            Runtime.answered.wait(30)
            time.sleep(30)
            return
        Runtime.served.set()
        body = json.dumps(EVENT).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("lambda-runtime-aws-request-id", "bench-1")
        self.send_header("lambda-runtime-deadline-ms", str(int(time.time() * 1000) + 30000))
        self.send_header("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:mcp-edge")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        Runtime.answered_at = time.monotonic()
        length = self.headers.get("content-length")
        if length is not None:
            Runtime.body = self.rfile.read(int(length))
        else:  # chunked (streaming response): read the first chunk only
            size = int(self.rfile.readline().strip() or b"0", 16)
            Runtime.body = self.rfile.read(size)
        Runtime.answered.set()
        self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def one(binary: str) -> float:
    Runtime.served.clear()
    Runtime.answered.clear()
    server = Server(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "PATH": os.environ.get("PATH", ""), "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "mcp-edge", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9", "MCP_EDGE_DYNAMODB_TABLE": "bench", "MCP_EDGE_LOG_LEVEL": "warn",
    }
    started = time.monotonic()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not Runtime.answered.wait(30):
            raise SystemExit("the bootstrap did not answer within 30 s")
        # Streaming mode: the first chunk is the response prelude carrying the status.
        if b'"statusCode":200' not in Runtime.body:
            raise SystemExit(f"unexpected answer: {Runtime.body[:200]!r}")
        return (Runtime.answered_at - started) * 1000
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()


def main() -> None:
    binary, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20
    times = sorted(one(binary) for _ in range(runs))
    p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
    print(f"cold start (spawn to first answered request): {runs} runs, median {statistics.median(times):.1f} ms, "
          f"p90 {p90:.1f} ms, max {times[-1]:.1f} ms; budget 30 ms: {'within' if statistics.median(times) < 30 else 'OVER'}")


if __name__ == "__main__":
    main()
