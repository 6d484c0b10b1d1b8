"""Command lines of the coding agents that run a task's `prompt` (SPEC section 9).

`build_command(runner, invocation)` gives the one shell command (for `bash -c`, in the
task's workdir) that lanes puts in the plan's "command", or a `RunnerError` saying
which input cannot be turned into one. Every value from the workflow or the runtime
(paths, patterns, model, session id) reaches the shell through `shlex.quote`, so
the command means the same whatever those values contain.

The plan holds the command before any run exists, so the files the runtime makes
per attempt are named by environment variables it sets (`EnvVar`): the prompt file
`"$LANES_PROMPT"`, the brief `"$LANES_BRIEF"`, and the session to resume, whose
flags appear only when the runtime sets one: `${LANES_SESSION:+--resume
"$LANES_SESSION"}` (shell parameter expansion; nothing when it is unset or empty).

Each preset is data (the flags its own documentation gives for a non-interactive run,
in one place) plus a small function that adds the per-task parts. Choices the
documentation leaves open are explained where they are made, with the page:

- Claude Code: CLI reference https://code.claude.com/docs/en/cli-reference, headless
  mode https://code.claude.com/docs/en/headless, permission rules
  https://code.claude.com/docs/en/permissions and modes
  https://code.claude.com/docs/en/permission-modes.
- Codex CLI: non-interactive mode https://developers.openai.com/codex/noninteractive
  and https://developers.openai.com/codex/cli/reference#codex-exec.
- Gemini CLI: headless mode https://geminicli.com/docs/cli/headless/, CLI reference
  https://geminicli.com/docs/cli/cli-reference/, sessions
  https://geminicli.com/docs/cli/session-management/.
- Aider: scripting https://aider.chat/docs/scripting.html and options
  https://aider.chat/docs/config/options.html.

Budgets: a tool with a budget flag enforces `max_budget_usd` itself; a tool without one
that reports its cost (aider) is held to it by lanes from that report; a tool that
reports no cost (Codex, Gemini) cannot be held to one, and asking for it is an error
rather than a promise nobody keeps. The same goes for `max_turns`, which only Claude
Code has a flag for.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import difflib
import math
import re
import shlex
import string

from lanes.compiler.patterns_syntax import (
    TooManyAlternatives,
    expand_braces,
    normalise,
    split_scheme,
)
from lanes.dsl.frozen import dataclass

PLACEHOLDERS = ("prompt_file", "brief_file", "writes", "reads", "model")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class EnvVar:
    """A value that the runtime gives the command in an environment variable, so that
    the command can be written before the value exists: `"$NAME"` in the command."""

    name: str

    @property
    def word(self) -> str:
        return f'"${self.name}"'


PROMPT_FILE = EnvVar("LANES_PROMPT")
BRIEF_FILE = EnvVar("LANES_BRIEF")
SESSION = EnvVar("LANES_SESSION")


@dataclass(frozen=True)
class AgentInvocation:
    """One attempt of one agent task. `writes` and `reads` are the task's resource
    patterns as declared (paths relative to the workdir, or `scheme:glob`). The files
    and the session may be values or environment variables of the runtime; with a
    variable for the session, the resume flags are used only when it is set."""

    prompt_file: str | EnvVar
    brief_file: str | EnvVar
    writes: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    model: str | None = None
    max_turns: int | None = None
    max_budget_usd: float | None = None
    resume_session: str | EnvVar | None = None     # the session of the failed attempt before


class _Shell(str):
    """Text that is already shell syntax (an `EnvVar`'s word): `_join` leaves it as it is."""

    __slots__ = ()


Word = str | _Shell


def _join(argv: Sequence[Word]) -> str:
    """shlex.join, but shell syntax stays as it is."""
    return " ".join(w if isinstance(w, _Shell) else shlex.quote(w) for w in argv)


def _value(v: str | EnvVar) -> Word:
    return _Shell(v.word) if isinstance(v, EnvVar) else v


def _option(prefix: str, v: str | EnvVar) -> Word:
    """`--opt=VALUE` as one word, whether VALUE is a value or a variable."""
    return _Shell(shlex.quote(prefix) + v.word) if isinstance(v, EnvVar) else prefix + v


def _resume(words: Sequence[str], session: str | EnvVar) -> list[Word]:
    """The words that resume a session: as they are for a value, and for a variable
    `${NAME:+WORDS "$NAME"}`, which the shell drops when the variable is unset or empty."""
    if isinstance(session, EnvVar):
        inner = " ".join([*map(shlex.quote, words), session.word])
        return [_Shell(f"${{{session.name}:+{inner}}}")]
    return [*words, session]


@dataclass(frozen=True)
class RunnerError:
    """Why there is no command line. `field` names the input at fault ("runner",
    "command", "model", "max_turns", "max_budget_usd", "writes", "reads", "prompt_file",
    "brief_file", "resume_session"), so the compiler can point its diagnostic at it."""

    field: str
    message: str


@dataclass(frozen=True)
class Preset:
    """A coding agent CLI as its documentation describes it."""

    name: str
    title: str
    install: str
    env: tuple[str, ...]                   # credentials it reads (one of them is enough)
    docs: tuple[str, ...]
    flags: tuple[str, ...]                 # always passed, right after the executable
    model_flag: str
    turns_flag: str | None
    budget_flag: str | None
    reports_cost: bool
    resumes: bool
    no_turns: str                          # why there is no turn limit, when there is none
    build: Callable[[Preset, AgentInvocation], str | RunnerError]

    @property
    def lanes_enforces_budget(self) -> bool:
        """True when lanes itself stops the task at `max_budget_usd`, from the cost the
        tool reports, because the tool has no budget flag."""
        return self.budget_flag is None and self.reports_cost


def _path(p: str | EnvVar) -> Word:
    """A path that no argument parser can take for an option (the runtime's variables
    hold absolute paths)."""
    if isinstance(p, EnvVar):
        return _value(p)
    return "./" + p if p.startswith("-") else p


def _number(x: float) -> str:
    text = repr(float(x))
    return text.removesuffix(".0")


def _limits(p: Preset, inv: AgentInvocation) -> list[str]:
    """The model, turn and budget flags that `_problem` has already allowed."""
    argv: list[str] = []
    if inv.model is not None:
        argv += [p.model_flag, inv.model]
    if inv.max_turns is not None and p.turns_flag:
        argv += [p.turns_flag, str(inv.max_turns)]
    if inv.max_budget_usd is not None and p.budget_flag:
        argv += [p.budget_flag, _number(inv.max_budget_usd)]
    return argv


def _path_alternatives(patterns: Sequence[str], field: str) -> list[str] | RunnerError:
    """The path patterns (not `scheme:` resources, which are no files) as brace-free,
    normalised alternatives, in order, each once."""
    out: dict[str, None] = {}
    for pattern in patterns:
        scheme, rest = split_scheme(pattern)
        if scheme:
            continue
        try:
            out.update(dict.fromkeys(normalise(a) for a in expand_braces(rest)))
        except TooManyAlternatives as exc:
            return RunnerError(field, f"the pattern '{pattern}': {exc}")
    return list(out)


def _gitignore(alternative: str) -> str:
    """A lanes path glob as gitignore text with the same meaning. lanes reads a backslash
    and a `[` that opens no class literally, gitignore would read them as an escape and
    a class; gitignore drops trailing spaces unless escaped."""
    segments = []
    for segment in alternative.split("/"):
        out = []
        for i, ch in enumerate(segment):
            if ch == "\\":
                out.append("\\\\")
            elif ch == "[" and not _opens_class(segment, i):
                out.append("\\[")
            else:
                out.append(ch)
        segments.append("".join(out))
    text = "/".join(segments)
    return text[:-1] + "\\ " if text.endswith(" ") else text


def _opens_class(segment: str, i: int) -> bool:
    """Whether segment[i] == '[' opens a class, as lanes reads it (patterns_segments)."""
    j = i + 1
    if j < len(segment) and segment[j] in "!^":
        j += 1
    return j < len(segment) and segment.find("]", j + 1) >= 0


def claude_permission_rules(writes: Sequence[str], reads: Sequence[str]) -> tuple[str, ...] | RunnerError:
    """The task's domain as Claude Code permission rules: `Edit` and `Read` on each path
    it writes, `Read` on each path it reads.

    From https://code.claude.com/docs/en/permissions: `Edit` rules "apply to all built-in
    tools that edit files" and a path rule for `Write` is never consulted, so there is
    no `Write(...)`; Read and Edit rules are gitignore patterns, and a leading `/` anchors
    one at the directory Claude Code started in (for rules given on the command line),
    which is the task's workdir, where lanes patterns are rooted. Anchoring keeps a bare
    name such as `Makefile` from matching at every depth, as gitignore would. One
    difference stays: a gitignore pattern that names a directory covers everything in
    it, where a lanes pattern names resources only; worktree mode holds the task to its
    domain whatever the tool allows. The docs give no escape for parentheses inside a
    rule (and anthropics/claude-code#67503 shows such rules dropped), so a pattern with
    one is refused rather than written in a form of unknown meaning."""
    rules: dict[str, None] = {}
    for field, patterns, tools in (("writes", writes, ("Edit", "Read")), ("reads", reads, ("Read",))):
        alternatives = _path_alternatives(patterns, field)
        if isinstance(alternatives, RunnerError):
            return alternatives
        for alt in alternatives:
            if "(" in alt or ")" in alt:
                return RunnerError(field, f"the path '{alt}' has a parenthesis, which a Claude Code "
                                          f"permission rule cannot hold; use a `{{command: ...}}` runner")
            rules.update(dict.fromkeys(f"{tool}(/{_gitignore(alt)})" for tool in tools))
    return tuple(rules)


def _claude(p: Preset, inv: AgentInvocation) -> str | RunnerError:
    # The prompt arrives on stdin: "cat file | claude -p" is the documented piped input,
    # and stdin holds a prompt of any size, where one argument is capped (128 KiB on
    # Linux) and could start with a '-'. The brief is appended to the system prompt, so
    # Claude Code keeps its own instructions (--system-prompt-file would replace them).
    rules = claude_permission_rules(inv.writes, inv.reads)
    if isinstance(rules, RunnerError):
        return rules
    argv: list[Word] = [p.name, *p.flags, "--append-system-prompt-file", _path(inv.brief_file),
                        *_limits(p, inv)]
    if inv.resume_session is not None:
        argv += _resume(["--resume"], inv.resume_session)
    if rules:
        argv += ["--allowedTools", *rules]       # variadic, so last
    return f"{_join(argv)} < {_join([_path(inv.prompt_file)])}"


def _stdin_brief_then_prompt(inv: AgentInvocation) -> str:
    """Codex and Gemini take no system-prompt file that keeps their own instructions
    (Codex's model_instructions_file replaces them, as does Gemini's GEMINI_SYSTEM_MD),
    and writing an AGENTS.md or GEMINI.md into the worktree would be a change outside the
    domain; so the brief goes first in the prompt, which both read from stdin."""
    return _join(["cat", "--", _value(inv.brief_file), _value(inv.prompt_file)])


def _codex(p: Preset, inv: AgentInvocation) -> str | RunnerError:
    # "If you omit the prompt argument, Codex reads the prompt from stdin. Use `codex exec
    # -` when you want to force that behavior explicitly." A resumed run is the subcommand
    # `codex exec resume SESSION_ID`; the docs put exec's flags before `resume` and say
    # "you must still provide flags to customize Codex behavior", so they are repeated.
    # No -C: lanes starts the command in the task's workdir, which becomes the workspace
    # that --sandbox workspace-write lets Codex write in.
    argv: list[Word] = [p.name, *p.flags, *_limits(p, inv)]
    if inv.resume_session is not None:
        argv += _resume(["resume"], inv.resume_session)
    return f"{_stdin_brief_then_prompt(inv)} | {_join([*argv, '-'])}"


def _gemini(p: Preset, inv: AgentInvocation) -> str | RunnerError:
    # Headless because stdin is not a terminal ("echo ... | gemini"), whose content the CLI
    # "prepends to the prompt". stream-json rather than json: its `init` event names the
    # session first, so an attempt killed by its timeout can still be resumed, and its
    # tool_use/tool_result events make the transcript.
    argv: list[Word] = [p.name, *p.flags, *_limits(p, inv)]
    if inv.resume_session is not None:
        argv += _resume(["--resume"], inv.resume_session)
    return f"{_stdin_brief_then_prompt(inv)} | {_join(argv)}"


def _literal_files(patterns: Sequence[str], field: str) -> list[str] | RunnerError:
    alternatives = _path_alternatives(patterns, field)
    if isinstance(alternatives, RunnerError):
        return alternatives
    return [a for a in alternatives if not any(c in a for c in "*?[")]


def _aider(p: Preset, inv: AgentInvocation) -> str | RunnerError:
    # Aider edits the files in its chat and may add others when the model asks (which
    # --yes-always accepts): the task's writes that name one file go in as --file, its
    # reads and the brief as --read (read-only); a glob names no file before the run, so
    # the worktree check is what holds aider to it. `--opt=value` keeps a path that starts
    # with '-' a value for argparse.
    files = _literal_files(inv.writes, "writes")
    readonly = _literal_files(inv.reads, "reads")
    if isinstance(files, RunnerError):
        return files
    if isinstance(readonly, RunnerError):
        return readonly
    argv: list[Word] = [p.name, *p.flags, _option("--message-file=", inv.prompt_file),
                        _option("--read=", inv.brief_file)]
    argv += [f"--read={r}" for r in readonly] + [f"--file={w}" for w in files]
    return _join(argv + _limits(p, inv))


PRESETS: Mapping[str, Preset] = {p.name: p for p in (
    Preset(
        name="claude", title="Claude Code", install="npm install -g @anthropic-ai/claude-code",
        env=("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"),
        docs=("https://code.claude.com/docs/en/cli-reference", "https://code.claude.com/docs/en/headless",
              "https://code.claude.com/docs/en/permissions"),
        # -p: print mode; stream-json "is used with --verbose" in print mode; dontAsk:
        # "anything that would prompt is denied" ("Locked-down CI and scripts"), so only
        # the allow rules of the domain (and reads, which need no approval) run, and a
        # headless run never waits for an answer. Not --bare: it ignores OAuth logins.
        flags=("-p", "--output-format", "stream-json", "--verbose", "--permission-mode", "dontAsk"),
        model_flag="--model", turns_flag="--max-turns", budget_flag="--max-budget-usd",
        reports_cost=True, resumes=True, no_turns="", build=_claude),
    Preset(
        name="codex", title="Codex CLI", install="npm install -g @openai/codex",
        env=("CODEX_API_KEY",),
        docs=("https://developers.openai.com/codex/noninteractive",
              "https://developers.openai.com/codex/cli/reference#codex-exec"),
        # --sandbox workspace-write: "Allow edits" (the deprecated --full-auto's successor);
        # --skip-git-repo-check: the check guards a checkout without lanes, and a shared
        # workdir need not be a repository at all; lanes isolates a task in its worktree.
        flags=("exec", "--json", "--sandbox", "workspace-write", "--skip-git-repo-check"),
        model_flag="--model", turns_flag=None, budget_flag=None, reports_cost=False, resumes=True,
        no_turns="it has no documented flag or setting that limits turns", build=_codex),
    Preset(
        name="gemini", title="Gemini CLI", install="npm install -g @google/gemini-cli",
        env=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        docs=("https://geminicli.com/docs/cli/headless/", "https://geminicli.com/docs/cli/cli-reference/"),
        # auto_edit approves the edit tools and nothing else (yolo would approve shell
        # commands too), the nearest Gemini has to "edits allowed, nothing more".
        flags=("--output-format", "stream-json", "--approval-mode", "auto_edit"),
        model_flag="--model", turns_flag=None, budget_flag=None, reports_cost=False, resumes=True,
        no_turns="its limit is the settings.json key model.maxSessionTurns, not a flag", build=_gemini),
    Preset(
        name="aider", title="Aider", install="python -m pip install aider-install && aider-install",
        env=("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"),
        docs=("https://aider.chat/docs/scripting.html", "https://aider.chat/docs/config/options.html"),
        # --no-auto-commits: lanes commits the task's change; --no-gitignore: aider would
        # add `.aider*` to .gitignore, a change outside the domain; the others keep a
        # headless run from colouring its log, asking about updates, release notes or
        # analytics (which --yes-always would otherwise answer "yes").
        flags=("--yes-always", "--no-auto-commits", "--no-gitignore", "--no-pretty", "--no-check-update",
               "--no-show-release-notes", "--no-analytics"),
        model_flag="--model", turns_flag=None, budget_flag=None, reports_cost=True, resumes=False,
        no_turns="it has no flag that limits turns", build=_aider),
)}


def _bad_word(value: str) -> str | None:
    if not value:
        return "is empty"
    if "\0" in value:
        return "contains a NUL character, which no command line can hold"
    if value[0] == "-":
        return "starts with '-', so the tool would read it as an option"
    return None


def _problem(p: Preset | None, inv: AgentInvocation) -> RunnerError | None:
    """Inputs no command line can hold, and limits the runner cannot keep."""
    for field in ("prompt_file", "brief_file", "resume_session"):
        value = getattr(inv, field)
        if isinstance(value, EnvVar) and not _ENV_NAME.match(value.name):
            return RunnerError(field, f"{value.name!r} is not an environment variable name")
    for field in ("prompt_file", "brief_file"):
        value = getattr(inv, field)
        if isinstance(value, str) and (not value or "\0" in value):
            return RunnerError(field, f"the {field.replace('_', ' ')} path is empty or contains a NUL character")
    for field, patterns in (("writes", inv.writes), ("reads", inv.reads)):
        if any("\0" in pattern for pattern in patterns):
            return RunnerError(field, "a pattern contains a NUL character, which no command line can hold")
    for field, word in (("model", inv.model), ("resume_session", inv.resume_session)):
        bad = None if word is None or isinstance(word, EnvVar) else _bad_word(word)
        if bad:
            return RunnerError(field, f"the {field.replace('_', ' ')} {word!r} {bad}")
    turns, budget = inv.max_turns, inv.max_budget_usd
    if turns is not None and (isinstance(turns, bool) or not isinstance(turns, int) or turns < 1):
        return RunnerError("max_turns", f"max_turns must be a whole number of at least 1, not {turns!r}")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))
                               or not math.isfinite(budget) or budget <= 0):
        return RunnerError("max_budget_usd", f"max_budget_usd must be a positive amount, not {budget!r}")
    title = p.title if p else "a command template"
    if turns is not None and (p is None or p.turns_flag is None):
        why = p.no_turns if p else "it has no {max_turns} placeholder"
        return RunnerError("max_turns", f"{title} cannot be held to max_turns: {why}")
    if budget is not None and p is not None and p.budget_flag is None and not p.reports_cost:
        return RunnerError("max_budget_usd", f"{title} has no budget flag and reports no cost, so neither it "
                                             f"nor lanes can hold it to max_budget_usd")
    return None


