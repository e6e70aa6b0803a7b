"""Which host a task runs on: the loop's default host.

Rule owned here: a task created while no host is current (no
``with host.current():`` around it) runs on the loop's default host when the
loop has one (``VirtualTimeLoop(net, host=client)``, ``run(..., host=client)``,
``loop_factory(net, host=client)``): its context gets that host, as if the
task's body were inside ``with client.current():``.  Tasks created under a
host keep theirs.
"""

from __future__ import annotations

from contextvars import Context, copy_context
from typing import TYPE_CHECKING

from ..stack.host import current_host, set_current_host

if TYPE_CHECKING:
    from ..net import Network
    from ..stack import Host

__all__ = ["find_host", "task_context"]


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
