"""Hypothesis strategies: networks and fault plans, and what a failing plan reports.

Rule owned here: how plans are drawn so that hypothesis shrinks a failing one
towards fewer and smaller steps, and what the report of a failing plan says.
Every choice is drawn with its simplest value first -- no step, the first
matching segment, one time, any sender, no state, time 0, the shortest
outage, a clean link -- so shrinking deletes steps, then lowers each number
and generalises each criterion, and the plan hypothesis hands back is small.

::

    from hypothesis import given, settings
    from aiotcpsim import Network
    from aiotcpsim.strategies import fault_plans, run_plan

    @settings(max_examples=200, deadline=None)
    @given(plan=fault_plans(hosts=("client", "server")))
    def test_fetch_survives(plan):
        net = Network(seed=1, delay=0.01)
        net.add_host("client"), net.add_host("server")
        assert run_plan(plan, fetch(net), network=net) == b"ok"

When the test fails, hypothesis shrinks the plan; the report shows it as
code to paste (``FaultPlan(Drop(src="server", flags="FIN|ACK", count=None))``)
and the ladder of that run, through :func:`hypothesis.note`.  Failing plans
are kept in hypothesis's example database and tried first on the next run.
Build the network inside the test (not in a fixture): each example needs a
fresh one.

Requires hypothesis (the ``test`` extra); ``import aiotcpsim`` does not import
this module.
"""

from __future__ import annotations

import functools
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from hypothesis import currently_in_test_context, event, note
from hypothesis import strategies as st

from .plans import (
    Crash,
    Delay,
    Drop,
    Duplicate,
    FaultPlan,
    HoldLink,
    LinkPlan,
    NetworkPlan,
    Partition,
    Reset,
    Step,
)

if TYPE_CHECKING:
    from .net.compose import Network
    from .stack.host import Host

__all__ = [
    "KINDS",
    "SEGMENTS",
    "explain",
    "failure_report",
    "fault_plans",
    "fault_steps",
    "networks",
    "run_plan",
]

_T = TypeVar("_T")

KINDS = ("drop", "delay", "duplicate", "reset", "partition", "crash", "hold")
"""The kinds of step :func:`fault_plans` draws: four segment rules, then events."""

SEGMENTS: tuple[tuple[str | None, bool | None], ...] = (
    (None, None),  # any segment
    (None, True),  # any segment with data
    ("SYN", None),
    ("SYN|ACK", None),
    ("ACK", False),  # a bare ACK
    ("FIN|ACK", None),
    ("RST|ACK", None),
    ("RST", None),
)
"""The ``(flags, payload)`` a segment rule may match, most general first."""

_RULES: dict[str, type[Step]] = {
    "drop": Drop,
    "delay": Delay,
    "duplicate": Duplicate,
    "reset": Reset,
}


@functools.cache
def _all_states() -> tuple[str, ...]:
    from .tcp import State

    return tuple(str(state) for state in State)


@functools.cache
def _states_for(flags: str | None, payload: bool | None) -> tuple[str, ...]:
    """The sender states a rule on ``(flags, payload)`` can meet (the rule's
    own validation says which: :class:`~aiotcpsim.net.faults.Match`)."""
    from .net.faults import Match
    from .net.network import BaseNetwork
    from .tcp import State

    scratch = BaseNetwork()
    names = []
    for state in State:
        try:
            Match(scratch, flags=flags, payload=payload, state=state)
        except ValueError:
            continue
        names.append(str(state))
    return tuple(names)


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _check_positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e9:
        raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")
    return float(value)


def _grid(low: int, high: int, unit: float) -> st.SearchStrategy[float]:
    """Multiples of ``unit`` from ``low`` to ``high`` units, smallest first, rounded
    so that they print as typed (0.3, not 0.30000000000000004)."""
    return st.integers(low, high).map(lambda k: round(k * unit, 9))


