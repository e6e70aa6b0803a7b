"""TCP knobs, with Linux's values as defaults.

Every field of :class:`TcpConfig` mirrors a Linux sysctl or kernel constant
(named in its docstring), so that a test run against the simulation and a run
against the kernel on loopback agree.  Three named profiles exist:

* :meth:`TcpConfig.linux` -- the defaults, Linux >= 6.5;
* :meth:`TcpConfig.legacy_linux` -- Linux <= 6.4, the textbook SYN ladder
  1, 3, 7, 15, 31, 63 s and ``ETIMEDOUT`` at 127 s;
* :meth:`TcpConfig.rfc` -- RFC 9293 as written: TIME-WAIT = 2 * MSL = 240 s,
  RFC 1337 protection on, pure exponential SYN backoff.

Times are in seconds of virtual time.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["CONGESTION_CONTROLS", "TcpConfig"]

CONGESTION_CONTROLS: tuple[str, ...] = ("cubic", "reno", "newreno")
"""The names :attr:`TcpConfig.congestion_control` accepts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpConfig:
    """Timing and sizing knobs of the simulated TCP stack.

    Raises:
        ValueError: a field is out of range; the message names the field.
    """

    rto_initial: float = 1.0
    """Initial retransmission timeout, before any RTT sample (``TCP_TIMEOUT_INIT``)."""

    rto_min: float = 0.2
    """Lower bound of the RTO (``TCP_RTO_MIN``, 200 ms)."""

    rto_max: float = 120.0
    """Upper bound of the RTO (``TCP_RTO_MAX``, 120 s)."""

    rto_fallback: float = 3.0
    """RTO used for data after a SYN or SYN-ACK had to be retransmitted and no
    RTT sample was taken (RFC 6298 section 5.7, ``TCP_TIMEOUT_FALLBACK``)."""

    syn_retries: int = 6
    """SYN retransmissions before connect fails (``net.ipv4.tcp_syn_retries``,
    per socket ``TCP_SYNCNT``)."""

    syn_linear_timeouts: int = 4
    """Number of initial SYN retransmissions whose RTO is not doubled
    (``net.ipv4.tcp_syn_linear_timeouts``, Linux >= 6.5; 0 restores the
    classic exponential ladder)."""

    synack_retries: int = 5
    """SYN-ACK retransmissions before a half-open request is dropped
    (``net.ipv4.tcp_synack_retries``)."""

    retries2: int = 15
    """Data retransmissions before an established connection fails with
    ``ETIMEDOUT`` (``net.ipv4.tcp_retries2``); the limit is a time bound
    computed as Linux's ``tcp_model_timeout`` (924.6 s for 15 with a 200 ms RTO)."""

    orphan_retries: int = 8
    """Retransmissions of a FIN after the application closed the socket
    (``net.ipv4.tcp_orphan_retries``; Linux's 0 means 8)."""

    fin_timeout: float = 60.0
    """Lifetime of an orphaned FIN-WAIT-2 connection (``net.ipv4.tcp_fin_timeout``).
    A socket half-closed by ``shutdown(SHUT_WR)`` and still open waits forever."""

    time_wait: float = 60.0
    """Duration of TIME-WAIT (``TCP_TIMEWAIT_LEN``; Linux fixes it at 60 s,
    RFC 9293 asks for 2 * MSL)."""

    msl: float = 30.0
    """Maximum segment lifetime, documentation only on Linux (RFC 9293 says 120 s)."""

    rfc1337: bool = False
    """``net.ipv4.tcp_rfc1337``: when false (Linux's default) an exact RST kills a
    TIME-WAIT connection; when true it is ignored (RFC 1337, fix F1)."""

    tw_reuse: bool = False
    """``net.ipv4.tcp_tw_reuse``: let a new outgoing connection take over a
    4-tuple still in TIME-WAIT (Linux enables this on loopback only), when the
    old connection used timestamps and its last one is more than a second old."""

    max_tw_buckets: int = 131072
    """``net.ipv4.tcp_max_tw_buckets``: beyond this many TIME-WAIT connections per
    host a closing connection skips TIME-WAIT."""

    ephemeral_ports: tuple[int, int] = (32768, 60999)
    """``net.ipv4.ip_local_port_range``: inclusive range of local ports for connect."""

    somaxconn: int = 4096
    """``net.core.somaxconn``: upper bound of a listen backlog."""

    max_syn_backlog: int = 2048
    """``net.ipv4.tcp_max_syn_backlog``: with ``syncookies`` 0, a SYN is
    dropped once fewer than a quarter of this many half-open requests are
    free (the SYN queue itself holds ``backlog + 1``: the listen backlog)."""

    abort_on_overflow: bool = False
    """``net.ipv4.tcp_abort_on_overflow``: RST (instead of silently dropping)
    the third ACK when the accept queue is full."""

    mss: int = 1460
    """Maximum segment size announced between hosts (an Ethernet LAN: MTU
    1500 - 40 bytes of IPv4 and TCP headers); with timestamps
    (:attr:`timestamps`) data segments carry 12 bytes less, 1448."""

    loopback_mss: int = 65495
    """The MSS of connections over 127.0.0.0/8: Linux's ``lo`` has MTU 65536,
    so its SYNs announce 65536 - 40 (IPv4 and TCP headers); with timestamps
    (:attr:`timestamps`) its segments carry 12 bytes less, 65483."""

    loopback_rcvbuf: int = 6291456
    """Receive buffer of connections over 127.0.0.0/8: ``net.ipv4.tcp_rmem``'s
    maximum, where Linux's buffer autotuning takes a loopback transfer."""

    loopback_sndbuf: int = 4194304
    """Send buffer of connections over 127.0.0.0/8: ``net.ipv4.tcp_wmem``'s
    maximum, where Linux's autotuning takes it on loopback."""

    default_mss: int = 536
    """MSS assumed for a peer that sends no MSS option (RFC 9293 section 3.7.1)."""

    rcvbuf: int = 131072
    """Receive buffer in bytes: the most unread data a connection holds; the
    advertised window is what is left of it (``net.ipv4.tcp_rmem`` default,
    without Linux's overhead accounting)."""

    sndbuf: int = 16384 * 4
    """Send buffer in bytes: data accepted from the application but not yet
    acknowledged (``net.ipv4.tcp_wmem``; asyncio's write buffer sits above it)."""

    delack_min: float = 0.04
    """Delayed-ACK timeout (``TCP_DELACK_MIN``, 40 ms)."""

    delack_max: float = 0.2
    """Upper bound of the delayed-ACK timeout (``TCP_DELACK_MAX``, 200 ms)."""

    quickack_segments: int = 16
    """Most ACKs sent at once in quick-ACK mode (``TCP_MAX_QUICKACKS``): it starts
    with the first data received, with a budget of ``rcv_wnd / (2 * rcv_mss)``
    ACKs (at least 2, at most this), and again after a long silence or
    out-of-order data (``tcp_incr_quickack``)."""

    keepalive_time: float = 7200.0
    """Idle time before the first keep-alive probe (``net.ipv4.tcp_keepalive_time``)."""

    keepalive_intvl: float = 75.0
    """Time between keep-alive probes (``net.ipv4.tcp_keepalive_intvl``)."""

    keepalive_probes: int = 9
    """Unanswered probes before the connection fails (``net.ipv4.tcp_keepalive_probes``)."""

    challenge_ack_interval: float = 0.5
    """Minimum time between two challenge or duplicate ACKs answering invalid
    segments on one connection (``net.ipv4.tcp_invalid_ratelimit``, 500 ms)."""

    rst_in_syn_received_challenge: bool = False
    """An in-window RST that is not exact in SYN-RECEIVED: Linux (false) drops the
    request; RFC 5961 / FreeBSD (true) answer with a challenge ACK."""

    window_scaling: bool = True
    """``net.ipv4.tcp_window_scaling``: offer and accept the window scale
    option (RFC 7323 section 2), so windows can exceed 65,535 bytes."""

    timestamps: int = 1
    """``net.ipv4.tcp_timestamps``: 0 off; 1 (Linux's default) the timestamps
    option (RFC 7323 sections 3-5: RTT measurement and PAWS) with a random
    offset per connection; 2 without the offset."""

    sack: bool = True
    """``net.ipv4.tcp_sack``: offer and accept selective acknowledgments (RFC 2018)."""

    congestion_control: str = "cubic"
    """``net.ipv4.tcp_congestion_control`` (per socket ``TCP_CONGESTION``):
    ``"cubic"`` (Linux's default: RFC 9438 as ``tcp_cubic.c``, with HyStart),
    ``"newreno"`` or ``"reno"``.  Both of the latter grow the window as
    Linux's ``reno`` module (``tcp_reno_cong_avoid``: packet-counted slow
    start, one packet per window in congestion avoidance, half the window on
    a loss); they differ only without SACK, in fast recovery: ``"newreno"``
    is what Linux does for a non-SACK flow (RFC 6582: a partial ACK resends
    the next hole and recovery lasts until everything sent before it began
    is acknowledged), ``"reno"`` is RFC 5681's Reno (the first ACK of new
    data ends recovery; further holes wait for more duplicate ACKs or the
    timeout).  With SACK, recovery is the same for all three.  A kernel
    knows no ``"newreno"``: its ``reno`` is this ``"newreno"``."""

    slow_start_after_idle: bool = True
    """``net.ipv4.tcp_slow_start_after_idle``: after an idle time longer than
    the RTO the window restarts from at most the initial window (RFC 5681
    section 4.1, Linux ``tcp_cwnd_restart``)."""

    recovery: int = 1
    """``net.ipv4.tcp_recovery``, a bit mask: 0x1 RACK-TLP loss detection
    (RFC 8985, Linux's default), 0x2 a static RACK reordering window,
    0x4 no duplicate-ACK threshold."""

    early_retrans: int = 3
    """``net.ipv4.tcp_early_retrans``: 3 or 4 (Linux's default 3) send tail
    loss probes on SACK connections (RFC 8985 section 7: two SRTTs without
    an ACK after the last segment, one segment goes again or new data goes
    first, so a lost tail is repaired by fast recovery instead of a
    timeout); 0 to 2 send none."""

    frto: int = 2
    """``net.ipv4.tcp_frto``: F-RTO, the detection of spurious retransmission
    timeouts (RFC 5682) on SACK connections.  2 (Linux's default) the
    SACK-enhanced version of RFC 5682 section 3; 1 basic F-RTO, which Linux
    runs the same code for (it reads the sysctl as on or off), so 1 behaves
    as 2; 0 off.  After a timeout the first ACK that moves SND.UNA lets new
    data go instead of further retransmissions; an ACK of data never resent
    then proves the timeout spurious and undoes it.  Connections without
    SACK (resent go-back-N here) do not run it."""

    syncookies: int = 1
    """``net.ipv4.tcp_syncookies``: 0 off; 1 (Linux's default) send SYN cookies
    when a listener's SYN queue overflows; 2 always."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            # a str here, a class in the compiled build
            kind = field.type if isinstance(field.type, str) else field.type.__name__
            _check_type(field.name, kind, getattr(self, field.name))
        for name in (
            "rto_initial",
            "rto_min",
            "rto_max",
            "rto_fallback",
            "delack_min",
            "delack_max",
            "keepalive_time",
            "keepalive_intvl",
        ):
            _require(name, getattr(self, name) > 0, "must be > 0 seconds")
        for name in ("fin_timeout", "time_wait", "msl", "challenge_ack_interval"):
            _require(name, getattr(self, name) >= 0, "must be >= 0 seconds")
        for name in (
            "syn_retries",
            "syn_linear_timeouts",
            "synack_retries",
            "retries2",
            "orphan_retries",
            "max_tw_buckets",
            "quickack_segments",
        ):
            _require(name, getattr(self, name) >= 0, "must be >= 0")
        _require("syn_retries", self.syn_retries <= 127, "must be <= 127 (as TCP_SYNCNT)")
        _require("rto_min", self.rto_min <= self.rto_max, "must not exceed rto_max")
        _require("delack_min", self.delack_min <= self.delack_max, "must not exceed delack_max")
        _require("keepalive_probes", self.keepalive_probes >= 1, "must be >= 1")
        for name in (
            "somaxconn",
            "max_syn_backlog",
            "rcvbuf",
            "sndbuf",
            "loopback_rcvbuf",
            "loopback_sndbuf",
        ):
            _require(name, getattr(self, name) >= 1, "must be >= 1")
        _require("rcvbuf", self.rcvbuf <= 0x3FFFFFFF, "must be < 1 GiB")
        _require("loopback_rcvbuf", self.loopback_rcvbuf <= 0x3FFFFFFF, "must be < 1 GiB")
        _require("mss", 88 <= self.mss <= 65495, "must be within 88..65495")
        _require("loopback_mss", 88 <= self.loopback_mss <= 65495, "must be within 88..65495")
        _require("default_mss", 88 <= self.default_mss <= 65495, "must be within 88..65495")
        _require("timestamps", self.timestamps in (0, 1, 2), "must be 0, 1 or 2")
        _require("syncookies", self.syncookies in (0, 1, 2), "must be 0, 1 or 2")
        _require("recovery", 0 <= self.recovery <= 7, "must be a mask of 0x1, 0x2 and 0x4")
        _require("early_retrans", 0 <= self.early_retrans <= 4, "must be 0 to 4 (3: loss probes)")
        _require("frto", self.frto in (0, 1, 2), "must be 0, 1 or 2")
        _require(
            "congestion_control",
            self.congestion_control in CONGESTION_CONTROLS,
            f"must be one of {', '.join(map(repr, CONGESTION_CONTROLS))}",
        )
        low, high = self.ephemeral_ports
        _require(
            "ephemeral_ports",
            1 <= low <= high <= 65535,
            "must be a (low, high) pair with 1 <= low <= high <= 65535",
        )

    @classmethod
    def linux(cls, **overrides: Any) -> TcpConfig:
        """Linux >= 6.5 defaults (the same as ``TcpConfig()``)."""
        return cls(**overrides)

    @classmethod
    def legacy_linux(cls, **overrides: Any) -> TcpConfig:
        """Linux <= 6.4: no linear SYN timeouts, so SYNs go out at 0, 1, 3, 7,
        15, 31, 63 s and connect fails at 127 s (the textbook ladder)."""
        return cls(**({"syn_linear_timeouts": 0} | overrides))

    @classmethod
    def textbook(cls, **overrides: Any) -> TcpConfig:
        """The same as :meth:`legacy_linux`."""
        return cls.legacy_linux(**overrides)

    @classmethod
    def rfc(cls, **overrides: Any) -> TcpConfig:
        """RFC 9293 as written: MSL 120 s and TIME-WAIT 2 * MSL, RFC 1337 on,
        exponential SYN backoff, an in-window non-exact RST in SYN-RECEIVED
        answered with a challenge ACK (RFC 5961)."""
        defaults: dict[str, Any] = {
            "syn_linear_timeouts": 0,
            "msl": 120.0,
            "time_wait": 240.0,
            "rfc1337": True,
            "rst_in_syn_received_challenge": True,
        }
        return cls(**(defaults | overrides))

    def loopback(self) -> TcpConfig:
        """This configuration for a connection over 127.0.0.0/8: the loopback
        MSS and buffer sizes take the place of the LAN's."""
        return dataclasses.replace(
            self,
            mss=self.loopback_mss,
            rcvbuf=self.loopback_rcvbuf,
            sndbuf=self.loopback_sndbuf,
        )

    def replace(self, **changes: Any) -> TcpConfig:
        """A copy with some fields changed (validated like the constructor)."""
        return dataclasses.replace(self, **changes)


def _check_type(name: str, kind: str, value: object) -> None:
    """A TypeError naming the field for a value of the wrong type (a float in
    an integer field would crash later, deep in the TCB); ValueError for a
    NaN or infinite number of seconds."""
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and not math.isfinite(value):  # type: ignore[arg-type]
            raise ValueError(f"TcpConfig.{name} must be finite, got {value!r}")
    elif kind == "str":
        ok = isinstance(value, str)
    else:  # tuple[int, int]
        kind = "tuple[int, int]"
        ok = (
            isinstance(value, tuple)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        )
    if not ok:
        raise TypeError(f"TcpConfig.{name} must be {kind}, got {value!r}")


def _require(name: str, ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"TcpConfig.{name} {what}")
