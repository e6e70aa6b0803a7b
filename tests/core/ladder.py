"""Helpers for the core ladder tests: two hosts on a sans-I/O network, driven
by hand, with the trace read back as rows that look like the ladders of
``../shared/CONFORMANCE.md``.

A row is ``(direction, time, flags, seq, ack, len)``, for example::

    ("c>s", 0.0, "S", 0, None, 0)        # A->B  S 0:0(0)
    ("s>c", 0.01, "S.", 0, 1, 0)         # B->A  S. 0:0(0) ack 1
    ("c>s✗", 1.0, "P.", 1, 1, 100)       # lost on the way
    ("c>s⏸", 0.0, "S", 0, None, 0)       # held by the test, released later

* direction: ``"c>s"`` client (10.0.0.1) to server (10.0.0.2), ``"s>c"`` the
  other way; ``✗`` appended when the segment was dropped, ``⏸`` when held;
* time: virtual seconds since :attr:`Pair.t0` (0, or the end of the handshake
  after :meth:`Pair.establish`), rounded to the microsecond so that literals
  compare exactly;
* flags: packetdrill letters in packetdrill order (``F S R P .``; ``-`` for none);
* seq, ack: relative to the sender's and the receiver's ISN, as in packetdrill
  (absolute when that side never sent a SYN, e.g. a RST from a closed port);
  ack is ``None`` when the ACK flag is off;
* len: payload bytes.

``rows(window=True)`` appends the advertised window as a seventh field.

A ladder starts from one constructor per state: :meth:`Pair.establish`
(ESTABLISHED), :meth:`Pair.fin_wait_1`, :meth:`Pair.fin_wait_2`,
:meth:`Pair.close_wait`, :meth:`Pair.last_ack`, :meth:`Pair.closing`,
:meth:`Pair.time_wait` build their state directly with
:mod:`aiotcpsim.testing` (no handshake, no FIN exchange), so a broken
handshake fails only the handshake's tests; :meth:`Pair.syn_sent` and
:meth:`Pair.syn_received` run the handshake up to a held segment and assert
the state they reached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiotcpsim import TcpConfig
from aiotcpsim.net import Network
from aiotcpsim.segment import ACK, FIN, PSH, RST, SYN, Segment
from aiotcpsim.stack.host import Host, Listener
from aiotcpsim.tcp import Connection, State
from aiotcpsim.testing import (
    ConnectionPair,
    close_wait_pair,
    closing_pair,
    established_pair,
    fin_wait_1_pair,
    fin_wait_2_pair,
    last_ack_pair,
    time_wait_pair,
)
from aiotcpsim.trace import DROP, NOTE, SEND, STATE, TraceRecord

A_IP = "10.0.0.1"
B_IP = "10.0.0.2"
PORT = 8080
D = 0.01
"""The default one-way delay, ``d`` of the ladders."""

Row = tuple[Any, ...]

_MASK = 0xFFFFFFFF
_EPS = 1e-9


def flags_text(flags: int) -> str:
    """packetdrill's spelling: ``S``, ``S.``, ``.``, ``P.``, ``F.``, ``R``, ``R.``, ``-``."""
    text = ""
    for bit, letter in ((FIN, "F"), (SYN, "S"), (RST, "R"), (PSH, "P"), (ACK, ".")):
        if flags & bit:
            text += letter
    return text or "-"


class App:
    """A ConnectionUser / ListenerUser that records ``(time, event)``, times
    relative to the pair's ``t0``."""

    def __init__(self, pair: Pair) -> None:
        self.pair = pair
        self.events: list[tuple[float, str]] = []

    def _add(self, what: str) -> None:
        self.events.append((self.pair.rel(self.pair.net.now), what))

    def tcp_connected(self, conn: Connection) -> None:
        self._add("connected")

    def tcp_readable(self, conn: Connection) -> None:
        self._add("readable")

    def tcp_writable(self, conn: Connection) -> None:
        self._add("writable")

    def tcp_closed(self, conn: Connection) -> None:
        self._add("closed")

    def tcp_acceptable(self, listener: Listener) -> None:
        self._add("acceptable")

    def first(self, what: str) -> float | None:
        return next((when for when, event in self.events if event == what), None)


