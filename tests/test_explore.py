"""The single-fault sweep (``aiotcpsim.explore``) and the planted bugs it must find.

Budgets: each planted bug of ``examples/explore_sweep.py`` is found within
``BUDGET`` (25) fault runs, the loopback-only server by the clean run alone.
"""

from __future__ import annotations

import asyncio
import pathlib
import re
import sys
from typing import Any

import pytest

from aiotcpsim import Network
from aiotcpsim.explore import MODES, Fault, explore, run_once, sweep_seeds

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "examples"))

import explore_sweep as planted

NETWORK = planted.NETWORK


def _found(result: Any, src: str, flags: str) -> list[Any]:
    return [
        run
        for run in result.failures
        if run.fault is not None
        and run.fault.segment.src == src
        and run.fault.segment.flags == flags
    ]


# -- the planted bugs ------------------------------------------------------------------


def test_drop_each_finds_the_client_hanging_when_the_servers_fin_is_lost() -> None:
    result = explore(planted.hang_body, "drop-each", network=NETWORK, limit=planted.BUDGET)
    assert result.clean.passed
    assert len(result.runs) == len(result.segments) <= planted.BUDGET
    (run,) = _found(result, "server", "FIN|ACK")
    assert run.error.splitlines() == [
        "hang: the body was still running after 600 s of virtual time, waiting:",
        "  at explore_sweep.py:58 in _fetch: answer = await reader.read()  # until EOF",
    ]
    assert run.fault.action == "drop"
    assert "X------------ FIN|ACK" in run.trace  # the ladder shows the loss
    assert run.fault.code == (
        "net.faults.drop(src='server', dst='client', flags='FIN|ACK', payload=False, count=1)"
    )


def test_a_client_with_a_read_timeout_survives_every_drop() -> None:
    result = explore(planted.patient_body, "drop-each", network=NETWORK)
    assert result.runs and not result.found, result.report()


def test_rst_each_finds_the_retry_that_charges_twice() -> None:
    result = explore(planted.retry_body, "rst-each", network=NETWORK, limit=planted.BUDGET)
    assert len(result.runs) <= planted.BUDGET
    charged = [run for run in result.failures if "charged 2 times" in run.error]
    assert charged, result.report()
    assert all(run.fault.action == "reset" for run in charged)


def test_drops_alone_never_make_the_retry_charge_twice() -> None:
    result = explore(planted.retry_body, "drop-each", network=NETWORK)
    assert not [run for run in result.failures if "charged" in run.error], result.report()


def test_the_clean_run_finds_a_server_bound_to_loopback_only() -> None:
    result = explore(planted.loopback_body, "all", network=NETWORK)
    assert result.failures == (result.clean,)
    assert result.runs == ()
    assert result.clean.error.startswith("ConnectionRefusedError")
    assert "RST|ACK" in result.clean.trace


def test_a_seed_sweep_finds_the_loopback_only_server_under_every_seed() -> None:
    runs = sweep_seeds(planted.loopback_body, range(5), network=NETWORK)
    assert [run.seed for run in runs] == [0, 1, 2, 3, 4]
    assert all(run.error.startswith("ConnectionRefusedError") for run in runs)


# -- replaying a failure ---------------------------------------------------------------


def test_run_once_replays_a_failing_run_exactly() -> None:
    result = explore(planted.hang_body, "drop-each", network=NETWORK)
    for run in result.failures:
        assert run_once(planted.hang_body, run.fault, network=NETWORK) == run


async def _fin_rule_then_hang(net: Network) -> None:
    exec(  # the rule exactly as the report prints it
        "net.faults.drop(src='server', dst='client', flags='FIN|ACK', payload=False, count=1)",
        {"net": net},
    )
    await planted.hang_body(net)


def test_the_printed_rule_reproduces_the_failure() -> None:
    run = run_once(_fin_rule_then_hang, network=NETWORK)
    assert run.error.startswith("hang:")
    assert "X------------ FIN|ACK" in run.trace


def test_processes_give_the_results_of_a_serial_sweep() -> None:
    serial = explore(planted.retry_body, ["drop-each", "rst-each"], network=NETWORK)
    parallel = explore(planted.retry_body, ["drop-each", "rst-each"], network=NETWORK, workers=2)
    assert parallel == serial
    assert len(serial.runs) == 2 * len(serial.segments)


# -- the modes and the bodies ----------------------------------------------------------


def test_each_mode_harms_one_segment_as_its_rule_says() -> None:
    assert MODES == {
        "drop-each": "drop",
        "delay-each": "delay",
        "duplicate-each": "duplicate",
        "rst-each": "reset",
    }
    result = explore(planted.patient_body, "all", network=NETWORK, delay=2.5)
    actions = [run.fault.action for run in result.runs]
    count = len(result.segments)
    assert actions == ["drop"] * count + ["reset"] * 0 + actions[count:]
    assert sorted(set(actions)) == ["delay", "drop", "duplicate", "reset"]
    delayed = [run.fault for run in result.runs if run.fault.action == "delay"]
    assert all(f.seconds == 2.5 for f in delayed)
    assert delayed[0].code.startswith("net.faults.delay(2.5, src='client'")


