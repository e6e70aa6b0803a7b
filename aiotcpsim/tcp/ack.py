"""What an acceptable ACK does (RFC 9293 3.10.7.4, fifth step), and the end of the handshake.

This module owns the effects of an ACK that passed the checks of
:mod:`.receive`:

* the send window is updated only by a segment newer than the last update
  (the SND.WL1/SND.WL2 rule);
* an ACK of new data advances SND.UNA, releases the send buffer, gives an RTT
  sample (Karn's rule), ends the RTO backoff, feeds congestion control and
  restarts or stops the retransmission timer (RFC 6298 (5.2), (5.3));
* a duplicate ACK (RFC 5681's definition: no data, no window change, no SYN
  or FIN, data outstanding) goes to congestion control, which may ask for a
  fast retransmit;
* a handshake completes in :meth:`TcbAck._established`, the only way into
  ESTABLISHED.
"""

from __future__ import annotations

from ..segment import FIN, SYN, Segment, seq_diff
from .cc import CA_RECOVERY
from .output import TcbOutput
from .state import ESTABLISHED, FIN_WAIT_1, SENDING
from .tcb import NOTIFY_CONNECTED, NOTIFY_WRITABLE

__all__ = ["TcbAck"]


class TcbAck(TcbOutput):
    """The TCB's ACK processing."""

    __slots__ = ()

    def _established(self, now: float) -> None:
        """The handshake completed: ESTABLISHED (or FIN-WAIT-1 when the
        application already shut down), engines started."""
        self.set_state(ESTABLISHED, now)
        self._timers.rtx_at = None
        self._rtt.on_established()
        self._rec.on_established(now, self._snd_max)
        if self.keepalive:
            self._timers.keepalive_at = now + self.keepalive_idle
        # tcp_initialize_rcv_mss: a guess until segments are measured.
        self._delack.on_established(max(88, min(self._smss(), self.rcvbuf // 2, 536)), now)
        if not self.passive:
            self._notify |= NOTIFY_CONNECTED
        if self._fin_queued:
            self.set_state(FIN_WAIT_1, now)

    def _handshake_rtt(self, now: float) -> None:
        """The SYN or SYN-ACK was acknowledged: an RTT sample unless it was
        retransmitted (Karn's rule)."""
        if self._hs_rtt_t is not None and self._rtt.backoff == 0:
            self._rtt.sample(now - self._hs_rtt_t)
        self._hs_rtt_t = None

    def _note_peer_alive(self, now: float) -> None:
        """An acceptable ACK arrived: the keep-alive idle time starts again."""
        self._last_rcv_time = now
        self._ka_probes = 0
        if self.keepalive:
            self._timers.keepalive_at = now + self.keepalive_idle

    def _process_ack(self, seg: Segment, seg_so: int, ack_so: int, plen: int, now: float) -> None:
        """An acceptable ACK (SND.UNA - MAX.SND.WND <= ack <= SND.MAX) at
        receive offset ``seg_so``, acknowledging send offset ``ack_so``."""
        una = self._snd_una
        window_changed = self._update_window(seg.window, seg_so, ack_so)
        if self._rec.board is not None:
            if ack_so > una:
                self._ack_new_data(ack_so, now, seg)
            elif self._snd_max > una:
                dupack = plen == 0 and not window_changed and not seg.flags & (SYN | FIN)
                if dupack or seg.options.sack:
                    self._sack_ack(False, seg, now, -1.0, dupack)
        elif ack_so > una:
            self._ack_new_data(ack_so, now, seg)
        elif (
            ack_so == una
            and plen == 0
            and not window_changed
            and not seg.flags & (SYN | FIN)
            and self._snd_max > una
        ):
            self._duplicate_ack(now)
        if window_changed and self._snd_wnd and self._rec.ca_state != CA_RECOVERY and ack_so == una:
            self._rtt.reset_backoff()  # the window opened: probing is over
        # What the ACK let go is sent by _output_after_segment, once the text
        # and FIN steps have moved RCV.NXT.

    def _output_after_segment(self, now: float) -> None:
        """After every step of an incoming segment, send what its ACK (or a
        window update) released, carrying the RCV.NXT its own text and FIN
        set (RFC 9293 3.10.7.4 processes the whole segment first; Linux
        ``tcp_rcv_established``: ``tcp_data_snd_check`` after
        ``tcp_data_queue``).  The data then carries the ACK and no pure ACK
        follows."""
        # Optimization: most segments leave nothing to send.
        if self.state in SENDING and self._snd_nxt < self._sendbuf.written + 1 + self._fin_queued:
            self._output(now)

    def _duplicate_ack(self, now: float) -> None:
        """A duplicate ACK (RFC 5681 section 2): loss recovery may mark the
        head lost and start a fast retransmit."""
        self._rec.on_dupack(self._snd_una, self._snd_max, self._smss(), now)
        self._retransmit_lost(now)

    def _sack_ack(
        self, advanced: bool, seg: Segment, now: float, rtt: float, dupack: bool = False
    ) -> None:
        """An ACK on a SACK connection: the scoreboard, RACK, the recovery
        states (with the SACK blocks as offsets, the D-SACK block's edges,
        the TSecr the segment carries, whether it is a duplicate ACK and
        whether new data may go: F-RTO's questions); then what was lost goes
        again."""
        una = self._snd_una
        blocks: list[tuple[int, int]] = []
        dsack_start = dsack_end = -1
        sack = seg.options.sack
        ts = seg.options.timestamps
        tsecr = ts[1] if ts is not None and self.ts_ok else 0
        if sack:
            base = self.snd_una
            snd_max = self._snd_max
            edges = [
                (una + seq_diff(left, base), una + seq_diff(right, base)) for left, right in sack
            ]
            lo, hi = edges[0]
            if lo < hi and (
                hi <= una or (len(edges) > 1 and edges[1][0] <= lo < hi <= edges[1][1])
            ):
                dsack_start, dsack_end = lo, hi  # RFC 2883: a D-SACK (tcp_check_dsack)
            for lo, hi in edges:
                if una < hi <= snd_max and lo < hi:
                    blocks.append((max(lo, una), hi))
        rec = self._rec
        srtt = self._rtt.srtt or 0.0
        mask = self.config.recovery
        nxt = self._snd_nxt
        new_data = (
            self._sendbuf.written + 1 + self._fin_queued > nxt
            and self._snd_una + self._snd_wnd > nxt
        )
        timeout = rec.on_sack_ack(
            una,
            advanced,
            blocks,
            now,
            rtt,
            mask,
            srtt,
            dsack_end,
            dsack_start,
            tsecr,
            dupack,
            new_data,
        )
        timers = self._timers
        timers.rack_at = now + timeout if timeout > 0 else None
        if timeout > 0 or rec.ca_state >= CA_RECOVERY:
            timers.probe_at = None  # RACK's timer, or the RTO, takes the probe's place
        self._retransmit_lost(now)

    def _update_window(self, window: int, seg_so: int, ack_so: int) -> bool:
        """RFC 9293 3.10.7.4: take SEG.WND if SND.WL1 < SEG.SEQ, or SND.WL1 =
        SEG.SEQ and SND.WL2 =< SEG.ACK.  True when the window changed."""
        wl1 = self._snd_wl1
        if wl1 < seg_so or (wl1 == seg_so and self._snd_wl2 <= ack_so):
            changed = window != self._snd_wnd
            self._snd_wnd = window
            self.max_snd_wnd = max(self.max_snd_wnd, window)
            self._snd_wl1 = seg_so
            self._snd_wl2 = ack_so
            return changed
        return False

    def _ack_new_data(self, ack_so: int, now: float, seg: Segment) -> None:
        """SND.UNA < SEG.ACK =< SND.MAX: SND.UNA advances."""
        acked = ack_so - self._snd_una
        self._snd_una = ack_so
        self._snd_nxt = max(self._snd_nxt, ack_so)
        self._sendbuf.release(ack_so - 1)
        rtt_so = self._rtt_so
        rtt = -1.0
        if rtt_so is not None and ack_so >= rtt_so:
            rtt = now - self._rtt_t
            self._rtt.sample(rtt)
            self._rtt_so = None
        if self._rtt.backoff:
            self._rtt.reset_backoff()  # RFC 6298 (5.7)
        self._rtx_stamp = None
        if self._rec.board is not None:
            self._sack_ack(True, seg, now, rtt)
        else:
            self._rec.on_ack(ack_so, acked, self._snd_max, self._smss(), now, rtt)
            self._retransmit_lost(now)
        timers = self._timers
        if ack_so >= self._snd_max:
            timers.rtx_at = timers.probe_at = None  # RFC 6298 (5.2): all data acknowledged
        else:
            timers.rtx_at = now + self._rtt.rto  # (5.3)
            self._rtx_armed_at = now
            if self._rec.board is not None and timers.rack_at is None:
                self._schedule_loss_probe(now)  # tcp_set_xmit_timer
        timers.persist_at = None
        if self._want_write and self.send_queued < self.sndbuf:
            self._want_write = False
            self._notify |= NOTIFY_WRITABLE
