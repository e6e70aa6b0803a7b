"""The textbook as runnable scenarios, by name.

Rule owned here: **the catalogue** -- which scenarios exist and under which
name ``python -m aiotcpsim scenario NAME`` runs them.  Each module of this
package holds one textbook example (a lost SYN, TIME-WAIT, a crashed peer,
...) as plain functions over the sans-I/O network, driven by
:mod:`.kit`; its ``SCENARIOS`` list names the runs it offers.  The tests
(``tests/faults/test_textbook.py``, ``tests/test_digests.py``) assert on the
same functions, so what the command line prints is what is tested.

Example::

    from aiotcpsim.scenarios import get

    run = get("syn_lost").run()
    print(run.net.trace.ladder())
"""

from __future__ import annotations

from types import SimpleNamespace

from . import (
    close,
    half_close,
    last_ack_lost,
    no_time_wait,
    old_duplicate_syn,
    old_segment_time_wait,
    partition_heals,
    peer_crash,
    port_exhaustion,
    server_down,
    simultaneous,
    syn_flood,
    syn_lost,
    synack_lost,
)
from .kit import Scenario

__all__ = ["SCENARIOS", "Scenario", "get", "names"]


def _demo() -> SimpleNamespace:
    from ..demo import run_demo

    return SimpleNamespace(net=run_demo())


_DEMO = Scenario("demo", "the demo: a lost request, half-close, TIME-WAIT", _demo)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for module in (
        syn_lost,
        server_down,
        synack_lost,
        old_duplicate_syn,
        simultaneous,
        close,
        last_ack_lost,
        no_time_wait,
        old_segment_time_wait,
        half_close,
        port_exhaustion,
        peer_crash,
        partition_heals,
        syn_flood,
    )
    for s in module.SCENARIOS
}
"""Every textbook scenario by name, in the textbook's order, then ``demo``."""
SCENARIOS[_DEMO.name] = _DEMO


def names() -> list[str]:
    """The names of the scenarios, in the textbook's order."""
    return list(SCENARIOS)


def get(name: str) -> Scenario:
    """The scenario called ``name``.

    Raises:
        ValueError: no scenario has that name; the message lists the known ones.
    """
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(
            f"unknown scenario {name!r}; known scenarios: {', '.join(SCENARIOS)}"
        ) from None
