"""What a coding agent reported, read back from its log (SPEC section 9).

A task's log holds the command's stdout and stderr interleaved: the tool's JSON events
(one per line; Gemini's `--output-format json` prints one indented object) among
whatever else was printed. `read_agent_log(path, runner)` and `parse_agent_output(text,
runner)` turn it into an `AgentResult`: session id, turns, cost in USD, final message,
an error, and a transcript for `lanes logs`. They never raise: a line that is no JSON
is text, a line longer than MAX_LINE is cut, and a headless run that reported no result
has the error NO_RESULT, so it cannot pass for a success.

The shapes, from each tool's documentation:
- Claude Code `--output-format stream-json` (https://code.claude.com/docs/en/headless,
  result type SDKResultMessage in https://code.claude.com/docs/en/agent-sdk/typescript):
  `system`/`init`, `assistant` and `user` messages with content blocks, and last
  `{"type":"result","subtype":...,"is_error":...,"session_id":...,"num_turns":...,
  "total_cost_usd":...,"result":...,"permission_denials":[...]}`. With `--resume` the
  reported cost includes the earlier runs of the session.
- Codex `exec --json` (https://developers.openai.com/codex/noninteractive, events of
  codex-rs/exec/src/exec_events.rs): `thread.started` (thread_id), `turn.started`,
  `turn.completed` (usage) or `turn.failed` (error), `item.*` with agent_message,
  reasoning, command_execution (status `declined` when refused), file_change,
  mcp_tool_call, web_search, todo_list, error; and a fatal `error`. No cost.
- Gemini CLI (https://geminicli.com/docs/cli/headless/, packages/core/src/output/types.ts):
  stream-json `init` (session_id), `message`, `tool_use`, `tool_result` (an error of type
  `policy_violation` is a refused tool), `error` (warnings), `result` (status, error,
  stats); json `{"session_id","response","stats","error"}`. No cost.
- Aider prints text, and after each model reply `Tokens: ... sent, ... received. Cost:
  $X message, $Y session.` (aider/coders/base_coder.py); Y is the cost so far.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
import json
import math
import os
import re
from typing import Any

NO_RESULT = "no result reported"
MAX_LINE = 8 << 20               # longer lines are cut, never parsed
MAX_TRANSCRIPT_LINES = 1000      # head and tail kept, the middle counted
LINES_PER_ENTRY = 4
CHARS_PER_LINE = 240
# terminal escapes and control characters: a tool's output must not drive the terminal of `lanes logs`
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]")
_AIDER_COST = re.compile(r"Tokens: .* received\. Cost: \$(\d+(?:\.\d+)?) message, \$(\d+(?:\.\d+)?) session")


@dataclass(frozen=True)
class AgentResult:
    runner: str                     # the format it was read as: claude, codex, gemini, aider, unknown
    session_id: str | None
    turns: int | None
    cost_usd: float | None
    final_message: str | None
    error: str | None               # a tool-reported error, a refused permission, or NO_RESULT
    transcript: str

    @property
    def ok(self) -> bool:
        return self.error is None


def _clip(text: str, limit: int = CHARS_PER_LINE) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


class _Transcript:
    """A few lines per entry, the whole bounded: the first half and last half of the
    lines are kept and the number left out between them is said."""

    def __init__(self) -> None:
        self.head: list[str] = []
        self.tail: deque[str] = deque(maxlen=MAX_TRANSCRIPT_LINES // 2)
        self.dropped = 0

    def add(self, prefix: str, text: object, indent: str = "") -> None:
        body = _CONTROL.sub("", str(text)).strip("\n")
        parts = body.split("\n", LINES_PER_ENTRY)       # a huge result is not split whole
        shown = [part.rstrip() for part in parts[:LINES_PER_ENTRY]]
        if len(parts) > LINES_PER_ENTRY:
            shown.append(f"… {body.count(chr(10)) + 1 - LINES_PER_ENTRY} more lines")
        width = len(prefix) + 2 if prefix else 0
        for i, line in enumerate(shown):
            lead = f"{indent}{prefix}: " if i == 0 and prefix else indent + " " * width
            self._line(_clip(lead + line))

    def _line(self, line: str) -> None:
        if len(self.head) < MAX_TRANSCRIPT_LINES // 2:
            self.head.append(line)
            return
        if len(self.tail) == self.tail.maxlen:
            self.dropped += 1
        self.tail.append(line)

    def text(self) -> str:
        middle = [f"… {self.dropped} transcript lines left out …"] if self.dropped else []
        return "\n".join([*self.head, *middle, *self.tail]) + ("\n" if self.head else "")


def _summary(args: object) -> str:
    """The argument a reader wants to see first (a path, a command, a query)."""
    if isinstance(args, dict):
        for key in ("file_path", "path", "notebook_path", "command", "pattern", "url", "query",
                    "absolute_path", "dir_path", "description", "prompt"):
            if isinstance(args.get(key), str):
                return str(args[key])
    try:
        return json.dumps(args, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return str(args)


def _text_of(content: object) -> str:
    """Text of a tool result's content: a string, or blocks with `text`."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return "" if content is None else str(content)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _usd(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def _refused(denials: list[str]) -> str:
    more = f" and {len(denials) - 5} more" if len(denials) > 5 else ""
    return "permission refused: " + "; ".join(_clip(d, 120) for d in denials[:5]) + more


