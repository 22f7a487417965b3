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
