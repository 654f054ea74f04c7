// The official TypeScript MCP SDK v2 client (@modelcontextprotocol/client) against mcp-edge: Streamable
// HTTP in each protocol era it negotiates (the 2025 `initialize` handshake, `auto` discovery and a pin
// to the stateless 2026-07-28 revision), legacy SSE, a dropped stream resumed with Last-Event-ID, and
// the HTTP and JSON-RPC errors as the client surfaces them. MCP_EDGE_URL names the gateway (started by
// tests/run-all.sh with --enable-test-tools, or by tests/run-lambda.sh); v2 has no WebSocket transport.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client, ProtocolError, SdkHttpError, SSEClientTransport, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

const base = process.env.MCP_EDGE_URL;
assert.ok(base, "MCP_EDGE_URL must name a running mcp-edge");
const INVALID_PARAMS = -32602;

/** A v2 client negotiating `mode` ("legacy", "auto" or { pin }). */
const client = (name, mode = "legacy") => new Client({ name: `e2e-v2-${name}`, version: "2.0.0" }, { versionNegotiation: { mode } });

/** A fetch that records each request's method and Last-Event-ID header, then sends it unchanged. */
function recordingFetch() {
  const requests = [];
  const record = (url, init) => {
    requests.push({ method: init?.method ?? "GET", lastEventId: new Headers(init?.headers).get("last-event-id") });
    return fetch(url, init);
  };
  return { requests, fetch: record };
}

const flows = {
  "Streamable HTTP, 2025-11-25 session": {
    mode: "legacy", version: "2025-11-25", era: "legacy", session: true,
    transport: () => new StreamableHTTPClientTransport(new URL(`${base}/mcp`)),
  },
  "Streamable HTTP, auto negotiation": {
    mode: "auto", version: "2026-07-28", era: "modern", session: false,
    transport: () => new StreamableHTTPClientTransport(new URL(`${base}/mcp`)),
  },
  "Streamable HTTP, pinned 2026-07-28": {
    mode: { pin: "2026-07-28" }, version: "2026-07-28", era: "modern", session: false,
    transport: () => new StreamableHTTPClientTransport(new URL(`${base}/mcp`)),
  },
  "legacy SSE": {
    mode: "legacy", version: "2025-11-25", era: "legacy", session: null,
    transport: () => new SSEClientTransport(new URL(`${base}/sse`)),
  },
};
// Every flow runs on the Lambda too: the legacy SSE flow's 20 concurrent calls on one session append
// their replies to the session's outbox as items of their own, so they never contend.

for (const [name, flow] of Object.entries(flows)) {
  test(`TypeScript SDK v2 over ${name}`, async () => {
    const c = client(name, flow.mode);
    const transport = flow.transport();
    await c.connect(transport);
    try {
      assert.equal(c.getNegotiatedProtocolVersion(), flow.version);
      assert.equal(c.getProtocolEra(), flow.era);
      if (flow.session === true) assert.match(transport.sessionId ?? "", /^[0-9a-f]{32}$/, "a 2025 session has an id");
      if (flow.session === false) assert.equal(transport.sessionId, undefined, "2026-07-28 is stateless");
      // The identity comes from `initialize` (2025) or from the discover result's `_meta` (2026-07-28).
      assert.equal(c.getServerVersion()?.name, "mcp-edge");
      if (flow.era === "modern") assert.ok(c.getDiscoverResult()?.supportedVersions.includes("2026-07-28"));
      const { tools } = await c.listTools();
      const names = tools.map((t) => t.name);
      for (const expected of ["echo", "add", "fail", "reconnect_echo"]) assert.ok(names.includes(expected), names.join(","));
      assert.equal(tools.find((t) => t.name === "add").outputSchema.properties.sum.type, "number");
      const echo = await c.callTool({ name: "echo", arguments: { message: `hi ${name}` } });
      assert.equal(echo.content[0].text, `hi ${name}`);
      // The client validates structuredContent against the listed outputSchema before returning it.
      const add = await c.callTool({ name: "add", arguments: { a: 19, b: 23 } });
      assert.deepEqual(add.structuredContent, { sum: 42 });
      assert.equal(add.content[0].text, '{"sum":42}');
      const fail = await c.callTool({ name: "fail", arguments: { message: "nope" } });
      assert.equal(fail.isError, true);
      assert.equal(fail.content[0].text, "nope");
      assert.equal((await c.readResource({ uri: "test://static/hello" })).contents[0].text, "Hello, world!");
      assert.equal((await c.readResource({ uri: "test://echo/some%20text" })).contents[0].text, "some text");
      assert.equal((await c.listResourceTemplates()).resourceTemplates[0].uriTemplate, "test://echo/{text}");
      const prompt = await c.getPrompt({ name: "greeting", arguments: { name: "Grace" } });
      assert.equal(prompt.messages[0].content.text, "Hello, Grace!");
      // Bad arguments and unknown tools are JSON-RPC errors (-32602), the bad one named by its path.
      await assert.rejects(c.callTool({ name: "add", arguments: { a: "x", b: 1 } }), (e) =>
        e instanceof ProtocolError && e.code === INVALID_PARAMS && /\/a/.test(e.message));
      await assert.rejects(c.callTool({ name: "no_such_tool", arguments: {} }), (e) =>
        e instanceof ProtocolError && e.code === INVALID_PARAMS && /no_such_tool/.test(e.message));
      // Concurrent calls come back to the right caller.
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => c.callTool({ name: "echo", arguments: { message: `m${i}` } })));
      assert.deepEqual(many.map((r) => r.content[0].text), Array.from({ length: 20 }, (_, i) => `m${i}`));
    } finally {
      await c.close();
    }
  });
}

test("TypeScript SDK v2 resumes a dropped SSE stream with Last-Event-ID", async () => {
  // `reconnect_echo` closes its POST stream after the priming event; the answer only arrives if the
  // client GETs the stream again naming the last event it saw, which the recording fetch must show.
  const rec = recordingFetch();
  const c = client("resume");
  await c.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { fetch: rec.fetch }));
  try {
    for (let i = 0; i < 3; i += 1) {
      const before = rec.requests.length;
      const r = await c.callTool({ name: "reconnect_echo", arguments: { message: `back ${i}` } });
      assert.equal(r.content[0].text, `back ${i}`);
      const resumed = rec.requests.slice(before).filter((q) => q.method === "GET" && q.lastEventId);
      assert.equal(resumed.length, 1, JSON.stringify(rec.requests.slice(before)));
    }
  } finally {
    await c.close();
  }
});

test("TypeScript SDK v2 sees the gateway's HTTP errors", async () => {
  const status = (expected, pattern) => (e) => e instanceof SdkHttpError && e.status === expected && pattern.test(e.message);
  // An unknown path: 404 before any MCP exchange.
  await assert.rejects(client("404").connect(new StreamableHTTPClientTransport(new URL(`${base}/no-such-endpoint`))),
    status(404, /not found/));
  // A browser page on a foreign origin: 403 (DNS-rebinding protection).
  const foreign = { requestInit: { headers: { origin: "https://evil.example" } } };
  await assert.rejects(client("origin").connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), foreign)),
    status(403, /origin/i));
  // A session ended with DELETE is gone: a client resuming it gets 404 "Session not found".
  const first = client("ended");
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`));
  await first.connect(transport);
  const sessionId = transport.sessionId;
  assert.ok(sessionId, "a 2025 session has an id");
  await transport.terminateSession();
  await first.close();
  const again = client("ended-again");
  await again.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { sessionId }));
  try {
    await assert.rejects(again.ping(), status(404, /Session not found/));
  } finally {
    await again.close();
  }
});