class Pair:
    """A client host ``c`` (10.0.0.1) and a server host ``s`` (10.0.0.2).

    ``Pair(delay=0.01, syn_retries=3)``: keyword arguments other than
    ``seed``, ``delay`` and ``config`` are :class:`TcpConfig` fields;
    ``config=TcpConfig.legacy_linux()`` picks a whole profile.
    """

    def __init__(
        self,
        *,
        seed: int = 1,
        delay: float = D,
        config: TcpConfig | None = None,
        **knobs: Any,
    ) -> None:
        if config is None:
            config = TcpConfig(**knobs)
        elif knobs:
            config = config.replace(**knobs)
        self.config = config
        self.d = delay
        self.net = Network(seed, delay=delay, tcp=config)
        self.c: Host = self.net.add_host("client", A_IP)
        self.s: Host = self.net.add_host("server", B_IP)
        self.labels = {"client": "c", "server": "s", "localhost": "l"}
        self.listener: Listener | None = None
        self.t0 = 0.0
        """Origin of the times in rows, states and events."""
        self.isn: dict[str, int] = {}
        """ISNs pinned by host label; otherwise learned from each side's latest SYN."""
        self.tuple: tuple[str, int, str, int] | None = None
        """(client ip, client port, server ip, server port) of the connection under test."""
        self._held: set[int] = set()
        self._rules: list[_Rule] = []
        self.net.set_send_tap(self._filter)

    # -- time --------------------------------------------------------------------

    @property
    def now(self) -> float:
        """Virtual time relative to ``t0``."""
        return self.rel(self.net.now)

    def rel(self, when: float) -> float:
        return round(when - self.t0, 6)

    def at(self, when: float) -> None:
        """Run the network up to ``t0 + when``.

        Events that differ from that time only by the float noise of summed
        delays run too, and the clock is then set to exactly ``t0 + when``, so
        that what the test does next happens at the literal time it names.
        """
        self._advance(self.t0 + when)

    def _advance(self, target: float) -> None:
        self.net.advance(target + _EPS)
        self.net.now = target

    def idle(self, limit: float | None = None) -> float:
        """Run until nothing is pending (or ``t0 + limit``); the time reached, relative."""
        if limit is None:
            self.net.run_until_idle()
        else:
            self.net.run_until_idle(self.t0 + limit)
            self._advance(self.t0 + limit)
        return self.now

    # -- opening -----------------------------------------------------------------

    def listen(self, port: int = PORT, **kwargs: Any) -> Listener:
        self.listener = self.s.listen(port, **kwargs)
        return self.listener

    def connect(self, port: int = PORT, **kwargs: Any) -> Connection:
        conn = self.c.connect(B_IP, port, **kwargs)
        self.tuple = (conn.local[0], conn.local[1], conn.remote[0], conn.remote[1])
        return conn

    def establish(self) -> tuple[Connection, Connection]:
        """Both ESTABLISHED, built by :func:`aiotcpsim.testing.established_pair`
        (no handshake runs: a broken handshake fails only its own tests).

        Returns (client connection, server connection); the server listens on
        8080.  The trace is cleared, both ISNs are pinned and ``t0`` moves to
        the end of the handshake, so the ladder of the test starts at time 0
        with seq and ack 1 on both sides.
        """
        a, b = self._build(established_pair)
        self.net.trace.clear()
        return a, b

    def _build(self, constructor: Callable[..., ConnectionPair]) -> tuple[Connection, Connection]:
        """A pair from :mod:`aiotcpsim.testing` on this network, on 8080."""
        pair = constructor(network=self.net, client=self.c, server=self.s, port=PORT)
        self.listener = pair.listener
        a, b = pair.connections()
        self.tuple = (a.local[0], a.local[1], a.remote[0], a.remote[1])
        self.isn = {"c": a.iss, "s": b.iss}
        self.t0 = pair.t0
        return a, b

    # -- one constructor per state ---------------------------------------------------
    #
    # The teardown states are built directly by aiotcpsim.testing (see its table:
    # each pair is the one a real exchange reaches, proved by test_constructors.py),
    # so a ladder about CLOSING fails only when CLOSING is broken.  The client
    # ``a`` is in the named state; times stay relative to ``t0`` (the end of the
    # handshake, d = 10 ms); the trace holds what the constructor sent (segments
    # still in flight) and the states it set (``states()`` leaves out the jumps
    # to ESTABLISHED).  SYN-SENT and SYN-RECEIVED are the handshake's own states:
    # their constructors run it, up to a held segment.

    def syn_sent(self, **kwargs: Any) -> tuple[Connection, list[Segment]]:
        """A listening server and a client in SYN-SENT whose SYN is held (``⏸``):
        returns the client connection and the held SYN, for :meth:`release`."""
        if self.listener is None:
            self.listen()
        held = self.hold("c>s", "S")
        conn = self.connect(**kwargs)
        self.isn["c"] = conn.iss
        _reached(conn, State.SYN_SENT, "SYN-SENT")
        return conn, held

    def syn_received(self, **kwargs: Any) -> tuple[Connection, Connection, list[Segment]]:
        """The client ESTABLISHED, the server's child in SYN-RECEIVED: the third
        ACK is held.  Returns (client, server child, held ACK); ISNs pinned."""
        if self.listener is None:
            self.listen()
        held = self.hold("c>s", ".")
        conn = self.connect(**kwargs)
        self.at(self.rel(self.net.now) + 2 * self.d)
        child = next((c for c in self.s.connections() if c.remote == conn.local), None)
        assert child is not None, "no SYN reached the server: connect() is broken"
        _reached(conn, State.ESTABLISHED, "ESTABLISHED (client, on the SYN-ACK)")
        _reached(child, State.SYN_RECEIVED, "SYN-RECEIVED")
        self.isn = {"c": conn.iss, "s": child.iss}
        return conn, child, held

    def fin_wait_1(self) -> tuple[Connection, Connection]:
        """``a`` shut down at 0: FIN-WAIT-1, its FIN in flight; ``b`` ESTABLISHED."""
        return self._build(fin_wait_1_pair)

    def fin_wait_2(self) -> tuple[Connection, Connection]:
        """``a`` shut down at 0 and its FIN was acknowledged: FIN-WAIT-2 at 2d,
        ``b`` in CLOSE-WAIT since d."""
        return self._build(fin_wait_2_pair)

    def close_wait(self) -> tuple[Connection, Connection]:
        """``b`` shut down first, at 0: ``a`` in CLOSE-WAIT, ``b`` in FIN-WAIT-2, at 2d."""
        return self._build(close_wait_pair)

    def last_ack(self) -> tuple[Connection, Connection]:
        """As :meth:`close_wait`, then ``a`` shuts down at 2d: LAST-ACK, its
        FIN in flight; ``b`` in FIN-WAIT-2."""
        return self._build(last_ack_pair)

    def closing(self) -> tuple[Connection, Connection]:
        """Both shut down at 0; the FINs crossed: both CLOSING at d, both
        ACKs in flight."""
        return self._build(closing_pair)

    def time_wait(self) -> tuple[Connection, Connection]:
        """``a`` closed first, ``b`` as soon as the FIN came (d): ``a`` in
        TIME-WAIT at 2d, its ACK in flight; ``b`` in LAST-ACK until it arrives at 3d."""
        return self._build(time_wait_pair)

    # -- hand-made segments --------------------------------------------------------

    def segment(
        self,
        direction: str,
        flags: int,
        seq: int,
        ack: int | None = None,
        payload: bytes = b"",
        window: int = 65535,
    ) -> Segment:
        """A segment on the connection under test, ``direction`` ``"c>s"`` or
        ``"s>c"``; seq relative to the sender's pinned ISN, ack (which sets the
        ACK flag) relative to the receiver's."""
        assert self.tuple is not None, "connect first"
        cip, cport, sip, sport = self.tuple
        src, dst = direction.split(">")
        ends = {"c": (cip, cport), "s": (sip, sport)}
        return Segment(
            *ends[src],
            *ends[dst],
            (self.isn.get(src, 0) + seq) & _MASK,
            0 if ack is None else (self.isn.get(dst, 0) + ack) & _MASK,
            flags | (0 if ack is None else ACK),
            window,
            payload,
        )

    def send(
        self,
        direction: str,
        flags: int,
        seq: int,
        ack: int | None = None,
        payload: bytes = b"",
        window: int = 65535,
    ) -> Segment:
        """Put a hand-made segment (see :meth:`segment`) on the wire now: it is
        traced and arrives after the link's delay."""
        seg = self.segment(direction, flags, seq, ack, payload, window)
        src = self.c if direction.startswith("c") else self.s
        self.net.transmit(src, seg)
        return seg

    def deliver(
        self,
        direction: str,
        flags: int,
        seq: int,
        ack: int | None = None,
        payload: bytes = b"",
        window: int = 65535,
    ) -> Segment:
        """Hand a hand-made segment to the receiving host at once (not traced as sent)."""
        seg = self.segment(direction, flags, seq, ack, payload, window)
        dst = self.s if direction.startswith("c") else self.c
        dst.deliver_from_wire(seg)
        return seg

    # -- targeted faults -------------------------------------------------------------

    def drop(
        self, direction: str, flags: str, *, length: int | None = None, count: int = 1
    ) -> None:
        """Lose the next ``count`` segments sent in ``direction`` whose flags
        read ``flags`` (and whose payload is ``length`` bytes, if given)."""
        self._rules.append(_Rule(self, direction, flags, length, count, hold=False))

    def hold(self, direction: str, flags: str, *, length: int | None = None) -> list[Segment]:
        """Hold the next matching segment (``⏸``): it goes nowhere until
        :meth:`release`.  Returns the list the held segment will be put in."""
        rule = _Rule(self, direction, flags, length, 1, hold=True)
        self._rules.append(rule)
        return rule.held

    def release(self, held: list[Segment]) -> None:
        """Let held segments travel now (they arrive after the link's delay)."""
        for seg in held:
            dst = self.net.host_for_address(seg.dst_ip)
            assert dst is not None
            self.net.push(self.net.now + self.d, dst.deliver_from_wire, seg)
        held.clear()

    def _filter(self, src: Host, seg: Segment, retransmission: bool) -> bool:
        for rule in self._rules:
            if rule.count and rule.matches(src, seg):
                rule.count -= 1
                net = self.net
                net.stats["segments_sent"] += 1
                net.trace.append(
                    TraceRecord(
                        net.now,
                        SEND,
                        src.name,
                        seg,
                        text="retransmission" if retransmission else "",
                    )
                )
                if rule.hold:
                    rule.held.append(seg)
                    self._held.add(id(seg))
                    net.note(src.name, "segment held by the test")
                else:
                    net.drop(src, seg, "dropped by the test")
                return False
        return True

    # -- reading the trace -------------------------------------------------------------

    def rows(self, *, window: bool = False, since: float | None = None) -> list[Row]:
        """The segments sent so far (from ``since``, relative), as ladder rows."""
        records = self.net.trace.records
        dropped = {id(r.segment) for r in records if r.kind == DROP and r.segment is not None}
        by_ip = {h.ip: self.labels.get(h.name, h.name) for h in self.net.hosts}
        learned: dict[tuple[str, int, str, int], int] = {}
        rows: list[Row] = []
        for r in records:
            seg = r.segment
            if r.kind != SEND or seg is None:
                continue
            key = (seg.src_ip, seg.src_port, seg.dst_ip, seg.dst_port)
            back = (seg.dst_ip, seg.dst_port, seg.src_ip, seg.src_port)
            if seg.flags & SYN:
                learned[key] = seg.seq
            src = by_ip.get(seg.src_ip, seg.src_ip)
            dst = by_ip.get(seg.dst_ip, seg.dst_ip)
            when = self.rel(r.time)
            if since is not None and when < since:
                continue
            base = self.isn[src] if src in self.isn else learned.get(key, 0)
            peer = self.isn[dst] if dst in self.isn else learned.get(back, 0)
            mark = "✗" if id(seg) in dropped else "⏸" if id(seg) in self._held else ""
            row: Row = (
                f"{src}>{dst}{mark}",
                when,
                flags_text(seg.flags),
                (seg.seq - base) & _MASK,
                (seg.ack - peer) & _MASK if seg.flags & ACK else None,
                len(seg.payload),
            )
            if window:
                row += (seg.window,)
            rows.append(row)
        return rows

    def states(self, who: str | None = None) -> list[tuple[float, str, str]]:
        """``(time, "c" | "s", "STATE")`` of every state change (of one side)."""
        out = []
        for r in self.net.trace.records:
            if r.kind != STATE or r.new is None:
                continue
            if r.new is State.ESTABLISHED and r.old in (State.CLOSED, State.LISTEN):
                continue  # a constructor's jump: the handshake did not run
            when, host, new = r.time, r.host, r.new
            label = self.labels.get(host, host)
            if who is None or label == who:
                out.append((self.rel(when), label, str(new)))
        return out

    def notes(self) -> list[tuple[float, str, str]]:
        return [
            (self.rel(r.time), self.labels.get(r.host, r.host), r.text)
            for r in self.net.trace.records
            if r.kind == NOTE
        ]


