"""`lanes lsp`: the language server, over stdio (docs/editors.md sets up editors).

It needs pygls (`pip install pygls`); without it, a message and exit 2.
"""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("lsp", help="the language server for editors (stdio): diagnostics, completion, "
                                   "definitions, hover")
    p.add_argument("--stdio", action="store_true", help="speak over stdin and stdout (the default and only way)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from lanes.lsp import serve
    except ImportError as exc:
        print(f"lanes lsp: the language server needs pygls ({exc}); install it with "
              "`pip install pygls`", file=sys.stderr)
        return 2
    return serve()
