"""Segment arrival: RFC 9293 section 3.10.7, one method per step.

This module owns which segments are acceptable and what each kind does:

* SYN-SENT (3.10.7.3): an ACK must acknowledge our SYN exactly, else it is
  answered with a RST; a RST with that ACK refuses the connection; a SYN-ACK
  establishes it, a bare SYN is a simultaneous open;
* TIME-WAIT (Linux ``tcp_timewait_state_process``): a retransmitted FIN is
  re-ACKed and restarts the timer, an exact RST ends it unless ``rfc1337``;
* SYN-RECEIVED and the other synchronized states (3.10.7.4), in the RFC's
  order: first the sequence number (the four acceptability cases), second
  RST, fourth SYN, fifth ACK, seventh the text, eighth FIN (the third step,
  security, does not apply: there are no compartments).  RST and SYN follow
  RFC 5961: only an exact RST resets; an in-window RST or any SYN draws a
  rate-limited challenge ACK, as does an ACK far below SND.UNA;
* sending comes last: what the ACK step released goes out once the text and
  FIN steps are done, carrying their RCV.NXT, then a pure ACK only if still
  due (Linux ``tcp_data_snd_check`` before ``tcp_ack_snd_check``);
* header prediction (Linux ``tcp_rcv_established``) is its own method: an
  ESTABLISHED segment that would pass every test goes straight to the ACK and
  text steps.

A segment from the peer never raises: it is processed, dropped, or answered.
"""

from __future__ import annotations

from typing import Final

from ..segment import ACK, FIN, PSH, RST, SYN, Segment, TcpOptions, seq_diff
from .data import TcbData
from .negotiate import MAX_WSCALE, initial_wscale
from .state import (
    CLOSED,
    CLOSING,
    ESTABLISHED,
    FIN_WAIT_1,
    LAST_ACK,
    LISTEN,
    RECEIVING,
    SEGMENT_STEPS,
    SYN_RECEIVED,
    SYN_SENT,
    TIME_WAIT,
    State,
)
from .tcb import MASK

__all__ = ["TcbReceive"]

# What the first step (sequence number) decides.
_ACCEPT: Final = 0
_ACK_ONLY: Final = 1  # a zero window: process the ACK (and RST), drop the text and FIN
_DROP: Final = 2


