"""Links: how a segment crosses from one host to another.

Rule owned here: what happens to a segment between its sender and its
destination -- partition, MTU, loss (independent, then Gilbert-Elliott),
duplication, and for each copy corruption, the bandwidth queue (drop-tail),
delay with jitter, and reordering, in that order, every random draw from the
network's one RNG.

A copy that survives is a *flight*: it stays registered on its link until it
arrives, so that :meth:`Link.update` (and a partition, a hold) applies at
once to segments already on the wire.  One flight is one event of the
network's queue: sending and delivering cost O(log n); an update
re-evaluates the flights of that link, in the order they were sent.

Optimization: on a link whose only impairments are loss and a constant delay
(a clean link included) a flight needs nothing but its send time, so it
travels as a bare tuple ``(link, src, segment, dst, order, sent)`` on the
event queue instead of a :class:`Flight` registered on the link (a clean
link's go to the queue's ready FIFO, as they arrive at once).
:meth:`Link.update` turns the bare ones into registered flights first
(``_materialize``), in the place they would have had all along, so nothing
observable changes; the random draws are the same (the loss draw only).
"""

from __future__ import annotations

from collections import deque
from random import Random
from typing import TYPE_CHECKING, Any, Protocol

from ..segment import SYN, Segment
from ..stack.host import Host
from .events import Entry, EventQueue
from .flight import Flight, arrive
from .impairments import (
    DEFAULTS,
    IP_TCP_HEADER,
    LINK_FIELDS,
    GilbertElliott,
    clamp_mss,
    validate,
    variate,
    wire_size,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "BareFlight",
    "Flight",
    "Link",
    "LinkDefaults",
    "LinkOwner",
    "Cut",
    "arrive",
    "arrive_bare",
]

BareFlight = tuple["Link", Host, Segment, Host, int, float]
"""``(link, src, segment, dst, order, sent)``: a flight that needs no :class:`Flight`."""


class Cut(Protocol):
    """A partition that cuts a link (:class:`~aiotcpsim.net.faults.actions.Partition`)."""

    @property
    def mode(self) -> str:
        """``"blackhole"`` or ``"reject"``."""


class LinkOwner(Protocol):
    """What a link needs from its network."""

    now: float
    rng: Random
    stats: dict[str, int]
    events: EventQueue

    def push(self, when: float, fn: Callable[[Any], None], arg: Any) -> None:
        """Schedule ``fn(arg)`` at ``when`` (waking the adapter if needed)."""

    def push_now(self, fn: Callable[[Any], None], arg: Any) -> bool:
        """Schedule ``fn(arg)`` now through the ready FIFO; False when it cannot take it."""

    def drop(self, host: Host, segment: Segment, why: str) -> None: ...

    def duplicated(self, host: Host, segment: Segment, extra_copies: int) -> None: ...

    def unreachable(self, src: Host, segment: Segment, after: float) -> None: ...

    def note(
        self, host: str, text: str, endpoint: tuple[str, int, str, int] | None = None
    ) -> None: ...

    def link_defaults(self) -> dict[str, Any]: ...

    def links(self) -> list[Link]: ...


def arrive_bare(bare: BareFlight) -> None:
    """The event of a bare flight: straight to the host unless held or partitioned."""
    link = bare[0]
    if link._holds or link._partitions:
        link._arrived(link._flight_of(bare, link.loss, link.corrupt))
    else:
        bare[3].deliver_from_wire(bare[2])


