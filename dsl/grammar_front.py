"""Grammar front end (*.lanes): text -> the same raw tree the YAML front end gives.

lark (LALR) fixes the shape of statements (lanes.lark); the callbacks below, run
by the parser as it reduces (no parse tree is built), give them their meaning:
`task api by backend needs schema { run "make api" }` becomes the map
`{agent: backend, needs: [schema], run: "make api"}` under `tasks: {api: ...}`,
every key and value with its span. Field names are not checked here: the shared
builder reports unknown ones (E101) for both forms; a statement only a declaration
can be, under another name, is an unknown statement (E100, with "did you mean").

A syntax error ends its statement, not the parse (`_resync`, through lark's `on_error`),
so a file with several mistakes gets one E100 for each, at the place of each.
"""
from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
import gc
from importlib import resources
import re
import threading
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from lark import Lark, Token, Transformer, Tree
from lark.exceptions import UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer, TerminalDef

if TYPE_CHECKING:                                  # where lark keeps them varies between versions
    from lark.common import LexerConf
    from lark.lexer import LexerState
    from lark.parsers.lalr_parser_state import ParserState

from .diagnostics import Diagnostic, Related, diag, nearest, sort_diagnostics
from .fields import AGENT, DEFAULTS, DOMAIN, GATE, TASK, TOP
from .raw import Map, Raw, Scalar, Seq
from .span import Span

MAX_DEPTH = 8          # blocks in blocks; a workflow needs 2 (task > env), the rest is hostile
MAX_ERRORS = 20        # syntax errors reported from one file
DECLARATIONS = {"domain": "domains", "agent": "agents", "task": "tasks", "gate": "gates"}
HEAD_CLAUSES = {"task": ("for", "by", "requires", "needs"), "gate": ("needs",)}
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f",
            "0": "\0"}
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", re.DOTALL)
_A = {"domain": "a", "agent": "an", "task": "a", "gate": "a"}
_FIELDS = {"domain": DOMAIN.names, "agent": AGENT.names, "task": TASK.names, "gate": GATE.names}
_ALL_FIELDS = frozenset(name for group in (*_FIELDS.values(), DEFAULTS.names) for name in group)
# the statements of the top level: the declarations, and the fields of the workflow less
# the collections that the declarations fill
STATEMENTS = (*DECLARATIONS, *(n for n in TOP.names if n not in DECLARATIONS.values()))


class _Token(Token):
    """A token of our lexer, which sets every position (lark's own `$END` may have none)."""

    __slots__ = ()
    start_pos: int
    line: int
    column: int
    end_line: int
    end_column: int
    end_pos: int


class _TooDeep(Exception):
    def __init__(self, token: _Token) -> None:
        self.token = token


class _Stop(Exception):
    """Ends a parse that cannot usefully go on; its errors are already recorded."""


def _unescape(body: str) -> str:
    def one(m: re.Match[str]) -> str:
        e: str = m.group(1)
        if len(e) > 1:
            code = int(e[1:], 16)
            return chr(code) if code <= 0x10FFFF else m.group(0)
        return _ESCAPES.get(e, m.group(0))        # an unknown escape stays as written: `grep '\d'`
    return _ESCAPE.sub(one, body)


def _brace(tok: _Token) -> tuple[int, int]:
    """Line and column of the '{' itself (its token may begin with the blank lines before it)."""
    return tok.end_line, tok.end_column - 1


class _Clause(tuple[Scalar, Raw]):
    """`(key, value)` of a head clause (a type of its own: error messages look for it)."""

    __slots__ = ()


class _Decl(NamedTuple):
    """A statement that only the top level can hold: `task id [clauses] { block }`."""

    key: Scalar
    ident: Raw
    clauses: tuple[_Clause, ...]
    block: Map | None
    description: Scalar | None
    end: Span                                     # where the statement ends


# a top-level collection being filled: (its place in the entries, key, entries, span)
_Collection = tuple[int, Scalar, list[tuple[Scalar, Raw]], Span]


