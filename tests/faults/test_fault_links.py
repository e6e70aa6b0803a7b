"""Link impairments, in-flight re-evaluation, partitions and holds, on raw segments."""

from __future__ import annotations

import errno
import statistics

import pytest
from faultwire import delivered, dropped, raw, send, two_hosts

from aiotcpsim.net import Network
from aiotcpsim.net.faults import GilbertElliott
from aiotcpsim.segment import SYN, TcpOptions
from aiotcpsim.tcp import State
from aiotcpsim.trace import DELIVER, DROP


def test_delay_update_moves_segments_already_in_flight() -> None:
    net, a, b = two_hosts(delay=0.1)
    for i in range(3):
        send(net, a, raw(i))
    net.advance(0.05)
    net.link(a, b).update(delay=0.2)  # arrival moves from 0.1 to 0.2
    net.advance(0.15)
    assert delivered(net) == []
    net.run_until_idle()
    assert delivered(net) == [(0.2, 0), (0.2, 1), (0.2, 2)]
    assert net.next_deadline() is None


def test_delay_cut_below_elapsed_time_delivers_at_once_in_send_order() -> None:
    net, a, b = two_hosts(delay=1.0)
    for i in range(3):
        send(net, a, raw(i))
    net.advance(0.5)
    net.link(a, b).update(delay=0.1)
    net.advance(0.5)
    assert delivered(net) == [(0.5, 0), (0.5, 1), (0.5, 2)]


def test_loss_raised_to_one_loses_in_flight_lowered_does_not_bring_back() -> None:
    net, a, b = two_hosts(delay=1.0)
    send(net, a, raw(0))
    send(net, a, raw(1))
    net.advance(0.5)
    link = net.link(a, b)
    link.update(loss=1.0)
    link.update(loss=0.0)
    send(net, a, raw(2))
    net.run_until_idle()
    assert delivered(net) == [(1.5, 2)]
    assert [(t, s) for t, s, _ in dropped(net)] == [(0.5, 0), (0.5, 1)]
    assert net.statistics()["segments_dropped"] == 2


def test_hold_keeps_in_flight_segments_and_release_delivers_in_send_order() -> None:
    net, a, b = two_hosts(delay=0.1, jitter=0.09)  # jitter reorders arrivals
    for i in range(6):
        send(net, a, raw(i))
    hold = net.faults.hold_link(a, b, oneway=True)
    net.advance(5.0)
    assert delivered(net) == []
    assert hold.held == 6
    hold.release()
    net.advance(5.0)
    assert delivered(net) == [(5.0, i) for i in range(6)]
    # Without the hold the same seed reorders them.
    net2, a2, _b2 = two_hosts(delay=0.1, jitter=0.09)
    for i in range(6):
        send(net2, a2, raw(i))
    net2.run_until_idle()
    assert [s for _, s in delivered(net2)] != list(range(6))


def test_blackhole_partition_drops_in_flight_and_new_until_healed() -> None:
    net, a, b = two_hosts(delay=1.0)
    send(net, a, raw(0))  # reaches the cut at 1.0: lost
    net.advance(0.2)
    send(net, a, raw(3))  # reaches it at 1.2, after the heal: delivered
    net.advance(0.5)
    part = net.faults.partition(a, b)
    assert net.link(a, b).partitioned == "blackhole"
    send(net, a, raw(1))
    send(net, b, raw(2, reverse=True))
    net.advance(1.1)
    part.heal()
    net.run_until_idle()
    assert delivered(net) == [(1.2, 3)]
    assert delivered(net, "a") == []
    assert dropped(net) == [
        (0.5, 1, "partitioned"),
        (0.5, 2, "partitioned"),
        (1.0, 0, "partitioned (in flight)"),
    ]


def test_oneway_partition_cuts_one_direction() -> None:
    net, a, b = two_hosts(delay=0.1)
    with net.faults.partition("a", "b", oneway=True):
        send(net, a, raw(0))
        send(net, b, raw(1, reverse=True))
        net.run_until_idle()
    assert delivered(net) == []
    assert delivered(net, "a") == [(0.1, 1)]


def test_isolating_a_host_covers_links_created_later() -> None:
    net, a, b = two_hosts(delay=0.1)
    part = net.faults.partition(a)
    c = net.add_host("c")
    c_seg = raw(5)._replace(src_ip=c.ip)
    net.transmit(c, c_seg)
    send(net, b, raw(1, reverse=True))
    net.run_until_idle()
    assert delivered(net, "a") == []
    part.heal()
    send(net, b, raw(2, reverse=True))
    net.run_until_idle()
    assert delivered(net, "a") == [(0.2, 2)]


