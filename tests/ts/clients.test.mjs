// The official TypeScript MCP SDK against mcp-edge over Streamable HTTP, legacy SSE and WebSocket.
// MCP_EDGE_URL names the gateway (started by tests/run-all.sh with --enable-test-tools).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { WebSocketClientTransport } from "@modelcontextprotocol/sdk/client/websocket.js";

const base = process.env.MCP_EDGE_URL;
assert.ok(base, "MCP_EDGE_URL must name a running mcp-edge");

const transports = {
  "streamable-http": () => new StreamableHTTPClientTransport(new URL(`${base}/mcp`)),
  sse: () => new SSEClientTransport(new URL(`${base}/sse`)),
  websocket: () => new WebSocketClientTransport(new URL(`${base.replace(/^http/, "ws")}/ws`)),
};
// On the Lambda a Function URL carries no WebSocket (its /ws answers 426: tests/e2e/test_lambda.py).
// Its legacy SSE test runs there: 20 concurrent calls on one session, from up to 16 execution
// environments, each appending its reply to the session's outbox as an item of its own.
// tests/run-all.sh knows each target's count.
if (process.env.MCP_EDGE_TARGET === "lambda") {
  delete transports.websocket;
}

for (const [name, make] of Object.entries(transports)) {
  test(`TypeScript SDK over ${name}`, async () => {
    const client = new Client({ name: `e2e-${name}`, version: "1.0.0" });
    await client.connect(make());
    try {
      assert.equal(client.getServerVersion()?.name, "mcp-edge");
      const { tools } = await client.listTools();
      const names = tools.map((t) => t.name);
      for (const expected of ["echo", "add", "fail", "reconnect_echo"]) assert.ok(names.includes(expected), names.join(","));
      const echo = await client.callTool({ name: "echo", arguments: { message: `hi ${name}` } });
      assert.equal(echo.content[0].text, `hi ${name}`);
      const add = await client.callTool({ name: "add", arguments: { a: 19, b: 23 } });
      assert.deepEqual(add.structuredContent, { sum: 42 });
      const fail = await client.callTool({ name: "fail", arguments: { message: "nope" } });
      assert.equal(fail.isError, true);
      const res = await client.readResource({ uri: "test://static/hello" });
      assert.equal(res.contents[0].text, "Hello, world!");
      const prompt = await client.getPrompt({ name: "greeting", arguments: { name: "Grace" } });
      assert.equal(prompt.messages[0].content.text, "Hello, Grace!");
      await assert.rejects(client.callTool({ name: "add", arguments: { a: "x", b: 1 } }), /\/a/);
      // Concurrent calls on one session come back to the right caller.
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => client.callTool({ name: "echo", arguments: { message: `m${i}` } })));
      assert.deepEqual(many.map((r) => r.content[0].text), Array.from({ length: 20 }, (_, i) => `m${i}`));
    } finally {
      await client.close();
    }
  });
}

test("TypeScript SDK resumes a dropped SSE stream (Last-Event-ID)", async () => {
  const client = new Client({ name: "e2e-resume", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`)));
  try {
    const r = await client.callTool({ name: "reconnect_echo", arguments: { message: "back again" } });
    assert.equal(r.content[0].text, "back again");
  } finally {
    await client.close();
  }
});