class _Statements(Transformer[_Token, "Map | None"]):
    """Reduction callbacks (lark calls them inline: `Lark(..., transformer=)`).

    One instance serves every parse, under `_LOCK`; `begin` resets the per-parse state.
    A statement becomes an entry `(key Scalar, value Raw)`, or a `_Decl` for the shapes
    only declarations have. Problems are recorded, never raised, so the parse goes on.
    Each callback gets the children of its rule as lark hands them over, a list of
    tokens and of what the callbacks of the inner rules returned (`c: list[Any]`): which
    is which at each place is fixed by that rule in lanes.lark.
    """

    def begin(self, file: str, text: str = "") -> None:
        self.file = file
        self.text = text
        self.problems: list[Diagnostic] = []
        self.errors: list[Diagnostic] = []        # syntax errors, one per statement at most
        self.seen: list[UnexpectedInput] = []     # the exceptions they were made of
        self.braces: list[_Token] = []            # the '{' not yet closed
        self.tokens: Iterator[_Token] | None = None  # the lexer's scan of this text

    def problem(self, message: str, span: Span) -> None:
        self.problems.append(diag("E100", message, span))

    # -- tokens ---------------------------------------------------------------------------------

    def span(self, tok: _Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    def key(self, tok: _Token) -> Scalar:
        return Scalar(str(tok), Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column))

    def scalar(self, tok: _Token) -> Scalar:
        kind = tok.type
        if kind == "WORD":
            value = str(tok)
        elif kind == "STRING":
            value = tok[1:-1]
            if "\\" in value:
                value = self.unescape(value, tok)
        else:                                     # LONG_STRING: verbatim, less one leading newline
            value = tok[3:-3]
            if value.startswith("\n"):
                value = value[1:]
            elif value.startswith("\r\n"):
                value = value[2:]
        return Scalar(value, Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column))

    def unescape(self, body: str, tok: _Token) -> str:
        value = _unescape(body)
        if any("\ud800" <= ch <= "\udfff" for ch in value):
            try:                                  # JSON-style pairs: "\ud83d\ude00"
                value = value.encode("utf-16", "surrogatepass").decode("utf-16")
            except UnicodeDecodeError:
                self.problem("a '\\u' escape names half of a UTF-16 surrogate pair", self.span(tok))
        return value

    def seq(self, toks: list[_Token]) -> Seq:
        items = tuple(self.scalar(t) for t in toks)
        a, b = items[0].span, items[-1].span
        return Seq(items, Span(self.file, a.line, a.column, b.end_line, b.end_column))

    def join(self, a: Span, b: Span) -> Span:
        return Span(self.file, a.line, a.column, b.end_line, b.end_column)

    # -- statements -------------------------------------------------------------------------------

    def bare(self, c: list[Any]) -> tuple[Scalar, Raw]:
        return (self.key(c[0]), Scalar(None, self.span(c[0])))

    def single(self, c: list[Any]) -> tuple[Scalar, Raw]:
        return (self.key(c[0]), self.scalar(c[1]))

    def listed(self, c: list[Any]) -> tuple[Scalar, Raw]:
        return (self.key(c[0]), self.seq(c[1:]))

    def blocked(self, c: list[Any]) -> tuple[Scalar, Raw]:
        return (self.key(c[0]), c[1])

    def declared(self, c: list[Any]) -> _Decl:
        return _Decl(self.key(c[0]), self.scalar(c[1]), (), c[2], None, c[2].span)

    def declared_list(self, c: list[Any]) -> _Decl:
        return _Decl(self.key(c[0]), self.seq(c[1:-1]), (), c[-1], None, c[-1].span)

    def described(self, c: list[Any]) -> _Decl:
        desc = self.scalar(c[2])
        return _Decl(self.key(c[0]), self.scalar(c[1]), (), None, desc, desc.span)

    def headed(self, c: list[Any]) -> _Decl:
        block = c[-1]
        clauses = tuple(c[2:-1])
        end = block.span if block is not None else clauses[-1][1].span
        return _Decl(self.key(c[0]), self.scalar(c[1]), clauses, block, None, end)

    def clause(self, c: list[Any]) -> _Clause:
        key = self.key(c[0])
        if c[0] == "for":                        # `for port in 8000, 8001` -> {port: [8000, 8001]}
            name, items = self.key(c[1]), self.seq(c[3:])
            return _Clause((key, Map(((name, items),), self.join(name.span, items.span))))
        if c[0] == "by":
            key = Scalar("agent", key.span)
            return _Clause((key, self.scalar(c[1]) if len(c) == 2 else self.seq(c[1:])))
        return _Clause((key, self.seq(c[1:])))   # requires/needs in a head are always lists

    def backoff(self, c: list[Any]) -> tuple[Scalar, Raw]:
        """`backoff 2s * 2 max 1m` -> {initial: 2s, factor: 2, max: 1m}."""
        key, initial, star, factor, top, limit = c
        entries: list[tuple[Scalar, Raw]] = [(Scalar("initial", self.span(initial)), self.scalar(initial)),
                   (Scalar("factor", self.span(star)), self.scalar(factor))]
        if top is not None:
            entries.append((self.key(top), self.scalar(limit)))
        return self.backoff_entry(key, entries)

    def backoff_max(self, c: list[Any]) -> tuple[Scalar, Raw]:
        key, initial, top, limit = c
        return self.backoff_entry(key, [(Scalar("initial", self.span(initial)), self.scalar(initial)),
                                        (self.key(top), self.scalar(limit))])

    def backoff_entry(self, key: _Token, entries: list[tuple[Scalar, Raw]]) -> tuple[Scalar, Raw]:
        k = self.key(key)
        if key != "backoff":
            bad = entries[1][0]
            self.problem(f"'{'*' if bad.value == 'factor' else 'max'}' belongs to 'backoff "
                         f"INITIAL * FACTOR max LIMIT'; separate the values of '{key}' with ','", bad.span)
        span = self.join(entries[0][1].span, entries[-1][1].span)
        return (k, Map(tuple(entries), span))

    # -- blocks -------------------------------------------------------------------------------------

    def block(self, c: list[Any]) -> Map:
        entries = []
        (l1, c1), rb = _brace(c[0]), c[-1]
        unclosed = False
        for stmt in c[1:-1]:
            if stmt is None:
                continue
            if type(stmt) is tuple:
                entries.append(stmt)
            elif unclosed:
                continue                          # the declarations after it: the same mistake
            elif stmt.key.value in DECLARATIONS and stmt.key.span.column == 1:
                # a declaration at the start of a line: the block before it was not closed
                self.problems.append(_missing_brace(stmt.key, l1, c1, Span.point(self.file, l1, c1)))
                unclosed = True
            else:
                self.misplaced(stmt, "in a block")
        return Map(tuple(entries), Span(self.file, l1, c1, rb.end_line, rb.end_column))

    def misplaced(self, d: _Decl, where: str) -> None:
        name = d.key.value or ""
        if where == "here" and name not in DECLARATIONS and name != "workflow":
            # a shape only a declaration has: a misspelled keyword is likelier than a field
            kinds = ("workflow",) if d.description is not None else tuple(HEAD_CLAUSES if d.clauses else DECLARATIONS)
            near = nearest(name, kinds)
            if near is not None:
                self.unknown_statement(d.key, near)
                return
        if d.description is not None:
            self.problem(f"expected ',' between the values of '{name}' (only 'workflow' takes a "
                         "description after its id)", d.description.span)
        elif d.clauses:
            word = d.clauses[0][0]
            clause = 'by' if word.value == 'agent' else word.value
            if where == "here":
                self.problem(f"unknown statement '{name}' ('{clause}' is written in the head of a task "
                             "or a gate)", d.key.span)
            else:
                self.problem(f"'{clause}' is written only in the head of a task or a gate at the top "
                             "level", word.span)
        elif where == "here" and name not in DECLARATIONS:
            self.problem(f"unknown statement '{name}' (an id and a block after a name declare a domain, "
                         "an agent, a task or a gate)", d.key.span)
        else:
            self.problem(f"'{name}' takes values or a block, not both {where}"
                         + (" (declarations are written at the top level)" if name in DECLARATIONS else ""),
                         d.key.span)

    def unknown_statement(self, key: Scalar, near: str) -> None:
        self.problem(f"unknown statement '{key.value}' (did you mean '{near}'?)", key.span)

    # -- the top level ----------------------------------------------------------------------------

    def start(self, c: list[Any]) -> Map | None:
        entries: list[tuple[Scalar, Raw]] = []
        collections: dict[str, _Collection] = {}
        first: Span | None = None
        last: Span | None = None
        for stmt in c:
            if stmt is None:
                continue
            if type(stmt) is tuple:
                key, value = stmt
                first = first or key.span
                last = value.span
                if key.value in DECLARATIONS:
                    self.declare(_Decl(key, value, (), None, None, value.span), entries, collections)
                elif key.value not in STATEMENTS and (near := nearest(key.value or "", STATEMENTS)) \
                        in DECLARATIONS:
                    self.unknown_statement(key, near)     # `agnet coder`; an unknown field is the builder's
                else:
                    entries.append(stmt)
                continue
            first = first or stmt.key.span
            last = stmt.end
            if stmt.key.value in DECLARATIONS and stmt.description is None:
                self.declare(stmt, entries, collections)
            elif stmt.key.value == "workflow" and stmt.description is not None:
                entries.append((stmt.key, stmt.ident))
                entries.append((Scalar("description", stmt.description.span), stmt.description))
            else:
                self.misplaced(stmt, "here")
        if first is None or last is None:
            return None
        for index, key, items, span in collections.values():
            entries[index] = (key, Map(tuple(items), span))
        return Map(tuple(entries), self.join(first, last))

    def declare(self, d: _Decl, entries: list[tuple[Scalar, Raw]],
                collections: dict[str, _Collection]) -> None:
        kind = d.key.value or ""                  # a keyword: never null
        ident = d.ident
        if not isinstance(ident, Scalar) or ident.value is None:
            what = "a list" if isinstance(ident, Seq) else "a block" if isinstance(ident, Map) else "nothing"
            self.problem(f"expected one id after '{kind}', found {what}", ident.span)
            return
        body: list[tuple[Scalar, Raw]] = []
        allowed = HEAD_CLAUSES.get(kind, ())
        axes: list[tuple[Scalar, Raw]] = []
        at: int | None = None
        first = d.key
        for key, value in d.clauses:
            word = "by" if key.value == "agent" else key.value
            if word not in allowed:
                where = f"a {kind}'s head takes " + " or ".join(f"'{a}'" for a in allowed) if allowed \
                    else "only tasks and gates have head clauses"
                self.problem(f"unexpected '{word}' after {kind} '{ident.value}' ({where})", key.span)
            if word == "for" and isinstance(value, Map):  # every `for` of a head makes one for_each
                if at is None:
                    at, first = len(body), key
                    body.append((key, value))
                axes += value.entries
                body[at] = (Scalar("for_each", first.span), Map(tuple(axes), self.join(first.span, value.span)))
                continue
            body.append((key, value))
        if d.block is not None:
            # an agent's writes/reads are its inline domain; a task takes them as fields, in
            # both forms, and the builder makes them its domain
            body += self.inline_domain(d.block.entries) if kind == "agent" else d.block.entries
        span = self.join(d.key.span, d.end)
        name = DECLARATIONS[kind]
        if name not in collections:
            key = Scalar(name, d.key.span)
            collections[name] = (len(entries), key, [], span)
            entries.append((key, Map((), span)))  # the collection's place, where it first appears:
            # filled at the end of the top level
        collections[name][2].append((ident, Map(tuple(body), span)))

    def inline_domain(self, entries: tuple[tuple[Scalar, Raw], ...]) -> list[tuple[Scalar, Raw]]:
        """`writes`/`reads` in an agent are its inline `domain: {writes, reads}`, in the
        place of the first of them."""
        out: list[tuple[Scalar, Raw]] = []
        domain: list[tuple[Scalar, Raw]] = []
        at = None
        for key, value in entries:
            if key.value in ("writes", "reads"):
                if at is None:
                    at = len(out)
                domain.append((key, value))
            else:
                out.append((key, value))
        if at is not None:
            first, end = domain[0][0].span, domain[-1][1].span
            out.insert(at, (Scalar("domain", first), Map(tuple(domain), self.join(first, end))))
        return out


