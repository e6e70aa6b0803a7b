"""Fault plans and the hypothesis strategies that draw them (issue 10).

Every plan drawn applies to a network (no rule is refused) and prints as the
code that rebuilds it; every network drawn builds; shrinking deletes steps a
failure does not need; events happen at their virtual times; bad arguments
are refused with messages naming them.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, find, given, settings

from aiotcpsim import Network
from aiotcpsim.plans import (
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
)
from aiotcpsim.strategies import explain, failure_report, fault_plans, networks

QUICK = settings(
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
NAMES = {
    name: globals()[name]
    for name in (
        "Crash",
        "Delay",
        "Drop",
        "Duplicate",
        "FaultPlan",
        "HoldLink",
        "LinkPlan",
        "NetworkPlan",
        "Partition",
        "Reset",
    )
}


def two_hosts(**impairments: float) -> Network:
    net = Network(seed=1, delay=0.01, **impairments)
    net.add_host("client")
    net.add_host("server")
    return net


@QUICK
@given(plan=fault_plans(("client", "server")))
def test_every_drawn_plan_applies_and_prints_as_code(plan: FaultPlan) -> None:
    assert eval(repr(plan), NAMES) == plan
    scope: dict[str, object] = {}
    exec(plan.code(), scope)
    assert scope["plan"] == plan
    net = two_hosts()
    plan.apply(net)  # Faults.rule refuses a rule no segment can match
    net.run_until_idle(limit=20.0)


@QUICK
@given(spec=networks(("client", "server"), per_link=True, rates=(1e5,), mtus=(576,)))
def test_every_drawn_network_builds_and_prints_as_code(spec: NetworkPlan) -> None:
    assert eval(repr(spec), NAMES) == spec
    net = spec.build("client", "server")
    assert net.find_host("server") is not None
    for link in spec.links:
        assert net.link(link.src, link.dst).settings()["loss"] == (
            link.loss if link.loss is not None else spec.loss
        )


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (
            lambda p: any(isinstance(s, Drop) and s.nth >= 3 and s.count is None for s in p),
            {FaultPlan(Drop(nth=3, count=None))},
        ),
        (
            lambda p: any(isinstance(s, Reset) and s.flags == "FIN|ACK" for s in p),
            {FaultPlan(Reset(flags="FIN|ACK"))},
        ),
        (
            lambda p: any(isinstance(s, Crash) and s.restart is None for s in p),
            {FaultPlan(Crash(host=h, at=0.05)) for h in ("client", "server")},
        ),
        (
            lambda p: (
                any(isinstance(s, Partition) for s in p)
                and any(isinstance(s, Delay) and s.seconds > 1 for s in p)
            ),
            {
                FaultPlan(*steps)
                for a, b in (("client", "server"), ("server", "client"))
                for steps in (
                    (Partition(a, b, heal=0.05), Delay(seconds=2.0)),
                    (Delay(seconds=2.0), Partition(a, b, heal=0.05)),
                )
            },
        ),
    ],
)
def test_shrinking_deletes_the_steps_a_failure_does_not_need(
    condition: object, expected: set[FaultPlan]
) -> None:
    search = settings(QUICK, max_examples=1000)
    assert find(fault_plans(), condition, settings=search) in expected  # type: ignore[arg-type]


def test_a_failing_network_shrinks_towards_a_clean_one() -> None:
    drawn = networks(max_delay=0.1, max_jitter=0.0, max_reorder=0.0)
    spec = find(drawn, lambda n: n.loss >= 0.05 and n.seed > 0, settings=QUICK)
    assert spec == NetworkPlan(seed=1, loss=0.05)


def test_events_happen_at_their_virtual_times() -> None:
    net = two_hosts()
    FaultPlan(
        Partition("client", "server", at=1.0, heal=2.0),
        HoldLink("server", "client", at=3.0, release=4.0, oneway=True),
        Crash("server", at=5.0, restart=6.0),
    ).apply(net)
    link = net.link("client", "server")
    back = net.link("server", "client")
    server = net.host("server")
    seen = []
    for t in (0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5):
        net.advance(t)
        seen.append((t, link.partitioned is not None, back.held, server.up))
    assert seen == [
        (0.5, False, False, True),
        (1.5, True, False, True),
        (2.5, False, False, True),
        (3.5, False, True, True),
        (4.5, False, False, True),
        (5.5, False, False, False),
        (6.5, False, False, True),
    ]


def test_rules_install_with_their_criteria() -> None:
    net = two_hosts()
    FaultPlan(
        Drop(src="server", flags="FIN|ACK", count=None),
        Delay(seconds=2.0, payload=True, nth=3),
        Duplicate(copies=2, state="ESTABLISHED"),
    ).apply(net)
    assert [(r.action, r.nth, r.count, r.seconds, r.copies) for r in net.faults.rules] == [
        ("drop", 1, None, 0.0, 1),
        ("delay", 3, 1, 2.0, 1),
        ("duplicate", 1, 1, 0.0, 2),
    ]


def test_plans_are_immutable_values() -> None:
    plan = FaultPlan(Drop(), Crash("server", at=1.0))
    assert plan == FaultPlan(Drop(), Crash("server", at=1.0))
    assert len({plan, FaultPlan(Drop(), Crash("server", at=1.0))}) == 1
    assert plan.without(0) == FaultPlan(Crash("server", at=1.0))
    assert list(plan) == [Drop(), Crash("server", at=1.0)]
    with pytest.raises(AttributeError, match="immutable"):
        plan.steps = ()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Drop(nth=0), r"Drop.nth must be an int >= 1, got 0"),
        (lambda: Reset(count=0), r"Reset.count must be an int >= 1 or None, got 0"),
        (lambda: Delay(seconds=-1.0), r"Delay.seconds must be a finite number of seconds"),
        (lambda: Duplicate(copies=0), r"Duplicate.copies must be an int >= 1, got 0"),
        (lambda: Partition("a", "b", at=2.0, heal=1.0), r"Partition.heal \(1.0\) comes before"),
        (lambda: Partition("a", "b", mode="drop"), r"Partition.mode must be 'blackhole'"),
        (lambda: Crash("a", at=2.0, restart=1.0), r"Crash.restart \(1.0\) comes before"),
        (lambda: HoldLink("a", "b", at=float("nan")), r"HoldLink.at must be a finite number"),
        (lambda: FaultPlan("drop"), r"a FaultPlan is made of steps"),
        (lambda: fault_plans(("client",)), r"hosts must name at least two hosts"),
        (lambda: fault_plans(kinds=("lose",)), r"kinds must be some of drop, delay"),
        (lambda: fault_plans(max_steps=-1), r"max_steps must be an int >= 0"),
        (lambda: fault_plans(resolution=0), r"resolution must be a number of seconds > 0"),
        (lambda: networks(max_loss=2.0), r"max_loss must be a number within 0..1.0"),
        (lambda: networks(per_link=True), r"per_link needs the names of at least two hosts"),
    ],
)
def test_bad_arguments_are_refused(make: object, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        make()  # type: ignore[operator]


def test_a_plan_naming_an_unknown_host_is_refused_on_apply() -> None:
    with pytest.raises(ValueError, match="src='nobody': no such host"):
        FaultPlan(Drop(src="nobody")).apply(two_hosts())


def test_outside_hypothesis_the_report_rides_on_the_exception() -> None:
    net = two_hosts()
    plan = FaultPlan(Drop(flags="SYN"))
    plan.apply(net)

    def run() -> None:
        with explain(plan, net):
            net.host("client").connect("10.0.0.2", 80)
            net.run_until_idle(limit=2.0)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom") as info:
        run()
    (note,) = info.value.__notes__
    assert note == failure_report(plan, net)
    assert 'plan = FaultPlan(Drop(flags="SYN"))' in note
    assert "SYN 0" in note and "X" in note


def test_a_network_plan_sets_defaults_and_per_link_overrides() -> None:
    spec = NetworkPlan(
        seed=3, delay=0.01, loss=0.1, mtu=576, links=(LinkPlan("client", "server", loss=0.5),)
    )
    net = spec.build("client", "server")
    assert net.link("client", "server").settings()["loss"] == 0.5
    assert net.link("server", "client").settings()["loss"] == 0.1
    assert net.link("server", "client").settings()["mtu"] == 576
    assert repr(spec) == (
        'NetworkPlan(seed=3, loss=0.1, delay=0.01, mtu=576, links=(LinkPlan(src="client", '
        'dst="server", loss=0.5),))'
    )
