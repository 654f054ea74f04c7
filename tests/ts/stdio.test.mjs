// The official TypeScript MCP SDK's stdio client against `mcp-edge stdio` (the binary named by
// MCP_EDGE_BIN; tests/run-all.sh sets it for the native run, the Worker run has no binary to start).
// With FAKE_UPSTREAM_BIN, a GitLab fake is started too and a connector tool is called against it with
// credentials from the environment only.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport, getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";

const bin = process.env.MCP_EDGE_BIN;
const fakeBin = process.env.FAKE_UPSTREAM_BIN;
const TOKEN = "glpat-ts-stdio-token";

/** Starts a fake GitLab on 127.0.0.1 and resolves with [process, url]. */
async function startFake() {
  const proc = spawn(fakeBin, ["--service", "gitlab", "--bind", "127.0.0.1:0", "--token", TOKEN], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  const timer = setTimeout(() => proc.kill(), 30000);
  for await (const chunk of proc.stdout) {
    out += chunk;
    if (out.includes("\n")) break;
  }
  clearTimeout(timer);
  const m = out.match(/listening on (\S+)/);
  assert.ok(m, `fake did not start: ${out}`);
  return [proc, m[1]];
}

test("TypeScript SDK over stdio (mcp-edge stdio)", { skip: bin ? false : "MCP_EDGE_BIN is not set" }, async () => {
  let fake = null;
  let fakeUrl = null;
  const env = { ...getDefaultEnvironment(), MCP_EDGE_CONNECTORS: "gitlab" };
  if (fakeBin) {
    const [proc, url] = await startFake();
    fake = proc;
    fakeUrl = url;
    Object.assign(env, {
      GITLAB_API_URL: url, GITLAB_TOKEN: TOKEN,
      MCP_EDGE_UPSTREAM_ALLOW_HTTP: "127.0.0.1", MCP_EDGE_UPSTREAM_ALLOW_PRIVATE: "127.0.0.1",
    });
  }
  const transport = new StdioClientTransport({ command: bin, args: ["stdio", "--enable-test-tools"], env, stderr: "pipe" });
  let stderr = "";
  transport.stderr?.on("data", (d) => { stderr += d; });
  const client = new Client({ name: "e2e-stdio", version: "1.0.0" });
  await client.connect(transport);
  try {
    assert.equal(client.getServerVersion()?.name, "mcp-edge");
    const names = (await client.listTools()).tools.map((t) => t.name);
    for (const expected of ["echo", "add", "fail"]) assert.ok(names.includes(expected), names.join(","));
    const echo = await client.callTool({ name: "echo", arguments: { message: "hi stdio" } });
    assert.equal(echo.content[0].text, "hi stdio");
    const add = await client.callTool({ name: "add", arguments: { a: 19, b: 23 } });
    assert.deepEqual(add.structuredContent, { sum: 42 });
    const fail = await client.callTool({ name: "fail", arguments: { message: "nope" } });
    assert.equal(fail.isError, true);
    await assert.rejects(client.callTool({ name: "add", arguments: { a: "x", b: 1 } }), /\/a/);
    const many = await Promise.all(Array.from({ length: 10 }, (_, i) => client.callTool({ name: "echo", arguments: { message: `m${i}` } })));
    assert.deepEqual(many.map((r) => r.content[0].text), Array.from({ length: 10 }, (_, i) => `m${i}`));
    if (fake) {
      assert.ok(names.includes("gitlab_get_project"), names.join(","));
      const proj = await client.callTool({ name: "gitlab_get_project", arguments: { projectId: 1 } });
      assert.ok(!proj.isError, JSON.stringify(proj.content));
      assert.equal(proj.structuredContent.pathWithNamespace, "demo-group/demo-project");
      // The fake held every request and reply to its contract (tests/specs/README.md).
      const stats = await (await fetch(`${fakeUrl}/_fake/stats`)).json();
      assert.ok(stats.requests >= 1, JSON.stringify(stats));
      assert.deepEqual(stats.violations, []);
    } else {
      assert.ok(!names.some((n) => n.startsWith("gitlab_")), "no credentials, no GitLab tools");
    }
  } finally {
    await client.close();
    if (fake) {
      fake.kill("SIGTERM");
      await once(fake, "exit");
    }
  }
  assert.match(stderr, /serving MCP on stdio/, "logs go to stderr");
});