def _parse_template(template: str) -> list[tuple[str, str | None]] | RunnerError:
    """(literal text, placeholder) pairs, with `{{`/`}}` already made single braces."""
    if not template.strip():
        return RunnerError("command", "the command template is empty")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        return RunnerError("command", "the command template has an unmatched '{' or '}'; write '{{' or '}}' "
                                      "for a literal brace")
    out: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parts:
        if name is not None and name not in PLACEHOLDERS:
            if not name:
                return RunnerError("command", "the command template has an empty placeholder {}")
            near = difflib.get_close_matches(name, PLACEHOLDERS, n=1, cutoff=0.6)
            hint = f" (did you mean {{{near[0]}}}?)" if near else ""
            return RunnerError("command", f"unknown placeholder {{{name}}} in the command template{hint}; "
                                          f"the placeholders are " + ", ".join(f"{{{n}}}" for n in PLACEHOLDERS))
        if spec or conversion:
            return RunnerError("command", f"the placeholder {{{name}}} takes no conversion or format spec")
        out.append((literal, name))
    return out


def template_problem(template: object) -> RunnerError | None:
    """What is wrong with a `{command: TEMPLATE}` runner, checked without any task."""
    if not isinstance(template, str):
        return RunnerError("command", "the command template must be a string")
    parts = _parse_template(template)
    return parts if isinstance(parts, RunnerError) else None


