"""Diagnostics for tools: JSON (SPEC section 4), SARIF 2.1.0, GitHub workflow commands.

Every diagnostic is listed, in the order `render.tool_order` gives; with a limit only
the first N are, and the output says so with the true total. JSON is written one
diagnostic per line (each encoded by the C encoder), so 100,000 conflicts stream out
instead of being built as one indented string.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
import json
import os
from typing import IO
from urllib.parse import quote

import lanes
from lanes.dsl.diagnostics import Diagnostic, Related
from lanes.dsl.span import Span

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
RULES = {
    "E000": "the workflow file cannot be read", "E100": "syntax error", "E101": "unknown field",
    "E102": "bad value or type", "E103": "missing or conflicting fields", "E104": "a command bash cannot parse",
    "E200": "duplicate id", "E201": "undefined reference", "E202": "dependency cycle",
    "E203": "no agent has the required skills",
    "E300": "two tasks that may run at the same time write the same resource",
    "E301": "a task writes what a task that may run at the same time reads",
    "E302": "a task's domain is not inside its agent's", "E303": "a pattern escapes the workdir",
    "W400": "an agent without tasks or a domain never used",
    "W401": "write domains overlap, safe only through ordering",
    "W402": "a rollback gate with nothing to undo", "W403": "warning",
}


def _place(span: Span | None) -> dict[str, object]:
    return {"file": span.file if span else None, "line": span.line if span else None,
            "column": span.column if span else None}


def _head(d: Diagnostic) -> dict[str, object]:
    return {"code": d.code, "severity": d.severity, "message": d.message, **_place(d.span)}


def _related_item(r: Related) -> dict[str, object]:
    return {"message": r.message, **_place(r.span)}


def json_item(d: Diagnostic) -> dict[str, object]:
    """A diagnostic in the JSON of section 4 (write_json streams the same, field by field)."""
    return {**_head(d), "related": [_related_item(r) for r in d.related], "witness": d.witness}


def _counts(diagnostics: Sequence[Diagnostic]) -> tuple[int, int]:
    errors = sum(d.is_error for d in diagnostics)
    return errors, len(diagnostics) - errors


def to_json(diagnostics: Sequence[Diagnostic], limit: int | None = None) -> dict[str, object]:
    errors, warnings = _counts(diagnostics)
    listed = list(diagnostics if limit is None else diagnostics[:limit])
    out: dict[str, object] = {"diagnostics": [json_item(d) for d in listed], "errors": errors,
                              "warnings": warnings}
    if len(listed) < len(diagnostics):
        out["truncated"] = {"listed": len(listed), "total": len(diagnostics)}
    return out


def _item_encoder() -> Callable[[object], str]:
    """json.dumps(item, ensure_ascii=False), its C encoder made once (json.dumps makes one
    per call: a third of the cost of writing 66k small diagnostics)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:                                           # no C accelerator here
        return json.JSONEncoder(ensure_ascii=False).encode
    encode = make(None, json.JSONEncoder().default, json.encoder.encode_basestring, None, ": ", ", ",
                  False, False, True)
    return lambda obj: "".join(encode(obj, 0))


PER_WRITE = 2048                   # diagnostics write_json joins into one write


def write_json(diagnostics: Sequence[Diagnostic], stream: IO[str], limit: int | None) -> None:
    """The JSON of section 4, one diagnostic a line, each exactly as json.dumps writes
    `json_item(d)`. Strings are encoded by the encoder's own function and the rest of a
    line is put together from pieces made once: the opening of each (code, severity),
    the place of each span, each related line (the 66,670 conflicts of 6,000
    CODEOWNERS-like rules have 5,500 spans and 5,802 pattern lines among them)."""
    listed = diagnostics if limit is None else diagnostics[:limit]
    encode = _item_encoder()
    string = json.encoder.encode_basestring       # what the encoder does to a str (ensure_ascii=False)
    openings: dict[tuple[str, str], str] = {}     # '{"code": "E300", "severity": "error", "message": '
    places: dict[int, str] = {}                   # ', "file": "w.yaml", "line": 3, "column": 5' by span
    related: dict[int, str] = {}

    def place(span: Span | None) -> str:
        text = places.get(id(span))
        if text is None:
            text = places[id(span)] = ", " + encode(_place(span))[1:-1]
        return text

    stream.write('{"diagnostics": [')
    chunk: list[str] = []                      # PER_WRITE diagnostics at a time: fewer, longer writes
    for k, d in enumerate(listed):
        opening = openings.get((d.code, d.severity))
        if opening is None:
            opening = openings[(d.code, d.severity)] = (
                encode({"code": d.code, "severity": d.severity})[:-1] + ', "message": ')
        lines = []
        for r in d.related:
            line = related.get(id(r))
            if line is None:
                line = related[id(r)] = '{"message": ' + string(r.message) + place(r.span) + "}"
            lines.append(line)
        w = d.witness
        chunk += ("\n  " if k == 0 else ",\n  ", opening, string(d.message), place(d.span), ', "related": [',
                  ", ".join(lines), '], "witness": ', "null" if w is None else string(w), "}")
        if k % PER_WRITE == PER_WRITE - 1:
            stream.write("".join(chunk))
            chunk.clear()
    stream.write("".join(chunk))
    errors, warnings = _counts(diagnostics)
    stream.write(("\n" if listed else "") + f'], "errors": {errors}, "warnings": {warnings}')
    if len(listed) < len(diagnostics):
        stream.write(f', "truncated": {{"listed": {len(listed)}, "total": {len(diagnostics)}}}')
    stream.write("}\n")