class _Lexer(Lexer):
    """What lark's contextual lexer does, in half the time (a 10k-task file has 170k tokens).

    One regular expression, built from the terminals of lanes.lark in lark's order
    (priority, then longest), with the ignored blanks and comments folded in front of
    each token; `by`, `requires`, `needs` and `max` are keywords only where the parser
    can take them, as with lark's contextual lexer. Braces are counted here so that
    hostile nesting stops before anything is built. A character no token starts with
    is a BAD token (with the run of such characters after it), which the parser
    refuses like any unexpected token: so the scan goes on after a syntax error, and
    lark, asking for tokens again when it resumes (`on_error`), gets the rest of the
    same scan.
    """

    __future_interface__ = 2
    KEYWORDS = ("BY", "REQUIRES", "NEEDS", "MAX", "FOR", "IN")
    NEWLINES = frozenset(("_SEP", "_COMMA", "LBRACE", "LONG_STRING"))

    def __init__(self, conf: LexerConf) -> None:
        terms = {t.name: t for t in conf.terminals}
        self.keywords = {terms[k].pattern.value: k for k in self.KEYWORDS}
        ignored = "|".join(terms[n].pattern.to_regexp() for n in conf.ignore)
        skip = {*self.KEYWORDS, *conf.ignore}
        tokens = sorted((t for t in conf.terminals if t.name not in skip),
                        key=lambda t: (-t.priority, -t.pattern.max_width, t.name))
        alternatives = "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in tokens)
        # END stops at trailing blanks without backtracking into them; BAD is anything else,
        # with the characters after it that start no token either (a megabyte of junk is one)
        self.scanner = re.compile(f"(?:{ignored})*(?:{alternatives}|(?P<END>\\Z)"
                                  f"|(?P<BAD>(?s:.)[^A-Za-z0-9_.\\-\"*{{}},;#\\\\\\s]*))")

    def lex(self, lexer_state: LexerState, parser_state: ParserState[Any]) -> Iterator[_Token]:
        if _STATEMENTS.tokens is None:
            source: Any = lexer_state.text        # a TextSlice since lark 1.2, the text itself before
            _STATEMENTS.tokens = self.scan(getattr(source, "text", source), parser_state)
        return _STATEMENTS.tokens

    def scan(self, text: str, parser_state: ParserState[Any]) -> Iterator[_Token]:
        states = parser_state.parse_conf.states
        keywords, newlines, braces = self.keywords, self.NEWLINES, _STATEMENTS.braces
        line, line_start, pos = 1, 0, 0
        for m in self.scanner.finditer(text):
            kind = m.lastgroup
            assert kind is not None                     # every alternative is a named group
            start = m.start(kind)
            n = text.count("\n", pos, start)            # a line continuation among the blanks
            if n:
                line += n
                line_start = text.rfind("\n", pos, start) + 1
            pos = m.end()
            value = m.group(kind)
            if kind == "WORD":
                if value in keywords and keywords[value] in states[parser_state.position]:
                    kind = keywords[value]
            elif kind == "END":
                return
            tok = _Token(kind, value, start, line, start - line_start + 1)
            if kind in newlines:
                n = value.count("\n")
                if n:
                    line += n
                    line_start = start + value.rfind("\n") + 1
            tok.end_line, tok.end_column, tok.end_pos = line, pos - line_start + 1, pos
            if kind == "LBRACE":
                braces.append(tok)
                if len(braces) > MAX_DEPTH:
                    raise _TooDeep(tok)
            elif kind == "RBRACE" and braces:
                braces.pop()
            yield tok


