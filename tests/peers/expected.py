"""What of the peer suites runs, what is left out and what must fail: one reason each.

Rule owned here: the list of expected failures is short and only shrinks.  A
test listed in ``expected_failures`` must fail with the exception given there
(``xfail(strict=True, raises=...)``): failing another way, or passing, fails
the run, so an entry goes as soon as what it names is fixed.  ``deselect``
(node id prefixes) and ``deselect_fixtures`` leave out, each with its reason,
the tests that exercise what the simulation does not model by design: a peer
that is a kernel socket (a plain ``socket.socket`` made before the run, or
driven with blocking calls from the test's own thread), link-local IPv6, UDP and Unix
sockets, and other event loops.  ``floor``: at least this many tests pass, so a
glue that selects nothing fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass(frozen=True)
class Fails:
    """An expected failure: the exception it ends in (a type, ``pytest.RaisesExc``,
    ``pytest.RaisesGroup``) and why."""

    raises: Any
    reason: str


@dataclass(frozen=True)
class Suite:
    project: str  # the distribution whose installed version's sdist runs
    files: tuple[str, ...]  # test files, relative to the unpacked sdist
    keyword: str  # pytest -k
    floor: int
    deselect: dict[str, str] = field(default_factory=dict)
    deselect_params: dict[str, str] = field(default_factory=dict)  # a part of the [id]
    deselect_fixtures: dict[str, str] = field(default_factory=dict)
    expected_failures: dict[str, Fails] = field(default_factory=dict)
    args: tuple[str, ...] = ()  # more pytest arguments
    pythonpath: tuple[str, ...] = ()  # sdist folders that go first on sys.path


KERNEL_PEER = (
    "the peer is a kernel socket by design: a plain socket.socket driven with blocking"
    " calls (connect, accept) from the test's own thread or a thread of its own"
)
LINK_LOCAL = (
    "link-local IPv6: the simulated hosts have ::1 and their IPv4 addresses, no fe80::"
    " interface addresses (the test binds the first link-local address it finds)"
)
UDP = "UDP: the simulated network carries TCP only (trio's factory refuses SOCK_DGRAM)"


def _each(reason: Any, *node_ids: str) -> dict[str, Any]:
    return dict.fromkeys(node_ids, reason)


_ANYIO = "tests/test_sockets.py::"
_STREAM = _ANYIO + "TestTCPStream::"
_LISTENER = _ANYIO + "TestTCPListener::"

ANYIO = Suite(
    project="anyio",
    files=("tests/test_sockets.py",),
    keyword=(
        "TestTCPStream or TestTCPListener or test_tcp_connectable"
        " or test_connect_tcp_getaddrinfo_context or test_getnameinfo"
    ),
    floor=84,  # of 88 run: 4 expected failures
    deselect={
        **_each(
            KERNEL_PEER,
            _STREAM + "test_happy_eyeballs[",  # a kernel server in a thread
            _STREAM + "test_reset_during_send[",  # socket.create_server, blocking accept()
            _STREAM + "test_receive_after_peer_closed[",
            _STREAM + "test_send_after_peer_closed[",
            _STREAM + "test_receive_exception_cause_preserved[",
            _STREAM + "test_send_exception_cause_preserved[",
            _STREAM + "test_unretrieved_future_exception_server_crash[",
            _STREAM + "test_from_socket[",  # a blocking connect() in the fixture's factory
            _LISTENER + "test_accept[",  # the client: socket.socket(...).connect(...)
            _LISTENER + "test_socket_options[",
            _LISTENER + "test_send_after_eof[",
            _LISTENER + "test_eof_after_send[",
        ),
        _LISTENER + "test_bind_link_local[asyncio]": LINK_LOCAL,
        _LISTENER + "test_tcp_listener_total_bind_failure[trio]": (
            "the test mocks anyio's socket module: trio's numeric-only pre-check then passes"
            " flags that index to AI_PASSIVE without AI_NUMERICHOST to the kernel's"
            " getaddrinfo, so the answer for localhost is the machine's, not the simulation's"
        ),
    },
    deselect_params={
        "asyncio+uvloop": "another event loop (uvloop) instead of the simulation's",
        "asyncio+eager": "another event loop (eager tasks) instead of the simulation's",
    },
    deselect_fixtures={
        "server_sock": KERNEL_PEER
        + " (a listening socket.socket bound in a synchronous fixture, before the loop runs)",
    },
    expected_failures={
        **_each(
            Fails(
                pytest.RaisesExc(OSError, match="Address already in use"),
                "aiotcpsim: SO_REUSEPORT is not simulated (two listeners on one port)",
            ),
            _LISTENER + "test_reuse_port[asyncio-ipv4]",
            _LISTENER + "test_reuse_port[trio-ipv4]",
            _LISTENER + "test_reuse_port[asyncio-ipv6]",
            _LISTENER + "test_reuse_port[trio-ipv6]",
        ),
    },
)

_TRIO = "src/trio/_tests/"

TRIO = Suite(
    project="trio",
    files=(
        _TRIO + "test_highlevel_open_tcp_stream.py",
        _TRIO + "test_highlevel_open_tcp_listeners.py",
        _TRIO + "test_highlevel_serve_listeners.py",
        _TRIO + "test_highlevel_socket.py",
    ),
    keyword="",
    floor=51,  # of 53: 2 expected failures
    # -p no:asyncio: pytest-asyncio, installed here, is not trio's.  --run-slow:
    # trio marks its IPV6_V6ONLY test slow for Windows' connect retries; on
    # virtual time it costs nothing.
    args=("-p", "no:asyncio", "--run-slow"),
    pythonpath=("src",),  # trio's tests import trio from its sdist: the same release
    expected_failures=_each(
        Fails(
            pytest.RaisesExc(OSError, match="carries TCP only"),
            UDP + "; the test checks that SocketStream and SocketListener refuse one",
        ),
        _TRIO + "test_highlevel_socket.py::test_SocketStream_basics",
        _TRIO + "test_highlevel_socket.py::test_SocketListener",
    ),
)

SUITES = {"anyio": ANYIO, "trio": TRIO}
