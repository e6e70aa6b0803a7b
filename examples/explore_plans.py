"""Finding the fault: three planted bugs that a fault-plan search finds by itself.

Each bug is a small asyncio client/server pair, run on virtual time between a
host ``client`` and a host ``server`` 10 ms apart, with a check that raises
AssertionError when the bug shows.  Nobody tells the search which fault to
inject: hypothesis draws fault plans (:func:`aiotcpsim.strategies.fault_plans`),
finds one under which the check fails, and shrinks it to a minimal plan.

1. ``hang``: a client reads the reply until EOF with no read timeout; when
   the server's FIN never arrives (lost every time, or the server goes
   silent), it waits forever -- here: longer than 30 s of virtual time.
   Fixed: a read timeout.
2. ``double_charge``: a client retries its request when the connection is
   reset; when the reset comes after the server has acted on the request,
   the retry charges the account twice.  Fixed: retry only a request that
   was never sent.
3. ``one_read_one_message``: a server takes each ``read()`` for one message;
   when a segment is lost or delayed, the retransmission delivers several
   messages in one read.  Fixed: read lines.

Run: ``python examples/explore_plans.py`` (prints each minimal plan and its ladder).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from hypothesis import HealthCheck, find, settings
from hypothesis.strategies import SearchStrategy

from aiotcpsim import Network
from aiotcpsim.plans import FaultPlan
from aiotcpsim.strategies import fault_plans, run_plan

HOSTS = ("client", "server")
PORT = 7000

Check = Callable[[FaultPlan, bool], None]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def network() -> Network:
    """The network of every run: two hosts, 10 ms apart each way."""
    net = Network(seed=1, delay=0.01)
    for name in HOSTS:
        net.add_host(name)
    return net


class Server:
    """A server on host ``server``; :meth:`stop` closes it and waits for its
    handlers (each bounded by its own timeouts), so none is cancelled mid-way."""

    def __init__(self, net: Network, handle: Handler) -> None:
        self.net = net
        self.handle = handle
        self.handlers: list[asyncio.Task[None]] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> Server:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.handlers.append(asyncio.ensure_future(self.handle(reader, writer)))

        with self.net.host("server").current():
            self.server = await asyncio.start_server(handler, port=PORT)
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        await asyncio.gather(*self.handlers)


# -- 1. no read timeout: a lost FIN hangs the client -------------------------------------


async def _reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await asyncio.wait_for(reader.readline(), timeout=10.0)
        writer.write(b"200 OK\n")
        writer.write(b"the body, as long as the connection\n")
    except OSError:
        pass
    writer.close()  # the body ends with the server's FIN


async def _fetch(net: Network, fixed: bool) -> bytes:
    server = await Server(net, _reply).start()

    async def client() -> bytes:
        with net.host("client").current():
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("server", PORT), timeout=5.0
            )
        try:
            writer.write(b"GET\n")
            status = await asyncio.wait_for(reader.readline(), timeout=5.0)
            if fixed:
                return status + await asyncio.wait_for(reader.read(), timeout=5.0)
            return status + await reader.read()  # the bug: no timeout until EOF
        finally:
            writer.close()

    try:
        async with asyncio.timeout(30.0) as patience:
            return await client()
    except OSError as exc:  # a clean, timely error (TimeoutError included) is fine
        if patience.expired():
            raise AssertionError("the client hung for 30 s") from None
        return repr(exc).encode()
    finally:
        await server.stop()


def hang(plan: FaultPlan, fixed: bool = False) -> None:
    """Fails when the client is still waiting after 30 s of virtual time."""
    net = network()
    run_plan(plan, _fetch(net, fixed), network=net)


# -- 2. a retry after a reset repeats a non-idempotent request ---------------------------


async def _charge(net: Network, fixed: bool) -> list[str]:
    ledger: list[str] = []

    async def book(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=10.0)
            if line.endswith(b"\n"):
                ledger.append(line.decode().strip())  # the charge is booked
                writer.write(b"ok\n")
        except OSError:
            pass
        writer.close()

    server = await Server(net, book).start()

    async def attempt() -> bytes:
        with net.host("client").current():
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("server", PORT), timeout=5.0
            )
        try:
            writer.write(b"charge 10 EUR\n")
            writer.write_eof()  # the request is complete
            return await asyncio.wait_for(reader.readline(), timeout=5.0)
        finally:
            writer.close()

    for _ in range(3):
        try:
            await attempt()
            break
        except ConnectionResetError:
            if fixed:
                break  # the request may have been acted upon: do not repeat it
        except OSError:
            break
    await server.stop()
    assert len(ledger) <= 1, f"charged {len(ledger)} times: {ledger}"
    return ledger


def double_charge(plan: FaultPlan, fixed: bool = False) -> None:
    """Fails when the server booked the charge more than once."""
    net = network()
    run_plan(plan, _charge(net, fixed), network=net)


# -- 3. one read() taken for one message ------------------------------------------------

MESSAGES = [b"hello\n", b"world\n", b"bye\n"]


async def _messages(net: Network, fixed: bool) -> list[bytes]:
    got: list[bytes] = []

    async def receive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                read = reader.readline() if fixed else reader.read(4096)
                chunk = await asyncio.wait_for(read, timeout=10.0)
                if not chunk:
                    break
                got.append(chunk)  # the bug: one read() is not one message
        except OSError:
            pass
        writer.close()

    server = await Server(net, receive).start()
    try:
        with net.host("client").current():
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("server", PORT), timeout=5.0
            )
        try:
            for message in MESSAGES:  # one message every 50 ms
                writer.write(message)
                await asyncio.sleep(0.05)
            writer.write_eof()
            await asyncio.wait_for(reader.read(), timeout=10.0)
        finally:
            writer.close()
    except OSError:  # a reset or a timeout cuts the exchange short
        pass
    await server.stop()
    # What arrived must be whole messages, in order (a fault may cut it short).
    assert got == MESSAGES[: len(got)], f"the server read {got}"
    return got


def one_read_one_message(plan: FaultPlan, fixed: bool = False) -> None:
    """Fails when the server's reads are not the messages the client sent."""
    net = network()
    run_plan(plan, _messages(net, fixed), network=net)


