"""Details an asyncio application sees, kernel vs simulation: socket calls after
close, setsockopt's checks, the resolver's errors, bad connect arguments and
the garbage a refused connect leaves (none)."""

from __future__ import annotations

import asyncio
import errno
import gc
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import Runner

Observation = tuple[Any, ...]


def outcome(fn: Callable[[], Any]) -> Observation:
    try:
        return ("ok", fn())
    except Exception as exc:
        return (type(exc).__name__, getattr(exc, "errno", None), str(exc))


async def attempt(aw: Awaitable[Any]) -> Observation:
    try:
        await aw
    except Exception as exc:
        return (type(exc).__name__, getattr(exc, "errno", None), str(exc), exc.__context__)
    return ("ok",)


async def echo_pair() -> tuple[asyncio.Server, asyncio.StreamWriter]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return server, writer


async def stop(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()


def test_socket_addresses_after_close_are_ebadf(run: Runner) -> None:
    async def main() -> list[Observation]:
        server, writer = await echo_pair()
        sock = writer.get_extra_info("socket")
        writer.close()
        await writer.wait_closed()
        seen = [outcome(sock.getsockname)[:2], outcome(sock.getpeername)[:2]]
        await stop(server)
        return seen

    assert run(main) == [("OSError", errno.EBADF), ("OSError", errno.EBADF)]


def test_setsockopt_checks_the_value_before_storing_it(run: Runner) -> None:
    tcp = socket.IPPROTO_TCP

    async def main() -> list[Observation]:
        server, writer = await echo_pair()
        sock = writer.get_extra_info("socket")
        seen = [
            outcome(lambda: sock.setsockopt(tcp, socket.TCP_KEEPIDLE, 0))[:2],
            outcome(lambda: sock.setsockopt(tcp, socket.TCP_KEEPCNT, 128))[:2],
            outcome(lambda: sock.setsockopt(tcp, socket.TCP_KEEPIDLE, b"\x05"))[:2],
            outcome(lambda: sock.setsockopt(tcp, socket.TCP_KEEPIDLE, None)),
            outcome(lambda: sock.setsockopt(tcp, socket.TCP_KEEPIDLE, "7")),
            outcome(lambda: sock.setsockopt(tcp, socket.TCP_KEEPIDLE, 7)),
            outcome(lambda: sock.setsockopt(tcp, socket.TCP_KEEPCNT, 3)),
            outcome(lambda: sock.getsockopt(tcp, socket.TCP_KEEPIDLE)),
            outcome(lambda: sock.getsockopt(tcp, socket.TCP_KEEPCNT)),
        ]
        writer.close()
        await writer.wait_closed()
        await stop(server)
        return seen

    assert run(main) == [
        ("OSError", errno.EINVAL),
        ("OSError", errno.EINVAL),
        ("OSError", errno.EINVAL),
        ("TypeError", None, "a bytes-like object is required, not 'NoneType'"),
        ("TypeError", None, "a bytes-like object is required, not 'str'"),
        ("ok", None),
        ("ok", None),
        ("ok", 7),
        ("ok", 3),
    ]


def test_resolver_errors_as_the_socket_module(run: Runner) -> None:
    async def main() -> list[Observation]:
        loop = asyncio.get_running_loop()
        return [
            await attempt(loop.getnameinfo(("localhost", 80))),
            await attempt(loop.getnameinfo(("x",))),  # type: ignore[arg-type]
            await attempt(loop.getaddrinfo(b"xn--fa-hia.invalid", 80)),
            (await loop.getnameinfo(("127.0.0.1", 80)))[1],
        ]

    assert run(main) == [
        ("gaierror", socket.EAI_NONAME, "[Errno -2] Name or service not known", None),
        ("TypeError", None, "getnameinfo(): illegal sockaddr argument", None),
        ("gaierror", socket.EAI_NONAME, "[Errno -2] Name or service not known", None),
        "http",
    ]


def test_bad_connect_arguments(run: Runner) -> None:
    async def main() -> list[Observation]:
        return [
            (await attempt(asyncio.open_connection(5, 80)))[0],  # type: ignore[arg-type]
            (await attempt(asyncio.open_connection("127.0.0.1", 1, local_addr="x")))[:3],  # type: ignore[arg-type]
            (await attempt(asyncio.open_connection("127.0.0.1", 70000)))[:3],
        ]

    assert run(main) == [
        "TypeError",
        ("ValueError", None, "not enough values to unpack (expected 2, got 1)"),
        ("OverflowError", None, "connect(): port must be 0-65535."),
    ]


def test_refused_connect_leaves_no_reference_cycle(run: Runner) -> None:
    async def main() -> list[Observation]:
        await attempt(asyncio.open_connection("127.0.0.1", 1))  # warm-up: caches, first calls
        gc.collect()
        gc.disable()
        try:
            refused = await attempt(asyncio.open_connection("127.0.0.1", 1))
            return [refused[:2], ("garbage", gc.collect())]
        finally:
            gc.enable()

    assert run(main) == [("ConnectionRefusedError", errno.ECONNREFUSED), ("garbage", 0)]


def test_tcp_congestion_names_the_algorithm(run: Runner) -> None:
    """``TCP_CONGESTION``: the name as bytes padded to TCP_CA_NAME_MAX (16),
    ``reno`` selectable, ENOENT for an unknown name.  (The default is the
    host's sysctl: not compared.)"""
    tcp = socket.IPPROTO_TCP

    async def main() -> list[Observation]:
        server, writer = await echo_pair()
        sock = writer.get_extra_info("socket")
        seen = [
            outcome(lambda: sock.setsockopt(tcp, socket.TCP_CONGESTION, b"no-such-cc"))[:2],
            outcome(lambda: sock.setsockopt(tcp, socket.TCP_CONGESTION, b"reno")),
            outcome(lambda: sock.getsockopt(tcp, socket.TCP_CONGESTION, 16)),
            outcome(lambda: sock.getsockopt(tcp, socket.TCP_CONGESTION, 4)),
        ]
        writer.close()
        await writer.wait_closed()
        await stop(server)
        return seen

    assert run(main) == [
        ("FileNotFoundError", errno.ENOENT),
        ("ok", None),
        ("ok", b"reno".ljust(16, b"\0")),
        ("ok", b"reno"),
    ]
