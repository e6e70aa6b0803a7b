"""Drive a :class:`~aiotcpsim.Network` from an asyncio event loop.

Rule owned here: the network clock moves in one place,
:meth:`NetworkDriver._advance`, and network time is read from the loop's
clock by one formula, :meth:`NetworkDriver.network_time`.  Everything else in
the asyncio adapter asks the driver: a transport or socket that is about to
send or read calls :meth:`NetworkDriver.present` (through the clock
:func:`clock_for` gives it); the virtual-time loop calls :meth:`NetworkDriver.sync`
when its clock moves and :meth:`NetworkDriver.poll` once per iteration.

The network is sans-I/O: it says when it next needs to run
(``next_deadline()``) and runs everything due when told the time
(``advance(now)``).  The driver translates that into exactly one loop timer:

- it keeps one ``TimerHandle`` at ``next_deadline()``;
- when the handle fires it advances the network to now and re-arms;
- the network calls the driver back (``set_wakeup``) when a call made outside
  ``advance`` -- an application ``send()``, a test's ``net.call_later`` --
  moved the deadline earlier, and the driver re-arms.

On the virtual-time loop the driver is *polled*: instead of a ``call_soon``
for a deadline already due, it raises a flag (:attr:`NetworkDriver.due`)
that the loop's selector checks at the top of every iteration, where a
kernel socket's readiness would be collected, and calls
:meth:`NetworkDriver.poll`.  Segments sent during one iteration then reach
their peer before the next iteration's callbacks run, and the callbacks they
trigger (a transport's read) run in that same iteration, as they would after
an ``epoll`` that reported the peer readable -- one loop iteration per hop
instead of two.

The same driver serves both clocks.  Network time is ``loop.time() - offset``,
with ``offset`` fixed when the driver attaches: on the virtual-time loop the
loop's clock starts at the network's time, so the offset is 0 and the two
clocks are one; on any other loop (real-time mode, uvloop included) the
network runs on the loop's own monotonic clock from the moment of
:func:`attach`.
"""

from __future__ import annotations

import asyncio
import weakref
from types import TracebackType
from typing import Protocol

from ..net import Network

__all__ = ["NetworkClock", "NetworkDriver", "StandingClock", "attach", "clock_for"]

# Which driver currently owns each network's wake-up (a network has one).
_drivers: weakref.WeakKeyDictionary[Network, NetworkDriver] = weakref.WeakKeyDictionary()


