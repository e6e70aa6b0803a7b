"""asyncio over IPv6 (issue 11): AF_INET6 sockets and their 4-tuple names,
getaddrinfo's families, ``localhost`` as ``::1`` then ``127.0.0.1``, the
stock loop's Happy Eyeballs (``happy_eyeballs_delay``/``interleave``)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from loop_support import close_writer, run

import aiotcpsim
from aiotcpsim import Segment
from aiotcpsim.tcp.state import CLOSED

PORT = 8080


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(await reader.read(100))
    await writer.drain()
    await close_writer(writer)


def _dual(server_ipv6: str | bool = True) -> tuple[aiotcpsim.Network, Any, Any]:
    net = aiotcpsim.Network(seed=5)
    return net, net.add_host("server", ipv6=server_ipv6), net.add_host("client", ipv6=True)


def test_ipv6_connection_names_4_tuples_and_af_inet6() -> None:
    net, server, client = _dual()

    async def main() -> tuple[Any, ...]:
        with server.current():
            srv = await asyncio.start_server(_echo, "::", PORT)
        with client.current():
            reader, writer = await asyncio.open_connection(server.ipv6, PORT)
        writer.write(b"six")
        data = await reader.read()
        sock = writer.get_extra_info("socket")
        out = (data, sock.family, writer.get_extra_info("peername"), sock.getsockname())
        await close_writer(writer)
        srv.close()
        await srv.wait_closed()
        return out

    data, family, peer, name = run(net, main)
    assert data == b"six"
    assert family == socket.AF_INET6
    assert peer == (server.ipv6, PORT, 0, 0)
    assert name[0] == client.ipv6 and name[2:] == (0, 0)


def test_start_server_on_wildcard_binds_both_families_and_localhost_uses_ipv6() -> None:
    net, server, _ = _dual()

    async def main() -> tuple[Any, ...]:
        with server.current():
            srv = await asyncio.start_server(_echo, port=PORT)
            v6only = [s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) for s in srv.sockets]
            families = [s.family for s in srv.sockets]
            reader, writer = await asyncio.open_connection("localhost", PORT)
            writer.write(b"lo")
            assert await reader.read() == b"lo"
            peer = writer.get_extra_info("peername")
            await close_writer(writer)
        srv.close()
        await srv.wait_closed()
        return families, v6only, peer

    families, v6only, peer = run(net, main)
    assert families == [socket.AF_INET, socket.AF_INET6]
    assert v6only[1] == 1  # the stock loop sets IPV6_V6ONLY on its AF_INET6 socket
    assert peer == ("::1", PORT, 0, 0)  # localhost: ::1 first (RFC 6724)


def test_getaddrinfo_families_and_flags() -> None:
    net, server, _ = _dual()
    plain = net.add_host("plain")

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        stream = socket.SOCK_STREAM
        out: list[Any] = [
            [i[4] for i in await loop.getaddrinfo("server", 80, type=stream)],
            [
                i[4]
                for i in await loop.getaddrinfo("server", 80, family=socket.AF_INET6, type=stream)
            ],
            [i[4] for i in await loop.getaddrinfo("localhost", 80, type=stream)],
            [i[4] for i in await loop.getaddrinfo(None, 80, type=stream)],
            [i[4] for i in await loop.getaddrinfo(None, 80, type=stream, flags=socket.AI_PASSIVE)],
            [i[4] for i in await loop.getaddrinfo("0:0:0:0:0:0:0:1", 80, type=stream)],
            [
                i[4]
                for i in await loop.getaddrinfo(
                    "plain", 80, family=socket.AF_INET6, type=stream, flags=socket.AI_V4MAPPED
                )
            ],
        ]
        for host, family in (("plain", socket.AF_INET6), ("::1", socket.AF_INET)):
            try:
                await loop.getaddrinfo(host, 80, family=family)
            except socket.gaierror as exc:
                out.append(exc.errno)
        return out

    got = run(net, main)
    assert got == [
        [(server.ip, 80), (server.ipv6, 80, 0, 0)],  # a ULA ranks below IPv4
        [(server.ipv6, 80, 0, 0)],
        [("::1", 80, 0, 0), ("127.0.0.1", 80)],
        [("::1", 80, 0, 0), ("127.0.0.1", 80)],
        [("0.0.0.0", 80), ("::", 80, 0, 0)],
        [("::1", 80, 0, 0)],
        [(f"::ffff:{plain.ip}", 80, 0, 0)],
        socket.EAI_NONAME,
        socket.EAI_ADDRFAMILY,
    ]


def test_af_inet_socket_to_an_ipv6_literal_is_eai_addrfamily_as_the_kernel() -> None:
    net, _, _ = _dual()

    async def main() -> int | None:
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET) as sock:
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, ("::1", 80))
            except socket.gaierror as exc:
                return exc.errno
        return None

    assert run(net, main) == socket.EAI_ADDRFAMILY


def _blackhole_ipv6(net: aiotcpsim.Network) -> None:
    """Segments to IPv6 addresses vanish (an IPv6 path that is broken)."""

    def tap(src: Any, segment: Segment, retransmission: bool) -> bool:
        return ":" not in segment.dst_ip

    net.set_send_tap(tap)


@pytest.mark.parametrize("delay", [None, 0.25])
def test_happy_eyeballs_falls_back_to_ipv4_after_the_delay(delay: float | None) -> None:
    net, server, client = _dual(server_ipv6="2001:db8::2")  # global: IPv6 first
    _blackhole_ipv6(net)
    client_conns: list[Any] = []

    async def main() -> tuple[float, Any]:
        loop = asyncio.get_running_loop()
        with server.current():
            srv = await asyncio.start_server(_echo, port=PORT)
        with client.current():
            _, writer = await asyncio.open_connection("server", PORT, happy_eyeballs_delay=delay)
        took = loop.time()
        peer = writer.get_extra_info("peername")
        client_conns.extend(client.connections())
        await close_writer(writer)
        srv.close()
        await srv.wait_closed()
        return took, peer

    took, peer = run(net, main)
    assert peer == (server.ip, PORT)
    if delay is None:
        assert took == pytest.approx(131.0)  # the IPv6 attempt timed out first
    else:
        assert took == pytest.approx(0.25)  # raced: IPv4 started after the delay
        # the losing IPv6 attempt was cancelled: its socket closed, no segment sent
        assert all(c.state is CLOSED for c in client_conns if ":" in c.remote[0])


def test_interleave_orders_families_as_the_stock_loop() -> None:
    from aiotcpsim.asyncio_loop._connect import interleave_addrinfos

    six = (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::1", 80, 0, 0))
    six2 = (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::2", 80, 0, 0))
    four = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", 80))
    assert interleave_addrinfos([six, six2, four]) == [six, four, six2]
    assert interleave_addrinfos([six, six2, four], 2) == [six, six2, four]


def test_happy_eyeballs_reports_every_refusal_as_the_stock_loop() -> None:
    net, _, client = _dual(server_ipv6="2001:db8::2")

    async def main() -> str:
        with client.current():
            try:
                await asyncio.open_connection("server", PORT, happy_eyeballs_delay=0.25)
            except OSError as exc:
                return str(exc)
        return "connected"

    message = run(net, main)
    assert message.startswith("Multiple exceptions: [Errno 111] Connect call failed")
    assert "('2001:db8::2', 8080, 0, 0)" in message and "('10.0.0.1', 8080)" in message


class _Flags:
    """An int-like flag value (what a mock gives): only ``__index__`` says what it is."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value

    def __and__(self, other: object) -> _Flags:
        return self  # truthy for every bit, as a MagicMock is


def test_getaddrinfo_reads_int_like_arguments_through_index() -> None:
    # socket.getaddrinfo converts family, type, proto and flags with __index__
    # (anyio's test_tcp_listener_total_bind_failure passes mocked flags).
    net, _, _ = _dual()

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            "localhost", 80, type=socket.SOCK_STREAM, flags=_Flags(int(socket.AI_PASSIVE))
        )
        return [i[4] for i in infos]

    assert run(net, main) == [("::1", 80, 0, 0), ("127.0.0.1", 80)]