def test_reject_partition_fails_a_real_connect_with_ehostunreach() -> None:
    net, a, b = two_hosts(delay=0.05)
    net.faults.partition(a, b, mode="reject")
    conn = a.connect("10.0.0.2", 2000, local_port=1000)
    net.run_until_idle()
    assert conn.state is State.CLOSED  # a hard error in SYN-SENT
    assert conn.take_error() == errno.EHOSTUNREACH
    assert net.statistics()["icmp_unreachable"] == 1
    (note,) = [r for r in net.trace if "ICMP host unreachable (EHOSTUNREACH)" in r.text]
    assert note.time == pytest.approx(0.05)


def test_reject_partition_without_a_tcb_is_only_noted() -> None:
    net, a, b = two_hosts(delay=0.05)
    net.faults.partition(a, b, mode="reject")
    send(net, a, raw(0))
    net.run_until_idle()
    assert any("for no connection" in r.text for r in net.trace)


def test_rate_serializes_segments_and_drop_tail_queue() -> None:
    # 60 bytes of payload + 40 of headers = 100 bytes = 0.1 s at 1000 B/s.
    net, a, _b = two_hosts(delay=0.5, rate=1000, queue_limit=3)
    for i in range(4):
        send(net, a, raw(i, 60))
    net.run_until_idle()
    assert delivered(net) == [(0.6, 0), (0.7, 1), (0.8, 2)]
    assert dropped(net) == [(0.0, 3, "queue full (drop-tail)")]
    assert net.statistics()["segments_queue_dropped"] == 1


def test_queue_bytes_limit() -> None:
    net, a, _b = two_hosts(rate=1000, queue_limit=None, queue_bytes=250)
    for i in range(3):
        send(net, a, raw(i, 60))
    net.run_until_idle()
    assert [s for _, s in delivered(net)] == [0, 1]


def test_rate_change_reschedules_the_waiting_queue() -> None:
    net, a, b = two_hosts(rate=1000)
    for i in range(3):
        send(net, a, raw(i, 60))
    net.advance(0.05)  # segment 0 is being serialized (until 0.1)
    net.link(a, b).update(rate=100)  # 1 s per segment for the waiting ones
    net.run_until_idle()
    assert delivered(net) == [(0.1, 0), (1.1, 1), (2.1, 2)]


def test_mtu_clamps_the_syn_mss_and_drops_oversized_segments() -> None:
    net, a, _b = two_hosts(mtu=1000)
    syn = raw(0, flags=SYN)._replace(options=TcpOptions(mss=1460))
    send(net, a, syn)
    send(net, a, raw(1, 960))  # exactly 1000 bytes: fits
    send(net, a, raw(2, 961))
    net.run_until_idle()
    got = [r.segment for r in net.trace if r.kind == DELIVER and r.host == "b"]
    assert got[0] is not None and got[0].options.mss == 960
    assert [s.seq for s in got if s is not None] == [0, 1]
    assert dropped(net) == [(0.0, 2, "larger than the link MTU 1000")]
    assert net.statistics()["segments_too_big"] == 1


def test_mss_clamp_adds_an_option_to_a_syn_without_one() -> None:
    net, a, _b = two_hosts(mtu=400)
    send(net, a, raw(0, flags=SYN))
    net.run_until_idle()
    seg = next(r.segment for r in net.trace if r.kind == DELIVER and r.host == "b")
    assert seg is not None and seg.options.mss == 360


def test_corrupted_segments_are_dropped_by_the_receiver_and_counted() -> None:
    net, a, _b = two_hosts(delay=0.1, corrupt=1.0)
    send(net, a, raw(0))
    net.run_until_idle()
    assert delivered(net) == []
    assert dropped(net) == [(0.1, 0, "corrupted: bad checksum")]
    drop = next(r for r in net.trace if r.kind == DROP)
    assert drop.host == "b"
    assert net.statistics()["segments_corrupted"] == 1


def test_duplicate_delivers_two_copies() -> None:
    net, a, _b = two_hosts(delay=0.1, duplicate=1.0)
    send(net, a, raw(0))
    net.run_until_idle()
    assert delivered(net) == [(0.1, 0), (0.1, 0)]
    assert net.statistics()["segments_duplicated"] == 1


def test_reorder_skips_the_delay() -> None:
    net, a, _b = two_hosts(delay=0.1, reorder=1.0)
    send(net, a, raw(0))
    net.run_until_idle()
    assert delivered(net) == [(0.0, 0)]