def fault_steps(
    hosts: Sequence[str] = ("client", "server"),
    *,
    kinds: Iterable[str] = KINDS,
    max_nth: int = 8,
    max_count: int = 3,
    horizon: float = 5.0,
    resolution: float = 0.05,
    delays: Sequence[float] = (0.5, 2.0, 10.0, 60.0),
    states: bool = True,
) -> st.SearchStrategy[Step]:
    """One step of a fault plan (see :func:`fault_plans` for the arguments).

    A step is few choices: its *head* -- what it does and to what (a rule's
    kind, sender, segment and seconds; an event's kind, hosts and flavour),
    from a list ordered simplest first (:func:`_heads`) -- then integers: a
    rule's state, ``nth`` and ``count``; an event's time and duration.  Few
    choices of a fixed shape per step is what lets hypothesis delete a whole
    step while shrinking (its deletion passes remove up to five consecutive
    choices, and a list element costs one more): a step drawn with more
    choices, or with draws shaped by earlier ones, is often left in the
    "minimal" plan although the failure does not need it.
    """
    hosts = tuple(hosts)
    if len(hosts) < 2 or not all(isinstance(h, str) and h for h in hosts):
        raise ValueError(f"hosts must name at least two hosts, got {hosts!r}")
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be some of {', '.join(KINDS)}, got {kinds!r}")
    _check_int("max_nth", max_nth, 1)
    _check_int("max_count", max_count, 1)
    horizon = _check_positive("horizon", horizon)
    resolution = _check_positive("resolution", resolution)
    delays = tuple(_check_positive("delays", d) for d in delays)
    if not delays:
        raise ValueError("delays must hold at least one number of seconds")
    ticks = max(1, round(horizon / resolution))
    heads = _heads(hosts, kinds, delays)
    everything = _all_states()

    @st.composite
    def draw_step(draw: st.DrawFn) -> Step:
        head = draw(st.sampled_from(heads))
        if head[0] in _RULES:
            # The state is an index into every state, not a choice among those
            # valid for the head's segment: a draw shaped by an earlier one is
            # not deleted well.  0, an index past the states (two draws in
            # three: most rules name no state) or a state in which no such
            # segment is sent mean none.
            index = draw(st.integers(0, 3 * len(everything))) if states else 0
            state = everything[index - 1] if 0 < index <= len(everything) else None
            # Half the rules act from the first match: the simplest faults are
            # drawn most, and an ``nth`` past the few segments of a short
            # exchange never matches anything.
            nth = draw(st.integers(1, 2 * max_nth))
            nth = nth if nth <= max_nth else 1
            count = draw(st.integers(1, max_count + 1))  # past the end: every match
            return _make_rule(head, state, nth, count > max_count, count)
        at = draw(st.integers(0, ticks))
        span = draw(st.integers(0, ticks))
        return _make_event(head, at, span, resolution)

    return draw_step()


Head = tuple[Any, ...]
"""What a step does and to what: ``(kind, ...)``, without its numbers."""


def _heads(
    hosts: tuple[str, ...], kinds: tuple[str, ...], delays: tuple[float, ...]
) -> tuple[Head, ...]:
    """Every head, each kind of step as likely as the others, simplest first.

    Each kind has a block of heads, simplest first (the shortest delay before
    a longer one, a rule on any segment before one on a kind of segment, any
    sender before one), repeated until it is as long as the longest block so
    that every kind is drawn with the same chance.  The blocks follow each
    other in the order of :data:`KINDS`: shrinking a head's index mostly
    keeps the kind of the step and makes it simpler.
    """
    pairs = [(a, b) for a in hosts for b in hosts if a != b]
    per_kind: list[list[Head]] = []
    for kind in (k for k in KINDS if k in kinds):
        heads: list[Head] = []
        if kind in _RULES:
            extras: tuple[Any, ...] = (None,)
            if kind == "delay":
                extras = delays
            elif kind == "duplicate":
                extras = (1, 2)
            for extra in extras:
                for flags, payload in SEGMENTS:
                    heads.extend((kind, src, flags, payload, extra) for src in (None, *hosts))
        elif kind == "partition":
            for oneway in (False, True):
                for mode in ("blackhole", "reject"):
                    heads.extend(("partition", a, b, oneway, mode) for a, b in pairs)
        elif kind == "crash":
            heads.extend(("crash", host) for host in hosts)
        else:
            for oneway in (False, True):
                heads.extend(("hold", a, b, oneway) for a, b in pairs)
        per_kind.append(heads)
    longest = max(len(heads) for heads in per_kind)
    return tuple(heads[i % len(heads)] for heads in per_kind for i in range(longest))