def _uri(path: str) -> str:
    if os.path.isabs(path):
        return "file://" + quote(path)
    return quote(path.replace(os.sep, "/"))


def _location(span: Span | None, message: str | None = None) -> dict[str, object]:
    loc: dict[str, object] = {}
    if span is not None:
        region: dict[str, int] = {"startLine": span.line, "startColumn": span.column}
        if (span.end_line, span.end_column) > (span.line, span.column):
            region.update(endLine=span.end_line, endColumn=span.end_column)
        loc["physicalLocation"] = {"artifactLocation": {"uri": _uri(span.file)}, "region": region}
    if message is not None:
        loc["message"] = {"text": message}
    return loc


def to_sarif(diagnostics: Sequence[Diagnostic], limit: int | None = None) -> dict[str, object]:
    listed = diagnostics if limit is None else diagnostics[:limit]
    codes = sorted({d.code for d in listed})
    rule_index = {c: i for i, c in enumerate(codes)}
    results = []
    for d in listed:
        result: dict[str, object] = {
            "ruleId": d.code, "ruleIndex": rule_index[d.code],
            "level": "error" if d.is_error else "warning", "message": {"text": d.message}}
        if d.span is not None:
            result["locations"] = [_location(d.span)]
        if d.related:
            result["relatedLocations"] = [{"id": k, **_location(r.span, r.message)}
                                          for k, r in enumerate(d.related)]
        props: dict[str, object] = {}
        if d.witness is not None:
            props["witness"] = d.witness
        if d.nodes:
            props["nodes"] = list(d.nodes)
        if props:
            result["properties"] = props
        results.append(result)
    errors, warnings = _counts(diagnostics)
    run_props: dict[str, object] = {"errors": errors, "warnings": warnings}
    if len(listed) < len(diagnostics):
        run_props["truncated"] = {"listed": len(listed), "total": len(diagnostics)}
    rules = [{"id": c, "shortDescription": {"text": RULES.get(c, c)},
              "defaultConfiguration": {"level": "error" if c.startswith("E") else "warning"}} for c in codes]
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "lanes", "version": lanes.__version__, "rules": rules}},
        "results": results, "properties": run_props}]}


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(d: Diagnostic) -> str:
    """`::error file=F,line=L,col=C,title=E300::message`, related lines after the message."""
    from lanes.render import bounded, safe
    kind = "error" if d.is_error else "warning"
    props = []
    if d.span is not None:
        props += [f"file={_gh_property(safe(d.span.file))}", f"line={d.span.line}", f"col={d.span.column}"]
        if d.span.end_line == d.span.line and d.span.end_column > d.span.column:
            props.append(f"endColumn={d.span.end_column}")
    props.append(f"title={d.code}")
    from lanes.render import MAX_RELATED
    lines = [d.message, *(r.message + (f" ({r.span})" if r.span else "") for r in d.related[:MAX_RELATED])]
    if len(d.related) > MAX_RELATED:
        lines.append(f"... and {len(d.related) - MAX_RELATED:,} more related locations")
    return f"::{kind} {','.join(props)}::{_gh_data(chr(10).join(safe(bounded(x)) for x in lines))}"


def write_tool_format(fmt: str, diagnostics: Sequence[Diagnostic], stream: IO[str],
                      limit: int | None) -> None:
    if fmt == "json":
        write_json(diagnostics, stream, limit)
    elif fmt == "sarif":
        stream.write(json.dumps(to_sarif(diagnostics, limit), indent=1, ensure_ascii=False) + "\n")
    elif fmt == "github":
        listed = diagnostics if limit is None else diagnostics[:limit]
        for d in listed:
            stream.write(github_line(d) + "\n")
        from lanes.render import totals
        more = f" ({len(listed)} listed)" if len(listed) < len(diagnostics) else ""
        stream.write(f"lanes: {totals(diagnostics)}{more}\n")
    else:
        raise ValueError(f"unknown format {fmt!r}")