# -- the search -------------------------------------------------------------------------


def fails(check: Check, plan: FaultPlan, fixed: bool = False) -> bool:
    """True when ``check`` finds the bug under ``plan``."""
    try:
        check(plan, fixed)
    except AssertionError:
        return True
    return False


class Bug(NamedTuple):
    check: Check
    plans: SearchStrategy[FaultPlan]
    budget: int
    """Plans the search may try (hypothesis's ``max_examples``), shrinking aside."""


BUGS: dict[str, Bug] = {
    # What if segments are lost, however many times?  (An outage of the
    # default strategy heals within 5 s and TCP's retransmissions then deliver
    # the FIN: a hang needs a loss that lasts.)
    "hang": Bug(hang, fault_plans(HOSTS, kinds=("drop",)), 300),
    "double_charge": Bug(double_charge, fault_plans(HOSTS), 300),
    "one_read_one_message": Bug(one_read_one_message, fault_plans(HOSTS), 200),
}


def search(name: str) -> FaultPlan:
    """The minimal plan under which bug ``name`` shows, searched within its
    budget, the same plans every run (``derandomize``)."""
    bug = BUGS[name]
    budget = settings(
        max_examples=bug.budget,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    return find(bug.plans, lambda plan: fails(bug.check, plan), settings=budget)


def main() -> None:
    for name, bug in BUGS.items():
        plan = search(name)
        try:
            bug.check(plan, False)
        except AssertionError as exc:  # the report rides on the exception's notes
            print(f"== {name}: {exc} ==")
            print("\n".join(getattr(exc, "__notes__", [])))
        print(f"fixed: {'fails' if fails(bug.check, plan, True) else 'passes'}\n")


if __name__ == "__main__":
    main()
