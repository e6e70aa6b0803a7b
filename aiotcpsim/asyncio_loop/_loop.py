"""The virtual-time asyncio event loop.

Rule owned here: when the loop's clock may jump, and how far (the numbered
rules below, applied in :meth:`VirtualTimeLoop._idle_select` only); the
network's clock follows through the driver (``_driver.py``).

``VirtualTimeLoop`` is a ``SelectorEventLoop`` whose ``time()`` is virtual.
It behaves like the stock loop in every respect but one: when the loop would
otherwise sleep until the next timer, and nothing outside the loop can make
progress in the meantime, it moves its clock to that timer instead of
sleeping.  A two-minute SYN timeout then costs microseconds, and a run is
reproducible to the virtual microsecond.

The stock ``_run_once`` sleeps in exactly one call, ``selector.select(timeout)``,
made with a positive timeout only when no callback is ready and no timer is
due.  The loop wraps its selector so that this call comes back to it
(:meth:`VirtualTimeLoop._idle_select`), which applies these rules.  (Overriding
``_run_once`` instead means copying CPython's code or polling the OS twice
per iteration, which hands level-triggered events to their callbacks twice.)

1. Real I/O first.  The OS selector is polled with timeout 0; whatever real
   file descriptor (kernel socket, pipe, the self-pipe that
   ``call_soon_threadsafe`` and signals write to) is ready runs before any
   virtual time passes.
2. Real work out => real time.  While a ``run_in_executor`` job is in flight,
   ``shutdown_default_executor`` is joining its threads, or a non-daemon thread
   started after the loop was created is alive (such a thread may still call
   ``call_soon_threadsafe``), the loop waits in the selector in real time, as
   the stock loop would, and the virtual clock advances by the real time
   waited (never past the next timer).  Executor worker threads of executors
   the loop knows (used through ``run_in_executor``) do not count: their jobs
   are tracked one by one.  Neither do pool workers parked between jobs
   (anyio's ``to_thread`` workers, listed in their pool's ``idle_workers``
   with an empty job queue): a worker holds the clock only while it runs a
   job, so virtual time jumps again once ``to_thread.run_sync`` returns.
3. Otherwise jump: the clock moves to the earliest timer, which then runs.
   Timers with equal deadlines run in the order they were scheduled (the
   stock heap does not promise that; ours breaks ties by a sequence number).
   A loop that never idles -- a task polling a flag with ``await
   asyncio.sleep(0)`` until a timer sets it -- would never reach this rule:
   after 1000 loop iterations in a row with callbacks ready and no real I/O,
   no network event and no idle moment, the clock moves to the next timer
   anyway (as real time passes on a real loop).  The count is in iterations,
   so the jump lands at the same point in every run.
4. No timer at all (a timer at ``inf`` counts as none): if anything could
   still wake the loop -- a registered file descriptor other than the
   self-pipe, a signal handler, any other live thread -- wait for it in real
   time.  If nothing can, every task is stuck forever: raise
   :class:`DeadlockError` naming each task and what it awaits, instead of
   hanging.

What is *not* tracked: a real file descriptor that is registered but not yet
ready (a child process still computing, a remote server) does not stop a
jump, because the loop cannot know when it will become ready; a timeout
around such a wait fires at once in virtual time.  Jobs submitted to an
executor directly (``executor.submit`` + ``wrap_future``) are seen only
through their worker threads.  ``asyncio`` debug mode's slow-callback warning
never fires, since virtual time does not pass during a callback.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import heapq
import math
import selectors
import socket
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Generator, Mapping
from contextvars import Context
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple

from ..net import Network
from ._apps import HostApps, find_host, task_context
from ._driver import NetworkDriver
from ._install import NetworkLoopMixin

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

    from ..stack import Host

__all__ = ["DeadlockError", "VirtualTimeLoop", "loop_factory", "run"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

# asyncio's own limit on one selector wait (base_events.MAXIMUM_SELECT_TIMEOUT).
_MAXIMUM_SELECT_TIMEOUT = 24 * 3600
# When the loop waits only because some thread is alive, it re-checks that
# thread this often (a thread may end without ever waking the loop).
_THREAD_POLL_INTERVAL = 0.05

# After this many loop iterations in a row with callbacks ready, no real I/O,
# no network event and no idle moment, the loop counts as spinning (a task
# polling a flag with ``await asyncio.sleep(0)``): the clock moves to the next
# timer, as real time would pass on a real loop.  A count, not a duration,
# so the same program jumps at the same iteration every run.
_BUSY_SPIN_LIMIT = 1000
_BASE_RESOLUTION = time.get_clock_info("monotonic").resolution


def _idle_pool_worker(thread: threading.Thread) -> bool:
    """True for a pool worker parked between jobs (anyio's ``to_thread`` workers).

    Such a pool keeps its idle workers in ``thread.idle_workers`` and hands a job
    over through ``thread.queue``; a worker listed there with an empty queue runs
    nothing and can wake the loop only after the loop gives it work: it neither
    holds the clock nor keeps a deadlock from being reported.
    """
    idle = getattr(thread, "idle_workers", None)
    queue = getattr(thread, "queue", None)
    if idle is None or queue is None:
        return False
    try:
        return thread in idle and bool(queue.empty())
    except (TypeError, AttributeError):
        return False


class DeadlockError(RuntimeError):
    """Every task waits and nothing scheduled could ever wake one.

    Raised by the virtual-time loop in place of sleeping forever: no timer, no
    ready callback, no real file descriptor or signal handler registered, no
    executor job and no other thread alive.  ``tasks`` holds the stuck tasks;
    the message names each one and the chain of coroutines down to what it
    awaits.
    """

    def __init__(self, message: str, tasks: list[asyncio.Task[Any]]) -> None:
        super().__init__(message)
        self.tasks = tasks


class _SequencedTimerHandle(asyncio.TimerHandle):
    """A TimerHandle ordered by (when, scheduling order): equal deadlines run FIFO.

    ``asyncio.TimerHandle`` compares ``when`` only, and ``heapq`` does not keep
    insertion order among equal keys.  In virtual time equal deadlines are the
    rule (two ``sleep(1)`` in a row), and running them out of order would make
    runs depend on heap internals.
    """

    __slots__ = ("_key",)

    def __init__(
        self,
        seq: int,
        when: float,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        loop: asyncio.AbstractEventLoop,
        context: Context | None = None,
    ) -> None:
        super().__init__(when, callback, args, loop, context)
        self._key = (when, seq)  # heapq compares with < only: keep it cheap

    def __lt__(self, other: asyncio.TimerHandle) -> bool:
        if isinstance(other, _SequencedTimerHandle):
            return self._key < other._key
        return super().__lt__(other)

    def __le__(self, other: asyncio.TimerHandle) -> bool:
        if isinstance(other, _SequencedTimerHandle):
            return self._key <= other._key
        return super().__le__(other)

    def __gt__(self, other: asyncio.TimerHandle) -> bool:
        if isinstance(other, _SequencedTimerHandle):
            return self._key > other._key
        return super().__gt__(other)

    def __ge__(self, other: asyncio.TimerHandle) -> bool:
        if isinstance(other, _SequencedTimerHandle):
            return self._key >= other._key
        return super().__ge__(other)


class _VirtualTimeSelector(selectors.BaseSelector):
    """The loop's OS selector, except that a sleeping ``select()`` asks the loop.

    ``select(0)`` (something is ready or due) goes straight to the OS (when
    anything but the self-pipe could be ready there).  A
    ``select(timeout)`` with a positive or no timeout is where the stock loop
    would sleep until the next timer; the virtual-time loop decides instead.
    """

    def __init__(self, loop: VirtualTimeLoop, selector: selectors.BaseSelector) -> None:
        self._loop = loop
        self._selector = selector
        # Whether a descriptor other than the loop's self-pipe (registered
        # before this wrapper) is registered; see select().
        self._other_fds = len(selector.get_map()) > 1
        # The Unix loop's handlers by signal (a dict it only ever mutates).
        self._signal_handlers: dict[int, Any] = getattr(loop, "_signal_handlers", {})

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self._loop
        # The network's segments due now arrive here, where a kernel socket's
        # readiness would be collected; the callbacks they schedule (a
        # transport's read) run in this iteration.  See NetworkDriver.poll.
        driver = loop._driver
        if driver.due:
            driver.poll()
            loop._busy_iterations = 0  # the network moved: progress
            if loop._ready:
                timeout = 0  # no longer idle
        if timeout is not None and timeout <= 0:
            loop._busy_iterations += 1
            if loop._busy_iterations >= _BUSY_SPIN_LIMIT:
                loop._spin_jump()
            # Something is ready: the stock loop polls the OS without waiting.
            # With only the self-pipe registered and no signal handler that
            # poll can only find the byte ``call_soon_threadsafe`` writes to
            # wake a sleeping selector (its callback is already in the ready
            # queue) and drain it; that waits for the next idle select, which
            # always polls.  It saves a system call per iteration.
            if self._other_fds or self._signal_handlers:
                events = self._selector.select(0)
                if events:
                    loop._busy_iterations = 0  # real I/O: progress
                return events
            return []
        loop._busy_iterations = 0
        if driver.stale:
            # The loop is about to sleep or jump: its timer for the network
            # must be right now (see NetworkDriver.refresh).
            driver.refresh()
            if driver.due:
                return []  # something is due after all: the loop decides again
        return loop._idle_select(timeout)

    def register(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        try:
            return self._selector.register(fileobj, events, data)
        finally:
            self._other_fds = len(self._selector.get_map()) > 1

    def unregister(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        try:
            return self._selector.unregister(fileobj)
        finally:
            self._other_fds = len(self._selector.get_map()) > 1

    def modify(
        self, fileobj: FileDescriptorLike, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._selector.modify(fileobj, events, data)

    def get_key(self, fileobj: FileDescriptorLike) -> selectors.SelectorKey:
        return self._selector.get_key(fileobj)

    def get_map(self) -> Mapping[FileDescriptorLike, selectors.SelectorKey]:
        return self._selector.get_map()

    def close(self) -> None:
        self._selector.close()


class VirtualTimeLoop(NetworkLoopMixin, asyncio.SelectorEventLoop):
    """An asyncio loop on virtual time that drives an aiotcpsim network.

    Args:
        network: the network to drive; a fresh ``Network(seed)`` by default.
        seed: seed of that fresh network (only without ``network``).
        host: the default host (or its name): a task created while no host
            is current runs as if inside ``with host.current():``.

    ``time()`` starts at the network's current time (0 for a fresh network)
    and never goes backwards; ``loop.network`` is the network.  See the module
    docstring for when the clock jumps and when :class:`DeadlockError` is raised.
    """

    # asyncio internals this loop reads and writes (BaseEventLoop and
    # BaseSelectorEventLoop, unchanged from 3.11 to 3.13).
    _scheduled: list[asyncio.TimerHandle]
    _selector: selectors.BaseSelector
    _ssock: socket.socket | None
    _clock_resolution: float
    _timer_cancelled_count: int
    _default_executor: concurrent.futures.ThreadPoolExecutor | None
    _ready: collections.deque[asyncio.Handle]
    _closed: bool
    _debug: bool

    def __init__(
        self,
        network: Network | None = None,
        *,
        seed: int | None = None,
        host: Host | str | None = None,
    ) -> None:
        self._now = 0.0  # anything may call time(), even the base class
        self._timer_seq = 0
        self._executor_jobs = 0
        self._busy_iterations = 0  # see _BUSY_SPIN_LIMIT
        self._owned: weakref.WeakSet[Any] = weakref.WeakSet()  # see own()
        self._executors: weakref.WeakSet[concurrent.futures.Executor] = weakref.WeakSet()
        # Threads alive now (pytest's, the caller's) do not hold the clock;
        # only threads started later, which the loop's own code may have made.
        self._threads_before: weakref.WeakSet[threading.Thread] = weakref.WeakSet(
            threading.enumerate()
        )
        super().__init__()
        # The stock loop sleeps in exactly one call, selector.select(timeout):
        # route that call through the loop (see _idle_select).
        self._real_selector = self._selector
        self._selector = _VirtualTimeSelector(self, self._real_selector)
        try:
            if network is None:
                network = Network(0 if seed is None else seed)
            elif not isinstance(network, Network):
                raise TypeError(f"network must be an aiotcpsim Network, got {network!r}")
            elif seed is not None:
                raise ValueError(
                    "pass either network= or seed= (the seed of a new network), not both"
                )
            self._now = network.now
            self.network = network
            self._driver = NetworkDriver(self, network, polled=True)
            self.host = None if host is None else find_host(network, host)
            """Tasks created while no host is current run on this host (or None)."""
            self.apps = HostApps(self, network, lambda: list(self._owned))
            """Which task runs on which host; ends a crashed host's application."""
        except BaseException:
            super().close()  # a half-built loop must not leak its self-pipe
            raise

    def create_task(
        self,
        coro: Generator[Any, None, _T] | Coroutine[Any, Any, _T],
        *,
        name: object = None,
        context: Context | None = None,
        **kw: Any,
    ) -> asyncio.Task[_T]:
        """Like the stock method; a task started where no host is current runs
        on the loop's default :attr:`host` (if any).  A task runs on one host
        for its whole life, and is cancelled when that host crashes."""
        context = task_context(self.host, context)
        task = super().create_task(coro, name=name, context=context, **kw)
        self.apps.track(task, context)
        return task

    # -- the clock ------------------------------------------------------------

    def time(self) -> float:
        """Virtual time in seconds (network time)."""
        return self._now

    def _spin_jump(self) -> None:
        """The loop spins on ready callbacks alone: let the next timer come due."""
        self._busy_iterations = 0
        if self._clock_holder() is not None:
            return  # real work out: real time passes anyway (rule 2)
        when = self._next_timer()
        if when is not None:
            self._set_time(when)

    def _set_time(self, when: float) -> None:
        if when > self._now:
            self._now = when
            # A timer is due when ``when < time() + _clock_resolution``.  Far in
            # virtual time (~1e7 s) adding 1 ns no longer changes a float, and the
            # timer at exactly ``time()`` would never become due.
            self._clock_resolution = max(_BASE_RESOLUTION, math.ulp(when))
            # Keep the network's clock equal to the loop's: a network event due
            # now runs here, before the loop's own callbacks for this instant.
            try:
                self._driver.sync()
            except Exception as exc:
                self.call_exception_handler(
                    {"message": "exception in a network callback", "exception": exc}
                )

    def call_at(
        self,
        when: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        """Like ``BaseEventLoop.call_at``, with FIFO order among equal deadlines."""
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()  # type: ignore[attr-defined]
        if self.get_debug():
            self._check_thread()  # type: ignore[attr-defined]
            self._check_callback(callback, "call_at")  # type: ignore[attr-defined]
        self._timer_seq += 1
        timer = _SequencedTimerHandle(self._timer_seq, when, callback, args, self, context)
        source_traceback = timer._source_traceback  # type: ignore[attr-defined]
        if source_traceback:
            del source_traceback[-1]
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True  # type: ignore[attr-defined]
        return timer

    # -- where the stock loop would sleep ----------------------------------------

    def _idle_select(self, timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        """Stand-in for ``selector.select(timeout)`` when the stock loop would sleep.

        ``BaseEventLoop._run_once`` passes a timeout > 0 only when no callback
        is ready and no timer is due; it then processes the events returned,
        runs the timers due at ``time()`` and the ready callbacks.  So this is
        the one place to decide, by the rules of the module docstring, whether
        to jump the clock, wait in real time, or raise DeadlockError.
        Returning no event with the clock unchanged is always safe: the loop
        just decides again.
        """
        # 1. Real I/O that is ready now runs before any virtual time passes.
        event_list = self._real_selector.select(0)
        if event_list:
            return event_list
        when = self._next_timer()

        # 2. Real work in flight: wait in real time, like the stock loop.
        holding = self._clock_holder()
        if holding is not None:
            return self._wait_real(when, thread_poll=holding == "thread")

        # 3. Nothing outside can progress: jump to the next timer.
        if when is not None:
            self._set_time(when)
            return []

        # 4. No timer: is there anything that could ever wake the loop?
        waker = self._possible_waker()
        if waker is not None:
            return self._wait_real(None, thread_poll=waker == "thread")
        # A thread that ended between the select above and now may have left a
        # callback (call_soon_threadsafe, then exit): look once more, after
        # seeing it gone, before calling it a deadlock.
        event_list = self._real_selector.select(0)
        if event_list or self._ready:
            return event_list
        raise self._deadlock()

    def _wait_real(
        self, when: float | None, *, thread_poll: bool
    ) -> list[tuple[selectors.SelectorKey, int]]:
        """Wait in the selector in real time until I/O or the next timer.

        Virtual time advances by the real time waited, capped at ``when``.
        """
        remaining = None if when is None else min(when - self._now, _MAXIMUM_SELECT_TIMEOUT)
        timeout = remaining
        if thread_poll and (timeout is None or timeout > _THREAD_POLL_INTERVAL):
            timeout = _THREAD_POLL_INTERVAL
        start = time.monotonic()
        event_list = self._real_selector.select(timeout)
        waited = time.monotonic() - start
        if when is not None:
            if not event_list and timeout == remaining:
                self._set_time(when)  # slept the whole way: the timer is due
            else:
                self._set_time(min(self._now + waited, when))
        return event_list

    def _next_timer(self) -> float | None:
        """Deadline of the earliest live timer (None: none, or only at infinity)."""
        scheduled = self._scheduled
        # The stock loop drops cancelled timers from the head the same way.
        while scheduled and scheduled[0].cancelled():
            self._timer_cancelled_count -= 1
            handle = heapq.heappop(scheduled)
            handle._scheduled = False  # type: ignore[attr-defined]
        if not scheduled:
            return None
        when = scheduled[0].when()
        return None if when == math.inf else when

    # -- what may still happen outside the loop --------------------------------

    def _executor_threads(self) -> set[threading.Thread]:
        threads: set[threading.Thread] = set()
        for executor in list(self._executors):
            threads.update(getattr(executor, "_threads", ()))  # ThreadPoolExecutor
            manager = getattr(executor, "_executor_manager_thread", None)  # ProcessPoolExecutor
            if manager is not None:
                threads.add(manager)
        return threads

    def _other_threads(self) -> list[threading.Thread]:
        """Live threads other than this one and idle-able executor workers."""
        if threading.active_count() == 1:
            return []  # the common case, cheaply
        current = threading.current_thread()
        workers = self._executor_threads()
        return [
            t
            for t in threading.enumerate()
            if t is not current and t not in workers and t.is_alive() and not _idle_pool_worker(t)
        ]

    def _clock_holder(self) -> str | None:
        """Why virtual time must not jump now, or None."""
        if self._executor_jobs:
            return "executor"
        for thread in self._other_threads():
            if not thread.daemon and thread not in self._threads_before:
                return "thread"
        return None

    def _possible_waker(self) -> str | None:
        """What could still wake a loop that has no timer, or None."""
        ssock_fd = self._ssock.fileno() if self._ssock is not None else -1
        if any(key.fd != ssock_fd for key in self._real_selector.get_map().values()):
            return "file descriptor"
        if getattr(self, "_signal_handlers", None):
            return "signal handler"
        if self._other_threads():
            return "thread"
        return None

    def _deadlock(self) -> DeadlockError:
        tasks = [t for t in asyncio.all_tasks(self) if not t.done()]
        lines = [
            f"deadlock at virtual time {self._now:.6f}s: every task waits and nothing "
            "can ever wake one (no timer, no real I/O or signal handler, no thread or "
            "executor job)"
        ]
        if tasks:
            lines.append("waiting tasks:")
            lines.extend(f"  {_describe_task(t)}" for t in tasks)
        else:
            lines.append("no task is running; the loop waits for something nobody will do")
        return DeadlockError("\n".join(lines), tasks)

    # -- threads the loop starts ------------------------------------------------

    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[[*_Ts], _T],
        *args: *_Ts,
    ) -> asyncio.Future[_T]:
        """Like the stock method; virtual time does not jump while the job runs.

        The job counts until its future is done; a cancelled job stops holding
        the clock (its thread runs on, as in asyncio).
        """
        future = super().run_in_executor(executor, func, *args)
        self._executors.add(executor if executor is not None else self._default_executor)  # type: ignore[arg-type]
        self._executor_jobs += 1
        future.add_done_callback(self._executor_job_done)
        return future

    def _executor_job_done(self, future: asyncio.Future[Any]) -> None:
        self._executor_jobs -= 1

    async def shutdown_default_executor(self, *args: Any, **kwargs: Any) -> None:
        """Like the stock method; the joining thread holds the clock."""
        self._executor_jobs += 1
        try:
            await super().shutdown_default_executor(*args, **kwargs)
        finally:
            self._executor_jobs -= 1

    # -- lifetime ----------------------------------------------------------------

    def own(self, resource: asyncio.AbstractServer | asyncio.BaseTransport) -> None:
        """Close ``resource`` (a server or transport on the network) with the loop.

        Closing the loop is a process exit for what it owns: its servers stop
        listening (the port can be bound again) and its transports' sockets are
        closed as ``close(2)`` does -- FIN, or RST when unread data is discarded.
        """
        self._owned.add(resource)

    def close(self) -> None:
        """Close the loop and stop driving the network (which can be reused).

        Servers and transports it owns (see :meth:`own`) are closed first, so no
        callback of the network reaches the closed loop.
        """
        owned = list(getattr(self, "_owned", ()))
        if owned and not self.is_closed():
            self._owned.clear()
            for resource in owned:
                if isinstance(resource, asyncio.Transport):
                    resource.abort()
                else:
                    resource.close()
            if not self.is_running():
                # One more iteration: the transports' connection_lost callbacks
                # run and release their sockets while the loop is still open.
                self.call_soon(self.stop)
                self.run_forever()
        driver = getattr(self, "_driver", None)
        if driver is not None:
            driver.detach()
        apps = getattr(self, "apps", None)
        if apps is not None:
            apps.close()
        super().close()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} t={self._now:.6f}s running={self.is_running()} "
            f"closed={self.is_closed()} network={self.network!r}>"
        )


