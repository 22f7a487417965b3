"""Command line: `python -m jaxgrad demo [--plot FILE]` and `python -m jaxgrad bench [--devices N]`."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxgrad")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run each story end to end and print what jaxgrad fixes")
    demo.add_argument("--plot", metavar="FILE.png", help="write optimisation convergence plots")
    demo.add_argument("--jobs", type=int, default=2, help="processes to run the sections in (default 2)")
    bench = sub.add_parser("bench", help="a quick benchmark table against the anchors")
    bench.add_argument(
        "--devices", type=int, metavar="N",
        help="instead: a batched study sharded over 1, 2, 4, ... N devices (host devices on a CPU)",
    )
    args = parser.parse_args(argv)
    if args.command == "demo" and args.jobs < 1:  # (0 and -2 ran serially, silently)
        parser.error(f"--jobs must be >= 1; got {args.jobs}")
    if args.command == "demo" and args.plot:
        # Checked before the minute the demo takes (an unwritable path failed only at the
        # end, with a traceback; outside probe).
        import os

        folder = os.path.dirname(os.path.abspath(args.plot))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            parser.error(f"--plot {args.plot}: cannot write there (no such folder, or not writable)")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error(f"--plot {args.plot}: matplotlib is not installed (pip install matplotlib)")
    if args.command == "bench" and args.devices is not None:
        # The batch of 256 is split evenly, so N is a power of two up to 256 (3 ran two
        # rows, then failed with a traceback; 1,000,000 hung creating host devices).
        from ._scaling import _BATCH

        n = args.devices
        if not (1 <= n <= _BATCH and n & (n - 1) == 0):
            parser.error(f"--devices must be a power of two from 1 to {_BATCH} (the batch of {_BATCH} "
                         f"is split evenly among them); got {n}")
    if args.command == "demo":
        from ._demo import run_demo

        return run_demo(plot=args.plot, jobs=args.jobs)
    if args.devices is not None:
        from ._scaling import run_scaling

        return run_scaling(args.devices)
    from ._bench import run_bench

    return run_bench()


if __name__ == "__main__":
    sys.exit(main())
