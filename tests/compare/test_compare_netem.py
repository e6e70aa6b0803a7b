"""Reference figures: a bulk transfer at 50 ms RTT and 1 % loss, kernel vs simulation.

``RUNS`` transfers of ``SIZE`` bytes on Linux's TCP (CUBIC, the namespace's
other defaults: SACK, timestamps, window scaling, RACK-TLP) through 25 ms of
delay and 1 % random loss on each direction (``sch_netem`` on a namespace's
``lo``, or the TUN relay of ``netem_support`` where the kernel lacks
``sch_netem``), and ``SEEDS`` seeds of the simulation on the same path
(``Network(delay=0.025, loss=0.01)``, zero setup otherwise).  Loss is random
on both sides, so the test compares medians, with tolerances wide enough for
the spread of a few runs and narrow enough to catch a TCP that recovers
unlike Linux:

* transfer time and throughput: median ratio simulation/kernel within a
  factor 2 (0.5 to 2);
* retransmitted segments and recovery episodes: ``(sim + 2) / (kernel + 2)``
  within a factor 2 (the +2 keeps a median of 1 against 3 from failing);
* retransmission timeouts: the share of transfers that see one at most 0.2
  above the kernel's (Linux repairs tail and multiple losses with SACK and
  RACK-TLP and rarely times out at 1 %);
* tail loss probes: the simulation's median within 2 of the kernel's.

The kernel side needs ``ip netns add`` (root, CAP_SYS_ADMIN); where it cannot
run, the tests skip and say which command failed with which error.  Real time: about 15 s
(the kernel runs go in parallel, each in namespaces of its own, about 8 s
each).  Figures of today's simulation (NewReno, no SACK, window at most
65,535 bytes) against Linux 6.18 here: time 1.21, retransmissions 0.80,
recovery episodes 0.95; timeouts in 60 % of the transfers against none.
"""

from __future__ import annotations

import sys

import netem_support
import pytest

SIZE = 3_000_000
RUNS = 10
SEEDS = 20
DELAY = 0.025
LOSS = 0.01

NO_TLP = (
    "the simulation has no RACK-TLP (tail loss probes, RACK loss detection) and no "
    "SACK: NewReno times out where Linux repairs the loss"
)


@pytest.fixture(scope="module")
def figures() -> tuple[list[netem_support.Figures], list[netem_support.Figures]]:
    if sys.platform != "linux":
        pytest.skip(f"network namespaces are Linux's (platform {sys.platform})")
    try:
        method, kernel, sim = netem_support.compare(
            runs=RUNS, seeds=SEEDS, size=SIZE, delay=DELAY, loss=LOSS, parallel=RUNS
        )
    except netem_support.Unavailable as exc:
        pytest.skip(f"kernel side unavailable: {exc}")
    sysctls = kernel[0].details["sysctls"]
    print(f"impairment by {method}; namespace defaults {sysctls}")
    print(netem_support.table(kernel, sim))
    return kernel, sim


def _medians(figures: tuple[list[netem_support.Figures], ...], name: str) -> tuple[float, float]:
    kernel, sim = figures
    return netem_support.median(kernel, name), netem_support.median(sim, name)


@pytest.mark.parametrize("name", ["seconds", "throughput"])
def test_transfer_time_within_a_factor_2(figures, name: str) -> None:
    kernel, sim = _medians(figures, name)
    assert 0.5 <= sim / kernel <= 2, (name, sim, kernel)


@pytest.mark.parametrize("name", ["retransmitted", "recoveries"])
def test_retransmissions_and_recoveries_within_a_factor_2(figures, name: str) -> None:
    kernel, sim = _medians(figures, name)
    assert 0.5 <= (sim + 2) / (kernel + 2) <= 2, (name, sim, kernel)


@pytest.mark.xfail(strict=False, reason=NO_TLP)
def test_no_more_timeouts_than_the_kernel(figures) -> None:
    """The share of transfers that see a retransmission timeout (the medians
    are 0 on both sides)."""
    kernel, sim = (sum(f.timeouts > 0 for f in runs) / len(runs) for runs in figures)
    assert sim <= kernel + 0.2, (sim, kernel)


def test_tail_loss_probes_within_2(figures) -> None:
    kernel, sim = _medians(figures, "loss_probes")
    assert abs(sim - kernel) <= 2


def test_loss_on_each_direction_per_segment() -> None:
    """The simulation's ``loss`` is per segment on each direction, as netem's on
    ``lo`` (and the relay's): pure ACKs from the server are lost too, each way at
    about the rate asked (a binomial bound over five transfers)."""
    counts: dict[str, int] = {}
    for seed in range(5):
        run = netem_support.sim_run(size=SIZE, delay=DELAY, loss=LOSS, seed=seed)
        for key, value in run.details["links"].items():
            counts[key] = counts.get(key, 0) + value
    for kind, way in (("data", "ab"), ("other", "ba")):
        sent, lost = counts[f"{kind}_sent_{way}"], counts[f"{kind}_lost_{way}"]
        assert sent > 2000
        assert 0.5 * LOSS * sent <= lost <= 1.6 * LOSS * sent, (kind, way, sent, lost)
