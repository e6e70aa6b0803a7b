"""trio's own networking (open_tcp_stream, serve_tcp, SocketStream) over the
simulated network, on trio's MockClock as virtual time; the kernel on
127.0.0.1 as the reference where the two are compared."""

from __future__ import annotations

import errno
import hashlib
import socket
import struct
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing

import aiotcpsim
from aiotcpsim.trio_net import SimSocket, open_network

PORT = 8080


def run_virtual(main: Callable[[], Awaitable[Any]]) -> Any:
    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def _network(**kwargs: Any) -> tuple[aiotcpsim.Network, aiotcpsim.Host, aiotcpsim.Host]:
    net = aiotcpsim.Network(**kwargs)
    return net, net.add_host("server"), net.add_host("client")


async def _echo(stream: trio.SocketStream) -> None:
    async for chunk in stream:
        await stream.send_all(chunk)
    await stream.send_eof()


def _cause_chain(exc: BaseException) -> list[BaseException]:
    """The exceptions an OSError from open_tcp_stream wraps (its ExceptionGroup's)."""
    cause = exc.__cause__
    if isinstance(cause, BaseExceptionGroup):
        return list(cause.exceptions)
    return [cause] if cause is not None else []


# -- echo -------------------------------------------------------------------------------


def test_echo_over_serve_tcp_and_open_tcp_stream() -> None:
    net, server, client = _network(seed=1)

    async def main() -> None:
        async with open_network(net), trio.open_nursery() as nursery:
            with server.current():
                listeners = await nursery.start(trio.serve_tcp, _echo, PORT)
            # As trio on Linux: 0.0.0.0 and :: (IPV6_V6ONLY), one listener each.
            names = [listener.socket.getsockname() for listener in listeners]
            assert names == [("0.0.0.0", PORT), ("::", PORT, 0, 0)]
            assert listeners[1].socket.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
            with client.current():
                stream = await trio.open_tcp_stream("server", PORT)
            assert isinstance(stream.socket, SimSocket)
            assert stream.socket.getpeername() == (server.ip, PORT)
            assert stream.socket.getsockname()[0] == client.ip
            assert stream.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            for message in (b"hello", b"world" * 1000):
                await stream.send_all(message)
                received = b""
                while len(received) < len(message):
                    received += await stream.receive_some()
                assert received == message
            await stream.send_eof()
            assert await stream.receive_some() == b""
            await stream.aclose()
            nursery.cancel_scope.cancel()

    run_virtual(main)
    assert [s for _, h, s in net.trace.states("client")][-1] is aiotcpsim.State.TIME_WAIT


def test_unknown_host_name_is_a_gaierror() -> None:
    net, _, client = _network(seed=1)

    async def main() -> None:
        async with open_network(net):
            with client.current(), pytest.raises(socket.gaierror) as info:
                await trio.open_tcp_stream("nowhere", PORT)
            assert info.value.errno == socket.EAI_NONAME

    run_virtual(main)


# -- half-close ---------------------------------------------------------------------------


def test_half_close_then_long_reply() -> None:
    """The client sends its request and EOF; the server reads to EOF and only
    then sends a reply much larger than the windows and buffers."""
    net, server, client = _network(seed=2, delay=0.005)
    reply = bytes(range(256)) * 2000  # 512 kB
    seen: dict[str, Any] = {}

    async def handler(stream: trio.SocketStream) -> None:
        request = b""
        while chunk := await stream.receive_some():
            request += chunk
        seen["request"] = request
        await stream.send_all(reply)
        await stream.aclose()

    async def main() -> None:
        async with open_network(net), trio.open_nursery() as nursery:
            with server.current():
                await nursery.start(trio.serve_tcp, handler, PORT)
            with client.current():
                stream = await trio.open_tcp_stream("server", PORT)
            await stream.send_all(b"GET everything")
            await stream.send_eof()
            with pytest.raises(trio.ClosedResourceError, match="after sending EOF"):
                await stream.send_all(b"more")
            received = bytearray()
            while chunk := await stream.receive_some(10000):
                received += chunk
            seen["reply"] = bytes(received)
            seen["time"] = trio.current_time()
            await stream.aclose()
            nursery.cancel_scope.cancel()

    run_virtual(main)
    assert seen["request"] == b"GET everything"
    assert seen["reply"] == reply
    assert seen["time"] > 0.01  # several round trips of 10 ms on virtual time


# -- failures -------------------------------------------------------------------------------


def test_connection_refused() -> None:
    net, _, client = _network(seed=3)

    async def main() -> None:
        async with open_network(net):
            with client.current(), pytest.raises(OSError, match="all attempts") as info:
                await trio.open_tcp_stream("server", PORT)
            (cause,) = _cause_chain(info.value)
            assert isinstance(cause, ConnectionRefusedError)
            assert cause.errno == errno.ECONNREFUSED
            assert trio.current_time() == 0.0

    run_virtual(main)


