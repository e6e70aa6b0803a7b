"""``SimTransport``: an ``asyncio.Transport`` over a simulated TCP connection.

Rule owned here: what a protocol sees of a simulated connection -- when
``data_received``/``eof_received``/``connection_lost`` run, what the write
buffer holds, when ``pause_writing`` is called -- is decided in this class,
the way ``_SelectorSocketTransport`` decides it for a kernel socket.

It mirrors ``asyncio.selector_events._SelectorSocketTransport`` call for call,
with the selector replaced by the connection's callbacks:

* "reader registered" is ``_reading``; ``tcp_readable`` then schedules the read
  handler with ``loop.call_soon``, and the handler reschedules itself while the
  connection stays readable -- one ``recv`` per loop iteration, as a
  level-triggered selector gives.  A paused transport does not call
  ``conn.recv``, so the simulated receive buffer fills and the advertised
  window closes.
* "writer registered" is ``_writing``; ``tcp_writable`` schedules the write handler.
* The read and write handlers run in the context captured when the reader or
  writer is "registered", as asyncio's do (their Handle copies it then).
* The write buffer holds only the bytes the simulated send buffer has not taken
  (``conn.send`` returned fewer), so ``drain()`` blocks exactly when a kernel
  socket's would: when the peer's window and our send buffer are full.
* ``close()`` and ``abort()`` end in the connection's ``close()``, which is what
  ``sock.close()`` does at the kernel: FIN after queued data, or RST when unread
  received data is discarded (RFC 9293 section 3.10.4).

Errors are the connection's own ``OSError`` subclasses (``ConnectionResetError``,
``BrokenPipeError``, ``TimeoutError``...), delivered through
``connection_lost(exc)`` as asyncio does.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import warnings
from asyncio import constants, format_helpers, transports
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from .._readiness import recv_answers
from ._socket import SimSocket

if TYPE_CHECKING:
    from ..net import Network
    from ..tcp import Connection

__all__ = ["ClientTracker", "SimTransport"]

logger = logging.getLogger("asyncio")

_LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5


def _report_callback_error(
    loop: asyncio.AbstractEventLoop,
    callback: Callable[..., object],
    args: tuple[Any, ...],
    exc: BaseException,
) -> None:
    """Report ``exc`` from ``callback(*args)`` as ``asyncio.Handle._run`` does
    when the callback was scheduled on its own."""
    source = format_helpers._format_callback_source(callback, args)
    loop.call_exception_handler(
        {
            "message": f"Exception in callback {source}",
            "exception": exc,
            "handle": asyncio.Handle(callback, args, loop),
        }
    )


class ClientTracker(Protocol):
    """What a transport tells the server that accepted its connection
    (``SimServer``; asyncio's ``Server`` has the same two calls, private)."""

    def attach_client(self, transport: SimTransport) -> None: ...
    def detach_client(self, transport: SimTransport) -> None: ...


def _set_result_unless_cancelled(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.set_result(None)


class SimTransport(transports._FlowControlMixin):
    """A TCP transport whose socket is a simulated connection.

    Flow control (``pause_writing``/``resume_writing``, the write buffer
    limits) is asyncio's own mixin, as for the selector transports: the write
    buffer holds what the simulated send buffer has not taken."""

    _extra: dict[str, Any]
    _loop: asyncio.AbstractEventLoop  # set by the mixin
    _protocol_paused: bool
    _protocol: Any  # set by set_protocol(); None once the connection is lost

    if TYPE_CHECKING:  # the mixin's, not declared in typeshed

        def _maybe_pause_protocol(self) -> None: ...
        def _maybe_resume_protocol(self) -> None: ...

    max_size = 256 * 1024  # what one read hands to data_received, as asyncio's
    _start_tls_compatible = True
    _sendfile_compatible = constants._SendfileMode.FALLBACK

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        network: Network,
        sock: SimSocket,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[None] | None = None,
        extra: dict[str, Any] | None = None,
        server: ClientTracker | None = None,
    ) -> None:
        super().__init__(extra, loop)
        assert sock.conn is not None, "a transport needs a connected SimSocket"
        own = getattr(loop, "own", None)
        if own is not None:
            own(self)  # closed with the loop, as a process exit closes its sockets
        self._network = network
        self._sock: SimSocket | None = sock
        self._conn: Connection = sock.conn
        # Asked for the network's present before each send and read.
        self._clock = sock.clock
        # As asyncio's selector transports do (base_events._set_nodelay).
        sock.set_nodelay()  # sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
        info = self._extra
        info["socket"] = sock
        info["sockname"] = sock.getsockname()
        if "peername" not in info:
            try:
                info["peername"] = sock.getpeername()
            except OSError:
                info["peername"] = None
        self.set_protocol(protocol)
        self._server = server
        self._buffer = bytearray()
        self._conn_lost = 0
        self._closing = False
        self._paused = False
        self._eof = False
        self._empty_waiter: asyncio.Future[None] | None = None
        self._reading = False  # the reader is "registered"
        self._writing = False  # the writer is "registered"
        self._read_scheduled = False
        self._write_scheduled = False
        # Set where asyncio's loop would make the reader's / writer's Handle.
        self._read_context: contextvars.Context | None = None
        self._write_context: contextvars.Context | None = None
        if server is not None:
            server.attach_client(self)
        sock.set_handler(self)
        if loop.get_debug():
            # As asyncio's: each step its own callback, timed and traced as such.
            loop.call_soon(protocol.connection_made, self)
            # only start reading when connection_made() has been called
            loop.call_soon(self._add_reader)
            if waiter is not None:
                # only wake up the waiter when connection_made() has been called
                loop.call_soon(_set_result_unless_cancelled, waiter)
        else:
            loop.call_soon(self._connection_made, protocol, waiter)

    def _connection_made(
        self, protocol: asyncio.BaseProtocol, waiter: asyncio.Future[None] | None
    ) -> None:
        """asyncio's three callbacks after a transport is made, as one:
        ``connection_made``, then start reading, then wake the waiter.

        asyncio schedules them back to back, so nothing runs between them
        either way; one callback saves two trips through the ready queue.
        Each step runs even if the one before raised, and an error is
        reported as its own callback's would be (see _report_callback_error).
        """
        loop = self._loop
        try:
            protocol.connection_made(self)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            _report_callback_error(loop, protocol.connection_made, (self,), exc)
        try:
            self._add_reader()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            _report_callback_error(loop, self._add_reader, (), exc)
        if waiter is not None:
            try:
                _set_result_unless_cancelled(waiter)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                _report_callback_error(loop, _set_result_unless_cancelled, (waiter,), exc)

    def __repr__(self) -> str:
        info = [self.__class__.__name__]
        if self._sock is None:
            info.append("closed")
        elif self._closing:
            info.append("closing")
        info.append(f"{self._conn.local[0]}:{self._conn.local[1]}")
        info.append(f"-> {self._conn.remote[0]}:{self._conn.remote[1]}")
        info.append(str(self._conn.state))
        info.append("read=polling" if self._reading else "read=idle")
        state = "polling" if self._writing else "idle"
        info.append(f"write=<{state}, bufsize={len(self._buffer)}>")
        return "<{}>".format(" ".join(info))

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if getattr(self, "_sock", None) is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            assert self._sock is not None
            self._sock.close()

    # -- extra info ----------------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """asyncio's keys (``socket``, ``sockname``, ``peername``), plus
        ``tcp_state`` (the connection's current :class:`~aiotcpsim.State`) and
        ``tcp_connection`` (the :class:`~aiotcpsim.Connection` itself)."""
        if name == "tcp_state":
            return self._conn.state
        if name == "tcp_connection":
            return self._conn
        return super().get_extra_info(name, default)

    # -- protocol ----------------------------------------------------------------

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._buffered = isinstance(protocol, asyncio.BufferedProtocol)
        self._protocol = protocol
        self._protocol_connected = True

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol  # type: ignore[no-any-return]

    def is_closing(self) -> bool:
        return self._closing

    def is_reading(self) -> bool:
        return not self.is_closing() and not self._paused

    # -- reading ---------------------------------------------------------------------

    def pause_reading(self) -> None:
        if not self.is_reading():
            return
        self._paused = True
        self._remove_reader()

    def resume_reading(self) -> None:
        if self._closing or not self._paused:
            return
        self._paused = False
        self._add_reader()

    def _add_reader(self) -> None:
        if not self.is_reading() or self._conn_lost:
            return
        self._reading = True
        # The reader's callbacks run in a copy of the context of this call,
        # as those of the Handle asyncio's loop makes in _add_reader (not in
        # whatever context the network delivered the data from).
        self._read_context = contextvars.copy_context()
        # Level-triggered: data may already be waiting (else tcp_readable()
        # schedules the read when it comes).
        if recv_answers(self._conn):
            self._schedule_read()

    def _remove_reader(self) -> None:
        self._reading = False

    def _schedule_read(self) -> None:
        if not self._read_scheduled:
            self._read_scheduled = True
            self._loop.call_soon(self._read_ready, context=self._read_context)

    # ConnectionUser (through the SimSocket); called from inside network.advance()
    def tcp_connected(self, conn: Connection) -> None:
        pass

    def tcp_readable(self, conn: Connection) -> None:
        if self._reading:
            self._schedule_read()

    def tcp_writable(self, conn: Connection) -> None:
        if self._writing and not self._write_scheduled:
            self._write_scheduled = True
            self._loop.call_soon(self._write_ready, context=self._write_context)

    def tcp_closed(self, conn: Connection) -> None:
        # A kernel socket reports a reset or a timeout through readability and
        # writability, which the connection signals already.
        pass

    def _read_ready(self) -> None:
        self._read_scheduled = False
        if not self._reading or self._conn_lost:
            return
        if self._buffered:
            more = self._read_ready__get_buffer()
        else:
            more = self._read_ready__data_received()
        if self._sock is not None:
            self._sock.refresh()  # the readiness behind its fileno()
        # Level-triggered, as epoll: read again next iteration only while the
        # socket is still readable (more than max_size was waiting, or EOF or
        # an error follows the data).  Otherwise tcp_readable() reschedules
        # when something new arrives; an extra read would find nothing.
        if more and self._reading and recv_answers(self._conn):
            self._schedule_read()

    def _read_ready__get_buffer(self) -> bool:
        try:
            buf = self._protocol.get_buffer(-1)
            if not len(buf):
                raise RuntimeError("get_buffer() returned an empty buffer")
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
            return False
        try:
            data = self._conn.recv(len(buf), self._clock.present())
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return False
        if data is None:
            return False
        if not data:
            self._read_ready__on_eof()
            return False
        nbytes = len(data)
        memoryview(buf).cast("B")[:nbytes] = data
        try:
            self._protocol.buffer_updated(nbytes)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")
            return False
        return True

    def _read_ready__data_received(self) -> bool:
        try:
            data = self._conn.recv(self.max_size, self._clock.present())
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return False
        if data is None:
            return False
        if not data:
            self._read_ready__on_eof()
            return False
        try:
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")
            return False
        return True

    def _read_ready__on_eof(self) -> None:
        if self._loop.get_debug():
            logger.debug("%r received EOF", self)
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if keep_open:
            # We're keeping the connection open so the protocol can write more,
            # but we still can't receive more, so remove the reader callback.
            self._remove_reader()
        else:
            self.close()

    # -- writing ---------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(data).__name__!r}"
            )
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._empty_waiter is not None:
            raise RuntimeError("unable to write; sendfile is in progress")
        if not data:
            return
        if self._conn_lost:
            if self._conn_lost >= _LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer:
            # Optimization (as asyncio's): try to send now.
            chunk = data if isinstance(data, bytes) else bytes(data)
            try:
                n = self._conn.send(chunk, self._clock.present())
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on socket transport")
                return
            chunk = chunk[n:]
            if not chunk:
                return
            # Not all was taken; wait for the connection to become writable.
            self._writing = True
            # As asyncio's _add_writer Handle: the write-ready callbacks run in
            # a copy of this call's context.
            self._write_context = contextvars.copy_context()
            self._buffer.extend(chunk)
        else:
            self._buffer.extend(data)
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        if self._eof:
            # The stock transport's wording: 3.11 checks in write().
            name = "writelines" if sys.version_info >= (3, 12) else "write"
            raise RuntimeError(f"Cannot call {name}() after write_eof()")
        if self._empty_waiter is not None:
            raise RuntimeError("unable to writelines; sendfile is in progress")
        self.write(b"".join(list_of_data))

    def _write_ready(self) -> None:
        self._write_scheduled = False
        if not self._writing or self._conn_lost or not self._buffer:
            return
        try:
            # The connection copies what it takes; offering it all tells it we
            # want to write more, so it reports tcp_writable when room frees.
            with memoryview(self._buffer) as view:
                n = self._conn.send(view, self._clock.present())
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._writing = False
            self._buffer.clear()
            self._fatal_error(exc, "Fatal write error on socket transport")
            if self._empty_waiter is not None:
                self._empty_waiter.set_exception(exc)
            return
        if n:
            del self._buffer[:n]
        self._maybe_resume_protocol()  # May append to buffer.
        if not self._buffer:
            self._writing = False
            if self._empty_waiter is not None:
                self._empty_waiter.set_result(None)
            if self._closing:
                self._call_connection_lost(None)
            elif self._eof:
                self._conn.shutdown(self._clock.present())

    def write_eof(self) -> None:
        if self._closing or self._eof:
            return
        self._eof = True
        if not self._buffer:
            self._conn.shutdown(self._clock.present())

    def can_write_eof(self) -> bool:
        return True

    # -- flow control: transports._FlowControlMixin ----------------------------------------

    def get_write_buffer_size(self) -> int:
        """Bytes the simulated send buffer has not taken yet."""
        return len(self._buffer)

    # -- closing -------------------------------------------------------------------------

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._remove_reader()
        if not self._buffer:
            self._conn_lost += 1
            self._writing = False
            self._loop.call_soon(self._call_connection_lost, None)

    def abort(self) -> None:
        """Drop the write buffer and close the socket: what ``close(2)`` does, so a
        RST only when unread received data is discarded (else FIN)."""
        self._force_close(None)

    def _fatal_error(self, exc: BaseException, message: str = "Fatal error on transport") -> None:
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler(
                {
                    "message": message,
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        # Called by asyncio.sslproto.SSLProtocol as well.
        if self._conn_lost:
            return
        if self._buffer:
            self._buffer.clear()
            self._writing = False
        if not self._closing:
            self._closing = True
            self._remove_reader()
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            self._protocol = None
            server = self._server
            if server is not None:
                server.detach_client(self)
                self._server = None
            if self._empty_waiter is not None and not self._empty_waiter.done():
                self._empty_waiter.set_exception(ConnectionError("Connection is closed by peer"))

    # -- loop.sendfile() fallback support ---------------------------------------------------

    def _make_empty_waiter(self) -> asyncio.Future[None]:
        if self._empty_waiter is not None:
            raise RuntimeError("Empty waiter is already set")
        self._empty_waiter = self._loop.create_future()
        if not self._buffer:
            self._empty_waiter.set_result(None)
        return self._empty_waiter

    def _reset_empty_waiter(self) -> None:
        self._empty_waiter = None
