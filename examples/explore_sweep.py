"""Planted bugs that a fault sweep finds (``aiotcpsim.explore``).

Each ``*_body(net)`` is a small asyncio application and its check, on a
network with a ``client`` and a ``server`` 10 ms apart (:data:`NETWORK`).
Each passes on a clean network -- but one:

1. ``hang_body``: the client reads the answer until EOF without a timeout;
   the server answers, closes, and its host goes away 50 ms later (a
   deploy).  When the server's FIN (or the answer) is lost, nobody
   retransmits it: the client waits forever.  ``drop-each`` finds it;
   ``patient_body``, the same client with a read timeout, survives every drop.
2. ``retry_body``: a client that pays, and on a connection error pays again on
   a new connection.  When a reset comes after the server has charged, the
   retry charges twice.  ``rst-each`` finds it; drops do not (TCP recovers).
3. ``loopback_body``: a server bound to 127.0.0.1 only; the client on another
   host cannot reach it.  The clean run already fails (connection refused).

Run: ``python examples/explore_sweep.py`` (prints what each sweep found).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiotcpsim import Network
from aiotcpsim.explore import Exploration, explore

PORT = 8080
NETWORK: dict[str, Any] = {"seed": 1, "delay": 0.01, "hosts": ["client", "server"]}
"""The network every run builds (keywords of ``aiotcpsim.Network`` plus ``hosts``)."""

BUDGET = 25
"""Fault runs each sweep may use: the clean runs below send at most this many segments."""


# -- 1. a read without a timeout --------------------------------------------------------


async def _serve_once_then_go_away(net: Network) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"bye\n")
        writer.close()
        await asyncio.sleep(0.05)
        net.faults.crash("server")  # the host goes away: nothing is retransmitted

    with net.host("server").current():
        await asyncio.start_server(handle, port=PORT)


async def _fetch(read_timeout: float | None) -> bytes | None:
    reader, writer = await asyncio.open_connection("server", PORT)
    writer.write(b"hello\n")
    try:
        async with asyncio.timeout(read_timeout):
            answer = await reader.read()  # until EOF
    except TimeoutError:
        answer = None  # gave up: the caller can retry or report
    writer.close()
    return answer


async def hang_body(net: Network) -> None:
    """The client reads until EOF, without a timeout."""
    await _serve_once_then_go_away(net)
    with net.host("client").current():
        answer = await _fetch(read_timeout=None)
    assert answer == b"bye\n"


async def patient_body(net: Network) -> None:
    """The same client with a 5 s read timeout: it ends whatever is lost."""
    await _serve_once_then_go_away(net)
    with net.host("client").current():
        answer = await _fetch(read_timeout=5.0)
    assert answer in (b"bye\n", None)


# -- 2. a retry of a request that is not idempotent --------------------------------------


async def retry_body(net: Network) -> None:
    """Pay 100 once; the client retries on any connection error."""
    ledger: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            request = await reader.readline()
            if request:
                ledger.append(request.strip())  # the charge
                writer.write(b"OK\n")
                await reader.read()  # until the client closes
        writer.close()

    with net.host("server").current():
        await asyncio.start_server(handle, port=PORT)
    with net.host("client").current():
        for _attempt in range(3):
            try:
                reader, writer = await asyncio.open_connection("server", PORT)
                writer.write(b"PAY 100\n")
                if await reader.readline() == b"OK\n":
                    writer.close()
                    break
                writer.close()
            except ConnectionError:
                continue  # the bug: the payment may already have gone through
    await asyncio.sleep(5.0)  # let the server finish
    assert ledger == [b"PAY 100"], f"charged {len(ledger)} times"


# -- 3. a server bound to loopback only --------------------------------------------------


async def loopback_body(net: Network) -> None:
    """The server listens on 127.0.0.1 only; the client is another host."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        writer.close()

    with net.host("server").current():
        await asyncio.start_server(handle, host="127.0.0.1", port=PORT)
    with net.host("client").current():
        reader, writer = await asyncio.open_connection("server", PORT)
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        writer.close()


def sweeps() -> dict[str, Exploration]:
    """Each planted bug under the sweep that finds it."""
    return {
        "hang (drop-each)": explore(hang_body, "drop-each", network=NETWORK, limit=BUDGET),
        "retry (rst-each)": explore(retry_body, "rst-each", network=NETWORK, limit=BUDGET),
        "loopback (clean run)": explore(loopback_body, "drop-each", network=NETWORK),
    }


if __name__ == "__main__":
    for name, result in sweeps().items():
        print(f"== {name}")
        print(result.report())
        print()