def test_syn_timeout_after_131_seconds_of_virtual_time() -> None:
    net, server, client = _network(seed=4)
    net.link(client, server).update(loss=1.0)  # every SYN is lost

    async def main() -> float:
        async with open_network(net):
            with client.current(), pytest.raises(OSError, match="all attempts") as info:
                await trio.open_tcp_stream("server", PORT)
            (cause,) = _cause_chain(info.value)
            assert isinstance(cause, TimeoutError)
            assert cause.errno == errno.ETIMEDOUT
            return trio.current_time()

    assert run_virtual(main) == pytest.approx(131.0)
    syns = [s for s in net.trace.segments() if s.flags & aiotcpsim.Flags.SYN]
    assert len(syns) == 11  # the first SYN and 10 retransmissions


def test_cancelled_connect_closes_the_socket() -> None:
    net, server, client = _network(seed=5)
    net.link(client, server).update(loss=1.0)

    async def main() -> None:
        async with open_network(net):
            with client.current(), trio.move_on_after(2.5) as scope:
                await trio.open_tcp_stream("server", PORT)
            assert scope.cancelled_caught
            assert trio.current_time() == pytest.approx(2.5)
            await trio.sleep(200)  # nothing is left retransmitting
        assert net.next_deadline() is None

    run_virtual(main)


# -- reset mid-stream: simulated and kernel ---------------------------------------------------


Connect = Callable[[int], Awaitable[trio.SocketStream]]


async def _reset_scenario(port: int, connect: Connect, nursery: trio.Nursery) -> dict[str, Any]:
    """The server answers, then aborts (SO_LINGER {1, 0}: close() sends a RST)."""

    async def handler(stream: trio.SocketStream) -> None:
        assert await stream.receive_some() == b"ping"
        await stream.send_all(b"pong")
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()

    listeners = await nursery.start(trio.serve_tcp, handler, port)
    stream = await connect(listeners[0].socket.getsockname()[1])
    await stream.send_all(b"ping")
    received = b""
    while True:
        try:
            chunk = await stream.receive_some()
        except trio.BrokenResourceError as exc:
            recv_error = exc
            break
        assert chunk, "a reset is not an end of stream"
        received += chunk
    with pytest.raises(trio.BrokenResourceError) as send_info:
        await stream.send_all(b"again")
    await stream.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await stream.receive_some()
    recv_cause, send_cause = recv_error.__cause__, send_info.value.__cause__
    assert isinstance(recv_cause, OSError)
    assert isinstance(send_cause, OSError)
    return {
        "received": received,
        "recv_error": (type(recv_cause), recv_cause.errno),
        "send_error": (type(send_cause), send_cause.errno),
    }


RESET_EXPECTED = {
    "received": b"pong",
    "recv_error": (ConnectionResetError, errno.ECONNRESET),
    "send_error": (BrokenPipeError, errno.EPIPE),
}


def test_reset_mid_stream_simulated() -> None:
    net, server, client = _network(seed=6, delay=0.001)

    async def connect(port: int) -> trio.SocketStream:
        with client.current():
            return await trio.open_tcp_stream("server", port)

    async def main() -> dict[str, Any]:
        async with open_network(net), trio.open_nursery() as nursery:
            with server.current():
                result = await _reset_scenario(PORT, connect, nursery)
            nursery.cancel_scope.cancel()
            return result

    assert run_virtual(main) == RESET_EXPECTED
    assert any(s.flags & aiotcpsim.Flags.RST for s in net.trace.segments())


def test_reset_mid_stream_kernel_reference() -> None:
    """The same scenario on kernel sockets over 127.0.0.1: what the simulation
    must match."""

    async def connect(port: int) -> trio.SocketStream:
        return await trio.open_tcp_stream("127.0.0.1", port)

    async def main() -> dict[str, Any]:
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:
                result = await _reset_scenario(0, connect, nursery)
                nursery.cancel_scope.cancel()
                return result

    assert trio.run(main) == RESET_EXPECTED


# -- loss and determinism ---------------------------------------------------------------------

PAYLOAD = hashlib.sha256(b"aiotcpsim").digest() * 6250  # 200 kB


