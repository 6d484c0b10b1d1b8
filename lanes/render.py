"""Diagnostics for people (gcc-style, conflicts grouped) and for tools (JSON, SARIF,
GitHub workflow commands; `render_tools`), SPEC section 4.

The only modules that know about terminals, colours and output formats. Whatever a
workflow holds reaches a terminal only through `safe` (control characters escaped).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
import os
import re
from typing import IO

from lanes.dsl.diagnostics import Diagnostic, Related
from lanes.dsl.span import Span

_COLOURS = {"error": "\033[1;31m", "warning": "\033[1;35m", "bold": "\033[1m", "caret": "\033[1;32m",
            "note": "\033[1;36m", "reset": "\033[0m"}
EXAMPLES = 3                  # example pairs of tasks shown in a grouped block
PATTERN_LINES = 6             # pattern lines shown in a grouped block
# C0 and C1 controls, DEL, and the bidirectional overrides and isolates (trojan source)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_PATTERN_IN = re.compile(r" (writes|reads) \"(.*)\"(?: \(agent [^)]*\))?\Z", re.DOTALL)


def safe(text: str) -> str:
    """Text with every control character shown as an escape (`\\x1b`, `\\n`, `\\u202e`)."""
    def escape(m: re.Match[str]) -> str:
        c = m.group()
        special = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
        return special.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
    return _CONTROL.sub(escape, text)


MAX_SHOWN = 1200              # characters of one message shown to a person; JSON and SARIF keep all


def bounded(text: str, limit: int = MAX_SHOWN) -> str:
    """A bounded excerpt of a long message (a cycle of 20,000 tasks, a long list): its
    head and its tail, and how much was left out between."""
    if len(text) <= limit:
        return text
    head, tail = text[:limit * 3 // 4], text[-limit // 6:]
    return f"{head} ... ({len(text) - len(head) - len(tail):,} characters left out) ... {tail}"


def for_terminal(text: str) -> str:
    """A document (a brief, a plan) shown on a terminal: lines and tabs kept, every
    other control character escaped."""
    return "\n".join(safe(line).replace("\\t", "\t") for line in text.split("\n"))


def is_terminal(stream: IO[str]) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false")


def use_colour(stream: IO[str], choice: str = "auto") -> bool:
    """--color always|never wins; then NO_COLOR, then FORCE_COLOR, then: is it a terminal?"""
    if choice != "auto":
        return choice == "always"
    if _env_flag("NO_COLOR"):
        return False
    return _env_flag("FORCE_COLOR") or is_terminal(stream)


def _where(span: Span | None) -> str:
    return f"{span.file}:{span.line}:{span.column}" if span else ""


def _related_line(r: Related) -> str:
    message = bounded(r.message)
    if r.span is None:
        return f"  {safe(message)}"
    where = safe(_where(r.span))
    if message.endswith(")"):                        # "(agent backend)" -> "(agent backend, f:6:14)"
        return f"  {safe(message[:-1])}, {where})"
    return f"  {safe(message)} ({where})"


_LINES: dict[int, tuple[str, list[str]]] = {}


def _lines(text: str) -> list[str]:
    """The lines of a source, split once however many diagnostics point into it."""
    hit = _LINES.get(id(text))
    if hit is None or hit[0] is not text:
        hit = _LINES[id(text)] = (text, text.split("\n"))
    return hit[1]


MAX_RELATED = 12              # related lines shown to a person


def related_lines(d: Diagnostic) -> list[str]:
    shown = [_related_line(r) for r in d.related[:MAX_RELATED]]
    if len(d.related) > MAX_RELATED:
        shown.append(f"  ... and {len(d.related) - MAX_RELATED:,} more related locations "
                     "(--format json lists every one)")
    return shown


def _excerpt(span: Span, sources: Mapping[str, str], paint: Callable[[str, str], str]) -> list[str]:
    text = sources.get(span.file)
    if text is None:
        return []
    lines = _lines(text)
    if not 1 <= span.line <= len(lines):
        return []
    raw = lines[span.line - 1].rstrip("\r").expandtabs(1)
    start = min(span.column - 1, len(raw))
    end = span.end_column - 1 if span.end_line == span.line else len(raw)
    end = min(max(end, start + 1), max(len(raw), start + 1))
    before, marked = safe(raw[:start]), safe(raw[start:end]) or " "
    gutter = f"{span.line:>5} | "
    return [gutter + safe(raw), " " * (len(gutter) - 2) + "| " + " " * len(before)
            + paint("caret", "^" + "~" * (len(marked) - 1))]


def _painter(colour: bool) -> Callable[[str, str], str]:
    def paint(kind: str, s: str) -> str:
        return f"{_COLOURS[kind]}{s}{_COLOURS['reset']}" if colour else s
    return paint


def _head(d: Diagnostic, paint: Callable[[str, str], str], message: str) -> str:
    head = f"{safe(_where(d.span))}: " if d.span else "lanes: "
    return paint("bold", head) + paint(d.severity, f"{d.severity}[{d.code}]") + f": {safe(bounded(message))}"


def format_human(d: Diagnostic, sources: Mapping[str, str], colour: bool, excerpt: bool = True) -> str:
    paint = _painter(colour)
    out = [_head(d, paint, d.message), *related_lines(d)]
    if excerpt and d.span is not None:
        out += _excerpt(d.span, sources, paint)
    return "\n".join(out)


# -- groups: conflicts between the same two agents are one block ------------------------------

AgentOf = Mapping[tuple[str, str], str | None]          # (file, task id) -> agent id


def _side(d: Diagnostic, k: int) -> tuple[str, str] | None:
    """(verb, pattern) of the k-th related line of a conflict ("'api' writes \"src/**\"")."""
    if len(d.related) <= k:
        return None
    m = _PATTERN_IN.search(d.related[k].message)
    return (m.group(1), m.group(2)) if m else None


def group_key(d: Diagnostic, agent_of: AgentOf) -> tuple[str, ...]:
    """Conflicts group by code and pair of agents (writer first for E301, else sorted);
    every other diagnostic by its code, so that no kind crowds out the others."""
    if d.code in ("E300", "E301") and len(d.nodes) == 2:
        file = d.span.file if d.span else ""
        n, m = d.nodes
        a, b = agent_of.get((file, n)) or f"task {n}", agent_of.get((file, m)) or f"task {m}"
        if d.code == "E300" and b < a:            # sorted, without a list for two
            a, b = b, a
        return (d.code, a, b, file)
    return (d.code,)


def _pattern_keys(d: Diagnostic, seen: dict[int, object]) -> list[object]:
    """The two patterns of a conflict, each where it was written (spans are shared); `seen`
    keeps the key of each related line already read (lines are shared too)."""
    keys: list[object] = []
    if d.code in ("E300", "E301"):
        for k in (0, 1):
            if len(d.related) <= k:
                continue
            line = d.related[k]
            key = seen.get(id(line), seen)
            if key is seen:
                side = _side(d, k)
                key = seen[id(line)] = None if side is None else (side, id(line.span))
            if key is not None:
                keys.append(key)
    return keys


def tool_order(diagnostics: Sequence[Diagnostic], agent_of: AgentOf) -> list[Diagnostic]:
    """The order of the machine formats, so that the first N of a truncated list show
    every kind of problem before a second of any. A conflict is charged to its broader
    pattern (the one in more conflicts); its rank is how many before it (in position
    order) share its group, or were charged to the same pattern; the list goes by rank,
    then position. So a broad pattern met by thousands shows one pair per round and
    cannot crowd out the rest, and --max N lists a prefix of the full list."""
    seen: dict[int, object] = {}
    keys = [_pattern_keys(d, seen) for d in diagnostics]
    total = Counter(k for ks in keys for k in ks)
    in_group: dict[object, int] = {}
    charged: dict[object, int] = {}
    rounds: list[list[Diagnostic]] = []     # by rank, each in position order: no sort needed
    for d, ks in zip(diagnostics, keys, strict=True):
        group = group_key(d, agent_of)
        rank = in_group.get(group, 0)
        in_group[group] = rank + 1
        if ks:
            broad = max(ks, key=total.__getitem__)
            rank = max(rank, charged.get(broad, 0))
            charged[broad] = charged.get(broad, 0) + 1
        while len(rounds) <= rank:
            rounds.append([])
        rounds[rank].append(d)
    return [d for r in rounds for d in r]


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' * (n != 1)}"


def _fix(d: Diagnostic) -> str:
    """The needs edge that would order the pair, or the pattern to narrow."""
    a, b = d.nodes[:2]
    side = _side(d, 1)
    narrow = ""
    if side is not None:
        verb = "matches" if side[0] == "writes" else "reads"
        narrow = f", or narrow \"{side[1]}\" so that it no longer {verb} '{d.witness}'"
    return f"fix: order them (give '{b}' `needs: [{a}]`){narrow}"


def _example(d: Diagnostic) -> str:
    a, b = d.nodes[:2]
    if d.code == "E300":
        return f"e.g. '{a}' and '{b}' both write '{d.witness}'"
    return f"e.g. '{a}' writes '{d.witness}', which '{b}' reads"


def _group_block(key: tuple[str, ...], members: list[Diagnostic], sources: Mapping[str, str],
                 colour: bool, agent_of: AgentOf) -> str:
    paint = _painter(colour)
    first = members[0]
    if len(members) == 1:                  # the pair's own block, and how to fix it
        out = format_human(first, sources, colour).split("\n")
        out.insert(1 + len(related_lines(first)), "  " + paint("note", "fix:") + safe(_fix(first))[4:])
        return "\n".join(out)
    code, a, b, _ = key
    if code == "E300":
        message = (f"agents '{a}' and '{b}': {_plural(len(members), 'pair')} of tasks may run at the "
                   "same time and both write the same resources")
    else:
        message = (f"agents '{a}' and '{b}': {_plural(len(members), 'pair')} of tasks may run at the "
                   f"same time, and the task of '{a}' writes what the task of '{b}' reads")
    out = [_head(first, paint, message)]
    lines: dict[str, None] = {}
    for d in members:
        for k in (0, 1):
            side = _side(d, k)
            if side is None:
                continue
            owner = agent_of.get((d.span.file if d.span else "", d.nodes[k]))
            who = f"agent '{owner}'" if owner else f"task '{d.nodes[k]}'"
            span = d.related[k].span
            lines.setdefault(f"  {safe(who)} {side[0]} \"{safe(side[1])}\""
                             + (f" ({safe(_where(span))})" if span else ""))
    shown = list(lines)[:PATTERN_LINES]
    out += shown
    if len(lines) > len(shown):
        out.append(f"  ... and {_plural(len(lines) - len(shown), 'more pattern')}")
    out += ["  " + safe(_example(d)) for d in members[:EXAMPLES]]
    if len(members) > EXAMPLES:
        out.append(f"  ... and {_plural(len(members) - EXAMPLES, 'more pair')} (--format json lists "
                   "every one)")
    out.append("  " + paint("note", "fix:") + safe(_fix(first))[4:] + "; for every pair at once, "
               "make the tasks of one agent wait for the other's (a gate between them)")
    if first.span is not None:
        out += _excerpt(first.span, sources, paint)
    return "\n".join(out)


def human_blocks(diagnostics: Sequence[Diagnostic], agent_of: AgentOf) -> list[tuple[tuple[str, ...],
                                                                                        list[Diagnostic]]]:
    """Blocks in the order of their first diagnostic: one per conflict group, one per other
    diagnostic."""
    blocks: list[tuple[tuple[str, ...], list[Diagnostic]]] = []
    index: dict[tuple[str, ...], int] = {}
    for d in diagnostics:
        key = group_key(d, agent_of)
        if len(key) > 1:
            if key in index:
                blocks[index[key]][1].append(d)
                continue
            index[key] = len(blocks)
        blocks.append((key, [d]))
    return blocks


def totals(diagnostics: Sequence[Diagnostic]) -> str:
    errors = sum(d.is_error for d in diagnostics)
    return f"{_plural(errors, 'error')}, {_plural(len(diagnostics) - errors, 'warning')}"


def print_diagnostics(diagnostics: Sequence[Diagnostic], sources: Mapping[str, str], stream: IO[str],
                      fmt: str = "human", summary: bool = False, *, colour: str = "auto",
                      agent_of: AgentOf | None = None, limit: int | None = None) -> None:
    """Every diagnostic in the format asked for. `agent_of` groups conflicts by agents;
    `limit` lists only the first N (the machine formats say so, with the true total)."""
    agent_of = agent_of or {}
    if fmt != "human":
        from lanes.render_tools import write_tool_format
        write_tool_format(fmt, tool_order(diagnostics, agent_of), stream, limit)
        return
    use = use_colour(stream, colour)
    blocks = human_blocks(diagnostics, agent_of)
    shown = blocks if limit is None else blocks[:limit]
    for key, members in shown:
        if len(key) > 1:
            stream.write(_group_block(key, members, sources, use, agent_of) + "\n")
        else:
            stream.write(format_human(members[0], sources, use) + "\n")
    if len(shown) < len(blocks):
        stream.write(f"... and {_plural(len(blocks) - len(shown), 'more block')} (--max {limit})\n")
    if summary and diagnostics:
        stream.write(totals(diagnostics) + "\n")