def _describe_task(task: asyncio.Task[Any]) -> str:
    """``Task 'name': main() at f.py:12 -> helper() at f.py:5 awaiting <Future pending>``."""
    chain: list[str] = []
    obj: Any = task.get_coro()
    for _ in range(100):  # a bound against pathological chains
        frame = (
            getattr(obj, "cr_frame", None)
            or getattr(obj, "gi_frame", None)
            or getattr(obj, "ag_frame", None)
        )
        if frame is None:
            break
        name = getattr(obj, "__qualname__", type(obj).__name__)
        chain.append(f"{name}() at {frame.f_code.co_filename}:{frame.f_lineno}")
        obj = (
            getattr(obj, "cr_await", None)
            or getattr(obj, "gi_yieldfrom", None)
            or getattr(obj, "ag_await", None)
        )
    waiter = getattr(task, "_fut_waiter", None)
    awaiting = f"awaiting {waiter!r}" if waiter is not None else "not waiting on a future"
    where = " -> ".join(chain) if chain else repr(task.get_coro())
    return f"Task {task.get_name()!r}: {where}, {awaiting}"


def loop_factory(
    network: Network | None = None, *, seed: int | None = None, host: Host | str | None = None
) -> Callable[[], VirtualTimeLoop]:
    """A factory of virtual-time loops, for ``asyncio.Runner(loop_factory=...)``,
    ``asyncio.run(..., loop_factory=...)`` (3.12+) and pytest-asyncio.

    With ``network``, every loop drives that network (one loop at a time);
    without, each loop gets a fresh ``Network(seed)``.  With ``host`` (a host
    or its name), tasks created while no host is current run on that host (see
    :class:`VirtualTimeLoop`).
    """
    if network is not None and seed is not None:
        raise ValueError("pass either network= or seed= (the seed of a new network), not both")

    def factory() -> VirtualTimeLoop:
        return VirtualTimeLoop(network, seed=seed, host=host)

    return factory


def run(
    main: Coroutine[Any, Any, _T],
    *,
    network: Network | None = None,
    seed: int | None = None,
    debug: bool | None = None,
    host: Host | str | None = None,
) -> _T:
    """Run a coroutine on a virtual-time loop, like ``asyncio.run``.

    Args:
        main: the coroutine.
        network: the network to drive; a fresh ``Network(seed)`` by default,
            with a host ``localhost`` (127.0.0.1).
        seed: seed of the fresh network (only without ``network``).
        debug: asyncio debug mode, as in ``asyncio.run``.
        host: the host (or its name, on ``network``) that ``main`` runs on, as
            if inside ``with host.current():``; tasks it starts inherit it.

    Raises:
        DeadlockError: every task waits for something nobody will do.
        RuntimeError: called from a running event loop.
        ValueError: ``host`` names no host of ``network``.
    """
    factory = loop_factory(network, seed=seed, host=host)
    with asyncio.Runner(debug=debug, loop_factory=factory) as runner:
        return runner.run(main)
