"""Diagnostics for people (gcc-style) and for tools (JSON, SPEC section 4).

The only module that knows about terminals, colours and output formats.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
import json
import os
from typing import IO

from lanes.dsl.diagnostics import Diagnostic, Related
from lanes.dsl.span import Span

_COLOURS = {"error": "\033[1;31m", "warning": "\033[1;35m", "bold": "\033[1m", "caret": "\033[1;32m",
            "reset": "\033[0m"}


def is_terminal(stream: IO[str]) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def use_colour(stream: IO[str]) -> bool:
    return is_terminal(stream) and not os.environ.get("NO_COLOR")


def _where(span: Span | None) -> str:
    return f"{span.file}:{span.line}:{span.column}" if span else ""


def _related_line(r: Related) -> str:
    if r.span is None:
        return f"  {r.message}"
    where = _where(r.span)
    if r.message.endswith(")"):                      # "(agent backend)" -> "(agent backend, f:6:14)"
        return f"  {r.message[:-1]}, {where})"
    return f"  {r.message} ({where})"


def _excerpt(span: Span, sources: dict[str, str], paint: Callable[[str, str], str]) -> list[str]:
    text = sources.get(span.file)
    if text is None:
        return []
    lines = text.split("\n")
    if not 1 <= span.line <= len(lines):
        return []
    line = lines[span.line - 1].rstrip("\r").expandtabs(1)
    width = max(1, (span.end_column - span.column) if span.end_line == span.line else len(line) - span.column + 1)
    width = min(width, max(1, len(line) - span.column + 1))
    gutter = f"{span.line:>5} | "
    return [gutter + line, " " * (len(gutter) - 2) + "| " + " " * (span.column - 1)
            + paint("caret", "^" + "~" * (width - 1))]


def format_human(d: Diagnostic, sources: dict[str, str], colour: bool, excerpt: bool) -> str:
    def paint(kind: str, s: str) -> str:
        return f"{_COLOURS[kind]}{s}{_COLOURS['reset']}" if colour else s

    head = f"{_where(d.span)}: " if d.span else "lanes: "
    out = [paint("bold", head) + paint(d.severity, f"{d.severity}[{d.code}]") + f": {d.message}"]
    out += [_related_line(r) for r in d.related]
    if excerpt and d.span is not None:              # the source excerpt where a terminal is attached
        out += _excerpt(d.span, sources, paint)
    return "\n".join(out)


def to_json(diagnostics: Sequence[Diagnostic]) -> dict[str, object]:
    def place(span: Span | None) -> dict[str, object]:
        return {"file": span.file if span else None, "line": span.line if span else None,
                "column": span.column if span else None}

    return {
        "diagnostics": [
            {"code": d.code, "severity": d.severity, "message": d.message, **place(d.span),
             "related": [{"message": r.message, **place(r.span)} for r in d.related],
             "witness": d.witness}
            for d in diagnostics],
        "errors": sum(d.severity == "error" for d in diagnostics),
        "warnings": sum(d.severity == "warning" for d in diagnostics),
    }


def print_diagnostics(diagnostics: Sequence[Diagnostic], sources: dict[str, str], stream: IO[str],
                      fmt: str = "human", summary: bool = False) -> None:
    if fmt == "json":
        stream.write(json.dumps(to_json(diagnostics), indent=2, ensure_ascii=False) + "\n")
        return
    colour, excerpt = use_colour(stream), is_terminal(stream)
    for d in diagnostics:
        stream.write(format_human(d, sources, colour, excerpt) + "\n")
    if summary and diagnostics:
        errors = sum(d.is_error for d in diagnostics)
        warnings = len(diagnostics) - errors
        stream.write(f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}\n")
