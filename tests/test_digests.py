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
from support import bulk_transfer

import aiotcpsim
from aiotcpsim import Network
from aiotcpsim.demo import run_demo

# id: (module of aiotcpsim.scenarios, function, keyword arguments, digest)
TEXTBOOK: dict[str, tuple[str, str, dict[str, object], str]] = {
    "syn_lost": (
        "syn_lost",
        "scenario",
        {},
        "53c6044a7c5fcf5dd8a2ab1bbf5f8eb56edead1ca1d122d05df0ee4455ec55d5",
    ),
    "synack_lost": (
        "synack_lost",
        "synack_lost",
        {},
        "c37ac45c09823d8acee9762a9f9c371a7b9a10f862179fa234b8b2b7e8e53d22",
    ),
    "third_ack_lost": (
        "synack_lost",
        "third_ack_lost",
        {},
        "1ab67ac4b77bba0e4b26f92c9905113330b07abcdfc2db9df62173b2ed7bffb6",
    ),
    "server_down": (
        "server_down",
        "scenario",
        {},
        "78b2715a7b12284bab890f0204dfa72bee824faaa4118ed8c7206bca3518a10c",
    ),
    "server_down_reject": (
        "server_down",
        "scenario",
        {"reject": True},
        "941afb7c02752c4c2d3048726eab66282c4cf724558078f02a18e6694c02c25a",
    ),
    "old_duplicate_syn": (
        "old_duplicate_syn",
        "scenario",
        {},
        "148ac51f6fde86abdb04092a9c8176d03bc62731e0c6b2acab047736161a94f9",
    ),
    "simultaneous": (
        "simultaneous",
        "scenario",
        {},
        "f32bb5a6638487b7214d9d88bdbc7799f37e3dd096d03ca292839797220dc0ea",
    ),
    "close_four_way": (
        "close",
        "scenario",
        {"server_closes_after": 1.0},
        "a74916d76eaaac07490d4e633f99002789170a64af1802c4cb957050ab029971",
    ),
    "close_three_way": (
        "close",
        "scenario",
        {"server_closes_after": None},
        "5c120540f297022892bd215f8d7e51c09d6ee37b4b7d9236785e0fb7955d8e29",
    ),
    "last_ack_lost": (
        "last_ack_lost",
        "scenario",
        {},
        "5b5f56dfbb3b28e0bdee222b1d1d5ddd40eac150cd45c71889f462d1f272fcdc",
    ),
    "no_time_wait": (
        "no_time_wait",
        "scenario",
        {},
        "bdb2bbffb586a6768732c3c570ca21d3289b51d8d7111e2c217f62dc1a8714c3",
    ),
    "time_wait": (
        "no_time_wait",
        "scenario",
        {"time_wait": 60.0},
        "feaf489ac1814784eec5c17e643e2e3ab2283003bbe2c10609a21b0c996c538a",
    ),
    "old_segment_time_wait": (
        "old_segment_time_wait",
        "scenario",
        {},
        "6f8c1b2eff529ad1d314c6b082081ff4cf435ea214bbb035636e37cb8860cd9d",
    ),
    "old_segment_rfc1337": (
        "old_segment_time_wait",
        "scenario",
        {"rfc1337": True},
        "41fafeea2efc40d74d3e93d955dc648670ff12aa0f9d825bb56ede8bcaaffc25",
    ),
    "half_close": (
        "half_close",
        "scenario",
        {},
        "184e3e7d677c74df51c815965febc8c622b9c00d51d2ab8c89dbdffc1e6411d3",
    ),
    "port_exhaustion": (
        "port_exhaustion",
        "scenario",
        {},
        "2fb9573d2cc92e5fc02755d45be063ec3aa3ea5559b373f710765e6dad393d1c",
    ),
    "crash_write": (
        "peer_crash",
        "write_to_crashed",
        {},
        "0c966afa3bb4117dd7618c5f339bda236f46dc03fabef060ecfd9c3d2f750767",
    ),
    "crash_restarted": (
        "peer_crash",
        "write_to_restarted",
        {},
        "6d69ab908cabd74d352da3200fc80abac654422b5260ef2582d17daf0ebc5c57",
    ),
    "crash_keepalive": (
        "peer_crash",
        "idle_keepalive",
        {},
        "1d630c3eea3e1e2f010ebc2978ca7770f05b4bb23a6e9cbfd9859f790ae15371",
    ),
    "partition_heals": (
        "partition_heals",
        "scenario",
        {},
        "61cfa7231e352413152a7af66aeafd9660f4b804d996263bcd1b710b2d67a906",
    ),
    "syn_flood": (
        "syn_flood",
        "scenario",
        {},
        "ccc1117439e56c2179a4da2cc1eaaba41a5edb3b8f40d8f5d8387ee1271d4e10",
    ),
    "syn_flood_no_cookies": (
        "syn_flood",
        "scenario",
        {"syncookies": 0},
        "b066ae86c31a502166763a46536c35c7400db16ead552a632f62a502a73c1976",
    ),
}


@pytest.mark.parametrize("name", sorted(TEXTBOOK))
def test_textbook_scenario_digest(name: str) -> None:
    module, function, kwargs, digest = TEXTBOOK[name]
    run = getattr(importlib.import_module(f"aiotcpsim.scenarios.{module}"), function)(**kwargs)
    assert run.net.trace.digest() == digest


def test_demo_digest() -> None:
    assert run_demo(7).trace.digest() == DEMO


DEMO = "8035ce7dd29d3dcc0c6416fbdb9a4dd0a21ffc33c7ae8c9dd35c22f0a9c51beb"


def _core_bulk(seed: int, size: int, **impairments: object) -> str:
    net = Network(seed=seed, **impairments)  # type: ignore[arg-type]
    _, child = bulk_transfer(net, seed, size, shutdown=True)
    child.close(net.now)
    net.run_until_idle()
    return net.trace.digest()


CORE = {
    "clean": (
        (1, 300_000),
        {"delay": 0.01},
        "e57b5bccc8368bd48852910cfb206949a7ae12dc4b017abe941bfc571fa67300",
    ),
    "loss": (
        (2, 300_000),
        {"delay": 0.01, "loss": 0.05},
        "fc4f71d3a95876645e369aa8f88fe085040a94dd623de4a78b19e1a7a3afb340",
    ),
    "reorder_dup": (
        (3, 200_000),
        {"delay": 0.02, "jitter": 0.01, "reorder": 0.1, "duplicate": 0.05},
        "952edfa1d838576fa78e37fc7308dd5d346b2c0b12f7587f4730619e6e7af555",
    ),
    "rate": (
        (4, 200_000),
        {"delay": 0.005, "rate": 1_000_000, "queue_limit": 20},
        "0bab0f3a8cf6cd7766eed2707dc7e384cb59839685e189033dc79cb7d5caba9e",
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


ASYNCIO = "295b71d51a3f2550f042dbc9014df0c78024c69d4975f6d5ea4f079299789214"