_STATEMENTS = _Statements()
_LOCK = threading.Lock()
_PARSER: Lark | None = None


def _parser() -> Lark:
    global _PARSER
    if _PARSER is None:
        grammar = resources.files("lanes.dsl").joinpath("lanes.lark").read_text(encoding="utf-8")
        # positions come from the tokens themselves: no tree is built, so no
        # propagate_positions (it costs a fifth of the parse and would have nothing to fill)
        _PARSER = Lark(grammar, parser="lalr", lexer=_Lexer, transformer=_STATEMENTS, maybe_placeholders=True)
    return _PARSER


def terminals() -> tuple[Collection[TerminalDef], list[str]]:
    """The terminals of lanes.lark and the names of those it ignores (dsl/comments.py
    finds comments with them)."""
    parser = _parser()
    return parser.terminals, parser.ignore_tokens


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A parse allocates some 30 small acyclic objects per line; left on, the cyclic
    collector rescans them again and again and doubles the time of a large file."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_lanes(text: str, file: str) -> tuple[Map | None, list[Diagnostic]]:
    """The raw tree of a *.lanes text, or None and every syntax error (E100), sorted.

    A syntax error ends its statement, not the parse: `_resync` skips to the end of
    the statement and lark goes on from there, so one run reports the errors of
    several statements, at most one each (MAX_ERRORS in all)."""
    text = text.removeprefix("\ufeff")          # a byte order mark is not part of line 1
    with _LOCK, _collector_paused():
        parser = _parser()
        _STATEMENTS.begin(file, text)
        root = None
        try:
            # with a transformer, lark returns what its `start` returns
            root = cast("Map | None", parser.parse(text, on_error=_resync))
        except UnexpectedInput as exc:            # refused after a resync, or `_resync` gave up
            if not any(exc is e for e in _STATEMENTS.seen):
                _STATEMENTS.errors.append(_syntax_error(exc, text, file, _STATEMENTS.braces))
        except _Stop:
            pass
        except _TooDeep as exc:
            _STATEMENTS.errors.append(diag("E100", f"blocks nest deeper than {MAX_DEPTH} levels; refused",
                                           Span.point(file, *_brace(exc.token))))
        errors, problems = _STATEMENTS.errors, _STATEMENTS.problems
        _STATEMENTS.begin("")                     # drop references to this file's tokens
    if errors or problems:
        return None, sort_diagnostics([*errors, *problems])
    if root is None:
        return None, [diag("E100", "empty workflow file (expected 'workflow NAME' and declarations)",
                           Span.point(file, 1, 1))]
    return root, []


