"""Grammar front end (*.lanes): text -> the same raw tree the YAML front end gives.

lark (LALR, positions propagated) fixes the shape of statements; this module
gives them their meaning: `task api by backend needs schema { run "make api" }`
becomes the map `{agent: backend, needs: [schema], run: "make api"}` under
`tasks: {api: ...}`, with every key and value carrying its span. Field names are
not checked here: the shared builder reports unknown ones (E101) for both forms.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
import re

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .diagnostics import Diagnostic, diag
from .raw import Map, Raw, Scalar, Seq
from .span import Span

MAX_DEPTH = 8                     # workflow > task > domain/env/backoff: 3 levels are ever needed
DECLARATIONS = {"domain": "domains", "agent": "agents", "task": "tasks", "gate": "gates"}
_TOKEN_WORDS = {
    "WORD": "a name or value", "STRING": "a string", "LONG_STRING": "a string", "COMMA": "','",
    "STAR": "'*'", "LBRACE": "'{'", "RBRACE": "'}'", "_SEP": "end of statement (newline or ';')",
    "$END": "end of file",
}
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f",
            "0": "\0"}
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", re.S)


class _Stop(Exception):
    def __init__(self, d: Diagnostic) -> None:
        self.diagnostic = d


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("lanes.dsl").joinpath("lanes.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _unescape(body: str) -> str:
    def one(m: re.Match) -> str:
        e = m.group(1)
        if e[0] in "uU" and len(e) > 1:
            return chr(int(e[1:], 16))
        return _ESCAPES.get(e, "\\" + e)
    return _ESCAPE.sub(one, body)


class _Interpreter:
    def __init__(self, file: str) -> None:
        self.file = file

    def span(self, first, last=None) -> Span:
        last = last or first
        return Span(self.file, first.line, first.column, last.end_line, last.end_column)

    def fail(self, message: str, at) -> None:
        raise _Stop(diag("E100", message, self.span(at)))

    def scalar(self, tok: Token) -> Scalar:
        if tok.type == "STRING":
            return Scalar(_unescape(tok.value[1:-1]), self.span(tok))
        if tok.type == "LONG_STRING":
            body = tok.value[3:-3]
            if body.startswith("\n"):
                body = body[1:]
            elif body.startswith("\r\n"):
                body = body[2:]
            return Scalar(_unescape(body), self.span(tok))
        if tok.type == "WORD":
            return Scalar(tok.value, self.span(tok))
        self.fail(f"expected a value, found '{tok.value.strip()}'", tok)

    def key(self, tok: Token, name: str | None = None) -> Scalar:
        return Scalar(name or tok.value, self.span(tok))

    # -- statements -----------------------------------------------------------------------

    @staticmethod
    def pieces(stmt: Tree) -> tuple[Token, list[Token], Tree | None]:
        children = stmt.children
        block = children[-1] if children and isinstance(children[-1], Tree) else None
        parts = children[1:-1] if block is not None else children[1:]
        return children[0], list(parts), block

    def values(self, parts: list[Token], keyword: Token) -> Raw:
        """`a` -> Scalar; `a, b, c` -> Seq; anything else is a syntax error."""
        if not parts:
            self.fail(f"'{keyword.value}' needs a value", keyword)
        items: list[Scalar] = []
        expect_value = True
        for tok in parts:
            if expect_value:
                if tok.type == "COMMA":
                    self.fail("expected a value before ','", tok)
                items.append(self.scalar(tok))
            elif tok.type != "COMMA":
                self.fail(f"expected ',' or end of statement after a value, found '{tok.value}'"
                          + (" (quote text that holds spaces)" if tok.type == "WORD" else ""), tok)
            expect_value = not expect_value
        if expect_value:
            self.fail("expected a value after ','", parts[-1])
        if len(items) == 1 and parts[-1].type != "COMMA":
            return items[0]
        return Seq(tuple(items), Span(self.file, items[0].span.line, items[0].span.column,
                                      items[-1].span.end_line, items[-1].span.end_column))

    def backoff(self, parts: list[Token]) -> Raw:
        """`2s * 2 max 1m`, `2s * 2`, `2s max 1m` -> {initial, factor, max}."""
        entries = [(Scalar("initial", self.span(parts[0])), self.scalar(parts[0]))]
        rest = parts[1:]
        if rest and rest[0].type == "STAR":
            if len(rest) < 2:
                self.fail("expected the factor after '*'", rest[0])
            entries.append((self.key(rest[0], "factor"), self.scalar(rest[1])))
            rest = rest[2:]
        if rest and rest[0].type == "WORD" and rest[0].value == "max":
            if len(rest) < 2:
                self.fail("expected a duration after 'max'", rest[0])
            entries.append((self.key(rest[0]), self.scalar(rest[1])))
            rest = rest[2:]
        if rest:
            self.fail(f"expected 'INITIAL * FACTOR max MAX' for backoff, found '{rest[0].value}'", rest[0])
        return Map(tuple(entries), self.span(parts[0], parts[-1]))

    def field(self, stmt: Tree, depth: int) -> tuple[Scalar, Raw]:
        keyword, parts, block = self.pieces(stmt)
        if block is not None:
            if parts:
                self.fail(f"'{keyword.value}' takes either values or a block, not both", parts[0])
            return self.key(keyword), self.block(block, depth + 1)
        if keyword.value == "backoff" and any(t.type == "STAR" or t.value == "max" for t in parts):
            return self.key(keyword), self.backoff(parts)
        return self.key(keyword), self.values(parts, keyword)

    def block(self, block: Tree, depth: int, inline_domain: bool = False) -> Map:
        if depth > MAX_DEPTH:
            self.fail(f"blocks nest deeper than {MAX_DEPTH} levels", block.children[0])
        entries: list[tuple[Scalar, Raw]] = []
        domain: list[tuple[Scalar, Raw]] = []
        domain_key: Scalar | None = None
        for stmt in block.children[1:-1]:
            k, v = self.field(stmt, depth)
            if inline_domain and k.value in ("writes", "reads"):
                if domain_key is None:
                    domain_key = Scalar("domain", k.span)
                    entries.append((domain_key, Map((), k.span)))   # placeholder keeps the order
                domain.append((k, v))
            else:
                entries.append((k, v))
        if domain_key is not None:
            i = next(i for i, (k, _) in enumerate(entries) if k is domain_key)
            first, last = domain[0][0].span, domain[-1][1].span
            entries[i] = (domain_key, Map(tuple(domain), Span(self.file, first.line, first.column,
                                                              last.end_line, last.end_column)))
        lb, rb = block.children[0], block.children[-1]
        return Map(tuple(entries), self.span(lb, rb))

    def head(self, kind: str, keyword: Token, parts: list[Token]) -> list[tuple[Scalar, Raw]]:
        """`by A`, `requires s, t`, `needs x, y` after a task's or gate's id."""
        allowed = ("by", "requires", "needs") if kind == "task" else ("needs",)
        entries = []
        i = 0
        while i < len(parts):
            word = parts[i]
            if word.type != "WORD" or word.value not in allowed:
                self.fail(f"expected {' or '.join(repr(a) for a in allowed)} or '{{' in the head of "
                          f"{kind} '{keyword.value}', found '{word.value.strip()}'", word)
            j = i + 1
            while j < len(parts) and not (parts[j].type == "WORD" and parts[j].value in allowed
                                          and parts[j - 1].type != "COMMA"):
                j += 1
            name = "agent" if word.value == "by" else word.value
            value = self.values(parts[i + 1:j], word)
            if name != "agent" and isinstance(value, Scalar):
                value = Seq((value,), value.span)
            entries.append((self.key(word, name), value))
            i = j
        return entries

    def declaration(self, stmt: Tree, kind: str) -> tuple[Scalar, Map]:
        keyword, parts, block = self.pieces(stmt)
        if not parts or parts[0].type != "WORD":
            self.fail(f"expected the id of the {kind} after '{keyword.value}'", parts[0] if parts else keyword)
        ident = self.scalar(parts[0])
        entries = self.head(kind, parts[0], parts[1:]) if kind in ("task", "gate") else []
        if kind in ("domain", "agent") and len(parts) > 1:
            self.fail(f"expected '{{' after {kind} '{parts[0].value}'", parts[1])
        if block is not None:
            body = self.block(block, 1, inline_domain=kind in ("agent", "task"))
            entries += body.entries
        end = block.children[-1] if block is not None else (parts[-1] if parts else keyword)
        return ident, Map(tuple(entries), self.span(keyword, end))

    def workflow(self, tree: Tree) -> Map:
        entries: list[tuple[Scalar, Raw]] = []
        collections: dict[str, tuple[Scalar, list]] = {}
        for stmt in tree.children:
            keyword, parts, block = self.pieces(stmt)
            word = keyword.value
            if word in DECLARATIONS:
                ident, body = self.declaration(stmt, word)
                name = DECLARATIONS[word]
                if name not in collections:
                    key = Scalar(name, self.span(keyword))
                    collections[name] = (key, [])
                    entries.append((key, Map((), key.span)))          # placeholder keeps the order
                collections[name][1].append((ident, body))
            elif word == "workflow" and block is None and len(parts) == 2 and parts[1].type != "COMMA":
                entries.append((self.key(keyword), self.scalar(parts[0])))
                entries.append((Scalar("description", self.span(parts[1])), self.scalar(parts[1])))
            else:
                entries.append(self.field(stmt, 0))
        out = []
        for k, v in entries:
            if k.value in collections and collections[k.value][0] is k:
                items = collections[k.value][1]
                first, last = items[0][1].span, items[-1][1].span
                v = Map(tuple(items), Span(self.file, first.line, first.column, last.end_line, last.end_column))
            out.append((k, v))
        if not tree.children:
            self.fail("empty workflow file (expected 'workflow NAME' and declarations)", Token("WORD", "", 0, 1, 1, 1, 2))
        first = tree.children[0].children[0]
        return Map(tuple(out), self.span(first))


def _expected(tokens) -> str:
    names = sorted({_TOKEN_WORDS.get(t, t.lower()) for t in tokens})
    return ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1] if names else "something else"


def _end_of(text: str, file: str) -> Span:
    return Span.point(file, text.count("\n") + 1, len(text) - text.rfind("\n"))


def _syntax_error(exc: UnexpectedInput, text: str, file: str) -> Diagnostic:
    line, col = max(1, exc.line), max(1, exc.column)
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        if ch == '"':
            msg = "unterminated string (a string ends with '\"' on the same line; use \"\"\" for several lines)"
        elif ch == ":":
            msg = "unexpected ':' (the grammar form writes 'field value', not 'field: value'; YAML goes in a .yaml file)"
        elif ch.isprintable() and ch:
            msg = f"unexpected character '{ch}'"
        else:
            msg = f"unexpected character {ch!r}"
        return diag("E100", msg, Span.point(file, line, col))
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            return diag("E100", f"unexpected end of file: expected {_expected(exc.expected)} "
                        "(is a '}' missing?)", _end_of(text, file))
        found = "end of statement" if tok.type == "_SEP" else f"'{tok.value}'"
        return diag("E100", f"expected {_expected(exc.expected)}, found {found}", Span.point(file, line, col))
    if isinstance(exc, UnexpectedEOF):
        return diag("E100", f"unexpected end of file: expected {_expected(exc.expected)} (is a '}}' missing?)",
                    _end_of(text, file))
    return diag("E100", f"syntax error: {exc}", Span.point(file, line, col))


def parse_lanes(text: str, file: str) -> tuple[Map | None, list[Diagnostic]]:
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        return None, [_syntax_error(exc, text, file)]
    except RecursionError:
        return None, [diag("E100", "the file nests too deeply; refused", Span.point(file, 1, 1))]
    try:
        return _Interpreter(file).workflow(tree), []
    except _Stop as stop:
        return None, [stop.diagnostic]
    except RecursionError:
        return None, [diag("E100", "the file nests too deeply; refused", Span.point(file, 1, 1))]
