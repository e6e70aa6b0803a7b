"""The virtual-time event loop: clock, timers, real work, deadlocks, the network driver."""

from __future__ import annotations

import asyncio
import math
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from aiotcpsim import Connection, Network, State
from aiotcpsim.asyncio_loop import (
    DeadlockError,
    NetworkDriver,
    VirtualTimeLoop,
    attach,
    loop_factory,
    run,
)

T = TypeVar("T")


def run_on_runner(main: Callable[[], Coroutine[Any, Any, T]], **kwargs: Any) -> T:
    """Run through the stock ``asyncio.Runner`` with our loop factory."""
    with asyncio.Runner(loop_factory=loop_factory(**kwargs)) as runner:
        return runner.run(main())


# -- the clock ---------------------------------------------------------------------


def test_sleep_one_hour_is_instant() -> None:
    async def main() -> float:
        await asyncio.sleep(3600)
        return asyncio.get_running_loop().time()

    assert run(main()) == 3600.0


def test_runner_with_loop_factory() -> None:
    async def main() -> tuple[float, float, bool]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(2.5)
        return start, loop.time(), isinstance(loop, VirtualTimeLoop)

    assert run_on_runner(main) == (0.0, 2.5, True)


def test_time_starts_at_zero_for_each_run() -> None:
    async def main() -> float:
        t = asyncio.get_running_loop().time()
        await asyncio.sleep(10)
        return t

    assert run(main()) == 0.0
    assert run(main()) == 0.0


def test_loop_exposes_its_network() -> None:
    net = Network(seed=3)

    async def main() -> Network:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        return loop.network

    assert run(main(), network=net) is net
    assert isinstance(run(main(), seed=5), Network)


def test_debug_mode() -> None:
    async def main() -> tuple[bool, float]:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(30)
        return loop.get_debug(), loop.time()

    assert run(main(), debug=True) == (True, 30.0)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.run(loop_factory=) is 3.12+")
def test_asyncio_run_with_loop_factory() -> None:
    async def main() -> float:
        await asyncio.sleep(7)
        return asyncio.get_running_loop().time()

    assert asyncio.run(main(), loop_factory=loop_factory(seed=4)) == 7.0  # type: ignore[call-arg,unused-ignore]


def test_network_and_seed_are_exclusive() -> None:
    with pytest.raises(ValueError, match="either network= or seed="):
        VirtualTimeLoop(Network(), seed=1)
    with pytest.raises(TypeError, match="must be an aiotcpsim Network"):
        VirtualTimeLoop("net")  # type: ignore[arg-type]


def test_wait_for_times_out_in_virtual_time() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        never = loop.create_future()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(never, 5)
        return loop.time()

    assert run(main()) == 5.0


def test_timeout_context_manager_in_virtual_time() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(120):
                await asyncio.sleep(3600)
        return loop.time()

    assert run(main()) == 120.0


