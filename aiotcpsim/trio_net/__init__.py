"""Run trio's networking over a simulated network.

Rule owned here: the simulated network replaces trio's socket factory and
resolver only inside ``open_network``, and only for the run that entered it.

Map: ``_driver`` (the one place the network clock moves, at trio's idle
point, and the canonical order of socket requests), ``_socket`` (the trio
socket object), ``_resolver`` (the socket factory and hostname resolver);
options, errno errors and readiness are shared with the asyncio adapter
(``aiotcpsim._sockets``, ``aiotcpsim._readiness``).

Inside ``async with open_network(net):`` the unmodified trio calls --
``trio.open_tcp_stream``, ``trio.serve_tcp``, ``trio.open_tcp_listeners``,
``trio.socket.socket`` and the ``SocketStream`` they return, and a
``socket.socket`` that a library binds itself and wraps with
``trio.socket.from_stdlib_socket`` (anyio's listeners, hypercorn) -- speak TCP on
``net``, from the host made current with ``with host.current():`` (tasks
inherit it as they inherit contextvars; ``localhost`` otherwise)::

    import trio, trio.testing, aiotcpsim
    from aiotcpsim.trio_net import open_network

    net = aiotcpsim.Network(seed=1, loss=0.05, delay=0.01)
    server = net.add_host("server")

    async def main():
        async with open_network(net):
            ...  # serve_tcp on server.current(), open_tcp_stream("server", port)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

With ``MockClock(autojump_threshold=0)`` trio's clock is the network's virtual
clock: ``trio.current_time()`` reads network time (both start at 0), and a
131-second SYN timeout takes no real time.  On trio's normal clock the network
runs in real time.  The same seed gives the same run, whatever order trio runs
its tasks in (see :mod:`aiotcpsim.trio_net._driver`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from ..net import Network
from ._driver import TrioDriver
from ._resolver import SimHostnameResolver, SimSocketFactory, library_sockets
from ._socket import SimSocket

if TYPE_CHECKING:
    from ..stack import Host

__all__ = ["SimHostnameResolver", "SimSocket", "SimSocketFactory", "TrioDriver", "open_network"]


@asynccontextmanager
async def open_network(
    network: Network, *, host: Host | str | None = None
) -> AsyncIterator[TrioDriver]:
    """Route the current trio run's sockets and name lookups to ``network``.

    Installs a socket factory and hostname resolver (restoring the previous
    ones on exit) and starts the driver that runs the network on trio's
    clock.  Yields the :class:`TrioDriver`.  With ``host`` (a host of
    ``network`` or its name), the body runs as if inside
    ``with host.current():``, and so do the tasks its nurseries start.

    Sockets still open on exit stop working (their calls raise
    ``trio.ClosedResourceError``); close them first.

    A task spawned while a host is current is a task of that host: when the
    host crashes (``net.faults.crash``) it is cancelled and ends quietly (its
    nursery carries on), and the host's sockets are closed without a
    segment; ``net.faults.restart(host, app=fn)`` and ``host.start_app(fn)``
    start ``fn()`` on the host as a system task of the run (see
    :mod:`aiotcpsim.trio_net._driver`).  The task that entered
    ``open_network`` is not a task of any host, even with ``host=``.

    Raises:
        RuntimeError: ``network`` is already driven by another ``open_network``.
        TypeError: ``network`` is not an :class:`aiotcpsim.Network`.
        ValueError: ``host`` names no host of ``network``.
        Exception: the first exception a callback scheduled on the network
            (``network.call_later``, a fault) or an app started on a host
            raised, on exit; it is logged on the ``aiotcpsim`` logger when it
            happens.
    """
    on = contextlib.nullcontext() if host is None else _find_host(network, host).current()
    driver = TrioDriver(network)
    driver.start()
    factory = SimSocketFactory(driver)
    resolver = SimHostnameResolver(driver)
    old_factory = trio.socket.set_custom_socket_factory(factory)
    old_resolver = trio.socket.set_custom_hostname_resolver(resolver)
    stop_library_sockets = library_sockets(driver)
    try:
        with on:
            yield driver
    finally:
        stop_library_sockets()
        driver.stop()
        trio.socket.set_custom_socket_factory(old_factory)
        trio.socket.set_custom_hostname_resolver(old_resolver)
    if driver.errors:
        raise driver.errors[0]


def _find_host(network: Network, host: Host | str) -> Host:
    if not isinstance(host, str):
        return host
    found = network.find_host(host)
    if found is None:
        raise ValueError(f"host={host!r}: no such host on the network (add it with net.add_host)")
    return found
