"""The loss-recovery state machine: Open, Disorder, Recovery, Loss (``tcp_fastretrans_alert``).

This module owns when the congestion-control algorithm (:mod:`.cc`) is
asked to grow or to reduce, and which segment is lost.  It follows Linux's
``net/ipv4/tcp_input.c`` for a connection without SACK (``tcp_is_reno``):

* every duplicate ACK counts as one packet delivered beyond the hole
  (``tcp_add_reno_sack``, limited by ``tcp_limit_reno_sacked``), so the
  pipe (``tcp_packets_in_flight``: packets out - sacked - lost +
  retransmitted) shrinks and new data may go out on the first duplicates
  (Disorder), as RFC 3042's limited transmit;
* ``tcp_reordering`` (3) duplicates mark the head lost
  (``tcp_newreno_mark_lost``) and recovery starts (``tcp_enter_recovery``):
  ssthresh from the algorithm, ``high_seq`` = SND.MAX, the head resent;
* during Recovery the window is set by Proportional Rate Reduction (RFC
  6937, Linux ``tcp_cwnd_reduction``, with PRR-SSRB when the pipe is below
  ssthresh); a partial ACK marks the new head lost (RFC 6582 NewReno,
  ``newreno``; under the name ``reno``, RFC 5681's Reno, the first ACK of
  new data ends recovery instead); an ACK beyond ``high_seq`` ends it with
  cwnd = ssthresh (``tcp_end_cwnd_reduction``), an ACK of exactly
  ``high_seq`` holds the state (``tcp_try_undo_recovery``);
* the retransmission timeout enters Loss (``tcp_enter_loss``): ssthresh
  from the algorithm unless this episode already reduced it, cwnd = 1,
  slow start again until ``high_seq`` is acknowledged;
* an ACK of new data outside Recovery grows the window
  (``tcp_cong_control``: ``tcp_may_raise_cwnd``, ``cong_avoid``);
* sending after an idle time longer than the RTO restarts the window
  (``tcp_slow_start_after_idle_check``, ``tcp_cwnd_restart``).

With SACK (a :class:`~.scoreboard.Scoreboard`), losses are found by RACK or
the duplicate-ACK threshold, and a tail loss by a probe (RFC 8985 section 7;
``tcp_schedule_loss_probe``, ``tcp_process_tlp_ack``): two SRTTs after the
last transmission in Open without an ACK, one segment goes -- new data if
the peer's window has room, else the last segment again.  Its ACK tells
whether anything was lost: above ``tlp_high_seq`` after a retransmitted
probe (without a D-SACK of it), the probe repaired a loss and the window is
reduced as a CWR episode; the SACK it brings lets RACK find any other hole.

A reduction proven spurious is undone (``tcp_undo_cwnd_reduction``: cwnd
from the algorithm's ``undo_cwnd``, ssthresh back to ``prior_ssthresh`` if
that is larger).  Entering Recovery or Loss records ``undo_marker`` = SND.UNA
and ``undo_retrans``, the retransmissions since (``tcp_init_undo``); each
D-SACK of a retransmitted segment (in the window, or below SND.UNA and after
``undo_marker``: ``tcp_sacktag_one``, ``tcp_check_dsack``) takes one off.
The proofs: no retransmission left unreported by a D-SACK, or the ACK's TSecr
older than the first retransmission (``tcp_packet_delayed``, RFC 3522's
Eifel detection).  Where Linux tries them:

* SND.UNA passes ``high_seq`` in Recovery or Loss: ``tcp_try_undo_recovery``
  (TCPFullUndo, TCPLossUndo); a recovery that ends without one counts down
  RACK's grown reordering window (``reo_wnd_persist``);
* a partial ACK in Recovery that the original transmission caused
  (Eifel): ``tcp_try_undo_partial`` (TCPPartialUndo), unless retransmissions
  are still in flight;
* in Recovery, Disorder or Open, once every retransmission was D-SACKed:
  ``tcp_try_undo_dsack`` (TCPDSACKUndo), which also keeps RACK's window;
* a partial ACK in Loss: ``tcp_try_undo_loss`` (TCPLossUndo);
* F-RTO (RFC 5682 section 3, ``tcp_frto``; SACK connections only, as
  the go-back-N resend without SACK is not Linux's): a timeout outside
  Recovery, or a repeated one, sets ``frto`` (``tcp_enter_loss``, step 1).
  In Loss (``tcp_process_loss``), an ACK or SACK of data never resent
  (``FLAG_ORIG_SACK_ACKED``) proves the timeout spurious (step 3.b:
  ``tcp_try_undo_loss`` with ``frto_undo``, TCPSpuriousRTOs); the first ACK
  that moves SND.UNA short of ``high_seq`` sends new data instead of
  retransmissions (step 2.b, ``REXMIT_NEW``: :attr:`LossRecovery.rexmit_new`),
  ``high_seq`` moving to SND.NXT; a SACK or duplicate ACK after that new
  data proves the loss real (step 3.a): conventional recovery.

Packets are counted as ceil(bytes / SMSS), as the send buffer keeps no
segment boundaries.  Not modelled: undo without SACK (Linux undoes Reno
recoveries by timestamps too), ``tcp_is_cwnd_limited`` (the window grows
whether or not it limited the sender), ECN's CWR state, the reordering
degree ``tp->reordering`` (RACK's window adapts instead).
"""

