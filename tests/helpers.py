"""Shared test helpers: write a snippet to a file and compile it."""
from __future__ import annotations

from pathlib import Path
import subprocess
import sys
import textwrap

import lanes.api as api
from lanes.dsl.raw import Scalar, Seq


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return p


def compile_text(tmp_path: Path, name: str, text: str):
    return api.compile(write(tmp_path, name, text))


def codes(comp) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.column) for d in comp.diagnostics]


def lanes_cli(*args, cwd=None, timeout=60, input=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lanes", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, input=input)


def strip(raw):
    """A raw tree without spans: what two front ends must agree on."""
    if isinstance(raw, Scalar):
        return raw.value
    if isinstance(raw, Seq):
        return [strip(i) for i in raw.items]
    return [(k.value, strip(v)) for k, v in raw.entries]
