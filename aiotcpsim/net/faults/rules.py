"""Targeted rules: which segment a rule acts on, and when it has done enough.

Rule owned here: a rule counts the segments it matches, acts from the
``nth`` on, ``count`` times at most, then leaves the network by itself;
a ``hold`` rule keeps what it took until released.  What each action does to
the segment is :meth:`Faults.on_send <aiotcpsim.net.faults.actions.Faults.on_send>`'s
business.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ...segment import Segment
from ...stack.host import Host
from ..link import Link
from .match import Match

if TYPE_CHECKING:
    from types import TracebackType

    from ..network import BaseNetwork

__all__ = ["ACTIONS", "Rule", "check_rule", "describe"]

ACTIONS: Final = ("drop", "delay", "duplicate", "hold", "corrupt", "reset", "capture")
"""What a rule does to a matching segment."""


def check_rule(action: str, nth: int, count: int | None, seconds: float, copies: int) -> None:
    """Raise ValueError/TypeError for a rule that cannot be made (see ``Faults.rule``)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown rule action {action!r}; expected one of {', '.join(ACTIONS)}")
    if not isinstance(nth, int) or isinstance(nth, bool) or nth < 1:
        raise ValueError(f"nth must be an int >= 1 (1: the first match), got {nth!r}")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise ValueError(f"count must be an int >= 1 or None (no limit), got {count!r}")
    if action == "delay":
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
            raise TypeError(f"delay seconds must be a number, got {seconds!r}")
        if not 0 <= seconds < float("inf"):
            raise ValueError(f"delay must be a finite number of seconds >= 0, got {seconds!r}")
    if action == "duplicate" and (not isinstance(copies, int) or copies < 1):
        raise ValueError(f"copies must be an int >= 1, got {copies!r}")


def describe(action: str, seconds: float, criteria: dict[str, Any]) -> str:
    """The rule's description, as notes and reprs show it: ``drop flags=SYN count=1``."""
    head = action if action != "delay" else f"delay {seconds}s"
    text = " ".join(f"{k}={_show(v)}" for k, v in criteria.items() if v is not None)
    return f"{head} {text}".strip()


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    if hasattr(value, "name") and isinstance(value.name, str):
        return str(value.name)
    return repr(value)


class Rule:
    """A targeted fault in force: made by :meth:`Faults.rule` and its shorthands.

    Attributes:
        action: one of ``drop``, ``delay``, ``duplicate``, ``hold``, ``corrupt``,
            ``reset``, ``capture``.
        matched: segments that matched so far (the ``nth`` counts these).
        hits: segments acted upon.
        segments: the segments acted upon (captured ones for ``capture``), in order.

    Use it as a context manager to scope it, or call :meth:`remove`.  A rule
    whose ``count`` is used up leaves the network by itself (``active`` false).
    """

    def __init__(
        self,
        network: BaseNetwork,
        unregister: Callable[[Rule], None],
        action: str,
        match: Match,
        *,
        nth: int,
        count: int | None,
        seconds: float,
        copies: int,
        description: str,
    ) -> None:
        self._net = network
        self._unregister = unregister
        self.action = action
        self._match = match
        self.nth = nth
        self.count = count
        self.seconds = seconds
        self.copies = copies
        self.description = description
        self.matched = 0
        self.hits = 0
        self.segments: list[Segment] = []
        self.active = True
        self._held: list[tuple[Host, Segment, Host, Link]] = []

    @property
    def match(self) -> Match:
        """What the rule matches."""
        return self._match

    def acts_on(self, src: Host, seg: Segment) -> bool:
        """Count ``seg`` if it matches; True when the rule acts on it (the rule
        leaves the network when this was its last)."""
        if not self._match(src, seg):
            return False
        self.matched += 1
        if self.matched < self.nth:
            return False
        self.hits += 1
        self.segments.append(seg)
        if self.count is not None and self.hits >= self.count:
            self.active = False
            self._unregister(self)
        return True

    def keep(self, src: Host, seg: Segment, dst: Host, link: Link) -> None:
        """Hold ``seg`` (a ``hold`` rule) until :meth:`release`."""
        self._held.append((src, seg, dst, link))

    @property
    def held(self) -> int:
        """Segments a ``hold`` rule keeps back now."""
        return len(self._held)

    def release(self) -> None:
        """Put the segments held by this rule on their links now, in the order
        they were sent (the links' impairments apply).  The rule stays in force."""
        held, self._held = self._held, []
        if held:
            self._net.note(
                held[0][0].name, f"{len(held)} segment(s) released by {self.description}"
            )
        for src, seg, dst, link in held:
            link.send_filtered(src, seg, dst, 0.0, 1, False)

    def remove(self) -> None:
        """Take the rule out (idempotent); segments it holds are released."""
        if self.active:
            self.active = False
            self._unregister(self)
        self.release()

    def __enter__(self) -> Rule:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "active" if self.active else "inactive"
        return f"<Rule {self.description} matched={self.matched} hits={self.hits} {state}>"
