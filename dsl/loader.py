"""Text -> raw tree -> AST, for either form, with every problem as a diagnostic."""
from __future__ import annotations

import re

from .ast import Workflow
from .build import build_workflow
from .diagnostics import Diagnostic, diag
from .raw import Map
from .source import MAX_BYTES, Source
from .span import Span

LANES_SUFFIXES = (".lanes",)
YAML_SUFFIXES = (".yaml", ".yml")
_GRAMMAR_HEAD = re.compile(r"\A(?:\s*(?:#[^\n]*)?\n)*\s*workflow\s+[^\s:]")


def form_of(path: str, text: str) -> str:
    """'lanes' or 'yaml': by the file name, else by a look at the first statement."""
    low = path.lower()
    if low.endswith(LANES_SUFFIXES):
        return "lanes"
    if low.endswith(YAML_SUFFIXES):
        return "yaml"
    return "lanes" if _GRAMMAR_HEAD.match(text) else "yaml"


def parse_source(source: Source) -> tuple[Workflow | None, list[Diagnostic]]:
    workflow, diags, _ = parse_tree(source)
    return workflow, diags


def parse_tree(source: Source) -> tuple[Workflow | None, list[Diagnostic], Map | None]:
    """parse_source, and the raw tree the workflow was built from (None when there is none):
    for a caller that keeps it as long as the workflow, so that it is not freed object by
    object as soon as the workflow is built (15 ms of a check of 10k tasks, for a program
    that ends without freeing anything)."""
    if source.too_big:
        return None, [diag("E100", f"file is larger than {MAX_BYTES // (1024 * 1024)} MB; refused",
                           Span.point(source.path, 1, 1))], None
    if source.bad_utf8_at is not None:
        line, col = source.line_col(source.bad_utf8_at)
        return None, [diag("E100", "file is not valid UTF-8 text", Span.point(source.path, line, col))], None
    if form_of(source.path, source.text) == "lanes":
        from .grammar_front import parse_lanes as parse
    else:
        from .yaml_front import parse_yaml as parse
    raw, diags = parse(source.text, source.path)
    if raw is None:
        return None, list(diags), None
    workflow, more = build_workflow(raw, source.path)
    return workflow, [*diags, *more], raw
