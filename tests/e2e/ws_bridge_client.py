"""Runs under tests/.venv-ws (mcp 1.x, the SDK line that still ships `websocket_client`) against a
bridged server-everything.

Usage: python ws_bridge_client.py ws://127.0.0.1:PORT/servers/NAME/ws TAG CALLS — prints one JSON line.
"""

import asyncio
import json
import sys

from mcp.client.session import ClientSession
from mcp.client.websocket import websocket_client


async def main(url: str, tag: str, calls: int) -> None:
    async with websocket_client(url) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            echoes = []
            for i in range(calls):
                r = await session.call_tool("echo", {"message": f"{tag}-{i}"})
                echoes.append(r.content[0].text)
            total = await session.call_tool("get-sum", {"a": 20, "b": 22})
            print(json.dumps({
                "version": init.protocolVersion,
                "server": init.serverInfo.name,
                "tools": sorted(t.name for t in tools.tools),
                "echoes": echoes,
                "sum": total.content[0].text,
            }))


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2], int(sys.argv[3])), 60))