def test_gilbert_elliott_loses_in_bursts_with_the_expected_mean() -> None:
    ge = GilbertElliott(p=0.05, r=0.25)
    net, a, _b = two_hosts(burst=ge)
    n = 20000
    for i in range(n):
        send(net, a, raw(i))
    net.run_until_idle()
    got = {s for _, s in delivered(net)}
    lost = [i not in got for i in range(n)]
    rate = sum(lost) / n
    assert ge.mean_loss == pytest.approx(0.05 / 0.30)
    assert rate == pytest.approx(ge.mean_loss, abs=0.02)
    # Bursty: a loss is followed by another far more often than the mean rate.
    after_loss = [lost[i + 1] for i in range(n - 1) if lost[i]]
    assert sum(after_loss) / len(after_loss) > 0.6


def test_gilbert_elliott_netem_tuple_and_bernoulli_default() -> None:
    net, a, b = two_hosts()
    link = net.link(a, b).update(burst=(0.1, 0.5, 0.9, 0.01))
    assert link.burst == GilbertElliott(0.1, 0.5, 0.9, 0.01)
    assert GilbertElliott(0.2).r == pytest.approx(0.8)
    assert GilbertElliott(0.2).mean_loss == pytest.approx(0.2)


@pytest.mark.parametrize("distribution", ["uniform", "normal", "pareto", "paretonormal"])
def test_jitter_distributions_center_on_the_delay(distribution: str) -> None:
    net, a, _b = two_hosts(delay=1.0, jitter=0.1, distribution=distribution)
    for i in range(4000):
        send(net, a, raw(i))
    net.run_until_idle()
    times = [t for t, _ in delivered(net)]
    assert min(times) >= 0.0
    assert statistics.fmean(times) == pytest.approx(1.0, abs=0.01)
    spread = max(times) - min(times)
    if distribution == "uniform":
        assert 0.19 < spread <= 0.2
    if distribution == "pareto":
        assert max(times) - 1.0 > 3 * (1.0 - min(times))  # a heavy right tail


def test_jitter_added_while_in_flight_draws_a_variate_per_segment() -> None:
    net, a, b = two_hosts(delay=1.0)
    for i in range(10):
        send(net, a, raw(i))
    net.link(a, b).update(jitter=0.5)
    net.run_until_idle()
    assert len({t for t, _ in delivered(net)}) == 10


def test_network_defaults_apply_to_links_without_their_own() -> None:
    net, a, b = two_hosts(delay=0.1)
    own = net.link(b, a).update(delay=0.3)
    ab = net.link(a, b)
    net.defaults.update(delay=0.2)
    assert ab.delay == 0.2
    assert own.delay == 0.3
    own.reset()
    assert own.delay == 0.2
    assert "delay=0.2" in repr(ab)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"loss": 1.5}, "loss must be between 0 and 1, got 1.5"),
        ({"delay": -1}, "delay must be a finite number of seconds >= 0, got -1"),
        ({"jitter": float("nan")}, "jitter must be a finite number"),
        ({"distribution": "gamma"}, "distribution must be one of uniform, normal"),
        ({"rate": 0}, "rate must be > 0 bytes per second"),
        ({"mtu": 20}, "mtu must be within 68..65535"),
        ({"queue_limit": 0}, "queue_limit must be within 1"),
        ({"burst": (1.2,)}, "GilbertElliott.p must be between 0 and 1"),
    ],
)
def test_bad_impairments_raise_value_error(changes: dict[str, object], message: str) -> None:
    net, a, b = two_hosts()
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        net.link(a, b).update(**changes)


def test_unknown_impairment_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="unknown link impairment 'lag'"):
        Network(lag=0.1)


def test_same_seed_same_trace_with_every_impairment_on() -> None:
    def run(seed: int) -> str:
        net, a, b = two_hosts(
            seed,
            loss=0.1,
            burst=(0.02, 0.3),
            delay=0.05,
            jitter=0.02,
            distribution="paretonormal",
            duplicate=0.1,
            reorder=0.1,
            corrupt=0.05,
            rate=50_000,
            queue_limit=20,
        )
        for i in range(300):
            send(net, a, raw(i, i % 200))
            if i == 150:
                net.link(a, b).update(delay=0.01, loss=0.3)
            net.advance(net.now + 0.001)
        net.run_until_idle()
        return net.trace.digest()

    assert run(3) == run(3)
    assert run(3) != run(4)