class TcbReceive(TcbData):
    """The TCB's segment-arrival steps."""

    __slots__ = ()

    def receive(self, seg: Segment, now: float) -> None:
        """Process one segment addressed to this connection (RFC 9293 3.10.7).

        Never raises for anything the peer sends.
        """
        self._now = now
        state = self.state
        if state in SEGMENT_STEPS:  # the common case first
            ts = seg.options.timestamps
            # PAWS needs a look only when TSval is more than 1 below TS.Recent.
            if (
                ts is None
                or not self.ts_ok
                or not 1 < (self._ts.recent - ts[0]) & MASK < 0x80000000
                or self._paws_passes(seg, now)
            ):
                self._receive_synchronized(seg, now)
        elif state is SYN_SENT:
            self._receive_syn_sent(seg, now)
        elif state is TIME_WAIT:
            self._receive_time_wait(seg, now)
        else:
            return  # CLOSED, LISTEN: the host answers for them
        self._output_after_segment(now)
        if self._delack.ack_now and self.state is not CLOSED:
            self._send_ack()
        self._arm()
        if self._notify:
            self._fire()

    # ------------------------------------------------------------------ SYN-SENT, TIME-WAIT

    def _receive_syn_sent(self, seg: Segment, now: float) -> None:
        """RFC 9293 section 3.10.7.3."""
        flags = seg.flags
        if flags & ACK:
            ack_so = self._snd_una + seq_diff(seg.ack, self.snd_una)
            if ack_so <= 0 or ack_so > self._snd_nxt:
                # An old duplicate SYN-ACK (or garbage): reset it, keep trying.
                if not flags & RST:
                    self._reset_segment(seg.ack)
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
            self._handshake_rtt_from_timestamps(seg, now)
            self._handshake_rtt(now)
            self._established(now)
            self._send_ack()
        else:
            # Crossed SYNs: simultaneous open (RFC 9293 Figure 7).
            self.set_state(SYN_RECEIVED, now)
            self._send_syn(now, retransmission=False, timed=False)
            self._timers.rtx_at = now + self._rtt.rto

    def _take_syn(self, syn: Segment) -> None:
        """The peer's SYN: IRS, RCV.NXT, its MSS and window (RFC 9293 3.10.7.2-3),
        and what its options negotiate (:mod:`.negotiate`)."""
        self.irs = syn.seq
        self._rcv_so = 1
        self._rcv_adv = 1
        self._take_syn_options(syn.options)
        self._snd_wnd = syn.window
        self.max_snd_wnd = max(self.max_snd_wnd, syn.window)
        self._snd_wl1 = 0
        self._snd_wl2 = 0

    def _take_syn_options(self, options: TcpOptions) -> None:
        """An option is in effect when both SYNs carry it (RFC 7323 sections
        1.3 and 2.2, RFC 2018 section 2): ours carried what the config
        enables, our SYN-ACK carries what both allow."""
        config = self.config
        self.peer_mss = options.mss or config.default_mss
        if config.window_scaling and options.wscale is not None:
            self.snd_wscale = min(options.wscale, MAX_WSCALE)
            self.rcv_wscale = initial_wscale(self.rcvbuf, config.loopback_rcvbuf)
        else:
            self.snd_wscale = self.rcv_wscale = 0
        self.sack_ok = config.sack and options.sack_permitted
        ts = options.timestamps
        self.ts_ok = bool(config.timestamps) and ts is not None
        if ts is not None and self.ts_ok:
            self._ts.store(ts[0], self._now)

    def _receive_time_wait(self, seg: Segment, now: float) -> None:
        """Linux ``tcp_timewait_state_process`` for a real TIME-WAIT."""
        flags = seg.flags
        ts = seg.options.timestamps
        if self.ts_ok and ts is not None and not flags & RST and not self._ts.paws_ok(ts[0], now):
            # PAWS: an old duplicate restarts the timer and draws a rate-limited ACK.
            self._restart_time_wait(now)
            self._ack_out_of_window(now)
            return
        if seg.seq == self.rcv_nxt and (seg.seg_len == 0 or flags & RST):
            if ts is not None and self.ts_ok:  # tw_ts_recent follows (PAWS passed)
                self._ts.store(ts[0], now)
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
        # tcp_oow_rate_limited exempts a segment that occupies sequence space
        # (a retransmitted FIN, old data) unless it is a SYN.
        self._ack_out_of_window(now, always=seg.seg_len > 0 and not flags & SYN)

    def _restart_time_wait(self, now: float) -> None:
        self._timers.linger_at = now + self.config.time_wait
        self.owner.note(self, "TIME-WAIT timer restarted", now)

    # ------------------------------------------------------------------ the synchronized states

    def _header_prediction(self, seg: Segment, now: float) -> bool:
        """Linux's fast path (``tcp_rcv_established``); True when it took ``seg``.

        In ESTABLISHED, a segment with ACK or ACK|PSH only, at RCV.NXT, whose
        payload fits the window and whose ACK lies within [SND.UNA, SND.MAX]
        passes every step (acceptable, no RST, no SYN, an ACK in range, no
        FIN), so it goes straight to what those steps would do with it.
        _process_ack leaves an ESTABLISHED connection ESTABLISHED, and an
        application's close() leaves ESTABLISHED at once (FIN-WAIT-1 or a
        reset), so the text step's "data after close()" test cannot apply.
        """
        if seg.flags | PSH != ACK | PSH or seg.seq != self.rcv_nxt:
            return False
        payload = seg.payload
        plen = len(payload)
        rcv = self._rcv_so
        una = self._snd_una
        acked = seq_diff(seg.ack, self.snd_una)
        if plen > self._rcv_adv - rcv or acked < 0 or una + acked > self._snd_max:
            return False
        if self.ts_ok:
            ts = seg.options.timestamps
            if ts is not None:
                self._ts.update_recent(rcv, ts[0], now)
                if acked > 0 and ts[1]:
                    self._rtt_from_timestamps(seg, una + acked, now)
        self._note_peer_alive(now)
        self._process_ack(seg, rcv, una + acked, plen, now)
        if plen:
            self._receive_data(rcv, payload, now)
        return True

    def _receive_synchronized(self, seg: Segment, now: float) -> None:
        """SYN-RECEIVED and the synchronized states (RFC 9293 3.10.7.4)."""
        if self.state is ESTABLISHED and self._header_prediction(seg, now):
            return
        flags = seg.flags
        seg_so = self._rcv_so + seq_diff(seg.seq, self.rcv_nxt)  # SEG.SEQ as an offset
        if self.state is SYN_RECEIVED and flags & SYN:
            if not flags & (ACK | RST) and seg.seq == self.irs:
                # The peer retransmitted its SYN: our SYN-ACK was lost (tcp_check_req).
                self._send_syn(now, retransmission=True)
                return
            if self._completes_simultaneous_open(seg, seg_so):
                flags &= ~SYN
                seg_so += 1
        payload = seg.payload
        plen = len(payload)
        seg_len = plen + (1 if flags & SYN else 0) + (flags & FIN)
        verdict = self._check_sequence(seg_so, seg_len, flags, plen, now)  # first
        if verdict == _DROP:
            return
        if verdict == _ACK_ONLY:
            # RFC 9293: with a zero window, still process ACK (and RST, URG), drop the text.
            payload = b""
            plen = 0
            flags &= ~FIN
        if flags & RST:  # second: RST (RFC 5961 section 3)
            self._check_rst(seg_so, now)
            return
        if flags & SYN:  # fourth: SYN (RFC 5961 section 4)
            self._challenge_ack(now, "SYN in a synchronized state")
            return
        if self.ts_ok:
            self._take_timestamp(seg, seg_so, now)
        if not flags & ACK or not self._check_ack(seg, seg_so, plen, now):  # fifth: ACK
            return
        fin_wait_2_later = False
        if self._fin_acked():
            fin_wait_2_later = self._our_fin_acked(flags, now)
            if self.state is CLOSED or self.state is TIME_WAIT:
                return
        state = self.state
        if plen and not self._check_text(seg, seg_so, payload, now):  # seventh: text
            return
        if flags & FIN:  # eighth: FIN
            self._check_fin(seg_so + plen, state, now)
        if fin_wait_2_later and self.state is FIN_WAIT_1:
            self._enter_fin_wait_2(now)

    def _paws_passes(self, seg: Segment, now: float) -> bool:
        """PAWS (RFC 7323 section 5; Linux ``tcp_paws_discard``), before the
        sequence number test: a segment whose TSval is older than TS.Recent is
        an old duplicate, dropped and answered with a duplicate ACK
        (rate-limited as the other out-of-window ACKs; old data D-SACKed),
        unless it is a RST or a disordered pure ACK (``tcp_disordered_ack``)."""
        ts = seg.options.timestamps
        if ts is None or self._ts.paws_ok(ts[0], now) or seg.flags & RST:
            return True  # (the common case: one subtraction in paws_ok)
        if self._disordered_ack(seg, ts[0]):
            return True
        self.owner.note(self, "PAWS: old timestamp, segment dropped", now)
        plen = len(seg.payload)
        seg_so = self._rcv_so + seq_diff(seg.seq, self.rcv_nxt)
        if plen and seg_so < self._rcv_so and self.sack_ok:
            self._sack_blocks().duplicate(seg_so, min(seg_so + plen, self._rcv_so))
        self._ack_out_of_window(now)
        return False

    def _disordered_ack(self, seg: Segment, tsval: int) -> bool:
        """A pure duplicate ACK at RCV.NXT that changes no window, within an
        RTO of TS.Recent: reordered, not old (Linux ``tcp_disordered_ack``)."""
        return (
            seg.flags & (ACK | SYN | FIN) == ACK
            and not seg.payload
            and seg.seq == self.rcv_nxt
            and seg.ack == self.snd_una
            and seg.window == self._snd_wnd
            # tcp_tsval_replay: an RTO in the fastest TS clock RFC 7323 allows, 1200 Hz.
            and seq_diff(self._ts.recent, tsval) <= int(self._rtt.rto * 1200)
        )

    def _rtt_from_timestamps(self, seg: Segment, ack_so: int, now: float) -> None:
        """RTTM (RFC 7323 section 4; Linux ``tcp_ack_update_rtt``): an ACK of
        new data that the timed segment does not measure (none is timed, as
        after a retransmission: Karn's rule does not apply to an echoed
        TSval) measures the RTT from its TSecr."""
        ts = seg.options.timestamps
        if ts is None or not ts[1] or ack_so <= self._snd_una:
            return
        if self._rtt_so is not None and ack_so >= self._rtt_so:
            return  # the timed segment gives the sample
        sample = self._ts.rtt_sample(ts[1], now)
        if sample is not None:
            self._rtt.sample(sample)

    def _handshake_rtt_from_timestamps(self, seg: Segment, now: float) -> None:
        """A retransmitted SYN or SYN-ACK is not timed (Karn's rule), but the
        TSecr of its acknowledgment is: the handshake's RTT sample then
        (Linux ``tcp_ack_update_rtt``, ``tcp_synack_rtt_meas``), so data does
        not start at the 3 s fallback RTO (RFC 6298 section 5.7)."""
        ts = seg.options.timestamps
        if not self.ts_ok or ts is None or not ts[1]:
            return
        if self._hs_rtt_t is not None and not self._rtt.backoff:
            return  # timed by the clock: _handshake_rtt takes it
        sample = self._ts.rtt_sample(ts[1], now)
        if sample is not None:
            self._rtt.sample(sample)

    def _take_timestamp(self, seg: Segment, seg_so: int, now: float) -> None:
        """An acceptable segment's timestamps: TS.Recent (RFC 7323 section 4.3)."""
        ts = seg.options.timestamps
        if ts is not None:
            self._ts.update_recent(seg_so, ts[0], now)

    def _completes_simultaneous_open(self, seg: Segment, seg_so: int) -> bool:
        """In SYN-RECEIVED, a SYN-ACK that repeats the peer's SYN and
        acknowledges ours: the other half of a simultaneous open (Linux passes
        it), taken as the ACK of our SYN."""
        return (
            seg.flags & (ACK | RST) == ACK
            and seg_so + 1 == self._rcv_so
            and self._snd_una + seq_diff(seg.ack, self.snd_una) == self._snd_nxt
        )

    def _check_sequence(self, seg_so: int, seg_len: int, flags: int, plen: int, now: float) -> int:
        """First step: is the segment in the receive window (RFC 9293
        3.10.7.4, the four cases)?  An unacceptable segment is answered with
        an ACK (rate-limited when it carries no data; a challenge ACK for a
        SYN, RFC 5961 section 4) unless it is a RST, and dropped."""
        rcv = self._rcv_so
        wnd = max(self._rcv_adv - rcv, 0)
        if seg_len == 0:
            acceptable = seg_so == rcv if wnd == 0 else rcv <= seg_so < rcv + wnd
        else:
            acceptable = wnd != 0 and (
                rcv <= seg_so < rcv + wnd or rcv <= seg_so + seg_len - 1 < rcv + wnd
            )
        if acceptable:
            return _ACCEPT
        if wnd == 0 and seg_so == rcv and not flags & (SYN | RST):
            return _ACK_ONLY
        if not flags & RST:
            if flags & SYN:
                self._challenge_ack(now, "SYN in a synchronized state")
            else:
                if seg_len and seg_so < rcv and self.sack_ok:
                    # Old data (or FIN) again: D-SACK it (RFC 2883; Linux tcp_send_dupack).
                    self._sack_blocks().duplicate(seg_so, min(seg_so + seg_len, rcv))
                # Data or a FIN (a duplicate: our ACK was lost) is ACKed every
                # time; tcp_oow_rate_limited limits only pure ACKs.
                self._ack_out_of_window(now, always=seg_len > 0)
        return _DROP

    def _check_rst(self, seg_so: int, now: float) -> None:
        """Second step, RFC 5961 section 3: an exact RST resets (a passive open
        in SYN-RECEIVED returns to LISTEN); any other in-window RST draws a
        challenge ACK."""
        passive_syn_received = self.state is SYN_RECEIVED and self.passive
        if seg_so == self._rcv_so:
            if passive_syn_received:
                self._back_to_listen("RST in SYN-RECEIVED: back to LISTEN", now)
            else:
                self._reset_by_peer(now)
        elif passive_syn_received and not self.config.rst_in_syn_received_challenge:
            self._back_to_listen("in-window RST in SYN-RECEIVED drops the request", now)
        else:
            self._challenge_ack(now, "in-window RST")

    def _back_to_listen(self, why: str, now: float) -> None:
        """RFC 9293 3.10.7.4: a passive open reset in SYN-RECEIVED returns to LISTEN."""
        self.owner.note(self, why, now)
        self._timers.rtx_at = self._timers.ack_at = None
        self.set_state(LISTEN, now)

    def _check_ack(self, seg: Segment, seg_so: int, plen: int, now: float) -> bool:
        """Fifth step: the ACK field.  True when the segment goes on to the
        text and FIN steps."""
        self._note_peer_alive(now)
        una = self._snd_una
        ack_so = una + seq_diff(seg.ack, self.snd_una)
        if self.state is SYN_RECEIVED:
            return self._ack_in_syn_received(seg, seg_so, ack_so, plen, now)
        if ack_so > self._snd_max:
            # Acknowledges something not yet sent: ACK and drop (RFC 9293; RFC 5961 5).
            self._ack_out_of_window(now)
            return False
        if ack_so < una - (self.max_snd_wnd or 1) - 1:  # max(MAX.SND.WND, 1)
            self._challenge_ack(now, "ACK below the acceptable range")
            return False
        if self.ts_ok:
            self._rtt_from_timestamps(seg, ack_so, now)
        self._process_ack(seg, seg_so, ack_so, plen, now)
        return self.state is not CLOSED and self.state is not TIME_WAIT

    def _ack_in_syn_received(
        self, seg: Segment, seg_so: int, ack_so: int, plen: int, now: float
    ) -> bool:
        """An ACK in SYN-RECEIVED: if it acknowledges our SYN the connection is
        ESTABLISHED (passive: if the accept queue has room); else a RST."""
        if not self._snd_una < ack_so <= self._snd_nxt:
            self._reset_segment(seg.ack)
            return False
        if self.passive and not self.owner.admit(self):
            if self.config.abort_on_overflow:  # Linux tcp_abort_on_overflow
                self._reset_segment(seg.ack)
                self._finish(now, None, quiet=True)
            return False
        self._snd_una = 1
        self._snd_wnd = seg.window
        self.max_snd_wnd = max(self.max_snd_wnd, seg.window)
        self._snd_wl1 = seg_so
        self._snd_wl2 = ack_so
        self._handshake_rtt_from_timestamps(seg, now)
        self._handshake_rtt(now)
        self._established(now)
        if ack_so > self._snd_una:
            self._process_ack(seg, seg_so, ack_so, plen, now)
        return True

    def _our_fin_acked(self, flags: int, now: float) -> bool:
        """The ACK step acknowledged our FIN: FIN-WAIT-1 -> FIN-WAIT-2, CLOSING
        -> TIME-WAIT, LAST-ACK -> CLOSED.  True when FIN-WAIT-2 must wait for
        the FIN step: the peer's FIN rides on this ACK (three-segment close),
        and FIN-WAIT-1 goes to TIME-WAIT in the eighth step, or to FIN-WAIT-2
        only if that FIN cannot be taken yet."""
        state = self.state
        if state is FIN_WAIT_1:
            if flags & FIN and not self._rcv_fin:
                return True
            self._enter_fin_wait_2(now)
        elif state is CLOSING:
            self._enter_time_wait(now)
        elif state is LAST_ACK:
            self._finish(now, None)
        return False

    def _check_text(
        self, seg: Segment, seg_so: int, payload: bytes | memoryview, now: float
    ) -> bool:
        """Seventh step: the segment text.  False when the connection ended."""
        if self.state not in RECEIVING:
            self._schedule_ack(now, immediate=True)
            return True
        if self._closed_by_app and seg_so + len(payload) > self._rcv_so:
            # Data for a socket nobody will read (Linux TCPAbortOnData):
            # tcp_v4_send_reset answers the segment, <SEQ=SEG.ACK><CTL=RST>.
            self.owner.note(self, "data after close(): RST", now)
            self._reset_segment(seg.ack)
            self._sendbuf.clear()
            self._finish(now, None)
            return False
        self._receive_data(seg_so, payload, now)
        return True

    def _check_fin(self, fin_so: int, state: State, now: float) -> None:
        """Eighth step: a FIN at receive offset ``fin_so`` (``state``: the
        state the text step saw)."""
        if fin_so == self._rcv_so and not self._rcv_fin:
            self._receive_fin(now)
        elif fin_so > self._rcv_so and state in RECEIVING:
            if self.sack_ok:  # the FIN takes sequence space: SACKed as data (tcp_data_queue_ofo)
                if self._ooo_fin == fin_so:
                    self._sack_blocks().duplicate(fin_so, fin_so + 1)
                else:
                    self._sack_blocks().received(fin_so, fin_so + 1)
            self._ooo_fin = fin_so  # taken when the hole before it fills
            self._schedule_ack(now, immediate=True)
        elif self._rcv_fin:
            # A retransmitted FIN: our ACK was lost.
            if self.sack_ok:
                self._sack_blocks().duplicate(fin_so, fin_so + 1)
            self._schedule_ack(now, immediate=True)

    # ------------------------------------------------------------------ answers

    def _challenge_ack(self, now: float, why: str) -> None:
        """RFC 5961 section 7: an ACK that tells a blind attacker nothing,
        at most one per ``challenge_ack_interval``."""
        if now - self._last_challenge >= self.config.challenge_ack_interval:
            self._last_challenge = now
            self.owner.note(self, f"challenge ACK ({why})", now)
            self._send_ack()
        else:
            self.owner.note(self, f"challenge ACK rate-limited ({why})", now)

    def _ack_out_of_window(self, now: float, *, always: bool = False) -> None:
        """The ACK that answers an out-of-window segment, rate-limited as
        Linux's ``tcp_oow_rate_limited`` unless ``always`` (it occupied
        sequence space: data or a FIN)."""
        if always or now - self._last_oow_ack >= self.config.challenge_ack_interval:
            self._last_oow_ack = now
            self._send_ack()
