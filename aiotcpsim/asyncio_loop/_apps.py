"""Which host a task runs on, and the application of each host.

Rules owned here:

* A task created while no host is current (no ``with host.current():``
  around it) runs on the loop's default host when the loop has one
  (``VirtualTimeLoop(net, host=client)``, ``run(..., host=client)``,
  ``loop_factory(net, host=client)``): its context gets that host, as if the
  task's body were inside ``with client.current():``.  Tasks created under a
  host keep theirs.
* A task belongs to the host it runs on (:class:`HostApps` keeps the list);
  when that host crashes, the loop ends its application as a machine's
  crash ends its processes: every such task is cancelled
  (``CancelledError("host 'server' crashed")``), then the host's servers are
  closed and its transports aborted -- without a segment, the host's TCBs are
  already gone.  ``restart(host, app=...)`` starts ``app()`` as a new task
  on the host (:meth:`HostApps.start_app`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterable
from contextvars import Context, copy_context
from typing import TYPE_CHECKING, Any

from ..stack.host import App, Host, current_host, set_current_host

if TYPE_CHECKING:
    from ..net import Network

__all__ = ["HostApps", "find_host", "task_context"]


def find_host(network: Network, host: Host | str) -> Host:
    """``host`` itself (a host of ``network``), or the host of ``network`` named ``host``.

    Raises:
        ValueError: no such host on ``network``.
        TypeError: ``host`` is neither a Host nor a string.
    """
    if isinstance(host, str):
        found = network.find_host(host)
        if found is None:
            raise ValueError(
                f"host={host!r}: no such host on the network (add it with net.add_host)"
            )
        return found
    if network.find_host(getattr(host, "name", "")) is not host:
        raise TypeError(f"host must be a Host of the loop's network or its name, got {host!r}")
    return host


def task_context(default: Host | None, context: Context | None) -> Context | None:
    """The context a new task runs in: ``context`` (or the caller's), given the
    host ``default`` when no host is current there; None means unchanged."""
    if default is None:
        return context
    ctx = context if context is not None else copy_context()
    if ctx.run(current_host) is not None:
        return context
    ctx = ctx.copy()
    ctx.run(set_current_host, default)
    return ctx


def _resource_host(resource: object) -> Host | None:
    """The host of a server (its sockets') or transport (its socket's), or None."""
    socks: Iterable[object]
    if isinstance(resource, asyncio.BaseTransport):
        socks = [resource.get_extra_info("socket")]
    else:
        socks = getattr(resource, "sockets", ()) or ()
    for sock in socks:
        host = getattr(sock, "host", None)
        if isinstance(host, Host):
            return host
    return None


class HostApps:
    """The applications of a network's hosts on one asyncio loop: which task
    runs on which host, ended by a crash and started by ``restart(app=)`` (the
    network's :class:`~aiotcpsim.stack.watcher.HostWatcher` for this loop).

    ``resources`` lists the servers and transports the loop owns.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        network: Network,
        resources: Callable[[], Iterable[object]],
    ) -> None:
        self._loop = loop
        self._network = network
        self._resources = resources
        self._tasks: dict[Host, weakref.WeakSet[asyncio.Task[Any]]] = {}
        self._apps: set[asyncio.Task[Any]] = set()  # started here: kept alive until done
        network.watch_hosts(self)

    def close(self) -> None:
        """The loop closes: stop watching the network."""
        self._network.unwatch_hosts(self)

    def track(self, task: asyncio.Task[Any], context: Context | None) -> None:
        """``task`` was just created in ``context`` (None: the caller's)."""
        host = current_host() if context is None else context.run(current_host)
        if host is not None and host.network is self._network:
            tasks = self._tasks.get(host)
            if tasks is None:
                tasks = self._tasks[host] = weakref.WeakSet()
            tasks.add(task)

    def tasks(self, host: Host) -> list[asyncio.Task[Any]]:
        """The unfinished tasks running on ``host``."""
        return [t for t in self._tasks.get(host, ()) if not t.done()]

    def host_crashed(self, host: Host) -> None:
        if self._loop.is_closed():  # a loop closed without close(): forget it
            self.close()
            return
        message = f"host {host.name!r} crashed"
        for task in self.tasks(host):
            task.cancel(message)
        self._tasks.pop(host, None)
        for resource in list(self._resources()):
            if _resource_host(resource) is not host:
                continue
            if isinstance(resource, asyncio.Transport):
                resource.abort()  # its TCB is gone: nothing is sent
            elif isinstance(resource, asyncio.AbstractServer):
                resource.close()

    def start_app(self, host: Host, app: App) -> None:
        context = copy_context()
        context.run(set_current_host, host)
        coro = context.run(app)
        task = self._loop.create_task(coro, name=f"app on {host.name}", context=context)
        self._apps.add(task)
        task.add_done_callback(self._app_done)

    def _app_done(self, task: asyncio.Task[Any]) -> None:
        self._apps.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._loop.call_exception_handler(
                {"message": f"{task.get_name()} failed", "exception": exc, "task": task}
            )
