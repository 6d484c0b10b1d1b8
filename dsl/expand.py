"""`for_each` templates -> tasks (SPEC section 10), before any check.

A template `restore` with `for_each: {port: [8000, 8001]}` becomes the tasks
`restore-8000` and `restore-8001`, in the template's place, with `{port}` replaced
in `run`, `prompt`, `description`, `rollback`, its inline `writes`/`reads`, `needs`
and `env` values. Several keys make one task per combination (their product, the
first key outermost). A `needs` that names a template, anywhere, means every task
it makes. Expanded tasks keep the template's spans, so a diagnostic about one points
at the template; `Origin` says which item made it, for the message's related notes.

`{KEY}` is replaced only for the template's own keys and never after `$`, so that
`${port}` stays the shell's and a glob's `{a,b}` stays a glob.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import product
import re

from . import fields as declared
from .ast import Domain, EnvVar, Gate, Name, Task, Text, Workflow
from .diagnostics import Diagnostic, Related, diag
from .frozen import dataclass, replace
from .span import Span

ID = re.compile(declared.ID_PATTERN + r"\Z")


@dataclass(frozen=True)
class Origin:
    """Where an expanded task comes from: its template and its item."""

    template: str
    binding: tuple[tuple[str, str], ...]          # (key, item) in the order of the keys
    span: Span                                    # the first item's

    @property
    def item(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.binding)


Origins = dict[str, Origin]


def expand_workflow(wf: Workflow) -> tuple[Workflow, Origins, list[Diagnostic]]:
    """The workflow with every template expanded; the origin of each expanded task."""
    templates = {t.id.value: t for t in wf.tasks if t.for_each is not None}
    if not templates:
        return wf, {}, []
    diags: list[Diagnostic] = []
    origins: Origins = {}
    made: dict[str, list[Task]] = {name: _expansions(t, origins, diags) for name, t in templates.items()}
    members = {name: tuple(x.id.value for x in tasks) for name, tasks in made.items()}

    def needs(names: tuple[Name, ...]) -> tuple[Name, ...]:
        if not any(n.value in members for n in names):
            return names
        return tuple(Name(m, n.span) for n in names for m in members.get(n.value, (n.value,)))

    tasks: list[Task] = []
    for t in wf.tasks:
        if t.for_each is None:
            tasks.append(replace(t, needs=needs(t.needs)) if t.needs else t)
        else:
            tasks += (replace(x, needs=needs(x.needs)) if x.needs else x for x in made[t.id.value])
    gates = tuple(replace(g, needs=needs(g.needs)) for g in wf.gates)
    clashes: list[tuple[Task | Gate, str]] = [(n, "task") for n in wf.tasks
                                              if n.for_each is None and n.id.value in templates]
    clashes += [(g, "gate") for g in wf.gates if g.id.value in templates]
    for node, kind in clashes:
        diags.append(diag("E200", f"id '{node.id.value}' is both a for_each template and a {kind}",
                          node.id.span, related=[Related("the template", templates[node.id.value].id.span)]))
    return replace(wf, tasks=tuple(tasks), gates=gates), origins, diags


def _expansions(t: Task, origins: Origins, diags: list[Diagnostic]) -> list[Task]:
    assert t.for_each is not None
    keys = tuple(a.key.value for a in t.for_each.axes)
    placeholder = re.compile(r"(?<!\$)\{(" + "|".join(re.escape(k) for k in keys) + r")\}")
    out = []
    for combo in product(*(a.items for a in t.for_each.axes)):
        binding = tuple(zip(keys, (item.value for item in combo)))
        ident = t.id.value + "-" + "-".join(item.value for item in combo)
        origin = Origin(t.id.value, binding, combo[0].span)
        origins[ident] = origin
        out.append(_instance(t, Name(ident, t.id.span), placeholder, _substitute(placeholder, dict(binding)),
                             origin, diags))
    return out


def _substitute(placeholder: re.Pattern[str], values: dict[str, str]) -> Callable[[str], str]:
    def sub(text: str) -> str:
        return placeholder.sub(lambda m: values[m.group(1)], text)
    return sub


def _instance(t: Task, ident: Name, placeholder: re.Pattern[str], sub: Callable[[str], str],
              origin: Origin, diags: list[Diagnostic]) -> Task:
    def text(v: Text | None) -> Text | None:
        if v is None or not placeholder.search(v.value):
            return v
        return Text(sub(v.value), v.span)

    def texts(vs: Iterable[Text]) -> tuple[Text, ...]:
        return tuple(Text(sub(v.value), v.span) if placeholder.search(v.value) else v for v in vs)

    needs = []
    for n in t.needs:
        if not placeholder.search(n.value):
            needs.append(n)
            continue
        value = sub(n.value)
        if ID.match(value):
            needs.append(Name(value, n.span))
        else:
            diags.append(diag("E102", f"need '{value}' of task '{ident.value}' ({origin.item}) is not a valid "
                              "id", n.span, nodes=[ident.value]))
    domain = t.domain
    if isinstance(domain, Domain):
        domain = Domain(domain.id, texts(domain.writes), texts(domain.reads), domain.span)
    env = tuple(EnvVar(e.name, Text(sub(e.value.value), e.value.span)) if placeholder.search(e.value.value)
                else e for e in t.env)
    return replace(t, id=ident, needs=tuple(needs), run=text(t.run), prompt=text(t.prompt),
                   description=text(t.description), rollback=text(t.rollback), domain=domain, env=env,
                   for_each=None)


def pools(origins: Origins) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each template and the ids of the tasks it made, in order (the plan's `pools`)."""
    out: dict[str, list[str]] = {}
    for ident, o in origins.items():
        out.setdefault(o.template, []).append(ident)
    return tuple((k, tuple(v)) for k, v in out.items())


def explain(diags: Iterable[Diagnostic], origins: Origins) -> list[Diagnostic]:
    """Each diagnostic about an expanded task gets a related note naming its item. The same
    fault in every expansion of a template (an E203, say) is reported once, with a count;
    conflicts (E300, E301) stay one per pair of tasks, as SPEC section 4 asks."""
    if not origins:
        return list(diags)
    quoted = re.compile(r"'([A-Za-z0-9_-]+)'")
    out: list[Diagnostic] = []
    first: dict[tuple[str, Span | None, str], int] = {}
    more: dict[int, int] = {}
    for d in diags:
        names = list(dict.fromkeys([*d.nodes, *quoted.findall(d.message)]))
        found = [(n, o) for n in names if (o := origins.get(n)) is not None]
        if found and d.code not in ("E300", "E301"):
            key = (d.code, d.span, quoted.sub(lambda m: _as_template(m.group(1), origins), d.message))
            if key in first:
                more[first[key]] = more.get(first[key], 0) + 1
                continue
            first[key] = len(out)
        notes = tuple(Related(f"'{n}' is for_each item {o.item} of template '{o.template}'", o.span)
                      for n, o in found)
        out.append(replace(d, related=d.related + notes) if notes else d)
    for i, n in more.items():
        d = out[i]
        out[i] = replace(d, related=(*d.related, Related(f"the same in {n} more task{'s' * (n > 1)} of the "
                                                          "for_each", None)))
    return out


def _as_template(name: str, origins: Origins) -> str:
    o = origins.get(name)
    return f"'{o.template}-*'" if o is not None else f"'{name}'"
