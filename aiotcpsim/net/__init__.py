"""The network layer: events, links, the network, its faults.

Map of the code (imports point down the list, never up):

* :mod:`.events` -- the event queue: the only owner of the order of events;
* :mod:`.impairments` -- link settings as values (netem's vocabulary, validation);
* :mod:`.link` -- a directed link: what happens to a segment on its way;
* :mod:`.network` -- hosts, names, routes, transmit, the clock (``advance``);
* :mod:`.faults` -- partitions, holds, crashes, rules: a send filter;
* :mod:`.compose` -- the public :class:`Network`, with ``net.faults``.
"""

from __future__ import annotations

from .compose import Network
from .impairments import DISTRIBUTIONS, GilbertElliott
from .link import Link

__all__ = ["DISTRIBUTIONS", "GilbertElliott", "Link", "Network"]
