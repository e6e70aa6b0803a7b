"""The simulated network, sans-I/O: hosts, links, one timer heap, one RNG, the trace.

The network never reads a clock.  ``advance(now)`` runs everything due up to
``now``; ``next_deadline()`` says when it next needs to run.  A pure test
drives it with a loop of those two calls (:meth:`Network.run_until_idle`);
the asyncio and trio adapters wake it with a single timer.

Every random choice (ISNs, ephemeral ports, loss, jitter, duplication,
reordering, corruption, burst loss) comes from ``network.rng``, one
``Random(seed)``, and the timer heap breaks ties by insertion order, so the
same seed and the same calls reproduce the same run exactly.

How a segment crosses a link
----------------------------
Targeted rules (:mod:`aiotcpsim.faults`) see the segment first, at the
sender.  Then the directed :class:`Link` decides, in this order: partition,
MTU, loss (independent, then Gilbert-Elliott), duplication, and for each
copy corruption, the bandwidth queue (drop-tail), delay with jitter, and
reordering.  Each copy that survives is a *flight*: it stays registered on
its link until it arrives, so that :meth:`Link.update` (and a partition,
a hold) applies at once to segments already on the wire.  One flight is one
entry of the network's timer heap: sending and delivering cost O(log n);
an update re-evaluates the flights of that link, in the order they were sent.
"""

from __future__ import annotations

import errno
import heapq
import ipaddress
import math
import socket
from collections import deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from random import Random
from typing import TYPE_CHECKING, Any

from .config import TcpConfig
from .faults import Faults, GilbertElliott
from .segment import NO_OPTIONS, SYN, Segment, _encode_options
from .trace import DELIVER, DROP, DUPLICATE, NOTE, SEND, Trace, TraceRecord

if TYPE_CHECKING:
    from .host import Host
    from .tcp import Connection

__all__ = ["DISTRIBUTIONS", "Link", "Network"]

_current_host: ContextVar[Host | None] = ContextVar("aiotcpsim_current_host", default=None)

DISTRIBUTIONS = ("uniform", "normal", "pareto", "paretonormal")
"""Jitter distributions, named as netem's ``delay ... distribution``."""

_PROBABILITIES = ("loss", "duplicate", "reorder", "corrupt")
_SECONDS = ("delay", "jitter")
_LINK_FIELDS = (
    "loss",
    "burst",
    "delay",
    "jitter",
    "distribution",
    "duplicate",
    "reorder",
    "corrupt",
    "rate",
    "queue_limit",
    "queue_bytes",
    "mtu",
)
_DEFAULTS: dict[str, Any] = {
    "loss": 0.0,
    "burst": None,
    "delay": 0.0,
    "jitter": 0.0,
    "distribution": "uniform",
    "duplicate": 0.0,
    "reorder": 0.0,
    "corrupt": 0.0,
    "rate": None,
    "queue_limit": 1000,
    "queue_bytes": None,
    "mtu": None,
}

IP_TCP_HEADER = 40
"""Bytes of an IPv4 header plus a TCP header without options."""

_PARETO_MEAN = 1.5  # Pareto(alpha=3, xm=1): mean 3/2
_PARETO_SD = math.sqrt(0.75)  # ... and standard deviation sqrt(3)/2


