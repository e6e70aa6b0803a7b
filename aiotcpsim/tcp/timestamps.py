"""The timestamps option of one connection (RFC 7323 sections 3-5).

This module owns the TS clock, TS.Recent and the PAWS test:

* TSval is a 1 ms clock on virtual time (Linux ``tcp_clock_ms``,
  ``TCP_TS_HZ`` = 1000) plus a per-connection offset (``tcp_timestamps`` = 1;
  Linux derives it from a keyed hash of the addresses, here from the
  network's seed: see :meth:`~aiotcpsim.Host.ts_offset`);
* TSecr echoes TS.Recent, which a segment updates only when it is
  acceptable, starts at or below the last ACK we sent (Last.ACK.sent,
  Linux's ``rcv_wup``) and its TSval is not older (RFC 7323 section 4.3,
  Linux ``tcp_replace_ts_recent``);
* PAWS (RFC 7323 section 5, Linux ``tcp_paws_check``): a TSval more than 1
  below TS.Recent is old, unless TS.Recent was set more than 24 days ago
  (``TCP_PAWS_24DAYS``) or is 0;
* an RTT sample is the TS clock now less the TSecr an ACK echoes
  (RFC 7323 section 4, Linux ``tcp_rtt_tsopt_us``: at least 1 ms).

Performance and memory: every segment carries the option, so its values are
shared from a small cache of recent ``(TSval, TSecr)`` pairs, kept for all
connections at once (an idle connection holds none: its heap counts).
"""

from __future__ import annotations

from typing import Final

from ..segment import TcpOptions, seq_diff

__all__ = ["PAWS_IDLE", "Timestamps"]

PAWS_IDLE: Final = 24 * 86400.0
"""Seconds after which TS.Recent is no longer trusted (``TCP_PAWS_24DAYS``)."""

_MASK: Final = 0xFFFFFFFF
_CACHE_SIZE: Final = 256
_OPTIONS: dict[tuple[int, int], TcpOptions] = {}
_HALF: Final = 0x80000000


class Timestamps:
    """TS clock offset, TS.Recent and Last.ACK.sent of one connection."""

    __slots__ = ("last_ack_sent", "offset", "recent", "stamp")

    def __init__(self) -> None:
        self.offset = 0
        """Added to the 1 ms clock (Linux ``tp->tsoffset``)."""
        self.recent = 0
        """TS.Recent: the TSval to echo."""
        self.stamp = -1.0
        """When TS.Recent was set (virtual seconds; negative: never)."""
        self.last_ack_sent = 0
        """Last.ACK.sent as a receive offset (Linux ``rcv_wup``)."""

    def clock(self, now: float) -> int:
        """TSval at ``now``: milliseconds of virtual time plus the offset."""
        return (int(now * 1000.0 + 1e-6) + self.offset) & _MASK

    def options(self, now: float) -> TcpOptions:
        """The options of a non-SYN segment: TSval now, TSecr = TS.Recent."""
        key = (self.clock(now), self.recent)
        opt = _OPTIONS.get(key)
        if opt is None:
            if len(_OPTIONS) >= _CACHE_SIZE:
                _OPTIONS.clear()
            opt = _OPTIONS[key] = TcpOptions(None, None, False, key)
        return opt

    def store(self, tsval: int, now: float) -> None:
        """TS.Recent = ``tsval`` (Linux ``tcp_store_ts_recent``)."""
        self.recent = tsval
        self.stamp = now

    def paws_ok(self, tsval: int, now: float, window: int = 1) -> bool:
        """Not an old duplicate by PAWS (Linux ``tcp_paws_check``): TSval at
        most ``window`` below TS.Recent, or TS.Recent stale or unset."""
        behind = (self.recent - tsval) & _MASK  # how far TSval is below TS.Recent
        if behind <= window or behind >= _HALF:
            return True
        return self.stamp < 0 or now >= self.stamp + PAWS_IDLE or not self.recent

    def update_recent(self, seg_so: int, tsval: int, now: float) -> None:
        """RFC 7323 section 4.3 (Linux ``tcp_replace_ts_recent``): an
        acceptable segment at receive offset ``seg_so`` that starts at or
        before Last.ACK.sent and is not older updates TS.Recent."""
        if seg_so <= self.last_ack_sent and (
            (tsval - self.recent) & _MASK < _HALF or self.paws_ok(tsval, now, 0)
        ):
            self.recent = tsval
            self.stamp = now

    def rtt_sample(self, tsecr: int, now: float) -> float | None:
        """The RTT the echoed ``tsecr`` measures, in seconds (at least 1 ms,
        as Linux ``tcp_rtt_tsopt_us``); None for an echo from the future or
        older than the clock can tell."""
        delta = seq_diff(self.clock(now), tsecr)
        if delta < 0 or delta >= _HALF // 1000:
            return None
        return max(delta, 1) / 1000.0
