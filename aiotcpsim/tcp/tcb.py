"""The TCB's variables, its one ``set_state``, its endings and its notifications.

This module owns three rules:

* every state change goes through :meth:`Tcb.set_state`, which reports it to
  the owner (the trace) and logs it at DEBUG on ``logging.getLogger("aiotcpsim")``;
* a connection ends in one place, :meth:`Tcb._finish`: CLOSED, every timer off,
  the errno recorded for the application (after a RST, as Linux's
  ``tcp_reset``: SYN-SENT ECONNREFUSED, CLOSE-WAIT EPIPE, else ECONNRESET);
* the application hears of progress through its :class:`ConnectionUser`,
  once per event: notifications collect in a bit set during a segment or a
  timer and :meth:`Tcb._fire` delivers them at its end.

Sequence numbers are kept as unbounded offsets from the ISNs (``iss + offset``
modulo 2**32 is the wire value; offset 0 is the SYN, ``1 + k`` data byte
``k``), so transfers of any length survive 32-bit wraparound.  The classes
above this one in the chain add the send path (:mod:`.output`), the receive
steps (:mod:`.ack`, :mod:`.data`, :mod:`.receive`), the timers
(:mod:`.timeouts`), the direct entry into a state (:mod:`.synchronize`) and
the user verbs (:mod:`.connection`).
"""

from __future__ import annotations

import errno
import logging
import os
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol, assert_never

from ..addresses import endpoint
from ..segment import Segment
from .congestion import new_congestion_control
from .delack import DelayedAck
from .reassembly import Reassembly
from .recovery import LossRecovery
from .rtt import RttEstimator
from .sackblocks import SackBlocks
from .sendbuf import SendBuffer
from .state import CLOSED, LISTEN, State
from .timers import Timers
from .timestamps import Timestamps

if TYPE_CHECKING:
    from ..config import TcpConfig

__all__ = [
    "MASK",
    "NOTIFY_CLOSED",
    "NOTIFY_CONNECTED",
    "NOTIFY_READABLE",
    "NOTIFY_WRITABLE",
    "ConnectionOwner",
    "ConnectionUser",
    "FourTuple",
    "Tcb",
    "os_error",
    "reset_errno",
]

MASK: Final = 0xFFFFFFFF
"""Sequence numbers are modulo 2**32."""


class FourTuple(NamedTuple):
    """The addresses of a connection, as the host's demultiplexing key.

    A tuple like any (it compares and hashes as ``(lip, lport, rip, rport)``);
    a class so that the compiled build keeps one object per connection, which
    the host's table and the trace's records share, where it would build a
    new tuple at every read of a plain tuple attribute.
    """

    local_ip: str
    local_port: int
    remote_ip: str
    remote_port: int


# Pending notifications for the user, fired together at the end of an event.
NOTIFY_CONNECTED: Final = 1
NOTIFY_READABLE: Final = 2
NOTIFY_WRITABLE: Final = 4
NOTIFY_CLOSED: Final = 8

_log = logging.getLogger("aiotcpsim")


def os_error(code: int) -> OSError:
    """``OSError(code, text)``: Python builds the PEP 3151 subclass
    (``ConnectionResetError``...)."""
    return OSError(code, os.strerror(code))


def reset_errno(state: State) -> int | None:
    """The error a valid RST reports in ``state`` (Linux ``tcp_reset``)."""
    match state:
        case State.SYN_SENT:
            return errno.ECONNREFUSED
        case State.CLOSE_WAIT:
            return errno.EPIPE
        case State.CLOSED | State.TIME_WAIT:
            return None
        case (
            State.LISTEN
            | State.SYN_RECEIVED
            | State.ESTABLISHED
            | State.FIN_WAIT_1
            | State.FIN_WAIT_2
            | State.CLOSING
            | State.LAST_ACK
        ):
            return errno.ECONNRESET
        case _:
            assert_never(state)


