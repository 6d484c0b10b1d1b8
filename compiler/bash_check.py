"""E104: every `run` and `rollback` command parsed by bash, never executed.

`bash -n` reads commands and does not execute them. It runs with no rc files, an
empty environment (only `PATH` and `LC_ALL=C`, so no `BASH_ENV`, no `SHELLOPTS` and
bash's messages in English), `extglob` on (so that `@(a|b)` after a `shopt` in the
command is no false alarm), and a timeout. A missing bash skips the check.

Many commands share one bash: each is wrapped in a block, one after another, with a
separator that turns a quote running on past its command into a syntax error, and the
line of the first problem names the command. That command is then parsed alone, so the
message and the line are exactly what bash says of it by itself; an error it does not
have alone came from another command (a block left open that a later `}` closed), and
the rest is then checked again in halves. A batch is read twice, with two kinds of
block, the second time backwards: two broken commands would have to hide each other
both ways. Batches are first read four at a time, all at once on every CPU, and only
the batches of a run of four that holds a problem are then read one by one: a clean
10,000-task workflow takes 10 bash processes, plus a few per broken command; after
MAX_ERRORS broken commands the check stops. bash reads each script from an in-memory
file where the system has one (memfd): from a pipe it reads one byte per system call,
ten times slower.

This is the one module of the compiler that starts a process: bash, which only reads.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
import os
import re
import shutil
import threading

from lanes.dsl.ast import Text, Workflow
from lanes.dsl.diagnostics import Diagnostic, diag
from lanes.dsl.frozen import dataclass
from lanes.dsl.source import Source
from lanes.dsl.span import Span

TIMEOUT_S = 20.0                 # per bash process
BATCH_BYTES = 256 * 1024
BATCH_COMMANDS = 500
ROUND_BATCHES = 4                # batches read together first (see parse_errors)
ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
_SCRIPT = "/dev/stdin"
_MESSAGE = re.compile(r"^/dev/stdin: line (\d+): (.*)$")
_HEREDOC = re.compile(r"here-document at line (\d+) delimited by end-of-file")
_NEAR = re.compile(r"near unexpected token `(.*)'$")
_MATCHING = re.compile(r"looking for matching `(.)'$")
_OPENERS = {")": "(", "}": "{", "]": "["}
_NUL = "\0"
NUL_MESSAGE = "it holds a NUL character (\\0), which no command line can hold"
MAX_ERRORS = 100                 # commands found broken, then the check stops
# see plain_words; `!`, `{`, `}`, `[[` and `]]`, reserved too, cannot be written with these
_PLAIN_WORDS = re.compile(r"[A-Za-z0-9_./=:,+@%-]+(?:[ \t]+[A-Za-z0-9_./=:,+@%-]+)*\Z")
_RESERVED = frozenset({"case", "coproc", "do", "done", "elif", "else", "esac", "fi", "for", "function", "if",
                       "in", "select", "then", "time", "until", "while"})


@dataclass(frozen=True)
class ShellCommand:
    """A command as written: the text bash gets and where the value was written."""

    text: str
    span: Span
    what: str                    # "the run of task 'api'"


@dataclass(frozen=True)
class BashError:
    """What `bash -n` says about a command."""

    line: int                    # 1-based, in the command
    message: str                 # bash's own words


Parse = Callable[[str], "tuple[int, str] | None"]


# (the value as written, its field, the kind of node, the node's id): what a ShellCommand
# is made of, made only for the commands that bash cannot parse
_Written = tuple[Text, str, str, str]


def _written(workflow: Workflow, skip: Collection[str] = ()) -> list[_Written]:
    out: list[_Written] = []
    for task in workflow.tasks:
        if task.id.value in skip:
            continue
        if task.run is not None:
            out.append((task.run, "run", "task", task.id.value))
        if task.rollback is not None:
            out.append((task.rollback, "rollback", "task", task.id.value))
    out += [(gate.run, "run", "gate", gate.id.value) for gate in workflow.gates
            if gate.run is not None and gate.id.value not in skip]
    return out


def _command(w: _Written) -> ShellCommand:
    value, field, kind, node = w
    return ShellCommand(value.value, value.span, f"the {field} of {kind} '{node}'")


def plain_words(text: str) -> bool:
    """A command of plain words whose first is no reserved word: one simple command, which
    bash always parses (nothing in it opens what could be left open: no quote, bracket,
    brace, `$`, backquote, backslash, operator, comment or newline). Most commands are
    such (`make api`, `pytest -q tests/unit`), and bash is not asked about them."""
    return _PLAIN_WORDS.match(text) is not None and text.split(None, 1)[0] not in _RESERVED


def check_commands(workflow: Workflow, source: Source | None, *, bash: str | None = None,
                   skip: Collection[str] = ()) -> list[Diagnostic]:
    """E104 for every `run` and `rollback` that bash cannot parse, but those of the nodes
    in `skip`; [] without bash."""
    written = _written(workflow, skip)
    bash = bash or shutil.which("bash")
    if not written or bash is None:
        return []
    texts = list(dict.fromkeys(w[0].value for w in written))      # each once: `make` in 500 tasks
    clean = [t for t in texts if _NUL not in t and not plain_words(t)]
    errors = parse_errors(clean, _runner(bash)) if clean else {}
    by_text = {clean[i]: err for i, err in errors.items()}
    for t in texts:                                           # no command line can hold one
        if _NUL in t:
            by_text[t] = BashError(t[:t.index(_NUL)].count("\n") + 1, NUL_MESSAGE)
    text = source.text if source is not None else None
    starts = _line_starts(text) if text is not None else []
    placed: dict[tuple[Span, str], tuple[Span, str]] = {}      # the tasks of a template share one
    out = []
    for w in written:
        err = by_text.get(w[0].value)
        if err is not None:
            cmd = _command(w)
            key = (cmd.span, cmd.text)
            if key not in placed:
                placed[key] = _place(cmd, err, text, starts)
            span, hint = placed[key]
            out.append(diag("E104", f"bash cannot parse {cmd.what}: {err.message}{hint}", span))
    return out


def checking_commands(workflow: Workflow, source: Source | None,
                      skip: Collection[str] = ()) -> Callable[[], list[Diagnostic]]:
    """check_commands started now on a thread of its own, so that bash reads while the
    caller goes on with other checks; the function returned waits for its diagnostics
    (and raises what it raised)."""
    done: list[list[Diagnostic]] = []
    failed: list[BaseException] = []

    def work() -> None:
        try:
            done.append(check_commands(workflow, source, skip=skip))
        except BaseException as exc:            # re-raised in the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=work, name="lanes-bash-n", daemon=True)
    thread.start()

    def result() -> list[Diagnostic]:
        thread.join()
        if failed:
            raise failed[0]
        return done[0]
    return result


# -- asking bash --------------------------------------------------------------------------------

def _runner(bash: str) -> Parse:
    """A function that parses one script with bash: (line, message) of the first problem.
    It may be called from several threads at once."""
    import subprocess  # here: a check whose commands are all plain words runs no bash
    argv = [bash, "--norc", "--noprofile", "-O", "extglob", "-n", _SCRIPT]

    def parse(script: str) -> tuple[int, str] | None:
        data = script.encode("utf-8", "surrogateescape")
        try:
            with _in_memory(data) as stdin:
                done = subprocess.run(argv, stdin=stdin, input=None if stdin is not None else data, env=ENV,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=TIMEOUT_S,
                                      check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None                         # no verdict: nothing is reported
        return first_problem(done.stderr.decode("utf-8", "replace"))
    return parse


@contextmanager
def _in_memory(data: bytes) -> Iterator[int | None]:
    """A file descriptor of an anonymous in-memory file holding `data`, at its start; None
    where the system has no memfd (the script then goes through a pipe). Nothing is
    written to any file system."""
    create = getattr(os, "memfd_create", None)
    try:
        fd = None if create is None else create("lanes-bash-n", os.MFD_CLOEXEC)
    except OSError:
        fd = None
    if fd is None:
        yield None
        return
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)


def first_problem(stderr: str) -> tuple[int, str] | None:
    """The first error bash printed (line, message), else its first warning, else None.

    bash -n's exit status is not enough: after some errors (`[[ a == ]]`) it stops
    with status 0. A here-document left open is only a warning, but it swallows
    everything after it, so it counts, at the line where it began."""
    warning: tuple[int, str] | None = None
    for raw in stderr.splitlines():
        m = _MESSAGE.match(raw)
        if not m:
            continue
        line, message = int(m.group(1)), m.group(2)
        if message.startswith("warning: "):
            h = _HEREDOC.search(message)
            if h and warning is None:
                warning = (int(h.group(1)), message[len("warning: "):])
            continue
        return line, message
    return warning


def parse_errors(texts: Sequence[str], parse: Parse) -> dict[int, BashError]:
    """index -> the error bash finds in texts[index] parsed alone, for those that have one
    (the first MAX_ERRORS found: a file of broken commands costs bounded time)."""
    errors: dict[int, BashError] = {}
    batches = _batches(texts, list(range(len(texts))))
    # First every run of ROUND_BATCHES batches is read as one, all runs at once. A run that
    # bash reads cleanly both ways holds no command broken alone (what makes a clean batch
    # clean), so its batches would add no error. The batches of the other runs are then
    # read, at once too, and worked through in order as they always were: the errors
    # found are the same.
    rounds = [batches[i:i + ROUND_BATCHES] for i in range(0, len(batches), ROUND_BATCHES)]
    joined = [[i for b in r for i in b] for r in rounds]
    asked = [j for j in joined if len(j) > 1]
    clean = {id(j) for j, k in zip(asked, _at_once([partial(_culprit, texts, j, parse) for j in asked]))
             if k is None}
    first = [b for r, j in zip(rounds, joined) if id(j) not in clean for b in r]
    asked = [b for b in first if len(b) > 1]
    known = dict(zip(map(id, asked), _at_once([partial(_culprit, texts, b, parse) for b in asked])))
    work = list(reversed(first))
    while work and len(errors) < MAX_ERRORS:
        batch = work.pop()
        if id(batch) in known:
            k = known.pop(id(batch))
        else:
            k = _culprit(texts, batch, parse) if len(batch) > 1 else 0 if batch else None
        if k is None:
            continue
        alone = parse(texts[batch[k]])
        if alone is not None:
            errors[batch[k]] = _error(texts[batch[k]], alone)
            more = [batch[:k], batch[k + 1:]]
        else:                                    # it ran on from another command: look apart
            rest = batch[:k] + batch[k + 1:]
            more = [rest[:len(rest) // 2], rest[len(rest) // 2:]]
        work.extend(reversed([b for b in more if b]))
    return errors


def _at_once(jobs: list[Callable[[], int | None]]) -> list[int | None]:
    """The results of the jobs, in order, run by up to one thread per CPU (each job waits
    on a bash process, so the threads do not hold one another up)."""
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers <= 1:
        return [job() for job in jobs]
    results: list[int | None] = [None] * len(jobs)
    failures: list[BaseException] = []
    claim = iter(range(len(jobs)))
    lock = threading.Lock()

    def work() -> None:
        while not failures:
            with lock:
                i = next(claim, None)
            if i is None:
                return
            try:
                results[i] = jobs[i]()
            except BaseException as exc:        # re-raised in the caller's thread
                failures.append(exc)

    threads = [threading.Thread(target=work, name="lanes-bash-n", daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    return results


def _batches(texts: Sequence[str], indices: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    size = 0
    overhead = _WRAPPERS[0].overhead
    for i in indices:
        size += len(texts[i]) + overhead
        if not out or len(out[-1]) >= BATCH_COMMANDS or size > BATCH_BYTES:
            out.append([])
            size = len(texts[i]) + overhead
        out[-1].append(i)
    return out


@dataclass(frozen=True)
class _Wrapper:
    """How one command sits among others in a script: a block that user text cannot
    close unnoticed, then the separator. Two kinds, the second in reverse order: for two
    broken commands to hide each other (`{ echo` then `}`) they must do it in both."""

    head: str
    tail: str
    backwards: bool

    @property
    def overhead(self) -> int:
        return len(self.head) + len(self.tail)


# `:` keeps an empty command (or one that is only a comment) a valid block; the blank line
# ends a trailing backslash; the separator is three comments, which turn a double quote, a
# single quote or a backquote that ran on past its command into a syntax error (in this
# order, so that none turns into another first)
_SEPARATOR = "# \"(\n# '(\n# `(\n"
_WRAPPERS = (_Wrapper("{ :\n", "\n\n}\n" + _SEPARATOR, False),
             _Wrapper("if :; then\n", "\n\nfi\n" + _SEPARATOR, True))


def _culprit(texts: Sequence[str], batch: list[int], parse: Parse) -> int | None:
    """The position in `batch` of the command where bash first finds a problem, with
    each wrapper in turn; None when the batch parses both ways."""
    for wrapper in _WRAPPERS:
        order = list(range(len(batch)))[::-1] if wrapper.backwards else list(range(len(batch)))
        parts = [wrapper.head + texts[batch[k]] + wrapper.tail for k in order]
        problem = parse("".join(parts))
        if problem is not None:                 # which command holds that line
            firsts, line = [], 1
            for part in parts:
                firsts.append(line)
                line += part.count("\n")
            return order[max(0, bisect_right(firsts, problem[0]) - 1)]
    return None


def _error(text: str, problem: tuple[int, str]) -> BashError:
    lines = text.count("\n") + 1
    line, message = problem
    # "unexpected end of file" is reported past the last line: the command as a whole
    return BashError(line if 1 <= line <= lines else 1, message)


# -- where it is in the file --------------------------------------------------------------------

def _place(cmd: ShellCommand, err: BashError, text: str | None, starts: list[int]) -> tuple[Span, str]:
    """Where the problem is in the file, and a hint when YAML cut the command short."""
    lines = cmd.text.split("\n")
    line_text = lines[err.line - 1]
    column = _column_in_line(line_text, err.message)
    offset = sum(len(x) + 1 for x in lines[:err.line - 1]) + column
    if text is None:
        return cmd.span, ""
    return _span_in_source(cmd, offset, text, starts), _comment_hint(cmd.span, text, starts)


def _column_in_line(line: str, message: str) -> int:
    """0-based column of what the message is about: the unexpected token, the quote or
    bracket left open, else the first word."""
    if message == NUL_MESSAGE:
        return line.index(_NUL)
    near = _NEAR.search(message)
    if near and near.group(1) == "newline" and line.strip():
        return len(line.rstrip()) - 1           # the line ended too soon: at its last character
    if near:
        at = line.find(near.group(1))
        if at >= 0:
            return at
    match = _MATCHING.search(message)
    if match:
        at = line.rfind(_OPENERS.get(match.group(1), match.group(1)))
        if at >= 0:
            return at
    return len(line) - len(line.lstrip())


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))
    return starts


def _span_in_source(cmd: ShellCommand, offset: int, text: str, starts: list[int]) -> Span:
    if not 1 <= cmd.span.line <= len(starts):
        return cmd.span
    begin = starts[cmd.span.line - 1] + cmd.span.column - 1
    places = source_offsets(cmd.text, text, begin)
    at = places[min(offset, len(places) - 1)]
    line = bisect_right(starts, at)
    column = at - starts[line - 1] + 1
    return Span(cmd.span.file, line, column, line, column + 1)


def source_offsets(value: str, text: str, begin: int) -> list[int]:
    """Where each character of a scalar's value is in the file (one more entry: its end),
    for the scalar written at `begin`: YAML plain, quoted or block, or a grammar string.

    The value and the file are walked together: what YAML or the grammar dropped
    (quotes, indentation, escapes, folded line breaks) is skipped. Characters past the
    point where the two cannot be matched get that point."""
    p, style = _opening(text, begin)
    out: list[int] = []
    i = 0
    while i < len(value) and p < len(text):
        c, s = value[i], text[p]
        if style == '"' and s == "\\" and p + 1 < len(text):
            if text[p + 1] == "\n":              # an escaped line break: nothing in the value
                p += 2
                continue
            out.append(p)
            i += 1
            p += {"x": 4, "u": 6, "U": 10}.get(text[p + 1], 2)
        elif s == c:
            out.append(p)
            i += 1
            p += 2 if style == "'" and c == "'" and text.startswith("''", p) else 1
        elif s in " \t\r\n":
            if c in " \n":                       # a line break folded into a space, or kept
                out.append(p)
                i += 1
            p += 1
        elif c in " \n\t":
            out.append(p)
            i += 1
        else:
            break
    last = out[-1] if out else begin
    out.extend([last] * (len(value) + 1 - len(out)))
    return out


def _opening(text: str, p: int) -> tuple[int, str]:
    """Where the value's first character may be, and the scalar's quote style."""
    while p < len(text) and text[p] in "&!":    # YAML anchor or tag before the value
        while p < len(text) and text[p] not in " \t\n":
            p += 1
        while p < len(text) and text[p] in " \t":
            p += 1
    if text.startswith('"""', p):
        return p + 3, "verbatim"
    if p < len(text) and text[p] in "\"'":
        return p + 1, text[p]
    if p < len(text) and text[p] in "|>":
        newline = text.find("\n", p)
        return (newline + 1 if newline >= 0 else len(text)), "block"
    return p, "plain"


def _comment_hint(span: Span, text: str, starts: list[int]) -> str:
    """A plain YAML value ends where ` #` starts a comment: say so when that happened."""
    if not 1 <= span.end_line <= len(starts):
        return ""
    first = starts[span.line - 1] + span.column - 1
    if first < len(text) and text[first] in "\"'|>":
        return ""
    end = starts[span.end_line - 1] + span.end_column - 1
    newline = text.find("\n", end)
    rest = text[end:newline if newline >= 0 else len(text)]
    if rest.lstrip(" \t").startswith("#") and rest[:1] in (" ", "\t"):
        return " (YAML took the ' #...' after it for a comment: quote the whole command, or use a block `|`)"
    return ""
