"""SYN cookies: the arithmetic of Linux's ``net/ipv4/syncookies.c``.

Rule owned here: **what a cookie is** -- how the ISN of a SYN-ACK sent
without state encodes a time counter, an index into :data:`MSSTAB` and a
keyed hash of the 4-tuple, how the ACK that comes back is checked, and how
the low bits of a cookie SYN-ACK's TSval carry the options the SYN offered.
When cookies are sent and what a valid ACK becomes is decided elsewhere: the
listener (:mod:`aiotcpsim.stack.listener`) owns the SYN queue and its
overflow, the host (:mod:`aiotcpsim.stack.host`) makes the connection.

The cookie (``secure_tcp_syn_cookie``), with ``count`` the minutes of
virtual time (``tcp_cookie_time``) and ``H`` a keyed hash of the 4-tuple::

    ISN = H0(4-tuple) + SEQ(SYN) + (count << 24) + ((H1(4-tuple, count) + mssind) mod 2**24)

An ACK ``ack, seq`` carries the cookie ``ack - 1`` for the SYN ``seq - 1``;
it is valid when ``count`` is at most :data:`MAX_SYNCOOKIE_AGE` - 1 minutes
old and the low 24 bits leave an index of :data:`MSSTAB`
(``check_tcp_syn_cookie``): a cookie lives between one and two minutes.

Linux keys SipHash with a secret drawn once per boot
(``net_get_random_once``); here :class:`SynCookieJar` draws two 128-bit
keys from the network's seeded RNG the first time it needs them, and hashes
with keyed BLAKE2s, so that a seed reproduces a run.

Options: a SYN without timestamps loses window scaling and SACK
(``tcp_clear_options`` in ``tcp_conn_request``): the cookie SYN-ACK offers
the MSS only.  With timestamps (and ``tcp_timestamps`` on) the SYN-ACK
offers them all, and its TSval hides what the SYN offered in its six low
bits (:func:`cookie_timestamp`, Linux ``cookie_init_timestamp``) plus the
TS offset of the address pair (``secure_tcp_ts_off``: a hash, so that the
ACK's side can subtract it without state).  The ACK echoes it in its TSecr;
:func:`cookie_ack_options` decodes ``TSecr - offset``
(``cookie_timestamp_decode``) into the options the connection starts with,
or refuses the ACK.

IPv6 cookies carry an MSS of :data:`MSSTAB6` (``net/ipv6/syncookies.c``).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ..segment import TcpOptions
from ..tcp.timestamps import Timestamps

if TYPE_CHECKING:
    from random import Random

    from ..config import TcpConfig
    from ..segment import Segment
    from ..tcp import State

__all__ = [
    "COOKIE_PERIOD",
    "MAX_SYNCOOKIE_AGE",
    "MSSTAB",
    "MSSTAB6",
    "NETSTAT_COUNTERS",
    "CookieOptions",
    "StatelessOwner",
    "SynCookieJar",
    "cookie_ack_options",
    "cookie_mss_index",
    "cookie_time",
    "cookie_syn_options",
    "cookie_timestamp",
    "decode_cookie_timestamp",
]

MSSTAB: Final = (536, 1300, 1440, 1460)
"""The MSS values an IPv4 cookie can carry (Linux ``msstab``; 1440: PPPoE)."""

MSSTAB6: Final = (1280 - 60, 1480 - 60, 1500 - 60, 9000 - 60)
"""The MSS values an IPv6 cookie can carry (``net/ipv6/syncookies.c``
``msstab``: IPv6's minimum MTU, 6in4 tunnels, Ethernet, jumbo frames)."""

COOKIE_PERIOD: Final = 60.0
"""Seconds per tick of the cookie's time counter (``TCP_SYNCOOKIE_PERIOD``)."""

MAX_SYNCOOKIE_AGE: Final = 2
"""A cookie is valid while its counter is less than this many ticks old
(``MAX_SYNCOOKIE_AGE``); a listener checks ACKs as cookies only this long
after it last sent one (``TCP_SYNCOOKIE_VALID``, :meth:`Listener.recent_overflow
<aiotcpsim.stack.listener.Listener.recent_overflow>`)."""

NETSTAT_COUNTERS: Final = (
    "SyncookiesSent",
    "SyncookiesRecv",
    "SyncookiesFailed",
    "ListenOverflows",
    "ListenDrops",
    "TCPReqQFullDoCookies",
    "TCPReqQFullDrop",
)
"""The counters of :attr:`Host.netstat <aiotcpsim.stack.host.Host.netstat>`,
named as in the ``TcpExt`` lines of Linux's ``/proc/net/netstat``."""

_COOKIEBITS: Final = 24
_COOKIEMASK: Final = (1 << _COOKIEBITS) - 1
_MASK32: Final = 0xFFFFFFFF

# The six low bits of a cookie SYN-ACK's TSval (Linux TSBITS, TS_OPT_*):
# bits 0-3 the peer's window scale (0xf: none), bit 4 SACK, bit 5 ECN.
_TSBITS: Final = 6
_TS_OPT_WSCALE_MASK: Final = 0xF
_TS_OPT_SACK: Final = 1 << 4
_TS_OPT_ECN: Final = 1 << 5


def cookie_time(now: float) -> int:
    """The cookie's time counter at virtual time ``now``: whole minutes
    (``tcp_cookie_time``), 32 bits."""
    return int(now // COOKIE_PERIOD) & _MASK32


def cookie_mss_index(mss: int, table: tuple[int, ...] = MSSTAB) -> int:
    """The index in ``table`` of the largest entry not above ``mss``; 0 (536
    in :data:`MSSTAB`) for anything smaller (``__cookie_v4_init_sequence``)."""
    index = len(table) - 1
    while index and mss < table[index]:
        index -= 1
    return index


class CookieOptions(NamedTuple):
    """What a cookie SYN-ACK's TSval remembered of the SYN's options."""

    wscale: int | None
    """The peer's window scale (its SYN's option), None: no window scaling."""
    sack: bool
    """The SYN offered SACK."""
    ecn: bool
    """The SYN asked for ECN."""


def cookie_timestamp(ts_now: int, options: CookieOptions) -> int:
    """The TSval of a cookie SYN-ACK at timestamp clock ``ts_now``
    (``cookie_init_timestamp``): ``options`` in the six low bits, and never
    above ``ts_now``, since later TSvals come from the clock itself."""
    bits = _TS_OPT_WSCALE_MASK if options.wscale is None else options.wscale
    if options.sack:
        bits |= _TS_OPT_SACK
    if options.ecn:
        bits |= _TS_OPT_ECN
    ts = ((ts_now >> _TSBITS) << _TSBITS) | bits
    if ts > ts_now:
        ts -= 1 << _TSBITS
    return ts & _MASK32


def decode_cookie_timestamp(
    tsecr: int, *, timestamps: bool, sack: bool, window_scaling: bool
) -> CookieOptions | None:
    """The options a cookie ACK's TSecr (less the host's timestamp offset)
    carries back (``cookie_timestamp_decode``), or None when this host's
    settings refuse them (``tcp_timestamps``, ``tcp_sack``,
    ``tcp_window_scaling`` turned off since): the ACK is then no valid cookie.

    An ACK without the timestamps option has no options to decode: the
    connection gets neither window scaling nor SACK (call this only for an
    ACK that carries timestamps).
    """
    if not timestamps:
        return None
    sack_ok = bool(tsecr & _TS_OPT_SACK)
    if sack_ok and not sack:
        return None
    ecn = bool(tsecr & _TS_OPT_ECN)
    wscale = tsecr & _TS_OPT_WSCALE_MASK
    if wscale == _TS_OPT_WSCALE_MASK:
        return CookieOptions(None, sack_ok, ecn)
    if not window_scaling:
        return None
    return CookieOptions(wscale, sack_ok, ecn)


def cookie_syn_options(
    syn: TcpOptions, config: TcpConfig
) -> tuple[TcpOptions, CookieOptions | None]:
    """What a cookie keeps of a SYN's options ``syn`` on a host configured
    with ``config`` (``tcp_conn_request``): the options the SYN-ACK answers,
    and what its TSval remembers.  Without timestamps (in the SYN or in
    ``tcp_timestamps``) the MSS alone and None (``tcp_clear_options``)."""
    if syn.timestamps is None or not config.timestamps:
        return TcpOptions(mss=syn.mss), None
    wscale = syn.wscale if config.window_scaling else None
    return syn, CookieOptions(wscale, syn.sack_permitted and config.sack, False)


def cookie_ack_options(
    ack: Segment, mss: int, config: TcpConfig, ts_offset: Callable[[str, str], int]
) -> TcpOptions | None:
    """The options a cookie connection starts with, as its SYN's had been
    (``cookie_tcp_check``): the MSS ``mss`` of the cookie, and what the ACK's
    TSecr less the address pair's TS offset (``ts_offset(local, remote)``
    when ``tcp_timestamps`` is 1, Linux ``secure_tcp_ts_off``) brings back
    (:func:`decode_cookie_timestamp`); None: the ACK is refused.  An ACK
    without timestamps (or a host with ``tcp_timestamps`` off, which does
    not parse them) gets the MSS only."""
    ts = ack.options.timestamps
    if ts is None or not config.timestamps:
        return TcpOptions(mss=mss)
    offset = ts_offset(ack.dst_ip, ack.src_ip) if config.timestamps == 1 else 0
    opts = decode_cookie_timestamp(
        (ts[1] - offset) & _MASK32,
        timestamps=True,
        sack=config.sack,
        window_scaling=config.window_scaling,
    )
    if opts is None:
        return None
    return TcpOptions(mss, opts.wscale, opts.sack, (ts[0], 0))


class SynCookieJar:
    """A host's cookie secret, and the cookies it makes and checks.

    The two keys are drawn from ``rng`` at the first cookie (Linux draws its
    ``syncookie_secret`` once, at first use).
    """

    __slots__ = ("_keys", "_rng")

    def __init__(self, rng: Random) -> None:
        self._rng = rng
        self._keys: tuple[bytes, bytes] | None = None

    def _hash(self, key: int, tuple4: tuple[str, int, str, int], count: int) -> int:
        keys = self._keys
        if keys is None:
            rng = self._rng
            keys = self._keys = (rng.randbytes(16), rng.randbytes(16))
        saddr, sport, daddr, dport = tuple4
        data = f"{saddr} {daddr} {(sport << 16) | dport} {count}".encode()
        digest = hashlib.blake2s(data, key=keys[key], digest_size=4).digest()
        value: int = struct.unpack("<I", digest)[0]
        return value

    def make(
        self,
        tuple4: tuple[str, int, str, int],
        seq: int,
        mss: int,
        now: float,
        *,
        ipv6: bool = False,
    ) -> int:
        """The cookie ISN answering a SYN with sequence number ``seq`` and MSS
        ``mss`` from ``tuple4`` = (source ip, source port, destination ip,
        destination port) of the SYN, at ``now``; it carries
        ``MSSTAB[cookie_mss_index(mss)]`` (:data:`MSSTAB6` for ``ipv6``)."""
        count = cookie_time(now)
        index = cookie_mss_index(mss, MSSTAB6 if ipv6 else MSSTAB)
        return (
            self._hash(0, tuple4, 0)
            + seq
            + (count << _COOKIEBITS)
            + ((self._hash(1, tuple4, count) + index) & _COOKIEMASK)
        ) & _MASK32

    def check(
        self,
        tuple4: tuple[str, int, str, int],
        seq: int,
        ack: int,
        now: float,
        *,
        ipv6: bool = False,
    ) -> int:
        """The MSS an ACK (``seq``, ``ack``, from ``tuple4`` as for
        :meth:`make`) carries in its cookie, or 0 when it is no valid cookie
        of the last :data:`MAX_SYNCOOKIE_AGE` minutes (``__cookie_v4_check``,
        ``__cookie_v6_check``)."""
        count = cookie_time(now)
        cookie = (ack - 1 - self._hash(0, tuple4, 0) - (seq - 1)) & _MASK32
        diff = (count - (cookie >> _COOKIEBITS)) & (_MASK32 >> _COOKIEBITS)
        if diff >= MAX_SYNCOOKIE_AGE:
            return 0
        index = (cookie - self._hash(1, tuple4, (count - diff) & _MASK32)) & _COOKIEMASK
        table = MSSTAB6 if ipv6 else MSSTAB
        return table[index] if index < len(table) else 0

    def __repr__(self) -> str:
        return f"<SynCookieJar {'keyed' if self._keys is not None else 'no key yet'}>"


class StatelessOwner:
    """The owner of a cookie SYN-ACK's throwaway child (a
    :class:`~aiotcpsim.tcp.ConnectionOwner`): its SYN-ACK goes out through
    ``transmit``, the host's, and nothing else of it is kept -- no timer, no
    state in the trace -- so that the cookie SYN-ACK is built by the code
    that builds every SYN-ACK, with the same options.  With ``options``
    (:func:`cookie_syn_options`) its TSval is :func:`cookie_timestamp` of
    the TS clock at ``now``, plus the child's offset (Linux
    ``tcp_make_synack`` for ``TCP_SYNACK_COOKIE``)."""

    __slots__ = ("_now", "_options", "_transmit", "ts_offset")

    def __init__(
        self,
        transmit: Callable[..., None],
        ts_offset: Callable[[str, str], int],
        options: CookieOptions | None = None,
        now: float = 0.0,
    ) -> None:
        self._transmit = transmit
        self.ts_offset = ts_offset
        """The host's TS clock offsets (a child's TSval is the host's)."""
        self._options = options
        self._now = now

    def transmit(self, segment: Segment, *, retransmission: bool = False) -> None:
        opts = segment.options
        ts = opts.timestamps
        if ts is not None and self._options is not None:
            clock = Timestamps().clock(self._now)  # the 1 ms clock, no offset
            offset = ts[0] - clock  # the child's (secure_tcp_ts_off, or 0)
            tsval = (cookie_timestamp(clock, self._options) + offset) & _MASK32
            segment = segment._replace(options=opts._replace(timestamps=(tsval, ts[1])))
        self._transmit(segment, retransmission=retransmission)

    def schedule(self, conn: Any, when: float) -> None:
        pass  # no timer: the SYN-ACK is never retransmitted

    def state_changed(self, conn: Any, old: State, new: State, now: float) -> None:
        pass

    def admit(self, conn: Any) -> bool:
        return False

    def note(self, conn: Any, text: str, now: float) -> None:
        pass
