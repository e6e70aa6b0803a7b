"""What the SYNs negotiate, and the sizes that follow from it (RFC 7323, RFC 2018).

This module owns the rules of the handshake's options, as Linux applies them:

* our SYN offers what the config enables (Linux ``tcp_syn_options``): MSS,
  SACK-permitted (``tcp_sack``), timestamps with TSecr 0 (``tcp_timestamps``)
  and our window scale (``tcp_window_scaling``);
* a SYN-ACK carries only what the peer's SYN offered and we allow
  (``tcp_synack_options``); an option is in effect only when both SYNs
  carried it (RFC 7323 sections 1.3 and 2.2, RFC 2018 section 2);
* our window scale is Linux's ``tcp_select_initial_window``: the binary
  logarithm of the largest buffer the connection could grow to, less 15,
  within 0..14;
* the window of a SYN or SYN-ACK is never scaled: the free buffer, at most
  64 KiB, quantized to a multiple of the MSS, at most 65,535 (Linux offers
  64240 = 44 * 1460 in a SYN, 65160 = 45 * 1448 in a SYN-ACK with timestamps);
* the effective MSS (``tcp_current_mss``): the smaller of the two MSS values
  less the 12 bytes of the timestamps option on every segment, and less the
  SACK blocks an ACK carries.
"""

from __future__ import annotations

from typing import Final

from ..segment import TcpOptions

__all__ = [
    "MAX_WSCALE",
    "RMEM_MAX",
    "TS_OPTION_LEN",
    "initial_wscale",
    "sack_option_len",
    "syn_window",
]

MAX_WSCALE: Final = 14
"""The largest window scale (RFC 7323 section 2.3, Linux ``TCP_MAX_WSCALE``)."""

TS_OPTION_LEN: Final = 12
"""Bytes of the timestamps option as Linux writes it (NOP, NOP, kind 8)."""

RMEM_MAX: Final = 212992
"""``net.core.rmem_max``'s default: ``tcp_select_initial_window`` scales for
the larger of it and ``tcp_rmem``'s maximum."""

_SYN_SPACE: Final = 65536
"""The most buffer a SYN offers: Linux's ``tcp_full_space`` of the initial
``tcp_rmem`` (131072 bytes, half of it for data)."""

_SYN_OPTIONS: dict[tuple[int, bool, bool, int | None], TcpOptions] = {}


def initial_wscale(rcvbuf: int, rmem_max: int) -> int:
    """Our window scale (Linux ``tcp_select_initial_window``): enough for the
    largest buffer autotuning may reach, ``max(rcvbuf, rmem_max, RMEM_MAX)``
    (the config's ``loopback_rcvbuf`` stands for ``tcp_rmem[2]``): 7 for
    Linux's 6 MiB."""
    space = max(rcvbuf, rmem_max, RMEM_MAX)
    return min(max(space.bit_length() - 1 - 15, 0), MAX_WSCALE)


def syn_window(free: int, mss: int) -> int:
    """The window of a SYN or SYN-ACK: ``free`` bytes of buffer, at most 64 KiB,
    rounded down to a multiple of ``mss`` when larger, at most 65,535."""
    space = min(max(free, 0), _SYN_SPACE)
    if space > mss:
        space -= space % mss
    return min(space, 0xFFFF)


def sack_option_len(blocks: int) -> int:
    """Bytes SACK blocks take in a segment (NOP, NOP, kind, length, 8 a block)."""
    return 4 + 8 * blocks if blocks else 0


def syn_options(
    mss: int, sack: bool, timestamps: tuple[int, int] | None, wscale: int | None
) -> TcpOptions:
    """The options of a SYN or SYN-ACK; shared values where they repeat."""
    if timestamps is not None:
        return TcpOptions(mss, wscale, sack, timestamps)
    key = (mss, sack, False, wscale)
    options = _SYN_OPTIONS.get(key)
    if options is None:
        options = _SYN_OPTIONS[key] = TcpOptions(mss, wscale, sack)
    return options
