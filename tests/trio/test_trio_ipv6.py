"""trio over IPv6 (issue 11): open_tcp_listeners on both families, AF_INET6
sockets and their 4-tuple names, dual-stack ``::`` with IPv4-mapped peers,
``localhost`` as ``::1`` first, open_tcp_stream's Happy Eyeballs over a name's
addresses."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import Any

import trio
import trio.testing

import aiotcpsim
from aiotcpsim import Segment
from aiotcpsim.trio_net import open_network

PORT = 8080


def run_virtual(main: Callable[[], Awaitable[Any]]) -> Any:
    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


async def _echo(stream: trio.SocketStream) -> None:
    async for chunk in stream:
        await stream.send_all(chunk)
    await stream.send_eof()


def _dual(server_ipv6: str | bool = True) -> tuple[aiotcpsim.Network, Any, Any]:
    net = aiotcpsim.Network(seed=9)
    return net, net.add_host("server", ipv6=server_ipv6), net.add_host("client", ipv6=True)


def test_localhost_reaches_the_ipv6_listener_of_open_tcp_listeners() -> None:
    net, server, _ = _dual()

    async def main() -> tuple[Any, ...]:
        async with open_network(net), trio.open_nursery() as nursery:
            with server.current():
                listeners = await nursery.start(trio.serve_tcp, _echo, PORT)
                stream = await trio.open_tcp_stream("localhost", PORT)
            await stream.send_all(b"lo")
            got = await stream.receive_some()
            out = (
                [lst.socket.family for lst in listeners],
                stream.socket.family,
                stream.socket.getpeername(),
                got,
            )
            await stream.aclose()
            nursery.cancel_scope.cancel()
        return out

    families, family, peer, got = run_virtual(main)
    assert families == [socket.AF_INET, socket.AF_INET6]
    assert family == socket.AF_INET6
    assert peer == ("::1", PORT, 0, 0)
    assert got == b"lo"


def test_dual_stack_socket_accepts_ipv4_as_mapped() -> None:
    net, server, client = _dual()

    async def main() -> tuple[Any, ...]:
        async with open_network(net):
            with server.current():
                listening = trio.socket.socket(socket.AF_INET6)
                await listening.bind(("::", PORT))
                listening.listen()
            with client.current():
                four = await trio.open_tcp_stream(server.ip, PORT)
                six = await trio.open_tcp_stream(server.ipv6, PORT)
            a, peer4 = await listening.accept()
            b, peer6 = await listening.accept()
            names = (a.getsockname(), b.getsockname())
            for s in (a, b, listening):
                s.close()
            await four.aclose()
            await six.aclose()
        return peer4, peer6, names

    peer4, peer6, names = run_virtual(main)
    assert peer4[0] == f"::ffff:{client.ip}" and peer4[2:] == (0, 0)
    assert peer6[0] == client.ipv6
    assert names == ((f"::ffff:{server.ip}", PORT, 0, 0), (server.ipv6, PORT, 0, 0))


def test_open_tcp_stream_races_to_ipv4_when_ipv6_is_broken() -> None:
    net, server, _ = _dual(server_ipv6="2001:db8::2")  # global: IPv6 first

    def tap(src: Any, segment: Segment, retransmission: bool) -> bool:
        return ":" not in segment.dst_ip  # the IPv6 path loses everything

    net.set_send_tap(tap)

    async def main() -> tuple[float, Any]:
        async with open_network(net), trio.open_nursery() as nursery:
            with server.current():
                await nursery.start(trio.serve_tcp, _echo, PORT)
            start = trio.current_time()
            stream = await trio.open_tcp_stream("server", PORT)
            took = trio.current_time() - start
            peer = stream.socket.getpeername()
            await stream.aclose()
            nursery.cancel_scope.cancel()
        return took, peer

    took, peer = run_virtual(main)
    assert peer == (server.ip, PORT)
    assert abs(took - 0.25) < 1e-6  # trio's happy_eyeballs_delay


def test_af_inet_socket_to_an_ipv6_literal_is_eai_addrfamily() -> None:
    net, _, client = _dual()

    async def main() -> int | None:
        async with open_network(net):
            with client.current():
                sock = trio.socket.socket(socket.AF_INET)
                try:
                    await sock.connect(("::1", PORT))
                except socket.gaierror as exc:
                    return exc.errno
                finally:
                    sock.close()
        return None

    assert run_virtual(main) == socket.EAI_ADDRFAMILY
