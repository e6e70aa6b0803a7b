"""One TCP connection (a TCB) and the application's verbs: the RFC 9293 state machine, sans-I/O.

A :class:`Connection` never reads a clock and never does I/O.  Every method
that can change something takes the virtual time ``now``; segments go out
through its owner (:class:`~aiotcpsim.tcp.ConnectionOwner`, the host), and
the owner calls :meth:`Connection.on_timer` when
:attr:`Connection.next_deadline` comes.  This module owns the user calls of
RFC 9293 section 3.10 (OPEN, SEND, RECEIVE, CLOSE, ABORT) and the socket
options; what a segment or a timer does lives in the classes below it.

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
* Congestion control: an algorithm chosen by name (CUBIC by default, Reno;
  :mod:`.congestion`), Linux's loss-recovery states with PRR
  (:mod:`.recovery`), initial window 10 segments.

Every state change goes through :meth:`Connection.set_state`, which reports
it to the owner (the trace).
"""

from __future__ import annotations

import errno
import math
from typing import TYPE_CHECKING

from ..segment import ACK, RST, SYN, Segment, seq_diff
from .congestion import switch_congestion_control
from .state import (
    ABORT_RESETS,
    CLOSE_WAIT,
    CLOSED,
    ESTABLISHED,
    FIN_WAIT_2,
    LISTEN,
    RECEIVING,
    SENDING,
    SYN_RECEIVED,
    SYN_SENT,
    SYNCHRONIZED,
    TIME_WAIT,
    WRITABLE,
)
from .synchronize import TcbSynchronize
from .tcb import ConnectionOwner, os_error

if TYPE_CHECKING:
    from ..config import TcpConfig
    from ..segment import TcpOptions

__all__ = ["Connection"]


