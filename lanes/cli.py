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

# The module of each subcommand, so that `lanes COMMAND` imports only its own module (the
# others pull in the run store and sqlite3). A name missing here, or stale, only costs
# time: the parser of every module is built instead.
_MODULE_OF = {
    "add": "cmd_add", "brief": "cmd_brief", "check": "cmd_check", "fmt": "cmd_fmt",
    "graph": "cmd_graph", "init": "cmd_init", "lsp": "cmd_lsp", "plan": "cmd_plan",
    "open": "cmd_pull", "claim": "cmd_pull", "heartbeat": "cmd_pull", "complete": "cmd_pull",
    "report": "cmd_report", "run": "cmd_run", "resume": "cmd_run", "schema": "cmd_schema",
    "status": "cmd_status", "logs": "cmd_status", "approve": "cmd_status", "reject": "cmd_status",
    "work": "cmd_work", "diff": "cmd_workspace", "land": "cmd_workspace", "clean": "cmd_workspace",
}

# Commands that only compile and write: they start no thread, process or pool that
# needs atexit, so a process that ran one may end without freeing its objects.
_COMPILE_ONLY = frozenset({"brief", "check", "fmt", "graph", "plan", "report", "schema"})
# So may a run with the local executor once it returns: its commands are reaped, its
# threads joined, every transition committed (an exit without closing the state
# database is what SQLite's WAL is made to survive). A Dask run leaves that to atexit.
_RUNS = frozenset({"run", "resume"})


def _parser(modules: list[str]) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction[argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog="lanes",
        description="Describe parallel work by several agents, prove it safe, draw it, run it.",
    )
    parser.add_argument("--version", action="version", version=f"lanes {lanes.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in modules:
        importlib.import_module(f"lanes.{name}").register(sub)
    return parser, sub


def build_parser() -> argparse.ArgumentParser:
    modules = sorted(info.name for info in pkgutil.iter_modules(lanes.__path__) if info.name.startswith("cmd_"))
    return _parser(modules)[0]


def _parser_for(argv: list[str]) -> argparse.ArgumentParser:
    """The parser of the subcommand `argv` names first, else that of every subcommand."""
    module = _MODULE_OF.get(argv[0]) if argv else None
    if module is not None:
        parser, sub = _parser([module])
        if argv[0] in sub.choices:
            return parser
    return build_parser()


def main(argv: list[str] | None = None) -> int:
    args, status = _main(argv)
    if argv is None and (args.command in _COMPILE_ONLY or
                         (args.command in _RUNS and getattr(args, "executor", None) == "local")):
        _end_now(status)
    return status


def _end_now(status: int) -> None:
    """End the process without freeing every object a compile made (a tenth of a big check).

    Only the `lanes` program does this (tests call `main(argv)` in-process); stdout and
    stderr are flushed first; when that fails (a closed pipe), the usual exit runs instead.
    """
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except BaseException:
        return
    os._exit(status)


def _main(argv: list[str] | None) -> tuple[argparse.Namespace, int]:
    """The parsed arguments, and the exit status of the subcommand they name."""
    args = _parser_for(sys.argv[1:] if argv is None else argv).parse_args(argv)
    return args, _status(args)


def _status(args: argparse.Namespace) -> int:
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
