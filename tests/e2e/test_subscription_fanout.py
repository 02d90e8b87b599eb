"""Two API processes and one worker process: every subscriber on either sees every change."""

from __future__ import annotations

import asyncio
import signal
from asyncio.subprocess import Process
from pathlib import Path

import httpx

from server.bootstrap import Container
from server.settings import Settings
from tests.e2e.test_subscriptions import PRODUCT_CHANGED, RawSocket
from tests.faults.workload import Workload
from tests.support import STOREFRONT, environment, unused_port, wait_until
from write_model import events


async def _spawn(settings: Settings, log: Path, *args: str) -> Process:
    with log.open("a") as output:
        return await asyncio.create_subprocess_exec(
            STOREFRONT, *args, env=environment(settings, STOREFRONT_SYNC_POLL_INTERVAL_MS="50"),
            stdout=output, stderr=output,
        )


async def _until_ready(url: str, timeout_s: float = 60) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        async def ready() -> bool:
            try:
                return (await http.get("/readyz")).status_code == 200
            except httpx.TransportError:  # not listening yet
                return False

        await wait_until(ready, timeout_s, f"{url} to become ready")


async def test_every_api_process_notifies_every_change_once_and_in_order(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    ports = [unused_port(), unused_port()]
    processes = [await _spawn(settings, tmp_path / f"api-{port}.log", "serve", "--no-sync", "--port", str(port))
                 for port in ports]
    processes.append(await _spawn(settings, tmp_path / "worker.log", "sync"))
    sockets: list[RawSocket] = []
    try:
        for port in ports:
            await _until_ready(f"http://127.0.0.1:{port}")
            for _ in range(2):
                sockets.append(subscriber := await RawSocket.open(f"ws://127.0.0.1:{port}/graphql"))
                await subscriber.subscribe("1", PRODUCT_CHANGED, {"after": "0"})
        await Workload(container, seed=5).run(150)
        head = await container.outbox.head()
        expected = [(event.stream_id, str(event.position))
                    for event in await container.outbox.read_after(0, head) if event.stream_type == events.PRODUCT]

        for subscriber in sockets:
            received = []
            for _ in expected:
                change = (await subscriber.receive())["payload"]["data"]["productChanged"]
                received.append((change["productId"], change["position"]))
            assert received == expected  # each change once, in position order
            await subscriber.close()
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
            await asyncio.wait_for(process.wait(), 15)
    # uvicorn re-raises SIGTERM after its graceful shutdown, so `serve` reports the signal.
    assert [process.returncode for process in processes] == [-signal.SIGTERM, -signal.SIGTERM, 0]
    for port in ports:
        assert "Application shutdown complete." in (tmp_path / f"api-{port}.log").read_text()
