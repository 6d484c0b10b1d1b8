"""What the stand-ins for `claude`, `codex`, `gemini` and `aider` share.

A stand-in accepts the flags lanes passes (and exits 2 on any other, as the real
argument parsers do), appends one JSON line {"tool", "argv", "cwd", "env", "stdin"} to
the file named by $LANES_STANDIN_LOG, does what its prompt asks, and prints what the
real tool prints in the same mode (runtime/agent_output.py cites the shapes).

The prompt's mini-language, one directive per line (other lines are ignored):
    WRITE path: text     write text to path (relative to the working directory; `\\n` is a newline)
    READ path            read a file
    SAY text             the final message (default: "done")
    SESSION id           the session id to report (default: the resumed one, else a fixed id)
    COST usd             the cost to report, where the tool reports one (default 0.01)
    FAIL permission      the tool refuses the first write (claude, codex, gemini)
    FAIL error           the tool reports an error
    FAIL silent          print nothing
    FAIL garbage         print lines that are no JSON
    FAIL kind N          as FAIL kind, only in attempt N ($LANES_ATTEMPT)
Exit status 0 in every case, as the real tools exit after an error they report.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import json
import os
import re
import sys


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:    # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


@dataclass
class Prompt:
    writes: list[tuple[str, str]] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    actions: list[tuple[str, str, str]] = field(default_factory=list)   # ("write"|"read", path, text)
    say: str = "done"
    session: str | None = None
    cost: float = 0.01
    fail: str | None = None


def parse_prompt(text: str) -> Prompt:
    p = Prompt()
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "WRITE" and ":" in rest:
            path, _, body = rest.partition(":")
            p.actions.append(("write", path.strip(), body.strip().replace("\\n", "\n")))
        elif word == "READ" and rest:
            p.actions.append(("read", rest.strip(), ""))
        elif word == "SAY":
            p.say = rest
        elif word == "SESSION":
            p.session = rest.strip()
        elif word == "COST":
            p.cost = float(rest)
        elif word == "FAIL":
            kind, _, only = rest.strip().partition(" ")
            if not only or os.environ.get("LANES_ATTEMPT") == only.strip():
                p.fail = kind
    return p


def record(tool: str, stdin: str) -> None:
    path = os.environ.get("LANES_STANDIN_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"tool": tool, "argv": sys.argv[1:], "cwd": os.getcwd(),
                                "env": dict(os.environ), "stdin": stdin}) + "\n")


def read_stdin() -> str:
    return "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()


def inside(path: str) -> bool:
    """Whether a relative path stays in the working directory."""
    return not os.path.isabs(path) and ".." not in path.split("/")


def write_file(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def read_file(path: str) -> tuple[bool, str]:
    try:
        with open(path, encoding="utf-8") as f:
            return True, f.read()
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc.strerror}"


def emit(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def garbage() -> None:
    print("Segmentation fault (core dumped)?")
    print("{not json at all")
    print("\x1b[31mred text\x1b[0m")


def gitignore_regex(pattern: str) -> re.Pattern[str]:
    """A gitignore pattern anchored at the working directory (leading '/'), as a regex
    over a relative path. Enough of gitignore for the rules lanes writes: `\\` escapes,
    `**` segments, `*`, `?`, `[...]`."""
    body = pattern.removeprefix("/")
    out, i = [], 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("/**", i) and i + 3 == len(body):
            out.append("/.*")
            i += 3
        elif body[i] == "\\" and i + 1 < len(body):
            out.append(re.escape(body[i + 1]))
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        elif body[i] == "[" and "]" in body[i + 2:]:
            j = body.index("]", i + 2)
            inner = body[i + 1:j]
            out.append("[" + ("^" + inner[1:] if inner[:1] == "!" else inner) + "]")
            i = j + 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def rule_allows(rules: list[str], tool: str, path: str) -> bool:
    """Whether a `Tool(/pattern)` rule covers the path or a directory above it (gitignore)."""
    parts = path.split("/")
    candidates = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
    for rule in rules:
        m = re.fullmatch(rf"{tool}\((.*)\)", rule)
        if m and any(gitignore_regex(m.group(1)).match(c) for c in candidates):
            return True
    return False