@dataclass
class _Reader:
    """What one log said, gathered event by event; `result()` decides the outcome."""

    name: str
    log: _Transcript = field(default_factory=_Transcript)
    session_id: str | None = None
    turns: int | None = None
    cost: float | None = None
    final: str | None = None
    errors: list[str] = field(default_factory=list)
    denials: list[str] = field(default_factory=list)
    finished: bool = False          # the tool reported an outcome

    def event(self, ev: dict[str, Any]) -> None:
        raise NotImplementedError

    def text(self, line: str) -> None:
        if line.strip():
            self.log.add("log", line)

    def close(self) -> None:
        """Called once, after the last line."""

    def result(self) -> AgentResult:
        self.close()
        errors = list(self.errors)
        if self.denials:
            errors.append(_refused(self.denials))
        if not self.finished and not errors:
            errors.append(NO_RESULT)
        error = "; ".join(dict.fromkeys(errors)) or None
        return AgentResult(self.name, self.session_id, self.turns, self.cost, self.final, error, self.log.text())


class _Claude(_Reader):
    def event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        self.session_id = _str(ev.get("session_id")) or self.session_id
        blocks = _list(_dict(ev.get("message")).get("content"))
        if kind == "system" and ev.get("subtype") == "init":
            self.log.add("session", f"{self.session_id or '?'} (model {ev.get('model', '?')}, "
                                    f"permission mode {ev.get('permissionMode', '?')})")
        elif kind == "assistant":
            for b in (b for b in blocks if isinstance(b, dict)):
                if b.get("type") == "text" and str(b.get("text", "")).strip():
                    self.final = str(b["text"])
                    self.log.add("assistant", b["text"])
                elif b.get("type") == "tool_use":
                    self.log.add(f"tool {b.get('name', '?')}", _summary(b.get("input")))
        elif kind == "user":
            for b in (b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"):
                outcome = "error" if b.get("is_error") else "result"
                self.log.add(outcome, _text_of(b.get("content")) or "(empty)", indent="  ")
        elif kind == "result":
            self._result(ev)

    def _result(self, ev: dict[str, Any]) -> None:
        self.finished = True
        subtype = str(ev.get("subtype", "?"))
        self.turns, self.cost = _count(ev.get("num_turns")), _usd(ev.get("total_cost_usd"))
        self.final = _str(ev.get("result")) or self.final
        for d in ev.get("permission_denials") or []:
            if isinstance(d, dict):
                self.denials.append(f"{d.get('tool_name', '?')} {_summary(d.get('tool_input'))}")
        if ev.get("is_error") or subtype != "success":
            detail = "; ".join(str(e) for e in ev.get("errors") or [] if e) or _str(ev.get("result"))
            self.errors.append(subtype + (f": {_clip(detail, 500)}" if detail else ""))
        cost = "?" if self.cost is None else f"${self.cost:.4f}"
        self.log.add("result", f"{subtype}, {self.turns if self.turns is not None else '?'} turns, {cost}")


class _Codex(_Reader):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.open: dict[str, dict[str, Any]] = {}       # items started and not completed
        self.stream_errors: list[str] = []               # fatal unless a turn completes after them

    def event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        item = ev.get("item") if isinstance(ev.get("item"), dict) else None
        if kind == "thread.started":
            self.session_id = _str(ev.get("thread_id")) or self.session_id
            self.log.add("session", self.session_id or "?")
        elif kind in ("turn.completed", "turn.failed"):
            self.finished = True
            self.turns = (self.turns or 0) + 1
            if kind == "turn.failed":
                self._error(ev.get("error"), self.errors)
            else:
                self.stream_errors = []     # the turn recovered from them (a reconnect, say)
            usage = _dict(ev.get("usage"))
            self.log.add("turn", kind.split(".")[1] + (f", {usage.get('input_tokens', '?')} tokens in, "
                                                        f"{usage.get('output_tokens', '?')} out" if usage else ""))
        elif kind == "error":
            self._error(ev, self.stream_errors)
        elif item is not None and kind == "item.started":
            self.open[str(item.get("id"))] = item
        elif item is not None and kind == "item.completed":
            self.open.pop(str(item.get("id")), None)
            self._item(item)

    def _error(self, err: object, into: list[str]) -> None:
        message = err.get("message") if isinstance(err, dict) else err
        into.append(_clip(str(message or "error"), 500))
        self.log.add("error", message)

    def _item(self, item: dict[str, Any], unfinished: bool = False) -> None:
        kind, status = item.get("type"), item.get("status")
        if kind == "agent_message":
            self.final = str(item.get("text", ""))
            self.log.add("assistant", self.final)
        elif kind == "reasoning":
            self.log.add("reasoning", item.get("text", ""))
        elif kind == "command_execution":
            self.log.add("tool shell", item.get("command", "?"))
            if status == "declined":
                self.denials.append(f"shell {item.get('command', '?')}")
            outcome = "declined" if status == "declined" else f"exit {item.get('exit_code')}"
            if not unfinished:
                self.log.add(outcome, item.get("aggregated_output") or "(no output)", indent="  ")
        elif kind == "file_change":
            changes = [c for c in item.get("changes") or [] if isinstance(c, dict)]
            self.log.add("tool edit", ", ".join(f"{c.get('kind', '?')} {c.get('path', '?')}" for c in changes))
            if not unfinished:
                self.log.add("result", status or "?", indent="  ")
        elif kind == "mcp_tool_call":
            self.log.add(f"tool {item.get('server', '?')}.{item.get('tool', '?')}", _summary(item.get("arguments")))
            err = item.get("error")
            if not unfinished:
                self.log.add("error" if err else "result", _summary(err or item.get("result")), indent="  ")
        elif kind == "web_search":
            self.log.add("tool web_search", item.get("query", ""))
        elif kind == "todo_list":
            todo = [t for t in item.get("items") or [] if isinstance(t, dict)]
            self.log.add("plan", "; ".join(f"[{'x' if t.get('completed') else ' '}] {t.get('text', '')}" for t in todo))
        elif kind == "error":
            self.log.add("warning", item.get("message", ""))
        if unfinished:
            self.log.add("result", "still running when the log ended", indent="  ")

    def close(self) -> None:
        for item in self.open.values():
            self._item(item, unfinished=True)
        self.open.clear()
        self.errors += self.stream_errors
        self.stream_errors = []


class _Gemini(_Reader):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.speaking: list[str] = []       # assistant deltas not yet written out
        self.in_turn = False                # the model is producing (text or tool calls)

    def _flush(self) -> None:
        if self.speaking:
            self.final = "".join(self.speaking)
            self.log.add("assistant", self.final)
            self.speaking = []

    def _model_output(self) -> None:
        if not self.in_turn:
            self.in_turn = True
            self.turns = (self.turns or 0) + 1

    def event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        if kind == "message" and ev.get("role") == "assistant":
            self._model_output()
            self.speaking.append(str(ev.get("content", "")))
            return
        self._flush()
        if kind == "init":
            self.session_id = _str(ev.get("session_id")) or self.session_id
            self.log.add("session", f"{self.session_id or '?'} (model {ev.get('model', '?')})")
        elif kind == "tool_use":
            self._model_output()
            self.log.add(f"tool {ev.get('tool_name', '?')}", _summary(ev.get("parameters")))
        elif kind == "tool_result":
            self.in_turn = False
            err = _dict(ev.get("error"))
            if err.get("type") == "policy_violation":
                self.denials.append(f"{ev.get('tool_id', '?')}: {err.get('message', '')}")
            self.log.add("error" if ev.get("status") == "error" else "result",
                         err.get("message") or ev.get("output") or "(no output)", indent="  ")
        elif kind == "error":
            self.log.add(str(ev.get("severity", "error")), ev.get("message", ""))
        elif kind == "result":
            self._outcome(ev.get("error"), ev.get("status"))
            stats = _dict(ev.get("stats"))
            self.log.add("result", f"{ev.get('status', '?')}, {stats.get('tool_calls', '?')} tool calls, "
                                   f"{stats.get('total_tokens', '?')} tokens")
        elif "response" in ev or "stats" in ev or ("error" in ev and "type" not in ev):
            self._json_output(ev)

    def _outcome(self, err: object, status: object = None) -> None:
        self.finished = True
        if err or status == "error":
            message = err.get("message") if isinstance(err, dict) else err
            self.errors.append(_clip(str(message or "the run ended with status error"), 500))

    def _json_output(self, ev: dict[str, Any]) -> None:
        """`--output-format json`: one object at the end; turns are the model requests."""
        self.session_id = _str(ev.get("session_id")) or self.session_id
        self.final = _str(ev.get("response")) or self.final
        models = _dict(_dict(ev.get("stats")).get("models"))
        requests = [_count(_dict(_dict(m).get("api")).get("totalRequests")) for m in models.values()]
        if any(r is not None for r in requests):
            self.turns = sum(r for r in requests if r is not None)
        if self.final:
            self.log.add("assistant", self.final)
        self._outcome(ev.get("error"))
        if ev.get("error"):
            self.log.add("error", _summary(ev.get("error")))

    def close(self) -> None:
        self._flush()


class _Aider(_Reader):
    def event(self, ev: dict[str, Any]) -> None:
        self.text(json.dumps(ev, ensure_ascii=False))

    def text(self, line: str) -> None:
        m = _AIDER_COST.search(line)
        if m:
            self.finished = True
            self.turns = (self.turns or 0) + 1
            self.cost = _usd(float(m.group(2)))
        if line.strip():
            self.log.add("", line.rstrip())        # aider's own text reads best as it is


_READERS: dict[str, type[_Reader]] = {"claude": _Claude, "codex": _Codex, "gemini": _Gemini, "aider": _Aider}


def _detect(ev: dict[str, Any]) -> str | None:
    """Which tool printed this event, when the runner is not a preset."""
    kind = ev.get("type")
    if kind in ("system", "assistant", "user", "stream_event") or (kind == "result" and "subtype" in ev):
        return "claude"
    if isinstance(kind, str) and kind.startswith(("thread.", "turn.", "item.")):
        return "codex"
    if kind in ("init", "message", "tool_use", "tool_result", "result"):
        return "gemini"
    if kind == "error":
        return "gemini" if "severity" in ev else "codex"
    if kind is None and ("response" in ev or "stats" in ev or ("error" in ev and "session_id" in ev)):
        return "gemini"
    return None


def _items(lines: Iterable[str]) -> Iterator[dict[str, Any] | str]:
    """JSON objects and text lines. An object may span lines when printed indented (it
    opens with a line `{` and closes with a line `}`); otherwise one per line."""
    pending: list[str] = []
    size = 0
    for line in lines:
        stripped = line.strip()
        if pending:
            pending.append(line)
            size += len(line)
            if line.rstrip() == "}" or size > MAX_LINE:
                obj = _loads("\n".join(pending)) if size <= MAX_LINE else None
                if obj is not None:
                    yield obj
                else:
                    yield from pending
                pending, size = [], 0
            continue
        if line.rstrip() == "{":
            pending, size = [line], len(line)
        elif stripped.startswith("{") and stripped.endswith("}"):
            obj = _loads(stripped)
            yield obj if obj is not None else line
        else:
            yield line
    yield from pending


def _loads(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _parse(lines: Iterable[str], runner: str | None) -> AgentResult:
    kind = runner if runner in _READERS else None
    waiting: list[dict[str, Any] | str] = []       # items before the format is known
    reader: _Reader | None = _READERS[kind](kind) if kind else None
    for item in _items(lines):
        if reader is None:
            waiting.append(item)
            found = _detect(item) if isinstance(item, dict) else (
                "aider" if _AIDER_COST.search(item) else None)
            if found is None and len(waiting) < 10_000:
                continue
            reader = _READERS[found](found) if found else _Reader("unknown")
            for old in waiting:
                _feed(reader, old)
            waiting = []
            continue
        _feed(reader, item)
    if reader is None:
        reader = _Reader("unknown")
        for old in waiting:
            _feed(reader, old)
    return reader.result()


def _feed(reader: _Reader, item: dict[str, Any] | str) -> None:
    if isinstance(item, str):
        reader.text(item)
    elif type(reader) is _Reader:
        reader.text(json.dumps(item, ensure_ascii=False))
    else:
        try:
            reader.event(item)
        except (TypeError, ValueError, AttributeError) as exc:   # a shape no documentation shows
            reader.log.add("unreadable event", f"{type(exc).__name__}: {_clip(json.dumps(item), 200)}")


def _split(text: str) -> Iterator[str]:
    """Lines split at "\n" only: JSON text may hold a raw U+2028, which splitlines() breaks at."""
    for line in text.split("\n"):
        line = line.rstrip("\r")
        yield line if len(line) <= MAX_LINE else f"(a line of {len(line)} characters, cut) {line[:CHARS_PER_LINE]}"


def parse_agent_output(text: str | bytes, runner: str | None = None) -> AgentResult:
    """The outcome the tool reported in `text`. `runner` is a preset name; anything else
    (a command template) means: recognise the format from the events."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return _parse(_split(text), runner)


def _file_lines(path: str | os.PathLike[str]) -> Iterator[str]:
    """The log's lines, read in chunks: of a line longer than MAX_LINE only the start is
    kept, so a line without end costs no more memory than that."""
    with open(path, "rb") as f:
        kept: list[bytes] = []                 # the current line, as far as it is kept
        held = size = 0                        # bytes kept, bytes seen
        while chunk := f.read(1 << 16):
            *ends, rest = chunk.split(b"\n")
            for end in ends:
                yield _decoded(b"".join([*kept, end]) if held <= MAX_LINE else b"".join(kept), size + len(end))
                kept, held, size = [], 0, 0
            size += len(rest)
            if held <= MAX_LINE:
                kept.append(rest)
                held += len(rest)
        if size:
            yield _decoded(b"".join(kept), size)


def _decoded(raw: bytes, size: int) -> str:
    if size <= MAX_LINE:
        return raw.decode("utf-8", errors="replace").rstrip("\r")
    return f"(a line of {size} bytes, cut) " + raw[:CHARS_PER_LINE].decode("utf-8", errors="replace")


def read_agent_log(path: str | os.PathLike[str], runner: str | None = None) -> AgentResult:
    """`parse_agent_output` over a log file; a log that cannot be read is an error too."""
    try:
        return _parse(_file_lines(path), runner)
    except OSError as exc:
        name = runner if runner in _READERS else "unknown"
        return AgentResult(name or "unknown", None, None, None, None,
                           f"{NO_RESULT} (the log cannot be read: {exc.strerror or exc})", "")
