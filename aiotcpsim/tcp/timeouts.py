"""What happens when a timer expires, and when a connection gives up.

This module owns the expiry of each timer of :mod:`.timers`:

* retransmission (RFC 6298 section 5): a SYN or SYN-ACK is resent with
  Linux's backoff (the first ``syn_linear_timeouts`` SYN RTOs not doubled,
  Linux >= 6.5) until ``syn_retries``/``synack_retries`` or their time bound
  (``tcp_write_timeout``); data is resent from SND.UNA with the window cut
  to one segment (RFC 5681 section 3.1) until ``retries2`` backoffs' worth of
  time (``tcp_model_timeout``), ``orphan_retries`` for an orphan, or
  ``TCP_USER_TIMEOUT``;
* delayed ACK: the ACK goes out (:mod:`.delack` adjusts its ATO);
* persist (RFC 9293 3.8.6.1, Linux ``tcp_probe_timer``): a zero-window probe,
  backing off, counted against the same limits;
* keep-alive (RFC 9293 3.8.4, Linux ``tcp_keepalive_timer``): after
  ``keepalive_idle`` without a segment, ``keepalive_count`` probes
  ``keepalive_interval`` apart, then a RST and ETIMEDOUT;
* linger: TIME-WAIT ends; an orphaned FIN-WAIT-2 gives up (``tcp_fin_timeout``);
* loss probe (RFC 8985 section 7): :meth:`~.output.TcbOutput._send_loss_probe`.

An ICMP error seen earlier replaces ETIMEDOUT (Linux's soft error).
"""

from __future__ import annotations

import errno
from typing import Final

from .receive import TcbReceive
from .rtt import model_timeout
from .state import CLOSED, FIN_WAIT_2, SENDING, SYN_RECEIVED, SYN_SENT, SYNCHRONIZED, TIME_WAIT

__all__ = ["TcbTimeouts"]

# Deadlines computed by different sums of the same delays may differ by float noise.
_EPS: Final = 1e-9


