"""Drive a :class:`~aiotcpsim.Network` from a trio run.

Rule owned here: the network never moves while a task runs, and its clock
moves in one place, :meth:`TrioDriver._advance`, called at trio's idle point;
network time is read from trio's clock by one formula, :meth:`TrioDriver.now`.

Trio runs the tasks that are ready in each batch in a random order (on
purpose: code must not rely on it).  If sockets called into the network
directly, two tasks woken at the same instant -- a client and a server
handler -- would transmit in a different order from run to run, draw the
network's random numbers (loss, duplication) in a different order, and the
same seed would no longer give the same run.

So the network never moves while a task runs.  A socket operation is a
request (:meth:`TrioDriver.call`) that parks the calling task; the driver
carries out the requests when trio is idle -- no task runnable, no deadline
due -- from the run loop's ``before_io_wait`` instrument hook, in a canonical
order (by socket, then by kind of operation), and reschedules the tasks with
their results.  Between two idle points the simulated network is frozen, so
what a task reads from it (``getpeername``, ``is_readable``) does not depend on
the order of the batch either.

At an idle point the driver:

1. brings the network to the present (``network.advance(now)``: timers and
   segments due run, connection callbacks move parked requests back to the
   queue);
2. carries out the queued requests, sorted; a request that would block
   (``recv`` with nothing to read) is parked on its socket until the
   connection's next callback;
3. repeats both until nothing is due at this instant (a segment sent with no
   delay arrives at once);
4. moves the deadline of one system task's cancel scope to
   ``network.next_deadline()``, so that trio -- and
   ``MockClock(autojump_threshold=0)`` -- sleeps or jumps exactly until the
   network next needs to run.

Tasks rescheduled at an idle point make the loop busy again, so the mock
clock does not jump while a socket operation can still complete at the
current instant; when nothing can, the clock jumps to the next network or
task deadline as usual.  ``trio.testing.wait_all_tasks_blocked`` returns once
the network has settled at the current instant.

Network time is ``trio.current_time() - offset``, with ``offset`` fixed when
the driver starts: 0 under a fresh ``MockClock`` and a fresh network, the
clock's arbitrary origin otherwise (real time).

The driver also runs the applications of the network's hosts (it is the
network's :class:`~aiotcpsim.stack.watcher.HostWatcher`).  A task runs on the
host current where it was spawned (its context's).  Trio cancels scopes, not
tasks, and a host's task often lives in another host's nursery (``with
server.current(): nursery.start_soon(trio.serve_tcp, ...)`` in the test's
body); so when such a task is spawned, the driver wraps its coroutine in a
cancel scope of its own (:func:`_on_host`, before the task first runs).
When the host crashes the driver cancels those scopes -- each task of the
host gets ``trio.Cancelled``, and ends quietly, as a killed process's would;
its nursery carries on -- and closes the host's sockets without a segment.
:meth:`TrioDriver.start_app` starts an app on a host as a system task.
"""

from __future__ import annotations

import contextlib
import logging
import math
import weakref
from collections.abc import Callable, Coroutine
from contextvars import copy_context
from typing import Any, Protocol

import outcome
import trio

from ..net import Network
from ..stack.host import App, Host, current_host, set_current_host

__all__ = ["BLOCK", "RANK_RECV", "RANK_SEND", "SocketRequests", "TrioDriver"]

logger = logging.getLogger("aiotcpsim")

# Drivers per network: a network is driven by one trio run at a time.
_drivers: weakref.WeakKeyDictionary[Network, TrioDriver] = weakref.WeakKeyDictionary()


class _Block:
    def __repr__(self) -> str:
        return "BLOCK"


BLOCK: Any = _Block()
"""What a request returns to say "would block: retry at the socket's next callback"."""

# Request ranks: on one socket, synchronous calls (close, shutdown, options)
# go first, in the order they were made -- a task makes them before its one
# pending asynchronous call -- then the asynchronous ones by kind.
RANK_SYNC = 0
RANK_RECV = 1  # recv, accept: the reading direction
RANK_SEND = 2  # send, wait_writable, connect, bind: the writing direction


class SocketRequests:
    """One socket as the driver sees it: its canonical key (the order of its
    requests), the requests parked until its next connection callback, whether
    a task waits in each direction, and what to do after one of its requests
    completed (``after``: the socket refreshes its readiness descriptor).
    ``owner`` names the socket in log messages."""

    __slots__ = ("after", "key", "owner", "parked", "reading", "writing")

    def __init__(self, key: tuple[int, ...], owner: object, after: Callable[[], None]) -> None:
        self.key = key
        self.owner = owner
        self.after = after
        self.parked: set[_Request] = set()
        self.reading = False  # a task waits in recv/accept
        self.writing = False  # a task waits in send/wait_writable/connect/bind