class Connection(TcbSynchronize):
    """A TCB: one end of one TCP connection.

    Hosts create connections (:meth:`aiotcpsim.Host.connect`,
    :meth:`aiotcpsim.Listener.accept`); applications use :meth:`send`,
    :meth:`recv`, :meth:`shutdown`, :meth:`close` and :meth:`abort`, and learn
    about progress through their :class:`~aiotcpsim.tcp.ConnectionUser`.
    The adapters hand out the connection behind a stream: an asyncio writer's
    ``get_extra_info("tcp_connection")``, a trio ``SocketStream``'s
    ``stream.socket.connection``.

    Sequence numbers are kept internally as unbounded offsets from the ISNs
    (``iss + offset`` modulo 2**32 is the wire value), so transfers of any
    length survive 32-bit wraparound.

    Attributes:
        syn_retries: ``TCP_SYNCNT``: SYN retransmissions before connect gives up
            (from ``TcpConfig.syn_retries``).
        user_timeout: ``TCP_USER_TIMEOUT`` in seconds (None or 0: off).
        nodelay: ``TCP_NODELAY``: off means Nagle's algorithm holds back small segments.
        keepalive: ``SO_KEEPALIVE`` (set it with :meth:`set_keepalive`).
        keepalive_idle: ``TCP_KEEPIDLE``, seconds of silence before the first probe.
        keepalive_interval: ``TCP_KEEPINTVL``, seconds between probes.
        keepalive_count: ``TCP_KEEPCNT``, unanswered probes before ETIMEDOUT.
        rcvbuf: ``SO_RCVBUF``, the receive buffer in bytes.
        sndbuf: ``SO_SNDBUF``, the send buffer in bytes.
        mss: the MSS this end announces; segments it sends use ``min(mss, peer_mss)``.
        peer_mss: the MSS the peer announced (``TcpConfig.default_mss``, 536,
            until its SYN says otherwise).
    """

    __slots__ = ()

    # ------------------------------------------------------------------ opening

    def connect(self, now: float) -> None:
        """Active open: send the SYN (RFC 9293 section 3.10.1).

        Raises:
            OSError: EISCONN/EALREADY when the connection is not fresh.
        """
        if self.state is not CLOSED or self._snd_max:
            raise os_error(errno.EISCONN if self.state in SYNCHRONIZED else errno.EALREADY)
        self._syn_start = now
        self.set_state(SYN_SENT, now)
        self._send_syn(now, retransmission=False)
        self._timers.rtx_at = now + self._rtt.rto
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
        conn = cls(owner, config, local, remote, iss, passive=True)
        conn._open_passive(syn, now)
        return conn

    @classmethod
    def accept_cookie(
        cls,
        owner: ConnectionOwner,
        config: TcpConfig,
        local: tuple[str, int],
        remote: tuple[str, int],
        iss: int,
        irs: int,
        peer_mss: int,
        now: float,
        options: TcpOptions | None = None,
    ) -> Connection:
        """Passive open from a SYN cookie (Linux ``cookie_v4_check``): the
        child of a SYN answered without state, in SYN-RECEIVED as if its
        SYN-ACK (ISN ``iss``, the cookie) had left untimed (no RTT sample:
        Linux's ``snt_synack`` is 0), the peer's ISN ``irs`` and MSS taken
        from the ACK that carried the cookie, and ``options`` as if the
        peer's SYN had offered them (what the cookie's TSval kept; None: the
        MSS only).  The owner registers it and then hands it that ACK, which
        completes the handshake as any third ACK does (the window comes from it)."""
        conn = cls(owner, config, local, remote, iss, passive=True)
        conn._open_from_cookie(irs, peer_mss, now, options)
        return conn

    def _open_from_cookie(
        self, irs: int, peer_mss: int, now: float, options: TcpOptions | None
    ) -> None:
        self._now = now  # TS.Recent is stamped now
        self._take_peer_syn(irs, 0, peer_mss, options)
        self._syn_start = now
        self._snd_nxt = self._snd_max = 1
        self._select_window(commit=True)  # the window our SYN-ACK offered
        self._delack.on_ack_sent()
        self.set_state(SYN_RECEIVED, now)

    def _open_passive(self, syn: Segment, now: float) -> None:
        self._now = now
        self._take_syn(syn)
        self._syn_start = now
        self.set_state(SYN_RECEIVED, now)
        self._send_syn(now, retransmission=False)
        self._timers.rtx_at = now + self._rtt.rto
        self._arm()

    def accepts_new_syn(self, seg: Segment) -> bool:
        """In TIME-WAIT: may ``seg`` open a new incarnation of this 4-tuple?
        (RFC 1122 section 4.2.2.13; Linux ``TCP_TW_SYN``: a bare SYN above
        RCV.NXT, or with a TSval newer than TS.Recent.)"""
        if self.state is not TIME_WAIT or seg.flags & (SYN | RST | ACK) != SYN:
            return False
        if seq_diff(seg.seq, self.rcv_nxt) > 0:
            return True
        # A newer timestamp also tells a new incarnation (RFC 6191; Linux
        # tcp_timewait_state_process: tw_ts_recent below the SYN's TSval).
        ts = seg.options.timestamps
        return self.ts_ok and ts is not None and seq_diff(ts[0], self._ts.recent) > 0

    def reusable_in_time_wait(self, now: float) -> bool:
        """In TIME-WAIT, may a new outgoing connection take this 4-tuple over
        (``tcp_tw_reuse``)?  As Linux's ``tcp_twsk_unique``: only when the
        connection used timestamps (PAWS then tells the incarnations apart)
        and its last timestamp came more than a second ago."""
        return self.state is TIME_WAIT and self.ts_ok and now >= self._ts.stamp + 1.0

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
        self._now = now
        if self.pending_error is not None:
            raise self._pending_exception()
        if self._fin_queued or self._closed_by_app or self.state not in WRITABLE:
            raise os_error(errno.EPIPE)
        n = len(data)
        if not n:
            return 0
        room = self.sndbuf - self.send_queued
        if room <= 0:
            self._want_write = True
            return 0
        if n > room:
            data = data[:room]
            n = room
            self._want_write = True
        self._sendbuf.append(data)
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
        self._now = now
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        if self._rcvd.readable:
            data = self._rcvd.take(max_bytes)
            if self.state in RECEIVING:
                self._window_update_after_read(now)
            return data
        if self.pending_error is not None and self.pending_error != errno.EPIPE:
            raise self._pending_exception()
        if self.eof_received or self.state is CLOSED or self.state is TIME_WAIT:
            return b""
        if self.state is LISTEN:
            raise os_error(errno.ENOTCONN)
        return None

    def shutdown(self, now: float) -> None:
        """Half-close (``shutdown(SHUT_WR)``): a FIN follows the queued data;
        the peer's data still arrives.  Repeating it does nothing.

        Raises:
            OSError: ENOTCONN before the connection is established (SYN-SENT)
                or after it ended.
        """
        self._now = now
        state = self.state
        if self._fin_queued:
            return
        if state is SYN_SENT or state is CLOSED or state is LISTEN:
            if self.pending_error is not None:
                raise self._pending_exception()
            raise os_error(errno.ENOTCONN)
        if state is ESTABLISHED or state is CLOSE_WAIT or state is SYN_RECEIVED:
            self._queue_fin(now)

    def close(self, now: float) -> None:
        """Close the socket (``close()``).  With unread received data the
        connection is reset (RFC 9293 section 3.10.4, RFC 2525 2.17); otherwise
        a FIN follows the queued data and the connection finishes in the
        background (FIN-WAIT, TIME-WAIT).  The user gets no more callbacks."""
        self._now = now
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
        if self._rcvd.buffered:
            self.owner.note(self, "close() with unread data: RST", now)
            self._abort_with_reset(now)
            return
        if state is ESTABLISHED or state is CLOSE_WAIT or state is SYN_RECEIVED:
            self._queue_fin(now)
        elif state is FIN_WAIT_2:
            self._timers.linger_at = now + self.config.fin_timeout
            self._arm()

    def abort(self, now: float) -> None:
        """Abortive close (``SO_LINGER`` 0, ``transport.abort()``): a RST where
        the peer has a connection (Linux ``tcp_need_reset``), then CLOSED.
        Unsent data is discarded."""
        self._now = now
        self._closed_by_app = True
        self.user = None
        if self.state is CLOSED:
            return
        if self.state in ABORT_RESETS:
            self._abort_with_reset(now)
        else:
            self._finish(now, None)

    def drop(self, now: float) -> None:
        """Forget the connection without a segment (host crash, expired request)."""
        self._now = now
        if self.state is not CLOSED:
            self._finish(now, None, quiet=True)

    def take_error(self) -> int | None:
        """The pending errno, cleared (``getsockopt(SO_ERROR)``)."""
        return self._take_pending()

    def _pending_exception(self) -> OSError:
        err = self._take_pending()
        return os_error(err if err is not None else errno.EPIPE)

    @property
    def congestion_control(self) -> str:
        """The congestion-control algorithm's name (``TCP_CONGESTION``)."""
        return self._rec.cc.name

    def set_congestion_control(self, name: str, now: float = 0.0) -> None:
        """``setsockopt(TCP_CONGESTION)``: switch the algorithm, keeping the
        window and ssthresh (Linux ``tcp_set_congestion_control``).

        Raises:
            ValueError: ``name`` is not one of
                :data:`aiotcpsim.config.CONGESTION_CONTROLS`.
        """
        self._rec.cc = switch_congestion_control(self._rec.cc, name, now, self._snd_max)

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
            TypeError: a value that is not a number (count: not an int).
            ValueError: a non-positive, NaN or infinite idle or interval, or a count < 1.
        """
        # Validate everything first: a bad value changes nothing.
        for name, value in (("idle", idle), ("interval", interval), ("count", count)):
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (name == "count" and not isinstance(value, int))
            ):
                raise TypeError(f"keep-alive {name} must be a number or None, got {value!r}")
            if value is not None and not math.isfinite(value):
                raise ValueError(f"keep-alive {name} must be finite, got {value!r}")
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
            self._timers.keepalive_at = None
        elif self.state in SYNCHRONIZED and self.state is not TIME_WAIT:
            base = self._last_rcv_time if now is None else max(self._last_rcv_time, now)
            self._timers.keepalive_at = base + self.keepalive_idle
            self._arm()

    def icmp_error(self, err: int, now: float) -> None:
        """An ICMP destination-unreachable for this connection (Linux
        ``tcp_v4_err``): fatal while connecting, otherwise a soft error that
        replaces ETIMEDOUT if the connection later times out."""
        self._now = now
        if self.state is SYN_SENT or (self.state is SYN_RECEIVED and not self.passive):
            self._finish(now, err)
            self._fire()
        elif self.state is not CLOSED:
            self._soft_error = err
