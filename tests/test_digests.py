"""Golden trace digests: the same scenarios give the same traces, byte for byte,
across refactorings of the core and across builds (pure Python and compiled).

A digest here changes only with an intended change of behaviour, said in the
commit that updates it.  Each scenario runs with the full trace kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib

import pytest

import aiotcpsim
from aiotcpsim import Network
from aiotcpsim.demo import run_demo

# id: (module of aiotcpsim.scenarios, function, keyword arguments, digest)
TEXTBOOK: dict[str, tuple[str, str, dict[str, object], str]] = {
    "syn_lost": (
        "syn_lost",
        "scenario",
        {},
        "ba5f6fcc13a77a2fee9dada457cfd2c54990a3ef8c24a590444ca0761f5b7bdb",
    ),
    "synack_lost": (
        "synack_lost",
        "synack_lost",
        {},
        "05e59f0f9696c9ffd202b4dddfc422ccd736cf8cb03950f20f7db60a0b9fdce4",
    ),
    "third_ack_lost": (
        "synack_lost",
        "third_ack_lost",
        {},
        "4e583f0fc4deb32d73f33da9de7dc3cb7520f5b588a8572741adcc224f2a7f2f",
    ),
    "server_down": (
        "server_down",
        "scenario",
        {},
        "cefc556a0d540f6a8c989844db0dd2cc27972984282ddfb14f344b1dcdee7895",
    ),
    "server_down_reject": (
        "server_down",
        "scenario",
        {"reject": True},
        "fa94453477b8f9a5c2986b2dbc0bcaeb64135b771eae8c94a5b2b5ee772cd57a",
    ),
    "old_duplicate_syn": (
        "old_duplicate_syn",
        "scenario",
        {},
        "2b8e10569430e8b78d61812a5ca8d595b2d17af06212d21609e869fade1c3590",
    ),
    "simultaneous": (
        "simultaneous",
        "scenario",
        {},
        "71b88f5774c3a6228659d007a051d9187ecf006175c1fb31dbaf8b74b03c9672",
    ),
    "close_four_way": (
        "close",
        "scenario",
        {"server_closes_after": 1.0},
        "67e8e0620cffbf6a8f234baf1bd27f77520659cf921f0c588157b982345c2f74",
    ),
    "close_three_way": (
        "close",
        "scenario",
        {"server_closes_after": None},
        "262f365569284bbe6fb11ff7b2bb2bba726d5dc89a7abcc3b91b5cc72419f2e6",
    ),
    "last_ack_lost": (
        "last_ack_lost",
        "scenario",
        {},
        "9b39e6b77c367a5bc06f551c213b266bf20d85fa673b9c6e70952451fcd1db1e",
    ),
    "no_time_wait": (
        "no_time_wait",
        "scenario",
        {},
        "5120dfacb14c14914acbc1c1b256dab5e650d38fca6e2579c3850f1e8ed54f9a",
    ),
    "time_wait": (
        "no_time_wait",
        "scenario",
        {"time_wait": 60.0},
        "d1c3c3032ff9fcd3db6047832bc72237ee52cfb28564436da4e41986d327e27b",
    ),
    "old_segment_time_wait": (
        "old_segment_time_wait",
        "scenario",
        {},
        "831b7caa9cd62daef7fe2eb3fbb20e6f836877f70161dd430f0b73a1d2e23d23",
    ),
    "old_segment_rfc1337": (
        "old_segment_time_wait",
        "scenario",
        {"rfc1337": True},
        "32cc4cc3b72537f3ed83f4ee3e4898de61c4f64e2eedd9cd7c28d96692a42cc0",
    ),
    "half_close": (
        "half_close",
        "scenario",
        {},
        "3c70ef6abebdf36477c563cab430953ff77e9030bc8589d9b43f1488832a043e",
    ),
    "port_exhaustion": (
        "port_exhaustion",
        "scenario",
        {},
        "a2b1bfe7813a5a18bdde99d4d66c03940418f91be2d80e395f7d848b6bdb557e",
    ),
    "crash_write": (
        "peer_crash",
        "write_to_crashed",
        {},
        "ff2ac6ccaaf4850640aedb80c180698311b0734ee6a8e898474ebdb60df6b9e9",
    ),
    "crash_restarted": (
        "peer_crash",
        "write_to_restarted",
        {},
        "da9182f656e8080e6bc8999898a7917854dd10f34ec3ed41e9c53249eba6e399",
    ),
    "crash_keepalive": (
        "peer_crash",
        "idle_keepalive",
        {},
        "c24d5f1469f009f082b6cfc53c13a55b72e84ba5782733c5a509b2087c76c707",
    ),
    "partition_heals": (
        "partition_heals",
        "scenario",
        {},
        "3856e9ccc63769cc2910a39eae7055c9d4fd39418fff0221532a6191dbc1145d",
    ),
}


@pytest.mark.parametrize("name", sorted(TEXTBOOK))
def test_textbook_scenario_digest(name: str) -> None:
    module, function, kwargs, digest = TEXTBOOK[name]
    run = getattr(importlib.import_module(f"aiotcpsim.scenarios.{module}"), function)(**kwargs)
    assert run.net.trace.digest() == digest


def test_demo_digest() -> None:
    assert run_demo(7).trace.digest() == DEMO


DEMO = "b2a66afb412755de7f34fae0537c73f270827fb34f0efd1a504c704be5b05258"


def _core_bulk(seed: int, size: int, **impairments: object) -> str:
    net = Network(seed=seed, **impairments)  # type: ignore[arg-type]
    a = net.add_host("a")
    b = net.add_host("b")
    listener = b.listen(80)
    conn = a.connect("b", 80)
    net.run_until_idle(limit=1.0)
    child = listener.accept()
    assert child is not None
    data = hashlib.shake_128(b"%d" % seed).digest(size)
    sent = 0
    got = bytearray()
    while len(got) < size:
        if sent < size:
            sent += conn.send(data[sent:], net.now)
            if sent == size:
                conn.shutdown(net.now)
        while (chunk := child.recv(1 << 20, net.now)) not in (None, b""):
            got += chunk
        deadline = net.next_deadline()
        assert deadline is not None
        net.advance(deadline)
    child.close(net.now)
    net.run_until_idle()
    assert bytes(got) == data
    return net.trace.digest()


CORE = {
    "clean": (
        (1, 300_000),
        {"delay": 0.01},
        "ac6a5b4be276dbdf1cddfab22ff31f96929308e12b419ba52bf3a53910ef2495",
    ),
    "loss": (
        (2, 300_000),
        {"delay": 0.01, "loss": 0.05},
        "4ae2d75573d6f7f818f970eacba76817abec8fe63cfefff5a4dbf4400853a1e5",
    ),
    "reorder_dup": (
        (3, 200_000),
        {"delay": 0.02, "jitter": 0.01, "reorder": 0.1, "duplicate": 0.05},
        "39a9d53a62343f6cc8e0747146de027bae0399ba66fb7f58d35632ff410faded",
    ),
    "rate": (
        (4, 200_000),
        {"delay": 0.005, "rate": 1_000_000, "queue_limit": 20},
        "0184ebdeb714996d705af53a4066457e76c59178af10b5990bb65eef11335aa7",
    ),
}


@pytest.mark.parametrize("name", sorted(CORE))
def test_core_bulk_digest(name: str) -> None:
    args, impairments, digest = CORE[name]
    assert _core_bulk(*args, **impairments) == digest


def _asyncio_echo(seed: int) -> str:
    net = Network(seed=seed, loss=0.05, delay=0.01)
    server = net.add_host("server")
    client = net.add_host("client")
    payload = hashlib.shake_128(b"echo").digest(100_000)

    async def main() -> None:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.read())
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        with server.current():
            srv = await asyncio.start_server(echo, port=8080)
        with client.current():
            reader, writer = await asyncio.open_connection("server", 8080)
        writer.write(payload)
        writer.write_eof()
        assert await reader.read() == payload
        writer.close()
        await writer.wait_closed()
        srv.close()
        await srv.wait_closed()
        await asyncio.sleep(120)

    aiotcpsim.run(main(), network=net)
    return net.trace.digest()


def test_asyncio_echo_digest() -> None:
    assert _asyncio_echo(5) == ASYNCIO


ASYNCIO = "8b6ae63f2e94141c0be32e28d46de32a918d17c596d74751d2941a1370fd4ac8"
