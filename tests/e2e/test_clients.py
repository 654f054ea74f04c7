"""The official Python SDK client against mcp-edge: every spec era over Streamable HTTP, and legacy SSE."""

from __future__ import annotations

import asyncio

import pytest
from mcp.client import Client
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client

MODES = ["legacy", "auto", "2026-07-28"]


def text_of(result) -> str:
    return result.content[0].text


@pytest.mark.parametrize("mode", MODES)
def test_streamable_http_every_flow(base_url: str, mode: str) -> None:
    async def run() -> None:
        async with Client(f"{base_url}/mcp", mode=mode) as c:
            expected = "2025-11-25" if mode == "legacy" else "2026-07-28"
            assert c.protocol_version == expected
            names = {t.name for t in (await c.list_tools()).tools}
            assert {"echo", "add", "fail", "reconnect_echo", "destructive_echo"} <= names
            add = next(t for t in (await c.list_tools()).tools if t.name == "add")
            assert add.output_schema["properties"]["sum"]["type"] == "number"
            assert text_of(await c.call_tool("echo", {"message": f"hello {mode}"})) == f"hello {mode}"
            r = await c.call_tool("add", {"a": 2, "b": 40})
            assert r.structured_content == {"sum": 42}
            assert text_of(r) == '{"sum":42}'
            r = await c.call_tool("fail", {"message": "boom"})
            assert r.is_error and text_of(r) == "boom"
            res = await c.read_resource("test://static/hello")
            assert res.contents[0].text == "Hello, world!"
            res = await c.read_resource("test://echo/some%20text")
            assert res.contents[0].text == "some text"
            templates = await c.list_resource_templates()
            assert templates.resource_templates[0].uri_template == "test://echo/{text}"
            prompt = await c.get_prompt("greeting", {"name": "Ada"})
            assert prompt.messages[0].content.text == "Hello, Ada!"

    asyncio.run(run())


@pytest.mark.parametrize("mode", MODES)
def test_invalid_arguments_are_protocol_errors(base_url: str, mode: str) -> None:
    async def run() -> None:
        async with Client(f"{base_url}/mcp", mode=mode) as c:
            with pytest.raises(Exception) as err:
                await c.call_tool("add", {"a": "x", "b": 1})
            assert "/a" in str(err.value)

    asyncio.run(run())


def test_dropped_sse_stream_resumes_with_last_event_id(base_url: str) -> None:
    """`reconnect_echo` closes its POST stream after the priming event; the SDK must GET with Last-Event-ID."""

    async def run() -> None:
        async with Client(f"{base_url}/mcp", mode="legacy") as c:
            for i in range(3):
                r = await c.call_tool("reconnect_echo", {"message": f"resumed {i}"})
                assert text_of(r) == f"resumed {i}"

    asyncio.run(run())


def test_concurrent_sessions_never_see_each_others_messages(base_url: str) -> None:
    async def one(tag: str) -> list[str]:
        seen = []
        async with Client(f"{base_url}/mcp", mode="legacy") as c:
            for i in range(20):
                seen.append(text_of(await c.call_tool("echo", {"message": f"{tag}-{i}"})))
        return seen

    async def run() -> None:
        results = await asyncio.gather(*(one(f"s{n}") for n in range(8)))
        for n, seen in enumerate(results):
            assert seen == [f"s{n}-{i}" for i in range(20)]

    asyncio.run(run())


def test_legacy_http_sse_transport(base_url: str) -> None:
    async def run() -> None:
        async with sse_client(f"{base_url}/sse") as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                names = {t.name for t in (await s.list_tools()).tools}
                assert "echo" in names
                assert text_of(await s.call_tool("echo", {"message": "over sse"})) == "over sse"
                r = await s.call_tool("add", {"a": 1.5, "b": 1})
                assert r.structured_content == {"sum": 2.5}
                res = await s.read_resource("test://static/hello")
                assert res.contents[0].text == "Hello, world!"

    asyncio.run(run())
