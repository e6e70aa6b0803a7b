"""The TCB: one end of one TCP connection, sans-I/O (RFC 9293).

A map of the package, from the bottom up:

* :mod:`.state`: the eleven states and the sets of states each rule applies to;
* engines, each a small class owning its own variables: :mod:`.rtt` (RTT
  estimator and RTO), :mod:`.cc` (the congestion-control interface), :mod:`.reno` and
  :mod:`.cubic` (the algorithms), :mod:`.congestion` (them by name),
  :mod:`.recovery` (loss recovery and PRR), :mod:`.delack` (Linux's
  delayed ACK), :mod:`.sendbuf` (the send buffer), :mod:`.reassembly` (the
  receive queue and out-of-order data), :mod:`.timers` (the connection's
  timers and its next deadline);
* the TCB as a chain of classes, one concern each: :mod:`.tcb` (variables,
  ``set_state``, endings, notifications), :mod:`.output` (the send path),
  :mod:`.ack` (the ACK step and the handshake's end), :mod:`.data` (the text
  and FIN steps), :mod:`.receive` (RFC 9293 3.10.7 segment arrival),
  :mod:`.timeouts` (timer expiry), :mod:`.synchronize` (a state set directly,
  for tests, and the variables read back) and :mod:`.connection` (the user verbs).
"""

from .connection import Connection
from .state import State
from .tcb import ConnectionOwner, ConnectionUser

__all__ = ["Connection", "ConnectionOwner", "ConnectionUser", "State"]