class _Rule:
    def __init__(
        self,
        pair: Pair,
        direction: str,
        flags: str,
        length: int | None,
        count: int,
        *,
        hold: bool,
    ) -> None:
        self.pair = pair
        src, dst = direction.split(">")
        self.src = src
        self.dst = dst
        self.flags = flags
        self.length = length
        self.count = count
        self.hold = hold
        self.held: list[Segment] = []

    def matches(self, src: Host, seg: Segment) -> bool:
        labels = self.pair.labels
        dst = self.pair.net.host_for_address(seg.dst_ip)
        return (
            labels.get(src.name) == self.src
            and dst is not None
            and labels.get(dst.name) == self.dst
            and flags_text(seg.flags) == self.flags
            and (self.length is None or len(seg.payload) == self.length)
        )


def _reached(conn: Connection, state: State, name: str) -> None:
    assert conn.state is state, f"could not reach {name}: {conn!r}"


def recv_all(conn: Connection, now: float) -> bytes:
    """Everything readable now (stops at would-block or end of stream)."""
    out = bytearray()
    while True:
        chunk = conn.recv(1 << 20, now)
        if not chunk:
            return bytes(out)
        out += chunk


def only(predicate: Callable[[Row], bool], rows: list[Row]) -> list[Row]:
    return [row for row in rows if predicate(row)]
