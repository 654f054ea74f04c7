"""Runs under tests/.venv-ws (mcp 1.x, the SDK line that still ships `websocket_client`).

Usage: python ws_official_client.py ws://127.0.0.1:PORT/ws TAG — prints one JSON line with what it saw.
"""

import asyncio
import json
import sys

from mcp.client.session import ClientSession
from mcp.client.websocket import websocket_client


async def main(url: str, tag: str) -> None:
    async with websocket_client(url) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            echoes = []
            for i in range(25):
                r = await session.call_tool("echo", {"message": f"{tag}-{i}"})
                echoes.append(r.content[0].text)
            added = await session.call_tool("add", {"a": 20, "b": 22})
            res = await session.read_resource("test://static/hello")
            print(json.dumps({
                "version": init.protocolVersion,
                "tools": sorted(t.name for t in tools.tools),
                "echoes": echoes,
                "sum": added.structuredContent,
                "resource": res.contents[0].text,
            }))


asyncio.run(main(sys.argv[1], sys.argv[2]))
