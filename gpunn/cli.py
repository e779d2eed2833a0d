"""``gpunn`` command line: train | bench | info."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from .commands import bench, info, train

    parser = argparse.ArgumentParser(prog="gpunn", description="Train MLPs fast on GPUs (and CPUs).")
    sub = parser.add_subparsers(dest="command", metavar="{train,bench,info}")
    sub.required = True
    for module in (train, bench, info):
        module.add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError, MemoryError) as exc:
        # A clear one-line error for bad options or data; tracebacks are for bugs.
        print(f"gpunn {args.command}: error: {exc}", file=sys.stderr)
        from . import distributed

        comm = distributed.current()
        if comm.size > 1:  # the other ranks would wait for this one in their next collective
            comm.abort(2)
        return 2


if __name__ == "__main__":
    sys.exit(main())
