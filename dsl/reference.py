"""docs/reference.md, rendered from the declaration of the fields (fields.py).

    python3 -m lanes.dsl.reference > docs/reference.md

Every field of both forms comes from fields.py: its name, what it holds, its
description, its choices and the rules of its group. What is written here is how a
kind of value is spelled in each form (an example per kind), the pages' prose, and
the meaning of each diagnostic code. tests/test_reference.py holds the page to this
rendering (so it cannot drift from the declaration), every code of diagnostics.py to
a meaning, and each example to the same raw tree in both forms.
"""
from __future__ import annotations

from . import fields as declared
from .diagnostics import CODES
from .frozen import dataclass


@dataclass(frozen=True)
class Spelling:
    """One value, as YAML writes it after `name: ` and as the grammar writes its statement
    (`{name}` stands for the field's name)."""

    yaml: str
    lanes: str


# how each kind of value is written (fields.Field.kind)
KINDS: dict[str, tuple[str, Spelling]] = {
    "id": ("an id", Spelling("coder", "{name} coder")),
    "ids": ("ids", Spelling("[python, fastapi]", "{name} python, fastapi")),
    "text": ("a text", Spelling('"make api"', '{name} "make api"')),
    "patterns": ("resource patterns", Spelling('["src/api/**", "port:8000"]', '{name} "src/api/**", "port:8000"')),
    "duration": ("a duration", Spelling("5m", "{name} 5m")),
    "count": ("a whole number >= 0", Spelling("2", "{name} 2")),
    "count1": ("a whole number >= 1", Spelling("2", "{name} 2")),
    "factor": ("a number >= 1", Spelling("2", "{name} 2")),
    "amount": ("an amount in USD", Spelling("2.5", "{name} 2.5")),
    "flag": ("true or false", Spelling("true", "{name} true")),
    "choice": ("one of the choices", Spelling("", "")),   # the first choice, below
    "env": ("NAME: value", Spelling('{PYTHONUNBUFFERED: "1"}', '{name} { PYTHONUNBUFFERED "1" }')),
    "backoff": ("initial, factor, max", Spelling("{initial: 2s, factor: 2, max: 1m}", "{name} 2s * 2 max 1m")),
    "domain": ("a domain id or an inline domain", Spelling("api", "{name} api")),
    "runner": ("a runner", Spelling("claude", "{name} claude")),
    "limits": ("RUNNER: N", Spelling("{claude: 2, codex: 1}", "{name} { claude 2; codex 1 }")),
    "for_each": ("KEY: [items]", Spelling("{port: [8000, 8001]}", "{name} { port 8000, 8001 }")),
    "needs": ("ids", Spelling("[schema, api]", "{name} schema, api")),
    "defaults": ("a mapping", Spelling("{timeout: 10m, retries: 1}", "{name} { timeout 10m; retries 1 }")),
    "domains": ("id: domain", Spelling('{api: {writes: ["src/api/**", "tests/api/**"]}}',
                                       'domain api { writes "src/api/**", "tests/api/**" }')),
    "agents": ("id: agent", Spelling("{backend: {domain: api, skills: [python, fastapi]}}",
                                     "agent backend { domain api; skills python, fastapi }")),
    "tasks": ("id: task", Spelling('{api: {agent: backend, run: "make api"}}', 'task api by backend { run "make api" }')),
    "gates": ("id: gate", Spelling('{integration: {needs: [api], run: "pytest -q"}}',
                                   'gate integration needs api { run "pytest -q" }')),
}

# codes -> meaning, SPEC section 4 (diagnostics.CODES gives their severities)
MEANINGS: dict[str, str] = {
    "E000": "the input file cannot be read (missing, not a regular file, unreadable)",
    "E100": "syntax error (YAML or grammar), with the position",
    "E101": "unknown field (with \"did you mean\" where one is near)",
    "E102": "bad value or type (duration, id, on_fail, instances, ...)",
    "E103": "missing required field, or both or neither of two exclusive fields",
    "E104": "a `run` or `rollback` that bash cannot parse (checked with `bash -n`, never executed)",
    "E200": "duplicate id",
    "E201": "reference to an undefined agent, domain, task or gate (with a suggestion)",
    "E202": "dependency cycle; the message lists the cycle in order",
    "E203": "no agent has all the skills a task `requires`",
    "E300": "write/write overlap between two tasks that may run at the same time, with a witness",
    "E301": "write/read overlap between two tasks that may run at the same time, with a witness",
    "E302": "a task's own domain is not inside its agent's domain (witness given)",
    "E303": "a path pattern escapes the workdir (absolute, or `..`)",
    "W400": "an agent with no tasks, or a domain never used",
    "W401": "two agents' write domains overlap although every pair of their tasks is ordered (legal, but fragile)",
    "W402": "an `on_fail: rollback` gate with nothing to undo (no task with a `rollback` since the previous gate)",
    "W403": "`workspace: worktree` where the workdir is not inside a git repository",
}