def _make_rule(head: Head, state: str | None, nth: int, every: bool, count: int) -> Step:
    """A rule acting ``count`` times, or on ``every`` match from the ``nth`` on."""
    kind, src, flags, payload, extra = head
    criteria: dict[str, Any] = {
        "src": src,
        "flags": flags,
        "payload": payload,
        "state": state if state in _states_for(flags, payload) else None,
        "nth": nth,
        "count": None if every else count,
    }
    if kind == "delay":
        return Delay(seconds=extra, **criteria)
    if kind == "duplicate":
        return Duplicate(copies=extra, **criteria)
    rule: Step = _RULES[kind](**criteria)
    return rule


def _make_event(head: Head, at_ticks: int, span_ticks: int, unit: float) -> Step:
    """An event at ``at_ticks`` lasting ``span_ticks`` (at least one), in ``unit`` s."""
    at = round(at_ticks * unit, 9)
    end = round((at_ticks + max(1, span_ticks)) * unit, 9)
    if head[0] == "partition":
        _, a, b, oneway, mode = head
        return Partition(a, b, at=at, heal=end, oneway=oneway, mode=mode)
    if head[0] == "crash":
        # After the start, so that servers the test makes at time 0 exist; a
        # span of 0 keeps the host down.
        at = round((at_ticks + 1) * unit, 9)
        restart = round((at_ticks + 1 + span_ticks) * unit, 9) if span_ticks else None
        return Crash(head[1], at=at, restart=restart)
    _, a, b, oneway = head
    return HoldLink(a, b, at=at, release=end, oneway=oneway)


def fault_plans(
    hosts: Sequence[str] = ("client", "server"),
    *,
    kinds: Iterable[str] = KINDS,
    max_steps: int = 3,
    max_nth: int = 8,
    max_count: int = 3,
    horizon: float = 5.0,
    resolution: float = 0.05,
    delays: Sequence[float] = (0.5, 2.0, 10.0, 60.0),
    states: bool = True,
) -> st.SearchStrategy[FaultPlan]:
    """Fault plans of up to ``max_steps`` steps over the named ``hosts``.

    Args:
        hosts: the hosts' names (at least two), as the test adds them.
        kinds: the kinds of step to draw, some of :data:`KINDS`: ``drop``,
            ``delay``, ``duplicate``, ``reset`` (rules on the ``nth`` segment
            matching a sender, flags from :data:`SEGMENTS` and, with
            ``states``, the sender's TCP state), ``partition`` (healed after
            a while), ``crash`` (maybe restarted), ``hold`` (a link held,
            then released).
        max_steps: the most steps in a plan; the empty plan comes first.
        max_nth: rules act from the first match in half the draws, else
            from a match in ``1..max_nth``.
        max_count: rules act ``1..max_count`` times, or on every match from
            the n-th on (``count=None``).
        horizon: events happen up to ``horizon`` seconds of virtual time;
            outages (partition, crash, hold) last up to ``horizon``, a crash
            may last for ever.
        resolution: events happen at multiples of ``resolution`` seconds (a
            crash one ``resolution`` after the start at the earliest, so that
            servers made at time 0 exist).
        delays: the seconds a ``Delay`` step may add, shortest first.
        states: also draw the sender's TCP state as a criterion (in one rule
            in three; a state in which no such segment is sent means none).

    Each kind of step is drawn with the same chance.  About one random plan
    in forty shows each planted bug of ``examples/explore_plans.py``.

    Raises:
        ValueError: an argument out of range (the message names it).
    """
    _check_int("max_steps", max_steps, 0)
    step = fault_steps(
        hosts,
        kinds=kinds,
        max_nth=max_nth,
        max_count=max_count,
        horizon=horizon,
        resolution=resolution,
        delays=delays,
        states=states,
    )
    return st.lists(step, max_size=max_steps).map(lambda steps: FaultPlan(*steps))


