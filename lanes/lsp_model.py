"""What the language server knows of a document, without the protocol: the diagnostics
of `lanes check` for its text, and the places of its declarations, references and
patterns. Positions are those of spans: 1-based lines and columns in characters.
"""
from __future__ import annotations

from collections.abc import Iterator

from lanes.compiler.model import Model
from lanes.dsl.ast import Domain, DomainRef, Name, Text, Workflow
from lanes.dsl.diagnostics import Diagnostic, diag, sort_diagnostics
from lanes.dsl.frozen import dataclass, field
from lanes.dsl.loader import parse_source
from lanes.dsl.source import MAX_BYTES, Source
from lanes.dsl.span import Span

KINDS = ("domain", "agent", "task", "gate")


@dataclass(frozen=True)
class Reference:
    name: Name
    kinds: tuple[str, ...]             # what it may name: ("agent",), ("task", "gate"), ...


@dataclass(frozen=True)
class PatternAt:
    text: Text
    access: str                        # "writes" | "reads"
    owner: str                         # "domain api", "agent scribe", "task t"


@dataclass
class Analysis:
    """One version of a document. `workflow` and `model` are None when it did not parse."""

    path: str
    text: str
    diagnostics: list[Diagnostic]
    workflow: Workflow | None = None
    model: Model | None = None
    declarations: dict[str, dict[str, Span]] = field(default_factory=dict)   # kind -> id -> span
    references: list[Reference] = field(default_factory=list)
    patterns: list[PatternAt] = field(default_factory=list)

    def ids(self, kind: str) -> list[str]:
        return list(self.declarations.get(kind, {}))

    def skills(self) -> list[str]:
        if self.workflow is None:
            return []
        return sorted({s.value for a in self.workflow.agents for s in a.skills})


def analyse_text(path: str, text: str) -> Analysis:
    """Every check of `lanes check` on `text` as if it were the file at `path` (its form
    from the name, its workdir from the directory): the same codes and positions."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BYTES:
        source = Source(path, b"", "", too_big=True)
    else:
        source = Source(path, data, text)
    workflow, diags = parse_source(source)
    if workflow is None:
        return Analysis(path, text, sort_diagnostics(diags))
    from lanes.compiler.pipeline import analyse  # the compiler, when there is a workflow

    model, more = analyse(workflow, source)
    result = Analysis(path, text, sort_diagnostics([*diags, *more]), workflow, model)
    _index(result, workflow)
    return result


def internal_error(path: str, exc: BaseException) -> Analysis:
    """A failure of the compiler itself is shown in the editor, never a traceback."""
    message = f"lanes could not check this file: internal error {type(exc).__name__}: {exc}"
    return Analysis(path, "", [diag("E000", message, Span.point(path, 1, 1))])


def _index(result: Analysis, wf: Workflow) -> None:
    decl = result.declarations
    for kind, items in (("domain", wf.domains), ("agent", wf.agents), ("task", wf.tasks), ("gate", wf.gates)):
        for item in items:
            if item.id is not None:
                decl.setdefault(kind, {}).setdefault(item.id.value, item.id.span)
    refs, pats = result.references, result.patterns

    def domain_ref(ref: DomainRef | None, owner: str) -> None:
        if isinstance(ref, Name):
            refs.append(Reference(ref, ("domain",)))
        elif isinstance(ref, Domain):
            pats.extend(_patterns(ref, owner))

    for d in wf.domains:
        pats.extend(_patterns(d, f"domain {d.id.value}" if d.id else "domain"))
    for a in wf.agents:
        domain_ref(a.domain, f"agent {a.id.value}")
    for t in wf.tasks:
        if t.agent is not None:
            refs.append(Reference(t.agent, ("agent",)))
        refs.extend(Reference(n, ("task", "gate")) for n in t.needs)
        domain_ref(t.domain, f"task {t.id.value}")
    for g in wf.gates:
        refs.extend(Reference(n, ("task", "gate")) for n in g.needs)


def _patterns(d: Domain, owner: str) -> Iterator[PatternAt]:
    for access, texts in (("writes", d.writes), ("reads", d.reads)):
        for t in texts:
            yield PatternAt(t, access, owner)


def contains(span: Span, line: int, column: int) -> bool:
    """Whether the position is on the span (its end included: the cursor after a word)."""
    if (line, column) < (span.line, span.column):
        return False
    return (line, column) <= (span.end_line, span.end_column)


def definition(a: Analysis, line: int, column: int) -> Span | None:
    """The declaration a reference at the position names."""
    for ref in a.references:
        if contains(ref.name.span, line, column):
            for kind in ref.kinds:
                span = a.declarations.get(kind, {}).get(ref.name.value)
                if span is not None:
                    return span
    return None


def pattern_at(a: Analysis, line: int, column: int) -> PatternAt | None:
    for p in a.patterns:
        if contains(p.text.span, line, column):
            return p
    return None


MAX_HOVER_LINES = 40


def hover(a: Analysis, line: int, column: int) -> tuple[str, Span] | None:
    """Markdown for a pattern at the position: the tasks whose domains overlap it, each
    with the pattern it overlaps and a resource both match."""
    at = pattern_at(a, line, column)
    if at is None or a.model is None:
        return None
    from lanes.compiler.patterns import intersect, pattern_problem

    text = at.text.value
    head = f"`{text}`: {at.access} of {at.owner}"
    if pattern_problem(text) is not None:
        return head, at.text.span
    rows, tasks = [], set()
    for node in a.model.nodes:
        if not node.is_task:
            continue
        for access, patterns in (("writes", node.domain.writes), ("reads", node.domain.reads)):
            for p in patterns:
                if pattern_problem(p.text) is not None:
                    continue
                witness = intersect(text, p.text)
                if witness is not None:
                    rows.append(f"- task `{node.id}` {access} `{p.text}` (both match `{witness}`)")
                    tasks.add(node.id)
    if not rows:
        return f"{head}\n\nno task's domain overlaps it", at.text.span
    more = len(rows) - MAX_HOVER_LINES
    listed = rows[:MAX_HOVER_LINES] + ([f"- ... and {more} more"] if more > 0 else [])
    count = f"{len(tasks)} task{'s' if len(tasks) != 1 else ''}"
    return f"{head}\n\noverlaps the domains of {count}:\n" + "\n".join(listed), at.text.span
