"""Command line: `python -m jaxgrad demo`."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxgrad")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="show gradients at ties: jax.numpy.linalg vs jaxgrad vs exact")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        return run_demo()
    return 2


if __name__ == "__main__":
    sys.exit(main())