# where each group sits in a workflow: (YAML path, grammar statement)
PLACES: dict[str, tuple[str, str]] = {
    declared.TOP.title: ("the top level", "the top level"),
    declared.DEFAULTS.title: ("`defaults:`", "`defaults { ... }`"),
    declared.BACKOFF.title: ("`backoff:` (in defaults or a task)", "`backoff INITIAL * FACTOR max MAX`, or `backoff { ... }`"),
    declared.DOMAIN.title: ("`domains: {ID: ...}`, or inline as an agent's or task's `domain`",
                            "`domain ID { ... }`, or `writes`/`reads` in an agent or task"),
    declared.AGENT.title: ("`agents: {ID: ...}`", "`agent ID { ... }`"),
    declared.RUNNER.title: ("an agent's `runner: {...}`", "`runner { ... }` in an agent"),
    declared.TASK.title: ("`tasks: {ID: ...}`", "`task ID [by AGENT | requires SKILLS] [needs IDS] [for KEY in ITEMS] { ... }`"),
    declared.GATE.title: ("`gates: {ID: ...}`", "`gate ID needs IDS { ... }`"),
}

# values that read better than their kind's example: (group title, field) -> the value,
# written the same in both forms
VALUES: dict[tuple[str, str], str | Spelling] = {
    (declared.TOP.title, "workflow"): "fullstack-feature",
    (declared.TOP.title, "description"): '"API and UI in parallel"',
    (declared.TOP.title, "workdir"): '"."',
    (declared.AGENT.title, "model"): '"claude-sonnet-4-5"',
    (declared.AGENT.title, "description"): '"the backend developer"',
    (declared.RUNNER.title, "command"): '"my-agent --prompt {prompt_file}"',
    (declared.TASK.title, "agent"): "backend",
    (declared.TASK.title, "run"): '"make api"',
    (declared.TASK.title, "prompt"): '"Add a /health endpoint"',
    (declared.TASK.title, "rollback"): '"git checkout -- src/api"',
    (declared.TASK.title, "description"): '"the API"',
    (declared.GATE.title, "needs"): Spelling("[api, ui]", "{name} api, ui"),
    (declared.GATE.title, "run"): '"pytest -q"',
    (declared.GATE.title, "approve"): '"Ship the release?"',
    (declared.GATE.title, "on_fail"): "rollback",
    (declared.GATE.title, "description"): '"the integration tests"',
}

GROUPS = (declared.TOP, declared.DEFAULTS, declared.BACKOFF, declared.DOMAIN, declared.AGENT,
          declared.RUNNER, declared.TASK, declared.GATE)


def spelling(group: declared.Group, field: declared.Field) -> Spelling:
    """How `field` of `group` is written in each form, from the example of its kind."""
    value = VALUES.get((group.title, field.name))
    if isinstance(value, str):
        return Spelling(f"{field.name}: {value}", f"{field.name} {value}")
    if value is not None:
        return Spelling(f"{field.name}: {value.yaml}", value.lanes.replace("{name}", field.name))
    if field.kind == "choice":
        value = field.choices[-1]
        return Spelling(f"{field.name}: {value}", f"{field.name} {value}")
    example = KINDS[field.kind][1]
    return Spelling(f"{field.name}: {example.yaml}", example.lanes.replace("{name}", field.name))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def _group(group: declared.Group) -> list[str]:
    yaml_place, lanes_place = PLACES[group.title]
    out = [f"### {group.title[0].upper()}{group.title[1:]}", "",
           f"YAML: {yaml_place}. Grammar: {lanes_place}.", "",
           "| field | value | YAML | grammar | meaning |", "| --- | --- | --- | --- | --- |"]
    for f in group.fields:
        s = spelling(group, f)
        value = " \\| ".join(f"`{c}`" for c in f.choices) if f.choices else KINDS[f.kind][0]
        out.append(f"| `{f.name}` | {value} | {_cell(_code(s.yaml))} | {_cell(_code(s.lanes))} | "
                   f"{_cell(f.description)} |")
    rules = []
    if group.required:
        rules.append("required: " + ", ".join(f"`{r}`" for r in group.required))
    rules += [f"exactly one of `{a}` and `{b}`" for a, b in group.exactly_one]
    rules += [f"`{a}` excludes " + ", ".join(f"`{x}`" for x in rest) for a, rest in group.apart]
    if rules:
        out += ["", "Rules: " + "; ".join(rules) + " (E103 otherwise)."]
    return out + [""]


