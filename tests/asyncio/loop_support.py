"""Helpers shared by the asyncio tests: run application code on a network's
virtual-time loop, close a stream writer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiotcpsim
from aiotcpsim.asyncio_loop import loop_factory

T = TypeVar("T")


def run(net: aiotcpsim.Network, main: Callable[[], Awaitable[T]]) -> T:
    """``main()`` on a virtual-time loop driving ``net``, as ``asyncio.Runner`` runs it."""

    async def wrapper() -> T:
        return await main()

    with asyncio.Runner(loop_factory=loop_factory(net)) as runner:
        return runner.run(wrapper())


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Close and wait, ignoring the error a reset connection reports."""
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