def _resync(exc: UnexpectedInput) -> bool:
    """lark's LALR error hook: the error recorded, the parse goes on after its statement.

    The rest of the statement is skipped, up to the separator after it (at the top
    level, the end of its line: a statement whose '{' is missing has its fields and
    '}' there) or the '}' of the block it is in, a block inside it skipped whole; the
    parser's stacks are cut back to where the statement began, after the separator or
    '{' before it. The grammar takes an empty statement there, so the separator or
    '}' is then fed as the next token. Statements already read stay read (their own
    problems are reported too). A lexer that goes on after an error makes this
    possible (`_Lexer`)."""
    st = _STATEMENTS
    st.seen.append(exc)
    error = _syntax_error(exc, st.text, st.file, st.braces)
    if not _follows_from(error, exc, st):
        st.errors.append(error)
    if len(st.errors) >= MAX_ERRORS or not isinstance(exc, UnexpectedToken) or exc.token.type == "$END" \
            or exc.interactive_parser is None or st.tokens is None:
        raise _Stop
    if _opens_long_string(exc.token, st.text):
        raise _Stop                               # what follows is the string's text, as far as anyone can tell
    state = exc.interactive_parser.parser_state
    values = state.value_stack
    opened = _open_braces(values)
    start = len(values)
    while start and not (isinstance(values[start - 1], Token) and values[start - 1].type == "_SEP"
                         and _open_braces(values[:start]) == opened):
        start -= 1
    start = max(start, opened[-1] + 1 if opened else 0)
    skip_to = _string_tail(exc.token, st.text)
    depth = 0
    tok: _Token | None = exc.token
    while tok is not None:
        kind = tok.type
        if tok.start_pos < skip_to:               # the rest of a string broken across two lines
            pass
        elif kind == "LBRACE":
            depth += 1
        elif kind == "RBRACE":
            if depth:
                depth -= 1
            elif opened:
                break
        elif kind == "_SEP" and not depth and (opened or "\n" in tok):
            break
        tok = next(st.tokens, None)
    if tok is None:                               # the file ends in the statement
        raise _Stop
    del values[start:]
    del state.state_stack[start + 1:]
    exc.interactive_parser.feed_token(tok)
    return True