def _lossy_transfer(seed: int, clients: int = 1) -> tuple[str, list[bytes], float]:
    """``clients`` concurrent clients each send PAYLOAD through an echo server
    on Network(loss=0.1, delay=0.01); returns the trace digest, what each got
    back, and the virtual time it took."""
    net, server, _ = _network(seed=seed, loss=0.1, delay=0.01)
    hosts = [net.add_host(f"client{i}") for i in range(clients)]
    echoed: list[bytes] = [b""] * clients

    async def one_client(i: int) -> None:
        with hosts[i].current():
            stream = await trio.open_tcp_stream("server", PORT)

        async def sender() -> None:
            await stream.send_all(PAYLOAD)
            await stream.send_eof()

        received = bytearray()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            while chunk := await stream.receive_some():
                received += chunk
        echoed[i] = bytes(received)
        await stream.aclose()

    async def main() -> float:
        async with open_network(net), trio.open_nursery() as nursery:
            with server.current():
                await nursery.start(trio.serve_tcp, _echo, PORT)
            async with trio.open_nursery() as clients_nursery:
                for i in range(clients):
                    clients_nursery.start_soon(one_client, i)
            elapsed = trio.current_time()
            await trio.sleep(120)  # let every connection finish (TIME-WAIT included)
            nursery.cancel_scope.cancel()
            return elapsed

    elapsed = run_virtual(main)
    assert net.statistics()["segments_dropped"] > 0
    return net.trace.digest(), echoed, elapsed


def test_lossy_network_transfers_200_kb_intact() -> None:
    _, echoed, elapsed = _lossy_transfer(seed=7)
    assert echoed == [PAYLOAD]
    assert 0.1 < elapsed < 600


def test_same_seed_same_trace() -> None:
    """Two clients at once, so that trio's random order of ready tasks would
    show if it leaked into the network."""
    first = _lossy_transfer(seed=11, clients=2)
    assert first[1] == [PAYLOAD, PAYLOAD]
    for _ in range(3):
        assert _lossy_transfer(seed=11, clients=2) == first
    assert _lossy_transfer(seed=12, clients=2)[0] != first[0]


# -- trio's own stream conformance suite ------------------------------------------------------


@pytest.mark.parametrize(
    "impairments",
    [{}, {"loss": 0.1, "delay": 0.01}, {"duplicate": 0.1, "reorder": 0.2, "delay": 0.01}],
    ids=["clean", "lossy", "duplicating-reordering"],
)
def test_trio_check_half_closeable_stream(impairments: dict[str, float]) -> None:
    net = aiotcpsim.Network(seed=9, **impairments)

    async def stream_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
        (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
        client = await trio.open_tcp_stream("127.0.0.1", listener.socket.getsockname()[1])
        server = await listener.accept()
        await listener.aclose()
        return client, server

    async def main() -> None:
        async with open_network(net):
            await trio.testing.check_half_closeable_stream(stream_pair, None)

    run_virtual(main)


# -- real time -----------------------------------------------------------------------------------


def test_real_time_echo_on_trios_own_clock() -> None:
    """Without MockClock the network runs on trio's clock in real time."""
    net, server, client = _network(seed=10, delay=0.002)

    async def main() -> bytes:
        with trio.fail_after(5):
            async with open_network(net) as driver, trio.open_nursery() as nursery:
                assert driver.offset == pytest.approx(trio.current_time())
                with server.current():
                    await nursery.start(trio.serve_tcp, _echo, PORT)
                with client.current():
                    stream = await trio.open_tcp_stream("server", PORT)
                await stream.send_all(b"x" * 100_000)
                await stream.send_eof()
                received = bytearray()
                while chunk := await stream.receive_some():
                    received += chunk
                await stream.aclose()
                nursery.cancel_scope.cancel()
                return bytes(received)

    assert trio.run(main) == b"x" * 100_000
    assert net.now > 0.004  # at least the handshake's round trip, in real seconds


def test_bind_127_0_0_2_then_connect_keeps_the_address() -> None:
    # The whole of 127.0.0.0/8 is loopback; a bound source address is kept (Linux).
    net = aiotcpsim.Network(seed=1)

    async def main() -> None:
        async with open_network(net):
            listener = trio.socket.socket()
            await listener.bind(("0.0.0.0", PORT))
            listener.listen()
            client = trio.socket.socket()
            await client.bind(("127.0.0.2", 0))
            await client.connect(("127.0.0.5", PORT))
            accepted, peer = await listener.accept()
            assert client.getsockname()[0] == "127.0.0.2"
            assert client.getpeername() == ("127.0.0.5", PORT)
            assert peer == client.getsockname()
            assert accepted.getsockname() == ("127.0.0.5", PORT)
            for s in (accepted, client, listener):
                s.close()

    run_virtual(main)


def test_serve_tcp_on_localhost_is_unreachable_from_other_hosts() -> None:
    net, server, client = _network(seed=3)

    async def main() -> None:
        async with open_network(net), trio.open_nursery() as nursery:
            with server.current():
                await nursery.start(partial(trio.serve_tcp, _echo, PORT, host="127.0.0.1"))
            with client.current(), pytest.raises(OSError, match="all attempts"):
                await trio.open_tcp_stream("server", PORT)
            nursery.cancel_scope.cancel()

    run_virtual(main)
