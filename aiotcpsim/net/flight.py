"""A flight: one copy of a segment on a link, from the moment it is sent until it arrives.

Rule owned here: what is remembered of a segment in flight, so that a change
of its link's impairments applies to it exactly as if it had been in force
all along -- when it was sent, its place in send order, the jitter variate
(drawn once), the highest loss and corruption probabilities it has survived,
its place in the bandwidth queue.
"""

from __future__ import annotations

from random import Random
from typing import Protocol

from ..segment import Segment
from ..stack.host import Host
from .impairments import variate

__all__ = ["Flight", "FlightPath", "arrive"]


class FlightPath(Protocol):
    """Where a flight lands: its :class:`~aiotcpsim.net.link.Link`."""

    def land(self, flight: Flight) -> None:
        """The flight reached the far end."""


class Flight:
    """One copy of a segment on a link, from the moment it is sent until it arrives."""

    __slots__ = (
        "arrival",
        "cancelled",
        "corrupt",
        "corrupt_level",
        "dst",
        "extra",
        "link",
        "loss_level",
        "order",
        "reordered",
        "segment",
        "sent",
        "size",
        "src",
        "tx_end",
        "tx_start",
        "z",
    )

    def __init__(
        self, link: FlightPath, src: Host, segment: Segment, dst: Host, sent: float, order: int
    ) -> None:
        self.link = link
        self.src = src
        self.segment = segment
        self.dst = dst
        self.sent = sent
        self.order = order  # the event order at send time: the flight's place in send order
        self.tx_start = sent
        self.tx_end = sent
        self.size = 0
        self.z: float | None = None  # the jitter variate, drawn once
        self.reordered = False
        self.corrupt = False
        self.loss_level = 0.0  # the highest loss probability this flight has survived
        self.corrupt_level = 0.0
        self.extra = 0.0  # delay added by a rule
        self.arrival = sent
        self.cancelled = False

    def moved(self) -> Flight:
        """A copy that replaces this flight on the event queue (this one goes stale)."""
        new = Flight(self.link, self.src, self.segment, self.dst, self.sent, self.order)
        new.tx_start = self.tx_start
        new.tx_end = self.tx_end
        new.size = self.size
        new.z = self.z
        new.reordered = self.reordered
        new.corrupt = self.corrupt
        new.loss_level = self.loss_level
        new.corrupt_level = self.corrupt_level
        new.extra = self.extra
        new.arrival = self.arrival
        self.cancelled = True
        return new

    def lost_to_change(
        self, loss: float, corrupt: float, jitter: float, distribution: str, rng: Random
    ) -> bool:
        """Apply its link's new impairments: a higher ``loss`` or ``corrupt``
        (with the conditional probability, so that the flight is lost with the
        highest probability in force while it flies) and a jitter variate if it
        had none; True when it is lost."""
        if loss > self.loss_level:
            p = (
                1.0
                if self.loss_level >= 1.0
                else (loss - self.loss_level) / (1.0 - self.loss_level)
            )
            self.loss_level = loss
            if p >= 1.0 or rng.random() < p:
                return True
        if corrupt > self.corrupt_level and not self.corrupt:
            p = (
                1.0
                if self.corrupt_level >= 1.0
                else (corrupt - self.corrupt_level) / (1.0 - self.corrupt_level)
            )
            self.corrupt_level = corrupt
            if p >= 1.0 or rng.random() < p:
                self.corrupt = True
        if jitter and self.z is None and not self.reordered:
            self.z = variate(rng, distribution)
        return False


def arrive(flight: Flight) -> None:
    """The event of a registered flight: it reaches the far end of its link."""
    if not flight.cancelled:  # (a cancelled one was rescheduled by an update)
        flight.link.land(flight)