def _fill(template: str, inv: AgentInvocation) -> str | RunnerError:
    """Placeholders become shell words: one per path, one per pattern of {writes} and
    {reads} (all of the task's resources as declared, like LANES_WRITES; none when
    there are none)."""
    parts = _parse_template(template)
    if isinstance(parts, RunnerError):
        return parts
    out = []
    for literal, name in parts:
        out.append(literal)
        if name in ("writes", "reads"):
            out.append(" ".join(shlex.quote(x) for x in getattr(inv, name)))
        elif name == "model":
            if inv.model is None:
                return RunnerError("model", "the command template uses {model} but the agent has no model")
            out.append(shlex.quote(inv.model))
        elif name is not None:
            out.append(_join([_value(getattr(inv, name))]))
    return "".join(out)


def build_command(runner: str | Mapping[str, object], invocation: AgentInvocation) -> str | RunnerError:
    """The shell command of one attempt: a preset by name ("claude", "codex", "gemini",
    "aider") or a `{"command": TEMPLATE}` mapping. Deterministic in its inputs. A resume
    session is used where the tool resumes sessions and ignored where it has none (aider,
    templates)."""
    if isinstance(runner, Mapping):
        if set(runner) != {"command"}:
            return RunnerError("runner", "a runner mapping has exactly one key, command")
        template = runner["command"]
        if not isinstance(template, str):
            return RunnerError("command", "the command template must be a string")
        return template_problem(template) or _problem(None, invocation) or _fill(template, invocation)
    preset = PRESETS.get(runner) if isinstance(runner, str) else None
    if preset is None:
        if runner == "shell":
            return RunnerError("runner", "a shell agent runs `run` commands; it has no command line for a prompt")
        near = difflib.get_close_matches(str(runner), sorted(PRESETS), n=1, cutoff=0.6)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        return RunnerError("runner", f"unknown runner {runner!r}{hint}; the runners are "
                                     + ", ".join(sorted(PRESETS)) + ", shell, or {command: TEMPLATE}")
    return _problem(preset, invocation) or preset.build(preset, invocation)