class Link:
    """The impairments of one direction between two hosts.

    Every impairment falls back to the network's default (``net.defaults``,
    set by the :class:`Network` arguments) until set on the link itself;
    :meth:`reset` returns to the default.

    The impairments, netem's names where netem has them, are listed in
    :mod:`aiotcpsim.net.impairments`: ``loss``, ``burst``, ``delay``,
    ``jitter``, ``distribution``, ``duplicate``, ``reorder``, ``corrupt``,
    ``rate``, ``queue_limit``, ``queue_bytes``, ``mtu``.

    :meth:`update` takes effect at once, also for segments already in flight:
    their arrival is recomputed from the time they were sent (one that is
    now overdue arrives at once); a higher ``loss`` or ``corrupt`` applies to
    them too (each survives with the conditional probability, so a flight is
    lost with the highest probability in force while it was on the wire; a
    lower one does not bring back what was lost); a new ``rate`` reschedules
    the segments still waiting in the queue.  A new ``mtu`` or ``burst``
    applies to segments sent afterwards.
    """

    def __init__(self, network: LinkOwner, src: str, dst: str, **settings: Any) -> None:
        self.network = network
        self.src = src
        """The sending host's name (``"*"`` for the network's defaults)."""
        self.dst = dst
        """The receiving host's name (``"*"`` for the network's defaults)."""
        self._own: dict[str, Any] = {}
        # The impairments in force (read them; change them with update()).
        self.loss = 0.0
        """Probability that a segment is lost (netem ``loss``)."""
        self.burst: GilbertElliott | None = None
        """Bursty loss, a :class:`GilbertElliott` model (netem ``loss gemodel``), or None."""
        self.delay = 0.0
        """One-way delay in seconds."""
        self.jitter = 0.0
        """Random variation of the delay, in seconds."""
        self.distribution = "uniform"
        """How the jitter is drawn: ``uniform``, ``normal``, ``pareto`` or ``paretonormal``."""
        self.duplicate = 0.0
        """Probability that a segment arrives twice."""
        self.reorder = 0.0
        """Probability that a segment skips the delay and overtakes those before it."""
        self.corrupt = 0.0
        """Probability that a segment arrives damaged (dropped by the checksum, counted)."""
        self.rate: float | None = None
        """Bandwidth in bytes per second (None: unlimited)."""
        self.queue_limit: int | None = 1000
        """Packets the rate-limited queue holds before it drops (drop-tail)."""
        self.queue_bytes: int | None = None
        """Bytes the rate-limited queue holds before it drops (None: no byte limit)."""
        self.mtu: int | None = None
        """Largest IP packet: SYNs' MSS is clamped to fit, bigger segments are dropped."""
        self._bad = False  # Gilbert-Elliott state
        # In flight: each flight -> its event order when it was (re)registered, so
        # the dict is in that order.  Bare flights are not here until
        # _materialize() puts them in their place.
        self._flights: dict[Flight, int] = {}
        self._txq: deque[Flight] = deque()  # not yet fully serialized (rate only)
        self._txq_bytes = 0
        self._busy_until = 0.0
        self._holds = 0
        self._parked: list[Flight] = []
        self._partitions: list[Cut] = []  # partitions in force
        self._clean = True  # no impairment at all
        self._bare = True  # loss and a constant delay at most: flights go bare
        for name, value in settings.items():
            self._own[name] = validate(name, value)
        self._refresh()

    # -- configuration ---------------------------------------------------------

    def update(self, **changes: Any) -> Link:
        """Change some impairments at once (in-flight segments included);
        returns the link for chaining.

        Raises:
            ValueError: a probability outside [0, 1], a negative or infinite
                time, an unknown distribution, a rate <= 0, an MTU outside 68..65535.
            TypeError: an unknown impairment name or a value of the wrong type.
        """
        checked = {name: validate(name, value) for name, value in changes.items()}
        self._own.update(checked)
        self.changed()
        return self

    def reset(self, *names: str) -> Link:
        """Return some impairments (all when none is named) to the network defaults."""
        for name in names:
            if name not in LINK_FIELDS:
                raise TypeError(
                    f"unknown link impairment {name!r}; expected one of {', '.join(LINK_FIELDS)}"
                )
        for name in names or tuple(self._own):
            self._own.pop(name, None)
        self.changed()
        return self

    def settings(self) -> dict[str, Any]:
        """The impairments in force on this link (defaults included)."""
        return {name: getattr(self, name) for name in LINK_FIELDS}

    def own_settings(self) -> dict[str, Any]:
        """The impairments set on this link itself (not inherited)."""
        return dict(self._own)

    def changed(self) -> None:
        """Recompute the impairments in force (after a change here or of the
        network's defaults) and apply them to the segments in flight."""
        old = self.settings()
        self._refresh()
        self._reevaluate(old)

    def _refresh(self) -> None:
        defaults = self.network.link_defaults()
        for name in LINK_FIELDS:
            setattr(self, name, self._own.get(name, defaults.get(name, DEFAULTS[name])))
        self._bare = not (
            self.burst
            or self.jitter
            or self.duplicate
            or self.reorder
            or self.corrupt
            or self.rate
            or self.mtu
        )
        self._clean = self._bare and not (self.loss or self.delay)

    # -- hold and partitions ------------------------------------------------------

    @property
    def held(self) -> bool:
        """True while segments arriving over this link are kept back."""
        return self._holds > 0

    @property
    def parked(self) -> int:
        """Segments kept back by a hold now."""
        return len(self._parked)

    @property
    def partitioned(self) -> str | None:
        """``"blackhole"`` or ``"reject"`` while a partition cuts this link, else None."""
        return self._partitions[0].mode if self._partitions else None

    def add_partition(self, cut: Cut) -> None:
        """A partition now cuts this link (segments reaching the cut are lost)."""
        self._partitions.append(cut)

    def remove_partition(self, cut: Cut) -> None:
        """``cut`` no longer applies to this link (idempotent)."""
        if cut in self._partitions:
            self._partitions.remove(cut)

    def hold(self) -> None:
        """Keep back every segment that reaches the end of this link, those in
        flight included, until :meth:`release` (holds nest)."""
        self._holds += 1
        self.network.note(self.src, f"link {self.src} -> {self.dst} held")

    def release(self) -> None:
        """Deliver the held segments now, in the order they were sent.

        Raises:
            RuntimeError: the link is not held.
        """
        if not self._holds:
            raise RuntimeError(f"link {self.src} -> {self.dst} is not held")
        self._holds -= 1
        if self._holds:
            return
        parked, self._parked = self._parked, []
        parked.sort(key=lambda f: f.order)
        net = self.network
        net.note(self.src, f"link {self.src} -> {self.dst} released ({len(parked)} held)")
        for flight in parked:
            flight.arrival = net.now
            self._flights[flight] = net.events.next_order()
            net.push(net.now, arrive, flight)

    # -- sending -------------------------------------------------------------------

    def send(self, src: Host, seg: Segment, dst: Host) -> None:
        """Put ``seg`` on this link: the segment path without send filters."""
        if self._bare and not self._partitions:
            net = self.network
            if self._clean:
                # Optimization: a clean link delivers at once, through the ready FIFO.
                order = net.events.next_order()
                if net.push_now(arrive_bare, (self, src, seg, dst, order, net.now)):
                    return
            elif not self.loss or net.rng.random() >= self.loss:
                now = net.now
                bare = (self, src, seg, dst, net.events.next_order(), now)
                net.push(now + self.delay, arrive_bare, bare)
                return
            else:
                net.drop(src, seg, "lost")
                return
        self.send_filtered(src, seg, dst, 0.0, 1, False)

    def send_filtered(
        self, src: Host, seg: Segment, dst: Host, extra: float, copies: int, corrupt: bool
    ) -> None:
        """Put ``seg`` on this link after a send filter had its say: ``extra``
        seconds of delay, ``copies`` copies, damaged when ``corrupt``."""
        net = self.network
        if self._partitions:
            net.drop(src, seg, "partitioned")
            if self._partitions[0].mode == "reject":
                net.unreachable(src, seg, self.delay)
            return
        if self._clean:
            for _ in range(copies):
                self._launch(src, seg, dst, extra, corrupt, net.rng)
            if copies > 1:
                net.duplicated(src, seg, copies - 1)
            return
        rng = net.rng
        if self.mtu is not None:
            if wire_size(seg) > self.mtu:
                net.drop(src, seg, f"larger than the link MTU {self.mtu}")
                net.stats["segments_too_big"] += 1
                return
            if seg.flags & SYN:
                seg = clamp_mss(seg, self.mtu - IP_TCP_HEADER)
        lost = bool(self.loss) and rng.random() < self.loss
        if self.burst is not None:
            # Evaluated even when already lost, so that the chain advances once per segment.
            lost = self._gilbert(rng, self.burst) or lost
        if lost:
            net.drop(src, seg, "lost")
            return
        if self.duplicate and rng.random() < self.duplicate:
            copies += 1
        if copies > 1:
            net.duplicated(src, seg, copies - 1)
        for _ in range(copies):
            flip = bool(self.corrupt) and rng.random() < self.corrupt
            self._launch(src, seg, dst, extra, corrupt or flip, rng)

    def _gilbert(self, rng: Random, ge: GilbertElliott) -> bool:
        """One step of netem's ``loss_gilb_ell``: move, then lose with the old state's odds."""
        if self._bad:
            if rng.random() < (ge.r if ge.r is not None else 1.0 - ge.p):
                self._bad = False
            return rng.random() < ge.loss_bad
        if rng.random() < ge.p:
            self._bad = True
        return bool(ge.loss_good) and rng.random() < ge.loss_good

    def _launch(
        self, src: Host, seg: Segment, dst: Host, extra: float, corrupt: bool, rng: Random
    ) -> None:
        net = self.network
        now = net.now
        flight = Flight(self, src, seg, dst, now, net.events.next_order())
        flight.extra = extra
        flight.corrupt = corrupt
        flight.loss_level = self.loss
        flight.corrupt_level = self.corrupt
        if self.rate is not None and not self._enqueue(flight):
            return
        if self.jitter:
            flight.z = variate(rng, self.distribution)
        if self.reorder and rng.random() < self.reorder:
            flight.reordered = True
        when = flight.arrival = self._arrival(flight)
        self._flights[flight] = flight.order
        net.push(when, arrive, flight)

    def _enqueue(self, flight: Flight) -> bool:
        """The bandwidth queue (drop-tail): False when the flight finds it full."""
        assert self.rate is not None
        net = self.network
        now = net.now
        txq = self._txq
        while txq and txq[0].tx_end <= now:
            self._txq_bytes -= txq.popleft().size
        size = wire_size(flight.segment)
        if (self.queue_limit is not None and len(txq) >= self.queue_limit) or (
            self.queue_bytes is not None and self._txq_bytes + size > self.queue_bytes
        ):
            net.drop(flight.src, flight.segment, "queue full (drop-tail)")
            net.stats["segments_queue_dropped"] += 1
            return False
        flight.size = size
        flight.tx_start = max(now, self._busy_until)
        flight.tx_end = self._busy_until = flight.tx_start + size / self.rate
        txq.append(flight)
        self._txq_bytes += size
        return True

    def _arrival(self, flight: Flight) -> float:
        if flight.reordered:
            d = 0.0
        elif flight.z is not None and self.jitter:
            d = max(0.0, self.delay + self.jitter * flight.z)
        else:
            d = self.delay
        return flight.tx_end + d + flight.extra

    # -- changes while segments are in flight ----------------------------------------

    def _reevaluate(self, old: dict[str, Any]) -> None:
        """Apply a change of impairments to the segments in flight, in send order."""
        net = self.network
        rng = net.rng
        self._materialize(old["loss"], old["corrupt"])
        flights = list(self._flights)
        if not flights:
            if self.rate is None:
                self._busy_until = 0.0
            return
        lost = [
            flight
            for flight in flights
            if flight.lost_to_change(self.loss, self.corrupt, self.jitter, self.distribution, rng)
        ]
        for flight in lost:
            del self._flights[flight]
            flight.cancelled = True
            net.drop(flight.src, flight.segment, "lost (in flight)")
        if self._txq or old["rate"] != self.rate:
            self._rebuild_queue(net.now)
        self._reschedule(net.now)

    def _rebuild_queue(self, now: float) -> None:
        """Rebuild the transmission queue: drop the lost, reschedule the waiting."""
        busy = now
        queue: deque[Flight] = deque()
        total = 0
        for flight in self._txq:
            if flight.cancelled:
                continue
            if flight.tx_end <= now:
                continue
            if flight.tx_start < now:  # being serialized: it finishes as planned
                busy = flight.tx_end if self.rate is not None else now
                flight.tx_end = busy
            else:
                flight.tx_start = max(now, busy)
                busy = flight.tx_end = flight.tx_start + (
                    flight.size / self.rate if self.rate is not None else 0.0
                )
            queue.append(flight)
            total += flight.size
        self._txq = queue
        self._txq_bytes = total
        self._busy_until = busy

    def _reschedule(self, now: float) -> None:
        """Reschedule the flights whose arrival moved (fresh events, send order)."""
        net = self.network
        for flight in list(self._flights):
            when = max(now, self._arrival(flight))
            if when != flight.arrival:
                del self._flights[flight]
                new = flight.moved()
                for i, queued in enumerate(self._txq):
                    if queued is flight:
                        self._txq[i] = new
                new.arrival = when
                self._flights[new] = net.events.next_order()
                net.push(when, arrive, new)

    def _flight_of(self, bare: BareFlight, loss: float, corrupt: float) -> Flight:
        """The registered flight a bare one stands for: sent when it was, with the
        loss and corruption probabilities that were in force since."""
        flight = Flight(self, bare[1], bare[2], bare[3], bare[5], bare[4])
        flight.loss_level = loss
        flight.corrupt_level = corrupt
        flight.arrival = bare[5] + self.delay
        self._flights[flight] = bare[4]
        return flight

    def _materialize(self, loss: float, corrupt: float) -> None:
        """Turn this link's bare flights into registered ones, in the place of
        ``_flights`` they would have had all along (``loss``, ``corrupt``: the
        probabilities in force before the change)."""
        found: list[Flight] = []

        def convert(entry: Entry) -> tuple[Callable[[Any], None], Any] | None:
            bare = entry[3]
            if bare[0] is not self:
                return None
            flight = Flight(self, bare[1], bare[2], bare[3], bare[5], bare[4])
            flight.loss_level = loss
            flight.corrupt_level = corrupt
            flight.arrival = entry[0]
            found.append(flight)
            return arrive, flight

        self.network.events.rewrite(arrive_bare, convert)
        if found:
            merged = [*self._flights.items(), *((f, f.order) for f in found)]
            merged.sort(key=lambda item: item[1])
            self._flights = dict(merged)

    def land(self, flight: Flight) -> None:
        """The flight reached the far end of the link: held, cut, dropped as
        corrupted or delivered."""
        self._arrived(flight)

    def _arrived(self, flight: Flight) -> None:
        del self._flights[flight]
        net = self.network
        seg = flight.segment
        dst = flight.dst
        if self._holds:
            self._parked.append(flight)
            return
        if self._partitions:
            net.drop(dst, seg, "partitioned (in flight)")
            if self._partitions[0].mode == "reject":
                net.unreachable(flight.src, seg, self.delay)
            return
        if flight.corrupt:
            net.stats["segments_corrupted"] += 1
            net.drop(dst, seg, "corrupted: bad checksum")
            return
        dst.deliver_from_wire(seg)

    @property
    def in_flight(self) -> int:
        """Segments on this link now (held ones included)."""
        bare = self.network.events.count(arrive_bare, lambda arg: arg[0] is self)
        return len(self._flights) + len(self._parked) + bare

    def __repr__(self) -> str:
        parts = [
            f"{name}={getattr(self, name)!r}"
            for name in LINK_FIELDS
            if getattr(self, name) != DEFAULTS[name]
        ]
        if self._holds:
            parts.append("HELD")
        if self._partitions:
            parts.append(f"PARTITIONED({self.partitioned})")
        return f"<Link {self.src} -> {self.dst} {' '.join(parts) or 'clean'}>"


class LinkDefaults(Link):
    """``net.defaults``: the impairments of every link that does not set its own."""

    def changed(self) -> None:
        self._refresh()
        for link in self.network.links():
            link.changed()

    def _refresh(self) -> None:
        for name in LINK_FIELDS:
            setattr(self, name, self._own.get(name, DEFAULTS[name]))
