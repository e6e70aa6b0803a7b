"""Adverse conditions on demand: events and targeted rules (``net.faults``).

Rule owned here: what each fault does to the network -- and that faults act
only through the network's public interface: as its send filter
(:meth:`Faults.on_send`, installed while a rule is in force), as link
partitions and holds, and as scheduled calls.

Random impairments live on the links (:class:`~aiotcpsim.net.link.Link`:
loss, Gilbert-Elliott burst loss, delay and jitter, duplication, reordering,
corruption, bandwidth with a queue, MTU).  This module adds what a test
turns on at a precise moment, or aims at one precise segment:

* **partitions** -- :meth:`Faults.partition`, both ways or one way, in two
  flavours: ``"blackhole"`` (segments vanish; the application eventually
  sees ``ETIMEDOUT``) and ``"reject"`` (each segment draws an ICMP host
  unreachable back to its sender, as a router with no route would send);
* **holds** -- :meth:`Faults.hold_link` keeps a link's segments, those already
  in flight included, until ``release()`` delivers them in the order sent;
* **crash and restart** of a host -- its TCBs vanish without a segment, the
  adapters end its application (tasks cancelled, servers and sockets closed)
  and ``restart(host, app=...)`` starts a new one there;
* **RST injection** into a connection (a middlebox reset), with the exact,
  an in-window or a stale sequence number: RFC 5961 decides what happens;
* **replay** of a captured or hand-made segment, later -- an old duplicate
  SYN, a delayed data segment from a previous incarnation of a 4-tuple;
  :meth:`Faults.syn_flood` sends many hand-made SYNs from spoofed sources
  the same way;
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

A connection from ``localhost`` to a named host while a fault set between
named hosts does not apply to it draws a :class:`~aiotcpsim.errors.LocalhostWarning`
(once per network): the code most likely forgot to say which host it runs on.
"""

from __future__ import annotations

import errno
import math
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from ...addresses import is_loopback
from ...errors import LocalhostWarning
from ...replies import reset_reply
from ...segment import ACK, RST, SYN, Segment, TcpOptions, seq_add
from ...stack.host import App, Host
from ...tcp import Connection
from ...trace import SEND
from ..link import Link
from ..network import BaseNetwork, Verdict
from .match import Match
from .rules import Rule, check_rule, describe

if TYPE_CHECKING:
    pass

__all__ = ["Faults", "LinkHold", "Partition", "PartitionMode", "SeqChoice"]

