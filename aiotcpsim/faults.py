"""Adverse conditions on demand: events and targeted rules (``net.faults``).

Random impairments live on the links (:class:`~aiotcpsim.network.Link`:
loss, Gilbert-Elliott burst loss, delay and jitter, duplication, reordering,
corruption, bandwidth with a queue, MTU).  This module adds what a test
turns on at a precise moment, or aims at one precise segment:

* **partitions** -- :meth:`Faults.partition`, both ways or one way, in two
  flavours: ``"blackhole"`` (segments vanish; the application eventually
  sees ``ETIMEDOUT``) and ``"reject"`` (each segment draws an ICMP host
  unreachable back to its sender, as a router with no route would send);
* **holds** -- :meth:`Faults.hold_link` keeps a link's segments, those already
  in flight included, until ``release()`` delivers them in the order sent;
* **crash and restart** of a host -- its TCBs vanish without a segment;
* **RST injection** into a connection (a middlebox reset), with the exact,
  an in-window or a stale sequence number: RFC 5961 decides what happens;
* **replay** of a captured segment, later -- an old duplicate SYN, a
  delayed data segment from a previous incarnation of a 4-tuple;
* **targeted rules** -- :meth:`Faults.rule` and its shorthands
  (:meth:`~Faults.drop`, :meth:`~Faults.delay`, :meth:`~Faults.duplicate`,
  :meth:`~Faults.hold`, :meth:`~Faults.corrupt`, :meth:`~Faults.reset`,
  :meth:`~Faults.capture`) act on the segments that match a direction,
  hosts, ports, flags, payload, the sender's TCP state and the n-th
  occurrence, a limited number of times, while the rule is in force::

      net.faults.drop(flags="SYN|ACK", count=1)               # the first SYN-ACK
      net.faults.drop(src="client", flags="ACK", state="TIME-WAIT", count=1)
      with net.faults.delay(10.0, with_flags="FIN"):           # scoped
          ...
      net.faults.drop(src="server", payload=True, nth=4)      # after the 3rd

Rules see a segment when its sender hands it to the network, before the
link's random impairments, in the order the rules were made.  Every random
choice comes from the network's one RNG.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .segment import ACK, FIN, RST, SYN, Flags, Segment, seq_add

if TYPE_CHECKING:
    from types import TracebackType

    from .host import Host
    from .network import Link, Network
    from .tcp import Connection, State

__all__ = ["Faults", "GilbertElliott", "LinkHold", "Partition", "Rule"]

ACTIONS = ("drop", "delay", "duplicate", "hold", "corrupt", "reset", "capture")
"""What a rule does to a matching segment."""

PartitionMode = Literal["blackhole", "reject"]


@dataclass(frozen=True, slots=True)
class GilbertElliott:
    """Burst loss: a two-state Markov chain, as netem's ``loss gemodel p r 1-h 1-k``.

    Per segment the chain moves (good -> bad with probability ``p``, bad ->
    good with ``r``), then the segment is lost with the loss probability of
    the state it was in: ``loss_bad`` (netem's ``1-h``) or ``loss_good``
    (``1-k``) -- the order of netem's ``loss_gilb_ell``.  With only ``p``
    given, ``r = 1 - p``: memoryless loss with probability ``p`` (netem's
    Bernoulli case); ``GilbertElliott(p, r)`` is the simple Gilbert model.

    Raises:
        ValueError: a probability outside [0, 1].
    """

    p: float
    r: float | None = None
    loss_bad: float = 1.0
    loss_good: float = 0.0

    def __post_init__(self) -> None:
        if self.r is None:
            object.__setattr__(self, "r", 1.0 - float(self.p))
        for name in ("p", "r", "loss_bad", "loss_good"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError(f"GilbertElliott.{name} must be a probability, got {value!r}")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"GilbertElliott.{name} must be between 0 and 1, got {value!r}")

    @classmethod
    def netem(
        cls, p: float, r: float | None = None, one_minus_h: float = 1.0, one_minus_k: float = 0.0
    ) -> GilbertElliott:
        """From netem's argument order: ``p [r [1-h [1-k]]]`` (probabilities, not percent)."""
        return cls(p, r, one_minus_h, one_minus_k)

    @property
    def mean_loss(self) -> float:
        """The long-run loss rate: ``pi_bad * (1-h) + pi_good * (1-k)``."""
        r = self.r if self.r is not None else 1.0 - self.p
        if self.p + r == 0:
            return self.loss_good
        bad = self.p / (self.p + r)
        return bad * self.loss_bad + (1.0 - bad) * self.loss_good


# -- matching ---------------------------------------------------------------------

_FLAG_NAMES = {f.name: int(f) for f in Flags if f.name is not None}
_FLAG_LETTERS = {"S": SYN, "F": FIN, "R": RST, "P": int(Flags.PSH), ".": ACK}
_CONTROL = SYN | FIN | RST | ACK


def parse_flags(value: str | int | Flags, what: str = "flags") -> int:
    """``"SYN|ACK"``, ``"syn,ack"``, tcpdump's ``"S."`` or a :class:`Flags` value, as an int.

    Raises:
        ValueError: an unknown flag name.
    """
    if isinstance(value, int):
        if not 0 <= value <= 0xFF:
            raise ValueError(f"{what} must be TCP flag bits within 0..0xFF, got {value!r}")
        return int(value)
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str like 'SYN|ACK' or Flags, got {value!r}")
    text = value.strip()
    if text and all(c in _FLAG_LETTERS for c in text):
        bits = 0
        for c in text:
            bits |= _FLAG_LETTERS[c]
        return bits
    bits = 0
    for part in text.replace(",", "|").replace("+", "|").replace(" ", "|").split("|"):
        if not part:
            continue
        name = part.upper()
        if name not in _FLAG_NAMES:
            raise ValueError(
                f"unknown TCP flag {part!r} in {what}={value!r}; "
                f"expected names from {', '.join(_FLAG_NAMES)} joined by '|'"
            )
        bits |= _FLAG_NAMES[name]
    if not bits:
        raise ValueError(f"{what}={value!r} names no flag")
    return bits


def _never_sent(bits: int) -> str | None:
    """Why a segment carrying all of ``bits`` is never sent by this TCP, or None."""
    if bits & SYN and bits & FIN:
        return "SYN with FIN is never sent by a TCP (no T/TCP)"
    if bits & SYN and bits & RST:
        return "SYN with RST is never sent by a TCP"
    if bits & FIN and bits & RST:
        return "FIN with RST is never sent by a TCP"
    return None


def _parse_states(value: Any) -> frozenset[State]:
    from .tcp import State

    items: Iterable[Any] = [value] if isinstance(value, (str, State)) else value
    out = set()
    for item in items:
        if isinstance(item, State):
            out.add(item)
            continue
        if not isinstance(item, str):
            raise TypeError(f"state must be a State or its name, got {item!r}")
        key = item.strip().upper().replace("-", "_")
        try:
            out.add(State[key])
        except KeyError:
            names = ", ".join(str(s) for s in State)
            raise ValueError(f"unknown TCP state {item!r}; expected one of {names}") from None
    if not out:
        raise ValueError("state must name at least one TCP state")
    return frozenset(out)


def _impossible_for_state(state: State, must: int, payload: bool | None) -> str | None:
    """Why no segment sent by a TCB in ``state`` can carry the flags ``must``
    (and payload), or None.  The state is the sender's after the transition
    the segment announces (the final ACK of a close is sent in TIME-WAIT)."""
    from .tcp import State

    if state is State.LISTEN:
        return "a socket in LISTEN sends no segment (the stack's resets count as CLOSED)"
    if must & SYN and state not in (State.SYN_SENT, State.SYN_RECEIVED):
        return f"a TCP in {state} never sends a SYN"
    if must & FIN and state in (
        State.SYN_SENT,
        State.SYN_RECEIVED,
        State.FIN_WAIT_2,
        State.TIME_WAIT,
        State.CLOSED,
    ):
        return f"a TCP in {state} never sends a FIN"
    if payload and state in (
        State.SYN_SENT,
        State.SYN_RECEIVED,
        State.FIN_WAIT_2,
        State.TIME_WAIT,
        State.CLOSED,
    ):
        return f"a TCP in {state} never sends data"
    if state is State.CLOSED and must and not must & RST:
        return "only resets are sent in CLOSED (by the stack, for segments matching no socket)"
    return None


class _Match:
    """What a rule matches; built and validated once, evaluated per segment."""

    __slots__ = (
        "dst_ips",
        "dst_port",
        "either_ips",
        "either_port",
        "exact",
        "exact_mask",
        "payload",
        "src_ips",
        "src_port",
        "states",
        "with_bits",
        "without_bits",
    )

    def __init__(
        self,
        net: Network,
        *,
        src: Any = None,
        dst: Any = None,
        host: Any = None,
        src_port: int | None = None,
        dst_port: int | None = None,
        port: int | None = None,
        flags: str | int | None = None,
        with_flags: str | int | None = None,
        without_flags: str | int | None = None,
        payload: bool | None = None,
        state: Any = None,
    ) -> None:
        self.src_ips = _addresses(net, "src", src)
        self.dst_ips = _addresses(net, "dst", dst)
        self.either_ips = _addresses(net, "host", host)
        self.src_port = _port("src_port", src_port)
        self.dst_port = _port("dst_port", dst_port)
        self.either_port = _port("port", port)
        if payload is not None and not isinstance(payload, bool):
            raise TypeError(f"payload must be True, False or None, got {payload!r}")
        self.payload = payload
        self.exact: int | None = None
        self.exact_mask = 0
        if flags is not None:
            bits = parse_flags(flags, "flags")
            why = _never_sent(bits)
            control = bits & ~(int(Flags.ECE) | int(Flags.CWR))
            if why is None and not bits & ACK and control != SYN and bits != RST:
                why = (
                    "after the SYN every segment carries ACK (RFC 9293 3.10.7.4), "
                    "so only a SYN or a bare RST goes without it"
                )
            if why:
                raise ValueError(f"rule can never match flags={flags!r}: {why}")
            self.exact = bits
            self.exact_mask = _CONTROL | bits
        self.with_bits = parse_flags(with_flags, "with_flags") if with_flags is not None else 0
        self.without_bits = (
            parse_flags(without_flags, "without_flags") if without_flags is not None else 0
        )
        why = _never_sent(self.with_bits)
        if why:
            raise ValueError(f"rule can never match with_flags={with_flags!r}: {why}")
        if self.with_bits & self.without_bits:
            raise ValueError(
                f"rule can never match: with_flags={with_flags!r} and "
                f"without_flags={without_flags!r} share a flag"
            )
        if self.exact is not None:
            if self.with_bits & self.exact_mask & ~self.exact:
                raise ValueError(
                    f"rule can never match: with_flags={with_flags!r} asks for a flag "
                    f"that flags={flags!r} excludes"
                )
            if self.without_bits & self.exact:
                raise ValueError(
                    f"rule can never match: without_flags={without_flags!r} excludes "
                    f"a flag of flags={flags!r}"
                )
        must = (self.exact or 0) | self.with_bits
        if payload and must & (SYN | RST):
            what = "SYN" if must & SYN else "RST"
            raise ValueError(
                f"rule can never match a {what} with payload: this TCP sends no data "
                f"on a {what} (no TCP Fast Open, no RST diagnostics)"
            )
        self.states: frozenset[State] | None = None
        if state is not None:
            states = _parse_states(state)
            reasons = [_impossible_for_state(s, must, payload) for s in sorted(states, key=str)]
            if all(reasons):
                raise ValueError(f"rule can never match state={state!r}: {reasons[0]}")
            self.states = states

    def __call__(self, src: Host, seg: Segment) -> bool:
        flags = seg.flags
        if self.exact is not None and flags & self.exact_mask != self.exact:
            return False
        if flags & self.with_bits != self.with_bits or flags & self.without_bits:
            return False
        if self.payload is not None and bool(seg.payload) is not self.payload:
            return False
        if self.src_ips is not None and seg.src_ip not in self.src_ips:
            return False
        if self.dst_ips is not None and seg.dst_ip not in self.dst_ips:
            return False
        if self.either_ips is not None and not (
            seg.src_ip in self.either_ips or seg.dst_ip in self.either_ips
        ):
            return False
        if self.src_port is not None and seg.src_port != self.src_port:
            return False
        if self.dst_port is not None and seg.dst_port != self.dst_port:
            return False
        if self.either_port is not None and self.either_port not in (seg.src_port, seg.dst_port):
            return False
        return self.states is None or sender_state(src, seg) in self.states


def sender_state(host: Host, seg: Segment) -> State:
    """The TCP state of the connection that sent ``seg`` from ``host``.

    A segment that belongs to no registered connection is a SYN-ACK of a
    passive connection being created (SYN-RECEIVED), or a reset the stack
    sends for a segment that matched no socket (CLOSED)."""
    from .tcp import State

    conn = host._conns.get((seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port))
    if conn is not None:
        return conn.state
    if seg.flags & (SYN | ACK) == SYN | ACK:
        return State.SYN_RECEIVED
    if seg.flags & (SYN | ACK) == SYN:
        return State.SYN_SENT
    return State.CLOSED


def _addresses(net: Network, what: str, value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) or not isinstance(value, Iterable) else value
    out = set()
    for item in items:
        if isinstance(item, str):
            host = net._hosts.get(item) or net._by_ip.get(item)
            if host is None:
                raise ValueError(f"{what}={item!r}: no such host on this network")
            out.add(host.ip)
        elif hasattr(item, "ip") and getattr(item, "network", None) is net:
            out.add(item.ip)
        else:
            raise TypeError(f"{what} must be a host, its name or its address, got {item!r}")
    return frozenset(out)


def _port(what: str, value: int | None) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise ValueError(f"{what} must be a port within 1..65535, got {value!r}")
    return value


# -- rules --------------------------------------------------------------------------


class Rule:
    """A targeted fault in force: made by :meth:`Faults.rule` and its shorthands.

    Attributes:
        action: one of ``drop``, ``delay``, ``duplicate``, ``hold``, ``corrupt``,
            ``reset``, ``capture``.
        matched: segments that matched so far (the ``nth`` counts these).
        hits: segments acted upon.
        segments: the segments acted upon (captured ones for ``capture``), in order.

    Use it as a context manager to scope it, or call :meth:`remove`.  A rule
    whose ``count`` is used up leaves the network by itself (``active`` false).
    """

    def __init__(
        self,
        faults: Faults,
        action: str,
        match: _Match,
        *,
        nth: int,
        count: int | None,
        seconds: float,
        copies: int,
        description: str,
    ) -> None:
        self._faults = faults
        self.action = action
        self._match = match
        self.nth = nth
        self.count = count
        self.seconds = seconds
        self.copies = copies
        self.description = description
        self.matched = 0
        self.hits = 0
        self.segments: list[Segment] = []
        self.active = True
        self._held: list[tuple[Host, Segment, Host, Link]] = []

    @property
    def held(self) -> int:
        """Segments a ``hold`` rule keeps back now."""
        return len(self._held)

    def release(self) -> None:
        """Put the segments held by this rule on their links now, in the order
        they were sent (the links' impairments apply).  The rule stays in force."""
        held, self._held = self._held, []
        net = self._faults._net
        if held:
            net.note(held[0][0].name, f"{len(held)} segment(s) released by {self.description}")
        for src, seg, dst, link in held:
            link._send(src, seg, dst, 0.0, 1, False)

    def remove(self) -> None:
        """Take the rule out (idempotent); segments it holds are released."""
        if self.active:
            self.active = False
            self._faults._unregister(self)
        self.release()

    def __enter__(self) -> Rule:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "active" if self.active else "inactive"
        return f"<Rule {self.description} matched={self.matched} hits={self.hits} {state}>"


# -- events ---------------------------------------------------------------------------


class Partition:
    """A partition in force; :meth:`heal` (or leaving its ``with`` block) ends it."""

    def __init__(
        self,
        faults: Faults,
        pairs: list[tuple[str | None, str | None]],
        mode: PartitionMode,
        text: str,
        origin: str,
    ) -> None:
        self._faults = faults
        self._pairs = pairs  # (src, dst) of the cut links; None: any other host
        self._origin = origin
        self.mode = mode
        self.text = text
        self.active = True

    def covers(self, link: Link) -> bool:
        if link.src == link.dst:
            return False  # a host always reaches itself
        return any(
            (src is None or link.src == src) and (dst is None or link.dst == dst)
            for src, dst in self._pairs
        )

    def heal(self) -> None:
        """End the partition now (idempotent).  Segments in flight across it
        arrive if they have not yet reached the cut."""
        if not self.active:
            return
        self.active = False
        faults = self._faults
        faults._partitions.remove(self)
        for link in faults._net._links.values():
            if self in link._partitions:
                link._partitions.remove(self)
        faults._net.note(self._origin, f"partition healed: {self.text}")

    def __enter__(self) -> Partition:
        return self

    def __exit__(self, *exc: object) -> None:
        self.heal()

    def __repr__(self) -> str:
        return f"<Partition {self.text} {self.mode}{'' if self.active else ' healed'}>"


class LinkHold:
    """Links held by :meth:`Faults.hold_link`; :meth:`release` delivers what they kept."""

    def __init__(self, links: list[Link]) -> None:
        self._links = links
        self.active = True
        for link in links:
            link.hold()

    @property
    def held(self) -> int:
        """Segments kept back so far (or still in flight towards the hold)."""
        return sum(len(link._parked) for link in self._links)

    def release(self) -> None:
        """Deliver the held segments now, each link's in the order sent (idempotent)."""
        if self.active:
            self.active = False
            for link in self._links:
                link.release()

    def __enter__(self) -> LinkHold:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


SeqChoice = Literal["exact", "in-window", "stale"] | int


class Faults:
    """The fault injector of a network: ``net.faults``."""

    def __init__(self, network: Network) -> None:
        self._net = network
        self._send_rules: list[Rule] = []
        self._partitions: list[Partition] = []
        self._holds: list[LinkHold] = []

    # -- targeted rules ------------------------------------------------------------

    def rule(
        self,
        action: str,
        *,
        src: Any = None,
        dst: Any = None,
        host: Any = None,
        src_port: int | None = None,
        dst_port: int | None = None,
        port: int | None = None,
        flags: str | int | None = None,
        with_flags: str | int | None = None,
        without_flags: str | int | None = None,
        payload: bool | None = None,
        state: Any = None,
        nth: int = 1,
        count: int | None = None,
        seconds: float = 0.0,
        copies: int = 1,
    ) -> Rule:
        """Act on the segments that match, from the ``nth`` match on, ``count`` times.

        Matching (every criterion given must hold):
            src, dst: the sending / receiving host (a Host, name or address, or
                several); host: either end.
            src_port, dst_port, port (either end).
            flags: exactly these control flags (``"SYN|ACK"``, ``"S."``,
                ``Flags.FIN | Flags.ACK``); SYN, FIN, RST and ACK are compared,
                PSH, URG, ECE and CWR only if named.  ``flags="ACK"`` matches a
                bare ACK and a data segment, not a FIN.
            with_flags / without_flags: these flags set / not set.
            payload: True for segments that carry data, False for those that do not.
            state: the sender's TCP state (a :class:`State` or name like
                ``"TIME-WAIT"``, or several) when it sends the segment.
            nth: act from the n-th matching segment on (``nth=2, count=1``: only
                the second).
            count: act this many times, then the rule leaves (None: no limit).

        Actions: ``drop`` (lost at the sender's side); ``delay`` (``seconds`` more
        on its way); ``duplicate`` (``copies`` extra copies); ``hold`` (kept until
        :meth:`Rule.release` or :meth:`Rule.remove`); ``corrupt`` (arrives, dropped by
        the receiver's checksum, counted as corrupted); ``reset`` (dropped, and a RST
        goes back to the sender as its destination would send it -- a firewall's
        ``REJECT --reject-with tcp-reset``); ``capture`` (passes, recorded in
        :attr:`Rule.segments` for :meth:`replay`).

        Raises:
            ValueError: an unknown action or flag, an unknown host, nth < 1,
                count < 1, negative seconds, or criteria that no segment sent by a
                correct TCP can meet (the message says why).
        """
        net = self._net
        if action not in ACTIONS:
            raise ValueError(
                f"unknown rule action {action!r}; expected one of {', '.join(ACTIONS)}"
            )
        if not isinstance(nth, int) or isinstance(nth, bool) or nth < 1:
            raise ValueError(f"nth must be an int >= 1 (1: the first match), got {nth!r}")
        if count is not None and (
            not isinstance(count, int) or isinstance(count, bool) or count < 1
        ):
            raise ValueError(f"count must be an int >= 1 or None (no limit), got {count!r}")
        if action == "delay":
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
                raise TypeError(f"delay seconds must be a number, got {seconds!r}")
            if not 0 <= seconds < float("inf"):
                raise ValueError(f"delay must be a finite number of seconds >= 0, got {seconds!r}")
        if action == "duplicate" and (not isinstance(copies, int) or copies < 1):
            raise ValueError(f"copies must be an int >= 1, got {copies!r}")
        match = _Match(
            net,
            src=src,
            dst=dst,
            host=host,
            src_port=src_port,
            dst_port=dst_port,
            port=port,
            flags=flags,
            with_flags=with_flags,
            without_flags=without_flags,
            payload=payload,
            state=state,
        )
        criteria = {
            "src": src,
            "dst": dst,
            "host": host,
            "src_port": src_port,
            "dst_port": dst_port,
            "port": port,
            "flags": flags,
            "with_flags": with_flags,
            "without_flags": without_flags,
            "payload": payload,
            "state": state,
            "nth": nth if nth != 1 else None,
            "count": count,
        }
        head = action if action != "delay" else f"delay {seconds}s"
        text = " ".join(f"{k}={_show(v)}" for k, v in criteria.items() if v is not None)
        rule = Rule(
            self,
            action,
            match,
            nth=nth,
            count=count,
            seconds=float(seconds),
            copies=copies,
            description=f"{head} {text}".strip(),
        )
        self._send_rules.append(rule)
        return rule

    def drop(self, **match: Any) -> Rule:
        """Lose the matching segments (see :meth:`rule` for the criteria)."""
        return self.rule("drop", **match)

    def delay(self, seconds: float, **match: Any) -> Rule:
        """Add ``seconds`` to the matching segments' trip."""
        return self.rule("delay", seconds=seconds, **match)

    def duplicate(self, copies: int = 1, **match: Any) -> Rule:
        """Deliver ``copies`` extra copies of the matching segments."""
        return self.rule("duplicate", copies=copies, **match)

    def hold(self, **match: Any) -> Rule:
        """Keep the matching segments until ``rule.release()`` or ``rule.remove()``."""
        return self.rule("hold", **match)

    def corrupt(self, **match: Any) -> Rule:
        """Damage the matching segments: the receiver drops them on the checksum."""
        return self.rule("corrupt", **match)

    def reset(self, **match: Any) -> Rule:
        """Drop the matching segments and answer each with a RST to its sender."""
        return self.rule("reset", **match)

    def capture(self, **match: Any) -> Rule:
        """Record the matching segments in ``rule.segments`` (they pass unharmed)."""
        return self.rule("capture", **match)

    @property
    def rules(self) -> list[Rule]:
        """The rules in force, in the order they were made."""
        return list(self._send_rules)

    def _unregister(self, rule: Rule) -> None:
        if rule in self._send_rules:
            self._send_rules.remove(rule)

    def _on_send(
        self, src: Host, seg: Segment, dst: Host, link: Link
    ) -> tuple[float, int, bool] | None:
        """Run the rules on a segment leaving ``src``; None when a rule took it."""
        extra = 0.0
        copies = 1
        corrupt = False
        net = self._net
        for rule in list(self._send_rules):
            if not rule._match(src, seg):
                continue
            rule.matched += 1
            if rule.matched < rule.nth:
                continue
            rule.hits += 1
            rule.segments.append(seg)
            if rule.count is not None and rule.hits >= rule.count:
                rule.active = False
                self._unregister(rule)
            action = rule.action
            if action == "drop":
                net._drop(src, seg, f"dropped by rule: {rule.description}")
                return None
            if action == "reset":
                net._drop(src, seg, f"reset by rule: {rule.description}")
                self._reset_sender(src, seg, dst, link.delay)
                return None
            if action == "hold":
                rule._held.append((src, seg, dst, link))
                net.note(src.name, f"segment held by rule: {rule.description}")
                return None
            if action == "delay":
                extra += rule.seconds
            elif action == "duplicate":
                copies += rule.copies
            elif action == "corrupt":
                corrupt = True
        return extra, copies, corrupt

    def _reset_sender(self, src: Host, seg: Segment, dst: Host, after: float) -> None:
        """A RST to the sender of ``seg``, as its destination would answer
        (RFC 9293 3.10.7.1), from a middlebox half-way: it arrives ``after`` s later."""
        if seg.flags & RST:
            return
        if seg.flags & ACK:
            rst = Segment(seg.dst_ip, seg.dst_port, seg.src_ip, seg.src_port, seg.ack, 0, RST, 0)
        else:
            ack = seq_add(seg.seq, seg.seg_len)
            rst = Segment(seg.dst_ip, seg.dst_port, seg.src_ip, seg.src_port, 0, ack, RST | ACK, 0)
        self._inject(rst, dst.name, src, after, "middlebox reset")

    # -- events -------------------------------------------------------------------------

    def partition(
        self,
        a: Any,
        b: Any = None,
        *,
        mode: PartitionMode = "blackhole",
        oneway: bool = False,
    ) -> Partition:
        """Cut ``a`` from ``b`` (from every other host when ``b`` is None), both
        ways, or only ``a -> b`` with ``oneway``; returns the :class:`Partition`
        (``heal()`` it, or use it as a context manager).

        ``mode="blackhole"``: segments vanish, also those in flight that reach
        the cut before it heals; the sender retransmits until its limit
        (``ETIMEDOUT``).  ``mode="reject"``: each segment also draws an ICMP
        host unreachable (code 1), which reaches the sender after the link's
        one-way ``delay`` (the cut is half-way); the TCB reacts as Linux's
        ``tcp_v4_err``: fatal (``EHOSTUNREACH``) in SYN-SENT and SYN-RECEIVED,
        a soft error otherwise, reported instead of ``ETIMEDOUT`` if the
        connection later times out.

        Raises:
            ValueError: an unknown mode or host, or ``a`` and ``b`` the same host.
        """
        if mode not in ("blackhole", "reject"):
            raise ValueError(f"mode must be 'blackhole' or 'reject', got {mode!r}")
        net = self._net
        ha = self._host(a, "a")
        hb = self._host(b, "b") if b is not None else None
        if hb is ha:
            raise ValueError(f"cannot partition host {ha.name!r} from itself")
        pairs: list[tuple[str | None, str | None]] = [(ha.name, hb.name if hb else None)]
        if not oneway:
            pairs.append((hb.name if hb else None, ha.name))
        other = hb.name if hb is not None else "all"
        text = f"{ha.name} {'->' if oneway else '<->'} {other}"
        part = Partition(self, pairs, mode, text, ha.name)
        self._partitions.append(part)
        for link in net._links.values():
            if part.covers(link):
                link._partitions.append(part)
        net.note(ha.name, f"partition ({mode}): {text}")
        return part

    def _link_created(self, link: Link) -> None:
        for part in self._partitions:
            if part.covers(link):
                link._partitions.append(part)

    def hold_link(self, a: Any, b: Any, *, oneway: bool = False) -> LinkHold:
        """Hold the link ``a -> b`` (and ``b -> a`` unless ``oneway``): every
        segment that reaches its end, those in flight included, is kept until
        ``release()``, which delivers them at once in the order they were sent.

        Raises:
            ValueError: an unknown host.
        """
        net = self._net
        ha = self._host(a, "a")
        hb = self._host(b, "b")
        links = [net.link(ha, hb)]
        if not oneway and hb is not ha:
            links.append(net.link(hb, ha))
        hold = LinkHold(links)
        self._holds.append(hold)
        return hold

    def crash(self, host: Any, *, at: float | None = None) -> None:
        """Crash ``host`` now (or at virtual time ``at``): its TCBs and listeners
        vanish without a segment; segments reaching it are lost until restart."""
        h = self._host(host, "host")
        if at is None:
            h.crash()
        else:
            self._net.call_at(at, h.crash)

    def restart(self, host: Any, *, at: float | None = None) -> None:
        """Bring a crashed host back (now or at ``at``) with an empty TCP stack:
        segments of its old connections now draw a RST."""
        h = self._host(host, "host")
        if at is None:
            h.restart()
        else:
            self._net.call_at(at, h.restart)

    def inject_reset(
        self,
        conn: Connection,
        *,
        seq: SeqChoice = "exact",
        after: float = 0.0,
    ) -> None:
        """A middlebox resets ``conn``: ``after`` seconds from now a RST|ACK
        spoofed from its peer reaches it, with ``ack = SND.NXT`` and

        * ``seq="exact"``: ``RCV.NXT`` -- accepted, the connection is reset;
        * ``seq="in-window"``: ``RCV.NXT + 1`` -- RFC 5961 section 3: a challenge ACK;
        * ``seq="stale"``: ``RCV.NXT - 1`` -- outside the window, dropped silently;
        * an int: that sequence number.

        The numbers are read from the TCB when the RST arrives.

        Raises:
            ValueError: ``conn`` belongs to no host of this network, or a bad ``seq``.
        """
        if not (
            seq in ("exact", "in-window", "stale")
            or (isinstance(seq, int) and not isinstance(seq, bool))
        ):
            raise ValueError(f"seq must be 'exact', 'in-window', 'stale' or an int, got {seq!r}")
        if not isinstance(after, (int, float)) or not 0 <= after < float("inf"):
            raise ValueError(f"after must be a finite number of seconds >= 0, got {after!r}")
        net = self._net
        key = (conn.local[0], conn.local[1], conn.remote[0], conn.remote[1])
        owner = next((h for h in net._hosts.values() if h._conns.get(key) is conn), None)
        if owner is None:
            raise ValueError(f"{conn!r} is not an open connection of this network")
        peer = net._by_ip.get(conn.remote[0])
        peer_name = peer.name if peer is not None and peer is not owner else "middlebox"

        def fire() -> None:
            rcv_nxt = conn.rcv_nxt
            if seq == "exact":
                number = rcv_nxt
            elif seq == "in-window":
                number = seq_add(rcv_nxt, 1)
            elif seq == "stale":
                number = seq_add(rcv_nxt, -1)
            else:
                number = int(seq) & 0xFFFFFFFF
            rst = Segment(
                conn.remote[0], conn.remote[1], conn.local[0], conn.local[1],
                number, conn.snd_nxt, RST | ACK, 0,
            )  # fmt: skip
            self._inject(rst, peer_name, owner, 0.0, f"middlebox reset ({seq})")

        net.call_at(net.now + after, fire)

    def replay(
        self,
        segment: Segment,
        *,
        at: float | None = None,
        after: float = 0.0,
        via_link: bool = False,
    ) -> None:
        """Re-inject a copy of ``segment`` (captured by a ``capture`` rule or taken
        from the trace) at virtual time ``at`` (or ``after`` seconds from now).

        It reaches its destination host at that moment, as an old duplicate
        that wandered in the network would; with ``via_link`` it is sent from
        its source host's side through the link and its impairments instead.

        Raises:
            ValueError: no host owns the segment's destination address, or a time
                in the past.
        """
        net = self._net
        when = net.now + after if at is None else at
        if when < net.now:
            raise ValueError(f"cannot replay in the past: {when!r} < {net.now!r}")
        dst = net._by_ip.get(segment.dst_ip)
        if dst is None and not segment.dst_ip.startswith("127."):
            raise ValueError(f"no host owns {segment.dst_ip}, the replayed segment's destination")
        src = net._by_ip.get(segment.src_ip)

        def fire() -> None:
            target = dst
            if target is None:  # loopback: back to the host it came from
                target = src if src is not None else net.localhost
            if via_link and src is not None:
                net.stats["segments_injected"] += 1
                net.note(src.name, "segment replayed")
                net._transmit(src, segment, False)
                return
            self._inject(segment, src.name if src else "replay", target, 0.0, "replayed")

        net.call_at(when, fire)

    def _inject(self, seg: Segment, sender: str, to: Host, after: float, why: str) -> None:
        """Deliver a segment no TCB sent, ``after`` seconds from now, bypassing links."""
        from .trace import SEND, TraceRecord

        net = self._net
        net.stats["segments_injected"] += 1
        if net.trace.enabled:
            net.trace.append(TraceRecord(net.now, SEND, sender, seg, text=why))

        def deliver() -> None:
            to._deliver_from_wire(seg)

        if after:
            net.call_at(net.now + after, deliver)
        else:
            deliver()

    def icmp_unreachable(self, conn: Connection, *, err: int = errno.EHOSTUNREACH) -> None:
        """Hand ``conn`` an ICMP destination unreachable now (``err`` EHOSTUNREACH
        or ENETUNREACH), as if its last segment had drawn one."""
        net = self._net
        key = (conn.local[0], conn.local[1], conn.remote[0], conn.remote[1])
        owner = next((h for h in net._hosts.values() if h._conns.get(key) is conn), None)
        if owner is None:
            raise ValueError(f"{conn!r} is not an open connection of this network")
        seg = Segment(conn.local[0], conn.local[1], conn.remote[0], conn.remote[1], 0, 0, 0, 0)
        net.stats["icmp_unreachable"] += 1
        net._icmp_error(owner, seg, err)

    def clear(self) -> None:
        """Remove every rule (releasing what they hold), heal every partition,
        release every held link."""
        for rule in list(self._send_rules):
            rule.remove()
        for part in list(self._partitions):
            part.heal()
        for hold in self._holds:
            hold.release()
        self._holds.clear()

    def _host(self, value: Any, what: str) -> Host:
        net = self._net
        if isinstance(value, str):
            host = net._hosts.get(value) or net._by_ip.get(value)
            if host is None:
                raise ValueError(f"{what}={value!r}: no such host on this network")
            return host
        if getattr(value, "network", None) is net:
            return value  # type: ignore[no-any-return]
        raise TypeError(f"{what} must be a host of this network or its name, got {value!r}")

    def __repr__(self) -> str:
        return (
            f"<Faults rules={len(self._send_rules)} partitions={len(self._partitions)} "
            f"holds={sum(1 for h in self._holds if h.active)}>"
        )


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if hasattr(value, "name") and isinstance(value.name, str):
        return str(value.name)
    return repr(value)