class NetworkDriver:
    """Runs a network's timers on an asyncio loop; see the module docstring.

    Use :func:`attach` (or the virtual-time loop, which attaches its own) rather
    than the constructor.  :meth:`detach` stops driving; the driver is also a
    context manager that detaches on exit.
    """

    loop: asyncio.AbstractEventLoop
    network: Network
    offset: float
    attached: bool
    due: bool
    """A network deadline is due now: the loop's next poll() runs it."""
    stale: bool
    """Polled: the loop timer may lag ``next_deadline()``; refresh() before idling."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, network: Network, *, polled: bool = False
    ) -> None:
        if not isinstance(network, Network):
            raise TypeError(f"expected an aiotcpsim Network, got {network!r}")
        other = _drivers.get(network)
        if other is not None:
            if not other.loop.is_closed():
                raise RuntimeError(
                    f"{network!r} is already driven by {other.loop!r}; "
                    "detach it (or close that loop) first"
                )
            other.detach()
        self.loop = loop
        self.network = network
        # network time = loop.time() - offset; never negative drift, see network_time().
        self.offset = loop.time() - network.now
        self._handle: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None
        self.due = False  # _fire_soon is scheduled, or poll() will run it
        self._polled = polled  # the loop calls poll() every iteration (no call_soon)
        self.stale = False
        self.attached = True
        _drivers[network] = self
        network.set_wakeup(self._wake if polled else self._rearm)
        self._rearm()

    def network_time(self) -> float:
        """The loop's clock in network time (never earlier than ``network.now``)."""
        return max(self.network.now, self.loop.time() - self.offset)

    def _advance(self, now: float) -> None:
        """Run the network up to ``now``.

        This is the only place where the network clock moves.
        """
        self.network.advance(now)

    def present(self) -> float:
        """The network's present, for a call the application makes now.

        Between the network's own timers its clock lags the loop's; a segment
        sent now must leave at the loop's time, so the network is first
        advanced to it (running whatever fell due meanwhile).  Not from inside
        the network's own run, nor once the loop is closed or the driver
        detached: the network's clock then stands.
        """
        network = self.network
        now = self.network_time()
        # The clocks first: on the virtual-time loop they agree but while its
        # clock jumps, so the other tests are rarely needed.
        if (
            now > network.now
            and self.attached
            and not network.in_advance
            and not self.loop.is_closed()
        ):
            self._advance(now)
        return network.now

    def sync(self) -> None:
        """Bring the network's clock up to the loop's, running whatever fell due.

        The virtual-time loop calls this whenever its clock moves, so that
        ``network.now == loop.time()`` holds in every callback.
        """
        if not self.attached or self.network.in_advance:
            return
        now = self.network_time()
        if now > self.network.now:
            try:
                self._advance(now)
            finally:
                self._rearm()

    def _wake(self) -> None:
        """A polled driver's wake-up: the loop's next ``select`` runs :meth:`poll`,
        which advances the network to now and re-arms the timer for what lies
        ahead.  (The loop reads its timers after that poll, so the timer need
        not exist before; computing the deadline here, once per application
        send, would be wasted.)"""
        self.due = True

    def _rearm(self) -> None:
        """Keep the single loop timer at the network's next deadline.

        Cheap on the hot path: a deadline already due runs from one
        ``call_soon`` (however many wake-ups ask for it), and an armed timer
        that fires no later than needed is kept -- when it fires early it
        finds nothing due and re-arms -- instead of being cancelled and
        re-created for every segment.
        """
        self.stale = False
        if not self.attached:
            return
        loop = self.loop
        if loop.is_closed():
            # Nobody can run the network any more; stop answering its wake-ups
            # instead of failing inside whatever call made it.
            self.detach()
            return
        deadline = self.network.next_deadline()
        if deadline is None:
            return  # an armed timer, if any, fires and finds nothing to do
        if deadline + self.offset <= loop.time():
            if not self.due:
                self.due = True
                if not self._polled:
                    loop.call_soon(self._fire_soon)
            return
        armed = self._armed_for
        if armed is not None and armed <= deadline:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._armed_for = deadline
        self._handle = loop.call_at(deadline + self.offset, self._fire, deadline)

    def _fire(self, deadline: float) -> None:
        self._handle = None
        self._armed_for = None
        try:
            # asyncio runs a timer up to its clock resolution early: the loop
            # decided the deadline is due, so the network reaches it too
            # (otherwise nothing would run and the timer would re-arm forever).
            self._advance(max(self.network_time(), deadline))
        finally:
            # Re-arm even if a callback scheduled on the network raised: the
            # error goes to the loop's exception handler, the network goes on.
            self._rearm()

    def refresh(self) -> None:
        """Re-arm the timer if a poll left it stale (a polled driver's loop
        calls this before it idles: looks for its next timer).

        A polled driver does not look for the network's next deadline after
        each poll: while the loop has callbacks ready its clock stands still,
        so no timer can come due; only the loop's decision to sleep or jump
        needs the timer right.
        """
        if self.stale:
            try:
                self._rearm()
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self.loop.call_exception_handler(
                    {"message": "exception in a network callback", "exception": exc}
                )

    def poll(self) -> None:
        """Run what is due now, if anything (a polled driver's loop calls this
        once per iteration, before collecting I/O events).

        An exception from a network callback goes to the loop's exception
        handler, as it would from the ``call_soon`` of an unpolled driver.
        """
        if self.due:
            try:
                self._fire_soon()
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self.loop.call_exception_handler(
                    {"message": "exception in a network callback", "exception": exc}
                )

    def _fire_soon(self) -> None:
        self.due = False
        if not self.attached:
            return
        try:
            self._advance(self.network_time())
        finally:
            if self._polled:
                self.stale = True  # see refresh()
            else:
                self._rearm()

    def detach(self) -> None:
        """Stop driving the network (idempotent).  Pending network events stay
        queued; another driver can pick them up."""
        if not self.attached:
            return
        self.attached = False
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self._armed_for = None
        if _drivers.get(self.network) is self:
            del _drivers[self.network]
            self.network.set_wakeup(None)

    def __enter__(self) -> NetworkDriver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.detach()

    def __repr__(self) -> str:
        state = f"armed for t={self._armed_for}" if self._armed_for is not None else "idle"
        if not self.attached:
            state = "detached"
        return f"<NetworkDriver {state} offset={self.offset!r} {self.network!r}>"


def attach(loop: asyncio.AbstractEventLoop, network: Network) -> NetworkDriver:
    """Run ``network`` in real time on ``loop`` (any asyncio loop, uvloop included).

    Network time is the loop's clock minus its value now, plus the network's
    current time: a fresh network starts at 0 when attached.  Returns the driver;
    call its ``detach()`` (or use it as a context manager) when done.  This only
    runs the network's clock; :func:`aiotcpsim.asyncio_loop.install` also routes
    the loop's ``create_connection``/``create_server``... to the network.

    Raises:
        RuntimeError: the network is already driven by another loop.
    """
    return NetworkDriver(loop, network)


class NetworkClock(Protocol):
    """What a simulated socket or transport asks before it sends or reads."""

    def present(self) -> float:
        """The network's present, the network brought up to the loop's clock."""
        ...


class StandingClock:
    """The clock of a network no driver runs on the caller's loop: it stands
    still (``present()`` is the network's own time)."""

    def __init__(self, network: Network) -> None:
        self.network = network

    def present(self) -> float:
        return self.network.now


def clock_for(loop: asyncio.AbstractEventLoop, network: Network) -> NetworkClock:
    """The clock of ``network`` as seen from ``loop``: the driver that runs the
    network on that loop, else a :class:`StandingClock`."""
    driver = _drivers.get(network)
    if driver is not None and driver.loop is loop:
        return driver
    return StandingClock(network)