PartitionMode = Literal["blackhole", "reject"]


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
        return self.cuts(link.src, link.dst)

    def cuts(self, a: str, b: str) -> bool:
        """True when the partition cuts the link from host ``a`` to host ``b``."""
        if a == b:
            return False  # a host always reaches itself
        return any(
            (src is None or a == src) and (dst is None or b == dst) for src, dst in self._pairs
        )

    def heal(self) -> None:
        """End the partition now (idempotent).  Segments in flight across it
        arrive if they have not yet reached the cut."""
        if not self.active:
            return
        self.active = False
        faults = self._faults
        faults.forget_partition(self)
        for link in faults.network.links():
            link.remove_partition(self)
        faults.network.note(self._origin, f"partition healed: {self.text}")

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

    def holds(self, a: str, b: str) -> bool:
        """True while the link from host ``a`` to host ``b`` is held here."""
        return self.active and any(link.src == a and link.dst == b for link in self._links)

    @property
    def held(self) -> int:
        """Segments kept back so far (or still in flight towards the hold)."""
        return sum(link.parked for link in self._links)

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

    def __init__(self, network: BaseNetwork) -> None:
        self._net = network
        self._send_rules: list[Rule] = []
        self._partitions: list[Partition] = []
        self._holds: list[LinkHold] = []
        self._warned = False  # LocalhostWarning: once per network
        network.watch_links(self._link_created)
        network.watch_connects(self._connecting)

    @property
    def network(self) -> BaseNetwork:
        """The network these faults act on."""
        return self._net

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
        check_rule(action, nth, count, seconds, copies)
        criteria: dict[str, Any] = {
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
        }
        return self._add_rule(action, criteria, nth, count, seconds, copies)

    def _add_rule(
        self,
        action: str,
        criteria: dict[str, Any],
        nth: int,
        count: int | None,
        seconds: float,
        copies: int,
    ) -> Rule:
        match = Match(self._net, **criteria)
        shown = {**criteria, "nth": nth if nth != 1 else None, "count": count}
        rule = Rule(
            self._net,
            self._unregister,
            action,
            match,
            nth=nth,
            count=count,
            seconds=float(seconds),
            copies=copies,
            description=describe(action, seconds, shown),
        )
        self._send_rules.append(rule)
        self._net.set_send_filter(self)
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
        if not self._send_rules:
            self._net.set_send_filter(None)

    def on_send(self, src: Host, seg: Segment, dst: Host, link: Link) -> Verdict:
        """The send filter: run the rules on a segment leaving ``src``, in the
        order they were made; None when a rule took the segment."""
        extra = 0.0
        copies = 1
        corrupt = False
        net = self._net
        for rule in list(self._send_rules):
            if not rule.acts_on(src, seg):
                continue
            action = rule.action
            if action == "drop":
                net.drop(src, seg, f"dropped by rule: {rule.description}")
                return None
            if action == "reset":
                net.drop(src, seg, f"reset by rule: {rule.description}")
                self._reset_sender(src, seg, dst, link.delay)
                return None
            if action == "hold":
                rule.keep(src, seg, dst, link)
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
        rst = reset_reply(seg)
        if rst is not None:
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
        for link in net.links():
            if part.covers(link):
                link.add_partition(part)
        net.note(ha.name, f"partition ({mode}): {text}")
        return part

    def _link_created(self, link: Link) -> None:
        for part in self._partitions:
            if part.covers(link):
                link.add_partition(part)

    def forget_partition(self, part: Partition) -> None:
        """``part`` healed: new links are no longer cut by it."""
        self._partitions.remove(part)

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
        """Crash ``host`` now (or at virtual time ``at``), as a machine loses
        power: its TCBs and listeners vanish without a segment; segments
        reaching it are lost until restart, so its peers learn of the crash
        only by a RST to their next segment after the restart, or by timing out.

        The application on the host dies with it.  The adapter driving the
        network (asyncio or trio) cancels every task running on the host (a
        task runs on the host that was current where it was created), closes
        its servers and sockets -- nothing reaches the wire, the TCBs are
        gone -- and a new connection from the host fails with ``ENETDOWN``
        until restart.  What other hosts' code sees is what a peer of a
        crashed machine sees (see the README, "Crash and restart").

        Raises:
            ValueError, TypeError: an unknown host.
        """
        h = self._host(host, "host")
        if at is None:
            h.crash()
        else:
            self._net.call_at(at, h.crash)

    def restart(self, host: Any, *, at: float | None = None, app: App | None = None) -> None:
        """Bring a crashed host back (now or at ``at``) with an empty TCP stack:
        segments of its old connections now draw a RST.

        With ``app`` (an async function taking no argument), the adapter
        driving the network then calls it and runs it as a task on the host,
        as turmoil's ``bounce`` calls the host's software again: the restarted
        host's application, ended by the next crash.

        Raises:
            ValueError, TypeError: an unknown host; ``app`` not callable.
            RuntimeError: ``app`` given and no event loop or trio run drives the
                network (raised at ``at`` when scheduled).
        """
        h = self._host(host, "host")
        if app is not None and not callable(app):
            raise TypeError(f"app must be an async function taking no argument, got {app!r}")
        if at is None:
            h.restart(app)
        else:

            def restart() -> None:
                h.restart(app)

            self._net.call_at(at, restart)

    # -- the silent misuse: code that forgot its host -----------------------------------

    def _connecting(self, host: Host, ip: str) -> None:
        """A connection from ``localhost`` to a named host that a fault between
        named hosts misses: warn once (:class:`LocalhostWarning`)."""
        net = self._net
        if self._warned or host is not net.localhost:
            return
        if not (self._partitions or self._holds or self._send_rules):
            return
        dst = net.host_for_address(ip)
        if dst is None or dst is host:
            return
        missed = self._missed_fault(host, dst)
        if missed is None:
            return
        self._warned = True
        warnings.warn(
            f"a connection from host 'localhost' to {dst.name!r} ignores {missed}, set "
            "between named hosts: no host was current where it was opened. Say which "
            "host the code runs on: aiotcpsim.run(..., host=...), loop_factory(net, "
            "host=...), open_network(net, host=...), the pytest marker's host=, or "
            "`with host.current():`",
            LocalhostWarning,
            stacklevel=2,
        )

    def _missed_fault(self, local: Host, dst: Host) -> str | None:
        """A fault in force that names hosts and does not act on traffic between
        ``local`` and ``dst``, described; None when there is none."""
        a, b = local.name, dst.name
        for part in self._partitions:
            if part.active and not (part.cuts(a, b) or part.cuts(b, a)):
                return f"the partition {part.text}"
        for hold in self._holds:
            if hold.active and not (hold.holds(a, b) or hold.holds(b, a)):
                return "a held link"
        local_ips = frozenset({local.ip, self._net.outside_address(local), local.ipv6 or ""})
        for rule in self._send_rules:
            match = rule.match
            if match.names_hosts() and not match.may_match_between(
                local_ips, frozenset({dst.ip, dst.ipv6 or ""})
            ):
                return f"the rule '{rule.description}'"
        return None

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
            TypeError: ``conn`` is not a Connection.
            ValueError: ``conn`` belongs to no host of this network, or a bad ``seq``.
        """
        _check_conn(conn)
        if not (
            seq in ("exact", "in-window", "stale")
            or (isinstance(seq, int) and not isinstance(seq, bool))
        ):
            raise ValueError(f"seq must be 'exact', 'in-window', 'stale' or an int, got {seq!r}")
        _check_seconds("after", after)
        net = self._net
        key = (conn.local[0], conn.local[1], conn.remote[0], conn.remote[1])
        owner = next((h for h in net.hosts if h.lookup(key) is conn), None)
        if owner is None:
            raise ValueError(f"{conn!r} is not an open connection of this network")
        peer = net.host_for_address(conn.remote[0])
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
            TypeError: ``segment`` is not a Segment, a time is not a number.
            ValueError: no host owns the segment's destination address, or a time
                in the past, NaN or infinite.
        """
        if not isinstance(segment, Segment):
            raise TypeError(f"segment must be a Segment, got {segment!r}")
        _check_seconds("after", after)
        if at is not None and (isinstance(at, bool) or not isinstance(at, (int, float))):
            raise TypeError(f"at must be a number of seconds, got {at!r}")
        if at is not None and not -float("inf") < at < float("inf"):
            raise ValueError(f"at must be finite, got {at!r}")
        net = self._net
        when = net.now + after if at is None else at
        if when < net.now:
            raise ValueError(f"cannot replay in the past: {when!r} < {net.now!r}")
        dst = net.host_for_address(segment.dst_ip)
        if dst is None and not is_loopback(segment.dst_ip):
            raise ValueError(f"no host owns {segment.dst_ip}, the replayed segment's destination")
        src = net.host_for_address(segment.src_ip)

        def fire() -> None:
            target = dst
            if target is None:  # loopback: back to the host it came from
                target = src if src is not None else net.localhost
            if via_link and src is not None:
                net.stats["segments_injected"] += 1
                net.note(src.name, "segment replayed")
                net.transmit(src, segment)
                return
            self._inject(segment, src.name if src else "replay", target, 0.0, "replayed")

        net.call_at(when, fire)

    def syn_flood(
        self,
        target: Any,
        port: int,
        *,
        count: int,
        rate: float,
        sources: Sequence[str] | None = None,
        after: float = 0.0,
    ) -> None:
        """A SYN flood: ``count`` SYNs to ``target``'s ``port``, ``rate`` per
        second from ``after`` seconds from now, with spoofed source addresses.

        Each SYN comes from one of ``sources`` in turn (default: addresses of
        198.18.0.0/15 that no host owns, drawn from the network's RNG: their
        SYN-ACKs find no route and vanish, as an attacker's do), from a random
        port, with a random ISN, a window of 64240 and an MSS option of 1460
        (a Linux client's SYN).  They reach ``target`` directly, as
        :meth:`replay` delivers a segment, traced as sent by ``"flood"``.

        Raises:
            TypeError: a bad type (``target`` not a host of this network or
                its name, ``count`` not an int...).
            ValueError: ``count`` < 1, a port outside 1..65535, a rate that is
                not > 0 and finite, an empty ``sources``, a bad ``after``.
        """
        host = self._host(target, "target")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise ValueError(f"port must be an int within 1..65535, got {port!r}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError(f"count must be an int >= 1, got {count!r}")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            raise TypeError(f"rate must be a number of SYNs per second, got {rate!r}")
        if not 0 < rate < math.inf:
            raise ValueError(f"rate must be > 0 and finite, got {rate!r}")
        if sources is not None and (
            isinstance(sources, str) or not sources or not all(isinstance(a, str) for a in sources)
        ):
            raise ValueError(f"sources must be a non-empty sequence of addresses, got {sources!r}")
        _check_seconds("after", after)
        net = self._net
        rng = net.rng
        options = TcpOptions(mss=1460)
        start = net.now + after
        for i in range(count):
            if sources is None:
                src = f"198.{18 + rng.randrange(2)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            else:
                src = sources[i % len(sources)]
            syn = Segment(
                src, rng.randrange(1024, 65536), host.ip, port,
                rng.getrandbits(32), 0, SYN, 64240, b"", options,
            )  # fmt: skip
            net.call_at(start + i / rate, self._flood_one(syn, host))

    def _flood_one(self, syn: Segment, host: Host) -> Callable[[], None]:
        def fire() -> None:
            self._inject(syn, "flood", host, 0.0, "SYN flood")

        return fire

    def _inject(self, seg: Segment, sender: str, to: Host, after: float, why: str) -> None:
        """Deliver a segment no TCB sent, ``after`` seconds from now, bypassing links."""
        net = self._net
        net.stats["segments_injected"] += 1
        if net.trace.enabled:
            net.trace.record(net.now, SEND, sender, seg, None, None, None, why)

        def deliver() -> None:
            to.deliver_from_wire(seg)

        if after:
            net.call_at(net.now + after, deliver)
        else:
            deliver()

    def icmp_unreachable(self, conn: Connection, *, err: int = errno.EHOSTUNREACH) -> None:
        """Hand ``conn`` an ICMP destination unreachable now (``err`` EHOSTUNREACH
        or ENETUNREACH), as if its last segment had drawn one.

        Raises:
            TypeError: ``conn`` is not a Connection or ``err`` not an int.
            ValueError: ``conn`` belongs to no host of this network.
        """
        _check_conn(conn)
        if not isinstance(err, int) or isinstance(err, bool):
            raise TypeError(f"err must be an errno (int), got {err!r}")
        net = self._net
        key = (conn.local[0], conn.local[1], conn.remote[0], conn.remote[1])
        owner = next((h for h in net.hosts if h.lookup(key) is conn), None)
        if owner is None:
            raise ValueError(f"{conn!r} is not an open connection of this network")
        seg = Segment(conn.local[0], conn.local[1], conn.remote[0], conn.remote[1], 0, 0, 0, 0)
        net.stats["icmp_unreachable"] += 1
        net.icmp_error(owner, seg, err)

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
            host = net.find_host(value)
            if host is None:
                raise ValueError(f"{what}={value!r}: no such host on this network")
            return host
        if isinstance(value, Host) and value.network is net:
            return value
        raise TypeError(f"{what} must be a host of this network or its name, got {value!r}")

    def __repr__(self) -> str:
        return (
            f"<Faults rules={len(self._send_rules)} partitions={len(self._partitions)} "
            f"holds={sum(1 for h in self._holds if h.active)}>"
        )


def _check_conn(conn: object) -> None:
    if not isinstance(conn, Connection):
        raise TypeError(f"conn must be a Connection, got {conn!r}")


def _check_seconds(name: str, value: object) -> None:
    """A finite number of seconds >= 0, or a TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if not 0 <= value < float("inf"):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
