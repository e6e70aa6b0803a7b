"""Systematic fault sweeps: run a test body clean, then once per segment it sent, harmed.

Rule owned here: a sweep is a set of independent, deterministic runs.  The
clean run records every segment handed to the network (``net.set_send_tap``);
fault run *i* rebuilds the same network from the same seed, replays the run
up to segment *i* -- identical, since nothing differs before it -- and
harms that one segment through the public faults API (a one-shot rule of
``net.faults``), so the trace shows the fault where it happened.  Because
every run depends only on (body, network, fault), runs can be spread over
processes and the results are the same, in the same order, as run serially.

Modes (``mode=``, one or several):

* ``"drop-each"`` -- lose the segment;
* ``"delay-each"`` -- delay it by ``delay`` seconds (3 s by default: past
  Linux's initial RTO of 1 s and far past the 200 ms minimum, so the sender
  retransmits and the original arrives late, as a duplicate);
* ``"duplicate-each"`` -- deliver it twice;
* ``"rst-each"`` -- drop it and answer its sender with a RST, as a firewall's
  ``REJECT --reject-with tcp-reset`` would;
* ``"all"`` -- the four above.

A body is an ``async def body(net)`` run on the network's virtual-time loop
(:func:`aiotcpsim.asyncio_loop.loop_factory`), or a plain ``body(net)`` that
drives the network by hand.  A run fails when the body raises (an assertion,
an exception the application let escape), or when it is still running after
``timeout`` seconds of virtual time: a hang, whether tasks wait for each other
for good or timers keep firing (virtual time makes the wait cost nothing)::

    from aiotcpsim.explore import explore

    result = explore(body, "drop-each", network={"seed": 1, "hosts": ["client", "server"]})
    for run in result.failures:
        print(run.fault.description, run.error)
        print(run.fault.code)        # the rule to paste into a test
        print(run.trace)             # the ladder of the failing run

The ``network`` is a mapping of :class:`~aiotcpsim.Network` keywords plus
``hosts=[...]`` (hosts added before the body runs) and ``host=NAME`` (the
host the body's tasks run on) -- the keywords of ``@pytest.mark.tcpsim`` --
or a callable returning a fresh network.  With ``workers=N`` the fault runs
go to a :class:`concurrent.futures.ProcessPoolExecutor`; the body and the
network then travel by pickle (module-level functions, plain values).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import inspect
import linecache
import multiprocessing
import os
import pickle
import traceback
import warnings
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .net import Network
from .segment import Segment, flag_names

if TYPE_CHECKING:
    from .net.faults import Rule
    from .stack import Host

__all__ = [
    "MODES",
    "Exploration",
    "Fault",
    "RunResult",
    "SentSegment",
    "build_network",
    "explore",
    "run_once",
    "sweep_seeds",
]

MODES: dict[str, str] = {
    "drop-each": "drop",
    "delay-each": "delay",
    "duplicate-each": "duplicate",
    "rst-each": "reset",
}
"""The sweep modes and the :meth:`Faults.rule <aiotcpsim.net.faults.Faults.rule>`
action each applies to one segment."""

DEFAULT_DELAY = 3.0
DEFAULT_TIMEOUT = 600.0
TRACE_TAIL = 40

NetworkSpec = Mapping[str, Any] | Callable[[], Network] | None
"""What a run's network is made from: Network keywords (plus ``hosts``,
``host``), a callable returning a fresh network, or None (``Network()``)."""

Body = Callable[[Network], Any]


# -- values (plain, picklable: they cross process boundaries) --------------------


@dataclass(frozen=True)
class SentSegment:
    """One segment of the clean run, as the sweep aims at it again.

    ``index`` counts every segment handed to the network, from 1; ``nth``
    counts the clean run's segments with the same sender, receiver, flags and
    payload-or-not, so that a rule ``nth=..., count=1`` made before the run
    hits this very segment.
    """

    index: int
    time: float
    src: str
    dst: str
    flags: str
    length: int
    seq: int
    retransmission: bool
    nth: int
    text: str

    def same_as(self, other: SentSegment) -> bool:
        """The same segment, up to its position (a run reproduced the clean one)."""
        return (self.time, self.src, self.flags, self.length, self.seq) == (
            other.time,
            other.src,
            other.flags,
            other.length,
            other.seq,
        )


@dataclass(frozen=True)
class Fault:
    """One harmed segment: ``action`` (a :data:`MODES` value) on ``segment``."""

    action: str
    segment: SentSegment
    seconds: float = 0.0

    @property
    def description(self) -> str:
        """``drop segment #7 (t=0.020000 s): server > client FIN|ACK seq=... len=0``."""
        seg = self.segment
        verb = f"delay by {self.seconds:g} s" if self.action == "delay" else self.action
        again = ", a retransmission" if seg.retransmission else ""
        return (
            f"{verb} segment #{seg.index} (t={seg.time:.6f} s{again}): "
            f"{seg.src} > {seg.dst} {seg.flags} seq={seg.seq} len={seg.length}"
        )

    @property
    def code(self) -> str:
        """The rule that causes this fault, to paste into a test once the hosts exist."""
        seg = self.segment
        args = [f"src={seg.src!r}", f"dst={seg.dst!r}", f"flags={seg.flags!r}"]
        args.append(f"payload={seg.length > 0}")
        if seg.nth != 1:
            args.append(f"nth={seg.nth}")
        args.append("count=1")
        if self.action == "delay":
            return f"net.faults.delay({self.seconds!r}, {', '.join(args)})"
        return f"net.faults.{self.action}({', '.join(args)})"


