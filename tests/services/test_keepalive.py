"""Idle pooled connections: Piloto drops them before a server or a middlebox can forget them,
so a command is never sent down a connection nobody reads (its outcome would be unknown)."""

from __future__ import annotations

import asyncio
import time

from piloto.services.netguard import KEEPALIVE_EXPIRY_S, NetPolicy, guarded_client
from piloto.toolbox import server as toolbox_server

RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n"
    b'connection: keep-alive\r\n\r\n{"ok":true}'
)


async def _forgetful_server(forget_after_s: float) -> tuple[asyncio.Server, int, list[int]]:
    """Answers every request, except on a connection idle for ``forget_after_s``: there it
    reads and never answers nor closes (a NAT or firewall that dropped the flow's state)."""
    served: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        last = time.monotonic()
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                return
            if time.monotonic() - last > forget_after_s:
                await reader.read()  # black hole: until the client gives up
                return
            served.append(id(writer))
            writer.write(RESPONSE)
            await writer.drain()
            last = time.monotonic()

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handle(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(guarded, "127.0.0.1", 0)
    return srv, srv.sockets[0].getsockname()[1], served


async def test_a_request_after_an_idle_spell_opens_a_new_connection() -> None:
    forget = KEEPALIVE_EXPIRY_S + 0.3
    srv, port, served = await _forgetful_server(forget)
    try:
        async with guarded_client(NetPolicy(), timeout=3) as client:
            url = f"http://127.0.0.1:{port}/command"
            assert (await client.post(url, json={"cmd": "true"})).status_code == 200
            # Idle past what the network remembers: the old connection is a black hole now.
            await asyncio.sleep(forget + 0.2)
            resp = await client.post(url, json={"cmd": "true"})
            assert resp.status_code == 200
        assert len(served) == 2 and served[0] != served[1]  # a fresh connection answered
    finally:
        srv.close()
        await srv.wait_closed()


def test_the_toolbox_keeps_idle_connections_longer_than_piloto_does() -> None:
    # The client always closes an idle connection first: the toolbox never closes one under
    # a command being sent.
    assert toolbox_server.KEEP_ALIVE_S > 10 * KEEPALIVE_EXPIRY_S
