// The official TypeScript MCP SDK through the stdio bridge: server-everything (npm) run by mcp-edge as
// a child per session and as one shared child, reached over Streamable HTTP, legacy SSE and
// WebSocket. MCP_EDGE_BRIDGE_URL names a mcp-edge started with tests/run-bridge.sh's configuration.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { WebSocketClientTransport } from "@modelcontextprotocol/sdk/client/websocket.js";

const base = process.env.MCP_EDGE_BRIDGE_URL;
assert.ok(base, "MCP_EDGE_BRIDGE_URL must name a running mcp-edge with bridged servers");

const transports = {
  "streamable-http": (server) => new StreamableHTTPClientTransport(new URL(`${base}/servers/${server}/mcp`)),
  sse: (server) => new SSEClientTransport(new URL(`${base}/servers/${server}/sse`)),
  websocket: (server) => new WebSocketClientTransport(new URL(`${base.replace(/^http/, "ws")}/servers/${server}/ws`)),
};

for (const server of ["everything", "everything-shared"]) {
  for (const [name, make] of Object.entries(transports)) {
    test(`TypeScript SDK through the bridge: ${server} over ${name}`, async () => {
      // Six clients at once, each with concurrent calls: no answer reaches the wrong client.
      const clients = await Promise.all(Array.from({ length: 6 }, async (_, c) => {
        const client = new Client({ name: `bridge-${name}-${c}`, version: "1.0.0" });
        await client.connect(make(server));
        return client;
      }));
      try {
        assert.equal(clients[0].getServerVersion()?.name, "mcp-servers/everything");
        const { tools } = await clients[0].listTools();
        const names = tools.map((t) => t.name);
        for (const expected of ["echo", "get-sum", "trigger-long-running-operation"]) assert.ok(names.includes(expected), names.join(","));
        const results = await Promise.all(clients.map((client, c) =>
          Promise.all(Array.from({ length: 8 }, (_, i) => client.callTool({ name: "echo", arguments: { message: `${name}-c${c}-m${i}` } })))));
        results.forEach((rs, c) => assert.deepEqual(rs.map((r) => r.content[0].text), Array.from({ length: 8 }, (_, i) => `Echo: ${name}-c${c}-m${i}`)));
        const sum = await clients[1].callTool({ name: "get-sum", arguments: { a: 19, b: 23 } });
        assert.match(sum.content[0].text, /42/);
        const progress = [];
        const long = await clients[2].callTool(
          { name: "trigger-long-running-operation", arguments: { duration: 0.2, steps: 2 } },
          undefined,
          { onprogress: (p) => progress.push(p.progress) },
        );
        assert.match(long.content[0].text, /completed/);
        // The SDK dispatches notifications in a microtask but answers synchronously: when the last
        // progress notification and the answer arrive in one network read (often, on every
        // transport), the answer removes the progress handler first and the SDK drops that
        // notification. The bridge sends them in order (the Python SDK, which keeps both, checks the
        // sequence in tests/e2e), so here the progress seen must be a prefix of 1, 2.
        assert.ok(progress.length >= 1, "progress arrives");
        assert.deepEqual(progress, [1, 2].slice(0, progress.length));
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    });
  }
}