@dataclass(frozen=True)
class RunResult:
    """What one run of a sweep did.

    Attributes:
        fault: the harmed segment, None for a clean run.
        seed: the network's seed.
        error: why the run failed (``"AssertionError: ..."``, ``"hang: ..."``),
            empty when it passed.
        trace: the tail of the ladder (or of the trace) of a failing run.
        virtual_time: the network's clock when the run ended.
        segments: segments handed to the network.
    """

    fault: Fault | None
    seed: int
    error: str
    trace: str
    virtual_time: float
    segments: int

    @property
    def passed(self) -> bool:
        return not self.error

    @property
    def failed(self) -> bool:
        return bool(self.error)

    def report(self) -> str:
        """What happened, the fault and the ladder, for a human."""
        what = self.fault.description if self.fault is not None else "clean run (no fault)"
        lines = [f"{what} -- seed {self.seed}, ended at t={self.virtual_time:.6f} s"]
        if self.error:
            first, *more = self.error.splitlines()
            lines.append(f"  failed: {first}")
            lines.extend(f"  {line}" for line in more[:8])
        if self.fault is not None:
            lines.append(f"  as a rule: {self.fault.code}")
        if self.trace:
            lines.extend("  " + row for row in self.trace.splitlines())
        return "\n".join(lines)


@dataclass(frozen=True)
class Exploration:
    """The result of :func:`explore`: the clean run, the recorded segments,
    and one :class:`RunResult` per fault, in the order of the segments."""

    clean: RunResult
    segments: tuple[SentSegment, ...]
    runs: tuple[RunResult, ...] = field(default=())

    @property
    def failures(self) -> tuple[RunResult, ...]:
        """The failing runs: the clean run alone if it failed, else the fault runs that did."""
        if self.clean.failed:
            return (self.clean,)
        return tuple(run for run in self.runs if run.failed)

    @property
    def found(self) -> bool:
        return bool(self.failures)

    def report(self) -> str:
        """A summary line, then each failing run with its fault and ladder."""
        failures = self.failures
        count = len(self.runs) + 1
        head = (
            f"{count} run{'s' if count != 1 else ''} ({len(self.segments)} segments in the "
            f"clean run): {len(failures)} failed"
        )
        return "\n\n".join([head, *(run.report() for run in failures)])

    def __str__(self) -> str:
        return self.report()


# -- one run -----------------------------------------------------------------------


def build_network(network: NetworkSpec) -> tuple[Network, str | None]:
    """A fresh network from ``network`` (see :data:`NetworkSpec`), and the host
    name the body's tasks run on (``host=``), if any.

    Raises:
        TypeError, ValueError: bad keywords, as :class:`~aiotcpsim.Network` raises them.
    """
    if network is None:
        return Network(), None
    if callable(network):
        net = network()
        if not isinstance(net, Network):
            raise TypeError(f"network() must return an aiotcpsim.Network, got {net!r}")
        return net, None
    if not isinstance(network, Mapping):
        raise TypeError(
            f"network must be a mapping of Network keywords or a callable, got {network!r}"
        )
    kwargs = dict(network)
    hosts = kwargs.pop("hosts", ())
    host = kwargs.pop("host", None)
    net = Network(**kwargs)
    for name in [hosts] if isinstance(hosts, str) else hosts:
        net.add_host(name)
    return net, host


