"""WebSocket at /ws: the official Python SDK WebSocket client (mcp 1.x) and the simple envelope."""

from __future__ import annotations

import asyncio

import pytest
import json
import os
import pathlib
import subprocess
import sys

import websockets

HERE = pathlib.Path(__file__).resolve().parent
WS_PYTHON = os.environ.get("MCP_EDGE_WS_PYTHON", str(HERE.parent / ".venv-ws" / "bin" / "python"))


pytestmark = pytest.mark.websocket  # Lambda Function URLs carry no WebSocket (tests/e2e/test_lambda.py checks the 426)

def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws"


def test_official_websocket_client_concurrent_sessions(base_url: str) -> None:
    procs = [
        subprocess.Popen([WS_PYTHON, str(HERE / "ws_official_client.py"), ws_url(base_url), f"c{n}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(4)
    ]
    for n, p in enumerate(procs):
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err[-2000:]
        seen = json.loads(out.strip().splitlines()[-1])
        assert seen["version"] == "2025-11-25"
        assert "echo" in seen["tools"]
        assert seen["echoes"] == [f"c{n}-{i}" for i in range(25)], "messages never cross sessions"
        assert seen["sum"] == {"sum": 42}
        assert seen["resource"] == "Hello, world!"


def test_simple_envelope(base_url: str) -> None:
    async def run() -> None:
        async with websockets.connect(ws_url(base_url), open_timeout=10) as ws:
            welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert welcome["type"] == "welcome"
            assert welcome["capabilities"] == {"tools": True, "resources": True}

            async def ask(msg: dict) -> dict:
                await ws.send(json.dumps(msg))
                return json.loads(await asyncio.wait_for(ws.recv(), 10))

            r = await ask({"request_id": "1", "type": "list_tools"})
            assert r["type"] == "response" and r["success"] is True and r["request_id"] == "1"
            assert "echo" in [t["name"] for t in r["data"]["tools"]]
            r = await ask({"request_id": "2", "type": "call_tool", "name": "echo", "arguments": {"message": "yo"}})
            assert r["data"]["content"][0]["text"] == "yo"
            r = await ask({"request_id": "3", "type": "call_tool", "name": "fail", "arguments": {"message": "nope"}})
            # Seed 000's error shape: `error` is the message; a failed tool's result travels beside it.
            assert r["type"] == "error" and r["success"] is False and r["error"] == "nope"
            assert r["result"]["isError"] is True
            r = await ask({"request_id": "4", "type": "list_resources"})
            assert r["data"]["resources"][0]["uri"] == "test://static/hello"
            r = await ask({"request_id": "5", "type": "read_resource", "uri": "test://static/hello"})
            assert r["data"]["contents"][0]["text"] == "Hello, world!"
            r = await ask({"request_id": "6", "type": "call_tool", "name": "add", "arguments": {"a": "x"}})
            assert r["type"] == "error" and r["code"] == -32602 and "Invalid arguments" in r["error"]
            r = await ask({"request_id": "7", "type": "teleport"})
            assert r["type"] == "error"
            r = await ask({"type": "ping"})
            assert r["type"] == "pong"
            r = await ask({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "rpc"}}})
            assert r["result"]["content"][0]["text"] == "rpc"
            await ws.send("{not json")
            r = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert r["error"]["code"] == -32700
            # Many messages on one socket keep working.
            for i in range(200):
                r = await ask({"request_id": f"m{i}", "type": "call_tool", "name": "echo", "arguments": {"message": str(i)}})
                assert r["request_id"] == f"m{i}" and r["data"]["content"][0]["text"] == str(i)

    asyncio.run(run())


def test_websocket_refuses_foreign_origin(base_url: str) -> None:
    async def run() -> None:
        try:
            async with websockets.connect(ws_url(base_url), origin="https://evil.example", open_timeout=10):
                raise AssertionError("upgrade from a foreign origin must be refused")
        except websockets.exceptions.InvalidStatus as e:
            assert e.response.status_code == 403

    asyncio.run(run())