class ConnectionOwner(Protocol):
    """What a TCB needs from the stack that holds it (the host).

    All calls are made synchronously from inside a Connection method.  ``conn``
    is the :class:`~aiotcpsim.tcp.Connection` (typed ``Any`` here, below it, so
    that implementations may annotate it as ``Connection``).
    """

    def transmit(self, segment: Segment, *, retransmission: bool = False) -> None:
        """Put ``segment`` on the wire.  Never delivers synchronously."""

    def schedule(self, conn: Any, when: float) -> None:
        """Call ``conn.on_timer(now)`` at virtual time ``when`` (or later).

        A wake-up may be early or redundant; ``on_timer`` re-checks its own
        deadlines.  The connection calls this only when its earliest deadline
        moves earlier than the last one it asked for.
        """

    def state_changed(self, conn: Any, old: State, new: State, now: float) -> None:
        """Record a transition (trace, log); release a 4-tuple on CLOSED."""

    def admit(self, conn: Any) -> bool:
        """A passive connection in SYN-RECEIVED got a valid ACK: is there room
        in the listener's accept queue?  False: the ACK is dropped, as Linux
        does on a full accept queue (``tcp_abort_on_overflow`` = 0)."""

    def note(self, conn: Any, text: str, now: float) -> None:
        """Record a notable event in the trace (challenge ACK, timer restart...)."""

    def ts_offset(self, local_ip: str, remote_ip: str) -> int:
        """The offset added to the TS clock of a connection between these
        addresses (Linux ``secure_tcp_ts_off``, used with ``tcp_timestamps`` 1)."""


class ConnectionUser(Protocol):
    """The application side of a connection (an adapter's transport or socket).

    Like ``select()``: a pending error makes a connection both readable and
    writable.  Callbacks run synchronously at the end of the segment or timer
    that caused them; they may call back into the connection (``conn``, the
    :class:`~aiotcpsim.tcp.Connection`).
    """

    def tcp_connected(self, conn: Any) -> None:
        """The handshake completed."""

    def tcp_readable(self, conn: Any) -> None:
        """``recv()`` has something new: data, end of stream, or an error."""

    def tcp_writable(self, conn: Any) -> None:
        """``send()`` can take more bytes, or would now raise."""

    def tcp_closed(self, conn: Any) -> None:
        """The connection reached CLOSED."""


