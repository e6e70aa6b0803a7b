"""IPv6 on loopback, kernel against simulation (issue 11): a dual-stack ``::``
listener takes IPv4 with IPv4-mapped names, IPV6_V6ONLY refuses IPv4 and lets
``0.0.0.0`` share the port, the bind conflicts and the errors of a literal of
the wrong family.  The kernel runs need ``::1`` (skipped where IPv6 is off).

Not compared here: how ``localhost`` resolves -- it depends on the machine's
``/etc/hosts`` (this one may list only 127.0.0.1); the simulation follows
the usual Linux file (``::1`` and ``127.0.0.1``), see tests/asyncio/test_ipv6.py.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Any

import pytest
from conftest import Runner


def _kernel_has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture(autouse=True)
def _needs_ipv6(run: Runner) -> None:
    if run.backend == "kernel" and not _kernel_has_ipv6():
        pytest.skip("kernel: no ::1 on this machine")


async def _accept_one(listening: socket.socket, target: tuple[str, int]) -> tuple[Any, ...]:
    """Connect to ``target``, accept on ``listening``: what each end names."""
    loop = asyncio.get_running_loop()
    _, writer = await asyncio.open_connection(*target)
    conn, peer = await loop.sock_accept(listening)
    out = (
        peer[0],
        peer[2:],
        conn.getsockname()[0],
        conn.family,
        writer.get_extra_info("peername")[0],
    )
    conn.close()
    writer.close()
    await writer.wait_closed()
    return out


def test_dual_stack_listener_takes_ipv4_as_mapped(run: Runner) -> None:
    async def main() -> list[Any]:
        with socket.socket(socket.AF_INET6) as listening:
            listening.setblocking(False)
            v6only = listening.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
            listening.bind(("::", 0))
            listening.listen()
            name = listening.getsockname()
            port = name[1]
            four = await _accept_one(listening, ("127.0.0.1", port))
            six = await _accept_one(listening, ("::1", port))
        return [v6only, (name[0], name[2:]), four, six]

    assert run(main) == [
        0,  # net.ipv6.bindv6only = 0
        ("::", (0, 0)),
        ("::ffff:127.0.0.1", (0, 0), "::ffff:127.0.0.1", socket.AF_INET6, "127.0.0.1"),
        ("::1", (0, 0), "::1", socket.AF_INET6, "::1"),
    ]


def test_v6only_refuses_ipv4_and_shares_its_port_with_0000(run: Runner) -> None:
    async def main() -> list[Any]:
        out: list[Any] = []
        with socket.socket(socket.AF_INET6) as six, socket.socket(socket.AF_INET) as four:
            six.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            six.bind(("::", 0))
            six.listen()
            port = six.getsockname()[1]
            try:
                await asyncio.open_connection("127.0.0.1", port)
            except OSError as exc:
                out.append(type(exc).__name__)
            four.bind(("0.0.0.0", port))
            four.listen()
            out.append(four.getsockname()[1] == port)
        return out

    assert run(main) == ["ConnectionRefusedError", True]


def test_bind_conflicts_between_the_families(run: Runner) -> None:
    async def main() -> list[Any]:
        out: list[Any] = []
        with socket.socket(socket.AF_INET6) as six:
            six.bind(("::", 0))
            six.listen()
            port = six.getsockname()[1]
            for ip in ("0.0.0.0", "127.0.0.1"):
                with socket.socket(socket.AF_INET) as four:
                    try:
                        four.bind((ip, port))
                        out.append("bound")
                    except OSError as exc:
                        out.append(exc.errno)
        with socket.socket(socket.AF_INET) as four:
            four.bind(("0.0.0.0", 0))
            four.listen()
            port = four.getsockname()[1]
            with socket.socket(socket.AF_INET6) as six:
                try:
                    six.bind(("::", port))
                    out.append("bound")
                except OSError as exc:
                    out.append(exc.errno)
        return out

    assert run(main) == [errno.EADDRINUSE, errno.EADDRINUSE, errno.EADDRINUSE]


def test_literal_of_the_other_family_is_eai_addrfamily(run: Runner) -> None:
    async def main() -> list[Any]:
        out: list[Any] = []
        for family, ip in ((socket.AF_INET6, "127.0.0.1"), (socket.AF_INET, "::1")):
            with socket.socket(family) as sock:
                try:
                    sock.bind((ip, 0))
                    out.append("bound")
                except socket.gaierror as exc:
                    out.append(exc.errno)
        loop = asyncio.get_running_loop()
        for host, family in (("::1", socket.AF_INET), ("127.0.0.1", socket.AF_INET6)):
            try:
                await loop.getaddrinfo(host, 80, family=family)
            except socket.gaierror as exc:
                out.append(exc.errno)
        infos = await loop.getaddrinfo(None, 80, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        out.append([i[4] for i in infos])
        infos = await loop.getaddrinfo("0:0:0:0:0:0:0:1", 80, type=socket.SOCK_STREAM)
        out.append([i[4] for i in infos])
        return out

    addrfamily = socket.EAI_ADDRFAMILY
    assert run(main) == [
        addrfamily,
        addrfamily,
        addrfamily,
        addrfamily,
        [("0.0.0.0", 80), ("::", 80, 0, 0)],
        [("::1", 80, 0, 0)],
    ]
