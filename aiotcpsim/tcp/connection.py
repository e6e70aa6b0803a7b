"""One TCP connection (a TCB): the RFC 9293 state machine, sans-I/O.

A :class:`Connection` never reads a clock and never does I/O.  Every method
that can change something takes the virtual time ``now``; segments go out
through its owner (:class:`ConnectionOwner`, the host), and the owner calls
:meth:`Connection.on_timer` when :attr:`Connection.next_deadline` comes.

Where RFC 9293 leaves a choice, Linux's is taken, with the knob in
:class:`~aiotcpsim.config.TcpConfig`:

* SYN retransmission: ``syn_linear_timeouts`` SYN RTOs are not doubled
  (Linux >= 6.5), and connect gives up after ``syn_retries +
  syn_linear_timeouts`` retransmissions or ``(2**(syn_retries + 1) - 1)`` initial
  RTOs, whichever comes first (``tcp_write_timeout``).
* RTO (RFC 6298 with Linux's floor): ``srtt + max(4 * rttvar, rto_min)``,
  clamped to ``rto_max``; Karn's rule; a handshake without an RTT sample starts
  data at ``rto_fallback`` (3 s, RFC 6298 section 5.7).  Data retransmission
  gives up after the time ``retries2`` backoffs from ``rto_min`` would take
  (``tcp_model_timeout``: 924.6 s for 15), orphans after ``orphan_retries``.
* Delayed ACK: ``delack_min`` (40 ms); ACK at once in quick-ACK mode (the
  first ``quickack_segments`` ACKs, unless the connection is interactive),
  for every second full-sized segment, for out-of-order or duplicate data.
* RST handling with RFC 5961 (exact RST resets, in-window RST and SYN in a
  synchronized state draw a rate-limited challenge ACK); errno after a RST as
  Linux's ``tcp_reset``: SYN-SENT ECONNREFUSED, CLOSE-WAIT EPIPE, else
  ECONNRESET.
* TIME-WAIT as Linux's ``tcp_timewait_state_process``: a fixed ``time_wait``
  (60 s), restarted by a bare ACK or a retransmitted FIN (which is re-ACKed),
  ended by an exact RST unless ``rfc1337``.
* Congestion control: slow start, congestion avoidance and NewReno fast
  retransmit/recovery (RFC 5681, RFC 6582), initial window 10 segments.

Every state change goes through :meth:`Connection._set_state`, which reports
it to the owner (the trace).
"""

from __future__ import annotations

import errno
import os
from bisect import bisect_right
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from ..segment import ACK, FIN, NO_OPTIONS, PSH, RST, SYN, Segment, TcpOptions, seq_diff
from .state import (
    ABORT_RESETS,
    CLOSE_WAIT,
    CLOSED,
    CLOSING,
    ESTABLISHED,
    FIN_WAIT_1,
    FIN_WAIT_2,
    LAST_ACK,
    LISTEN,
    RECEIVING,
    SEGMENT_STEPS,
    SENDING,
    SYN_RECEIVED,
    SYN_SENT,
    SYNCHRONIZED,
    TIME_WAIT,
    WRITABLE,
    State,
)

if TYPE_CHECKING:
    from ..config import TcpConfig

__all__ = ["Connection", "ConnectionOwner", "ConnectionUser", "State"]

_MASK = 0xFFFFFFFF

# Segment(...) without the Python-level __new__ of the named tuple: all ten
# fields are given, so this is what that __new__ does, one call less per segment.
_new_segment = tuple.__new__

# The flags of a segment header prediction takes (ACK, with or without PSH), with PSH set.
_ACK_PSH = ACK | PSH

# The options of our SYNs, one immutable TcpOptions per MSS value.
_MSS_OPTIONS: dict[int, TcpOptions] = {}


def _os_error(code: int) -> OSError:
    # OSError(errno, text) builds the PEP 3151 subclass (ConnectionResetError...).
    return OSError(code, os.strerror(code))


class _Wire(Protocol):
    """The part of the network a connection sends through directly."""

    def _transmit(self, src: Any, segment: Segment, retransmission: bool) -> None: ...


class ConnectionOwner(Protocol):
    """What a :class:`Connection` needs from the stack that holds it (the host).

    All calls are made synchronously from inside a Connection method.
    """

    @property
    def network(self) -> _Wire:
        """Where data, ACK and SYN segments go without :meth:`transmit`, as
        ``network._transmit(owner, segment, retransmission)``: one call less per
        segment.  Segments the owner must see (RSTs, counted) use :meth:`transmit`."""

    def transmit(self, segment: Segment, *, retransmission: bool = False) -> None:
        """Put ``segment`` on the wire.  Never delivers synchronously."""

    def schedule(self, conn: Connection, when: float) -> None:
        """Call ``conn.on_timer(now)`` at virtual time ``when`` (or later).

        A wake-up may be early or redundant; ``on_timer`` re-checks its own
        deadlines.  The connection calls this only when its earliest deadline
        moves earlier than the last one it asked for.
        """

    def state_changed(self, conn: Connection, old: State, new: State, now: float) -> None:
        """Record a transition (trace, log); release a 4-tuple on CLOSED."""

    def admit(self, conn: Connection) -> bool:
        """A passive connection in SYN-RECEIVED got a valid ACK: is there room
        in the listener's accept queue?  False: the ACK is dropped, as Linux
        does on a full accept queue (``tcp_abort_on_overflow`` = 0)."""

    def note(self, conn: Connection, text: str, now: float) -> None:
        """Record a notable event in the trace (challenge ACK, timer restart...)."""


class ConnectionUser(Protocol):
    """The application side of a connection (an adapter's transport or socket).

    Like ``select()``: a pending error makes a connection both readable and
    writable.  Callbacks run synchronously at the end of the segment or timer
    that caused them; they may call back into the connection.
    """

    def tcp_connected(self, conn: Connection) -> None:
        """The handshake completed."""

    def tcp_readable(self, conn: Connection) -> None:
        """``recv()`` has something new: data, end of stream, or an error."""

    def tcp_writable(self, conn: Connection) -> None:
        """``send()`` can take more bytes, or would now raise."""

    def tcp_closed(self, conn: Connection) -> None:
        """The connection reached CLOSED."""


# Pending notifications for the user, fired together at the end of an event.
_N_CONNECTED = 1
_N_READABLE = 2
_N_WRITABLE = 4
_N_CLOSED = 8