def _sans_io_body(net: Network) -> None:
    """A plain callable drives the network by hand."""
    client, server = net.host("client"), net.host("server")
    listener = server.listen(80)
    conn = client.connect(server.ip, 80)
    net.run_until_idle(limit=0.5)
    child = listener.accept()
    assert child is not None
    conn.send(b"hi", net.now)
    net.run_until_idle(limit=1.0)
    assert child.recv(10, net.now) == b"hi"


def test_a_plain_callable_body_is_swept_too() -> None:
    result = explore(_sans_io_body, "drop-each", network=NETWORK)
    assert len(result.segments) == 5  # SYN, SYN-ACK, ACK, data, its ACK
    failing = {run.fault.segment.index for run in result.failures}
    # A lost SYN or SYN-ACK comes again after 1 s, a lost final ACK leaves the
    # server in SYN-RECEIVED when accept() is called at 0.5 s; a lost data
    # segment comes again after 200 ms, in time.
    assert failing == {1, 2, 3}


_CALLS = {"n": 0}


async def _differs_per_call(net: Network) -> None:
    _CALLS["n"] += 1
    if _CALLS["n"] > 1:
        await asyncio.sleep(0.005)
    await planted.patient_body(net)


def test_a_body_that_does_not_replay_is_reported() -> None:
    _CALLS["n"] = 0
    result = explore(_differs_per_call, "drop-each", network=NETWORK, limit=3)
    assert result.runs
    assert all(run.error.startswith("not reproducible: segment #") for run in result.runs)


def test_a_body_stuck_for_good_is_a_hang() -> None:
    async def stuck(net: Network) -> None:
        await asyncio.get_running_loop().create_future()

    run = run_once(stuck, timeout=30.0)
    head, where = run.error.splitlines()
    assert head == "hang: the body was still running after 30 s of virtual time, waiting:"
    assert re.fullmatch(r"  at test_explore\.py:\d+ in stuck: await .*\.create_future\(\)", where)
    assert run.virtual_time == 30.0


def test_the_timeout_is_virtual_time() -> None:
    async def slow(net: Network) -> None:
        await asyncio.sleep(50.0)

    assert run_once(slow, timeout=60.0).passed
    head, where = run_once(slow, timeout=10.0).error.splitlines()
    assert head == "hang: the body was still running after 10 s of virtual time, waiting:"
    assert re.fullmatch(r"  at test_explore\.py:\d+ in slow: await asyncio\.sleep\(50\.0\)", where)


def test_a_network_factory_builds_each_run() -> None:
    def make() -> Network:
        net = Network(seed=4, delay=0.01)
        net.add_host("client")
        net.add_host("server")
        return net

    result = explore(_sans_io_body, "duplicate-each", network=make)
    assert result.clean.seed == 4
    assert not result.found


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"mode": "lose-each"}, ValueError, "unknown explore mode 'lose-each'"),
        ({"mode": []}, ValueError, "mode names no sweep"),
        ({"timeout": 0}, ValueError, "timeout must be a finite number of seconds > 0"),
        ({"timeout": "1"}, TypeError, "timeout must be a number of seconds"),
        ({"delay": -1}, ValueError, "delay must be a number of seconds > 0"),
        ({"limit": -1}, ValueError, "limit must be an int >= 0 or None"),
        ({"network": 3}, TypeError, "network must be a mapping of Network keywords"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        explore(_sans_io_body, **kwargs)


def test_fault_description_names_the_segment() -> None:
    result = explore(_sans_io_body, "delay-each", network=NETWORK, limit=1)
    fault: Fault = result.runs[0].fault
    assert fault.description.startswith(
        "delay by 3 s segment #1 (t=0.000000 s): client > server SYN"
    )


def test_an_executor_of_ones_own_is_reused_and_left_open() -> None:
    import concurrent.futures
    import multiprocessing

    serial = explore(planted.hang_body, "drop-each", network=NETWORK)
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        first = explore(planted.hang_body, "drop-each", network=NETWORK, workers=pool)
        again = explore(planted.hang_body, "drop-each", network=NETWORK, workers=pool)
    assert first == again == serial


@pytest.mark.parametrize("workers", [0, -2, 1.5, True])
def test_bad_workers_are_refused(workers: Any) -> None:
    with pytest.raises(ValueError, match="workers must be an int >= 1, an Executor or None"):
        explore(_sans_io_body, network=NETWORK, workers=workers)


def test_sweep_seeds_needs_network_keywords() -> None:
    with pytest.raises(TypeError, match="sweep_seeds needs network= as a mapping"):
        sweep_seeds(_sans_io_body, range(2), network=lambda: Network())


def test_workers_need_a_body_that_pickles() -> None:
    async def local(net: Network) -> None:
        await planted.patient_body(net)

    with pytest.raises(TypeError, match="workers= sends the body and the network to other"):
        explore(local, network=NETWORK, workers=2)