def _follows_from(error: Diagnostic, exc: UnexpectedInput, st: _Statements) -> bool:
    """Whether an error at the end of the file is only the echo of one before it: a
    '{' never closed, on the line of an earlier error after it (`a{b c {...}`)."""
    if not isinstance(exc, UnexpectedToken) or exc.token.type != "$END" or not st.braces:
        return False
    line, col = _brace(st.braces[-1])
    return any(d.span is not None and d.span.line == line and d.span.column >= col
               for d in (*st.errors, *st.problems))


def _string_tail(tok: Token, text: str) -> int:
    """After an unterminated '"': where the string ends if the line after it holds its
    closing quote (one '"' too many there), else 0."""
    if tok.type != "BAD" or not tok.startswith('"'):
        return 0
    end = text.find("\n", tok.start_pos)
    if end < 0:
        return 0
    after = text.find("\n", end + 1)
    tail = text[end + 1:after if after >= 0 else len(text)]
    if tail.count('"') % 2 == 0:
        return 0
    return end + 1 + tail.find('"') + 1


def _opens_long_string(tok: Token, text: str) -> bool:
    """An unterminated \"\"\"...: lexed as an empty string "" and a BAD '"'."""
    at = cast(int, tok.start_pos)
    return tok.type == "BAD" and tok.startswith('"') and text[max(0, at - 2):at] == '""'