def test_call_later_order() -> None:
    fired: list[tuple[str, float]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def fire(name: str) -> None:
            fired.append((name, loop.time()))

        for name, delay in [("c", 3.0), ("a", 1.0), ("b", 2.0), ("late", 0.5)]:
            loop.call_later(delay, fire, name)
        loop.call_at(3.5, done.set_result, None)
        await done

    run(main())
    assert fired == [("late", 0.5), ("a", 1.0), ("b", 2.0), ("c", 3.0)]


def test_equal_deadlines_fire_in_scheduling_order() -> None:
    # asyncio's TimerHandle compares deadlines only and heapq does not keep
    # insertion order among equal keys; the loop breaks ties FIFO.
    order: list[int] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for i in range(50):
            loop.call_at(7.0, order.append, i)
            loop.call_later(1.0, lambda: None)  # interleave other deadlines
        await asyncio.sleep(8)

    run(main())
    assert order == list(range(50))


def test_sleeps_of_equal_length_wake_in_order() -> None:
    woke: list[int] = []

    async def sleeper(i: int) -> None:
        await asyncio.sleep(1)
        woke.append(i)

    async def main() -> None:
        await asyncio.gather(*(sleeper(i) for i in range(20)))

    run(main())
    assert woke == list(range(20))


def test_time_never_goes_backwards() -> None:
    seen: list[float] = []

    async def worker(rng: random.Random) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(30):
            seen.append(loop.time())
            await asyncio.sleep(rng.choice([0, 0, 0.001, 0.5, 1e-9, 3]))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        rng = random.Random(1)
        for _ in range(20):
            loop.call_later(rng.random() * 10, lambda: seen.append(loop.time()))
        await asyncio.gather(*(worker(random.Random(i)) for i in range(5)))

    run(main())
    assert len(seen) > 150
    assert seen == sorted(seen)


def test_far_future_timer_still_fires() -> None:
    # Beyond ~1e7 s, now + 1 ns == now in floating point.
    async def main() -> float:
        await asyncio.sleep(1e12)
        await asyncio.sleep(1e12)
        return asyncio.get_running_loop().time()

    assert run(main()) == 2e12


# -- real work keeps working ---------------------------------------------------------


def test_run_in_executor_holds_the_clock() -> None:
    def blocking() -> str:
        time.sleep(0.01)  # real work in a thread
        return "done"

    async def main() -> tuple[str, bool, float]:
        loop = asyncio.get_running_loop()
        sleeper = asyncio.create_task(asyncio.sleep(10))
        result = await loop.run_in_executor(None, blocking)
        sleeper_done = sleeper.done()
        now = loop.time()
        await sleeper
        return result, sleeper_done, now

    result, sleeper_done, now = run(main())
    assert result == "done"
    assert not sleeper_done  # the clock did not jump to 10 while the job ran
    assert now < 10


def test_to_thread_and_deadlock_free_executor_wait() -> None:
    # No timer at all while the job runs: the loop waits for it, no DeadlockError.
    async def main() -> int:
        return await asyncio.to_thread(sum, range(1000))

    assert run(main()) == 499500


def test_call_soon_threadsafe_from_a_thread() -> None:
    async def main() -> tuple[int, bool]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        sleeper = asyncio.create_task(asyncio.sleep(30))
        thread = threading.Thread(target=lambda: loop.call_soon_threadsafe(fut.set_result, 42))
        thread.start()
        value = await fut
        thread.join()
        sleeper.cancel()
        return value, sleeper.done() and not sleeper.cancelled()

    assert run(main()) == (42, False)


def test_daemon_thread_wakes_loop_without_timers() -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()
        go = threading.Event()

        def later() -> None:
            go.wait()
            loop.call_soon_threadsafe(fut.set_result, "woken")

        threading.Thread(target=later, daemon=True).start()
        loop.call_soon(go.set)
        return await fut

    assert run(main()) == "woken"


def test_subprocess_with_pipes() -> None:
    async def main() -> tuple[bytes, int | None]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "print(1)", stdout=subprocess.PIPE
        )
        out, _ = await proc.communicate()
        return out, proc.returncode

    out, code = run(main())
    assert out.strip() == b"1"
    assert code == 0


def test_subprocess_wait_without_pipes() -> None:
    # Nothing registered on the selector (3.11 watches children from a thread):
    # the loop must wait for the child, not declare a deadlock.
    async def main() -> int:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
        return await proc.wait()

    assert run(main()) == 0


def test_real_socket_io_on_loopback() -> None:
    # Bound before the loop runs: a kernel socket (one bound inside the
    # simulation would be simulated, see aiotcpsim._library_sockets).
    listener = socket.create_server(("127.0.0.1", 0))

    async def main() -> tuple[bytes, float, bytes]:
        loop = asyncio.get_running_loop()
        with listener:
            client = socket.create_connection(listener.getsockname(), timeout=5)
            server, _ = listener.accept()
            with client, server:
                client.setblocking(False)
                server.setblocking(False)

                async def send_later() -> None:
                    await asyncio.sleep(1)  # virtual: the pending read does not stop a jump
                    await loop.sock_sendall(client, b"hello")

                sender = asyncio.create_task(send_later())
                data = await loop.sock_recv(server, 100)
                when = loop.time()
                await sender
                await loop.sock_sendall(server, data.upper())
                echo = await loop.sock_recv(client, 100)
        return data, when, echo

    assert run(main()) == (b"hello", 1.0, b"HELLO")