def networks(
    hosts: Sequence[str] = (),
    *,
    seeds: st.SearchStrategy[int] | None = None,
    max_loss: float = 0.1,
    max_delay: float = 0.05,
    max_jitter: float = 0.01,
    max_duplicate: float = 0.1,
    max_reorder: float = 0.1,
    max_corrupt: float = 0.0,
    rates: Sequence[float] = (),
    mtus: Sequence[int] = (),
    per_link: bool = False,
) -> st.SearchStrategy[NetworkPlan]:
    """Networks as :class:`~aiotcpsim.plans.NetworkPlan` values (``plan.build(*hosts)``).

    Each impairment is drawn on a grid of 100 steps from 0 to its maximum (0
    turns it off; a maximum of 0 never draws it); ``rate`` (bytes per second)
    and ``mtu`` (bytes) from the values given, or unlimited.  With
    ``per_link``, each directed link between ``hosts`` may get its own
    impairments too.  A failing network shrinks towards a clean one and seed 0.

    Raises:
        ValueError: a maximum out of range, or ``per_link`` without two hosts.
    """
    bounds = {
        "loss": (max_loss, 1.0),
        "delay": (max_delay, 3600.0),
        "jitter": (max_jitter, 3600.0),
        "duplicate": (max_duplicate, 1.0),
        "reorder": (max_reorder, 1.0),
        "corrupt": (max_corrupt, 1.0),
    }
    for name, (value, top) in bounds.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= top:
            raise ValueError(f"max_{name} must be a number within 0..{top}, got {value!r}")
    hosts = tuple(hosts)
    if per_link and len(hosts) < 2:
        raise ValueError("per_link needs the names of at least two hosts")
    knobs: dict[str, st.SearchStrategy[Any]] = {
        name: _grid(0, 100, value / 100) for name, (value, _) in bounds.items() if value
    }
    if rates:
        knobs["rate"] = st.none() | st.sampled_from(tuple(rates))
    if mtus:
        knobs["mtu"] = st.none() | st.sampled_from(tuple(mtus))
    seed = seeds if seeds is not None else st.integers(0, 2**32 - 1)
    links: st.SearchStrategy[tuple[LinkPlan, ...]] = st.just(())
    if per_link:
        pairs = [(a, b) for a in hosts for b in hosts if a != b]
        one = st.sampled_from(pairs).flatmap(
            lambda ab: st.fixed_dictionaries({}, optional=knobs).map(
                lambda kw: LinkPlan(ab[0], ab[1], **kw)
            )
        )
        links = st.lists(one, max_size=len(pairs), unique_by=lambda lp: (lp.src, lp.dst)).map(tuple)
    return st.builds(NetworkPlan, seed=seed, links=links, **knobs)


# -- the report of a failing plan ------------------------------------------------------


def failure_report(plan: FaultPlan, network: Network, *, last: int = 40) -> str:
    """What a failing run under ``plan`` says: the plan as code to paste, the
    network, and the ladder of the run's last ``last`` rows."""
    code = "\n".join(f"    {line}" if line else "" for line in plan.code().splitlines())
    ladder = network.trace.ladder(last=last)
    return (
        f"Fault plan (paste to replay):\n{code}\n"
        f"on {network!r}, {network.statistics().get('segments_sent', 0)} segments sent\n"
        f"Ladder (last {last} rows):\n{ladder}"
    )


@contextmanager
def explain(plan: FaultPlan, network: Network, *, last: int = 40) -> Iterator[None]:
    """Report ``plan`` and the ladder if the block raises.

    Inside a hypothesis test the report is a :func:`hypothesis.note`, printed
    with the minimal failing example; elsewhere it is added to the exception's
    notes (:pep:`678`).  Each run also records the plan's size as a
    :func:`hypothesis.event` (``--hypothesis-show-statistics``).
    """
    in_test = currently_in_test_context()
    if in_test:
        event(f"fault plan of {len(plan)} step(s)")
    try:
        yield
    except Exception as exc:
        text = failure_report(plan, network, last=last)
        if in_test:
            note(text)
        else:
            exc.add_note(text)
        raise


def run_plan(
    plan: FaultPlan,
    main: Coroutine[Any, Any, _T],
    *,
    network: Network,
    host: Host | str | None = None,
    last: int = 40,
) -> _T:
    """Apply ``plan`` to ``network`` and run ``main`` on it on virtual time
    (:func:`aiotcpsim.run`); on failure, :func:`explain` reports the plan.

    Whatever ``main`` raises propagates.

    Raises:
        DeadlockError: every task waits forever.
        ValueError: from :meth:`FaultPlan.apply`.
    """
    from .asyncio_loop import run

    try:
        plan.apply(network)
    except BaseException:
        main.close()
        raise
    with explain(plan, network, last=last):
        return run(main, network=network, host=host)