class Connection:
    """A TCB: one end of one TCP connection.

    Hosts create connections (:meth:`aiotcpsim.host.Host.connect`,
    :meth:`aiotcpsim.host.Listener.accept`); applications use :meth:`send`,
    :meth:`recv`, :meth:`shutdown`, :meth:`close` and :meth:`abort`, and learn
    about progress through their :class:`ConnectionUser`.

    Sequence numbers are kept internally as unbounded offsets from the ISNs
    (``iss + offset`` modulo 2**32 is the wire value), so transfers of any
    length survive 32-bit wraparound.
    """

    __slots__ = (
        "_ack_at",
        "_ack_now",
        "_ato",
        "_backoff",
        "_chunk_head",
        "_chunk_starts",
        "_chunks",
        "_closed_by_app",
        "_cwnd",
        "_dupacks",
        "_fin_queued",
        "_hs_rtt_t",
        "_ka_at",
        "_ka_probes",
        "_last_challenge",
        "_last_oow_ack",
        "_last_rcv_time",
        "_lip",
        "_lport",
        "_lrcvtime",
        "_notify",
        "_ooo",
        "_ooo_bytes",
        "_ooo_fin",
        "_persist_at",
        "_pingpong",
        "_quick",
        "_rcv_adv",
        "_rcv_fin",
        "_rcv_mss",
        "_rcv_so",
        "_rcv_unacked",
        "_rcvq",
        "_rcvq_len",
        "_recover",
        "_rip",
        "_rport",
        "_rto",
        "_rtt_so",
        "_rtt_t",
        "_rttvar",
        "_rtx_armed_at",
        "_rtx_at",
        "_rtx_stamp",
        "_scheduled",
        "_snd_max",
        "_snd_nxt",
        "_snd_sml",
        "_snd_una",
        "_snd_wl1",
        "_snd_wl2",
        "_snd_wnd",
        "_soft_error",
        "_srtt",
        "_ssthresh",
        "_syn_start",
        "_timer_at",
        "_want_write",
        "_written",
        "config",
        "eof_received",
        "error",
        "irs",
        "iss",
        "keepalive",
        "keepalive_count",
        "keepalive_idle",
        "keepalive_interval",
        "local",
        "max_snd_wnd",
        "mss",
        "nodelay",
        "owner",
        "passive",
        "peer_mss",
        "pending_error",
        "rcvbuf",
        "remote",
        "retransmissions",
        "sndbuf",
        "state",
        "syn_retries",
        "user",
        "user_timeout",
    )

    def __init__(
        self,
        owner: ConnectionOwner,
        config: TcpConfig,
        local: tuple[str, int],
        remote: tuple[str, int],
        iss: int,
    ) -> None:
        self.owner = owner
        self.config = config
        self.local = local
        self.remote = remote
        self._lip, self._lport = local
        self._rip, self._rport = remote
        self.iss = iss & _MASK
        self.irs = 0
        self.state = CLOSED
        self.user: ConnectionUser | None = None
        self.passive = False
        # -- per-socket options (setsockopt) --
        self.syn_retries = config.syn_retries
        """``TCP_SYNCNT``."""
        self.user_timeout: float | None = None
        """``TCP_USER_TIMEOUT`` in seconds (None or 0: off)."""
        self.nodelay = False
        """``TCP_NODELAY``: off means Nagle's algorithm holds back small segments."""
        self.keepalive = False
        self.keepalive_idle = config.keepalive_time
        self.keepalive_interval = config.keepalive_intvl
        self.keepalive_count = config.keepalive_probes
        self.rcvbuf = config.rcvbuf
        self.sndbuf = config.sndbuf
        self.mss = config.mss
        """The MSS we announce; segments we send use ``min(mss, peer_mss)``."""
        self.peer_mss = config.default_mss
        # -- errors --
        self.error: int | None = None
        """The errno that ended the connection, if one did."""
        self.pending_error: int | None = None
        """An error not yet reported to the application (``SO_ERROR``)."""
        self._soft_error: int | None = None
        self.eof_received = False
        self.retransmissions = 0
        self._closed_by_app = False
        self._notify = 0
        self._want_write = False
        # -- send sequence space: offsets from iss (0 is the SYN, 1 + k data byte k) --
        self._snd_una = 0
        self._snd_nxt = 0
        self._snd_max = 0
        self._snd_sml = 0  # end of the last sub-MSS segment sent (Minshall's Nagle)
        self._snd_wnd = 0
        self.max_snd_wnd = 0
        self._snd_wl1 = 0
        self._snd_wl2 = 0
        self._written = 0
        self._fin_queued = False
        self._chunks: list[bytes] = []
        self._chunk_starts: list[int] = []
        self._chunk_head = 0
        # -- receive sequence space: offsets from irs --
        self._rcv_so = 0
        self._rcv_adv = 0
        self._rcv_fin = False
        # Received in-order data not yet read: the segments' payloads as they came
        # (no copy until recv() joins them), and their total length.
        self._rcvq: deque[bytes | memoryview] = deque()
        self._rcvq_len = 0
        self._ooo: list[tuple[int, bytes | memoryview]] = []
        self._ooo_bytes = 0
        self._ooo_fin: int | None = None
        self._rcv_unacked = 0
        self._ack_now = False
        # The delayed-ACK engine, as Linux's icsk_ack: no ATO until the first data
        # arrives (then quick-ACK mode starts), the time of the last data, the
        # receive-MSS estimate, interactive (ping-pong) mode.
        self._quick = 0
        self._ato = 0.0
        self._lrcvtime = 0.0
        self._rcv_mss = 0
        self._pingpong = False
        self._last_rcv_time = 0.0
        self._last_challenge = -1e18
        self._last_oow_ack = -1e18
        # -- retransmission, RTT, congestion --
        self._rto = config.rto_initial
        self._srtt: float | None = None
        self._rttvar = 0.0
        self._backoff = 0
        self._rtt_so: int | None = None
        self._rtt_t = 0.0
        self._hs_rtt_t: float | None = None
        self._syn_start = 0.0
        self._rtx_armed_at = 0.0
        self._rtx_stamp: float | None = None
        self._cwnd = 0
        self._ssthresh = 1 << 30
        self._dupacks = 0
        self._recover: int | None = None
        self._ka_probes = 0
        # -- timers (absolute virtual times, None when off) --
        self._rtx_at: float | None = None
        self._ack_at: float | None = None
        self._persist_at: float | None = None
        self._ka_at: float | None = None
        self._timer_at: float | None = None  # TIME-WAIT, orphaned FIN-WAIT-2
        self._scheduled: float | None = None

    # ------------------------------------------------------------------ properties

    @property
    def snd_una(self) -> int:
        """SND.UNA, the oldest unacknowledged sequence number."""
        return (self.iss + self._snd_una) & _MASK

    @property
    def snd_nxt(self) -> int:
        """SND.NXT, the next sequence number to send."""
        return (self.iss + self._snd_nxt) & _MASK

    @property
    def rcv_nxt(self) -> int:
        """RCV.NXT, the next sequence number expected."""
        return (self.irs + self._rcv_so) & _MASK

    @property
    def snd_wnd(self) -> int:
        """SND.WND, the peer's last advertised window."""
        return self._snd_wnd

    @property
    def rcv_wnd(self) -> int:
        """RCV.WND, the window last advertised to the peer."""
        return max(0, self._rcv_adv - self._rcv_so)

    @property
    def readable_bytes(self) -> int:
        """Bytes :meth:`recv` can return now."""
        return self._rcvq_len

    @property
    def send_queued(self) -> int:
        """Bytes in the send buffer: written but not yet acknowledged."""
        return self._written - max(0, self._snd_una - 1)

    @property
    def send_buffer_free(self) -> int:
        """Bytes :meth:`send` would accept now."""
        return max(0, self.sndbuf - self.send_queued)

    @property
    def cwnd(self) -> int:
        return self._cwnd

    @property
    def rto(self) -> float:
        """The current retransmission timeout (with backoff)."""
        return self._rto

    @property
    def srtt(self) -> float | None:
        return self._srtt

    @property
    def next_deadline(self) -> float | None:
        """When :meth:`on_timer` next has work, or None."""
        best = self._rtx_at
        t = self._ack_at
        if t is not None and (best is None or t < best):
            best = t
        t = self._persist_at
        if t is not None and (best is None or t < best):
            best = t
        t = self._ka_at
        if t is not None and (best is None or t < best):
            best = t
        t = self._timer_at
        if t is not None and (best is None or t < best):
            best = t
        return best

    @property
    def orphaned(self) -> bool:
        """The application closed the socket; the connection lives on in the kernel."""
        return self._closed_by_app

    def __repr__(self) -> str:
        return f"<Connection {self._lip}:{self._lport} -> {self._rip}:{self._rport} {self.state}>"

    # ------------------------------------------------------------------ opening

    def connect(self, now: float) -> None:
        """Active open: send the SYN (RFC 9293 section 3.10.1).

        Raises:
            OSError: EISCONN/EALREADY when the connection is not fresh.
        """
        if self.state is not CLOSED or self._snd_max:
            raise _os_error(errno.EISCONN if self.state in SYNCHRONIZED else errno.EALREADY)
        self._syn_start = now
        old = self.state  # self._set_state(SYN_SENT, now), inline
        self.state = SYN_SENT
        self.owner.state_changed(self, old, SYN_SENT, now)
        self._send_syn(now, retransmission=False)
        self._rtx_at = now + self._rto
        self._arm()

    @classmethod
    def accept_syn(
        cls,
        owner: ConnectionOwner,
        config: TcpConfig,
        local: tuple[str, int],
        remote: tuple[str, int],
        iss: int,
        syn: Segment,
        now: float,
    ) -> Connection:
        """Passive open: a listener got ``syn``; the child answers with SYN-ACK
        and waits in SYN-RECEIVED (RFC 9293 section 3.10.7.2)."""
        conn = cls(owner, config, local, remote, iss)
        conn.passive = True
        conn.state = LISTEN
        conn._take_syn(syn)
        conn._syn_start = now
        old = conn.state  # conn._set_state(SYN_RECEIVED, now), inline
        conn.state = SYN_RECEIVED
        conn.owner.state_changed(conn, old, SYN_RECEIVED, now)
        conn._send_syn(now, retransmission=False)
        conn._rtx_at = now + conn._rto
        conn._arm()
        return conn

    def _take_syn(self, syn: Segment) -> None:
        self.irs = syn.seq
        self._rcv_so = 1
        self._rcv_adv = 1
        self.peer_mss = syn.options.mss or self.config.default_mss
        window = self._snd_wnd = syn.window
        if window > self.max_snd_wnd:
            self.max_snd_wnd = window
        self._snd_wl1 = 0
        self._snd_wl2 = 0

    def _send_syn(self, now: float, *, retransmission: bool, timed: bool = True) -> None:
        flags = SYN | ACK if self.state is SYN_RECEIVED else SYN
        if self._snd_nxt < 1:
            self._snd_nxt = 1
        if self._snd_max < 1:
            self._snd_max = 1
        self._hs_rtt_t = now if timed and not retransmission else None
        options = _MSS_OPTIONS.get(self.mss)
        if options is None:
            options = _MSS_OPTIONS[self.mss] = TcpOptions(mss=self.mss)
        self._transmit(0, flags, b"", options, retransmission)

    def accepts_new_syn(self, seg: Segment) -> bool:
        """In TIME-WAIT: may ``seg`` open a new incarnation of this 4-tuple?
        (RFC 1122 section 4.2.2.13; Linux ``TCP_TW_SYN``: a bare SYN above RCV.NXT.)"""
        return (
            self.state is TIME_WAIT
            and seg.flags & (SYN | RST | ACK) == SYN
            and seq_diff(seg.seq, self.rcv_nxt) > 0
        )

    # ------------------------------------------------------------------ the application's calls

    def send(self, data: bytes | bytearray | memoryview, now: float) -> int:
        """Queue ``data`` for sending; returns how many bytes the send buffer took
        (0 when it is full: wait for ``tcp_writable``).

        Data written before the handshake completes waits for it.

        Raises:
            BrokenPipeError: after :meth:`shutdown`/:meth:`close`, or once the
                connection is closed (after its error was reported).
            OSError: the pending error (ECONNRESET...), reported once.
        """
        if self.pending_error is not None:
            raise self._pending_exception()
        if self._fin_queued or self._closed_by_app or self.state not in WRITABLE:
            raise _os_error(errno.EPIPE)
        n = len(data)
        if not n:
            return 0
        una = self._snd_una
        room = self.sndbuf - self._written + (una - 1 if una > 1 else 0)  # - self.send_queued
        if room <= 0:
            self._want_write = True
            return 0
        if n > room:
            data = data[:room]
            n = room
            self._want_write = True
        chunk = data if type(data) is bytes else bytes(data)
        self._chunks.append(chunk)
        self._chunk_starts.append(self._written)
        self._written += n
        if self.state in SENDING:
            self._output(now)
            self._arm()
        return n

    def recv(self, max_bytes: int, now: float) -> bytes | None:
        """Up to ``max_bytes`` received bytes; ``None`` when nothing is there
        yet, ``b""`` at the end of the stream.

        After a RST the bytes that arrived before it are returned first, then
        the error is raised once (ECONNRESET...), then ``b""``.

        Raises:
            OSError: the pending error, once.
            ValueError: ``max_bytes`` < 1.
        """
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        if self._rcvq_len:
            data = self._take_received(max_bytes)
            if self.state in RECEIVING:
                self._window_update_after_read(now)
            return data
        if self.pending_error is not None and self.pending_error != errno.EPIPE:
            raise self._pending_exception()
        if self.eof_received or self.state is CLOSED or self.state is TIME_WAIT:
            return b""
        if self.state is LISTEN:
            raise _os_error(errno.ENOTCONN)
        return None

    def _take_received(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` from the receive queue, copied once."""
        q = self._rcvq
        if max_bytes >= self._rcvq_len:
            self._rcvq_len = 0
            if len(q) == 1:
                data = q.pop()
                return data if type(data) is bytes else bytes(data)
            data = b"".join(q)
            q.clear()
            return data
        self._rcvq_len -= max_bytes
        parts: list[bytes | memoryview] = []
        need = max_bytes
        while need:
            chunk = q.popleft()
            n = len(chunk)
            if n > need:
                view = memoryview(chunk)
                parts.append(view[:need])
                q.appendleft(view[need:])
                break
            parts.append(chunk)
            need -= n
        return b"".join(parts)

    def shutdown(self, now: float) -> None:
        """Half-close (``shutdown(SHUT_WR)``): a FIN follows the queued data;
        the peer's data still arrives.  Repeating it does nothing.

        Raises:
            OSError: ENOTCONN before the connection is established (SYN-SENT)
                or after it ended.
        """
        state = self.state
        if self._fin_queued:
            return
        if state is SYN_SENT or state is CLOSED or state is LISTEN:
            if self.pending_error is not None:
                raise self._pending_exception()
            raise _os_error(errno.ENOTCONN)
        if state not in (ESTABLISHED, CLOSE_WAIT, SYN_RECEIVED):
            return
        self._queue_fin(now)

    def close(self, now: float) -> None:
        """Close the socket (``close()``).  With unread received data the
        connection is reset (RFC 9293 section 3.10.4, RFC 2525 2.17); otherwise
        a FIN follows the queued data and the connection finishes in the
        background (FIN-WAIT, TIME-WAIT).  The user gets no more callbacks."""
        if self._closed_by_app:
            return
        self._closed_by_app = True
        self.user = None
        self._want_write = False
        state = self.state
        if state is CLOSED or state is TIME_WAIT or state is LISTEN:
            return
        if state is SYN_SENT:
            self._finish(now, None)
            return
        if self._rcvq_len or self._ooo_bytes:
            self.owner.note(self, "close() with unread data: RST", now)
            self._send_reset_abort(now)
            return
        if state in (ESTABLISHED, CLOSE_WAIT, SYN_RECEIVED):
            self._queue_fin(now)
        elif state is FIN_WAIT_2:
            self._timer_at = now + self.config.fin_timeout
            self._arm()

    def abort(self, now: float) -> None:
        """Abortive close (``SO_LINGER`` 0, ``transport.abort()``): a RST where
        the peer has a connection (Linux ``tcp_need_reset``), then CLOSED.
        Unsent data is discarded."""
        self._closed_by_app = True
        self.user = None
        if self.state is CLOSED:
            return
        if self.state in ABORT_RESETS:
            self._send_reset_abort(now)
        else:
            self._finish(now, None)

    def drop(self, now: float) -> None:
        """Forget the connection without a segment (host crash, expired request)."""
        if self.state is not CLOSED:
            self._finish(now, None, quiet=True)

    def take_error(self) -> int | None:
        """The pending errno, cleared (``getsockopt(SO_ERROR)``)."""
        return self._take_pending()

    def set_keepalive(
        self,
        enabled: bool,
        idle: float | None = None,
        interval: float | None = None,
        count: int | None = None,
        *,
        now: float | None = None,
    ) -> None:
        """``SO_KEEPALIVE`` with ``TCP_KEEPIDLE``/``TCP_KEEPINTVL``/``TCP_KEEPCNT``.

        Pass ``now``: as in Linux, the first probe then comes ``idle`` seconds
        after this call (without it, ``idle`` seconds after the last segment
        received).

        Raises:
            ValueError: a non-positive idle or interval, or a count < 1.
        """
        # Validate everything first: a bad value changes nothing.
        if idle is not None and idle <= 0:
            raise ValueError(f"keep-alive idle must be > 0 seconds, got {idle!r}")
        if interval is not None and interval <= 0:
            raise ValueError(f"keep-alive interval must be > 0 seconds, got {interval!r}")
        if count is not None and count < 1:
            raise ValueError(f"keep-alive count must be >= 1, got {count!r}")
        if idle is not None:
            self.keepalive_idle = float(idle)
        if interval is not None:
            self.keepalive_interval = float(interval)
        if count is not None:
            self.keepalive_count = int(count)
        self.keepalive = bool(enabled)
        if not self.keepalive:
            self._ka_at = None
        elif self.state in SYNCHRONIZED and self.state is not TIME_WAIT:
            base = self._last_rcv_time if now is None else max(self._last_rcv_time, now)
            self._ka_at = base + self.keepalive_idle
            self._arm()

    def icmp_error(self, err: int, now: float) -> None:
        """An ICMP destination-unreachable for this connection (Linux
        ``tcp_v4_err``): fatal while connecting, otherwise a soft error that
        replaces ETIMEDOUT if the connection later times out."""
        if self.state is SYN_SENT or (self.state is SYN_RECEIVED and not self.passive):
            self._finish(now, err)
            self._fire()
        elif self.state is not CLOSED:
            self._soft_error = err

    # ------------------------------------------------------------------ errors and endings

    def _pending_exception(self) -> OSError:
        err = self._take_pending()
        return _os_error(err if err is not None else errno.EPIPE)

    def _take_pending(self) -> int | None:
        err = self.pending_error
        self.pending_error = None
        return err

    def _finish(self, now: float, err: int | None, *, quiet: bool = False) -> None:
        """Go CLOSED, cancel every timer, record ``err`` for the application."""
        self._rtx_at = self._ack_at = self._persist_at = self._ka_at = self._timer_at = None
        if err is not None:
            self.error = err
            if not self._closed_by_app:
                self.pending_error = err
        if not quiet and self.user is not None:
            self._notify |= _N_READABLE | _N_WRITABLE | _N_CLOSED
        elif self.user is not None:
            self._notify |= _N_CLOSED
        self._set_state(CLOSED, now)

    def _send_reset_abort(self, now: float) -> None:
        self._transmit_rst(self._snd_max, now)
        self._chunks.clear()
        self._chunk_starts.clear()
        self._chunk_head = 0
        self._finish(now, None)

    def _transmit_rst(self, so: int, now: float) -> None:
        self.owner.transmit(
            Segment(
                self._lip,
                self._lport,
                self._rip,
                self._rport,
                (self.iss + so) & _MASK,
                self.rcv_nxt,
                RST | ACK,
                0,
            )
        )

    def _reset_by_peer(self, now: float) -> None:
        """A valid RST arrived (Linux ``tcp_reset``)."""
        state = self.state
        if state is SYN_SENT:
            err = errno.ECONNREFUSED
        elif state is CLOSE_WAIT:
            err = errno.EPIPE
        elif state is TIME_WAIT or state is CLOSED:
            err = None
        else:
            err = errno.ECONNRESET
        self._finish(now, err)

    # ------------------------------------------------------------------ state

    def _set_state(self, new: State, now: float) -> None:
        """The one place a state changes; the owner records it."""
        old = self.state
        if old is new:
            return
        self.state = new
        self.owner.state_changed(self, old, new, now)

    # ------------------------------------------------------------------ segments from the peer

    def receive(self, seg: Segment, now: float) -> None:
        """Process one segment addressed to this connection (RFC 9293 3.10.7).

        Never raises for anything the peer sends.
        """
        state = self.state
        if state in SEGMENT_STEPS:  # the common case first
            self._receive_synchronized(seg, now)
        elif state is SYN_SENT:
            self._receive_syn_sent(seg, now)
        elif state is TIME_WAIT:
            self._receive_time_wait(seg, now)
        else:
            return  # CLOSED, LISTEN
        if self._ack_now and self.state is not CLOSED:
            self._transmit(self._snd_max, ACK, b"", NO_OPTIONS, False)  # self._send_ack(now)
        self._arm()
        if self._notify:
            self._fire()

    def _receive_syn_sent(self, seg: Segment, now: float) -> None:
        """RFC 9293 section 3.10.7.3."""
        flags = seg.flags
        if flags & ACK:
            ack_so = self._snd_una + seq_diff(seg.ack, self.snd_una)
            if ack_so <= 0 or ack_so > self._snd_nxt:
                # An old duplicate SYN-ACK (or garbage): reset it, keep trying.
                if not flags & RST:
                    self.owner.transmit(
                        Segment(self._lip, self._lport, self._rip, self._rport, seg.ack, 0, RST, 0)
                    )
                return
            if flags & RST:
                self._reset_by_peer(now)
                return
        elif flags & RST:
            return
        if not flags & SYN:
            return
        self._take_syn(seg)
        self._last_rcv_time = now
        if flags & ACK:
            # SYN-ACK: our SYN is acknowledged.
            self._snd_una = 1
            self._snd_wl1 = 0
            self._snd_wl2 = 1
            self._handshake_rtt(now)
            self._established(now)
            self._send_ack(now)
            self._output(now)
        else:
            # Crossed SYNs: simultaneous open (RFC 9293 Figure 7).
            self._set_state(SYN_RECEIVED, now)
            self._send_syn(now, retransmission=False, timed=False)
            self._rtx_at = now + self._rto

    def _receive_time_wait(self, seg: Segment, now: float) -> None:
        """Linux ``tcp_timewait_state_process`` for a real TIME-WAIT."""
        flags = seg.flags
        rcv_nxt = self.rcv_nxt
        if seg.seq == rcv_nxt and (seg.seg_len == 0 or flags & RST):
            if flags & RST:
                if not self.config.rfc1337:
                    self.owner.note(self, "RST ends TIME-WAIT (tcp_rfc1337=0)", now)
                    self._finish(now, None)
                return
            self._restart_time_wait(now)
            return
        if flags & RST:
            return
        if flags & ACK:  # (a bare SYN below RCV.NXT is ACKed without a restart)
            self._restart_time_wait(now)
        if now - self._last_oow_ack >= self.config.challenge_ack_interval:
            self._last_oow_ack = now
            self._send_ack(now)

    def _restart_time_wait(self, now: float) -> None:
        self._timer_at = now + self.config.time_wait
        self.owner.note(self, "TIME-WAIT timer restarted", now)

    def _receive_synchronized(self, seg: Segment, now: float) -> None:
        """SYN-RECEIVED and the synchronized states (RFC 9293 3.10.7.4)."""
        flags = seg.flags
        state = self.state
        rcv = self._rcv_so
        # Header prediction, as Linux's tcp_rcv_established: in ESTABLISHED, a
        # segment with ACK or ACK|PSH only, at RCV.NXT, whose payload fits the
        # window and whose ACK lies within [SND.UNA, SND.MAX] passes every test
        # below (acceptable, no RST, no SYN, an ACK in range, no FIN), so it goes
        # straight to what those steps would do with it.  _process_ack leaves an
        # ESTABLISHED connection ESTABLISHED, and an application's close() leaves
        # ESTABLISHED at once (FIN-WAIT-1 or a reset), so the data step's
        # "data after close()" test cannot apply either.
        if state is ESTABLISHED and flags | PSH == _ACK_PSH and seg.seq == (self.irs + rcv) & _MASK:
            payload = seg.payload
            plen = len(payload)
            una = self._snd_una
            d = (seg.ack - self.iss - una) & _MASK  # seq_diff(seg.ack, SND.UNA) when >= 0
            if plen <= self._rcv_adv - rcv and not d & 0x80000000 and una + d <= self._snd_max:
                self._last_rcv_time = now
                self._ka_probes = 0
                if self.keepalive:
                    self._ka_at = now + self.keepalive_idle
                self._process_ack(seg, rcv, una + d, plen, now)
                if plen:
                    self._receive_data(rcv, payload, now)
                return
        # seq_diff(seg.seq, RCV.NXT), inline: the segment's offset in our receive space.
        d = (seg.seq - self.irs - rcv) & _MASK
        seg_so = rcv + (d - 0x100000000 if d & 0x80000000 else d)
        payload = seg.payload
        plen = len(payload)
        seg_len = plen + (1 if flags & SYN else 0) + (flags & FIN)

        if state is SYN_RECEIVED and flags & SYN:
            if not flags & (ACK | RST) and seg.seq == self.irs:
                # The peer retransmitted its SYN: our SYN-ACK was lost (tcp_check_req).
                self._send_syn(now, retransmission=True)
                return
            if (
                flags & ACK
                and not flags & RST
                and seg_so + 1 == rcv
                and self._snd_una + seq_diff(seg.ack, self.snd_una) == self._snd_nxt
            ):
                # Simultaneous open: the peer's SYN-ACK completes ours (Linux passes it).
                flags &= ~SYN
                seg_so += 1
                seg_len -= 1

        wnd = self._rcv_adv - rcv
        if wnd < 0:
            wnd = 0
        # first: sequence number (RFC 9293 3.10.7.4, the four cases)
        if seg_len == 0:
            acceptable = seg_so == rcv if wnd == 0 else rcv <= seg_so < rcv + wnd
        else:
            acceptable = wnd != 0 and (
                rcv <= seg_so < rcv + wnd or rcv <= seg_so + seg_len - 1 < rcv + wnd
            )
        if not acceptable:
            zero_window_ok = wnd == 0 and seg_so == rcv and not flags & (SYN | RST)
            if not zero_window_ok:
                if not flags & RST:
                    if flags & SYN:
                        self._challenge_ack(now, "SYN in a synchronized state")
                    elif plen or now - self._last_oow_ack >= self.config.challenge_ack_interval:
                        self._last_oow_ack = now
                        self._send_ack(now)
                return
            # RFC 9293: with a zero window, still process ACK (and RST, URG), drop the text.
            payload = b""
            plen = 0
            flags &= ~FIN
        # second: RST (RFC 5961 section 3)
        if flags & RST:
            if seg_so == rcv:
                if state is SYN_RECEIVED and self.passive:
                    self.owner.note(self, "RST in SYN-RECEIVED: back to LISTEN", now)
                    self._rtx_at = self._ack_at = None
                    self._set_state(LISTEN, now)
                else:
                    self._reset_by_peer(now)
            elif (
                state is SYN_RECEIVED
                and self.passive
                and not self.config.rst_in_syn_received_challenge
            ):
                self.owner.note(self, "in-window RST in SYN-RECEIVED drops the request", now)
                self._rtx_at = self._ack_at = None
                self._set_state(LISTEN, now)
            else:
                self._challenge_ack(now, "in-window RST")
            return
        # fourth: SYN (RFC 5961 section 4)
        if flags & SYN:
            self._challenge_ack(now, "SYN in a synchronized state")
            return
        # fifth: ACK
        if not flags & ACK:
            return
        self._last_rcv_time = now
        self._ka_probes = 0
        if self.keepalive:
            self._ka_at = now + self.keepalive_idle
        una = self._snd_una
        d = (seg.ack - self.iss - una) & _MASK  # seq_diff(seg.ack, SND.UNA), inline
        ack_so = una + (d - 0x100000000 if d & 0x80000000 else d)
        if state is SYN_RECEIVED:
            if not una < ack_so <= self._snd_nxt:
                self.owner.transmit(
                    Segment(self._lip, self._lport, self._rip, self._rport, seg.ack, 0, RST, 0)
                )
                return
            if self.passive and not self.owner.admit(self):
                if self.config.abort_on_overflow:
                    self.owner.transmit(
                        Segment(self._lip, self._lport, self._rip, self._rport, seg.ack, 0, RST, 0)
                    )
                    self._finish(now, None, quiet=True)
                return
            self._snd_una = 1
            self._snd_wnd = seg.window
            self.max_snd_wnd = max(self.max_snd_wnd, seg.window)
            self._snd_wl1 = seg_so
            self._snd_wl2 = ack_so
            self._handshake_rtt(now)
            self._established(now)
            state = self.state
            if ack_so > self._snd_una:
                self._process_ack(seg, seg_so, ack_so, plen, now)
            elif state in SENDING:
                self._output(now)
        else:
            if ack_so > self._snd_max:
                # Acknowledges something not yet sent: ACK and drop (RFC 9293; RFC 5961 5).
                if now - self._last_oow_ack >= self.config.challenge_ack_interval:
                    self._last_oow_ack = now
                    self._send_ack(now)
                return
            if ack_so < self._snd_una - (self.max_snd_wnd or 1) - 1:  # max(MAX.SND.WND, 1)
                self._challenge_ack(now, "ACK below the acceptable range")
                return
            self._process_ack(seg, seg_so, ack_so, plen, now)
            state = self.state
            if state is CLOSED or state is TIME_WAIT:
                return
        fin_acked = self._fin_queued and self._snd_una == self._written + 2
        fin_wait_2_later = False
        if state is FIN_WAIT_1 and fin_acked:
            if flags & FIN and not self._rcv_fin:
                # The peer's FIN rides on the ACK of ours (three-segment close):
                # FIN-WAIT-1 -> TIME-WAIT in the eighth step (RFC 9293 3.10.7.4),
                # FIN-WAIT-2 only if that FIN cannot be taken yet.
                fin_wait_2_later = True
            else:
                self._enter_fin_wait_2(now)
                state = FIN_WAIT_2
        elif state is CLOSING and fin_acked:
            self._enter_time_wait(now)
            return
        elif state is LAST_ACK and fin_acked:
            self._finish(now, None)
            return
        # seventh: segment text
        if plen:
            if state in RECEIVING:
                if self._closed_by_app and seg_so + plen > self._rcv_so:
                    # Data for a socket nobody will read (Linux TCPAbortOnData):
                    # tcp_v4_send_reset answers the segment, <SEQ=SEG.ACK><CTL=RST>.
                    self.owner.note(self, "data after close(): RST", now)
                    self.owner.transmit(
                        Segment(self._lip, self._lport, self._rip, self._rport, seg.ack, 0, RST, 0)
                    )
                    self._chunks.clear()
                    self._chunk_starts.clear()
                    self._chunk_head = 0
                    self._finish(now, None)
                    return
                self._receive_data(seg_so, payload, now)
            else:
                self._schedule_ack(now, immediate=True)
        # eighth: FIN
        if flags & FIN:
            fin_so = seg_so + plen
            if fin_so == self._rcv_so and not self._rcv_fin:
                self._receive_fin(now)
            elif fin_so > self._rcv_so and state in RECEIVING:
                self._ooo_fin = fin_so
                self._schedule_ack(now, immediate=True)
            elif self._rcv_fin:
                # A retransmitted FIN: our ACK was lost.
                self._schedule_ack(now, immediate=True)
        if fin_wait_2_later and self.state is FIN_WAIT_1:
            self._enter_fin_wait_2(now)

    def _enter_fin_wait_2(self, now: float) -> None:
        self._set_state(FIN_WAIT_2, now)
        if self._closed_by_app:
            self._timer_at = now + self.config.fin_timeout

    def _challenge_ack(self, now: float, why: str) -> None:
        if now - self._last_challenge >= self.config.challenge_ack_interval:
            self._last_challenge = now
            self.owner.note(self, f"challenge ACK ({why})", now)
            self._send_ack(now)
        else:
            self.owner.note(self, f"challenge ACK rate-limited ({why})", now)

    def _established(self, now: float) -> None:
        old = self.state  # self._set_state(ESTABLISHED, now), inline
        self.state = ESTABLISHED
        self.owner.state_changed(self, old, ESTABLISHED, now)
        self._rtx_at = None
        self._backoff = 0
        self._cwnd = 10 * (self.mss if self.mss < self.peer_mss else self.peer_mss)  # _smss()
        if self._srtt is None:
            self._rto = self.config.rto_fallback
        if self.keepalive:
            self._ka_at = now + self.keepalive_idle
        # tcp_initialize_rcv_mss: a guess until segments are measured.
        # max(88, min(mss, peer_mss, rcvbuf // 2, 536)) as comparisons
        rcv_mss = self.mss if self.mss < self.peer_mss else self.peer_mss
        if self.rcvbuf // 2 < rcv_mss:
            rcv_mss = self.rcvbuf // 2
        if rcv_mss > 536:
            rcv_mss = 536
        self._rcv_mss = rcv_mss if rcv_mss > 88 else 88
        self._lrcvtime = now
        if not self.passive:
            self._notify |= _N_CONNECTED
        if self._fin_queued:
            self._set_state(FIN_WAIT_1, now)

    def _handshake_rtt(self, now: float) -> None:
        if self._hs_rtt_t is not None and self._backoff == 0:
            self._rtt_sample(now - self._hs_rtt_t)
        self._hs_rtt_t = None

    # ------------------------------------------------------------------ ACK processing

    def _process_ack(self, seg: Segment, seg_so: int, ack_so: int, plen: int, now: float) -> None:
        una = self._snd_una
        window = seg.window
        # Window update (RFC 9293 3.10.7.4, SND.WL1/SND.WL2 rule).
        wl1 = self._snd_wl1
        if wl1 < seg_so or (wl1 == seg_so and self._snd_wl2 <= ack_so):
            window_changed = window != self._snd_wnd
            self._snd_wnd = window
            if window > self.max_snd_wnd:
                self.max_snd_wnd = window
            self._snd_wl1 = seg_so
            self._snd_wl2 = ack_so
        else:
            window_changed = False
        if ack_so > una:
            acked = ack_so - una
            self._snd_una = ack_so
            if self._snd_nxt < ack_so:
                self._snd_nxt = ack_so
            if self._chunk_head < len(self._chunks):  # written chunks not yet all released
                self._release_acked()
            # RTT sample (Karn: only for segments never retransmitted).
            rtt_so = self._rtt_so
            if rtt_so is not None and ack_so >= rtt_so:
                self._rtt_sample(now - self._rtt_t)
                self._rtt_so = None
            if self._backoff:
                self._backoff = 0
                self._set_rto()
            self._rtx_stamp = None
            smss = self.mss if self.mss < self.peer_mss else self.peer_mss
            if self._recover is not None:
                if ack_so >= self._recover:
                    # Full ACK: leave fast recovery (RFC 6582 3.2 step 3).
                    self._cwnd = min(self._ssthresh, max(self._snd_max - ack_so, smss) + smss)
                    self._recover = None
                else:
                    # Partial ACK: retransmit the next hole, deflate.
                    self._retransmit_head(now)
                    self._cwnd = max(self._cwnd - acked + smss, smss)
            elif self._cwnd < self._ssthresh:
                self._cwnd += acked if acked < 2 * smss else 2 * smss
            else:
                self._cwnd += max(1, smss * smss // self._cwnd)
            self._dupacks = 0
            if ack_so >= self._snd_max:
                self._rtx_at = None
            else:
                self._rtx_at = now + self._rto
                self._rtx_armed_at = now
            self._persist_at = None
            if self._want_write and self.send_queued < self.sndbuf:
                self._want_write = False
                self._notify |= _N_WRITABLE
        elif (
            ack_so == una
            and plen == 0
            and not window_changed
            and not seg.flags & (SYN | FIN)
            and self._snd_max > una
        ):
            self._dupacks += 1
            smss = self._smss()
            if self._dupacks == 3 and self._recover is None:
                flight = self._snd_max - una
                self._ssthresh = max(flight // 2, 2 * smss)
                self._recover = self._snd_max
                self._retransmit_head(now)
                self._cwnd = self._ssthresh + 3 * smss
            elif self._dupacks > 3 and self._recover is not None:
                self._cwnd += smss
        if window_changed and self._snd_wnd and self._recover is None and ack_so == una:
            self._backoff = 0  # the window opened: probing is over
            self._set_rto()
        # _output's first test here: most ACKs leave nothing to send.
        if self.state in SENDING and self._snd_nxt < self._written + 1 + self._fin_queued:
            self._output(now)

    def _release_acked(self) -> None:
        acked_data = self._snd_una - 1  # bytes of data acknowledged
        chunks = self._chunks
        starts = self._chunk_starts
        head = self._chunk_head
        n = len(chunks)
        while head < n and starts[head] + len(chunks[head]) <= acked_data:
            head += 1
        if head >= 64 and head * 2 >= n:
            del chunks[:head]
            del starts[:head]
            head = 0
        self._chunk_head = head

    def _rtt_sample(self, r: float) -> None:
        srtt = self._srtt
        if srtt is None:
            srtt = r
            rttvar = r / 2
        else:
            err = srtt - r
            rttvar = 0.75 * self._rttvar + 0.25 * (err if err >= 0 else -err)  # abs()
            srtt = 0.875 * srtt + 0.125 * r
        self._srtt = srtt
        self._rttvar = rttvar
        # _set_rto() with SRTT known, inline.
        config = self.config
        rto_min = config.rto_min
        rto_max = config.rto_max
        rto = srtt + (4 * rttvar if 4 * rttvar >= rto_min else rto_min)  # builtins spelled out
        if rto < rto_min:
            rto = rto_min
        self._rto = rto_max if rto_max < rto else rto

    def _set_rto(self) -> None:
        config = self.config
        if self._srtt is None:
            base = config.rto_fallback if self.state in SYNCHRONIZED else config.rto_initial
        else:
            base = self._srtt + max(4 * self._rttvar, config.rto_min)
        self._rto = min(max(base, config.rto_min), config.rto_max)

    # ------------------------------------------------------------------ receiving data

    def _receive_data(self, seg_so: int, payload: bytes | memoryview, now: float) -> None:
        rcv = self._rcv_so
        plen = len(payload)
        edge = self._rcv_adv if self._rcv_adv > rcv else rcv
        if seg_so + plen > edge:  # trim to the window
            payload = payload[: max(0, edge - seg_so)]
            plen = len(payload)
        if seg_so < rcv:  # trim what we already have
            payload = payload[rcv - seg_so :]
            plen = len(payload)
            seg_so = rcv
        if plen <= 0:
            self._enter_quickack()
            self._schedule_ack(now, immediate=True)  # duplicate: ACK at once
            return
        if seg_so > rcv:
            self._queue_out_of_order(seg_so, payload)
            self._enter_quickack()
            self._schedule_ack(now, immediate=True)
            return
        # tcp_event_data_recv: measure the receive MSS, start or feed the ATO engine.
        if plen >= self._rcv_mss:
            self._rcv_mss = plen if plen < self.mss else self.mss
        if not self._ato:
            self._incr_quickack()  # the first data: quick-ACK mode begins
            self._ato = self.config.delack_min
        elif now - self._lrcvtime > self._rto:
            self._incr_quickack()  # a long silence: ACK quickly again
        self._lrcvtime = now
        self._rcvq.append(payload)
        self._rcvq_len += plen
        self._rcv_so = rcv = rcv + plen
        had_ooo = bool(self._ooo)
        if had_ooo:
            self._drain_out_of_order()
        self._rcv_unacked += plen
        self._notify |= _N_READABLE
        if self._ooo_fin is not None and self._ooo_fin == self._rcv_so:
            self._receive_fin(now)
            return
        # __tcp_ack_snd_check: more than one full segment unacknowledged, quick-ACK
        # mode (not interactive), or a hole just filled.
        immediate = (
            had_ooo or self._rcv_unacked > self._rcv_mss or (self._quick > 0 and not self._pingpong)
        )
        self._schedule_ack(now, immediate=immediate)

    def _incr_quickack(self) -> None:
        """Linux ``tcp_incr_quickack``: a budget of quick ACKs, about half a
        receive window's worth of segments, at least 2, at most ``quickack_segments``."""
        quickacks = (self._rcv_adv - self._rcv_so) // (2 * self._rcv_mss) or 2
        quickacks = min(quickacks, self.config.quickack_segments)
        if quickacks > self._quick:
            self._quick = quickacks

    def _enter_quickack(self) -> None:
        """Linux ``tcp_enter_quickack_mode`` (duplicate or out-of-order data)."""
        if self._rcv_mss:
            self._incr_quickack()
        self._pingpong = False
        self._ato = self.config.delack_min

    def _queue_out_of_order(self, seg_so: int, payload: bytes | memoryview) -> None:
        ooo = self._ooo
        # Keep (start, data) sorted and non-overlapping; duplicates cost nothing.
        end = seg_so + len(payload)
        i = 0
        n = len(ooo)
        while i < n and ooo[i][0] + len(ooo[i][1]) <= seg_so:
            i += 1
        pieces: list[tuple[int, bytes | memoryview]] = []
        cur = seg_so
        j = i
        while j < n and ooo[j][0] < end:
            start, data = ooo[j]
            if start > cur:
                pieces.append((cur, payload[cur - seg_so : start - seg_so]))
            cur = max(cur, start + len(data))
            j += 1
        if cur < end:
            pieces.append((cur, payload[cur - seg_so :]))
        self._ooo_bytes += sum(len(piece) for _, piece in pieces)
        merged = sorted(ooo[i:j] + pieces)
        ooo[i:j] = merged

    def _drain_out_of_order(self) -> None:
        ooo = self._ooo
        rcv = self._rcv_so
        i = 0
        while i < len(ooo) and ooo[i][0] <= rcv:
            start, data = ooo[i]
            self._ooo_bytes -= len(data)
            end = start + len(data)
            if end > rcv:
                piece = data[rcv - start :]
                self._rcvq.append(piece)
                self._rcvq_len += len(piece)
                rcv = end
            i += 1
        del ooo[:i]
        self._rcv_so = rcv

    def _receive_fin(self, now: float) -> None:
        self._rcv_so += 1
        self._rcv_fin = True
        self._ooo_fin = None
        self.eof_received = True
        self._notify |= _N_READABLE
        state = self.state
        if state is ESTABLISHED or state is SYN_RECEIVED:
            old = self.state  # self._set_state(CLOSE_WAIT, now), inline
            self.state = CLOSE_WAIT
            self.owner.state_changed(self, old, CLOSE_WAIT, now)
            # Linux tcp_fin(): interactive mode, so the ACK is delayed and usually
            # rides on our own FIN when the application closes in time
            # (the three-segment close).
            self._pingpong = True
            self._schedule_ack(now, immediate=False)
            return
        if state is FIN_WAIT_1:
            if self._fin_queued and self._snd_una == self._written + 2:
                self._enter_time_wait(now)
                self._ack_now = True
                return
            self._set_state(CLOSING, now)
        elif state is FIN_WAIT_2:
            self._enter_time_wait(now)
            self._ack_now = True
            return
        self._schedule_ack(now, immediate=True)

    def _enter_time_wait(self, now: float) -> None:
        self._rtx_at = self._persist_at = self._ka_at = self._ack_at = None
        self._timer_at = now + self.config.time_wait
        old = self.state  # self._set_state(TIME_WAIT, now), inline
        self.state = TIME_WAIT
        self.owner.state_changed(self, old, TIME_WAIT, now)
        if self.state is TIME_WAIT and self.user is not None:
            self._notify |= _N_CLOSED

    def _schedule_ack(self, now: float, *, immediate: bool) -> None:
        if immediate or not self._ato:
            # No ATO yet (no data received): Linux's delayed ACK would fire at once.
            self._ack_now = True  # sent at the end of receive() unless data carries it
        elif self._ack_at is None:
            self._ack_at = now + self._delack_timeout()

    def _delack_timeout(self) -> float:
        """Linux ``tcp_send_delayed_ack``: the ATO, bounded by the RTT once it grew."""
        ato = self._ato
        config = self.config
        if ato > config.delack_min:
            max_ato = config.delack_max if self._pingpong else 0.5
            if self._srtt is not None:
                rtt = self._srtt if self._srtt > config.delack_min else config.delack_min
                if rtt < max_ato:
                    max_ato = rtt
            if ato > max_ato:
                ato = max_ato
        return ato

    def _window_update_after_read(self, now: float) -> None:
        """Linux ``tcp_cleanup_rbuf``: tell the peer when reading at least
        doubled a window that had shrunk to half the buffer or less."""
        current = self._rcv_adv - self._rcv_so
        if 2 * current <= self.rcvbuf:
            new = self._select_window(commit=False)
            if new > 0 and new >= 2 * current:
                self._send_ack(now)
                self._arm()

    def _select_window(self, *, commit: bool) -> int:
        """The window to advertise (receiver SWS avoidance, never shrinking)."""
        rcv = self._rcv_so
        free = self.rcvbuf - self._rcvq_len - self._ooo_bytes
        new_edge = rcv + (free if free > 0 else 0)
        edge = self._rcv_adv if self._rcv_adv > rcv else rcv
        if new_edge - edge >= min(self.rcvbuf // 2, self.mss):
            edge = new_edge
        if commit:
            self._rcv_adv = edge
        return edge - rcv

    # ------------------------------------------------------------------ sending

    def _smss(self) -> int:
        return self.mss if self.mss < self.peer_mss else self.peer_mss

    def _queue_fin(self, now: float) -> None:
        self._fin_queued = True
        state = self.state
        if state is ESTABLISHED:
            old = self.state  # self._set_state(FIN_WAIT_1, now), inline
            self.state = FIN_WAIT_1
            self.owner.state_changed(self, old, FIN_WAIT_1, now)
        elif state is CLOSE_WAIT:
            old = self.state  # self._set_state(LAST_ACK, now), inline
            self.state = LAST_ACK
            self.owner.state_changed(self, old, LAST_ACK, now)
        else:
            return  # SYN-RECEIVED: the FIN waits for the handshake (RFC 9293 3.10.4)
        self._output(now)
        self._arm()

    def _payload(self, off: int, n: int) -> bytes | memoryview:
        """``n`` bytes of the send buffer from data offset ``off``, without a copy
        when they lie in one written chunk."""
        starts = self._chunk_starts
        chunks = self._chunks
        i = bisect_right(starts, off, self._chunk_head) - 1
        chunk = chunks[i]
        rel = off - starts[i]
        if rel + n <= len(chunk):
            if rel == 0 and n == len(chunk):
                return chunk
            return memoryview(chunk)[rel : rel + n]
        parts = []
        while n > 0:
            chunk = chunks[i]
            rel = off - starts[i]
            piece = memoryview(chunk)[rel : rel + n]
            parts.append(piece)
            n -= len(piece)
            off += len(piece)
            i += 1
        return b"".join(parts)

    def _output(self, now: float) -> None:
        """Send what the windows and Nagle allow (RFC 9293 3.8.6, RFC 1122 4.2.3.4)."""
        fin_so = self._written + 1  # where a FIN goes
        if self._snd_nxt >= fin_so + self._fin_queued:
            return  # nothing to send: all data, and the FIN if queued, went out
        smss = self.mss if self.mss < self.peer_mss else self.peer_mss  # _smss()
        while True:
            nxt = self._snd_nxt
            unsent = fin_so - nxt
            in_flight = nxt - self._snd_una
            fin_now = self._fin_queued and unsent <= smss and nxt <= fin_so
            if unsent <= 0:
                if fin_now and nxt == fin_so:
                    self._send_data(nxt, 0, FIN, now)
                    continue
                break
            wnd_edge = self._snd_una + self._snd_wnd
            usable = wnd_edge - nxt
            if self._cwnd - in_flight < usable:
                usable = self._cwnd - in_flight
            if usable > 0:
                self._persist_at = None
            else:
                if wnd_edge <= nxt and in_flight == 0 and self._persist_at is None:
                    self._persist_at = now + self._rto  # zero window: start probing
                break
            n = unsent if unsent < smss else smss
            if usable < n:
                n = usable
            if n < smss and n < unsent:
                # Window-limited: sender SWS avoidance.
                if in_flight and n < self.max_snd_wnd // 2:
                    break
            elif (
                n == unsent
                and n < smss
                and self._snd_sml > self._snd_una
                and not self.nodelay
                and not fin_now
            ):
                # Nagle as Linux does it (Minshall's variant, tcp_minshall_check): a
                # small segment waits only while an earlier small one is unacknowledged.
                break
            flags = 0
            if n == unsent:
                flags = PSH | (FIN if self._fin_queued else 0)
            self._send_data(nxt, n, flags, now)

    def _send_data(self, so: int, n: int, flags: int, now: float) -> None:
        payload = self._payload(so - 1, n) if n else b""
        retransmission = so < self._snd_max
        end = so + n + (flags & FIN)
        self._transmit(so, ACK | flags, payload, NO_OPTIONS, retransmission)
        self._snd_nxt = end
        if (
            0 < n < (self.mss if self.mss < self.peer_mss else self.peer_mss)
            and so + n > self._snd_sml
        ):
            self._snd_sml = so + n
        if end > self._snd_max:
            self._snd_max = end
            if self._rtt_so is None and not retransmission:
                self._rtt_so = end
                self._rtt_t = now
        if retransmission and self._rtt_so is not None:
            self._rtt_so = None  # Karn's rule
        if self._rtx_at is None:
            self._rtx_at = now + self._rto
            self._rtx_armed_at = now
        if n and now - self._lrcvtime < self._ato:
            self._pingpong = True  # tcp_event_data_sent: we answer data promptly

    def _retransmit_head(self, now: float) -> None:
        una = self._snd_una
        fin_so = self._written + 1
        n = min(self._smss(), fin_so - una)
        if n > 0:
            fin = FIN if self._fin_queued and una + n == fin_so and self._snd_max > fin_so else 0
            self._transmit(
                una,
                ACK | (PSH if una + n == fin_so else 0) | fin,
                self._payload(una - 1, n),
                NO_OPTIONS,
                True,
            )
        elif self._fin_queued:
            self._transmit(una, ACK | FIN, b"", NO_OPTIONS, True)
        self._rtt_so = None

    def _transmit(
        self,
        so: int,
        flags: int,
        payload: bytes | memoryview,
        options: TcpOptions,
        retransmission: bool,
    ) -> None:
        if retransmission:
            self.retransmissions += 1
        if flags & ACK:
            rcv = self._rcv_so
            ack = (self.irs + rcv) & _MASK
            # _select_window(commit=True), inline.
            rcvbuf = self.rcvbuf
            free = rcvbuf - self._rcvq_len - self._ooo_bytes
            new_edge = rcv + (free if free > 0 else 0)
            edge = self._rcv_adv
            if edge < rcv:
                edge = rcv
            if new_edge - edge >= (rcvbuf // 2 if rcvbuf // 2 < self.mss else self.mss):
                edge = new_edge
            self._rcv_adv = edge
            window = edge - rcv
            self._ack_at = None
            self._ack_now = False
            if self._quick:  # tcp_dec_quickack_mode: every ACK sent uses one up
                self._quick -= 1
                if not self._quick:
                    self._ato = self.config.delack_min
            self._rcv_unacked = 0
        else:
            ack = 0
            window = self._select_window(commit=True) if self.state is not SYN_SENT else self.rcvbuf
            if self.state is SYN_SENT:
                self._rcv_adv = 0
        # self.owner.transmit(segment, retransmission=...), inline: the host
        # only counts RSTs, and this path never sends one.
        owner = self.owner
        owner.network._transmit(
            owner,
            _new_segment(
                Segment,
                (
                    self._lip,
                    self._lport,
                    self._rip,
                    self._rport,
                    (self.iss + so) & _MASK,
                    ack,
                    flags,
                    window,
                    payload,
                    options,
                ),
            ),
            retransmission,
        )

    def _send_ack(self, now: float) -> None:
        # SND.MAX, not SND.NXT: after a timeout rewinds SND.NXT the peer may have
        # RCV.NXT beyond it, and an ACK with an old sequence number is unacceptable.
        self._transmit(self._snd_max, ACK, b"", NO_OPTIONS, False)

    # ------------------------------------------------------------------ timers

    def _arm(self) -> None:
        """Ask the owner for a wake-up if our earliest deadline moved earlier."""
        when = self.next_deadline
        if when is None:
            return
        scheduled = self._scheduled
        if scheduled is None or when < scheduled:
            self._scheduled = when
            self.owner.schedule(self, when)

    def wake_time(self, when: float) -> float | None:
        """For the owner's event queue: is the wake-up requested for ``when``
        still wanted?  Returns ``when`` if so, a later time to move it to, or
        None to drop it (superseded by an earlier request, or no timer left)."""
        if self._scheduled != when:
            return None  # superseded by an earlier request
        deadline = self.next_deadline
        if deadline is None:
            self._scheduled = None
            return None
        if deadline > when:
            self._scheduled = deadline
            return deadline
        return when

    def on_timer(self, now: float) -> None:
        """Run whatever timers are due at ``now`` (called by the owner)."""
        if self._scheduled is not None and now >= self._scheduled:
            self._scheduled = None
        if self.state is CLOSED:
            return
        if self._ack_at is not None and now >= self._ack_at:
            self._ack_at = None
            if self._pingpong:  # tcp_delack_timer_handler: leave interactive mode
                self._pingpong = False
                self._ato = self.config.delack_min
            else:  # the delayed ACK missed: inflate the ATO
                self._ato = min(2 * self._ato, self._rto)
            self._send_ack(now)
        if self._rtx_at is not None and now >= self._rtx_at:
            self._rtx_at = None
            self._on_retransmission_timeout(now)
        if self._persist_at is not None and now >= self._persist_at and self.state is not CLOSED:
            self._persist_at = None
            self._on_persist_timeout(now)
        if self._ka_at is not None and now >= self._ka_at and self.state is not CLOSED:
            self._ka_at = None
            self._on_keepalive_timeout(now)
        if self._timer_at is not None and now >= self._timer_at and self.state is not CLOSED:
            self._timer_at = None
            if self.state is TIME_WAIT:
                self._finish(now, None)
            elif self.state is FIN_WAIT_2 and self._closed_by_app:
                self.owner.note(self, "orphaned FIN-WAIT-2 timed out (tcp_fin_timeout)", now)
                self._finish(now, None)
        if self._ack_now and self.state is not CLOSED:
            self._send_ack(now)
        if self.state is not CLOSED:
            self._arm()
        if self._notify:
            self._fire()

    def _syn_gave_up(self, now: float) -> bool:
        config = self.config
        if self.state is SYN_SENT:
            limit = self.syn_retries + config.syn_linear_timeouts
            boundary = self.syn_retries
        else:
            limit = boundary = config.synack_retries if self.passive else self.syn_retries
        if self._backoff >= limit:
            return True
        bound = ((2 << boundary) - 1) * config.rto_initial
        return now - self._syn_start >= bound - 1e-9

    def _on_retransmission_timeout(self, now: float) -> None:
        config = self.config
        state = self.state
        if state is SYN_SENT or state is SYN_RECEIVED:
            if self._syn_gave_up(now):
                if state is SYN_RECEIVED and self.passive:
                    self.owner.note(self, "SYN-ACK retries exhausted: request dropped", now)
                    self._finish(now, None, quiet=True)
                else:
                    self._finish(now, self._soft_error or errno.ETIMEDOUT)
                return
            self._backoff += 1
            if state is not SYN_SENT or self._backoff > config.syn_linear_timeouts:
                self._rto = min(self._rto * 2, config.rto_max)
            self._send_syn(now, retransmission=True)
            self._rtx_at = now + self._rto
            return
        if self._snd_una >= self._snd_max:
            return
        if self._rtx_stamp is None:
            self._rtx_stamp = self._rtx_armed_at
        if self._timed_out(now, self._rtx_stamp):
            self._time_out(now)
            return
        # RFC 5681 section 3.1 / RFC 6298 section 5.5-5.7.
        smss = self._smss()
        self._ssthresh = max((self._snd_max - self._snd_una) // 2, 2 * smss)
        self._cwnd = smss
        self._recover = None
        self._dupacks = 0
        self._backoff += 1
        self._rto = min(self._rto * 2, config.rto_max)
        self._snd_nxt = self._snd_una
        self._rtt_so = None
        self._output(now)
        if self._snd_nxt == self._snd_una:  # nothing could go (zero window): resend the head
            self._retransmit_head(now)
            self._snd_nxt = min(self._snd_una + self._smss(), self._snd_max)
        self._rtx_at = now + self._rto
        ut = self.user_timeout
        if ut:
            self._rtx_at = min(self._rtx_at, self._rtx_stamp + ut)

    def _timed_out(self, now: float, since: float) -> bool:
        """Linux ``retransmits_timed_out`` for data (and ``TCP_USER_TIMEOUT``)."""
        ut = self.user_timeout
        if ut:
            return now - since >= ut - 1e-9
        config = self.config
        boundary = config.orphan_retries if self._closed_by_app else config.retries2
        return self._backoff > 0 and now - since >= _model_timeout(boundary, config) - 1e-9

    def _time_out(self, now: float) -> None:
        self.owner.note(self, "retransmissions exhausted", now)
        self._finish(now, self._soft_error or errno.ETIMEDOUT)

    def _on_persist_timeout(self, now: float) -> None:
        """Zero-window probe (RFC 9293 3.8.6.1; Linux ``tcp_probe_timer``)."""
        if self.state not in SENDING or self._snd_nxt < self._snd_una:
            return
        unsent = self._written + 1 - self._snd_nxt
        if unsent <= 0 or self._snd_max > self._snd_una:
            return
        if self._snd_wnd > 0:
            self._output(now)
            return
        boundary = self.config.orphan_retries if self._closed_by_app else self.config.retries2
        if self._ka_probes >= boundary:  # probes_out: reset by every ACK
            self._time_out(now)
            return
        self._transmit(self._snd_una - 1, ACK, b"", NO_OPTIONS, False)
        self._ka_probes += 1
        self._backoff += 1
        self._persist_at = now + min(self._rto * (1 << min(self._backoff, 30)), self.config.rto_max)

    def _on_keepalive_timeout(self, now: float) -> None:
        """RFC 9293 3.8.4; Linux ``tcp_keepalive_timer``."""
        if not self.keepalive or self.state not in SYNCHRONIZED or self.state is TIME_WAIT:
            return
        if self._snd_max > self._snd_una or self._written + 1 > self._snd_nxt:
            self._ka_at = now + self.keepalive_idle  # data outstanding: the RTO watches
            return
        idle = now - self._last_rcv_time
        if idle < self.keepalive_idle - 1e-9 and self._ka_probes == 0:
            self._ka_at = self._last_rcv_time + self.keepalive_idle
            return
        ut = self.user_timeout
        if (ut and self._ka_probes and idle >= ut) or (
            not ut and self._ka_probes >= self.keepalive_count
        ):
            self.owner.note(self, "keep-alive: peer not answering", now)
            self._transmit_rst(self._snd_max, now)
            self._finish(now, self._soft_error or errno.ETIMEDOUT)
            return
        self._transmit(self._snd_una - 1, ACK, b"", NO_OPTIONS, False)
        self._ka_probes += 1
        self._ka_at = now + self.keepalive_interval

    # ------------------------------------------------------------------ callbacks

    def _fire(self) -> None:
        notify = self._notify
        self._notify = 0
        user = self.user
        if user is None:
            return
        if notify & _N_CONNECTED:
            user.tcp_connected(self)
        if notify & _N_READABLE and self.user is user:
            user.tcp_readable(self)
        if notify & _N_WRITABLE and self.user is user:
            user.tcp_writable(self)
        if notify & _N_CLOSED and self.user is user:
            user.tcp_closed(self)


def _model_timeout(boundary: int, config: TcpConfig) -> float:
    """Linux ``tcp_model_timeout``: how long ``boundary`` backoffs from
    ``rto_min`` take, doubling up to ``rto_max`` (924.6 s for 15)."""
    base = config.rto_min
    thresh = int(config.rto_max / base).bit_length() - 1  # ilog2(rto_max / rto_min)
    if boundary <= thresh:
        return ((2 << boundary) - 1) * base
    return ((2 << thresh) - 1) * base + (boundary - thresh) * config.rto_max
