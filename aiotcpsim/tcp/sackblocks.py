"""The SACK blocks a receiver sends (RFC 2018 section 4, RFC 2883), as Linux keeps them.

This module owns which blocks our segments carry while out-of-order data
waits in the reassembly queue (:mod:`.reassembly`), when SACK was negotiated:

* the first block covers the most recently received segment, the others
  the most recently reported other blocks (RFC 2018 section 4): Linux's
  ``tcp_sack_new_ofo_skb`` extends the block a new segment touches and
  moves it to the front, or pushes a new block at the front and forgets
  the oldest beyond four, then merges the blocks the front one now touches
  (``tcp_sack_maybe_coalesce``);
* a block is forgotten once RCV.NXT reaches its start (``tcp_sack_remove``),
  all of them when the queue empties;
* a duplicate segment is reported once, in the next segment we send, by a
  D-SACK block before the others (RFC 2883 section 4, Linux ``tcp_dsack_set``
  with ``tcp_dsack`` = 1): below RCV.NXT for data received twice, or inside
  a block for out-of-order data received twice;
* a segment carries as many blocks as the 40 bytes of options leave room
  for: 3 with timestamps, 4 without (``tcp_established_options``).

Blocks are kept as receive offsets (from the IRS) and written as wire
sequence numbers.  The TCB creates this engine on the first out-of-order
segment, so a connection that never saw one holds none.
"""

from __future__ import annotations

from typing import Final

from ..segment import TcpOptions

__all__ = ["MAX_BLOCKS", "SackBlocks"]

MAX_BLOCKS: Final = 4
"""Blocks remembered (Linux ``TCP_NUM_SACKS``) and the most one segment carries."""

_MASK: Final = 0xFFFFFFFF


class SackBlocks:
    """The blocks to report, most recent first, and a pending D-SACK block."""

    __slots__ = ("blocks", "dsack")

    def __init__(self) -> None:
        self.blocks: list[tuple[int, int]] = []
        """``(start, end)`` receive offsets, most recent first, at most four."""
        self.dsack: tuple[int, int] | None = None
        """A duplicate to report once (RFC 2883), or None."""

    def received(self, start: int, end: int) -> None:
        """Out-of-order data ``[start, end)`` was queued (``tcp_sack_new_ofo_skb``)."""
        blocks = self.blocks
        for i, (left, right) in enumerate(blocks):
            if left <= end and start <= right:  # overlaps or touches: extend it
                merged = (min(left, start), max(right, end))
                del blocks[i]
                blocks.insert(0, merged)
                self._coalesce()
                return
        blocks.insert(0, (start, end))
        del blocks[MAX_BLOCKS:]

    def _coalesce(self) -> None:
        """Merge into the first block the others it now overlaps or touches."""
        blocks = self.blocks
        left, right = blocks[0]
        i = 1
        while i < len(blocks):
            other_left, other_right = blocks[i]
            if other_left <= right and left <= other_right:
                left, right = min(left, other_left), max(right, other_right)
                del blocks[i]
                i = 1
            else:
                i += 1
        blocks[0] = (left, right)

    def advanced(self, rcv: int, queue_empty: bool) -> None:
        """RCV.NXT moved to ``rcv``: forget the blocks it reached (``tcp_sack_remove``)."""
        if queue_empty:
            self.blocks.clear()
        else:
            self.blocks = [block for block in self.blocks if block[0] > rcv]

    def duplicate(self, start: int, end: int) -> None:
        """``[start, end)`` arrived again: the next segment reports it
        (``tcp_dsack_set``; a FIN after the data of the same segment extends
        the block)."""
        if end > start:
            dsack = self.dsack
            if dsack is not None and dsack[1] == start:
                start = dsack[0]
            self.dsack = (start, end)

    @property
    def pending(self) -> bool:
        """Something to report: blocks or a D-SACK."""
        return bool(self.blocks) or self.dsack is not None

    def options(self, base: TcpOptions, irs: int, room: int) -> TcpOptions:
        """``base`` (the timestamps option or none) with up to ``room`` blocks as
        wire sequence numbers, the D-SACK block first; the D-SACK is then sent."""
        blocks = self.blocks if self.dsack is None else [self.dsack, *self.blocks]
        self.dsack = None
        wire = tuple(((irs + left) & _MASK, (irs + right) & _MASK) for left, right in blocks[:room])
        return base._replace(sack=wire)

    def count(self, room: int) -> int:
        """How many blocks the next segment carries."""
        return min(len(self.blocks) + (self.dsack is not None), room)