def test_ready_fd_is_dispatched_once_per_readiness() -> None:
    # A level-triggered fd seen ready while the loop is idle must reach its
    # callback once, not once per selector poll.
    calls: list[bytes | None] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            done: asyncio.Future[None] = loop.create_future()

            def on_readable() -> None:
                try:
                    calls.append(a.recv(1))
                except BlockingIOError:
                    calls.append(None)  # a spurious wake-up
                if not done.done():
                    loop.call_later(1, done.set_result, None)

            loop.add_reader(a, on_readable)
            sleeper = asyncio.create_task(asyncio.sleep(10))
            await asyncio.sleep(0)
            b.send(b"x")
            await done
            loop.remove_reader(a)
            sleeper.cancel()

    run(main())
    assert calls == [b"x"]


# -- deadlock detection --------------------------------------------------------------


def test_deadlock_names_the_stuck_task() -> None:
    async def wait_forever(fut: asyncio.Future[None]) -> None:
        await fut

    async def main() -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await asyncio.create_task(wait_forever(fut), name="stuck-waiter")

    with pytest.raises(DeadlockError, match=r"every task waits and nothing can ever wake") as info:
        run(main())
    message = str(info.value)
    assert "Task 'stuck-waiter': test_deadlock_names_the_stuck_task.<locals>.wait_forever()" in (
        message
    )
    assert "awaiting <Future pending" in message
    assert "test_loop.py:" in message
    assert {t.get_name() for t in info.value.tasks} >= {"stuck-waiter"}


def test_deadlock_on_event_shows_the_await_chain() -> None:
    async def main() -> None:
        await asyncio.Event().wait()

    with pytest.raises(DeadlockError, match=r"main\(\) at .*test_loop.py:\d+ -> Event.wait\(\)"):
        run(main())


def test_deadlock_after_virtual_time_passed() -> None:
    async def main() -> None:
        await asyncio.sleep(5)
        await asyncio.get_running_loop().create_future()

    with pytest.raises(DeadlockError, match=r"at virtual time 5\.000000s"):
        run(main())


def test_sleep_forever_is_a_deadlock() -> None:
    async def main() -> None:
        await asyncio.sleep(math.inf)

    with pytest.raises(DeadlockError):
        run(main())


def test_no_deadlock_while_a_timer_is_pending() -> None:
    async def main() -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()
        loop.call_later(100, fut.set_result, "resolved")
        return await fut, loop.time()

    assert run(main()) == ("resolved", 100.0)


def test_no_deadlock_while_a_real_fd_is_registered() -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            b.setblocking(False)
            fut: asyncio.Future[bytes] = loop.create_future()
            loop.add_reader(a, lambda: fut.set_result(a.recv(10)))
            # The write comes from a thread started before the loop waits.
            threading.Thread(target=b.send, args=(b"x",), daemon=True).start()
            try:
                return await fut
            finally:
                loop.remove_reader(a)

    assert run(main()) == b"x"


def test_loop_usable_after_deadlock_error() -> None:
    loop = VirtualTimeLoop()
    try:
        with pytest.raises(DeadlockError):
            loop.run_until_complete(loop.create_future())
        assert loop.run_until_complete(asyncio.sleep(2, "ok")) == "ok"
        assert loop.time() == 2.0
    finally:
        loop.close()


# -- the network moves with the loop ---------------------------------------------------


def test_network_advances_with_the_loop() -> None:
    net = Network(seed=1)
    fired: list[tuple[float, float]] = []

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        net.call_later(5, lambda: fired.append((net.now, loop.time())))
        await asyncio.sleep(10)
        return net.now, loop.time()

    assert run(main(), network=net) == (10.0, 10.0)
    assert fired == [(5.0, 5.0)]


def test_network_clock_follows_the_loop_between_events() -> None:
    # A network call made at loop time 3 counts from 3, not from the network's
    # last event.
    net = Network(seed=1)
    fired: list[float] = []

    async def main() -> None:
        await asyncio.sleep(3)
        net.call_later(5, lambda: fired.append(net.now))
        await asyncio.sleep(10)

    run(main(), network=net)
    assert fired == [8.0]


