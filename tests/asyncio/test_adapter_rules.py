"""Rules both adapters share: options, errno errors and IPv4 literals
(``aiotcpsim._sockets``), readiness (``aiotcpsim._readiness``), and the one
place each adapter moves the network clock."""

from __future__ import annotations

import ast
import asyncio
import errno
import pathlib
import socket
import struct

import pytest

import aiotcpsim
from aiotcpsim import Network, State, TcpConfig
from aiotcpsim._readiness import poll_readable, recv_answers, writable
from aiotcpsim._sockets import SocketOptions, check_local_address, os_error
from aiotcpsim.addresses import parse_ipv4
from aiotcpsim.asyncio_loop import attach
from aiotcpsim.asyncio_loop._driver import StandingClock, clock_for

PACKAGE = pathlib.Path(aiotcpsim.__file__).parent


def test_os_error_picks_the_subclass_by_errno() -> None:
    err = os_error(errno.ECONNRESET)
    assert type(err) is ConnectionResetError
    assert (err.errno, err.strerror) == (errno.ECONNRESET, "Connection reset by peer")
    assert os_error(errno.EINVAL, "why").strerror == "why"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.000.0.1", "127.0.0.1"),
        ("10.0.0.256", None),
        ("10.0.0", None),
        ("server", None),
        ("::1", None),
    ],
)
def test_parse_ipv4(text: str, canonical: str | None) -> None:
    assert parse_ipv4(text) == canonical


def test_local_address_must_belong_to_the_host() -> None:
    host = Network(seed=1).add_host("a", ip="10.0.0.5")
    for ip in ("", "0.0.0.0", "10.0.0.5", "127.0.0.1", "127.9.9.9"):
        check_local_address(host, ip)
    with pytest.raises(OSError, match="Cannot assign requested address") as info:
        check_local_address(host, "10.0.0.6")
    assert info.value.errno == errno.EADDRNOTAVAIL


def test_socket_options_answer_like_a_fresh_kernel_socket() -> None:
    opts = SocketOptions()
    sol, tcp = socket.SOL_SOCKET, socket.IPPROTO_TCP
    assert opts.get(sol, socket.SO_TYPE, None, conn=None, listening=False) == socket.SOCK_STREAM
    assert opts.get(sol, socket.SO_DOMAIN, None, conn=None, listening=False) == socket.AF_INET
    assert opts.get(tcp, socket.TCP_NODELAY, None, conn=None, listening=False) == 0
    assert opts.get(sol, socket.SO_ACCEPTCONN, None, conn=None, listening=True) == 1
    opts.set(tcp, socket.TCP_NODELAY, 1)
    assert opts.get(tcp, socket.TCP_NODELAY, 4, conn=None, listening=False) == struct.pack("=i", 1)
    assert not opts.abortive_close
    opts.set(sol, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert opts.abortive_close
    assert opts.get(sol, socket.SO_LINGER, 8, conn=None, listening=False) == struct.pack("ii", 1, 0)
    with pytest.raises(OSError, match=r"SO_LINGER takes struct.pack\('ii', onoff, seconds\)"):
        opts.set(sol, socket.SO_LINGER, 1)


def test_socket_options_reach_the_connection() -> None:
    net = Network(seed=1)
    net.localhost.listen(80)
    conn = net.localhost.connect("127.0.0.1", 80)
    asked: list[bool] = []

    def now() -> float:
        asked.append(True)
        return net.now

    opts = SocketOptions()
    opts.set(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    opts.apply(conn, now)
    assert conn.nodelay and not asked  # the time is asked for keep-alive only
    opts.set(socket.IPPROTO_TCP, socket.TCP_SYNCNT, 2)
    opts.set(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    opts.apply(conn, now)
    assert conn.syn_retries == 2 and asked == [True]


def test_readiness_of_a_connection() -> None:
    net = Network(seed=1)
    net.localhost.listen(80)
    conn = net.localhost.connect("127.0.0.1", 80)
    assert conn.state is State.SYN_SENT
    assert not poll_readable(conn) and not recv_answers(conn)
    assert writable(conn)  # not established: a send would not wait for room
    net.run_until_idle()
    assert conn.state is State.ESTABLISHED and writable(conn)
    while conn.send(b"x" * 65536, net.now):
        pass
    assert not writable(conn)  # the send buffer is full
    conn.abort(net.now)
    assert poll_readable(conn) and recv_answers(conn) and writable(conn)


def test_the_clock_of_a_network_no_driver_runs_stands_still() -> None:
    net = Network(seed=1)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(clock_for(loop, net), StandingClock)
        with attach(loop, net) as driver:
            assert clock_for(loop, net) is driver
            await asyncio.sleep(0.01)
            assert driver.present() >= 0.01 - 1e-3  # the network followed the loop
        clock = clock_for(loop, net)
        assert isinstance(clock, StandingClock)
        then = net.now
        await asyncio.sleep(0.01)
        assert clock.present() == then

    asyncio.run(main())


@pytest.mark.parametrize("package", ["asyncio_loop", "trio_net"])
def test_the_network_clock_moves_in_one_place(package: str) -> None:
    """Only the driver's ``_advance`` calls ``network.advance``."""
    callers = []
    for path in sorted((PACKAGE / package).glob("*.py")):
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "advance"
                ):
                    callers.append(f"{path.name}:{func.name}")
    assert callers == ["_driver.py:_advance"]


def test_tcp_congestion_reads_and_switches_the_connection_algorithm() -> None:
    net = Network(seed=1, tcp=TcpConfig(congestion_control="newreno"))
    net.localhost.listen(80)
    conn = net.localhost.connect("127.0.0.1", 80)
    opts = SocketOptions()
    tcp, cc = socket.IPPROTO_TCP, socket.TCP_CONGESTION
    assert opts.get(tcp, cc, 16, conn=conn, listening=False) == b"newreno".ljust(16, b"\0")
    assert opts.get(tcp, cc, 16, conn=None, listening=False) == b"cubic".ljust(16, b"\0")
    opts.set(tcp, cc, b"reno\0ignored")
    opts.apply(conn, lambda: net.now)
    assert conn.congestion_control == "reno"
    with pytest.raises(FileNotFoundError):
        opts.set(tcp, cc, b"bbr")
    with pytest.raises(ValueError, match="unknown congestion control 'bbr'"):
        conn.set_congestion_control("bbr")
