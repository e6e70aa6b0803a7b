"""asyncio: a client that retries, against a lossy link and a partition that heals.

The application is ordinary asyncio code: a server that answers one request
per connection (it reads to the end of the request, the client's
``write_eof()``, and answers), and a client that gives each attempt
``TIMEOUT`` seconds (``asyncio.timeout``) and backs off 1, 2, 4, 8 ... seconds
between attempts.

The network: 10 % of segments are lost in each direction, 20 ms one way; at
t=0 a partition cuts the client off from the server (a blackhole: SYNs
vanish, as behind a dead router), and it heals at ``HEAL_AT`` = 30 s.  The
attempts made before the heal time out; the first one after it gets through,
with retransmissions on the way.  Everything runs on virtual time: the
program takes well under a second.

Run: ``python examples/asyncio_retry.py``
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import aiotcpsim

PORT = 7000
HEAL_AT = 30.0
TIMEOUT = 5.0
REQUEST = b"GET /status\n" * 200


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The server: the whole request, then the answer, then close."""
    request = await reader.read()
    writer.write(b"OK %d lines\n" % request.count(b"\n"))
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def exchange(name: str, port: int, request: bytes) -> bytes:
    """One attempt: connect, send the request, half-close, read the answer."""
    reader, writer = await asyncio.open_connection(name, port)
    try:
        writer.write(request)
        writer.write_eof()
        return await reader.read()
    finally:
        writer.close()


async def fetch_with_retry(
    name: str, port: int, request: bytes, *, attempts: int = 8
) -> tuple[bytes, list[tuple[float, str]]]:
    """The client: retry with exponential backoff; returns the answer and a
    log of (start time, outcome) per attempt."""
    loop = asyncio.get_running_loop()
    log: list[tuple[float, str]] = []
    for attempt in range(attempts):
        start = loop.time()
        try:
            async with asyncio.timeout(TIMEOUT):
                answer = await exchange(name, port, request)
        except (TimeoutError, OSError) as e:
            log.append((start, type(e).__name__))
            await asyncio.sleep(2.0**attempt)
        else:
            log.append((start, "ok"))
            return answer, log
    raise ConnectionError(f"no answer after {attempts} attempts: {log}")


def scenario(seed: int = 4) -> SimpleNamespace:
    net = aiotcpsim.Network(seed=seed, loss=0.1, delay=0.02)
    server = net.add_host("server")
    client = net.add_host("client")
    cut = net.faults.partition("client", "server")
    net.call_at(HEAL_AT, cut.heal)
    result = SimpleNamespace(net=net)

    async def main() -> None:
        with server.current():
            srv = await asyncio.start_server(handle, port=PORT)
        # The body runs on `client` (aiotcpsim.run(..., host=client)).
        result.answer, result.log = await fetch_with_retry("server", PORT, REQUEST)
        result.done_at = asyncio.get_running_loop().time()
        srv.close()
        await srv.wait_closed()

    aiotcpsim.run(main(), network=net, host=client)
    return result


def main() -> None:
    run = scenario()
    for start, outcome in run.log:
        print(f"attempt at t={start:6.2f}s: {outcome}")
    print(f"answer {run.answer!r} at t={run.done_at:.2f}s of virtual time")
    stats = run.net.statistics()
    print(f"{stats['segments_dropped']} segments dropped, {stats['retransmissions']} retransmitted")
    print(run.net.trace.ladder(last=12))


if __name__ == "__main__":
    main()