class _Request:
    __slots__ = ("cancelled", "done", "fn", "key", "sock", "task")

    def __init__(
        self,
        sock: SocketRequests,
        key: tuple[Any, ...],
        fn: Callable[[], Any],
        task: trio.lowlevel.Task | None,
    ) -> None:
        self.sock = sock
        self.key = key
        self.fn = fn
        self.task = task
        self.cancelled = False
        self.done = False


class _HostSocket(Protocol):
    def host_crashed(self) -> None: ...


class TrioDriver(trio.abc.Instrument):
    """Runs one network inside the current trio run; see the module docstring.

    Made and started by :func:`aiotcpsim.trio_net.open_network`.
    """

    def __init__(self, network: Network) -> None:
        if not isinstance(network, Network):
            raise TypeError(f"expected an aiotcpsim Network, got {network!r}")
        self.network = network
        self.offset = trio.current_time() - network.now
        self.active = False
        self.errors: list[BaseException] = []
        self._queue: list[_Request] = []
        self._seq = 0
        self._scope: trio.CancelScope | None = None
        self._stop = trio.CancelScope()
        self._armed: float | None = None  # the network deadline the system task sleeps to
        self._due: float | None = None  # that deadline came (set by the system task)
        self._target = math.inf
        # Canonical task identities (see socket_key).
        self._paths: weakref.WeakKeyDictionary[trio.lowlevel.Task, tuple[int, ...]] = (
            weakref.WeakKeyDictionary()
        )
        self._indices: weakref.WeakKeyDictionary[trio.lowlevel.Task, int] = (
            weakref.WeakKeyDictionary()
        )
        self._children: weakref.WeakKeyDictionary[trio.lowlevel.Task, int] = (
            weakref.WeakKeyDictionary()
        )
        self._task_sockets: weakref.WeakKeyDictionary[trio.lowlevel.Task, int] = (
            weakref.WeakKeyDictionary()
        )
        # The hosts' applications: the scope of each task and the sockets, by host.
        self._host_tasks: dict[
            Host, weakref.WeakKeyDictionary[trio.lowlevel.Task, trio.CancelScope]
        ] = {}
        self._host_sockets: dict[Host, weakref.WeakSet[_HostSocket]] = {}
        self._app_scopes: list[trio.CancelScope] = []  # apps this driver started

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        other = _drivers.get(self.network)
        if other is not None and other.active:
            raise RuntimeError(
                f"{self.network!r} is already driven by a trio run; leave its open_network() first"
            )
        _drivers[self.network] = self
        self.active = True
        self.network.set_wakeup(self._wakeup)
        self.network.watch_hosts(self)
        trio.lowlevel.add_instrument(self)
        trio.lowlevel.spawn_system_task(self._sleeper, name="aiotcpsim network driver")

    def stop(self) -> None:
        if not self.active:
            return
        self.active = False
        self._stop.cancel()
        with contextlib.suppress(KeyError):  # removed by trio after an error in the hook
            trio.lowlevel.remove_instrument(self)
        if _drivers.get(self.network) is self:
            del _drivers[self.network]
            self.network.set_wakeup(None)
        self.network.unwatch_hosts(self)
        for scope in self._app_scopes:
            scope.cancel()  # an app must not outlive the network it runs on
        self._app_scopes.clear()
        for request in self._queue:
            self._fail(request, trio.ClosedResourceError("the simulated network was closed"))
        self._queue.clear()

    async def _sleeper(self) -> None:
        """The system task whose cancel-scope deadline is the network's next deadline."""
        with self._stop:
            while True:
                with trio.CancelScope(deadline=self._target) as scope:
                    self._scope = scope
                    await trio.sleep_forever()
                self._scope = None
                # The deadline came: the next idle point runs what fell due.
                self._due = self._armed
                self._target = math.inf

    def _wakeup(self) -> None:
        # The network's next deadline may have moved earlier (a call made by a
        # task outside advance()).  Nothing to do now: the clock cannot move
        # before the next idle point, which re-arms the deadline.
        pass

    # -- requests ----------------------------------------------------------------

    def socket_key(self) -> tuple[int, ...]:
        """A canonical key for a socket made by the current task.

        Trio's batches run in random order, so neither the order in which
        sockets are made nor the order of spawns by different tasks is stable.
        The key is the task's place in the task tree -- its ancestors' and its
        own spawn index under its parent, the program's own order -- then
        ``0`` and the number of sockets the task made so far.  Keys of accepted
        sockets extend their listener's with ``1`` and the accept count.
        """
        task = trio.lowlevel.current_task()
        count = self._task_sockets.get(task, 0) + 1
        self._task_sockets[task] = count
        return (*self._path(task), 0, count)

    def _path(self, task: trio.lowlevel.Task) -> tuple[int, ...]:
        path = self._paths.get(task)
        if path is None:
            nursery = task.parent_nursery
            parent = nursery.parent_task if nursery is not None else None
            index = self._indices.get(task)
            if index is None:  # spawned before the driver started
                index = self._spawn_index(task)
            path = (*(self._path(parent) if parent is not None else ()), index)
            self._paths[task] = path
        return path

    def _spawn_index(self, task: trio.lowlevel.Task) -> int:
        nursery = task.parent_nursery
        parent = nursery.parent_task if nursery is not None else None
        if parent is None:
            return 1
        index = self._children.get(parent, 0) + 1
        self._children[parent] = index
        self._indices[task] = index
        return index

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self._spawn_index(task)
        host = task.context.run(current_host)
        if host is not None and host.network is self.network and self.active:
            # The task has not run yet: its first step will enter the scope.
            scope = trio.CancelScope()
            wrapped: Any = _on_host(task.coro, scope)  # a CoroutineType, as trio's
            task.coro = wrapped
            tasks = self._host_tasks.get(host)
            if tasks is None:
                tasks = self._host_tasks[host] = weakref.WeakKeyDictionary()
            tasks[task] = scope

    # -- the hosts' applications ---------------------------------------------------

    def track_socket(self, host: Host, sock: _HostSocket) -> None:
        """``sock`` was made on ``host``: closed when the host crashes."""
        socks = self._host_sockets.get(host)
        if socks is None:
            socks = self._host_sockets[host] = weakref.WeakSet()
        socks.add(sock)

    def host_crashed(self, host: Host) -> None:
        """End the application of ``host`` (see the module docstring)."""
        for scope in list(self._host_tasks.pop(host, {}).values()):
            scope.cancel()
        for sock in list(self._host_sockets.pop(host, ())):
            sock.host_crashed()

    def start_app(self, host: Host, app: App) -> None:
        """Start ``app()`` on ``host`` as a system task of the run (a task of
        the host: a crash cancels it, and so does leaving ``open_network``).
        An exception it raises is logged and raised again when
        ``open_network`` exits."""
        context = copy_context()
        context.run(set_current_host, host)
        task = trio.lowlevel.spawn_system_task(
            self._run_app, host, app, name=f"app on {host.name}", context=context
        )
        tasks = self._host_tasks.get(host)
        scope = tasks.get(task) if tasks is not None else None
        if scope is not None:
            self._app_scopes.append(scope)

    async def _run_app(self, host: Host, app: App) -> None:
        try:
            await app()
        except Exception as exc:
            logger.exception("aiotcpsim: the app on host %r failed", host.name)
            self.errors.append(exc)

    async def call(
        self,
        sock: SocketRequests,
        rank: int,
        fn: Callable[[], Any],
        on_cancel: Callable[[], None] | None = None,
    ) -> Any:
        """Run ``fn()`` at the next idle point and return its result (or raise
        its exception).  ``fn`` returning :data:`BLOCK` parks the request on
        ``sock`` until the socket's next connection callback, then retries it.
        Cancellation withdraws a request that has not completed."""
        if not self.active:
            raise trio.ClosedResourceError("the simulated network was closed")
        # One waiting reader and one waiting writer per socket, as trio's I/O
        # manager allows per descriptor.
        reading = rank == RANK_RECV
        if sock.reading if reading else sock.writing:
            verb = "reading from" if reading else "writing to"
            raise trio.BusyResourceError(f"another task is already {verb} this socket")
        task = trio.lowlevel.current_task()
        self._seq += 1
        request = _Request(sock, (sock.key, rank, self._seq), fn, task)
        self._queue.append(request)

        def abort(_: Any) -> trio.lowlevel.Abort:
            request.cancelled = True
            sock.parked.discard(request)
            if on_cancel is not None:
                on_cancel()
            return trio.lowlevel.Abort.SUCCEEDED

        if reading:
            sock.reading = True
        else:
            sock.writing = True
        try:
            return await trio.lowlevel.wait_task_rescheduled(abort)
        finally:
            if reading:
                sock.reading = False
            else:
                sock.writing = False

    def post(self, sock: SocketRequests, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` at the next idle point, for a synchronous call (close,
        shutdown, an option) whose effect on the network must wait for it."""
        self._seq += 1
        self._queue.append(_Request(sock, (sock.key, RANK_SYNC, self._seq), fn, None))

    def retry(self, sock: SocketRequests) -> None:
        """Queue the requests parked on ``sock`` again (a connection callback fired)."""
        self._queue.extend(sock.parked)
        sock.parked.clear()

    def fail_socket(self, sock: SocketRequests, exc: BaseException) -> None:
        """Fail every request of ``sock`` still waiting (the socket was closed)."""
        for request in list(sock.parked):
            self._fail(request, exc)
        sock.parked.clear()
        for request in self._queue:
            if request.sock is sock and request.task is not None:
                self._fail(request, exc)

    def _fail(self, request: _Request, exc: BaseException) -> None:
        if request.done or request.cancelled:
            return
        request.done = True
        if request.task is not None:
            trio.lowlevel.reschedule(request.task, outcome.Error(exc))

    # -- time ---------------------------------------------------------------------

    def now(self) -> float:
        """Network time (never earlier than ``network.now``)."""
        return max(self.network.now, trio.current_time() - self.offset)

    def _advance(self, now: float) -> None:
        """Run the network up to ``now``.

        This is the only place where the network clock moves; it runs only at
        an idle point (see the module docstring).
        """
        self.network.advance(now)

    # -- the idle point -------------------------------------------------------------

    def before_io_wait(self, timeout: float) -> None:
        if not self.active:
            return
        stats = trio.lowlevel.current_statistics()
        if (
            stats.tasks_runnable
            or stats.run_sync_soon_queue_size
            or stats.seconds_to_next_deadline <= 0
        ):
            return  # not idle: tasks still run (or are about to) at this instant
        try:
            woke = self._settle()
        except Exception as exc:  # the hook must survive: trio drops a failing instrument
            logger.exception("aiotcpsim: error while running the simulated network")
            self.errors.append(exc)
            woke = True
        if woke and timeout > 0:
            # The run loop computed its I/O wait before this hook ran: make it
            # return at once (the mock clock's autojump passes timeout 0 anyway).
            trio.lowlevel.current_trio_token().run_sync_soon(_nothing)

    def _settle(self) -> bool:
        """Run the network and the queued requests until nothing more happens at
        this instant; re-arm the sleeper.  True when the run loop has new work."""
        network = self.network
        now = self.now()
        if self._due is not None:
            # A real clock may read a hair before the deadline.
            now = max(now, self._due)
            self._due = None
        woke = False
        while True:
            try:
                self._advance(now)
            except Exception as exc:
                logger.exception("aiotcpsim: error in a network callback")
                self.errors.append(exc)
                woke = True
            queue = self._queue
            if not queue:
                break
            self._queue = []
            woke = self._run_requests(queue) or woke
        deadline = network.next_deadline()
        self._armed = deadline
        target = math.inf if deadline is None else deadline + self.offset
        if target != self._target:
            self._target = target
            if self._scope is not None:
                self._scope.deadline = target
            woke = woke or target < math.inf
        return woke

    def _run_requests(self, queue: list[_Request]) -> bool:
        """Carry out ``queue`` in canonical order; park those that would block.
        True when a task was rescheduled."""
        woke = False
        queue.sort(key=_key)
        for request in queue:
            if request.cancelled or request.done:
                continue
            try:
                result = request.fn()
            except Exception as exc:
                request.done = True
                if request.task is not None:
                    trio.lowlevel.reschedule(request.task, outcome.Error(exc))
                    woke = True
                else:
                    logger.debug("aiotcpsim: %s: %r", request.sock.owner, exc)
                continue
            if result is BLOCK:
                request.sock.parked.add(request)
                continue
            request.done = True
            if request.task is not None:
                trio.lowlevel.reschedule(request.task, outcome.Value(result))
                woke = True
        for request in queue:
            if request.done:
                request.sock.after()
        return woke

    def __repr__(self) -> str:
        state = "active" if self.active else "stopped"
        return f"<TrioDriver {state} offset={self.offset!r} {self.network!r}>"


async def _on_host(coro: Coroutine[Any, Any, Any], scope: trio.CancelScope) -> Any:
    """A host's task: its coroutine inside the scope a crash of the host cancels."""
    with scope:
        return await coro
    return None  # cancelled: the task ends quietly


def _key(request: _Request) -> tuple[Any, ...]:
    return request.key


def _nothing() -> None:
    pass
