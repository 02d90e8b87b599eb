"""The B8 baseline server: bare `websockets`, no GraphQL. Every connection but the control one
listens; a message on /control is sent to all listeners with `broadcast`, and "count" asks how
many listen. Run as `python -m bench.raw_broadcast PORT`; it prints "ready" once listening."""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve

COUNT = "count"


async def main(port: int) -> None:
    listeners: set[ServerConnection] = set()

    async def handle(connection: ServerConnection) -> None:
        if connection.request is not None and connection.request.path == "/control":
            async for message in connection:
                if message == COUNT:
                    await connection.send(str(len(listeners)))
                else:
                    broadcast(listeners, message)
            return
        listeners.add(connection)
        try:
            await connection.wait_closed()
        finally:
            listeners.discard(connection)

    async with serve(handle, "127.0.0.1", port, ping_interval=None, max_size=None) as server:
        print("ready", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