def _check_probability(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number between 0 and 1, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return float(value)


def _check_seconds(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not value >= 0 or math.isinf(value):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def _check_optional_int(name: str, value: Any, low: int, high: int, unit: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int ({unit}) or None, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be within {low}..{high} {unit}, got {value!r}")
    return value


def _validate(name: str, value: Any) -> Any:
    """One impairment value, checked; raises ValueError/TypeError saying what is wrong."""
    if name in _PROBABILITIES:
        return _check_probability(name, value)
    if name in _SECONDS:
        return _check_seconds(name, value)
    if name == "distribution":
        if value not in DISTRIBUTIONS:
            raise ValueError(
                f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {value!r}"
            )
        return value
    if name == "burst":
        if value is None or isinstance(value, GilbertElliott):
            return value
        if isinstance(value, (tuple, list)) and 1 <= len(value) <= 4:
            return GilbertElliott.netem(*value)
        raise TypeError(
            "burst must be None, a GilbertElliott or a netem-style tuple "
            f"(p[, r[, 1-h[, 1-k]]]), got {value!r}"
        )
    if name == "rate":
        if value is None:
            return None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(f"rate must be bytes per second (a number) or None, got {value!r}")
        if not value > 0 or math.isinf(value):
            raise ValueError(f"rate must be > 0 bytes per second (None: unlimited), got {value!r}")
        return float(value)
    if name == "queue_limit":
        return _check_optional_int(name, value, 1, 1 << 31, "packets")
    if name == "queue_bytes":
        return _check_optional_int(name, value, 1, 1 << 40, "bytes")
    if name == "mtu":
        return _check_optional_int(name, value, 68, 65535, "bytes (IPv4)")
    raise TypeError(f"unknown link impairment {name!r}; expected one of {', '.join(_LINK_FIELDS)}")


def wire_size(segment: Segment) -> int:
    """Bytes the segment occupies as an IPv4 packet (headers, options, payload)."""
    size = IP_TCP_HEADER + len(segment.payload)
    if segment.options != NO_OPTIONS:
        size += len(_encode_options(segment.options))
    return size


class _Flight:
    """One copy of a segment on a link, from the moment it is sent until it arrives."""

    __slots__ = (
        "arrival",
        "cancelled",
        "corrupt",
        "corrupt_level",
        "dst",
        "extra",
        "link",
        "loss_level",
        "order",
        "reordered",
        "segment",
        "sent",
        "size",
        "src",
        "tx_end",
        "tx_start",
        "z",
    )

    def __init__(
        self, link: Link, src: Host, segment: Segment, dst: Host, sent: float, order: int
    ) -> None:
        self.link = link
        self.src = src
        self.segment = segment
        self.dst = dst
        self.sent = sent
        self.order = order  # heap counter at send time: the flight's place in send order
        self.tx_start = sent
        self.tx_end = sent
        self.size = 0
        self.z: float | None = None  # the jitter variate, drawn once
        self.reordered = False
        self.corrupt = False
        self.loss_level = 0.0  # the highest loss probability this flight has survived
        self.corrupt_level = 0.0
        self.extra = 0.0  # delay added by a rule
        self.arrival = sent
        self.cancelled = False

    def moved(self) -> _Flight:
        """A copy that replaces this flight in the heap (this one goes stale)."""
        new = _Flight.__new__(_Flight)
        for name in _Flight.__slots__:
            setattr(new, name, getattr(self, name))
        self.cancelled = True
        return new


class Link:
    """The impairments of one direction between two hosts.

    Every impairment falls back to the network's default (``net.defaults``,
    set by the :class:`Network` arguments) until set on the link itself;
    :meth:`reset` returns to the default.

    Impairments (netem's names where netem has them):

    * ``loss`` -- probability that a segment is lost (independently).
    * ``burst`` -- Gilbert-Elliott burst loss, a :class:`~aiotcpsim.faults.GilbertElliott`
      or netem's ``loss gemodel p r 1-h 1-k`` as a tuple ``(p, r, 1-h, 1-k)``.
    * ``delay``, ``jitter`` -- seconds; each segment waits
      ``max(0, delay + jitter * z)`` where ``z`` follows ``distribution``:
      ``"uniform"`` on [-1, 1] (netem's default), ``"normal"``, ``"pareto"``
      (Pareto with alpha 3, shifted and scaled to mean 0 and standard deviation 1),
      ``"paretonormal"`` (1/4 normal + 3/4 pareto, as iproute2's table).
    * ``duplicate`` -- probability that the network delivers a second copy.
    * ``reorder`` -- probability that a segment skips the delay and overtakes
      the ones in flight (netem's ``reorder``).
    * ``corrupt`` -- probability that a segment arrives damaged: the receiver
      drops it on its checksum; it counts as ``segments_corrupted``.
    * ``rate`` -- bandwidth in bytes per second (None: unlimited); segments
      are serialized one after another (IPv4 + TCP header + options + payload
      bytes each) through a FIFO queue of at most ``queue_limit`` packets
      (netem's default 1000) and ``queue_bytes`` bytes; a segment that finds
      the queue full is dropped (drop-tail).
    * ``mtu`` -- bytes (None: unlimited).  The link behaves like a router
      doing MSS clamping (``iptables -j TCPMSS --clamp-mss-to-pmtu``): the MSS
      option of a SYN or SYN-ACK crossing it is lowered to ``mtu - 40`` (a SYN
      without the option gets one, ``min(536, mtu - 40)``), so a correct TCP
      never sends a segment that does not fit.  A segment larger than the MTU
      (the MTU lowered after the handshake) is dropped, as a router drops a
      packet with Don't Fragment set; there is no ICMP "fragmentation needed"
      (a PMTU black hole).

    :meth:`update` takes effect at once, also for segments already in flight:
    their arrival is recomputed from the time they were sent (one that is
    now overdue arrives at once); a higher ``loss`` or ``corrupt`` applies to
    them too (each survives with the conditional probability, so a flight is
    lost with the highest probability in force while it was on the wire; a
    lower one does not bring back what was lost); a new ``rate`` reschedules
    the segments still waiting in the queue.  A new ``mtu`` or ``burst``
    applies to segments sent afterwards.
    """

    def __init__(self, network: Network, src: str, dst: str, **settings: Any) -> None:
        self.network = network
        self.src = src
        self.dst = dst
        self._own: dict[str, Any] = {}
        self.loss = 0.0
        self.burst: GilbertElliott | None = None
        self.delay = 0.0
        self.jitter = 0.0
        self.distribution = "uniform"
        self.duplicate = 0.0
        self.reorder = 0.0
        self.corrupt = 0.0
        self.rate: float | None = None
        self.queue_limit: int | None = 1000
        self.queue_bytes: int | None = None
        self.mtu: int | None = None
        self._bad = False  # Gilbert-Elliott state
        # In flight: each flight -> the heap counter when it was (re)registered, so
        # the dict is in that order.  Flights of Network._transmit's fast path are
        # not here until _materialize() puts them in their place.
        self._flights: dict[_Flight, int] = {}
        self._txq: deque[_Flight] = deque()  # not yet fully serialized (rate only)
        self._txq_bytes = 0
        self._busy_until = 0.0
        self._holds = 0
        self._parked: list[_Flight] = []
        self._partitions: list[Any] = []  # faults.Partition handles in force
        self._clean = True
        for name, value in settings.items():
            self._own[name] = _validate(name, value)
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
        checked = {name: _validate(name, value) for name, value in changes.items()}
        self._own.update(checked)
        self._changed()
        return self

    def reset(self, *names: str) -> Link:
        """Return some impairments (all when none is named) to the network defaults."""
        for name in names:
            if name not in _LINK_FIELDS:
                raise TypeError(
                    f"unknown link impairment {name!r}; expected one of {', '.join(_LINK_FIELDS)}"
                )
        for name in names or tuple(self._own):
            self._own.pop(name, None)
        self._changed()
        return self

    def settings(self) -> dict[str, Any]:
        """The impairments in force on this link (defaults included)."""
        return {name: getattr(self, name) for name in _LINK_FIELDS}

    def _changed(self) -> None:
        old = self.settings()
        self._refresh()
        self._reevaluate(old)

    def _refresh(self) -> None:
        defaults = self.network._link_defaults
        for name in _LINK_FIELDS:
            setattr(self, name, self._own.get(name, defaults.get(name, _DEFAULTS[name])))
        self._clean = not (
            self.loss
            or self.burst
            or self.delay
            or self.jitter
            or self.duplicate
            or self.reorder
            or self.corrupt
            or self.rate
            or self.mtu
        )

    # -- hold and partitions ------------------------------------------------------

    @property
    def held(self) -> bool:
        """True while segments arriving over this link are kept back."""
        return self._holds > 0

    @property
    def partitioned(self) -> str | None:
        """``"blackhole"`` or ``"reject"`` while a partition cuts this link, else None."""
        return self._partitions[0].mode if self._partitions else None

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
            self._flights[flight] = net._counter + 1
            net._push(net.now, net._arrive_cb, flight)

    # -- sending -------------------------------------------------------------------

    def _send(
        self, src: Host, seg: Segment, dst: Host, extra: float, copies: int, corrupt: bool
    ) -> None:
        """Put ``seg`` on this link (after the rules had their say)."""
        net = self.network
        if self._partitions:
            net._drop(src, seg, "partitioned")
            if self._partitions[0].mode == "reject":
                net._unreachable(src, seg, self.delay)
            return
        if self._clean:
            for _ in range(copies):
                self._launch(src, seg, dst, extra, corrupt, net.rng)
            if copies > 1:
                net._duplicated(src, seg, copies - 1)
            return
        rng = net.rng
        if self.mtu is not None:
            if wire_size(seg) > self.mtu:
                net._drop(src, seg, f"larger than the link MTU {self.mtu}")
                net.stats["segments_too_big"] += 1
                return
            if seg.flags & SYN:
                seg = _clamp_mss(seg, self.mtu - IP_TCP_HEADER)
        lost = bool(self.loss) and rng.random() < self.loss
        if self.burst is not None:
            # Evaluated even when already lost, so that the chain advances once per segment.
            lost = self._gilbert(rng, self.burst) or lost
        if lost:
            net._drop(src, seg, "lost")
            return
        if self.duplicate and rng.random() < self.duplicate:
            copies += 1
        if copies > 1:
            net._duplicated(src, seg, copies - 1)
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
        flight = _Flight(self, src, seg, dst, now, net._counter + 1)
        flight.extra = extra
        flight.corrupt = corrupt
        flight.loss_level = self.loss
        flight.corrupt_level = self.corrupt
        if self.rate is not None:
            txq = self._txq
            while txq and txq[0].tx_end <= now:
                self._txq_bytes -= txq.popleft().size
            size = wire_size(seg)
            if (self.queue_limit is not None and len(txq) >= self.queue_limit) or (
                self.queue_bytes is not None and self._txq_bytes + size > self.queue_bytes
            ):
                net._drop(src, seg, "queue full (drop-tail)")
                net.stats["segments_queue_dropped"] += 1
                return
            flight.size = size
            flight.tx_start = max(now, self._busy_until)
            flight.tx_end = self._busy_until = flight.tx_start + size / self.rate
            txq.append(flight)
            self._txq_bytes += size
        if self.jitter:
            flight.z = self._variate(rng)
        if self.reorder and rng.random() < self.reorder:
            flight.reordered = True
        when = flight.arrival = self._arrival(flight)
        self._flights[flight] = flight.order
        net._push_flight(when, flight)

    def _variate(self, rng: Random) -> float:
        dist = self.distribution
        if dist == "uniform":
            return rng.uniform(-1.0, 1.0)
        if dist == "normal":
            return rng.normalvariate(0.0, 1.0)
        pareto = (rng.paretovariate(3.0) - _PARETO_MEAN) / _PARETO_SD
        if dist == "pareto":
            return pareto
        return 0.25 * rng.normalvariate(0.0, 1.0) + 0.75 * pareto

    def _arrival(self, flight: _Flight) -> float:
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
        now = net.now
        self._materialize()
        flights = list(self._flights)
        if not flights:
            if self.rate is None:
                self._busy_until = 0.0
            return
        lost: list[_Flight] = []
        for flight in flights:
            if self.loss > flight.loss_level:
                p = (
                    1.0
                    if flight.loss_level >= 1.0
                    else ((self.loss - flight.loss_level) / (1.0 - flight.loss_level))
                )
                flight.loss_level = self.loss
                if p >= 1.0 or rng.random() < p:
                    lost.append(flight)
                    continue
            if self.corrupt > flight.corrupt_level and not flight.corrupt:
                p = (
                    1.0
                    if flight.corrupt_level >= 1.0
                    else ((self.corrupt - flight.corrupt_level) / (1.0 - flight.corrupt_level))
                )
                flight.corrupt_level = self.corrupt
                if p >= 1.0 or rng.random() < p:
                    flight.corrupt = True
            if self.jitter and flight.z is None and not flight.reordered:
                flight.z = self._variate(rng)
        for flight in lost:
            del self._flights[flight]
            flight.cancelled = True
            net._drop(flight.src, flight.segment, "lost (in flight)")
        # Rebuild the transmission queue: drop the lost, reschedule the waiting.
        if self._txq or old["rate"] != self.rate:
            busy = now
            queue: deque[_Flight] = deque()
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
        # Reschedule the flights whose arrival moved (fresh heap entries, send order).
        for flight in list(self._flights):
            when = max(now, self._arrival(flight))
            if when != flight.arrival:
                del self._flights[flight]
                new = flight.moved()
                for i, queued in enumerate(self._txq):
                    if queued is flight:
                        self._txq[i] = new
                new.arrival = when
                self._flights[new] = net._counter + 1
                net._push_flight(when, new)

    def _materialize(self) -> None:
        """Make the flights Network._transmit's fast path left in the network's
        ready queue as bare ``(link, src, segment, dst, order)`` entries into registered
        flights, in the place of ``_flights`` they would have had all along."""
        net = self.network
        ready = net._ready
        clean = net._arrive_clean_cb
        found: list[tuple[_Flight, int]] = []
        for i, (when, order, fn, arg) in enumerate(list(ready)):
            if fn is clean and arg[0] is self:
                flight = _Flight(self, arg[1], arg[2], arg[3], when, order)
                ready[i] = (when, order, net._arrive_cb, flight)
                found.append((flight, order))
        if found:
            merged = sorted([*self._flights.items(), *found], key=lambda item: item[1])
            self._flights = dict(merged)

    def _arrived_clean(self, when: float, arg: tuple[Any, ...]) -> None:
        """A fast-path flight reached a held or partitioned link: as a registered one."""
        flight = _Flight(self, arg[1], arg[2], arg[3], when, arg[4])
        self._flights[flight] = arg[4]
        self._arrived(flight)

    def _arrived(self, flight: _Flight) -> None:
        """The flight reached the far end of the link."""
        del self._flights[flight]
        net = self.network
        seg = flight.segment
        dst = flight.dst
        if self._holds:
            self._parked.append(flight)
            return
        if self._partitions:
            net._drop(dst, seg, "partitioned (in flight)")
            if self._partitions[0].mode == "reject":
                net._unreachable(flight.src, seg, self.delay)
            return
        if flight.corrupt:
            net.stats["segments_corrupted"] += 1
            net._drop(dst, seg, "corrupted: bad checksum")
            return
        dst._deliver_from_wire(seg)

    @property
    def in_flight(self) -> int:
        """Segments on this link now (held ones included)."""
        clean = self.network._arrive_clean_cb
        fast = sum(1 for _, _, fn, arg in self.network._ready if fn is clean and arg[0] is self)
        return len(self._flights) + len(self._parked) + fast

    def __repr__(self) -> str:
        parts = [
            f"{name}={getattr(self, name)!r}"
            for name in _LINK_FIELDS
            if getattr(self, name) != _DEFAULTS[name]
        ]
        if self._holds:
            parts.append("HELD")
        if self._partitions:
            parts.append(f"PARTITIONED({self.partitioned})")
        return f"<Link {self.src} -> {self.dst} {' '.join(parts) or 'clean'}>"


class _Defaults(Link):
    """``net.defaults``: the impairments of every link that does not set its own."""

    def _changed(self) -> None:
        self.network._link_defaults = dict(self._own)
        self._refresh()
        for link in self.network._links.values():
            link._changed()

    def _refresh(self) -> None:
        for name in _LINK_FIELDS:
            setattr(self, name, self._own.get(name, _DEFAULTS[name]))


def _clamp_mss(seg: Segment, mss: int) -> Segment:
    """A router's MSS clamping (Linux ``xt_TCPMSS``): lower the MSS option of a SYN."""
    current = seg.options.mss
    if current is None:
        # No option means 536 (RFC 9293 3.7.1); the clamp adds an explicit one.
        new = min(536, mss)
    elif current <= mss:
        return seg
    else:
        new = mss
    return seg._replace(options=seg.options._replace(mss=new))


class Network:
    """An in-memory IPv4 network of hosts that speak TCP.

    Args:
        seed: seeds the network's one ``random.Random``.
        tcp: the default :class:`TcpConfig` of every host.
        loss, delay, jitter, duplicate, reorder, and any other :class:`Link`
            impairment as keyword (``burst``, ``distribution``, ``corrupt``,
            ``rate``, ``queue_limit``, ``queue_bytes``, ``mtu``): defaults of every
            link (``net.defaults``), including a host's link to itself.
        trace: record a trace (turn off for benchmarks).

    A host ``localhost`` with address 127.0.0.1 always exists.  Faults --
    partitions, holds, crashes, injected resets, replays and targeted rules --
    live in ``net.faults`` (:class:`~aiotcpsim.faults.Faults`).
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        tcp: TcpConfig | None = None,
        loss: float = 0.0,
        delay: float = 0.0,
        jitter: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        trace: bool = True,
        **impairments: Any,
    ) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {seed!r}")
        if tcp is not None and not isinstance(tcp, TcpConfig):
            raise TypeError(f"tcp must be a TcpConfig, got {tcp!r}")
        self.seed = seed
        self.rng = Random(seed)
        self.config = tcp if tcp is not None else TcpConfig()
        self.now = 0.0
        self.trace = Trace(enabled=trace)
        self._link_defaults: dict[str, Any] = {}
        self._links: dict[tuple[str, str], Link] = {}
        settings = {
            "loss": loss,
            "delay": delay,
            "jitter": jitter,
            "duplicate": duplicate,
            "reorder": reorder,
            **impairments,
        }
        self.defaults: Link = _Defaults(self, "*", "*", **settings)
        """The impairments of every link that does not set its own; ``update()`` them."""
        self._link_defaults = dict(self.defaults._own)
        self._hosts: dict[str, Host] = {}
        self._by_ip: dict[str, Host] = {}
        self._heap: list[tuple[float, int, Callable[[Any], None], Any]] = []
        # Flights launched on a clean link arrive at the time they were sent: they
        # go to this FIFO instead of the heap, as long as that keeps it in
        # (time, counter) order.  Taking whichever of the two heads is smaller
        # then runs events in exactly the order of one heap, for O(1) instead of
        # two O(log n) heap operations per segment.
        self._ready: deque[tuple[float, int, Callable[[Any], None], Any]] = deque()
        self._counter = 0
        self._in_advance = False
        self._wakeup: Callable[[], None] | None = None
        self._next_ip = 1
        self._outside: dict[str, str] = {}
        self._arrive_cb: Callable[[Any], None] = self._arrive
        self._arrive_clean_cb: Callable[[Any], None] = self._arrive_clean
        self._fire_cb: Callable[[Any], None] = self._fire_timer
        self.stats: dict[str, int] = {
            "segments_sent": 0,
            "segments_delivered": 0,
            "segments_dropped": 0,
            "segments_duplicated": 0,
            "segments_corrupted": 0,
            "segments_queue_dropped": 0,
            "segments_too_big": 0,
            "segments_injected": 0,
            "icmp_unreachable": 0,
            "retransmissions": 0,
            "resets_sent": 0,
            "connections_opened": 0,
        }
        self.faults = Faults(self)
        """Partitions, holds, crashes, injected resets, replays, targeted rules."""
        self.localhost = self.add_host("localhost", "127.0.0.1")

    # -- hosts and names ------------------------------------------------------

    def add_host(self, name: str, ip: str | None = None, *, tcp: TcpConfig | None = None) -> Host:
        """Add a host, resolvable by ``name``; ``ip`` defaults to the next of 10.0.0.0/8.

        Raises:
            ValueError: the name or address is taken or not a valid IPv4 address.
        """
        from .host import Host

        if not isinstance(name, str) or not name:
            raise TypeError(f"host name must be a non-empty str, got {name!r}")
        if name in self._hosts:
            raise ValueError(f"a host named {name!r} already exists")
        if ip is None:
            ip = self._free_address()
        else:
            try:
                ip = str(ipaddress.IPv4Address(ip))
            except ValueError:
                raise ValueError(f"{ip!r} is not an IPv4 address") from None
            if ip in self._by_ip:
                raise ValueError(f"address {ip} already belongs to host {self._by_ip[ip].name!r}")
        host = Host(self, name, ip, tcp if tcp is not None else self.config)
        self._hosts[name] = host
        self._by_ip[ip] = host
        return host

    def _free_address(self) -> str:
        """The next unused address of 10.0.0.0/8."""
        while True:
            ip = str(ipaddress.IPv4Address(0x0A000000 + self._next_ip))
            self._next_ip += 1
            if ip not in self._by_ip:
                return ip

    def _outside_address(self, host: Host) -> str:
        """The address a loopback-only host (``localhost``) uses to reach other
        hosts: allocated on first use, like the machine's own interface."""
        ip = self._outside.get(host.name)
        if ip is None:
            ip = self._free_address()
            self._outside[host.name] = ip
            self._by_ip[ip] = host
        return ip

    @property
    def hosts(self) -> list[Host]:
        return list(self._hosts.values())

    def host(self, name_or_ip: str) -> Host:
        """The host with this name or address.

        Raises:
            socket.gaierror: no such host (EAI_NONAME, as ``getaddrinfo`` says).
        """
        host = self._hosts.get(name_or_ip) or self._by_ip.get(name_or_ip)
        if host is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return host

    def resolve(self, name: str) -> str:
        """Name or dotted address to address, like ``getaddrinfo`` on this network.

        Raises:
            socket.gaierror: unknown name (EAI_NONAME).
        """
        host = self._hosts.get(name)
        if host is not None:
            return host.ip
        try:
            return str(ipaddress.IPv4Address(name))
        except ValueError:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    def host_for_address(self, ip: str) -> Host | None:
        """The host that owns ``ip``, or None."""
        return self._by_ip.get(ip)

    def current_host(self) -> Host:
        """The host calls originate from: set by ``with host.current():``, else ``localhost``."""
        host = _current_host.get()
        if host is not None and host.network is self:
            return host
        return self.localhost

    @staticmethod
    def _set_current(host: Host | None) -> Any:
        return _current_host.set(host)

    @staticmethod
    def _reset_current(token: Any) -> None:
        _current_host.reset(token)

    # -- links -----------------------------------------------------------------

    def link(self, a: Host | str, b: Host | str) -> Link:
        """The directed link from ``a`` to ``b`` (host objects, names or addresses)."""
        src = a if not isinstance(a, str) else self.host(a)
        dst = b if not isinstance(b, str) else self.host(b)
        key = (src.name, dst.name)
        link = self._links.get(key)
        if link is None:
            link = Link(self, src.name, dst.name)
            self._links[key] = link
            self.faults._link_created(link)
        return link

    def links(self) -> list[Link]:
        """The links created so far (a link exists once used or asked for)."""
        return list(self._links.values())

    # -- time ------------------------------------------------------------------

    @property
    def in_advance(self) -> bool:
        """True while :meth:`advance` runs (a wake-up is then not needed)."""
        return self._in_advance

    def set_wakeup(self, callback: Callable[[], None] | None) -> None:
        """Register the adapter's wake-up: called when ``next_deadline()`` may
        have moved earlier because of a call made outside :meth:`advance`."""
        self._wakeup = callback

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        """Run ``callback()`` at virtual time ``when`` (a fault, a test step)."""
        self._push(max(when, self.now), _call, callback)

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run ``callback()`` after ``delay`` seconds of virtual time."""
        self.call_at(self.now + delay, callback)

    def next_deadline(self) -> float | None:
        """When the network next needs to run, or None when nothing is pending."""
        heap = self._heap
        ready = self._ready
        arrive = self._arrive_cb
        fire = self._fire_cb
        while heap or ready:
            if ready and (not heap or ready[0] < heap[0]):
                # The earliest entry is a clean-link flight (see self._ready).
                if ready[0][2] is self._arrive_clean_cb or not ready[0][3].cancelled:
                    return ready[0][0]
                ready.popleft()  # a flight rescheduled by a link update
                continue
            when, _, fn, arg = heap[0]
            if fn is arrive:
                if not arg.cancelled:
                    return when
                heapq.heappop(heap)  # a flight rescheduled by a link update
            elif fn is fire:
                # A connection's wake-up: drop it when the connection's timers
                # moved later or stopped, so virtual time never visits a moment
                # where nothing happens.  (A wake-up superseded by an earlier
                # one is dropped too.)
                due = arg.wake_time(when)
                if due == when:
                    return when
                heapq.heappop(heap)
                if due is not None:
                    self._counter += 1
                    heapq.heappush(heap, (due, self._counter, fire, arg))
            else:
                return when
        return None

    def advance(self, now: float) -> None:
        """Run everything due up to ``now``, in time order, then set ``self.now = now``.

        Raises:
            ValueError: ``now`` is earlier than the network's time.
        """
        if now < self.now:
            raise ValueError(f"time cannot go backwards: {now!r} < {self.now!r}")
        heap = self._heap
        ready = self._ready
        pop = heapq.heappop
        arrive = self._arrive_cb
        arrive_clean = self._arrive_clean_cb
        fire = self._fire_cb
        self._in_advance = True
        try:
            while True:
                # The smaller head of self._ready and the heap, as if they were one heap.
                if ready and (not heap or ready[0] < heap[0]):
                    if ready[0][0] > now:
                        break
                    when, _, fn, arg = ready.popleft()
                elif heap and heap[0][0] <= now:
                    when, _, fn, arg = pop(heap)
                else:
                    break
                if fn is arrive_clean:
                    # self._arrive_clean(arg), inline: a fast-path flight.
                    self.now = when
                    link = arg[0]
                    if link._holds or link._partitions:
                        link._arrived_clean(when, arg)
                    else:
                        arg[3]._deliver_from_wire(arg[2])
                    continue
                if fn is arrive:
                    # self._arrive(arg), inline: one call less per segment.
                    self.now = when
                    if arg.cancelled:
                        continue
                    link = arg.link
                    if link._holds or link._partitions or arg.corrupt:
                        link._arrived(arg)
                    else:
                        del link._flights[arg]
                        arg.dst._deliver_from_wire(arg.segment)
                    continue
                if fn is fire:
                    due = arg.wake_time(when)
                    if due != when:  # the connection's timers moved or stopped
                        if due is not None:
                            self._counter += 1
                            heapq.heappush(heap, (due, self._counter, fire, arg))
                        continue
                    self.now = when
                    arg.on_timer(when)  # self._fire_timer(arg), inline
                    continue
                self.now = when
                fn(arg)
            self.now = now
        finally:
            self._in_advance = False

    def run_until_idle(self, limit: float | None = None) -> float:
        """Advance from deadline to deadline until nothing is pending (or ``limit``).

        Returns the virtual time reached.  With keep-alive on, a network is never
        idle: pass ``limit``.
        """
        while True:
            deadline = self.next_deadline()
            if deadline is None or (limit is not None and deadline > limit):
                break
            self.advance(deadline)
        if limit is not None and limit > self.now:
            self.advance(limit)
        return self.now

    def _push(self, when: float, fn: Callable[[Any], None], arg: Any) -> None:
        heap = self._heap
        ready = self._ready
        wake = (
            self._wakeup is not None
            and not self._in_advance
            and (not heap or when < heap[0][0])
            and (not ready or when < ready[0][0])
        )
        self._counter += 1
        heapq.heappush(heap, (when, self._counter, fn, arg))
        if wake:
            assert self._wakeup is not None
            self._wakeup()

    def _push_flight(self, when: float, flight: _Flight) -> None:
        self._push(when, self._arrive_cb, flight)

    def _schedule_timer(self, conn: Connection, when: float) -> None:
        self._push(when, self._fire_cb, conn)

    def _fire_timer(self, conn: Connection) -> None:
        conn.on_timer(self.now)

    # -- segments ----------------------------------------------------------------

    def _transmit(self, src: Host, segment: Segment, retransmission: bool) -> None:
        stats = self.stats
        stats["segments_sent"] += 1
        if retransmission:
            stats["retransmissions"] += 1
        trace = self.trace
        if trace.enabled:
            trace.append(
                TraceRecord(
                    self.now,
                    SEND,
                    src.name,
                    segment,
                    text="retransmission" if retransmission else "",
                )
            )
        # The (host, link) a destination address leads to, cached per sending host:
        # addresses and links are never taken away, so a found route stays valid.
        route = src._routes.get(segment.dst_ip)
        if route is None:
            dst = src.route(segment.dst_ip)
            if dst is None:
                self._drop(src, segment, "no route to host")
                return
            link = self._links.get((src.name, dst.name)) or self.link(src, dst)
            route = src._routes[segment.dst_ip] = (dst, link)
        dst, link = route
        faults = self.faults
        if faults._send_rules:
            verdict = faults._on_send(src, segment, dst, link)
            if verdict is None:
                return
            extra, copies, corrupt = verdict
            link._send(src, segment, dst, extra, copies, corrupt)
            return
        ready = self._ready
        if link._clean and not link._partitions and (not ready or ready[-1][0] <= self.now):
            # Fast path, the same as Link._send + Link._launch for one copy on a
            # clean link: no random draw, and the flight arrives now (no rate, no
            # delay, no extra), so it goes to self._ready, as a bare tuple rather
            # than a _Flight registered on the link: Link._materialize() makes it
            # one if the link changes (update(), reset()) before it arrives, and
            # Link._arrived_clean() if the link is held or partitioned then.
            now = self.now
            self._counter = order = self._counter + 1
            heap = self._heap
            wake = (
                self._wakeup is not None
                and not self._in_advance
                and (not heap or now < heap[0][0])
                and (not ready or now < ready[0][0])
            )
            ready.append((now, order, self._arrive_clean_cb, (link, src, segment, dst, order)))
            if wake:
                assert self._wakeup is not None
                self._wakeup()
            return
        link._send(src, segment, dst, 0.0, 1, False)

    def _arrive_clean(self, arg: tuple[Any, ...]) -> None:
        """A fast-path flight ``(link, src, segment, dst, order)`` arrives
        (advance() runs a copy of this inline)."""
        link = arg[0]
        if link._holds or link._partitions:
            link._arrived_clean(self.now, arg)
        else:
            arg[3]._deliver_from_wire(arg[2])

    def _arrive(self, flight: _Flight) -> None:
        # (advance() runs a copy of this inline.)
        if flight.cancelled:
            return
        link = flight.link
        if link._holds or link._partitions or flight.corrupt:
            link._arrived(flight)
            return
        # Link._arrived without hold, partition or corruption: straight to the host.
        del link._flights[flight]
        flight.dst._deliver_from_wire(flight.segment)

    def _drop(self, host: Host, segment: Segment, why: str) -> None:
        self.stats["segments_dropped"] += 1
        if self.trace.enabled:
            self.trace.append(TraceRecord(self.now, DROP, host.name, segment, text=why))

    def _duplicated(self, host: Host, segment: Segment, extra_copies: int) -> None:
        self.stats["segments_duplicated"] += extra_copies
        if self.trace.enabled:
            for _ in range(extra_copies):
                self.trace.append(TraceRecord(self.now, DUPLICATE, host.name, segment))

    def _delivered(self, host: Host, segment: Segment) -> None:
        self.stats["segments_delivered"] += 1
        if self.trace.enabled:
            self.trace.append(TraceRecord(self.now, DELIVER, host.name, segment))

    def _unreachable(self, src: Host, seg: Segment, after: float) -> None:
        """An ICMP destination unreachable (host unreachable, code 1) for ``seg``
        reaches its sender ``after`` seconds later."""
        self.stats["icmp_unreachable"] += 1

        def deliver() -> None:
            self._icmp_error(src, seg, errno.EHOSTUNREACH)

        self.call_at(self.now + after, deliver)

    def _icmp_error(self, host: Host, seg: Segment, err: int) -> None:
        """Hand an ICMP error about ``seg`` to the connection that sent it (Linux
        ``tcp_v4_err``).  The TCB decides: hard error in SYN-SENT, soft otherwise."""
        if not host.up:
            return
        key = (seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port)
        conn = host._conns.get(key)
        name = errno.errorcode.get(err, str(err))
        if conn is None:
            self.note(host.name, f"ICMP unreachable ({name}) for no connection", key)
            return
        self.note(host.name, f"ICMP host unreachable ({name})", key)
        handler = getattr(conn, "icmp_error", None)
        if handler is not None:
            handler(err, self.now)

    def note(self, host: str, text: str, endpoint: tuple[str, int, str, int] | None = None) -> None:
        """Add a free-form record to the trace (faults and tests use it)."""
        if self.trace.enabled:
            self.trace.append(TraceRecord(self.now, NOTE, host, endpoint=endpoint, text=text))

    # -- introspection -------------------------------------------------------------

    def statistics(self) -> dict[str, int]:
        """Counters: segments sent, delivered, dropped (of which corrupted, queue
        overflow, too big for the MTU), duplicated, injected by faults, ICMP
        unreachables, retransmissions, resets sent, connections opened; plus open
        connections, segments in flight and pending events."""
        out = dict(self.stats)
        out["connections_open"] = sum(h.connection_count() for h in self._hosts.values())
        out["segments_in_flight"] = sum(link.in_flight for link in self._links.values())
        self.next_deadline()
        out["pending_events"] = len(self._heap) + len(self._ready)
        return out

    def connections(self) -> Iterator[Connection]:
        """Every connection of every host, listeners' children included."""
        for host in self._hosts.values():
            yield from host.connections()

    def __repr__(self) -> str:
        return (
            f"<Network seed={self.seed} t={self.now:.6f}s hosts={len(self._hosts)} "
            f"pending={len(self._heap) + len(self._ready)}>"
        )


def _call(callback: Callable[[], None]) -> None:
    callback()
