"""The ``run`` fixture of the comparison suite: one test, two TCPs.

Every test in ``tests/compare`` is plain asyncio application code on
127.0.0.1 that returns what it observed; the ``run`` fixture runs it once
against the kernel's TCP on loopback (real clock, bounded by a timeout of a
few seconds) and once against the simulated network (virtual-time loop).  The
test asserts the observations equal one expected list, so both TCPs must
produce it.  Where they disagree, the kernel is right (docs DESIGN.md, "Tests").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

import aiotcpsim

T = TypeVar("T")

# Real seconds for the whole kernel run: loopback answers in microseconds, so a
# run that needs more is stuck (an assertion below then names what hung).
KERNEL_TIMEOUT = 5.0
# Virtual seconds for the simulated run: long enough for any scenario here
# (the SYN timeout is 131 s), short of hiding a retransmission loop.
SIM_TIMEOUT = 600.0
SEED = 5


class Runner:
    """Runs ``main()`` to completion on one backend and returns its result.

    ``backend`` is ``"kernel"`` or ``"sim"``; ``network`` is the simulated
    network (``None`` for the kernel).
    """

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.network = aiotcpsim.Network(seed=SEED) if backend == "sim" else None

    def __call__(self, main: Callable[[], Awaitable[T]]) -> T:
        limit = KERNEL_TIMEOUT if self.network is None else SIM_TIMEOUT

        async def bounded() -> T:
            async with asyncio.timeout(limit):
                return await main()

        if self.network is None:
            with asyncio.Runner() as runner:
                return runner.run(bounded())
        with asyncio.Runner(loop_factory=aiotcpsim.loop_factory(self.network)) as runner:
            return runner.run(bounded())


@pytest.fixture(params=["kernel", "sim"])
def run(request: pytest.FixtureRequest) -> Runner:
    return Runner(request.param)