from __future__ import annotations

from typing import Final

from ..segment import seq_diff
from .cc import (
    CA_DISORDER,
    CA_LOSS,
    CA_OPEN,
    CA_RECOVERY,
    INFINITE_SSTHRESH,
    INIT_CWND,
    CongestionOps,
)
from .scoreboard import RECOVERY_THRESH, SACKED, Scoreboard
from .undo import Undo

__all__ = ["REORDERING", "LossRecovery", "Undo"]

REORDERING: Final = 3
"""``net.ipv4.tcp_reordering``: duplicate ACKs that prove a loss."""

TIMEOUT_MIN: Final = 0.002
"""``TCP_TIMEOUT_MIN``: added to a loss probe's 2 SRTT with several segments out."""

TIMEOUT_INIT: Final = 1.0
"""``TCP_TIMEOUT_INIT``: the loss probe's timeout before any RTT sample."""

# What an ACK in Loss says, for F-RTO (Linux's FLAG_* of tcp_process_loss).
_ORIG_ACKED: Final = 1  # FLAG_ORIG_SACK_ACKED: data never resent, sent before high_seq
_DATA_SACKED: Final = 2  # FLAG_DATA_SACKED: segments newly SACKed
_DUPACK: Final = 4  # num_dupack: a duplicate ACK
_NEW_DATA: Final = 8  # unsent data and room for it in the peer's window


_NO_UNDO: Final = Undo()


