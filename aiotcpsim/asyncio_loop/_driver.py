"""Drive a :class:`~aiotcpsim.net.Network` from an asyncio event loop.

The network is sans-I/O: it says when it next needs to run
(``next_deadline()``) and runs everything due when told the time
(``advance(now)``).  The driver translates that into exactly one loop timer:

- it keeps one ``TimerHandle`` at ``next_deadline()``;
- when the handle fires it calls ``network.advance(now)`` and re-arms;
- the network calls the driver back (``set_wakeup``) when a call made outside
  ``advance`` -- an application ``send()``, a test's ``net.call_later`` --
  moved the deadline earlier, and the driver re-arms.

On the virtual-time loop the driver is *polled*: instead of a ``call_soon``
for a deadline already due, it raises a flag that the loop's selector checks
at the top of every iteration (:meth:`NetworkDriver.poll`), where a kernel
socket's readiness would be collected.  Segments sent during one iteration
then reach their peer before the next iteration's callbacks run, and the
callbacks they trigger (a transport's read) run in that same iteration, as
they would after an ``epoll`` that reported the peer readable -- one loop
iteration per hop instead of two.

The same driver serves both clocks.  Network time is ``loop.time() - offset``,
with ``offset`` fixed when the driver attaches: on the virtual-time loop the
loop's clock starts at the network's time, so the offset is 0 and the two
clocks are one; on any other loop (real-time mode, uvloop included) the
network runs on the loop's own monotonic clock from the moment of
:func:`attach`.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from types import TracebackType

from ..net import Network

__all__ = ["NetworkDriver", "attach"]

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
        self._soon = False  # a deadline is due now: _fire_soon scheduled, or poll() will run it
        self._polled = polled  # the loop calls poll() every iteration (no call_soon)
        self._stale = False  # polled: the timer may lag next_deadline() (see refresh())
        self.attached = True
        _drivers[network] = self
        # The transport layer reads the offset from the loop to bring the
        # network up to date before an application call (best effort: a loop
        # written in C may refuse new attributes).
        with contextlib.suppress(AttributeError):
            loop._aiotcpsim_epoch = self.offset  # type: ignore[attr-defined]
        network.set_wakeup(self._wake if polled else self._rearm)
        self._rearm()

    def network_time(self) -> float:
        """The loop's clock in network time (never earlier than ``network.now``)."""
        return max(self.network.now, self.loop.time() - self.offset)

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
                self.network.advance(now)
            finally:
                self._rearm()

    def _wake(self) -> None:
        """A polled driver's wake-up: the loop's next ``select`` runs :meth:`poll`,
        which advances the network to now and re-arms the timer for what lies
        ahead.  (The loop reads its timers after that poll, so the timer need
        not exist before; computing the deadline here, once per application
        send, would be wasted.)"""
        self._soon = True

    def _rearm(self) -> None:
        """Keep the single loop timer at the network's next deadline.

        Cheap on the hot path: a deadline already due runs from one
        ``call_soon`` (however many wake-ups ask for it), and an armed timer
        that fires no later than needed is kept -- when it fires early it
        finds nothing due and re-arms -- instead of being cancelled and
        re-created for every segment.
        """
        self._stale = False
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
            if not self._soon:
                self._soon = True
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
            self.network.advance(max(self.network_time(), deadline))
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
        if self._stale:
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
        if self._soon:
            try:
                self._fire_soon()
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self.loop.call_exception_handler(
                    {"message": "exception in a network callback", "exception": exc}
                )

    def _fire_soon(self) -> None:
        self._soon = False
        if not self.attached:
            return
        network = self.network
        try:
            # self.network_time(), inline: this runs once per loop iteration
            # in which the application sent something.
            t = self.loop.time() - self.offset
            network.advance(t if t > network.now else network.now)
        finally:
            if self._polled:
                self._stale = True  # see refresh()
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
            if getattr(self.loop, "_aiotcpsim_epoch", None) == self.offset:
                with contextlib.suppress(AttributeError):
                    del self.loop._aiotcpsim_epoch  # type: ignore[attr-defined]

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
