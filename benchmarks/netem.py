"""Reference figures: a bulk transfer at 50 ms RTT and 1 % loss, kernel vs simulation.

The same transfer (``--size`` bytes from a client to a server that reads to
EOF and closes) over a path with 25 ms of delay and 1 % random loss on each
direction -- data and ACKs alike, per packet -- run ``--rounds`` times on
Linux's TCP inside network namespaces this script makes (``sch_netem`` on
``lo`` where the kernel has it, else a user-space relay between two TUN
devices that does netem's job; see ``tests/compare/netem_support.py``) and on
``--seeds`` seeds of the simulation (``Network(delay=0.025, loss=0.01)``,
zero setup otherwise, virtual time).  Prints the median of each figure with
its spread [min-max] and the ratio simulation/kernel, then one
``name: value unit`` line per figure.  The kernel runs use CUBIC (Linux's
default) whatever the host's ``tcp_congestion_control`` says, and report the
namespace's TCP sysctls.

Needs root (``ip netns add``); where the kernel side cannot run it says which
command failed and prints the simulation's figures alone.

    python benchmarks/netem.py [--rounds 8] [--seeds 40] [--size 4000000] [--quick]
"""

from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "compare"))

import netem_support  # tests/compare, put on the path above

DELAY = 0.025  # one way: RTT 50 ms
LOSS = 0.01  # per packet, each direction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8, help="kernel runs")
    parser.add_argument("--seeds", type=int, default=40, help="simulation seeds")
    parser.add_argument("--size", type=int, default=4_000_000, help="bytes per transfer")
    parser.add_argument("--parallel", type=int, default=4, help="kernel runs at a time")
    parser.add_argument("--quick", action="store_true", help="4 runs, 10 seeds, 1 MB")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seeds, args.size = min(args.rounds, 4), 10, 1_000_000
    common = {"size": args.size, "delay": DELAY, "loss": LOSS}
    print(
        f"bulk transfer of {args.size} bytes, RTT {2 * DELAY * 1e3:g} ms, loss {LOSS:.0%} each way"
    )
    try:
        method, kernel, sim = netem_support.compare(
            runs=args.rounds, seeds=args.seeds, parallel=args.parallel, **common
        )
    except netem_support.Unavailable as exc:
        print(f"kernel side skipped: {exc}")
        method, kernel = "", []
        sim = [netem_support.sim_run(seed=seed, **common) for seed in range(args.seeds)]
    if kernel:
        details = kernel[0].details
        print(f"kernel: impairment by {method}; congestion control {details['congestion']};")
        print(f"  namespace defaults: {details['sysctls']}")
        print(netem_support.table(kernel, sim))
    for name, _, unit in netem_support.METRICS:
        sim_median = netem_support.median(sim, name)
        line = f"{name}: {sim_median:.4g} {unit}".rstrip()
        if kernel:
            kernel_median = netem_support.median(kernel, name)
            ratio = f"{sim_median / kernel_median:.2f}" if kernel_median else "-"
            line += f" (kernel {kernel_median:.4g}, ratio {ratio})"
        print(line)


if __name__ == "__main__":
    main()