class LossRecovery:
    """The loss-recovery state of one connection and its algorithm."""

    __slots__ = (
        "board",
        "ca_state",
        "cc",
        "frto",
        "high_seq",
        "loss_probe_recoveries",
        "loss_probes",
        "lost_out",
        "lsndtime",
        "prr_delivered",
        "prr_out",
        "retrans_out",
        "rexmit_new",
        "sacked_out",
        "tlp_high_seq",
        "tlp_retrans",
        "undo",
    )

    def __init__(self, cc: CongestionOps) -> None:
        self.cc = cc
        """The congestion-control algorithm and its window (replaced by a
        ``TCP_CONGESTION`` switch)."""
        self.ca_state = CA_OPEN
        self.high_seq = 0
        """Linux ``high_seq``: SND.MAX when Recovery or Loss began."""
        self.sacked_out = 0
        """Packets the duplicate ACKs say were delivered (Linux's reno sacks)."""
        self.lost_out = 0
        """1 while the head is marked lost."""
        self.retrans_out = 0
        """1 while the head's retransmission is in flight."""
        self.board: Scoreboard | None = None
        """The SACK scoreboard, once SACK is in use; None: Reno-style recovery."""
        self.prr_delivered = 0
        self.prr_out = 0
        self.lsndtime = 0.0
        """When data was last sent (Linux ``lsndtime``)."""
        self.tlp_high_seq = 0
        """SND.NXT when a loss probe went, while its ACK is awaited; 0: none."""
        self.tlp_retrans = False
        """The outstanding probe resent the last segment (rather than new data)."""
        self.loss_probes = 0
        """Probes sent (Linux's ``TCPLossProbes``)."""
        self.loss_probe_recoveries = 0
        """Losses the probes repaired (``TCPLossProbeRecovery``)."""
        self.undo: Undo | None = None
        """The undo state and counters, from the first retransmission or
        reduction on (an idle connection holds none)."""
        self.frto = False
        """F-RTO watches the current timeout (Linux ``tp->frto``)."""
        self.rexmit_new = False
        """F-RTO step 2.b: new data, not retransmissions, goes after this ACK
        (Linux ``REXMIT_NEW``); the sender then calls :meth:`new_data_sent`."""

    def _u(self) -> Undo:
        """The undo state, made at first use."""
        undo = self.undo
        if undo is None:
            undo = self.undo = Undo()
        return undo

    def _set_state(self, state: int, now: float, snd_nxt: int) -> None:
        self.ca_state = state
        self.cc.set_state(state, now, snd_nxt)

    def left_out(self) -> int:
        """``sacked_out + lost_out - retrans_out``: packets out but not in the pipe."""
        return self.sacked_out + self.lost_out - self.retrans_out

    def on_established(self, now: float, snd_nxt: int) -> None:
        """The handshake completed: the initial window (``tcp_init_transfer``)."""
        self.cc.cwnd = INIT_CWND
        self.cc.init(now, snd_nxt)
        self.lsndtime = now

    def on_data_sent(self, now: float, nothing_out: bool, rto: float, restart: bool) -> None:
        """New data leaves; ``nothing_out``: none was in flight
        (``tcp_event_data_sent``, ``tcp_slow_start_after_idle_check``)."""
        if nothing_out:
            idle = now - self.lsndtime
            self.cc.tx_start(now, idle)
            if restart and idle > rto and self.ca_state == CA_OPEN:
                self._cwnd_restart(idle, rto)
        if self.ca_state == CA_RECOVERY:
            self.prr_out += 1
        self.lsndtime = now

    def _cwnd_restart(self, idle: float, rto: float) -> None:
        """``tcp_cwnd_restart``: halve the window per RTO idle, down to the
        initial window; ssthresh keeps 3/4 of the old window."""
        cc = self.cc
        cwnd = cc.cwnd
        cc.ssthresh = max(cc.ssthresh, (cwnd >> 1) + (cwnd >> 2))
        restart = min(INIT_CWND, cwnd)
        idle -= rto
        while idle > 0 and cwnd > restart:
            cwnd >>= 1
            idle -= rto
        cc.cwnd = max(cwnd, restart)

    def track(self, start: int, end: int, now: float, nothing_out: bool) -> None:
        """A new segment ``[start, end)`` of a SACK connection left: on the
        scoreboard, which the first segment sent with nothing out makes
        (SACK recovery from then on)."""
        board = self.board
        if board is None:
            if not nothing_out:
                return
            board = self.board = Scoreboard()
        board.add(start, end, now)

    def _retransmitted(self, stamp: int) -> None:
        """``tcp_retransmit_skb``: ``stamp`` is the TS clock now."""
        undo = self._u()
        if undo.retrans_stamp < 0:
            undo.retrans_stamp = stamp
        if undo.undo_retrans < 0:
            undo.undo_retrans = 0
        undo.undo_retrans += 1
        undo.total_retrans += 1
        if self.ca_state == CA_RECOVERY:
            self.prr_out += 1

    def on_head_retransmitted_sack(self, stamp: int) -> None:
        """A lost segment was resent (the scoreboard counted it); ``stamp``:
        the TS clock now (kept for ``tcp_packet_delayed``)."""
        board = self.board
        if board is not None:
            self._sync(board)
        self._retransmitted(stamp)

    def on_head_retransmitted(self, stamp: int) -> None:
        self.retrans_out = self.lost_out
        self._retransmitted(stamp)

    def on_ack(self, una: int, acked: int, snd_max: int, smss: int, now: float, rtt: float) -> None:
        """An ACK moved SND.UNA to ``una`` acknowledging ``acked`` bytes;
        ``rtt``: its RTT sample, negative without one (``tcp_ack``)."""
        cc = self.cc
        acked_pkts = -(-acked // smss)
        packets_out = -(-(snd_max - una) // smss)
        self.lost_out = self.retrans_out = 0  # the head is acknowledged
        delivered = acked_pkts
        if self.sacked_out:  # tcp_remove_reno_sacks
            delivered = max(acked_pkts - self.sacked_out, 1)
            self.sacked_out = max(self.sacked_out - (acked_pkts - 1), 0)
        if rtt >= 0:
            cc.pkts_acked(acked_pkts, rtt, now, una, snd_max)
        state = self.ca_state
        newly_lost = False
        if state != CA_OPEN:
            newly_lost = self._alert_on_ack(una, snd_max, packets_out, now)
        if self.ca_state == CA_RECOVERY:
            self._prr(delivered, packets_out, not newly_lost)
        else:
            cc.cong_avoid(delivered, now)

    def _alert_on_ack(self, una: int, snd_max: int, packets_out: int, now: float) -> bool:
        """``tcp_fastretrans_alert`` for an ACK that advanced SND.UNA out of
        Open; True when it marked the new head lost."""
        state = self.ca_state
        if state == CA_DISORDER:
            self.sacked_out = 0  # tcp_reset_reno_sack, then tcp_try_to_open
            self._set_state(CA_OPEN, now, snd_max)
            return False
        if una >= self.high_seq:
            self.sacked_out = 0
            if una == self.high_seq:
                return False  # hold the state until something above high_seq is acked
            if state == CA_RECOVERY:
                self.cc.cwnd = self.cc.ssthresh  # tcp_end_cwnd_reduction
            self._set_state(CA_OPEN, now, snd_max)
            return False
        if state == CA_LOSS:
            self.sacked_out = 0
            return False
        if self.cc.name == "reno":  # RFC 5681 section 3.2 step 6: exit on the first new ACK
            self.sacked_out = 0
            self.cc.cwnd = self.cc.ssthresh
            self._set_state(CA_OPEN, now, snd_max)
            return False
        if packets_out:  # a partial ACK: the next hole is lost (RFC 6582 3.2 step 4)
            self.lost_out = 1
            return True
        return False

    def on_dupack(self, una: int, snd_max: int, smss: int, now: float) -> None:
        """A duplicate ACK (``tcp_fastretrans_alert`` with one dupack)."""
        state = self.ca_state
        if state == CA_LOSS:
            return
        packets_out = -(-(snd_max - una) // smss)
        # tcp_add_reno_sack, tcp_limit_reno_sacked
        holes = min(max(self.lost_out, 1), packets_out)
        self.sacked_out = max(min(self.sacked_out + 1, packets_out - holes), 0)
        if state != CA_RECOVERY:
            if self.sacked_out >= REORDERING:  # tcp_newreno_mark_lost
                self.lost_out = 1
            if not self.lost_out:  # not tcp_time_to_recover: tcp_try_to_open
                self._set_state(CA_DISORDER, now, snd_max)
                return
            self._enter_recovery(una, snd_max, now)
        self._prr(1, packets_out, False)

    def _enter_recovery(self, una: int, snd_max: int, now: float) -> None:
        """``tcp_enter_recovery``, ``tcp_init_cwnd_reduction``."""
        self._init_undo(una)
        self._u().prior_ssthresh = self._current_ssthresh()
        self.high_seq = snd_max
        self._init_cwnd_reduction()
        self._set_state(CA_RECOVERY, now, snd_max)

    def _current_ssthresh(self) -> int:
        """``tcp_current_ssthresh``: ssthresh, or 3/4 of cwnd if larger
        outside a reduction."""
        cc = self.cc
        if self.ca_state == CA_RECOVERY:
            return cc.ssthresh
        return max(cc.ssthresh, (cc.cwnd >> 1) + (cc.cwnd >> 2))

    def _init_undo(self, una: int) -> None:
        """``tcp_init_undo``: retransmissions still in flight may be D-SACKed later."""
        undo = self._u()
        undo.undo_marker = una
        undo.undo_retrans = self.retrans_out or -1

    def _init_cwnd_reduction(self) -> None:
        """``tcp_init_cwnd_reduction``."""
        cc = self.cc
        self._u().prior_cwnd = cc.cwnd
        self.prr_delivered = self.prr_out = 0
        self.tlp_high_seq = 0
        cc.ssthresh = cc.ssthresh_on_loss()
        cc.cwnd_cnt = 0

    def _prr(self, newly: int, packets_out: int, una_advanced: bool) -> None:
        """``tcp_cwnd_reduction``: RFC 6937's PRR, with PRR-SSRB below ssthresh."""
        cc = self.cc
        pipe = packets_out - self.left_out()
        delta = cc.ssthresh - pipe
        self.prr_delivered += newly
        if delta < 0:
            prior = max(self._u().prior_cwnd, 1)
            sndcnt = (cc.ssthresh * self.prr_delivered + prior - 1) // prior - self.prr_out
        else:
            sndcnt = max(self.prr_delivered - self.prr_out, newly)
            if una_advanced:
                sndcnt += 1
            sndcnt = min(delta, sndcnt)
        sndcnt = max(sndcnt, 0 if self.prr_out else 1)  # force the fast retransmit
        cc.cwnd = pipe + sndcnt

    def on_timeout(
        self, una: int, snd_max: int, first: bool, now: float, frto: bool = False
    ) -> None:
        """The retransmission timer expired (``tcp_enter_loss``); ``first``: no
        timeout since the last ACK of new data; ``frto``: ``tcp_frto`` on."""
        cc = self.cc
        state = self.ca_state
        # RFC 5682 section 3.1 step 1, unless loss recovery was under way
        # (but again on a repeated timeout: section 3.2); SACK connections only
        self.frto = frto and self.board is not None and (state < CA_RECOVERY or not first)
        self.rexmit_new = False
        self.sacked_out = self.lost_out = self.retrans_out = 0
        board = self.board
        if board is not None:  # SACK information is kept; the rest is lost
            board.mark_all_lost()
            self._sync(board)
        if state <= CA_DISORDER or self.high_seq <= una or (state == CA_LOSS and first):
            self._u().prior_ssthresh = self._current_ssthresh()
            self._u().prior_cwnd = cc.cwnd
            cc.ssthresh = cc.ssthresh_on_loss()
            self._init_undo(una)
        cc.cwnd = 1
        cc.cwnd_cnt = 0
        self.high_seq = snd_max
        self.tlp_high_seq = 0  # tcp_retransmit_timer
        self._set_state(CA_LOSS, now, snd_max)

    # -- with SACK (Linux tcp_sacktag_write_queue, tcp_rack_mark_lost) ----------------

    def _sync(self, board: Scoreboard) -> None:
        self.sacked_out = board.sacked
        self.lost_out = board.lost
        self.retrans_out = board.retrans

    def on_sack_ack(
        self,
        una: int,
        advanced: bool,
        blocks: list[tuple[int, int]],
        now: float,
        rtt: float,
        mask: int,
        srtt: float,
        dsack_end: int = -1,
        dsack_start: int = -1,
        tsecr: int = 0,
        dupack: bool = False,
        new_data: bool = False,
    ) -> float:
        """An ACK on a SACK connection (``tcp_ack``: SACK tags, the
        cumulative ACK, ``tcp_fastretrans_alert``, ``tcp_cong_control``);
        ``blocks``: its SACK blocks as offsets, ``dsack_start``/``dsack_end``:
        its D-SACK block (-1: none), ``tsecr``: its TSecr (0: none),
        ``dupack``: a duplicate ACK (no data, no window update, no D-SACK),
        ``new_data``: unsent data waits and the peer's window has room for it.
        Returns the time until the RACK reordering timer should fire, or 0
        for none."""
        board = self.board
        assert board is not None
        cc = self.cc
        self.rexmit_new = False
        prior_una = board.starts[board.head] if board.packets_out else una
        dsack = dsack_end >= 0 and self._check_dsack(board, dsack_start, dsack_end, prior_una)
        board.orig_end = -1
        delivered = board.clean(una, now) if advanced else 0
        sacked = board.tag(blocks, now) if blocks else 0
        delivered += sacked
        flags = (_DATA_SACKED if sacked else 0) | (_DUPACK if dupack and dsack_end < 0 else 0)
        if 0 <= board.orig_end <= self.high_seq:
            flags |= _ORIG_ACKED
        if new_data:
            flags |= _NEW_DATA
        snd_max = board.ends[-1] if board.packets_out else una
        board.update_reo_wnd(una, snd_max, mask)
        self._sync(board)
        if self.tlp_high_seq and una >= self.tlp_high_seq:
            self._tlp_ack(una, advanced or delivered > 0, dsack_end, now)
        if rtt >= 0:
            cc.pkts_acked(delivered, rtt, now, una, snd_max)
        newly_lost = 0
        reo_timeout = 0.0
        state = self.ca_state
        if state != CA_OPEN or dsack or self.sacked_out or self.lost_out:
            newly_lost, reo_timeout = self._sack_alert(
                board, una, snd_max, advanced, tsecr, now, mask, srtt, flags
            )
        if self.ca_state == CA_RECOVERY:
            if delivered:
                self._prr(delivered, board.packets_out, advanced and not newly_lost)
        elif advanced:
            cc.cong_avoid(delivered, now)
        return reo_timeout

    def _sack_alert(
        self,
        board: Scoreboard,
        una: int,
        snd_max: int,
        advanced: bool,
        tsecr: int,
        now: float,
        mask: int,
        srtt: float,
        flags: int,
    ) -> tuple[int, float]:
        """``tcp_fastretrans_alert`` with SACK: the state's exit, the undos,
        RACK; returns (newly lost, the RACK timeout)."""
        state = self.ca_state
        if state == CA_OPEN:
            if self.undo is not None:
                self.undo.retrans_stamp = -1
        elif state == CA_RECOVERY and una >= self.high_seq:
            self._try_undo_recovery(tsecr, now, snd_max)
            self._end_cwnd_reduction()
            state = CA_OPEN
        elif state == CA_LOSS:
            if not self._process_loss(una, snd_max, advanced, tsecr, now, flags):
                return 0, 0.0
            state = CA_OPEN
        if state == CA_RECOVERY:
            if advanced and self._try_undo_partial(board, tsecr, now, snd_max):
                return 0, 0.0
            if self._try_undo_dsack():
                self._try_keep_open(board, now, snd_max)
        else:
            self._try_undo_dsack()
        newly_lost, reo_timeout = self._identify_loss(board, now, mask, srtt)
        self._sync(board)
        if self.ca_state != CA_RECOVERY:
            if self.lost_out:  # tcp_time_to_recover
                self._enter_recovery(una, snd_max, now)
            else:  # tcp_try_to_open
                if not board.any_retrans_done():
                    self._u().retrans_stamp = -1
                self._try_keep_open(board, now, snd_max)
        return newly_lost, reo_timeout

    def _check_dsack(self, board: Scoreboard, start: int, end: int, prior_una: int) -> bool:
        """``tcp_check_dsack``, ``tcp_dsack_seen``, ``tcp_sacktag_one`` for a
        D-SACK ``[start, end)``: True when it reports one of our
        retransmissions (not a segment the network duplicated)."""
        if end <= start:
            return False
        undo = self._u()
        undo.dsack_dups += 1
        if undo.dsack_dups > undo.total_retrans:
            return False  # more duplicates than retransmissions: the network's
        if end <= prior_una:  # already acknowledged: count it (dumb counting)
            dups = 1
        else:
            dups = board.dsacked(start, end)
        if undo.undo_marker and undo.undo_retrans > 0 and end > undo.undo_marker:
            undo.undo_retrans = max(undo.undo_retrans - dups, 0)
        if not (self.tlp_high_seq and end == self.tlp_high_seq):
            board.on_dsack()  # a probe's D-SACK says nothing of reordering
        return True

    def _packet_delayed(self, tsecr: int) -> bool:
        """``tcp_packet_delayed``: the ACK echoes a TSval older than the
        first retransmission (RFC 3522)."""
        stamp = self._u().retrans_stamp
        return stamp >= 0 and tsecr != 0 and seq_diff(tsecr, stamp) < 0

    def _may_undo(self, tsecr: int) -> bool:
        """``tcp_may_undo``."""
        undo = self._u()
        return bool(undo.undo_marker) and (not undo.undo_retrans or self._packet_delayed(tsecr))

    def _undo_cwnd_reduction(self, unmark_loss: bool) -> None:
        """``tcp_undo_cwnd_reduction``."""
        board = self.board
        if unmark_loss and board is not None:
            board.unmark_lost()
            self._sync(board)
        cc = self.cc
        undo = self._u()
        if undo.prior_ssthresh:
            cc.cwnd = cc.undo_cwnd(undo.prior_cwnd)
            if undo.prior_ssthresh > cc.ssthresh:
                cc.ssthresh = undo.prior_ssthresh
        undo.undo_marker = 0

    def _end_cwnd_reduction(self) -> None:
        """``tcp_end_cwnd_reduction``: cwnd = ssthresh, unless undone."""
        cc = self.cc
        if cc.ssthresh < INFINITE_SSTHRESH and self._u().undo_marker:
            cc.cwnd = cc.ssthresh

    def _try_undo_recovery(self, tsecr: int, now: float, snd_max: int) -> None:
        """``tcp_try_undo_recovery``: SND.UNA passed ``high_seq``; Open."""
        board = self.board
        if self._may_undo(tsecr):
            self._undo_cwnd_reduction(False)
            if self.ca_state == CA_LOSS:
                self._u().loss_undo += 1
            else:
                self._u().full_undo += 1
        elif board is not None and board.reo_wnd_persist:
            board.reo_wnd_persist -= 1
        self._set_state(CA_OPEN, now, snd_max)

    def _try_undo_dsack(self) -> bool:
        """``tcp_try_undo_dsack``: D-SACKs reported every retransmission."""
        board = self.board
        undo = self._u()
        if undo.undo_marker and not undo.undo_retrans and board is not None:
            board.reo_wnd_persist = min(board.reo_wnd_persist + 1, RECOVERY_THRESH)
            self._undo_cwnd_reduction(False)
            undo.dsack_undo += 1
            return True
        return False

    def _try_undo_partial(self, board: Scoreboard, tsecr: int, now: float, snd_max: int) -> bool:
        """``tcp_try_undo_partial``: the original transmission filled the
        hole (Eifel).  True while retransmissions are still out: no more
        loss is marked."""
        if not self._u().undo_marker or not self._packet_delayed(tsecr):
            return False
        board.reord = True  # tcp_check_sack_reordering
        if self.retrans_out:
            return True
        if not board.any_retrans_done():
            self._u().retrans_stamp = -1
        self._undo_cwnd_reduction(True)
        self._u().partial_undo += 1
        self._try_keep_open(board, now, snd_max)
        return False

    def _process_loss(
        self, una: int, snd_max: int, advanced: bool, tsecr: int, now: float, flags: int
    ) -> bool:
        """``tcp_process_loss`` (with F-RTO, RFC 5682 section 3.1): True when
        Loss ended, undone or recovered (SND.UNA reached ``high_seq``)."""
        recovered = una >= self.high_seq
        if advanced and not recovered and self._try_undo_loss(tsecr, now, snd_max, False):
            return True
        if self.frto:
            if flags & _ORIG_ACKED and self._try_undo_loss(tsecr, now, snd_max, True):
                return True  # step 3.b: data never resent arrived; the timeout was spurious
            if snd_max > self.high_seq:  # new data went after step 2.b
                if flags & (_DATA_SACKED | _DUPACK):
                    self.frto = False  # step 3.a: the loss was real
            elif advanced and not recovered:
                self.high_seq = snd_max
                if flags & _NEW_DATA:
                    self.rexmit_new = True  # step 2.b: new data, not retransmissions
                    return False
                self.frto = False
        if recovered:
            self._try_undo_recovery(tsecr, now, snd_max)  # steps 2.a and 3.a's first part
            return True
        return False

    def new_data_sent(self, snd_nxt: int) -> bool:
        """After :attr:`rexmit_new` the sender sent what it could
        (``tcp_xmit_recovery``); True when nothing new went, so the lost
        segments go again after all (F-RTO gives up on this timeout)."""
        self.rexmit_new = False
        if snd_nxt > self.high_seq:
            return False
        self.frto = False
        return True

    def _try_undo_loss(self, tsecr: int, now: float, snd_max: int, frto_undo: bool) -> bool:
        """``tcp_try_undo_loss``: a partial ACK in Loss proves the timeout
        spurious (timestamps or D-SACKs), or F-RTO did (``frto_undo``); Open
        again."""
        if not frto_undo and not self._may_undo(tsecr):
            return False
        self._undo_cwnd_reduction(True)
        undo = self._u()
        undo.loss_undo += 1
        undo.spurious_rtos += frto_undo
        self._set_state(CA_OPEN, now, snd_max)
        return True

    def _try_keep_open(self, board: Scoreboard, now: float, snd_max: int) -> None:
        """``tcp_try_keep_open``: Disorder while anything is SACKed, lost or
        was resent, else Open."""
        state = CA_OPEN
        if self.left_out() or board.any_retrans_done():
            state = CA_DISORDER
        if state != self.ca_state:
            self._set_state(state, now, snd_max)
            self.high_seq = snd_max

    def _tlp_ack(self, una: int, progress: bool, dsack_end: int, now: float) -> None:
        """``tcp_process_tlp_ack``: the ACK covers the probe (SND.UNA reached
        ``tlp_high_seq``)."""
        high = self.tlp_high_seq
        if not self.tlp_retrans or dsack_end == high:
            self.tlp_high_seq = 0  # new data acknowledged, or probe and original both arrived
        elif una > high:  # the probe repaired a loss: a CWR episode, at once over
            self._init_cwnd_reduction()
            self.cc.cwnd = self.cc.ssthresh  # tcp_end_cwnd_reduction
            board = self.board
            assert board is not None  # probes are sent on SACK connections only
            self._try_keep_open(board, now, board.ends[-1] if board.packets_out else una)
            self.loss_probe_recoveries += 1
        elif not progress:
            self.tlp_high_seq = 0  # a pure duplicate: both arrived

    def probe_timeout(self, early_retrans: int, srtt: float | None, rto_min: float) -> float:
        """``tcp_schedule_loss_probe``: seconds until a tail loss probe, or 0
        for none (no SACK, nothing out, not in Open, or
        ``tcp_early_retrans`` neither 3 nor 4)."""
        board = self.board
        if early_retrans not in (3, 4) or board is None or self.ca_state != CA_OPEN:
            return 0.0
        packets = board.packets_out
        if not packets:
            return 0.0
        if srtt is None:
            return TIMEOUT_INIT  # no RTT sample yet
        # one segment out: the peer may delay its ACK (up to rto_min)
        return 2 * srtt + (rto_min if packets == 1 else TIMEOUT_MIN)

    def on_probe_sent(self, snd_nxt: int, retransmitted: bool) -> None:
        """A loss probe went (``tcp_send_loss_probe``)."""
        self.tlp_high_seq = snd_nxt
        self.tlp_retrans = retransmitted
        self.loss_probes += 1
        self._u().total_retrans += retransmitted
        board = self.board
        if board is not None:
            self._sync(board)

    def _identify_loss(
        self, board: Scoreboard, now: float, mask: int, srtt: float
    ) -> tuple[int, float]:
        """``tcp_identify_packet_loss``: RACK (``tcp_recovery`` 0x1), or the
        duplicate-ACK threshold (RFC 6675's IsLost: ``tcp_reordering``
        segments SACKed above a hole)."""
        if mask & 0x1:
            reo_wnd = board.reo_wnd(self.ca_state >= CA_RECOVERY, REORDERING, mask, srtt)
            return board.detect_loss(now, reo_wnd)
        newly = 0
        above = 0
        flags = board.flags
        for i in range(len(flags) - 1, board.head - 1, -1):
            if flags[i] & SACKED:
                above += 1
            elif above >= REORDERING:
                newly += board.mark_lost(i)
        return newly, 0.0

    def on_rack_timer(self, now: float, mask: int, srtt: float) -> float:
        """The RACK reordering timer fired (``tcp_rack_reo_timeout``): mark
        what is now lost, enter Recovery if needed; returns the next timeout."""
        board = self.board
        if board is None or self.ca_state == CA_LOSS:
            return 0.0
        _, timeout = self._identify_loss(board, now, mask, srtt)
        self._sync(board)
        if self.lost_out and self.ca_state != CA_RECOVERY:
            self._enter_recovery(board.starts[board.head], board.ends[-1], now)
            self._prr(1, board.packets_out, False)
        return timeout

    def snapshot(self) -> dict[str, int | None]:
        """The state's variables by name (the TCB's ``snapshot()``)."""
        board = self.board
        return {
            **self.cc.snapshot(),
            "ca_state": self.ca_state,
            "high_seq": self.high_seq,
            "sacked_out": self.sacked_out,
            "lost_out": self.lost_out,
            "retrans_out": self.retrans_out,
            "prr_delivered": self.prr_delivered,
            "prr_out": self.prr_out,
            "tlp_high_seq": self.tlp_high_seq,
            "loss_probes": self.loss_probes,
            "loss_probe_recoveries": self.loss_probe_recoveries,
            **(self.undo or _NO_UNDO).snapshot(),
            "reo_wnd_steps": board.reo_wnd_steps if board is not None else 1,
            "reo_wnd_persist": board.reo_wnd_persist if board is not None else 0,
        }