class TcbTimeouts(TcbReceive):
    """The TCB's timer expiry."""

    __slots__ = ()

    def on_timer(self, now: float) -> None:
        """Run whatever timers are due at ``now`` (called by the owner)."""
        self._now = now
        timers = self._timers
        if timers.scheduled is not None and now >= timers.scheduled:
            timers.scheduled = None
        if self.state is CLOSED:
            return
        if timers.ack_at is not None and now >= timers.ack_at:
            timers.ack_at = None
            self._delack.on_timer(self._rtt.rto)
            self._send_ack()
        if timers.probe_at is not None and now >= timers.probe_at:
            timers.probe_at = None  # the probe takes the RTO's place (one timer in Linux)
            self._send_loss_probe(now)
        if timers.rtx_at is not None and now >= timers.rtx_at:
            timers.rtx_at = None
            self._on_retransmission_timeout(now)
        if timers.rack_at is not None and now >= timers.rack_at and self.state is not CLOSED:
            timers.rack_at = None
            self._on_rack_timeout(now)
        if timers.persist_at is not None and now >= timers.persist_at and self.state is not CLOSED:
            timers.persist_at = None
            self._on_persist_timeout(now)
        if (
            timers.keepalive_at is not None
            and now >= timers.keepalive_at
            and self.state is not CLOSED
        ):
            timers.keepalive_at = None
            self._on_keepalive_timeout(now)
        if timers.linger_at is not None and now >= timers.linger_at and self.state is not CLOSED:
            timers.linger_at = None
            self._on_linger_timeout(now)
        if self._delack.ack_now and self.state is not CLOSED:
            self._send_ack()
        if self.state is not CLOSED:
            self._arm()
        if self._notify:
            self._fire()

    # ------------------------------------------------------------------ retransmission

    def _on_retransmission_timeout(self, now: float) -> None:
        """RFC 6298 (5.4)-(5.6), RFC 5681 section 3.1."""
        state = self.state
        if state is SYN_SENT or state is SYN_RECEIVED:
            self._retransmit_syn(now)
            return
        if self._snd_una >= self._snd_max:
            return
        if self._rtx_stamp is None:
            self._rtx_stamp = self._rtx_armed_at
        stamp = self._rtx_stamp
        if self._timed_out(now, stamp):
            self._time_out(now)
            return
        smss = self._smss()
        first = self._rtt.backoff == 0
        self._rec.on_timeout(self._snd_una, self._snd_max, first, now, self.config.frto != 0)
        self._rtt.back_off()
        self._rtt_so = None
        self._timers.rack_at = self._timers.probe_at = None
        if self._rec.board is not None:
            # SACK: what was SACKed stays delivered; the rest is marked lost
            # and resent in order as the window allows (tcp_enter_loss)
            self._retransmit_lost(now)
        else:
            self._snd_nxt = self._snd_una  # go back N: resend from SND.UNA
            self._output(now)
            if self._snd_nxt == self._snd_una:  # nothing could go (zero window): resend the head
                self._retransmit_head()
                self._snd_nxt = min(self._snd_una + smss, self._snd_max)
        rtx_at = now + self._rtt.rto
        if self.user_timeout:
            rtx_at = min(rtx_at, stamp + self.user_timeout)
        self._timers.rtx_at = rtx_at

    def _on_rack_timeout(self, now: float) -> None:
        """RACK's reordering timer (RFC 8985 6.2; ``tcp_rack_reo_timeout``)."""
        srtt = self._rtt.srtt or 0.0
        timeout = self._rec.on_rack_timer(now, self.config.recovery, srtt)
        if timeout > 0:
            self._timers.rack_at = now + timeout
        self._retransmit_lost(now)

    def _retransmit_syn(self, now: float) -> None:
        """Resend the SYN or SYN-ACK, or give up."""
        state = self.state
        if self._syn_gave_up(now):
            if state is SYN_RECEIVED and self.passive:
                self.owner.note(self, "SYN-ACK retries exhausted: request dropped", now)
                self._finish(now, None, quiet=True)
            else:
                self._finish(now, self._soft_error or errno.ETIMEDOUT)
            return
        rtt = self._rtt
        rtt.backoff += 1
        if state is not SYN_SENT or rtt.backoff > self.config.syn_linear_timeouts:
            rtt.double()
        self._send_syn(now, retransmission=True)
        self._timers.rtx_at = now + rtt.rto

    def _syn_gave_up(self, now: float) -> bool:
        """Linux ``tcp_write_timeout`` for SYN and SYN-ACK: the retry count,
        or the time ``(2**(boundary + 1) - 1)`` initial RTOs take."""
        config = self.config
        if self.state is SYN_SENT:
            limit = self.syn_retries + config.syn_linear_timeouts
            boundary = self.syn_retries
        else:
            limit = boundary = config.synack_retries if self.passive else self.syn_retries
        if self._rtt.backoff >= limit:
            return True
        bound = ((2 << boundary) - 1) * config.rto_initial
        return now - self._syn_start >= bound - _EPS

    def _timed_out(self, now: float, since: float) -> bool:
        """Linux ``retransmits_timed_out`` for data (and ``TCP_USER_TIMEOUT``)."""
        ut = self.user_timeout
        if ut:
            return now - since >= ut - _EPS
        config = self.config
        boundary = config.orphan_retries if self._closed_by_app else config.retries2
        return self._rtt.backoff > 0 and now - since >= model_timeout(boundary, config) - _EPS

    def _time_out(self, now: float) -> None:
        self.owner.note(self, "retransmissions exhausted", now)
        self._finish(now, self._soft_error or errno.ETIMEDOUT)

    # ------------------------------------------------------------------ probes and linger

    def _on_persist_timeout(self, now: float) -> None:
        """Zero-window probe (RFC 9293 3.8.6.1; Linux ``tcp_probe_timer``)."""
        if self.state not in SENDING or self._snd_nxt < self._snd_una:
            return
        unsent = self._sendbuf.written + 1 - self._snd_nxt
        if unsent <= 0 or self._snd_max > self._snd_una:
            return
        if self._snd_wnd > 0:
            self._output(now)
            return
        boundary = self.config.orphan_retries if self._closed_by_app else self.config.retries2
        if self._ka_probes >= boundary:  # probes_out: reset by every ACK
            self._time_out(now)
            return
        self._send_probe()
        self._ka_probes += 1
        self._rtt.backoff += 1
        self._timers.persist_at = now + self._rtt.probe_interval()

    def _on_keepalive_timeout(self, now: float) -> None:
        """RFC 9293 3.8.4; Linux ``tcp_keepalive_timer``."""
        if not self.keepalive or self.state not in SYNCHRONIZED or self.state is TIME_WAIT:
            return
        timers = self._timers
        if self._snd_max > self._snd_una or self._sendbuf.written + 1 > self._snd_nxt:
            timers.keepalive_at = now + self.keepalive_idle  # data outstanding: the RTO watches
            return
        idle = now - self._last_rcv_time
        if idle < self.keepalive_idle - _EPS and self._ka_probes == 0:
            timers.keepalive_at = self._last_rcv_time + self.keepalive_idle
            return
        ut = self.user_timeout
        if (ut and self._ka_probes and idle >= ut) or (
            not ut and self._ka_probes >= self.keepalive_count
        ):
            self.owner.note(self, "keep-alive: peer not answering", now)
            self._send_reset()
            self._finish(now, self._soft_error or errno.ETIMEDOUT)
            return
        self._send_probe()
        self._ka_probes += 1
        timers.keepalive_at = now + self.keepalive_interval

    def _on_linger_timeout(self, now: float) -> None:
        """TIME-WAIT is over, or an orphaned FIN-WAIT-2 waited ``fin_timeout``."""
        if self.state is TIME_WAIT:
            self._finish(now, None)
        elif self.state is FIN_WAIT_2 and self._closed_by_app:
            self.owner.note(self, "orphaned FIN-WAIT-2 timed out (tcp_fin_timeout)", now)
            self._finish(now, None)
