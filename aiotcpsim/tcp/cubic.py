"""CUBIC's window growth (RFC 9438) as Linux computes it (``net/ipv4/tcp_cubic.c``).

This module owns the ``cubic`` algorithm, Linux's default.  After a loss the
window follows ``W_cubic(t) = C * (t - K)^3 + W_max`` (RFC 9438 section 4.2)
with Linux's fixed-point constants: C = ``bic_scale`` / 1024 * 10 = 0.4004
(``cube_rtt_scale``), time in 1/1024 s, ``K = cubic_root(cube_factor *
(W_max - cwnd))`` (``bictcp_update``).  It follows Linux's functions:

* ``cubictcp_recalc_ssthresh``: beta = 717/1024 (about 0.7), fast
  convergence (a loss below the last ``W_max`` remembers ``cwnd * (1 +
  beta) / 2``);
* ``bictcp_update``: the epoch starts on the first ACK after a reduction; t
  counts from it plus ``delay_min``; the target gives ``cnt``, the packets to
  acknowledge per one-packet increase, at most 20 before the first loss
  (``last_max_cwnd == 0``), at least 2; TCP friendliness (RFC 9438 section
  4.3) estimates Reno's window with ``beta_scale`` and takes the faster;
  recomputed at most once per jiffy and every HZ/32 while cwnd stands;
* ``cubictcp_cwnd_event`` (``CA_EVENT_TX_START``): idle time shifts the epoch;
* ``cubictcp_state``: the Loss state resets everything;
* HyStart (``hystart=1``, both detectors, ``hystart_low_window`` 16): the
  ACK train (ACKs at most 2 ms apart spanning more than ``delay_min / 2`` +
  the 1 ms ``hystart_ack_delay`` of an unpaced sender below 262 MB/s) and the
  delay increase (the minimum of 8 samples above ``delay_min`` + clamp(
  ``delay_min / 8``, 4 ms, 16 ms)) end slow start by setting ssthresh =
  cwnd (``hystart_update``, ``cubictcp_acked``).
* ``cubic_root``: a 64-entry table and one Newton-Raphson step, as Linux.

Jiffies are virtual milliseconds (HZ = 1000), microseconds Linux's
``bictcp_clock_us``.
"""

from __future__ import annotations

from typing import Final

from .cc import CA_LOSS, CongestionOps

__all__ = ["Cubic", "cubic_root"]

BETA: Final = 717
BETA_SCALE: Final = 1024
BIC_SCALE: Final = 41
HZ: Final = 1000
BICTCP_HZ: Final = 10
CUBE_RTT_SCALE: Final = BIC_SCALE * 10
CUBE_FACTOR: Final = (1 << (10 + 3 * BICTCP_HZ)) // (BIC_SCALE * 10)
FRIENDLY_BETA_SCALE: Final = 8 * (BETA_SCALE + BETA) // 3 // (BETA_SCALE - BETA)
HYSTART_LOW_WINDOW: Final = 16
HYSTART_MIN_SAMPLES: Final = 8
HYSTART_DELAY_MIN: Final = 4000
HYSTART_DELAY_MAX: Final = 16000
HYSTART_ACK_DELTA_US: Final = 2000
HYSTART_ACK_DELAY_US: Final = 1000
_NO_RTT: Final = 0xFFFFFFFF

_CUBE_TABLE: Final = (
    0, 54, 54, 54, 118, 118, 118, 118,
    123, 129, 134, 138, 143, 147, 151, 156,
    157, 161, 164, 168, 170, 173, 176, 179,
    181, 185, 187, 190, 192, 194, 197, 199,
    200, 202, 204, 206, 209, 211, 213, 215,
    217, 219, 221, 222, 224, 225, 227, 229,
    231, 232, 234, 236, 237, 239, 240, 242,
    244, 245, 246, 248, 250, 251, 252, 254,
)  # fmt: skip


def cubic_root(a: int) -> int:
    """Linux ``cubic_root``: about the cube root of ``a`` (a table, one Newton step)."""
    b = a.bit_length()
    if b < 7:
        return (_CUBE_TABLE[a] + 35) >> 6
    b = ((b * 84) >> 8) - 1
    shift = a >> (b * 3)
    x = ((_CUBE_TABLE[shift] + 10) << b) >> 6
    x = 2 * x + a // (x * (x - 1))
    return (x * 341) >> 10


def _jiffies(now: float) -> int:
    return round(now * 1_000_000) // 1000