class _Tap:
    """The send tap of one run: records the clean run, harms segment ``fault.index``."""

    def __init__(self, net: Network, fault: Fault | None, record: bool) -> None:
        self.net = net
        self.fault = fault
        self.record = record
        self.count = 0
        self.sent: list[SentSegment] = []
        self.seen: dict[tuple[str, str, str, bool], int] = {}
        self.rule: Rule | None = None
        self.problem = ""

    def __call__(self, src: Host, seg: Segment, retransmission: bool) -> bool:
        self.count += 1
        rule = self.rule
        if rule is not None and rule.hits == 0:
            rule.remove()  # the segment never reached the filter (no route)
        self.rule = None
        if not self.record and (self.fault is None or self.count != self.fault.segment.index):
            return True
        sent = self._summary(src, seg, retransmission)
        if self.record:
            self.sent.append(sent)
        fault = self.fault
        if fault is not None and self.count == fault.segment.index:
            if not sent.same_as(fault.segment):
                self.problem = (
                    f"not reproducible: segment #{self.count} is {sent.text}, "
                    f"the clean run sent {fault.segment.text} (does the body depend on "
                    "something other than the network's seed?)"
                )
                return True
            try:
                self.rule = self.net.faults.rule(
                    fault.action,
                    src=src,
                    src_port=seg.src_port,
                    dst_port=seg.dst_port,
                    flags=seg.flags,
                    payload=bool(seg.payload),
                    count=1,
                    seconds=fault.seconds,
                )
            except ValueError as exc:  # never into the sender's TCP: note it, go on
                self.problem = f"no rule can aim at {sent.text}: {exc}"
        return True

    def _summary(self, src: Host, seg: Segment, retransmission: bool) -> SentSegment:
        dst_host = self.net.host_for_address(seg.dst_ip)
        dst = dst_host.name if dst_host is not None else seg.dst_ip
        flags = flag_names(seg.flags)
        key = (src.name, dst, flags, bool(seg.payload))
        nth = self.seen.get(key, 0) + 1
        self.seen[key] = nth
        return SentSegment(
            index=self.count,
            time=self.net.now,
            src=src.name,
            dst=dst,
            flags=flags,
            length=len(seg.payload),
            seq=seg.seq,
            retransmission=retransmission,
            nth=nth,
            text=repr(seg),
        )


def _trace_tail(net: Network) -> str:
    records = net.trace.records
    if not records:
        return "trace: empty"
    talkers = {r.host for r in records if r.kind in ("send", "state")}
    if len(talkers) == 2:
        try:
            return net.trace.ladder(last=TRACE_TAIL)
        except Exception as exc:  # the report must not hide the run's own failure
            note = f" (ladder failed: {exc!r})"
    else:
        note = ""
    shown = records[-TRACE_TAIL:]
    return f"trace, last {len(shown)} of {len(records)} records{note}:\n" + "\n".join(
        str(r) for r in shown
    )


def _describe(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if not f.filename.startswith(_LIBRARY_DIRS)]
    if ours or frames:
        last = (ours or frames)[-1]
        text += f"\n  raised at {last.filename}:{last.lineno} in {last.name}"
    return text


def _quiet_cancellation(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's exception handler: tasks cancelled when a run ends are not news
    (Python 3.11's streams log each cancelled connection handler); the rest is logged."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


_LIBRARY_DIRS = (
    os.path.dirname(asyncio.__file__) + os.sep,
    os.path.dirname(os.path.abspath(__file__)) + os.sep,
)


def _waiting_tasks(loop: asyncio.AbstractEventLoop, limit: int = 6) -> list[str]:
    """``  at app.py:57 in fetch: answer = await reader.read()``, per
    unfinished task: the innermost frame of its await chain outside asyncio
    and aiotcpsim."""
    lines = []
    for task in asyncio.all_tasks(loop):
        if task.done():
            continue
        where = None
        obj: Any = task.get_coro()
        for _ in range(100):  # down the await chain (task.get_stack() stops at the top)
            frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None)
            if frame is None:
                break
            if not frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
                where = frame
            obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None)
        if where is None:
            continue
        code = where.f_code
        text = linecache.getline(code.co_filename, where.f_lineno).strip()
        place = f"{os.path.basename(code.co_filename)}:{where.f_lineno} in {code.co_name}"
        name = task.get_name()  # "Task-<counter>" differs from run to run: not shown
        named = "" if name.startswith("Task-") else f"task {name!r} "
        lines.append(f"  {named}at {place}: {text}")
    lines.sort()
    if len(lines) > limit:
        lines[limit:] = [f"  ... and {len(lines) - limit} more tasks"]
    return lines


