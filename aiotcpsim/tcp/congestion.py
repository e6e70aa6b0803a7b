"""The congestion-control algorithms by name (Linux ``tcp_cong.c``'s list of modules).

This module owns the rule that an algorithm is chosen by name, from
``TcpConfig.congestion_control`` or per socket with ``TCP_CONGESTION``:
``"cubic"`` (:mod:`.cubic`, Linux's default), ``"reno"`` and ``"newreno"``
(both :mod:`.reno`'s window growth).  A switch on a live connection keeps the
window and ssthresh, as Linux's ``tcp_reinit_congestion_control`` does.
"""

from __future__ import annotations

from .cc import CongestionOps
from .cubic import Cubic
from .reno import NewReno, Reno

__all__ = ["new_congestion_control", "switch_congestion_control"]


def new_congestion_control(name: str) -> CongestionOps:
    """A fresh instance of the algorithm called ``name``.

    Raises:
        ValueError: not one of :data:`aiotcpsim.config.CONGESTION_CONTROLS`.
    """
    if name == "cubic":
        return Cubic()
    if name == "newreno":
        return NewReno()
    if name == "reno":
        return Reno()
    raise ValueError(f"unknown congestion control {name!r}")


def switch_congestion_control(
    old: CongestionOps, name: str, now: float, snd_nxt: int
) -> CongestionOps:
    """The algorithm ``name`` taking over from ``old`` (window, ssthresh kept)."""
    new = new_congestion_control(name)
    new.cwnd = old.cwnd
    new.ssthresh = old.ssthresh
    new.cwnd_cnt = old.cwnd_cnt
    if new.cwnd:
        new.init(now, snd_nxt)
    return new