class Cubic(CongestionOps):
    """Linux's ``cubic`` congestion-control module (``struct bictcp``)."""

    __slots__ = (
        "ack_cnt",
        "bic_k",
        "bic_origin_point",
        "cnt",
        "curr_rtt",
        "delay_min",
        "end_seq",
        "epoch_start",
        "found",
        "last_ack",
        "last_cwnd",
        "last_max_cwnd",
        "last_time",
        "round_start",
        "sample_cnt",
        "tcp_cwnd",
    )

    def __init__(self) -> None:
        super().__init__()
        self.cnt = self.last_max_cwnd = self.last_cwnd = self.last_time = 0
        self.bic_origin_point = self.bic_k = self.delay_min = 0
        self.epoch_start = self.ack_cnt = self.tcp_cwnd = 0
        self.found = False
        self.round_start = self.last_ack = self.end_seq = self.sample_cnt = 0
        self.curr_rtt = _NO_RTT

    @property
    def name(self) -> str:
        return "cubic"

    def _reset(self) -> None:
        """``bictcp_reset``."""
        self.cnt = self.last_max_cwnd = self.last_cwnd = self.last_time = 0
        self.bic_origin_point = self.bic_k = self.delay_min = 0
        self.epoch_start = self.ack_cnt = self.tcp_cwnd = 0
        self.found = False

    def _hystart_reset(self, now: float, snd_nxt: int) -> None:
        """``bictcp_hystart_reset``: a new round of HyStart."""
        self.round_start = self.last_ack = round(now * 1_000_000)
        self.end_seq = snd_nxt
        self.curr_rtt = _NO_RTT
        self.sample_cnt = 0

    def init(self, now: float, snd_nxt: int) -> None:
        self._reset()
        self._hystart_reset(now, snd_nxt)

    def set_state(self, state: int, now: float, snd_nxt: int) -> None:
        if state == CA_LOSS:
            self._reset()
            self._hystart_reset(now, snd_nxt)

    def tx_start(self, now: float, idle: float) -> None:
        if self.epoch_start:
            delta = _jiffies(idle)
            if delta > 0:
                self.epoch_start = min(self.epoch_start + delta, _jiffies(now))

    def ssthresh_on_loss(self) -> int:
        self.epoch_start = 0
        cwnd = self.cwnd
        if cwnd < self.last_max_cwnd:  # fast convergence
            self.last_max_cwnd = cwnd * (BETA_SCALE + BETA) // (2 * BETA_SCALE)
        else:
            self.last_max_cwnd = cwnd
        return max(cwnd * BETA // BETA_SCALE, 2)

    def cong_avoid(self, acked: int, now: float) -> None:
        if self.cwnd < self.ssthresh:
            acked = self.slow_start(acked)
            if not acked:
                return
        self.update(acked, now)
        self.cong_avoid_ai(self.cnt, acked)

    def update(self, acked: int, now: float) -> None:
        """``bictcp_update``: ``cnt`` for the current window at ``now``."""
        cwnd = self.cwnd
        jiffies = _jiffies(now)
        self.ack_cnt += acked
        if self.last_cwnd == cwnd and jiffies - self.last_time <= HZ // 32:
            return
        if not (self.epoch_start and jiffies == self.last_time):
            self.last_cwnd = cwnd
            self.last_time = jiffies
            if self.epoch_start == 0:
                self.epoch_start = jiffies
                self.ack_cnt = acked
                self.tcp_cwnd = cwnd
                if self.last_max_cwnd <= cwnd:
                    self.bic_k = 0
                    self.bic_origin_point = cwnd
                else:
                    self.bic_k = cubic_root(CUBE_FACTOR * (self.last_max_cwnd - cwnd))
                    self.bic_origin_point = self.last_max_cwnd
            t = jiffies - self.epoch_start + -(-self.delay_min // (1_000_000 // HZ))
            t = (t << BICTCP_HZ) // HZ
            offs = abs(t - self.bic_k)
            delta = (CUBE_RTT_SCALE * offs * offs * offs) >> (10 + 3 * BICTCP_HZ)
            target = (
                self.bic_origin_point - delta if t < self.bic_k else self.bic_origin_point + delta
            )
            self.cnt = cwnd // (target - cwnd) if target > cwnd else 100 * cwnd
            if self.last_max_cwnd == 0 and self.cnt > 20:
                self.cnt = 20  # increase cwnd 5% per RTT until the first loss
        # TCP friendliness
        delta = (cwnd * FRIENDLY_BETA_SCALE) >> 3
        while self.ack_cnt > delta:
            self.ack_cnt -= delta
            self.tcp_cwnd += 1
        if self.tcp_cwnd > cwnd:
            self.cnt = min(self.cnt, cwnd // (self.tcp_cwnd - cwnd))
        self.cnt = max(self.cnt, 2)

    def pkts_acked(self, acked: int, rtt: float, now: float, snd_una: int, snd_nxt: int) -> None:
        if self.epoch_start and _jiffies(now) - self.epoch_start < HZ:
            return  # discard delay samples right after a reduction
        delay = max(round(rtt * 1_000_000), 1)
        if self.delay_min == 0 or self.delay_min > delay:
            self.delay_min = delay
        if not self.found and self.cwnd < self.ssthresh and self.cwnd >= HYSTART_LOW_WINDOW:
            self._hystart_update(delay, now, snd_una, snd_nxt)

    def _hystart_update(self, delay: int, now: float, snd_una: int, snd_nxt: int) -> None:
        """``hystart_update``: end slow start on an ACK train or a delay rise."""
        if snd_una > self.end_seq:
            self._hystart_reset(now, snd_nxt)
        now_us = round(now * 1_000_000)
        if now_us - self.last_ack <= HYSTART_ACK_DELTA_US:
            self.last_ack = now_us
            threshold = (self.delay_min + HYSTART_ACK_DELAY_US) >> 1
            if now_us - self.round_start > threshold:
                self.found = True
                self.ssthresh = self.cwnd
        if self.curr_rtt > delay:
            self.curr_rtt = delay
        if self.sample_cnt < HYSTART_MIN_SAMPLES:
            self.sample_cnt += 1
        elif self.curr_rtt > self.delay_min + min(
            max(self.delay_min >> 3, HYSTART_DELAY_MIN), HYSTART_DELAY_MAX
        ):
            self.found = True
            self.ssthresh = self.cwnd

    def snapshot(self) -> dict[str, int | None]:
        return {
            **super().snapshot(),
            "last_max_cwnd": self.last_max_cwnd,
            "epoch_start": self.epoch_start,
            "bic_k": self.bic_k,
            "cnt": self.cnt,
        }
