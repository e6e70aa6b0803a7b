"""pytest: an application's client tested under faults with the ``tcpsim`` marker.

The application under test is ``fetch()``, a client (its callers bound it
with ``asyncio.timeout``), and ``start_upper_server()``, a server that
answers in upper case.  Each test
opts in with ``@pytest.mark.tcpsim(...)``: it gets a fresh network (the
``tcpsim`` fixture) with the hosts named in ``hosts=``, its body runs on
the host named in ``host=`` (as inside ``with client.current():``), and
asyncio runs on virtual time, so a 10-second timeout takes no real time.
The marker's other arguments go to ``aiotcpsim.Network`` (``loss``,
``delay``, ``seed``, ``tcp``...).  A failing test's report gives the seed,
the command that replays it and the trace as a ladder.

Run: ``pytest examples/test_client_faults.py`` (the plugin needs
``pip install "aiotcpsim[pytest]"``).
"""

from __future__ import annotations

import asyncio
import errno

import pytest

from aiotcpsim import Network, TcpConfig

PORT = 9000


async def fetch(name: str, request: bytes) -> bytes:
    """The client under test: send a request, half-close, read the answer."""
    reader, writer = await asyncio.open_connection(name, PORT)
    try:
        writer.write(request)
        writer.write_eof()
        return await reader.read()
    finally:
        writer.close()


async def start_upper_server(net: Network) -> asyncio.Server:
    """The server under test, on the host ``server``: answers in upper case."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write((await reader.read()).upper())
        writer.close()

    with net.host("server").current():
        return await asyncio.start_server(handle, port=PORT)


@pytest.mark.asyncio
@pytest.mark.tcpsim(hosts=["client", "server"], host="client", loss=0.2, delay=0.05, seed=3)
async def test_fetch_survives_a_lossy_link(tcpsim: Network) -> None:
    srv = await start_upper_server(tcpsim)
    assert await fetch("server", b"hello " * 2000) == b"HELLO " * 2000
    assert tcpsim.statistics()["retransmissions"] > 0  # the loss did happen
    srv.close()


@pytest.mark.asyncio
@pytest.mark.tcpsim(hosts=["client", "server"], host="client", delay=0.01)
async def test_fetch_times_out_during_a_partition_and_works_after_it_heals(
    tcpsim: Network,
) -> None:
    srv = await start_upper_server(tcpsim)
    cut = tcpsim.faults.partition("client", "server")  # both ways, SYNs vanish
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(10.0):
            await fetch("server", b"ping")
    cut.heal()
    assert await fetch("server", b"ping") == b"PING"
    assert asyncio.get_running_loop().time() >= 10.0  # virtual seconds
    srv.close()


@pytest.mark.asyncio
@pytest.mark.tcpsim(hosts=["client", "server"], host="client", delay=0.01)
async def test_a_lost_syn_ack_costs_a_second(tcpsim: Network) -> None:
    srv = await start_upper_server(tcpsim)
    tcpsim.faults.drop(flags="SYN|ACK", count=1)  # the client's SYN is retransmitted at 1 s
    assert await fetch("server", b"ping") == b"PING"
    assert asyncio.get_running_loop().time() == pytest.approx(1.04)  # 1 s + two round trips
    srv.close()


@pytest.mark.asyncio
@pytest.mark.tcpsim(hosts=["client", "server"], host="client")
async def test_nothing_listening_is_refused(tcpsim: Network) -> None:
    with pytest.raises(ConnectionRefusedError):
        await fetch("server", b"ping")


@pytest.mark.asyncio
@pytest.mark.tcpsim(hosts=["client", "server"], host="client", tcp=TcpConfig(syn_retries=2))
async def test_a_dead_server_times_out_after_the_syn_retries(tcpsim: Network) -> None:
    tcpsim.faults.crash("server")  # gone: SYNs are never answered
    with pytest.raises(TimeoutError) as failed:  # TCP gives up after 1 + 2 + 4 s
        await fetch("server", b"ping")
    assert failed.value.errno == errno.ETIMEDOUT
    assert asyncio.get_running_loop().time() == pytest.approx(7.0)


@pytest.mark.asyncio
@pytest.mark.tcpsim(hosts=["client", "server"], host="client", delay=0.01)
async def test_a_reset_while_waiting_for_the_answer(tcpsim: Network) -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(60)  # never answers in time
        writer.close()

    with tcpsim.host("server").current():
        srv = await asyncio.start_server(slow, port=PORT)
    reader, writer = await asyncio.open_connection("server", PORT)
    conn = writer.get_extra_info("tcp_connection")  # the simulated Connection
    tcpsim.call_later(1.0, lambda: tcpsim.faults.inject_reset(conn))  # a middlebox RST at t=1
    with pytest.raises(ConnectionResetError):
        await reader.read()
    writer.close()
    srv.close()
