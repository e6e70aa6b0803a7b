"""Faults: adverse conditions a test turns on (``net.faults``).

:mod:`.match` checks and evaluates what a rule matches, :mod:`.rules` counts
what a rule acts on, :mod:`.actions` does it (partitions, holds, crashes,
resets, replays, the rules' actions).  The network does not import this
package: faults plug in as its send filter (:class:`~aiotcpsim.net.network.SendFilter`).
"""

from __future__ import annotations

from ..impairments import GilbertElliott
from .actions import Faults, LinkHold, Partition, PartitionMode, SeqChoice
from .match import Match, parse_flags, sender_state
from .rules import ACTIONS, Rule

__all__ = [
    "ACTIONS",
    "Faults",
    "GilbertElliott",
    "LinkHold",
    "Match",
    "Partition",
    "PartitionMode",
    "Rule",
    "SeqChoice",
    "parse_flags",
    "sender_state",
]
