"""The record of a window reduction that may prove spurious, and the undos counted.

This module owns the state Linux keeps to undo a reduction
(``tcp_init_undo``: ``undo_marker``, ``undo_retrans``, ``prior_cwnd``,
``prior_ssthresh``, ``retrans_stamp``) and the ``TCP*Undo`` counters of
``nstat``.  The decisions -- when a D-SACK or a timestamp proves a
retransmission spurious, and what is restored -- are
:mod:`.recovery`'s; an idle connection holds no :class:`Undo` (it is made at
the first retransmission or reduction).
"""

from __future__ import annotations

__all__ = ["Undo"]


class Undo:
    """The window before a reduction, what proves the reduction spurious,
    and the undos counted (Linux ``prior_cwnd``, ``undo_marker``,
    ``undo_retrans``, ``prior_ssthresh``,
    ``retrans_stamp``; the ``TCP*Undo`` counters of ``nstat``)."""

    __slots__ = (
        "dsack_dups",
        "dsack_undo",
        "full_undo",
        "loss_undo",
        "partial_undo",
        "prior_cwnd",
        "prior_ssthresh",
        "retrans_stamp",
        "spurious_rtos",
        "total_retrans",
        "undo_marker",
        "undo_retrans",
    )

    def __init__(self) -> None:
        self.undo_marker = 0
        """SND.UNA when the reduction that may be undone began; 0: none."""
        self.undo_retrans = 0
        """Retransmissions since, less those D-SACKed; -1: none yet."""
        self.prior_cwnd = 0
        """cwnd when the reduction began (PRR's RecoverFS, and what an undo restores)."""
        self.prior_ssthresh = 0
        """ssthresh to restore on an undo (``tcp_current_ssthresh`` at entry); 0: none."""
        self.retrans_stamp = -1
        """TS clock value of the first retransmission of the episode; -1: none."""
        self.total_retrans = 0
        """Segments retransmitted (Linux ``total_retrans``)."""
        self.dsack_dups = 0
        """Segments D-SACKed (``dsack_dups``): more than were retransmitted
        means the network duplicates, and the D-SACK proves nothing."""
        self.full_undo = 0
        """Recoveries undone when they ended (``TCPFullUndo``)."""
        self.dsack_undo = 0
        """Reductions undone by D-SACKs (``TCPDSACKUndo``)."""
        self.loss_undo = 0
        """Timeouts undone (``TCPLossUndo``)."""
        self.partial_undo = 0
        """Recoveries undone on a partial ACK (``TCPPartialUndo``)."""
        self.spurious_rtos = 0
        """Timeouts F-RTO proved spurious (``TCPSpuriousRTOs``; in ``loss_undo`` too)."""

    def snapshot(self) -> dict[str, int | None]:
        """The variables by name (in :meth:`LossRecovery.snapshot`)."""
        return {
            "prior_cwnd": self.prior_cwnd,
            "undo_marker": self.undo_marker,
            "undo_retrans": self.undo_retrans,
            "prior_ssthresh": self.prior_ssthresh,
            "retrans_stamp": self.retrans_stamp,
            "full_undo": self.full_undo,
            "dsack_undo": self.dsack_undo,
            "loss_undo": self.loss_undo,
            "partial_undo": self.partial_undo,
            "spurious_rtos": self.spurious_rtos,
        }