# -- syntax errors in words -----------------------------------------------------------------------

_WORDS = {"name": "a name", "value": "a value", "BY": "'by'", "REQUIRES": "'requires'", "NEEDS": "'needs'",
          "FOR": "'for'", "IN": "'in'",
          "_COMMA": "','", "STRING": "a description string", "STAR": "'*'", "MAX": "'max'", "LBRACE": "'{'",
          "RBRACE": "'}'", "_SEP": "end of statement", "$END": "end of file"}         # in the order listed


def _syntax_error(exc: UnexpectedInput, text: str, file: str, braces: list[_Token]) -> Diagnostic:
    if not isinstance(exc, UnexpectedToken):      # our lexer raises none, lark no other kind for LALR
        return diag("E100", f"syntax error: {exc}", Span.point(file, max(1, exc.line), max(1, exc.column)))
    tok = exc.token
    if tok.type == "BAD":
        return _bad_character(tok, text, file)
    stack = exc.interactive_parser.parser_state.value_stack if exc.interactive_parser else []
    if tok.type == "$END":
        end = Span.point(file, text.count("\n") + 1, len(text) - text.rfind("\n"))
        if braces:
            line, col = _brace(braces[-1])
            opened = Related("the block opened here", Span.point(file, line, col))
            inner = _declaration_in_block(stack)
            if inner is not None:                 # where the '}' belongs: before it
                return _missing_brace(inner, line, col, opened.span)
            return diag("E100", f"unexpected end of file: '}}' missing (the '{{' at line {line}, column "
                        f"{col} is never closed)", end, related=[opened])
        return diag("E100", f"unexpected end of file: expected {_expected(exc, None, 0)}", end)
    line, col = _brace(tok) if tok.type == "LBRACE" else (tok.line, tok.column)
    at = Span.point(file, line, col)
    if tok.type == "RBRACE" and "RBRACE" not in exc.expected and not _open_braces(stack):
        return diag("E100", "found '}' with no '{' to close", at)
    keyword, after = _statement_of(stack)
    depth = len(_open_braces(stack))
    if len(stack) >= 2 and isinstance(stack[-2], Token) and stack[-2].type == "FOR":
        return diag("E100", f"expected 'in' after 'for {stack[-1]}' (for KEY in ITEM, ITEM...), found "
                    f"{_found(tok)}", at)
    message = f"expected {_expected(exc, keyword if after else None, depth, after)}, found {_found(tok)}"
    word = str(tok)
    if keyword in DECLARATIONS and not depth and tok.type == "WORD" and "LBRACE" in exc.expected \
            and word in _FIELDS[keyword]:
        message = (f"expected '{{' before '{word}' (the fields of {_A[keyword]} {keyword} are written in a block: "
                   f"'{keyword} ID {{ {word} ... }}')")
    elif word in HEAD_CLAUSES["task"] and not depth and stack and (
            isinstance(stack[-1], Map) or isinstance(stack[-1], Token) and stack[-1].type == "RBRACE"):
        message += f" ('{word}' is written in the head of a task or a gate, before its '{{')"
    elif tok.type == "WORD" and "_SEP" in exc.expected and word in (_ALL_FIELDS if depth else STATEMENTS):
        message = f"expected ';' or a new line before '{word}' (a statement ends with either)"
    elif keyword in HEAD_CLAUSES and not depth and tok.type == "WORD" \
            and (clause := nearest(word, HEAD_CLAUSES[keyword])) is not None:
        message += f" (did you mean '{clause}'?)"             # `task t neds schema`
    elif tok.type == "WORD" and "_COMMA" in exc.expected:
        message += (" (separate values with ',' and statements with ';' or a new line; "
                    "quote text with spaces)")
    elif tok.type == "LBRACE" and "LBRACE" not in exc.expected and "WORD" in exc.expected:
        message += " (a statement starts with a name)"
    return diag("E100", message, at)


def _missing_brace(key: Scalar, line: int, col: int, brace: Span | None) -> Diagnostic:
    return diag("E100", f"'}}' missing before this '{key.value}' (the '{{' at line {line}, column {col} is "
                "still open here; declarations are written at the top level)", key.span,
                related=[Related("the block opened here", brace)])


