"""trio socket details, simulation vs kernel sockets on 127.0.0.1: setsockopt's
checks, async methods of a closed socket (checkpoints that raise EBADF),
getnameinfo, and name resolution before the port check."""

from __future__ import annotations

import errno
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing

import aiotcpsim
from aiotcpsim.trio_net import open_network

TCP = socket.IPPROTO_TCP
Observation = tuple[Any, ...]


def run_on(backend: str, main: Callable[[], Awaitable[Any]]) -> Any:
    if backend == "kernel":
        return trio.run(main)
    net = aiotcpsim.Network(seed=1)
    client = net.add_host("client")

    async def sim_main() -> Any:
        async with open_network(net):
            with client.current():
                return await main()

    return trio.run(sim_main, clock=trio.testing.MockClock(autojump_threshold=0))


def outcome(fn: Callable[[], Any]) -> Observation:
    try:
        return ("ok", fn())
    except Exception as exc:
        return (type(exc).__name__, getattr(exc, "errno", None))


@pytest.mark.parametrize("backend", ["kernel", "sim"])
def test_setsockopt_checks_before_storing(backend: str) -> None:
    async def main() -> list[Observation]:
        with trio.socket.socket() as sock:
            return [
                outcome(lambda: sock.setsockopt(TCP, socket.TCP_KEEPIDLE, 0)),
                outcome(lambda: sock.setsockopt(TCP, socket.TCP_KEEPCNT, 500)),
                outcome(lambda: sock.setsockopt(TCP, socket.TCP_KEEPIDLE, None)),  # type: ignore[call-overload]
                outcome(lambda: sock.setsockopt(TCP, socket.TCP_KEEPIDLE, 5, 4)),  # type: ignore[call-overload]
                outcome(lambda: sock.setsockopt(TCP, socket.TCP_KEEPIDLE, 9)),
                outcome(lambda: sock.getsockopt(TCP, socket.TCP_KEEPIDLE)),
            ]

    assert run_on(backend, main) == [
        ("OSError", errno.EINVAL),
        ("OSError", errno.EINVAL),
        ("TypeError", None),
        ("TypeError", None),
        ("ok", None),
        ("ok", 9),
    ]


@pytest.mark.parametrize("backend", ["kernel", "sim"])
def test_async_methods_of_a_closed_socket_checkpoint_then_raise_ebadf(backend: str) -> None:
    async def main() -> list[Observation]:
        sock = trio.socket.socket()
        sock.close()
        seen = []
        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda: sock.send(b"x"),
            lambda: sock.recv(10),
            lambda: sock.connect(("127.0.0.1", 80)),
            lambda: sock.bind(("127.0.0.1", 0)),
            sock.accept,
        ]
        for call in calls:
            with trio.testing.assert_checkpoints():
                try:
                    await call()
                except OSError as exc:
                    seen.append(exc.errno)
        return seen

    assert run_on(backend, main) == [errno.EBADF] * 5


@pytest.mark.parametrize("backend", ["kernel", "sim"])
def test_getnameinfo_numeric_hosts_and_service_names(backend: str) -> None:
    async def main() -> list[Observation]:
        service = (await trio.socket.getnameinfo(("127.0.0.1", 80), 0))[1]
        try:
            await trio.socket.getnameinfo(("localhost", 80), 0)
        except socket.gaierror as exc:
            return [service, exc.errno]
        return [service, None]

    assert run_on(backend, main) == ["http", socket.EAI_NONAME]


def test_unknown_name_is_resolved_before_the_port_is_checked() -> None:
    async def main() -> Observation:
        with trio.socket.socket() as sock:
            try:
                await sock.connect(("nowhere", 70000))
            except Exception as exc:
                return (type(exc).__name__, getattr(exc, "errno", None))
        return ("ok",)

    assert run_on("sim", main) == ("gaierror", socket.EAI_NONAME)
