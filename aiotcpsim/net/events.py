"""The network's event queue: this is the only place the order of events is decided.

Every event -- a segment arriving, a connection's timer, a fault's callback --
is an entry ``(when, order, fn, arg)``: it runs as ``fn(arg)`` at virtual time
``when``.  ``order`` is a tie-break counter taken at push time, so events due
at the same moment run in the order they were pushed, and a seed reproduces
a run exactly.

Two containers hold the entries, and only this module touches them:

* a heap (``heapq``): O(log n) per push and pop;
* a ready FIFO for entries pushed with :meth:`EventQueue.push_ready`: events
  due at the time they are pushed (a segment on a clean link).  As long as
  the FIFO stays in (when, order) order, taking whichever of the two heads is
  smaller runs events in exactly the order of one heap, for O(1) instead of
  two O(log n) heap operations per segment.

The queue never runs an event and never reads a clock: the network pops what
is due (:meth:`EventQueue.pop_due`) and calls it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

__all__ = ["Entry", "EventQueue"]

Entry = tuple[float, int, Callable[[Any], None], Any]
"""``(when, order, fn, arg)``: run ``fn(arg)`` at ``when``; ``order`` breaks ties."""


class EventQueue:
    """The pending events of one network, in (time, push order) order."""

    __slots__ = ("_counter", "_heap", "_ready")

    def __init__(self) -> None:
        self._heap: list[Entry] = []
        self._ready: deque[Entry] = deque()
        self._counter = 0

    def push(self, when: float, fn: Callable[[Any], None], arg: Any) -> bool:
        """Schedule ``fn(arg)`` at ``when``; O(log n).

        Returns True when the event is due strictly before every pending one
        (the next deadline moved earlier)."""
        heap = self._heap
        ready = self._ready
        earliest = (not heap or when < heap[0][0]) and (not ready or when < ready[0][0])
        self._counter += 1
        heappush(heap, (when, self._counter, fn, arg))
        return earliest

    def can_push_ready(self, when: float) -> bool:
        """True when an event due at ``when`` may go to the ready FIFO (it keeps
        the FIFO in time order)."""
        ready = self._ready
        return not ready or ready[-1][0] <= when

    def next_order(self) -> int:
        """The order the next pushed event will get."""
        return self._counter + 1

    def push_ready(self, when: float, fn: Callable[[Any], None], arg: Any) -> bool:
        """Like :meth:`push`, in O(1), for an event that :meth:`can_push_ready` accepts."""
        heap = self._heap
        ready = self._ready
        earliest = (not heap or when < heap[0][0]) and (not ready or when < ready[0][0])
        self._counter += 1
        ready.append((when, self._counter, fn, arg))
        return earliest

    def peek(self) -> Entry | None:
        """The next event, left in place; None when nothing is pending."""
        ready = self._ready
        heap = self._heap
        if ready and (not heap or ready[0] < heap[0]):
            return ready[0]
        if heap:
            return heap[0]
        return None

    def pop(self) -> Entry:
        """Remove and return the next event (there must be one)."""
        ready = self._ready
        heap = self._heap
        if ready and (not heap or ready[0] < heap[0]):
            return ready.popleft()
        return heappop(heap)

    def pop_due(self, now: float) -> Entry | None:
        """Remove and return the next event if it is due at ``now`` or earlier."""
        ready = self._ready
        heap = self._heap
        if ready and (not heap or ready[0] < heap[0]):
            if ready[0][0] > now:
                return None
            return ready.popleft()
        if heap and heap[0][0] <= now:
            return heappop(heap)
        return None

    def count(self, fn: Callable[[Any], None], test: Callable[[Any], bool]) -> int:
        """Pending events that run ``fn`` with an ``arg`` that passes ``test``; O(n)."""
        n = sum(1 for entry in self._ready if entry[2] is fn and test(entry[3]))
        return n + sum(1 for entry in self._heap if entry[2] is fn and test(entry[3]))

    def rewrite(
        self,
        fn: Callable[[Any], None],
        convert: Callable[[Entry], tuple[Callable[[Any], None], Any] | None],
    ) -> None:
        """Give the pending events that run ``fn`` a new ``(fn, arg)`` where
        ``convert(entry)`` returns one (None: unchanged); O(n).  Times and
        orders stay, so the order of events does not change."""
        ready: deque[Entry] = deque()
        for entry in self._ready:
            new = convert(entry) if entry[2] is fn else None
            ready.append(entry if new is None else (entry[0], entry[1], new[0], new[1]))
        self._ready = ready
        heap = self._heap
        for i, entry in enumerate(heap):
            if entry[2] is fn:
                new = convert(entry)
                if new is not None:
                    heap[i] = (entry[0], entry[1], new[0], new[1])

    def __len__(self) -> int:
        return len(self._heap) + len(self._ready)

    def __repr__(self) -> str:
        return f"<EventQueue pending={len(self)}>"