_INTRO = """\
# Reference: the fields of a workflow

Generated from `dsl/fields.py` by `python3 -m lanes.dsl.reference > docs/reference.md`
(a test holds this page to the declaration: edit the declaration, not this page).
A workflow is written in YAML (`*.yaml`, `*.yml`) or in the grammar form
(`*.lanes`); both build the same tree, and `lanes fmt --to yaml|lanes` converts
either way. `lanes schema workflow` prints the JSON Schema of the YAML form.

Every field has the same name in both forms. In the grammar form a field is a
statement `NAME VALUE[, VALUE...]` or `NAME { STATEMENTS }`, one per line or
separated by `;`; strings are double-quoted with the usual escapes, `\"\"\"...\"\"\"`
holds a multi-line command verbatim, and comments start with `#` in both forms.
A task's or gate's head may hold `by AGENT` (the field `agent`), `requires SKILLS`,
`needs IDS` and `for KEY in ITEMS` (the field `for_each`, once per key); an agent's
or task's `writes`/`reads` declare its inline domain. Unknown fields are E101 in
both forms, with a suggestion when one is near.
"""

_VALUES = f"""\
## Values

- **Ids**: `{declared.ID_PATTERN}` (agents, domains, tasks, gates, the workflow).
  A `for_each` item is `{declared.ITEM_PATTERN}`: a task template `restore` with
  items `8000, 8001` makes the tasks `restore-8000` and `restore-8001`.
- **Durations**: a number of seconds (`90`, `1.5`), or hours, minutes, seconds and
  milliseconds in that order (`90s`, `5m`, `1h30m`, `250ms`, `2m30s`).
- **Counts**: whole numbers (`retries` >= 0; `instances`, `max_turns` >= 1); a
  backoff `factor` is a number >= 1; amounts are USD (`2.5`).
- **Lists**: a single value is a one-item list (`skills: python`, `needs: schema`).
- **Environment variables**: names `{declared.ENV_NAME_PATTERN}`, values texts.
- **Choices**: `on_fail` {", ".join(f"`{c}`" for c in declared.ON_FAIL)} (default `stop`);
  `workspace` {", ".join(f"`{c}`" for c in declared.WORKSPACES)} (default `shared`);
  `runner` {", ".join(f"`{c}`" for c in declared.RUNNERS)}, or `{{command: TEMPLATE}}`.

## Resource patterns

A resource is a path of one or more non-empty segments joined by `/`, relative to
the workdir, or `scheme:rest` for anything else (`port:8000`, `db:users.*`); a
scheme is lower-case letters and digits, and patterns of different schemes never
overlap. Patterns are gitignore-style globs anchored at the workdir:

- `foo.py` is only the file at the top; `**/foo.py` is any depth.
- `*` is any run of characters other than `/` (also none, and a leading `.`);
  `?` one character other than `/`; `[abc]`, `[a-z]`, `[!abc]` one character
  other than `/`; `{{x,y}}` is expanded first (alternatives may hold `/`,
  wildcards and nested braces).
- `**` as a whole segment: leading `**/` is zero or more segments, `/**/` zero or
  more, trailing `/**` one or more (everything inside), and `**` alone every
  path; `a**b` is the same as `a*b`.
- A leading `./` is dropped and a trailing `/` means `/**`; a leading `/` or a
  `.` or `..` segment is E303. Matching is case-sensitive; symbolic links are not
  followed (the proof is about path strings).

`lanes check` proves that two tasks that may run at the same time (neither
reachable from the other through `needs`, and not both on one agent with
`instances: 1`) never write the same resource (E300) and that no task reads what
another writes meanwhile (E301), exactly: every real overlap is reported with a
witness, and no overlap that no resource can witness.
"""


def _codes() -> list[str]:
    out = ["## Diagnostic codes", "", "| code | severity | meaning |", "| --- | --- | --- |"]
    out += [f"| {c} | {CODES[c]} | {_cell(MEANINGS[c])} |" for c in sorted(CODES, key=lambda c: (c[0], c))]
    out += ["", "Exit status of every command: 0 success (warnings allowed), 1 the workflow has errors "
                "or the run failed, 2 bad usage or unreadable input, 130 interrupted (Ctrl-C).", ""]
    return out


def render() -> str:
    parts = [_INTRO, "## Fields", ""]
    for group in GROUPS:
        parts += _group(group)
    return "\n".join([*parts, _VALUES, *_codes()]).rstrip("\n") + "\n"


if __name__ == "__main__":           # pragma: no cover - the command of the docstring
    import sys
    sys.stdout.write(render())