class Tcb:
    """The variables of one end of one TCP connection (RFC 9293 3.3.1), and
    what every layer of the TCB needs: ``set_state``, ``_finish``, ``_fire``."""

    __slots__ = (
        "_closed_by_app",
        "_delack",
        "_fin_queued",
        "_hs_rtt_t",
        "_ka_probes",
        "_last_challenge",
        "_last_oow_ack",
        "_last_rcv_time",
        "_lip",
        "_lport",
        "_notify",
        "_now",
        "_ooo_fin",
        "_rcv_adv",
        "_rcv_fin",
        "_rcv_so",
        "_rcvd",
        "_rec",
        "_rip",
        "_rport",
        "_rtt",
        "_rtt_so",
        "_rtt_t",
        "_rtx_armed_at",
        "_rtx_stamp",
        "_sack",
        "_sendbuf",
        "_snd_max",
        "_snd_nxt",
        "_snd_sml",
        "_snd_una",
        "_snd_wl1",
        "_snd_wl2",
        "_snd_wnd",
        "_soft_error",
        "_syn_start",
        "_timers",
        "_ts",
        "_want_write",
        "config",
        "eof_received",
        "error",
        "irs",
        "iss",
        "keepalive",
        "keepalive_count",
        "keepalive_idle",
        "keepalive_interval",
        "key",
        "local",
        "max_snd_wnd",
        "mss",
        "nodelay",
        "owner",
        "passive",
        "peer_mss",
        "pending_error",
        "rcv_wscale",
        "rcvbuf",
        "remote",
        "retransmissions",
        "sack_ok",
        "snd_wscale",
        "sndbuf",
        "state",
        "syn_retries",
        "ts_ok",
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
        *,
        passive: bool = False,
    ) -> None:
        self.owner = owner
        """The stack that holds the connection (its :class:`~aiotcpsim.Host`)."""
        self.config = config
        """The host's :class:`~aiotcpsim.TcpConfig` when the connection was made."""
        self.local = local
        """``(ip, port)`` of this end."""
        self.remote = remote
        """``(ip, port)`` of the peer."""
        self.key = FourTuple(local[0], local[1], remote[0], remote[1])
        """(local ip, local port, remote ip, remote port): the host's demux key
        and the trace's endpoint, one tuple for both."""
        self._lip, self._lport = local
        self._rip, self._rport = remote
        self.iss = iss & MASK
        """ISS, the initial send sequence number (on the wire, modulo 2**32)."""
        self.irs = 0
        """IRS, the peer's initial sequence number (0 until its SYN arrives)."""
        # A passive open's child is born in the listener's state (RFC 9293 3.10.7.2).
        self.state = LISTEN if passive else CLOSED
        """The TCP state, a :class:`~aiotcpsim.State`: ``conn.state is
        State.ESTABLISHED``; ``str()`` gives the RFC spelling (``"FIN-WAIT-1"``)."""
        self.user: ConnectionUser | None = None
        """The application side told of progress (an adapter's transport or socket), or None."""
        self.passive = passive
        """True for a connection a listener accepted, False for one that connected."""
        self._init_options(config)
        # -- errors and the application --
        self.error: int | None = None
        """The errno that ended the connection, if one did."""
        self.pending_error: int | None = None
        """An error not yet reported to the application (``SO_ERROR``)."""
        self._soft_error: int | None = None  # an ICMP error, reported on a timeout
        self.eof_received = False
        """True once the peer's FIN arrived in order (``recv()`` returns ``b""`` after the data)."""
        self.retransmissions = 0
        """Segments this end has retransmitted (SYN, data or FIN sent again)."""
        self._closed_by_app = False
        self._notify = 0
        self._want_write = False  # send() found the buffer full: tell when it drains
        self._init_sequence_spaces(config)

    def _init_sequence_spaces(self, config: TcpConfig) -> None:
        """The send and receive sequence variables (RFC 9293 3.3.1) and the
        engines that work on them."""
        # -- send sequence space: offsets from iss --
        self._snd_una = 0
        self._snd_nxt = 0
        self._snd_max = 0  # the highest SND.NXT so far (a timeout rewinds SND.NXT)
        self._snd_sml = 0  # end of the last sub-MSS segment sent (Minshall's Nagle)
        self._snd_wnd = 0
        self.max_snd_wnd = 0
        self._snd_wl1 = 0
        self._snd_wl2 = 0
        self._fin_queued = False
        self._sendbuf = SendBuffer()
        # -- receive sequence space: offsets from irs --
        self._rcv_so = 0
        self._rcv_adv = 0  # the right edge of the window last advertised
        self._rcv_fin = False
        self._ooo_fin: int | None = None  # a FIN seen beyond a hole
        self._rcvd = Reassembly()
        self._delack = DelayedAck(config)
        self._last_rcv_time = 0.0
        self._last_challenge = -1e18
        self._last_oow_ack = -1e18
        # -- retransmission, RTT, congestion, keep-alive --
        self._rtt = RttEstimator(config)
        self._rtt_so: int | None = None  # the segment end being timed (one at a time)
        self._rtt_t = 0.0
        self._hs_rtt_t: float | None = None  # when the timed SYN or SYN-ACK left
        self._syn_start = 0.0
        self._rtx_armed_at = 0.0
        self._rtx_stamp: float | None = None  # when the current retransmissions began
        self._rec = LossRecovery(new_congestion_control(config.congestion_control))
        self._ka_probes = 0  # keep-alive or zero-window probes unanswered
        self._timers = Timers()

    def _init_options(self, config: TcpConfig) -> None:
        """The per-socket options (``setsockopt``), from the config's defaults."""
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
        # -- what the handshake negotiated (RFC 7323, RFC 2018) --
        self.sack_ok = False
        """Both ends sent SACK-permitted: SACK blocks may be sent and are used."""
        self.ts_ok = False
        """Both ends sent the timestamps option: every segment carries it."""
        self.snd_wscale = 0
        """The peer's window scale: its advertised windows are shifted left by this."""
        self.rcv_wscale = 0
        """Our window scale: our advertised windows are shifted right by this."""
        self._ts = Timestamps()
        self._sack: SackBlocks | None = None  # the blocks we report, once out-of-order data came
        if config.timestamps == 1:  # Linux tcp_ts_off; 2: no offset
            self._ts.offset = self.owner.ts_offset(self._lip, self._rip)
        self._now = 0.0  # the virtual time of the event being processed (TSval)

    # ------------------------------------------------------------------ properties

    @property
    def snd_una(self) -> int:
        """SND.UNA, the oldest unacknowledged sequence number."""
        return (self.iss + self._snd_una) & MASK

    @property
    def snd_nxt(self) -> int:
        """SND.NXT, the next sequence number to send."""
        return (self.iss + self._snd_nxt) & MASK

    @property
    def rcv_nxt(self) -> int:
        """RCV.NXT, the next sequence number expected."""
        return (self.irs + self._rcv_so) & MASK

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
        return self._rcvd.readable

    @property
    def send_queued(self) -> int:
        """Bytes in the send buffer: written but not yet acknowledged."""
        return self._sendbuf.queued(max(0, self._snd_una - 1))

    @property
    def send_buffer_free(self) -> int:
        """Bytes :meth:`send` would accept now."""
        return max(0, self.sndbuf - self.send_queued)

    @property
    def cwnd(self) -> int:
        """The congestion window in bytes: packets times SMSS (0 before the
        handshake completes)."""
        return self._rec.cc.cwnd * self._smss()

    @property
    def rto(self) -> float:
        """The current retransmission timeout (with backoff)."""
        return self._rtt.rto

    @property
    def srtt(self) -> float | None:
        """The smoothed RTT, None before the first sample."""
        return self._rtt.srtt

    @property
    def next_deadline(self) -> float | None:
        """When :meth:`on_timer` next has work, or None."""
        return self._timers.next_deadline()

    @property
    def orphaned(self) -> bool:
        """The application closed the socket; the connection lives on in the kernel."""
        return self._closed_by_app

    def __repr__(self) -> str:
        local, remote = endpoint(self._lip, self._lport), endpoint(self._rip, self._rport)
        return f"<Connection {local} -> {remote} {self.state}>"

    def tsval(self, now: float) -> int:
        """The TSval this end's segments carry at ``now`` (RFC 7323 section
        3: a 1 ms clock on virtual time plus the connection's offset)."""
        return self._ts.clock(now)

    def _smss(self) -> int:
        """The segment size we send (Linux ``tcp_current_mss``): the smaller
        of our MSS and the peer's, less the timestamps option every segment
        carries once negotiated (1460 - 12 = 1448 on a LAN)."""
        if self.ts_ok:
            return min(self.mss, self.peer_mss) - 12
        return min(self.mss, self.peer_mss)

    def _fin_acked(self) -> bool:
        """Our FIN was sent and acknowledged."""
        return self._fin_queued and self._snd_una == self._sendbuf.written + 2

    # ------------------------------------------------------------------ state

    def set_state(self, new: State, now: float) -> None:
        """The one place a state changes; the owner records it."""
        old = self.state
        if old is new:
            return
        self.state = new
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("%r: %s -> %s at %.6f", self, old, new, now)
        self.owner.state_changed(self, old, new, now)

    # ------------------------------------------------------------------ endings

    def _finish(self, now: float, err: int | None, *, quiet: bool = False) -> None:
        """Go CLOSED, cancel every timer, record ``err`` for the application
        (``quiet``: the user hears only that the connection closed)."""
        self._timers.cancel_all()
        if err is not None:
            self.error = err
            if not self._closed_by_app:
                self.pending_error = err
        if not quiet and self.user is not None:
            self._notify |= NOTIFY_READABLE | NOTIFY_WRITABLE | NOTIFY_CLOSED
        elif self.user is not None:
            self._notify |= NOTIFY_CLOSED
        self.set_state(CLOSED, now)

    def _reset_by_peer(self, now: float) -> None:
        """A valid RST arrived (RFC 9293 3.10.7.4 second step; Linux ``tcp_reset``)."""
        self._finish(now, reset_errno(self.state))

    def _take_pending(self) -> int | None:
        err = self.pending_error
        self.pending_error = None
        return err

    # ------------------------------------------------------------------ the owner and the user

    def _arm(self) -> None:
        """Ask the owner for a wake-up if our earliest deadline moved earlier."""
        when = self._timers.reschedule()
        if when is not None:
            self.owner.schedule(self, when)

    def wake_time(self, when: float) -> float | None:
        """For the owner's event queue: is the wake-up requested for ``when``
        still wanted?  Returns ``when`` if so, a later time to move it to, or
        None to drop it (superseded by an earlier request, or no timer left)."""
        return self._timers.wake_time(when)

    def _fire(self) -> None:
        """Deliver the notifications collected during this event to the user."""
        notify = self._notify
        self._notify = 0
        user = self.user
        if user is None:
            return
        if notify & NOTIFY_CONNECTED:
            user.tcp_connected(self)
        if notify & NOTIFY_READABLE and self.user is user:
            user.tcp_readable(self)
        if notify & NOTIFY_WRITABLE and self.user is user:
            user.tcp_writable(self)
        if notify & NOTIFY_CLOSED and self.user is user:
            user.tcp_closed(self)
