"""The `lanes` command: a thin face over the layers.

Each subcommand lives in its own `lanes/cmd_*.py` module exposing
`register(subparsers)`; the parser sets `func(args) -> int` (the exit status).
Exit status: 0 success, 1 the workflow has errors or the run failed, 2 bad usage
or unreadable input. No Python traceback reaches a user (LANES_DEBUG=1 shows it).
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import lanes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lanes",
        description="Describe parallel work by several agents, prove it safe, draw it, run it.",
    )
    parser.add_argument("--version", action="version", version=f"lanes {lanes.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(lanes.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"lanes.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("lanes: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the last line of defence: never a traceback for a user
        if os.environ.get("LANES_DEBUG"):
            raise
        print(f"lanes: internal error: {type(exc).__name__}: {exc} (set LANES_DEBUG=1 for details)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