def _run_on_loop(loop: asyncio.AbstractEventLoop, main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.Runner.run`` without its SIGINT handler (two ``signal.signal``
    calls a run, a quarter of a run's fixed cost): Ctrl-C raises
    KeyboardInterrupt here, which ends the sweep anyway."""
    loop.set_exception_handler(_quiet_cancellation)
    try:
        loop.run_until_complete(main)
    finally:
        try:
            tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def _run_body(body: Body, net: Network, host: str | None, timeout: float) -> str:
    """Run ``body`` on ``net``; the failure, or "" when it passed."""
    from .asyncio_loop import loop_factory

    if not inspect.iscoroutinefunction(body):
        outcome = body(net)
        if not inspect.iscoroutine(outcome):
            return ""

        async def main() -> None:
            await outcome
    else:

        async def main() -> None:
            await body(net)

    expired = False
    waiting: list[str] = []

    async def bounded() -> None:
        nonlocal expired
        loop = asyncio.get_running_loop()
        # Scheduled before the timeout's own timer, so it runs first: where
        # every task waits when the time is up (ties run in scheduling order).
        loop.call_at(loop.time() + timeout, lambda: waiting.extend(_waiting_tasks(loop)))
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                await main()
        except TimeoutError:
            expired = scope.expired()
            raise

    try:
        _run_on_loop(loop_factory(net, host=host)(), bounded())
    except TimeoutError as exc:
        if expired:
            head = f"hang: the body was still running after {timeout:g} s of virtual time"
            return "\n".join([head + (", waiting:" if waiting else ""), *waiting])
        return _describe(exc)
    return ""


def _execute(
    body: Body, network: NetworkSpec, fault: Fault | None, timeout: float, record: bool
) -> tuple[RunResult, tuple[SentSegment, ...]]:
    net, host = build_network(network)
    tap = _Tap(net, fault, record)
    net.set_send_tap(tap)
    try:
        error = _run_body(body, net, host, timeout)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # pytest.fail() raises a BaseException
        error = _describe(exc)
    finally:
        net.set_send_tap(None)
    if tap.problem:
        error = tap.problem + (f"\n{error}" if error else "")
    result = RunResult(
        fault=fault,
        seed=net.seed,
        error=error,
        trace=_trace_tail(net) if error else "",
        virtual_time=net.now,
        segments=tap.count,
    )
    return result, tuple(tap.sent)


class _LeaksIgnored:
    """Runs cut short (a hang, an exception) leave streams open: their
    ResourceWarnings say nothing about the code under test, so they are
    ignored while runs go on, and the garbage of failed runs is collected
    before the end (one collection, not one per failed run: it costs ms)."""

    def __init__(self) -> None:
        self.failed = False
        self.catcher = warnings.catch_warnings()

    def __enter__(self) -> _LeaksIgnored:
        self.catcher.__enter__()
        warnings.simplefilter("ignore", ResourceWarning)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.failed:
                gc.collect()
        finally:
            self.catcher.__exit__(None, None, None)


def _execute_fault(job: tuple[Body, NetworkSpec, Fault | None, float]) -> RunResult:
    body, network, fault, timeout = job
    with _LeaksIgnored():  # in a worker process; no collection needed there
        return _execute(body, network, fault, timeout, record=False)[0]


def run_once(
    body: Body,
    fault: Fault | None = None,
    *,
    network: NetworkSpec = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> RunResult:
    """One run of ``body`` on a fresh network, with ``fault`` (None: clean).

    Replays a failure found by :func:`explore`: ``run_once(body, run.fault,
    network=...)`` with the same ``network`` gives the same run.
    """
    _check_timeout(timeout)
    with _LeaksIgnored() as leaks:
        result = _execute(body, network, fault, timeout, record=False)[0]
        leaks.failed = result.failed
    return result


# -- sweeps ------------------------------------------------------------------------


def _actions(mode: str | Iterable[str]) -> list[str]:
    names = [mode] if isinstance(mode, str) else list(mode)
    actions: list[str] = []
    for name in names:
        expanded = list(MODES) if name == "all" else [name]
        for each in expanded:
            if each not in MODES:
                raise ValueError(
                    f"unknown explore mode {each!r}; expected one of {', '.join(MODES)} or 'all'"
                )
            if MODES[each] not in actions:
                actions.append(MODES[each])
    if not actions:
        raise ValueError("mode names no sweep; expected one of " + ", ".join(MODES))
    return actions


def _check_timeout(timeout: float) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, got {timeout!r}")
    if not 0 < timeout < float("inf"):
        raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout!r}")


Workers = int | concurrent.futures.Executor | None
"""Where fault runs go: None or 1 (this process), N (a new pool of N processes),
or an executor of yours (reused across sweeps; it is not shut down)."""


def _check_workers(workers: object) -> None:
    if workers is None or isinstance(workers, concurrent.futures.Executor):
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, an Executor or None, got {workers!r}")


def _check_picklable(jobs: Sequence[tuple[Body, NetworkSpec, Fault | None, float]]) -> None:
    """Runs in other processes get the body and the network by pickle."""
    try:
        pickle.dumps(jobs[0][:2])
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise TypeError(
            "workers= sends the body and the network to other processes by pickle: "
            f"make them module-level functions and plain values ({exc})"
        ) from None


def _map(
    jobs: Sequence[tuple[Body, NetworkSpec, Fault | None, float]],
    workers: Workers,
    mp_context: Any,
) -> list[RunResult]:
    """Run the jobs serially, or in ``workers`` processes; results in job order."""
    if isinstance(workers, concurrent.futures.Executor):
        _check_picklable(jobs)
        return list(workers.map(_execute_fault, jobs, chunksize=max(1, len(jobs) // 8)))
    if not workers or workers == 1 or len(jobs) < 2:
        return [_execute_fault(job) for job in jobs]
    _check_picklable(jobs)
    context = mp_context
    if context is None or isinstance(context, str):
        context = multiprocessing.get_context(context or "spawn")
    chunk = max(1, len(jobs) // (workers * 4))
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(_execute_fault, jobs, chunksize=chunk))


def explore(
    body: Body,
    mode: str | Iterable[str] = "drop-each",
    *,
    network: NetworkSpec = None,
    delay: float = DEFAULT_DELAY,
    timeout: float = DEFAULT_TIMEOUT,
    limit: int | None = None,
    workers: Workers = None,
    mp_context: Any = None,
) -> Exploration:
    """Run ``body`` clean, then once per segment of the clean run with that
    segment harmed as ``mode`` says (see the module docstring).

    Args:
        body: ``async def body(net)`` or ``def body(net)``.
        mode: ``"drop-each"``, ``"delay-each"``, ``"duplicate-each"``,
            ``"rst-each"``, ``"all"``, or several of them.
        network: what each run's network is built from (:data:`NetworkSpec`).
        delay: seconds a ``delay-each`` fault adds to the segment's trip.
        timeout: virtual seconds after which a run that has not ended is a hang.
        limit: at most this many fault runs (the first segments), None: all.
        workers: run the fault runs in this many processes (None or 1: here),
            or in this :class:`concurrent.futures.Executor` (a process pool
            reused across sweeps; a thread pool gains nothing: runs hold the GIL).
        mp_context: the ``multiprocessing`` context (or its name) of the
            workers; ``"spawn"`` by default.

    Returns:
        an :class:`Exploration`; if the clean run fails, it is the one failure
        and no fault run is made.

    Raises:
        ValueError: an unknown mode, a bad ``delay``, ``timeout`` or ``limit``.
    """
    actions = _actions(mode)
    _check_timeout(timeout)
    _check_workers(workers)
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 < delay < 1e9:
        raise ValueError(f"delay must be a number of seconds > 0, got {delay!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be an int >= 0 or None, got {limit!r}")
    with _LeaksIgnored() as leaks:
        clean, segments = _execute(body, network, None, timeout, record=True)
        if clean.failed:
            leaks.failed = True
            return Exploration(clean, segments)
        faults = [
            Fault(action, seg, float(delay) if action == "delay" else 0.0)
            for action in actions
            for seg in segments
        ]
        if limit is not None:
            faults = faults[:limit]
        jobs = [(body, network, fault, float(timeout)) for fault in faults]
        result = Exploration(clean, segments, tuple(_map(jobs, workers, mp_context)))
        leaks.failed = result.found
    return result


def sweep_seeds(
    body: Body,
    seeds: Iterable[int],
    *,
    network: NetworkSpec = None,
    timeout: float = DEFAULT_TIMEOUT,
    workers: Workers = None,
    mp_context: Any = None,
) -> list[RunResult]:
    """Run ``body`` clean under each seed (``network``'s ``seed`` replaced);
    the results in the order of ``seeds``.  ``network`` must be a mapping
    (or None) here, so that the seed can be set."""
    _check_timeout(timeout)
    _check_workers(workers)
    if network is not None and not isinstance(network, Mapping):
        raise TypeError("sweep_seeds needs network= as a mapping of Network keywords")
    base = dict(network or {})
    jobs = [(body, {**base, "seed": seed}, None, float(timeout)) for seed in seeds]
    with _LeaksIgnored() as leaks:
        results = _map(jobs, workers, mp_context)
        leaks.failed = any(run.failed for run in results)
    return results