def _open_braces(stack: list[Any]) -> list[int]:
    """Where the '{' of the blocks not yet closed are on the parser's stack (a block is
    reduced only after the token that follows its '}')."""
    opened: list[int] = []
    for i, v in enumerate(stack):
        if isinstance(v, Token):
            if v.type == "LBRACE":
                opened.append(i)
            elif v.type == "RBRACE" and opened:
                opened.pop()
    return opened


def _declaration_in_block(stack: list[Any]) -> Scalar | None:
    """The keyword of the first declaration inside the innermost open block, if any."""
    opened = _open_braces(stack)
    if not opened:
        return None
    items = list(stack[opened[-1] + 1:])
    while items:
        item = items.pop(0)
        if isinstance(item, Tree):                # the statements of a block, gathered by lark
            items[:0] = item.children
        elif isinstance(item, _Decl) and item.key.value in DECLARATIONS:
            return item.key
    return None


def _bad_character(tok: Token, text: str, file: str) -> Diagnostic:
    pos = cast(int, tok.start_pos)
    ch = text[pos] if pos < len(text) else ""
    line, col = cast(int, tok.line), cast(int, tok.column)
    if ch == '"' and text[max(0, pos - 2):pos] == '""':
        msg, col = "unterminated '\"\"\"' string (it ends with '\"\"\"')", col - 2
    elif ch == '"':
        msg = "unterminated string (a string ends with '\"' on the same line; use \"\"\" for several lines)"
    elif ch == ":":
        msg = ("unexpected ':' (the grammar form writes 'field value', not 'field: value'; "
               "YAML goes in a .yaml file)")
    elif ch == "=":
        msg = "unexpected '=' (the grammar form writes 'field value', not 'field = value')"
    elif ch in "[]":
        msg = f"unexpected '{ch}' (a list is written 'a, b, c', without brackets)"
    elif ch.isprintable() and ch:
        msg = f"unexpected character '{ch}' (quote text that is not a plain word)"
    else:
        msg = f"unexpected character {ch!r}"
    return diag("E100", msg, Span.point(file, line, max(1, col)))


def _statement_of(stack: list[Any]) -> tuple[str | None, int]:
    """The name of the statement being parsed and how many items follow it."""
    i = len(stack)
    while i > 0:
        item = stack[i - 1]
        if isinstance(item, Token):
            if item.type in ("_SEP", "LBRACE"):
                break
        elif not isinstance(item, _Clause):
            break
        i -= 1
    if i < len(stack) and isinstance(stack[i], Token) and stack[i].type == "WORD":
        return str(stack[i]), len(stack) - i - 1
    return None, 0


def _expected(exc: UnexpectedToken, keyword: str | None, depth: int, after: int = 0) -> str:
    """The tokens the parser could take, in words, leaving out those that would only
    lead to another error for this statement."""
    raw = set(exc.expected)
    names = set()
    for t in raw:
        if t == "WORD" and "STRING" not in raw:
            names.add("name")                     # the start of a statement
        elif t in ("WORD", "STRING", "LONG_STRING") and "WORD" in raw:
            names.add("value")
        elif t in ("STRING", "LONG_STRING"):          # after a value: a description
            if keyword == "workflow" and depth == 0:
                names.add("STRING")
        elif t in ("FOR", "BY", "REQUIRES", "NEEDS"):
            if depth == 0 and t.lower() in HEAD_CLAUSES.get(keyword or "", ()):
                names.add(t)
        elif t == "IN":                           # LALR lookaheads offer it after any value
            if raw == {"IN"}:
                names.add(t)
        elif t in ("STAR", "MAX"):
            if keyword == "backoff":
                names.add(t)
        elif t == "_COMMA" and keyword in DECLARATIONS and depth == 0 and after == 1:
            continue                              # a declaration has one id
        else:
            names.add(t)
    if "_SEP" in names:
        names -= {"$END"} if "name" in names else {"RBRACE", "$END"}
    words = [w for n, w in _WORDS.items() if n in names]
    if not words:
        return "something else"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _found(tok: Token) -> str:
    if tok.type == "_SEP":
        return "';'" if tok.startswith(";") else "end of line"
    if tok.type == "LBRACE":
        return "'{'"
    text = str(tok)
    return f"'{text[:40]}...'" if len(text) > 40 else f"'{text}'"
