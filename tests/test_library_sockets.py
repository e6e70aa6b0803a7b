"""Sockets that libraries create themselves, over the simulated network.

anyio's ``create_tcp_listener`` and hypercorn build a ``socket.socket``, bind
and listen on it, and only then hand it to the loop (``sock_accept``,
``create_server(sock=)``) or to trio (``trio.socket.from_stdlib_socket``).
On both adapters such a socket is simulated from ``bind()`` on: it listens
from ``listen()`` (a client that connects before the first accept waits in
the backlog, as on a kernel), answers ``getsockname()`` from the simulation,
and ``close()`` closes the simulated listener (later connects are refused).
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import anyio
import anyio.abc
import hypercorn.asyncio
import hypercorn.trio
import pytest
import trio
import trio.testing
from hypercorn.config import Config

import aiotcpsim
from aiotcpsim.asyncio_loop import loop_factory
from aiotcpsim.trio_net import open_network

BACKENDS = ["asyncio", "trio"]


def run_anyio(net: aiotcpsim.Network, backend: str, main: Callable[[], Awaitable[Any]]) -> Any:
    """``main()`` under anyio on ``backend``, over ``net`` on virtual time."""
    if backend == "asyncio":
        return anyio.run(
            main, backend="asyncio", backend_options={"loop_factory": loop_factory(net)}
        )

    async def on_trio() -> Any:
        async with open_network(net):
            return await main()

    clock = trio.testing.MockClock(autojump_threshold=0)
    return anyio.run(on_trio, backend="trio", backend_options={"clock": clock})


def _network() -> tuple[aiotcpsim.Network, aiotcpsim.Host, aiotcpsim.Host]:
    net = aiotcpsim.Network(seed=3, delay=0.01)
    return net, net.add_host("server"), net.add_host("client")


# -- anyio --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("local_host", ["server", None])
def test_anyio_listener_accepts_a_connect_made_before_the_first_accept(
    backend: str, local_host: str | None
) -> None:
    net, server, client = _network()

    async def main() -> tuple[Any, ...]:
        with server.current():
            listener = await anyio.create_tcp_listener(local_host=local_host, local_port=8000)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        with client.current():
            # connected before anyone accepts: the handshake completes from the backlog
            stream = await anyio.connect_tcp("server", 8000)
        async with listener, stream:
            await stream.send(b"hello")
            accepted = await listener.listeners[0].accept()
            async with accepted:
                got = await accepted.receive()
                peer = accepted.extra(anyio.abc.SocketAttribute.remote_address)
                await accepted.send(got.upper())
                reply = await stream.receive()
        return port, got, reply, peer[0]

    # local_host None: anyio binds one dual-stack :: socket (IPV6_V6ONLY off), whose
    # IPv4 peers are IPv4-mapped, as on Linux.
    peer = client.ip if local_host else f"::ffff:{client.ip}"
    assert run_anyio(net, backend, main) == (8000, b"hello", b"HELLO", peer)


@pytest.mark.parametrize("backend", BACKENDS)
def test_anyio_listener_closed_refuses_later_connects(backend: str) -> None:
    net, server, client = _network()

    async def main() -> tuple[str, int | None]:
        with server.current():
            listener = await anyio.create_tcp_listener(local_host="server", local_port=8000)
        with client.current():
            stream = await anyio.connect_tcp("server", 8000)
        await stream.aclose()
        await listener.aclose()
        with client.current():
            try:
                await anyio.connect_tcp("server", 8000)
            except OSError as exc:  # anyio's, caused by the connect's own error
                cause = exc.__cause__
                assert isinstance(cause, OSError)
                return type(cause).__name__, cause.errno
        return "connected", None

    assert run_anyio(net, backend, main) == ("ConnectionRefusedError", errno.ECONNREFUSED)


@pytest.mark.parametrize("backend", BACKENDS)
def test_anyio_serve_on_an_ephemeral_port(backend: str) -> None:
    net, server, client = _network()

    async def main() -> bytes:
        with server.current():
            listener = await anyio.create_tcp_listener(local_host="server")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        assert port != 0

        async def handle(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                await stream.send(await stream.receive() * 2)

        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handle)
            with client.current():
                async with await anyio.connect_tcp("server", port) as stream:
                    await stream.send(b"ab")
                    got = await stream.receive()
            tg.cancel_scope.cancel()
        return got

    assert run_anyio(net, backend, main) == b"abab"


@pytest.mark.parametrize("backend", BACKENDS)
def test_anyio_listener_backlog_as_linux(backend: str) -> None:
    """listen(1): two handshakes complete into the accept queue (backlog + 1,
    Linux's sk_acceptq_is_full), the third SYN is dropped and retried 1 s later,
    when an accept has made room."""
    net, server, client = _network()

    async def main() -> list[float]:
        with server.current():
            listener = await anyio.create_tcp_listener(
                local_host="server", local_port=8000, backlog=1
            )
        streams: list[anyio.abc.SocketStream] = []
        connected: list[float] = []

        async def connect() -> None:
            with client.current():
                streams.append(await anyio.connect_tcp("server", 8000))
            connected.append(anyio.current_time())

        async with listener:
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(connect)
                    await anyio.sleep(0.1)
                await anyio.sleep(0.5)
                assert len(connected) == 2  # the third waits for room
                accepted = await listener.listeners[0].accept()
            await accepted.aclose()
        for stream in streams:
            await stream.aclose()
        return connected

    connected = run_anyio(net, backend, main)
    assert [round(t, 1) for t in connected[:2]] == [0.0, 0.1]
    assert 1.2 < connected[2] < 1.3  # the third SYN's retransmission, 1 s after the first


@pytest.mark.parametrize("backend", BACKENDS)
def test_anyio_listeners_same_seed_same_trace(backend: str) -> None:
    """Several listeners bound on ephemeral ports by concurrent tasks, several
    clients: the run is the same, to the segment, from the same seed."""

    def one_run() -> str:
        net, server, client = _network()

        async def main() -> None:
            async def serve_one() -> None:
                with server.current():
                    listener = await anyio.create_tcp_listener(local_host="server")
                port = listener.extra(anyio.abc.SocketAttribute.local_port)
                with client.current():
                    stream = await anyio.connect_tcp("server", port)
                async with listener, stream:
                    accepted = await listener.listeners[0].accept()
                    async with accepted:
                        await stream.send(b"x" * 3000)
                        await accepted.receive()

            async with anyio.create_task_group() as tg:
                for _ in range(4):
                    tg.start_soon(serve_one)

        run_anyio(net, backend, main)
        return net.trace.digest()

    assert one_run() == one_run()


# -- anyio: the kernel on loopback as the reference ------------------------------------------


async def _listener_lifecycle() -> list[Any]:
    """anyio's listener on 127.0.0.1: a client connected before the first
    accept, one still queued when the listener closes, one after."""
    seen: list[Any] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", backlog=8)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    seen.append(("address", listener.extra(anyio.abc.SocketAttribute.local_address)[0]))
    first = await anyio.connect_tcp("127.0.0.1", port)
    await first.send(b"early")
    accepted = await listener.listeners[0].accept()
    seen.append(("accepted", await accepted.receive()))
    peer = accepted.extra(anyio.abc.SocketAttribute.remote_address)
    seen.append(("peer", peer == first.extra(anyio.abc.SocketAttribute.local_address)))
    queued = await anyio.connect_tcp("127.0.0.1", port)
    await listener.aclose()
    try:
        seen.append(("queued", await queued.receive()))
    except anyio.BrokenResourceError as exc:
        seen.append(("queued", type(exc.__cause__).__name__))
    try:
        await anyio.connect_tcp("127.0.0.1", port)
    except OSError as exc:
        seen.append(("after close", type(exc.__cause__).__name__))
    for stream in (first, accepted, queued):
        await stream.aclose()
    return seen


@pytest.mark.parametrize("where", ["kernel", "sim"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_anyio_listener_lifecycle_as_on_the_kernel(backend: str, where: str) -> None:
    if where == "sim":
        seen = run_anyio(aiotcpsim.Network(seed=4), backend, _listener_lifecycle)
    else:

        async def bounded() -> list[Any]:
            with anyio.fail_after(5):
                return await _listener_lifecycle()

        seen = anyio.run(bounded, backend=backend)
    assert seen == [
        ("address", "127.0.0.1"),
        ("accepted", b"early"),
        ("peer", True),
        ("queued", "ConnectionResetError"),
        ("after close", "ConnectionRefusedError"),
    ]


# -- the socket object itself ---------------------------------------------------------------


def test_listen_without_bind_binds_an_ephemeral_port() -> None:
    net, server, client = _network()

    async def main() -> tuple[str, bool, bytes]:
        loop = asyncio.get_running_loop()
        with server.current(), socket.socket() as listening:
            listening.listen()
            ip, port = listening.getsockname()
            with client.current():
                _, writer = await asyncio.open_connection("server", port)
            conn, _ = await loop.sock_accept(listening)
            writer.write(b"hi")
            with conn:
                got = await loop.sock_recv(conn, 10)
            writer.close()
        return ip, port != 0, got

    with asyncio.Runner(loop_factory=loop_factory(net)) as runner:
        assert runner.run(main()) == ("0.0.0.0", True, b"hi")


def test_closing_a_socket_bound_before_the_simulation_closes_its_listener() -> None:
    """A socket bound on the kernel before the loop runs stands for a listener
    opened on its port when it is handed to the loop (not before: the
    simulation never saw its listen()); close() on it closes that listener."""
    net = aiotcpsim.Network(seed=3)
    listening = socket.socket()
    listening.setblocking(False)
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    port = listening.getsockname()[1]

    async def main() -> tuple[str, int | None]:
        loop = asyncio.get_running_loop()
        accepting = asyncio.create_task(loop.sock_accept(listening))
        await asyncio.sleep(0)  # handed to the loop: listening from here on
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        conn, _ = await accepting
        conn.close()
        writer.close()
        listening.close()
        try:
            await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            return type(exc).__name__, exc.errno
        return "connected", None

    with asyncio.Runner(loop_factory=loop_factory(net)) as runner:
        assert runner.run(main()) == ("ConnectionRefusedError", errno.ECONNREFUSED)


def test_a_socket_bound_in_a_simulation_binds_on_the_simulated_host() -> None:
    net, server, client = _network()

    async def main() -> list[Any]:
        seen: list[Any] = []
        with server.current(), socket.socket() as listening:
            listening.bind(("server", 0))  # a simulated name: the kernel knows no "server"
            port = listening.getsockname()[1]
            seen.append(listening.getsockname() == (server.ip, port))
            listening.listen(1)
            seen.append(listening.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
        seen.append(listening.fileno())
        with client.current():
            try:
                await asyncio.open_connection("server", port)
            except OSError as exc:
                seen.append(exc.errno)
        return seen

    with asyncio.Runner(loop_factory=loop_factory(net)) as runner:
        assert runner.run(main()) == [True, 1, -1, errno.ECONNREFUSED]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bound_socket_frees_its_port_when_closed(backend: str) -> None:
    # Linux: close(2) of a socket bound but not listening releases its port at
    # once (what anyio's free_tcp_port_factory counts on).
    async def main() -> tuple[str, int]:
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
        with socket.socket() as again:
            again.bind(("127.0.0.1", port))
            return again.getsockname()  # type: ignore[no-any-return]

    address = run_anyio(aiotcpsim.Network(), backend, main)
    assert address[0] == "127.0.0.1"


@pytest.mark.parametrize("backend", BACKENDS)
def test_options_set_before_bind_are_taken_over(backend: str) -> None:
    # anyio's create_tcp_listener sets SO_REUSEADDR, then binds: the simulated
    # socket keeps it, as the kernel socket would.
    async def main() -> tuple[int, int]:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            sock.bind(("127.0.0.1", 0))
            return (
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR),
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            )

    assert run_anyio(aiotcpsim.Network(), backend, main) == (1, 1)


@pytest.mark.parametrize("v6only", [0, 1])
def test_a_dual_stack_socket_carries_ipv4(v6only: int) -> None:
    """hypercorn's ``[::]:8000``, anyio's dual-stack wildcard: an AF_INET6 socket
    bound to ``::`` with IPV6_V6ONLY off accepts IPv4 connections, its peers
    IPv4-mapped as the kernel gives them; with IPV6_V6ONLY on it refuses IPv4."""
    net, server, client = _network()

    async def main() -> tuple[Any, Any]:
        loop = asyncio.get_running_loop()
        with server.current(), socket.socket(socket.AF_INET6) as listening:
            listening.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
            listening.bind(("::", 0))
            listening.listen()
            name = listening.getsockname()
            with client.current():
                try:
                    _, writer = await asyncio.open_connection("server", name[1])
                except OSError as exc:
                    return name, errno.errorcode[exc.errno or 0]
            conn, peer = await loop.sock_accept(listening)
            conn.close()
            writer.close()
        return name, peer[0]

    with asyncio.Runner(loop_factory=loop_factory(net)) as runner:
        name, outcome = runner.run(main())
    assert (name[0], name[2:]) == ("::", (0, 0))
    assert outcome == ("ECONNREFUSED" if v6only else f"::ffff:{client.ip}")


def test_a_socket_the_kernel_bound_before_the_simulation_listens_on_the_kernel() -> None:
    net = aiotcpsim.Network(seed=3)
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]

        async def main() -> tuple[str, int]:
            bound.listen()  # inside the simulation, but bound on the kernel before
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                conn, _ = bound.accept()
                conn.close()
                return c.getpeername()  # type: ignore[no-any-return]

        with asyncio.Runner(loop_factory=loop_factory(net)) as runner:
            assert runner.run(main()) == ("127.0.0.1", port)


def test_a_kernel_socket_outside_a_simulation_stays_a_kernel_socket() -> None:
    net, _, _ = _network()
    with asyncio.Runner(loop_factory=loop_factory(net)):
        pass  # a simulation came and went
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            conn, _ = sock.accept()
            conn.close()
            assert c.getpeername() == ("127.0.0.1", port)


def test_a_socket_bound_on_an_installed_loop_is_simulated() -> None:
    """Real-time mode: a stock loop routed by install() simulates them too, until
    uninstall."""
    from aiotcpsim.asyncio_loop import attach, install

    net = aiotcpsim.Network(seed=3)
    server = net.add_host("server")

    async def main() -> tuple[bytes, str]:
        loop = asyncio.get_running_loop()
        with attach(loop, net):
            uninstall = install(loop, net)
            try:
                with socket.socket() as listening:
                    listening.setblocking(False)
                    listening.bind(("localhost", 0))
                    listening.listen()
                    port = listening.getsockname()[1]
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    conn, _ = await loop.sock_accept(listening)
                    with conn:
                        await loop.sock_sendall(conn, b"over the simulation")
                        got = await reader.read(100)
                    writer.close()
            finally:
                uninstall()
        with socket.socket() as after, server.current():  # uninstalled: the kernel's again
            try:
                after.bind((server.ip, 0))  # the simulated host's address
            except OSError as exc:
                return got, errno.errorcode[exc.errno or 0]
            return got, "simulated"

    assert asyncio.run(main()) == (b"over the simulation", "EADDRNOTAVAIL")


def test_trio_from_stdlib_socket_is_simulated() -> None:
    net, server, client = _network()

    async def main() -> bytes:
        async with open_network(net):
            with server.current():
                raw = socket.socket()
                raw.bind(("server", 8000))
                raw.listen()
                listener = trio.SocketListener(trio.socket.from_stdlib_socket(raw))
            with client.current():
                stream = await trio.open_tcp_stream("server", 8000)
            accepted = await listener.accept()
            await stream.send_all(b"x")
            got = await accepted.receive_some()
            await accepted.aclose()
            await stream.aclose()
            await listener.aclose()
            assert raw.fileno() == -1  # closing the trio socket closed the one it wraps
            with client.current(), pytest.raises(OSError, match="all attempts") as info:
                await trio.open_tcp_stream("server", 8000)
            cause = info.value.__cause__
            assert isinstance(cause, ExceptionGroup)
            assert [type(e) for e in cause.exceptions] == [ConnectionRefusedError]
            return got

    assert trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)) == b"x"


# -- hypercorn ----------------------------------------------------------------------------------


async def _asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = f"hello {scope['path']}".encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_REQUEST = b"GET /world HTTP/1.1\r\nHost: server\r\nConnection: close\r\n\r\n"


def test_hypercorn_on_asyncio_serves_over_the_simulation() -> None:
    net, server, client = _network()

    async def main() -> bytes:
        config = Config()
        config.bind = ["server:8000"]
        config.accesslog = None
        stop = asyncio.Event()
        with server.current():
            serving = asyncio.create_task(
                hypercorn.asyncio.serve(_asgi_app, config, shutdown_trigger=stop.wait)
            )
        with client.current():
            for _ in range(100):  # until hypercorn listens
                try:
                    reader, writer = await asyncio.open_connection("server", 8000)
                    break
                except ConnectionRefusedError:
                    await asyncio.sleep(0.1)
            writer.write(_REQUEST)
            response = await reader.read()
            writer.close()
        stop.set()
        await serving
        return response

    with asyncio.Runner(loop_factory=loop_factory(net)) as runner:
        response = runner.run(main())
    assert response.startswith(b"HTTP/1.1 200")
    assert response.endswith(b"hello /world")


def test_hypercorn_on_trio_serves_over_the_simulation() -> None:
    net, server, client = _network()

    async def main() -> bytes:
        config = Config()
        config.bind = ["server:8000"]
        config.accesslog = None
        stop = trio.Event()
        async with open_network(net), trio.open_nursery() as nursery:
            with server.current():
                nursery.start_soon(
                    partial(hypercorn.trio.serve, _asgi_app, config, shutdown_trigger=stop.wait)
                )
            with client.current():
                for _ in range(100):  # until hypercorn listens
                    try:
                        stream = await trio.open_tcp_stream("server", 8000)
                        break
                    except OSError:
                        await trio.sleep(0.1)
                await stream.send_all(_REQUEST)
                response = b""
                while chunk := await stream.receive_some():
                    response += chunk
                await stream.aclose()
            stop.set()
        return response

    response = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert response.startswith(b"HTTP/1.1 200")
    assert response.endswith(b"hello /world")


def test_trio_listen_takes_the_port_at_once() -> None:
    # listen(2) is synchronous: right after it, a bind with SO_REUSEADDR on
    # both sockets still conflicts (Linux: a listening socket's port is never
    # shared), as trio's test_open_tcp_listeners_rebind checks.
    async def main() -> None:
        async with open_network(aiotcpsim.Network()):
            with trio.socket.socket() as listening:
                listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                await listening.bind(("127.0.0.1", 0))
                listening.listen()
                with socket.socket() as probe:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    with pytest.raises(OSError, match="Address already in use"):
                        probe.bind(listening.getsockname())

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_detached_socket_wrapped_again_is_the_same_simulated_socket(backend: str) -> None:
    # anyio's SocketListener.from_socket(fd) and SocketStream.from_socket(fd):
    # sock.detach() hands the descriptor over, socket.socket(fileno=fd) takes it.
    async def main() -> list[Any]:
        seen: list[Any] = []
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            address = sock.getsockname()
            fd = sock.detach()  # leaving `with`: closes nothing, as on a kernel
        stream = await anyio.connect_tcp(*address)
        await stream.aclose()
        with socket.socket(fileno=fd) as again:
            seen.append(again.getsockname() == address)
        try:
            await anyio.connect_tcp(*address)
        except OSError as exc:
            seen.append(type(exc.__cause__).__name__)
        return seen

    assert run_anyio(aiotcpsim.Network(), backend, main) == [True, "ConnectionRefusedError"]