def test_network_reused_by_a_second_run_continues_its_clock() -> None:
    net = Network(seed=1)

    async def main() -> float:
        start = asyncio.get_running_loop().time()
        await asyncio.sleep(4)
        return start

    assert run(main(), network=net) == 0.0
    assert run(main(), network=net) == 4.0
    assert net.now == 8.0


def test_network_events_alone_do_not_deadlock() -> None:
    net = Network(seed=1)

    async def main() -> float:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[float] = loop.create_future()
        net.call_later(42, lambda: fut.set_result(net.now))
        return await fut

    assert run(main(), network=net) == 42.0


def test_one_network_one_loop() -> None:
    net = Network()
    loop = VirtualTimeLoop(net)
    try:
        with pytest.raises(RuntimeError, match="already driven by"):
            VirtualTimeLoop(net)
    finally:
        loop.close()
    VirtualTimeLoop(net).close()  # free again after close


def test_real_time_mode_on_a_stock_loop() -> None:
    net = Network(seed=2)
    fired: list[float] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        with attach(loop, net) as driver:
            assert isinstance(driver, NetworkDriver)
            net.call_later(0.001, lambda: fired.append(net.now))
            net.call_later(0.002, lambda: done.set_result(None))
            await done
        assert not driver.attached

    asyncio.run(main())  # a plain asyncio loop: real (short) waits
    assert len(fired) == 1
    assert fired[0] >= 0.001


# -- a core TCP connection driven by the loop ---------------------------------------------


class _HandshakeUser:
    """A bare ConnectionUser: resolves a future with the loop time at tcp_connected."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.connected: asyncio.Future[float] = loop.create_future()

    def tcp_connected(self, conn: Connection) -> None:
        if not self.connected.done():
            self.connected.set_result(self.loop.time())

    def tcp_readable(self, conn: Connection) -> None:
        pass

    def tcp_writable(self, conn: Connection) -> None:
        pass

    def tcp_closed(self, conn: Connection) -> None:
        pass


def test_core_handshake_completes_in_virtual_time() -> None:
    net = Network(seed=1, delay=0.05)
    server = net.add_host("server")
    client = net.add_host("client")

    async def main() -> tuple[float, State, State, float]:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(2)
        listener = server.listen(80)
        user = _HandshakeUser(loop)
        conn = client.connect("server", 80, user=user)
        connected_at = await user.connected
        await asyncio.sleep(1)  # the final ACK reaches the server
        child = listener.accept()
        assert child is not None
        return connected_at, conn.state, child.state, net.now

    connected_at, client_state, server_state, now = run(main(), network=net)
    assert connected_at == pytest.approx(2.1, abs=1e-9)  # SYN + SYN-ACK, 50 ms each
    assert (client_state, server_state) == (State.ESTABLISHED, State.ESTABLISHED)
    assert now == pytest.approx(3.1, abs=1e-9)


def test_lost_syn_is_retransmitted_on_the_virtual_clock() -> None:
    net = Network(seed=1, delay=0.05)
    server = net.add_host("server")
    client = net.add_host("client")
    link = net.link(client, server).update(loss=1.0)

    def heal() -> None:
        link.update(loss=0.0)

    net.call_at(0.5, heal)

    async def main() -> float:
        server.listen(80)
        user = _HandshakeUser(asyncio.get_running_loop())
        client.connect("server", 80, user=user)
        return await user.connected

    # The first SYN is lost; the retransmission leaves at the initial RTO (1 s).
    assert run(main(), network=net) == pytest.approx(1.1, abs=1e-9)
    assert net.statistics()["retransmissions"] == 1


def test_same_seed_same_run() -> None:
    def once() -> tuple[list[str], dict[str, int]]:
        net = Network(seed=11, delay=0.01, jitter=0.005, loss=0.3)
        server = net.add_host("server")
        client = net.add_host("client")

        async def main() -> list[str]:
            server.listen(80)
            users = [_HandshakeUser(asyncio.get_running_loop()) for _ in range(5)]
            for user in users:
                client.connect("server", 80, user=user)
            times = await asyncio.gather(*(u.connected for u in users))
            return [repr(t) for t in times]

        return run(main(), network=net), net.statistics()

    assert once() == once()
